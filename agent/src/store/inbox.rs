//! The event inbox: a message is written here before it is acknowledged to the broker, and
//! removed once handled, so a crash in between loses nothing.

use super::{Store, StoreError};
use rusqlite::params;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxItem {
    pub kind: String,
    pub key: String,
    pub offering_uuid: String,
    pub payload: String,
}

impl Store {
    /// Durable: the message is acknowledged to the broker right after this returns.
    pub async fn inbox_put(&self, item: InboxItem, now: i64) -> Result<(), StoreError> {
        self.call_durable(move |c| {
            c.execute(
                "INSERT OR REPLACE INTO event_inbox (kind, key, offering_uuid, payload, received_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![item.kind, item.key, item.offering_uuid, item.payload, now],
            )
        })
        .await
        .map(|_| ())
    }

    pub async fn inbox_remove(&self, kind: &str, key: &str) -> Result<(), StoreError> {
        let (kind, key) = (kind.to_string(), key.to_string());
        self.call(move |c| {
            c.execute(
                "DELETE FROM event_inbox WHERE kind = ?1 AND key = ?2",
                params![kind, key],
            )
        })
        .await
        .map(|_| ())
    }

    pub async fn inbox_all(&self) -> Result<Vec<InboxItem>, StoreError> {
        self.call(|c| {
            let mut st = c.prepare(
                "SELECT kind, key, offering_uuid, payload FROM event_inbox ORDER BY received_at",
            )?;
            let rows = st.query_map([], |r| {
                Ok(InboxItem {
                    kind: r.get(0)?,
                    key: r.get(1)?,
                    offering_uuid: r.get(2)?,
                    payload: r.get(3)?,
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
    async fn put_is_idempotent_and_remove_clears() {
        let s = Store::in_memory().unwrap();
        let item = InboxItem {
            kind: "order".into(),
            key: "o1".into(),
            offering_uuid: "off".into(),
            payload: "{}".into(),
        };
        s.inbox_put(item.clone(), 1).await.unwrap();
        s.inbox_put(item.clone(), 2).await.unwrap();
        assert_eq!(s.inbox_all().await.unwrap(), vec![item]);
        s.inbox_remove("order", "o1").await.unwrap();
        assert!(s.inbox_all().await.unwrap().is_empty());
    }
}
