//! Entry point: parse the command line, load the config, run the command.

use clap::Parser;
use site_agent::app::{App, AppOptions, Roles, period_from_env};
use site_agent::cli::{Cli, Command, Mode, UsageAction};
use site_agent::config::Config;
use std::process::ExitCode;

/// Exit status when the configuration (or an environment period) is invalid.
const INVALID: u8 = 2;
/// Exit status when another agent holds the database (the unit does not restart on it).
const LOCKED: u8 = 3;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match site_agent::config::load(&cli.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(INVALID);
        }
    };
    match cli.command {
        Some(Command::CheckConfig) => site_agent::check::print_summary(&config),
        Some(Command::Healthz { max_age }) => site_agent::ops::healthz(
            &config.heartbeat_file,
            std::time::Duration::from_secs(max_age),
        ),
        Some(Command::LoadComponents) => block_on(Threads::One, load_components(config)),
        Some(Command::Diagnostics) => block_on(Threads::One, async move {
            site_agent::diagnostics::print(&config).await
        }),
        Some(Command::Usage {
            action: UsageAction::Show { resource, period },
        }) => block_on(Threads::One, async move {
            site_agent::usage::show::print(&config, resource, period).await
        }),
        Some(Command::Usage {
            action: UsageAction::Report { dry_run },
        }) => {
            start_logging(&config, &cli);
            // A dry run stores nothing, so it may run beside the service.
            let _lock = match (!dry_run)
                .then(|| site_agent::ops::instance::acquire(&config.database_path))
                .transpose()
            {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(LOCKED);
                }
            };
            block_on(Threads::One, usage_report_now(config, dry_run))
        }
        Some(Command::Adopt {
            dry_run,
            apply_quotas,
        }) => {
            start_logging(&config, &cli);
            let _lock = match (!dry_run)
                .then(|| site_agent::ops::instance::acquire(&config.database_path))
                .transpose()
            {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(LOCKED);
                }
            };
            let options = site_agent::adopt::AdoptOptions {
                dry_run,
                apply_quotas,
            };
            block_on(Threads::One, adopt(config, options))
        }
        Some(Command::Run) => serve(config, &cli, None),
        None => serve(config, &cli, Some(cli.mode)),
    }
}

enum Threads {
    /// Commands that do one thing and exit.
    One,
    /// The service: two workers, so a slow cycle never holds up the watchdog.
    Two,
}

/// Runs `work` on a runtime built once, here, for every command.
fn block_on(threads: Threads, work: impl Future<Output = ExitCode>) -> ExitCode {
    let runtime = match threads {
        Threads::One => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        Threads::Two => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build(),
    };
    match runtime {
        Ok(rt) => rt.block_on(work),
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

fn start_logging(config: &Config, cli: &Cli) {
    site_agent::logging::init(&config.log_level, cli.log_format);
    for w in &config.warnings {
        tracing::warn!("config: {w}");
    }
}

/// `run` (every role), or the one upstream `-m` role.
fn serve(config: Config, cli: &Cli, mode: Option<Mode>) -> ExitCode {
    start_logging(&config, cli);
    let _lock = match site_agent::ops::instance::acquire(&config.database_path) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::from(LOCKED);
        }
    };
    block_on(Threads::Two, run(config, mode, cli.once))
}

