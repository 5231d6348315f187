//! Migration from the croit-s3 plugin: users exactly as that plugin made them (no stamp, the
//! key croit generated shown to the customer in `s3_credentials`, with and without a bucket
//! quota, and a Create it never finished) are adopted without a customer losing a working
//! key, and every later order works on them.

mod common;

use chrono::Utc;
use common::*;
use serde_json::{Value, json};
use site_agent::adopt::{AdoptOptions, Verdict, adopt};
use site_agent::app::App;
use site_agent::orders::Outcome;
use site_agent::rotation::RotationOutcome;
use site_agent::store::Store;
use site_agent::usage::clock::ManualClock;
use site_agent_sims::croit::SimQuota;
use std::sync::Arc;

const GIB: i64 = 1 << 30;

fn config(env: &Env, adopt_legacy_users: bool) -> String {
    format!(
        r#"
timezone: UTC
database_path: {db}
heartbeat_file: {hb}
offerings:
  - name: "Croit S3 Object Storage"
    waldur_api_url: "{api}"
    waldur_api_token: "{token}"
    waldur_offering_uuid: "{off}"
    stomp_enabled: false
    backend_type: "croit_s3"
    adopt_legacy_users: {adopt_legacy_users}
    backend_settings:
      api_url: "{croit}"
      token: "{CROIT_TOKEN}"
      s3_endpoint: "{s3}"
      user_prefix: "waldur_"
    backend_components:
      s3_storage:
        accounting_type: "usage"
        backend_name: "storage"
        unit_factor: 1073741824
        enforce_limits: true
      s3_objects:
        accounting_type: "usage"
        backend_name: "objects"
        enforce_limits: true
"#,
        db = env.dir.path().join("state.sqlite3").display(),
        hb = env.dir.path().join("heartbeat").display(),
        api = env.waldur.api_url(),
        token = env.waldur.provider_token(),
        off = env.offering,
        croit = env.croit.base_url(),
        s3 = env.croit.s3_endpoint(),
    )
}

/// A resource the plugin provisioned: its user (named by the plugin's scheme), the key croit
/// made, shown in `s3_credentials`.
struct Legacy {
    resource: String,
    uid: String,
    access: String,
    secret: String,
}

fn seed_legacy(env: &Env, name: &str, attributes: Value) -> Legacy {
    let resource = env
        .waldur
        .add_resource_ok(&env.offering, name, "pending", attributes);
    let hex = resource.replace('-', "");
    // The sim's seeded resources live in customer "customer", project "project".
    let uid = format!("waldur_customer_project_{}", &hex[..8]);
    env.waldur
        .set_resource_field(&resource, "backend_id", json!(uid));
    let (access, secret) = env.croit.add_legacy_user(&uid, name);
    env.waldur.set_resource_field(
        &resource,
        "backend_metadata",
        json!({"s3_credentials": {"access_key": access, "secret_key": secret,
               "endpoint": env.croit.base_url(), "region": "default"},
               "backend_info": {"created_via": "waldur_site_agent_croit_s3"}}),
    );
    Legacy {
        resource,
        uid,
        access,
        secret,
    }
}

async fn key_works(env: &Env, access: &str, secret: &str) -> bool {
    site_agent_sims::s3::key_accepted(&env.croit.s3_endpoint(), "default", access, secret, "probe")
        .await
}

fn app(env: &Env, adopt_legacy_users: bool) -> App {
    env.usage_app(
        &config(env, adopt_legacy_users),
        Arc::new(ManualClock::new(Utc::now())),
    )
}

async fn run_adopt(
    env: &Env,
    dry_run: bool,
    apply_quotas: bool,
) -> Vec<site_agent::adopt::Planned> {
    let cfg = site_agent::config::load_str(
        &config(env, false),
        "adopt.yaml",
        Vec::<(String, String)>::new(),
    )
    .unwrap();
    let store = Store::open(&cfg.database_path).unwrap();
    adopt(
        &cfg,
        &store,
        AdoptOptions {
            dry_run,
            apply_quotas,
        },
        fast_retry(),
        "site-agent-test",
    )
    .await
}

fn verdict<'a>(planned: &'a [site_agent::adopt::Planned], resource: &str) -> &'a Verdict {
    &planned
        .iter()
        .find(|p| p.resource == resource.replace('-', ""))
        .unwrap_or_else(|| panic!("{resource} not in {planned:?}"))
        .verdict
}

