//! The backend conformance suite: one set of behaviour checks every plugin runs against its
//! simulator or real server, gated on what the backend says it can do ([`Capabilities`]).
//! Each check panics with a message naming the broken promise.

use crate::{
    BackendError, BucketModel, Capabilities, DeleteMode, Ensured, ErrorKind, KeyPair, QuotaScope,
    QuotaSpec, StorageBackend, Tenant, UserSpec, keys::generate_key_pair,
};
use std::sync::Arc;

/// What a suite needs from the test environment beyond the backend itself.
#[async_trait::async_trait]
pub trait Harness: Send + Sync {
    fn backend(&self) -> Arc<dyn StorageBackend>;
    /// Creates a user that Waldur does not own: a stranger's, with a key of its own.
    async fn add_foreign_user(&self, uid: &str);
    /// Stores `objects` objects of `bytes` bytes in all in `bucket` of `uid` (creating the
    /// bucket, owned by `uid`, where the model is `Owned`).
    async fn add_bucket(&self, uid: &str, bucket: &str, bytes: u64, objects: u64);
    /// Empties `bucket` and removes it.
    async fn remove_bucket(&self, uid: &str, bucket: &str);
    /// Whether the S3 endpoint accepts `key` of `uid` (a request signed with it, on a bucket
    /// the key may read, is not refused as an unknown, inactive or suspended key).
    async fn key_works(&self, uid: &str, key: &KeyPair) -> bool;
}

/// The sizes of `objects` objects holding `bytes` in all (the last takes the remainder), for
/// harnesses staging a bucket's data.
pub fn object_sizes(bytes: u64, objects: u64) -> Vec<u64> {
    let n = objects.max(1);
    let each = bytes / n;
    (0..n)
        .map(|i| {
            if i + 1 == n {
                bytes - each * (n - 1)
            } else {
                each
            }
        })
        .collect()
}

const RESOURCE: &str = "12345678-1234-5678-9abc-123456789abc";
const OTHER_RESOURCE: &str = "87654321-1234-5678-9abc-123456789abc";

fn spec(uid: &str) -> UserSpec {
    UserSpec {
        uid: uid.into(),
        display_name: format!("conformance {uid}"),
        resource_uuid: RESOURCE.into(),
        recorded: false,
        options: Default::default(),
    }
}

/// The tenant of `spec(uid)`.
fn tenant(uid: &str) -> Tenant {
    Tenant::new(uid, RESOURCE).expect("valid tenant")
}

/// The buckets whose data is the resource's: its own (named `name`) or its granted one.
fn data_bucket(b: &dyn StorageBackend, uid: &str, name: &str) -> String {
    match b.capabilities().buckets {
        BucketModel::Owned => name.to_string(),
        BucketModel::Granted => b
            .resource_bucket(uid)
            .expect("a Granted backend names the resource's bucket"),
    }
}

/// Runs every check, each on its own uid under `prefix`.
pub async fn run_all(h: &dyn Harness, prefix: &str) {
    capabilities_are_coherent(h.backend().capabilities());
    create_then_adopt(h, &format!("{prefix}-adopt")).await;
    refuses_foreign_user(h, &format!("{prefix}-foreign")).await;
    refuses_another_resources_user(h, &format!("{prefix}-other")).await;
    quota_applied_and_read_back(h, &format!("{prefix}-quota")).await;
    keys_issued_work_and_go(h, &format!("{prefix}-keys")).await;
    suspend_and_resume(h, &format!("{prefix}-susp")).await;
    usage_sums_the_resources_data(h, &format!("{prefix}-usage")).await;
    delete_rules(h, &format!("{prefix}-del")).await;
    purge_removes_data(h, &format!("{prefix}-purge")).await;
    refuses_bad_identifiers(h).await;
}

