//! The myfsio backend against myfsio-sim, in both generations: the shared conformance suite
//! (admin key mode on v0.4 and v0.5, console key mode on v0.5 with an encrypted IAM file) plus
//! MyFSIO specifics: what a tenant's key can and cannot do, exact quotas, the rate limit, the
//! console session, v0.5's encrypted-IAM bug, usage with and without versions.

use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use site_agent_myfsio::ops::{MyfsioOps, TENANT_ACTIONS};
use site_agent_myfsio::{MyfsioSettings, build_ops};
use site_agent_sdk::conformance::{self, Harness};
use site_agent_sdk::keys::generate_key_pair;
use site_agent_sdk::sigv4::{SignedHttp, Signer};
use site_agent_sdk::stamped::StampedBackend;
use site_agent_sdk::{
    DeleteMode, ErrorKind, KeyPair, QuotaSpec, StorageBackend, Suspension, Tenant, UserSpec,
};
use site_agent_sims::myfsio::{Generation, MyfsioSim, Policy};
use std::sync::Arc;
use std::time::Duration;

const RESOURCE: &str = "12345678-1234-5678-9abc-123456789abc";
const ADMIN: (&str, &str) = ("localadmin", "admin-secret-canary");

struct MyfsioHarness {
    sim: MyfsioSim,
    backend: Arc<StampedBackend<MyfsioOps>>,
}

fn settings(sim: &MyfsioSim, extra: serde_json::Value) -> MyfsioSettings {
    let mut m = json!({"s3_endpoint": "https://s3.myfsio.test", "api_url": sim.url(),
        "console_url": sim.console_url(), "admin_access_key": ADMIN.0,
        "admin_secret_key": ADMIN.1, "console_settle_seconds": 0});
    for (k, v) in extra.as_object().unwrap() {
        m[k] = v.clone();
    }
    MyfsioSettings::from_map(m.as_object().unwrap()).unwrap()
}

impl MyfsioHarness {
    async fn new(g: Generation, extra: serde_json::Value) -> Self {
        site_agent_sdk::http::ensure_crypto_provider();
        let sim = MyfsioSim::start(g, ADMIN.0, ADMIN.1).await.unwrap();
        // The suite makes hundreds of admin calls; MyFSIO's default (60 a minute) is tested
        // on its own below.
        sim.set_admin_rate_limit(100_000, Duration::from_secs(60));
        let backend =
            Arc::new(build_ops(&settings(&sim, extra), Duration::from_millis(50)).unwrap());
        Self { sim, backend }
    }
}

/// A tenant's S3 client on the sim's API.
fn tenant_http(key: &KeyPair) -> SignedHttp {
    SignedHttp::new(
        reqwest::Client::new(),
        Signer::new(
            key.access_key.clone(),
            SecretString::from(key.secret_key.expose_secret().to_string()),
            "us-east-1".into(),
            "s3",
        ),
    )
}

/// `(status, body)` of a tenant's signed call.
async fn as_tenant(
    sim: &MyfsioSim,
    key: &KeyPair,
    method: reqwest::Method,
    path: &str,
    body: &[u8],
) -> (u16, String) {
    let a = tenant_http(key)
        .send(
            "tenant",
            method,
            &format!("{}{path}", sim.url()),
            None,
            body.to_vec(),
        )
        .await
        .unwrap();
    (a.status, a.body)
}

#[async_trait::async_trait]
impl Harness for MyfsioHarness {
    fn backend(&self) -> Arc<dyn StorageBackend> {
        self.backend.clone()
    }
    async fn add_foreign_user(&self, uid: &str) {
        self.sim.add_user(
            uid,
            vec![Policy {
                bucket: uid.into(),
                actions: vec!["list".into()],
                prefix: "*".into(),
            }],
        );
    }
    async fn add_bucket(&self, _uid: &str, bucket: &str, bytes: u64, objects: u64) {
        self.sim.add_bucket(bucket);
        for (i, size) in conformance::object_sizes(bytes, objects)
            .into_iter()
            .enumerate()
        {
            self.sim.put_object(bucket, &format!("o{i}"), size).unwrap();
        }
    }
    async fn remove_bucket(&self, _uid: &str, bucket: &str) {
        self.sim.remove_bucket(bucket);
    }
    /// A signed listing of the resource's bucket.
    async fn key_works(&self, uid: &str, key: &KeyPair) -> bool {
        let bucket = self.backend.resource_bucket(uid).unwrap();
        as_tenant(
            &self.sim,
            key,
            reqwest::Method::GET,
            &format!("/{bucket}"),
            b"",
        )
        .await
        .0 == 200
    }
}

