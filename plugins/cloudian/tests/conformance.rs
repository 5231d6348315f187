//! The cloudian backend against cloudian-sim: the shared conformance suite plus HyperStore
//! specifics (groups made on demand, the credential maximum, KiB rounding, usage counters).

use secrecy::ExposeSecret;
use serde_json::json;
use site_agent_cloudian::{CloudianSettings, build};
use site_agent_sdk::conformance::{self, Harness};
use site_agent_sdk::keys::generate_key_pair;
use site_agent_sdk::naming::NameParts;
use site_agent_sdk::{ErrorKind, KeyPair, QuotaSpec, StorageBackend, Tenant, UserSpec};
use site_agent_sims::cloudian::CloudianSim;
use std::sync::Arc;

const RESOURCE: &str = "12345678-1234-5678-9abc-123456789abc";

struct CloudianHarness {
    sim: CloudianSim,
    backend: Arc<dyn StorageBackend>,
}

fn settings(sim: &CloudianSim, extra: serde_json::Value) -> CloudianSettings {
    let url = sim.url();
    let (host, port) = url.trim_start_matches("http://").split_once(':').unwrap();
    let mut m = json!({"admin_host": host, "admin_port": port.parse::<u16>().unwrap(),
        "admin_protocol": "http", "admin_user": "sysadmin", "admin_password": "admin-secret",
        "s3_endpoint": "https://s3.hyperstore.test", "cmc_url": "https://cmc.hyperstore.test:8443"});
    for (k, v) in extra.as_object().unwrap() {
        m[k] = v.clone();
    }
    CloudianSettings::from_map(m.as_object().unwrap()).unwrap()
}

impl CloudianHarness {
    async fn new() -> Self {
        site_agent_sdk::http::ensure_crypto_provider();
        let sim = CloudianSim::start("sysadmin", "admin-secret")
            .await
            .unwrap();
        Self {
            backend: build(&settings(&sim, json!({}))).unwrap(),
            sim,
        }
    }
}

fn parts(uid: &str) -> (String, String) {
    let (g, u) = uid.split_once('.').unwrap();
    (g.to_string(), u.to_string())
}

#[async_trait::async_trait]
impl Harness for CloudianHarness {
    fn backend(&self) -> Arc<dyn StorageBackend> {
        self.backend.clone()
    }
    async fn add_foreign_user(&self, uid: &str) {
        let (g, u) = parts(uid);
        self.sim.add_user(&g, &u, "someone@example.org");
        self.sim.add_credential(&g, &u).unwrap();
    }
    async fn add_bucket(&self, uid: &str, bucket: &str, bytes: u64, objects: u64) {
        let (g, u) = parts(uid);
        for size in site_agent_sdk::conformance::object_sizes(bytes, objects) {
            self.sim.put_object(&g, &u, bucket, size).unwrap();
        }
        self.sim.record_usage();
    }
    async fn remove_bucket(&self, uid: &str, bucket: &str) {
        let (g, u) = parts(uid);
        self.sim.remove_bucket(&g, &u, bucket);
        self.sim.record_usage();
    }
    async fn key_works(&self, _uid: &str, key: &KeyPair) -> bool {
        self.sim
            .key_works(&key.access_key, key.secret_key.expose_secret())
    }
}

fn spec(uid: &str) -> UserSpec {
    UserSpec {
        uid: uid.into(),
        display_name: uid.into(),
        resource_uuid: RESOURCE.into(),
        ..UserSpec::default()
    }
}

#[tokio::test]
async fn cloudian_passes_the_conformance_suite() {
    let h = CloudianHarness::new().await;
    conformance::run_all(&h, "waldur-acme.conf").await;
}

#[tokio::test]
async fn users_land_in_their_customers_group_made_on_demand() {
    let h = CloudianHarness::new().await;
    let b = h.backend();
    let p = |customer| NameParts {
        slug: Some("bucket-1"),
        customer_slug: Some(customer),
        project_slug: Some("proj"),
        resource_uuid: RESOURCE,
    };
    let uid = b.user_id_for(&p("ACME")).unwrap();
    assert_eq!(uid, "waldur-acme.waldur-bucket-1");
    b.ensure_user(&spec(&uid)).await.unwrap();
    assert_eq!(h.sim.groups(), vec!["waldur-acme".to_string()]);
    // An existing group is used as it is.
    h.sim.add_user("waldur-beta", "someone", "x@example.org");
    let other = b.user_id_for(&p("beta")).unwrap();
    b.ensure_user(&spec(&other)).await.unwrap();
    assert_eq!(h.sim.groups().len(), 2);
    assert!(h.sim.user("waldur-beta", "waldur-bucket-1").is_some());
    // A console link is published.
    assert_eq!(
        b.connection_info().console_url.as_deref(),
        Some("https://cmc.hyperstore.test:8443")
    );
}

