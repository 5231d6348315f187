//! REST views of event subscriptions (§5.2, §5.3, §8 pairs 9–11):
//! `register_event_subscription` and `register_queue` on agent identities, and
//! `/api/event-subscriptions/` with `create_queue`, plus `/api/event-subscription-queues/`.

use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::body::{Form, NOT_NULL, REQUIRED};
use super::context::Ctx;
use super::events::{
    BrokerOp, Consumer, Effects, OBJECT_TYPES, Subscription, SubscriptionQueue, Undo, queue_name,
    user_has_broker_objects,
};
use super::pagination::paginate;
use super::query::Filters;
use super::reply::{Reply, Res};
use super::state::{Principal, State};
use super::util::{fmt_dt, hex, object, parse_uuid, py_type};

/// The key the caller authenticated with (`Token <key>` or `Bearer <token>`): Mastermind
/// makes it the RabbitMQ password.
fn caller_secret(ctx: &Ctx) -> String {
    ctx.authorization
        .as_deref()
        .and_then(|h| h.split_whitespace().nth(1))
        .unwrap_or_default()
        .to_string()
}

fn choice_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "True".to_string(),
        Value::Bool(false) => "False".to_string(),
        other => other.to_string(),
    }
}

fn is_object_type(v: &Value) -> bool {
    v.as_str().is_some_and(|s| OBJECT_TYPES.contains(&s))
}

/// `ChoiceField(ObservableObjectType)`.
fn object_type(form: &mut Form, key: &str) -> Option<String> {
    match form.raw(key).cloned() {
        None => {
            form.error(key, REQUIRED);
            None
        }
        Some(Value::Null) => {
            form.error(key, NOT_NULL);
            None
        }
        Some(v) if is_object_type(&v) => v.as_str().map(str::to_string),
        Some(v) => {
            form.error(
                key,
                format!("\"{}\" is not a valid choice.", choice_text(&v)),
            );
            None
        }
    }
}

fn user_of(st: &State, who: Principal) -> (Uuid, String, String) {
    let u = st.user(who);
    (u.uuid, u.username.clone(), u.full_name.clone())
}

pub(crate) fn render_subscription(st: &State, s: &Subscription, origin: &str) -> Value {
    let (_, username, full_name) = user_of(st, s.owner);
    let observable: Vec<Value> = s
        .object_types
        .iter()
        .map(|t| json!({ "object_type": t }))
        .collect();
    object(vec![
        ("uuid", json!(hex(&s.uuid))),
        (
            "url",
            json!(format!(
                "{origin}/api/event-subscriptions/{}/",
                hex(&s.uuid)
            )),
        ),
        ("description", json!(s.description)),
        (
            "user",
            json!(format!("{origin}/api/users/{}/", hex(&s.user))),
        ),
        ("user_uuid", json!(hex(&s.user))),
        ("user_username", json!(username)),
        ("user_full_name", json!(full_name)),
        ("observable_objects", Value::Array(observable)),
        ("source_ip", json!(s.source_ip)),
        ("created", json!(fmt_dt(&s.created))),
        ("modified", json!(fmt_dt(&s.modified))),
    ])
}

pub(crate) fn render_queue(st: &State, q: &SubscriptionQueue, origin: &str) -> Value {
    let vhost = st
        .events
        .subscriptions
        .iter()
        .find(|s| s.uuid == q.subscription)
        .map(|s| hex(&s.user))
        .unwrap_or_default();
    object(vec![
        ("uuid", json!(hex(&q.uuid))),
        (
            "url",
            json!(format!(
                "{origin}/api/event-subscription-queues/{}/",
                hex(&q.uuid)
            )),
        ),
        (
            "event_subscription",
            json!(format!(
                "{origin}/api/event-subscriptions/{}/",
                hex(&q.subscription)
            )),
        ),
        ("event_subscription_uuid", json!(hex(&q.subscription))),
        ("offering_uuid", json!(hex(&q.offering))),
        ("object_type", json!(q.object_type)),
        (
            "queue_name",
            json!(queue_name(&q.subscription, &q.offering, &q.object_type)),
        ),
        ("vhost", json!(vhost)),
        ("created", json!(fmt_dt(&q.created))),
    ])
}

