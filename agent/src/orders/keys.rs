//! Two S3 key pairs per resource (fewer where the backend caps keys): minted, applied to the backend, then reported to Waldur,
//! through the key ledger so an interruption anywhere leaves the backend's keys equal to
//! Waldur's (see [`super::keybook`]).

use super::keybook::KeyBook;
use super::{OrderProcessor, StepError};
use crate::waldur::WaldurId;
use site_agent_sdk::Tenant;
use std::collections::BTreeMap;

/// Keys per resource where the backend leaves room (see `KeyPolicy::keys_per_resource`).
pub const KEYS_PER_RESOURCE: u32 = 2;

impl OrderProcessor {
    fn book<'a>(&'a self, offering: &'a str, resource: &'a str, tenant: &'a Tenant) -> KeyBook<'a> {
        KeyBook {
            store: &self.store,
            waldur: &self.waldur,
            backend: &*self.backend,
            offering,
            resource,
            tenant,
        }
    }

    /// `fresh_user`: the user was created or adopted by this order (see `KeyBook::prune`).
    pub(super) async fn provision_keys(
        &self,
        resource_uuid: &str,
        tenant: &Tenant,
        fresh_user: bool,
    ) -> Result<(), StepError> {
        let offering = self.offering.offering_uuid.simple().to_string();
        let book = self.book(&offering, resource_uuid, tenant);
        let held = book.settle().await?;
        let live = book.prune(&held, fresh_user).await?;
        let wanted = self
            .backend
            .capabilities()
            .keys
            .keys_per_resource(KEYS_PER_RESOURCE) as usize;
        let working = if book.shares_access_key() {
            // Every secret is shown as the user id and Waldur keeps one key per client_id: a
            // second report could not add a key, so a key Waldur shows is never reported over.
            let shown = held.shown(&tenant.uid);
            for (k, id) in &shown {
                match id {
                    Some(id) if live.iter().any(|l| l == id) => {}
                    Some(id) => {
                        tracing::error!(api_key = %k.uuid, key = %id, "Waldur shows a key whose secret the S3 user no longer has; rotate the key in the portal to get a working one")
                    }
                    None => {
                        tracing::warn!(api_key = %k.uuid, "the agent has no record of which secret Waldur holds for this key; a rotation in the portal makes it known")
                    }
                }
            }
            shown.len()
        } else {
            // A key Waldur shows that the user does not have is dead in the portal; Waldur has
            // no call to delete it, so it is reported and replaced rather than counted.
            held.ids()
                .into_iter()
                .filter(|id| {
                    let ok = live.iter().any(|k| k == id);
                    if !ok {
                        tracing::error!(access_key = %id, "Waldur shows a key the S3 user does not have; a working one is issued instead");
                    }
                    ok
                })
                .count()
        };
        for _ in working..wanted {
            book.issue().await?;
        }
        Ok(())
    }

    /// Settles the key ledger of every resource of this offering that has open rows (left by
    /// an interrupted order or rotation). Run by the order loop so that no role depends on
    /// the reconcile pass to retire a key.
    pub async fn settle_leftovers(&self) -> Result<usize, StepError> {
        let offering = self.offering.offering_uuid.simple().to_string();
        let mut by_resource: BTreeMap<String, String> = BTreeMap::new();
        for row in self.store.ledger_rows_of_offering(&offering).await? {
            by_resource.entry(row.resource_uuid).or_insert(row.uid);
        }
        let mut settled = 0;
        for (resource, uid) in by_resource {
            let _lock = self.locks.lock(&resource).await;
            let tenant = self.store.tenant(&uid, &resource).await?;
            match self
                .book(&offering, &WaldurId::new(&resource), &tenant)
                .settle()
                .await
            {
                Ok(_) => settled += 1,
                Err(e) => tracing::info!(resource, error = %e, "key ledger not settled yet"),
            }
        }
        Ok(settled)
    }
}
