//! The registration of the Cloudian HyperStore backend (`backend_type: cloudian`).

use crate::settings::{CloudianSettings, GroupMapping, known_keys};
use site_agent_sdk::plugin::SettingsPlugin;
use site_agent_sdk::{BackendError, BackendSettings, Capabilities, StorageBackend};
use std::sync::Arc;

/// What the agent registers.
pub static PLUGIN: SettingsPlugin<CloudianSettings> = SettingsPlugin {
    name: "cloudian",
    known_keys,
    parse: CloudianSettings::from_map,
};

impl BackendSettings for CloudianSettings {
    fn summary(&self) -> String {
        let groups = match &self.groups {
            GroupMapping::Fixed(g) => format!("group {g}"),
            GroupMapping::PerCustomer { prefix } => {
                format!("a group per customer ({prefix}<slug>)")
            }
        };
        format!(
            "cloudian, Admin API {} as {}, {groups}, S3 {}, users named by policy {}",
            self.admin_url,
            self.admin_user,
            self.store.s3_endpoint,
            self.store.naming.name(),
        )
    }
    fn notes(&self) -> Vec<String> {
        self.store.notes.clone()
    }
    fn capabilities(&self) -> Capabilities {
        crate::ops::capabilities(self.max_credentials)
    }
    fn purge_on_delete(&self) -> bool {
        self.store.purge_data
    }
    fn build(&self) -> Result<Arc<dyn StorageBackend>, BackendError> {
        crate::build(self)
    }
}
