//! An operator of the croit-s3 plugin switches: their config (the plugin page's example, only
//! pointed at the simulators and polled instead of using STOMP) runs every role with the
//! meaning it had.

mod common;

use chrono::{DateTime, Duration, Utc};
use common::*;
use serde_json::json;
use site_agent::orders::Outcome;
use site_agent::usage::clock::{Clock, ManualClock};
use std::sync::Arc;

const GIB: u64 = 1 << 30;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// The croit-s3 plugin's documented example, its URLs and token pointed at the simulators.
fn plugin_config(env: &Env, components: &str) -> String {
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

    # Event processing settings
    stomp_enabled: false
    websocket_use_tls: false

    # Backend type
    backend_type: "croit_s3"

    # Croit S3-specific backend settings
    backend_settings:
      api_url: "{croit}"
      token: "{CROIT_TOKEN}"
      verify_ssl: false
      user_prefix: "waldur_"
      slug_separator: "_"
      max_username_length: 64
      default_tenant: ""

    # Component mapping
    backend_components:
{components}"#,
        db = env.dir.path().join("state.sqlite3").display(),
        hb = env.dir.path().join("heartbeat").display(),
        api = env.waldur.api_url(),
        token = env.waldur.provider_token(),
        off = env.offering,
        croit = env.croit.base_url(),
    )
}

const PLUGIN_COMPONENTS: &str = r#"      s3_storage:
        accounting_type: "usage"
        backend_name: "storage"
        unit_factor: 1073741824  # Convert GB to bytes
        enforce_limits: true
      s3_objects:
        accounting_type: "usage"
        backend_name: "objects"
        enforce_limits: true
"#;

#[tokio::test]
async fn the_plugin_config_fulfils_orders_and_bills_as_the_plugin_did() {
    let env = env().await;
    let start = "2026-11-10T08:00:00Z";
    let clock = Arc::new(ManualClock::new(at(start)));
    env.waldur.set_now(at(start));
    let app = env.usage_app(&plugin_config(&env, PLUGIN_COMPONENTS), clock.clone());

    // The plugin's order form: `storage_limit` (GB) and `object_limit`.
    let placed = env.place_create(
        "Bucket store",
        json!({"storage_limit": 100, "object_limit": 10000}),
    );
    let outcomes = app.order_cycle().await;
    assert_eq!(outcomes.len(), 1, "{outcomes:?}");
    assert_eq!(outcomes[0].1, Outcome::Done, "{outcomes:?}");

    // Named as the plugin named users: prefix, org, project, first 8 of the resource UUID.
    let resource = env.resource(&placed.resource_uuid);
    let uid = resource["backend_id"].as_str().unwrap().to_string();
    let uuid8 = &placed.resource_uuid.replace('-', "")[..8];
    assert_eq!(uid, format!("waldur_acme_acme_ml_{uuid8}"));

    // Both dimensions enforced (`enforce_limits: true`), on the user and on each bucket.
    let user = env.croit.user(&uid).unwrap();
    for q in [&user.user_quota, &user.bucket_quota] {
        assert!(q.enabled, "{user:?}");
        assert_eq!(q.max_size, 100 * GIB as i64);
        assert_eq!(q.max_objects, 10_000);
    }
    // The customer's credentials are Waldur resource API keys, never metadata.
    assert_eq!(env.waldur.api_keys(&placed.resource_uuid).len(), 2);
    assert_keys_match(&env, &placed.resource_uuid, &uid);
    let metadata = &resource["backend_metadata"];
    assert!(!metadata.to_string().contains("secret"), "{metadata}");
    assert_eq!(
        metadata["storage_summary"],
        json!({"bucket_count": 0, "total_size_bytes": 0, "total_objects": 0, "buckets": []})
    );
    assert_eq!(
        metadata["quotas"]["bucket_quota"]["max_objects"], 10_000,
        "{metadata}"
    );

    // Usage as the plugin reported it: stored GB (the component's unit) and objects at the
    // time of the report; to the hundredth here, where the plugin floored to whole units.
    env.croit.add_bucket(&uid, "data", 3 * GIB + GIB / 2, 300);
    app.usage_sample_cycle().await;
    clock.advance(Duration::minutes(30));
    env.waldur.set_now(clock.now());
    let reports = app.usage_report_cycle().await;
    assert_eq!(reports[0].1.failed, 0, "{reports:?}");
    let held = |component: &str| {
        env.waldur
            .component_usages(&placed.resource_uuid)
            .into_iter()
            .find(|u| u["type"] == component)
            .and_then(|u| u["usage"].as_str().map(str::to_string))
    };
    assert_eq!(held("s3_storage").as_deref(), Some("3.50"));
    assert_eq!(held("s3_objects").as_deref(), Some("300.00"));

    // The reconcile pass refreshes what the portal shows of the storage, keeping the rest.
    env.waldur.set_resource_field(
        &placed.resource_uuid,
        "backend_metadata",
        json!({"s3_user": uid, "operator_note": "kept"}),
    );
    app.reconcile_cycle().await;
    let metadata = &env.resource(&placed.resource_uuid)["backend_metadata"];
    assert_eq!(
        metadata["storage_summary"],
        json!({"bucket_count": 1, "total_size_bytes": 3 * GIB + GIB / 2, "total_objects": 300,
               "buckets": [{"name": "data", "size_bytes": 3 * GIB + GIB / 2, "objects": 300}]})
    );
    assert_eq!(metadata["operator_note"], "kept");
    assert_eq!(
        metadata["quotas"]["user_quota"]["max_size_bytes"],
        100 * GIB
    );
}

