//! `waldur-sim`: a strict, stateful simulator of the Waldur Mastermind REST API subset that
//! site-agent uses (orders, provider resources, resource API keys, component usage, agent
//! identities, users/offerings), answering as Mastermind does, errors included.
//!
//! Start it with [`WaldurSim::start`]; seed it with [`WaldurSim::add_offering`] and
//! [`WaldurSim::place_order`]; inspect it with [`WaldurSim::order`], [`WaldurSim::resource`],
//! [`WaldurSim::calls`] …; break it with [`WaldurSim::fail_next`] and [`WaldurSim::set_down`].
//! The same operations are exposed over HTTP under `/sim/` (no auth) for demo scripts.

mod api_keys;
mod auth;
mod body;
mod context;
mod control;
mod event_views;
mod events;
mod hooks;
mod http;
mod identities;
mod offerings;
mod orders;
mod pagination;
mod query;
mod rabbit;
mod reply;
mod resources;
mod router;
mod seed;
mod state;
mod usage;
mod util;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

pub use events::EventMessage;
use state::State;
use util::parse_uuid;

/// What an injected fault does to a matching request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answer this status without doing anything (nothing is committed).
    Status(u16),
    /// Do the request (its effect is committed), then cut the connection before the answer
    /// is complete: the client cannot know whether it happened.
    DropResponse,
    /// Do the request, then hold the answer back this long (a client times out first).
    Delay(std::time::Duration),
}

/// A fault for requests whose method equals `method` and whose path contains `path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRule {
    pub method: String,
    pub path: String,
    pub fault: Fault,
    /// How many matching requests it applies to.
    pub times: usize,
}

impl FaultRule {
    pub fn new(method: &str, path: &str, fault: Fault, times: usize) -> Self {
        Self {
            method: method.into(),
            path: path.into(),
            fault,
            times,
        }
    }
}

/// A running simulator. Cheap to clone; all clones share one state.
#[derive(Clone)]
pub struct WaldurSim {
    inner: Arc<Mutex<State>>,
    addr: SocketAddr,
}

/// How to start the simulator.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Listen address; the default `127.0.0.1:0` picks a free port.
    pub bind: SocketAddr,
    /// Token of the agent's (non-staff, offering manager) user.
    pub provider_token: String,
    /// Token of a staff user.
    pub staff_token: String,
    pub agent_user_uuid: Uuid,
    /// Where events are published (STOMP to `stomp_host:stomp_port` as the admin) and
    /// subscription vhosts, users and queues are made (management API). `None`: the event
    /// endpoints still answer and record what they would do, nothing is published.
    pub rabbitmq: Option<crate::rmq::RmqPeer>,
}

fn random_token() -> String {
    let mut t = Uuid::new_v4().simple().to_string();
    t.push_str(&Uuid::new_v4().simple().to_string()[..8]);
    t
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            bind: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            provider_token: random_token(),
            staff_token: random_token(),
            agent_user_uuid: Uuid::new_v4(),
            rabbitmq: None,
        }
    }
}

/// An offering to create (type `Marketplace.Slurm`, state Active, one plan).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct OfferingSeed {
    pub uuid: Option<Uuid>,
    pub name: String,
    /// Provider organisation; random when `None`.
    pub customer_uuid: Option<Uuid>,
    pub components: Vec<ComponentSeed>,
    pub plugin_options: Value,
}

impl Default for OfferingSeed {
    fn default() -> Self {
        OfferingSeed {
            uuid: None,
            name: "S3 Object Storage".to_string(),
            customer_uuid: None,
            components: Vec::new(),
            plugin_options: Value::Object(Default::default()),
        }
    }
}

impl OfferingSeed {
    pub fn new(name: impl Into<String>, components: Vec<ComponentSeed>) -> Self {
        OfferingSeed {
            name: name.into(),
            components,
            ..Default::default()
        }
    }
}

/// An offering component. The default is `storage`, billing `usage`, unit `GB-day`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ComponentSeed {
    #[serde(rename = "type")]
    pub type_: String,
    pub name: String,
    /// `usage` | `limit` | `fixed` | `one` | `few`.
    pub billing_type: String,
    pub measured_unit: String,
    pub unit_factor: Option<i64>,
    pub limit_amount: Option<i64>,
}

