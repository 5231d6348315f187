//! Helpers for reading plugin settings (`backend_settings` maps) with messages that name the key.

use crate::http::{HttpConfig, ProxyConfig};
use secrecy::SecretString;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Problems found while reading settings; each message names the key.
pub type Problems = Vec<String>;

/// Reads a secret that may be given inline (`key`), from a file (`key_file`), or from a systemd
/// credential (`key_credential`, read from `$CREDENTIALS_DIRECTORY`). Exactly one may be set.
pub fn secret_setting(
    map: &Map<String, Value>,
    key: &str,
    problems: &mut Problems,
) -> Option<SecretString> {
    let file_key = format!("{key}_file");
    let cred_key = format!("{key}_credential");
    let inline = string_setting(map, key, problems).filter(|s| !s.is_empty());
    let file = string_setting(map, &file_key, problems).filter(|s| !s.is_empty());
    let cred = string_setting(map, &cred_key, problems).filter(|s| !s.is_empty());
    let given = [inline.is_some(), file.is_some(), cred.is_some()]
        .iter()
        .filter(|b| **b)
        .count();
    if given > 1 {
        problems.push(format!(
            "set only one of `{key}`, `{file_key}` and `{cred_key}`"
        ));
        return None;
    }
    if let Some(v) = inline {
        return Some(SecretString::from(v));
    }
    if let Some(path) = file {
        return read_secret_file(Path::new(&path), &file_key, problems);
    }
    if let Some(name) = cred {
        return read_credential(
            &name,
            &cred_key,
            std::env::var_os("CREDENTIALS_DIRECTORY"),
            problems,
        );
    }
    None
}

/// Reads a systemd credential by name from the given credentials directory.
pub fn read_credential(
    name: &str,
    key: &str,
    dir: Option<std::ffi::OsString>,
    problems: &mut Problems,
) -> Option<SecretString> {
    if name.contains('/') || name == ".." || name == "." {
        problems.push(format!("`{key}`: {name:?} is not a credential name"));
        return None;
    }
    let Some(dir) = dir else {
        problems.push(format!(
            "`{key}`: CREDENTIALS_DIRECTORY is not set (use LoadCredential= in the systemd unit)"
        ));
        return None;
    };
    read_secret_file(&PathBuf::from(dir).join(name), key, problems)
}

/// Reads a secret from a file, trimming one trailing newline; the error names the key and path
/// but never the content.
pub fn read_secret_file(path: &Path, key: &str, problems: &mut Problems) -> Option<SecretString> {
    match std::fs::read_to_string(path) {
        Ok(s) => {
            let s = s.trim_end_matches(['\n', '\r']).to_string();
            if s.is_empty() {
                problems.push(format!("`{key}`: {} is empty", path.display()));
                None
            } else {
                Some(SecretString::from(s))
            }
        }
        Err(e) => {
            problems.push(format!("`{key}`: cannot read {}: {e}", path.display()));
            None
        }
    }
}

/// The settings every object-store backend shares: where tenants connect, how uids are
/// named, whether Terminate purges, and how backend HTTP goes out.
#[derive(Debug, Clone)]
pub struct StoreSettings {
    pub s3_endpoint: String,
    pub s3_region: String,
    /// How users are named.
    pub naming: crate::naming::NamingPolicy,
    /// Terminate removes the tenant's data too (explicit opt-in).
    pub purge_data: bool,
    pub http: HttpConfig,
    /// Settings that are accepted but do nothing here (shown as warnings).
    pub notes: Vec<String>,
}

/// The keys [`StoreSettings`] reads.
pub const STORE_KEYS: &[&str] = &[
    "s3_endpoint",
    "s3_region",
    "verify_ssl",
    "timeout",
    "allocation_prefix",
    "naming_policy",
    "user_prefix",
    "slug_separator",
    "max_username_length",
    "purge_data",
    "proxy_url",
    "proxy_username",
    "proxy_password",
    "proxy_password_file",
    "proxy_password_credential",
];

/// Backend request timeout bounds, in seconds.
const TIMEOUT_RANGE: (f64, f64) = (0.5, 600.0);

