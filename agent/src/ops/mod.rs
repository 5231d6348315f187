//! Operations: systemd readiness and watchdog, and the liveness check.

pub mod endpoints;
pub mod instance;
pub mod notify;
pub mod supervisor;

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

/// `site-agent healthz`: is the heartbeat file fresh?
pub fn healthz(heartbeat: &Path, max_age: Duration) -> ExitCode {
    let age = std::fs::metadata(heartbeat)
        .and_then(|m| m.modified())
        .map(|t| t.elapsed().unwrap_or_default());
    match age {
        Ok(age) if age <= max_age => {
            println!("alive: heartbeat {} s old", age.as_secs());
            ExitCode::SUCCESS
        }
        Ok(age) => {
            println!(
                "stale: heartbeat {} s old (max {} s)",
                age.as_secs(),
                max_age.as_secs()
            );
            ExitCode::from(1)
        }
        Err(e) => {
            println!("no heartbeat at {}: {e}", heartbeat.display());
            ExitCode::from(1)
        }
    }
}
