//! `backend_settings` of a ceph_s3 offering: parsed, validated, flavour-checked.

use secrecy::SecretString;
use serde_json::{Map, Value};
use site_agent_sdk::settings::{
    Problems, STORE_KEYS, StoreSettings, http_url, is_truthy, secret_setting, string_setting,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    Croit,
    Radosgw,
}

impl Flavour {
    pub fn as_str(self) -> &'static str {
        match self {
            Flavour::Croit => "croit",
            Flavour::Radosgw => "radosgw",
        }
    }
}

#[derive(Clone)]
pub enum CroitAuth {
    Token(SecretString),
    Basic {
        username: String,
        password: SecretString,
    },
}

impl std::fmt::Debug for CroitAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CroitAuth::Token(_) => f.write_str("Token([REDACTED])"),
            CroitAuth::Basic { username, .. } => write!(f, "Basic({username}, [REDACTED])"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct CroitSettings {
    pub api_url: String,
    pub auth: CroitAuth,
    pub default_tenant: Option<String>,
    pub default_storage_class: Option<String>,
}

#[derive(Clone)]
pub struct RadosgwSettings {
    pub admin_access_key: String,
    pub admin_secret_key: SecretString,
    pub admin_path: String,
}

impl std::fmt::Debug for RadosgwSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RadosgwSettings")
            .field("admin_access_key", &self.admin_access_key)
            .field("admin_secret_key", &"[REDACTED]")
            .field("admin_path", &self.admin_path)
            .finish()
    }
}

/// Which plugin's configuration this is: `ceph_s3`, or the older `croit_s3` (croit only,
/// users named as that plugin named them, its components billed as it billed them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    CephS3,
    CroitS3,
}

impl Dialect {
    pub fn name(self) -> &'static str {
        match self {
            Dialect::CephS3 => "ceph_s3",
            Dialect::CroitS3 => "croit_s3",
        }
    }
}

#[derive(Debug, Clone)]
pub struct CephS3Settings {
    pub dialect: Dialect,
    pub flavour: Flavour,
    /// Endpoint, region, uid prefix, purge and HTTP: shared with every store backend.
    pub store: StoreSettings,
    pub default_placement: Option<String>,
    pub croit: Option<CroitSettings>,
    pub radosgw: Option<RadosgwSettings>,
}

