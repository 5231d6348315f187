//! Side-by-side benchmark (not a test) of agent executables on the same work: each is run
//! as a child process (`EXE -m MODE -c CONFIG`, the Python agent's command line, which
//! site-agent accepts too) against waldur-sim and croit-sim running in this process, with
//! the same YAML config and the same polling period. `scripts/bench-vs-python.sh` runs it
//! for site-agent and for the Python `waldur-site-agent` with its ceph-s3 plugin.
//!
//! ```sh
//! bench-agents --agent site-agent=target/release/site-agent \
//!              --agent python=/tmp/venv/bin/waldur_site_agent
//! ```
//!
//! What it measures, per agent, on fresh simulators each phase:
//! - **start** (`--starts` times, medians): start → first Waldur request, and idle RSS of
//!   the process tree 2 s after the first poll.
//! - **orders** (`-m order_process`, `WALDUR_SITE_AGENT_ORDER_PROCESS_PERIOD_MINUTES` =
//!   `--period-minutes`, default 1: the Python agent looks at its timer once a minute, so no
//!   shorter period is the same work for both): Waldur and croit requests of one idle poll;
//!   `--orders` Create orders placed evenly over one period, each timed from placement to
//!   `done` (latency, mostly the wait for the next poll) and from the agent's first request
//!   about it to `done` (handling), both from waldur-sim's clock; `--burst` Create orders
//!   placed at once: wall time and CPU seconds of the agent's process tree until the last is
//!   done; Waldur / croit requests per Create order (all requests from the idle poll to one
//!   more idle poll after the last order, less the polls' own share). Every order must end
//!   `done`, its resource OK, with two API keys that are live on croit.
//! - **usage** (`-m report`): `--resources` resources in state OK with croit users and a
//!   month so far of hourly storage series; time and CPU from start until every resource has
//!   its GB-days in Waldur.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{Datelike, TimeZone, Utc};
use serde_json::json;
use site_agent_sims::croit::{CroitAuth, CroitSim};
use site_agent_sims::procstat;
use site_agent_sims::waldur::{ComponentSeed, OfferingSeed, OrderSeed, SimOptions, WaldurSim};

const CROIT_TOKEN: &str = "bench-croit-token";

const USAGE: &str = "usage: bench-agents --agent NAME=EXECUTABLE [--agent …] [--orders N] \
[--burst N] [--resources N] [--starts N] [--period-minutes M] [--phases start,orders,usage]";

struct Args {
    agents: Vec<(String, PathBuf)>,
    orders: usize,
    burst: usize,
    resources: usize,
    phases: Vec<String>,
    period_minutes: f64,
    starts: usize,
}

fn parse_args(mut it: impl Iterator<Item = String>) -> anyhow::Result<Args> {
    let mut a = Args {
        agents: Vec::new(),
        orders: 30,
        burst: 50,
        resources: 1000,
        phases: vec!["start".into(), "orders".into(), "usage".into()],
        starts: 5,
        period_minutes: 1.0,
    };
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--agent" => {
                let v = value()?;
                let (name, exe) = v
                    .split_once('=')
                    .with_context(|| format!("--agent {v:?}: expected NAME=EXECUTABLE"))?;
                a.agents.push((name.to_string(), PathBuf::from(exe)));
            }
            "--orders" => a.orders = value()?.parse().context("--orders")?,
            "--burst" => a.burst = value()?.parse().context("--burst")?,
            "--resources" => a.resources = value()?.parse().context("--resources")?,
            "--starts" => a.starts = value()?.parse().context("--starts")?,
            "--period-minutes" => {
                a.period_minutes = value()?.parse().context("--period-minutes")?;
            }
            "--phases" => a.phases = value()?.split(',').map(str::to_string).collect(),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    if a.agents.is_empty()
        || a.orders == 0
        || a.burst == 0
        || a.resources == 0
        || a.starts == 0
        || !a.period_minutes.is_finite()
        || a.period_minutes <= 0.0
    {
        bail!("give at least one --agent, and positive counts\n{USAGE}");
    }
    Ok(a)
}

