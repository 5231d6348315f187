//! Event subscriptions and their delivery (§5.2–5.6): legacy per-type subscriptions with
//! their queues, the unified per-identity consumer, the message payloads Mastermind builds
//! when an order changes state or a key is put up for rotation, and the broker side effects.
//!
//! Routing happens under the state lock, right after the change it reports, so messages are
//! produced in commit order; they are then handed to the publisher task (`rabbit.rs`) over a
//! channel and never wait for the broker. Management-API side effects of the REST endpoints
//! (vhost, user, permissions, queue) travel on the reply and run after the lock is released,
//! before the response is sent — as Mastermind does them inside the request.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::extract::{Request, State as AxState};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::WaldurSim;
use super::rabbit::{self, Counters, Outgoing, Target};
use super::state::{Principal, State};
use super::util::hex;
use crate::rmq::RmqPeer;

/// `ObservableObjectType` (§5.2, full enum).
pub(crate) const OBJECT_TYPES: [&str; 18] = [
    "order",
    "user_role",
    "resource",
    "offering_user",
    "importable_resources",
    "service_account",
    "course_account",
    "resource_periodic_limits",
    "call",
    "proposal",
    "offering_resources_sync",
    "resource_end_date_change_request",
    "resource_api_key_rotation",
    "service_provider_account",
    "service_provider_project_group",
    "user_profile",
    "user_ssh_key",
    "user_lifecycle",
];

/// Longest wait for one management-API call made for a request.
const MGMT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// `schema_version` of unified payloads.
pub(crate) const SCHEMA_VERSION: i64 = 1;

/// One message routed to a queue (published or still waiting), for assertions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventMessage {
    pub vhost: String,
    pub queue: String,
    /// The JSON body as sent.
    pub body: Value,
}

#[derive(Debug, Clone)]
pub(crate) struct Subscription {
    pub uuid: Uuid,
    pub owner: Principal,
    pub user: Uuid,
    /// The identity it was registered through (`register_event_subscription`).
    pub identity: Option<Uuid>,
    pub description: String,
    pub object_types: Vec<String>,
    pub source_ip: String,
    pub created: DateTime<Utc>,
    pub modified: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub(crate) struct SubscriptionQueue {
    pub uuid: Uuid,
    pub subscription: Uuid,
    pub offering: Uuid,
    pub object_type: String,
    pub created: DateTime<Utc>,
}

/// The unified queue of one agent identity (`EventConsumer`).
#[derive(Debug, Clone)]
pub(crate) struct Consumer {
    pub uuid: Uuid,
    pub identity: Uuid,
    pub offering: Uuid,
    pub user: Uuid,
    pub rmq_username: String,
    /// Empty: every type.
    pub object_types: Vec<String>,
}

impl Consumer {
    pub fn queue_name(&self) -> String {
        format!("consumer_{}", hex(&self.uuid))
    }

    fn wants(&self, object_type: &str) -> bool {
        self.object_types.is_empty() || self.object_types.iter().any(|t| t == object_type)
    }
}

/// `subscription_<sub hex>_offering_<offering hex>_<object_type>`
pub(crate) fn queue_name(subscription: &Uuid, offering: &Uuid, object_type: &str) -> String {
    format!(
        "subscription_{}_offering_{}_{object_type}",
        hex(subscription),
        hex(offering)
    )
}

/// A management-API call a request needs before its response goes out.
#[derive(Debug, Clone)]
pub(crate) enum BrokerOp {
    CreateVhost { vhost: String },
    CreateUser { user: String, password: String },
    Permit { vhost: String, user: String },
    DeclareQueue { vhost: String, queue: String },
    DeleteQueue { vhost: String, queue: String },
    DeleteUser { user: String },
    DeleteVhost { vhost: String },
}

impl BrokerOp {
    /// Mastermind's 400 message when this step fails (`None`: failures are only logged, as
    /// for deletions).
    fn failure(&self) -> Option<&'static str> {
        match self {
            BrokerOp::CreateVhost { .. } => Some("Failed to create RabbitMQ virtual host"),
            BrokerOp::CreateUser { .. } => Some("Failed to create RabbitMQ user"),
            BrokerOp::Permit { .. } => Some("Failed to assign RabbitMQ permissions"),
            BrokerOp::DeclareQueue { .. } => {
                Some("Failed to create queue in RabbitMQ. Please try again.")
            }
            _ => None,
        }
    }

