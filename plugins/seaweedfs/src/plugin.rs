//! The registration of the SeaweedFS backend (`backend_type: seaweedfs`).

use crate::settings::{SeaweedSettings, known_keys};
use serde_json::{Map, Value};
use site_agent_sdk::{BackendError, BackendPlugin, BackendSettings, Capabilities, StorageBackend};
use std::sync::Arc;

pub struct SeaweedPlugin;

/// What the agent registers.
pub static PLUGIN: SeaweedPlugin = SeaweedPlugin;

impl BackendPlugin for SeaweedPlugin {
    fn name(&self) -> &'static str {
        "seaweedfs"
    }
    fn known_keys(&self) -> &'static [&'static str] {
        known_keys()
    }
    fn configure(
        &self,
        settings: &Map<String, Value>,
    ) -> Result<Arc<dyn BackendSettings>, Vec<String>> {
        Ok(Arc::new(SeaweedSettings::from_map(settings)?))
    }
}

impl BackendSettings for SeaweedSettings {
    fn summary(&self) -> String {
        format!(
            "seaweedfs, S3 endpoint {}, IAM {}, users named by policy {}{}",
            self.store.s3_endpoint,
            self.iam_endpoint,
            self.store.naming.name(),
            if self.store.purge_data {
                ", purge_data on"
            } else {
                ""
            }
        )
    }
    fn notes(&self) -> Vec<String> {
        self.store.notes.clone()
    }
    fn capabilities(&self) -> Capabilities {
        crate::ops::CAPABILITIES
    }
    fn purge_on_delete(&self) -> bool {
        self.store.purge_data
    }
    fn build(&self) -> Result<Arc<dyn StorageBackend>, BackendError> {
        crate::build(self)
    }
}