fn spec(uid: &str) -> UserSpec {
    UserSpec {
        uid: uid.into(),
        display_name: format!("resource {uid}"),
        resource_uuid: RESOURCE.into(),
        recorded: false,
        options: Default::default(),
    }
}

fn tenant(uid: &str) -> Tenant {
    Tenant::new(uid, RESOURCE).unwrap()
}

#[tokio::test]
async fn v04_passes_the_conformance_suite() {
    let h = MyfsioHarness::new(Generation::Py, json!({})).await;
    conformance::run_all(&h, "waldur-py").await;
}

#[tokio::test]
async fn v05_passes_the_conformance_suite() {
    let h = MyfsioHarness::new(Generation::Rs, json!({})).await;
    conformance::run_all(&h, "waldur-rs").await;
}

#[tokio::test]
async fn v05_with_an_encrypted_iam_file_passes_in_console_key_mode() {
    let h = MyfsioHarness::new(Generation::Rs, json!({"key_mode": "console"})).await;
    h.sim.set_encrypted_iam(true);
    conformance::run_all(&h, "waldur-enc").await;
}

#[tokio::test]
async fn v04_passes_in_console_key_mode_too() {
    let h = MyfsioHarness::new(Generation::Py, json!({"key_mode": "console"})).await;
    conformance::run_all(&h, "waldur-pyc").await;
}

/// Creates a resource with a key; returns the key and the bucket.
async fn resource(h: &MyfsioHarness, uid: &str) -> (KeyPair, String) {
    let b = &h.backend;
    b.ensure_user(&spec(uid)).await.unwrap();
    let key = b
        .issue_key(&tenant(uid), &generate_key_pair().unwrap())
        .await
        .unwrap();
    (key, b.resource_bucket(uid).unwrap())
}

