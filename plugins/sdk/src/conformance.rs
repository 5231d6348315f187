//! The backend conformance suite: one set of behaviour checks every plugin runs against its
//! simulator or real server. Each check panics with a message naming the broken promise.

use crate::{
    BackendError, DeleteMode, Ensured, ErrorKind, QuotaSpec, StorageBackend, Tenant, UserSpec,
    keys::generate_key_pair,
};
use std::sync::Arc;

/// What a suite needs from the test environment beyond the backend itself.
#[async_trait::async_trait]
pub trait Harness: Send + Sync {
    fn backend(&self) -> Arc<dyn StorageBackend>;
    /// Creates a user that Waldur does not own (no ownership stamp).
    async fn add_foreign_user(&self, uid: &str);
    /// Gives a user a bucket with data.
    async fn add_bucket(&self, uid: &str, bucket: &str, bytes: u64, objects: u64);
    async fn remove_bucket(&self, uid: &str, bucket: &str);
}

const RESOURCE: &str = "12345678-1234-5678-9abc-123456789abc";
const OTHER_RESOURCE: &str = "87654321-1234-5678-9abc-123456789abc";

fn spec(uid: &str) -> UserSpec {
    UserSpec {
        uid: uid.into(),
        display_name: format!("conformance {uid}"),
        resource_uuid: RESOURCE.into(),
    }
}

/// The tenant of `spec(uid)`.
fn tenant(uid: &str) -> Tenant {
    Tenant::new(uid, RESOURCE).expect("valid tenant")
}

/// Runs every check, each on its own uid under `prefix`.
pub async fn run_all(h: &dyn Harness, prefix: &str) {
    create_then_adopt(h, &format!("{prefix}-adopt")).await;
    refuses_foreign_user(h, &format!("{prefix}-foreign")).await;
    refuses_another_resources_user(h, &format!("{prefix}-other")).await;
    quota_applied_and_read_back(h, &format!("{prefix}-quota")).await;
    keys_put_and_delete(h, &format!("{prefix}-keys")).await;
    suspend_and_resume(h, &format!("{prefix}-susp")).await;
    usage_sums_buckets(h, &format!("{prefix}-usage")).await;
    delete_rules(h, &format!("{prefix}-del")).await;
    purge_removes_data(h, &format!("{prefix}-purge")).await;
    refuses_bad_identifiers(h).await;
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
    let mut other = spec(uid);
    other.resource_uuid = "87654321-1234-5678-9abc-123456789abc".into();
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
        b.put_key(&t, &key).await.is_err(),
        "keys of a stranger's user are never touched"
    );
    assert!(
        b.delete_user(&t, DeleteMode::KeepData).await.is_err(),
        "a stranger's user is never deleted"
    );
    assert!(b.user(uid).await.unwrap().is_some());
}

