//! Turns the raw document into a validated `Config`, collecting every problem at once.

use super::raw::{RawComponent, RawConfig, RawOffering};
use super::usage_kind::{UsageKind, UsageSource};
use secrecy::SecretString;
use serde_json::{Map, Value};
use site_agent_sdk::settings::{read_credential, read_secret_file};
use std::collections::BTreeMap;
use std::path::PathBuf;

pub const DEFAULT_DATABASE: &str = "/var/lib/site-agent/state.sqlite3";
/// The heartbeat file's name beside the database (in the state directory, so `healthz`
/// outside a unit with `PrivateTmp=` can read it).
pub const HEARTBEAT_NAME: &str = "heartbeat";
pub const DEFAULT_HISTORY_MONTHS: u32 = 13;
/// Bounds of `waldur_timeout`, in seconds.
pub const WALDUR_TIMEOUT_RANGE: (f64, f64) = (1.0, 600.0);

/// `backend_settings` keys the core reads (upstream), beside the plugin's own.
const CORE_SETTINGS: &[&str] = &[
    "allocation_prefix",
    "project_prefix",
    "customer_prefix",
    "check_backend_id_uniqueness",
    "check_all_offerings",
    "backend_id_max_retries",
    "soft_delete",
    "default_account",
    "periodic_limits",
    "enable_user_homedir_account_creation",
    "default_homedir_umask",
    "homedir_base_path",
    "homedir_quota",
];

#[derive(Debug)]
pub struct Config {
    pub offerings: Vec<Offering>,
    pub timezone: chrono_tz::Tz,
    /// Upstream level names: DEBUG, INFO, WARNING, ERROR, CRITICAL.
    pub log_level: String,
    pub reporting_periods: u32,
    pub expose_backend_error_details: bool,
    pub global_proxy: Option<String>,
    pub database_path: PathBuf,
    pub heartbeat_file: PathBuf,
    /// Where `/metrics`, `/healthz` and `/readyz` are served (`None`: not served).
    pub metrics_listen: Option<std::net::SocketAddr>,
    pub usage: UsageSettings,
    /// Months of history kept in the database (what billing still needs is always kept).
    pub history_months: u32,
    /// Things worth an operator's attention that do not stop start-up (unknown keys...).
    pub warnings: Vec<String>,
    /// Names of the environment variables that overrode the file.
    pub env_overrides: Vec<String>,
}

/// When and how usage is sampled and periods are closed.
#[derive(Clone)]
pub struct UsageSettings {
    pub schedule: croner::Cron,
    pub schedule_text: String,
    /// The closing figure of a period is sent this long before it ends.
    pub close_lead: chrono::Duration,
    pub concurrency: usize,
}

impl std::fmt::Debug for UsageSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsageSettings")
            .field("schedule", &self.schedule_text)
            .field("close_lead", &self.close_lead)
            .field("concurrency", &self.concurrency)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StompSettings {
    pub url: String,
    pub verify_tls: bool,
    pub unified_queue: bool,
}

pub const DEFAULT_SAMPLING: &str = "*/10 * * * *";

#[derive(Clone)]
pub enum WaldurAuth {
    Token(SecretString),
    Oidc {
        token_url: String,
        client_id: String,
        client_secret: SecretString,
    },
}

impl std::fmt::Debug for WaldurAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WaldurAuth::Token(_) => f.write_str("Token([REDACTED])"),
            WaldurAuth::Oidc {
                token_url,
                client_id,
                ..
            } => {
                write!(f, "Oidc({token_url}, {client_id}, [REDACTED])")
            }
        }
    }
}

/// An offering's validated backend settings (from the plugin its `backend_type` names).
pub type BackendConfig = std::sync::Arc<dyn site_agent_sdk::BackendSettings>;

#[derive(Debug, Clone)]
pub struct Component {
    /// How the component is billed; `None`: not reported by this agent.
    pub usage: Option<UsageKind>,
    pub usage_source: UsageSource,
    pub accounting_type: String,
    pub measured_unit: String,
    pub label: String,
    pub unit_factor: Option<f64>,
    pub backend_name: Option<String>,
    pub limit: Option<f64>,
    /// `false`: the ordered ceiling of this component's dimension is recorded but not
    /// applied as a quota (`enforce_limits` of older plugins' configs). Unset: applied.
    pub enforce_limits: Option<bool>,
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone)]
pub struct Offering {
    pub name: String,
    /// As configured, with a trailing `/` (e.g. `https://waldur.example/api/`).
    pub api_url: String,
    /// Scheme and host (and any path prefix) with the trailing `/api/` removed.
    pub api_base: String,
    pub auth: WaldurAuth,
    pub offering_uuid: uuid::Uuid,
    pub backend_type: String,
    pub order_processing_backend: Option<String>,
    pub membership_sync_backend: Option<String>,
    pub reporting_backend: Option<String>,
    pub components: BTreeMap<String, Component>,
    pub backend: BackendConfig,
    pub stomp_enabled: bool,
    /// Where and how to listen for events (set when `stomp_enabled`).
    pub stomp: Option<StompSettings>,
    pub verify_ssl: bool,
    /// A Create takes over the user an older plugin made for the resource but never finished.
    pub adopt_legacy_users: bool,
    pub proxy: Option<String>,
    /// How long one Waldur request may take (`waldur_timeout`).
    pub waldur_timeout: std::time::Duration,
}

