//! The real `site-agent` binary on MinIO, configured by the shipped `config/minio.yaml` (only
//! its addresses and admin secret pointed at waldur-sim and minio-sim): Create (keys as service
//! accounts, the bucket's hard quota, the object ceiling not enforced and said so), a tenant's
//! limits, Update, pause and restore, a rotation, usage from the scanner, Terminate refused
//! while data remains and then done, and a purge — each by `site-agent run --once`.

mod support;

use serde_json::json;
use site_agent_sims::minio::MinioSim;
use site_agent_sims::waldur::{OrderSeed, SimOptions, WaldurSim};
use support::{as_tenant, billed, next_second, order_state, run_once, shipped_config, terminate};

async fn lists(sim: &MinioSim, key: (&str, &str), bucket: &str) -> u16 {
    as_tenant(
        &sim.url(),
        key,
        reqwest::Method::GET,
        &format!("/{bucket}?list-type=2"),
        b"",
    )
    .await
    .0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_minio_config_runs_a_lifecycle() {
    site_agent_sdk::http::ensure_crypto_provider();
    let waldur = WaldurSim::start(SimOptions::default()).await.unwrap();
    let minio = MinioSim::start("site-agent", "admin-secret-0001")
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (offering, yaml) = shipped_config(
        &waldur,
        "MinIO S3",
        "minio.yaml",
        "0ff00000000000000000000000000007",
        dir.path(),
    );
    let yaml = yaml
        .replace("https://minio.example.com:9000", &minio.url())
        .replace("\"change-me\"", "\"admin-secret-0001\"");
    let cfg = dir.path().join("minio.yaml");
    std::fs::write(&cfg, &yaml).unwrap();

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
    // The answer to the first key is lost: the retry finds it made, and no key is doubled.
    minio.lose_answer("add-service-account");
    let mut logs = run_once(&cfg);
    let log = logs.clone();
    let issued = minio
        .calls()
        .iter()
        .filter(|(m, p)| m == "PUT" && p.ends_with("/add-service-account"))
        .count();
    assert_eq!(
        issued, 3,
        "two keys, the first sent again after its lost answer"
    );
    assert!(
        !log.contains("admin-secret-0001"),
        "the admin secret never reaches the log"
    );
    assert_eq!(order_state(&waldur, &create.order_uuid).0, "done", "{log}");
    let res = create.resource_uuid.clone();
    let uid = waldur.resource(&res).unwrap()["backend_id"]
        .as_str()
        .unwrap()
        .to_string();
    let bucket = uid.clone();
    let user = minio.user(&uid).expect("one MinIO user per resource");
    assert_eq!(user.policies.len(), 1);
    let named = user.policies[0].replace('-', "");
    assert!(
        named.starts_with(&format!("waldur{res}")),
        "named after the stamp: {:?}",
        user.policies
    );
    assert_eq!(minio.bucket(&bucket).unwrap().quota, Some(2_000_000_000));
    let keys = waldur.api_keys(&res);
    assert_eq!(keys.len(), 2, "{keys:?}");
    let mut shown: Vec<String> = keys.iter().map(|k| k.client_id.clone()).collect();
    let mut held: Vec<String> = minio
        .service_accounts(&uid)
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    shown.sort();
    held.sort();
    assert_eq!(held, shown, "MinIO holds exactly the keys Waldur shows");
    for k in &keys {
        assert_ne!(
            k.api_key, user.secret,
            "the user's own secret is never handed out"
        );
        assert_eq!(
            lists(&minio, (&k.client_id, &k.api_key), &bucket).await,
            200
        );
    }
    let md = waldur.resource(&res).unwrap()["backend_metadata"].clone();
    assert_eq!(md["s3_bucket"], json!(bucket), "{md}");
    assert_eq!(
        md["s3_quota_max_size_bytes"],
        json!(2_000_000_000u64),
        "{md}"
    );
    assert_eq!(
        md["s3_quota_max_objects"],
        json!(null),
        "the object ceiling is not enforced: {md}"
    );

    // The tenant uses its bucket and nothing else.
    let key = (keys[0].client_id.clone(), keys[0].api_key.clone());
    let k = (key.0.as_str(), key.1.as_str());
    for name in ["a", "b", "c"] {
        let r = as_tenant(
            &minio.url(),
            k,
            reqwest::Method::PUT,
            &format!("/{bucket}/{name}"),
            &[1; 700],
        )
        .await;
        assert_eq!(r.0, 200, "{r:?}");
    }
    minio.add_bucket("someone-elses");
    for (m, p) in [
        (
            reqwest::Method::PUT,
            format!("/minio/admin/v3/set-bucket-quota?bucket={bucket}"),
        ),
        (
            reqwest::Method::PUT,
            "/minio/admin/v3/add-canned-policy?name=more".to_string(),
        ),
        (
            reqwest::Method::GET,
            "/someone-elses?list-type=2".to_string(),
        ),
        (reqwest::Method::PUT, "/someone-elses/x".to_string()),
        (reqwest::Method::PUT, "/a-new-bucket".to_string()),
    ] {
        let r = as_tenant(&minio.url(), k, m.clone(), &p, br#"{"size":0,"quota":0}"#).await;
        assert_eq!(r.0, 403, "{m} {p}: {r:?}");
    }

    // Update: a new ceiling.
    let update = waldur.place_order(OrderSeed {
        order_type: "Update".into(),
        resource_uuid: Some(res.clone()),
        attributes: json!({}),
        limits: json!({"max_storage_limit": 3, "max_object_limit": 5}),
        ..OrderSeed::default()
    });
    logs += &run_once(&cfg);
    assert_eq!(order_state(&waldur, &update.order_uuid).0, "done");
    assert_eq!(minio.bucket(&bucket).unwrap().quota, Some(3_000_000_000));

    // Pause and restore.
    waldur.set_resource_field(&res, "paused", json!(true));
    logs += &run_once(&cfg);
    assert!(!minio.user(&uid).unwrap().enabled);
    assert_eq!(lists(&minio, k, &bucket).await, 403, "paused");
    waldur.set_resource_field(&res, "paused", json!(false));
    logs += &run_once(&cfg);
    assert_eq!(lists(&minio, k, &bucket).await, 200, "restored");

    // A rotation: the new key works, the old one does not.
    waldur.rotate_key(&keys[0].uuid).unwrap();
    logs += &run_once(&cfg);
    let rotated = waldur.api_keys(&res);
    assert_eq!(rotated.len(), keys.len());
    for k in &rotated {
        assert_eq!(k.state, "OK");
        assert_eq!(
            lists(&minio, (&k.client_id, &k.api_key), &bucket).await,
            200
        );
    }
    assert_eq!(
        lists(&minio, k, &bucket).await,
        403,
        "the rotated-out key is refused"
    );
    assert_eq!(minio.service_accounts(&uid).len(), 2);

    // Usage: the scanner's figures.
    next_second();
    logs += &run_once(&cfg);
    assert_eq!(billed(&waldur, &res, "s3_objects"), 3.0);

    // Terminate: refused while the bucket holds objects, done once it is empty.
    let refused = terminate(&waldur, &res);
    logs += &run_once(&cfg);
    let (st, msg) = order_state(&waldur, &refused.order_uuid);
    assert_eq!(st, "erred");
    assert!(msg.contains("holds") && msg.contains(&bucket), "{msg}");
    assert!(minio.user(&uid).is_some());
    let k = (rotated[0].client_id.as_str(), rotated[0].api_key.as_str());
    for name in ["a", "b", "c"] {
        let r = as_tenant(
            &minio.url(),
            k,
            reqwest::Method::DELETE,
            &format!("/{bucket}/{name}"),
            b"",
        )
        .await;
        assert_eq!(r.0, 204, "{r:?}");
    }
    let term = terminate(&waldur, &res);
    logs += &run_once(&cfg);
    assert_eq!(order_state(&waldur, &term.order_uuid).0, "done");
    assert!(minio.bucket(&bucket).is_none(), "bucket gone");
    assert!(
        minio.user(&uid).is_none() && minio.service_accounts(&uid).is_empty(),
        "user and keys gone"
    );
    assert!(
        !minio.policy_names().contains(&user.policies[0]),
        "policy gone"
    );
    assert!(minio.bucket("someone-elses").is_some(), "others untouched");

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
    logs += &run_once(&cfg);
    assert_eq!(order_state(&waldur, &second.order_uuid).0, "done");
    let res2 = second.resource_uuid.clone();
    let uid2 = waldur.resource(&res2).unwrap()["backend_id"]
        .as_str()
        .unwrap()
        .to_string();
    let k2 = waldur.api_keys(&res2);
    let r = as_tenant(
        &minio.url(),
        (&k2[0].client_id, &k2[0].api_key),
        reqwest::Method::PUT,
        &format!("/{uid2}/kept"),
        &[1; 64],
    )
    .await;
    assert_eq!(r.0, 200, "{r:?}");
    std::fs::write(&cfg, yaml.replace("purge_data: false", "purge_data: true")).unwrap();
    let term = terminate(&waldur, &res2);
    logs += &run_once(&cfg);
    assert_eq!(order_state(&waldur, &term.order_uuid).0, "done");
    assert!(
        minio.bucket(&uid2).is_none() && minio.user(&uid2).is_none(),
        "purged"
    );
    // No secret the agent handled reached its log: the admin's, the users' own (random,
    // never handed out) or any key Waldur shows.
    let mut secrets = vec!["admin-secret-0001".to_string()];
    for r in [&res, &res2] {
        secrets.extend(waldur.api_keys(r).into_iter().map(|k| k.api_key));
    }
    secrets.extend(rotated.iter().map(|k| k.api_key.clone()));
    secrets.extend(keys.iter().map(|k| k.api_key.clone()));
    secrets.push(user.secret.clone());
    for s in &secrets {
        assert!(!logs.contains(s.as_str()), "a secret reached the log");
    }
}
