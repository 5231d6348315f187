//! waldur-sim's event side (§5.2–5.6): subscriptions, queues and the unified consumer over
//! its REST API, and order / key-rotation events published for real through RabbitMQ over
//! STOMP (read back with the management API, and by the agent's own STOMP session).
//!
//! Needs the test RabbitMQ (`RMQ_*` variables, exported by ./scripts/test.sh) except for
//! `validation_errors_and_recording_without_a_broker`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use secrecy::SecretString;
use serde_json::{Value, json};
use site_agent::stomp::session::{self, SessionConfig, SessionState};
use site_agent_sims::rmq::RmqPeer;
use site_agent_sims::waldur::{ComponentSeed, OfferingSeed, OrderSeed, SimOptions, WaldurSim};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

const WAIT: Duration = Duration::from_secs(20);

struct T {
    sim: WaldurSim,
    http: reqwest::Client,
    offering: String,
    identity: String,
}

async fn start(rabbitmq: Option<RmqPeer>) -> T {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim = WaldurSim::start(SimOptions {
        rabbitmq,
        ..SimOptions::default()
    })
    .await
    .unwrap();
    let offering = sim.add_offering(OfferingSeed::new(
        "S3 Object Storage",
        vec![ComponentSeed::usage("storage", "Storage", "GB-day")],
    ));
    let mut t = T {
        sim,
        http: reqwest::Client::new(),
        offering,
        identity: String::new(),
    };
    let r = t
        .post(
            "/api/marketplace-site-agent-identities/",
            json!({"offering": t.offering, "name": format!("agent-{}", t.offering), "version": "1.0.7"}),
        )
        .await;
    assert_eq!(r.0, 201, "{}", r.1);
    t.identity = r.1["uuid"].as_str().unwrap().to_string();
    t
}

impl T {
    async fn send(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let url = format!("{}{}", self.sim.base_url(), path);
        let mut req = self
            .http
            .request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), url)
            .header("Authorization", format!("Token {token}"));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        (status, body)
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send("POST", path, &self.sim.provider_token(), Some(body))
            .await
    }

    async fn subscribe(&self, object_type: &str) -> (u16, Value) {
        self.post(
            &format!(
                "/api/marketplace-site-agent-identities/{}/register_event_subscription/",
                self.identity
            ),
            json!({"observable_object_type": object_type, "description": format!("agent {object_type} events")}),
        )
        .await
    }

    async fn create_queue(&self, sub: &str, object_type: &str) -> (u16, Value) {
        self.post(
            &format!("/api/event-subscriptions/{sub}/create_queue/"),
            json!({"offering_uuid": self.offering, "object_type": object_type}),
        )
        .await
    }

    async fn approve(&self, order: &str) {
        let r = self
            .post(
                &format!("/api/marketplace-orders/{order}/approve_by_provider/"),
                json!({}),
            )
            .await;
        assert_eq!(r.0, 200, "{}", r.1);
    }

    /// Waits until the broker accepted `n` messages in all.
    async fn published(&self, n: usize) {
        let ok = poll(|| async { self.sim.published() >= n }).await;
        assert!(
            ok,
            "published {} of {n} (pending {})",
            self.sim.published(),
            self.sim.pending_events()
        );
    }
}

