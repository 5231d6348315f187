//! The dell_ecs backend against ecs-sim: the shared conformance suite plus ECS specifics
//! (the access key is the user, two secrets at most, whole-GB quotas rounded down, metering
//! with its own sample time, tenant-made buckets billed and capped).

use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use site_agent_dell_ecs::api::{EcsApi, GIB};
use site_agent_dell_ecs::client::EcsClient;
use site_agent_dell_ecs::{EcsSettings, build};
use site_agent_sdk::conformance::{self, Harness};
use site_agent_sdk::keys::{generate_key_pair, key_id};
use site_agent_sdk::naming::bucket_for;
use site_agent_sdk::{DeleteMode, ErrorKind, KeyPair, QuotaSpec, StorageBackend, Tenant, UserSpec};
use site_agent_sims::ecs::EcsSim;
use std::sync::Arc;

const RESOURCE: &str = "12345678-1234-5678-9abc-123456789abc";

struct EcsHarness {
    sim: EcsSim,
    backend: Arc<dyn StorageBackend>,
    settings: EcsSettings,
}

impl EcsHarness {
    async fn new() -> Self {
        site_agent_sdk::http::ensure_crypto_provider();
        let sim = EcsSim::start("mgmt", "mgmt-secret", &["waldur"])
            .await
            .unwrap();
        let settings = EcsSettings::from_map(
            json!({"management_url": sim.url(), "username": "mgmt", "password": "mgmt-secret",
                   "namespace": "waldur", "s3_endpoint": "https://s3.example",
                   "s3_private_endpoint": sim.s3_url()})
            .as_object()
            .unwrap(),
        )
        .unwrap();
        Self {
            backend: build(&settings).unwrap(),
            sim,
            settings,
        }
    }

    /// The plugin's own typed API (to stage what a stranger or the tenant did).
    fn api(&self) -> EcsApi {
        EcsApi {
            client: EcsClient::new(&self.settings).unwrap(),
            namespace: "waldur".into(),
            replication_group: None,
        }
    }
}

#[async_trait::async_trait]
impl Harness for EcsHarness {
    fn backend(&self) -> Arc<dyn StorageBackend> {
        self.backend.clone()
    }
    async fn add_foreign_user(&self, uid: &str) {
        let api = self.api();
        api.create_user(uid, "someone-else@example.org")
            .await
            .unwrap();
        api.add_secret(uid, &SecretString::from("stranger-secret".to_string()))
            .await
            .unwrap();
    }
    async fn add_bucket(&self, uid: &str, bucket: &str, bytes: u64, objects: u64) {
        if self.sim.bucket(bucket).is_none() {
            self.api()
                .create_bucket(bucket, uid, None, false)
                .await
                .unwrap();
        }
        for (i, size) in site_agent_sdk::conformance::object_sizes(bytes, objects)
            .into_iter()
            .enumerate()
        {
            self.sim.put_object(bucket, &format!("o{i}"), size).unwrap();
        }
        self.sim.meter();
    }
    async fn remove_bucket(&self, _uid: &str, bucket: &str) {
        self.sim.delete_objects(bucket);
        self.sim.meter();
        if bucket_for(_uid).ok().as_deref() != Some(bucket) {
            self.api().delete_bucket(bucket).await.unwrap();
        }
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
        recorded: false,
        options: Default::default(),
    }
}

fn tenant(uid: &str) -> Tenant {
    Tenant::new(uid, RESOURCE).unwrap()
}

#[tokio::test]
async fn dell_ecs_passes_the_conformance_suite() {
    let h = EcsHarness::new().await;
    conformance::run_all(&h, "waldur-conf").await;
}

#[tokio::test]
async fn the_access_key_is_the_user_and_a_third_secret_is_refused() {
    let h = EcsHarness::new().await;
    let b = h.backend();
    let (uid, t) = ("waldur-keys", tenant("waldur-keys"));
    b.ensure_user(&spec(uid)).await.unwrap();
    let policy = b.capabilities().keys;
    assert_eq!(
        policy.keys_per_resource(2),
        1,
        "one Waldur key, room to rotate"
    );
    let k1 = b
        .issue_key(&t, &generate_key_pair().unwrap())
        .await
        .unwrap();
    assert_eq!(k1.access_key, uid);
    // A retry after a lost answer finds its secret there: no second slot is taken.
    let again = KeyPair {
        access_key: "ignored".into(),
        secret_key: k1.secret_key.clone(),
    };
    b.issue_key(&t, &again).await.unwrap();
    assert_eq!(h.sim.user(uid).unwrap().2.len(), 1);
    let k2 = b
        .issue_key(&t, &generate_key_pair().unwrap())
        .await
        .unwrap();
    let e = b
        .issue_key(&t, &generate_key_pair().unwrap())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::LimitReached, "{e}");
    assert!(e.message().contains("valid keys"), "ECS's words kept: {e}");
    let ids = b.user(uid).await.unwrap().unwrap().access_keys;
    assert_eq!(ids.len(), 2);
    for k in [&k1, &k2] {
        assert!(ids.contains(&key_id(&policy, k)));
        assert!(h.sim.key_works(uid, k.secret_key.expose_secret()));
        // The fingerprint shows nothing of the secret.
        assert!(!key_id(&policy, k).contains(&k.secret_key.expose_secret()[..6]));
    }
    // Deleted by its id: the other secret keeps working.
    b.delete_key(&t, &key_id(&policy, &k1)).await.unwrap();
    assert!(!h.sim.key_works(uid, k1.secret_key.expose_secret()));
    assert!(h.sim.key_works(uid, k2.secret_key.expose_secret()));
}

