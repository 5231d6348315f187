//! Unauthenticated control API under `/sim/` for demo scripts: seed offerings and orders,
//! inspect state, drive test knobs. Not part of Mastermind; not recorded in `calls()`.

use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::context::Ctx;
use super::reply::Reply;
use super::state::State;
use super::util::{hex, parse_dt, parse_uuid};
use super::{OfferingSeed, OrderSeed, hooks, orders, resources, seed, usage};

fn error(status: u16, msg: impl Into<String>) -> Reply {
    Reply::json(status, json!({ "error": msg.into() }))
}

fn parse<T: DeserializeOwned>(ctx: &Ctx) -> Result<T, Reply> {
    let body: &[u8] = if ctx.body.is_empty() {
        b"{}"
    } else {
        &ctx.body
    };
    serde_json::from_slice(body).map_err(|e| error(400, format!("invalid JSON body: {e}")))
}

fn result(r: Result<(), String>) -> Reply {
    match r {
        Ok(()) => Reply::json(200, json!({ "status": "ok" })),
        Err(e) => error(400, e),
    }
}

pub(crate) fn handle(st: &mut State, ctx: &Ctx) -> Reply {
    match route(st, ctx) {
        Ok(r) | Err(r) => r,
    }
}

fn route(st: &mut State, ctx: &Ctx) -> Result<Reply, Reply> {
    let rest = ctx.path.strip_prefix("/sim").unwrap_or("");
    let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let origin = ctx.origin.clone();
    let reply = match (ctx.method.as_str(), segs.as_slice()) {
        ("POST", ["offerings"]) => {
            let s: OfferingSeed = parse(ctx)?;
            let u = seed::add_offering(st, &s).map_err(|e| error(400, e))?;
            Reply::json(201, json!({ "uuid": hex(&u) }))
        }
        ("POST", ["orders"]) => {
            let s: OrderSeed = parse(ctx)?;
            let placed = seed::place_order(st, &s).map_err(|e| error(400, e))?;
            Reply::json(
                201,
                json!({"order_uuid": placed.order_uuid, "resource_uuid": placed.resource_uuid}),
            )
        }
        ("GET", ["orders"]) => Reply::json(
            200,
            Value::Array(
                st.orders
                    .iter()
                    .map(|o| orders::render(st, o, &origin))
                    .collect(),
            ),
        ),
        ("GET", ["orders", id]) => {
            let i = parse_uuid(id)
                .and_then(|u| st.order_idx(&u))
                .ok_or_else(|| error(404, "unknown order"))?;
            Reply::json(200, orders::render(st, &st.orders[i], &origin))
        }
        ("POST", ["orders", id, "state"]) => {
            let body: Value = parse(ctx)?;
            let state = body
                .get("state")
                .and_then(Value::as_str)
                .unwrap_or_default();
            result(hooks::set_order_state(st, id, state))
        }
        ("GET", ["resources"]) => Reply::json(
            200,
            Value::Array(
                st.resources
                    .iter()
                    .map(|r| resources::render(st, r, &origin))
                    .collect(),
            ),
        ),
        ("GET", ["resources", id]) => {
            let i = parse_uuid(id)
                .and_then(|u| st.resource_idx(&u))
                .ok_or_else(|| error(404, "unknown resource"))?;
            Reply::json(200, resources::render(st, &st.resources[i], &origin))
        }
        ("POST", ["resources", id, "fields"]) => {
            let body: serde_json::Map<String, Value> = parse(ctx)?;
            result(hooks::set_resource_fields(st, id, body))
        }
        ("GET", ["resources", id, "api_keys"]) => {
            let rows = hooks::api_key_rows(st, id);
            Reply::json(200, serde_json::to_value(rows).unwrap_or(Value::Null))
        }
        ("GET", ["resources", id, "usages"]) => {
            let u = parse_uuid(id).ok_or_else(|| error(404, "unknown resource"))?;
            let rows = usage::sorted(st, Some(u))
                .into_iter()
                .map(|r| usage::render(st, r, &origin))
                .collect();
            Reply::json(200, Value::Array(rows))
        }
        ("POST", ["api_keys", id, "rotate"]) => result(hooks::rotate_key(st, id)),
        ("GET", ["events"]) => Reply::json(
            200,
            json!({
                "published": st.events.published(),
                "pending": st.events.pending(),
                "messages": serde_json::to_value(&st.events.log).unwrap_or(Value::Null),
            }),
        ),
        ("GET", ["calls"]) => {
            Reply::json(200, serde_json::to_value(&st.calls).unwrap_or(Value::Null))
        }
        ("POST", ["fail_next"]) => {
            let body: Value = parse(ctx)?;
            let n = body.get("n").and_then(Value::as_u64).unwrap_or(1) as usize;
            let status = body.get("status").and_then(Value::as_u64).unwrap_or(500);
            st.fail_remaining = n;
            st.fail_status = u16::try_from(status).unwrap_or(500);
            Reply::json(200, json!({ "status": "ok" }))
        }
        ("POST", ["down"]) => {
            let body: Value = parse(ctx)?;
            st.down = body.get("down").and_then(Value::as_bool).unwrap_or(true);
            Reply::json(200, json!({ "down": st.down }))
        }
        ("GET", ["now"]) => Reply::json(200, json!({ "now": super::util::fmt_dt(&st.now()) })),
        ("POST", ["now"]) => {
            let body: Value = parse(ctx)?;
            let t = body
                .get("now")
                .and_then(Value::as_str)
                .and_then(parse_dt)
                .ok_or_else(|| error(400, "\"now\" must be an ISO-8601 datetime"))?;
            st.clock = Some(t);
            Reply::json(200, json!({ "now": super::util::fmt_dt(&t) }))
        }
        ("POST", ["oidc_clients"]) => {
            let body: Value = parse(ctx)?;
            let id = body
                .get("client_id")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let secret = body
                .get("client_secret")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if id.is_empty() || secret.is_empty() {
                return Err(error(400, "client_id and client_secret are required"));
            }
            st.oidc_clients.push((id.to_string(), secret.to_string()));
            Reply::json(201, json!({ "client_id": id }))
        }
        _ => error(404, format!("no control route {} {}", ctx.method, ctx.path)),
    };
    Ok(reply)
}