/// Both simulators and the offering, fresh for each phase.
struct World {
    waldur: WaldurSim,
    croit: CroitSim,
    offering: String,
    dir: tempfile::TempDir,
}

impl World {
    async fn start() -> anyhow::Result<World> {
        let waldur = WaldurSim::start(SimOptions::default()).await?;
        let croit = CroitSim::start(CroitAuth::Bearer(CROIT_TOKEN.into())).await?;
        let offering = waldur.add_offering(OfferingSeed {
            name: "S3 bench".into(),
            components: vec![ComponentSeed::s3_storage()],
            ..OfferingSeed::default()
        });
        Ok(World {
            waldur,
            croit,
            offering,
            dir: tempfile::tempdir()?,
        })
    }

    /// One YAML both agents read: the Python agent's keys, plus site-agent's
    /// `database_path` and per-component `usage` keys (which the Python agent ignores).
    fn config(&self) -> anyhow::Result<PathBuf> {
        let yaml = format!(
            r#"timezone: "UTC"
database_path: "{db}"
offerings:
  - name: "S3 bench"
    waldur_api_url: "{api}"
    waldur_api_token: "{token}"
    waldur_offering_uuid: "{offering}"
    backend_type: "ceph_s3"
    order_processing_backend: "ceph_s3"
    membership_sync_backend: "ceph_s3"
    reporting_backend: "croit_usage"
    backend_settings:
      flavour: "croit"
      api_url: "{croit}"
      token: "{croit_token}"
      s3_endpoint: "{s3}"
      allocation_prefix: "waldur-"
    backend_components:
      s3_storage:
        backend_name: "storage"
        measured_unit: "GB-day"
        accounting_type: "usage"
        label: "Storage"
        unit_factor: 1000000000
        usage: gb_days
        usage_source: croit_series
"#,
            db = self.dir.path().join("state.sqlite3").display(),
            api = self.waldur.api_url(),
            token = self.waldur.provider_token(),
            offering = self.offering,
            croit = self.croit.base_url(),
            croit_token = CROIT_TOKEN,
            s3 = self.croit.s3_endpoint(),
        );
        let path = self.dir.path().join("config.yaml");
        std::fs::write(&path, yaml)?;
        Ok(path)
    }

    /// Starts the agent in `mode`, its output to a log file in the phase's directory.
    fn spawn(&self, exe: &Path, mode: &str, env: &[(&str, &str)]) -> anyhow::Result<Agent> {
        let config = self.config()?;
        let log_path = self.dir.path().join(format!("{mode}.log"));
        let log = std::fs::File::create(&log_path)?;
        let mut cmd = Command::new(exe);
        cmd.args(["-m", mode, "-c"])
            .arg(&config)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let started = Instant::now();
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start {}", exe.display()))?;
        Ok(Agent {
            child,
            started,
            log: log_path,
        })
    }

    fn order_lists(&self) -> usize {
        self.waldur
            .calls()
            .iter()
            .filter(|c| c.method == "GET" && c.path == "/api/marketplace-orders/")
            .count()
    }

    /// (Waldur requests, croit requests, order-list polls) so far.
    fn counters(&self) -> (usize, usize, usize) {
        (
            self.waldur.calls().len(),
            self.croit.calls().len(),
            self.order_lists(),
        )
    }

    fn place_create(&self, name: &str) -> (String, String) {
        let placed = self.waldur.place_order(OrderSeed {
            offering_uuid: self.offering.clone(),
            order_type: "Create".into(),
            resource_name: name.into(),
            attributes: json!({"name": name, "max_storage_limit": 10}),
            ..OrderSeed::default()
        });
        (placed.order_uuid, placed.resource_uuid)
    }

    fn is_done(&self, order: &str) -> bool {
        self.waldur
            .order(order)
            .is_some_and(|o| o["state"] == "done")
    }

