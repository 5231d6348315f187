//! The registration of the SeaweedFS backend (`backend_type: seaweedfs`).

use crate::settings::{SeaweedSettings, known_keys};
use site_agent_sdk::plugin::SettingsPlugin;
use site_agent_sdk::{BackendError, BackendSettings, Capabilities, StorageBackend};
use std::sync::Arc;

/// What the agent registers.
pub static PLUGIN: SettingsPlugin<SeaweedSettings> = SettingsPlugin {
    name: "seaweedfs",
    known_keys,
    parse: SeaweedSettings::from_map,
};

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
