//! Test hooks that bypass the REST API: direct state edits and consumer-side actions.

use serde_json::{Map, Value};

use super::ApiKeyRow;
use super::api_keys::rotate_idx;
use super::body::bool_value;
use super::state::{ORDER_STATES, RESOURCE_STATES, State};
use super::util::{hex, parse_uuid};

pub(crate) fn set_order_state(st: &mut State, order: &str, state: &str) -> Result<(), String> {
    if !ORDER_STATES.contains(&state) {
        return Err(format!("order state must be one of {ORDER_STATES:?}"));
    }
    let i = parse_uuid(order)
        .and_then(|u| st.order_idx(&u))
        .ok_or_else(|| format!("unknown order {order}"))?;
    let now = st.now();
    let o = &mut st.orders[i];
    let changed = o.state != state;
    o.state = state.to_string();
    o.modified = now;
    if changed {
        super::events::order_changed(st, i);
    }
    Ok(())
}

fn string_of(v: &Value) -> Option<String> {
    v.as_str().map(str::to_string)
}

/// Sets one rendered field of a resource. Typed fields (state, backend_id, flags, limits,
/// …) change the model; anything else is stored as an override of the rendered JSON.
pub(crate) fn set_resource_field(
    st: &mut State,
    resource: &str,
    field: &str,
    value: Value,
) -> Result<(), String> {
    let i = parse_uuid(resource)
        .and_then(|u| st.resource_idx(&u))
        .ok_or_else(|| format!("unknown resource {resource}"))?;
    let r = &mut st.resources[i];
    let typed = match field {
        "state" => match string_of(&value) {
            Some(s) if RESOURCE_STATES.contains(&s.as_str()) => {
                r.state = s;
                true
            }
            _ => return Err(format!("resource state must be one of {RESOURCE_STATES:?}")),
        },
        "backend_id" => string_of(&value).map(|s| r.backend_id = s).is_some(),
        "name" => string_of(&value).map(|s| r.name = s).is_some(),
        "slug" => string_of(&value).map(|s| r.slug = s).is_some(),
        "error_message" => string_of(&value).map(|s| r.error_message = s).is_some(),
        "error_traceback" => string_of(&value).map(|s| r.error_traceback = s).is_some(),
        "paused" => bool_value(&value).map(|b| r.paused = b).is_ok(),
        "downscaled" => bool_value(&value).map(|b| r.downscaled = b).is_ok(),
        "restrict_member_access" => bool_value(&value)
            .map(|b| r.restrict_member_access = b)
            .is_ok(),
        "limits" | "attributes" | "backend_metadata" | "options" if value.is_object() => {
            match field {
                "limits" => r.limits = value.clone(),
                "attributes" => r.attributes = value.clone(),
                "backend_metadata" => r.backend_metadata = value.clone(),
                _ => r.options = value.clone(),
            }
            true
        }
        "current_usages" => match &value {
            Value::Object(m) => {
                r.current_usages = m.clone();
                true
            }
            _ => false,
        },
        "endpoints" => match &value {
            Value::Array(a) => {
                r.endpoints = a.clone();
                true
            }
            _ => false,
        },
        _ => false,
    };
    if typed {
        r.extra.remove(field);
    } else {
        r.extra.insert(field.to_string(), value);
    }
    Ok(())
}

pub(crate) fn api_key_rows(st: &State, resource: &str) -> Vec<ApiKeyRow> {
    let Some(u) = parse_uuid(resource) else {
        return Vec::new();
    };
    st.api_keys
        .iter()
        .filter(|k| k.resource == u)
        .map(|k| ApiKeyRow {
            uuid: hex(&k.uuid),
            resource_uuid: hex(&k.resource),
            client_id: k.client_id.clone(),
            api_key: k.secret.clone(),
            state: k.state.clone(),
        })
        .collect()
}

pub(crate) fn rotate_key(st: &mut State, key: &str) -> Result<(), String> {
    let i = parse_uuid(key)
        .and_then(|u| st.api_key_idx(&u))
        .ok_or_else(|| format!("unknown API key {key}"))?;
    rotate_idx(st, i).map_err(|reply| {
        reply
            .body
            .as_ref()
            .and_then(|b| b.get("detail"))
            .and_then(Value::as_str)
            .unwrap_or("rotation refused")
            .to_string()
    })
}

/// `{"a": 1}` → field-by-field `set_resource_field`.
pub(crate) fn set_resource_fields(
    st: &mut State,
    resource: &str,
    fields: Map<String, Value>,
) -> Result<(), String> {
    for (k, v) in fields {
        set_resource_field(st, resource, &k, v)?;
    }
    Ok(())
}
