//! Update: re-apply user and bucket quotas when the ordered ceilings change.

use super::input::QuotaRequest;
use super::{OrderProcessor, StepError};
use crate::waldur::{Order, hex};

impl OrderProcessor {
    pub(super) async fn update(&self, order: &Order, quota: QuotaRequest) -> Result<(), StepError> {
        if quota.is_empty() {
            tracing::info!(
                "update order changes no storage or object ceiling; nothing to do on the backend"
            );
            return Ok(());
        }
        let resource = self.order_resource(order).await?;
        let uid = resource.backend_id().ok_or_else(|| {
            StepError::Permanent(
                "the resource has no S3 user yet (empty backend_id); nothing to update".into(),
            )
        })?;
        let spec = quota
            .to_spec(self.storage_unit_factor())
            .map_err(StepError::Permanent)?;
        let applied = self.backend.apply_quota(uid, &spec).await?;
        tracing::info!(uid, ?spec, "quotas re-applied");
        self.publish_metadata(&hex(&resource.uuid), uid, Some(&applied))
            .await
    }
}
