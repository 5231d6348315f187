//! `backend_settings` of a cloudian offering: the Admin API as the CloudStack connector
//! configures it (`cloudian.admin.host`, `.port`, `.protocol`, `.user`, `.password`,
//! `cloudian.validate.ssl`, `cloudian.api.request.timeout`: apache/cloudstack
//! `plugins/integrations/cloudian/.../CloudianConnector.java`), the group mapping, and the
//! console link. Secrets redacted.

use secrecy::SecretString;
use serde_json::{Map, Value};
use site_agent_sdk::settings::{
    Problems, STORE_KEYS, StoreSettings, bool_setting, http_url, number_in_range, refuse_foreign,
    secret_setting, string_setting,
};

/// Where a resource's user lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupMapping {
    /// One group for every resource of the offering.
    Fixed(String),
    /// A group per Waldur customer: `prefix` + the customer's slug, made on demand.
    PerCustomer { prefix: String },
}

#[derive(Clone)]
pub struct CloudianSettings {
    /// The S3 URL tenants are given, region, naming, purge, HTTP (TLS, timeout, proxy).
    pub store: StoreSettings,
    /// `protocol://host:port` of the Admin API.
    pub admin_url: String,
    pub admin_user: String,
    pub admin_password: SecretString,
    pub groups: GroupMapping,
    /// Remove a group the agent made once its last user is gone.
    pub remove_empty_groups: bool,
    /// A limit over each group the agent makes, in GB (whole GiB) and objects.
    pub group_storage_limit_gb: Option<u64>,
    pub group_object_limit: Option<u64>,
    /// The per-user credential maximum of the cluster (a further one is refused with 403).
    pub max_credentials: u32,
    /// The CMC for tenants, published as the resource's `console_url` (no SSO).
    pub cmc_url: Option<String>,
}

impl std::fmt::Debug for CloudianSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudianSettings")
            .field("store", &self.store)
            .field("admin_url", &self.admin_url)
            .field("admin_user", &self.admin_user)
            .field("admin_password", &"[REDACTED]")
            .field("groups", &self.groups)
            .field("remove_empty_groups", &self.remove_empty_groups)
            .field("max_credentials", &self.max_credentials)
            .field("cmc_url", &self.cmc_url)
            .finish()
    }
}

const OWN_KEYS: &[&str] = &[
    "admin_host",
    "admin_port",
    "admin_protocol",
    "admin_user",
    "admin_password",
    "admin_password_file",
    "admin_password_credential",
    "group_id",
    "group_prefix",
    "remove_empty_groups",
    "group_storage_limit_gb",
    "group_object_limit",
    "max_credentials",
    "cmc_url",
];

/// Settings of other backends that would do nothing here: refused by name.
const FOREIGN_KEYS: &[&str] = &[
    "flavour",
    "api_url",
    "token",
    "admin_access_key",
    "admin_secret_key",
    "iam_endpoint",
    "management_url",
    "namespace",
];

/// Every key this plugin reads.
pub fn known_keys() -> &'static [&'static str] {
    static ALL: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    ALL.get_or_init(|| OWN_KEYS.iter().chain(STORE_KEYS).copied().collect())
        .as_slice()
}

/// A HyperStore group id the agent may use: it holds no `.` (the uid is `<group>.<user>`).
pub fn valid_group_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
}

