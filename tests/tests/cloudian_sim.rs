//! cloudian-sim answers as HyperStore's Admin API does (reference `other-backends.md` §4, §9):
//! these tests pin the behaviours a backend must cope with, so the simulator cannot drift into
//! accepting anything.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use site_agent_sims::cloudian::CloudianSim;

async fn sim() -> CloudianSim {
    site_agent_sdk::http::ensure_crypto_provider();
    CloudianSim::start("sysadmin", "admin-secret")
        .await
        .unwrap()
}

/// A call as the admin: `(status, body text)`.
async fn call(
    sim: &CloudianSim,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, String) {
    call_as(sim, ("sysadmin", "admin-secret"), method, path, body).await
}

async fn call_as(
    sim: &CloudianSim,
    who: (&str, &str),
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, String) {
    let mut req = reqwest::Client::new()
        .request(method, format!("{}{path}", sim.url()))
        .basic_auth(who.0, Some(who.1));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

async fn group_and_user(sim: &CloudianSim) {
    let (s, _) = call(
        sim,
        Method::PUT,
        "/group",
        Some(json!({"groupId": "acme", "groupName": "ACME", "active": "true"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = call(
        sim,
        Method::PUT,
        "/user",
        Some(
            json!({"userId": "u1", "groupId": "acme", "userType": "User",
        "fullName": "One", "emailAddr": "stamp@invalid", "active": "true"}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn basic_auth_on_every_call_and_204_for_what_is_missing() {
    let sim = sim().await;
    let (s, _) = call_as(
        &sim,
        ("sysadmin", "wrong"),
        Method::GET,
        "/system/version",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, v) = call(&sim, Method::GET, "/system/version", None).await;
    assert_eq!((s, v.is_empty()), (StatusCode::OK, false));
    let (s, body) = call(&sim, Method::GET, "/user?userId=nobody&groupId=acme", None).await;
    assert_eq!((s, body.as_str()), (StatusCode::NO_CONTENT, ""));
    let (s, _) = call(&sim, Method::GET, "/group?groupId=none", None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, t) = call(&sim, Method::GET, "/user", None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{t}");
}

#[tokio::test]
async fn users_live_in_groups_conflict_and_are_deleted_with_a_400_when_missing() {
    let sim = sim().await;
    let (s, _) = call(
        &sim,
        Method::PUT,
        "/user",
        Some(json!({"userId": "u1", "groupId": "acme", "active": "true"})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "no such group");
    group_and_user(&sim).await;
    let (s, _) = call(
        &sim,
        Method::PUT,
        "/user",
        Some(json!({"userId": "u1", "groupId": "acme", "active": "true"})),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, t) = call(
        &sim,
        Method::PUT,
        "/user",
        Some(json!({"userId": "u2", "groupId": "acme", "active": true})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "active is a string: {t}");
    let (s, t) = call(&sim, Method::GET, "/user?userId=u1&groupId=acme", None).await;
    assert_eq!(s, StatusCode::OK);
    let u = json_of(&t);
    assert_eq!(
        (u["active"].as_str(), u["emailAddr"].as_str()),
        (Some("true"), Some("stamp@invalid"))
    );
    // Disabled by an update; the group cannot go while it holds the user.
    let (s, _) = call(
        &sim,
        Method::POST,
        "/user",
        Some(json!({"userId": "u1", "groupId": "acme", "active": "false"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(!sim.user("acme", "u1").unwrap().1);
    let (s, _) = call(&sim, Method::DELETE, "/group?groupId=acme", None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = call(&sim, Method::DELETE, "/user?userId=u1&groupId=acme", None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, t) = call(&sim, Method::DELETE, "/user?userId=u1&groupId=acme", None).await;
    assert_eq!(
        (s, t.as_str()),
        (StatusCode::BAD_REQUEST, "User does not exist")
    );
    let (s, _) = call(&sim, Method::DELETE, "/group?groupId=acme", None).await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn credentials_are_generated_up_to_a_maximum() {
    let sim = sim().await;
    sim.set_max_credentials(2);
    let (s, _) = call(
        &sim,
        Method::PUT,
        "/user/credentials?userId=u1&groupId=acme",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "missing user");
    group_and_user(&sim).await;
    let mut keys = Vec::new();
    for _ in 0..2 {
        let (s, t) = call(
            &sim,
            Method::PUT,
            "/user/credentials?userId=u1&groupId=acme",
            None,
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        let c = json_of(&t);
        assert_eq!(c["active"], json!(true), "a boolean here");
        assert!(c["createDate"].is_i64());
        keys.push((
            c["accessKey"].as_str().unwrap().to_string(),
            c["secretKey"].as_str().unwrap().to_string(),
        ));
    }
    let (s, _) = call(
        &sim,
        Method::PUT,
        "/user/credentials?userId=u1&groupId=acme",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "at the maximum");
    assert!(sim.key_works(&keys[0].0, &keys[0].1));
    assert!(!sim.key_works(&keys[0].0, &keys[1].1), "the secret matters");
    let (s, t) = call(
        &sim,
        Method::GET,
        "/user/credentials/list?userId=u1&groupId=acme",
        None,
    )
    .await;
    assert_eq!(
        (s, json_of(&t).as_array().unwrap().len()),
        (StatusCode::OK, 2)
    );
    // Deactivated, the key stops working; deleted, the slot is free again.
    let (s, _) = call(
        &sim,
        Method::POST,
        &format!(
            "/user/credentials/status?accessKey={}&isActive=false",
            keys[0].0
        ),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(!sim.key_works(&keys[0].0, &keys[0].1));
    let (s, _) = call(
        &sim,
        Method::DELETE,
        &format!("/user/credentials?accessKey={}", keys[0].0),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = call(
        &sim,
        Method::PUT,
        "/user/credentials?userId=u1&groupId=acme",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    // A disabled user's keys are refused.
    call(
        &sim,
        Method::POST,
        "/user",
        Some(json!({"userId": "u1", "groupId": "acme", "active": "false"})),
    )
    .await;
    assert!(!sim.key_works(&keys[1].0, &keys[1].1));
}

#[tokio::test]
async fn qos_limits_live_in_the_query_string_and_bite_on_writes() {
    let sim = sim().await;
    group_and_user(&sim).await;
    let (s, t) = call(
        &sim,
        Method::POST,
        "/qos/limits?userId=u1&groupId=acme&hlStorageQuotaKBytes=2&hlStorageQuotaCount=-1",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{t}");
    let (s, t) = call(
        &sim,
        Method::POST,
        "/qos/limits?userId=u1&groupId=acme&hlStorageQuotaKBytes=abc",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{t}");
    let (s, t) = call(
        &sim,
        Method::GET,
        "/qos/limits?userId=u1&groupId=acme",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let list = json_of(&t)["qosLimitList"].clone();
    assert!(
        list.as_array()
            .unwrap()
            .contains(&json!({"type": "STORAGE_QUOTA_KBYTES_LH", "value": 2}))
    );
    assert!(sim.put_object("acme", "u1", "b1", 2048).is_ok());
    assert!(sim.put_object("acme", "u1", "b1", 1).is_err(), "past 2 KiB");
}

#[tokio::test]
async fn bucket_counters_need_bucket_level_qos() {
    let sim = sim().await;
    group_and_user(&sim).await;
    sim.put_object("acme", "u1", "b1", 100).unwrap();
    sim.put_object("acme", "u1", "b1", 50).unwrap();
    let (_, t) = call(
        &sim,
        Method::GET,
        "/system/bucketusage?groupId=acme&userId=u1",
        None,
    )
    .await;
    assert_eq!(
        json_of(&t),
        json!([{"userId": "u1", "buckets": [{"bucketName": "b1", "byteCount": 150, "objectCount": 2, "policyName": "Default"}]}])
    );
    sim.set_bucket_level_qos(false);
    let (_, t) = call(&sim, Method::GET, "/system/bucketusage?groupId=acme", None).await;
    assert_eq!(json_of(&t)[0]["buckets"][0]["byteCount"], json!(0));
    let (_, t) = call(&sim, Method::GET, "/system/bucketlist?groupId=acme", None).await;
    assert_eq!(
        json_of(&t),
        json!([{"userId": "u1", "buckets": [{"bucketName": "b1"}]}])
    );
    sim.fail_next(1, 503, "Service Unavailable");
    let (s, _) = call(&sim, Method::GET, "/system/version", None).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn usage_records_move_only_with_a_counter_pass_and_span_at_most_a_day() {
    let sim = sim().await;
    group_and_user(&sim).await;
    let day = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .unwrap()
            .format("%Y%m%d%H%M")
            .to_string()
    };
    let t0 = 1_796_000_000_000i64;
    sim.set_now_ms(t0);
    sim.put_object("acme", "u1", "b1", 3000).unwrap();
    let q = |op: &str, from: i64, to: i64| {
        format!(
            "/usage?id=acme|u1&operation={op}&startTime={}&endTime={}&granularity=raw&reversed=true",
            day(from),
            day(to)
        )
    };
    let (s, t) = call(
        &sim,
        Method::GET,
        &q("SB", t0 - 3_600_000, t0 + 60_000),
        None,
    )
    .await;
    assert_eq!(
        (s, json_of(&t)),
        (StatusCode::OK, json!([])),
        "no counter pass yet"
    );
    sim.record_usage();
    sim.set_now_ms(t0 + 60_000);
    sim.put_object("acme", "u1", "b2", 1000).unwrap();
    sim.record_usage();
    let (_, t) = call(
        &sim,
        Method::GET,
        &q("SB", t0 - 3_600_000, t0 + 120_000),
        None,
    )
    .await;
    let rows = json_of(&t);
    assert_eq!(
        rows[0]["value"],
        json!("4000"),
        "newest first, numbers as strings"
    );
    assert_eq!(rows[0]["timestamp"], json!((t0 + 60_000).to_string()));
    assert_eq!(rows[1]["value"], json!("3000"));
    let (_, t) = call(
        &sim,
        Method::GET,
        &q("SO", t0 - 3_600_000, t0 + 120_000),
        None,
    )
    .await;
    assert_eq!(json_of(&t)[0]["value"], json!("2"));
    let (s, _) = call(&sim, Method::GET, &q("SB", t0 - 2 * 86_400_000, t0), None).await;
    assert_eq!(
        s,
        StatusCode::BAD_REQUEST,
        "more than 24 hours of raw records"
    );
}

#[tokio::test]
async fn a_chosen_key_pair_can_be_imported_but_never_twice() {
    let sim = sim().await;
    group_and_user(&sim).await;
    let path =
        "/user/credentials?userId=u1&groupId=acme&accessKey=AKCHOSEN0001&secretKey=chosen-secret";
    let (s, _) = call(&sim, Method::POST, path, None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(sim.key_works("AKCHOSEN0001", "chosen-secret"));
    let (s, _) = call(&sim, Method::POST, path, None).await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, body) = call(&sim, Method::GET, "/user/list?groupId=nobody", None).await;
    assert_eq!(
        (s, body.as_str()),
        (StatusCode::OK, ""),
        "an unknown group lists as an empty 200"
    );
    let (s, _) = call(
        &sim,
        Method::POST,
        "/qos/limits?userId=ALL&groupId=acme&hlStorageQuotaKBytes=1",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (_, t) = call(
        &sim,
        Method::GET,
        "/qos/limits?userId=u1&groupId=acme",
        None,
    )
    .await;
    assert!(
        t.contains("\"value\":1"),
        "the group's per-user default applies: {t}"
    );
}
