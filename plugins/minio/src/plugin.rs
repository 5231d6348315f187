//! The registration of the MinIO backend (`backend_type: minio`).

use crate::settings::{MinioSettings, known_keys};
use site_agent_sdk::plugin::SettingsPlugin;
use site_agent_sdk::{BackendError, BackendSettings, Capabilities, StorageBackend};
use std::sync::Arc;

/// What the agent registers.
pub static PLUGIN: SettingsPlugin<MinioSettings> = SettingsPlugin {
    name: "minio",
    known_keys,
    parse: MinioSettings::from_map,
};

impl BackendSettings for MinioSettings {
    fn summary(&self) -> String {
        format!(
            "minio, endpoint {} (admin API {}), users named by policy {}{}",
            self.store.s3_endpoint,
            self.admin_api_version,
            self.store.naming.name(),
            if self.store.purge_data {
                ", purge_data on"
            } else {
                ""
            }
        )
    }
    fn notes(&self) -> Vec<String> {
        let mut notes = self.store.notes.clone();
        notes.push(
            "MinIO has no object-count quota: an ordered object limit is accepted but not enforced"
                .into(),
        );
        notes
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
