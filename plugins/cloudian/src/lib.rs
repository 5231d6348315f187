//! The Cloudian HyperStore backend: the Admin API client, the settings (as CloudStack's
//! connector names them), and the vendor calls in the neutral shape (`ops`): a user per
//! resource in its customer's group, server-generated credentials, user QoS limits, usage
//! counters.

pub mod client;
pub mod ops;
pub mod plugin;
pub mod settings;

pub use plugin::PLUGIN;
pub use settings::CloudianSettings;

use site_agent_sdk::stamped::StampedBackend;
use site_agent_sdk::{BackendError, StorageBackend};
use std::sync::Arc;

/// Builds the backend for validated settings (nothing is contacted yet).
pub fn build(s: &CloudianSettings) -> Result<Arc<dyn StorageBackend>, BackendError> {
    let ops = ops::CloudianOps {
        client: client::CloudianClient::new(s)?,
        groups: s.groups.clone(),
        remove_empty_groups: s.remove_empty_groups,
        group_limit: (s.group_storage_limit_gb, s.group_object_limit),
        caps: ops::capabilities(s.max_credentials),
    };
    let mut connection = s.store.connection();
    connection.console_url = s.cmc_url.clone();
    Ok(Arc::new(StampedBackend::new(
        ops,
        connection,
        s.store.naming.clone(),
    )))
}
