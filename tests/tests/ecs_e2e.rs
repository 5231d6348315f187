//! The whole resource lifecycle on Dell ECS (ecs-sim, strict and stateful) through waldur-sim:
//! one Waldur key per resource whose access key is the user, rotation by a second secret,
//! whole-GB quotas, lock for pause, metering with ECS's sample time; and the faults the issue
//! names: a token that expires mid-order, 503 storms, a lost `set_key` answer and a third
//! secret someone else added.

mod common;

use axum::http::StatusCode;
use common::*;
use serde_json::json;
use site_agent::orders::Outcome;
use site_agent::rotation::RotationOutcome;
use site_agent_sims::ecs::EcsSim;
use site_agent_sims::waldur::{Fault, FaultRule};

const GIB: u64 = 1 << 30;

struct Ecs {
    env: Env,
    sim: EcsSim,
}

async fn ecs_env() -> Ecs {
    let sim = EcsSim::start("mgmt", "mgmt-secret", &["waldur"])
        .await
        .unwrap();
    let mut env = env().await;
    env.backend_type = "dell_ecs";
    env.backend_settings = format!(
        "management_url: {}\n      username: mgmt\n      password: mgmt-secret\n      namespace: waldur\n      s3_endpoint: https://s3.ecs.test\n      s3_private_endpoint: {}",
        sim.url(),
        sim.s3_url()
    );
    // One ordered "GB" is one GiB: ECS quotas are whole GB.
    env.unit_factor = GIB;
    Ecs { env, sim }
}

/// Places a Create and runs the order loop; returns (resource, uid).
async fn create(e: &Ecs, gb: u64) -> (String, String) {
    let placed = e
        .env
        .place_create("Bucket", json!({"max_storage_limit": gb}));
    assert_eq!(
        e.env.app().order_cycle().await,
        vec![(placed.order_uuid.clone(), Outcome::Done)]
    );
    let r = e.env.resource(&placed.resource_uuid);
    (
        placed.resource_uuid.clone(),
        r["backend_id"].as_str().unwrap().to_string(),
    )
}

/// Waldur's one key of the resource equals the user's one secret, and works.
fn one_working_key(e: &Ecs, res: &str, uid: &str) -> String {
    let keys = e.env.waldur.api_keys(res);
    assert_eq!(
        keys.len(),
        1,
        "one Waldur key per resource on ECS: {keys:?}"
    );
    let k = &keys[0];
    assert_eq!(k.client_id, uid, "the access key is the user");
    assert_eq!(k.state, "OK");
    let secrets = e.sim.user(uid).unwrap().2;
    assert_eq!(
        secrets,
        vec![k.api_key.clone()],
        "ECS holds exactly Waldur's secret"
    );
    assert!(e.sim.key_works(uid, &k.api_key));
    k.api_key.clone()
}

