//! `backend_settings` of a seaweedfs offering: parsed, validated, secrets redacted.

use secrecy::SecretString;
use serde_json::{Map, Value};
use site_agent_sdk::settings::{
    Problems, STORE_KEYS, StoreSettings, admin_key_pair, http_url, refuse_foreign,
};

#[derive(Clone)]
pub struct SeaweedSettings {
    /// Endpoint, region, uid prefix, purge and HTTP: shared with every store backend.
    pub store: StoreSettings,
    /// The IAM query API (by default on the S3 port).
    pub iam_endpoint: String,
    /// An identity with the `Admin` action (IAM writes, every bucket).
    pub admin_access_key: String,
    pub admin_secret_key: SecretString,
}

impl std::fmt::Debug for SeaweedSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeaweedSettings")
            .field("store", &self.store)
            .field("iam_endpoint", &self.iam_endpoint)
            .field("admin_access_key", &self.admin_access_key)
            .field("admin_secret_key", &"[REDACTED]")
            .finish()
    }
}

const OWN_KEYS: &[&str] = &[
    "iam_endpoint",
    "admin_access_key",
    "admin_secret_key",
    "admin_secret_key_file",
    "admin_secret_key_credential",
];

/// Settings of other backends that would silently do nothing here (a half-migrated offering):
/// refused by name.
const FOREIGN_KEYS: &[&str] = &[
    "flavour",
    "api_url",
    "token",
    "token_file",
    "token_credential",
    "username",
    "password",
    "password_file",
    "password_credential",
    "admin_path",
    "default_tenant",
    "default_placement",
    "default_storage_class",
];

/// Every key this plugin reads.
pub fn known_keys() -> &'static [&'static str] {
    static ALL: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    ALL.get_or_init(|| OWN_KEYS.iter().chain(STORE_KEYS).copied().collect())
        .as_slice()
}

impl SeaweedSettings {
    /// Parses and validates; every problem names its key.
    pub fn from_map(map: &Map<String, Value>) -> Result<Self, Problems> {
        let mut p = Problems::new();
        refuse_foreign(map, FOREIGN_KEYS, "seaweedfs", &mut p);
        // SeaweedFS accepts any region in SigV4; AWS tools default to this one.
        let store = StoreSettings::from_map(map, "us-east-1", "slug", &mut p);
        let iam_endpoint =
            http_url(map, "iam_endpoint", &mut p).unwrap_or_else(|| store.s3_endpoint.clone());
        let (admin_access_key, admin_secret_key) =
            admin_key_pair(map, "an identity with the Admin action", &mut p);
        if !p.is_empty() {
            return Err(p);
        }
        Ok(Self {
            store,
            iam_endpoint,
            admin_access_key,
            admin_secret_key,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<SeaweedSettings, Problems> {
        SeaweedSettings::from_map(v.as_object().unwrap())
    }

    #[test]
    fn minimal_and_defaults() {
        let s = parse(
            json!({"s3_endpoint": "http://127.0.0.1:8333/", "admin_access_key": "AK",
            "admin_secret_key": "SK"}),
        )
        .unwrap();
        assert_eq!(s.store.s3_endpoint, "http://127.0.0.1:8333");
        assert_eq!(
            s.iam_endpoint, "http://127.0.0.1:8333",
            "IAM on the S3 port"
        );
        assert_eq!(s.store.s3_region, "us-east-1");
        assert!(!s.store.purge_data);
        assert!(s.store.http.verify_tls);
    }

    #[test]
    fn problems_name_their_keys() {
        let all = parse(
            json!({"flavour": "radosgw", "api_url": "https://c", "iam_endpoint": "iam",
            "timeout": "x"}),
        )
        .unwrap_err()
        .join("\n");
        for want in [
            "`flavour`, `api_url`",
            "`s3_endpoint` is required",
            "`iam_endpoint` must be an http(s) URL",
            "`admin_access_key` and `admin_secret_key` are required",
            "`timeout` must be a number",
        ] {
            assert!(all.contains(want), "{want:?} missing in:\n{all}");
        }
    }

    #[test]
    fn debug_never_shows_secrets() {
        let s = parse(json!({"s3_endpoint": "http://s3", "admin_access_key": "AK",
            "admin_secret_key": "sk-canary", "proxy_url": "http://p:3128", "proxy_username": "u",
            "proxy_password": "pw-canary"}))
        .unwrap();
        let d = format!("{s:?}");
        assert!(!d.contains("sk-canary") && !d.contains("pw-canary"), "{d}");
    }
}
