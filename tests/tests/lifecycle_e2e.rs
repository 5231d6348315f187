//! Beyond the reference, on croit-sim: pause/restore, quota drift repair, key rotation.

mod common;

use common::*;
use serde_json::json;
use site_agent::orders::Outcome;
use site_agent::rotation::RotationOutcome;

async fn provisioned(env: &Env) -> (site_agent::app::App, String, String) {
    let placed = env.place_create(
        "Life",
        json!({"max_storage_limit": 4, "max_object_limit": 50}),
    );
    let app = env.app();
    assert_eq!(
        app.order_cycle().await,
        vec![(placed.order_uuid.clone(), Outcome::Done)]
    );
    let uid = env.resource(&placed.resource_uuid)["backend_id"]
        .as_str()
        .unwrap()
        .to_string();
    (app, placed.resource_uuid, uid)
}

#[tokio::test]
async fn pause_suspends_and_restore_resumes() {
    let env = env().await;
    let (app, resource, uid) = provisioned(&env).await;
    env.waldur
        .set_resource_field(&resource, "paused", json!(true));
    let reports = app.reconcile_cycle().await;
    assert!(
        reports
            .iter()
            .any(|(r, rep)| *r == resource && rep.suspended),
        "{reports:?}"
    );
    assert!(env.croit.user(&uid).unwrap().suspended);
    // Idempotent: a second pass changes nothing.
    let writes = env.croit_writes();
    app.reconcile_cycle().await;
    assert_eq!(env.croit_writes(), writes);

    env.waldur
        .set_resource_field(&resource, "paused", json!(false));
    let reports = app.reconcile_cycle().await;
    assert!(
        reports.iter().any(|(r, rep)| *r == resource && rep.resumed),
        "{reports:?}"
    );
    assert!(!env.croit.user(&uid).unwrap().suspended);
}

