//! Delivery: each changed figure goes to Waldur with `set_usage` — unless Waldur already holds
//! it, or it would lower a figure that can only grow. Failures stay in the outbox and are
//! retried; a closed period refused to a provider token waits for a staff token.

use super::amount::Cents;
use super::period::Period;
use super::reporter::UsageReporter;
use crate::store::usage::{OutboxRow, OutboxState};
use futures_util::StreamExt;
use std::collections::{BTreeMap, HashMap};

/// Delivered rows recorded per transaction.
const MARK_BATCH: usize = 512;
/// Resources whose outbox rows are read at a time.
const OUTBOX_SLICE: usize = 1000;
/// From this many figures waiting, what Waldur holds is read offering-wide, once per period,
/// instead of once per resource.
const BULK_READ_FROM: usize = 200;

/// What Waldur holds, by (resource, component), for one period.
type Held = HashMap<(String, String), Option<Cents>>;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliverStats {
    pub sent: usize,
    pub skipped_equal: usize,
    pub anomalies: usize,
    pub failed: usize,
}

enum Outcome {
    /// Waldur took these figures; they are recorded as sent by the caller, many at a time.
    Sent(Vec<(crate::store::usage::FigureKey, Option<u64>)>),
    Equal,
    Anomaly,
    Failed,
}

impl UsageReporter {
    /// Delivers every undelivered figure of this offering's resources (including those that
    /// have left Waldur's active list: their last figures are still owed).
    pub async fn deliver(&self) -> DeliverStats {
        self.deliver_for(None).await
    }