/// `adopt`: one line per resource; fails (1) when anything was refused or cut short.
async fn adopt(config: Config, options: site_agent::adopt::AdoptOptions) -> ExitCode {
    use site_agent::adopt::Verdict;
    // A dry run reads the database without changing it; it may not exist yet.
    let store = if options.dry_run {
        site_agent::store::Store::in_memory()
    } else {
        site_agent::store::Store::open(&config.database_path)
    };
    let store = match store {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let ua = format!("site-agent/{}", env!("CARGO_PKG_VERSION"));
    let planned = site_agent::adopt::adopt(&config, &store, options, Default::default(), &ua).await;
    let mut ok = true;
    for p in &planned {
        let what = match &p.verdict {
            Verdict::Adopted(steps) => format!(
                "{}: {}",
                if options.dry_run { "plan" } else { "adopted" },
                steps.join("; ")
            ),
            Verdict::AlreadyOurs => "already this agent's; nothing to do".into(),
            Verdict::Skipped(why) => format!("skipped: {why}"),
            Verdict::Refused(why) => {
                ok = false;
                format!("REFUSED: {why}")
            }
            Verdict::Failed(why) => {
                ok = false;
                format!("FAILED: {why}")
            }
        };
        println!(
            "{}: resource {:?} ({}), user {:?}: {what}",
            p.offering, p.name, p.resource, p.uid
        );
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

async fn load_components(config: Config) -> ExitCode {
    let results = site_agent::components::load_components(&config, Default::default()).await;
    let mut failed = false;
    for (offering, component, r) in results {
        match r {
            Ok(verb) => println!("{offering}: {component} {verb}"),
            Err(e) => {
                failed = true;
                println!("{offering}: {component} FAILED: {e}");
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

async fn run(config: Config, mode: Option<Mode>, once: bool) -> ExitCode {
    let periods = (
        period_from_env("WALDUR_SITE_AGENT_ORDER_PROCESS_PERIOD_MINUTES", 5.0),
        period_from_env("WALDUR_SITE_AGENT_MEMBERSHIP_SYNC_PERIOD_MINUTES", 5.0),
        period_from_env("WALDUR_SITE_AGENT_REPORT_PERIOD_MINUTES", 30.0),
    );
    let (orders, reconcile, report) = match periods {
        (Ok(o), Ok(s), Ok(r)) => (o, s, r),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
            tracing::error!("{e}");
            return ExitCode::from(INVALID);
        }
    };
    let roles = Roles {
        orders: matches!(
            mode,
            None | Some(Mode::OrderProcess) | Some(Mode::EventProcess)
        )
        .then_some(orders),
        reconcile: matches!(mode, None | Some(Mode::Reconcile)).then_some(reconcile),
        usage: matches!(mode, None | Some(Mode::Report)).then_some(report),
        events: matches!(mode, None | Some(Mode::EventProcess)),
    };
    let app = match App::build(config, &AppOptions::default()) {
        Ok(a) => a,
        Err(e) => {
            tracing::error!("{e:#}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(
        offerings = app.reconcilers.len(),
        ?roles,
        "site-agent started"
    );
    if once {
        if roles.orders.is_some() {
            for (order, outcome) in app.order_cycle().await {
                tracing::info!(order = %order, outcome = ?outcome, "order handled");
            }
            for (key, outcome) in app.key_cycle().await {
                tracing::info!(api_key = %key, outcome = ?outcome, "key rotation handled");
            }
        }
        if roles.reconcile.is_some() {
            app.reconcile_cycle().await;
        }
        if roles.usage.is_some() {
            app.usage_sample_cycle().await;
            app.usage_report_cycle().await;
        }
        app.close().await;
        return ExitCode::SUCCESS;
    }
    if let Some(addr) = app.config.metrics_listen {
        match site_agent::ops::endpoints::bind(addr).await {
            Ok(listener) => {
                tracing::info!(%addr, "metrics and health endpoints: /metrics, /healthz, /readyz");
                let probe = site_agent::ops::endpoints::Probe {
                    store: app.store.clone(),
                    supervisor: app.supervisor.clone(),
                };
                tokio::spawn(site_agent::ops::endpoints::serve(listener, probe));
            }
            Err(e) => {
                tracing::error!(%addr, error = %e, "`metrics_listen`: cannot listen there");
                return ExitCode::FAILURE;
            }
        }
    }
    site_agent::ops::notify::notify(&format!(
        "READY=1\nSTATUS=running: {} offering(s)",
        app.config.offerings.len()
    ));
    let clean = app.run(roles, shutdown_signal()).await;
    site_agent::ops::notify::notify("STOPPING=1");
    app.close().await;
    if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `usage report`: one sample and report pass now, or a dry run over the stored samples.
async fn usage_report_now(config: Config, dry_run: bool) -> ExitCode {
    let app = match App::build(config, &AppOptions::default()) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e:#}");
            return ExitCode::FAILURE;
        }
    };
    if app.reporters.is_empty() {
        eprintln!("no offering reports usage: set reporting_backend and `usage:` on a component");
        return ExitCode::from(INVALID);
    }
    if dry_run {
        site_agent::usage::show::print_dry_run(&app.reporters).await;
        return ExitCode::SUCCESS;
    }
    app.usage_sample_cycle().await;
    for (offering, report) in app.usage_report_cycle().await {
        println!("{offering}: {report:?}");
    }
    ExitCode::SUCCESS
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
        }
        _ => std::future::pending::<()>().await,
    }
}
