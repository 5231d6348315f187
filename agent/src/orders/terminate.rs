//! Terminate: remove the user; refused clearly while data remains unless `purge_data` is set.

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
        site_agent_sdk::validate_identifier("S3 user id", uid)?;
        let mode = match &self.offering.backend {
            crate::config::BackendConfig::CephS3(s) if s.purge_data => DeleteMode::Purge,
            _ => DeleteMode::KeepData,
        };
        self.backend.delete_user(uid, mode).await?;
        tracing::info!(uid, ?mode, "S3 user removed");
        Ok(())
    }
}
