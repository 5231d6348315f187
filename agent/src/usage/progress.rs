//! Progress of a long usage pass in the log: done / total and the rate, at most every
//! `EVERY` (a pass over 100,000 resources takes minutes; a quiet log looks hung).

use std::time::{Duration, Instant};

const EVERY: Duration = Duration::from_secs(15);

pub struct Progress {
    what: &'static str,
    offering: String,
    total: usize,
    done: usize,
    started: Instant,
    last: Instant,
}

impl Progress {
    pub fn new(what: &'static str, offering: &str, total: usize) -> Self {
        let now = Instant::now();
        Self {
            what,
            offering: offering.to_string(),
            total,
            done: 0,
            started: now,
            last: now,
        }
    }

    /// `n` more done; logs when `EVERY` has passed since the last line.
    pub fn add(&mut self, n: usize) {
        self.done += n;
        if self.last.elapsed() >= EVERY {
            self.last = Instant::now();
            let secs = self.started.elapsed().as_secs_f64().max(0.001);
            tracing::info!(
                offering = %self.offering,
                done = self.done,
                total = self.total,
                per_second = (self.done as f64 / secs).round() as u64,
                "{} in progress",
                self.what
            );
        }
    }
}