#[tokio::test]
async fn a_tenant_writes_up_to_its_quota_exactly_and_changes_nothing_else() {
    for g in [Generation::Py, Generation::Rs] {
        let h = MyfsioHarness::new(g, json!({})).await;
        let (key, bucket) = resource(&h, "waldur-t").await;
        h.backend
            .apply_quota(
                &tenant("waldur-t"),
                &QuotaSpec {
                    max_bytes: Some(3000),
                    max_objects: Some(5),
                },
            )
            .await
            .unwrap();
        let put = |k: &str| format!("/{bucket}/{k}");
        for k in ["a", "b", "c"] {
            let r = as_tenant(&h.sim, &key, reqwest::Method::PUT, &put(k), &[7u8; 1000]).await;
            assert_eq!(r.0, 200, "{g:?}: {r:?}");
        }
        let r = as_tenant(&h.sim, &key, reqwest::Method::PUT, &put("d"), &[7u8; 1]).await;
        assert_eq!(r.0, 403, "{g:?}: one byte past the quota: {r:?}");
        assert!(r.1.contains("<Code>QuotaExceeded</Code>"), "{}", r.1);
        // The tenant cannot read or lift its quota, nor change its policy, nor touch another
        // bucket, nor make or delete buckets, nor reach the admin API.
        let body = json!({"max_size_bytes": 1u64 << 40}).to_string();
        let quota = format!("/{bucket}?quota");
        for (m, p, b) in [
            (reqwest::Method::PUT, quota.as_str(), body.as_bytes()),
            (reqwest::Method::GET, quota.as_str(), b"".as_slice()),
            (reqwest::Method::DELETE, quota.as_str(), b"".as_slice()),
            (reqwest::Method::PUT, "/another-bucket", b"".as_slice()),
            (
                reqwest::Method::DELETE,
                &format!("/{bucket}"),
                b"".as_slice(),
            ),
            (reqwest::Method::GET, "/", b"".as_slice()),
            (
                reqwest::Method::PUT,
                &format!("/{bucket}?policy"),
                br#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*"}]}"#.as_slice(),
            ),
            (
                reqwest::Method::PUT,
                &format!("/{bucket}?versioning"),
                b"<x/>".as_slice(),
            ),
        ] {
            let r = as_tenant(&h.sim, &key, m.clone(), p, b).await;
            assert_eq!(r.0, 403, "{g:?}: tenant {m} {p}: {r:?}");
        }
        h.sim.add_bucket("another-bucket");
        h.sim.put_object("another-bucket", "secret", 5).unwrap();
        for (m, p) in [
            (reqwest::Method::GET, "/another-bucket"),
            (reqwest::Method::GET, "/another-bucket/secret"),
            (reqwest::Method::PUT, "/another-bucket/x"),
            (reqwest::Method::DELETE, "/another-bucket/secret"),
        ] {
            let r = as_tenant(&h.sim, &key, m.clone(), p, b"x").await;
            assert_eq!(r.0, 403, "{g:?}: tenant {m} {p}: {r:?}");
        }
        let prefix = if g == Generation::Py {
            "/admin"
        } else {
            "/myfsio/admin"
        };
        let r = as_tenant(
            &h.sim,
            &key,
            reqwest::Method::POST,
            &format!("{prefix}/iam/users/{}/keys", key.access_key),
            b"",
        )
        .await;
        assert_eq!(r.0, 403, "{g:?}: tenant on the admin API: {r:?}");
        // What the agent granted: exactly the object actions on exactly the bucket.
        let u = h
            .sim
            .users()
            .into_iter()
            .find(|u| u.keys.iter().any(|k| k.access_key == key.access_key))
            .unwrap();
        assert_eq!(u.policies.len(), 1);
        assert_eq!(u.policies[0].bucket, bucket);
        let mut actions = u.policies[0].actions.clone();
        actions.sort();
        assert_eq!(actions, TENANT_ACTIONS.to_vec());
        // Still within the quota after a delete, exactly.
        let r = as_tenant(&h.sim, &key, reqwest::Method::DELETE, &put("a"), b"").await;
        assert_eq!(r.0, 204);
        let r = as_tenant(&h.sim, &key, reqwest::Method::PUT, &put("d"), &[7u8; 1000]).await;
        assert_eq!(r.0, 200, "{g:?}: {r:?}");
        let u = h.backend.usage(&tenant("waldur-t")).await.unwrap();
        assert_eq!((u.bytes, u.objects), (3000, 3), "{g:?}");
    }
}

#[tokio::test]
async fn no_storage_limit_still_sets_a_quota_that_reads_as_unlimited() {
    for g in [Generation::Py, Generation::Rs] {
        let h = MyfsioHarness::new(g, json!({"default_quota_bytes": 5_000_000})).await;
        let (_, bucket) = resource(&h, "waldur-q").await;
        let q = h.sim.bucket(&bucket).unwrap().quota.unwrap();
        assert_eq!(q.max_bytes, Some(5_000_000), "{g:?}");
        let applied = h.backend.quota("waldur-q").await.unwrap();
        assert_eq!(
            applied.0[0].state.max_size_bytes, None,
            "{g:?}: {applied:?}"
        );
        h.backend
            .apply_quota(
                &tenant("waldur-q"),
                &QuotaSpec {
                    max_bytes: None,
                    max_objects: Some(10),
                },
            )
            .await
            .unwrap();
        let q = h.sim.bucket(&bucket).unwrap().quota.unwrap();
        assert_eq!((q.max_bytes, q.max_objects), (Some(5_000_000), Some(10)));
    }
}

#[tokio::test]
async fn usage_is_live_unless_versions_are_billed() {
    for g in [Generation::Py, Generation::Rs] {
        for (extra, want) in [
            (json!({}), (300, 2)),
            (json!({"bill_versions": true}), (500, 3)),
        ] {
            let h = MyfsioHarness::new(g, extra.clone()).await;
            let (_, bucket) = resource(&h, "waldur-v").await;
            h.sim.put_object(&bucket, "a", 200).unwrap();
            h.sim.put_object(&bucket, "b", 100).unwrap();
            h.sim.set_versioning(&bucket, true);
            // The overwrite keeps the old version (MyFSIO counts it against the quota).
            h.sim.put_object(&bucket, "a", 200).unwrap();
            let u = h.backend.usage(&tenant("waldur-v")).await.unwrap();
            assert_eq!((u.bytes, u.objects), want, "{g:?} {extra}");
        }
    }
}