#[tokio::test]
async fn users_the_plugin_made_are_adopted_keeping_their_keys_and_quotas() {
    let env = env().await;
    let with_quota = seed_legacy(
        &env,
        "With quota",
        json!({"storage_limit": 100, "object_limit": 10000}),
    );
    let quota = SimQuota {
        enabled: true,
        max_size: 100 * GIB,
        max_objects: 10_000,
    };
    env.croit
        .set_quotas(&with_quota.uid, SimQuota::unset(), quota.clone());
    env.croit
        .add_bucket(&with_quota.uid, "photos", 2 * GIB as u64, 20);
    let without = seed_legacy(&env, "No quota", json!({"storage_limit": 5}));
    // Someone else's: stamped by this agent for another resource.
    let foreign = env
        .waldur
        .add_resource_ok(&env.offering, "Foreign", "x", json!({}));
    let other = site_agent_sdk::Tenant::new("waldur_taken", "12345678-1234-5678-9abc-123456789abc")
        .unwrap();
    env.croit.add_user("waldur_taken", &other.stamp());
    env.waldur
        .set_resource_field(&foreign, "backend_id", json!("waldur_taken"));
    // A second resource whose backend_id names a user another resource already names: refused
    // for both, never handed to either.
    let twin_a = seed_legacy(&env, "Twin", json!({"storage_limit": 1}));
    let twin_b = env
        .waldur
        .add_resource_ok(&env.offering, "Twin copy", "x", json!({}));
    env.waldur
        .set_resource_field(&twin_b, "backend_id", json!(twin_a.uid));
    let users_before = env.croit.users();

    // The dry run plans and changes nothing.
    let plan = run_adopt(&env, true, false).await;
    match verdict(&plan, &with_quota.resource) {
        Verdict::Adopted(steps) => {
            let s = steps.join("; ");
            assert!(
                s.contains(&format!("would report key {} to Waldur", with_quota.access)),
                "{s}"
            );
            assert!(s.contains("keep the user's quotas as they are"), "{s}");
            assert!(s.contains("(s3_credentials removed)"), "{s}");
        }
        v => panic!("{v:?}"),
    }
    assert!(
        matches!(verdict(&plan, &foreign), Verdict::Refused(m) if m.contains("another resource"))
    );
    assert!(env.waldur.api_keys(&with_quota.resource).is_empty());
    assert!(env.resource(&with_quota.resource)["backend_metadata"]["s3_credentials"].is_object());

    // Adoption: the customers' keys appear in Waldur, still work, and only then leave the
    // metadata; quotas stay as the plugin left them.
    let done = run_adopt(&env, false, false).await;
    for l in [&with_quota, &without] {
        assert!(
            matches!(verdict(&done, &l.resource), Verdict::Adopted(_)),
            "{done:?}"
        );
        let keys = env.waldur.api_keys(&l.resource);
        assert_eq!(keys.len(), 1, "{keys:?}");
        assert_eq!(
            (keys[0].client_id.as_str(), keys[0].api_key.as_str()),
            (l.access.as_str(), l.secret.as_str())
        );
        assert!(key_works(&env, &l.access, &l.secret).await);
        let md = &env.resource(&l.resource)["backend_metadata"];
        assert!(md.get("s3_credentials").is_none(), "{md}");
        assert!(!md.to_string().contains(&l.secret), "{md}");
        assert_eq!(
            md["backend_info"]["created_via"], "waldur_site_agent_croit_s3",
            "other keys stay"
        );
        assert!(md["storage_summary"].is_object(), "{md}");
    }
    assert_eq!(env.croit.user(&with_quota.uid).unwrap().bucket_quota, quota);
    assert_eq!(
        env.croit.user(&with_quota.uid).unwrap().user_quota,
        SimQuota::unset()
    );
    assert_eq!(
        env.croit.user(&without.uid).unwrap().bucket_quota,
        SimQuota::unset()
    );
    assert!(matches!(verdict(&done, &foreign), Verdict::Refused(_)));
    for twin in [&twin_a.resource, &twin_b] {
        match verdict(&done, twin) {
            Verdict::Refused(m) => assert!(m.contains("more than one resource"), "{m}"),
            v => panic!("{v:?}"),
        }
        assert!(env.waldur.api_keys(twin).is_empty());
    }
    // Running it again finds nothing left to do and changes nothing.
    let again = run_adopt(&env, false, false).await;
    match verdict(&again, &with_quota.resource) {
        Verdict::Adopted(steps) => assert!(steps.join("; ").contains("keep key"), "{steps:?}"),
        v => panic!("{v:?}"),
    }
    assert_eq!(env.waldur.api_keys(&with_quota.resource).len(), 1);

    let app = app(&env, false);
    // The reconcile pass leaves the quotas the users have.
    let reports = app.reconcile_cycle().await;
    assert!(
        reports.iter().all(|(_, r)| !r.quota_repaired),
        "{reports:?}"
    );
    assert_eq!(
        env.croit.user(&without.uid).unwrap().user_quota,
        SimQuota::unset()
    );
    assert_eq!(
        env.croit.user(&with_quota.uid).unwrap().user_quota,
        SimQuota::unset()
    );

    // Update: the ordered ceilings apply now, on user and buckets.
    let update = env.place_for(
        &without.resource,
        "Update",
        json!({}),
        json!({"storage_limit": 7}),
    );
    let outcomes = app.order_cycle().await;
    assert!(
        outcomes.iter().all(|(_, o)| *o == Outcome::Done),
        "{outcomes:?}"
    );
    assert_eq!(env.order_state(&update.order_uuid), "done");
    let u = env.croit.user(&without.uid).unwrap();
    assert_eq!(
        (u.user_quota.max_size, u.bucket_quota.max_size),
        (7 * GIB, 7 * GIB)
    );
    assert!(
        key_works(&env, &without.access, &without.secret).await,
        "no key removed"
    );

    // Pause and restore.
    env.waldur
        .set_resource_field(&with_quota.resource, "paused", json!(true));
    app.reconcile_cycle().await;
    assert!(env.croit.user(&with_quota.uid).unwrap().suspended);
    env.waldur
        .set_resource_field(&with_quota.resource, "paused", json!(false));
    app.reconcile_cycle().await;
    assert!(!env.croit.user(&with_quota.uid).unwrap().suspended);
    assert!(key_works(&env, &with_quota.access, &with_quota.secret).await);

    // Rotation of the customer's old key: a new one works, the old one stops.
    let key = env.waldur.api_keys(&with_quota.resource).remove(0);
    env.waldur.rotate_key(&key.uuid).unwrap();
    let rotated = app.key_cycle().await;
    assert!(
        matches!(rotated[..], [(_, RotationOutcome::Rotated { .. })]),
        "{rotated:?}"
    );
    let now = env.waldur.api_keys(&with_quota.resource);
    assert_eq!(now.len(), 1);
    assert!(key_works(&env, &now[0].client_id, &now[0].api_key).await);
    assert!(!key_works(&env, &with_quota.access, &with_quota.secret).await);

    // Terminate: refused while data remains, done once it is gone.
    let term = env.place_for(&with_quota.resource, "Terminate", json!({}), json!({}));
    app.order_cycle().await;
    assert_eq!(env.order_state(&term.order_uuid), "erred");
    env.croit.remove_bucket(&with_quota.uid, "photos");
    let term = env.place_for(&with_quota.resource, "Terminate", json!({}), json!({}));
    app.order_cycle().await;
    assert_eq!(env.order_state(&term.order_uuid), "done");
    assert!(env.croit.user(&with_quota.uid).is_none());

    // No user was made twice, none was lost but the terminated one.
    let mut expected = users_before.clone();
    expected.retain(|u| *u != with_quota.uid);
    assert_eq!(env.croit.users(), expected);
}

