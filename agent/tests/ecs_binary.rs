//! The real `site-agent` binary on Dell ECS, configured by the shipped `config/dell-ecs.yaml`
//! (only its addresses and credentials pointed at waldur-sim and ecs-sim): Create with
//! versioning, a key rotation, Terminate refused while data remains and then done, each by
//! `site-agent run --once` as an operator's timer would run it; every run logs out of ECS.

use serde_json::json;
use site_agent_sims::ecs::EcsSim;
use site_agent_sims::waldur::{ComponentSeed, OfferingSeed, OrderSeed, SimOptions, WaldurSim};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_site-agent");

fn run_once(cfg: &std::path::Path) -> String {
    let out = Command::new(BIN)
        .args(["run", "--once", "-c", cfg.to_str().unwrap()])
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{log}");
    log
}

fn order_state(w: &WaldurSim, order: &str) -> (String, String) {
    let o = w.order(order).unwrap();
    (
        o["state"].as_str().unwrap_or_default().to_string(),
        o["error_message"].as_str().unwrap_or_default().to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_ecs_config_runs_a_resource_lifecycle() {
    let waldur = WaldurSim::start(SimOptions::default()).await.unwrap();
    let ecs = EcsSim::start("mgmt", "mgmt-secret", &["waldur"])
        .await
        .unwrap();
    let offering = waldur.add_offering(OfferingSeed {
        name: "ECS S3".into(),
        components: vec![ComponentSeed::s3_storage()],
        ..OfferingSeed::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let shipped = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/dell-ecs.yaml"),
    )
    .unwrap();
    let yaml = shipped
        .replace("https://waldur.example.com/api/", &waldur.api_url())
        .replace(
            "0123456789abcdef0123456789abcdef01234567",
            &waldur.provider_token(),
        )
        .replace("0ff00000000000000000000000000004", &offering)
        .replace(
            "/var/lib/site-agent/state.sqlite3",
            dir.path().join("state.sqlite3").to_str().unwrap(),
        )
        .replace("https://ecs.example.com:4443", &ecs.url())
        .replace("\"waldur-agent\"", "\"mgmt\"")
        .replace("\"change-me\"", "\"mgmt-secret\"")
        .replace("https://ecs-node1.internal:9021", &ecs.s3_url());
    assert_ne!(yaml, shipped);
    let cfg = dir.path().join("dell-ecs.yaml");
    std::fs::write(&cfg, yaml).unwrap();

    let create = waldur.place_order(OrderSeed {
        offering_uuid: offering.clone(),
        order_type: "Create".into(),
        resource_name: "Data".into(),
        attributes: json!({"max_storage_limit": 2, "versioning": true}),
        limits: json!({}),
        ..OrderSeed::default()
    });
    run_once(&cfg);
    assert_eq!(order_state(&waldur, &create.order_uuid).0, "done");
    let res = create.resource_uuid.clone();
    let uid = waldur.resource(&res).unwrap()["backend_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(uid.starts_with("waldur-"), "{uid}");
    let keys = waldur.api_keys(&res);
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].client_id, uid);
    assert_eq!(ecs.user(&uid).unwrap().2, vec![keys[0].api_key.clone()]);
    assert_eq!(ecs.versions(&uid), Some((Some(true), 0)));
    assert_eq!(ecs.bucket(&uid).unwrap().1, 2, "2 GiB");

    waldur.rotate_key(&keys[0].uuid).unwrap();
    run_once(&cfg);
    let rotated = waldur.api_keys(&res);
    assert_eq!(rotated[0].state, "OK");
    assert_ne!(rotated[0].api_key, keys[0].api_key);
    assert_eq!(ecs.user(&uid).unwrap().2, vec![rotated[0].api_key.clone()]);

    ecs.put_object(&uid, "kept", 10).unwrap();
    let terminate = || {
        waldur.place_order(OrderSeed {
            order_type: "Terminate".into(),
            resource_uuid: Some(res.clone()),
            attributes: json!({}),
            limits: json!({}),
            ..OrderSeed::default()
        })
    };
    let refused = terminate();
    run_once(&cfg);
    let (state, message) = order_state(&waldur, &refused.order_uuid);
    assert_eq!(state, "erred");
    assert!(message.contains("still holds"), "{message}");
    ecs.delete_objects(&uid);
    let term = terminate();
    run_once(&cfg);
    assert_eq!(order_state(&waldur, &term.order_uuid).0, "done");
    assert!(ecs.user(&uid).is_none() && ecs.bucket(&uid).is_none());
    let logouts = ecs.calls().iter().filter(|(_, p)| p == "/logout").count();
    assert!(logouts >= 4, "every run logs out of ECS ({logouts})");
}