    /// The work was really done: the order is done, its resource OK with two keys in Waldur,
    /// and its S3 user holds exactly those keys.
    fn check_done(&self, order: &str, resource: &str) -> anyhow::Result<()> {
        let r = self.waldur.resource(resource).unwrap_or_default();
        let uid = r["backend_id"].as_str().unwrap_or_default();
        let keys = self.waldur.api_keys(resource);
        let user = self.croit.user(uid);
        let live = user.as_ref().map(|u| u.keys.clone()).unwrap_or_default();
        let all_live = keys
            .iter()
            .all(|k| live.contains(&(k.client_id.clone(), k.api_key.clone())));
        if !self.is_done(order) || r["state"] != "OK" || keys.len() != 2 || !all_live {
            bail!(
                "order {order}: state {:?}, resource {:?}, {} keys in Waldur, {} on croit",
                self.waldur.order(order).map(|o| o["state"].clone()),
                r["state"],
                keys.len(),
                live.len()
            );
        }
        Ok(())
    }
}

struct Agent {
    child: Child,
    started: Instant,
    log: PathBuf,
}

impl Agent {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails (with the log's tail) when the agent has exited.
    fn alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("the agent exited ({status}):\n{}", self.log_tail());
        }
        Ok(())
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// SIGTERM, then SIGKILL after 10 s.
    fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Agent {
    /// A phase that failed leaves no agent behind.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Polls `done` every `every` until it holds; fails after `limit` or when the agent exits.
async fn wait_for(
    agent: &mut Agent,
    what: &str,
    limit: Duration,
    every: Duration,
    mut done: impl FnMut() -> bool,
) -> anyhow::Result<()> {
    let t = Instant::now();
    while !done() {
        agent.alive()?;
        if t.elapsed() > limit {
            bail!("{what}: not within {limit:?}\n{}", agent.log_tail());
        }
        tokio::time::sleep(every).await;
    }
    Ok(())
}

#[derive(Default, Debug)]
struct Results {
    first_request: Option<Duration>,
    idle_rss_kb: Option<u64>,
    idle_waldur_per_poll: Option<f64>,
    idle_backend_per_poll: Option<f64>,
    latency_p50: Option<Duration>,
    latency_p90: Option<Duration>,
    handling_p50: Option<Duration>,
    handling_p90: Option<Duration>,
    burst_wall: Option<Duration>,
    burst_cpu: Option<Duration>,
    waldur_per_create: Option<f64>,
    backend_per_create: Option<f64>,
    usage_wall: Option<Duration>,
    usage_cpu: Option<Duration>,
    usage_waldur_requests: Option<usize>,
    usage_total: Option<f64>,
    /// The exact GB-days of the seeded series, month start → the cycle's start and end.
    usage_expected: Option<(f64, f64)>,
}

/// What an order's calls say: when the agent first asked about it and when Waldur accepted
/// its completion (both in the simulator's clock).
fn order_times(w: &World, order: &str) -> Option<(Duration, Duration)> {
    let hyphenated = uuid::Uuid::parse_str(order).ok()?.hyphenated().to_string();
    let calls = w.waldur.calls();
    let about = |path: &str| path.contains(order) || path.contains(&hyphenated);
    let first = calls.iter().find(|c| about(&c.path))?;
    let done = calls
        .iter()
        .find(|c| about(&c.path) && c.path.ends_with("/set_state_done/") && c.status < 300)?;
    Some((
        Duration::from_micros(first.at_us),
        Duration::from_micros(done.at_us),
    ))
}

/// Starts the agent polling orders every `--period-minutes` and lets it settle: returns it
/// with its start → first Waldur request time and its idle RSS (process tree) 2 s after
/// its first poll.
async fn start_idle(w: &World, exe: &Path, a: &Args) -> anyhow::Result<(Agent, Duration, u64)> {
    let minutes = a.period_minutes.to_string();
    let mut agent = w.spawn(
        exe,
        "order_process",
        &[("WALDUR_SITE_AGENT_ORDER_PROCESS_PERIOD_MINUTES", &minutes)],
    )?;
    let limit = poll_limit(a);
    wait_for(
        &mut agent,
        "first Waldur request",
        limit,
        Duration::from_micros(200),
        || !w.waldur.calls().is_empty(),
    )
    .await?;
    let first = agent.started.elapsed();
    wait_for(
        &mut agent,
        "first poll",
        limit,
        Duration::from_millis(5),
        || w.order_lists() >= 1,
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    agent.alive()?;
    let rss = procstat::tree_rss_kb(agent.pid());
    Ok((agent, first, rss))
}

/// How long to wait for something that happens at the next poll.
fn poll_limit(a: &Args) -> Duration {
    Duration::from_secs_f64(a.period_minutes * 60.0) * 3 + Duration::from_secs(60)
}

/// Start-up, `--starts` times on fresh simulators and a fresh database: start → first Waldur
/// request and idle RSS 2 s after the first poll; the medians are kept.
async fn start_phase(exe: &Path, a: &Args, out: &mut Results) -> anyhow::Result<()> {
    let (mut firsts, mut rss) = (Vec::new(), Vec::new());
    for _ in 0..a.starts {
        let w = World::start().await?;
        let (mut agent, first, idle) = start_idle(&w, exe, a).await?;
        firsts.push(first);
        rss.push(idle);
        agent.stop();
    }
    firsts.sort();
    rss.sort();
    out.first_request = firsts.get(firsts.len() / 2).copied();
    out.idle_rss_kb = rss.get(rss.len() / 2).copied();
    Ok(())
}

async fn orders_phase(exe: &Path, a: &Args, out: &mut Results) -> anyhow::Result<()> {
    let w = World::start().await?;
    let period = Duration::from_secs_f64(a.period_minutes * 60.0);
    let limit = poll_limit(a);
    let settle = Duration::from_secs(2);
    let every = Duration::from_millis(5);
    // The first poll done, the agent idles: then one whole idle poll's requests.
    let (mut agent, first, idle) = start_idle(&w, exe, a).await?;
    out.first_request.get_or_insert(first);
    out.idle_rss_kb.get_or_insert(idle);
    let (w0, c0, l0) = w.counters();
    wait_for(&mut agent, "second poll", limit, every, || {
        w.order_lists() > l0
    })
    .await?;
    tokio::time::sleep(settle).await;
    let (w1, c1, l1) = w.counters();
    let idle_waldur = (w1 - w0) as f64 / (l1 - l0) as f64;
    let idle_backend = (c1 - c0) as f64 / (l1 - l0) as f64;
    out.idle_waldur_per_poll = Some(idle_waldur);
    out.idle_backend_per_poll = Some(idle_backend);

    // Latency: orders placed one by one, evenly over one polling period.
    let sim_start = w.waldur.started();
    let mut placed = Vec::with_capacity(a.orders);
    for i in 0..a.orders {
        let (order, resource) = w.place_create(&format!("latency {i}"));
        placed.push((order, resource, sim_start.elapsed()));
        tokio::time::sleep(period / a.orders as u32).await;
    }
    wait_for(&mut agent, "latency orders done", limit * 2, every, || {
        placed.iter().all(|(o, _, _)| w.is_done(o))
    })
    .await?;
    let (mut latencies, mut handling) = (Vec::new(), Vec::new());
    for (order, resource, at) in &placed {
        w.check_done(order, resource)?;
        let (first, done) = order_times(&w, order).context("no calls for a done order")?;
        latencies.push(done.saturating_sub(*at));
        handling.push(done.saturating_sub(first));
    }
    let pct = |v: &mut Vec<Duration>, p: f64| {
        v.sort();
        v[((v.len() as f64 - 1.0) * p).round() as usize]
    };
    out.latency_p50 = Some(pct(&mut latencies, 0.5));
    out.latency_p90 = Some(pct(&mut latencies, 0.9));
    out.handling_p50 = Some(pct(&mut handling, 0.5));
    out.handling_p90 = Some(pct(&mut handling, 0.9));

    // Burst: all at once; wall and CPU until the last is done.
    let cpu0 = procstat::tree_cpu(agent.pid());
    let t = Instant::now();
    let burst: Vec<(String, String)> = (0..a.burst)
        .map(|i| w.place_create(&format!("burst {i}")))
        .collect();
    wait_for(&mut agent, "burst done", limit * 4, every, || {
        burst.iter().all(|(o, _)| w.is_done(o))
    })
    .await?;
    out.burst_wall = Some(t.elapsed());
    out.burst_cpu = Some(procstat::tree_cpu(agent.pid()).saturating_sub(cpu0));
    for (o, r) in &burst {
        w.check_done(o, r)?;
    }

    // Requests per order: everything since the idle poll, up to one more idle poll after
    // the last order, less the polls' own share.
    let lists = w.order_lists();
    wait_for(&mut agent, "a poll after the orders", limit, every, || {
        w.order_lists() > lists
    })
    .await?;
    tokio::time::sleep(settle).await;
    let (w2, c2, l2) = w.counters();
    let polls = (l2 - l1) as f64;
    let n = (a.orders + a.burst) as f64;
    out.waldur_per_create = Some(((w2 - w1) as f64 - idle_waldur * polls) / n);
    out.backend_per_create = Some(((c2 - c1) as f64 - idle_backend * polls) / n);
    agent.stop();
    Ok(())
}

async fn usage_phase(exe: &Path, a: &Args, out: &mut Results) -> anyhow::Result<()> {
    let w = World::start().await?;
    let now = Utc::now();
    let month_start = Utc
        .with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
        .single()
        .context("month start")?
        .timestamp();
    let mut resources = Vec::with_capacity(a.resources);
    for i in 0..a.resources {
        let uid = format!("waldur-bench-{i}");
        let resource = w.waldur.add_resource_ok(&w.offering, &uid, &uid, json!({}));
        let stamp = site_agent_sdk::Tenant::new(&uid, &resource)?.stamp();
        w.croit.add_user(&uid, &stamp);
        let bytes = (1 + i as u64 % 100) * 1_000_000_000;
        let points = (month_start..now.timestamp())
            .step_by(3600)
            .map(|t| (t, Some(bytes)))
            .collect();
        w.croit.set_series(&uid, points);
        resources.push(resource);
    }
    let gb_sum: f64 = (0..a.resources).map(|i| (1 + i % 100) as f64).sum();
    let gb_days_at =
        |t: chrono::DateTime<Utc>| gb_sum * (t.timestamp() - month_start) as f64 / 86_400.0;
    let from = gb_days_at(Utc::now());
    let mut agent = w.spawn(
        exe,
        "report",
        &[("WALDUR_SITE_AGENT_REPORT_PERIOD_MINUTES", "60")],
    )?;
    let reported = |w: &World| {
        resources
            .iter()
            .filter(|r| !w.waldur.component_usages(r).is_empty())
            .count()
    };
    wait_for(
        &mut agent,
        "every resource's usage in Waldur",
        Duration::from_secs(1800),
        Duration::from_millis(20),
        || reported(&w) == resources.len(),
    )
    .await?;
    out.usage_wall = Some(agent.started.elapsed());
    out.usage_cpu = Some(procstat::tree_cpu(agent.pid()));
    out.usage_waldur_requests = Some(w.waldur.calls().len());
    // What was billed, summed: both agents read the same series, so this must agree.
    let total: f64 = resources
        .iter()
        .flat_map(|r| w.waldur.component_usages(r))
        .filter_map(|u| u["usage"].as_str()?.parse::<f64>().ok())
        .sum();
    out.usage_total = Some(total);
    out.usage_expected = Some((from, gb_days_at(Utc::now())));
    agent.stop();
    Ok(())
}

fn ms(d: Option<Duration>) -> String {
    d.map_or("—".into(), |d| {
        format!("{:.1} ms", d.as_secs_f64() * 1000.0)
    })
}

fn secs(d: Option<Duration>) -> String {
    d.map_or("—".into(), |d| format!("{:.2} s", d.as_secs_f64()))
}

fn num(v: Option<f64>) -> String {
    v.map_or("—".into(), |v| format!("{v:.1}"))
}

/// How one table cell is rendered from an agent's results.
type Cell<'a> = Box<dyn Fn(&Results) -> String + 'a>;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = parse_args(std::env::args().skip(1))?;
    let mut all = Vec::new();
    for (name, exe) in &a.agents {
        let mut r = Results::default();
        for phase in &a.phases {
            eprintln!("bench-agents: {name}: {phase} phase");
            let run = match phase.as_str() {
                "start" => start_phase(exe, &a, &mut r).await,
                "orders" => orders_phase(exe, &a, &mut r).await,
                "usage" => usage_phase(exe, &a, &mut r).await,
                other => bail!("unknown phase {other:?} (start, orders, usage)"),
            };
            run.with_context(|| format!("{name}: {phase} phase"))?;
        }
        eprintln!("bench-agents: {name}: {r:?}");
        all.push((name.clone(), r));
    }
    let rows: Vec<(String, Cell<'_>)> = vec![
        (
            format!("start → first Waldur request (median of {})", a.starts),
            Box::new(|r| ms(r.first_request)),
        ),
        (
            format!("idle RSS, process tree (median of {})", a.starts),
            Box::new(|r| {
                r.idle_rss_kb
                    .map_or("—".into(), |kb| format!("{:.1} MiB", kb as f64 / 1024.0))
            }),
        ),
        (
            "Waldur / backend requests per idle poll".into(),
            Box::new(|r| {
                format!(
                    "{} / {}",
                    num(r.idle_waldur_per_poll),
                    num(r.idle_backend_per_poll)
                )
            }),
        ),
        (
            format!(
                "order latency p50 / p90 (placed → done, polling every {} min, {} orders)",
                a.period_minutes, a.orders
            ),
            Box::new(|r| format!("{} / {}", secs(r.latency_p50), secs(r.latency_p90))),
        ),
        (
            "order handling p50 / p90 (first request about it → done)".into(),
            Box::new(|r| format!("{} / {}", ms(r.handling_p50), ms(r.handling_p90))),
        ),
        (
            "Waldur / backend requests per Create order".into(),
            Box::new(|r| {
                format!(
                    "{} / {}",
                    num(r.waldur_per_create),
                    num(r.backend_per_create)
                )
            }),
        ),
        (
            format!("{} Create orders at once: wall / CPU", a.burst),
            Box::new(|r| format!("{} / {}", secs(r.burst_wall), secs(r.burst_cpu))),
        ),
        (
            format!(
                "usage cycle, {} resources: wall / CPU (from start)",
                a.resources
            ),
            Box::new(|r| format!("{} / {}", secs(r.usage_wall), secs(r.usage_cpu))),
        ),
        (
            "Waldur requests for that cycle".into(),
            Box::new(|r| {
                r.usage_waldur_requests
                    .map_or("—".into(), |n| n.to_string())
            }),
        ),
        (
            "GB-days billed (sum) / exact over the cycle's span".into(),
            Box::new(|r| match (r.usage_total, r.usage_expected) {
                (Some(v), Some((lo, hi))) => {
                    // Each resource's figure is rounded to the cent.
                    let slack = 0.005 * a.resources as f64;
                    let ok = v >= lo - slack && v <= hi + slack;
                    format!("{v:.2} / {lo:.2}–{hi:.2} {}", if ok { "✓" } else { "✗" })
                }
                _ => "—".into(),
            }),
        ),
    ];
    let header: Vec<&str> = all.iter().map(|(n, _)| n.as_str()).collect();
    println!("| | {} |", header.join(" | "));
    println!("|---|{}", "---:|".repeat(header.len()));
    for (label, f) in &rows {
        let cells: Vec<String> = all.iter().map(|(_, r)| f(r)).collect();
        println!("| {label} | {} |", cells.join(" | "));
    }
    Ok(())
}