impl Offering {
    /// The storage component (`backend_name: storage`, or keyed `storage`) and its type.
    pub fn storage_component(&self) -> Option<(&str, &Component)> {
        storage_component(&self.components)
    }

    /// Whether ordered ceilings of the component with this `backend_name` (`storage`,
    /// `objects`) become quotas: yes unless that component says `enforce_limits: false`.
    pub fn enforces(&self, backend_name: &str) -> bool {
        // The same lookup as the storage component's: by `backend_name`, or keyed so.
        self.components
            .iter()
            .filter(|(k, c)| match c.backend_name.as_deref() {
                Some(b) => b == backend_name,
                None => k.as_str() == backend_name,
            })
            .all(|(_, c)| c.enforce_limits != Some(false))
    }

    /// The components this agent reports usage for.
    pub fn reported_components(&self) -> impl Iterator<Item = (&str, &Component)> {
        self.components
            .iter()
            .filter(|(_, c)| c.usage.is_some())
            .map(|(k, c)| (k.as_str(), c))
    }
}

fn storage_component(components: &BTreeMap<String, Component>) -> Option<(&str, &Component)> {
    components
        .iter()
        .find(|(_, c)| c.backend_name.as_deref() == Some("storage"))
        .or_else(|| {
            components
                .iter()
                .find(|(k, c)| k.as_str() == "storage" && c.backend_name.is_none())
        })
        .map(|(k, c)| (k.as_str(), c))
}

/// Names an offering in messages: `offering "name" (#2)`.
fn offering_label(doc: &Value, index: usize) -> String {
    match doc
        .pointer(&format!("/offerings/{index}/name"))
        .and_then(Value::as_str)
    {
        Some(name) => format!("offering {name:?} (#{})", index + 1),
        None => format!("offering #{}", index + 1),
    }
}

/// Rewrites a serde path like `offerings[0].backend_components.x` into words.
fn describe_path(doc: &Value, path: &str) -> String {
    // serde_path_to_error writes `offerings[0].x`, serde_ignored `offerings.0.x`.
    let split = path
        .strip_prefix("offerings[")
        .and_then(|rest| rest.split_once(']'))
        .or_else(|| {
            path.strip_prefix("offerings.")
                .map(|rest| rest.split_once('.').unwrap_or((rest, "")))
        });
    if let Some((idx, tail)) = split
        && let Ok(i) = idx.parse::<usize>()
    {
        let tail = tail.trim_start_matches('.');
        return if tail.is_empty() {
            offering_label(doc, i)
        } else {
            format!("{}: `{tail}`", offering_label(doc, i))
        };
    }
    format!("`{path}`")
}

/// Reads one part of the document (`at` is its serde path, `""` for the whole): unknown keys
/// become warnings, a shape error one message; `(path, message)`.
fn read_part<T: serde::de::DeserializeOwned>(
    doc: &Value,
    part: &Value,
    at: &str,
    warnings: &mut Vec<String>,
) -> Result<T, (String, String)> {
    let full = |p: &str| match (at.is_empty(), p == ".") {
        (true, _) => p.to_string(),
        (false, true) => at.to_string(),
        (false, false) => format!("{at}.{p}"),
    };
    let mut ignored = Vec::new();
    let mut record = |p: serde_ignored::Path| ignored.push(p.to_string());
    let de = serde_ignored::Deserializer::new(part, &mut record);
    let result = serde_path_to_error::deserialize(de);
    for p in ignored {
        let p = full(&p).replace('[', ".").replace(']', "");
        warnings.push(format!("{}: unknown key, ignored", describe_path(doc, &p)));
    }
    result.map_err(|e| {
        let path = full(&e.path().to_string());
        // serde quotes the offending value ("invalid type: integer `12345`"): never for a
        // key that holds a secret.
        let last = path.rsplit(['.', '[']).next().unwrap_or_default();
        let message = if ["token", "secret", "password", "passcode", "key"]
            .iter()
            .any(|w| last.contains(w))
        {
            "has the wrong type (the value is not shown: it may be a secret)".to_string()
        } else {
            e.into_inner().to_string()
        };
        (path, message)
    })
}

