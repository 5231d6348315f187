//! The registration of the MyFSIO backend (`backend_type: myfsio`).

use crate::settings::{GenerationSetting, MyfsioSettings, known_keys};
use site_agent_sdk::plugin::SettingsPlugin;
use site_agent_sdk::{BackendError, BackendSettings, Capabilities, StorageBackend};
use std::sync::Arc;

/// What the agent registers.
pub static PLUGIN: SettingsPlugin<MyfsioSettings> = SettingsPlugin {
    name: "myfsio",
    known_keys,
    parse: MyfsioSettings::from_map,
};

impl BackendSettings for MyfsioSettings {
    fn summary(&self) -> String {
        let generation = match self.generation {
            GenerationSetting::Auto => "generation found at ping",
            GenerationSetting::V04 => "v0.4 (Python)",
            GenerationSetting::V05 => "v0.5 (Rust)",
        };
        format!(
            "myfsio, API {} as {}, console {}, {generation}, keys by {}, S3 {}, users named by policy {}{}",
            self.api_url,
            self.admin_access_key,
            self.console_url,
            match self.key_mode {
                crate::ops::KeyMode::Admin => "the admin routes",
                crate::ops::KeyMode::Console => "the console (one per resource)",
            },
            self.store.s3_endpoint,
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
        crate::ops::capabilities(self.key_mode)
    }
    fn purge_on_delete(&self) -> bool {
        self.store.purge_data
    }
    fn build(&self) -> Result<Arc<dyn StorageBackend>, BackendError> {
        crate::build(self)
    }
}
