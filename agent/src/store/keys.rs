//! The key ledger: every access key the agent is about to create, and every key it is about
//! to retire, is written here first. After a crash, a lost response or a timeout, the ledger
//! says which keys may be live on the backend without Waldur knowing (or the reverse); the
//! key settlement (`orders::keys::settle`) resolves each row against Waldur's list.

use super::{Store, StoreError};
use rusqlite::{OptionalExtension, params};

/// Why a key is in the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyIntent {
    /// A new key, applied (or about to be applied) to the backend and not yet known to be
    /// held by Waldur.
    Issue,
    /// A key to remove from the backend once Waldur no longer holds it (the old key of a
    /// rotation).
    Revoke,
}

impl KeyIntent {
    fn as_str(self) -> &'static str {
        match self {
            KeyIntent::Issue => "issue",
            KeyIntent::Revoke => "revoke",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "issue" => Some(KeyIntent::Issue),
            "revoke" => Some(KeyIntent::Revoke),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerRow {
    pub offering_uuid: String,
    pub resource_uuid: String,
    pub uid: String,
    pub access_key: String,
    pub intent: KeyIntent,
    /// When the row was written (unix seconds).
    pub at: i64,
    /// For a new secret under an access key every secret shares: Waldur's `issued_at` of the
    /// key before the secret was sent (empty: Waldur showed no such key).
    pub waldur_issued_at: Option<String>,
}

impl Store {
    pub async fn ledger_add(
        &self,
        offering: &str,
        resource: &str,
        uid: &str,
        access_key: &str,
        intent: KeyIntent,
        waldur_issued_at: Option<&str>,
    ) -> Result<(), StoreError> {
        let (o, r, u, k) = (
            offering.to_string(),
            resource.to_string(),
            uid.to_string(),
            access_key.to_string(),
        );
        let issued = waldur_issued_at.map(str::to_string);
        let at = chrono::Utc::now().timestamp();
        // Durable: the key is applied (or Waldur told) right after this returns.
        self.call_durable(move |c| {
            c.execute(
                "INSERT OR REPLACE INTO key_ledger (offering_uuid, resource_uuid, uid, access_key, intent, at, waldur_issued_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![o, r, u, k, intent.as_str(), at, issued],
            )
        })
        .await
        .map(|_| ())
    }

    pub async fn ledger_remove(
        &self,
        resource: &str,
        access_key: &str,
        intent: KeyIntent,
    ) -> Result<(), StoreError> {
        let (r, k) = (resource.to_string(), access_key.to_string());
        self.call(move |c| {
            c.execute(
                "DELETE FROM key_ledger WHERE resource_uuid = ?1 AND access_key = ?2 AND intent = ?3",
                params![r, k, intent.as_str()],
            )
        })
        .await
        .map(|_| ())
    }

    /// The open rows of one resource, oldest first.
    pub async fn ledger_rows(&self, resource: &str) -> Result<Vec<LedgerRow>, StoreError> {
        self.ledger_query("resource_uuid", resource).await
    }

    /// The open rows of every resource of an offering, oldest first.
    pub async fn ledger_rows_of_offering(
        &self,
        offering: &str,
    ) -> Result<Vec<LedgerRow>, StoreError> {
        self.ledger_query("offering_uuid", offering).await
    }

    /// The secret (its key id, a fingerprint) the agent last saw Waldur take for the key
    /// `client_id` of a resource, on backends where every secret of a user shares the access
    /// key: Waldur lists keys without secrets, so this record is what tells the customer's
    /// secret from the spare one.
    pub async fn held_secret(
        &self,
        resource: &str,
        client_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let (r, c) = (resource.to_string(), client_id.to_string());
        self.call(move |conn| {
            conn.query_row(
                "SELECT key_id FROM waldur_secrets WHERE resource_uuid = ?1 AND client_id = ?2",
                params![r, c],
                |row| row.get(0),
            )
            .optional()
        })
        .await
    }

    /// Records that Waldur holds `key_id` as `client_id` (durable: a key is removed on its
    /// strength right after).
    pub async fn set_held_secret(
        &self,
        resource: &str,
        client_id: &str,
        key_id: &str,
    ) -> Result<(), StoreError> {
        let (r, c, k) = (
            resource.to_string(),
            client_id.to_string(),
            key_id.to_string(),
        );
        let at = chrono::Utc::now().timestamp();
        self.call_durable(move |conn| {
            conn.execute(
                "INSERT OR REPLACE INTO waldur_secrets (resource_uuid, client_id, key_id, at) VALUES (?1, ?2, ?3, ?4)",
                params![r, c, k, at],
            )
        })
        .await
        .map(|_| ())
    }

    /// The resource is gone: Waldur deletes its keys with it.
    pub async fn forget_held_secrets(&self, resource: &str) -> Result<(), StoreError> {
        let r = resource.to_string();
        self.call(move |conn| {
            conn.execute(
                "DELETE FROM waldur_secrets WHERE resource_uuid = ?1",
                params![r],
            )
        })
        .await
        .map(|_| ())
    }

    async fn ledger_query(
        &self,
        column: &'static str,
        value: &str,
    ) -> Result<Vec<LedgerRow>, StoreError> {
        let v = value.to_string();
        self.call(move |c| {
            let mut st = c.prepare(&format!(
                "SELECT offering_uuid, resource_uuid, uid, access_key, intent, at, waldur_issued_at FROM key_ledger
                 WHERE {column} = ?1 ORDER BY at, access_key"
            ))?;
            let rows = st.query_map(params![v], |row| {
                let intent: String = row.get(4)?;
                Ok(LedgerRow {
                    offering_uuid: row.get(0)?,
                    resource_uuid: row.get(1)?,
                    uid: row.get(2)?,
                    access_key: row.get(3)?,
                    // An unknown intent (a newer agent's row) is treated as a key to issue:
                    // settlement then keeps it only if Waldur holds it.
                    intent: KeyIntent::parse(&intent).unwrap_or(KeyIntent::Issue),
                    at: row.get(5)?,
                    waldur_issued_at: row.get(6)?,
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
    async fn rows_per_resource_survive_reopen_and_are_removed_one_by_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.sqlite3");
        {
            let s = Store::open(&path).unwrap();
            for (o, r, u, k, i) in [
                ("o", "r1", "u1", "AK1", KeyIntent::Issue),
                ("o", "r1", "u1", "AK0", KeyIntent::Revoke),
                ("p", "r2", "u2", "AK2", KeyIntent::Issue),
                ("p", "r2", "u2", "AK2", KeyIntent::Issue),
            ] {
                s.ledger_add(o, r, u, k, i, None).await.unwrap();
            }
        }
        let s = Store::open(&path).unwrap();
        assert_eq!(s.ledger_rows_of_offering("o").await.unwrap().len(), 2);
        assert_eq!(s.ledger_rows_of_offering("p").await.unwrap().len(), 1);
        let r1 = s.ledger_rows("r1").await.unwrap();
        assert_eq!(r1.len(), 2);
        assert!(
            r1.iter()
                .any(|r| r.access_key == "AK0" && r.intent == KeyIntent::Revoke)
        );
        s.ledger_remove("r1", "AK0", KeyIntent::Revoke)
            .await
            .unwrap();
        s.ledger_remove("r1", "AK0", KeyIntent::Issue)
            .await
            .unwrap();
        let r1 = s.ledger_rows("r1").await.unwrap();
        assert_eq!(r1.len(), 1);
        let row = &r1[0];
        assert_eq!(
            (
                row.offering_uuid.as_str(),
                row.uid.as_str(),
                row.access_key.as_str(),
                row.intent
            ),
            ("o", "u1", "AK1", KeyIntent::Issue)
        );
        assert!(row.at > 0);
    }

    #[tokio::test]
    async fn the_held_secret_is_one_per_key_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.sqlite3");
        {
            let s = Store::open(&path).unwrap();
            assert_eq!(s.held_secret("r1", "u1").await.unwrap(), None);
            s.set_held_secret("r1", "u1", "sk-1").await.unwrap();
            s.set_held_secret("r1", "u1", "sk-2").await.unwrap();
            s.set_held_secret("r2", "u2", "sk-9").await.unwrap();
        }
        let s = Store::open(&path).unwrap();
        assert_eq!(
            s.held_secret("r1", "u1").await.unwrap().as_deref(),
            Some("sk-2")
        );
        s.forget_held_secrets("r1").await.unwrap();
        assert_eq!(s.held_secret("r1", "u1").await.unwrap(), None);
        assert_eq!(
            s.held_secret("r2", "u2").await.unwrap().as_deref(),
            Some("sk-9")
        );
    }
}