#[tokio::test]
async fn quota_drift_on_the_cluster_is_repaired() {
    let env = env().await;
    let (app, resource, uid) = provisioned(&env).await;
    assert!(
        app.reconcile_cycle()
            .await
            .iter()
            .all(|(_, r)| !r.quota_repaired),
        "no drift right after create"
    );

    // Someone raises the quota by hand on the cluster.
    let client = reqwest::Client::new();
    let r = client
        .put(format!("{}/api/s3/users/{uid}/quota", env.croit.base_url()))
        .bearer_auth(CROIT_TOKEN)
        .json(&json!({"enabled": true, "maxSize": 999_000_000_000u64}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let reports = app.reconcile_cycle().await;
    assert!(
        reports
            .iter()
            .any(|(r, rep)| *r == resource && rep.quota_repaired),
        "{reports:?}"
    );
    let user = env.croit.user(&uid).unwrap();
    assert_eq!(user.user_quota.max_size, 4_000_000_000);
    assert_eq!(user.user_quota.max_objects, 50);
}

#[tokio::test]
async fn rotation_applies_new_before_old_and_leaves_two_keys() {
    let env = env().await;
    let (app, resource, uid) = provisioned(&env).await;
    let before = env.waldur.api_keys(&resource);
    let target = before[0].clone();
    env.waldur.rotate_key(&target.uuid).unwrap();
    let results = app.key_cycle().await;
    let new = match &results[..] {
        [(k, RotationOutcome::Rotated { old, new })] => {
            assert_eq!(k.replace('-', ""), target.uuid.replace('-', ""));
            assert_eq!(*old, target.client_id);
            new.clone()
        }
        other => panic!("{other:?}"),
    };
    let after = env.waldur.api_keys(&resource);
    assert_eq!(after.len(), 2);
    assert!(after.iter().all(|k| k.state == "OK"));
    let live = env.croit.user(&uid).unwrap().keys;
    assert_eq!(live.len(), 2, "{live:?}");
    for k in &after {
        assert!(
            live.contains(&(k.client_id.clone(), k.api_key.clone())),
            "Waldur's key {} is live",
            k.client_id
        );
    }
    assert!(
        live.iter().all(|(ak, _)| *ak != target.client_id),
        "the old key is gone"
    );
    assert!(after.iter().any(|k| k.client_id == new));
    // The sibling key was not touched.
    assert!(live.contains(&(before[1].client_id.clone(), before[1].api_key.clone())));
    assert!(app.key_cycle().await.is_empty(), "nothing left to rotate");
}

/// Provisions a resource, has the customer rotate its first key, and runs a rotation pass that
/// "crashes" at `at`; returns (resource, uid, the rotated key as it was).
async fn rotation_interrupted_at(
    env: &Env,
    at: &'static str,
) -> (String, String, site_agent_sims::waldur::ApiKeyRow) {
    let (_, resource, uid) = provisioned(env).await;
    let target = env.waldur.api_keys(&resource)[0].clone();
    env.waldur.rotate_key(&target.uuid).unwrap();
    let app = env.app_with(|inner| Crashing::at(inner, at));
    let first = app.key_cycle().await;
    assert!(
        matches!(&first[..], [(_, RotationOutcome::Retry(_))]),
        "{first:?}"
    );
    (resource, uid, target)
}

#[tokio::test]
async fn rotation_interrupted_before_waldur_knows_is_redriven_without_orphans() {
    let env = env().await;
    // The agent dies right after applying the new key, before Waldur hears of it.
    let (resource, uid, target) = rotation_interrupted_at(&env, "after_issue_key").await;
    {
        let live = env.croit.user(&uid).unwrap().keys;
        assert_eq!(
            live.len(),
            3,
            "the new key is live, unknown to Waldur: {live:?}"
        );
        assert!(
            live.iter().any(|(ak, _)| *ak == target.client_id),
            "the old key still works: Waldur still shows it"
        );
        let key = env
            .waldur
            .api_keys(&resource)
            .into_iter()
            .find(|k| k.uuid == target.uuid)
            .unwrap();
        assert_eq!(
            key.state, "Updating",
            "an interrupted rotation is not erred"
        );
    }
    let app = env.app();
    let second = app.key_cycle().await;
    assert!(
        matches!(&second[..], [(_, RotationOutcome::Rotated { .. })]),
        "{second:?}"
    );
    assert_keys_match(&env, &resource, &uid);
    assert_eq!(
        env.croit.user(&uid).unwrap().keys.len(),
        2,
        "the orphan is gone"
    );
    assert!(
        env.waldur
            .api_keys(&resource)
            .iter()
            .all(|k| k.state == "OK" && k.client_id != target.client_id)
    );
}

#[tokio::test]
async fn rotation_interrupted_after_waldur_took_the_new_key_retires_the_old_one() {
    let env = env().await;
    // Waldur recorded the new key; the agent dies before removing the old one.
    let (resource, uid, target) = rotation_interrupted_at(&env, "before_delete_key").await;
    {
        let live = env.croit.user(&uid).unwrap().keys;
        assert!(
            live.iter().any(|(ak, _)| *ak == target.client_id),
            "the old key is still live for now"
        );
    }
    // The key is OK now, so no rotation runs again; the order loop settles the key ledger
    // (the upstream order_process mode has no reconcile pass to lean on).
    let app = env.app();
    assert!(app.key_cycle().await.is_empty());
    app.order_cycle().await;
    assert_keys_match(&env, &resource, &uid);
    let live = env.croit.user(&uid).unwrap().keys;
    assert!(
        live.iter().all(|(ak, _)| *ak != target.client_id),
        "the key the customer asked to replace no longer works"
    );
}

#[tokio::test]
async fn rotation_of_a_missing_user_errs_the_key() {
    let env = env().await;
    let (app, resource, uid) = provisioned(&env).await;
    let target = env.waldur.api_keys(&resource)[0].clone();
    // The user vanished from the cluster (deleted by hand).
    let r = reqwest::Client::new()
        .delete(format!("{}/api/s3/users/{uid}", env.croit.base_url()))
        .bearer_auth(CROIT_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    env.waldur.rotate_key(&target.uuid).unwrap();
    match &app.key_cycle().await[..] {
        [(_, RotationOutcome::Erred(m))] => assert!(m.contains("does not exist"), "{m}"),
        other => panic!("{other:?}"),
    }
    let key = env
        .waldur
        .api_keys(&resource)
        .into_iter()
        .find(|k| k.uuid == target.uuid)
        .unwrap();
    assert_eq!(key.state, "Erred");
}

#[tokio::test]
async fn restore_recreates_a_terminated_resource_under_its_backend_id() {
    let env = env().await;
    let (app, resource, uid) = provisioned(&env).await;
    let term = env.place_for(&resource, "Terminate", json!({}), json!({}));
    assert_eq!(
        app.order_cycle().await,
        vec![(term.order_uuid, Outcome::Done)]
    );
    assert!(env.croit.user(&uid).is_none());
    let restore = env.place_for(&resource, "Restore", json!({}), json!({}));
    assert_eq!(
        app.order_cycle().await,
        vec![(restore.order_uuid, Outcome::Done)]
    );
    let user = env
        .croit
        .user(&uid)
        .expect("re-created under the stored backend_id");
    assert_eq!(
        user.user_quota.max_size, 4_000_000_000,
        "ceilings come back from the resource"
    );
    assert_eq!(env.waldur.api_keys(&resource).len(), 2);
    assert_eq!(user.keys.len(), 2);
    assert_eq!(env.resource(&resource)["state"], "OK");
}