    /// For `broker_ops()`: the call without its password.
    fn record(&self) -> Value {
        match self {
            BrokerOp::CreateVhost { vhost } => json!({"op": "create_vhost", "vhost": vhost}),
            BrokerOp::CreateUser { user, .. } => json!({"op": "create_user", "user": user}),
            BrokerOp::Permit { vhost, user } => {
                json!({"op": "set_permissions", "vhost": vhost, "user": user})
            }
            BrokerOp::DeclareQueue { vhost, queue } => {
                json!({"op": "declare_queue", "vhost": vhost, "queue": queue})
            }
            BrokerOp::DeleteQueue { vhost, queue } => {
                json!({"op": "delete_queue", "vhost": vhost, "queue": queue})
            }
            BrokerOp::DeleteUser { user } => json!({"op": "delete_user", "user": user}),
            BrokerOp::DeleteVhost { vhost } => json!({"op": "delete_vhost", "vhost": vhost}),
        }
    }

    async fn run(&self, peer: &RmqPeer) -> anyhow::Result<()> {
        match self {
            BrokerOp::CreateVhost { vhost } => peer.create_vhost(vhost).await,
            BrokerOp::CreateUser { user, password } => peer.create_user(user, password).await,
            BrokerOp::Permit { vhost, user } => peer.permit(vhost, user).await,
            BrokerOp::DeclareQueue { vhost, queue } => peer.declare_queue(vhost, queue).await,
            BrokerOp::DeleteQueue { vhost, queue } => peer.delete_queue(vhost, queue).await,
            BrokerOp::DeleteUser { user } => peer.remove_user(user).await,
            BrokerOp::DeleteVhost { vhost } => peer.delete_vhost(vhost).await,
        }
    }
}

/// What to undo when a required broker step fails (Mastermind's request transaction rolls
/// back).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Undo {
    Subscription(Uuid),
    Queue(Uuid),
    Consumer(Uuid),
}

/// Broker work attached to a reply.
#[derive(Debug, Clone, Default)]
pub(crate) struct Effects {
    pub ops: Vec<BrokerOp>,
    pub undo: Option<Undo>,
}

/// vhost, queue, payload fields.
type Routed<'a> = (String, String, Vec<(&'a str, Value)>);

/// Subscription state plus the publisher's handle.
#[derive(Default)]
pub(crate) struct Events {
    pub subscriptions: Vec<Subscription>,
    pub queues: Vec<SubscriptionQueue>,
    pub consumers: Vec<Consumer>,
    /// Every message routed, in order.
    pub log: Vec<EventMessage>,
    /// Every management-API call made (or, without a broker, that would have been made).
    pub broker_ops: Vec<Value>,
    pub rabbitmq: Option<RmqPeer>,
    tx: Option<mpsc::UnboundedSender<Outgoing>>,
    pub counters: Arc<Counters>,
}

impl Events {
    /// Starts the publisher when a broker is given (needs a tokio runtime).
    pub fn start(rabbitmq: Option<RmqPeer>) -> Events {
        let counters = Arc::new(Counters::default());
        let tx = rabbitmq.as_ref().map(|peer| {
            let target = Target {
                host: peer.stomp_host.clone(),
                port: peer.stomp_port,
                login: peer.admin_user.clone(),
                passcode: peer.admin_pass.clone(),
            };
            rabbit::spawn(target, counters.clone())
        });
        Events {
            rabbitmq,
            tx,
            counters,
            ..Default::default()
        }
    }

    pub fn published(&self) -> usize {
        self.counters.published.load(Ordering::Relaxed)
    }

    /// Routed but not (yet) accepted by a broker; without a broker, everything routed.
    pub fn pending(&self) -> usize {
        self.log.len().saturating_sub(self.published())
    }

    fn emit(&mut self, vhost: String, queue: String, pairs: &[(&str, Value)]) {
        let body = py_json(pairs);
        let parsed = serde_json::from_str(&body).unwrap_or(Value::Null);
        self.log.push(EventMessage {
            vhost: vhost.clone(),
            queue: queue.clone(),
            body: parsed,
        });
        if let Some(tx) = &self.tx {
            // The task only ends with the runtime; a send then has nowhere to go anyway.
            let _ = tx.send(Outgoing { vhost, queue, body });
        }
    }

