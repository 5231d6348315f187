//! Orders by events through the real RabbitMQ: waldur-sim publishes as Mastermind does, the
//! agent listens over web-stomp with polling switched off, and must lose nothing whatever the
//! broker does.

mod common;

use common::*;
use serde_json::json;
use site_agent::app::{App, AppOptions, Roles};
use site_agent::store::Store;
use site_agent_sims::croit::{CroitAuth, CroitSim};
use site_agent_sims::rmq::RmqPeer;
use site_agent_sims::waldur::{OfferingSeed, OrderSeed, SimOptions, WaldurSim};
use std::sync::Arc;
use std::time::Duration;

/// Tests that restart the broker must not overlap the others in this binary.
static BROKER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

struct EventEnv {
    waldur: WaldurSim,
    croit: CroitSim,
    dir: tempfile::TempDir,
    offering: String,
    peer: RmqPeer,
}

async fn event_env() -> EventEnv {
    let peer = RmqPeer::from_env();
    let waldur = WaldurSim::start(SimOptions {
        rabbitmq: Some(peer.clone()),
        ..SimOptions::default()
    })
    .await
    .unwrap();
    let croit = CroitSim::start(CroitAuth::Bearer(CROIT_TOKEN.into()))
        .await
        .unwrap();
    let offering = waldur.add_offering(OfferingSeed {
        name: "S3 events".into(),
        components: vec![site_agent_sims::waldur::ComponentSeed::s3_storage()],
        ..OfferingSeed::default()
    });
    EventEnv {
        waldur,
        croit,
        dir: tempfile::tempdir().unwrap(),
        offering,
        peer,
    }
}

impl EventEnv {
    fn app(&self, unified: bool) -> Arc<App> {
        let ws = url::Url::parse(&self.peer.ws_url).unwrap();
        let yaml = format!(
            r#"
timezone: UTC
database_path: {db}
heartbeat_file: {hb}
offerings:
  - name: S3 events
    waldur_api_url: {api}
    waldur_api_token: {token}
    waldur_offering_uuid: {off}
    backend_type: ceph_s3
    order_processing_backend: ceph_s3
    stomp_enabled: true
    stomp_unified_queue: {unified}
    websocket_use_tls: false
    stomp_ws_host: {host}
    stomp_ws_port: {port}
    stomp_ws_path: {path}
    backend_settings:
      api_url: {croit}
      token: {CROIT_TOKEN}
      s3_endpoint: https://s3.test
    backend_components:
      s3_storage: {{backend_name: storage, measured_unit: GB-day, accounting_type: usage, label: Storage, unit_factor: 1000000000}}
"#,
            db = self.dir.path().join("state.sqlite3").display(),
            hb = self.dir.path().join("hb").display(),
            api = self.waldur.api_url(),
            token = self.waldur.provider_token(),
            off = self.offering,
            host = ws.host_str().unwrap(),
            port = ws.port().unwrap_or(80),
            path = ws.path(),
            croit = self.croit.base_url(),
        );
        let config =
            site_agent::config::load_str(&yaml, "events.yaml", Vec::<(String, String)>::new())
                .unwrap();
        let store = Store::open(&config.database_path).unwrap();
        let options = AppOptions {
            retry: fast_retry(),
            event_backoff: site_agent::retry::Backoff {
                min: Duration::from_millis(200),
                max: Duration::from_secs(2),
            },
            ..AppOptions::default()
        };
        Arc::new(App::build_with_store(config, store, &options).unwrap())
    }

    /// Runs the agent with events only: no order polling at all.
    fn start(&self, app: Arc<App>) -> tokio::sync::oneshot::Sender<()> {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let roles = Roles {
            events: true,
            ..Roles::default()
        };
        tokio::spawn(async move {
            app.run(roles, async {
                let _ = rx.await;
            })
            .await
        });
        tx
    }