#[tokio::test]
async fn generation_is_found_and_the_console_session_survives_a_restart() {
    for g in [Generation::Py, Generation::Rs] {
        let h = MyfsioHarness::new(g, json!({})).await;
        h.backend.ping().await.unwrap();
        let prefix = if g == Generation::Py {
            "/admin/"
        } else {
            "/myfsio/admin/"
        };
        let calls = h.sim.calls();
        assert!(
            calls
                .iter()
                .any(|(l, _, p)| *l == "api" && p.starts_with(prefix)),
            "{g:?}: {calls:?}"
        );
        if g == Generation::Rs {
            assert!(
                !calls.iter().any(|(_, _, p)| p.starts_with("/admin/")),
                "v0.5 answers at the first try: {calls:?}"
            );
        }
        resource(&h, "waldur-s1").await;
        h.sim.restart_console();
        resource(&h, "waldur-s2").await;
        let logins = h
            .sim
            .calls()
            .iter()
            .filter(|(l, m, p)| *l == "console" && m == "POST" && p.ends_with("login"))
            .count();
        assert_eq!(
            logins, 2,
            "{g:?}: logged in once, then again after the restart"
        );
    }
}

#[tokio::test]
async fn the_admin_rate_limit_is_waited_out() {
    for (g, status) in [
        (Generation::Py, 429),
        (Generation::Rs, 503),
        (Generation::Rs, 429),
    ] {
        let h = MyfsioHarness::new(g, json!({})).await;
        h.sim.set_rate_limit_status(status);
        h.sim.set_admin_rate_limit(4, Duration::from_millis(800));
        for i in 0..3 {
            resource(&h, &format!("waldur-r{i}")).await;
        }
        assert!(h.sim.rate_limited() > 0, "{g:?}: the limit was hit");
        for i in 0..3 {
            let u = h
                .backend
                .user(&format!("waldur-r{i}"))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(u.access_keys.len(), 1, "{g:?}");
        }
    }
}

#[tokio::test]
async fn v05_encrypted_iam_in_admin_key_mode_pauses_and_refuses_keys_clearly() {
    let h = MyfsioHarness::new(Generation::Rs, json!({})).await;
    let (key, _) = resource(&h, "waldur-e").await;
    h.sim.set_encrypted_iam(true);
    h.backend.ping().await.unwrap();
    let e = h
        .backend
        .issue_key(&tenant("waldur-e"), &generate_key_pair().unwrap())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid, "{e}");
    assert!(e.message().contains("key_mode: console"), "{e}");
    // Pause and restore still work, through the console.
    h.backend
        .set_suspended(&tenant("waldur-e"), true)
        .await
        .unwrap();
    assert!(!h.key_works("waldur-e", &key).await);
    assert_eq!(
        h.backend
            .user("waldur-e")
            .await
            .unwrap()
            .unwrap()
            .suspension,
        Suspension::Suspended
    );
    h.backend
        .set_suspended(&tenant("waldur-e"), false)
        .await
        .unwrap();
    assert!(h.key_works("waldur-e", &key).await);
    h.backend
        .delete_user(&tenant("waldur-e"), DeleteMode::KeepData)
        .await
        .unwrap();
    assert!(
        h.sim
            .users()
            .iter()
            .all(|u| !u.display_name.starts_with("waldur-e"))
    );
    assert!(h.sim.bucket("waldur-e").is_none(), "and its bucket");
}

