//! End to end: marketplace orders in waldur-sim fulfilled on croit-sim by the agent.

mod common;

use common::*;
use secrecy::ExposeSecret;
use serde_json::json;
use site_agent::orders::Outcome;

#[tokio::test]
async fn create_order_completes_with_user_quotas_keys_and_metadata() {
    let env = env().await;
    let placed = env.place_create(
        "Acme Backups",
        json!({"max_storage_limit": 500, "max_object_limit": 100000}),
    );
    let app = env.app();
    let results = app.order_cycle().await;
    assert_eq!(results, vec![(placed.order_uuid.clone(), Outcome::Done)]);
    assert_eq!(env.order_state(&placed.order_uuid), "done");

    let res = env.resource(&placed.resource_uuid);
    assert_eq!(res["state"], "OK");
    let uid = res["backend_id"].as_str().unwrap().to_string();
    assert_eq!(uid, format!("waldur-{}", res["slug"].as_str().unwrap()));

    let user = env.croit.user(&uid).expect("S3 user exists on croit");
    let hyphenated = uuid::Uuid::parse_str(&placed.resource_uuid)
        .unwrap()
        .hyphenated()
        .to_string();
    assert_eq!(
        user.email,
        format!("waldur-{hyphenated}-{uid}@invalid"),
        "ownership stamp"
    );
    for q in [&user.user_quota, &user.bucket_quota] {
        assert!(q.enabled);
        assert_eq!(
            q.max_size, 500_000_000_000,
            "500 GB in bytes (a multiple of 1024 already)"
        );
        assert_eq!(q.max_objects, 100_000);
    }

    // Two keys, live on croit with exactly the secrets Waldur holds.
    let reported = env.waldur.api_keys(&placed.resource_uuid);
    assert_eq!(reported.len(), 2);
    assert_eq!(user.keys.len(), 2);
    for k in &reported {
        assert_eq!(k.state, "OK");
        assert!(
            user.keys
                .contains(&(k.client_id.clone(), k.api_key.clone())),
            "key {} not live",
            k.client_id
        );
        assert_eq!(k.client_id.len(), 20);
        assert_eq!(k.api_key.len(), 40);
    }

    let md = &res["backend_metadata"];
    assert_eq!(md["s3_endpoint"], "https://s3.test");
    assert_eq!(md["s3_region"], "eu-test");
    assert_eq!(md["s3_user"], uid);
    assert_eq!(md["s3_quota_max_size_bytes"], 500_000_000_000u64);
    assert!(
        md.to_string().find(&reported[0].api_key).is_none(),
        "no secret in metadata"
    );
    assert_eq!(env.waldur.count_calls("POST", "/set_state_done/"), 1);
    assert_eq!(env.waldur.count_calls("POST", "/approve_by_provider/"), 1);

    // A second cycle finds nothing to do and changes nothing.
    let writes = env.croit_writes();
    assert!(app.order_cycle().await.is_empty());
    assert_eq!(env.croit_writes(), writes);
}

#[tokio::test]
async fn terminate_removes_the_user_and_refuses_while_buckets_remain() {
    let env = env().await;
    let placed = env.place_create("To go", json!({"max_storage_limit": 10}));
    let app = env.app();
    app.order_cycle().await;
    let uid = env.resource(&placed.resource_uuid)["backend_id"]
        .as_str()
        .unwrap()
        .to_string();

    env.croit.add_bucket(&uid, "photos", 1234, 2);
    let term = env.place_for(&placed.resource_uuid, "Terminate", json!({}), json!({}));
    let results = app.order_cycle().await;
    match &results[..] {
        [(o, Outcome::Erred(msg))] if *o == term.order_uuid => {
            assert!(
                msg.contains("still owns 1 bucket(s)") && msg.contains("retry the termination"),
                "{msg}"
            )
        }
        other => panic!("{other:?}"),
    }
    let order = env.waldur.order(&term.order_uuid).unwrap();
    assert_eq!(order["state"], "erred");
    assert!(
        order["error_message"]
            .as_str()
            .unwrap()
            .contains("still owns")
    );
    assert_eq!(
        env.resource(&placed.resource_uuid)["state"],
        "OK",
        "a failed terminate leaves the resource"
    );
    assert!(env.croit.user(&uid).is_some());

    env.croit.remove_bucket(&uid, "photos");
    let term2 = env.place_for(&placed.resource_uuid, "Terminate", json!({}), json!({}));
    assert_eq!(
        app.order_cycle().await,
        vec![(term2.order_uuid.clone(), Outcome::Done)]
    );
    assert!(env.croit.user(&uid).is_none(), "user removed");
    assert_eq!(env.resource(&placed.resource_uuid)["state"], "Terminated");
}