/// Facts that contradict each other would make the agent misbehave quietly.
pub fn capabilities_are_coherent(c: &Capabilities) {
    assert!(
        c.quota.user.is_some() || c.quota.bucket.is_some(),
        "a backend that sells storage caps it somewhere"
    );
    assert!(c.quota.byte_granularity >= 1);
    assert!(c.usage_precision >= 1);
    assert!(c.keys.max_keys != Some(0), "a tenant can hold a key");
    if c.buckets == BucketModel::Granted {
        assert!(
            c.quota.bucket.is_some_and(|d| d.bytes),
            "the Granted model caps the resource's bucket"
        );
    }
}

pub async fn create_then_adopt(h: &dyn Harness, uid: &str) {
    let b = h.backend();
    assert_eq!(
        b.ensure_user(&spec(uid)).await.unwrap(),
        Ensured::Created,
        "first ensure_user creates"
    );
    assert_eq!(
        b.ensure_user(&spec(uid)).await.unwrap(),
        Ensured::Adopted,
        "second ensure_user adopts our own user"
    );
    let user = b.user(uid).await.unwrap().expect("user exists");
    assert!(
        user.access_keys.is_empty(),
        "a fresh user has no keys the agent did not mint: {:?}",
        user.access_keys
    );
    assert!(
        user.stamp.as_deref().is_some_and(|s| tenant(uid).owns(s))
            || b.capabilities().stamp == crate::StampPlace::None,
        "the user carries this resource's stamp: {:?}",
        user.stamp
    );
    let mut other = spec(uid);
    other.resource_uuid = OTHER_RESOURCE.into();
    let e = b.ensure_user(&other).await.unwrap_err();
    assert_eq!(
        e.kind(),
        ErrorKind::AlreadyExists,
        "another resource's user is a conflict: {e}"
    );
}

pub async fn refuses_foreign_user(h: &dyn Harness, uid: &str) {
    h.add_foreign_user(uid).await;
    let b = h.backend();
    b.ping().await.unwrap(); // a pass starts with a ping: it sees the cluster as it is now
    let before = b.user(uid).await.unwrap().expect("the stranger's user");
    let e = b.ensure_user(&spec(uid)).await.unwrap_err();
    assert_eq!(
        e.kind(),
        ErrorKind::AlreadyExists,
        "a stranger's user is never taken over: {e}"
    );
    assert!(e.message().contains("not owned"), "{e}");
    let key = generate_key_pair().unwrap();
    let t = tenant(uid);
    assert!(
        b.issue_key(&t, &key).await.is_err(),
        "keys of a stranger's user are never touched"
    );
    assert!(
        b.delete_user(&t, DeleteMode::KeepData).await.is_err(),
        "a stranger's user is never deleted"
    );
    let after = b
        .user(uid)
        .await
        .unwrap()
        .expect("the stranger's user stays");
    assert_eq!(after, before, "nothing about it changed");
}

/// A user stamped for resource A is never changed on behalf of resource B (a `backend_id`
/// pointing at another resource's user).
pub async fn refuses_another_resources_user(h: &dyn Harness, uid: &str) {
    let b = h.backend();
    b.ensure_user(&spec(uid)).await.unwrap();
    let mine = b
        .issue_key(&tenant(uid), &generate_key_pair().unwrap())
        .await
        .unwrap();
    let mine_id = crate::keys::key_id(&b.capabilities().keys, &mine);
    let other = Tenant::new(uid, OTHER_RESOURCE).unwrap();
    let conflict = |what: &str, r: Result<(), BackendError>| {
        let e = r.expect_err(what);
        assert_eq!(e.kind(), ErrorKind::Invalid, "{what}: {e}");
        assert!(!e.is_retryable(), "{what}: {e}");
    };
    let key = generate_key_pair().unwrap();
    conflict(
        "issue_key for another resource",
        b.issue_key(&other, &key).await.map(|_| ()),
    );
    conflict(
        "delete_key for another resource",
        b.delete_key(&other, &mine_id).await,
    );
    if b.capabilities().suspend {
        conflict(
            "set_suspended for another resource",
            b.set_suspended(&other, true).await,
        );
    }
    conflict(
        "apply_quota for another resource",
        b.apply_quota(
            &other,
            &QuotaSpec {
                max_bytes: Some(1),
                max_objects: None,
            },
        )
        .await
        .map(|_| ()),
    );
    conflict(
        "usage for another resource",
        b.usage(&other).await.map(|_| ()),
    );
    conflict(
        "delete_user for another resource",
        b.delete_user(&other, DeleteMode::Purge).await,
    );
    let user = b.user(uid).await.unwrap().expect("the user survives");
    assert_eq!(user.access_keys, vec![mine_id], "its key survives");
    assert_eq!(user.suspension, crate::Suspension::Active);
    assert!(h.key_works(uid, &mine).await, "and still works");
}

