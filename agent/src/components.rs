//! `load-components`: push the configured components to the Waldur offering (upstream's
//! `waldur_site_load_components`): update the ones that exist (by type), create the others.

use crate::config::{Component, Config};
use crate::retry::RetryPolicy;
use crate::waldur::WaldurClient;
use serde_json::{Map, Value, json};

/// Optional component fields passed through from the config when present.
const PASS_THROUGH: &[&str] = &[
    "description",
    "min_value",
    "max_value",
    "max_available_limit",
    "default_limit",
    "limit_period",
    "article_code",
    "is_boolean",
    "is_prepaid",
    "min_prepaid_duration",
    "max_prepaid_duration",
    "prepaid_duration_step",
    "min_renewal_duration",
    "max_renewal_duration",
    "renewal_duration_step",
];

/// The request body for a component (`unit_factor` stays agent-side, as upstream).
pub fn component_body(ctype: &str, c: &Component) -> Map<String, Value> {
    let mut b = Map::new();
    b.insert("billing_type".into(), json!(c.accounting_type));
    b.insert("type".into(), json!(ctype));
    b.insert("name".into(), json!(c.label));
    b.insert("measured_unit".into(), json!(c.measured_unit));
    if let Some(l) = c.limit {
        // Waldur's limit_amount is an integer field: 500.0 from YAML goes as 500.
        let v = if l.fract() == 0.0 && l.abs() < 9e15 {
            json!(l as i64)
        } else {
            json!(l)
        };
        b.insert("limit_amount".into(), v);
    }
    for key in PASS_THROUGH {
        if let Some(v) = c.extra.get(*key) {
            b.insert((*key).into(), v.clone());
        }
    }
    if c.accounting_type == "one" && !b.contains_key("is_prepaid") {
        b.insert("is_prepaid".into(), json!(true));
    }
    b
}

/// (offering, component, "created" | "updated" | error message)
pub async fn load_components(
    config: &Config,
    retry: RetryPolicy,
) -> Vec<(String, String, Result<&'static str, String>)> {
    let mut out = Vec::new();
    for o in &config.offerings {
        let offering = o.offering_uuid.simple().to_string();
        let client = match WaldurClient::new(
            o,
            retry,
            &format!("site-agent/{}", env!("CARGO_PKG_VERSION")),
        ) {
            Ok(c) => c,
            Err(e) => {
                out.push((o.name.clone(), String::new(), Err(e.message)));
                continue;
            }
        };
        let existing = match client.offering(&offering).await {
            Ok(off) => off.components,
            Err(e) => {
                out.push((o.name.clone(), String::new(), Err(e.message)));
                continue;
            }
        };
        for (ctype, c) in &o.components {
            let mut body = component_body(ctype, c);
            let current = existing.iter().find(|e| e.component_type == *ctype);
            let verb = match current {
                Some(cur) => {
                    body.insert("uuid".into(), json!(cur.uuid.clone().unwrap_or_default()));
                    // Keep the server's limit period when the config sets none.
                    if !body.contains_key("limit_period")
                        && let Some(p) = &cur.limit_period
                    {
                        body.insert("limit_period".into(), json!(p));
                    }
                    "updated"
                }
                None => "created",
            };
            let r = client
                .put_offering_component(&offering, &Value::Object(body))
                .await
                .map(|_| verb)
                .map_err(|e| e.message);
            out.push((o.name.clone(), ctype.clone(), r));
        }
    }
    out
}
