//! The order journal: which steps of an order are done, so a crash at any point resumes
//! without a duplicate user or key.

use super::{Store, StoreError};
use rusqlite::params;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalEntry {
    pub step: String,
    pub detail: String,
}

impl Store {
    /// Records that `step` (with `detail`, e.g. an access key) happened; idempotent.
    pub async fn journal_record(
        &self,
        order: &str,
        step: &str,
        detail: &str,
    ) -> Result<(), StoreError> {
        let (order, step, detail) = (order.to_string(), step.to_string(), detail.to_string());
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

    pub async fn journal_remove(
        &self,
        order: &str,
        step: &str,
        detail: &str,
    ) -> Result<(), StoreError> {
        let (order, step, detail) = (order.to_string(), step.to_string(), detail.to_string());
        self.call(move |c| {
            c.execute(
                "DELETE FROM order_journal WHERE order_uuid = ?1 AND step = ?2 AND detail = ?3",
                params![order, step, detail],
            )
        })
        .await
        .map(|_| ())
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
            s.journal_record("o1", "user", "waldur-x").await.unwrap();
            s.journal_record("o1", "user", "waldur-x").await.unwrap();
            s.journal_record("o1", "key_pending", "AK1").await.unwrap();
            s.journal_record("o2", "done", "").await.unwrap();
        }
        let s = Store::open(&path).unwrap();
        let e = s.journal_entries("o1").await.unwrap();
        assert_eq!(e.len(), 2);
        assert!(e.contains(&JournalEntry {
            step: "key_pending".into(),
            detail: "AK1".into()
        }));
        s.journal_remove("o1", "key_pending", "AK1").await.unwrap();
        assert_eq!(s.journal_entries("o1").await.unwrap().len(), 1);
    }
}
