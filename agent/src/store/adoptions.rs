//! Users adopted from an older plugin (`site-agent adopt`, or a Create that found its
//! half-made user). On a backend that cannot store a stamp on an existing user this record is
//! the proof of ownership, for that uid and that resource only. It also says whether the
//! adoption left the user's quotas as they were (then the reconcile pass leaves them alone
//! until an Update names ceilings).

use super::{Store, StoreError};
use rusqlite::{OptionalExtension, params};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adoption {
    pub uid: String,
    /// The ordered ceilings were applied at adoption (else the user's quotas were kept).
    pub quotas_applied: bool,
}

impl Store {
    /// Records (or updates) the adoption of `uid` by `resource` (32-hex). Durable: it is the
    /// proof every later call on the user relies on.
    pub async fn record_adoption(
        &self,
        resource: &str,
        uid: &str,
        quotas_applied: bool,
    ) -> Result<(), StoreError> {
        let (r, u) = (resource.to_string(), uid.to_string());
        let at = chrono::Utc::now().timestamp();
        self.call_durable(move |c| {
            c.execute(
                "INSERT INTO adoptions (resource_uuid, uid, quotas_applied, at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (resource_uuid) DO UPDATE SET uid = excluded.uid,
                    quotas_applied = MAX(adoptions.quotas_applied, excluded.quotas_applied)",
                params![r, u, quotas_applied as i64, at],
            )
        })
        .await
        .map(|_| ())
    }

    pub async fn adoption(&self, resource: &str) -> Result<Option<Adoption>, StoreError> {
        let r = resource.to_string();
        self.call(move |c| {
            c.query_row(
                "SELECT uid, quotas_applied FROM adoptions WHERE resource_uuid = ?1",
                params![r],
                |row| {
                    Ok(Adoption {
                        uid: row.get(0)?,
                        quotas_applied: row.get::<_, i64>(1)? != 0,
                    })
                },
            )
            .optional()
        })
        .await
    }

    /// The tenant of `uid` for `resource` (hex or hyphenated), proven by an adoption record
    /// where there is one. A database that cannot be read is a transient backend-side error:
    /// the call is retried, never made without the proof.
    pub async fn tenant(
        &self,
        uid: &str,
        resource: &str,
    ) -> Result<site_agent_sdk::Tenant, site_agent_sdk::BackendError> {
        let tenant = site_agent_sdk::Tenant::new(uid, resource)?;
        let key = resource.replace('-', "").to_lowercase();
        let adopted = self.adopted(&key, uid).await.map_err(|e| {
            site_agent_sdk::BackendError::unavailable(format!("local database: {e}"))
        })?;
        Ok(tenant.with_record(adopted))
    }

    /// Whether the records prove `uid` is `resource`'s (an adoption of exactly that pair).
    pub async fn adopted(&self, resource: &str, uid: &str) -> Result<bool, StoreError> {
        Ok(self.adoption(resource).await?.is_some_and(|a| a.uid == uid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_adoption_proves_one_uid_for_one_resource() {
        let s = Store::in_memory().unwrap();
        assert!(!s.adopted("r1", "u").await.unwrap());
        s.record_adoption("r1", "u", false).await.unwrap();
        assert!(s.adopted("r1", "u").await.unwrap());
        assert!(!s.adopted("r1", "v").await.unwrap(), "another uid");
        assert!(!s.adopted("r2", "u").await.unwrap(), "another resource");
        s.record_adoption("r1", "u", true).await.unwrap();
        s.record_adoption("r1", "u", false).await.unwrap();
        assert_eq!(
            s.adoption("r1").await.unwrap(),
            Some(Adoption {
                uid: "u".into(),
                quotas_applied: true
            }),
            "quotas once applied stay applied"
        );
    }
}