/// A shape error of the whole document or an offering, in words.
fn shape_problem(doc: &Value, (path, message): (String, String)) -> String {
    let where_ = if path == "." {
        "the top level".to_string()
    } else {
        describe_path(doc, &path)
    };
    format!("{where_}: {message}")
}

pub fn validate(doc: &Value) -> Result<Config, Vec<String>> {
    let mut warnings = Vec::new();
    let raw: RawConfig =
        read_part(doc, doc, "", &mut warnings).map_err(|e| vec![shape_problem(doc, e)])?;
    let mut problems = Vec::new();

    let timezone = match raw.timezone.parse::<chrono_tz::Tz>() {
        Ok(tz) => tz,
        Err(_) => {
            problems.push(format!(
                "`timezone`: {:?} is not an IANA time zone (e.g. \"UTC\", \"Europe/Tallinn\")",
                raw.timezone
            ));
            chrono_tz::UTC
        }
    };
    let log_level = raw.log_level.to_uppercase();
    if !["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"].contains(&log_level.as_str()) {
        problems.push(format!(
            "`log_level`: {:?} is not one of DEBUG, INFO, WARNING, ERROR, CRITICAL",
            raw.log_level
        ));
    }
    if !(1..=12).contains(&raw.reporting_periods) {
        problems.push(format!(
            "`reporting_periods`: must be between 1 and 12, not {}",
            raw.reporting_periods
        ));
    }
    if let Some(dsn) = raw.sentry_dsn.as_deref().filter(|s| !s.is_empty()) {
        if !is_http_url(dsn) {
            problems.push("`sentry_dsn`: must be an http(s) URL".into());
        }
        warnings.push(
            "`sentry_dsn`: Sentry is not supported by site-agent; errors go to the log".into(),
        );
    }
    if raw
        .elastic_apm_server_url
        .as_deref()
        .is_some_and(|s| !s.is_empty())
    {
        warnings.push(
            "`elastic_apm_server_url`: Elastic APM is not supported by site-agent; ignored".into(),
        );
    }
    if raw
        .log_shipping
        .as_ref()
        .and_then(|m| m.get("enabled"))
        .and_then(Value::as_bool)
        == Some(true)
    {
        warnings.push(
            "`log_shipping.enabled`: log shipping to Waldur is not supported yet; ignored".into(),
        );
    }
    if raw.offerings.is_empty() {
        problems.push("`offerings`: at least one offering is required".into());
    }
    let usage = usage_settings(&raw, &mut problems);
    let global_proxy = Some(raw.global_proxy.clone()).filter(|s| !s.is_empty());
    if let Some(p) = &global_proxy
        && !is_http_url(p)
    {
        // This build speaks HTTP CONNECT proxies only (no SOCKS support compiled in).
        problems.push(format!(
            "`global_proxy`: {:?} must be an http:// or https:// proxy URL (SOCKS proxies are not supported)",
            super::redact_url(p)
        ));
    }
    let database_path = PathBuf::from(
        raw.database_path
            .clone()
            .unwrap_or_else(|| DEFAULT_DATABASE.into()),
    );
    if let Err(e) = crate::store::check_path(&database_path) {
        problems.push(e);
    }
    let heartbeat_file = match raw.heartbeat_file.as_deref() {
        Some("") => {
            problems.push("`heartbeat_file` must name a file".into());
            PathBuf::new()
        }
        Some(h) => PathBuf::from(h),
        None => database_path
            .parent()
            .map(|d| d.join(HEARTBEAT_NAME))
            .unwrap_or_else(|| PathBuf::from(HEARTBEAT_NAME)),
    };
    let metrics_listen = match raw.metrics_listen.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(a) => match a.parse::<std::net::SocketAddr>() {
            Ok(addr) => Some(addr),
            Err(_) => {
                problems.push(format!(
                    "`metrics_listen`: {a:?} is not an address and port such as 127.0.0.1:9847 (names are not resolved)"
                ));
                None
            }
        },
    };
    let history_months = raw.history_months.unwrap_or(DEFAULT_HISTORY_MONTHS as i64);
    if !(1..=120).contains(&history_months) {
        problems.push(format!(
            "`history_months`: must be between 1 and 120, not {history_months}"
        ));
    }
    let waldur_timeout = raw.waldur_timeout.unwrap_or(60.0);
    let (tmin, tmax) = WALDUR_TIMEOUT_RANGE;
    if !(waldur_timeout >= tmin && waldur_timeout <= tmax) {
        problems.push(format!(
            "`waldur_timeout`: must be between {tmin} and {tmax} seconds, not {waldur_timeout}"
        ));
    }
    let waldur_timeout = std::time::Duration::from_secs_f64(waldur_timeout.clamp(tmin, tmax));

    let mut offerings = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, value) in raw.offerings.iter().enumerate() {
        let label = offering_label(doc, i);
        let ro: RawOffering = match read_part(doc, value, &format!("offerings[{i}]"), &mut warnings)
        {
            Ok(ro) => ro,
            Err(e) => {
                problems.push(shape_problem(doc, e));
                continue;
            }
        };
        let mut p = Vec::new();
        if let Some(mut o) =
            validate_offering(&ro, &global_proxy, &mut p, &mut warnings, &label, doc, i)
        {
            o.waldur_timeout = waldur_timeout;
            if !seen.insert(o.offering_uuid) {
                p.push(format!(
                    "`waldur_offering_uuid` {} is listed twice",
                    o.offering_uuid.simple()
                ));
            }
            offerings.push(o);
        }
        problems.extend(p.into_iter().map(|m| format!("{label}: {m}")));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Config {
        offerings,
        timezone,
        log_level,
        reporting_periods: raw.reporting_periods as u32,
        expose_backend_error_details: raw.expose_backend_error_details,
        global_proxy,
        database_path,
        heartbeat_file,
        metrics_listen,
        usage: usage.ok_or_else(|| vec!["`usage_sampling_schedule` is invalid".to_string()])?,
        history_months: history_months.clamp(1, 120) as u32,
        warnings,
        env_overrides: Vec::new(),
    })
}

