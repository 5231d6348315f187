//! The backend plugins this build carries, and each offering's backend built from its
//! settings and wrapped in the shared layers. The list in [`PLUGINS`] is the only place the
//! agent names a backend.

mod checked;
mod layer;

pub use checked::Checked;
pub use layer::Layered;

use crate::retry::RetryPolicy;
use site_agent_sdk::{BackendError, BackendPlugin, BackendSettings, StorageBackend};
use std::sync::Arc;

/// Every backend this build can drive.
pub static PLUGINS: &[&dyn BackendPlugin] = &[
    // One line per plugin crate (and its dependency in agent/Cargo.toml).
    &site_agent_ceph_s3::PLUGIN,
    &site_agent_ceph_s3::CROIT_S3_PLUGIN,
    &site_agent_seaweedfs::PLUGIN,
    &site_agent_dell_ecs::PLUGIN,
    &site_agent_cloudian::PLUGIN,
    &site_agent_myfsio::PLUGIN,
    &site_agent_minio::PLUGIN,
];

/// The plugin registered under `name` (any case).
pub fn plugin(name: &str) -> Option<&'static dyn BackendPlugin> {
    PLUGINS
        .iter()
        .copied()
        .find(|p| p.name().eq_ignore_ascii_case(name))
}

/// The names every registered plugin answers to (for messages).
pub fn names() -> String {
    PLUGINS
        .iter()
        .map(|p| p.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// An offering's backend from its settings, with the shared layers around it: capability
/// checks (outermost: nothing unsupported is retried), then retry and logging.
pub fn build(
    settings: &dyn BackendSettings,
    retry: RetryPolicy,
) -> Result<Arc<dyn StorageBackend>, BackendError> {
    let layered = Arc::new(Layered::new(settings.build()?, retry));
    Ok(Arc::new(Checked::new(layered)))
}
