//! The real `site-agent` binary on Dell ECS, configured by the shipped `config/dell-ecs.yaml`
//! (only its addresses and credentials pointed at waldur-sim and ecs-sim): Create with
//! encryption, versioning and a public-read policy, Update of the ceiling and the options,
//! pause and restore, usage billed from ECS metering, a key rotation, Object Lock refused,
//! Terminate refused while data remains and then done, each by `site-agent run --once` as an
//! operator's timer would run it; every run logs out of ECS.

mod support;

use serde_json::json;
use site_agent_sims::ecs::EcsSim;
use site_agent_sims::waldur::{OrderSeed, SimOptions, WaldurSim};
use support::{billed, next_second, order_state, run_once, shipped_config, terminate};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_ecs_config_runs_a_resource_lifecycle() {
    let waldur = WaldurSim::start(SimOptions::default()).await.unwrap();
    let ecs = EcsSim::start("mgmt", "mgmt-secret", &["waldur"])
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (offering, yaml) = shipped_config(
        &waldur,
        "ECS S3",
        "dell-ecs.yaml",
        "0ff00000000000000000000000000004",
        dir.path(),
    );
    let yaml = yaml
        .replace("https://ecs.example.com:4443", &ecs.url())
        .replace("\"waldur-agent\"", "\"mgmt\"")
        .replace("\"change-me\"", "\"mgmt-secret\"")
        .replace("https://ecs-node1.internal:9021", &ecs.s3_url());
    let cfg = dir.path().join("dell-ecs.yaml");
    std::fs::write(&cfg, yaml).unwrap();

    let create = waldur.place_order(OrderSeed {
        offering_uuid: offering.clone(),
        order_type: "Create".into(),
        resource_name: "Data".into(),
        attributes: json!({"max_storage_limit": 2, "versioning": true, "encryption": true,
                           "bucket_policy": "public-read"}),
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
    let (_, block, _, encrypted, policy) = ecs.bucket(&uid).unwrap();
    assert!(
        block == 2 && encrypted && policy.is_some(),
        "2 GiB, encrypted, public-read"
    );
    let md = waldur.resource(&res).unwrap()["backend_metadata"].clone();
    assert_eq!(md["s3_bucket_policy"], json!("public-read"));

    // Update: a larger ceiling, versioning suspended, the bucket private again.
    let update = waldur.place_order(OrderSeed {
        order_type: "Update".into(),
        resource_uuid: Some(res.clone()),
        attributes: json!({"new_options": {"versioning": false, "bucket_policy": "private"}}),
        limits: json!({"max_storage_limit": 3}),
        ..OrderSeed::default()
    });
    run_once(&cfg);
    assert_eq!(order_state(&waldur, &update.order_uuid).0, "done");
    let (_, block, _, encrypted, policy) = ecs.bucket(&uid).unwrap();
    assert!(block == 3 && encrypted && policy.is_none());
    assert_eq!(ecs.versions(&uid), Some((Some(false), 0)));

    // Pause locks the user (the customer's key stops working); restore unlocks it.
    waldur.set_resource_field(&res, "paused", json!(true));
    run_once(&cfg);
    assert!(ecs.user(&uid).unwrap().1, "locked");
    assert!(!ecs.key_works(&uid, &keys[0].api_key));
    waldur.set_resource_field(&res, "paused", json!(false));
    run_once(&cfg);
    assert!(ecs.key_works(&uid, &keys[0].api_key), "unlocked");

    // Usage from ECS metering: three objects, billed as the peak object count.
    for k in ["a", "b", "c"] {
        ecs.put_object(&uid, k, 4096).unwrap();
    }
    next_second();
    ecs.set_now(chrono::Utc::now().timestamp());
    ecs.meter();
    run_once(&cfg);
    assert_eq!(billed(&waldur, &res, "s3_objects"), 3.0);
    ecs.delete_objects(&uid);

    // Object Lock is refused before anything is made.
    let locked = waldur.place_order(OrderSeed {
        offering_uuid: offering.clone(),
        order_type: "Create".into(),
        resource_name: "Locked".into(),
        attributes: json!({"max_storage_limit": 2, "object_lock": true}),
        limits: json!({}),
        ..OrderSeed::default()
    });
    let users_before = ecs.users();
    run_once(&cfg);
    let (state, message) = order_state(&waldur, &locked.order_uuid);
    assert_eq!(state, "erred");
    assert!(
        message.contains("Object Lock is not supported"),
        "{message}"
    );
    assert_eq!(ecs.users(), users_before, "no user made");

    waldur.rotate_key(&keys[0].uuid).unwrap();
    run_once(&cfg);
    let rotated = waldur.api_keys(&res);
    assert_eq!(rotated[0].state, "OK");
    assert_ne!(rotated[0].api_key, keys[0].api_key);
    assert_eq!(ecs.user(&uid).unwrap().2, vec![rotated[0].api_key.clone()]);

    ecs.put_object(&uid, "kept", 10).unwrap();
    let refused = terminate(&waldur, &res);
    run_once(&cfg);
    let (state, message) = order_state(&waldur, &refused.order_uuid);
    assert_eq!(state, "erred");
    assert!(message.contains("still holds"), "{message}");
    ecs.delete_objects(&uid);
    let term = terminate(&waldur, &res);
    run_once(&cfg);
    assert_eq!(order_state(&waldur, &term.order_uuid).0, "done");
    assert!(ecs.user(&uid).is_none() && ecs.bucket(&uid).is_none());
    let logouts = ecs.calls().iter().filter(|(_, p)| p == "/logout").count();
    assert!(logouts >= 4, "every run logs out of ECS ({logouts})");
}