/// Keys this plugin reads besides [`STORE_KEYS`] (the agent warns about keys nobody reads).
const OWN_KEYS: &[&str] = &[
    "flavour",
    "api_url",
    "token",
    "token_file",
    "token_credential",
    "username",
    "password",
    "password_file",
    "password_credential",
    "admin_access_key",
    "admin_secret_key",
    "admin_secret_key_file",
    "admin_secret_key_credential",
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

const CROIT_ONLY: &[&str] = &[
    "api_url",
    "username",
    "password",
    "token",
    "default_tenant",
    "default_storage_class",
];
const RADOSGW_ONLY: &[&str] = &["admin_access_key", "admin_secret_key", "admin_path"];

impl CephS3Settings {
    /// Parses and validates `ceph_s3` settings; every problem names its key.
    pub fn from_map(map: &Map<String, Value>) -> Result<Self, Problems> {
        Self::from_map_as(map, Dialect::CephS3)
    }

    /// As [`Self::from_map`], for the given plugin's configuration.
    pub fn from_map_as(map: &Map<String, Value>, dialect: Dialect) -> Result<Self, Problems> {
        let mut p = Problems::new();
        let mut notes = Vec::new();
        let mut owned;
        let mut map = map;
        if dialect == Dialect::CroitS3 {
            if string_setting(map, "flavour", &mut p)
                .is_some_and(|f| !f.eq_ignore_ascii_case("croit"))
            {
                p.push("`flavour`: `backend_type: croit_s3` speaks croit's API only; for RGW Admin Ops use `backend_type: ceph_s3` with `flavour: radosgw`".into());
            }
            // croit-s3 told tenants the croit host (its `api_url`) as their S3 endpoint.
            if !map.contains_key("s3_endpoint")
                && let Some(api) = map.get("api_url").and_then(Value::as_str)
            {
                notes.push(format!(
                    "`backend_settings.s3_endpoint` is not set: tenants are told {:?} (the croit `api_url`, as the croit-s3 plugin did); set `s3_endpoint` to the S3 gateway's URL if that is another host",
                    api.trim_end_matches('/')
                ));
                owned = map.clone();
                owned.insert("s3_endpoint".into(), Value::String(api.to_string()));
                map = &owned;
            }
        }
        let flavour = match string_setting(map, "flavour", &mut p)
            .map(|s| s.to_lowercase())
            .as_deref()
        {
            None | Some("croit") => Flavour::Croit,
            Some("radosgw") => Flavour::Radosgw,
            Some(other) => {
                p.push(format!(
                    "`flavour` must be `croit` or `radosgw`, not {other:?}"
                ));
                Flavour::Croit
            }
        };
        // A half-migrated offering could otherwise authenticate somewhere unintended.
        let foreign = if flavour == Flavour::Croit {
            RADOSGW_ONLY
        } else {
            CROIT_ONLY
        };
        let mixed: Vec<&str> = foreign
            .iter()
            .flat_map(|k| {
                [
                    k.to_string(),
                    format!("{k}_file"),
                    format!("{k}_credential"),
                ]
            })
            .filter(|k| is_truthy(map, k))
            .filter_map(|k| foreign.iter().find(|f| k.starts_with(**f)).copied())
            .collect();
        if !mixed.is_empty() {
            p.push(format!(
                "settings of the other flavour are not allowed with `flavour: {}`: {}",
                flavour.as_str(),
                mixed
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }

        let naming = match dialect {
            Dialect::CephS3 => "slug",
            Dialect::CroitS3 => "croit_s3",
        };
        let mut store = StoreSettings::from_map(map, "default", naming, &mut p);
        store.notes.extend(notes);
        let default_placement =
            string_setting(map, "default_placement", &mut p).filter(|s| !s.is_empty());

        let (croit, radosgw) = match flavour {
            Flavour::Croit => (croit_settings(map, &mut p), None),
            Flavour::Radosgw => (None, radosgw_settings(map, &mut p)),
        };
        if !p.is_empty() {
            return Err(p);
        }
        Ok(Self {
            dialect,
            flavour,
            store,
            default_placement,
            croit,
            radosgw,
        })
    }
}

fn croit_settings(map: &Map<String, Value>, p: &mut Problems) -> Option<CroitSettings> {
    let before = p.len();
    let Some(api_url) = http_url(map, "api_url", p) else {
        if p.len() == before {
            p.push("`api_url` is required for the croit flavour (the croit management URL)".into());
        }
        return None;
    };
    let before = p.len();
    let token = secret_setting(map, "token", p);
    let username = string_setting(map, "username", p).filter(|s| !s.is_empty());
    let password = secret_setting(map, "password", p);
    let auth = match (token, username, password) {
        (Some(t), _, _) => CroitAuth::Token(t),
        (None, Some(username), Some(password)) => CroitAuth::Basic { username, password },
        // An unreadable token file is already reported; do not pile on.
        _ if p.len() > before => return None,
        _ => {
            p.push(
                "croit credentials are required: set `token`, or both `username` and `password`"
                    .into(),
            );
            return None;
        }
    };
    Some(CroitSettings {
        api_url,
        auth,
        default_tenant: string_setting(map, "default_tenant", p).filter(|s| !s.is_empty()),
        default_storage_class: string_setting(map, "default_storage_class", p)
            .filter(|s| !s.is_empty()),
    })
}

fn radosgw_settings(map: &Map<String, Value>, p: &mut Problems) -> Option<RadosgwSettings> {
    let access = string_setting(map, "admin_access_key", p).filter(|s| !s.is_empty());
    let secret = secret_setting(map, "admin_secret_key", p);
    let admin_path = string_setting(map, "admin_path", p)
        .map(|s| s.trim_matches('/').to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "admin".into());
    match (access, secret) {
        (Some(admin_access_key), Some(admin_secret_key)) => Some(RadosgwSettings {
            admin_access_key,
            admin_secret_key,
            admin_path,
        }),
        _ => {
            p.push(
                "`admin_access_key` and `admin_secret_key` are required for the radosgw flavour"
                    .into(),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<CephS3Settings, Problems> {
        CephS3Settings::from_map(v.as_object().unwrap())
    }

    #[test]
    fn croit_minimal() {
        let s = parse(json!({"api_url": "https://croit.local/", "token": "t", "s3_endpoint": "https://s3.local/"})).unwrap();
        assert_eq!(s.flavour, Flavour::Croit);
        assert_eq!(s.store.s3_endpoint, "https://s3.local");
        assert_eq!(s.store.s3_region, "default");
        assert_eq!(s.croit.unwrap().api_url, "https://croit.local");
        assert!(s.store.http.verify_tls);
    }

    #[test]
    fn flavour_mixing_is_refused_by_name() {
        let e = parse(
            json!({"api_url": "https://c", "token": "t", "s3_endpoint": "https://s3",
            "admin_access_key": "AK", "admin_path": "adm"}),
        )
        .unwrap_err();
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].contains("`admin_access_key`") && e[0].contains("`admin_path`"),
            "{e:?}"
        );
        let e = parse(
            json!({"flavour": "RadosGW", "admin_access_key": "AK", "admin_secret_key": "S",
            "s3_endpoint": "https://s3", "token": "t", "default_tenant": "x"}),
        )
        .unwrap_err();
        assert!(
            e[0].contains("`token`") && e[0].contains("`default_tenant`"),
            "{e:?}"
        );
    }

    #[test]
    fn missing_and_bad_values_name_keys() {
        let e =
            parse(json!({"flavour": "minio", "api_url": "croit", "verify_ssl": "no"})).unwrap_err();
        let all = e.join("\n");
        assert!(
            all.contains("`flavour` must be `croit` or `radosgw`"),
            "{all}"
        );
        assert!(all.contains("`s3_endpoint` is required"), "{all}");
        assert!(all.contains("`api_url` must be an http(s) URL"), "{all}");
        assert!(all.contains("`verify_ssl` must be true or false"), "{all}");
        let e =
            parse(json!({"api_url": "https://c", "s3_endpoint": "https://s3", "username": "u"}))
                .unwrap_err();
        assert!(e[0].contains("set `token`, or both `username` and `password`"));
    }

    #[test]
    fn debug_never_shows_secrets() {
        let s = parse(
            json!({"api_url": "https://c", "token": "tok-canary", "s3_endpoint": "https://s3",
            "proxy_url": "http://p:3128", "proxy_username": "u", "proxy_password": "pw-canary"}),
        )
        .unwrap();
        let d = format!("{s:?}");
        assert!(!d.contains("tok-canary") && !d.contains("pw-canary"), "{d}");
    }
}