/// The STOMP endpoint: `ws(s)://<stomp_ws_host or the API host>:<port><stomp_ws_path>`. The
/// default port follows `websocket_use_tls` (443 or 80), not `verify_ssl` as upstream's does.
fn stomp_settings(ro: &RawOffering) -> Option<StompSettings> {
    let api = url::Url::parse(&ro.waldur_api_url).ok()?;
    let host = ro
        .stomp_ws_host
        .clone()
        .filter(|h| !h.is_empty())
        .or_else(|| api.host_str().map(str::to_string))?;
    let tls = ro.websocket_use_tls;
    let port = ro.stomp_ws_port.unwrap_or(if tls { 443 } else { 80 });
    let path = ro
        .stomp_ws_path
        .clone()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "/rmqws-stomp".into());
    let path = if path.starts_with('/') {
        path
    } else {
        format!("/{path}")
    };
    Some(StompSettings {
        url: format!("{}://{host}:{port}{path}", if tls { "wss" } else { "ws" }),
        verify_tls: ro.verify_ssl,
        unified_queue: ro.stomp_unified_queue,
    })
}

fn usage_settings(raw: &RawConfig, p: &mut Vec<String>) -> Option<UsageSettings> {
    let text = raw
        .usage_sampling_schedule
        .clone()
        .unwrap_or_else(|| DEFAULT_SAMPLING.to_string());
    let fields = text.split_whitespace().count();
    // Six fields put seconds first (for short test cycles; operators use five).
    let parsed = croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Optional)
        .build()
        .parse(&text);
    let schedule = match parsed {
        Ok(c) if fields == 5 || fields == 6 => Some(c),
        Ok(_) => {
            p.push(format!("`usage_sampling_schedule`: {text:?} must have 5 fields (minute hour day month weekday), or 6 with seconds first"));
            None
        }
        Err(e) => {
            p.push(format!(
                "`usage_sampling_schedule`: {text:?} is not a cron expression: {e}"
            ));
            None
        }
    };
    let close = raw.usage_close_minutes.unwrap_or(5);
    if !(1..=24 * 60).contains(&close) {
        p.push(format!(
            "`usage_close_minutes`: must be between 1 and 1440, not {close}"
        ));
    }
    let concurrency = raw.usage_sample_concurrency.unwrap_or(32);
    if !(1..=256).contains(&concurrency) {
        p.push(format!(
            "`usage_sample_concurrency`: must be between 1 and 256, not {concurrency}"
        ));
    }
    Some(UsageSettings {
        schedule: schedule?,
        schedule_text: text,
        close_lead: chrono::Duration::minutes(close),
        concurrency: concurrency.clamp(1, 256) as usize,
    })
}

fn is_http_url(s: &str) -> bool {
    (s.starts_with("http://") || s.starts_with("https://")) && url::Url::parse(s).is_ok()
}

/// Removes a trailing `/api/` (or `/api`): the reference's `rstrip("/api")` strips characters,
/// which turns `https://waldur.ai/api/` into `https://waldur.`.
pub fn api_base(api_url: &str) -> String {
    let trimmed = api_url.trim_end_matches('/');
    trimmed.strip_suffix("/api").unwrap_or(trimmed).to_string()
}

