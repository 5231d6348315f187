//! Faults between any two steps of an order, on waldur-sim + croit-sim: lost answers, calls
//! that Waldur committed but the agent never saw succeed, stale or foreign events, a
//! `backend_id` that points at another resource's user. After each, Waldur and the backend
//! must agree: no key the portal shows that does not work, no foreign user touched, no good
//! order erred.

mod common;

use common::*;
use serde_json::json;
use site_agent::events::Work;
use site_agent::orders::Outcome;
use site_agent::rotation::RotationOutcome;
use site_agent_sims::waldur::{Fault, FaultRule, OfferingSeed, OrderSeed};

fn uid_of(env: &Env, resource: &str) -> String {
    env.resource(resource)["backend_id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Accepted (HTTP 200) calls ending with `suffix`.
fn accepted(env: &Env, suffix: &str) -> usize {
    env.waldur
        .calls()
        .iter()
        .filter(|c| c.method == "POST" && c.path.ends_with(suffix) && c.status < 300)
        .count()
}

/// The answers to the first `report_created` and its three retries (fast_retry) are lost,
/// after Waldur recorded the key.
fn lose_first_key_answers(env: &Env) {
    env.waldur.inject(FaultRule::new(
        "POST",
        "/report_created/",
        Fault::DropResponse,
        4,
    ));
}

#[tokio::test]
async fn a_key_waldur_took_is_kept_when_its_answer_was_lost() {
    let env = env().await;
    let placed = env.place_create("Lost answer", json!({"max_storage_limit": 5}));
    // Waldur records the first key, but every answer to it (and the retries') is lost.
    lose_first_key_answers(&env);
    {
        let app = env.app();
        let first = app.order_cycle().await;
        assert!(matches!(&first[..], [(_, Outcome::Retry(_))]), "{first:?}");
    }
    let held = env.waldur.api_keys(&placed.resource_uuid);
    assert_eq!(held.len(), 1, "Waldur holds the key whose answer was lost");
    // A fresh process (as after kill -9) resumes.
    let app = env.app();
    assert_eq!(
        app.order_cycle().await,
        vec![(placed.order_uuid.clone(), Outcome::Done)]
    );
    let uid = uid_of(&env, &placed.resource_uuid);
    assert_keys_match(&env, &placed.resource_uuid, &uid);
    let keys = env.waldur.api_keys(&placed.resource_uuid);
    assert_eq!(keys.len(), 2);
    assert!(
        keys.iter().any(|k| k.client_id == held[0].client_id),
        "the key the customer may already see still works"
    );
}

#[tokio::test]
async fn a_key_is_never_removed_while_waldur_cannot_be_asked() {
    let env = env().await;
    let placed = env.place_create("No list", json!({"max_storage_limit": 5}));
    lose_first_key_answers(&env);
    env.app().order_cycle().await;
    let uid = uid_of(&env, &placed.resource_uuid);
    let live = env.croit.user(&uid).unwrap().keys;
    assert_eq!(live.len(), 1);
    // Resume while Waldur's key list cannot be read: nothing may be removed.
    env.waldur.inject(FaultRule::new(
        "GET",
        "/marketplace-resource-api-keys/",
        Fault::Status(503),
        100,
    ));
    let app = env.app();
    assert!(matches!(
        &app.order_cycle().await[..],
        [(_, Outcome::Retry(_))]
    ));
    assert_eq!(
        env.croit.user(&uid).unwrap().keys,
        live,
        "no key removed blind"
    );
    env.waldur.clear_faults();
    app.order_cycle().await;
    assert_keys_match(&env, &placed.resource_uuid, &uid);
}

#[tokio::test]
async fn lost_answers_to_order_transitions_do_not_err_good_orders() {
    let env = env().await;
    let placed = env.place_create("Lost transitions", json!({"max_storage_limit": 5}));
    // The approval and the completion both happen, but their answers are lost; the retry of
    // each is refused (409: wrong state) by Waldur.
    env.waldur.inject(FaultRule::new(
        "POST",
        "/approve_by_provider/",
        Fault::DropResponse,
        1,
    ));
    env.waldur.inject(FaultRule::new(
        "POST",
        "/set_state_done/",
        Fault::DropResponse,
        1,
    ));
    let app = env.app();
    assert_eq!(
        app.order_cycle().await,
        vec![(placed.order_uuid.clone(), Outcome::Done)]
    );
    assert_eq!(env.order_state(&placed.order_uuid), "done");
    assert_eq!(env.waldur.count_calls("POST", "/set_state_erred/"), 0);
    assert!(
        env.waldur
            .calls()
            .iter()
            .any(|c| c.path.ends_with("/approve_by_provider/") && c.status == 409),
        "the retry was refused as a wrong-state call"
    );
    assert_eq!(accepted(&env, "/set_state_done/"), 1, "done exactly once");
}

/// A provisioned resource whose first key the customer just asked to rotate.
async fn provisioned_and_rotated(
    env: &Env,
) -> (
    site_agent::app::App,
    site_agent_sims::waldur::PlacedOrder,
    site_agent_sims::waldur::ApiKeyRow,
) {
    let placed = env.place_create("Rotate", json!({"max_storage_limit": 5}));
    let app = env.app();
    app.order_cycle().await;
    let target = env.waldur.api_keys(&placed.resource_uuid)[0].clone();
    env.waldur.rotate_key(&target.uuid).unwrap();
    (app, placed, target)
}

/// The replaced access key no longer works on the backend.
fn assert_key_gone(env: &Env, uid: &str, access_key: &str) {
    assert!(
        env.croit
            .user(uid)
            .unwrap()
            .keys
            .iter()
            .all(|(ak, _)| ak != access_key),
        "the replaced key {access_key} still works"
    );
}

#[tokio::test]
async fn a_lost_set_key_answer_still_completes_the_rotation() {
    let env = env().await;
    let (app, placed, target) = provisioned_and_rotated(&env).await;
    env.waldur
        .inject(FaultRule::new("POST", "/set_key/", Fault::DropResponse, 1));
    let r = app.key_cycle().await;
    assert!(
        matches!(&r[..], [(_, RotationOutcome::Rotated { .. })]),
        "{r:?}"
    );
    let uid = uid_of(&env, &placed.resource_uuid);
    assert_keys_match(&env, &placed.resource_uuid, &uid);
    assert_key_gone(&env, &uid, &target.client_id);
    assert_eq!(env.waldur.count_calls("POST", "/set_erred/"), 0);
}

#[tokio::test]
async fn stale_rotation_work_rotates_nothing() {
    let env = env().await;
    let (app, placed, target) = provisioned_and_rotated(&env).await;
    let work = Work::Rotate {
        offering: env.offering.clone(),
        api_key_uuid: target.uuid.clone(),
    };
    app.do_work(&work).await;
    let after_first = env.waldur.api_keys(&placed.resource_uuid);
    let uid = uid_of(&env, &placed.resource_uuid);
    assert_keys_match(&env, &placed.resource_uuid, &uid);
    // The same work again (a redelivered event, a replayed inbox): the key is OK now, so
    // nothing changes — the new key the customer was just shown keeps working.
    app.do_work(&work).await;
    assert_eq!(env.waldur.api_keys(&placed.resource_uuid), after_first);
    assert_keys_match(&env, &placed.resource_uuid, &uid);
    // Rotated again by the customer: the worker rotates the key's *current* access key.
    env.waldur.rotate_key(&target.uuid).unwrap();
    let current = env
        .waldur
        .api_keys(&placed.resource_uuid)
        .into_iter()
        .find(|k| k.uuid == target.uuid)
        .unwrap();
    app.do_work(&work).await;
    assert_keys_match(&env, &placed.resource_uuid, &uid);
    assert_key_gone(&env, &uid, &current.client_id);
}

#[tokio::test]
async fn events_for_unknown_or_foreign_orders_are_dropped_never_erred() {
    let env = env().await;
    let app = env.app();
    app.do_work(&Work::Order {
        offering: env.offering.clone(),
        order_uuid: uuid::Uuid::new_v4().simple().to_string(),
    })
    .await;
    // An order of another offering, named in an event on our queue.
    let other = env.waldur.add_offering(OfferingSeed::new("Other", vec![]));
    let foreign = env.waldur.place_order(
        OrderSeed::create(&other, "theirs").with_attributes(json!({"max_storage_limit": 1})),
    );
    app.do_work(&Work::Order {
        offering: env.offering.clone(),
        order_uuid: foreign.order_uuid.clone(),
    })
    .await;
    assert_eq!(env.waldur.count_calls("POST", "/set_state_erred/"), 0);
    assert_eq!(env.waldur.count_calls("POST", "/approve_by_provider/"), 0);
    assert_eq!(env.order_state(&foreign.order_uuid), "pending-provider");
}

#[tokio::test]
async fn a_backend_id_pointing_at_another_resources_user_is_refused() {
    let env = env().await;
    let a = env.place_create("Resource A", json!({"max_storage_limit": 5}));
    let b = env.place_create("Resource B", json!({"max_storage_limit": 5}));
    let app = env.app();
    app.order_cycle().await;
    let uid_b = uid_of(&env, &b.resource_uuid);
    let keys_b = env.croit.user(&uid_b).unwrap().keys;
    // A's backend_id is made to point at B's user (a typo, a bad import, a hostile edit).
    env.waldur
        .set_resource_field(&a.resource_uuid, "backend_id", json!(uid_b));
    let term = env.place_for(&a.resource_uuid, "Terminate", json!({}), json!({}));
    match &app.order_cycle().await[..] {
        [(o, Outcome::Erred(m))] if *o == term.order_uuid => {
            assert!(m.contains("does not belong to resource"), "{m}")
        }
        other => panic!("{other:?}"),
    }
    let user_b = env.croit.user(&uid_b).expect("B's user survives");
    assert_eq!(user_b.keys, keys_b, "B's keys survive");
    // Pause of A goes nowhere either.
    env.waldur
        .set_resource_field(&a.resource_uuid, "paused", json!(true));
    env.waldur
        .set_resource_field(&a.resource_uuid, "state", json!("OK"));
    app.reconcile_cycle().await;
    assert!(
        !env.croit.user(&uid_b).unwrap().suspended,
        "B is not suspended"
    );
}

#[tokio::test]
async fn an_update_naming_one_ceiling_keeps_the_other() {
    let env = env().await;
    let placed = env.place_create(
        "Two ceilings",
        json!({"max_storage_limit": 4, "max_object_limit": 50}),
    );
    let app = env.app();
    app.order_cycle().await;
    let uid = uid_of(&env, &placed.resource_uuid);
    let upd = env.place_for(
        &placed.resource_uuid,
        "Update",
        json!({}),
        json!({"max_storage_limit": 8}),
    );
    assert_eq!(
        app.order_cycle().await,
        vec![(upd.order_uuid, Outcome::Done)]
    );
    let user = env.croit.user(&uid).unwrap();
    for q in [&user.user_quota, &user.bucket_quota] {
        assert!(q.max_size >= 8_000_000_000 && q.max_size < 8_000_001_024);
        assert_eq!(
            q.max_objects, 50,
            "the object ceiling is kept, not unlimited"
        );
    }
    // And an explicit 0 does not mean "unlimited" either.
    let zero = env.place_for(
        &placed.resource_uuid,
        "Update",
        json!({}),
        json!({"max_storage_limit": 9, "max_object_limit": 0}),
    );
    assert_eq!(
        app.order_cycle().await,
        vec![(zero.order_uuid, Outcome::Done)]
    );
    assert_eq!(env.croit.user(&uid).unwrap().user_quota.max_objects, 50);
}

#[tokio::test]
async fn one_stuck_offering_does_not_hold_up_another() {
    use site_agent::app::{App, Roles};
    use site_agent_sims::waldur::{ComponentSeed, SimOptions, WaldurSim};
    let env = env().await;
    // A second Waldur that accepts connections but never answers in time.
    let stuck = WaldurSim::start(SimOptions::default()).await.unwrap();
    let stuck_offering = stuck.add_offering(OfferingSeed::new(
        "Stuck",
        vec![ComponentSeed::s3_storage()],
    ));
    stuck.set_latency(std::time::Duration::from_secs(3600));
    let stuck_entry = format!(
        r#"
  - name: Stuck
    waldur_api_url: {api}
    waldur_api_token: {token}
    waldur_offering_uuid: {off}
    backend_type: ceph_s3
    order_processing_backend: ceph_s3
    backend_settings:
      {settings}
    backend_components:
      s3_storage: {{backend_name: storage, measured_unit: GB-day, accounting_type: usage, label: Storage, unit_factor: 1000000000}}
"#,
        api = stuck.api_url(),
        token = stuck.provider_token(),
        off = stuck_offering,
        settings = env.backend_settings,
    );
    // The stuck offering comes first, as it would hold up a single loop over offerings.
    let yaml = env
        .config_yaml()
        .replacen("offerings:\n", &format!("offerings:{stuck_entry}"), 1);
    let config =
        site_agent::config::load_str(&yaml, "t.yaml", Vec::<(String, String)>::new()).unwrap();
    let store = site_agent::store::Store::open(&config.database_path).unwrap();
    let app = std::sync::Arc::new(App::build_with_store(config, store, &test_options()).unwrap());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let runner = app.clone();
    let task = tokio::spawn(async move {
        let roles = Roles {
            orders: Some(std::time::Duration::from_millis(200)),
            ..Roles::default()
        };
        runner
            .run(roles, async {
                let _ = stop_rx.await;
            })
            .await
    });
    let placed = env.place_create("Healthy", json!({"max_storage_limit": 1}));
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while env.order_state(&placed.order_uuid) != "done" {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the healthy offering's order waited for the stuck one"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let _ = stop_tx.send(());
    let _ = task.await;
}

#[tokio::test]
async fn a_key_written_moments_ago_waits_for_a_late_answer() {
    let env = env().await;
    let placed = env.place_create("Late answer", json!({"max_storage_limit": 5}));
    // Waldur refuses every report of the first key (nothing recorded); the agent gives up.
    env.waldur.inject(FaultRule::new(
        "POST",
        "/report_created/",
        Fault::Status(503),
        4,
    ));
    env.app().order_cycle().await;
    let uid = uid_of(&env, &placed.resource_uuid);
    let live = env.croit.user(&uid).unwrap().keys;
    assert_eq!(live.len(), 1, "applied, not known to Waldur");
    // Resumed within the window, Waldur might still carry out a report the agent gave up on:
    // the key is neither removed nor joined by more keys; the order waits.
    let patient = {
        let config = env.config();
        let store = site_agent::store::Store::open(&config.database_path).unwrap();
        site_agent::app::App::build_with_store(
            config,
            store,
            &site_agent::app::AppOptions {
                late_answers: Some(std::time::Duration::from_secs(3600)),
                ..test_options()
            },
        )
        .unwrap()
    };
    assert!(matches!(
        &patient.order_cycle().await[..],
        [(_, Outcome::Retry(m))] if m.contains("Waldur may still answer")
    ));
    assert_eq!(env.croit.user(&uid).unwrap().keys, live);
    // Once the window has passed, the key Waldur never took goes and the order completes.
    assert_eq!(
        env.app().order_cycle().await,
        vec![(placed.order_uuid, Outcome::Done)]
    );
    assert_keys_match(&env, &placed.resource_uuid, &uid);
    assert!(
        env.croit
            .user(&uid)
            .unwrap()
            .keys
            .iter()
            .all(|k| *k != live[0]),
        "the unreported key is gone"
    );
}

#[tokio::test]
async fn another_resources_user_is_never_sampled_as_this_ones() {
    let env = env().await;
    let a = env.place_create("Sampled A", json!({"max_storage_limit": 5}));
    let b = env.place_create("Sampled B", json!({"max_storage_limit": 5}));
    let clock = std::sync::Arc::new(site_agent::usage::clock::ManualClock::new(
        chrono::Utc::now(),
    ));
    let app = env.usage_app(&env.usage_config_yaml(), clock.clone());
    app.order_cycle().await;
    let uid_b = uid_of(&env, &b.resource_uuid);
    env.croit.add_bucket(&uid_b, "b-data", 7_000_000_000, 3);
    env.waldur
        .set_resource_field(&a.resource_uuid, "backend_id", json!(uid_b));
    app.usage_sample_cycle().await;
    let a_samples = app
        .store
        .samples(
            &site_agent::waldur::WaldurId::new(&a.resource_uuid),
            0,
            i64::MAX / 2,
        )
        .await
        .unwrap();
    assert!(
        a_samples.iter().all(|s| s.bytes == 0),
        "B's data was billed to A: {:?}",
        a_samples.iter().map(|s| s.bytes).collect::<Vec<_>>()
    );
    let b_samples = app
        .store
        .samples(
            &site_agent::waldur::WaldurId::new(&b.resource_uuid),
            0,
            i64::MAX / 2,
        )
        .await
        .unwrap();
    assert_eq!(b_samples.last().map(|s| s.bytes), Some(7_000_000_000));
}

#[tokio::test]
async fn a_restore_without_ceilings_leaves_no_user_behind() {
    let env = env().await;
    let placed = env.place_create("No ceilings", json!({"max_storage_limit": 5}));
    let app = env.app();
    app.order_cycle().await;
    let uid = uid_of(&env, &placed.resource_uuid);
    let term = env.place_for(&placed.resource_uuid, "Terminate", json!({}), json!({}));
    assert_eq!(
        app.order_cycle().await,
        vec![(term.order_uuid, Outcome::Done)]
    );
    assert!(env.croit.user(&uid).is_none());
    // Neither Waldur nor the agent knows the ceilings any more (an old resource, a lost
    // database): the Restore cannot be fulfilled and must not leave a user behind.
    app.store
        .call(|c| c.execute("DELETE FROM resource_ceilings", []))
        .await
        .unwrap();
    for field in ["limits", "attributes"] {
        env.waldur
            .set_resource_field(&placed.resource_uuid, field, json!({}));
    }
    let restore = env.place_for(&placed.resource_uuid, "Restore", json!({}), json!({}));
    match &app.order_cycle().await[..] {
        [(o, Outcome::Erred(m))] if *o == restore.order_uuid => {
            assert!(m.contains("max_storage_limit"), "{m}")
        }
        other => panic!("{other:?}"),
    }
    assert!(env.croit.user(&uid).is_none(), "no orphan user");
}

#[tokio::test]
async fn a_rotation_event_for_another_offerings_key_is_dropped() {
    let env = env().await;
    // Another offering on the same Waldur, served by another agent.
    let other = env.waldur.add_offering(OfferingSeed::new(
        "Other S3",
        vec![site_agent_sims::waldur::ComponentSeed::s3_storage()],
    ));
    let other_yaml = env
        .config_yaml()
        .replace(&env.offering, &other)
        .replace("state.sqlite3", "other.sqlite3");
    let other_config =
        site_agent::config::load_str(&other_yaml, "o.yaml", Vec::<(String, String)>::new())
            .unwrap();
    let other_store = site_agent::store::Store::open(&other_config.database_path).unwrap();
    let other_app =
        site_agent::app::App::build_with_store(other_config, other_store, &test_options()).unwrap();
    let theirs = env.waldur.place_order(
        OrderSeed::create(&other, "theirs").with_attributes(json!({"max_storage_limit": 1})),
    );
    other_app.order_cycle().await;
    let key = env.waldur.api_keys(&theirs.resource_uuid)[0].clone();
    env.waldur.rotate_key(&key.uuid).unwrap();
    // The event reaches our agent (a unified queue, a stale or forged message).
    let app = env.app();
    app.do_work(&Work::Rotate {
        offering: env.offering.clone(),
        api_key_uuid: key.uuid.clone(),
    })
    .await;
    let after = env
        .waldur
        .api_keys(&theirs.resource_uuid)
        .into_iter()
        .find(|k| k.uuid == key.uuid)
        .unwrap();
    assert_eq!(after.state, "Updating", "left for its own agent, not erred");
    assert_eq!(env.waldur.count_calls("POST", "/set_erred/"), 0);
    // Its own agent rotates it.
    assert!(matches!(
        &other_app.key_cycle().await[..],
        [(_, RotationOutcome::Rotated { .. })]
    ));
}