#[tokio::test]
async fn quotas_are_whole_gb_rounded_down_and_below_one_gb_refused() {
    let h = EcsHarness::new().await;
    let b = h.backend();
    let (uid, t) = ("waldur-quota-gb", tenant("waldur-quota-gb"));
    b.ensure_user(&spec(uid)).await.unwrap();
    let bucket = bucket_for(uid).unwrap();
    assert_eq!(
        h.sim.bucket(&bucket).unwrap().0,
        uid,
        "the user owns its bucket"
    );
    let q = |bytes| QuotaSpec {
        max_bytes: Some(bytes),
        max_objects: Some(5),
    };
    let applied = b.apply_quota(&t, &q(5_000_000_000)).await.unwrap();
    assert_eq!(
        applied.max_size_bytes(),
        Some(4 * GIB),
        "4.66 GiB rounds down"
    );
    assert_eq!(applied.max_objects(), None, "ECS has no object quota");
    let (_, block, notify, _, _) = h.sim.bucket(&bucket).unwrap();
    assert_eq!((block, notify), (4, 4));
    let e = b.apply_quota(&t, &q(GIB - 1)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid, "{e}");
    assert!(e.message().contains("1 GB"), "{e}");
    assert_eq!(
        h.sim.bucket(&bucket).unwrap().1,
        4,
        "the quota in force stays"
    );
    // Writes stop at the ceiling.
    assert!(h.sim.put_object(&bucket, "big", 4 * GIB + 1).is_err());
}

#[tokio::test]
async fn a_bucket_the_tenant_makes_is_billed_and_capped_by_what_the_ceiling_leaves() {
    let h = EcsHarness::new().await;
    let b = h.backend();
    let (uid, t) = ("waldur-extra", tenant("waldur-extra"));
    b.ensure_user(&spec(uid)).await.unwrap();
    b.apply_quota(
        &t,
        &QuotaSpec {
            max_bytes: Some(10 * GIB),
            max_objects: None,
        },
    )
    .await
    .unwrap();
    let mine = bucket_for(uid).unwrap();
    h.add_bucket(uid, &mine, 3 * GIB, 3).await;
    // The tenant makes a bucket of its own (ECS lets an object user do that with S3).
    h.add_bucket(uid, "tenant-made", 2048, 1).await;
    // The reconcile pass starts with a ping: it sees the namespace as it is now.
    b.ping().await.unwrap();
    let applied = b.quota(uid).await.unwrap();
    assert!(
        !applied.bucket().unwrap().enabled,
        "an uncapped bucket of the user is drift: {applied:?}"
    );
    let u = b.usage(&t).await.unwrap();
    assert_eq!(
        (u.bytes, u.objects, u.buckets.len()),
        (3 * GIB + 2048, 4, 2)
    );
    b.apply_quota(
        &t,
        &QuotaSpec {
            max_bytes: Some(10 * GIB),
            max_objects: None,
        },
    )
    .await
    .unwrap();
    // Each holds what it has plus half of what is left (10 - 3 - 1 GB): together the ceiling.
    assert_eq!(h.sim.bucket(&mine).unwrap().1, 6);
    assert_eq!(h.sim.bucket("tenant-made").unwrap().1, 4);
    let applied = b.quota(uid).await.unwrap();
    assert!(applied.bucket().unwrap().enabled);
    assert_eq!(
        applied.max_size_bytes(),
        Some(10 * GIB),
        "the caps add up to the ceiling"
    );
    // Terminate removes every bucket of the user, and refuses while one holds data.
    let e = b.delete_user(&t, DeleteMode::KeepData).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotEmpty, "{e}");
}

#[tokio::test]
async fn usage_carries_ecs_metering_time_not_the_agents_clock() {
    let h = EcsHarness::new().await;
    let b = h.backend();
    let (uid, t) = ("waldur-meter", tenant("waldur-meter"));
    b.ensure_user(&spec(uid)).await.unwrap();
    let mine = bucket_for(uid).unwrap();
    h.sim.put_object(&mine, "a", 2048).unwrap();
    let before = b.usage(&t).await.unwrap();
    assert_eq!(before.bytes, 0, "metering lags behind writes");
    h.sim.meter();
    let metered = b.usage(&t).await.unwrap();
    assert_eq!((metered.bytes, metered.objects), (2048, 1));
    let at = metered.sampled_at.expect("ECS's sample time");
    h.sim.advance(3600);
    let later = b.usage(&t).await.unwrap();
    assert_eq!(later.sampled_at, Some(at), "no new sample: the same time");
}

/// A usage pass over many resources lists the namespace's buckets once (the listing the pass
/// shares), not once per resource; a new pass (a ping) lists again.
#[tokio::test]
async fn a_pass_lists_the_namespace_once() {
    let h = EcsHarness::new().await;
    let b = h.backend();
    let uids = ["waldur-pass-a", "waldur-pass-b", "waldur-pass-c"];
    for uid in uids {
        b.ensure_user(&spec(uid)).await.unwrap();
        h.add_bucket(uid, &bucket_for(uid).unwrap(), 2048, 1).await;
    }
    let listings = || {
        h.sim
            .calls()
            .iter()
            .filter(|(m, p)| m == "GET" && p == "/object/bucket")
            .count()
    };
    for _ in 0..2 {
        b.ping().await.unwrap();
        let before = listings();
        for uid in uids {
            let u = b.usage(&tenant(uid)).await.unwrap();
            assert_eq!((u.bytes, u.objects), (2048, 1), "{uid}");
        }
        assert_eq!(listings() - before, 1, "one listing for the whole pass");
    }
}