fn validate_offering(
    ro: &RawOffering,
    global_proxy: &Option<String>,
    p: &mut Vec<String>,
    warnings: &mut Vec<String>,
    label: &str,
    doc: &Value,
    index: usize,
) -> Option<Offering> {
    if ro.name.trim().is_empty() {
        p.push("`name`: must not be empty".into());
    }
    if !is_http_url(&ro.waldur_api_url) {
        p.push(format!(
            "`waldur_api_url`: {:?} must be an http:// or https:// URL",
            ro.waldur_api_url
        ));
    }
    let api_url = if ro.waldur_api_url.ends_with('/') {
        ro.waldur_api_url.clone()
    } else {
        format!("{}/", ro.waldur_api_url)
    };
    let offering_uuid = match uuid::Uuid::parse_str(ro.waldur_offering_uuid.trim()) {
        Ok(u) => Some(u),
        Err(_) => {
            p.push(format!(
                "`waldur_offering_uuid`: {:?} is not a UUID (32 hex digits, dashes optional)",
                ro.waldur_offering_uuid
            ));
            None
        }
    };
    let auth = waldur_auth(ro, p);

    let backend_type = ro.backend_type.to_lowercase();
    let plugin = crate::backends::plugin(&backend_type);
    if plugin.is_none() {
        p.push(format!(
            "`backend_type`: {:?} is not supported; this build supports: {}",
            ro.backend_type,
            crate::backends::names()
        ));
    }
    // A role names the backend that plays it: the offering's own (a reporting role may also
    // use a name the plugin registers for billing from its own usage series).
    let series_names: Vec<&str> = plugin
        .map(|p| p.series_reporting_names().to_vec())
        .unwrap_or_default();
    let role = |key: &str, value: &str, reporting: bool, p: &mut Vec<String>| -> Option<String> {
        if value.is_empty() {
            return None;
        }
        let value = value.to_lowercase();
        let ok = plugin.is_some_and(|pl| pl.name() == value)
            || (reporting && series_names.contains(&value.as_str()));
        if !ok && plugin.is_some() {
            let mut known = vec![backend_type.clone()];
            if reporting {
                known.extend(series_names.iter().map(|s| s.to_string()));
            }
            p.push(format!(
                "`{key}`: {value:?} is not this offering's backend; known: {}",
                known.join(", ")
            ));
        }
        Some(value)
    };
    // An offering that names no role at all (an older plugin's documented config does
    // not) plays every role with its own backend; reporting only if a component is billed by
    // usage.
    let named = [
        &ro.order_processing_backend,
        &ro.membership_sync_backend,
        &ro.reporting_backend,
    ];
    let defaulted = named.iter().all(|r| r.is_none()) && plugin.is_some();
    let bills_usage = ro.backend_components.values().any(|c| {
        c.get("accounting_type")
            .and_then(Value::as_str)
            .is_some_and(|t| t.eq_ignore_ascii_case("usage"))
    });
    let role_value = |given: &Option<String>, by_default: bool| -> String {
        match given {
            Some(v) => v.clone(),
            None if defaulted && by_default => backend_type.clone(),
            None => String::new(),
        }
    };
    if defaulted {
        warnings.push(format!(
            "{label}: no role is named (`order_processing_backend`, `membership_sync_backend`, `reporting_backend`): this offering plays {} with backend {backend_type:?}; name the roles to choose",
            if bills_usage {
                "every role"
            } else {
                "orders and the reconcile pass (no component is billed by usage, so no reporting)"
            }
        ));
    }
    let order_processing_backend = role(
        "order_processing_backend",
        &role_value(&ro.order_processing_backend, true),
        false,
        p,
    );
    let membership_sync_backend = role(
        "membership_sync_backend",
        &role_value(&ro.membership_sync_backend, true),
        false,
        p,
    );
    let reporting_backend = role(
        "reporting_backend",
        &role_value(&ro.reporting_backend, bills_usage),
        true,
        p,
    );
    if plugin.is_some()
        && order_processing_backend.is_none()
        && membership_sync_backend.is_none()
        && reporting_backend.is_none()
    {
        warnings.push(format!(
            "{label}: THIS OFFERING DOES NOTHING: `order_processing_backend`, `membership_sync_backend` and `reporting_backend` are all empty; set them to {backend_type:?} for the roles it should play"
        ));
    }
    if ro.stomp_enabled
        && ro.waldur_api_token.is_empty()
        && ro.waldur_api_token_file.is_none()
        && ro.waldur_api_token_credential.is_none()
    {
        warnings.push(format!(
            "{label}: `stomp_enabled` needs `waldur_api_token` as the STOMP passcode; with OIDC only, this offering's orders are polled instead"
        ));
    }
    if ro.stomp_membership_sync_enabled == Some(true) && !ro.stomp_enabled {
        warnings.push(format!(
            "{label}: MISCONFIGURATION: `stomp_membership_sync_enabled: true` with `stomp_enabled: false` means nothing syncs membership"
        ));
    }

    let series_sources: Vec<&str> = plugin
        .map(|p| p.series_source_names().to_vec())
        .unwrap_or_default();
    let mut components = BTreeMap::new();
    for (key, value) in &ro.backend_components {
        let at = format!("offerings[{index}].backend_components.{key}");
        let rc: RawComponent = match read_part(doc, value, &at, warnings) {
            Ok(rc) => rc,
            Err((path, message)) => {
                // Relative to the offering, whose name the caller adds.
                let inner = path
                    .strip_prefix(&format!("offerings[{index}]."))
                    .unwrap_or(&path)
                    .to_string();
                p.push(format!("`{inner}`: {message}"));
                continue;
            }
        };
        let default_usage = plugin
            .filter(|_| rc.accounting_type.eq_ignore_ascii_case("usage"))
            .and_then(|pl| pl.default_usage(rc.backend_name.as_deref()));
        if let Some(c) = validate_component(key, &rc, &series_sources, default_usage, p) {
            components.insert(key.clone(), c);
        }
    }

    let backend = plugin.and_then(|pl| match pl.configure(&ro.backend_settings) {
        Ok(s) => Some(s),
        Err(errs) => {
            p.extend(errs.into_iter().map(|e| format!("backend_settings: {e}")));
            None
        }
    });
    if let Some(b) = &backend {
        warnings.extend(b.notes().into_iter().map(|n| format!("{label}: {n}")));
    }
    for key in ro.backend_settings.keys() {
        let Some(pl) = plugin else { break };
        let k = key.as_str();
        if pl.legacy_keys().contains(&k) {
            warnings.push(format!(
                "{label}: `backend_settings.{k}` is a legacy setting of an older plugin and has no effect"
            ));
        } else if !pl.known_keys().contains(&k) && !CORE_SETTINGS.contains(&k) {
            warnings.push(format!(
                "{label}: `backend_settings.{k}`: unknown key, ignored"
            ));
        }
    }
    if plugin.is_some() {
        match storage_component(&components) {
            Some((key, c)) => match c.unit_factor {
                Some(f) if f > 1.0 && f.is_finite() => {}
                Some(f) => p.push(format!(
                    "`backend_components.{key}.unit_factor`: must be greater than 1 for the storage component (bytes per GB, e.g. 1000000000), not {f}; at 1 a 5 GB ceiling would be 5 bytes"
                )),
                None => p.push(format!(
                    "`backend_components.{key}.unit_factor`: is required for the storage component (bytes per GB, e.g. 1000000000)"
                )),
            },
            None => warnings.push(format!(
                "{label}: no storage component (`backend_name: storage`): orders get no storage quota and storage is not billed"
            )),
        }
    }
    reporting_components(
        &mut components,
        reporting_backend.as_deref(),
        &series_names,
        backend.as_ref(),
        p,
        warnings,
        label,
    );

    Some(Offering {
        name: ro.name.clone(),
        api_base: api_base(&api_url),
        api_url,
        auth: auth?,
        offering_uuid: offering_uuid?,
        backend_type,
        order_processing_backend,
        membership_sync_backend,
        reporting_backend,
        components,
        backend: backend?,
        stomp_enabled: ro.stomp_enabled,
        stomp: ro.stomp_enabled.then(|| stomp_settings(ro)).flatten(),
        verify_ssl: ro.verify_ssl,
        adopt_legacy_users: ro.adopt_legacy_users,
        // Waldur clients use `global_proxy`; backends have their own `proxy_url`.
        proxy: global_proxy.clone(),
        waldur_timeout: std::time::Duration::from_secs(60),
    })
}

