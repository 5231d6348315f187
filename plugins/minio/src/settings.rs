//! `backend_settings` of a minio offering: parsed, validated, secrets redacted.

use secrecy::SecretString;
use serde_json::{Map, Value};
use site_agent_sdk::settings::{
    Problems, STORE_KEYS, StoreSettings, admin_key_pair, number_in_range, refuse_foreign,
    string_setting,
};

#[derive(Clone)]
pub struct MinioSettings {
    /// Endpoint (the S3 port, which also serves the admin API), region, naming, purge, HTTP.
    pub store: StoreSettings,
    /// The admin API version in the path: `v3` (the community server); AIStor speaks `v4`.
    pub admin_api_version: String,
    /// An admin user (or root) whose policy allows the calls in the README.
    pub admin_access_key: String,
    /// Also the key of the madmin body encryption.
    pub admin_secret_key: SecretString,
    /// How long one `datausageinfo` answer (every bucket's scanner figures) serves the usage
    /// lookups of a pass.
    pub usage_cache: std::time::Duration,
}

impl std::fmt::Debug for MinioSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MinioSettings")
            .field("store", &self.store)
            .field("admin_api_version", &self.admin_api_version)
            .field("admin_access_key", &self.admin_access_key)
            .field("admin_secret_key", &"[REDACTED]")
            .field("usage_cache", &self.usage_cache)
            .finish()
    }
}

const OWN_KEYS: &[&str] = &[
    "admin_api_version",
    "usage_cache_seconds",
    "admin_access_key",
    "admin_secret_key",
    "admin_secret_key_file",
    "admin_secret_key_credential",
];

/// Settings of other backends that would silently do nothing here: refused by name.
const FOREIGN_KEYS: &[&str] = &[
    "flavour",
    "api_url",
    "iam_endpoint",
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
    "namespace",
    "group_id",
];

/// Every key this plugin reads.
pub fn known_keys() -> &'static [&'static str] {
    static ALL: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    ALL.get_or_init(|| OWN_KEYS.iter().chain(STORE_KEYS).copied().collect())
        .as_slice()
}

impl MinioSettings {
    /// Parses and validates; every problem names its key.
    pub fn from_map(map: &Map<String, Value>) -> Result<Self, Problems> {
        let mut p = Problems::new();
        refuse_foreign(map, FOREIGN_KEYS, "minio", &mut p);
        // MinIO's default region; SigV4 must name the server's.
        let store = StoreSettings::from_map(map, "us-east-1", "slug", &mut p);
        let admin_api_version = match string_setting(map, "admin_api_version", &mut p) {
            None => "v3".to_string(),
            Some(v)
                if v.len() >= 2
                    && v.starts_with('v')
                    && v[1..].bytes().all(|b| b.is_ascii_digit()) =>
            {
                v
            }
            Some(v) => {
                p.push(format!(
                    "`admin_api_version` must look like `v3` (the community server) or `v4`, not {v:?}"
                ));
                String::new()
            }
        };
        let (admin_access_key, admin_secret_key) =
            admin_key_pair(map, "a MinIO admin user (or root)", &mut p);
        // MinIO's scanner refreshes its figures every few minutes: a pass over many resources
        // shares one answer instead of reading every bucket's figures once per resource.
        let usage_cache = std::time::Duration::from_secs_f64(number_in_range(
            map,
            "usage_cache_seconds",
            30.0,
            (0.0, 600.0),
            &mut p,
        ));
        if !p.is_empty() {
            return Err(p);
        }
        Ok(Self {
            store,
            admin_api_version,
            admin_access_key,
            admin_secret_key,
            usage_cache,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<MinioSettings, Problems> {
        MinioSettings::from_map(v.as_object().unwrap())
    }

    #[test]
    fn minimal_and_defaults() {
        let s = parse(json!({"s3_endpoint": "https://minio.example:9000/",
            "admin_access_key": "site-agent", "admin_secret_key": "SK"}))
        .unwrap();
        assert_eq!(s.store.s3_endpoint, "https://minio.example:9000");
        assert_eq!(s.admin_api_version, "v3");
        assert_eq!(s.usage_cache, std::time::Duration::from_secs(30));
        assert_eq!(s.store.s3_region, "us-east-1");
        assert!(!s.store.purge_data);
        assert!(s.store.http.verify_tls);
    }

    #[test]
    fn problems_name_their_keys() {
        let all = parse(json!({"iam_endpoint": "http://x", "admin_api_version": "3",
            "timeout": "x"}))
        .unwrap_err()
        .join("\n");
        for want in [
            "`iam_endpoint`",
            "`s3_endpoint` is required",
            "`admin_api_version` must look like `v3`",
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
