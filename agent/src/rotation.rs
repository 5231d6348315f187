//! Key rotation. The key is read afresh from Waldur (an event or a sweep only says *which*
//! key); only a key still `Updating` is rotated, and always its current `client_id`. The new
//! pair is applied before Waldur is told and the old one is removed after, each step in the
//! key ledger, so an interruption anywhere leaves the backend's keys equal to Waldur's: the
//! next pass settles the ledger and, while the key is still `Updating`, rotates again.

use crate::config::Offering;
use crate::locks::ResourceLocks;
use crate::orders::StepError;
use crate::orders::keybook::{KeyBook, set_key_applied};
use crate::store::{KeyIntent, Store};
use crate::waldur::WaldurId;
use crate::waldur::{ApiKeyStatus, WaldurClient};
use secrecy::ExposeSecret;
use site_agent_sdk::StorageBackend;
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RotationOutcome {
    Rotated {
        old: String,
        new: String,
    },
    Erred(String),
    /// Transient trouble; the key stays `Updating` and the next pass retries.
    Retry(String),
    /// Nothing to do: the key is gone, not `Updating` any more, or not this offering's.
    Skipped(String),
}

pub struct Rotator {
    pub offering: Offering,
    pub waldur: Arc<WaldurClient>,
    pub backend: Arc<dyn StorageBackend>,
    pub store: Store,
    pub locks: ResourceLocks,
}