impl StoreSettings {
    /// Reads the shared keys; `default_region` when `s3_region` is unset, `default_naming`
    /// when `naming_policy` is.
    pub fn from_map(
        map: &Map<String, Value>,
        default_region: &str,
        default_naming: &str,
        p: &mut Problems,
    ) -> Self {
        let before = p.len();
        let s3_endpoint = http_url(map, "s3_endpoint", p).unwrap_or_else(|| {
            if p.len() == before {
                p.push("`s3_endpoint` is required: the S3 URL tenants connect to".into());
            }
            String::new()
        });
        let s3_region = string_setting(map, "s3_region", p)
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| default_region.into());
        let mut notes = Vec::new();
        let naming = crate::naming::NamingPolicy::from_map(map, default_naming, p, &mut notes);
        let purge_data = bool_setting(map, "purge_data", false, p);
        let verify = bool_setting(map, "verify_ssl", true, p);
        let timeout = number_in_range(map, "timeout", 30.0, TIMEOUT_RANGE, p);
        let proxy = proxy_settings(map, p);
        Self {
            s3_endpoint,
            s3_region,
            naming,
            purge_data,
            http: HttpConfig {
                timeout: Duration::from_secs_f64(timeout),
                verify_tls: verify,
                proxy,
                ..HttpConfig::default()
            },
            notes,
        }
    }

    /// What tenants are told (resource metadata).
    pub fn connection(&self) -> crate::ConnectionInfo {
        crate::ConnectionInfo {
            s3_endpoint: self.s3_endpoint.clone(),
            s3_region: self.s3_region.clone(),
            console_url: None,
        }
    }
}

/// The `admin_access_key` / `admin_secret_key` pair (the secret also from `_file` or
/// `_credential`); both are required, `what` says what kind of identity it must be.
pub fn admin_key_pair(
    map: &Map<String, Value>,
    what: &str,
    p: &mut Problems,
) -> (String, SecretString) {
    let access = string_setting(map, "admin_access_key", p).filter(|s| !s.is_empty());
    let secret = secret_setting(map, "admin_secret_key", p);
    match (access, secret) {
        (Some(a), Some(s)) => (a, s),
        _ => {
            p.push(format!(
                "`admin_access_key` and `admin_secret_key` are required: {what}"
            ));
            (String::new(), SecretString::from(String::new()))
        }
    }
}

/// An http(s) URL setting without its trailing slash; `None` (with a problem) when malformed.
pub fn http_url(map: &Map<String, Value>, key: &str, p: &mut Problems) -> Option<String> {
    match string_setting(map, key, p)? {
        u if u.starts_with("http://") || u.starts_with("https://") => {
            Some(u.trim_end_matches('/').to_string())
        }
        u => {
            p.push(format!("`{key}` must be an http(s) URL, not {u:?}"));
            None
        }
    }
}

fn proxy_settings(map: &Map<String, Value>, p: &mut Problems) -> Option<ProxyConfig> {
    let url = string_setting(map, "proxy_url", p).filter(|s| !s.is_empty())?;
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        p.push(format!("`proxy_url` must be an http(s) URL, not {url:?}"));
        return None;
    }
    let username = string_setting(map, "proxy_username", p).filter(|s| !s.is_empty());
    let password = secret_setting(map, "proxy_password", p);
    if username.is_some() != password.is_some() {
        p.push("`proxy_username` and `proxy_password` must be set together".into());
    }
    Some(ProxyConfig {
        url,
        username,
        password,
    })
}

/// A string setting; a non-string value is a problem.
pub fn string_setting(
    map: &Map<String, Value>,
    key: &str,
    problems: &mut Problems,
) -> Option<String> {
    match map.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            problems.push(format!(
                "`{key}` must be a string, not {}",
                type_name(other)
            ));
            None
        }
    }
}

/// A boolean setting (YAML booleans only).
pub fn bool_setting(
    map: &Map<String, Value>,
    key: &str,
    default: bool,
    problems: &mut Problems,
) -> bool {
    match map.get(key) {
        None | Some(Value::Null) => default,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            problems.push(format!(
                "`{key}` must be true or false, not {}",
                type_name(other)
            ));
            default
        }
    }
}

