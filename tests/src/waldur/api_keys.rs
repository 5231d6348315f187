//! Resource API keys (§2.3): report_created (idempotent per resource+client_id), set_key,
//! set_erred, consumer-side rotate/reveal. Listings never include the secret.

use serde_json::{Value, json};
use uuid::Uuid;

use super::context::Ctx;
use super::pagination::paginate;
use super::query::Filters;
use super::reply::{Reply, Res};
use super::state::{API_KEY_STATES, ApiKey, Principal, State, TERMINATED, TERMINATING};
use super::util::{fmt_dt, hex, object, parse_uuid};

/// ResourceApiKeyStatus (no secret).
pub(crate) fn render(st: &State, k: &ApiKey) -> Value {
    let backend_id = st.resource(&k.resource).map(|r| r.backend_id.clone());
    object(vec![
        ("uuid", json!(hex(&k.uuid))),
        ("resource_uuid", json!(hex(&k.resource))),
        ("resource_backend_id", json!(backend_id)),
        ("client_id", json!(k.client_id)),
        ("state", json!(k.state)),
        ("modified", json!(fmt_dt(&k.modified))),
        ("issued_at", json!(fmt_dt(&k.issued_at))),
        ("error_message", json!(k.error_message)),
        ("pending_action", json!(k.pending_action)),
        ("user_uuid", Value::Null),
        ("user_full_name", Value::Null),
        ("limits", Value::Null),
        ("allowed_models", Value::Null),
        ("current_usages", Value::Null),
        ("usage_period", Value::Null),
        ("paused_by_limit", Value::Null),
    ])
}

fn find(st: &State, id: &str) -> Res<usize> {
    parse_uuid(id)
        .and_then(|u| st.api_key_idx(&u))
        .ok_or_else(Reply::not_found)
}

pub(crate) fn list(st: &State, ctx: &Ctx) -> Res<Reply> {
    let mut f = Filters::new(&ctx.query);
    let resource = f.uuid("resource_uuid");
    let offering = f.uuid("offering_uuid");
    let states = f.choices("state", &API_KEY_STATES);
    let modified_before = f.datetime("modified_before");
    let pending_action = f.string("pending_action");
    let has_pending = f.boolean("has_pending_action");
    f.uuid("user_uuid");
    f.finish()?;
    let items = st
        .api_keys
        .iter()
        .filter(|k| resource.is_none_or(|u| k.resource == u))
        .filter(|k| {
            offering.is_none_or(|u| st.resource(&k.resource).is_some_and(|r| r.offering == u))
        })
        .filter(|k| states.is_empty() || states.contains(&k.state))
        .filter(|k| modified_before.is_none_or(|t| k.modified <= t))
        .filter(|k| {
            pending_action
                .as_ref()
                .is_none_or(|p| &k.pending_action == p)
        })
        .filter(|k| has_pending.is_none_or(|b| b != k.pending_action.is_empty()))
        .map(|k| render(st, k))
        .collect();
    Ok(paginate(ctx, items))
}

pub(crate) fn detail(st: &State, ctx: &Ctx, id: &str) -> Res<Reply> {
    let i = find(st, id)?;
    Ok(ctx.detail(render(st, &st.api_keys[i])))
}

fn require(state: &str, valid: &[&str]) -> Res<()> {
    if valid.contains(&state) {
        Ok(())
    } else {
        Err(Reply::invalid_state(valid))
    }
}

pub(crate) fn report_created(st: &mut State, ctx: &Ctx) -> Res<Reply> {
    let mut form = ctx.form()?;
    let resource = form.related_uuid("resource", true);
    let client_id = form.string("client_id", true, false);
    let api_key = form.string("api_key", true, false);
    if let Some(u) = resource
        && st.resource(&u).is_none()
    {
        form.does_not_exist("resource", &u);
    }
    form.check()?;
    let (Some(resource), Some(client_id), Some(api_key)) = (resource, client_id, api_key) else {
        return Err(Reply::non_field("Invalid data."));
    };
    let state = st
        .resource(&resource)
        .map(|r| r.state.clone())
        .unwrap_or_default();
    if state == TERMINATING || state == TERMINATED {
        return Err(Reply::field(
            "resource",
            format!("API keys cannot be reported for a resource in state {state}."),
        ));
    }
    let now = st.now();
    let idx = match st
        .api_keys
        .iter()
        .position(|k| k.resource == resource && k.client_id == client_id)
    {
        Some(i) => {
            let k = &mut st.api_keys[i];
            if k.secret != api_key || k.state != "OK" {
                k.secret = api_key;
                k.state = "OK".to_string();
                k.error_message.clear();
                k.pending_action.clear();
                k.issued_at = now;
                k.modified = now;
            }
            i
        }
        None => {
            st.api_keys.push(ApiKey {
                uuid: Uuid::new_v4(),
                resource,
                client_id,
                secret: api_key,
                state: "OK".to_string(),
                error_message: String::new(),
                pending_action: String::new(),
                issued_at: now,
                modified: now,
            });
            st.api_keys.len() - 1
        }
    };
    Ok(Reply::json(201, render(st, &st.api_keys[idx])))
}