pub async fn quota_applied_and_read_back(h: &dyn Harness, uid: &str) {
    let b = h.backend();
    b.ensure_user(&spec(uid)).await.unwrap();
    let caps = b.capabilities().quota;
    let g = caps.byte_granularity.max(1);
    let want = QuotaSpec {
        max_bytes: Some(5_000_000_000),
        max_objects: Some(1000),
    };
    let applied = b.apply_quota(&tenant(uid), &want).await.unwrap();
    for scope in [QuotaScope::User, QuotaScope::Bucket] {
        let Some(dims) = caps.dims(scope) else {
            assert!(
                applied.scope(scope).is_none(),
                "{scope:?}: a scope the backend lacks is not reported: {applied:?}"
            );
            continue;
        };
        let q = applied
            .scope(scope)
            .unwrap_or_else(|| panic!("{scope:?} quota reported: {applied:?}"));
        assert!(q.enabled, "{scope:?} quota enabled");
        if dims.bytes {
            let got = q.max_size_bytes.expect("size ceiling set");
            assert!(
                caps.rounding.matches(5_000_000_000, got, g),
                "{scope:?} size {got} rounded {:?} within granularity {g}",
                caps.rounding
            );
        } else {
            assert_eq!(q.max_size_bytes, None, "{scope:?}: no size ceiling claimed");
        }
        let objects = dims.objects.then_some(1000);
        assert_eq!(
            q.max_objects, objects,
            "{scope:?} objects (dropped when unsupported)"
        );
    }
    assert_eq!(
        b.quota(uid).await.unwrap(),
        applied,
        "quota reads back as applied"
    );
    let raised = b
        .apply_quota(
            &tenant(uid),
            &QuotaSpec {
                max_bytes: Some(10_000_000_000),
                max_objects: None,
            },
        )
        .await
        .unwrap();
    assert!(
        caps.rounding
            .matches(10_000_000_000, raised.max_size_bytes().unwrap(), g),
        "quota can be raised: {raised:?}"
    );
}

