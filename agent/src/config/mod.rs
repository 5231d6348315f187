//! Configuration: the upstream waldur-site-agent YAML (keys unchanged), environment overrides,
//! validation with messages that name the offering and the key, and warnings for unknown keys.

mod env;
mod raw;
mod usage_kind;
mod validate;

pub use usage_kind::{UsageKind, UsageSource};
pub use validate::{
    BackendConfig, Component, Config, Offering, StompSettings, UsageSettings, WaldurAuth,
};

use serde_json::Value;
use std::path::Path;

/// Why the configuration cannot be used. Each line names the offering and key.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration {path}:\n  - {}", problems.join("\n  - "))]
pub struct ConfigError {
    pub path: String,
    pub problems: Vec<String>,
}

/// Loads, overrides from the process environment, and validates a config file.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        path: path.display().to_string(),
        problems: vec![format!("cannot read the file: {e}")],
    })?;
    load_str(&text, &path.display().to_string(), std::env::vars())
}

/// Parses and validates YAML text with the given environment.
pub fn load_str(
    text: &str,
    origin: &str,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<Config, ConfigError> {
    let fail = |problems: Vec<String>| ConfigError {
        path: origin.to_string(),
        problems,
    };
    let mut doc: Value = serde_saphyr::from_str(text).map_err(|e| fail(vec![yaml_error(&e)]))?;
    if !doc.is_object() {
        return Err(fail(vec![
            "the top level must be a mapping with an `offerings` list".into(),
        ]));
    }
    let (applied, problems) = env::apply_overrides(&mut doc, vars);
    if !problems.is_empty() {
        return Err(fail(problems));
    }
    let mut config = validate::validate(&doc).map_err(fail)?;
    config.env_overrides = applied;
    Ok(config)
}

/// A YAML syntax error by position only: the parser's own message quotes the source around
/// the error, and a config holds tokens and passwords (this text reaches the journal through
/// `ExecStartPre=site-agent check-config`).
fn yaml_error(e: &serde_saphyr::Error) -> String {
    match e.location() {
        Some(l) => format!(
            "not valid YAML at line {}, column {} (the text is not shown: it may hold secrets)",
            l.line(),
            l.column()
        ),
        None => {
            "not valid YAML (no position known; the text is not shown: it may hold secrets)".into()
        }
    }
}

pub use site_agent_sdk::scrub::redact_url;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_errors_name_the_position_but_never_the_text() {
        let text =
            "offerings:\n  - name: x\n    waldur_api_token: tok-canary-93f1\n   bad: [unclosed\n";
        let e = load_str(text, "t.yaml", Vec::<(String, String)>::new()).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("line "), "{msg}");
        assert!(!msg.contains("tok-canary-93f1"), "{msg}");
        assert!(!msg.contains("unclosed"), "{msg}");
    }

    #[test]
    fn urls_lose_their_password() {
        assert_eq!(
            redact_url("http://u:pw-canary@p:3128"),
            "http://u:***@p:3128/"
        );
        assert_eq!(redact_url("http://p:3128"), "http://p:3128/");
        assert!(!redact_url("socks5://u:pw-canary@@").contains("pw-canary"));
    }
}
