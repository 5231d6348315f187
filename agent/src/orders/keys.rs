//! Two S3 key pairs per resource: minted, applied to the backend, then reported to Waldur,
//! through the key ledger so an interruption anywhere leaves the backend's keys equal to
//! Waldur's (see [`crate::keybook`]).

use super::{OrderProcessor, StepError};
use crate::keybook::KeyBook;
use site_agent_sdk::Tenant;

pub const KEYS_PER_RESOURCE: usize = 2;

impl OrderProcessor {
    /// `fresh_user`: the user was created or adopted by this order (see `KeyBook::prune`).
    pub(super) async fn provision_keys(
        &self,
        resource_uuid: &str,
        tenant: &Tenant,
        fresh_user: bool,
    ) -> Result<(), StepError> {
        let book = KeyBook {
            store: &self.store,
            waldur: &self.waldur,
            backend: &*self.backend,
            resource: resource_uuid,
            tenant,
        };
        let held = book.settle().await?;
        book.prune(&held, fresh_user).await?;
        let missing = KEYS_PER_RESOURCE.saturating_sub(held.ids().len());
        for _ in 0..missing {
            book.issue().await?;
        }
        Ok(())
    }
}