#[tokio::test]
async fn v04_never_gets_an_empty_policy_list() {
    let h = MyfsioHarness::new(Generation::Py, json!({})).await;
    let (key, _) = resource(&h, "waldur-p").await;
    h.backend
        .set_suspended(&tenant("waldur-p"), true)
        .await
        .unwrap();
    assert!(!h.key_works("waldur-p", &key).await, "disabled");
    h.backend
        .set_suspended(&tenant("waldur-p"), false)
        .await
        .unwrap();
    assert!(h.key_works("waldur-p", &key).await);
    for u in h
        .sim
        .users()
        .iter()
        .filter(|u| u.display_name.starts_with("waldur-p"))
    {
        assert!(
            u.policies.iter().all(|p| p.bucket != "*"),
            "v0.4 turns an empty list into broad access: {:?}",
            u.policies
        );
    }
    let console_posts: Vec<_> = h
        .sim
        .calls()
        .into_iter()
        .filter(|(l, m, p)| *l == "console" && m == "POST" && p.contains("/policies"))
        .collect();
    assert!(
        console_posts.is_empty(),
        "pause on v0.4 is the admin disable: {console_posts:?}"
    );
}

#[tokio::test]
async fn a_taken_bucket_name_refuses_the_order_and_leaves_no_user() {
    for g in [Generation::Py, Generation::Rs] {
        let h = MyfsioHarness::new(g, json!({})).await;
        h.sim.add_bucket("waldur-taken");
        h.sim.put_object("waldur-taken", "theirs", 10).unwrap();
        let e = h
            .backend
            .ensure_user(&spec("waldur-taken"))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AlreadyExists, "{g:?}: {e}");
        assert!(users_of(&h.sim, "waldur-taken").is_empty(), "{g:?}");
        assert_eq!(
            h.sim.bucket("waldur-taken").unwrap().live.len(),
            1,
            "their data stays"
        );
    }
}

/// The users named for `uid` (settled or pending).
fn users_of(sim: &MyfsioSim, uid: &str) -> Vec<site_agent_sims::myfsio::User> {
    sim.users()
        .into_iter()
        .filter(|u| {
            u.display_name.starts_with(&format!("{uid}@"))
                || u.display_name.starts_with(&format!("{uid}#"))
        })
        .collect()
}

#[tokio::test]
async fn a_lost_console_answer_never_makes_a_second_user() {
    for g in [Generation::Py, Generation::Rs] {
        let h = MyfsioHarness::new(g, json!({})).await;
        h.sim.lose_console_answer("/ui/iam/users");
        let r = h.backend.ensure_user(&spec("waldur-lost")).await;
        assert!(
            r.is_ok(),
            "{g:?}: the user made by the lost call is adopted: {r:?}"
        );
        assert_eq!(users_of(&h.sim, "waldur-lost").len(), 1, "{g:?}");
        let again = h.backend.ensure_user(&spec("waldur-lost")).await.unwrap();
        assert_eq!(again, site_agent_sdk::Ensured::Adopted);
        assert_eq!(users_of(&h.sim, "waldur-lost").len(), 1, "{g:?}");
        let key = h
            .backend
            .issue_key(&tenant("waldur-lost"), &generate_key_pair().unwrap())
            .await
            .unwrap();
        assert!(h.key_works("waldur-lost", &key).await);
    }
}

#[tokio::test]
async fn v04_orders_its_writes_so_neither_process_undoes_the_other() {
    let h = MyfsioHarness::new(Generation::Py, json!({"console_settle_seconds": 2.2})).await;
    // Each v0.4 process re-reads iam.json only when its copy is 2 s old.
    h.sim.set_py_reload_lag(Duration::from_secs(2));
    let (ka, _) = resource(&h, "waldur-la").await;
    // Out of phase, as two processes are: the API re-reads its copy now, the console 1.9 s
    // later (its own next request).
    tokio::time::sleep(Duration::from_millis(2100)).await;
    reqwest::get(format!("{}/myfsio/health", h.sim.url()))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1900)).await;
    // The console re-reads and writes: another resource's user.
    h.backend.ensure_user(&spec("waldur-lb")).await.unwrap();
    // An admin-route write: A's second key.
    let kb = h
        .backend
        .issue_key(&tenant("waldur-la"), &generate_key_pair().unwrap())
        .await
        .unwrap();
    // A console write right after: from a copy read before that key, it would drop it.
    h.backend
        .delete_user(&tenant("waldur-lb"), DeleteMode::KeepData)
        .await
        .unwrap();
    let a = &users_of(&h.sim, "waldur-la")[0];
    for k in [&ka, &kb] {
        assert!(
            a.keys.iter().any(|x| x.access_key == k.access_key),
            "{} survived the console write",
            k.access_key
        );
    }
    assert_eq!(a.policies.len(), 1);
    assert!(users_of(&h.sim, "waldur-lb").is_empty());
}

