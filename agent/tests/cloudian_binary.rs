//! The real `site-agent` binary on Cloudian HyperStore, configured by the shipped
//! `config/cloudian.yaml` (only its addresses, credentials and credential maximum pointed at
//! waldur-sim and cloudian-sim): Create in a new and in an existing group, Update, pause and
//! restore, a rotation at the credential maximum, usage from HyperStore's counters, Terminate
//! refused while data remains and then done — each by `site-agent run --once`.

mod support;

use serde_json::json;
use site_agent_sims::cloudian::CloudianSim;
use site_agent_sims::waldur::{OrderSeed, SimOptions, WaldurSim};
use support::{billed, next_second, order_state, run_once, shipped_config, terminate};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_cloudian_config_runs_a_resource_lifecycle() {
    let waldur = WaldurSim::start(SimOptions::default()).await.unwrap();
    let hs = CloudianSim::start("sysadmin", "admin-secret")
        .await
        .unwrap();
    hs.set_max_credentials(3);
    let dir = tempfile::tempdir().unwrap();
    let (offering, yaml) = shipped_config(
        &waldur,
        "HyperStore S3",
        "cloudian.yaml",
        "0ff00000000000000000000000000005",
        dir.path(),
    );
    let url = hs.url();
    let (host, port) = url.trim_start_matches("http://").split_once(':').unwrap();
    let yaml = yaml
        .replace("\"s3-admin.example.com\"", &format!("\"{host}\""))
        .replace("admin_port: 19443", &format!("admin_port: {port}"))
        .replace("admin_protocol: \"https\"", "admin_protocol: \"http\"")
        .replace("\"change-me\"", "\"admin-secret\"")
        .replace("max_credentials: 5", "max_credentials: 3");
    let cfg = dir.path().join("cloudian.yaml");
    std::fs::write(&cfg, yaml).unwrap();

    // One customer's group exists already (someone else's user in it stays untouched).
    hs.add_user("waldur-beta", "someone", "someone@example.org");
    let create = |customer: &str, name: &str| {
        waldur.place_order(OrderSeed {
            offering_uuid: offering.clone(),
            order_type: "Create".into(),
            resource_name: name.into(),
            customer_slug: customer.into(),
            project_slug: format!("{customer}-project"),
            attributes: json!({"max_storage_limit": 2, "max_object_limit": 100}),
            limits: json!({}),
            ..OrderSeed::default()
        })
    };
    let (a, b) = (create("acme", "Data"), create("beta", "Backup"));
    run_once(&cfg);
    for o in [&a, &b] {
        assert_eq!(order_state(&waldur, &o.order_uuid).0, "done");
    }
    assert_eq!(
        hs.groups(),
        vec!["waldur-acme".to_string(), "waldur-beta".to_string()]
    );
    let res = a.resource_uuid.clone();
    let uid = waldur.resource(&res).unwrap()["backend_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (gid, user) = uid.split_once('.').unwrap();
    assert_eq!(gid, "waldur-acme");
    let (email, active, creds, qos, _) = hs.user(gid, user).unwrap();
    assert!(
        email.starts_with("waldur-") && email.ends_with("@invalid"),
        "stamped: {email}"
    );
    assert!(active);
    assert_eq!(
        creds.len(),
        2,
        "two keys where the maximum (3) leaves room to rotate"
    );
    let qos = qos.unwrap();
    assert_eq!(
        (qos.storage_kib.0, qos.objects.0),
        (1_953_125, 100),
        "2 GB in KiB, down"
    );
    let keys = waldur.api_keys(&res);
    assert_eq!(keys.len(), 2);
    assert!(keys.iter().all(|k| hs.key_works(&k.client_id, &k.api_key)));
    let md = waldur.resource(&res).unwrap()["backend_metadata"].clone();
    assert_eq!(md["console_url"], json!("https://cmc.example.com:8443"));
    assert!(hs.user("waldur-beta", "someone").is_some());

    // Update, pause, restore.
    let update = waldur.place_order(OrderSeed {
        order_type: "Update".into(),
        resource_uuid: Some(res.clone()),
        attributes: json!({}),
        limits: json!({"max_storage_limit": 3}),
        ..OrderSeed::default()
    });
    run_once(&cfg);
    assert_eq!(order_state(&waldur, &update.order_uuid).0, "done");
    assert_eq!(
        hs.user(gid, user).unwrap().3.unwrap().objects.0,
        100,
        "the other ceiling kept"
    );
    waldur.set_resource_field(&res, "paused", json!(true));
    run_once(&cfg);
    assert!(!hs.user(gid, user).unwrap().1, "disabled");
    assert!(!hs.key_works(&keys[0].client_id, &keys[0].api_key));
    waldur.set_resource_field(&res, "paused", json!(false));
    run_once(&cfg);
    assert!(
        hs.key_works(&keys[0].client_id, &keys[0].api_key),
        "enabled again"
    );

    // A rotation at the credential maximum: the new key is the third, the old one goes.
    waldur.rotate_key(&keys[0].uuid).unwrap();
    run_once(&cfg);
    let rotated = waldur.api_keys(&res);
    assert_eq!(rotated.len(), 2);
    assert!(
        rotated
            .iter()
            .all(|k| k.state == "OK" && hs.key_works(&k.client_id, &k.api_key))
    );
    assert!(!hs.key_works(&keys[0].client_id, &keys[0].api_key));
    assert_eq!(hs.user(gid, user).unwrap().2.len(), 2);

    // Usage from HyperStore's counters.
    for i in 0..3 {
        hs.put_object(gid, user, "photos", 1000 + i).unwrap();
    }
    next_second();
    hs.set_now_ms(chrono::Utc::now().timestamp_millis());
    hs.record_usage();
    run_once(&cfg);
    assert_eq!(billed(&waldur, &res, "s3_objects"), 3.0);

    // Terminate: refused while the bucket remains, done once it is gone.
    let refused = terminate(&waldur, &res);
    run_once(&cfg);
    let (st, msg) = order_state(&waldur, &refused.order_uuid);
    assert_eq!(st, "erred");
    assert!(msg.contains("still owns 1 bucket"), "{msg}");
    hs.remove_bucket(gid, user, "photos");
    let term = terminate(&waldur, &res);
    run_once(&cfg);
    assert_eq!(order_state(&waldur, &term.order_uuid).0, "done");
    assert!(hs.user(gid, user).is_none());
    assert!(
        hs.user("waldur-beta", "someone").is_some(),
        "others untouched"
    );
}