fn grant_ops(vhost: &str, user: &str, password: String) -> Vec<BrokerOp> {
    vec![
        BrokerOp::CreateVhost {
            vhost: vhost.to_string(),
        },
        BrokerOp::CreateUser {
            user: user.to_string(),
            password,
        },
        BrokerOp::Permit {
            vhost: vhost.to_string(),
            user: user.to_string(),
        },
    ]
}

fn find_identity(st: &State, id: &str) -> Res<usize> {
    parse_uuid(id)
        .and_then(|u| st.identities.iter().position(|i| i.uuid == u))
        .ok_or_else(Reply::not_found)
}

/// Subscriptions the caller sees: staff all, others their own.
fn visible(st: &State, who: Principal, s: &Subscription) -> bool {
    who == Principal::Staff || s.user == st.user(who).uuid
}

fn find_subscription(st: &State, who: Principal, id: &str) -> Res<usize> {
    parse_uuid(id)
        .and_then(|u| {
            st.events
                .subscriptions
                .iter()
                .position(|s| s.uuid == u && visible(st, who, s))
        })
        .ok_or_else(Reply::not_found)
}

/// `POST /api/marketplace-site-agent-identities/{uuid}/register_event_subscription/`
pub(crate) fn register_event_subscription(
    st: &mut State,
    ctx: &Ctx,
    who: Principal,
    id: &str,
) -> Res<Reply> {
    let ii = find_identity(st, id)?;
    let mut form = ctx.form()?;
    let object_type = object_type(&mut form, "observable_object_type");
    let description = form.string("description", false, true);
    form.check()?;
    let object_type = object_type.unwrap_or_default();
    let identity = st.identities[ii].uuid;
    let (user, _, _) = user_of(st, who);
    let vhost = hex(&user);
    let password = caller_secret(ctx);
    if let Some(s) = st.events.subscriptions.iter().find(|s| {
        s.user == user && s.identity == Some(identity) && s.object_types == [object_type.clone()]
    }) {
        // Mastermind re-creates a subscription whose broker user is gone; the sim re-applies
        // the (idempotent) grant instead and keeps the subscription.
        let ops = grant_ops(&vhost, &hex(&s.uuid), password);
        let body = render_subscription(st, s, &ctx.origin);
        return Ok(Reply::json(200, body).with_effects(Effects { ops, undo: None }));
    }
    let now = st.now();
    let sub = Subscription {
        uuid: Uuid::new_v4(),
        owner: who,
        user,
        identity: Some(identity),
        description: description.unwrap_or_default(),
        object_types: vec![object_type],
        source_ip: "127.0.0.1".to_string(),
        created: now,
        modified: now,
    };
    let ops = grant_ops(&vhost, &hex(&sub.uuid), password);
    let body = render_subscription(st, &sub, &ctx.origin);
    let undo = Some(Undo::Subscription(sub.uuid));
    st.events.subscriptions.push(sub);
    Ok(Reply::json(201, body).with_effects(Effects { ops, undo }))
}

/// `GET /api/event-subscriptions/`
pub(crate) fn list(st: &State, ctx: &Ctx, who: Principal) -> Res<Reply> {
    let mut f = Filters::new(&ctx.query);
    let user_uuid = f.uuid("user_uuid");
    f.finish()?;
    let items = st
        .events
        .subscriptions
        .iter()
        .filter(|s| visible(st, who, s))
        .filter(|s| user_uuid.is_none_or(|u| s.user == u))
        .map(|s| render_subscription(st, s, &ctx.origin))
        .collect();
    Ok(paginate(ctx, items))
}

/// `GET /api/event-subscriptions/{uuid}/`
pub(crate) fn detail(st: &State, ctx: &Ctx, who: Principal, id: &str) -> Res<Reply> {
    let i = find_subscription(st, who, id)?;
    Ok(ctx.detail(render_subscription(
        st,
        &st.events.subscriptions[i],
        &ctx.origin,
    )))
}