#[tokio::test]
async fn full_lifecycle_on_ecs() {
    let e = ecs_env().await;
    let (res, uid) = create(&e, 2).await;
    let env = &e.env;
    let app = env.app();
    let bucket = uid.to_ascii_lowercase().replace('_', "-");
    let md = &env.resource(&res)["backend_metadata"];
    assert_eq!(md["s3_bucket"], json!(bucket));
    assert_eq!(md["s3_user"], json!(uid));
    assert_eq!(
        md["s3_endpoint"],
        json!("https://s3.ecs.test"),
        "the public URL"
    );
    assert_eq!(md["s3_quota_max_size_bytes"], json!(2 * GIB));
    let (owner, block, notify, encrypted, _) = e.sim.bucket(&bucket).unwrap();
    assert_eq!(
        (owner.as_str(), block, notify, encrypted),
        (uid.as_str(), 2, 2, false)
    );
    let (tags, locked, _) = e.sim.user(&uid).unwrap();
    assert!(!locked);
    assert!(
        tags.iter()
            .any(|(k, v)| k == "waldur-stamp" && v.contains(&uid)),
        "stamped: {tags:?}"
    );
    let first = one_working_key(&e, &res, &uid);

    // Update: the bucket's quota follows.
    let upd = env.place_for(&res, "Update", json!({}), json!({"max_storage_limit": 5}));
    assert_eq!(
        app.order_cycle().await,
        vec![(upd.order_uuid, Outcome::Done)]
    );
    assert_eq!(e.sim.bucket(&bucket).unwrap().1, 5);

    // Pause locks the user; restore unlocks it.
    env.waldur.set_resource_field(&res, "paused", json!(true));
    app.reconcile_cycle().await;
    assert!(e.sim.user(&uid).unwrap().1, "locked");
    assert!(!e.sim.key_works(&uid, &first));
    env.waldur.set_resource_field(&res, "paused", json!(false));
    app.reconcile_cycle().await;
    assert!(e.sim.key_works(&uid, &first), "unlocked");

    // Rotation: a second secret, reported with set_key, then the old one goes.
    let key = env.waldur.api_keys(&res)[0].clone();
    env.waldur.rotate_key(&key.uuid).unwrap();
    assert!(matches!(
        &app.key_cycle().await[..],
        [(_, RotationOutcome::Rotated { .. })]
    ));
    let second = one_working_key(&e, &res, &uid);
    assert_ne!(second, first);
    assert!(!e.sim.key_works(&uid, &first), "the old secret is gone");
    // Another rotation right after works the same (the record of Waldur's secret moved on).
    env.waldur.rotate_key(&key.uuid).unwrap();
    app.key_cycle().await;
    let third = one_working_key(&e, &res, &uid);
    assert!(third != second && !e.sim.key_works(&uid, &second));

    // Terminate while the bucket holds data: refused with ECS's own words; then done.
    e.sim.put_object(&bucket, "a", 1000).unwrap();
    let term = env.place_for(&res, "Terminate", json!({}), json!({}));
    match &app.order_cycle().await[..] {
        [(o, Outcome::Erred(m))] if *o == term.order_uuid => assert!(
            m.contains("still holds") && m.contains("dell_ecs said"),
            "{m}"
        ),
        other => panic!("{other:?}"),
    }
    assert!(e.sim.key_works(&uid, &third), "the tenant keeps its access");
    e.sim.delete_objects(&bucket);
    let term2 = env.place_for(&res, "Terminate", json!({}), json!({}));
    assert_eq!(
        app.order_cycle().await,
        vec![(term2.order_uuid, Outcome::Done)]
    );
    assert!(e.sim.user(&uid).is_none() && e.sim.bucket(&bucket).is_none());
    assert_eq!(env.resource(&res)["state"], "Terminated");
}

#[tokio::test]
async fn below_one_gb_the_order_errs_and_leaves_nothing() {
    let e = ecs_env().await;
    let placed = e.env.place_create("Tiny", json!({"max_storage_limit": 0}));
    match &e.env.app().order_cycle().await[..] {
        [(o, Outcome::Erred(m))] if *o == placed.order_uuid => {
            assert!(m.contains("max_storage_limit"), "{m}")
        }
        other => panic!("{other:?}"),
    }
    assert!(e.sim.users().is_empty(), "no user left behind");
}

#[tokio::test]
async fn a_token_expiring_mid_order_and_503_storms_err_nothing_and_leave_no_extra_secret() {
    let e = ecs_env().await;
    // Every token dies after its first use: each call needs a fresh login.
    e.sim.set_token_ttl(std::time::Duration::from_millis(1));
    let placed = e
        .env
        .place_create("Stormy", json!({"max_storage_limit": 3}));
    // A storm longer than the retries of one pass: the order waits, it is not erred.
    e.sim.fail_next(
        40,
        StatusCode::SERVICE_UNAVAILABLE,
        6000,
        "Service unavailable",
    );
    let mut outcome = Vec::new();
    for _ in 0..20 {
        outcome = e.env.app().order_cycle().await;
        assert!(
            outcome
                .iter()
                .all(|(_, o)| matches!(o, Outcome::Retry(_) | Outcome::Done)),
            "a storm is waited out, never erred: {outcome:?}"
        );
        if !outcome.is_empty() && outcome.iter().all(|(_, o)| *o == Outcome::Done) {
            break;
        }
    }
    assert_eq!(outcome, vec![(placed.order_uuid.clone(), Outcome::Done)]);
    let uid = e.env.resource(&placed.resource_uuid)["backend_id"]
        .as_str()
        .unwrap()
        .to_string();
    one_working_key(&e, &placed.resource_uuid, &uid);
    assert!(
        e.sim.calls().iter().filter(|(_, p)| p == "/login").count() > 3,
        "tokens were renewed on the way"
    );
}

