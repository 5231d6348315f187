//! Pruning: what billing no longer needs leaves the database (the policy — which periods are
//! still open — is the usage module's; this runs the deletes).

use super::{Store, StoreError};
use rusqlite::params;

/// What may go: everything strictly older than these bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PruneBefore {
    /// Samples taken before this instant (unix seconds).
    pub samples: i64,
    /// Settled outbox rows (sent, rejected, anomaly) of periods before this `YYYY-MM`.
    pub period: String,
    /// Journals of orders whose last step is older than this instant (unix seconds).
    pub journal: i64,
    /// Time ranges `[from, to)` in which readings that say nothing new are dropped (see
    /// [`Store::thin_samples`]); none straddles a period start.
    pub thin: Vec<(i64, i64)>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PruneStats {
    pub samples: usize,
    /// Readings dropped as repeats of their neighbours.
    pub thinned: usize,
    pub outbox: usize,
    pub journal: usize,
    pub inbox: usize,
}

impl Store {
    /// The oldest period that still has figures to deliver (`pending`, `needs_staff`).
    pub async fn oldest_open_period(&self) -> Result<Option<String>, StoreError> {
        self.call(|c| {
            c.query_row(
                "SELECT MIN(period) FROM usage_outbox WHERE state IN ('pending', 'needs_staff')",
                [],
                |r| r.get(0),
            )
        })
        .await
    }

    /// Deletes what `before` allows. Samples go in batches, each its own transaction, so
    /// the journal is never kept waiting long behind a year of samples.
    pub async fn prune(&self, before: PruneBefore) -> Result<PruneStats, StoreError> {
        const BATCH: i64 = 20_000;
        let mut samples = 0;
        loop {
            let cutoff = before.samples;
            let n = self
                .call(move |c| {
                    c.execute(
                        "DELETE FROM usage_samples WHERE (resource_uuid, sampled_at) IN
                           (SELECT resource_uuid, sampled_at FROM usage_samples WHERE sampled_at < ?1 LIMIT ?2)",
                        params![cutoff, BATCH],
                    )
                })
                .await?;
            samples += n;
            if (n as i64) < BATCH {
                break;
            }
            tokio::task::yield_now().await;
        }
        let mut thinned = 0;
        if !before.thin.is_empty() {
            let resources: Vec<String> = self
                .call(|c| {
                    let mut st = c.prepare("SELECT resource_uuid FROM usage_resources")?;
                    let rows = st.query_map([], |r| r.get(0))?;
                    rows.collect()
                })
                .await?;
            for r in resources {
                for &(from, to) in &before.thin {
                    thinned += self.thin_samples(&r, from, to).await?;
                }
            }
        }
        let mut stats = self.prune_rest(before).await?;
        stats.samples = samples;
        stats.thinned = thinned;
        Ok(stats)
    }