fn waldur_auth(ro: &RawOffering, p: &mut Vec<String>) -> Option<WaldurAuth> {
    let file = ro
        .waldur_api_token_file
        .as_deref()
        .filter(|s| !s.is_empty());
    let cred = ro
        .waldur_api_token_credential
        .as_deref()
        .filter(|s| !s.is_empty());
    let inline = Some(ro.waldur_api_token.as_str()).filter(|s| !s.is_empty());
    if [inline.is_some(), file.is_some(), cred.is_some()]
        .iter()
        .filter(|b| **b)
        .count()
        > 1
    {
        p.push("set only one of `waldur_api_token`, `waldur_api_token_file` and `waldur_api_token_credential`".into());
        return None;
    }
    let token = if let Some(t) = inline {
        Some(SecretString::from(t.to_string()))
    } else if let Some(path) = file {
        read_secret_file(std::path::Path::new(path), "waldur_api_token_file", p)
    } else if let Some(name) = cred {
        read_credential(
            name,
            "waldur_api_token_credential",
            std::env::var_os("CREDENTIALS_DIRECTORY"),
            p,
        )
    } else {
        None
    };
    if let Some(t) = token {
        return Some(WaldurAuth::Token(t));
    }
    if inline.is_some() || file.is_some() || cred.is_some() {
        return None; // the file problem is already reported
    }
    let url = ro.oidc_token_url.as_deref().filter(|s| !s.is_empty());
    let id = ro.oidc_client_id.as_deref().filter(|s| !s.is_empty());
    // The client secret may come inline, from a file or from a systemd credential, like
    // every other secret.
    let mut secret_map = Map::new();
    for (k, v) in [
        ("oidc_client_secret", &ro.oidc_client_secret),
        ("oidc_client_secret_file", &ro.oidc_client_secret_file),
        (
            "oidc_client_secret_credential",
            &ro.oidc_client_secret_credential,
        ),
    ] {
        if let Some(v) = v.as_deref().filter(|s| !s.is_empty()) {
            secret_map.insert(k.into(), Value::String(v.into()));
        }
    }
    let secret_given = !secret_map.is_empty();
    let secret = site_agent_sdk::settings::secret_setting(&secret_map, "oidc_client_secret", p);
    if secret_given && secret.is_none() {
        return None; // the problem is already reported
    }
    match (url, id, secret) {
        (Some(u), Some(i), Some(s)) => {
            if !is_http_url(u) {
                p.push(format!("`oidc_token_url`: {u:?} must be an http(s) URL"));
                return None;
            }
            Some(WaldurAuth::Oidc {
                token_url: u.to_string(),
                client_id: i.to_string(),
                client_secret: s,
            })
        }
        (None, None, None) => {
            p.push("`waldur_api_token` is required (or `waldur_api_token_file`, `waldur_api_token_credential`, or all of `oidc_token_url`, `oidc_client_id`, `oidc_client_secret`)".into());
            None
        }
        _ => {
            p.push("OIDC needs all three of `oidc_token_url`, `oidc_client_id` and `oidc_client_secret`".into());
            None
        }
    }
}