    /// Users with a unified consumer on `offering` that takes `object_type`: Mastermind
    /// leaves them out of the legacy fan-out (no double delivery).
    fn route(
        &mut self,
        offering: &Uuid,
        object_type: &str,
        legacy: &[(&str, Value)],
        enrich: &[(&str, Value)],
    ) {
        if self.consumers.is_empty() && self.queues.is_empty() {
            return;
        }
        let mut out: Vec<Routed> = Vec::new();
        let mut unified_users = Vec::new();
        for c in self
            .consumers
            .iter()
            .filter(|c| &c.offering == offering && c.wants(object_type))
        {
            let mut pairs = legacy.to_vec();
            pairs.push(("offering_uuid", json!(hex(offering))));
            pairs.push(("object_type", json!(object_type)));
            pairs.push(("schema_version", json!(SCHEMA_VERSION)));
            pairs.extend(enrich.iter().cloned());
            out.push((hex(&c.user), c.queue_name(), pairs));
            unified_users.push(c.user);
        }
        for q in self
            .queues
            .iter()
            .filter(|q| &q.offering == offering && q.object_type == object_type)
        {
            let Some(sub) = self.subscriptions.iter().find(|s| s.uuid == q.subscription) else {
                continue;
            };
            if unified_users.contains(&sub.user) {
                continue;
            }
            let name = queue_name(&q.subscription, &q.offering, &q.object_type);
            out.push((hex(&sub.user), name, legacy.to_vec()));
        }
        for (vhost, queue, pairs) in out {
            self.emit(vhost, queue, &pairs);
        }
    }
}

/// An order changed state (placed, or any transition): `order` events.
pub(crate) fn order_changed(st: &mut State, oi: usize) {
    let Some(o) = st.orders.get(oi) else {
        return;
    };
    if st.events.consumers.is_empty() && st.events.queues.is_empty() {
        return;
    }
    let resource = st.resource(&o.resource);
    let project = st.project(&o.project);
    let legacy = [
        ("order_uuid", json!(hex(&o.uuid))),
        ("order_state", json!(o.state)),
    ];
    let enrich = [
        ("order_type", json!(o.type_)),
        ("resource_uuid", json!(hex(&o.resource))),
        (
            "resource_backend_id",
            json!(resource.map(|r| r.backend_id.clone()).unwrap_or_default()),
        ),
        ("resource_name", json!(o.resource_name)),
        ("project_uuid", json!(hex(&o.project))),
        ("project_name", json!(project.map(|p| p.name.clone()))),
        ("attributes", o.attributes.clone()),
        ("limits", o.limits.clone()),
        ("plan_uuid", json!(hex(&o.plan))),
    ];
    let offering = o.offering;
    st.events.route(&offering, "order", &legacy, &enrich);
}

/// A key was put in `Updating` by a rotation: `resource_api_key_rotation` events.
pub(crate) fn key_rotation_requested(st: &mut State, ki: usize) {
    let Some(k) = st.api_keys.get(ki) else {
        return;
    };
    let Some(r) = st.resource(&k.resource) else {
        return;
    };
    let legacy = [
        ("action", json!("rotate")),
        ("resource_uuid", json!(hex(&r.uuid))),
        ("resource_backend_id", json!(r.backend_id)),
        ("api_key_uuid", json!(hex(&k.uuid))),
        ("client_id", json!(k.client_id)),
    ];
    let offering = r.offering;
    st.events
        .route(&offering, "resource_api_key_rotation", &legacy, &[]);
}

/// axum middleware: runs the broker side effects a response carries (put there from the
/// reply), after the state lock was released and before the response goes out. A failed
/// required step undoes the change and answers 400 `["Failed to …"]` as Mastermind does.
pub(crate) async fn broker_effects(
    AxState(sim): AxState<WaldurSim>,
    req: Request,
    next: Next,
) -> Response {
    let mut resp = next.run(req).await;
    let Some(effects) = resp.extensions_mut().remove::<Effects>() else {
        return resp;
    };
    match run_effects(&sim, effects).await {
        None => resp,
        Some(message) => {
            let body = serde_json::to_vec(&json!([message])).unwrap_or_default();
            let mut failed = Response::new(Body::from(body));
            *failed.status_mut() = StatusCode::BAD_REQUEST;
            failed.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            failed
        }
    }
}