#[tokio::test]
async fn a_lost_set_key_answer_leaves_waldurs_secret_working_and_no_third() {
    let e = ecs_env().await;
    let (res, uid) = create(&e, 2).await;
    let before = one_working_key(&e, &res, &uid);
    let key = e.env.waldur.api_keys(&res)[0].clone();
    e.env.waldur.rotate_key(&key.uuid).unwrap();
    e.env
        .waldur
        .inject(FaultRule::new("POST", "/set_key/", Fault::DropResponse, 20));
    let app = e.env.app();
    let out = app.key_cycle().await;
    // Every answer lost: the agent cannot know, so it waits (nothing is erred).
    assert!(
        matches!(&out[..], [(_, RotationOutcome::Retry(_))]),
        "{out:?}"
    );
    e.env.waldur.clear_faults();
    let shown = e.env.waldur.api_keys(&res)[0].clone();
    assert_eq!(shown.state, "OK", "Waldur took it");
    // Before the agent learns of it, the customer asks for yet another rotation: the key is
    // `Updating` again, but the secret Waldur shows must keep working meanwhile.
    e.env.waldur.rotate_key(&key.uuid).unwrap();
    e.env.app().reconcile_cycle().await;
    assert!(
        e.sim.key_works(&uid, &shown.api_key),
        "the secret Waldur shows still works"
    );
    assert!(
        !e.sim.key_works(&uid, &before),
        "the rotated-away one is gone"
    );
    assert_eq!(e.sim.user(&uid).unwrap().2, vec![shown.api_key.clone()]);
    // The rotation the customer asked for then goes through: one new working secret.
    let app = e.env.app();
    assert!(matches!(
        &app.key_cycle().await[..],
        [(_, RotationOutcome::Rotated { .. })]
    ));
    let now = one_working_key(&e, &res, &uid);
    assert!(now != before && now != shown.api_key);
}

#[tokio::test]
async fn a_third_secret_added_behind_the_agents_back_never_blocks_a_rotation() {
    let e = ecs_env().await;
    let (res, uid) = create(&e, 2).await;
    let held = one_working_key(&e, &res, &uid);
    // Someone adds a second secret on ECS: both slots are taken.
    let settings = site_agent_dell_ecs::EcsSettings::from_map(
        json!({"management_url": e.sim.url(), "username": "mgmt", "password": "mgmt-secret",
               "namespace": "waldur", "s3_endpoint": "https://s3"})
        .as_object()
        .unwrap(),
    )
    .unwrap();
    let api = site_agent_dell_ecs::api::EcsApi {
        client: site_agent_dell_ecs::client::EcsClient::new(&settings).unwrap(),
        namespace: "waldur".into(),
        replication_group: None,
    };
    api.add_secret(&uid, &"intruder-secret-0123456789".to_string().into())
        .await
        .unwrap();
    assert_eq!(e.sim.user(&uid).unwrap().2.len(), 2);
    let key = e.env.waldur.api_keys(&res)[0].clone();
    e.env.waldur.rotate_key(&key.uuid).unwrap();
    let app = e.env.app();
    assert!(matches!(
        &app.key_cycle().await[..],
        [(_, RotationOutcome::Rotated { .. })]
    ));
    let now = one_working_key(&e, &res, &uid);
    assert!(now != held && !e.sim.key_works(&uid, "intruder-secret-0123456789"));
}