#[tokio::test]
async fn the_credential_maximum_is_limit_reached_and_quotas_round_down_to_kib() {
    let h = CloudianHarness::new().await;
    h.sim.set_max_credentials(2);
    let b = h.backend();
    let uid = "waldur-acme.waldur-max";
    let t = Tenant::new(uid, RESOURCE).unwrap();
    b.ensure_user(&spec(uid)).await.unwrap();
    for _ in 0..2 {
        b.issue_key(&t, &generate_key_pair().unwrap())
            .await
            .unwrap();
    }
    let e = b
        .issue_key(&t, &generate_key_pair().unwrap())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::LimitReached, "{e}");
    let applied = b
        .apply_quota(
            &t,
            &QuotaSpec {
                max_bytes: Some(5_000_000_000),
                max_objects: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        applied.max_size_bytes(),
        Some(4_882_812 * 1024),
        "KiB, down"
    );
    assert_eq!(applied.max_objects(), None, "not ordered: unlimited");
    let qos = h.sim.user("waldur-acme", "waldur-max").unwrap().3.unwrap();
    assert_eq!((qos.storage_kib.0, qos.objects.0), (4_882_812, -1));
    let tiny = b
        .apply_quota(
            &t,
            &QuotaSpec {
                max_bytes: Some(1000),
                max_objects: None,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(tiny.kind(), ErrorKind::Invalid, "{tiny}");
}

#[tokio::test]
async fn usage_is_hyperstores_counters_with_their_time() {
    let h = CloudianHarness::new().await;
    let b = h.backend();
    let uid = "waldur-acme.waldur-usage";
    let t = Tenant::new(uid, RESOURCE).unwrap();
    b.ensure_user(&spec(uid)).await.unwrap();
    h.sim
        .set_now_ms(chrono::Utc::now().timestamp_millis() - 600_000);
    h.sim
        .put_object("waldur-acme", "waldur-usage", "b1", 4096)
        .unwrap();
    h.sim.record_usage();
    let u = b.usage(&t).await.unwrap();
    assert_eq!((u.bytes, u.objects), (4096, 1));
    let at = u.sampled_at.expect("the counter's own time");
    assert!(
        chrono::Utc::now().timestamp() - at >= 599,
        "ten minutes old"
    );
    // Without bucket-level QoS the bucket list reads zero, the counters still bill.
    h.sim.set_bucket_level_qos(false);
    let u = b.usage(&t).await.unwrap();
    assert_eq!((u.bytes, u.buckets[0].bytes), (4096, 0));
}

#[tokio::test]
async fn unordered_limits_stay_group_limits_are_kept_and_foreign_groups_refused() {
    site_agent_sdk::http::ensure_crypto_provider();
    let sim = CloudianSim::start("sysadmin", "admin-secret")
        .await
        .unwrap();
    let b = build(&settings(
        &sim,
        json!({"group_storage_limit_gb": 10, "group_object_limit": 5000}),
    ))
    .unwrap();
    let uid = "waldur-acme.waldur-lim";
    let t = Tenant::new(uid, RESOURCE).unwrap();
    b.ensure_user(&spec(uid)).await.unwrap();
    b.apply_quota(
        &t,
        &QuotaSpec {
            max_bytes: Some(1 << 30),
            max_objects: Some(700),
        },
    )
    .await
    .unwrap();
    // An Update naming only the size keeps the object ceiling as it was.
    let applied = b
        .apply_quota(
            &t,
            &QuotaSpec {
                max_bytes: Some(2 << 30),
                max_objects: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(applied.max_objects(), Some(700));
    assert_eq!(applied.max_size_bytes(), Some(2 << 30));
    // The group's own limit was written with the group, and comes back if it goes.
    let group_limit = |sim: &CloudianSim| {
        let st = sim.group_limit("waldur-acme").unwrap();
        (st.storage_kib.0, st.objects.0)
    };
    assert_eq!(group_limit(&sim), (10 << 20, 5000));
    sim.clear_group_limit("waldur-acme");
    b.ensure_user(&spec("waldur-acme.waldur-lim2"))
        .await
        .unwrap();
    assert_eq!(group_limit(&sim), (10 << 20, 5000), "kept in force");
    // A recorded uid in a group this offering does not map to is refused untouched.
    sim.add_user("other", "x", "x@example.org");
    let stranger = Tenant::new("other.x", RESOURCE).unwrap();
    let e = b.set_suspended(&stranger, true).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid, "{e}");
    assert!(sim.user("other", "x").unwrap().1, "still active");
}

#[tokio::test]
async fn without_the_usage_api_the_bucket_counters_bill() {
    let h = CloudianHarness::new().await;
    h.sim.set_usage_api(false);
    let b = h.backend();
    let uid = "waldur-acme.waldur-old";
    let t = Tenant::new(uid, RESOURCE).unwrap();
    b.ensure_user(&spec(uid)).await.unwrap();
    h.sim
        .put_object("waldur-acme", "waldur-old", "b1", 777)
        .unwrap();
    let u = b.usage(&t).await.unwrap();
    assert_eq!((u.bytes, u.objects, u.sampled_at), (777, 1, None));
}
