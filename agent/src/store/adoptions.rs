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
    /// The resource (32-hex) that adopted `uid`, if any.
    pub async fn adopter_of(&self, uid: &str) -> Result<Option<String>, StoreError> {
        let u = uid.to_string();
        self.call(move |c| {
            c.query_row(
                "SELECT resource_uuid FROM adoptions WHERE uid = ?1",
                params![u],
                |row| row.get(0),
            )
            .optional()
        })
        .await
    }

    /// The user is gone: its adoption proves nothing any more (a later user of that name is
    /// a stranger's).
    pub async fn forget_adoption(&self, resource: &str) -> Result<(), StoreError> {
        let r = resource.to_string();
        self.call_durable(move |c| {
            c.execute("DELETE FROM adoptions WHERE resource_uuid = ?1", params![r])
        })
        .await
        .map(|_| ())
    }

    /// Records the adoption of `uid` by `resource` (32-hex). Durable: it is the proof every
    /// later call on the user relies on. One user belongs to one resource: a uid recorded for
    /// another resource, or another uid recorded for this one, is refused.
    pub async fn record_adoption(
        &self,
        resource: &str,
        uid: &str,
        quotas_applied: bool,
    ) -> Result<(), StoreError> {
        if let Some(other) = self.adopter_of(uid).await?
            && other != resource
        {
            return Err(StoreError(format!(
                "S3 user {uid:?} is already recorded as resource {other}'s"
            )));
        }
        if let Some(a) = self.adoption(resource).await?
            && a.uid != uid
        {
            return Err(StoreError(format!(
                "resource {resource} is already recorded with S3 user {:?}",
                a.uid
            )));
        }
        let (r, u) = (resource.to_string(), uid.to_string());
        let at = chrono::Utc::now().timestamp();
        self.call_durable(move |c| {
            c.execute(
                "INSERT INTO adoptions (resource_uuid, uid, quotas_applied, at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (resource_uuid) DO UPDATE SET
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

    /// The tenants of many `(uid, resource)` pairs at once (one read of the adoption
    /// records instead of one per pair: a usage pass asks for every resource of an offering).
    pub async fn tenants(
        &self,
        pairs: &[(String, String)],
    ) -> Result<Vec<Result<site_agent_sdk::Tenant, site_agent_sdk::BackendError>>, StoreError> {
        let adopted: std::collections::HashMap<String, String> = self
            .call(|c| {
                let mut st = c.prepare_cached("SELECT resource_uuid, uid FROM adoptions")?;
                st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect()
            })
            .await?;
        Ok(pairs
            .iter()
            .map(|(uid, resource)| {
                let t = site_agent_sdk::Tenant::new(uid, resource)?;
                let key = resource.replace('-', "").to_lowercase();
                let proven = adopted.get(&key).is_some_and(|u| u == uid);
                Ok(t.with_record(proven))
            })
            .collect())
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
        assert!(
            s.record_adoption("r2", "u", false).await.is_err(),
            "one user, one resource"
        );
        assert!(
            s.record_adoption("r1", "v", false).await.is_err(),
            "one resource, one user"
        );
        assert_eq!(s.adopter_of("u").await.unwrap().as_deref(), Some("r1"));
        assert_eq!(
            s.adoption("r1").await.unwrap(),
            Some(Adoption {
                uid: "u".into(),
                quotas_applied: true
            }),
            "quotas once applied stay applied"
        );
        s.forget_adoption("r1").await.unwrap();
        assert!(!s.adopted("r1", "u").await.unwrap());
        s.record_adoption("r2", "u", false).await.unwrap();
    }
}
