//! The access keys of one resource, kept equal on the backend and in Waldur through crashes,
//! lost answers and timeouts.
//!
//! Every key the agent creates is written to the key ledger (`Issue`) before it is applied,
//! and every key it retires (`Revoke`) before Waldur is told; [`KeyBook::settle`] resolves the
//! open rows against Waldur's list: a key Waldur holds is kept, one it does not hold is removed
//! from the backend. When Waldur's list cannot be read nothing is removed. Orders, rotations
//! and the reconcile pass all start with a settlement, and all work on one resource at a
//! time (see `locks`), so no settlement races a key being reported.

use crate::orders::StepError;
use crate::store::{KeyIntent, Store};
use crate::waldur::{ApiKeyStatus, WaldurClient, WaldurError};
use secrecy::ExposeSecret;
use site_agent_sdk::keys::generate_key_pair;
use site_agent_sdk::{KeyPair, StorageBackend, Tenant};
use std::collections::HashSet;

pub struct KeyBook<'a> {
    pub store: &'a Store,
    pub waldur: &'a WaldurClient,
    pub backend: &'a dyn StorageBackend,
    /// The resource, 32 hex digits.
    pub resource: &'a str,
    pub tenant: &'a Tenant,
}

/// The access keys Waldur holds for a resource.
pub struct Held(pub Vec<ApiKeyStatus>);

impl Held {
    pub fn ids(&self) -> HashSet<&str> {
        self.0
            .iter()
            .filter_map(|k| k.client_id.as_deref())
            .filter(|c| !c.is_empty())
            .collect()
    }

    pub fn holds(&self, access_key: &str) -> bool {
        self.ids().contains(access_key)
    }
}

impl KeyBook<'_> {
    /// Waldur's keys for the resource; an unreadable list is an error (never "none").
    pub async fn held(&self) -> Result<Held, StepError> {
        Ok(Held(self.waldur.list_api_keys(self.resource).await?))
    }

    /// Resolves every open ledger row of the resource; returns Waldur's keys.
    pub async fn settle(&self) -> Result<Held, StepError> {
        let rows = self.store.ledger_rows(Some(self.resource)).await?;
        let held = self.held().await?;
        for row in rows {
            let tenant = Tenant::new(&row.uid, self.resource)?;
            if held.holds(&row.access_key) {
                // Issue: it was reported (the answer was lost). Revoke: Waldur still shows it
                // (the rotation did not complete), so it must keep working.
                tracing::info!(access_key = %row.access_key, intent = ?row.intent, "key ledger: Waldur holds this key; kept");
            } else {
                self.backend.delete_key(&tenant, &row.access_key).await?;
                tracing::info!(access_key = %row.access_key, intent = ?row.intent, "key ledger: Waldur does not hold this key; removed from the backend");
            }
            self.store
                .ledger_remove(self.resource, &row.access_key, row.intent)
                .await?;
        }
        Ok(held)
    }

    /// Removes backend keys Waldur does not hold (settle first: then no ledger row is open).
    /// Only against a non-empty list, unless `fresh_user`: an empty list proves nothing about
    /// a user that may hold keys not reported yet (say, adopted from elsewhere). A user this
    /// order created or re-adopted from its own interrupted attempt holds no key Waldur may
    /// rely on, so there an empty list means "none" (croit's auto-generated key, left behind
    /// by a crash between creating the user and removing it, goes this way).
    pub async fn prune(&self, held: &Held, fresh_user: bool) -> Result<(), StepError> {
        let ids = held.ids();
        if ids.is_empty() && !fresh_user {
            return Ok(());
        }
        let Some(user) = self.backend.user(&self.tenant.uid).await? else {
            return Ok(());
        };
        for ak in user
            .access_keys
            .iter()
            .filter(|ak| !ids.contains(ak.as_str()))
        {
            self.backend.delete_key(self.tenant, ak).await?;
            tracing::info!(access_key = %ak, "pruned a key Waldur does not hold");
        }
        Ok(())
    }

    /// Mints a key, records it, applies it; the caller reports it (see [`Self::issue`]).
    pub async fn apply_new(&self) -> Result<KeyPair, StepError> {
        let key = generate_key_pair()?;
        self.store
            .ledger_add(
                self.resource,
                &self.tenant.uid,
                &key.access_key,
                KeyIntent::Issue,
            )
            .await?;
        self.backend.put_key(self.tenant, &key).await?;
        Ok(key)
    }

    /// The key is known to Waldur: its ledger row is done.
    pub async fn confirmed(&self, access_key: &str, intent: KeyIntent) -> Result<(), StepError> {
        Ok(self
            .store
            .ledger_remove(self.resource, access_key, intent)
            .await?)
    }

    /// Takes a key off the backend and out of the ledger (Waldur refused it).
    pub async fn withdraw(&self, access_key: &str) -> Result<(), StepError> {
        self.backend.delete_key(self.tenant, access_key).await?;
        self.confirmed(access_key, KeyIntent::Issue).await
    }

    /// Mints a key, applies it and reports it to Waldur as a resource API key.
    pub async fn issue(&self) -> Result<(), StepError> {
        let key = self.apply_new().await?;
        let reported = self
            .waldur
            .report_api_key(
                self.resource,
                &key.access_key,
                key.secret_key.expose_secret(),
            )
            .await;
        match reported {
            Ok(()) => {}
            // The ledger row stays: the next settlement asks Waldur whether it got the key.
            Err(e) if e.is_transient() => return Err(e.into()),
            Err(e) => {
                // A refusal after a lost answer may be about a key Waldur already took.
                if !self.held().await?.holds(&key.access_key) {
                    tracing::warn!(access_key = %key.access_key, error = %e, "Waldur refused the key; removed from the backend");
                    self.withdraw(&key.access_key).await?;
                    return Err(e.into());
                }
            }
        }
        self.confirmed(&key.access_key, KeyIntent::Issue).await?;
        tracing::info!(access_key = %key.access_key, "key minted and reported");
        Ok(())
    }
}

/// True when a refused `set_key` had in fact been applied (its answer was lost).
pub async fn set_key_applied(
    waldur: &WaldurClient,
    key_uuid: &str,
    new_access_key: &str,
    refusal: &WaldurError,
) -> Result<bool, WaldurError> {
    if refusal.is_transient() {
        return Ok(false);
    }
    let now = waldur.get_api_key(key_uuid).await?;
    Ok(now.client_id.as_deref() == Some(new_access_key) && now.state == "OK")
}
