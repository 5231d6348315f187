//! The one backoff and the one retry policy built on it: jittered exponential delays for
//! Waldur calls, the backend layer, and reconnects (STOMP sessions, event set-up). Whether to
//! retry is the caller's (domain) decision.

use std::time::Duration;

/// Exponential delays: `min * 2^(attempt-1)`, capped at `max`, plus up to 25 % jitter so
/// many agents (or many calls of one) do not retry in step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub min: Duration,
    pub max: Duration,
}

impl Backoff {
    /// The delay before retry `attempt` (1-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        self.delay_with(attempt, site_agent_sdk::keys::random_fraction())
    }

    /// [`Backoff::delay`] with the jitter given (0.0 to 1.0), for tests.
    pub fn delay_with(&self, attempt: u32, jitter01: f64) -> Duration {
        let base = self
            .min
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
            .min(self.max);
        base + base.mul_f64(0.25 * jitter01.clamp(0.0, 1.0))
    }
}

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub retries: usize,
    pub min_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            retries: 5,
            min_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    pub fn none() -> Self {
        Self {
            retries: 0,
            ..Self::default()
        }
    }

    pub fn backoff(&self) -> Backoff {
        Backoff {
            min: self.min_delay,
            max: self.max_delay,
        }
    }

    /// Runs `f` until it succeeds, fails with an error `transient` rejects, or the retries
    /// are spent.
    pub async fn run<T, E, Fut, F>(
        &self,
        what: &str,
        mut f: F,
        transient: fn(&E) -> bool,
    ) -> Result<T, E>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, E>>,
        E: std::fmt::Display,
    {
        let backoff = self.backoff();
        let mut attempt: u32 = 0;
        loop {
            match f().await {
                Err(e) if (attempt as usize) < self.retries && transient(&e) => {
                    attempt += 1;
                    let d = backoff.delay(attempt);
                    // A backend or Waldur that is down for hours would log every retry of
                    // every call: the first of a kind is logged, the rest summarised.
                    if let Some(suppressed) =
                        crate::logging::throttle::ERRORS.admit(what, std::time::Instant::now())
                    {
                        tracing::warn!(call = what, retry_in_ms = d.as_millis() as u64, error = %e, suppressed, "transient error, retrying");
                    }
                    tokio::time::sleep(d).await;
                }
                done => return done,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn retries_only_transient_errors() {
        let p = RetryPolicy {
            retries: 3,
            min_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
        };
        let n = AtomicUsize::new(0);
        let r: Result<u32, String> = p
            .run(
                "t",
                || async {
                    if n.fetch_add(1, Ordering::SeqCst) < 2 {
                        Err("busy".to_string())
                    } else {
                        Ok(7)
                    }
                },
                |_| true,
            )
            .await;
        assert_eq!(r, Ok(7));
        assert_eq!(n.load(Ordering::SeqCst), 3);
        let m = AtomicUsize::new(0);
        let r: Result<u32, String> = p
            .run(
                "t",
                || async {
                    m.fetch_add(1, Ordering::SeqCst);
                    Err("bad".to_string())
                },
                |e| e != "bad",
            )
            .await;
        assert!(r.is_err());
        assert_eq!(m.load(Ordering::SeqCst), 1);
        let k = AtomicUsize::new(0);
        let r: Result<u32, String> = p
            .run(
                "t",
                || async {
                    k.fetch_add(1, Ordering::SeqCst);
                    Err("busy".to_string())
                },
                |_| true,
            )
            .await;
        assert!(r.is_err());
        assert_eq!(
            k.load(Ordering::SeqCst),
            4,
            "the first try and three retries"
        );
    }

    #[test]
    fn backoff_grows_and_caps_with_jitter() {
        let b = Backoff {
            min: Duration::from_secs(1),
            max: Duration::from_secs(120),
        };
        assert_eq!(b.delay_with(1, 0.0), Duration::from_secs(1));
        assert_eq!(b.delay_with(2, 0.0), Duration::from_secs(2));
        assert_eq!(b.delay_with(4, 0.0), Duration::from_secs(8));
        assert_eq!(b.delay_with(30, 0.0), Duration::from_secs(120));
        assert_eq!(
            b.delay_with(30, 1.0),
            Duration::from_secs(150),
            "at most 25 % jitter"
        );
        assert!(b.delay(1) <= Duration::from_millis(1250));
        assert!(b.delay(u32::MAX) <= Duration::from_secs(150));
    }
}
