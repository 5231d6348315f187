//! One offering's usage billing: sample, compute figures per period, deliver through the
//! outbox, and close each period before it ends.

use super::clock::Clock;
use super::period::Period;
use crate::config::{Offering, UsageSettings};
use crate::store::Store;
use crate::waldur::WaldurClient;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use site_agent_sdk::StorageBackend;
use std::sync::Arc;

pub struct UsageReporter {
    pub offering: Offering,
    pub waldur: Arc<WaldurClient>,
    pub backend: Arc<dyn StorageBackend>,
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub tz: Tz,
    pub settings: UsageSettings,
    /// One usage operation of the offering at a time (sampling, reporting, a terminated
    /// resource's last report), so no figure is computed while a sample is half-stored.
    pub gate: tokio::sync::Mutex<()>,
}

/// What one report cycle did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CycleReport {
    pub figures_changed: usize,
    pub sent: usize,
    pub skipped_equal: usize,
    pub anomalies: usize,
    pub failed: usize,
    pub closed: Vec<String>,
}

impl UsageReporter {
    pub fn offering_key(&self) -> String {
        self.offering.offering_uuid.simple().to_string()
    }

    pub fn state_key(&self, what: &str) -> String {
        format!("usage:{}:{what}", self.offering_key())
    }

    /// Seconds between two sampling slots around `t`: how long the last reading may hold.
    pub fn sampling_interval(&self, t: DateTime<Utc>) -> i64 {
        super::schedule::interval(&self.settings.schedule, self.tz, t)
    }

    /// The next sampling slot strictly after `t`.
    pub fn next_sample_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        super::schedule::next_slot(&self.settings.schedule, self.tz, t)
    }

    /// The first sampling slot after a (re)start: a slot missed while the agent was down is
    /// caught up once, right away (not once per missed slot).
    pub async fn first_sample(&self) -> Option<DateTime<Utc>> {
        let last = self
            .store
            .state_get(&self.state_key("last_sample"))
            .await
            .ok()
            .flatten()
            .and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
            .map(|t| t.with_timezone(&Utc));
        super::schedule::first_slot(&self.settings.schedule, self.tz, last, self.clock.now())
    }

    /// When the current billing period's closing figure is due (or the next period's, once
    /// this one's moment has passed).
    pub fn next_close(&self) -> DateTime<Utc> {
        let now = self.clock.now();
        let p = Period::containing(now, self.tz);
        let close = p.end(self.tz) - self.settings.close_lead;
        if close > now {
            close
        } else {
            p.next().end(self.tz) - self.settings.close_lead
        }
    }

    /// A report cycle: close what is due, recompute the current period, deliver.
    pub async fn report_cycle(&self) -> CycleReport {
        let _one_at_a_time = self.gate.lock().await;
        let mut report = CycleReport::default();
        let now = self.clock.now();
        // Refresh the resource list (or fall back to the stored one while Waldur is away).
        self.known_resources().await;

        let current = Period::containing(now, self.tz);
        // A period that ended while the agent was away is closed now (delivered as a backfill).
        for p in [current.prev(), current] {
            let due = p.end(self.tz) - self.settings.close_lead;
            if now >= due && !self.is_closed(p).await {
                if p == current {
                    self.sample_unlocked().await;
                }
                report.figures_changed += self.compute(p, true).await;
                self.mark_closed(p).await;
                report.closed.push(p.to_string());
            }
        }
        if !self.is_closed(current).await {
            report.figures_changed += self.compute(current, false).await;
        }
        let d = self.deliver().await;
        report.sent = d.sent;
        report.skipped_equal = d.skipped_equal;
        report.anomalies = d.anomalies;
        report.failed = d.failed;
        report
    }

    async fn is_closed(&self, p: Period) -> bool {
        matches!(
            self.store
                .state_get(&self.state_key(&format!("closed:{p}")))
                .await,
            Ok(Some(_))
        )
    }

    async fn mark_closed(&self, p: Period) {
        let key = self.state_key(&format!("closed:{p}"));
        if let Err(e) = self
            .store
            .state_set(&key, &self.clock.now().to_rfc3339())
            .await
        {
            tracing::error!(error = %e, period = %p, "cannot record the closed period");
        }
        tracing::info!(offering = %self.offering.name, period = %p, "billing period closed");
    }
}