/// `DELETE /api/event-subscriptions/{uuid}/`: the queues and the broker user go with it, the
/// vhost too when nothing else of the user is left.
pub(crate) fn delete(st: &mut State, who: Principal, id: &str) -> Res<Reply> {
    let i = find_subscription(st, who, id)?;
    let sub = st.events.subscriptions.remove(i);
    let vhost = hex(&sub.user);
    let mut ops = Vec::new();
    let mut kept = Vec::new();
    for q in std::mem::take(&mut st.events.queues) {
        if q.subscription == sub.uuid {
            ops.push(BrokerOp::DeleteQueue {
                vhost: vhost.clone(),
                queue: queue_name(&q.subscription, &q.offering, &q.object_type),
            });
        } else {
            kept.push(q);
        }
    }
    st.events.queues = kept;
    ops.push(BrokerOp::DeleteUser {
        user: hex(&sub.uuid),
    });
    if !user_has_broker_objects(st, &sub.user) {
        ops.push(BrokerOp::DeleteVhost { vhost });
    }
    Ok(Reply::empty(204).with_effects(Effects { ops, undo: None }))
}

/// `POST /api/event-subscriptions/{uuid}/create_queue/`
pub(crate) fn create_queue(st: &mut State, ctx: &Ctx, who: Principal, id: &str) -> Res<Reply> {
    let si = find_subscription(st, who, id)?;
    let mut form = ctx.form()?;
    let offering = form.uuid("offering_uuid", true);
    if let Some(u) = offering
        && st.offering(&u).is_none()
    {
        form.error(
            "offering_uuid",
            format!("Offering with UUID {} does not exist", u.hyphenated()),
        );
    }
    let object_type = object_type(&mut form, "object_type");
    form.check()?;
    let (Some(offering), Some(object_type)) = (offering, object_type) else {
        return Err(Reply::non_field("Invalid data."));
    };
    let sub = st.events.subscriptions[si].clone();
    let vhost = hex(&sub.user);
    let name = queue_name(&sub.uuid, &offering, &object_type);
    let declare = vec![BrokerOp::DeclareQueue { vhost, queue: name }];
    if let Some(q) = st.events.queues.iter().find(|q| {
        q.subscription == sub.uuid && q.offering == offering && q.object_type == object_type
    }) {
        let body = render_queue(st, q, &ctx.origin);
        return Ok(Reply::json(200, body).with_effects(Effects {
            ops: declare,
            undo: None,
        }));
    }
    let q = SubscriptionQueue {
        uuid: Uuid::new_v4(),
        subscription: sub.uuid,
        offering,
        object_type,
        created: st.now(),
    };
    let body = render_queue(st, &q, &ctx.origin);
    let undo = Some(Undo::Queue(q.uuid));
    st.events.queues.push(q);
    Ok(Reply::json(201, body).with_effects(Effects { ops: declare, undo }))
}

fn visible_queues<'a>(
    st: &'a State,
    who: Principal,
) -> impl Iterator<Item = &'a SubscriptionQueue> + 'a {
    st.events.queues.iter().filter(move |q| {
        st.events
            .subscriptions
            .iter()
            .any(|s| s.uuid == q.subscription && visible(st, who, s))
    })
}

/// `GET /api/event-subscription-queues/`
pub(crate) fn queue_list(st: &State, ctx: &Ctx, who: Principal) -> Res<Reply> {
    let mut f = Filters::new(&ctx.query);
    let offering = f.uuid("offering_uuid");
    let subscription = f.uuid("event_subscription_uuid");
    let object_type = f.string("object_type");
    f.finish()?;
    let items = visible_queues(st, who)
        .filter(|q| offering.is_none_or(|u| q.offering == u))
        .filter(|q| subscription.is_none_or(|u| q.subscription == u))
        .filter(|q| object_type.as_ref().is_none_or(|t| &q.object_type == t))
        .map(|q| render_queue(st, q, &ctx.origin))
        .collect();
    Ok(paginate(ctx, items))
}

fn find_queue(st: &State, who: Principal, id: &str) -> Res<usize> {
    let u = parse_uuid(id).ok_or_else(Reply::not_found)?;
    let visible = visible_queues(st, who).any(|q| q.uuid == u);
    st.events
        .queues
        .iter()
        .position(|q| q.uuid == u && visible)
        .ok_or_else(Reply::not_found)
}

/// `GET /api/event-subscription-queues/{uuid}/`
pub(crate) fn queue_detail(st: &State, ctx: &Ctx, who: Principal, id: &str) -> Res<Reply> {
    let i = find_queue(st, who, id)?;
    Ok(ctx.detail(render_queue(st, &st.events.queues[i], &ctx.origin)))
}