impl Default for ComponentSeed {
    fn default() -> Self {
        ComponentSeed::usage("storage", "Storage", "GB-day")
    }
}

impl ComponentSeed {
    pub fn usage(type_: &str, name: &str, measured_unit: &str) -> Self {
        ComponentSeed {
            type_: type_.to_string(),
            name: name.to_string(),
            billing_type: "usage".to_string(),
            measured_unit: measured_unit.to_string(),
            unit_factor: None,
            limit_amount: None,
        }
    }

    pub fn limit(type_: &str, name: &str, measured_unit: &str, limit_amount: Option<i64>) -> Self {
        ComponentSeed {
            billing_type: "limit".to_string(),
            limit_amount,
            ..ComponentSeed::usage(type_, name, measured_unit)
        }
    }

    /// The S3 storage component: `s3_storage`, usage, GB-day, 10^9 bytes per GB.
    pub fn s3_storage() -> Self {
        ComponentSeed {
            unit_factor: Some(1_000_000_000),
            ..ComponentSeed::usage("s3_storage", "Storage", "GB-day")
        }
    }

    pub fn with_billing_type(mut self, billing_type: &str) -> Self {
        self.billing_type = billing_type.to_string();
        self
    }
}

/// A consumer order as Mastermind would have created it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct OrderSeed {
    /// May be empty for Update/Terminate/Restore (the resource's offering is used).
    pub offering_uuid: String,
    /// `Create` | `Update` | `Terminate` | `Restore`.
    #[serde(rename = "type")]
    pub order_type: String,
    /// `None` for Create: a new resource is made (state Creating, empty backend_id).
    pub resource_uuid: Option<String>,
    /// Required for Create (unless `attributes.name` is set); ignored otherwise (orders
    /// show the resource's own name).
    pub resource_name: String,
    /// Default `project`.
    pub project_slug: String,
    /// Default `customer`.
    pub customer_slug: String,
    pub attributes: Value,
    pub limits: Value,
    /// Default `pending-provider`. `done`/`erred`/`rejected`/`canceled` also apply the
    /// matching resource side effects, so e.g. a `done` Create yields an OK resource.
    pub state: Option<String>,
}

impl Default for OrderSeed {
    fn default() -> Self {
        OrderSeed {
            offering_uuid: String::new(),
            order_type: "Create".to_string(),
            resource_uuid: None,
            resource_name: String::new(),
            project_slug: "project".to_string(),
            customer_slug: "customer".to_string(),
            attributes: Value::Object(Default::default()),
            limits: Value::Object(Default::default()),
            state: None,
        }
    }
}

impl OrderSeed {
    pub fn create(offering_uuid: &str, resource_name: &str) -> Self {
        OrderSeed {
            offering_uuid: offering_uuid.to_string(),
            resource_name: resource_name.to_string(),
            ..Default::default()
        }
    }

    /// Update order with new `limits` (`attributes.old_limits` is filled in).
    pub fn update(resource_uuid: &str, limits: Value) -> Self {
        OrderSeed {
            order_type: "Update".to_string(),
            resource_uuid: Some(resource_uuid.to_string()),
            limits,
            ..Default::default()
        }
    }

    pub fn terminate(resource_uuid: &str) -> Self {
        OrderSeed {
            order_type: "Terminate".to_string(),
            resource_uuid: Some(resource_uuid.to_string()),
            ..Default::default()
        }
    }

    pub fn restore(resource_uuid: &str) -> Self {
        OrderSeed {
            order_type: "Restore".to_string(),
            resource_uuid: Some(resource_uuid.to_string()),
            ..Default::default()
        }
    }

    pub fn with_state(mut self, state: &str) -> Self {
        self.state = Some(state.to_string());
        self
    }

    pub fn with_project(mut self, customer_slug: &str, project_slug: &str) -> Self {
        self.customer_slug = customer_slug.to_string();
        self.project_slug = project_slug.to_string();
        self
    }

