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
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PruneStats {
    pub samples: usize,
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
        let mut stats = self.prune_rest(before).await?;
        stats.samples = samples;
        Ok(stats)
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
            buckets_json: "[]".into(),
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
            })
            .await
            .unwrap();
        assert_eq!(
            stats,
            PruneStats {
                samples: 1,
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