/// Decides which components are reported and checks that the reporting role makes sense.
fn reporting_components(
    components: &mut BTreeMap<String, Component>,
    reporting_backend: Option<&str>,
    series_names: &[&str],
    backend: Option<&BackendConfig>,
    p: &mut Vec<String>,
    warnings: &mut Vec<String>,
    label: &str,
) {
    let keeps_series = backend.is_some_and(|b| b.capabilities().metered_series);
    let by_series = reporting_backend.is_some_and(|r| series_names.contains(&r));
    // Drop-in for an upstream reporting backend that billed from the backend's own series:
    // GB-days of the storage component from that series, as the Python agent
    // reported them (so the month so far is not billed lower).
    if by_series && components.values().all(|c| c.usage.is_none()) {
        let key = storage_component(components).map(|(k, _)| k.to_string());
        if let Some(c) = key.and_then(|k| components.get_mut(&k)) {
            c.usage = Some(UsageKind::GbDays);
            c.usage_source = UsageSource::MeteredSeries;
        }
    }
    let reported: Vec<(String, Component)> = components
        .iter()
        .filter(|(_, c)| c.usage.is_some())
        .map(|(k, c)| (k.clone(), c.clone()))
        .collect();
    match reporting_backend {
        None if !reported.is_empty() => warnings.push(format!(
            "{label}: components with `usage:` are not reported because `reporting_backend` is not set"
        )),
        Some(r) if reported.is_empty() && !by_series => warnings.push(format!(
            "{label}: `reporting_backend: {r}` with no component that has `usage:` reports nothing"
        )),
        Some(_) if reported.is_empty() => p.push(
            "`reporting_backend` is set but no component says how it is billed: add `usage: gb_days` (or storage_latest, storage_peak, objects_latest, objects_peak) to a component".into(),
        ),
        _ => {}
    }
    if let Some(r) = reporting_backend.filter(|_| by_series && !keeps_series) {
        p.push(format!(
            "`reporting_backend: {r}` bills from the backend's own usage series, which these `backend_settings` do not provide"
        ));
    }
    for (key, c) in &reported {
        if c.usage_source == UsageSource::MeteredSeries && !keeps_series {
            p.push(format!(
                "`backend_components.{key}.usage_source`: the backend keeps no usage series of its own with these `backend_settings`"
            ));
        }
    }
}

