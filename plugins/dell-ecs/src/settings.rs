//! `backend_settings` of a dell_ecs offering: parsed, validated, secrets redacted.

use secrecy::SecretString;
use serde_json::{Map, Value};
use site_agent_sdk::settings::{
    Problems, STORE_KEYS, StoreSettings, http_url, refuse_foreign, secret_setting, string_setting,
};

#[derive(Clone)]
pub struct EcsSettings {
    /// The public S3 URL tenants are given (`s3_endpoint`), region, naming, purge, HTTP.
    pub store: StoreSettings,
    /// The Management API (`https://node:4443`, or behind a load balancer on 443).
    pub management_url: String,
    pub username: String,
    pub password: SecretString,
    /// The namespace every resource lives in (one per environment).
    pub namespace: String,
    /// The replication group (vpool URN) buckets are made in; the namespace's default if unset.
    pub replication_group: Option<String>,
    /// The S3 URL the agent itself uses (versioning, purge); the public one if unset.
    pub s3_private_endpoint: String,
}

impl std::fmt::Debug for EcsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EcsSettings")
            .field("store", &self.store)
            .field("management_url", &self.management_url)
            .field("username", &self.username)
            .field("password", &"[REDACTED]")
            .field("namespace", &self.namespace)
            .field("replication_group", &self.replication_group)
            .field("s3_private_endpoint", &self.s3_private_endpoint)
            .finish()
    }
}

const OWN_KEYS: &[&str] = &[
    "management_url",
    "username",
    "password",
    "password_file",
    "password_credential",
    "namespace",
    "replication_group",
    "s3_private_endpoint",
];

/// Settings of other backends that would do nothing here: refused by name.
const FOREIGN_KEYS: &[&str] = &[
    "flavour",
    "api_url",
    "token",
    "admin_access_key",
    "admin_secret_key",
    "admin_path",
    "iam_endpoint",
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

/// The Management API's own port, used when `management_url` names none (ECS serves it on
/// 4443; a load balancer on 443 is written with `:443`).
pub const MANAGEMENT_PORT: u16 = 4443;

/// `url` with ECS's management port where it names no port of its own.
fn with_default_port(url: String) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url;
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    // `[v6]` has colons of its own; a port follows the bracket.
    let has_port = match authority.rfind(']') {
        Some(i) => authority[i..].contains(':'),
        None => authority.contains(':'),
    };
    if has_port {
        url
    } else {
        format!("{scheme}://{authority}:{MANAGEMENT_PORT}{path}")
    }
}

impl EcsSettings {
    pub fn from_map(map: &Map<String, Value>) -> Result<Self, Problems> {
        let mut p = Problems::new();
        refuse_foreign(map, FOREIGN_KEYS, "dell_ecs", &mut p);
        let store = StoreSettings::from_map(map, "us-east-1", "slug", &mut p);
        let before = p.len();
        let management_url = http_url(map, "management_url", &mut p).map(with_default_port).unwrap_or_else(|| {
            if p.len() == before {
                p.push("`management_url` is required: the ECS Management API (e.g. https://ecs.example:4443)".into());
            }
            String::new()
        });
        let username = string_setting(map, "username", &mut p)
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| {
                p.push("`username` is required: a management user (SYSTEM_ADMIN or NAMESPACE_ADMIN of `namespace`)".into());
                String::new()
            });
        let before = p.len();
        let password = secret_setting(map, "password", &mut p).unwrap_or_else(|| {
            if p.len() == before {
                p.push("`password` (or `password_file`, `password_credential`) is required".into());
            }
            SecretString::from(String::new())
        });
        let namespace = string_setting(map, "namespace", &mut p)
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| {
                p.push("`namespace` is required: the ECS namespace this offering's users and buckets live in".into());
                String::new()
            });
        if !namespace.is_empty()
            && site_agent_sdk::validate_identifier("namespace", &namespace).is_err()
        {
            p.push(format!(
                "`namespace` {namespace:?} may only contain A-Z, a-z, 0-9, '.', '_' and '-'"
            ));
        }
        let replication_group =
            string_setting(map, "replication_group", &mut p).filter(|s| !s.is_empty());
        let s3_private_endpoint = if map.contains_key("s3_private_endpoint") {
            http_url(map, "s3_private_endpoint", &mut p).unwrap_or_default()
        } else {
            store.s3_endpoint.clone()
        };
        if !p.is_empty() {
            return Err(p);
        }
        Ok(Self {
            store,
            management_url,
            username,
            password,
            namespace,
            replication_group,
            s3_private_endpoint,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<EcsSettings, Problems> {
        EcsSettings::from_map(v.as_object().unwrap())
    }

    #[test]
    fn minimal_settings_and_their_defaults() {
        let s = parse(json!({"management_url": "https://ecs:4443/", "username": "mgmt", "password": "pw-canary",
            "namespace": "waldur", "s3_endpoint": "https://s3.example"}))
        .unwrap();
        assert_eq!(s.management_url, "https://ecs:4443");
        assert_eq!(s.namespace, "waldur");
        assert_eq!(s.s3_private_endpoint, "https://s3.example");
        assert!(!format!("{s:?}").contains("pw-canary"));
    }

    #[test]
    fn the_management_port_defaults_to_4443_and_any_other_is_kept() {
        for (given, used) in [
            ("https://ecs.example", "https://ecs.example:4443"),
            ("https://ecs.example/", "https://ecs.example:4443"),
            ("https://lb.example:443", "https://lb.example:443"),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("https://[fd00::1]", "https://[fd00::1]:4443"),
            ("https://[fd00::1]:9443", "https://[fd00::1]:9443"),
        ] {
            let s = parse(
                json!({"management_url": given, "username": "m", "password": "p",
                "namespace": "ns", "s3_endpoint": "https://s3"}),
            )
            .unwrap();
            assert_eq!(s.management_url, used, "{given}");
        }
    }

    #[test]
    fn missing_and_foreign_settings_are_named() {
        let e = parse(json!({"api_url": "https://croit", "s3_endpoint": "https://s3"}))
            .unwrap_err()
            .join("\n");
        for k in [
            "`api_url`",
            "`management_url`",
            "`username`",
            "`password`",
            "`namespace`",
        ] {
            assert!(e.contains(k), "{k} in {e}");
        }
    }
}
