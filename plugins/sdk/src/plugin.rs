//! Registration: each backend crate exposes one [`BackendPlugin`] (its name, the settings it
//! reads, a typed settings parser, and how to build it), in the manner of vector's
//! `SinkConfig::build`. The agent lists the plugins it is built with in one place and
//! otherwise names no vendor.

use crate::{BackendError, Capabilities, StorageBackend};
use serde_json::{Map, Value};
use std::sync::Arc;

/// A backend as known before anything is built.
pub trait BackendPlugin: Send + Sync {
    /// The upstream entry-point name (`backend_type`, `order_processing_backend`, …).
    fn name(&self) -> &'static str;
    /// Every `backend_settings` key this plugin reads (the agent warns about others).
    fn known_keys(&self) -> &'static [&'static str];
    /// Keys of an older plugin that have no effect (warned about as such).
    fn legacy_keys(&self) -> &'static [&'static str] {
        &[]
    }
    /// `reporting_backend` names that mean "this backend, storage billed as GB-days from its
    /// own usage series when no component says otherwise" (upstream drop-ins).
    fn series_reporting_names(&self) -> &'static [&'static str] {
        &[]
    }
    /// What a usage component of this `backend_name` is billed as when its config names no
    /// `usage:` (a usage kind's name, e.g. `storage_latest`); `None`: it is not reported.
    fn default_usage(&self, _backend_name: Option<&str>) -> Option<&'static str> {
        None
    }
    /// Other spellings of `usage_source: metered_series` that configs may use.
    fn series_source_names(&self) -> &'static [&'static str] {
        &[]
    }
    /// Parses and checks `backend_settings`; every problem names its key.
    fn configure(
        &self,
        settings: &Map<String, Value>,
    ) -> Result<Arc<dyn BackendSettings>, Vec<String>>;
}

/// A plugin whose settings type does the rest: its name, the keys it reads and the parser.
/// Each backend crate declares one as its `PLUGIN` static.
pub struct SettingsPlugin<S> {
    pub name: &'static str,
    pub known_keys: fn() -> &'static [&'static str],
    pub parse: ParseSettings<S>,
}

/// A settings parser: every problem names its key.
pub type ParseSettings<S> = fn(&Map<String, Value>) -> Result<S, Vec<String>>;

impl<S: BackendSettings + 'static> BackendPlugin for SettingsPlugin<S> {
    fn name(&self) -> &'static str {
        self.name
    }
    fn known_keys(&self) -> &'static [&'static str] {
        (self.known_keys)()
    }
    fn configure(
        &self,
        settings: &Map<String, Value>,
    ) -> Result<Arc<dyn BackendSettings>, Vec<String>> {
        Ok(Arc::new((self.parse)(settings)?))
    }
}

/// One offering's validated backend settings.
pub trait BackendSettings: Send + Sync + std::fmt::Debug {
    /// One line for `check-config` (never a secret).
    fn summary(&self) -> String;
    /// Settings that are accepted but do nothing (shown as configuration warnings).
    fn notes(&self) -> Vec<String> {
        Vec::new()
    }
    /// What the backend can do, known before it is built.
    fn capabilities(&self) -> Capabilities;
    /// Whether Terminate removes the tenant's data too (the operator's setting).
    fn purge_on_delete(&self) -> bool;
    /// Builds the backend (nothing is contacted yet).
    fn build(&self) -> Result<Arc<dyn StorageBackend>, BackendError>;
}
