//! The upstream waldur-site-agent YAML, as serde structs (keys unchanged).

use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

#[derive(Debug, Deserialize)]
pub struct RawConfig {
    /// Each read on its own ([`RawOffering`]), so every offering's problems are reported.
    pub offerings: Vec<Value>,
    #[serde(default)]
    pub sentry_dsn: Option<String>,
    #[serde(default)]
    pub elastic_apm_server_url: Option<String>,
    #[serde(default = "default_timezone")]
    pub timezone: String,
    #[serde(default)]
    pub global_proxy: String,
    #[serde(default = "default_log_level")]
    pub log_level: String,
    #[serde(default = "default_reporting_periods")]
    pub reporting_periods: i64,
    #[serde(default = "yes")]
    pub expose_backend_error_details: bool,
    #[serde(default)]
    pub log_shipping: Option<Map<String, Value>>,
    /// site-agent: where the SQLite state (order journal, usage samples, outbox) lives.
    #[serde(default)]
    pub database_path: Option<String>,
    /// site-agent: liveness heartbeat file (upstream: /tmp/waldur-site-agent-heartbeat).
    #[serde(default)]
    pub heartbeat_file: Option<String>,
    /// site-agent: `host:port` of the metrics and health endpoints (off when unset).
    #[serde(default)]
    pub metrics_listen: Option<String>,
    /// site-agent: when to sample usage (5-field cron, in `timezone`).
    #[serde(default)]
    pub usage_sampling_schedule: Option<String>,
    /// site-agent: how many minutes before a period ends its closing figure is sent.
    #[serde(default)]
    pub usage_close_minutes: Option<i64>,
    /// site-agent: backend calls in flight while sampling.
    #[serde(default)]
    pub usage_sample_concurrency: Option<i64>,
    /// site-agent: months of figures and order journals kept (default 13); samples are kept
    /// only while a figure may still be computed from them.
    #[serde(default)]
    pub history_months: Option<i64>,
    /// site-agent: seconds one Waldur request may take (default 60).
    #[serde(default)]
    pub waldur_timeout: Option<f64>,
}

/// Every upstream key is accepted (those this agent does not use, such as
/// `username_management_backend`, are parsed so they are never reported as unknown).
#[derive(Debug, Deserialize)]
pub struct RawOffering {
    pub name: String,
    pub waldur_api_url: String,
    #[serde(default)]
    pub waldur_api_token: String,
    #[serde(default)]
    pub waldur_api_token_file: Option<String>,
    #[serde(default)]
    pub waldur_api_token_credential: Option<String>,
    #[serde(default)]
    pub oidc_token_url: Option<String>,
    #[serde(default)]
    pub oidc_client_id: Option<String>,
    #[serde(default)]
    pub oidc_client_secret: Option<String>,
    #[serde(default)]
    pub oidc_client_secret_file: Option<String>,
    #[serde(default)]
    pub oidc_client_secret_credential: Option<String>,
    pub waldur_offering_uuid: String,
    pub backend_type: String,
    #[serde(default)]
    pub order_processing_backend: Option<String>,
    #[serde(default)]
    pub membership_sync_backend: Option<String>,
    #[serde(default)]
    pub reporting_backend: Option<String>,
    #[allow(dead_code)] // accepted from upstream configs, not used by this agent
    #[serde(default = "default_username_backend")]
    pub username_management_backend: String,
    #[serde(default)]
    pub backend_settings: Map<String, Value>,
    /// Each read on its own ([`RawComponent`]), so every component's problems are reported.
    #[serde(default)]
    pub backend_components: BTreeMap<String, Value>,
    #[serde(default)]
    pub stomp_enabled: bool,
    #[serde(default)]
    pub stomp_membership_sync_enabled: Option<bool>,
    #[serde(default)]
    pub stomp_ws_host: Option<String>,
    #[serde(default)]
    pub stomp_ws_port: Option<u16>,
    #[serde(default)]
    pub stomp_ws_path: Option<String>,
    #[serde(default = "yes")]
    pub websocket_use_tls: bool,
    /// site-agent: use Waldur's unified `consumer_<uuid>` queue instead of one queue per type.
    #[serde(default)]
    pub stomp_unified_queue: bool,

    #[allow(dead_code)] // accepted from upstream configs, not used by this agent
    #[serde(default)]
    pub resource_import_enabled: bool,
    #[allow(dead_code)] // accepted from upstream configs, not used by this agent
    #[serde(default)]
    pub username_reconciliation_enabled: bool,
    #[serde(default = "yes")]
    pub verify_ssl: bool,
    /// site-agent: a Create that finds the user an older plugin made for this
    /// resource but never finished takes it over instead of erring.
    #[serde(default)]
    pub adopt_legacy_users: bool,
}

/// A backend component. Extra fields are kept (plugins and `load-components` read them).
#[derive(Debug, Clone, Deserialize)]
pub struct RawComponent {
    /// Only needed to publish the component (`load-components`); defaulted when missing.
    #[serde(default)]
    pub measured_unit: Option<String>,
    pub accounting_type: String,
    /// As `measured_unit`.
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub unit_factor: Option<f64>,
    #[serde(default)]
    pub unit_factor_reporting: Option<f64>,
    #[serde(default)]
    pub limit: Option<f64>,
    #[serde(default)]
    pub backend_name: Option<String>,
    /// site-agent: how this component is billed (`gb_days`, `storage_latest`, ...).
    #[serde(default)]
    pub usage: Option<String>,
    /// site-agent: `samples` (default) or `metered_series` (the backend's own series; the
    /// plugins may accept their own aliases) for GB-days.
    #[serde(default)]
    pub usage_source: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn default_timezone() -> String {
    "UTC".into()
}
fn default_log_level() -> String {
    "INFO".into()
}
fn default_reporting_periods() -> i64 {
    2
}
fn default_username_backend() -> String {
    "base".into()
}
fn yes() -> bool {
    true
}
