//! The seaweedfs backend against a real SeaweedFS (started by ./scripts/test.sh or .ci/run):
//! the shared conformance suite plus SeaweedFS specifics.

use secrecy::ExposeSecret;
use serde_json::json;
use site_agent_sdk::conformance::{self, Harness};
use site_agent_sdk::{KeyPair, StorageBackend};
use site_agent_seaweedfs::bucket::bucket_for;
use site_agent_seaweedfs::{SeaweedSettings, build};
use site_agent_sims::s3::{SeaweedPeer, key_accepted};
use std::sync::Arc;

struct SeaweedHarness {
    peer: SeaweedPeer,
    backend: Arc<dyn StorageBackend>,
}

fn settings(peer: &SeaweedPeer) -> SeaweedSettings {
    SeaweedSettings::from_map(
        json!({"s3_endpoint": peer.endpoint, "admin_access_key": peer.admin_access_key,
               "admin_secret_key": peer.admin_secret_key, "purge_data": true})
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

impl SeaweedHarness {
    fn new() -> Self {
        let peer = SeaweedPeer::from_env();
        Self {
            backend: build(&settings(&peer)).unwrap(),
            peer,
        }
    }
}

#[async_trait::async_trait]
impl Harness for SeaweedHarness {
    fn backend(&self) -> Arc<dyn StorageBackend> {
        self.backend.clone()
    }
    /// Someone else's IAM user: created outside the agent, with a key of its own.
    async fn add_foreign_user(&self, uid: &str) {
        let iam = iam(&self.peer);
        iam.create_user(uid).await.unwrap();
        iam.create_key(uid).await.unwrap();
    }
    async fn add_bucket(&self, _uid: &str, bucket: &str, bytes: u64, objects: u64) {
        let admin = self.peer.admin();
        let r = admin.create_bucket(bucket).await;
        assert!(
            r.ok() || r.code() == Some("BucketAlreadyOwnedByYou"),
            "{r:?}"
        );
        for (i, size) in site_agent_sdk::conformance::object_sizes(bytes, objects)
            .into_iter()
            .enumerate()
        {
            let r = admin
                .put_object(bucket, &format!("o{i}"), vec![b'x'; size as usize])
                .await;
            assert!(r.ok(), "{r:?}");
        }
    }
    async fn remove_bucket(&self, _uid: &str, bucket: &str) {
        let admin = self.peer.admin();
        for i in 0..100 {
            admin.delete_object(bucket, &format!("o{i}")).await;
        }
        let r = admin.delete_bucket(bucket).await;
        assert!(r.ok(), "{r:?}");
    }
    async fn key_works(&self, uid: &str, key: &KeyPair) -> bool {
        key_accepted(
            &self.peer.endpoint,
            &self.peer.region,
            &key.access_key,
            key.secret_key.expose_secret(),
            &bucket_for(uid).unwrap(),
        )
        .await
    }
}

/// The plugin's own IAM client with the admin identity (to stage what a stranger did).
fn iam(peer: &SeaweedPeer) -> site_agent_seaweedfs::iam::Iam {
    use site_agent_sdk::sigv4::{SignedHttp, Signer};
    let s = settings(peer);
    site_agent_seaweedfs::iam::Iam::new(
        SignedHttp::new(
            site_agent_sdk::http::build_client(&s.store.http).unwrap(),
            Signer::new(
                peer.admin_access_key.clone(),
                peer.admin_secret_key.clone().into(),
                peer.region.clone(),
                "iam",
            ),
        ),
        &peer.endpoint,
    )
}

#[tokio::test]
async fn seaweedfs_passes_the_conformance_suite() {
    let h = SeaweedHarness::new();
    conformance::run_all(&h, &unique("waldur-conf")).await;
}

const RESOURCE: &str = "12345678-1234-5678-9abc-123456789abc";

fn spec(uid: &str) -> site_agent_sdk::UserSpec {
    site_agent_sdk::UserSpec {
        uid: uid.into(),
        display_name: uid.into(),
        resource_uuid: RESOURCE.into(),
        recorded: false,
        options: Default::default(),
    }
}

fn tenant(uid: &str) -> site_agent_sdk::Tenant {
    site_agent_sdk::Tenant::new(uid, RESOURCE).unwrap()
}

/// A create cut short between `CreateUser` and `TagUser` leaves a bare user: the next attempt
/// stamps it and finishes the bucket and policy.
#[tokio::test]
async fn a_bare_user_from_an_interrupted_create_is_completed() {
    let h = SeaweedHarness::new();
    let uid = unique("waldur-bare");
    iam(&h.peer).create_user(&uid).await.unwrap();
    assert_eq!(
        h.backend.ensure_user(&spec(&uid)).await.unwrap(),
        site_agent_sdk::Ensured::Adopted
    );
    let u = h.backend.user(&uid).await.unwrap().unwrap();
    assert!(tenant(&uid).owns(u.stamp.as_deref().unwrap()), "{u:?}");
    let key = h
        .backend
        .issue_key(
            &tenant(&uid),
            &site_agent_sdk::keys::generate_key_pair().unwrap(),
        )
        .await
        .unwrap();
    assert!(
        h.key_works(&uid, &key).await,
        "bucket and policy are in place"
    );
    h.backend
        .delete_user(&tenant(&uid), site_agent_sdk::DeleteMode::KeepData)
        .await
        .unwrap();
}

/// A user with someone else's key is no bare user: never stamped, never granted anything.
#[tokio::test]
async fn a_user_with_a_key_is_never_claimed() {
    let h = SeaweedHarness::new();
    let uid = unique("waldur-keyed");
    h.add_foreign_user(&uid).await;
    let e = h.backend.ensure_user(&spec(&uid)).await.unwrap_err();
    assert_eq!(e.kind(), site_agent_sdk::ErrorKind::AlreadyExists, "{e}");
    assert!(
        iam(&h.peer).tags(&uid).await.unwrap().is_empty(),
        "not stamped"
    );
}

/// A bucket of the resource's name that is already there is someone else's: the order is
/// refused and the user just made goes again.
#[tokio::test]
async fn a_taken_bucket_name_is_refused_and_leaves_nothing_behind() {
    let h = SeaweedHarness::new();
    let uid = unique("waldur-taken");
    let admin = h.peer.admin();
    assert!(admin.create_bucket(&bucket_for(&uid).unwrap()).await.ok());
    assert!(
        admin
            .put_object(&uid, "theirs", b"data".to_vec())
            .await
            .ok()
    );
    let e = h.backend.ensure_user(&spec(&uid)).await.unwrap_err();
    assert_eq!(e.kind(), site_agent_sdk::ErrorKind::AlreadyExists, "{e}");
    assert!(
        e.message()
            .contains("already exists and is not this resource's"),
        "{e}"
    );
    assert!(
        h.backend.user(&uid).await.unwrap().is_none(),
        "no user left behind"
    );
    admin.delete_object(&uid, "theirs").await;
    admin.delete_bucket(&uid).await;
}

/// A key made while the user is suspended starts inactive, and resuming turns it on.
#[tokio::test]
async fn keys_made_while_suspended_start_inactive() {
    let h = SeaweedHarness::new();
    let uid = unique("waldur-susp-key");
    h.backend.ensure_user(&spec(&uid)).await.unwrap();
    h.backend.set_suspended(&tenant(&uid), true).await.unwrap();
    let key = h
        .backend
        .issue_key(
            &tenant(&uid),
            &site_agent_sdk::keys::generate_key_pair().unwrap(),
        )
        .await
        .unwrap();
    assert!(!h.key_works(&uid, &key).await, "inactive while suspended");
    assert_eq!(
        h.backend.user(&uid).await.unwrap().unwrap().suspension,
        site_agent_sdk::Suspension::Suspended
    );
    h.backend.set_suspended(&tenant(&uid), false).await.unwrap();
    assert!(h.key_works(&uid, &key).await, "active once resumed");
    h.backend
        .delete_user(&tenant(&uid), site_agent_sdk::DeleteMode::KeepData)
        .await
        .unwrap();
}

/// The generated access key is never the agent's proposal, and the secret never shows in
/// Debug output.
#[tokio::test]
async fn keys_are_generated_by_seaweedfs() {
    let h = SeaweedHarness::new();
    let uid = unique("waldur-gen");
    h.backend.ensure_user(&spec(&uid)).await.unwrap();
    let proposal = site_agent_sdk::keys::generate_key_pair().unwrap();
    let key = h.backend.issue_key(&tenant(&uid), &proposal).await.unwrap();
    assert_ne!(key.access_key, proposal.access_key);
    assert!(!format!("{key:?}").contains(key.secret_key.expose_secret()));
    h.backend
        .delete_user(&tenant(&uid), site_agent_sdk::DeleteMode::KeepData)
        .await
        .unwrap();
}

/// A suspension that left a key on (cut short, or a key the tenant made meanwhile) reads as
/// `Partial`, and suspending again finishes it.
#[tokio::test]
async fn a_partial_suspension_is_seen_and_finished() {
    let h = SeaweedHarness::new();
    let uid = unique("waldur-partial");
    h.backend.ensure_user(&spec(&uid)).await.unwrap();
    let t = tenant(&uid);
    let key = h
        .backend
        .issue_key(&t, &site_agent_sdk::keys::generate_key_pair().unwrap())
        .await
        .unwrap();
    h.backend.set_suspended(&t, true).await.unwrap();
    iam(&h.peer)
        .set_key_active(&uid, &key.access_key, true)
        .await
        .unwrap();
    assert_eq!(
        h.backend.user(&uid).await.unwrap().unwrap().suspension,
        site_agent_sdk::Suspension::Partial
    );
    h.backend.set_suspended(&t, true).await.unwrap();
    assert!(!h.key_works(&uid, &key).await);
    h.backend.set_suspended(&t, false).await.unwrap();
    h.backend
        .delete_user(&t, site_agent_sdk::DeleteMode::KeepData)
        .await
        .unwrap();
}

/// Two resources whose names map to one bucket (`a_b` and `a-b`): the second is refused,
/// and never sees, meters or deletes the first one's data.
#[tokio::test]
async fn a_bucket_stamped_for_another_resource_is_never_shared() {
    let h = SeaweedHarness::new();
    let base = unique("waldur-twin");
    let (first, second) = (format!("{base}-x"), format!("{base}_x"));
    assert_eq!(bucket_for(&first).unwrap(), bucket_for(&second).unwrap());
    h.backend.ensure_user(&spec(&first)).await.unwrap();
    h.add_bucket(&first, &bucket_for(&first).unwrap(), 10, 1)
        .await;
    let other = site_agent_sdk::UserSpec {
        resource_uuid: "87654321-1234-5678-9abc-123456789abc".into(),
        ..spec(&second)
    };
    let e = h.backend.ensure_user(&other).await.unwrap_err();
    assert_eq!(e.kind(), site_agent_sdk::ErrorKind::AlreadyExists, "{e}");
    assert!(h.backend.user(&second).await.unwrap().is_none());
    // Even a user that got there (stamped for the other resource) is refused the bucket.
    iam(&h.peer).create_user(&second).await.unwrap();
    let other_tenant = site_agent_sdk::Tenant::new(&second, &other.resource_uuid).unwrap();
    iam(&h.peer)
        .tag_user(&second, "waldur-stamp", &other_tenant.stamp())
        .await
        .unwrap();
    let e = h.backend.usage(&other_tenant).await.unwrap_err();
    assert_eq!(e.kind(), site_agent_sdk::ErrorKind::AlreadyExists, "{e}");
    let e = h
        .backend
        .delete_user(&other_tenant, site_agent_sdk::DeleteMode::Purge)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), site_agent_sdk::ErrorKind::AlreadyExists, "{e}");
    assert_eq!(
        h.backend.usage(&tenant(&first)).await.unwrap().bytes,
        10,
        "data intact"
    );
    iam(&h.peer).delete_user(&second).await.unwrap();
    h.backend
        .delete_user(&tenant(&first), site_agent_sdk::DeleteMode::Purge)
        .await
        .unwrap();
}
