//! The operator's view: samples, computed figures and what Waldur was sent, as tables.

use super::UsageReporter;
use super::amount::Cents;
use super::period::Period;
use crate::config::Config;
use crate::store::Store;
use crate::waldur::WaldurId;
use std::process::ExitCode;

/// `site-agent usage show`.
pub async fn print(config: &Config, resource: Option<String>, period: Option<String>) -> ExitCode {
    if let Some(p) = &period
        && Period::parse(p).is_none()
    {
        eprintln!("--period must be YYYY-MM, not {p:?}");
        return ExitCode::from(2);
    }
    let store = match Store::open(&config.database_path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    {
        let resource = resource.map(|r| String::from(WaldurId::new(&r)));
        let rows = store
            .outbox_rows(resource.clone(), period.clone())
            .await
            .unwrap_or_default();
        let tz = config.timezone;
        let size = store.size_bytes().await.unwrap_or(0);
        println!(
            "database: {} ({:.1} MiB; history kept: {} months, pruned daily)",
            config.database_path.display(),
            size as f64 / (1024.0 * 1024.0),
            config.history_months
        );
        println!();
        println!("samples ({tz}):");
        println!(
            "{:<34} {:>8} {:<26} {:>16} {:>10}",
            "resource", "samples", "last sample", "bytes", "objects"
        );
        let mut resources: Vec<String> = rows.iter().map(|r| r.resource_uuid.clone()).collect();
        for o in &config.offerings {
            let key = o.offering_uuid.simple().to_string();
            resources.extend(
                store
                    .known_resources(&key)
                    .await
                    .unwrap_or_default()
                    .into_iter()
                    .map(|r| r.resource_uuid),
            );
        }
        resources.sort();
        resources.dedup();
        resources.retain(|r| resource.as_ref().is_none_or(|want| want == r));
        let (from, to) = match period.as_deref().and_then(Period::parse) {
            Some(p) => (p.start(tz).timestamp(), p.end(tz).timestamp()),
            None => (i64::MIN / 2, i64::MAX / 2),
        };
        for r in &resources {
            let s = store.samples(r, from, to).await.unwrap_or_default();
            let inside: Vec<_> = s.iter().filter(|x| x.sampled_at >= from).collect();
            match inside.last() {
                Some(last) => {
                    let when = chrono::DateTime::from_timestamp(last.sampled_at, 0)
                        .map(|t| {
                            t.with_timezone(&tz)
                                .format("%Y-%m-%d %H:%M:%S %Z")
                                .to_string()
                        })
                        .unwrap_or_default();
                    println!(
                        "{r:<34} {:>8} {when:<26} {:>16} {:>10}",
                        inside.len(),
                        last.bytes,
                        last.objects
                    );
                }
                None => println!("{r:<34} {:>8} {:<26} {:>16} {:>10}", 0, "-", "-", "-"),
            }
        }
        println!();
        println!("figures:");
        println!(
            "{:<34} {:<14} {:<8} {:>12} {:>12} {:<5} {:<11} error",
            "resource", "component", "period", "computed", "sent", "final", "state"
        );
        for r in rows {
            println!(
                "{:<34} {:<14} {:<8} {:>12} {:>12} {:<5} {:<11} {}",
                r.resource_uuid,
                r.component,
                r.period,
                Cents(r.amount_cents).to_string(),
                r.sent_cents
                    .map(|c| Cents(c).to_string())
                    .unwrap_or_else(|| "-".into()),
                if r.is_final { "yes" } else { "no" },
                r.state,
                r.last_error
            );
        }
        ExitCode::SUCCESS
    }
}

/// `site-agent usage report --dry-run`: the current period's figures from stored samples.
pub async fn print_dry_run(reporters: &[std::sync::Arc<UsageReporter>]) {
    println!(
        "{:<34} {:<14} {:<8} {:>12}",
        "resource", "component", "period", "amount"
    );
    for r in reporters {
        let p = Period::containing(r.clock.now(), r.tz);
        for f in r.figures(p, false).await {
            let k = &f.key;
            println!(
                "{:<34} {:<14} {:<8} {:>12}",
                k.resource_uuid,
                k.component,
                k.period,
                Cents(f.cents).to_string()
            );
        }
    }
}
