//! Benchmark (not a test): time from an order's creation in waldur-sim to `set_state_done`,
//! through the real RabbitMQ web-stomp, with an instant backend (croit-sim, no latency).
//!
//! Needs the broker of `../shared/peers/start-rabbitmq.sh` (its variables exported):
//!   cargo run --release -p site-agent-sims --bin bench-events -- --orders 1000

use serde_json::json;
use site_agent::app::{App, AppOptions, Roles};
use site_agent::store::Store;
use site_agent_sims::croit::{CroitAuth, CroitSim};
use site_agent_sims::rmq::RmqPeer;
use site_agent_sims::waldur::{ComponentSeed, OfferingSeed, OrderSeed, SimOptions, WaldurSim};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut orders = 1000usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--orders" => orders = args.next().and_then(|v| v.parse().ok()).unwrap_or(orders),
            "--help" | "-h" => {
                println!("bench-events [--orders N]   (needs RMQ_* from start-rabbitmq.sh)");
                return Ok(());
            }
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    let peer = RmqPeer::from_env();
    let waldur = WaldurSim::start(SimOptions {
        rabbitmq: Some(peer.clone()),
        ..SimOptions::default()
    })
    .await?;
    let croit = CroitSim::start(CroitAuth::Bearer("bench".into())).await?;
    let offering = waldur.add_offering(OfferingSeed {
        name: "bench".into(),
        components: vec![ComponentSeed::s3_storage()],
        ..OfferingSeed::default()
    });
    let dir = tempfile::tempdir()?;
    let ws = url::Url::parse(&peer.ws_url)?;
    let yaml = format!(
        "timezone: UTC\ndatabase_path: {}\nheartbeat_file: {}\nofferings:\n  - name: bench\n    waldur_api_url: {}\n    waldur_api_token: {}\n    waldur_offering_uuid: {}\n    backend_type: ceph_s3\n    order_processing_backend: ceph_s3\n    stomp_enabled: true\n    websocket_use_tls: false\n    stomp_ws_host: {}\n    stomp_ws_port: {}\n    stomp_ws_path: {}\n    backend_settings: {{api_url: \"{}\", token: bench, s3_endpoint: \"https://s3.bench\"}}\n    backend_components:\n      s3_storage: {{backend_name: storage, measured_unit: GB-day, accounting_type: usage, label: Storage, unit_factor: 1000000000}}\n",
        dir.path().join("state.sqlite3").display(),
        dir.path().join("hb").display(),
        waldur.api_url(),
        waldur.provider_token(),
        offering,
        ws.host_str().unwrap_or("127.0.0.1"),
        ws.port().unwrap_or(80),
        ws.path(),
        croit.base_url(),
    );
    let config = site_agent::config::load_str(&yaml, "bench.yaml", Vec::<(String, String)>::new())?;
    let store = Store::open(&config.database_path)?;
    let app = Arc::new(App::build_with_store(
        config,
        store,
        &AppOptions::default(),
    )?);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let runner = app.clone();
    tokio::spawn(async move {
        runner
            .run(
                Roles {
                    events: true,
                    ..Roles::default()
                },
                async {
                    let _ = stop_rx.await;
                },
            )
            .await
    });
    // Warm-up: wait until the listener is subscribed and one order went through.
    let place = |name: String| {
        waldur
            .place_order(OrderSeed {
                offering_uuid: offering.clone(),
                order_type: "Create".into(),
                resource_name: name,
                project_slug: "p".into(),
                customer_slug: "c".into(),
                attributes: json!({"max_storage_limit": 1}),
                ..OrderSeed::default()
            })
            .order_uuid
    };
    let done = |o: &str| {
        waldur
            .order(o)
            .map(|v| v["state"] == "done")
            .unwrap_or(false)
    };
    let warm = place("warm-up".into());
    let t0 = Instant::now();
    while !done(&warm) {
        anyhow::ensure!(
            t0.elapsed() < Duration::from_secs(60),
            "the agent never completed the warm-up order"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut latencies = Vec::with_capacity(orders);
    for i in 0..orders {
        let start = Instant::now();
        let o = place(format!("bench {i}"));
        while !done(&o) {
            anyhow::ensure!(
                start.elapsed() < Duration::from_secs(30),
                "order {i} not done in 30 s"
            );
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        latencies.push(start.elapsed());
    }
    let _ = stop_tx.send(());
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p).round() as usize];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("orders: {}", latencies.len());
    println!("p50: {:.1} ms", ms(pct(0.50)));
    println!("p90: {:.1} ms", ms(pct(0.90)));
    println!("p99: {:.1} ms", ms(pct(0.99)));
    println!(
        "max: {:.1} ms",
        ms(*latencies.last().unwrap_or(&Duration::ZERO))
    );
    Ok(())
}
