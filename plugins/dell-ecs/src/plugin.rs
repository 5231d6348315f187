//! The registration of the Dell EMC ECS backend (`backend_type: dell_ecs`).

use crate::settings::{EcsSettings, known_keys};
use site_agent_sdk::plugin::SettingsPlugin;
use site_agent_sdk::{BackendError, BackendSettings, Capabilities, StorageBackend};
use std::sync::Arc;

/// What the agent registers.
pub static PLUGIN: SettingsPlugin<EcsSettings> = SettingsPlugin {
    name: "dell_ecs",
    known_keys,
    parse: EcsSettings::from_map,
};

impl BackendSettings for EcsSettings {
    fn summary(&self) -> String {
        format!(
            "dell_ecs, management API {} as {}, namespace {}, public S3 {}, private S3 {}, users named by policy {}",
            self.management_url,
            self.username,
            self.namespace,
            self.store.s3_endpoint,
            self.s3_private_endpoint,
            self.store.naming.name(),
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