#[tokio::test]
async fn bucket_options_are_applied_at_create_changed_by_update_and_encryption_stays() {
    let e = ecs_env().await;
    let env = &e.env;
    let placed = env.place_create(
        "Options",
        json!({"max_storage_limit": 2, "encryption": true, "versioning": true, "bucket_policy": "public-read"}),
    );
    let app = env.app();
    assert_eq!(
        app.order_cycle().await,
        vec![(placed.order_uuid.clone(), Outcome::Done)]
    );
    let res = placed.resource_uuid.clone();
    let uid = env.resource(&res)["backend_id"]
        .as_str()
        .unwrap()
        .to_string();
    let bucket = uid.clone();
    let (_, _, _, encrypted, policy) = e.sim.bucket(&bucket).unwrap();
    assert!(encrypted, "encryption is chosen when the bucket is made");
    assert!(
        policy.unwrap().contains("s3:GetObject"),
        "public-read policy"
    );
    assert_eq!(
        e.sim.versions(&bucket),
        Some((Some(true), 0)),
        "versioning on (over S3)"
    );
    // The temporary secret used for S3 before the customer had a key is gone.
    one_working_key(&e, &res, &uid);
    let md = &env.resource(&res)["backend_metadata"];
    assert_eq!(md["s3_bucket_encryption"], json!(true));
    assert_eq!(md["s3_bucket_policy"], json!("public-read"));

    // Versioning and the policy change; the metadata follows.
    let upd = env.place_for(
        &res,
        "Update",
        json!({"new_options": {"versioning": false, "bucket_policy": "private"}}),
        json!({}),
    );
    assert_eq!(
        app.order_cycle().await,
        vec![(upd.order_uuid, Outcome::Done)]
    );
    assert_eq!(e.sim.versions(&bucket), Some((Some(false), 0)));
    assert!(
        e.sim.bucket(&bucket).unwrap().4.is_none(),
        "private = no policy"
    );
    let md = &env.resource(&res)["backend_metadata"];
    assert_eq!(md["s3_bucket_versioning"], json!(false));
    assert_eq!(md["s3_bucket_policy"], json!("private"));
    assert_eq!(
        md["s3_quota_max_size_bytes"],
        json!(2 * GIB),
        "the quota facts stay"
    );

    // Encryption cannot change on an existing bucket: the order errs and nothing moves.
    let enc = env.place_for(
        &res,
        "Update",
        json!({"new_options": {"encryption": false}, "max_storage_limit": 4}),
        json!({}),
    );
    match &app.order_cycle().await[..] {
        [(o, Outcome::Erred(m))] if *o == enc.order_uuid => {
            assert!(
                m.contains("Encryption can only be chosen when the bucket is made"),
                "{m}"
            )
        }
        other => panic!("{other:?}"),
    }
    let (_, block, _, encrypted, _) = e.sim.bucket(&bucket).unwrap();
    assert!(
        encrypted && block == 2,
        "neither encryption nor the quota changed"
    );
}

#[tokio::test]
async fn object_lock_is_refused_before_anything_is_made() {
    let e = ecs_env().await;
    let placed = e.env.place_create(
        "Locked",
        json!({"max_storage_limit": 2, "object_lock": true}),
    );
    match &e.env.app().order_cycle().await[..] {
        [(o, Outcome::Erred(m))] if *o == placed.order_uuid => {
            assert!(
                m.contains("Object Lock is not supported on dell_ecs"),
                "{m}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(e.sim.users().is_empty(), "no user made");
    assert!(e.env.waldur.api_keys(&placed.resource_uuid).is_empty());
}

#[tokio::test]
async fn terminate_with_purge_empties_every_version_then_removes_user_and_bucket() {
    let mut e = ecs_env().await;
    e.env.backend_settings.push_str("\n      purge_data: true");
    let (res, uid) = create(&e, 2).await;
    let bucket = uid.clone();
    let env = &e.env;
    let app = env.app();
    let upd = env.place_for(
        &res,
        "Update",
        json!({"new_options": {"versioning": true}}),
        json!({}),
    );
    assert_eq!(
        app.order_cycle().await,
        vec![(upd.order_uuid, Outcome::Done)]
    );
    for size in [100, 200] {
        e.sim.put_object(&bucket, "same-key", size).unwrap();
    }
    assert_eq!(e.sim.versions(&bucket), Some((Some(true), 1)));
    // Paused first: the purge still gets through.
    env.waldur.set_resource_field(&res, "paused", json!(true));
    app.reconcile_cycle().await;
    let term = env.place_for(&res, "Terminate", json!({}), json!({}));
    assert_eq!(
        app.order_cycle().await,
        vec![(term.order_uuid, Outcome::Done)]
    );
    assert!(e.sim.bucket(&bucket).is_none() && e.sim.user(&uid).is_none());
}