#[tokio::test]
async fn console_key_mode_survives_an_interrupted_replacement() {
    let h = MyfsioHarness::new(Generation::Rs, json!({"key_mode": "console"})).await;
    h.sim.set_encrypted_iam(true);
    let uid = "waldur-rep";
    let t = tenant(uid);
    let (k1, _) = resource(&h, uid).await;
    // Cut after the replacement was made, before the old user went: the old key still works.
    h.sim.fail_console("/delete", 502);
    let k2 = generate_key_pair().unwrap();
    assert!(h.backend.issue_key(&t, &k2).await.is_err());
    assert_eq!(
        users_of(&h.sim, uid).len(),
        2,
        "the user and a leftover replacement"
    );
    assert!(h.key_works(uid, &k1).await);
    let keys = h.backend.user(uid).await.unwrap().unwrap().access_keys;
    assert_eq!(keys, vec![k1.access_key.clone()]);
    // The next change removes the leftover.
    let k3 = h
        .backend
        .issue_key(&t, &generate_key_pair().unwrap())
        .await
        .unwrap();
    assert_eq!(users_of(&h.sim, uid).len(), 1);
    assert!(h.key_works(uid, &k3).await && !h.key_works(uid, &k1).await);
    // Cut after the old user went, before the rename: the replacement is the user.
    h.sim.fail_console("/update", 502);
    let k4 = generate_key_pair().unwrap();
    assert!(h.backend.issue_key(&t, &k4).await.is_err());
    let u = h.backend.user(uid).await.unwrap().unwrap();
    assert_eq!(u.access_keys, vec![k4.access_key.clone()]);
    assert!(h.key_works(uid, &k4).await);
    // Paused in between: the next replacement keeps it paused, under the settled name.
    h.backend.set_suspended(&t, true).await.unwrap();
    let k5 = h
        .backend
        .issue_key(&t, &generate_key_pair().unwrap())
        .await
        .unwrap();
    let users = users_of(&h.sim, uid);
    assert_eq!(users.len(), 1);
    assert!(
        users[0].display_name.contains('@'),
        "renamed: {}",
        users[0].display_name
    );
    let u = h.backend.user(uid).await.unwrap().unwrap();
    assert_eq!(u.suspension, Suspension::Suspended);
    assert!(!h.key_works(uid, &k5).await);
    h.backend.set_suspended(&t, false).await.unwrap();
    assert!(h.key_works(uid, &k5).await);
}

#[tokio::test]
async fn a_refused_console_login_says_so_without_the_secret() {
    let h = MyfsioHarness::new(Generation::Py, json!({})).await;
    h.backend.ping().await.unwrap();
    h.sim.fail_console_logins(ADMIN.0);
    let e = h
        .backend
        .ensure_user(&spec("waldur-locked"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized, "{e}");
    assert!(e.message().contains("refused the admin key pair"), "{e}");
    let shown = format!("{e} {e:?}");
    assert!(!shown.contains(ADMIN.1), "{shown}");
}

#[tokio::test]
async fn the_admin_secret_never_shows() {
    let h = MyfsioHarness::new(Generation::Py, json!({})).await;
    let d = format!("{:?}", settings(&h.sim, json!({})));
    assert!(!d.contains(ADMIN.1), "{d}");
    // A wrong secret: the error names the key, never the secret.
    let bad = MyfsioSettings::from_map(
        json!({"s3_endpoint": "https://s3", "api_url": h.sim.url(),
            "console_url": h.sim.console_url(), "admin_access_key": ADMIN.0,
            "admin_secret_key": "wrong-secret-canary"})
        .as_object()
        .unwrap(),
    )
    .unwrap();
    let e = build_ops(&bad, Duration::from_millis(10))
        .unwrap()
        .ping()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized, "{e}");
    assert!(!e.message().contains("canary"), "{e}");
}

