//! Environment overrides layered over the YAML:
//! `SITE_AGENT__<KEY>` sets a top-level key, `SITE_AGENT__OFFERINGS__<N>__<KEY>` a key of the
//! N-th offering (0-based), and deeper `__` segments reach into mappings such as
//! `backend_settings`. Values are read as YAML scalars (`true`, `5`, `text`).

use serde_json::Value;

pub const PREFIX: &str = "SITE_AGENT__";

/// Applies overrides from `vars` onto `doc`; returns the names of applied variables (never
/// their values, which may be secrets) and problems.
pub fn apply_overrides(
    doc: &mut Value,
    vars: impl IntoIterator<Item = (String, String)>,
) -> (Vec<String>, Vec<String>) {
    let mut applied = Vec::new();
    let mut problems = Vec::new();
    let mut vars: Vec<(String, String)> = vars
        .into_iter()
        .filter(|(k, _)| k.starts_with(PREFIX))
        .collect();
    vars.sort();
    for (name, raw) in vars {
        let path: Vec<String> = name[PREFIX.len()..]
            .split("__")
            .map(|s| s.to_lowercase())
            .collect();
        if path.iter().any(|s| s.is_empty()) {
            problems.push(format!("environment variable {name}: empty key segment"));
            continue;
        }
        match set_path(doc, &path, scalar(&raw)) {
            Ok(()) => applied.push(name),
            Err(e) => problems.push(format!("environment variable {name}: {e}")),
        }
    }
    (applied, problems)
}

fn scalar(raw: &str) -> Value {
    match raw {
        "true" | "True" => Value::Bool(true),
        "false" | "False" => Value::Bool(false),
        _ => {
            if let Ok(i) = raw.parse::<i64>() {
                Value::from(i)
            } else if let Some(f) = raw.parse::<f64>().ok().filter(|f| f.is_finite()) {
                Value::from(f)
            } else {
                Value::String(raw.to_string())
            }
        }
    }
}

fn set_path(node: &mut Value, path: &[String], value: Value) -> Result<(), String> {
    let (head, rest) = path.split_first().ok_or("empty path")?;
    match node {
        Value::Array(items) => {
            let i: usize = head
                .parse()
                .map_err(|_| format!("{head:?} is not a list index"))?;
            let len = items.len();
            let item = items
                .get_mut(i)
                .ok_or_else(|| format!("there is no list entry {i} (the list has {len})"))?;
            if rest.is_empty() {
                *item = value;
                Ok(())
            } else {
                set_path(item, rest, value)
            }
        }
        Value::Object(map) => {
            if rest.is_empty() {
                map.insert(head.clone(), value);
                Ok(())
            } else {
                let child = map
                    .entry(head.clone())
                    .or_insert_with(|| Value::Object(Default::default()));
                set_path(child, rest, value)
            }
        }
        _ => Err(format!("cannot set {head:?} inside a scalar value")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn overrides_top_level_offering_and_nested() {
        let mut doc = json!({"timezone": "UTC", "offerings": [{"name": "a", "backend_settings": {"s3_region": "x"}}]});
        let (applied, problems) = apply_overrides(
            &mut doc,
            vec![
                ("SITE_AGENT__TIMEZONE".into(), "Europe/Tallinn".into()),
                (
                    "SITE_AGENT__OFFERINGS__0__VERIFY_SSL".into(),
                    "false".into(),
                ),
                (
                    "SITE_AGENT__OFFERINGS__0__BACKEND_SETTINGS__TIMEOUT".into(),
                    "5".into(),
                ),
                ("SITE_AGENT__OFFERINGS__3__NAME".into(), "x".into()),
                ("OTHER".into(), "ignored".into()),
            ],
        );
        assert_eq!(doc["timezone"], "Europe/Tallinn");
        assert_eq!(doc["offerings"][0]["verify_ssl"], false);
        assert_eq!(doc["offerings"][0]["backend_settings"]["timeout"], 5);
        assert_eq!(doc["offerings"][0]["backend_settings"]["s3_region"], "x");
        assert_eq!(applied.len(), 3);
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].contains("SITE_AGENT__OFFERINGS__3__NAME")
                && problems[0].contains("no list entry 3")
        );
    }
}