    fn place(&self, name: &str) -> String {
        self.waldur
            .place_order(OrderSeed {
                offering_uuid: self.offering.clone(),
                order_type: "Create".into(),
                resource_name: name.into(),
                project_slug: "p".into(),
                customer_slug: "c".into(),
                attributes: json!({"max_storage_limit": 1}),
                ..OrderSeed::default()
            })
            .order_uuid
    }

    fn state(&self, order: &str) -> String {
        self.waldur.order(order).unwrap()["state"]
            .as_str()
            .unwrap()
            .to_string()
    }

    async fn wait_done(&self, orders: &[String], limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let pending: Vec<&String> = orders.iter().filter(|o| self.state(o) != "done").collect();
            if pending.is_empty() {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} of {} orders not done; e.g. {} is {}",
                pending.len(),
                orders.len(),
                pending[0],
                self.state(pending[0])
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Each order was completed exactly once.
    fn assert_done_once(&self, orders: &[String]) {
        let calls = self.waldur.calls();
        for o in orders {
            let n = calls
                .iter()
                .filter(|c| c.path.ends_with(&format!("{o}/set_state_done/")) && c.status == 200)
                .count();
            assert_eq!(n, 1, "order {o} completed {n} times");
        }
    }

    fn restart_broker(&self, stop: bool, start: bool) {
        let shared =
            std::env::var("SHARED").expect("SHARED (../shared) is exported by scripts/test.sh");
        let dir =
            std::env::var("RMQ_DATA_DIR").expect("RMQ_DATA_DIR is exported by scripts/test.sh");
        if stop {
            let s = std::process::Command::new("bash")
                .arg(format!("{shared}/peers/stop-rabbitmq.sh"))
                .arg(&dir)
                .status()
                .unwrap();
            assert!(s.success(), "stop-rabbitmq.sh failed");
        }
        if start {
            let s = std::process::Command::new("bash")
                .arg(format!("{shared}/peers/start-rabbitmq.sh"))
                .arg(&dir)
                .stdout(std::process::Stdio::null())
                .status()
                .unwrap();
            assert!(s.success(), "start-rabbitmq.sh failed");
        }
    }
}

#[tokio::test]
async fn an_order_event_completes_the_order_without_polling() {
    let _broker = BROKER.lock().await;
    let env = event_env().await;
    let stop = env.start(env.app(false));
    let order = env.place("Evented");
    env.wait_done(std::slice::from_ref(&order), Duration::from_secs(30))
        .await;
    env.assert_done_once(std::slice::from_ref(&order));
    assert_eq!(env.croit.users().len(), 1);
    let _ = stop.send(());
}

#[tokio::test]
async fn the_unified_queue_works_too_and_drives_key_rotation() {
    let _broker = BROKER.lock().await;
    let env = event_env().await;
    let stop = env.start(env.app(true));
    let order = env.place("Unified");
    env.wait_done(std::slice::from_ref(&order), Duration::from_secs(30))
        .await;
    let resource = env.waldur.order(&order).unwrap()["marketplace_resource_uuid"]
        .as_str()
        .unwrap()
        .to_string();
    let key = env.waldur.api_keys(&resource)[0].clone();
    env.waldur.rotate_key(&key.uuid).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let now = env
            .waldur
            .api_keys(&resource)
            .into_iter()
            .find(|k| k.uuid == key.uuid)
            .unwrap();
        if now.state == "OK" && now.client_id != key.client_id {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "rotation not done: {}",
            now.state
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = stop.send(());
}

#[tokio::test]
async fn a_malformed_message_is_acked_and_the_agent_keeps_going() {
    let _broker = BROKER.lock().await;
    let env = event_env().await;
    let app = env.app(false);
    let stop = env.start(app.clone());
    let first = env.place("Before");
    env.wait_done(std::slice::from_ref(&first), Duration::from_secs(30))
        .await;
    let subs = env.waldur.event_subscriptions();
    let order_sub = subs
        .iter()
        .find(|s| s["observable_objects"][0]["object_type"] == "order")
        .expect("order subscription");
    let vhost = order_sub["user_uuid"].as_str().unwrap().to_string();
    let queue = format!(
        "subscription_{}_offering_{}_order",
        order_sub["uuid"].as_str().unwrap(),
        env.offering
    );
    env.peer
        .publish(&vhost, &queue, "this is { not json")
        .await
        .unwrap();
    env.peer
        .publish(
            &vhost,
            &queue,
            r#"{"order_uuid": "not-a-uuid", "order_state": "pending-provider"}"#,
        )
        .await
        .unwrap();
    // Poison: a body that is not UTF-8 (web-stomp sends it in a text frame, which a
    // websocket library refuses) and one far over the size limit. Before the agent filtered
    // them, each broke the connection before it could be acknowledged, on every reconnect.
    env.peer
        .publish_bytes(&vhost, &queue, b"\xff\xfe{\"order_uuid\": \xc3\x28}")
        .await
        .unwrap();
    let mut big = br#"{"order_uuid": "00000000000000000000000000000000", "padding": ""#.to_vec();
    big.resize(3 << 20, b'x');
    big.extend_from_slice(b"\"}");
    env.peer.publish_bytes(&vhost, &queue, &big).await.unwrap();
    // Events only (no polling): this order is done only if the connection survived.
    let after = env.place("After");
    env.wait_done(std::slice::from_ref(&after), Duration::from_secs(30))
        .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while env.peer.queue_depth(&vhost, &queue).await.unwrap() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the bad messages were acknowledged"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _ = stop.send(());
}

#[tokio::test]
async fn no_order_is_lost_when_the_broker_is_absent_or_restarts() {
    let _broker = BROKER.lock().await;
    let env = event_env().await;
    // Register subscriptions and queues while the broker is up, then take it away.
    let app = env.app(false);
    let stop = env.start(app.clone());
    let warmup = env.place("warm-up");
    env.wait_done(std::slice::from_ref(&warmup), Duration::from_secs(30))
        .await;
    let _ = stop.send(());
    env.restart_broker(true, false);

    // The broker is absent when the agent starts: it runs and waits.
    let app = env.app(false);
    let stop = env.start(app.clone());
    let early: Vec<String> = (0..50).map(|i| env.place(&format!("early {i}"))).collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        early.iter().all(|o| env.state(o) == "pending-provider"),
        "nothing happens without events (no polling)"
    );
    env.restart_broker(false, true);
    env.wait_done(&early, Duration::from_secs(120)).await;

    // The broker restarts in the middle of a stream of orders.
    let mut stream: Vec<String> = (0..100)
        .map(|i| env.place(&format!("stream a{i}")))
        .collect();
    env.restart_broker(true, true);
    stream.extend((0..100).map(|i| env.place(&format!("stream b{i}"))));
    env.wait_done(&stream, Duration::from_secs(180)).await;

    let mut all = early;
    all.extend(stream);
    env.assert_done_once(&all);
    assert_eq!(
        env.croit.users().len(),
        all.len() + 1,
        "one S3 user per order, no duplicates"
    );
    let _ = stop.send(());
}

#[tokio::test]
async fn the_reconcile_sweep_feeds_the_same_queue_when_no_event_arrives() {
    let _broker = BROKER.lock().await;
    let env = event_env().await;
    // The websocket endpoint is wrong: no event ever arrives, only the sweep finds work.
    let app = env.app(false);
    let mut app = Arc::try_unwrap(app).ok().unwrap();
    for l in &mut app.listeners {
        if let Some(s) = l.offering.stomp.as_mut() {
            s.url = "ws://127.0.0.1:9/ws".into();
        }
    }
    let app = Arc::new(app);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let roles = Roles {
        events: true,
        orders: Some(Duration::from_millis(300)),
        ..Roles::default()
    };
    let runner = app.clone();
    tokio::spawn(async move {
        runner
            .run(roles, async {
                let _ = rx.await;
            })
            .await
    });
    let orders: Vec<String> = (0..5).map(|i| env.place(&format!("swept {i}"))).collect();
    env.wait_done(&orders, Duration::from_secs(30)).await;
    env.assert_done_once(&orders);
    let _ = tx.send(());
}
