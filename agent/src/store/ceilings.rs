//! The ceilings last applied to each resource's user: the base an Update that names only one
//! ceiling is merged onto, and what the reconcile pass and a Restore enforce. Waldur keeps
//! only the last order's `limits` (`resource.limits := order.limits`), so after a partial
//! Update its record no longer says what the backend enforces.

use super::{Store, StoreError};
use rusqlite::{OptionalExtension, params};

/// Ceilings in Waldur units (GB, objects); `None`: not ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ceilings {
    pub storage_gb: Option<u64>,
    pub objects: Option<u64>,
}

impl Store {
    pub async fn ceilings(&self, resource: &str) -> Result<Option<Ceilings>, StoreError> {
        let r = resource.to_string();
        self.call(move |c| {
            c.query_row(
                "SELECT storage_gb, objects FROM resource_ceilings WHERE resource_uuid = ?1",
                params![r],
                |row| {
                    Ok(Ceilings {
                        storage_gb: row.get::<_, Option<i64>>(0)?.map(|v| v as u64),
                        objects: row.get::<_, Option<i64>>(1)?.map(|v| v as u64),
                    })
                },
            )
            .optional()
        })
        .await
    }

    pub async fn set_ceilings(&self, resource: &str, c: Ceilings) -> Result<(), StoreError> {
        let r = resource.to_string();
        let at = chrono::Utc::now().timestamp();
        // Durable: Waldur is told the order is done next, and nothing redoes this row then.
        self.call_durable(move |conn| {
            conn.execute(
                "INSERT OR REPLACE INTO resource_ceilings (resource_uuid, storage_gb, objects, at) VALUES (?1, ?2, ?3, ?4)",
                params![r, c.storage_gb.map(|v| v as i64), c.objects.map(|v| v as i64), at],
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
    async fn last_applied_ceilings_are_kept_per_resource() {
        let s = Store::in_memory().unwrap();
        assert_eq!(s.ceilings("r").await.unwrap(), None);
        let c = Ceilings {
            storage_gb: Some(5),
            objects: None,
        };
        s.set_ceilings("r", c).await.unwrap();
        s.set_ceilings("q", Ceilings::default()).await.unwrap();
        assert_eq!(s.ceilings("r").await.unwrap(), Some(c));
        let c2 = Ceilings {
            storage_gb: Some(9),
            objects: Some(40),
        };
        s.set_ceilings("r", c2).await.unwrap();
        assert_eq!(s.ceilings("r").await.unwrap(), Some(c2));
    }
}