#[tokio::test]
async fn a_create_the_plugin_never_finished_is_taken_over_only_when_allowed() {
    let env = env().await;
    let placed = env.place_create(
        "Half done",
        json!({"storage_limit": 10, "object_limit": 500}),
    );
    // The plugin made the user (named for this resource) and died before telling Waldur.
    let hex = placed.resource_uuid.replace('-', "");
    let uid = format!("waldur_acme_acme_ml_{}", &hex[..8]);
    let (access, secret) = env.croit.add_legacy_user(&uid, "Half done");

    // Not allowed: the order errs and says what to do; nothing changed on the backend.
    let strict = app(&env, false);
    let out = strict.order_cycle().await;
    match &out[0].1 {
        Outcome::Erred(m) => assert!(
            m.contains("site-agent adopt") && m.contains("adopt_legacy_users"),
            "{m}"
        ),
        o => panic!("{o:?}"),
    }
    assert_eq!(env.croit.users(), vec![uid.clone()]);
    assert!(key_works(&env, &access, &secret).await);
    drop(strict);

    // Allowed: a new Create of the same resource would be a new resource, so the operator
    // retries this one (Waldur's `retry`); here the same order is placed again.
    let placed = env.place_create(
        "Half done 2",
        json!({"storage_limit": 10, "object_limit": 500}),
    );
    let hex = placed.resource_uuid.replace('-', "");
    let uid2 = format!("waldur_acme_acme_ml_{}", &hex[..8]);
    let (access2, secret2) = env.croit.add_legacy_user(&uid2, "Half done 2");
    let lenient = app(&env, true);
    let out = lenient.order_cycle().await;
    assert!(out.iter().any(|(_, o)| *o == Outcome::Done), "{out:?}");
    assert_eq!(
        env.resource(&placed.resource_uuid)["backend_id"],
        uid2.as_str()
    );
    let mut expected = vec![uid.clone(), uid2.clone()];
    expected.sort();
    assert_eq!(env.croit.users(), expected, "no second user");
    // The plugin's key is kept and shown in Waldur beside the agent's new one.
    let keys = env.waldur.api_keys(&placed.resource_uuid);
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(
        keys.iter()
            .any(|k| k.client_id == access2 && k.api_key == secret2)
    );
    for k in &keys {
        assert!(
            key_works(&env, &k.client_id, &k.api_key).await,
            "{}",
            k.client_id
        );
    }
    let u = env.croit.user(&uid2).unwrap();
    assert_eq!(u.user_quota.max_size, 10 * GIB);
    assert_eq!(u.bucket_quota.max_objects, 500);
}
