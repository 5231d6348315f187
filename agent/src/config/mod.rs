//! Configuration: the upstream waldur-site-agent YAML (keys unchanged), environment overrides,
//! validation with messages that name the offering and the key, and warnings for unknown keys.

mod env;
mod raw;
mod validate;

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
    let mut doc: Value =
        serde_saphyr::from_str(text).map_err(|e| fail(vec![format!("not valid YAML: {e}")]))?;
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
