//! The Dell EMC ECS backend: the Management API client (token login, JSON asked for, XML
//! understood), its error mapping, the settings, and the vendor calls in the neutral shape
//! (`ops`): an object user per resource, a bucket it owns capped at the ceiling, secrets the
//! agent proposes under the access key that is the user itself.

pub mod api;
pub mod client;
pub mod error;
pub mod ops;
pub mod plugin;
pub mod settings;

pub use plugin::PLUGIN;
pub use settings::EcsSettings;

use site_agent_sdk::stamped::StampedBackend;
use site_agent_sdk::{BackendError, StorageBackend};
use std::sync::Arc;

/// Builds the backend for validated settings (nothing is contacted yet).
pub fn build(s: &EcsSettings) -> Result<Arc<dyn StorageBackend>, BackendError> {
    let ops = ops::EcsOps {
        listing: Default::default(),
        api: api::EcsApi {
            client: client::EcsClient::new(s)?,
            namespace: s.namespace.clone(),
            replication_group: s.replication_group.clone(),
        },
        s3_http: site_agent_sdk::http::build_client(&site_agent_sdk::http::HttpConfig {
            peer: "ECS S3".into(),
            ..s.store.http.clone()
        })?,
        s3_private_endpoint: s.s3_private_endpoint.clone(),
        s3_region: s.store.s3_region.clone(),
    };
    Ok(Arc::new(StampedBackend::new(
        ops,
        s.store.connection(),
        s.store.naming.clone(),
    )))
}
