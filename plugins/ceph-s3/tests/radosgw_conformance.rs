//! The radosgw flavour against a real Ceph RadosGW (started by ./test.sh or .ci/run): the
//! shared conformance suite plus Admin Ops specifics.

use secrecy::SecretString;
use serde_json::json;
use site_agent_ceph_s3::radosgw::RgwClient;
use site_agent_ceph_s3::{CephS3Settings, build};
use site_agent_sdk::conformance::{self, Harness};
use site_agent_sdk::keys::generate_key_pair;
use site_agent_sdk::{DeleteMode, Ensured, ErrorKind, QuotaSpec, StorageBackend, Tenant, UserSpec};

fn tenant(uid: &str) -> Tenant {
    Tenant::new(uid, "12345678-1234-5678-9abc-123456789abc").unwrap()
}
use site_agent_sims::s3::{RgwPeer, S3User};
use std::sync::Arc;

struct RgwHarness {
    peer: RgwPeer,
    admin: RgwClient,
    backend: Arc<dyn StorageBackend>,
}

fn settings(peer: &RgwPeer, secret: &str) -> CephS3Settings {
    CephS3Settings::from_map(
        json!({"flavour": "radosgw", "s3_endpoint": peer.endpoint, "admin_access_key": peer.admin_access_key,
               "admin_secret_key": secret, "s3_region": "default"})
        .as_object()
        .unwrap(),
    )
    .unwrap()
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

impl RgwHarness {
    fn new() -> Self {
        let peer = RgwPeer::from_env();
        let s = settings(&peer, &peer.admin_secret_key);
        let admin = RgwClient::new(&s, s.radosgw.as_ref().unwrap()).unwrap();
        Self {
            backend: build(s).unwrap(),
            admin,
            peer,
        }
    }

    /// Runs `f` with S3 credentials of `uid` (a temporary key, removed afterwards).
    async fn as_user<T>(&self, uid: &str, f: impl AsyncFnOnce(&S3User) -> T) -> T {
        let k = generate_key_pair().unwrap();
        self.admin
            .put_key(uid, &k.access_key, &k.secret_key)
            .await
            .unwrap();
        let s3 = S3User::new(
            &self.peer.endpoint,
            "default",
            &k.access_key,
            secrecy::ExposeSecret::expose_secret(&k.secret_key),
        );
        let r = f(&s3).await;
        self.admin.delete_key(uid, &k.access_key).await.unwrap();
        r
    }
}

#[async_trait::async_trait]
impl Harness for RgwHarness {
    fn backend(&self) -> Arc<dyn StorageBackend> {
        self.backend.clone()
    }
    async fn add_foreign_user(&self, uid: &str) {
        self.admin
            .create_user(
                uid,
                "someone else",
                &format!("{uid}@customer.example"),
                None,
            )
            .await
            .unwrap();
    }
    async fn add_bucket(&self, uid: &str, bucket: &str, bytes: u64, objects: u64) {
        self.as_user(uid, async |s3| {
            assert!(s3.create_bucket(bucket).await.ok());
            for (i, size) in site_agent_sdk::conformance::object_sizes(bytes, objects)
                .into_iter()
                .enumerate()
            {
                let r = s3
                    .put_object(bucket, &format!("o{i}"), vec![b'x'; size as usize])
                    .await;
                assert!(r.ok(), "{r:?}");
            }
        })
        .await;
    }
    async fn key_works(&self, _uid: &str, key: &site_agent_sdk::KeyPair) -> bool {
        site_agent_sims::s3::key_accepted(
            &self.peer.endpoint,
            "default",
            &key.access_key,
            secrecy::ExposeSecret::expose_secret(&key.secret_key),
            "conformance-probe",
        )
        .await
    }
    async fn remove_bucket(&self, uid: &str, bucket: &str) {
        self.as_user(uid, async |s3| {
            for i in 0..100 {
                s3.delete_object(bucket, &format!("o{i}")).await;
            }
            let r = s3.delete_bucket(bucket).await;
            assert!(r.ok(), "{r:?}");
        })
        .await;
    }
}

#[tokio::test]
async fn radosgw_passes_the_conformance_suite() {
    let h = RgwHarness::new();
    conformance::run_all(&h, &unique("waldur-conf")).await;
}

#[tokio::test]
async fn quotas_read_back_in_bytes_and_bucket_quota_is_enforced() {
    let h = RgwHarness::new();
    let uid = unique("waldur-quota");
    let spec = UserSpec {
        uid: uid.clone(),
        display_name: "q".into(),
        resource_uuid: "12345678-1234-5678-9abc-123456789abc".into(),
        recorded: false,
        options: Default::default(),
    };
    assert_eq!(
        h.backend.ensure_user(&spec).await.unwrap(),
        Ensured::Created
    );
    // 5 GB is not a whole number of KiB: both scopes must hold exactly what was ordered.
    let five_gb = h
        .backend
        .apply_quota(
            &tenant(&uid),
            &QuotaSpec {
                max_bytes: Some(5_000_000_000),
                max_objects: Some(1000),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        five_gb.user().unwrap().max_size_bytes,
        Some(5_000_000_000),
        "user quota in exact bytes"
    );
    assert_eq!(
        five_gb.bucket().unwrap().max_size_bytes,
        Some(5_000_000_000),
        "bucket quota in exact bytes, not rounded up to KiB"
    );
    assert_eq!(
        h.backend.quota(&uid).await.unwrap(),
        five_gb,
        "reads back as applied"
    );
    let applied = h
        .backend
        .apply_quota(
            &tenant(&uid),
            &QuotaSpec {
                max_bytes: Some(10 * 1024 + 1),
                max_objects: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(applied.user().unwrap().max_size_bytes, Some(10 * 1024 + 1));
    assert_eq!(
        applied.bucket().unwrap().max_size_bytes,
        Some(10 * 1024 + 1)
    );
    assert_eq!(
        applied.user().unwrap().max_objects,
        Some(1000),
        "RGW merges a quota PUT: an unsent dimension keeps its value (the agent always sends both)"
    );
    let bucket = format!("{uid}-b");
    h.as_user(&uid, async |s3| {
        assert!(s3.create_bucket(&bucket).await.ok());
        assert!(s3.put_object(&bucket, "a", vec![0; 8 * 1024]).await.ok());
        let over = s3.put_object(&bucket, "b", vec![0; 4 * 1024]).await;
        assert_eq!(over.code(), Some("QuotaExceeded"), "{over:?}");
        s3.delete_object(&bucket, "a").await;
        s3.delete_bucket(&bucket).await;
    })
    .await;
}

#[tokio::test]
async fn suspended_user_keys_are_refused() {
    let h = RgwHarness::new();
    let uid = unique("waldur-susp");
    let spec = UserSpec {
        uid: uid.clone(),
        display_name: "s".into(),
        resource_uuid: "12345678-1234-5678-9abc-123456789abc".into(),
        recorded: false,
        options: Default::default(),
    };
    h.backend.ensure_user(&spec).await.unwrap();
    let k = generate_key_pair().unwrap();
    h.backend.issue_key(&tenant(&uid), &k).await.unwrap();
    let s3 = S3User::new(
        &h.peer.endpoint,
        "default",
        &k.access_key,
        secrecy::ExposeSecret::expose_secret(&k.secret_key),
    );
    assert!(s3.create_bucket(&format!("{uid}-b")).await.ok());
    h.backend.set_suspended(&tenant(&uid), true).await.unwrap();
    let r = s3
        .put_object(&format!("{uid}-b"), "x", b"hi".to_vec())
        .await;
    assert_eq!(r.status, 403, "{r:?}");
    h.backend.set_suspended(&tenant(&uid), false).await.unwrap();
    assert!(
        s3.put_object(&format!("{uid}-b"), "x", b"hi".to_vec())
            .await
            .ok()
    );
    s3.delete_object(&format!("{uid}-b"), "x").await;
    s3.delete_bucket(&format!("{uid}-b")).await;
}

#[tokio::test]
async fn purge_removes_user_and_data() {
    let h = RgwHarness::new();
    let uid = unique("waldur-purge");
    let spec = UserSpec {
        uid: uid.clone(),
        display_name: "p".into(),
        resource_uuid: "12345678-1234-5678-9abc-123456789abc".into(),
        recorded: false,
        options: Default::default(),
    };
    h.backend.ensure_user(&spec).await.unwrap();
    h.add_bucket(&uid, &format!("{uid}-data"), 100, 2).await;
    let e = h
        .backend
        .delete_user(&tenant(&uid), DeleteMode::KeepData)
        .await
        .unwrap_err();
    assert!(e.message().contains("still owns 1 bucket(s)"), "{e}");
    h.backend
        .delete_user(&tenant(&uid), DeleteMode::Purge)
        .await
        .unwrap();
    assert!(h.backend.user(&uid).await.unwrap().is_none());
}

#[tokio::test]
async fn wrong_admin_secret_is_an_operator_problem() {
    let peer = RgwPeer::from_env();
    let backend = build(settings(&peer, "wrong-secret-canary")).unwrap();
    let e = backend.ping().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized, "{e}");
    assert!(e.message().contains("admin_access_key"), "{e}");
    assert!(!e.message().contains("wrong-secret-canary"));
    let _ = SecretString::from("x");
}
