//! The minio backend against minio-sim: the shared conformance suite plus MinIO specifics
//! (the stamp in the policy name, keys as service accounts, the tenant's limits, the lagging
//! quota, lost answers).

use secrecy::ExposeSecret;
use serde_json::json;
use site_agent_minio::{MinioSettings, build};
use site_agent_sdk::conformance::{self, Harness};
use site_agent_sdk::naming::bucket_for;
use site_agent_sdk::sigv4::{SignedHttp, Signer};
use site_agent_sdk::{
    DeleteMode, Ensured, ErrorKind, KeyPair, QuotaSpec, StorageBackend, Tenant, UserSpec,
};
use site_agent_sims::minio::MinioSim;
use std::sync::Arc;

const ROOT: &str = "minioadmin";
const ROOT_SECRET: &str = "minio-secret-key-CHANGE-ME";
const RESOURCE: &str = "12345678-1234-5678-9abc-123456789abc";

fn settings(sim: &MinioSim, extra: serde_json::Value) -> MinioSettings {
    let mut m = json!({"s3_endpoint": sim.url(), "admin_access_key": ROOT,
        "admin_secret_key": ROOT_SECRET, "purge_data": true, "usage_cache_seconds": 0});
    m.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    MinioSettings::from_map(m.as_object().unwrap()).unwrap()
}

struct MinioHarness {
    sim: MinioSim,
    backend: Arc<dyn StorageBackend>,
}

impl MinioHarness {
    async fn new() -> Self {
        let sim = MinioSim::start(ROOT, ROOT_SECRET).await.unwrap();
        Self {
            backend: build(&settings(&sim, json!({}))).unwrap(),
            sim,
        }
    }
}

/// An S3 / admin client signing with `ak`/`sk` (header SigV4, as MinIO's clients do).
fn client(_sim: &MinioSim, ak: &str, sk: &str) -> SignedHttp {
    site_agent_sdk::http::ensure_crypto_provider();
    SignedHttp::new(
        reqwest::Client::new(),
        Signer::new(ak.into(), sk.to_string().into(), "us-east-1".into(), "s3"),
    )
}

async fn send(c: &SignedHttp, method: &str, url: &str, body: &[u8]) -> (u16, String) {
    let a = c
        .send(
            "test",
            method.parse().unwrap(),
            url,
            Some("application/octet-stream"),
            body.to_vec(),
        )
        .await
        .unwrap();
    (a.status, a.body)
}

#[async_trait::async_trait]
impl Harness for MinioHarness {
    fn backend(&self) -> Arc<dyn StorageBackend> {
        self.backend.clone()
    }
    /// Someone else's user, made by an operator, with a service account of its own.
    async fn add_foreign_user(&self, uid: &str) {
        self.sim.add_user(uid, "stranger-secret", &["readwrite"]);
        let root = client(&self.sim, ROOT, ROOT_SECRET);
        // Made over the admin API like any other: the body sealed with root's secret.
        let body = site_agent_minio::madmin::encrypt(
            ROOT_SECRET.as_bytes(),
            json!({"targetUser": uid}).to_string().as_bytes(),
        )
        .unwrap();
        let (status, _) = send(
            &root,
            "PUT",
            &format!("{}/minio/admin/v3/add-service-account", self.sim.url()),
            &body,
        )
        .await;
        assert_eq!(status, 200);
    }
    async fn add_bucket(&self, _uid: &str, bucket: &str, bytes: u64, objects: u64) {
        self.sim.add_bucket(bucket);
        for (i, size) in conformance::object_sizes(bytes, objects)
            .into_iter()
            .enumerate()
        {
            self.sim.put_object(bucket, &format!("o{i}"), size);
        }
    }
    async fn remove_bucket(&self, _uid: &str, bucket: &str) {
        self.sim.empty_bucket(bucket);
    }
    async fn key_works(&self, uid: &str, key: &KeyPair) -> bool {
        let c = client(&self.sim, &key.access_key, key.secret_key.expose_secret());
        let url = format!(
            "{}/{}?list-type=2",
            self.sim.url(),
            bucket_for(uid).unwrap()
        );
        send(&c, "GET", &url, b"").await.0 == 200
    }
}