/// A number setting within `[min, max]`: out-of-range values (a timeout of 1e20 s would
/// overflow the clock; one of 1e-12 s would make every call fail at once) are refused.
pub fn number_in_range(
    map: &Map<String, Value>,
    key: &str,
    default: f64,
    (min, max): (f64, f64),
    problems: &mut Problems,
) -> f64 {
    match map.get(key) {
        None | Some(Value::Null) => default,
        Some(Value::Number(n)) => match n.as_f64() {
            Some(v) if v >= min && v <= max => v,
            _ => {
                problems.push(format!(
                    "`{key}` must be a number between {min} and {max}, not {n}"
                ));
                default
            }
        },
        Some(other) => {
            problems.push(format!(
                "`{key}` must be a number, not {}",
                type_name(other)
            ));
            default
        }
    }
}

/// True when the key is present with a truthy value (non-empty string, true, non-zero number).
/// Refuses, by name and all at once, the settings of other backends that are set here: they
/// would do nothing (a half-migrated offering could otherwise look configured).
pub fn refuse_foreign(map: &Map<String, Value>, foreign: &[&str], backend: &str, p: &mut Problems) {
    let set: Vec<String> = foreign
        .iter()
        .filter(|k| is_truthy(map, k))
        .map(|k| format!("`{k}`"))
        .collect();
    if !set.is_empty() {
        p.push(format!(
            "not {backend} settings (they belong to another backend and would do nothing here): {}",
            set.join(", ")
        ));
    }
}

pub fn is_truthy(map: &Map<String, Value>, key: &str) -> bool {
    match map.get(key) {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Number(n)) => n.as_f64() != Some(0.0),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
    }
}

pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn secret_inline_file_and_credential() {
        let dir = std::env::temp_dir().join(format!("sdk-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("tok"), "from-file\n").unwrap();
        let mut p = vec![];
        let m = map(json!({"token": "inline"}));
        assert_eq!(
            secret_setting(&m, "token", &mut p).unwrap().expose_secret(),
            "inline"
        );
        let m = map(json!({"token_file": dir.join("tok").to_str().unwrap()}));
        assert_eq!(
            secret_setting(&m, "token", &mut p).unwrap().expose_secret(),
            "from-file"
        );
        let c = read_credential("tok", "token_credential", Some(dir.clone().into()), &mut p);
        assert_eq!(c.unwrap().expose_secret(), "from-file");
        assert!(p.is_empty(), "{p:?}");
        let m = map(json!({"token": "a", "token_file": "/x"}));
        assert!(secret_setting(&m, "token", &mut p).is_none());
        assert!(p[0].contains("only one of `token`"));
        let mut p = vec![];
        let m = map(json!({"token_file": "/nonexistent/site-agent"}));
        assert!(secret_setting(&m, "token", &mut p).is_none());
        assert!(p[0].contains("`token_file`: cannot read /nonexistent/site-agent"));
        let mut p = vec![];
        assert!(read_credential("../etc", "k", Some(dir.into()), &mut p).is_none());
        assert!(read_credential("x", "k", None, &mut p).is_none());
        assert_eq!(p.len(), 2);
    }

    #[test]
    fn typed_settings_name_the_key() {
        let m = map(json!({"verify_ssl": "yes", "timeout": -3, "name": 5}));
        let mut p = vec![];
        assert!(bool_setting(&m, "verify_ssl", true, &mut p));
        assert_eq!(
            number_in_range(&m, "timeout", 30.0, (1.0, 600.0), &mut p),
            30.0
        );
        assert_eq!(string_setting(&m, "name", &mut p), None);
        assert_eq!(p.len(), 3);
        assert!(p[0].starts_with("`verify_ssl`"));
        assert!(p[1].starts_with("`timeout`"));
        assert!(p[2].starts_with("`name` must be a string"));
        assert!(is_truthy(&map(json!({"a": "x"})), "a"));
        for bad in [json!(1e20), json!(1e-12), json!(0), json!(601)] {
            let mut p = vec![];
            let m = map(json!({ "timeout": bad }));
            assert_eq!(
                number_in_range(&m, "timeout", 30.0, (1.0, 600.0), &mut p),
                30.0
            );
            assert!(p[0].contains("between 1 and 600"), "{p:?}");
        }
        assert!(!is_truthy(&map(json!({"a": ""})), "a"));
    }
}
