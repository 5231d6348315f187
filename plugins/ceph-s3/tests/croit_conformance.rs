//! The croit flavour against croit-sim: the shared conformance suite plus croit specifics.

use serde_json::json;
use site_agent_ceph_s3::{CephS3Settings, build};
use site_agent_sdk::conformance::{self, Harness};
use site_agent_sdk::{DeleteMode, Ensured, ErrorKind, QuotaSpec, StorageBackend, Tenant, UserSpec};

const RESOURCE: &str = "12345678-1234-5678-9abc-123456789abc";

fn tenant(uid: &str) -> Tenant {
    Tenant::new(uid, RESOURCE).unwrap()
}
use site_agent_sims::croit::{CroitAuth, CroitSim};
use std::sync::Arc;

struct CroitHarness {
    sim: CroitSim,
    backend: Arc<dyn StorageBackend>,
}

#[async_trait::async_trait]
impl Harness for CroitHarness {
    fn backend(&self) -> Arc<dyn StorageBackend> {
        self.backend.clone()
    }
    async fn add_foreign_user(&self, uid: &str) {
        self.sim.add_user(uid, &format!("{uid}@customer.example"));
    }
    async fn add_bucket(&self, uid: &str, bucket: &str, bytes: u64, objects: u64) {
        self.sim.add_bucket(uid, bucket, bytes, objects);
    }
    async fn key_works(&self, _uid: &str, key: &site_agent_sdk::KeyPair) -> bool {
        site_agent_sims::s3::key_accepted(
            &self.sim.s3_endpoint(),
            "default",
            &key.access_key,
            secrecy::ExposeSecret::expose_secret(&key.secret_key),
            "conformance-probe",
        )
        .await
    }
    async fn remove_bucket(&self, uid: &str, bucket: &str) {
        self.sim.remove_bucket(uid, bucket);
    }
}

async fn harness() -> CroitHarness {
    let sim = CroitSim::start(CroitAuth::Bearer("croit-token".into()))
        .await
        .unwrap();
    let settings = CephS3Settings::from_map(
        json!({"api_url": sim.base_url(), "token": "croit-token", "s3_endpoint": sim.s3_endpoint()})
            .as_object()
            .unwrap(),
    )
    .unwrap();
    let backend = build(settings).unwrap();
    CroitHarness { sim, backend }
}

#[tokio::test]
async fn croit_passes_the_conformance_suite() {
    let h = harness().await;
    conformance::run_all(&h, "waldur-conf").await;
}

#[tokio::test]
async fn fresh_create_stamps_the_user_and_drops_the_auto_key() {
    let h = harness().await;
    let spec = UserSpec {
        uid: "waldur-u".into(),
        display_name: "My bucket".into(),
        resource_uuid: "12345678-1234-5678-9abc-123456789abc".into(),
        recorded: false,
        options: Default::default(),
    };
    assert_eq!(
        h.backend.ensure_user(&spec).await.unwrap(),
        Ensured::Created
    );
    let user = h.sim.user("waldur-u").unwrap();
    assert_eq!(
        user.email,
        "waldur-12345678-1234-5678-9abc-123456789abc-waldur-u@invalid"
    );
    assert!(
        user.keys.is_empty(),
        "croit's auto-generated key is removed"
    );
    assert_eq!(
        h.sim
            .calls()
            .iter()
            .filter(|c| c.method == "DELETE" && c.path.contains("/keys/"))
            .count(),
        1
    );
}

#[tokio::test]
async fn quota_body_omits_unordered_dimensions() {
    let h = harness().await;
    let spec = UserSpec {
        uid: "waldur-q".into(),
        display_name: "q".into(),
        resource_uuid: "12345678-1234-5678-9abc-123456789abc".into(),
        recorded: false,
        options: Default::default(),
    };
    h.backend.ensure_user(&spec).await.unwrap();
    let applied = h
        .backend
        .apply_quota(
            &tenant("waldur-q"),
            &QuotaSpec {
                max_bytes: Some(5_000_000_000),
                max_objects: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        applied.user().unwrap().max_size_bytes,
        Some(5_000_000_512),
        "croit rounds up to KiB"
    );
    assert_eq!(
        applied.user().unwrap().max_objects,
        None,
        "an unordered dimension stays unlimited, never 0"
    );
    let user = h.sim.user("waldur-q").unwrap();
    assert_eq!(user.bucket_quota.max_objects, -1);
}

#[tokio::test]
async fn transient_and_permanent_errors_are_classified() {
    let h = harness().await;
    h.sim.fail_next(1, 503, "maintenance");
    let busy = h.backend.ping().await.unwrap_err();
    assert!(
        busy.kind() == ErrorKind::Unavailable && busy.is_retryable(),
        "{busy}"
    );
    h.backend.ping().await.unwrap();
    let spec = UserSpec {
        uid: "waldur-d".into(),
        display_name: "d".into(),
        resource_uuid: "12345678-1234-5678-9abc-123456789abc".into(),
        recorded: false,
        options: Default::default(),
    };
    h.backend.ensure_user(&spec).await.unwrap();
    h.sim.add_bucket("waldur-d", "b1", 1, 1);
    let e = h
        .backend
        .delete_user(&tenant("waldur-d"), DeleteMode::KeepData)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotEmpty);
    assert!(!e.is_retryable());
    assert!(e.message().contains("still owns 1 bucket(s)"), "{e}");
    h.backend
        .delete_user(&tenant("waldur-d"), DeleteMode::Purge)
        .await
        .unwrap();
    assert!(
        h.sim.user("waldur-d").is_none(),
        "purged over the S3 data plane"
    );
}

