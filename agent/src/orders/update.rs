//! Update: re-apply user and bucket quotas when the ordered ceilings change, and the bucket
//! options it names. An order that names one ceiling keeps the other as the resource has it
//! (a backend may store an omitted dimension as unlimited, so both are always sent).

use super::input::QuotaRequest;
use super::{OrderProcessor, StepError};
use crate::waldur::Order;

impl OrderProcessor {
    pub(super) async fn update(&self, order: &Order, quota: QuotaRequest) -> Result<(), StepError> {
        let options = super::input::order_options(order).map_err(StepError::invalid)?;
        if quota.is_empty() && options.is_empty() {
            tracing::info!(
                "update order changes no ceiling and no bucket option; nothing to do on the backend"
            );
            return Ok(());
        }
        let resource = self.order_resource(order).await?;
        let uid = resource.backend_id().ok_or_else(|| {
            StepError::invalid(
                "the resource has no S3 user yet (empty backend_id); nothing to update",
            )
        })?;
        let tenant = self.store.tenant(uid, &resource.uuid).await?;
        // Options first: one the backend cannot change refuses the order before any quota moves.
        let in_force = if options.is_empty() {
            None
        } else {
            Some(self.backend.apply_options(&tenant, &options).await?)
        };
        let applied = if quota.is_empty() {
            None
        } else {
            // The resource's current ceilings; a database hiccup waits (merging over nothing
            // would send the other ceiling as unlimited), an unreadable Waldur record carries
            // nothing.
            let current = match super::current_ceilings(&self.store, &resource).await {
                Ok(c) => c,
                Err(e) if e.waits() => return Err(e),
                Err(_) => Default::default(),
            };
            let merged = quota.merged_over(current);
            let spec =
                super::input::quota_spec(&self.offering, merged).map_err(StepError::invalid)?;
            let applied = self.backend.apply_quota(&tenant, &spec).await?;
            self.store
                .set_ceilings(&resource.uuid, merged.into())
                .await?;
            tracing::info!(uid, ?spec, "quotas re-applied");
            Some(applied)
        };
        self.publish_metadata(&resource, &tenant, applied.as_ref(), in_force.as_ref())
            .await
    }
}