/// `DELETE /api/event-subscription-queues/{uuid}/`: the broker queue goes too.
pub(crate) fn queue_delete(st: &mut State, who: Principal, id: &str) -> Res<Reply> {
    let i = find_queue(st, who, id)?;
    let q = st.events.queues.remove(i);
    let vhost = st
        .events
        .subscriptions
        .iter()
        .find(|s| s.uuid == q.subscription)
        .map(|s| hex(&s.user))
        .unwrap_or_default();
    let ops = vec![BrokerOp::DeleteQueue {
        vhost,
        queue: queue_name(&q.subscription, &q.offering, &q.object_type),
    }];
    Ok(Reply::empty(204).with_effects(Effects { ops, undo: None }))
}

/// `ListField(child=ChoiceField(ObservableObjectType))`; `None` when absent.
fn object_types(form: &mut Form, key: &str) -> Option<Vec<String>> {
    let raw = form.raw(key)?.clone();
    let items = match raw {
        Value::Array(items) => items,
        Value::Null => {
            form.error(key, NOT_NULL);
            return None;
        }
        other => {
            form.error(
                key,
                format!(
                    "Expected a list of items but got type \"{}\".",
                    py_type(&other)
                ),
            );
            return None;
        }
    };
    let mut errors = Map::new();
    let mut out = Vec::new();
    for (i, v) in items.iter().enumerate() {
        if is_object_type(v) {
            let t = v.as_str().unwrap_or_default().to_string();
            if !out.contains(&t) {
                out.push(t);
            }
        } else if v.is_null() {
            errors.insert(i.to_string(), json!([NOT_NULL]));
        } else {
            errors.insert(
                i.to_string(),
                json!([format!("\"{}\" is not a valid choice.", choice_text(v))]),
            );
        }
    }
    if !errors.is_empty() {
        form.error_value(key, Value::Object(errors));
        return None;
    }
    Some(out)
}

pub(crate) fn render_consumer(c: &Consumer) -> Value {
    object(vec![
        ("rmq_username", json!(c.rmq_username)),
        ("queue_name", json!(c.queue_name())),
        ("vhost", json!(hex(&c.user))),
        ("observable_object_types", json!(c.object_types)),
    ])
}

/// `POST /api/marketplace-site-agent-identities/{uuid}/register_queue/`
pub(crate) fn register_queue(st: &mut State, ctx: &Ctx, who: Principal, id: &str) -> Res<Reply> {
    let ii = find_identity(st, id)?;
    let mut form = ctx.form()?;
    let types = object_types(&mut form, "object_types");
    form.check()?;
    let (identity, offering) = (st.identities[ii].uuid, st.identities[ii].offering);
    let (user, _, _) = user_of(st, who);
    let vhost = hex(&user);
    let password = caller_secret(ctx);
    if let Some(ci) = st
        .events
        .consumers
        .iter()
        .position(|c| c.identity == identity)
    {
        let c = &mut st.events.consumers[ci];
        if c.user != user {
            return Err(Reply::detail(
                409,
                "The event consumer of this identity belongs to another user.",
            ));
        }
        if let Some(types) = types {
            c.object_types = types;
        }
        let mut ops = grant_ops(&vhost, &c.rmq_username, password);
        ops.push(BrokerOp::DeclareQueue {
            vhost,
            queue: c.queue_name(),
        });
        return Ok(Reply::json(200, render_consumer(c)).with_effects(Effects { ops, undo: None }));
    }
    let c = Consumer {
        uuid: Uuid::new_v4(),
        identity,
        offering,
        user,
        rmq_username: hex(&Uuid::new_v4()),
        object_types: types.unwrap_or_default(),
    };
    let mut ops = grant_ops(&vhost, &c.rmq_username, password);
    ops.push(BrokerOp::DeclareQueue {
        vhost,
        queue: c.queue_name(),
    });
    let body = render_consumer(&c);
    let undo = Some(Undo::Consumer(c.uuid));
    st.events.consumers.push(c);
    Ok(Reply::json(201, body).with_effects(Effects { ops, undo }))
}