pub async fn keys_issued_work_and_go(h: &dyn Harness, uid: &str) {
    let b = h.backend();
    b.ensure_user(&spec(uid)).await.unwrap();
    let policy = b.capabilities().keys;
    let t = tenant(uid);
    let (p1, p2) = (generate_key_pair().unwrap(), generate_key_pair().unwrap());
    let k1 = b.issue_key(&t, &p1).await.unwrap();
    let k2 = b.rotate_key(&t, &k1.access_key, &p2).await.unwrap();
    match policy.access_key {
        crate::AccessKeyOrigin::Agent => assert_eq!(
            k1.access_key, p1.access_key,
            "the proposed access key is kept"
        ),
        crate::AccessKeyOrigin::User => assert!(
            k1.access_key == uid && k2.access_key == uid,
            "the access key is the user"
        ),
        crate::AccessKeyOrigin::Backend => {}
    }
    // What the agent tracks a key by (a secret's fingerprint where the access key is shared).
    let (id1, id2) = (
        crate::keys::key_id(&policy, &k1),
        crate::keys::key_id(&policy, &k2),
    );
    assert_ne!(id1, id2);
    let keys = b.user(uid).await.unwrap().unwrap().access_keys;
    if policy.rotation == crate::RotationMode::ReplaceInPlace {
        // The new key took the old one's place at once.
        assert_eq!(keys, vec![id2.clone()], "only the new key remains");
        assert!(!h.key_works(uid, &k1).await, "a replaced key stops working");
        assert!(h.key_works(uid, &k2).await, "the new key works");
        b.delete_key(&t, &id1)
            .await
            .expect("deleting a replaced key succeeds");
        assert!(h.key_works(uid, &k2).await, "and leaves the new key alone");
        b.delete_key(&t, &id2).await.unwrap();
        assert!(!h.key_works(uid, &k2).await, "a deleted key stops working");
        assert!(b.user(uid).await.unwrap().unwrap().access_keys.is_empty());
        return;
    }
    assert!(
        keys.contains(&id1) && keys.contains(&id2),
        "both keys are on the user while a rotation adds before it removes: {keys:?}"
    );
    assert!(
        h.key_works(uid, &k1).await && h.key_works(uid, &k2).await,
        "issued keys work"
    );
    b.delete_key(&t, &id1).await.unwrap();
    b.delete_key(&t, &id1)
        .await
        .expect("deleting an absent key succeeds");
    let keys = b.user(uid).await.unwrap().unwrap().access_keys;
    assert_eq!(keys, vec![id2.clone()]);
    assert!(!h.key_works(uid, &k1).await, "a deleted key stops working");
    assert!(h.key_works(uid, &k2).await, "the other key keeps working");
}

pub async fn suspend_and_resume(h: &dyn Harness, uid: &str) {
    let b = h.backend();
    if !b.capabilities().suspend {
        return;
    }
    b.ensure_user(&spec(uid)).await.unwrap();
    let key = b
        .issue_key(&tenant(uid), &generate_key_pair().unwrap())
        .await
        .unwrap();
    b.set_suspended(&tenant(uid), true).await.unwrap();
    assert_eq!(
        b.user(uid).await.unwrap().unwrap().suspension,
        crate::Suspension::Suspended
    );
    assert!(
        !h.key_works(uid, &key).await,
        "a suspended user's key is refused"
    );
    b.set_suspended(&tenant(uid), true)
        .await
        .expect("suspending twice is fine");
    b.set_suspended(&tenant(uid), false).await.unwrap();
    assert_eq!(
        b.user(uid).await.unwrap().unwrap().suspension,
        crate::Suspension::Active,
        "resumed"
    );
    assert!(
        h.key_works(uid, &key).await,
        "a resumed user's key works again"
    );
}

pub async fn usage_sums_the_resources_data(h: &dyn Harness, uid: &str) {
    let b = h.backend();
    b.ensure_user(&spec(uid)).await.unwrap();
    let empty = b.usage(&tenant(uid)).await.unwrap();
    assert_eq!(
        (empty.bytes, empty.objects),
        (0, 0),
        "a new user stores nothing"
    );
    match b.capabilities().buckets {
        BucketModel::Owned => {
            h.add_bucket(uid, &format!("{uid}-a"), 1000, 3).await;
            h.add_bucket(uid, &format!("{uid}-b"), 500, 2).await;
            let u = b.usage(&tenant(uid)).await.unwrap();
            let p = b.capabilities().usage_precision.max(1);
            assert_eq!(
                (u.bytes, u.objects, u.buckets.len()),
                (1000 / p * p + 500 / p * p, 5, 2),
                "usage sums the user's buckets: {u:?}"
            );
        }
        BucketModel::Granted => {
            let mine = data_bucket(&*b, uid, "");
            h.add_bucket(uid, &mine, 1500, 5).await;
            let u = b.usage(&tenant(uid)).await.unwrap();
            let p = b.capabilities().usage_precision.max(1);
            assert_eq!(
                (u.bytes, u.objects, u.buckets.len()),
                (1500 / p * p, 5, 1),
                "usage is the resource bucket's logical size and object count: {u:?}"
            );
        }
    }
}