/// The unit a component is published with when the config names none.
fn default_unit(backend_name: Option<&str>) -> &'static str {
    match backend_name {
        Some("storage") => "GB",
        Some("objects") => "objects",
        _ => "units",
    }
}

fn validate_component(
    key: &str,
    rc: &RawComponent,
    series_sources: &[&str],
    default_usage: Option<&str>,
    p: &mut Vec<String>,
) -> Option<Component> {
    let at = rc.accounting_type.to_lowercase();
    let mut ok = true;
    if !["usage", "limit", "one"].contains(&at.as_str()) {
        p.push(format!(
            "`backend_components.{key}.accounting_type`: {:?} must be one of usage, limit, one",
            rc.accounting_type
        ));
        ok = false;
    }
    if !key
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_-/:".contains(c))
        || key.is_empty()
        || key.len() > 50
    {
        p.push(format!("`backend_components.{key}`: a component type may only use A-Z, a-z, 0-9, _ - / : (at most 50)"));
        ok = false;
    }
    for (name, v) in [
        ("unit_factor", rc.unit_factor),
        ("unit_factor_reporting", rc.unit_factor_reporting),
    ] {
        if let Some(f) = v
            && !(f > 0.0 && f.is_finite())
        {
            p.push(format!(
                "`backend_components.{key}.{name}`: must be a positive number, not {f}"
            ));
            ok = false;
        }
    }
    let enforce_limits = match rc.extra.get("enforce_limits") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(other) => {
            p.push(format!(
                "`backend_components.{key}.enforce_limits`: must be true or false, not {other}"
            ));
            ok = false;
            None
        }
    };
    let usage = match rc.usage.as_deref().or(default_usage) {
        None => None,
        Some(u) => match UsageKind::parse(u) {
            Some(k) => Some(k),
            None => {
                p.push(format!(
                    "`backend_components.{key}.usage`: {u:?} must be one of {}",
                    UsageKind::NAMES
                ));
                ok = false;
                None
            }
        },
    };
    if let Some(kind) = usage {
        if at == "one" {
            p.push(format!("`backend_components.{key}.usage`: a one-time (`accounting_type: one`) component has no usage to report"));
            ok = false;
        }
        if kind.is_storage() {
            match rc.unit_factor {
                Some(f) if f > 1.0 && f.fract() == 0.0 && f <= 1e15 => {}
                Some(f) => {
                    p.push(format!("`backend_components.{key}.unit_factor`: `usage: {}` needs a whole number of bytes per unit above 1 (e.g. 1000000000), not {f}", kind.name()));
                    ok = false;
                }
                None => {
                    p.push(format!("`backend_components.{key}.unit_factor`: is required with `usage: {}` (bytes per unit, e.g. 1000000000)", kind.name()));
                    ok = false;
                }
            }
        }
    }
    let usage_source = match rc.usage_source.as_deref() {
        None | Some("samples") => UsageSource::Samples,
        Some(s) if s == "metered_series" || series_sources.contains(&s) => {
            if usage == Some(UsageKind::GbDays) {
                UsageSource::MeteredSeries
            } else {
                p.push(format!(
                    "`backend_components.{key}.usage_source`: {s} only feeds `usage: gb_days`"
                ));
                ok = false;
                UsageSource::Samples
            }
        }
        Some(other) => {
            p.push(format!(
                "`backend_components.{key}.usage_source`: {other:?} must be samples or metered_series{}",
                series_sources.iter().map(|s| format!(" (or {s})")).collect::<String>()
            ));
            ok = false;
            UsageSource::Samples
        }
    };
    ok.then(|| Component {
        usage,
        usage_source,
        accounting_type: at,

        // Only `load-components` publishes these; older plugins' configs leave them out.
        measured_unit: rc
            .measured_unit
            .clone()
            .unwrap_or_else(|| default_unit(rc.backend_name.as_deref()).into()),
        label: rc.label.clone().unwrap_or_else(|| key.to_string()),
        unit_factor: rc.unit_factor,
        backend_name: rc.backend_name.clone(),
        limit: rc.limit,
        enforce_limits,
        extra: rc.extra.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::api_base;

    #[test]
    fn api_base_removes_only_the_api_suffix() {
        assert_eq!(api_base("https://waldur.ai/api/"), "https://waldur.ai");
        assert_eq!(
            api_base("https://waldur.example/api"),
            "https://waldur.example"
        );
        assert_eq!(
            api_base("https://x.org/prefix/api/"),
            "https://x.org/prefix"
        );
        assert_eq!(api_base("http://127.0.0.1:8080/"), "http://127.0.0.1:8080");
    }
}
