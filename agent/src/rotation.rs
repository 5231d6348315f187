//! Key rotation: the new pair is applied before the old one is deleted, keys left over by an
//! interrupted rotation are pruned, and a sibling's key is never touched. The result is
//! reported with `set_key`, or `set_erred` when the rotation cannot succeed.

use crate::config::Offering;
use crate::waldur::{ApiKeyStatus, WaldurClient, hex};
use secrecy::ExposeSecret;
use site_agent_sdk::keys::generate_key_pair;
use site_agent_sdk::{BackendError, ErrorClass, StorageBackend, validate_identifier};
use std::collections::HashSet;
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
}

pub struct Rotator {
    pub offering: Offering,
    pub waldur: Arc<WaldurClient>,
    pub backend: Arc<dyn StorageBackend>,
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
            let outcome = self.rotate(&key).await;
            out.push((key.uuid.clone(), outcome));
        }
        out
    }

    pub async fn rotate(&self, key: &ApiKeyStatus) -> RotationOutcome {
        let key_uuid = hex(&key.uuid);
        match self.apply(key).await {
            Ok((old, new, secret)) => match self.waldur.set_api_key(&key_uuid, &new, &secret).await
            {
                Ok(()) => {
                    tracing::info!(api_key = %key_uuid, old = %old, new = %new, "key rotated");
                    RotationOutcome::Rotated { old, new }
                }
                // The new key is live but unknown to Waldur: the next pass prunes it and retries.
                Err(e) if e.is_transient() => RotationOutcome::Retry(e.message),
                Err(e) => {
                    self.erred(&key_uuid, &format!("could not record the rotated key: {e}"))
                        .await
                }
            },
            Err(e) if e.class == ErrorClass::Transient => {
                tracing::warn!(api_key = %key_uuid, error = %e, "rotation left for a later retry");
                RotationOutcome::Retry(e.message().to_string())
            }
            Err(e) => self.erred(&key_uuid, e.message()).await,
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

    /// Backend side; returns (old access key, new access key, new secret).
    async fn apply(&self, key: &ApiKeyStatus) -> Result<(String, String, String), BackendError> {
        let old = key
            .client_id
            .clone()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| {
                BackendError::permanent("the key has no client_id (access key) to rotate")
            })?;
        validate_identifier("access key", &old)?;
        let resource_uuid = key
            .resource_uuid
            .clone()
            .filter(|r| !r.is_empty())
            .ok_or_else(|| BackendError::permanent("the key names no resource"))?;
        let uid = match key.resource_backend_id.clone().filter(|b| !b.is_empty()) {
            Some(b) => b,
            None => self
                .waldur
                .get_resource(&resource_uuid)
                .await
                .map_err(waldur_to_backend)?
                .backend_id()
                .map(str::to_string)
                .ok_or_else(|| {
                    BackendError::permanent("the resource has no S3 user (empty backend_id)")
                })?,
        };
        validate_identifier("S3 user id", &uid)?;
        let known: HashSet<String> = self
            .waldur
            .list_api_keys(&resource_uuid)
            .await
            .map_err(waldur_to_backend)?
            .into_iter()
            .filter_map(|k| k.client_id.filter(|c| !c.is_empty()))
            .collect();
        let user =
            self.backend.user(&uid).await?.ok_or_else(|| {
                BackendError::permanent(format!("S3 user {uid:?} does not exist"))
            })?;
        // Snapshot before minting: a key a sibling rotation adds from now on is never pruned.
        let snapshot: Vec<String> = user.access_keys.into_iter().filter(|k| *k != old).collect();
        let new = generate_key_pair()?;
        self.backend.put_key(&uid, &new).await?;
        self.backend.delete_key(&uid, &old).await?;
        if !known.is_empty() {
            for stale in snapshot
                .iter()
                .filter(|k| !known.contains(*k) && **k != new.access_key)
            {
                self.backend.delete_key(&uid, stale).await?;
                tracing::info!(access_key = %stale, "pruned a key Waldur does not know");
            }
        }
        Ok((
            old,
            new.access_key.clone(),
            new.secret_key.expose_secret().to_string(),
        ))
    }
}

fn waldur_to_backend(e: crate::waldur::WaldurError) -> BackendError {
    if e.is_transient() {
        BackendError::transient(e.message)
    } else {
        BackendError::permanent(e.message)
    }
}