#[tokio::test]
async fn wrong_token_is_an_operator_problem_not_a_customer_error() {
    let sim = CroitSim::start(CroitAuth::Bearer("right".into()))
        .await
        .unwrap();
    let settings = CephS3Settings::from_map(
        json!({"api_url": sim.base_url(), "token": "wrong-canary", "s3_endpoint": "https://s3.test"}).as_object().unwrap(),
    )
    .unwrap();
    let e = build(settings).unwrap().ping().await.unwrap_err();
    assert_eq!(
        e.kind(),
        ErrorKind::Unauthorized,
        "the agent keeps orders waiting for the operator to fix the token"
    );
    assert!(
        e.message().contains("rejected the configured credentials"),
        "{e}"
    );
    assert!(!e.message().contains("wrong-canary"));
}

#[tokio::test]
async fn lookups_in_a_pass_share_one_user_listing_and_writes_refresh_it() {
    let h = harness().await;
    let spec = |uid: &str| UserSpec {
        uid: uid.into(),
        display_name: uid.into(),
        resource_uuid: "12345678-1234-5678-9abc-123456789abc".into(),
        recorded: false,
        options: Default::default(),
    };
    for uid in ["waldur-a", "waldur-b", "waldur-c"] {
        h.backend.ensure_user(&spec(uid)).await.unwrap();
    }
    h.backend.ping().await.unwrap();
    let before = h.sim.count_calls("GET", "/api/s3/users");
    for uid in ["waldur-a", "waldur-b", "waldur-c"] {
        assert!(h.backend.user(uid).await.unwrap().is_some());
        h.backend.quota(uid).await.unwrap();
    }
    assert_eq!(
        h.sim.count_calls("GET", "/api/s3/users"),
        before,
        "six lookups, no new listing"
    );
    h.backend
        .set_suspended(&tenant("waldur-a"), true)
        .await
        .unwrap();
    assert!(
        h.backend
            .user("waldur-a")
            .await
            .unwrap()
            .unwrap()
            .suspension
            == site_agent_sdk::Suspension::Suspended,
        "a write is seen at once"
    );
    assert!(h.sim.count_calls("GET", "/api/s3/users") > before);
}

#[tokio::test]
async fn a_user_listing_that_raced_a_write_is_not_reused() {
    let h = harness().await;
    // Every croit answer takes a while, so a listing and a create overlap.
    h.sim.set_latency(std::time::Duration::from_millis(300));
    let b = h.backend.clone();
    let early = tokio::spawn(async move { b.user("waldur-race").await });
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let spec = UserSpec {
        uid: "waldur-race".into(),
        display_name: "race".into(),
        resource_uuid: RESOURCE.into(),
        recorded: false,
        options: Default::default(),
    };
    h.backend.ensure_user(&spec).await.unwrap();
    assert!(
        early.await.unwrap().unwrap().is_none(),
        "the early listing predates the user"
    );
    assert!(
        h.backend.user("waldur-race").await.unwrap().is_some(),
        "a lookup after the create sees it (the early listing was not kept)"
    );
    h.backend
        .apply_quota(
            &tenant("waldur-race"),
            &QuotaSpec {
                max_bytes: Some(1 << 30),
                max_objects: None,
            },
        )
        .await
        .expect("quota on the new user");
}

/// croit has no get-one-user call: lookups share a listing of every user. When the kept
/// listing is stale, concurrent lookups must wait for one fetch, not each read the whole list.
#[tokio::test]
async fn concurrent_lookups_share_one_user_listing() {
    let h = harness().await;
    let uids: Vec<String> = (0..20).map(|i| format!("share-{i}")).collect();
    for uid in &uids {
        h.sim.add_user(uid, &tenant(uid).stamp());
    }
    let before = h.sim.count_calls("GET", "/s3/users");
    let mut lookups = tokio::task::JoinSet::new();
    for uid in uids {
        let b = h.backend.clone();
        lookups.spawn(async move { b.usage(&tenant(&uid)).await.map(|u| u.bytes) });
    }
    while let Some(r) = lookups.join_next().await {
        assert_eq!(r.unwrap().unwrap(), 0);
    }
    assert_eq!(
        h.sim.count_calls("GET", "/s3/users") - before,
        1,
        "twenty concurrent lookups, one listing"
    );
}