    pub fn with_attributes(mut self, attributes: Value) -> Self {
        self.attributes = attributes;
        self
    }

    pub fn with_limits(mut self, limits: Value) -> Self {
        self.limits = limits;
        self
    }
}

/// Hex UUIDs of a placed order and its resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlacedOrder {
    pub order_uuid: String,
    pub resource_uuid: String,
}

/// One stored resource API key, secret included (for assertions).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyRow {
    pub uuid: String,
    pub resource_uuid: String,
    pub client_id: String,
    pub api_key: String,
    pub state: String,
}

/// One request the simulator answered (`/api/…` and `/oidc/token`; not `/sim/…`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRecord {
    pub method: String,
    /// Path only.
    pub path: String,
    /// Raw query string (may be empty).
    pub query: String,
    pub status: u16,
    /// Parsed request body (JSON or form) or `Null`.
    pub body: Value,
    /// The injected fault that hit this request, if any (`Fault` as text).
    #[serde(default)]
    pub fault: Option<String>,
    /// When it was answered: microseconds since the simulator started (`WaldurSim::started`).
    #[serde(default)]
    pub at_us: u64,
}

impl WaldurSim {
    /// Binds `opts.bind` and serves on a spawned tokio task (needs a tokio runtime).
    pub async fn start(opts: SimOptions) -> anyhow::Result<WaldurSim> {
        let listener = tokio::net::TcpListener::bind(opts.bind).await?;
        let mut addr = listener.local_addr()?;
        if addr.ip().is_unspecified() {
            addr.set_ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
        }
        let mut state = State::new(
            format!("http://{addr}"),
            opts.provider_token,
            opts.staff_token,
            opts.agent_user_uuid,
        );
        state.events = events::Events::start(opts.rabbitmq);
        let sim = WaldurSim {
            inner: Arc::new(Mutex::new(state)),
            addr,
        };
        let app = http::app(sim.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("waldur-sim: server stopped: {e}");
            }
        });
        Ok(sim)
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:PORT/api/`
    pub fn api_url(&self) -> String {
        format!("{}/api/", self.base_url())
    }

    /// `http://127.0.0.1:PORT/oidc/token`
    pub fn oidc_token_url(&self) -> String {
        format!("{}/oidc/token", self.base_url())
    }

    pub fn provider_token(&self) -> String {
        self.lock().provider_token.clone()
    }

    pub fn staff_token(&self) -> String {
        self.lock().staff_token.clone()
    }

    pub fn agent_user_uuid(&self) -> String {
        self.lock().agent.uuid.simple().to_string()
    }

    /// Registers an OIDC client; its client-credentials tokens act as the agent user.
    pub fn add_oidc_client(&self, client_id: impl Into<String>, client_secret: impl Into<String>) {
        self.lock()
            .oidc_clients
            .push((client_id.into(), client_secret.into()));
    }

    /// Creates an offering; returns its uuid hex. Panics on an invalid seed (test bug).
    pub fn add_offering(&self, seed: OfferingSeed) -> String {
        // Bind the result first so the lock is released before a panic.
        let added = seed::add_offering(&mut self.lock(), &seed);
        match added {
            Ok(u) => u.simple().to_string(),
            Err(e) => panic!("waldur-sim: add_offering: {e}"),
        }
    }

    /// Places an order as a consumer would. Panics on an invalid seed (test bug).
    pub fn place_order(&self, seed: OrderSeed) -> PlacedOrder {
        match self.try_place_order(seed) {
            Ok(p) => p,
            Err(e) => panic!("waldur-sim: place_order: {e}"),
        }
    }

    pub fn try_place_order(&self, seed: OrderSeed) -> Result<PlacedOrder, String> {
        seed::place_order(&mut self.lock(), &seed)
    }

    /// The order as `GET /api/marketplace-orders/{uuid}/` renders it.
    pub fn order(&self, order_uuid: &str) -> Option<Value> {
        let st = self.lock();
        let i = parse_uuid(order_uuid).and_then(|u| st.order_idx(&u))?;
        Some(orders::render(&st, &st.orders[i], &st.origin))
    }

    /// The resource as `GET /api/marketplace-provider-resources/{uuid}/` renders it.
    pub fn resource(&self, resource_uuid: &str) -> Option<Value> {
        let st = self.lock();
        let i = parse_uuid(resource_uuid).and_then(|u| st.resource_idx(&u))?;
        Some(resources::render(&st, &st.resources[i], &st.origin))
    }

    /// Every resource, in creation order.
    pub fn resources(&self) -> Vec<Value> {
        let st = self.lock();
        st.resources
            .iter()
            .map(|r| resources::render(&st, r, &st.origin))
            .collect()
    }

    /// Every order, in creation order.
    pub fn orders(&self) -> Vec<Value> {
        let st = self.lock();
        st.orders
            .iter()
            .map(|o| orders::render(&st, o, &st.origin))
            .collect()
    }

    pub fn api_keys(&self, resource_uuid: &str) -> Vec<ApiKeyRow> {
        hooks::api_key_rows(&self.lock(), resource_uuid)
    }

    /// Usage rows of the resource as the usage list renders them (`-date`, type).
    pub fn component_usages(&self, resource_uuid: &str) -> Vec<Value> {
        let st = self.lock();
        let Some(u) = parse_uuid(resource_uuid) else {
            return Vec::new();
        };
        usage::sorted(&st, Some(u))
            .into_iter()
            .map(|row| usage::render(&st, row, &st.origin))
            .collect()
    }

    pub fn calls(&self) -> Vec<CallRecord> {
        self.lock().calls.clone()
    }

    /// Requests with this method (case-insensitive) whose path ends with `path_suffix`.
    pub fn count_calls(&self, method: &str, path_suffix: &str) -> usize {
        self.lock()
            .calls
            .iter()
            .filter(|c| c.method.eq_ignore_ascii_case(method) && c.path.ends_with(path_suffix))
            .count()
    }

    /// The instant `CallRecord::at_us` counts from.
    pub fn started(&self) -> std::time::Instant {
        self.lock().started
    }

    pub fn clear_calls(&self) {
        self.lock().calls.clear();
    }

    /// The next `n` `/api/` requests answer `status` with `{"detail": "Simulated failure"}`
    /// and change nothing.
    pub fn fail_next(&self, n: usize, status: u16) {
        let mut st = self.lock();
        st.fail_remaining = n;
        st.fail_status = status;
    }

    /// Adds a fault for the next `rule.times` requests that match it (see [`Fault`]).
    pub fn inject(&self, rule: FaultRule) {
        self.lock().faults.push(rule);
    }

    /// Removes every injected fault.
    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// While down, every `/api/` request answers 503 and changes nothing.
    pub fn set_down(&self, down: bool) {
        self.lock().down = down;
    }

    /// Every later `/api/` request waits `d` (an async sleep, so concurrent requests overlap)
    /// before it is handled: a stand-in for network and server time. Zero (the default) turns
    /// it off; failures and outages are delayed too.
    pub fn set_latency(&self, d: std::time::Duration) {
        self.lock().latency = d;
    }

    /// Creates a resource of the offering directly in state `OK` with `backend_id` set, as a
    /// completed Create order would have left it (project `project` of customer `customer`,
    /// no order, no limits); returns its uuid hex. For seeding large worlds quickly. Panics on
    /// an unknown offering or an empty name (test bug).
    pub fn add_resource_ok(
        &self,
        offering_uuid: &str,
        name: &str,
        backend_id: &str,
        attributes: Value,
    ) -> String {
        let added = seed::add_resource_ok(
            &mut self.lock(),
            offering_uuid,
            name,
            backend_id,
            attributes,
        );
        match added {
            Ok(u) => u.simple().to_string(),
            Err(e) => panic!("waldur-sim: add_resource_ok: {e}"),
        }
    }

    /// Many resources in state OK at once (`(name, backend_id)` each, no attributes), for
    /// benchmarks at a scale where adding them one by one is quadratic.
    pub fn add_resources_ok(
        &self,
        offering_uuid: &str,
        resources: &[(String, String)],
    ) -> Vec<String> {
        match seed::add_resources_ok(&mut self.lock(), offering_uuid, resources) {
            Ok(v) => v.into_iter().map(|u| u.simple().to_string()).collect(),
            Err(e) => panic!("waldur-sim: add_resources_ok: {e}"),
        }
    }

    /// Component-usage lists in a different order on every request (pages shift while read).
    pub fn set_unstable_usage_order(&self, on: bool) {
        self.lock().unstable_usage_order = on.then(|| std::sync::atomic::AtomicU64::new(1));
    }

    /// Freezes the sim clock at `now` (until the next call).
    pub fn set_now(&self, now: chrono::DateTime<chrono::Utc>) {
        self.lock().clock = Some(util::truncate_micros(now));
    }

    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.lock().now()
    }

    /// Consumer-side rotation: OK/Erred → Updating (refused while the resource is
    /// terminating/terminated).
    pub fn rotate_key(&self, api_key_uuid: &str) -> anyhow::Result<()> {
        hooks::rotate_key(&mut self.lock(), api_key_uuid).map_err(anyhow::Error::msg)
    }

    /// Sets the order state directly (bumps `modified`, no resource side effects; a change is
    /// published as an `order` event). Panics on an unknown order or state.
    pub fn set_order_state(&self, order_uuid: &str, state: &str) {
        let result = hooks::set_order_state(&mut self.lock(), order_uuid, state);
        if let Err(e) = result {
            panic!("waldur-sim: set_order_state: {e}");
        }
    }

    /// Sets a rendered resource field (e.g. `paused`, `backend_id`, `state`); unknown fields
    /// are rendered as given. Panics on an unknown resource or invalid state.
    pub fn set_resource_field(&self, resource_uuid: &str, field: &str, value: Value) {
        let result = hooks::set_resource_field(&mut self.lock(), resource_uuid, field, value);
        if let Err(e) = result {
            panic!("waldur-sim: set_resource_field: {e}");
        }
    }

    /// Event messages the broker accepted (0 without `SimOptions::rabbitmq`).
    pub fn published(&self) -> usize {
        self.lock().events.published()
    }

    /// Event messages routed to a queue but not accepted by the broker yet (the broker is
    /// unreachable, or the publisher is still at it). Without a broker: every routed message.
    pub fn pending_events(&self) -> usize {
        self.lock().events.pending()
    }

    /// Every event message routed to a queue, in order (published or not).
    pub fn event_log(&self) -> Vec<EventMessage> {
        self.lock().events.log.clone()
    }

    /// Every event subscription as `GET /api/event-subscriptions/{uuid}/` renders it, each
    /// with an extra `queues` array (its EventSubscriptionQueue objects).
    pub fn event_subscriptions(&self) -> Vec<Value> {
        let st = self.lock();
        st.events
            .subscriptions
            .iter()
            .map(|s| {
                let mut v = event_views::render_subscription(&st, s, &st.origin);
                let queues: Vec<Value> = st
                    .events
                    .queues
                    .iter()
                    .filter(|q| q.subscription == s.uuid)
                    .map(|q| event_views::render_queue(&st, q, &st.origin))
                    .collect();
                if let Value::Object(m) = &mut v {
                    m.insert("queues".to_string(), Value::Array(queues));
                }
                v
            })
            .collect()
    }

    /// The unified consumers as `register_queue` answers, each with `identity_uuid` and
    /// `offering_uuid` added.
    pub fn event_consumers(&self) -> Vec<Value> {
        let st = self.lock();
        st.events
            .consumers
            .iter()
            .map(|c| {
                let mut v = event_views::render_consumer(c);
                if let Value::Object(m) = &mut v {
                    m.insert(
                        "identity_uuid".into(),
                        Value::String(c.identity.simple().to_string()),
                    );
                    m.insert(
                        "offering_uuid".into(),
                        Value::String(c.offering.simple().to_string()),
                    );
                }
                v
            })
            .collect()
    }

    /// RabbitMQ management calls the event endpoints made (or, without a broker, would have
    /// made), in order, passwords left out: `{"op": "create_user", "user": …}`, ….
    pub fn broker_ops(&self) -> Vec<Value> {
        self.lock().events.broker_ops.clone()
    }
}
