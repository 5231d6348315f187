//! The registration of the Ceph backend (`backend_type: ceph_s3`).

use crate::settings::{CephS3Settings, Dialect, Flavour, known_keys};
use serde_json::{Map, Value};
use site_agent_sdk::{BackendError, BackendPlugin, BackendSettings, Capabilities, StorageBackend};
use std::sync::Arc;

pub struct CephS3Plugin(Dialect);

/// What the agent registers: `backend_type: ceph_s3`.
pub static PLUGIN: CephS3Plugin = CephS3Plugin(Dialect::CephS3);
/// And `backend_type: croit_s3`, the older plugin's configuration with its meaning.
pub static CROIT_S3_PLUGIN: CephS3Plugin = CephS3Plugin(Dialect::CroitS3);

impl BackendPlugin for CephS3Plugin {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn known_keys(&self) -> &'static [&'static str] {
        known_keys()
    }
    /// Upstream's croit reporting backend: GB-days from croit's own `s3-user-data` series.
    fn series_reporting_names(&self) -> &'static [&'static str] {
        &["croit_usage"]
    }
    /// croit-s3 reported the stored bytes (in the component's unit) and the object count at
    /// the time of the report, without a `usage:` key.
    fn default_usage(&self, backend_name: Option<&str>) -> Option<&'static str> {
        match (self.0, backend_name) {
            (Dialect::CroitS3, Some("storage")) => Some("storage_latest"),
            (Dialect::CroitS3, Some("objects")) => Some("objects_latest"),
            _ => None,
        }
    }
    fn series_source_names(&self) -> &'static [&'static str] {
        &["croit_series"]
    }
    fn configure(
        &self,
        settings: &Map<String, Value>,
    ) -> Result<Arc<dyn BackendSettings>, Vec<String>> {
        Ok(Arc::new(CephS3Settings::from_map_as(settings, self.0)?))
    }
}

impl BackendSettings for CephS3Settings {
    fn summary(&self) -> String {
        format!(
            "{}, flavour {}, S3 endpoint {}, users named by policy {}{}",
            self.dialect.name(),
            self.flavour.as_str(),
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
        match self.flavour {
            Flavour::Croit => crate::croit::ops::CAPABILITIES,
            Flavour::Radosgw => crate::radosgw::ops::CAPABILITIES,
        }
    }
    fn purge_on_delete(&self) -> bool {
        self.store.purge_data
    }
    fn build(&self) -> Result<Arc<dyn StorageBackend>, BackendError> {
        crate::build(self.clone())
    }
}