    /// Drops a resource's readings in `[from, to)` whose neighbours there (the one before
    /// and the one after, both in the range) carry the same bytes and objects. Each reading
    /// holds until the next one, so a run of equal readings says no more than its first and
    /// last: the GB-days, peaks and latest values of every window that figures use (a whole
    /// period, or a period up to now) are unchanged, as long as the range lies inside one
    /// period — its first and last readings always stay. A resource whose usage does not
    /// change keeps two readings per range (and the daily passes' ranges overlap, so about
    /// one a day) instead of one every sampling step.
    pub async fn thin_samples(
        &self,
        resource: &str,
        from: i64,
        to: i64,
    ) -> Result<usize, StoreError> {
        let resource = resource.to_string();
        self.call(move |c| {
            c.execute(
                "DELETE FROM usage_samples WHERE resource_uuid = ?1 AND sampled_at IN (
                   SELECT sampled_at FROM (
                     SELECT sampled_at, bytes, objects,
                            LAG(bytes) OVER w AS pb, LAG(objects) OVER w AS po,
                            LEAD(bytes) OVER w AS nb, LEAD(objects) OVER w AS no
                     FROM usage_samples
                     WHERE resource_uuid = ?1 AND sampled_at >= ?2 AND sampled_at < ?3
                     WINDOW w AS (ORDER BY sampled_at))
                   WHERE pb = bytes AND po = objects AND nb = bytes AND no = objects)",
                params![resource, from, to],
            )
        })
        .await
    }

    async fn prune_rest(&self, before: PruneBefore) -> Result<PruneStats, StoreError> {
        self.call(move |c| {
            let tx = c.unchecked_transaction()?;
            let samples = 0;
            let outbox = tx.execute(
                "DELETE FROM usage_outbox WHERE period < ?1 AND state IN ('sent', 'rejected', 'anomaly')",
                params![before.period],
            )?;
            let cutoff = chrono::DateTime::from_timestamp(before.journal, 0)
                .unwrap_or_default()
                .to_rfc3339();
            let journal = tx.execute(
                "DELETE FROM order_journal WHERE order_uuid IN
                    (SELECT order_uuid FROM order_journal GROUP BY order_uuid HAVING MAX(at) < ?1)",
                params![cutoff],
            )?;
            // A resource gone from Waldur, once nothing of it is left to deliver.
            tx.execute(
                "DELETE FROM usage_resources WHERE active = 0 AND seen_at < ?1
                   AND resource_uuid NOT IN (SELECT resource_uuid FROM usage_outbox)",
                params![before.journal],
            )?;
            // Inbox items are handled within seconds; one left this long is dead weight.
            let inbox = tx.execute(
                "DELETE FROM event_inbox WHERE received_at < ?1",
                params![before.journal],
            )?;
            tx.commit()?;
            Ok(PruneStats {
                samples,
                thinned: 0,
                outbox,
                journal,
                inbox,
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::usage::{Figure, FigureKey, OutboxState, Sample};

    #[tokio::test]
    async fn prunes_only_what_is_older_and_settled() {
        let st = Store::in_memory().unwrap();
        let s = |t: i64| Sample {
            resource_uuid: "r".into(),
            sampled_at: t,
            bytes: 1,
            objects: 1,
        };
        st.insert_samples(vec![s(10), s(20), s(30)], i64::MAX)
            .await
            .unwrap();
        let key = |p: &str| FigureKey {
            resource_uuid: "r".into(),
            component: "c".into(),
            period: p.into(),
        };
        let row = |period: &str| Figure {
            key: key(period),
            cents: 5,
            is_final: true,
        };
        st.outbox_put(vec![row("2024-01"), row("2024-02"), row("2025-01")], 1)
            .await
            .unwrap();
        st.outbox_mark(key("2024-01"), OutboxState::Sent, Some(5), "", 2)
            .await
            .unwrap();
        st.outbox_mark(key("2024-02"), OutboxState::NeedsStaff, None, "", 2)
            .await
            .unwrap();
        assert_eq!(
            st.oldest_open_period().await.unwrap().as_deref(),
            Some("2024-02")
        );
        st.journal_record("old", crate::store::JournalStep::Done, "")
            .await
            .unwrap();
        let stats = st
            .prune(PruneBefore {
                samples: 20,
                period: "2025-01".into(),
                journal: chrono::Utc::now().timestamp() + 10,
                thin: Vec::new(),
            })
            .await
            .unwrap();
        assert_eq!(
            stats,
            PruneStats {
                samples: 1,
                thinned: 0,
                outbox: 1,
                journal: 1,
                inbox: 0
            }
        );
        assert_eq!(st.samples("r", 0, 100).await.unwrap().len(), 2);
        assert!(
            st.outbox_row("r", "c", "2024-02").await.unwrap().is_some(),
            "needs_staff kept"
        );
        assert!(
            st.outbox_row("r", "c", "2025-01").await.unwrap().is_some(),
            "newer kept"
        );
        assert!(st.outbox_row("r", "c", "2024-01").await.unwrap().is_none());
    }
}
