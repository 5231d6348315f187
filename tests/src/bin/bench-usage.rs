//! Usage-billing benchmark: one sampling cycle and one reporting cycle of the real agent
//! library against waldur-sim and croit-sim with added latency on every request.
//!
//! ```sh
//! cargo run --release -p site-agent-sims --bin bench-usage -- --resources 10000 --latency-ms 5
//! ```
//!
//! For each concurrency (`--concurrency 32,64`, the agent's `usage_sample_concurrency`) it
//! starts both simulators in this process, seeds one offering with N resources in state OK
//! (backend ids `bench-<i>`) and N croit users with one bucket each, then runs the agent in a
//! child process (this binary again, `--agent-child`) so that the peak RSS it reports is the
//! agent's alone, not the simulators' 10,000-resource worlds. `--in-process` runs the agent in
//! this process instead (RSS then includes both simulators). Exits non-zero unless Waldur
//! received exactly N `set_usage` calls in every run.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use site_agent::app::{App, AppOptions};
use site_agent::store::Store;
use site_agent::usage::clock::ManualClock;
use site_agent_sims::croit::{CroitAuth, CroitSim};
use site_agent_sims::procstat;
use site_agent_sims::waldur::{ComponentSeed, OfferingSeed, SimOptions, WaldurSim};

const CROIT_TOKEN: &str = "bench-croit-token";
/// Sampling happens at this instant; reporting one hour later (mid-month, so no period closes).
const SAMPLE_AT: &str = "2026-03-15T12:00:00Z";
const REPORT_AFTER: Duration = Duration::from_secs(3600);

struct Args {
    resources: usize,
    latency_ms: u64,
    concurrency: Vec<usize>,
    in_process: bool,
}

const USAGE: &str =
    "usage: bench-usage [--resources N] [--latency-ms N] [--concurrency N[,N…]] [--in-process]";