impl Rotator {
    /// Rotates every key of the offering that has been `Updating` since before `modified_before`.
    pub async fn sweep(
        &self,
        modified_before: chrono::DateTime<chrono::Utc>,
    ) -> Vec<(String, RotationOutcome)> {
        let offering = self.offering.offering_uuid.simple().to_string();
        let keys = match self
            .waldur
            .list_keys_updating(&offering, &modified_before.to_rfc3339())
            .await
        {
            Ok(k) => k,
            Err(e) => {
                tracing::warn!(offering = %self.offering.name, error = %e, "could not list keys to rotate");
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for key in keys {
            let outcome = self.rotate(&key.uuid).await;
            out.push((key.uuid.to_string(), outcome));
        }
        out
    }

    /// Rotates the key `key_uuid` if Waldur still wants it rotated.
    pub async fn rotate(&self, key_uuid: &str) -> RotationOutcome {
        let key_uuid = WaldurId::new(key_uuid);
        let key = match self.waldur.get_api_key(&key_uuid).await {
            Ok(k) => k,
            Err(e) if e.is_retryable() => return RotationOutcome::Retry(e.message),
            Err(e) => {
                tracing::warn!(api_key = %key_uuid, error = %e, "cannot read the key; rotation dropped");
                return RotationOutcome::Skipped(e.message);
            }
        };
        let Some(resource) = key.resource_uuid.as_deref().filter(|r| !r.is_empty()) else {
            return self.erred(&key_uuid, "the key names no resource").await;
        };
        let resource = WaldurId::new(resource);
        let _guard = self.locks.lock(&resource).await;
        // The resource decides whose key this is (an event may name any key).
        let res = match self.waldur.get_resource(&resource).await {
            Ok(r) => r,
            Err(e) if e.is_retryable() => return RotationOutcome::Retry(e.message),
            Err(e) => {
                tracing::warn!(api_key = %key_uuid, error = %e, "cannot read the key's resource; rotation dropped");
                return RotationOutcome::Skipped(e.message);
            }
        };
        let ours = self.offering.offering_uuid.simple().to_string();
        if res.offering_uuid.as_deref() != Some(ours.as_str()) {
            tracing::warn!(api_key = %key_uuid, "the key belongs to another offering's resource; rotation dropped");
            return RotationOutcome::Skipped("another offering's key".into());
        }
        let Some(uid) = res.backend_id().map(str::to_string) else {
            return self
                .erred(&key_uuid, "the resource has no S3 user (empty backend_id)")
                .await;
        };
        let tenant = match self.store.tenant(&uid, &resource).await {
            Ok(t) => t,
            Err(e) if e.is_retryable() => return RotationOutcome::Retry(e.to_string()),
            Err(e) => return self.erred(&key_uuid, e.message()).await,
        };
        let book = KeyBook {
            store: &self.store,
            waldur: &self.waldur,
            backend: &*self.backend,
            offering: &ours,
            resource: &resource,
            tenant: &tenant,
        };
        // Leftovers of an interrupted attempt first, whether or not the key still waits: a
        // rotation Waldur took before the agent died still has an old key to retire.
        let held = match book.settle().await {
            Ok(h) => h,
            Err(e) if e.waits() => return RotationOutcome::Retry(e.to_string()),
            Err(e) => return self.erred(&key_uuid, &e.to_string()).await,
        };
        // Read again under the lock: another pass may have finished this rotation meanwhile.
        let key = match self.waldur.get_api_key(&key_uuid).await {
            Ok(k) => k,
            Err(e) => return RotationOutcome::Retry(e.message),
        };
        if key.state != "Updating" {
            tracing::debug!(api_key = %key_uuid, state = %key.state, "key is not Updating; nothing to rotate");
            return RotationOutcome::Skipped(format!("key is {}", key.state));
        }
        match self.apply(&key_uuid, &key, &book, held).await {
            Ok(outcome) => outcome,
            Err(e) if e.waits() => {
                tracing::warn!(api_key = %key_uuid, error = %e, "rotation left for a later retry");
                RotationOutcome::Retry(e.to_string())
            }
            Err(e) => self.erred(&key_uuid, &e.to_string()).await,
        }
    }

    async fn erred(&self, key_uuid: &str, message: &str) -> RotationOutcome {
        tracing::error!(api_key = %key_uuid, error = %message, "rotation failed");
        if let Err(e) = self.waldur.set_api_key_erred(key_uuid, message).await {
            tracing::error!(api_key = %key_uuid, error = %e, "could not mark the key erred");
            return RotationOutcome::Retry(e.message);
        }
        RotationOutcome::Erred(message.to_string())
    }

    async fn apply(
        &self,
        key_uuid: &str,
        key: &ApiKeyStatus,
        book: &KeyBook<'_>,
        held: crate::orders::keybook::Held,
    ) -> Result<RotationOutcome, StepError> {
        let old = key
            .client_id
            .clone()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| StepError::invalid("the key has no client_id (access key) to rotate"))?;
        site_agent_sdk::validate_identifier("access key", &old)?;
        let uid = &book.tenant.uid;
        if self.backend.user(uid).await?.is_none() {
            return Err(StepError::invalid(format!(
                "S3 user {uid:?} does not exist"
            )));
        }
        // The old key by the id the agent tracks it by (where secrets share the access key,
        // the secret Waldur was last seen to take; `None` when the agent has no record).
        let old_id = if book.shares_access_key() {
            held.id_of(key_uuid).map(str::to_string)
        } else {
            Some(old.clone())
        };
        book.prune(&held, false).await?;

        let new = book
            .apply_new(
                Some(old_id.as_deref().unwrap_or(&old)),
                key.issued_at.as_deref().unwrap_or(""),
            )
            .await?;
        let new_id = book.id(&new);
        if let Some(o) = &old_id {
            book.retiring(o).await?;
        }
        let secret = new.secret_key.expose_secret();
        match self
            .waldur
            .set_api_key(key_uuid, &new.access_key, secret)
            .await
        {
            Ok(()) => {}
            // Both ledger rows stay: the next pass learns from Waldur which key won.
            Err(e) if e.is_retryable() => return Err(e.into()),
            Err(e) => {
                if !set_key_applied(&self.waldur, key_uuid, &new.access_key, &e).await? {
                    // Refused: the new key goes and the old stays live (Waldur still shows
                    // it) — except where the backend replaces keys in place: there the old
                    // one is already gone, and the next order or reconcile pass issues a
                    // working key beside the one Waldur shows.
                    book.withdraw(&new_id).await?;
                    if let Some(o) = &old_id {
                        book.confirmed(o, KeyIntent::Revoke).await?;
                    }
                    return Err(StepError::invalid(format!(
                        "could not record the rotated key: {e}"
                    )));
                }
            }
        }
        book.taken(&new).await?;
        // Waldur shows the new key now: the old one must stop working.
        match &old_id {
            Some(o) => book.retire(o).await?,
            None => book.retire_all_but(&new_id).await?,
        }
        tracing::info!(api_key = %key_uuid, old = %old, new = %new.access_key, "key rotated");
        Ok(RotationOutcome::Rotated {
            old,
            new: new.access_key,
        })
    }
}
