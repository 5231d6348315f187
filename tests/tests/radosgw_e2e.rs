//! The whole resource lifecycle against a real Ceph RadosGW, through waldur-sim: the keys the
//! agent hands to Waldur are used over the S3 API to prove what each order did.

mod common;

use common::*;
use serde_json::json;
use site_agent::orders::Outcome;
use site_agent::rotation::RotationOutcome;
use site_agent_sims::s3::{RgwPeer, S3User};
use site_agent_sims::waldur::ApiKeyRow;

fn s3(peer: &RgwPeer, k: &ApiKeyRow) -> S3User {
    S3User::new(&peer.endpoint, "default", &k.client_id, &k.api_key)
}

#[tokio::test]
async fn full_lifecycle_on_a_real_radosgw() {
    let peer = RgwPeer::from_env();
    let env = rgw_env(&peer).await;
    let app = env.app();

    // Create: 8 "GB" with the test's unit_factor of 1024 bytes = an 8 KiB ceiling.
    let placed = env.place_create(
        "Lifecycle",
        json!({"max_storage_limit": 8, "max_object_limit": 100}),
    );
    assert_eq!(
        app.order_cycle().await,
        vec![(placed.order_uuid.clone(), Outcome::Done)]
    );
    let res = placed.resource_uuid.clone();
    let uid = env.resource(&res)["backend_id"]
        .as_str()
        .unwrap()
        .to_string();
    let backend = app.processors[0].backend.clone();
    let q = backend.quota(&uid).await.unwrap();
    assert_eq!(
        (
            q.user().unwrap().max_size_bytes,
            q.bucket().unwrap().max_size_bytes
        ),
        (Some(8192), Some(8192)),
        "quotas read back in bytes"
    );
    assert_eq!(
        (
            q.user().unwrap().max_objects,
            q.bucket().unwrap().max_objects
        ),
        (Some(100), Some(100))
    );
    assert!(q.user().unwrap().enabled && q.bucket().unwrap().enabled);

    // The two reported keys work: each creates a bucket and puts an object.
    let keys = env.waldur.api_keys(&res);
    assert_eq!(keys.len(), 2);
    let bucket = format!("{uid}-data");
    let first = s3(&peer, &keys[0]);
    let r = first.create_bucket(&bucket).await;
    assert!(r.ok(), "{r:?}");
    assert!(first.put_object(&bucket, "a", vec![1; 100]).await.ok());
    let second = s3(&peer, &keys[1]);
    assert!(
        second.put_object(&bucket, "b", vec![2; 100]).await.ok(),
        "the second key works too"
    );

    // Past the bucket quota: refused.
    let over = first.put_object(&bucket, "big", vec![3; 8 * 1024]).await;
    assert_eq!(over.code(), Some("QuotaExceeded"), "{over:?}");

    // An Update order raises the ceiling; the same write now succeeds.
    let upd = env.place_for(
        &res,
        "Update",
        json!({}),
        json!({"max_storage_limit": 64, "max_object_limit": 100}),
    );
    assert_eq!(
        app.order_cycle().await,
        vec![(upd.order_uuid, Outcome::Done)]
    );
    assert_eq!(
        backend
            .quota(&uid)
            .await
            .unwrap()
            .bucket()
            .unwrap()
            .max_size_bytes,
        Some(64 * 1024)
    );
    let again = first.put_object(&bucket, "big", vec![3; 8 * 1024]).await;
    assert!(again.ok(), "{again:?}");

    // Pause: the keys stop working. Restore: they work again.
    env.waldur.set_resource_field(&res, "paused", json!(true));
    app.reconcile_cycle().await;
    let refused = first.put_object(&bucket, "c", vec![4; 10]).await;
    assert_eq!(refused.status, 403, "{refused:?}");
    env.waldur.set_resource_field(&res, "paused", json!(false));
    app.reconcile_cycle().await;
    assert!(first.put_object(&bucket, "c", vec![4; 10]).await.ok());

    // Rotation: exactly two working keys afterwards; the old one is refused.
    let old = keys[0].clone();
    env.waldur.rotate_key(&old.uuid).unwrap();
    assert!(matches!(
        &app.key_cycle().await[..],
        [(_, RotationOutcome::Rotated { .. })]
    ));
    let rotated = env.waldur.api_keys(&res);
    assert_eq!(rotated.len(), 2);
    assert_eq!(
        backend.user(&uid).await.unwrap().unwrap().access_keys.len(),
        2
    );
    for k in &rotated {
        let r = s3(&peer, k).put_object(&bucket, "rot", vec![5; 10]).await;
        assert!(r.ok(), "key {} works: {r:?}", k.client_id);
    }
    let dead = s3(&peer, &old)
        .put_object(&bucket, "rot", vec![5; 10])
        .await;
    assert_eq!(dead.status, 403, "the old key is refused: {dead:?}");

    // Terminate with a bucket present: erred with a clear message; the data stays.
    let term = env.place_for(&res, "Terminate", json!({}), json!({}));
    match &app.order_cycle().await[..] {
        [(o, Outcome::Erred(m))] if *o == term.order_uuid => {
            assert!(
                m.contains("still owns 1 bucket(s)") && m.contains("empty and remove them"),
                "{m}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(backend.user(&uid).await.unwrap().is_some());

    // Empty the bucket; the next Terminate succeeds and the user is gone.
    let user = s3(&peer, &rotated[0]);
    for key in ["a", "b", "big", "c", "rot"] {
        user.delete_object(&bucket, key).await;
    }
    assert!(user.delete_bucket(&bucket).await.ok());
    let term2 = env.place_for(&res, "Terminate", json!({}), json!({}));
    assert_eq!(
        app.order_cycle().await,
        vec![(term2.order_uuid, Outcome::Done)]
    );
    assert!(backend.user(&uid).await.unwrap().is_none());
    assert_eq!(env.resource(&res)["state"], "Terminated");
}

#[tokio::test]
async fn quota_drift_on_a_real_radosgw_is_repaired() {
    let peer = RgwPeer::from_env();
    let env = rgw_env(&peer).await;
    let app = env.app();
    let placed = env.place_create("Drift", json!({"max_storage_limit": 8}));
    assert_eq!(
        app.order_cycle().await,
        vec![(placed.order_uuid.clone(), Outcome::Done)]
    );
    let uid = env.resource(&placed.resource_uuid)["backend_id"]
        .as_str()
        .unwrap()
        .to_string();
    let backend = app.processors[0].backend.clone();
    // An operator widens the user quota by hand.
    backend
        .apply_quota(
            &site_agent_sdk::Tenant::new(&uid, &placed.resource_uuid).unwrap(),
            &site_agent_sdk::QuotaSpec {
                max_bytes: Some(1 << 30),
                max_objects: None,
            },
        )
        .await
        .unwrap();
    let reports = app.reconcile_cycle().await;
    assert!(reports.iter().any(|(_, r)| r.quota_repaired), "{reports:?}");
    let q = backend.quota(&uid).await.unwrap();
    assert_eq!(
        (
            q.user().unwrap().max_size_bytes,
            q.bucket().unwrap().max_size_bytes
        ),
        (Some(8192), Some(8192))
    );
    assert!(
        app.reconcile_cycle()
            .await
            .iter()
            .all(|(_, r)| !r.quota_repaired),
        "repaired once, then stable"
    );
}
