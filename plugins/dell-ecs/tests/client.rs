//! The Management API client against ecs-sim: one login reused, a fresh login when the token
//! went stale, and ECS's errors in the SDK's kinds.

use reqwest::Method;
use serde_json::json;
use site_agent_dell_ecs::EcsSettings;
use site_agent_dell_ecs::client::EcsClient;
use site_agent_sdk::ErrorKind;
use site_agent_sims::ecs::EcsSim;

async fn setup(password: &str) -> (EcsSim, EcsClient) {
    site_agent_sdk::http::ensure_crypto_provider();
    let sim = EcsSim::start("mgmt", "mgmt-secret", &["waldur"])
        .await
        .unwrap();
    let settings = EcsSettings::from_map(
        json!({"management_url": sim.url(), "username": "mgmt", "password": password,
               "namespace": "waldur", "s3_endpoint": "https://s3.example"})
        .as_object()
        .unwrap(),
    )
    .unwrap();
    let client = EcsClient::new(&settings).unwrap();
    (sim, client)
}

fn logins(sim: &EcsSim) -> usize {
    sim.calls().iter().filter(|(_, p)| p == "/login").count()
}

#[tokio::test]
async fn one_login_is_reused_and_a_stale_token_is_renewed_once() {
    let (sim, c) = setup("mgmt-secret").await;
    for _ in 0..3 {
        c.call("whoami", Method::GET, "/user/whoami", &[], None)
            .await
            .unwrap();
    }
    assert_eq!(logins(&sim), 1);
    sim.expire_tokens();
    let me = c
        .call("whoami", Method::GET, "/user/whoami", &[], None)
        .await
        .unwrap();
    assert_eq!(me["common_name"], "mgmt");
    assert_eq!(logins(&sim), 2, "one fresh login after the 401");
    c.logout().await;
    assert!(sim.calls().iter().any(|(_, p)| p == "/logout"));
}

#[tokio::test]
async fn wrong_credentials_are_the_operators_problem_and_not_retried() {
    let (sim, c) = setup("wrong").await;
    let e = c
        .call("whoami", Method::GET, "/user/whoami", &[], None)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized);
    assert!(!e.is_retryable());
    assert!(
        !e.message().contains("wrong"),
        "no password in the message: {e}"
    );
    assert_eq!(logins(&sim), 1);
}

#[tokio::test]
async fn ecs_errors_arrive_as_kinds() {
    let (sim, c) = setup("mgmt-secret").await;
    let user = json!({"user": "u1", "namespace": "waldur", "tags": []});
    c.call(
        "create user",
        Method::POST,
        "/object/users",
        &[],
        Some(&user),
    )
    .await
    .unwrap();
    let e = c
        .call(
            "create user",
            Method::POST,
            "/object/users",
            &[],
            Some(&user),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyExists);
    let e = c
        .call(
            "user info",
            Method::GET,
            "/object/users/nobody/info",
            &[("namespace", "waldur")],
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    let secret = json!({"namespace": "waldur"});
    for _ in 0..2 {
        c.call(
            "add secret",
            Method::POST,
            "/object/user-secret-keys/u1",
            &[],
            Some(&secret),
        )
        .await
        .unwrap();
    }
    let e = c
        .call(
            "add secret",
            Method::POST,
            "/object/user-secret-keys/u1",
            &[],
            Some(&secret),
        )
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::LimitReached, Some("1031"))
    );
    let bucket = json!({"name": "res-bucket", "namespace": "waldur", "owner": "u1", "blockSize": 1, "notificationSize": 1});
    c.call(
        "create bucket",
        Method::POST,
        "/object/bucket",
        &[],
        Some(&bucket),
    )
    .await
    .unwrap();
    sim.put_object("res-bucket", "k", 10).unwrap();
    let e = c
        .call(
            "delete bucket",
            Method::POST,
            "/object/bucket/res-bucket/deactivate",
            &[("namespace", "waldur")],
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotEmpty);
    sim.fail_next(
        1,
        reqwest::StatusCode::SERVICE_UNAVAILABLE,
        6000,
        "Service unavailable",
    );
    let e = c
        .call("whoami", Method::GET, "/user/whoami", &[], None)
        .await
        .unwrap_err();
    assert!(e.is_retryable() && e.kind() == ErrorKind::Unavailable);
}

#[tokio::test]
async fn the_typed_calls_do_what_ecs_does() {
    use site_agent_dell_ecs::api::{EcsApi, GIB};
    let (sim, client) = setup("mgmt-secret").await;
    let api = EcsApi {
        client,
        namespace: "waldur".into(),
        replication_group: None,
    };
    api.create_user("w-u1", "waldur-stamp-of-r1").await.unwrap();
    let u = api.user("w-u1").await.unwrap().unwrap();
    assert_eq!((u.locked, u.stamp()), (false, Some("waldur-stamp-of-r1")));
    assert_eq!(api.user("w-none").await.unwrap(), None);
    api.set_locked("w-u1", true).await.unwrap();
    assert!(api.user("w-u1").await.unwrap().unwrap().locked);
    api.set_locked("w-u1", false).await.unwrap();

    let s1 = secrecy::SecretString::from("secret-one-0000000001".to_string());
    let s2 = secrecy::SecretString::from("secret-two-0000000002".to_string());
    api.add_secret("w-u1", &s1).await.unwrap();
    api.add_secret("w-u1", &s2).await.unwrap();
    assert_eq!(
        api.add_secret("w-u1", &s1).await.unwrap_err().kind(),
        ErrorKind::LimitReached
    );
    assert_eq!(api.secrets("w-u1").await.unwrap().len(), 2);
    api.delete_secret("w-u1", &s1).await.unwrap();
    api.delete_secret("w-u1", &s1).await.unwrap(); // gone already: fine
    assert!(sim.key_works("w-u1", "secret-two-0000000002"));
    assert!(!sim.key_works("w-u1", "secret-one-0000000001"));

    api.create_bucket("w-u1-data", "w-u1", Some(2), true)
        .await
        .unwrap();
    let b = api.bucket("w-u1-data").await.unwrap().unwrap();
    assert_eq!(
        (b.owner.as_str(), b.block_size, b.encryption),
        ("w-u1", 2, true)
    );
    api.set_bucket_quota("w-u1-data", 3).await.unwrap();
    assert_eq!(
        api.bucket("w-u1-data").await.unwrap().unwrap().block_size,
        3
    );
    sim.put_object("w-u1-data", "k", GIB + 512).unwrap();
    // Metering lags: nothing until a pass, then bytes (from KB) and the sample's own time.
    assert_eq!(api.metered("w-u1-data").await.unwrap().bytes, 0);
    sim.advance(600);
    sim.meter();
    let m = api.metered("w-u1-data").await.unwrap();
    assert_eq!((m.bytes, m.objects), (GIB, 1), "KB granularity");
    assert!(m.sample_time > 0);
    assert_eq!(
        api.delete_bucket("w-u1-data").await.unwrap_err().kind(),
        ErrorKind::NotEmpty
    );
    assert_eq!(
        api.delete_user("w-u1").await.unwrap_err().kind(),
        ErrorKind::NotEmpty,
        "a user that owns a bucket cannot go"
    );
    sim.delete_objects("w-u1-data");
    api.delete_bucket("w-u1-data").await.unwrap();
    api.delete_bucket("w-u1-data").await.unwrap();
    api.delete_user("w-u1").await.unwrap();
    api.delete_user("w-u1").await.unwrap();
    assert!(sim.users().is_empty());
}
