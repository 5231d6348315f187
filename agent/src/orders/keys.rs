//! Two S3 key pairs per resource: minted here, applied to the backend, then reported to Waldur.
//! The journal records each key before it is applied, so a crash leaves no orphan live key.

use super::{OrderProcessor, StepError};
use secrecy::ExposeSecret;
use site_agent_sdk::keys::generate_key_pair;
use std::collections::HashSet;

pub const KEYS_PER_RESOURCE: usize = 2;

impl OrderProcessor {
    pub(super) async fn provision_keys(
        &self,
        order_uuid: &str,
        resource_uuid: &str,
        uid: &str,
    ) -> Result<(), StepError> {
        // Keys applied but never reported (a crash or outage in between) are unknown to anyone:
        // remove them before topping up.
        let journal = self.store.journal_entries(order_uuid).await?;
        let reported: HashSet<&str> = journal
            .iter()
            .filter(|e| e.step == "key_reported")
            .map(|e| e.detail.as_str())
            .collect();
        for e in journal
            .iter()
            .filter(|e| e.step == "key_pending" && !reported.contains(e.detail.as_str()))
        {
            self.backend.delete_key(uid, &e.detail).await?;
            self.store
                .journal_remove(order_uuid, "key_pending", &e.detail)
                .await?;
            tracing::info!(access_key = %e.detail, "removed a key that was applied but never reported");
        }

        let known: Vec<String> = self
            .waldur
            .list_api_keys(resource_uuid)
            .await?
            .into_iter()
            .filter_map(|k| k.client_id.filter(|c| !c.is_empty()))
            .collect();
        // Prune only against a non-empty known set: an empty listing is not proof of nothing.
        if !known.is_empty()
            && let Some(user) = self.backend.user(uid).await?
        {
            for ak in user.access_keys.iter().filter(|ak| !known.contains(ak)) {
                self.backend.delete_key(uid, ak).await?;
                tracing::info!(access_key = %ak, "pruned a key Waldur does not know");
            }
        }
        let missing = KEYS_PER_RESOURCE.saturating_sub(known.len());
        for _ in 0..missing {
            let key = generate_key_pair()?;
            self.store
                .journal_record(order_uuid, "key_pending", &key.access_key)
                .await?;
            self.backend.put_key(uid, &key).await?;
            match self
                .waldur
                .report_api_key(
                    resource_uuid,
                    &key.access_key,
                    key.secret_key.expose_secret(),
                )
                .await
            {
                Ok(()) => {
                    self.store
                        .journal_record(order_uuid, "key_reported", &key.access_key)
                        .await?;
                    tracing::info!(access_key = %key.access_key, "key minted and reported");
                }
                Err(e) if e.is_transient() => return Err(e.into()),
                Err(e) => {
                    // Waldur refused it: nobody can ever use this key, so take it off the backend.
                    self.backend.delete_key(uid, &key.access_key).await?;
                    self.store
                        .journal_remove(order_uuid, "key_pending", &key.access_key)
                        .await?;
                    return Err(e.into());
                }
            }
        }
        Ok(())
    }
}