pub(crate) fn set_key(st: &mut State, ctx: &Ctx, id: &str) -> Res<Reply> {
    let i = find(st, id)?;
    require(&st.api_keys[i].state, &["Updating", "Erred"])?;
    let mut form = ctx.form()?;
    let api_key = form.string("api_key", true, false);
    let client_id = form.string("client_id", false, false);
    if let Some(c) = &client_id {
        let me = &st.api_keys[i];
        if st
            .api_keys
            .iter()
            .any(|k| k.resource == me.resource && k.uuid != me.uuid && &k.client_id == c)
        {
            form.error(
                "client_id",
                "This client_id is already used by another API key of this resource.",
            );
        }
    }
    form.check()?;
    let now = st.now();
    let k = &mut st.api_keys[i];
    k.secret = api_key.unwrap_or_default();
    if let Some(c) = client_id {
        k.client_id = c;
    }
    k.state = "OK".to_string();
    k.error_message.clear();
    k.pending_action.clear();
    k.issued_at = now;
    k.modified = now;
    Ok(Reply::json(200, render(st, &st.api_keys[i])))
}

pub(crate) fn set_erred(st: &mut State, ctx: &Ctx, id: &str) -> Res<Reply> {
    let i = find(st, id)?;
    require(&st.api_keys[i].state, &["Creating", "Updating"])?;
    let mut form = ctx.form()?;
    let message = form.string_or_empty("error_message");
    form.check()?;
    let now = st.now();
    let k = &mut st.api_keys[i];
    k.state = "Erred".to_string();
    k.error_message = message;
    k.modified = now;
    Ok(Reply::json(200, render(st, &st.api_keys[i])))
}

/// Consumer-side rotation: OK/Erred → Updating, only while the resource is live.
pub(crate) fn rotate_idx(st: &mut State, i: usize) -> Res<()> {
    require(&st.api_keys[i].state, &["OK", "Erred"])?;
    let resource_state = st
        .resource(&st.api_keys[i].resource)
        .map(|r| r.state.clone())
        .unwrap_or_default();
    if resource_state == TERMINATING || resource_state == TERMINATED {
        return Err(Reply::detail(
            409,
            format!("Resource is {resource_state}; its API keys cannot be rotated."),
        ));
    }
    let now = st.now();
    let k = &mut st.api_keys[i];
    k.state = "Updating".to_string();
    k.pending_action = "rotate".to_string();
    k.error_message.clear();
    k.modified = now;
    super::events::key_rotation_requested(st, i);
    Ok(())
}

pub(crate) fn rotate(st: &mut State, who: Principal, id: &str) -> Res<Reply> {
    let i = find(st, id)?;
    // Gated on consumer-side RESOURCE.MANAGE_USERS; the provider's agent user has no such role.
    if who != Principal::Staff {
        return Err(Reply::forbidden());
    }
    rotate_idx(st, i)?;
    Ok(Reply::json(202, render(st, &st.api_keys[i])))
}

pub(crate) fn reveal(st: &State, who: Principal, id: &str) -> Res<Reply> {
    let i = find(st, id)?;
    // Provider-organisation members are explicitly excluded from reveal.
    if who != Principal::Staff {
        return Err(Reply::forbidden());
    }
    require(&st.api_keys[i].state, &["OK"])?;
    Ok(
        Reply::json(200, json!({ "api_key": st.api_keys[i].secret }))
            .header("Cache-Control", "no-store"),
    )
}
