//! The one retry policy: jittered exponential backoff, used for Waldur calls and as the
//! backend layer. Whether to retry is the caller's (domain) decision.

use backon::{ExponentialBuilder, Retryable};
use std::time::Duration;

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

    pub async fn run<T, E, Fut, F>(
        &self,
        what: &str,
        f: F,
        transient: fn(&E) -> bool,
    ) -> Result<T, E>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, E>>,
        E: std::fmt::Display,
    {
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(self.retries)
            .with_jitter();
        f.retry(backoff)
            .sleep(tokio::time::sleep)
            .when(transient)
            .notify(|e: &E, d: Duration| {
                // A backend or Waldur that is down for hours would log every retry of every
                // call: the first of a kind is logged, the rest summarised.
                if let Some(suppressed) =
                    crate::ops::throttle::ERRORS.admit(what, std::time::Instant::now())
                {
                    tracing::warn!(call = what, retry_in_ms = d.as_millis() as u64, error = %e, suppressed, "transient error, retrying");
                }
            })
            .await
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
    }
}
