//! Ceph S3 storage backend for site-agent.
//!
//! One S3 user per Waldur resource, reached through one of two flavours behind one client
//! contract ([`ops::FlavourOps`]) and one [`StorageBackend`] implementation ([`backend::CephBackend`]):
//! - `croit`: croit's management REST API (bearer token or HTTP Basic);
//! - `radosgw`: RadosGW Admin Ops signed with SigV4.

pub mod backend;
pub mod croit;
pub mod error;
pub mod naming;
pub mod ops;
pub mod plugin;
pub mod radosgw;
pub mod settings;

pub use plugin::PLUGIN;
pub use settings::{CephS3Settings, Flavour};

use site_agent_sdk::{BackendError, StorageBackend};
use std::sync::Arc;

/// Builds the backend for validated settings.
pub fn build(settings: CephS3Settings) -> Result<Arc<dyn StorageBackend>, BackendError> {
    Ok(match settings.flavour {
        Flavour::Croit => {
            let ops = croit::CroitOps::new(&settings)?;
            Arc::new(backend::CephBackend::new(settings, ops))
        }
        Flavour::Radosgw => {
            let ops = radosgw::RgwOps::new(&settings)?;
            Arc::new(backend::CephBackend::new(settings, ops))
        }
    })
}
