//! Log summaries for errors that repeat: the first occurrence of a kind is logged, later
//! ones within the interval only counted, and the count is reported with the next one
//! logged. A backend that is down for hours costs a few lines per interval, not one per call
//! and retry.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

/// How often one kind of repeated error is logged.
pub const INTERVAL: Duration = Duration::from_secs(300);

pub struct Throttle {
    seen: Mutex<HashMap<String, (Instant, u64)>>,
    interval: Duration,
}

/// The process-wide summary of repeated errors.
pub static ERRORS: LazyLock<Throttle> = LazyLock::new(|| Throttle::new(INTERVAL));

impl Throttle {
    pub fn new(interval: Duration) -> Self {
        Self {
            seen: Mutex::new(HashMap::new()),
            interval,
        }
    }

    /// `Some(n)` when an error of `kind` should be logged now, `n` being how many like it
    /// were suppressed since the last one logged; `None` to stay quiet.
    pub fn admit(&self, kind: &str, now: Instant) -> Option<u64> {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() > 1000 {
            // Bounded: kinds that have gone quiet are forgotten.
            let interval = self.interval;
            seen.retain(|_, (at, _)| now.saturating_duration_since(*at) < interval);
        }
        match seen.get_mut(kind) {
            Some((at, suppressed)) if now.saturating_duration_since(*at) < self.interval => {
                *suppressed += 1;
                None
            }
            Some((at, suppressed)) => {
                let n = *suppressed;
                *at = now;
                *suppressed = 0;
                Some(n)
            }
            None => {
                seen.insert(kind.to_string(), (now, 0));
                Some(0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_then_a_count_per_interval() {
        let t = Throttle::new(Duration::from_secs(300));
        let t0 = Instant::now();
        assert_eq!(t.admit("backend usage", t0), Some(0));
        for i in 1..=999 {
            assert_eq!(
                t.admit("backend usage", t0 + Duration::from_millis(i)),
                None
            );
        }
        assert_eq!(
            t.admit("waldur get order", t0),
            Some(0),
            "kinds are separate"
        );
        assert_eq!(
            t.admit("backend usage", t0 + Duration::from_secs(301)),
            Some(999),
            "the next line carries the count"
        );
        assert_eq!(
            t.admit("backend usage", t0 + Duration::from_secs(302)),
            None
        );
    }
}