/// `Some(message)` when a required step failed (the change is undone by then).
async fn run_effects(sim: &WaldurSim, effects: Effects) -> Option<&'static str> {
    if effects.ops.is_empty() {
        return None;
    }
    let peer = {
        let mut st = sim.lock();
        st.events
            .broker_ops
            .extend(effects.ops.iter().map(BrokerOp::record));
        st.events.rabbitmq.clone()
    }?;
    for op in &effects.ops {
        let done = tokio::time::timeout(MGMT_TIMEOUT, op.run(&peer))
            .await
            .unwrap_or_else(|_| Err(anyhow::anyhow!("no answer in {MGMT_TIMEOUT:?}")));
        if let Err(e) = done {
            eprintln!("waldur-sim: RabbitMQ {}: {e}", op.record());
            let Some(message) = op.failure() else {
                continue;
            };
            if let Some(undo) = effects.undo {
                undo_change(&mut sim.lock(), undo);
            }
            return Some(message);
        }
    }
    None
}

fn undo_change(st: &mut State, undo: Undo) {
    let ev = &mut st.events;
    match undo {
        Undo::Subscription(u) => {
            ev.subscriptions.retain(|s| s.uuid != u);
            ev.queues.retain(|q| q.subscription != u);
        }
        Undo::Queue(u) => ev.queues.retain(|q| q.uuid != u),
        Undo::Consumer(u) => ev.consumers.retain(|c| c.uuid != u),
    }
}

/// Removes the identity's unified consumer (identity deletion tears it down).
pub(crate) fn identity_deleted(st: &mut State, identity: &Uuid) -> Effects {
    let mut effects = Effects::default();
    let gone: Vec<Consumer> = st
        .events
        .consumers
        .iter()
        .filter(|c| &c.identity == identity)
        .cloned()
        .collect();
    st.events.consumers.retain(|c| &c.identity != identity);
    for c in gone {
        let vhost = hex(&c.user);
        effects.ops.push(BrokerOp::DeleteQueue {
            vhost: vhost.clone(),
            queue: c.queue_name(),
        });
        effects.ops.push(BrokerOp::DeleteUser {
            user: c.rmq_username.clone(),
        });
        if !user_has_broker_objects(st, &c.user) {
            effects.ops.push(BrokerOp::DeleteVhost { vhost });
        }
    }
    effects
}

/// Whether the user still has a subscription or a consumer (then its vhost stays).
pub(crate) fn user_has_broker_objects(st: &State, user: &Uuid) -> bool {
    st.events.subscriptions.iter().any(|s| &s.user == user)
        || st.events.consumers.iter().any(|c| &c.user == user)
}

/// `json.dumps(payload)` as Python writes it: keys in the given order, `", "` and `": "`
/// separators, non-ASCII escaped.
pub(crate) fn py_json(pairs: &[(&str, Value)]) -> String {
    let mut out = String::from("{");
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        py_string(&mut out, k);
        out.push_str(": ");
        py_value(&mut out, v);
    }
    out.push('}');
    out
}

fn py_value(out: &mut String, v: &Value) {
    match v {
        Value::Object(m) => {
            out.push('{');
            for (i, (k, v)) in m.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                py_string(out, k);
                out.push_str(": ");
                py_value(out, v);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, v) in a.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                py_value(out, v);
            }
            out.push(']');
        }
        Value::String(s) => py_string(out, s),
        other => out.push_str(&other.to_string()),
    }
}

fn py_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_json_dumps_format() {
        let s = py_json(&[
            ("order_uuid", json!("ab")),
            ("order_state", json!("pending-provider")),
            ("limits", json!({"b": 1, "a": [1, 2.5, null, true]})),
            ("name", json!("Zürich \"q\"\n😀")),
        ]);
        assert_eq!(
            s,
            r#"{"order_uuid": "ab", "order_state": "pending-provider", "limits": {"a": [1, 2.5, null, true], "b": 1}, "name": "Z\u00fcrich \"q\"\n\ud83d\ude00"}"#
        );
        let back: Value = serde_json::from_str(&s).unwrap();
        assert_eq!(back["name"], "Zürich \"q\"\n😀");
    }
}