/// A user stamped for resource A is never changed on behalf of resource B (a `backend_id`
/// pointing at another resource's user).
pub async fn refuses_another_resources_user(h: &dyn Harness, uid: &str) {
    let b = h.backend();
    b.ensure_user(&spec(uid)).await.unwrap();
    let mine = generate_key_pair().unwrap();
    b.put_key(&tenant(uid), &mine).await.unwrap();
    let other = Tenant::new(uid, OTHER_RESOURCE).unwrap();
    let conflict = |what: &str, r: Result<(), BackendError>| {
        let e = r.expect_err(what);
        assert_eq!(e.kind(), ErrorKind::Invalid, "{what}: {e}");
        assert!(!e.is_retryable(), "{what}: {e}");
    };
    let key = generate_key_pair().unwrap();
    conflict(
        "put_key for another resource",
        b.put_key(&other, &key).await,
    );
    conflict(
        "delete_key for another resource",
        b.delete_key(&other, &mine.access_key).await,
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
    assert_eq!(user.access_keys, vec![mine.access_key], "its key survives");
    assert!(!user.suspended);
}

pub async fn quota_applied_and_read_back(h: &dyn Harness, uid: &str) {
    let b = h.backend();
    b.ensure_user(&spec(uid)).await.unwrap();
    let g = b.capabilities().quota_byte_granularity.max(1);
    let want = QuotaSpec {
        max_bytes: Some(5_000_000_000),
        max_objects: Some(1000),
    };
    let applied = b.apply_quota(&tenant(uid), &want).await.unwrap();
    for (scope, q) in [("user", &applied.user), ("bucket", &applied.bucket)] {
        assert!(q.enabled, "{scope} quota enabled");
        let got = q.max_size_bytes.expect("size ceiling set");
        assert!(
            got >= 5_000_000_000 && got < 5_000_000_000 + g,
            "{scope} size {got} within granularity {g}"
        );
        assert_eq!(q.max_objects, Some(1000), "{scope} objects");
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
        raised.user.max_size_bytes.unwrap() >= 10_000_000_000,
        "quota can be raised"
    );
}

pub async fn keys_put_and_delete(h: &dyn Harness, uid: &str) {
    let b = h.backend();
    b.ensure_user(&spec(uid)).await.unwrap();
    let (k1, k2) = (generate_key_pair().unwrap(), generate_key_pair().unwrap());
    let t = tenant(uid);
    b.put_key(&t, &k1).await.unwrap();
    b.put_key(&t, &k2).await.unwrap();
    let keys = b.user(uid).await.unwrap().unwrap().access_keys;
    assert!(
        keys.contains(&k1.access_key) && keys.contains(&k2.access_key),
        "{keys:?}"
    );
    b.delete_key(&t, &k1.access_key).await.unwrap();
    b.delete_key(&t, &k1.access_key)
        .await
        .expect("deleting an absent key succeeds");
    let keys = b.user(uid).await.unwrap().unwrap().access_keys;
    assert_eq!(keys, vec![k2.access_key.clone()]);
}

pub async fn suspend_and_resume(h: &dyn Harness, uid: &str) {
    let b = h.backend();
    if !b.capabilities().suspend {
        return;
    }
    b.ensure_user(&spec(uid)).await.unwrap();
    b.set_suspended(&tenant(uid), true).await.unwrap();
    assert!(b.user(uid).await.unwrap().unwrap().suspended, "suspended");
    b.set_suspended(&tenant(uid), false).await.unwrap();
    assert!(!b.user(uid).await.unwrap().unwrap().suspended, "resumed");
}

pub async fn usage_sums_buckets(h: &dyn Harness, uid: &str) {
    let b = h.backend();
    b.ensure_user(&spec(uid)).await.unwrap();
    let empty = b.usage(&tenant(uid)).await.unwrap();
    assert_eq!(
        (empty.bytes, empty.objects),
        (0, 0),
        "a new user stores nothing"
    );
    h.add_bucket(uid, &format!("{uid}-a"), 1000, 3).await;
    h.add_bucket(uid, &format!("{uid}-b"), 500, 2).await;
    let u = b.usage(&tenant(uid)).await.unwrap();
    assert_eq!(
        (u.bytes, u.objects, u.buckets.len()),
        (1500, 5, 2),
        "usage sums the buckets: {u:?}"
    );
}

pub async fn delete_rules(h: &dyn Harness, uid: &str) {
    let b = h.backend();
    b.ensure_user(&spec(uid)).await.unwrap();
    h.add_bucket(uid, &format!("{uid}-data"), 10, 1).await;
    let t = tenant(uid);
    let e: BackendError = b.delete_user(&t, DeleteMode::KeepData).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotEmpty, "{e}");
    assert!(
        e.message().contains("still owns"),
        "the refusal says why: {e}"
    );
    assert!(
        b.user(uid).await.unwrap().is_some(),
        "refused delete keeps the user"
    );
    h.remove_bucket(uid, &format!("{uid}-data")).await;
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
    h.add_bucket(uid, &format!("{uid}-p1"), 300, 3).await;
    h.add_bucket(uid, &format!("{uid}-p2"), 10, 1).await;
    b.set_suspended(&tenant(uid), true).await.unwrap();
    b.delete_user(&tenant(uid), DeleteMode::Purge)
        .await
        .expect("purge removes the data, even of a suspended user");
    assert!(
        b.user(uid).await.unwrap().is_none(),
        "user gone after purge"
    );
}

pub async fn refuses_bad_identifiers(h: &dyn Harness) {
    let b = h.backend();
    for bad in ["..", "a/../../admin", "u?x=1", ""] {
        assert!(Tenant::new(bad, RESOURCE).is_err(), "{bad:?} made a tenant");
        let unchecked = Tenant {
            uid: bad.into(),
            resource_uuid: RESOURCE.into(),
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
        if let Ok(uid) = b.user_id_for_slug(bad) {
            assert!(
                crate::validate_identifier("uid", &uid).is_ok(),
                "slug {bad:?} made the unsafe uid {uid:?}"
            );
        }
    }
}