fn parse_args(mut args: impl Iterator<Item = String>) -> anyhow::Result<Args> {
    let mut a = Args {
        resources: 10_000,
        latency_ms: 5,
        concurrency: vec![32, 64],
        in_process: false,
    };
    while let Some(flag) = args.next() {
        let mut value = || args.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--resources" => a.resources = value()?.parse().context("--resources")?,
            "--latency-ms" => a.latency_ms = value()?.parse().context("--latency-ms")?,
            "--concurrency" => {
                a.concurrency = value()?
                    .split(',')
                    .map(|s| s.trim().parse::<usize>())
                    .collect::<Result<_, _>>()
                    .context("--concurrency")?;
            }
            "--in-process" => a.in_process = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    if a.resources == 0 || a.concurrency.is_empty() {
        bail!("--resources and --concurrency must be positive\n{USAGE}");
    }
    Ok(a)
}

/// What the agent side measured (sent from the child as one JSON line).
#[derive(Debug, Serialize, Deserialize)]
struct AgentRun {
    sample: Duration,
    report: Duration,
    sent: usize,
    failed: usize,
    anomalies: usize,
    /// VmRSS after `App` was built, before any cycle ran.
    rss_built_kb: u64,
    /// VmRSS after both cycles.
    rss_kb: u64,
    /// VmHWM: the process's peak RSS.
    hwm_kb: u64,
    /// CPU time (user + system) the agent process spent in both cycles.
    cpu: Duration,
}

/// `VmRSS` and `VmHWM` of this process, in kB.
fn memory_kb() -> (u64, u64) {
    (
        procstat::status_kb("self", "VmRSS:"),
        procstat::status_kb("self", "VmHWM:"),
    )
}

fn cpu_time() -> Duration {
    procstat::cpu_time("self")
}

/// The agent's side: build the App from the config file, run one sampling cycle at
/// `SAMPLE_AT`, then one reporting cycle an hour later.
async fn agent_run(config_path: &Path) -> anyhow::Result<AgentRun> {
    let yaml = std::fs::read_to_string(config_path)?;
    let config = site_agent::config::load_str(&yaml, "bench.yaml", Vec::<(String, String)>::new())
        .map_err(|e| anyhow::anyhow!("config: {e}"))?;
    let store = Store::open(&config.database_path)?;
    let clock = Arc::new(ManualClock::new(SAMPLE_AT.parse::<DateTime<Utc>>()?));
    let app = App::build_with_store(
        config,
        store,
        &AppOptions {
            clock: clock.clone(),
            ..AppOptions::default()
        },
    )?;
    let (rss_built_kb, _) = memory_kb();
    let cpu_before = cpu_time();

    let t = Instant::now();
    app.usage_sample_cycle().await;
    let sample = t.elapsed();
    let (rss, hwm) = memory_kb();
    eprintln!(
        "bench-usage: agent after the sample cycle: RSS {:.1} MB, peak {:.1} MB",
        rss as f64 / 1000.0,
        hwm as f64 / 1000.0
    );

    clock.advance(chrono::Duration::from_std(REPORT_AFTER)?);
    let t = Instant::now();
    let reports = app.usage_report_cycle().await;
    let report = t.elapsed();

    let (rss_kb, hwm_kb) = memory_kb();
    let cpu = cpu_time().saturating_sub(cpu_before);
    let sum = |f: fn(&site_agent::usage::CycleReport) -> usize| -> usize {
        reports.iter().map(|(_, r)| f(r)).sum()
    };
    Ok(AgentRun {
        sample,
        report,
        sent: sum(|r| r.sent),
        failed: sum(|r| r.failed),
        anomalies: sum(|r| r.anomalies),
        rss_built_kb,
        rss_kb,
        hwm_kb,
        cpu,
    })
}

struct World {
    waldur: WaldurSim,
    croit: CroitSim,
    offering: String,
}

async fn seed(n: usize) -> anyhow::Result<World> {
    let waldur = WaldurSim::start(SimOptions::default()).await?;
    let croit = CroitSim::start(CroitAuth::Bearer(CROIT_TOKEN.into())).await?;
    let offering = waldur.add_offering(OfferingSeed {
        name: "S3 bench".into(),
        components: vec![
            ComponentSeed::s3_storage(),
            ComponentSeed::usage("s3_objects", "Objects", "objects"),
        ],
        ..OfferingSeed::default()
    });
    // In bulk: one by one, the simulators' uniqueness checks make seeding quadratic.
    let names: Vec<(String, String)> = (0..n)
        .map(|i| (format!("bench-{i}"), format!("bench-{i}")))
        .collect();
    let resources = waldur.add_resources_ok(&offering, &names);
    let mut users = Vec::with_capacity(n);
    let mut buckets = Vec::with_capacity(n);
    for (i, ((uid, _), resource)) in names.iter().zip(&resources).enumerate() {
        // Stamped for its resource, as the agent makes users: usage of a user that is not
        // this resource's is refused (never billed).
        let stamp = site_agent_sdk::Tenant::new(uid, resource)?.stamp();
        users.push((uid.clone(), stamp));
        let gb = 1 + (i as u64 % 100);
        buckets.push((
            uid.clone(),
            format!("{uid}-data"),
            gb * 1_000_000_000,
            1 + i as u64 % 20,
        ));
    }
    croit.add_users(&users);
    croit.add_buckets(&buckets);
    let report_at = SAMPLE_AT.parse::<DateTime<Utc>>()? + chrono::Duration::from_std(REPORT_AFTER)?;
    waldur.set_now(report_at);
    Ok(World {
        waldur,
        croit,
        offering,
    })
}

fn config_yaml(w: &World, dir: &Path, concurrency: usize) -> String {
    format!(
        r#"timezone: UTC
database_path: {db}
heartbeat_file: {hb}
usage_sample_concurrency: {concurrency}
offerings:
  - name: S3 bench
    waldur_api_url: {api}
    waldur_api_token: {token}
    waldur_offering_uuid: {off}
    backend_type: ceph_s3
    order_processing_backend: ceph_s3
    reporting_backend: ceph_s3
    backend_settings:
      api_url: {croit}
      token: {CROIT_TOKEN}
      s3_endpoint: {s3}
    backend_components:
      s3_storage:
        backend_name: storage
        measured_unit: GB-day
        accounting_type: usage
        label: Storage
        unit_factor: 1000000000
        usage: gb_days
      s3_objects:
        measured_unit: objects
        accounting_type: usage
        label: Objects
        usage: objects_peak
"#,
        db = dir.join("state.sqlite3").display(),
        hb = dir.join("heartbeat").display(),
        api = w.waldur.api_url(),
        token = w.waldur.provider_token(),
        off = w.offering,
        croit = w.croit.base_url(),
        s3 = w.croit.s3_endpoint(),
    )
}

/// Runs this binary again as the agent process and reads its one-line JSON result.
fn agent_in_child(config_path: &Path) -> anyhow::Result<AgentRun> {
    let exe = std::env::current_exe()?;
    let out = Command::new(exe)
        .arg("--agent-child")
        .arg(config_path)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()?;
    if !out.status.success() {
        bail!("agent process failed: {}", out.status);
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().unwrap_or_default();
    serde_json::from_str(line).with_context(|| format!("agent process printed {text:?}"))
}

struct Row {
    concurrency: usize,
    seed: Duration,
    agent: AgentRun,
    set_usage_calls: usize,
    usage_reads: usize,
    croit_reads: usize,
    /// CPU time this process (the simulators, and the agent with `--in-process`) spent
    /// while the agent ran.
    sims_cpu: Duration,
}

fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

async fn bench(args: &Args) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    for &concurrency in &args.concurrency {
        let t = Instant::now();
        let world = seed(args.resources).await?;
        let seed_time = t.elapsed();
        let latency = Duration::from_millis(args.latency_ms);
        world.waldur.set_latency(latency);
        world.croit.set_latency(latency);

        let dir = tempfile::tempdir()?;
        let config_path: PathBuf = dir.path().join("bench.yaml");
        std::fs::write(&config_path, config_yaml(&world, dir.path(), concurrency))?;
        eprintln!(
            "bench-usage: {} resources seeded in {:.2} s; running the agent (concurrency {concurrency}, {} ms latency)…",
            args.resources,
            seed_time.as_secs_f64(),
            args.latency_ms
        );
        let cpu_before = cpu_time();
        let agent = if args.in_process {
            agent_run(&config_path).await?
        } else {
            let path = config_path.clone();
            tokio::task::spawn_blocking(move || agent_in_child(&path)).await??
        };
        let sims_cpu = cpu_time().saturating_sub(cpu_before);
        rows.push(Row {
            concurrency,
            sims_cpu,
            seed: seed_time,
            set_usage_calls: world.waldur.count_calls("POST", "/set_usage/"),
            usage_reads: world
                .waldur
                .count_calls("GET", "/marketplace-component-usages/"),
            croit_reads: world.croit.count_calls("GET", "/buckets"),
            agent,
        });
    }
    Ok(rows)
}

fn print_table(args: &Args, rows: &[Row]) {
    let (sims_rss, sims_hwm) = memory_kb();
    println!(
        "\nbench-usage: {} resources, {} ms added latency per request (Waldur and croit), agent {}",
        args.resources,
        args.latency_ms,
        if args.in_process {
            "in this process (RSS includes both simulators)"
        } else {
            "in its own process"
        }
    );
    println!(
        "| concurrency | sample cycle | report cycle | total | set_usage calls | peak RSS | RSS after | RSS idle (App built) |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        let a = &r.agent;
        println!(
            "| {} | {:.2} s | {:.2} s | {:.2} s | {} | {:.1} MB | {:.1} MB | {:.1} MB |",
            r.concurrency,
            a.sample.as_secs_f64(),
            a.report.as_secs_f64(),
            (a.sample + a.report).as_secs_f64(),
            r.set_usage_calls,
            mb(a.hwm_kb),
            mb(a.rss_kb),
            mb(a.rss_built_kb),
        );
    }
    println!();
    for r in rows {
        if args.in_process {
            println!(
                "concurrency {}: seeding {:.2} s; CPU (agent and simulators, one process) {:.2} s; croit bucket reads {}; Waldur usage reads {}; report: sent {} figures, {} failed, {} anomalies",
                r.concurrency,
                r.seed.as_secs_f64(),
                r.sims_cpu.as_secs_f64(),
                r.croit_reads,
                r.usage_reads,
                r.agent.sent,
                r.agent.failed,
                r.agent.anomalies
            );
            continue;
        }
        println!(
            "concurrency {}: seeding {:.2} s; CPU: agent {:.2} s, this process {:.2} s; croit bucket reads {}; Waldur usage reads {}; report: sent {} figures, {} failed, {} anomalies",
            r.concurrency,
            r.seed.as_secs_f64(),
            r.agent.cpu.as_secs_f64(),
            r.sims_cpu.as_secs_f64(),
            r.croit_reads,
            r.usage_reads,
            r.agent.sent,
            r.agent.failed,
            r.agent.anomalies
        );
    }
    println!(
        "simulators' process: RSS {:.1} MB, peak {:.1} MB (all runs' worlds)",
        mb(sims_rss),
        mb(sims_hwm)
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let mut argv = std::env::args().skip(1).peekable();
    if argv.peek().map(String::as_str) == Some("--agent-child") {
        let path = argv.nth(1).context("--agent-child needs the config path")?;
        let run = agent_run(Path::new(&path)).await?;
        println!("{}", serde_json::to_string(&run)?);
        return Ok(ExitCode::SUCCESS);
    }
    let args = parse_args(argv)?;
    let rows = bench(&args).await?;
    print_table(&args, &rows);
    let wrong: Vec<String> = rows
        .iter()
        .filter(|r| r.set_usage_calls != args.resources)
        .map(|r| {
            format!(
                "concurrency {}: {} set_usage calls, expected {}",
                r.concurrency, r.set_usage_calls, args.resources
            )
        })
        .collect();
    if !wrong.is_empty() {
        eprintln!("bench-usage: FAILED: {}", wrong.join("; "));
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
