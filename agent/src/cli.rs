//! The command line: the upstream `-m MODE -c FILE` form, plus subcommands (`run`,
//! `check-config`, `diagnostics`, `load-components`, `healthz`, `usage`, `adopt`).

use crate::logging::LogFormat;
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

pub const DEFAULT_CONFIG: &str = "waldur-site-agent-config.yaml";

#[derive(Debug, Parser)]
#[command(
    name = "site-agent",
    version,
    about = "Sells S3 object storage through a Waldur marketplace: fulfils orders on the storage backend.",
    long_about = "Sells S3 object storage through a Waldur marketplace.\n\n\
        Drop-in for the Python waldur-site-agent: it reads the same YAML config and accepts the same\n\
        `-m MODE -c FILE` command line, or use `site-agent run -c FILE` to run every role the\n\
        config enables in one process.",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Upstream form: the one role to run.
    #[arg(short = 'm', long = "mode", value_enum, default_value_t = Mode::OrderProcess)]
    pub mode: Mode,

    /// Path to the agent's YAML configuration (upstream format).
    #[arg(short = 'c', long = "config-file", default_value = DEFAULT_CONFIG, global = true)]
    pub config: PathBuf,

    /// Run one cycle and exit (for cron, demos and checks).
    #[arg(long, global = true)]
    pub once: bool,

    /// Log format: json, text, or auto (text on a terminal, JSON otherwise).
    #[arg(long, value_enum, default_value_t = LogFormat::Auto, global = true)]
    pub log_format: LogFormat,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run every role the configuration enables, in one process: order processing and key
    /// rotation for each offering with an order_processing_backend, and the resource reconcile
    /// pass (pause/restore, quota drift).
    Run,
    /// Validate the configuration and print a summary; exits non-zero when it is invalid.
    CheckConfig,
    /// Online, read-only checks for each offering — Waldur reachable, token, offering,
    /// components, clock, backend, STOMP, database — one PASS / WARN / FAIL line each; exits 1
    /// on any FAIL.
    Diagnostics,
    /// Push the configured backend_components to each Waldur offering (create or update by
    /// type), like upstream's waldur_site_load_components.
    LoadComponents,
    /// Liveness probe: exits 0 when the main loop touched the heartbeat file within
    /// `--max-age` seconds, 1 otherwise (for exec probes and monitoring).
    Healthz {
        #[arg(long, default_value_t = 300)]
        max_age: u64,
    },
    /// Take over the S3 users an older plugin made: record them as their
    /// resources', report their existing keys to Waldur as resource API keys, then publish the
    /// resource metadata without the old `s3_credentials`. No key is removed; users stamped
    /// for another resource are refused. Run it with the service stopped (it uses the
    /// database); running it again finishes what a cut-short run left.
    Adopt {
        /// Print the plan per resource; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Also apply each resource's ordered ceilings as quotas (else the users keep the
        /// quotas they have until an Update order).
        #[arg(long)]
        apply_quotas: bool,
    },
    /// Usage billing: inspect what was sampled, computed and sent, or report now.
    Usage {
        #[command(subcommand)]
        action: UsageAction,
    },
}

#[derive(Debug, Subcommand)]
pub enum UsageAction {
    /// Print samples, computed figures and what Waldur was sent, as a table.
    Show {
        /// Only this resource (UUID).
        #[arg(long)]
        resource: Option<String>,
        /// Only this billing period, `YYYY-MM`.
        #[arg(long)]
        period: Option<String>,
    },
    /// Take a sample now, compute the current period's figures and send what changed.
    Report {
        /// Compute and print the figures from the stored samples; send nothing, store nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// The upstream modes (`-m`). All names are accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Poll Waldur for orders and key rotations and fulfil them (every WALDUR_SITE_AGENT_ORDER_PROCESS_PERIOD_MINUTES, default 5).
    #[value(name = "order_process")]
    OrderProcess,
    /// Usage billing: sample on `usage_sampling_schedule`, report every
    /// WALDUR_SITE_AGENT_REPORT_PERIOD_MINUTES (default 30), close each month before it ends.
    #[value(name = "report")]
    Report,
    /// The resource reconcile pass: suspend paused users, resume restored ones, repair quota
    /// drift, prune keys Waldur does not hold (every WALDUR_SITE_AGENT_MEMBERSHIP_SYNC_PERIOD_MINUTES,
    /// default 5). Upstream's name for it; `reconcile` is accepted too.
    #[value(name = "membership_sync", alias = "reconcile")]
    Reconcile,
    /// Orders and key rotations by STOMP events over websocket, with polling as the reconcile sweep.
    #[value(name = "event_process")]
    EventProcess,
}
