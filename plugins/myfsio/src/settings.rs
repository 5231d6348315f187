//! `backend_settings` of a myfsio offering: parsed, validated, secrets redacted.

use secrecy::SecretString;
use serde_json::{Map, Value};
use site_agent_sdk::settings::{
    Problems, STORE_KEYS, StoreSettings, admin_key_pair, bool_setting, http_url, number_in_range,
    refuse_foreign, string_setting,
};

/// Which MyFSIO line the offering runs, or `Auto`: found at each ping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GenerationSetting {
    Auto,
    /// v0.4.x, Python/Flask: admin routes under `/admin`, console under `/ui`.
    V04,
    /// v0.5.x, Rust: admin routes under `/myfsio/admin`, console login at `/login`.
    V05,
}

#[derive(Clone)]
pub struct MyfsioSettings {
    /// Endpoint tenants use, region, uid naming, purge and HTTP: shared with every store backend.
    pub store: StoreSettings,
    /// Where the agent reaches MyFSIO's API (S3 and admin routes); the S3 endpoint by default.
    pub api_url: String,
    /// The web console (v0.4: the UI process; v0.5: the `UI_PORT` listener, 5100 by default).
    pub console_url: String,
    /// An admin key pair (a policy on bucket `*` with action `*`): `ADMIN_ACCESS_KEY` and
    /// `ADMIN_SECRET_KEY` of a fresh install.
    pub admin_access_key: String,
    pub admin_secret_key: SecretString,
    pub generation: GenerationSetting,
    /// Bill every kept version (listed over S3) instead of the live objects MyFSIO counts.
    pub bill_versions: bool,
    /// The bucket quota set when an order names no storage limit (usage is read from the
    /// quota, so one is always set).
    pub default_quota_bytes: u64,
    /// v0.4 only: seconds a console write waits after the agent's last admin-route write (the
    /// console process re-reads `iam.json` only after its cache expires; a write from a stale
    /// copy would undo the admin write).
    pub console_settle_seconds: f64,
    /// How keys are made: `admin` (admin routes, two per resource) or `console` (one per
    /// resource through the console, for v0.5 with an encrypted IAM file).
    pub key_mode: crate::ops::KeyMode,
}

impl std::fmt::Debug for MyfsioSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MyfsioSettings")
            .field("store", &self.store)
            .field("api_url", &self.api_url)
            .field("console_url", &self.console_url)
            .field("admin_access_key", &self.admin_access_key)
            .field("admin_secret_key", &"[REDACTED]")
            .field("generation", &self.generation)
            .field("bill_versions", &self.bill_versions)
            .field("default_quota_bytes", &self.default_quota_bytes)
            .field("key_mode", &self.key_mode)
            .finish()
    }
}

const OWN_KEYS: &[&str] = &[
    "api_url",
    "console_url",
    "admin_access_key",
    "admin_secret_key",
    "admin_secret_key_file",
    "admin_secret_key_credential",
    "generation",
    "bill_versions",
    "default_quota_bytes",
    "console_settle_seconds",
    "key_mode",
];

/// Settings of other backends that would silently do nothing here: refused by name.
const FOREIGN_KEYS: &[&str] = &[
    "flavour",
    "token",
    "token_file",
    "token_credential",
    "username",
    "password",
    "password_file",
    "password_credential",
    "admin_path",
    "iam_endpoint",
    "management_url",
    "namespace",
    "admin_host",
    "admin_user",
];

/// 1 PiB: what "no limit" becomes.
pub const DEFAULT_QUOTA_BYTES: u64 = 1 << 50;
/// MyFSIO v0.4's IAM cache (5 s) plus its stat interval (2 s) and a margin: up to ~7 s
/// were measured before a process saw the other's write.
const DEFAULT_SETTLE: f64 = 8.0;

/// Every key this plugin reads.
pub fn known_keys() -> &'static [&'static str] {
    static ALL: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    ALL.get_or_init(|| OWN_KEYS.iter().chain(STORE_KEYS).copied().collect())
        .as_slice()
}

