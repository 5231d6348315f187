//! Ceph S3 storage backend for site-agent.
//!
//! One S3 user per Waldur resource, reached through one of two flavours behind the same
//! [`StorageBackend`](site_agent_sdk::StorageBackend) implementation shape:
//! - `croit`: croit's management REST API (bearer token or HTTP Basic);
//! - `radosgw`: RadosGW Admin Ops signed with SigV4 (planned).

pub mod croit;
pub mod error;
pub mod naming;
pub mod settings;

pub use settings::{CephS3Settings, Flavour};

use site_agent_sdk::{BackendError, StorageBackend};
use std::sync::Arc;

/// Builds the backend for validated settings.
pub fn build(settings: CephS3Settings) -> Result<Arc<dyn StorageBackend>, BackendError> {
    match settings.flavour {
        Flavour::Croit => Ok(Arc::new(croit::CroitBackend::new(settings)?)),
        Flavour::Radosgw => Err(BackendError::permanent(
            "the radosgw flavour of ceph_s3 is not available in this build yet; use flavour: croit",
        )),
    }
}
