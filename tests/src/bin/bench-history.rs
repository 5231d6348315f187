//! Benchmark (not a test): how the agent's database grows with usage history, and how fast
//! `site-agent usage show` answers for one resource in it.
//!
//! ```sh
//! bench-history --resources 1000 --days 30 --interval-minutes 10
//! ```
//!
//! Writes `--days` of samples (one per resource every `--interval-minutes`, each a new value,
//! so nothing is deduplicated: the worst case) for `--resources` resources through the
//! agent's own store, as the sampler does (one transaction per sampling instant), then
//! reports the database size (WAL checkpointed), bytes per sample, per resource-month, and
//! the median of three runs of the real `site-agent usage show --resource X` (the binary
//! next to this one, or `--agent PATH`).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};
use site_agent::store::Store;
use site_agent::store::usage::{KnownResource, Sample};

const USAGE: &str =
    "usage: bench-history [--resources N] [--days N] [--interval-minutes N] [--agent PATH]";
const OFFERING: &str = "0ff00000000000000000000000000001";

struct Args {
    resources: usize,
    days: i64,
    interval_minutes: i64,
    agent: PathBuf,
}

fn parse_args(mut it: impl Iterator<Item = String>) -> anyhow::Result<Args> {
    let here = std::env::current_exe()?;
    let mut a = Args {
        resources: 1000,
        days: 30,
        interval_minutes: 10,
        agent: here.with_file_name("site-agent"),
    };
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--resources" => a.resources = value()?.parse().context("--resources")?,
            "--days" => a.days = value()?.parse().context("--days")?,
            "--interval-minutes" => {
                a.interval_minutes = value()?.parse().context("--interval-minutes")?;
            }
            "--agent" => a.agent = PathBuf::from(value()?),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    if a.resources == 0 || a.days <= 0 || a.interval_minutes <= 0 {
        bail!("counts must be positive\n{USAGE}");
    }
    Ok(a)
}

fn resource_uuid(i: usize) -> String {
    format!(
        "{:032x}",
        0xbe00_0000_0000_0000_0000_0000_0000_0000u128 + i as u128
    )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = parse_args(std::env::args().skip(1))?;
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("state.sqlite3");
    let store = Store::open(&db)?;
    let now = chrono::Utc::now().timestamp();
    let start = now - a.days * 86_400;
    let step = a.interval_minutes * 60;
    let known: Vec<KnownResource> = (0..a.resources)
        .map(|i| KnownResource {
            resource_uuid: resource_uuid(i),
            uid: format!("waldur-bench-{i}"),
            state: "OK".into(),
        })
        .collect();
    store.set_known_resources(OFFERING, known, start).await?;

    let t = Instant::now();
    let mut rows = 0u64;
    let mut at = start;
    while at <= now {
        let batch: Vec<Sample> = (0..a.resources)
            .map(|i| Sample {
                resource_uuid: resource_uuid(i),
                sampled_at: at,
                // A new value every time: nothing for the store to skip.
                bytes: (1 + i as u64 % 100) * 1_000_000_000 + (at - start) as u64,
                objects: 1_000 + i as u64 + (at - start) as u64 / step as u64,
            })
            .collect();
        rows += batch.len() as u64;
        store.insert_samples(batch, now).await?;
        at += step;
    }
    let write = t.elapsed();
    // The daily prune's thinning pass (a week up to a day ago; nothing to drop here: its
    // cost alone).
    let t = Instant::now();
    let mut thinned = 0;
    for i in 0..a.resources {
        thinned += store
            .thin_samples(&resource_uuid(i), now - 8 * 86_400, now - 86_400)
            .await?;
    }
    let thin = t.elapsed();
    let size = store.size_bytes().await?;
    drop(store);
    // The WAL folded in: what stays on disk.
    let checkpointed = {
        let c = rusqlite::Connection::open(&db)?;
        c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        std::fs::metadata(&db)?.len()
    };

    let config = dir.path().join("bench.yaml");
    std::fs::write(
        &config,
        format!(
            "timezone: UTC\ndatabase_path: {}\nofferings:\n  - name: bench\n    waldur_api_url: http://127.0.0.1:9/api/\n    waldur_api_token: \"{}\"\n    waldur_offering_uuid: {OFFERING}\n    backend_type: ceph_s3\n    order_processing_backend: ceph_s3\n    reporting_backend: ceph_s3\n    backend_settings: {{api_url: \"http://127.0.0.1:9\", token: bench, s3_endpoint: \"https://s3.bench\"}}\n    backend_components:\n      s3_storage: {{backend_name: storage, measured_unit: GB-day, accounting_type: usage, label: Storage, unit_factor: 1000000000, usage: gb_days}}\n",
            db.display(),
            "0".repeat(40),
        ),
    )?;
    let one = resource_uuid(a.resources / 2);
    let mut shows = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let out = Command::new(&a.agent)
            .args(["usage", "show", "--resource", &one, "-c"])
            .arg(&config)
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .with_context(|| format!("cannot run {}", a.agent.display()))?;
        shows.push(t.elapsed());
        let text = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() || !text.contains(&one) {
            bail!("usage show failed ({}):\n{text}", out.status);
        }
    }
    shows.sort();
    let show = shows[1];

    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    let per_row = checkpointed as f64 / rows as f64;
    let per_resource_month = per_row * (30 * 86_400 / step) as f64;
    println!("resources: {}", a.resources);
    println!(
        "samples: {rows} ({} days every {} min), written in {:.1} s",
        a.days,
        a.interval_minutes,
        write.as_secs_f64()
    );
    println!(
        "daily thinning pass (a week): {:.1} s ({thinned} dropped)",
        thin.as_secs_f64()
    );
    println!(
        "database: {:.1} MiB ({:.1} MiB before the WAL checkpoint), {per_row:.1} bytes per sample, {:.1} KiB per resource-month",
        mib(checkpointed),
        mib(size),
        per_resource_month / 1024.0
    );
    println!(
        "at 100,000 resources (linear): {:.1} GiB per month of samples",
        per_resource_month * 100_000.0 / (1024.0 * 1024.0 * 1024.0)
    );
    println!(
        "`usage show --resource` (median of 3): {:.1} ms",
        show.as_secs_f64() * 1000.0
    );
    Ok(())
}