impl MyfsioSettings {
    /// Parses and validates; every problem names its key.
    pub fn from_map(map: &Map<String, Value>) -> Result<Self, Problems> {
        let mut p = Problems::new();
        refuse_foreign(map, FOREIGN_KEYS, "myfsio", &mut p);
        // MyFSIO takes the region from the client's credential scope; its default is this.
        let store = StoreSettings::from_map(map, "us-east-1", "slug", &mut p);
        let api_url = http_url(map, "api_url", &mut p).unwrap_or_else(|| store.s3_endpoint.clone());
        let before = p.len();
        let console_url = http_url(map, "console_url", &mut p).unwrap_or_else(|| {
            if p.len() == before {
                p.push("`console_url` is required: MyFSIO's web console (users are made and removed there; v0.5 listens on UI_PORT, 5100 by default)".into());
            }
            String::new()
        });
        let (admin_access_key, admin_secret_key) = admin_key_pair(
            map,
            "an admin key pair (MyFSIO's ADMIN_ACCESS_KEY/ADMIN_SECRET_KEY, or a user with action * on bucket *)",
            &mut p,
        );
        let generation = match string_setting(map, "generation", &mut p).as_deref() {
            None | Some("auto") | Some("") => GenerationSetting::Auto,
            Some("0.4" | "v0.4" | "python") => GenerationSetting::V04,
            Some("0.5" | "v0.5" | "rust") => GenerationSetting::V05,
            Some(other) => {
                p.push(format!(
                    "`generation`: {other:?} is not one of auto, 0.4 (Python), 0.5 (Rust)"
                ));
                GenerationSetting::Auto
            }
        };
        let bill_versions = bool_setting(map, "bill_versions", false, &mut p);
        let default_quota_bytes = match map.get("default_quota_bytes") {
            None | Some(Value::Null) => DEFAULT_QUOTA_BYTES,
            Some(v) => match v.as_u64() {
                Some(n) if n > 0 => n,
                _ => {
                    p.push(format!(
                        "`default_quota_bytes` must be a whole number of bytes above 0, not {v}"
                    ));
                    DEFAULT_QUOTA_BYTES
                }
            },
        };
        let console_settle_seconds = number_in_range(
            map,
            "console_settle_seconds",
            DEFAULT_SETTLE,
            (0.0, 60.0),
            &mut p,
        );
        let key_mode = match string_setting(map, "key_mode", &mut p).as_deref() {
            None | Some("") | Some("admin") => crate::ops::KeyMode::Admin,
            Some("console") => crate::ops::KeyMode::Console,
            Some(other) => {
                p.push(format!(
                    "`key_mode`: {other:?} is not one of admin (keys through the admin routes, two per resource) or console (one key per resource through the console; for v0.5 with an encrypted IAM file)"
                ));
                crate::ops::KeyMode::Admin
            }
        };
        if !p.is_empty() {
            return Err(p);
        }
        Ok(Self {
            key_mode,
            store,
            api_url,
            console_url,
            admin_access_key,
            admin_secret_key,
            generation,
            bill_versions,
            default_quota_bytes,
            console_settle_seconds,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<MyfsioSettings, Problems> {
        MyfsioSettings::from_map(v.as_object().unwrap())
    }

    #[test]
    fn minimal_and_defaults() {
        let s = parse(json!({"s3_endpoint": "https://s3.example.org/",
            "console_url": "http://127.0.0.1:5100", "admin_access_key": "AK",
            "admin_secret_key": "SK"}))
        .unwrap();
        assert_eq!(
            s.api_url, "https://s3.example.org",
            "the API is the S3 endpoint"
        );
        assert_eq!(s.generation, GenerationSetting::Auto);
        assert_eq!(s.default_quota_bytes, DEFAULT_QUOTA_BYTES);
        assert!(!s.bill_versions);
        assert_eq!(s.store.s3_region, "us-east-1");
    }

    #[test]
    fn problems_name_their_keys() {
        let all = parse(json!({"flavour": "radosgw", "s3_endpoint": "http://s",
            "generation": "0.9", "default_quota_bytes": -1, "bill_versions": "maybe",
            "key_mode": "both"}))
        .unwrap_err()
        .join("\n");
        for want in [
            "`flavour`",
            "`console_url` is required",
            "`admin_access_key` and `admin_secret_key` are required",
            "`generation`: \"0.9\"",
            "`default_quota_bytes` must be",
            "`bill_versions`",
            "`key_mode`: \"both\"",
        ] {
            assert!(all.contains(want), "{want:?} missing in:\n{all}");
        }
    }

    #[test]
    fn debug_never_shows_secrets() {
        let s = parse(
            json!({"s3_endpoint": "http://s3", "console_url": "http://ui",
            "admin_access_key": "AK", "admin_secret_key": "sk-canary",
            "proxy_url": "http://p:3128", "proxy_username": "u", "proxy_password": "pw-canary"}),
        )
        .unwrap();
        let d = format!("{s:?}");
        assert!(!d.contains("sk-canary") && !d.contains("pw-canary"), "{d}");
    }
}