async fn poll<F, Fut>(mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if cond().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Takes every message now in the queue; returns the parsed payloads and the raw messages.
async fn drain(peer: &RmqPeer, vhost: &str, queue: &str) -> (Vec<Value>, Vec<Value>) {
    let raw = peer.take_messages(vhost, queue, 100).await.unwrap();
    let bodies = raw
        .iter()
        .map(|m| serde_json::from_str(m["payload"].as_str().unwrap()).unwrap())
        .collect();
    (bodies, raw)
}

#[tokio::test]
async fn legacy_subscription_queue_and_order_events_through_rabbitmq() {
    let peer = RmqPeer::from_env();
    let t = start(Some(peer.clone())).await;
    let vhost = t.sim.agent_user_uuid();

    let (status, sub) = t.subscribe("order").await;
    assert_eq!(status, 201, "{sub}");
    let sub_uuid = sub["uuid"].as_str().unwrap().to_string();
    let keys: Vec<&str> = sub
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut want = vec![
        "uuid",
        "url",
        "description",
        "user",
        "user_uuid",
        "user_username",
        "user_full_name",
        "observable_objects",
        "source_ip",
        "created",
        "modified",
    ];
    want.sort();
    assert_eq!(keys, want);
    assert_eq!(sub["user_uuid"], vhost.as_str());
    assert_eq!(sub["user_username"], "site-agent");
    assert_eq!(sub["observable_objects"], json!([{"object_type": "order"}]));
    assert_eq!(sub["description"], "agent order events");
    assert_eq!(
        sub["url"],
        format!("{}/api/event-subscriptions/{sub_uuid}/", t.sim.base_url())
    );
    assert!(peer.user_exists(&sub_uuid).await.unwrap());

    let (status, again) = t.subscribe("order").await;
    assert_eq!(
        status, 200,
        "the same user, identity and type: the same subscription"
    );
    assert_eq!(again["uuid"], sub_uuid.as_str());
    assert_eq!(t.sim.event_subscriptions().len(), 1);

    let (status, q) = t.create_queue(&sub_uuid, "order").await;
    assert_eq!(status, 201, "{q}");
    let queue = format!("subscription_{sub_uuid}_offering_{}_order", t.offering);
    assert_eq!(q["queue_name"], queue.as_str());
    assert_eq!(q["vhost"], vhost.as_str());
    assert_eq!(q["event_subscription_uuid"], sub_uuid.as_str());
    assert_eq!(q["offering_uuid"], t.offering.as_str());
    assert_eq!(q["object_type"], "order");
    assert_eq!(
        q["event_subscription"],
        format!("{}/api/event-subscriptions/{sub_uuid}/", t.sim.base_url())
    );
    for k in ["uuid", "url", "created"] {
        assert!(q[k].is_string(), "{k} in {q}");
    }
    let (status, q2) = t.create_queue(&sub_uuid, "order").await;
    assert_eq!(status, 200);
    assert_eq!(q2["uuid"], q["uuid"]);
    let args = peer.queue_arguments(&vhost, &queue).await.unwrap();
    assert_eq!(args["x-message-ttl"], 3_600_000);
    assert_eq!(args["x-max-length"], 10_000);
    let listed = t.sim.event_subscriptions();
    assert_eq!(listed[0]["queues"][0]["queue_name"], queue.as_str());

    // Placed (Rust hook), then approved over REST: two messages, in that order.
    let placed = t
        .sim
        .place_order(OrderSeed::create(&t.offering, "bucket-one"));
    t.approve(&placed.order_uuid).await;
    t.published(2).await;
    assert_eq!(t.sim.pending_events(), 0);
    let (bodies, raw) = drain(&peer, &vhost, &queue).await;
    assert_eq!(
        bodies,
        vec![
            json!({"order_uuid": placed.order_uuid, "order_state": "pending-provider"}),
            json!({"order_uuid": placed.order_uuid, "order_state": "executing"}),
        ]
    );
    // Mastermind's wire form: Python's json.dumps, persistent, JSON content type, dedup id.
    assert_eq!(
        raw[0]["payload"],
        format!(
            r#"{{"order_uuid": "{}", "order_state": "pending-provider"}}"#,
            placed.order_uuid
        )
    );
    assert_eq!(raw[0]["properties"]["delivery_mode"], 2);
    assert_eq!(raw[0]["properties"]["content_type"], "application/json");
    assert_eq!(
        raw[0]["properties"]["headers"]["x-message-id"]
            .as_str()
            .unwrap()
            .len(),
        32
    );
    assert_eq!(raw[0]["routing_key"], queue.as_str());

    // Every later transition, whichever way it happens, follows in order.
    let r = t
        .post(
            &format!(
                "/api/marketplace-orders/{}/set_state_erred/",
                placed.order_uuid
            ),
            json!({"error_message": "boom"}),
        )
        .await;
    assert_eq!(r.0, 200);
    let r = t
        .post(
            &format!("/api/marketplace-orders/{}/retry/", placed.order_uuid),
            json!({}),
        )
        .await;
    assert_eq!(r.0, 200);
    let r = t
        .post(
            &format!(
                "/api/marketplace-orders/{}/set_state_done/",
                placed.order_uuid
            ),
            json!({}),
        )
        .await;
    assert_eq!(r.0, 200);
    // A refused transition (409) publishes nothing.
    let r = t
        .post(
            &format!(
                "/api/marketplace-orders/{}/set_state_done/",
                placed.order_uuid
            ),
            json!({}),
        )
        .await;
    assert_eq!(r.0, 409);
    let second = t
        .sim
        .place_order(OrderSeed::create(&t.offering, "bucket-two"));
    t.sim.set_order_state(&second.order_uuid, "canceled");
    t.published(7).await;
    let (bodies, _) = drain(&peer, &vhost, &queue).await;
    let states: Vec<(&str, &str)> = bodies
        .iter()
        .map(|b| {
            (
                b["order_uuid"].as_str().unwrap(),
                b["order_state"].as_str().unwrap(),
            )
        })
        .collect();
    let (a, b) = (placed.order_uuid.as_str(), second.order_uuid.as_str());
    assert_eq!(
        states,
        vec![
            (a, "erred"),
            (a, "executing"),
            (a, "done"),
            (b, "pending-provider"),
            (b, "canceled"),
        ]
    );
    assert_eq!(t.sim.event_log().len(), 7);

    // The agent's own STOMP session (web-stomp, the subscription's credentials) gets them.
    let (tx, mut rx) = mpsc::channel(16);
    let (stop_tx, stop_rx) = watch::channel(false);
    let (state_tx, mut state_rx) = watch::channel(SessionState::Connecting { attempt: 0 });
    let config = SessionConfig {
        url: peer.ws_url.clone(),
        vhost: vhost.clone(),
        login: sub_uuid.clone(),
        passcode: SecretString::from(t.sim.provider_token()),
        heartbeat_ms: 1000,
        subscriptions: vec![(queue.clone(), format!("/amq/queue/{queue}"))],
        tls: None,
        backoff: site_agent::retry::Backoff {
            min: Duration::from_millis(100),
            max: Duration::from_secs(1),
        },
        name: "sim-events".into(),
    };
    tokio::spawn(session::run(config, tx, stop_rx, state_tx));
    tokio::time::timeout(WAIT, async {
        while *state_rx.borrow() != SessionState::Connected {
            state_rx.changed().await.unwrap();
        }
    })
    .await
    .expect("the agent connects with the subscription's credentials");
    t.sim.set_order_state(&second.order_uuid, "done");
    let d = tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("message")
        .expect("open");
    let body: Value = serde_json::from_slice(&d.body).unwrap();
    assert_eq!(body, json!({"order_uuid": b, "order_state": "done"}));
    d.acker.ack();
    stop_tx.send(true).unwrap();

    // Deleting the subscription removes its broker user, its queue and (the user's last
    // subscription) the vhost.
    let (status, _) = t
        .send(
            "DELETE",
            &format!("/api/event-subscriptions/{sub_uuid}/"),
            &t.sim.provider_token(),
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert!(!peer.user_exists(&sub_uuid).await.unwrap());
    assert!(!peer.queue_exists(&vhost, &queue).await.unwrap());
    assert!(t.sim.event_subscriptions().is_empty());
    let before = t.sim.event_log().len();
    t.sim.set_order_state(&second.order_uuid, "erred");
    assert_eq!(t.sim.event_log().len(), before, "no queue, no message");
}

#[tokio::test]
async fn unified_queue_gets_enriched_orders_and_key_rotations_without_double_delivery() {
    let peer = RmqPeer::from_env();
    let t = start(Some(peer.clone())).await;
    let vhost = t.sim.agent_user_uuid();
    let path = format!(
        "/api/marketplace-site-agent-identities/{}/register_queue/",
        t.identity
    );

    // A legacy order queue of the same user: once the unified consumer exists it gets nothing.
    let (_, sub) = t.subscribe("order").await;
    let sub_uuid = sub["uuid"].as_str().unwrap().to_string();
    let (status, lq) = t.create_queue(&sub_uuid, "order").await;
    assert_eq!(status, 201);
    let legacy_queue = lq["queue_name"].as_str().unwrap().to_string();

    let (status, u) = t
        .post(
            &path,
            json!({"object_types": ["order", "resource_api_key_rotation"]}),
        )
        .await;
    assert_eq!(status, 201, "{u}");
    let rmq_user = u["rmq_username"].as_str().unwrap().to_string();
    let queue = u["queue_name"].as_str().unwrap().to_string();
    assert_eq!(rmq_user.len(), 32);
    assert!(
        queue.starts_with("consumer_") && queue.len() == 41,
        "{queue}"
    );
    assert_eq!(u["vhost"], vhost.as_str());
    assert_eq!(
        u["observable_object_types"],
        json!(["order", "resource_api_key_rotation"])
    );
    assert!(peer.user_exists(&rmq_user).await.unwrap());
    assert!(peer.queue_exists(&vhost, &queue).await.unwrap());
    // Again without object_types: 200, same consumer, filter kept.
    let (status, again) = t.post(&path, json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(again, u);
    // Another user may not take the identity's consumer over.
    let (status, body) = t
        .send("POST", &path, &t.sim.staff_token(), Some(json!({})))
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(t.sim.event_consumers().len(), 1);

    let placed = t.sim.place_order(
        OrderSeed::create(&t.offering, "bucket-one")
            .with_attributes(json!({"max_storage_limit": 500}))
            .with_state("done"),
    );
    t.sim.set_resource_field(
        &placed.resource_uuid,
        "backend_id",
        json!("waldur-bucket-one"),
    );
    let r = t
        .post(
            "/api/marketplace-resource-api-keys/report_created/",
            json!({"resource": placed.resource_uuid, "client_id": "AKIA1", "api_key": "secret-1"}),
        )
        .await;
    assert_eq!(r.0, 201, "{}", r.1);
    let key = r.1["uuid"].as_str().unwrap().to_string();
    t.sim.rotate_key(&key).unwrap();
    t.published(2).await;

    let (bodies, _) = drain(&peer, &vhost, &queue).await;
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    let order = &bodies[0];
    assert_eq!(order["order_uuid"], placed.order_uuid.as_str());
    assert_eq!(order["order_state"], "done");
    assert_eq!(order["offering_uuid"], t.offering.as_str());
    assert_eq!(order["object_type"], "order");
    assert_eq!(order["schema_version"], 1);
    assert_eq!(order["order_type"], "Create");
    assert_eq!(order["resource_uuid"], placed.resource_uuid.as_str());
    assert_eq!(order["resource_name"], "bucket-one");
    assert_eq!(order["attributes"]["max_storage_limit"], 500);
    assert!(order["project_uuid"].is_string() && order["plan_uuid"].is_string());
    assert_eq!(
        bodies[1],
        json!({
            "action": "rotate",
            "resource_uuid": placed.resource_uuid,
            "resource_backend_id": "waldur-bucket-one",
            "api_key_uuid": key,
            "client_id": "AKIA1",
            "offering_uuid": t.offering,
            "object_type": "resource_api_key_rotation",
            "schema_version": 1,
        })
    );
    let (legacy, _) = drain(&peer, &vhost, &legacy_queue).await;
    assert!(legacy.is_empty(), "no double delivery: {legacy:?}");

    // Deleting the identity tears its consumer down.
    let (status, _) = t
        .send(
            "DELETE",
            &format!("/api/marketplace-site-agent-identities/{}/", t.identity),
            &t.sim.provider_token(),
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert!(t.sim.event_consumers().is_empty());
    assert!(!peer.user_exists(&rmq_user).await.unwrap());
    assert!(!peer.queue_exists(&vhost, &queue).await.unwrap());
    // The legacy subscription is still there, and gets order events again.
    t.sim.set_order_state(&placed.order_uuid, "erred");
    t.published(3).await;
    let (legacy, _) = drain(&peer, &vhost, &legacy_queue).await;
    assert_eq!(
        legacy,
        vec![json!({"order_uuid": placed.order_uuid, "order_state": "erred"})]
    );
    peer.delete_vhost(&vhost).await.unwrap();
    peer.remove_user(&sub_uuid).await.unwrap();
}

#[tokio::test]
async fn validation_errors_and_recording_without_a_broker() {
    let t = start(None).await;
    let token = t.sim.provider_token();
    let reg = |id: &str| {
        format!("/api/marketplace-site-agent-identities/{id}/register_event_subscription/")
    };

    // Unknown (or malformed) identity: 404 before the body is looked at.
    for id in ["0123456789abcdef0123456789abcdef", "nope"] {
        let r = t
            .post(&reg(id), json!({"observable_object_type": "order"}))
            .await;
        assert_eq!(r, (404, json!({"detail": "Not found."})));
        let r = t
            .post(
                &format!("/api/marketplace-site-agent-identities/{id}/register_queue/"),
                json!({}),
            )
            .await;
        assert_eq!(r.0, 404);
    }
    let r = t
        .post(&reg(&t.identity), json!({"observable_object_type": "x"}))
        .await;
    assert_eq!(
        r,
        (
            400,
            json!({"observable_object_type": ["\"x\" is not a valid choice."]})
        )
    );
    let r = t.post(&reg(&t.identity), json!({"description": "d"})).await;
    assert_eq!(
        r,
        (
            400,
            json!({"observable_object_type": ["This field is required."]})
        )
    );
    let r = t
        .post(&reg(&t.identity), json!({"observable_object_type": null}))
        .await;
    assert_eq!(
        r,
        (
            400,
            json!({"observable_object_type": ["This field may not be null."]})
        )
    );
    // Unauthenticated: 401, nothing created.
    let r = t
        .send(
            "POST",
            &reg(&t.identity),
            "wrong",
            Some(json!({"observable_object_type": "order"})),
        )
        .await;
    assert_eq!(r.0, 401);
    assert!(t.sim.event_subscriptions().is_empty());

    let (status, sub) = t.subscribe("order").await;
    assert_eq!(status, 201);
    let sub_uuid = sub["uuid"].as_str().unwrap().to_string();

    // create_queue: unknown subscription 404; unknown offering / bad type 400.
    let r = t
        .post(
            "/api/event-subscriptions/0123456789abcdef0123456789abcdef/create_queue/",
            json!({"offering_uuid": t.offering, "object_type": "order"}),
        )
        .await;
    assert_eq!(r, (404, json!({"detail": "Not found."})));
    let missing = "0ff00000-0000-0000-0000-000000000001";
    let r = t
        .post(
            &format!("/api/event-subscriptions/{sub_uuid}/create_queue/"),
            json!({"offering_uuid": missing.replace('-', ""), "object_type": "order"}),
        )
        .await;
    assert_eq!(
        r,
        (
            400,
            json!({"offering_uuid": [format!("Offering with UUID {missing} does not exist")]})
        )
    );
    let r = t
        .post(
            &format!("/api/event-subscriptions/{sub_uuid}/create_queue/"),
            json!({"offering_uuid": "zz", "object_type": "orders"}),
        )
        .await;
    assert_eq!(
        r,
        (
            400,
            json!({
                "offering_uuid": ["Must be a valid UUID."],
                "object_type": ["\"orders\" is not a valid choice."],
            })
        )
    );
    // Another user's subscription is invisible (404), to read and to delete.
    let staff = t.sim.staff_token();
    let r = t
        .send(
            "POST",
            &format!("/api/event-subscriptions/{sub_uuid}/create_queue/"),
            &staff,
            Some(json!({"offering_uuid": t.offering, "object_type": "order"})),
        )
        .await;
    assert_eq!(r.0, 201, "staff sees every subscription");
    let r = t
        .send(
            "DELETE",
            "/api/event-subscriptions/0123456789abcdef0123456789abcdef/",
            &token,
            None,
        )
        .await;
    assert_eq!(r.0, 404);
    let r = t
        .send(
            "GET",
            &format!("/api/event-subscriptions/{sub_uuid}/"),
            &token,
            None,
        )
        .await;
    assert_eq!(r.0, 200);
    assert_eq!(r.1["uuid"], sub_uuid.as_str());
    let r = t
        .send("GET", "/api/event-subscription-queues/", &token, None)
        .await;
    assert_eq!(r.0, 200);
    assert_eq!(r.1.as_array().unwrap().len(), 1);

    // register_queue validates its list.
    let path = format!(
        "/api/marketplace-site-agent-identities/{}/register_queue/",
        t.identity
    );
    let r = t
        .post(&path, json!({"object_types": ["order", "bogus"]}))
        .await;
    assert_eq!(
        r,
        (
            400,
            json!({"object_types": {"1": ["\"bogus\" is not a valid choice."]}})
        )
    );
    let r = t.post(&path, json!({"object_types": "order"})).await;
    assert_eq!(
        r,
        (
            400,
            json!({"object_types": ["Expected a list of items but got type \"str\"."]})
        )
    );

    // Without a broker: messages are routed and counted as pending, nothing is published;
    // the management calls are recorded, passwords left out.
    let placed = t.sim.place_order(OrderSeed::create(&t.offering, "b1"));
    assert_eq!(t.sim.pending_events(), 1);
    t.approve(&placed.order_uuid).await;
    assert_eq!(t.sim.pending_events(), 2);
    assert_eq!(t.sim.published(), 0);
    let log = t.sim.event_log();
    assert_eq!(
        log[1].body,
        json!({"order_uuid": placed.order_uuid, "order_state": "executing"})
    );
    assert_eq!(log[1].vhost, t.sim.agent_user_uuid());
    assert_eq!(
        log[1].queue,
        format!("subscription_{sub_uuid}_offering_{}_order", t.offering)
    );
    let ops = t.sim.broker_ops();
    assert_eq!(
        ops[..4],
        [
            json!({"op": "create_vhost", "vhost": t.sim.agent_user_uuid()}),
            json!({"op": "create_user", "user": sub_uuid}),
            json!({"op": "set_permissions", "vhost": t.sim.agent_user_uuid(), "user": sub_uuid}),
            json!({"op": "declare_queue", "vhost": t.sim.agent_user_uuid(), "queue": log[1].queue}),
        ]
    );
    assert!(!serde_json::to_string(&ops).unwrap().contains(&token));
    // The control API shows the same.
    let r: Value = t
        .http
        .get(format!("{}/sim/events", t.sim.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["pending"], 2);
    assert_eq!(r["messages"][0]["body"]["order_state"], "pending-provider");
}

/// A TCP relay to the broker's STOMP port that can be switched off (listener closed, every
/// relayed connection cut) and on again on the same port.
struct Relay {
    port: u16,
    target: (String, u16),
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Relay {
    async fn reserve(target: (String, u16)) -> Relay {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l); // nothing listens: connections are refused
        Relay {
            port,
            target,
            tasks: Arc::default(),
        }
    }

    async fn up(&self) {
        let l = TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
        let target = self.target.clone();
        let tasks = self.tasks.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = l.accept().await {
                let target = target.clone();
                let conn = tokio::spawn(async move {
                    if let Ok(mut out) = TcpStream::connect((target.0.as_str(), target.1)).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                    }
                });
                tasks.lock().unwrap().push(conn);
            }
        });
        self.tasks.lock().unwrap().push(accept);
    }

    fn down(&self) {
        for t in self.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
    }
}

#[tokio::test]
async fn publishing_waits_out_an_unreachable_broker_and_keeps_order() {
    let real = RmqPeer::from_env();
    let relay = Relay::reserve((real.stomp_host.clone(), real.stomp_port)).await;
    let mut peer = real.clone();
    peer.stomp_host = "127.0.0.1".into();
    peer.stomp_port = relay.port;
    let t = start(Some(peer)).await;
    let vhost = t.sim.agent_user_uuid();
    let (_, sub) = t.subscribe("order").await;
    let sub_uuid = sub["uuid"].as_str().unwrap().to_string();
    let (status, q) = t.create_queue(&sub_uuid, "order").await;
    assert_eq!(status, 201, "the management API is reachable");
    let queue = q["queue_name"].as_str().unwrap().to_string();

    // Broker unreachable: the requests still answer at once; the messages wait.
    let placed = t
        .sim
        .place_order(OrderSeed::create(&t.offering, "bucket-one"));
    let started = std::time::Instant::now();
    t.approve(&placed.order_uuid).await;
    assert!(started.elapsed() < Duration::from_secs(2));
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(t.sim.published(), 0);
    assert_eq!(t.sim.pending_events(), 2);

    relay.up().await;
    t.published(2).await;
    assert_eq!(t.sim.pending_events(), 0);

    // The kept connection is cut: the next messages go out on a new one once the broker is
    // back, still in order.
    relay.down();
    t.sim.set_order_state(&placed.order_uuid, "erred");
    t.sim.set_order_state(&placed.order_uuid, "executing");
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(t.sim.published(), 2);
    assert_eq!(t.sim.pending_events(), 2);
    relay.up().await;
    t.published(4).await;
    let (bodies, _) = drain(&real, &vhost, &queue).await;
    let states: Vec<&str> = bodies
        .iter()
        .map(|b| b["order_state"].as_str().unwrap())
        .collect();
    assert_eq!(
        states,
        ["pending-provider", "executing", "erred", "executing"]
    );
    relay.down();
    real.delete_vhost(&vhost).await.unwrap();
    real.remove_user(&sub_uuid).await.unwrap();
}
