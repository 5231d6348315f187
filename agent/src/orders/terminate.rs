//! Terminate: send the resource's last usage figures, then remove the user; refused clearly
//! while data remains unless the backend settings ask for the data to go too.

use super::{OrderProcessor, StepError};
use crate::waldur::Order;
use site_agent_sdk::DeleteMode;

impl OrderProcessor {
    pub(super) async fn terminate(&self, order: &Order) -> Result<(), StepError> {
        let resource = self.order_resource(order).await?;
        let Some(uid) = resource.backend_id() else {
            tracing::info!("resource has no backend_id; nothing to remove");
            return Ok(());
        };
        let tenant = self.store.tenant(uid, &resource.uuid).await?;
        let mode = if self.offering.backend.purge_on_delete() {
            DeleteMode::Purge
        } else {
            DeleteMode::KeepData
        };
        if let Some(usage) = &self.usage
            && self.backend.user(uid).await?.is_some()
        {
            usage
                .final_report(&resource.uuid, uid)
                .await
                .map_err(|e| StepError::wait(e.0))?;
        }
        self.backend.delete_user(&tenant, mode).await?;
        if tenant.recorded {
            self.store.forget_adoption(&resource.uuid).await?;
        }
        self.store.forget_held_secrets(&resource.uuid).await?;
        if let Some(usage) = &self.usage {
            usage.record_gone(&resource.uuid).await;
        }
        tracing::info!(uid, ?mode, "S3 user removed");
        Ok(())
    }
}