pub async fn delete_rules(h: &dyn Harness, uid: &str) {
    let b = h.backend();
    b.ensure_user(&spec(uid)).await.unwrap();
    let bucket = data_bucket(&*b, uid, &format!("{uid}-data"));
    h.add_bucket(uid, &bucket, 10, 1).await;
    let t = tenant(uid);
    let e: BackendError = b.delete_user(&t, DeleteMode::KeepData).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotEmpty, "{e}");
    assert!(!e.is_retryable(), "{e}");
    assert!(
        e.message().contains("still") && e.message().contains("retry the termination"),
        "the refusal says why and what to do: {e}"
    );
    assert!(
        b.user(uid).await.unwrap().is_some(),
        "refused delete keeps the user"
    );
    let p = b.capabilities().usage_precision.max(1);
    assert_eq!(b.usage(&t).await.unwrap().bytes, 10 / p * p, "and the data");
    assert_eq!(b.usage(&t).await.unwrap().objects, 1, "and the data");
    h.remove_bucket(uid, &bucket).await;
    b.delete_user(&t, DeleteMode::KeepData).await.unwrap();
    assert!(b.user(uid).await.unwrap().is_none(), "user gone");
    b.delete_user(&t, DeleteMode::KeepData)
        .await
        .expect("deleting an absent user succeeds");
}

pub async fn purge_removes_data(h: &dyn Harness, uid: &str) {
    let b = h.backend();
    if !b.capabilities().purge {
        return;
    }
    b.ensure_user(&spec(uid)).await.unwrap();
    let (p1, p2) = (
        data_bucket(&*b, uid, &format!("{uid}-p1")),
        data_bucket(&*b, uid, &format!("{uid}-p2")),
    );
    h.add_bucket(uid, &p1, 300, 3).await;
    if p2 != p1 {
        h.add_bucket(uid, &p2, 10, 1).await;
    }
    if b.capabilities().suspend {
        b.set_suspended(&tenant(uid), true).await.unwrap();
    }
    b.delete_user(&tenant(uid), DeleteMode::Purge)
        .await
        .expect("purge removes the data, even of a suspended user");
    assert!(
        b.user(uid).await.unwrap().is_none(),
        "user gone after purge"
    );
    // A new resource under the same name starts empty.
    b.ensure_user(&spec(uid)).await.unwrap();
    let u = b.usage(&tenant(uid)).await.unwrap();
    assert_eq!(
        (u.bytes, u.objects),
        (0, 0),
        "no data survives a purge: {u:?}"
    );
    b.delete_user(&tenant(uid), DeleteMode::KeepData)
        .await
        .unwrap();
}

pub async fn refuses_bad_identifiers(h: &dyn Harness) {
    let b = h.backend();
    for bad in ["..", "a/../../admin", "u?x=1", ""] {
        assert!(Tenant::new(bad, RESOURCE).is_err(), "{bad:?} made a tenant");
        let unchecked = Tenant {
            uid: bad.into(),
            resource_uuid: RESOURCE.into(),
            recorded: false,
        };
        assert!(
            b.delete_user(&unchecked, DeleteMode::KeepData)
                .await
                .is_err(),
            "{bad:?} reached the backend"
        );
        assert!(
            b.delete_key(&tenant("conformance-ok"), bad).await.is_err(),
            "{bad:?} as key reached the backend"
        );
        let parts = crate::naming::NameParts {
            slug: Some(bad),
            customer_slug: Some(bad),
            project_slug: Some(bad),
            resource_uuid: "12345678-1234-5678-9abc-123456789abc",
        };
        if let Ok(uid) = b.user_id_for(&parts) {
            assert!(
                crate::validate_identifier("uid", &uid).is_ok(),
                "slug {bad:?} made the unsafe uid {uid:?}"
            );
        }
    }
}