async fn keys_of(h: &MinioHarness, uid: &str) -> Vec<String> {
    h.backend.user(uid).await.unwrap().unwrap().access_keys
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

fn spec(uid: &str) -> UserSpec {
    UserSpec {
        uid: uid.into(),
        display_name: uid.into(),
        resource_uuid: RESOURCE.into(),
        recorded: false,
        options: Default::default(),
    }
}

fn tenant(uid: &str) -> Tenant {
    Tenant::new(uid, RESOURCE).unwrap()
}

#[tokio::test]
async fn minio_passes_the_conformance_suite() {
    let h = MinioHarness::new().await;
    conformance::run_all(&h, &unique("waldur-conf")).await;
}

#[tokio::test]
async fn a_resource_is_a_user_a_bucket_and_a_policy_named_after_its_stamp() {
    let h = MinioHarness::new().await;
    let uid = unique("waldur-shape");
    assert_eq!(
        h.backend.ensure_user(&spec(&uid)).await.unwrap(),
        Ensured::Created
    );
    let user = h.sim.user(&uid).unwrap();
    let stamp = tenant(&uid).stamp();
    assert_eq!(
        user.policies,
        vec![site_agent_minio::policy::name_for(&stamp)]
    );
    let doc = h.sim.policy(&user.policies[0]).unwrap();
    assert_eq!(
        doc,
        serde_json::from_str::<serde_json::Value>(&site_agent_minio::policy::document(
            &bucket_for(&uid).unwrap()
        ))
        .unwrap()
    );
    assert!(h.sim.bucket(&bucket_for(&uid).unwrap()).is_some());
    assert!(
        h.sim.service_accounts(&uid).is_empty(),
        "no key until one is issued"
    );
    // The user's own secret is random and never handed out: nothing the agent returns has it.
    let key = h
        .backend
        .issue_key(
            &tenant(&uid),
            &site_agent_sdk::keys::generate_key_pair().unwrap(),
        )
        .await
        .unwrap();
    assert_ne!(key.secret_key.expose_secret(), user.secret);
    let sas = h.sim.service_accounts(&uid);
    assert_eq!(sas.len(), 1);
    assert_eq!(sas[0].0, key.access_key);
    assert!(
        sas[0].1.policy.is_none(),
        "the key inherits the user's policy"
    );
    // Every sealed body was sealed under one derived key (one salt), each with its own nonce.
    let calls = h.sim.calls();
    assert!(
        calls
            .iter()
            .any(|(m, p)| m == "PUT" && p.contains("/add-user?accessKey="))
    );
}

#[tokio::test]
async fn a_tenants_key_cannot_change_its_quota_or_policy_nor_touch_another_bucket() {
    let h = MinioHarness::new().await;
    let (a, b) = (unique("waldur-ta"), unique("waldur-tb"));
    h.backend.ensure_user(&spec(&a)).await.unwrap();
    let other = UserSpec {
        resource_uuid: "87654321-1234-5678-9abc-123456789abc".into(),
        ..spec(&b)
    };
    h.backend.ensure_user(&other).await.unwrap();
    let t = tenant(&a);
    h.backend
        .apply_quota(
            &t,
            &QuotaSpec {
                max_bytes: Some(1000),
                max_objects: None,
            },
        )
        .await
        .unwrap();
    let key = h
        .backend
        .issue_key(&t, &site_agent_sdk::keys::generate_key_pair().unwrap())
        .await
        .unwrap();
    let c = client(&h.sim, &key.access_key, key.secret_key.expose_secret());
    let (url, mine, theirs) = (
        h.sim.url(),
        bucket_for(&a).unwrap(),
        bucket_for(&b).unwrap(),
    );
    // Its own bucket works.
    assert_eq!(
        send(&c, "PUT", &format!("{url}/{mine}/k1"), b"hello")
            .await
            .0,
        200
    );
    assert_eq!(
        send(&c, "GET", &format!("{url}/{mine}/k1"), b"").await.0,
        200
    );
    assert_eq!(
        send(&c, "DELETE", &format!("{url}/{mine}/k1"), b"").await.0,
        204
    );
    // Nothing else does.
    let admin = |cmd: &str| format!("{url}/minio/admin/v3/{cmd}");
    for (method, u, body) in [
        ("PUT", admin(&format!("set-bucket-quota?bucket={mine}")), br#"{"size":0,"quota":0}"#.to_vec()),
        ("PUT", admin("add-canned-policy?name=mine"), br#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:*"],"Resource":["arn:aws:s3:::*"]}]}"#.to_vec()),
        ("PUT", admin(&format!("set-user-or-group-policy?policyName=readwrite&userOrGroup={a}&isGroup=false")), Vec::new()),
        ("PUT", format!("{url}/{theirs}/k"), b"x".to_vec()),
        ("GET", format!("{url}/{theirs}?list-type=2"), Vec::new()),
        ("PUT", format!("{url}/{}", unique("waldur-new")), Vec::new()),
        ("DELETE", format!("{url}/{mine}"), Vec::new()),
        ("PUT", format!("{url}/{mine}?tagging"), b"<Tagging><TagSet></TagSet></Tagging>".to_vec()),
    ] {
        let (status, body) = send(&c, method, &u, &body).await;
        assert_eq!(status, 403, "{method} {u}: {body}");
        assert!(body.contains("AccessDenied"), "{method} {u}: {body}");
    }
    // Nor mint a key of its own (its policy denies it, though MinIO allows it by default).
    let sealed =
        site_agent_minio::madmin::encrypt(key.secret_key.expose_secret().as_bytes(), b"{}")
            .unwrap();
    let (status, body) = send(&c, "PUT", &admin("add-service-account"), &sealed).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(h.sim.bucket(&mine).unwrap().quota, Some(1000));
}

#[tokio::test]
async fn the_quota_bites_once_the_scanner_counted_and_the_usage_carries_its_time() {
    let h = MinioHarness::new().await;
    h.sim.set_scanner_lag(std::time::Duration::from_secs(3600));
    let uid = unique("waldur-q");
    h.backend.ensure_user(&spec(&uid)).await.unwrap();
    let t = tenant(&uid);
    let q = h
        .backend
        .apply_quota(
            &t,
            &QuotaSpec {
                max_bytes: Some(100),
                max_objects: Some(5),
            },
        )
        .await
        .unwrap();
    assert_eq!(q.max_size_bytes(), Some(100));
    assert_eq!(q.max_objects(), None, "no object quota on MinIO");
    let key = h
        .backend
        .issue_key(&t, &site_agent_sdk::keys::generate_key_pair().unwrap())
        .await
        .unwrap();
    let c = client(&h.sim, &key.access_key, key.secret_key.expose_secret());
    let obj = |k: &str| format!("{}/{}/{k}", h.sim.url(), bucket_for(&uid).unwrap());
    // The scanner has not counted anything yet: writes under the quota each pass.
    for i in 0..3 {
        assert_eq!(
            send(&c, "PUT", &obj(&format!("k{i}")), &[0u8; 40]).await.0,
            200
        );
    }
    h.sim.run_scanner();
    let (status, body) = send(&c, "PUT", &obj("k9"), &[0u8; 10]).await;
    assert_eq!(status, 400);
    assert!(body.contains("XMinioAdminBucketQuotaExceeded"), "{body}");
    let u = h.backend.usage(&t).await.unwrap();
    assert_eq!((u.bytes, u.objects), (120, 3));
    let at = u.sampled_at.expect("the scanner's time");
    assert!((at - chrono::Utc::now().timestamp()).abs() < 60);
}

#[tokio::test]
async fn a_lost_answer_to_a_key_issue_is_found_on_retry_and_terminate_refuses_data() {
    let h = MinioHarness::new().await;
    let uid = unique("waldur-lost");
    h.backend.ensure_user(&spec(&uid)).await.unwrap();
    let t = tenant(&uid);
    let proposal = site_agent_sdk::keys::generate_key_pair().unwrap();
    h.sim.lose_answer("add-service-account");
    let e = h.backend.issue_key(&t, &proposal).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
    let again = h.backend.issue_key(&t, &proposal).await.unwrap();
    assert_eq!(again.access_key, proposal.access_key);
    assert_eq!(h.sim.service_accounts(&uid).len(), 1, "one key, not two");
    assert!(keys_of(&h, &uid).await.contains(&proposal.access_key));
    h.sim.put_object(&bucket_for(&uid).unwrap(), "data", 7);
    let e = h
        .backend
        .delete_user(&t, DeleteMode::KeepData)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotEmpty, "{e}");
    assert!(h.sim.user(&uid).is_some() && !h.sim.service_accounts(&uid).is_empty());
    h.backend.delete_user(&t, DeleteMode::Purge).await.unwrap();
    assert!(h.sim.user(&uid).is_none());
    assert!(h.sim.bucket(&bucket_for(&uid).unwrap()).is_none());
    assert!(h.sim.service_accounts(&uid).is_empty());
    assert!(
        !h.sim.policy_names().iter().any(|p| p.ends_with(&uid)),
        "the policy went too"
    );
}

#[tokio::test]
async fn an_operators_user_of_the_same_name_is_never_taken() {
    let h = MinioHarness::new().await;
    let uid = unique("waldur-op");
    h.sim.add_user(&uid, "operators-secret", &["readwrite"]);
    let e = h.backend.ensure_user(&spec(&uid)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyExists, "{e}");
    let u = h.sim.user(&uid).unwrap();
    assert_eq!(u.secret, "operators-secret", "add-user would have reset it");
    assert_eq!(u.policies, vec!["readwrite".to_string()]);
}

/// A create cut short after `add-user` leaves a user with no policy: the next attempt claims
/// it, and its secret is reset on the way (whoever knew it cannot reach the bucket).
#[tokio::test]
async fn a_bare_user_is_claimed_with_a_new_secret() {
    let h = MinioHarness::new().await;
    let uid = unique("waldur-bare");
    h.sim.add_user(&uid, "someone-knew-this", &[]);
    assert_eq!(
        h.backend.ensure_user(&spec(&uid)).await.unwrap(),
        Ensured::Adopted
    );
    let u = h.sim.user(&uid).unwrap();
    assert_ne!(u.secret, "someone-knew-this");
    assert!(!h.sim.key_authenticates(&uid, "someone-knew-this"));
    assert_eq!(
        u.policies,
        vec![site_agent_minio::policy::name_for(&tenant(&uid).stamp())]
    );
}

/// A key whose answer was lost and never retried (MinIO down meanwhile): the agent deletes it
/// when it settles the key — the kept key list does not hide it.
#[tokio::test]
async fn a_key_made_behind_a_lost_answer_is_still_deleted() {
    let h = MinioHarness::new().await;
    let uid = unique("waldur-lost2");
    h.backend.ensure_user(&spec(&uid)).await.unwrap();
    let t = tenant(&uid);
    assert!(keys_of(&h, &uid).await.is_empty());
    let proposal = site_agent_sdk::keys::generate_key_pair().unwrap();
    // Every try is carried out and its answer lost.
    for _ in 0..8 {
        h.sim.lose_answer("add-service-account");
    }
    h.backend.issue_key(&t, &proposal).await.unwrap_err();
    assert_eq!(
        h.sim.service_accounts(&uid).len(),
        1,
        "made, though nobody was told"
    );
    h.backend
        .delete_key(&t, &proposal.access_key)
        .await
        .unwrap();
    assert!(h.sim.service_accounts(&uid).is_empty(), "and gone");
}

#[tokio::test]
async fn a_group_members_user_is_never_taken_and_a_service_accounts_name_is_refused() {
    let h = MinioHarness::new().await;
    let uid = unique("waldur-grp");
    h.sim.add_user(&uid, "operators-secret", &[]);
    h.sim.add_to_group(&uid, "staff");
    let e = h.backend.ensure_user(&spec(&uid)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyExists, "{e}");
    assert_eq!(h.sim.user(&uid).unwrap().secret, "operators-secret");
    // A name that is a service account's access key.
    let owner = unique("waldur-own");
    h.backend.ensure_user(&spec(&owner)).await.unwrap();
    let key = h
        .backend
        .issue_key(
            &tenant(&owner),
            &KeyPair {
                access_key: "WALDURSAKEY000000001".into(),
                secret_key: "a-secret-of-forty-characters-0123456789x"
                    .to_string()
                    .into(),
            },
        )
        .await
        .unwrap();
    let e = h.backend.ensure_user(&spec(&key.access_key)).await;
    assert!(e.is_err(), "{e:?}");
    assert!(h.sim.user("WALDURSAKEY000000001").is_none());
}

#[tokio::test]
async fn a_zero_ceiling_is_a_one_byte_quota_and_no_scan_is_no_reading() {
    let h = MinioHarness::new().await;
    let uid = unique("waldur-zero");
    h.backend.ensure_user(&spec(&uid)).await.unwrap();
    let t = tenant(&uid);
    h.backend
        .apply_quota(
            &t,
            &QuotaSpec {
                max_bytes: Some(0),
                max_objects: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        h.sim.bucket(&bucket_for(&uid).unwrap()).unwrap().quota,
        Some(1),
        "MinIO reads 0 as no quota"
    );
    // A fresh server whose scanner has not finished a cycle has no figure to give: no reading,
    // rather than a zero billed as live.
    let fresh = MinioHarness::new().await;
    fresh
        .sim
        .set_scanner_lag(std::time::Duration::from_secs(3600));
    fresh.backend.ensure_user(&spec(&uid)).await.unwrap();
    let e = fresh.backend.usage(&t).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
    fresh.sim.run_scanner();
    fresh.backend.ping().await.unwrap();
    let u = fresh.backend.usage(&t).await.unwrap();
    assert_eq!((u.bytes, u.objects), (0, 0));
    assert!(u.sampled_at.is_some());
}

/// A purge that fails half-way leaves the resource as it was: its user enabled again, so the
/// keys Waldur shows still work.
#[tokio::test]
async fn a_failed_purge_gives_the_tenant_its_keys_back() {
    let h = MinioHarness::new().await;
    let uid = unique("waldur-pf");
    h.backend.ensure_user(&spec(&uid)).await.unwrap();
    let t = tenant(&uid);
    let key = h
        .backend
        .issue_key(&t, &site_agent_sdk::keys::generate_key_pair().unwrap())
        .await
        .unwrap();
    h.sim.put_object(&bucket_for(&uid).unwrap(), "data", 7);
    // Every try of the object delete is refused.
    h.sim.fail_matching("DELETE", "/data", 50, 503);
    h.backend
        .delete_user(&t, DeleteMode::Purge)
        .await
        .unwrap_err();
    assert!(h.sim.user(&uid).unwrap().enabled);
    assert!(h.key_works(&uid, &key).await);
}
