//! Builds each offering's storage backend from its config, wrapped in the shared layers.

mod layer;

pub use layer::Layered;

use crate::config::{BackendConfig, Offering};
use crate::retry::RetryPolicy;
use site_agent_sdk::{BackendError, StorageBackend};
use std::sync::Arc;

/// The plugin for an offering, with retry and logging layers around it.
pub fn build(
    offering: &Offering,
    retry: RetryPolicy,
) -> Result<Arc<dyn StorageBackend>, BackendError> {
    let inner = match &offering.backend {
        BackendConfig::CephS3(settings) => site_agent_ceph_s3::build(settings.clone())?,
    };
    Ok(Arc::new(Layered::new(inner, retry)))
}