#[tokio::test]
async fn a_dimension_without_enforce_limits_gets_no_quota() {
    let env = env().await;
    let components = PLUGIN_COMPONENTS.replacen("enforce_limits: true", "enforce_limits: false", 2);
    let components = components.replacen("enforce_limits: false", "enforce_limits: true", 1);
    let app = env.usage_app(
        &plugin_config(&env, &components),
        Arc::new(ManualClock::new(Utc::now())),
    );
    let placed = env.place_create(
        "Objects unlimited",
        json!({"storage_limit": 5, "object_limit": 500}),
    );
    assert_eq!(app.order_cycle().await[0].1, Outcome::Done);
    let uid = env.resource(&placed.resource_uuid)["backend_id"]
        .as_str()
        .unwrap()
        .to_string();
    let user = env.croit.user(&uid).unwrap();
    assert_eq!(user.user_quota.max_size, 5 * GIB as i64, "{user:?}");
    assert_eq!(
        user.user_quota.max_objects, -1,
        "objects not enforced: {user:?}"
    );
    // The reconcile pass sees no drift in what is not enforced.
    let reports = app.reconcile_cycle().await;
    assert!(
        reports.iter().all(|(_, r)| !r.quota_repaired),
        "{reports:?}"
    );
    assert_eq!(env.croit.user(&uid).unwrap().user_quota.max_objects, -1);
}

/// The plugin's offering changes limits through resource options
/// (`create_orders_on_resource_option_change`): the Update carries `new_options`, Waldur
/// merges them into `resource.options` when it is done, and every later pass keeps them.
#[tokio::test]
async fn an_options_change_update_is_applied_and_kept_by_the_reconcile_pass() {
    let env = env().await;
    let yaml = plugin_config(&env, PLUGIN_COMPONENTS);
    let app = env.usage_app(&yaml, Arc::new(ManualClock::new(Utc::now())));
    let placed = env.place_create(
        "Grows",
        json!({"storage_limit": 100, "object_limit": 10000}),
    );
    assert_eq!(app.order_cycle().await[0].1, Outcome::Done);
    let uid = env.resource(&placed.resource_uuid)["backend_id"]
        .as_str()
        .unwrap()
        .to_string();

    let update = env.place_for(
        &placed.resource_uuid,
        "Update",
        json!({
            "old_options": {"storage_limit": 100, "object_limit": 10000},
            "new_options": {"storage_limit": 250, "object_limit": 20000},
        }),
        json!({}),
    );
    let outcomes = app.order_cycle().await;
    assert_eq!(outcomes[0].1, Outcome::Done, "{outcomes:?}");
    assert_eq!(env.order_state(&update.order_uuid), "done");
    assert_eq!(
        env.resource(&placed.resource_uuid)["options"]["storage_limit"],
        250
    );
    let quota = |env: &Env| env.croit.user(&uid).unwrap().user_quota;
    assert_eq!(quota(&env).max_size, 250 * GIB as i64);
    assert_eq!(quota(&env).max_objects, 20_000);

    for _ in 0..2 {
        let reports = app.reconcile_cycle().await;
        assert!(
            reports.iter().all(|(_, r)| !r.quota_repaired),
            "{reports:?}"
        );
    }
    assert_eq!(quota(&env).max_size, 250 * GIB as i64);

    // An agent without the journal (a new database) reads Waldur's record: the options win
    // over the Create's attributes.
    drop(app);
    let fresh = env.usage_app(
        &yaml.replace("state.sqlite3", "fresh.sqlite3"),
        Arc::new(ManualClock::new(Utc::now())),
    );
    let reports = fresh.reconcile_cycle().await;
    assert!(
        reports.iter().all(|(_, r)| !r.quota_repaired),
        "{reports:?}"
    );
    assert_eq!(quota(&env).max_size, 250 * GIB as i64);
    assert_eq!(quota(&env).max_objects, 20_000);
}