#[tokio::test]
async fn update_order_reapplies_both_quotas() {
    let env = env().await;
    let placed = env.place_create("Grow", json!({"max_storage_limit": 10}));
    let app = env.app();
    app.order_cycle().await;
    let uid = env.resource(&placed.resource_uuid)["backend_id"]
        .as_str()
        .unwrap()
        .to_string();
    let upd = env.place_for(
        &placed.resource_uuid,
        "Update",
        json!({}),
        json!({"max_storage_limit": 25, "max_object_limit": 7}),
    );
    assert_eq!(
        app.order_cycle().await,
        vec![(upd.order_uuid, Outcome::Done)]
    );
    let user = env.croit.user(&uid).unwrap();
    assert_eq!(
        user.user_quota.max_size, 25_000_000_512,
        "croit rounds up to KiB"
    );
    assert_eq!(user.bucket_quota.max_size, 25_000_000_512);
    assert_eq!(user.bucket_quota.max_objects, 7);
    assert_eq!(
        env.resource(&placed.resource_uuid)["backend_metadata"]["s3_quota_max_objects"],
        7
    );
}

async fn crash_then_restart(at: &'static str) {
    let env = env().await;
    let placed = env.place_create("Crashy", json!({"max_storage_limit": 1}));
    {
        let app = env.app_with(|inner| Crashing::at(inner, at));
        let results = app.order_cycle().await;
        assert!(
            matches!(&results[..], [(_, Outcome::Retry(_))]),
            "{results:?}"
        );
        assert_eq!(
            env.order_state(&placed.order_uuid),
            "executing",
            "a crash never errs the order"
        );
    } // the process is gone; only the SQLite file remains
    let app = env.app();
    assert_eq!(
        app.order_cycle().await,
        vec![(placed.order_uuid.clone(), Outcome::Done)]
    );

    let uid = env.resource(&placed.resource_uuid)["backend_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(env.croit.users(), vec![uid.clone()], "exactly one user");
    let live = env.croit.user(&uid).unwrap().keys;
    let reported = env.waldur.api_keys(&placed.resource_uuid);
    assert_eq!(reported.len(), 2, "two keys reported");
    assert_eq!(live.len(), 2, "two keys live, no orphan: {live:?}");
    for k in reported {
        assert!(live.contains(&(k.client_id, k.api_key)));
    }
}

#[tokio::test]
async fn crash_between_user_creation_and_set_backend_id_adopts_on_restart() {
    crash_then_restart("after_ensure_user").await;
}

#[tokio::test]
async fn crash_between_key_apply_and_report_leaves_no_orphan_key() {
    crash_then_restart("after_issue_key").await;
}

/// Issue 14's budget: a Create order costs at most ten Waldur requests (the per-cycle order
/// list and rotation sweep aside): no re-read after an approval Waldur accepted, none before
/// completing (Waldur refuses to complete an order that is not executing).
#[tokio::test]
async fn a_create_order_costs_at_most_ten_waldur_requests() {
    let env = env().await;
    let placed = env.place_create("Counted", json!({"max_storage_limit": 5}));
    let app = env.app();
    env.waldur.clear_calls();
    assert_eq!(
        app.order_cycle().await,
        vec![(placed.order_uuid.clone(), Outcome::Done)]
    );
    let per_order: Vec<String> = env
        .waldur
        .calls()
        .iter()
        .filter(|c| {
            let order_list = c.method == "GET" && c.path == "/api/marketplace-orders/";
            let rotation_sweep = c.path == "/api/marketplace-resource-api-keys/"
                && c.query.contains("state=Updating");
            !order_list && !rotation_sweep
        })
        .map(|c| format!("{} {} {}", c.method, c.path, c.status))
        .collect();
    assert!(
        per_order.len() <= 10,
        "{} requests: {per_order:#?}",
        per_order.len()
    );
    assert_eq!(env.waldur.api_keys(&placed.resource_uuid).len(), 2);
    assert_eq!(env.resource(&placed.resource_uuid)["state"], "OK");
}

/// Someone errs the order while the agent provisions it: the agent's completion is refused
/// (409) and it leaves the order as it found it.
#[tokio::test]
async fn an_order_erred_meanwhile_is_not_marked_done() {
    let env = env().await;
    let placed = env.place_create("Overtaken", json!({"max_storage_limit": 5}));
    let (waldur, order) = (env.waldur.clone(), placed.order_uuid.clone());
    let app = env.app_with(move |inner| {
        let (waldur, order) = (waldur.clone(), order.clone());
        Crashing::doing(inner, "after_issue_key", move || {
            waldur.set_order_state(&order, "erred")
        })
    });
    let results = app.order_cycle().await;
    assert!(
        !matches!(&results[..], [(_, Outcome::Erred(_))]),
        "{results:?}"
    );
    assert_eq!(env.order_state(&placed.order_uuid), "erred");
    let refused = env
        .waldur
        .calls()
        .iter()
        .filter(|c| c.path.ends_with("/set_state_done/"))
        .map(|c| c.status)
        .collect::<Vec<_>>();
    assert_eq!(refused, vec![409], "one completion, refused");
    assert_eq!(env.waldur.count_calls("POST", "/set_state_erred/"), 0);
}

#[tokio::test]
async fn waldur_503_storm_never_errs_and_completes_when_waldur_answers() {
    let env = env().await;
    let placed = env.place_create("Stormy", json!({"max_storage_limit": 3}));
    let app = env.app();

    // A long outage: the agent gives up for this cycle, the order is untouched.
    env.waldur.set_down(true);
    let results = app.order_cycle().await;
    env.waldur.set_down(false);
    assert!(
        results.iter().all(|(_, o)| !matches!(o, Outcome::Erred(_))),
        "{results:?}"
    );
    assert_eq!(env.order_state(&placed.order_uuid), "pending-provider");

    // A short storm inside the retry budget: done in the same cycle.
    env.waldur.fail_next(2, 503);
    assert_eq!(
        app.order_cycle().await,
        vec![(placed.order_uuid.clone(), Outcome::Done)]
    );
    assert_eq!(env.waldur.count_calls("POST", "/set_state_erred/"), 0);
    assert_eq!(env.waldur.api_keys(&placed.resource_uuid).len(), 2);
}

#[tokio::test]
async fn permanent_backend_error_errs_the_order_with_its_message() {
    let env = env().await;
    let placed = env.place_create("Backup", json!({"max_storage_limit": 3}));
    let slug = env.resource(&placed.resource_uuid)["slug"]
        .as_str()
        .unwrap()
        .to_string();
    env.croit
        .add_user(&format!("waldur-{slug}"), "someone@customer.example");
    let results = env.app().order_cycle().await;
    match &results[..] {
        [(_, Outcome::Erred(m))] => assert!(
            m.contains("already exists and is not owned by this resource"),
            "{m}"
        ),
        other => panic!("{other:?}"),
    }
    let order = env.waldur.order(&placed.order_uuid).unwrap();
    assert_eq!(order["state"], "erred");
    assert!(
        order["error_message"]
            .as_str()
            .unwrap()
            .contains("refusing to take it over")
    );
    assert_eq!(
        env.croit.user(&format!("waldur-{slug}")).unwrap().email,
        "someone@customer.example"
    );
}

#[tokio::test]
async fn bad_order_input_errs_with_a_readable_message_and_calls_no_backend() {
    let cases = [
        (
            json!({"name": "x"}),
            "max_storage_limit (GB, a whole number above 0) is required",
        ),
        (
            json!({"max_storage_limit": -5}),
            "max_storage_limit must not be negative (got -5)",
        ),
        (
            json!({"max_storage_limit": 10.5}),
            "max_storage_limit must be a whole number (got 10.5)",
        ),
        (
            json!({"max_storage_limit": "lots"}),
            "max_storage_limit must be a number (got \"lots\")",
        ),
        (
            json!({"max_storage_limit": 5_000_000_000u64}),
            "larger than this service allows",
        ),
        (
            json!({"max_storage_limit": 5, "max_object_limit": -1}),
            "max_object_limit must not be negative",
        ),
    ];
    for (attrs, needle) in cases {
        let env = env().await;
        let placed = env.place_create("Bad", attrs.clone());
        let results = env.app().order_cycle().await;
        match &results[..] {
            [(_, Outcome::Erred(m))] => assert!(m.contains(needle), "{attrs}: {m}"),
            other => panic!("{attrs}: {other:?}"),
        }
        let order = env.waldur.order(&placed.order_uuid).unwrap();
        assert_eq!(order["state"], "erred", "{attrs}");
        assert!(order["error_message"].as_str().unwrap().contains(needle));
        assert_eq!(
            env.waldur.count_calls("POST", "/approve_by_provider/"),
            0,
            "{attrs}: not approved"
        );
        assert_eq!(env.croit_writes(), 0, "{attrs}: the backend was called");
        assert_eq!(env.resource(&placed.resource_uuid)["state"], "Terminated");
    }
}

#[tokio::test]
async fn odd_resource_slug_errs_without_reaching_the_backend() {
    let env = env().await;
    let placed = env.place_create("Odd", json!({"max_storage_limit": 1}));
    env.waldur
        .set_resource_field(&placed.resource_uuid, "slug", json!("../../admin"));
    let results = env.app().order_cycle().await;
    match &results[..] {
        [(_, Outcome::Erred(m))] => assert!(m.contains("cannot name an S3 user"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(env.croit_writes(), 0);
}

#[tokio::test]
async fn debug_of_keys_never_shows_secrets() {
    let k = site_agent_sdk::keys::generate_key_pair().unwrap();
    assert!(!format!("{k:?}").contains(k.secret_key.expose_secret()));
}

#[tokio::test]
async fn terminate_with_purge_data_removes_the_user_and_its_buckets() {
    let mut env = env().await;
    env.backend_settings = format!(
        "api_url: {}\n      token: {CROIT_TOKEN}\n      s3_endpoint: {}\n      purge_data: true",
        env.croit.base_url(),
        env.croit.s3_endpoint()
    );
    let placed = env.place_create("Purge me", json!({"max_storage_limit": 1}));
    let app = env.app();
    app.order_cycle().await;
    let uid = env.resource(&placed.resource_uuid)["backend_id"]
        .as_str()
        .unwrap()
        .to_string();
    env.croit.add_bucket(&uid, "photos-of-cats", 4096, 4);
    let term = env.place_for(&placed.resource_uuid, "Terminate", json!({}), json!({}));
    assert_eq!(
        app.order_cycle().await,
        vec![(term.order_uuid, Outcome::Done)]
    );
    assert!(env.croit.user(&uid).is_none(), "user and data removed");
    assert_eq!(env.resource(&placed.resource_uuid)["state"], "Terminated");
}

/// Bucket options on a backend that has none: asking for the default is accepted (order forms
/// may always send them), asking for one on errs the order before anything is made.
#[tokio::test]
async fn bucket_options_a_backend_lacks_are_refused_before_anything_is_made() {
    let env = env().await;
    let app = env.app();
    let plain = env.place_create(
        "Defaults",
        json!({"max_storage_limit": 1, "versioning": false, "bucket_policy": "private",
               "encryption": false, "object_lock": false}),
    );
    assert_eq!(
        app.order_cycle().await,
        vec![(plain.order_uuid.clone(), Outcome::Done)]
    );
    let users = env.croit.users().len();
    let asks = env.place_create(
        "Versioned",
        json!({"max_storage_limit": 1, "versioning": true}),
    );
    match &app.order_cycle().await[..] {
        [(o, Outcome::Erred(m))] if *o == asks.order_uuid => {
            assert!(m.contains("Versioning is not supported on ceph_s3"), "{m}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(env.croit.users().len(), users, "no user made");
}