    /// As [`Self::deliver`], for one resource only when `only` is set.
    pub async fn deliver_for(&self, only: Option<&str>) -> DeliverStats {
        let ours = match self.store.offering_resource_ids(&self.offering_key()).await {
            Ok(ids) => ids,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the known resources");
                return DeliverStats::default();
            }
        };
        let waiting = match self.store.outbox_counts().await {
            Ok(c) => c
                .iter()
                .filter(|(s, _)| s == "pending" || s == "needs_staff")
                .map(|(_, n)| *n as usize)
                .sum(),
            Err(_) => 0,
        };
        let mut progress =
            super::progress::Progress::new("usage delivery", &self.offering.name, waiting);
        let mut stats = DeliverStats::default();
        // Delivered rows are recorded in batches (one transaction each), not one per
        // resource: a record lost to a crash only costs the next cycle a comparison with what
        // Waldur holds (equal: recorded then, nothing sent twice).
        let mut sent = Vec::new();
        let mut after = String::new();
        // Per period: Waldur's figures of the whole offering, read once (`None`: the read
        // failed; each resource is then read on its own).
        let mut bulk: HashMap<String, Option<std::sync::Arc<Held>>> = HashMap::new();
        loop {
            let page = match self.store.outbox_pending_page(&after, OUTBOX_SLICE).await {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the usage outbox");
                    break;
                }
            };
            let Some(last) = page.last() else { break };
            after = last.resource_uuid.clone();
            let mut groups: BTreeMap<(String, String), Vec<OutboxRow>> = BTreeMap::new();
            for row in page.into_iter().filter(|r| {
                ours.contains(&r.resource_uuid) && only.is_none_or(|o| o == r.resource_uuid)
            }) {
                groups
                    .entry((row.resource_uuid.clone(), row.period.clone()))
                    .or_default()
                    .push(row);
            }
            if waiting >= BULK_READ_FROM && only.is_none() {
                for (_, period) in groups.keys() {
                    if !bulk.contains_key(period) {
                        let held = self.read_offering_usages(period).await;
                        bulk.insert(period.clone(), held.map(std::sync::Arc::new));
                    }
                }
            }
            let bulk = &bulk;
            let mut outcomes = futures_util::stream::iter(groups)
                .map(|((resource, period), rows)| async move {
                    let held = bulk.get(&period).cloned().flatten();
                    self.deliver_group(&resource, &period, rows, held).await
                })
                .buffer_unordered(self.settings.concurrency);
            while let Some(group) = outcomes.next().await {
                progress.add(group.len());
                for o in group {
                    match o {
                        Outcome::Sent(rows) => {
                            stats.sent += rows.len();
                            sent.extend(rows);
                        }
                        Outcome::Equal => stats.skipped_equal += 1,
                        Outcome::Anomaly => stats.anomalies += 1,
                        Outcome::Failed => stats.failed += 1,
                    }
                }
                if sent.len() >= MARK_BATCH {
                    self.record_sent(std::mem::take(&mut sent)).await;
                }
            }
        }
        if !sent.is_empty() {
            self.record_sent(sent).await;
        }
        if stats != DeliverStats::default() {
            tracing::info!(offering = %self.offering.name, ?stats, "usage delivered");
        }
        stats
    }

    /// What Waldur holds for every resource of the offering in `period`; `None` when it
    /// cannot be read (the resources are read one by one then).
    async fn read_offering_usages(&self, period: &str) -> Option<Held> {
        let p = Period::parse(period)?;
        match self
            .waldur
            .list_offering_usages(&self.offering_key(), &p.billing_date())
            .await
        {
            Ok(list) => Some(
                list.into_iter()
                    .map(|u| {
                        (
                            (u.resource_uuid.to_string(), u.usage.component_type.clone()),
                            Cents::parse(&u.usage.usage_text()),
                        )
                    })
                    .collect(),
            ),
            Err(e) => {
                tracing::warn!(period, error = %e, "cannot read the offering's usage at once; reading it resource by resource");
                None
            }
        }
    }

    /// Marks rows sent with the amounts sent. Unconditional: the reporter's gate keeps a
    /// recomputation (`outbox_put`) from running between a send and this record.
    async fn record_sent(&self, rows: Vec<(crate::store::usage::FigureKey, Option<u64>)>) {
        let now = self.clock.now().timestamp();
        if let Err(e) = self
            .store
            .outbox_mark_many(rows, OutboxState::Sent, "", now)
            .await
        {
            tracing::error!(error = %e, "cannot record delivered usage; next cycle compares with Waldur again");
        }
    }

    async fn deliver_group(
        &self,
        resource: &str,
        period: &str,
        rows: Vec<OutboxRow>,
        bulk: Option<std::sync::Arc<Held>>,
    ) -> Vec<Outcome> {
        let now = self.clock.now();
        let Some(p) = Period::parse(period) else {
            return vec![Outcome::Failed];
        };
        let read = match bulk {
            Some(all) => {
                let key = crate::waldur::WaldurId::new(resource).to_string();
                Ok(rows
                    .iter()
                    .filter_map(|r| {
                        all.get(&(key.clone(), r.component.clone()))
                            .map(|c| (r.component.clone(), *c))
                    })
                    .collect::<HashMap<String, Option<Cents>>>())
            }
            None => self
                .waldur
                .list_component_usages(resource, &p.billing_date())
                .await
                .map(|list| {
                    list.into_iter()
                        .map(|u| (u.component_type.clone(), Cents::parse(&u.usage_text())))
                        .collect()
                }),
        };
        let held: HashMap<String, Option<Cents>> = match read {
            Ok(held) => held,
            Err(e) => {
                for r in &rows {
                    let _ = self
                        .store
                        .outbox_mark(r.key(), r.state, None, &e.message, now.timestamp())
                        .await;
                }
                tracing::warn!(resource, period, error = %e, "cannot read Waldur's usage; retried later");
                return rows.iter().map(|_| Outcome::Failed).collect();
            }
        };
        let mut outcomes = Vec::new();
        let mut to_send = Vec::new();
        for r in rows {
            let ours = Cents(r.amount_cents);
            let monotonic = self
                .offering
                .components
                .get(&r.component)
                .and_then(|c| c.usage)
                .is_some_and(|k| k.is_monotonic());
            match held.get(&r.component).copied().flatten() {
                Some(theirs) if theirs == ours => {
                    let _ = self
                        .store
                        .outbox_mark(
                            r.key(),
                            OutboxState::Sent,
                            Some(ours.0),
                            "",
                            now.timestamp(),
                        )
                        .await;
                    outcomes.push(Outcome::Equal);
                }
                Some(theirs) if theirs > ours && monotonic => {
                    let msg = format!(
                        "Waldur holds {theirs} but the agent computed {ours}; a figure that only grows is never lowered"
                    );
                    tracing::error!(resource, period, component = %r.component, "usage anomaly: {msg}");
                    let _ = self
                        .store
                        .outbox_mark(r.key(), OutboxState::Anomaly, None, &msg, now.timestamp())
                        .await;
                    outcomes.push(Outcome::Anomaly);
                }
                _ => to_send.push(r),
            }
        }
        if to_send.is_empty() {
            return outcomes;
        }
        // The current period is reported as of now (a little back, against clock skew); a past
        // one as of its middle, which every time zone files in the right month.
        let date = if p == Period::containing(now, self.tz) {
            (now - chrono::Duration::minutes(1)).max(p.start(self.tz))
        } else {
            p.middle(self.tz)
        };
        let usages: Vec<(String, String)> = to_send
            .iter()
            .map(|r| (r.component.clone(), Cents(r.amount_cents).to_string()))
            .collect();
        match self
            .waldur
            .set_usage(resource, &date.to_rfc3339(), &usages)
            .await
        {
            Ok(()) => {
                outcomes.push(Outcome::Sent(
                    to_send
                        .iter()
                        .map(|r| (r.key(), Some(r.amount_cents)))
                        .collect(),
                ));
            }

            Err(e) => {
                let past = p != Period::containing(now, self.tz);
                let state = if e.is_retryable() || e.kind == site_agent_sdk::ErrorKind::Unauthorized
                {
                    OutboxState::Pending
                } else if past && e.fields.iter().any(|f| f == "date") {
                    // Mastermind refuses a past period's `date` to a non-staff token (a field
                    // error on `date`).
                    tracing::error!(
                        resource,
                        period,
                        "Waldur refuses a closed period to this (non-staff) token; a staff token can backfill it"
                    );
                    OutboxState::NeedsStaff
                } else {
                    tracing::error!(resource, period, error = %e, "Waldur refused the usage report");
                    OutboxState::Rejected
                };
                for r in &to_send {
                    let _ = self
                        .store
                        .outbox_mark(r.key(), state, None, &e.message, now.timestamp())
                        .await;
                }
                outcomes.extend(to_send.iter().map(|_| Outcome::Failed));
            }
        }
        outcomes
    }
}