impl CloudianSettings {
    pub fn from_map(map: &Map<String, Value>) -> Result<Self, Problems> {
        let mut p = Problems::new();
        refuse_foreign(map, FOREIGN_KEYS, "cloudian", &mut p);
        let store = StoreSettings::from_map(map, "region1", "slug", &mut p);
        let host = string_setting(map, "admin_host", &mut p)
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| {
                p.push("`admin_host` is required: the HyperStore Admin API host (e.g. s3-admin.example.com)".into());
                String::new()
            });
        if host.contains('/') || host.contains(':') && !host.starts_with('[') {
            p.push(format!(
                "`admin_host` {host:?} is a host name, not a URL (set `admin_port` and `admin_protocol` apart)"
            ));
        }
        let protocol = string_setting(map, "admin_protocol", &mut p)
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "https".into());
        let default_port = match protocol.as_str() {
            "https" => 19443.0,
            "http" => 18081.0,
            other => {
                p.push(format!(
                    "`admin_protocol` must be \"https\" or \"http\", not {other:?}"
                ));
                19443.0
            }
        };
        let port = number_in_range(map, "admin_port", default_port, (1.0, 65535.0), &mut p);
        let admin_user = string_setting(map, "admin_user", &mut p)
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "sysadmin".into());
        let before = p.len();
        let admin_password = secret_setting(map, "admin_password", &mut p).unwrap_or_else(|| {
            if p.len() == before {
                p.push("`admin_password` (or `admin_password_file`, `admin_password_credential`) is required".into());
            }
            SecretString::from(String::new())
        });
        let fixed = string_setting(map, "group_id", &mut p).filter(|s| !s.is_empty());
        let prefix = string_setting(map, "group_prefix", &mut p);
        let groups = match (fixed, prefix) {
            (Some(_), Some(_)) => {
                p.push("`group_id` (one group) and `group_prefix` (a group per customer) contradict each other: set one".into());
                GroupMapping::PerCustomer {
                    prefix: String::new(),
                }
            }
            (Some(g), None) => {
                if !valid_group_id(&g) {
                    p.push(format!(
                        "`group_id` {g:?} may only contain A-Z, a-z, 0-9, '_' and '-' (at most 64)"
                    ));
                }
                GroupMapping::Fixed(g)
            }
            (None, prefix) => {
                let prefix = prefix.unwrap_or_else(|| "waldur-".into());
                if !prefix.is_empty() && !valid_group_id(&prefix) {
                    p.push(format!(
                        "`group_prefix` {prefix:?} may only contain A-Z, a-z, 0-9, '_' and '-'"
                    ));
                }
                GroupMapping::PerCustomer { prefix }
            }
        };
        let remove_empty_groups = bool_setting(map, "remove_empty_groups", false, &mut p);
        let limit = |key: &str, p: &mut Problems| {
            map.get(key)
                .filter(|v| !v.is_null())
                .map(|_| number_in_range(map, key, 0.0, (1.0, 1e15), p) as u64)
        };
        let group_storage_limit_gb = limit("group_storage_limit_gb", &mut p);
        let group_object_limit = limit("group_object_limit", &mut p);
        if matches!(groups, GroupMapping::Fixed(_))
            && (group_storage_limit_gb.is_some() || group_object_limit.is_some())
        {
            p.push("`group_storage_limit_gb`/`group_object_limit` apply to groups the agent makes (`group_prefix`); set a fixed group's limit in the CMC".into());
        }
        // HyperStore's default maximum is not public: the operator says what the cluster has.
        let max_credentials =
            number_in_range(map, "max_credentials", 5.0, (2.0, 100.0), &mut p) as u32;
        let cmc_url = if map.get("cmc_url").is_some_and(|v| !v.is_null()) {
            http_url(map, "cmc_url", &mut p)
        } else {
            None
        };
        if !p.is_empty() {
            return Err(p);
        }
        Ok(Self {
            store,
            admin_url: format!("{protocol}://{host}:{}", port as u16),
            admin_user,
            admin_password,
            groups,
            remove_empty_groups,
            group_storage_limit_gb,
            group_object_limit,
            max_credentials,
            cmc_url,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<CloudianSettings, Problems> {
        CloudianSettings::from_map(v.as_object().unwrap())
    }

    #[test]
    fn the_connectors_defaults_and_a_group_per_customer() {
        let s = parse(
            json!({"admin_host": "hs-admin", "admin_password": "pw-canary",
            "s3_endpoint": "https://s3.example"}),
        )
        .unwrap();
        assert_eq!(s.admin_url, "https://hs-admin:19443");
        assert_eq!(s.admin_user, "sysadmin");
        assert_eq!(
            s.groups,
            GroupMapping::PerCustomer {
                prefix: "waldur-".into()
            }
        );
        assert_eq!(s.max_credentials, 5);
        assert!(!format!("{s:?}").contains("pw-canary"));
        let http = parse(
            json!({"admin_host": "hs", "admin_protocol": "http", "admin_password": "p",
            "s3_endpoint": "https://s3", "group_id": "tenants", "cmc_url": "https://cmc:8443/"}),
        )
        .unwrap();
        assert_eq!(http.admin_url, "http://hs:18081");
        assert_eq!(http.groups, GroupMapping::Fixed("tenants".into()));
        assert_eq!(http.cmc_url.as_deref(), Some("https://cmc:8443"));
    }

    #[test]
    fn missing_contradictory_and_foreign_settings_are_named() {
        let e = parse(
            json!({"api_url": "https://croit", "s3_endpoint": "https://s3",
            "group_id": "a.b", "group_prefix": "p", "admin_protocol": "ftp"}),
        )
        .unwrap_err()
        .join("\n");
        for k in [
            "`api_url`",
            "`admin_host`",
            "`admin_password`",
            "contradict",
            "`admin_protocol`",
        ] {
            assert!(e.contains(k), "{k} in {e}");
        }
        let e = parse(
            json!({"admin_host": "https://hs:19443", "admin_password": "p",
            "s3_endpoint": "https://s3", "group_id": "a.b"}),
        )
        .unwrap_err()
        .join("\n");
        assert!(
            e.contains("is a host name, not a URL") && e.contains("`group_id`"),
            "{e}"
        );
    }
}
