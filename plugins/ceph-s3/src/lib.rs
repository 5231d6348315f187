//! Ceph S3 storage backend for site-agent.
//!
//! One S3 user per Waldur resource, reached through one of two flavours, each a
//! [`site_agent_sdk::vendor::VendorOps`] under the SDK's shared ownership rules
//! ([`site_agent_sdk::stamped::StampedBackend`]):
//! - `croit`: croit's management REST API (bearer token or HTTP Basic);
//! - `radosgw`: RadosGW Admin Ops signed with SigV4.

pub mod croit;
pub mod error;
pub mod ops;
pub mod plugin;
pub mod radosgw;
pub mod settings;

pub use plugin::{CROIT_S3_PLUGIN, PLUGIN};
pub use settings::{CephS3Settings, Dialect, Flavour};

use site_agent_sdk::stamped::StampedBackend;
use site_agent_sdk::{BackendError, StorageBackend};
use std::sync::Arc;

/// Builds the backend for validated settings.
pub fn build(settings: CephS3Settings) -> Result<Arc<dyn StorageBackend>, BackendError> {
    let connection = settings.store.connection();
    let naming = settings.store.naming.clone();
    Ok(match settings.flavour {
        Flavour::Croit => Arc::new(StampedBackend::new(
            croit::CroitOps::new(&settings)?,
            connection,
            naming,
        )),
        Flavour::Radosgw => Arc::new(StampedBackend::new(
            radosgw::RgwOps::new(&settings)?,
            connection,
            naming,
        )),
    })
}
