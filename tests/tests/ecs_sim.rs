//! ecs-sim answers as ECS does (reference `other-backends.md` §3, §9.1): these tests pin the
//! behaviours a backend must cope with, so the simulator cannot drift into accepting anything.

use reqwest::StatusCode;
use serde_json::{Value, json};
use site_agent_sims::ecs::{EcsSim, GB, TOKEN_HEADER};

const NS: &str = "waldur";

async fn sim() -> EcsSim {
    site_agent_sdk::http::ensure_crypto_provider();
    EcsSim::start("mgmt", "mgmt-secret", &[NS, "other"])
        .await
        .unwrap()
}

async fn login(sim: &EcsSim) -> String {
    let r = reqwest::Client::new()
        .get(format!("{}/login", sim.url()))
        .basic_auth("mgmt", Some("mgmt-secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().get("X-SDS-AUTH-MAX-AGE").is_some());
    r.headers()[TOKEN_HEADER].to_str().unwrap().to_string()
}

/// A JSON call with the token.
async fn call(
    sim: &EcsSim,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let c = reqwest::Client::new();
    let mut req = c
        .request(method.parse().unwrap(), format!("{}{path}", sim.url()))
        .header(TOKEN_HEADER, token)
        .header("Accept", "application/json");
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn tokens_are_needed_and_expire() {
    let sim = sim().await;
    let bad = reqwest::Client::new()
        .get(format!("{}/login", sim.url()))
        .basic_auth("mgmt", Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    let (s, e) = call(&sim, "no-token", "GET", "/user/whoami", None).await;
    assert_eq!(
        (s, e["code"].as_u64()),
        (StatusCode::UNAUTHORIZED, Some(4000))
    );
    let token = login(&sim).await;
    assert_eq!(
        call(&sim, &token, "GET", "/user/whoami", None).await.0,
        StatusCode::OK
    );
    sim.expire_tokens();
    assert_eq!(
        call(&sim, &token, "GET", "/user/whoami", None).await.0,
        StatusCode::UNAUTHORIZED
    );
    let token = login(&sim).await;
    call(&sim, &token, "GET", "/logout", None).await;
    assert_eq!(
        call(&sim, &token, "GET", "/user/whoami", None).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn xml_unless_json_is_asked_for_and_xml_bodies_are_read() {
    let sim = sim().await;
    let token = login(&sim).await;
    let r = reqwest::Client::new()
        .post(format!("{}/object/users", sim.url()))
        .header(TOKEN_HEADER, &token)
        .header("Content-Type", "application/xml")
        .body("<user_create_param><user>u1</user><namespace>waldur</namespace><tags><tag><name>waldur-stamp</name><value>s</value></tag></tags></user_create_param>")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let xml = r.text().await.unwrap();
    assert!(xml.contains("<user>u1</user>"), "{xml}");
    assert_eq!(
        sim.user("u1").unwrap().0,
        vec![("waldur-stamp".to_string(), "s".to_string())]
    );
    let (_, info) = call(
        &sim,
        &token,
        "GET",
        "/object/users/u1/info?namespace=waldur",
        None,
    )
    .await;
    assert_eq!(info["tags"][0]["value"], "s");
    assert_eq!(info["locked"], false);
}

#[tokio::test]
async fn users_conflict_and_hold_at_most_two_secrets_deleted_by_value() {
    let sim = sim().await;
    let t = login(&sim).await;
    let user = json!({"user": "u1", "namespace": NS, "tags": []});
    assert_eq!(
        call(&sim, &t, "POST", "/object/users", Some(user.clone()))
            .await
            .0,
        StatusCode::OK
    );
    let (s, e) = call(&sim, &t, "POST", "/object/users", Some(user)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        e["description"]
            .as_str()
            .unwrap()
            .contains("already exists")
    );
    assert_eq!(e["code"], 1015);
    let (_, k1) = call(
        &sim,
        &t,
        "POST",
        "/object/user-secret-keys/u1",
        Some(json!({"namespace": NS})),
    )
    .await;
    let first = k1["secret_key"].as_str().unwrap().to_string();
    let (_, k2) = call(
        &sim,
        &t,
        "POST",
        "/object/user-secret-keys/u1",
        Some(json!({"namespace": NS, "secretkey": "chosen-secret-0001"})),
    )
    .await;
    assert_eq!(k2["secret_key"], "chosen-secret-0001");
    let (s, e) = call(
        &sim,
        &t,
        "POST",
        "/object/user-secret-keys/u1",
        Some(json!({"namespace": NS})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let d = e["description"].as_str().unwrap();
    assert!(d.contains("already has") && d.contains("valid keys"), "{d}");
    let (_, keys) = call(&sim, &t, "GET", "/object/user-secret-keys/u1/waldur", None).await;
    assert_eq!(
        (
            keys["secret_key_1_exist"].clone(),
            keys["secret_key_2_exist"].clone()
        ),
        (json!(true), json!(true))
    );
    assert!(sim.key_works("u1", &first));
    // Deleted by value: only that secret goes.
    call(
        &sim,
        &t,
        "POST",
        "/object/user-secret-keys/u1/deactivate",
        Some(json!({"namespace": NS, "secret_key": first})),
    )
    .await;
    assert!(!sim.key_works("u1", &first));
    assert!(sim.key_works("u1", "chosen-secret-0001"));
    // Locked users' keys stop working.
    call(
        &sim,
        &t,
        "PUT",
        "/object/users/lock",
        Some(json!({"user": "u1", "namespace": NS, "isLocked": true})),
    )
    .await;
    assert!(!sim.key_works("u1", "chosen-secret-0001"));
    let (_, lock) = call(&sim, &t, "GET", "/object/users/lock/u1/waldur", None).await;
    assert_eq!(lock["isLocked"], true);
    // Expiry frees a slot after the grace period.
    call(
        &sim,
        &t,
        "PUT",
        "/object/users/lock",
        Some(json!({"user": "u1", "namespace": NS, "isLocked": false})),
    )
    .await;
    call(
        &sim,
        &t,
        "POST",
        "/object/user-secret-keys/u1",
        Some(json!({"namespace": NS, "existing_key_expiry_time_mins": 2})),
    )
    .await;
    assert!(
        sim.key_works("u1", "chosen-secret-0001"),
        "within its grace period"
    );
    sim.advance(121);
    assert!(!sim.key_works("u1", "chosen-secret-0001"));
}

#[tokio::test]
async fn buckets_have_owners_whole_gb_quotas_and_refuse_deletes_while_full() {
    let sim = sim().await;
    let t = login(&sim).await;
    call(
        &sim,
        &t,
        "POST",
        "/object/users",
        Some(json!({"user": "u1", "namespace": NS})),
    )
    .await;
    let bucket = |name: &str, owner: &str| json!({"name": name, "namespace": NS, "owner": owner, "blockSize": 2, "notificationSize": 1, "head_type": "s3"});
    let (s, e) = call(
        &sim,
        &t,
        "POST",
        "/object/bucket",
        Some(bucket("bucket-1", "nobody")),
    )
    .await;
    assert_eq!(
        (s, e["code"].as_u64()),
        (StatusCode::BAD_REQUEST, Some(40010))
    );
    assert_eq!(
        call(
            &sim,
            &t,
            "POST",
            "/object/bucket",
            Some(bucket("bucket-1", "u1"))
        )
        .await
        .0,
        StatusCode::OK
    );
    let (_, e) = call(
        &sim,
        &t,
        "POST",
        "/object/bucket",
        Some(bucket("bucket-1", "u1")),
    )
    .await;
    assert_eq!(e["code"], 40008);
    let (_, e) = call(
        &sim,
        &t,
        "POST",
        "/object/bucket",
        Some(bucket("B_ad", "u1")),
    )
    .await;
    assert_eq!(e["code"], 40009);
    // Quota: whole GB or -1, not both -1, notification not above the block size.
    for bad in [
        json!({"blockSize": 0, "notificationSize": -1}),
        json!({"blockSize": -1, "notificationSize": -1}),
        json!({"blockSize": 1, "notificationSize": 2}),
        json!({"blockSize": "1.5", "notificationSize": 1}),
    ] {
        let mut b = bad.as_object().unwrap().clone();
        b.insert("namespace".into(), json!(NS));
        let (s, _) = call(
            &sim,
            &t,
            "PUT",
            "/object/bucket/bucket-1/quota",
            Some(Value::Object(b)),
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}");
    }
    assert_eq!(
        call(
            &sim,
            &t,
            "PUT",
            "/object/bucket/bucket-1/quota",
            Some(json!({"blockSize": 3, "notificationSize": 3, "namespace": NS}))
        )
        .await
        .0,
        StatusCode::OK
    );
    let (_, q) = call(
        &sim,
        &t,
        "GET",
        "/object/bucket/bucket-1/quota?namespace=waldur",
        None,
    )
    .await;
    assert_eq!(q["blockSize"], 3);
    // Writes past blockSize are refused.
    sim.put_object("bucket-1", "a", 2 * GB).unwrap();
    assert!(sim.put_object("bucket-1", "b", 2 * GB).is_err());
    // A user who owns buckets cannot go; a bucket with objects cannot go.
    let (s, _) = call(
        &sim,
        &t,
        "POST",
        "/object/users/deactivate",
        Some(json!({"user": "u1", "namespace": NS})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, e) = call(
        &sim,
        &t,
        "POST",
        "/object/bucket/bucket-1/deactivate?namespace=waldur",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(e["description"].as_str().unwrap().contains("not empty"));
    sim.delete_objects("bucket-1");
    assert_eq!(
        call(
            &sim,
            &t,
            "POST",
            "/object/bucket/bucket-1/deactivate?namespace=waldur",
            None
        )
        .await
        .0,
        StatusCode::OK
    );
    assert_eq!(
        call(
            &sim,
            &t,
            "POST",
            "/object/bucket/bucket-1/deactivate?namespace=waldur",
            None
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(
            &sim,
            &t,
            "POST",
            "/object/users/deactivate",
            Some(json!({"user": "u1", "namespace": NS}))
        )
        .await
        .0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn policies_need_a_statement_and_private_is_a_delete() {
    let sim = sim().await;
    let t = login(&sim).await;
    call(
        &sim,
        &t,
        "POST",
        "/object/users",
        Some(json!({"user": "u1", "namespace": NS})),
    )
    .await;
    call(
        &sim,
        &t,
        "POST",
        "/object/bucket",
        Some(json!({"name": "bucket-1", "namespace": NS, "owner": "u1"})),
    )
    .await;
    assert_eq!(
        call(
            &sim,
            &t,
            "PUT",
            "/object/bucket/bucket-1/policy?namespace=waldur",
            Some(json!({}))
        )
        .await
        .0,
        StatusCode::BAD_REQUEST
    );
    let public = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "bucket-1/*"}]});
    assert_eq!(
        call(
            &sim,
            &t,
            "PUT",
            "/object/bucket/bucket-1/policy?namespace=waldur",
            Some(public)
        )
        .await
        .0,
        StatusCode::OK
    );
    assert!(sim.bucket("bucket-1").unwrap().4.is_some());
    assert_eq!(
        call(
            &sim,
            &t,
            "DELETE",
            "/object/bucket/bucket-1/policy?namespace=waldur",
            None
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call(
            &sim,
            &t,
            "GET",
            "/object/bucket/bucket-1/policy?namespace=waldur",
            None
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn metering_lags_behind_writes_and_failures_can_be_injected() {
    let sim = sim().await;
    let t = login(&sim).await;
    call(
        &sim,
        &t,
        "POST",
        "/object/users",
        Some(json!({"user": "u1", "namespace": NS})),
    )
    .await;
    call(
        &sim,
        &t,
        "POST",
        "/object/bucket",
        Some(json!({"name": "bucket-1", "namespace": NS, "owner": "u1"})),
    )
    .await;
    sim.put_object("bucket-1", "a", 3 * 1024 * 1024).unwrap();
    let (_, before) = call(
        &sim,
        &t,
        "GET",
        "/object/billing/buckets/waldur/bucket-1/info?sizeunit=KB",
        None,
    )
    .await;
    assert_eq!(before["total_size"], 0, "not metered yet");
    sim.meter();
    let (_, after) = call(
        &sim,
        &t,
        "GET",
        "/object/billing/buckets/waldur/bucket-1/info?sizeunit=KB",
        None,
    )
    .await;
    assert_eq!(
        (
            after["total_size"].clone(),
            after["total_objects"].clone(),
            after["total_size_unit"].clone()
        ),
        (json!(3072), json!(1), json!("KB"))
    );
    assert!(after["sample_time"].as_str().unwrap().len() > 10);
    let (_, ns) = call(
        &sim,
        &t,
        "GET",
        "/object/billing/namespace/waldur/info?sizeunit=KB&include_bucket_detail=true",
        None,
    )
    .await;
    assert_eq!(ns["bucket_billing_info"][0]["name"], "bucket-1");
    sim.fail_next(
        2,
        StatusCode::SERVICE_UNAVAILABLE,
        6000,
        "Service unavailable",
    );
    let (s, e) = call(&sim, &t, "GET", "/user/whoami", None).await;
    assert_eq!(
        (s, e["retryable"].clone()),
        (StatusCode::SERVICE_UNAVAILABLE, json!(true))
    );
    call(&sim, &t, "GET", "/user/whoami", None).await;
    assert_eq!(
        call(&sim, &t, "GET", "/user/whoami", None).await.0,
        StatusCode::OK
    );
}

/// The S3 head: SigV4 by an object user (access key = user id, one of its live secrets), only
/// on buckets it owns; versioning keeps old versions; a bucket with data is not deleted.
#[tokio::test]
async fn the_s3_head_checks_signatures_owners_and_keeps_versions() {
    use site_agent_sdk::s3bucket::S3Buckets;
    use site_agent_sdk::sigv4::{SignedHttp, Signer};
    let sim = sim().await;
    let t = login(&sim).await;
    for u in ["alice", "bob"] {
        let (s, _) = call(
            &sim,
            &t,
            "POST",
            "/object/users",
            Some(json!({"user": u, "namespace": NS})),
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        let (s, _) = call(
            &sim,
            &t,
            "POST",
            &format!("/object/user-secret-keys/{u}"),
            Some(json!({"namespace": NS, "secretkey": format!("{u}-secret-0123456789")})),
        )
        .await;
        assert_eq!(s, StatusCode::OK);
    }
    let (s, _) = call(
        &sim,
        &t,
        "POST",
        "/object/bucket",
        Some(json!({"name": "alice-data", "namespace": NS, "owner": "alice"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let signed = |user: &str, secret: &str| {
        SignedHttp::new(
            reqwest::Client::new(),
            Signer::new(
                user.into(),
                secret.to_string().into(),
                "us-east-1".into(),
                "s3",
            ),
        )
    };
    let put = |h: SignedHttp, key: &'static str, n: usize| {
        let url = format!("{}/alice-data/{key}", sim.s3_url());
        async move {
            h.send("put", reqwest::Method::PUT, &url, None, vec![7; n])
                .await
                .unwrap()
        }
    };
    let alice = || signed("alice", "alice-secret-0123456789");
    assert!(put(alice(), "a", 100).await.ok());
    let wrong = put(signed("alice", "not-her-secret"), "a", 1).await;
    assert_eq!(wrong.status, 403);
    assert!(
        wrong.body.contains("SignatureDoesNotMatch"),
        "{}",
        wrong.body
    );
    let bob = put(signed("bob", "bob-secret-0123456789"), "a", 1).await;
    assert!(
        bob.status == 403 && bob.body.contains("AccessDenied"),
        "{}",
        bob.body
    );
    let nobody = put(signed("carol", "x"), "a", 1).await;
    assert!(
        nobody.body.contains("InvalidAccessKeyId"),
        "{}",
        nobody.body
    );

    // Versioning: an overwrite keeps the old version (billed too), a delete by id removes it.
    let b = S3Buckets::new(alice(), &sim.s3_url(), "ECS S3");
    assert!(!b.versioning("alice-data").await.unwrap());
    b.set_versioning("alice-data", true).await.unwrap();
    assert!(b.versioning("alice-data").await.unwrap());
    assert!(put(alice(), "a", 300).await.ok());
    assert_eq!(sim.versions("alice-data"), Some((Some(true), 1)));
    let stored = b.stored("alice-data").await.unwrap().unwrap();
    assert_eq!((stored.bytes, stored.objects), (400, 2));
    let e = b.delete("alice-data").await.unwrap_err();
    assert_eq!(e.kind(), site_agent_sdk::ErrorKind::NotEmpty, "{e}");
    assert_eq!(b.purge("alice-data").await.unwrap(), 2);
    assert!(sim.bucket("alice-data").is_none(), "purged and deleted");

    // A locked user's key is refused.
    let (s, _) = call(
        &sim,
        &t,
        "PUT",
        "/object/users/lock",
        Some(json!({"user": "alice", "namespace": NS, "isLocked": true})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = call(
        &sim,
        &t,
        "POST",
        "/object/bucket",
        Some(json!({"name": "alice-two", "namespace": NS, "owner": "alice"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let locked = S3Buckets::new(alice(), &sim.s3_url(), "ECS S3");
    assert_eq!(
        locked.versioning("alice-two").await.unwrap_err().kind(),
        site_agent_sdk::ErrorKind::Unauthorized
    );
}
