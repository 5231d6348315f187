//! The real `site-agent` binary on MyFSIO, configured by the shipped `config/myfsio.yaml`
//! (only its addresses and admin secret pointed at waldur-sim and myfsio-sim), in each
//! generation, and on v0.5 with an encrypted IAM file in console key mode: Create, a tenant's
//! write past its quota refused (and nothing else of the bucket or another bucket in its
//! reach), Update, pause and restore, a rotation, usage, Terminate refused while data remains
//! and then done — each by `site-agent run --once`.

mod support;

use serde_json::json;
use site_agent_sims::myfsio::{Generation, MyfsioSim};
use site_agent_sims::waldur::{OrderSeed, SimOptions, WaldurSim};
use support::{as_tenant, billed, next_second, order_state, run_once, shipped_config, terminate};

/// The status of a signed listing of `bucket` with `key`: 200 while the key works there.
async fn lists(sim: &MyfsioSim, key: (&str, &str), bucket: &str) -> (u16, String) {
    as_tenant(
        &sim.url(),
        key,
        reqwest::Method::GET,
        &format!("/{bucket}"),
        b"",
    )
    .await
}

async fn lifecycle(g: Generation, console_keys: bool) {
    site_agent_sdk::http::ensure_crypto_provider();
    let waldur = WaldurSim::start(SimOptions::default()).await.unwrap();
    let fs = MyfsioSim::start(g, "localadmin", "admin-secret")
        .await
        .unwrap();
    fs.set_admin_rate_limit(100_000, std::time::Duration::from_secs(60));
    if console_keys {
        fs.set_encrypted_iam(true);
    }
    let dir = tempfile::tempdir().unwrap();
    let (offering, yaml) = shipped_config(
        &waldur,
        "MyFSIO S3",
        "myfsio.yaml",
        "0ff00000000000000000000000000006",
        dir.path(),
    );
    let mut yaml = yaml
        .replace("http://127.0.0.1:5000", &fs.url())
        .replace("http://127.0.0.1:5100", &fs.console_url())
        .replace("\"change-me\"", "\"admin-secret\"")
        // myfsio-sim shares one IAM state between its API and console.
        .replace("# console_settle_seconds: 8", "console_settle_seconds: 0");
    if console_keys {
        yaml = yaml.replace("# key_mode: \"console\"", "key_mode: \"console\"");
    }
    let cfg = dir.path().join("myfsio.yaml");
    std::fs::write(&cfg, yaml).unwrap();

    let create = waldur.place_order(OrderSeed {
        offering_uuid: offering.clone(),
        order_type: "Create".into(),
        resource_name: "Data".into(),
        customer_slug: "acme".into(),
        project_slug: "acme-project".into(),
        attributes: json!({"max_storage_limit": 2, "max_object_limit": 2}),
        limits: json!({}),
        ..OrderSeed::default()
    });
    // The answer to the first key MyFSIO makes is lost: that key reaches nobody.
    if !console_keys {
        fs.lose_api_answer("POST", "/keys");
        let first = run_once(&cfg);
        assert_ne!(
            order_state(&waldur, &create.order_uuid).0,
            "done",
            "{first}"
        );
    }
    let log = run_once(&cfg);
    let label = if g == Generation::Py {
        "v0.4 (Python)"
    } else {
        "v0.5 (Rust)"
    };
    assert!(
        log.contains("MyFSIO generation detected") && log.contains(label),
        "{log}"
    );
    assert!(
        !log.contains("admin-secret"),
        "the admin secret never reaches the log"
    );
    assert_eq!(order_state(&waldur, &create.order_uuid).0, "done", "{log}");
    let res = create.resource_uuid.clone();
    let uid = waldur.resource(&res).unwrap()["backend_id"]
        .as_str()
        .unwrap()
        .to_string();
    let bucket = uid.clone();
    let users: Vec<_> = fs
        .users()
        .into_iter()
        .filter(|u| u.display_name.starts_with(&format!("{uid}@")))
        .collect();
    assert_eq!(users.len(), 1, "one IAM user, its display name stamped");
    let quota = fs.bucket(&bucket).unwrap().quota.unwrap();
    assert_eq!(
        (quota.max_bytes, quota.max_objects),
        (Some(2_000_000_000), Some(2))
    );
    let keys = waldur.api_keys(&res);
    assert_eq!(keys.len(), if console_keys { 1 } else { 2 }, "{keys:?}");
    let real: Vec<String> = users[0]
        .keys
        .iter()
        .map(|k| k.access_key.clone())
        .filter(|k| !k.starts_with("WANCHOR"))
        .collect();
    let mut shown: Vec<String> = keys.iter().map(|k| k.client_id.clone()).collect();
    let mut held = real.clone();
    shown.sort();
    held.sort();
    assert_eq!(
        held, shown,
        "MyFSIO holds exactly the keys Waldur shows (the lost one is gone)"
    );
    for k in &keys {
        let r = lists(&fs, (&k.client_id, &k.api_key), &bucket).await;
        assert_eq!(r.0, 200, "the keys Waldur shows work: {r:?}");
    }
    let md = waldur.resource(&res).unwrap()["backend_metadata"].clone();
    assert_eq!(md["s3_bucket"], json!(bucket), "{md}");

    // The tenant writes up to its ceiling, not past it, and cannot lift it.
    let key = (keys[0].client_id.clone(), keys[0].api_key.clone());
    let k = (key.0.as_str(), key.1.as_str());
    for name in ["a", "b"] {
        let r = as_tenant(
            &fs.url(),
            k,
            reqwest::Method::PUT,
            &format!("/{bucket}/{name}"),
            &[1; 700],
        )
        .await;
        assert_eq!(r.0, 200, "{r:?}");
    }
    let r = as_tenant(
        &fs.url(),
        k,
        reqwest::Method::PUT,
        &format!("/{bucket}/c"),
        &[1; 10],
    )
    .await;
    assert_eq!(r.0, 403);
    assert!(r.1.contains("<Code>QuotaExceeded</Code>"), "{}", r.1);
    let lift = json!({"max_size_bytes": 1u64 << 50, "max_objects": 1_000_000}).to_string();
    let r = as_tenant(
        &fs.url(),
        k,
        reqwest::Method::PUT,
        &format!("/{bucket}?quota"),
        lift.as_bytes(),
    )
    .await;
    assert_eq!(r.0, 403, "a tenant cannot change its own quota: {r:?}");
    fs.add_bucket("someone-elses");
    for (m, p) in [
        (reqwest::Method::GET, "/someone-elses".to_string()),
        (reqwest::Method::PUT, "/someone-elses/x".to_string()),
        (reqwest::Method::PUT, "/a-new-bucket".to_string()),
    ] {
        let r = as_tenant(&fs.url(), k, m.clone(), &p, b"x").await;
        assert_eq!(r.0, 403, "{m} {p}: {r:?}");
    }
    let admin_route = match g {
        Generation::Py => format!("/admin/iam/users/{}/keys", k.0),
        Generation::Rs => format!("/myfsio/admin/iam/users/{}/access-keys", k.0),
    };
    let r = as_tenant(&fs.url(), k, reqwest::Method::POST, &admin_route, b"").await;
    assert_eq!(r.0, 403, "nor make itself keys or touch its policy: {r:?}");

    // Update: a new ceiling.
    let update = waldur.place_order(OrderSeed {
        order_type: "Update".into(),
        resource_uuid: Some(res.clone()),
        attributes: json!({}),
        limits: json!({"max_storage_limit": 3, "max_object_limit": 5}),
        ..OrderSeed::default()
    });
    run_once(&cfg);
    assert_eq!(order_state(&waldur, &update.order_uuid).0, "done");
    let quota = fs.bucket(&bucket).unwrap().quota.unwrap();
    assert_eq!(
        (quota.max_bytes, quota.max_objects),
        (Some(3_000_000_000), Some(5))
    );
    let r = as_tenant(
        &fs.url(),
        k,
        reqwest::Method::PUT,
        &format!("/{bucket}/c"),
        &[1; 100],
    )
    .await;
    assert_eq!(r.0, 200, "room again: {r:?}");

    // Pause and restore.
    waldur.set_resource_field(&res, "paused", json!(true));
    run_once(&cfg);
    let r = lists(&fs, k, &bucket).await;
    assert_eq!(r.0, 403, "paused: {r:?}");
    waldur.set_resource_field(&res, "paused", json!(false));
    run_once(&cfg);
    let r = lists(&fs, k, &bucket).await;
    assert_eq!(r.0, 200, "restored: {r:?}");

    // A rotation: the new key works, the old one does not.
    waldur.rotate_key(&keys[0].uuid).unwrap();
    run_once(&cfg);
    let rotated = waldur.api_keys(&res);
    assert_eq!(rotated.len(), keys.len());
    for k in &rotated {
        assert_eq!(k.state, "OK");
        let r = lists(&fs, (&k.client_id, &k.api_key), &bucket).await;
        assert_eq!(r.0, 200, "{r:?}");
    }
    let r = lists(&fs, k, &bucket).await;
    assert_eq!(r.0, 403, "the rotated-out key is refused: {r:?}");

    // Usage: MyFSIO's live count.
    next_second();
    run_once(&cfg);
    assert_eq!(billed(&waldur, &res, "s3_objects"), 3.0);

    // Terminate: refused while the bucket holds objects, done once it is empty.
    let refused = terminate(&waldur, &res);
    run_once(&cfg);
    let (st, msg) = order_state(&waldur, &refused.order_uuid);
    assert_eq!(st, "erred");
    assert!(msg.contains("holds objects"), "{msg}");
    let k = (rotated[0].client_id.as_str(), rotated[0].api_key.as_str());
    for name in ["a", "b", "c"] {
        let r = as_tenant(
            &fs.url(),
            k,
            reqwest::Method::DELETE,
            &format!("/{bucket}/{name}"),
            b"",
        )
        .await;
        assert_eq!(r.0, 204, "{r:?}");
    }
    let term = terminate(&waldur, &res);
    run_once(&cfg);
    assert_eq!(order_state(&waldur, &term.order_uuid).0, "done");
    assert!(fs.bucket(&bucket).is_none(), "bucket and its quota gone");
    assert!(
        fs.users()
            .iter()
            .all(|u| !u.display_name.starts_with(&format!("{uid}@"))),
        "user and keys gone"
    );
    assert!(fs.bucket("someone-elses").is_some(), "others untouched");

    // With `purge_data: true`, Terminate removes a resource's data too.
    let second = waldur.place_order(OrderSeed {
        offering_uuid: offering.clone(),
        order_type: "Create".into(),
        resource_name: "Scratch".into(),
        customer_slug: "acme".into(),
        project_slug: "acme-project".into(),
        attributes: json!({"max_storage_limit": 1}),
        limits: json!({}),
        ..OrderSeed::default()
    });
    run_once(&cfg);
    assert_eq!(order_state(&waldur, &second.order_uuid).0, "done");
    let res2 = second.resource_uuid.clone();
    let bucket2 = waldur.resource(&res2).unwrap()["backend_id"]
        .as_str()
        .unwrap()
        .to_string();
    let k2 = waldur.api_keys(&res2);
    let r = as_tenant(
        &fs.url(),
        (&k2[0].client_id, &k2[0].api_key),
        reqwest::Method::PUT,
        &format!("/{bucket2}/kept"),
        &[1; 64],
    )
    .await;
    assert_eq!(r.0, 200, "{r:?}");
    let purging = std::fs::read_to_string(&cfg).unwrap().replace(
        "      s3_region:",
        "      purge_data: true\n      s3_region:",
    );
    std::fs::write(&cfg, purging).unwrap();
    let term = terminate(&waldur, &res2);
    run_once(&cfg);
    assert_eq!(order_state(&waldur, &term.order_uuid).0, "done");
    assert!(fs.bucket(&bucket2).is_none(), "purged");
    assert!(
        fs.users()
            .iter()
            .all(|u| !u.display_name.starts_with(&format!("{bucket2}@"))),
        "and its user"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_myfsio_config_runs_a_lifecycle_on_v05() {
    lifecycle(Generation::Rs, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_myfsio_config_runs_a_lifecycle_on_v04() {
    lifecycle(Generation::Py, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_key_mode_runs_a_lifecycle_on_v05_with_an_encrypted_iam_file() {
    lifecycle(Generation::Rs, true).await;
}