#[tokio::test]
async fn console_key_mode_carries_on_a_retried_replacement() {
    for (g, cut) in [
        (Generation::Rs, "/delete"),
        (Generation::Rs, "/update"),
        (Generation::Py, "/delete"),
        (Generation::Py, "/update"),
    ] {
        let h = MyfsioHarness::new(g, json!({"key_mode": "console"})).await;
        let uid = "waldur-retry";
        let t = tenant(uid);
        resource(&h, uid).await;
        h.backend.set_suspended(&t, true).await.unwrap();
        h.sim.fail_console(cut, 502);
        let k = generate_key_pair().unwrap();
        assert!(h.backend.issue_key(&t, &k).await.is_err(), "{g:?} {cut}");
        // Paused all along: whichever user stands, its key does nothing yet.
        assert!(
            !h.key_works(uid, &k).await,
            "{g:?} {cut}: a paused user's new key"
        );
        // The same key again (a retry): carried on, not refused as a key in use.
        let got = h.backend.issue_key(&t, &k).await.unwrap();
        assert_eq!(got.access_key, k.access_key);
        let users = users_of(&h.sim, uid);
        assert_eq!(users.len(), 1, "{g:?} {cut}: {users:?}");
        assert!(users[0].display_name.contains('@'));
        let u = h.backend.user(uid).await.unwrap().unwrap();
        assert_eq!(u.access_keys, vec![k.access_key.clone()]);
        assert_eq!(u.suspension, Suspension::Suspended, "{g:?} {cut}");
        h.backend.set_suspended(&t, false).await.unwrap();
        assert!(h.key_works(uid, &k).await, "{g:?} {cut}");
    }
}

#[tokio::test]
async fn replacements_left_without_their_user_are_sorted_out() {
    let h = MyfsioHarness::new(Generation::Rs, json!({"key_mode": "console"})).await;
    let uid = "waldur-two";
    let stamp = site_agent_sdk::ownership_stamp(RESOURCE, uid);
    let name = site_agent_myfsio::display::pending(
        &site_agent_myfsio::display::display_name(uid, &stamp).unwrap(),
    );
    // Two replacements and no user: interrupted twice, the second time before the first
    // replacement was seen.
    let grant = vec![Policy {
        bucket: uid.into(),
        actions: TENANT_ACTIONS.map(String::from).to_vec(),
        prefix: "*".into(),
    }];
    h.sim.add_user(&name, grant.clone());
    h.sim.add_user(&name, grant);
    assert!(
        h.backend.user(uid).await.unwrap().is_some(),
        "one stands in"
    );
    h.backend.ensure_user(&spec(uid)).await.unwrap();
    let k = h
        .backend
        .issue_key(&tenant(uid), &generate_key_pair().unwrap())
        .await
        .unwrap();
    let users = users_of(&h.sim, uid);
    assert_eq!(users.len(), 1, "{users:?}");
    assert!(h.key_works(uid, &k).await);
}

#[tokio::test]
async fn offerings_on_one_v04_server_share_the_order_of_writes() {
    let h = MyfsioHarness::new(Generation::Py, json!({"console_settle_seconds": 2.2})).await;
    // A second offering's backend on the same server.
    let other = Arc::new(
        build_ops(
            &settings(
                &h.sim,
                json!({"console_settle_seconds": 2.2, "allocation_prefix": "other-"}),
            ),
            Duration::from_millis(50),
        )
        .unwrap(),
    );
    h.sim.set_py_reload_lag(Duration::from_secs(2));
    let (ka, _) = resource(&h, "waldur-oa").await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    reqwest::get(format!("{}/myfsio/health", h.sim.url()))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1900)).await;
    other.ensure_user(&spec("other-ob")).await.unwrap();
    let kb = h
        .backend
        .issue_key(&tenant("waldur-oa"), &generate_key_pair().unwrap())
        .await
        .unwrap();
    // The other offering's console write right after this one's admin write.
    other
        .delete_user(&tenant("other-ob"), DeleteMode::KeepData)
        .await
        .unwrap();
    let a = &users_of(&h.sim, "waldur-oa")[0];
    for k in [&ka, &kb] {
        assert!(
            a.keys.iter().any(|x| x.access_key == k.access_key),
            "{} survived the other offering's console write",
            k.access_key
        );
    }
}
