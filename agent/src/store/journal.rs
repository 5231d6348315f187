//! The order journal: which steps of an order are done, so a crash at any point resumes
//! without a duplicate user or key.

use super::{Store, StoreError};
use rusqlite::params;

/// A step of an order that the journal records once it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JournalStep {
    Approved,
    /// The backend user exists (detail: its uid).
    User,
    Quota,
    /// Waldur holds the resource's backend_id (detail: the uid).
    BackendId,
    Done,
    Erred,
}

impl JournalStep {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approved => "approved",
            Self::User => "user",
            Self::Quota => "quota",
            Self::BackendId => "backend_id",
            Self::Done => "done",
            Self::Erred => "erred",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalEntry {
    /// As stored (rows of older versions may name steps this one no longer records).
    pub step: String,
    pub detail: String,
}

impl Store {
    /// Records that `step` (with `detail`, e.g. an access key) happened; idempotent.
    pub async fn journal_record(
        &self,
        order: &str,
        step: JournalStep,
        detail: &str,
    ) -> Result<(), StoreError> {
        let (order, step, detail) = (order.to_string(), step.as_str(), detail.to_string());
        let at = chrono::Utc::now().to_rfc3339();
        self.call(move |c| {
            c.execute(
                "INSERT OR IGNORE INTO order_journal (order_uuid, step, detail, at) VALUES (?1, ?2, ?3, ?4)",
                params![order, step, detail, at],
            )
        })
        .await
        .map(|_| ())
    }

    pub async fn journal_entries(&self, order: &str) -> Result<Vec<JournalEntry>, StoreError> {
        let order = order.to_string();
        self.call(move |c| {
            let mut st = c.prepare(
                "SELECT step, detail FROM order_journal WHERE order_uuid = ?1 ORDER BY at, step",
            )?;
            let rows = st.query_map(params![order], |r| {
                Ok(JournalEntry {
                    step: r.get(0)?,
                    detail: r.get(1)?,
                })
            })?;
            rows.collect()
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn record_is_idempotent_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s/state.sqlite3");
        {
            let s = Store::open(&path).unwrap();
            s.journal_record("o1", JournalStep::User, "waldur-x")
                .await
                .unwrap();
            s.journal_record("o1", JournalStep::User, "waldur-x")
                .await
                .unwrap();
            s.journal_record("o1", JournalStep::Quota, "")
                .await
                .unwrap();
            s.journal_record("o2", JournalStep::Done, "").await.unwrap();
        }
        let s = Store::open(&path).unwrap();
        let e = s.journal_entries("o1").await.unwrap();
        assert_eq!(e.len(), 2, "recorded once each");
        assert!(e.contains(&JournalEntry {
            step: "user".into(),
            detail: "waldur-x".into()
        }));
    }
}
