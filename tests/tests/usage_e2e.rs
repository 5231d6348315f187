//! Usage billing end to end: samples taken over simulated time on croit-sim, figures computed
//! and delivered to waldur-sim exactly once, across outages, restarts and month ends.

mod common;

use chrono::{DateTime, Duration, Utc};
use common::*;
use serde_json::json;
use site_agent::app::App;
use site_agent::store::usage::OutboxState;
use site_agent::usage::clock::{Clock, ManualClock};
use std::sync::Arc;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

struct Billing {
    env: Env,
    clock: Arc<ManualClock>,
    resource: String,
    uid: String,
}

impl Billing {
    async fn new(start: &str) -> Billing {
        let env = env().await;
        let clock = Arc::new(ManualClock::new(at(start)));
        env.waldur.set_now(at(start));
        let placed = env.place_create("Billed", json!({"max_storage_limit": 1000}));
        let app = env.usage_app(&env.usage_config_yaml(), clock.clone());
        app.order_cycle().await;
        let uid = env.resource(&placed.resource_uuid)["backend_id"]
            .as_str()
            .unwrap()
            .to_string();
        Billing {
            env,
            clock,
            resource: placed.resource_uuid,
            uid,
        }
    }

    fn app(&self) -> App {
        self.env
            .usage_app(&self.env.usage_config_yaml(), self.clock.clone())
    }

    /// Moves both clocks.
    fn advance(&self, d: Duration) {
        self.clock.advance(d);
        self.env.waldur.set_now(self.clock.now());
    }

    /// Samples every 10 minutes for `slots` slots (the first one now).
    async fn sample_for(&self, app: &App, slots: usize) {
        for i in 0..slots {
            if i > 0 {
                self.advance(Duration::minutes(10));
            }
            app.usage_sample_cycle().await;
        }
    }

    /// What Waldur holds for the resource and component in the period `YYYY-MM`.
    fn held(&self, component: &str, period: &str) -> Option<String> {
        self.env
            .waldur
            .component_usages(&self.resource)
            .into_iter()
            .find(|u| {
                u["type"] == component
                    && u["billing_period"]
                        .as_str()
                        .unwrap_or("")
                        .starts_with(period)
            })
            .and_then(|u| u["usage"].as_str().map(str::to_string))
    }

    /// `n` more resources of the offering (`<prefix>-<i>`), each with a stamped croit user
    /// holding one GB in `objects(i)` objects; their UUIDs.
    fn add_resources(&self, prefix: &str, n: u64, objects: impl Fn(u64) -> u64) -> Vec<String> {
        (0..n)
            .map(|i| {
                let uid = format!("{prefix}-{i}");
                let resource = self
                    .env
                    .waldur
                    .add_resource_ok(OFFERING, &uid, &uid, json!({}));
                let stamp = site_agent_sdk::Tenant::new(&uid, &resource)
                    .unwrap()
                    .stamp();
                self.env.croit.add_user(&uid, &stamp);
                self.env
                    .croit
                    .add_bucket(&uid, &format!("{uid}-data"), GB, objects(i));
                resource
            })
            .collect()
    }

    /// Someone else (another agent) puts `amount` of `component` into Waldur for `resource`.
    async fn waldur_holds(&self, resource: &str, component: &str, amount: &str) {
        let r = reqwest::Client::new()
            .post(format!(
                "{}set_usage/",
                self.env
                    .waldur
                    .api_url()
                    .replace("/api/", "/api/marketplace-component-usages/")
            ))
            .header(
                "Authorization",
                format!("Token {}", self.env.waldur.provider_token()),
            )
            .json(
                &json!({"resource": resource, "date": self.clock.now().to_rfc3339(),
                "usages": [{"type": component, "amount": amount}]}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }

    /// GET calls on Waldur's component usages so far.
    fn usage_reads(&self) -> usize {
        self.env
            .waldur
            .count_calls("GET", "/api/marketplace-component-usages/")
    }

    fn set_usage_calls(&self) -> usize {
        self.env.waldur.count_calls("POST", "/set_usage/")
    }
}

const GB: u64 = 1_000_000_000;

#[tokio::test]
async fn sampled_usage_is_integrated_and_reported() {
    let b = Billing::new("2026-11-10T00:00:00Z").await;
    b.env.croit.add_bucket(&b.uid, "data", 100 * GB, 40);
    let app = b.app();
    b.sample_for(&app, 144).await; // one day, every 10 minutes
    app.usage_report_cycle().await;
    // 143 intervals of 600 s at 100 GB (the last reading is just taken) = 99.3055... GB-days.
    assert_eq!(b.held("s3_storage", "2026-11").as_deref(), Some("99.31"));
    assert_eq!(b.held("s3_objects", "2026-11").as_deref(), Some("40.00"));
    assert_eq!(b.set_usage_calls(), 1);

    // Unchanged figures are not sent again.
    app.usage_report_cycle().await;
    assert_eq!(b.set_usage_calls(), 1);

    // Ten more minutes: one more interval = exactly 100 GB-days; the object peak is unchanged.
    b.advance(Duration::minutes(10));
    app.usage_sample_cycle().await;
    app.usage_report_cycle().await;
    assert_eq!(b.held("s3_storage", "2026-11").as_deref(), Some("100.00"));
    assert_eq!(b.set_usage_calls(), 2);
    let body = b
        .env
        .waldur
        .calls()
        .into_iter()
        .rev()
        .find(|c| c.path.ends_with("/set_usage/"))
        .unwrap()
        .body;
    assert_eq!(
        body["usages"],
        json!([{"type": "s3_storage", "amount": "100.00", "recurring": false}]),
        "only what changed"
    );
}

#[tokio::test]
async fn a_day_long_waldur_outage_loses_nothing_and_delivers_once() {
    let b = Billing::new("2026-11-10T00:00:00Z").await;
    b.env.croit.add_bucket(&b.uid, "data", 48 * GB, 1);
    let app = b.app();
    app.usage_sample_cycle().await;
    b.env.waldur.set_down(true);
    for _ in 0..48 {
        b.advance(Duration::minutes(30));
        app.usage_sample_cycle().await;
        app.usage_report_cycle().await;
    }
    assert_eq!(
        b.set_usage_calls(),
        0,
        "nothing reached Waldur while it was down"
    );
    b.env.waldur.set_down(false);
    let before = b.env.waldur.calls().len();
    app.usage_report_cycle().await;
    app.usage_report_cycle().await;
    // 48 GB for exactly one day, sampled through the outage from the stored resource list.
    assert_eq!(b.held("s3_storage", "2026-11").as_deref(), Some("48.00"));
    let posts = b.env.waldur.calls()[before..]
        .iter()
        .filter(|c| c.path.ends_with("/set_usage/"))
        .count();
    assert_eq!(posts, 1, "delivered once");
}

#[tokio::test]
async fn a_restart_mid_month_keeps_integrating_from_stored_samples() {
    let b = Billing::new("2026-11-10T00:00:00Z").await;
    b.env.croit.add_bucket(&b.uid, "data", 24 * GB, 1);
    {
        let app = b.app();
        b.sample_for(&app, 73).await; // 12 hours
        app.usage_report_cycle().await;
        assert_eq!(b.held("s3_storage", "2026-11").as_deref(), Some("12.00"));
    } // restart
    let app = b.app();
    b.advance(Duration::minutes(10));
    b.sample_for(&app, 72).await; // the next 12 hours
    app.usage_report_cycle().await;
    assert_eq!(
        b.held("s3_storage", "2026-11").as_deref(),
        Some("24.00"),
        "the first half still counts"
    );
}

#[tokio::test]
async fn the_month_is_closed_before_it_ends_and_not_reopened() {
    let b = Billing::new("2026-11-30T23:00:00Z").await;
    b.env.croit.add_bucket(&b.uid, "data", 24 * GB, 1);
    let app = b.app();
    b.sample_for(&app, 6).await; // 23:00 .. 23:50
    app.usage_report_cycle().await;
    let before_close = b.set_usage_calls();
    b.advance(Duration::minutes(6)); // 23:56, inside the closing window (5 minutes)
    let reports = app.usage_report_cycle().await;
    assert_eq!(reports[0].1.closed, vec!["2026-11".to_string()]);
    // The closing sample holds to the end: 24 GB for the hour 23:00-24:00 = 1 GB-day.
    assert_eq!(b.held("s3_storage", "2026-11").as_deref(), Some("1.00"));
    assert!(b.set_usage_calls() > before_close);
    let close_call = b
        .env
        .waldur
        .calls()
        .into_iter()
        .rev()
        .find(|c| c.path.ends_with("/set_usage/"))
        .unwrap();
    let date = at(close_call.body["date"].as_str().unwrap());
    assert!(
        date < at("2026-12-01T00:00:00Z"),
        "the closing figure is dated inside November: {date}"
    );

    // After the boundary: December starts from its own samples; November is not sent again.
    b.advance(Duration::minutes(14)); // 00:10
    app.usage_sample_cycle().await;
    b.advance(Duration::minutes(10));
    app.usage_sample_cycle().await;
    app.usage_report_cycle().await;
    assert_eq!(b.held("s3_storage", "2026-11").as_deref(), Some("1.00"));
    assert!(b.held("s3_storage", "2026-12").is_some());
    let nov_posts = b
        .env
        .waldur
        .calls()
        .iter()
        .filter(|c| {
            c.path.ends_with("/set_usage/")
                && c.body["date"].as_str().unwrap_or("").starts_with("2026-11")
        })
        .count();
    assert_eq!(nov_posts, 2, "one in-month report and the closing figure");
}

#[tokio::test]
async fn a_period_missed_at_its_end_waits_for_a_staff_token() {
    let b = Billing::new("2026-11-29T00:00:00Z").await;
    b.env.croit.add_bucket(&b.uid, "data", 24 * GB, 1);
    let app = b.app();
    b.sample_for(&app, 7).await; // one hour
    // The agent is down across the boundary; it comes back on December 1st.
    b.advance(Duration::days(2));
    let reports = app.usage_report_cycle().await;
    assert!(reports[0].1.closed.contains(&"2026-11".to_string()));
    assert_eq!(
        b.held("s3_storage", "2026-11"),
        None,
        "a provider token cannot backfill November"
    );
    let rows = app
        .store
        .outbox_rows(None, Some("2026-11".into()))
        .await
        .unwrap();
    assert!(
        rows.iter().all(|r| r.state == OutboxState::NeedsStaff),
        "{rows:?}"
    );

    // The operator switches to a staff token: the next cycle backfills it, dated mid-November.
    let staff_yaml = b
        .env
        .usage_config_yaml()
        .replace(&b.env.waldur.provider_token(), &b.env.waldur.staff_token());
    let staff_app = b.env.usage_app(&staff_yaml, b.clock.clone());
    staff_app.usage_report_cycle().await;
    // 24 GB held for the hour sampled plus one interval: 70 minutes = 1.17 GB-days.
    assert_eq!(b.held("s3_storage", "2026-11").as_deref(), Some("1.17"));
    let rows = app
        .store
        .outbox_rows(None, Some("2026-11".into()))
        .await
        .unwrap();
    assert!(
        rows.iter().all(|r| r.state == OutboxState::Sent),
        "{rows:?}"
    );
}

#[tokio::test]
async fn an_unmeasurable_user_is_reported_as_nothing_not_zero() {
    let b = Billing::new("2026-11-10T00:00:00Z").await;
    // A second resource whose user vanished from croit: its usage cannot be read.
    let other = b.env.place_create("Ghost", json!({"max_storage_limit": 1}));
    let app = b.app();
    app.order_cycle().await;
    let ghost_uid = b.env.resource(&other.resource_uuid)["backend_id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = reqwest::Client::new()
        .delete(format!(
            "{}/api/s3/users/{ghost_uid}",
            b.env.croit.base_url()
        ))
        .bearer_auth(CROIT_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    b.env.croit.add_bucket(&b.uid, "data", GB, 1);
    b.sample_for(&app, 3).await;
    app.usage_report_cycle().await;
    assert!(
        b.held("s3_storage", "2026-11").is_some(),
        "the measurable resource is billed"
    );
    assert!(
        b.env
            .waldur
            .component_usages(&other.resource_uuid)
            .is_empty(),
        "the ghost gets no figure at all"
    );
    assert!(
        !b.env
            .waldur
            .calls()
            .iter()
            .any(|c| c.path.ends_with("/set_usage/") && c.body["resource"] == other.resource_uuid),
        "no zero was sent for it"
    );
}

#[tokio::test]
async fn a_lower_figure_than_waldur_holds_is_an_anomaly_not_a_decrease() {
    let b = Billing::new("2026-11-10T00:00:00Z").await;
    b.env.croit.add_bucket(&b.uid, "data", GB, 1);
    // Someone put a higher figure in Waldur (e.g. the Python agent from the month's start).
    b.waldur_holds(&b.resource, "s3_storage", "500.00").await;
    let app = b.app();
    b.sample_for(&app, 3).await;
    app.usage_report_cycle().await;
    assert_eq!(
        b.held("s3_storage", "2026-11").as_deref(),
        Some("500.00"),
        "never lowered"
    );
    let rows = app
        .store
        .outbox_rows(Some(b.resource.clone()), None)
        .await
        .unwrap();
    let storage = rows.iter().find(|r| r.component == "s3_storage").unwrap();
    assert_eq!(storage.state, OutboxState::Anomaly);
    assert!(
        storage.last_error.contains("never lowered"),
        "{}",
        storage.last_error
    );
    assert_eq!(
        b.held("s3_objects", "2026-11").as_deref(),
        Some("1.00"),
        "other components still go"
    );
}

#[tokio::test]
async fn upstream_croit_usage_bills_gb_days_from_croits_own_series() {
    let b = Billing::new("2026-11-03T00:00:00Z").await;
    // A drop-in upstream config: `reporting_backend: croit_usage`, no `usage:` keys.
    let yaml = b.env.config_yaml().replace(
        "    order_processing_backend: ceph_s3\n",
        "    order_processing_backend: ceph_s3\n    reporting_backend: croit_usage\n",
    );
    let app = b.env.usage_app(&yaml, b.clock.clone());
    // croit's series covers the month since before the agent was installed: 10 GB every 3 h.
    let start = at("2026-11-01T00:00:00Z").timestamp();
    let series: Vec<(i64, Option<u64>)> = (0..16)
        .map(|i| (start + i * 3 * 3600, Some(10 * GB)))
        .collect();
    b.env.croit.set_series(&b.uid, series);
    app.usage_report_cycle().await;
    // 48 hours at 10 GB (the last point holds one 3-hour step) = 20 GB-days.
    assert_eq!(b.held("s3_storage", "2026-11").as_deref(), Some("20.00"));
    assert_eq!(
        b.held("s3_objects", "2026-11"),
        None,
        "only the storage component is billed"
    );
}

#[tokio::test]
async fn the_usage_since_the_last_report_is_sent_before_termination() {
    let b = Billing::new("2026-11-10T00:00:00Z").await;
    b.env.croit.add_bucket(&b.uid, "data", 10 * GB, 5);
    let app = b.app();
    b.sample_for(&app, 7).await; // 00:00 .. 01:00
    app.usage_report_cycle().await;
    assert_eq!(b.held("s3_storage", "2026-11").as_deref(), Some("0.42"));
    // Twelve more hours are sampled but not yet reported when the customer empties the
    // bucket and terminates the resource.
    for _ in 0..72 {
        b.advance(Duration::minutes(10));
        app.usage_sample_cycle().await;
    }
    b.advance(Duration::minutes(5));
    b.env.croit.remove_bucket(&b.uid, "data");
    let term = b
        .env
        .place_for(&b.resource, "Terminate", json!({}), json!({}));
    assert_eq!(
        app.order_cycle().await,
        vec![(term.order_uuid.clone(), site_agent::orders::Outcome::Done)]
    );
    assert_eq!(b.env.resource(&b.resource)["state"], "Terminated");
    // 10 GB from 00:00 to 13:05 (the last full reading holds until the final one, 0 bytes).
    assert_eq!(b.held("s3_storage", "2026-11").as_deref(), Some("5.45"));
    let calls = b.env.waldur.calls();
    let last_usage = calls
        .iter()
        .rposition(|c| c.path.ends_with("/set_usage/") && c.status < 300)
        .expect("usage sent");
    let done = calls
        .iter()
        .rposition(|c| c.path.ends_with("/set_state_done/"))
        .unwrap();
    assert!(last_usage < done, "sent while Waldur still accepted it");
    // Nothing is left undelivered for the terminated resource.
    app.usage_report_cycle().await;
    let pending = app.store.outbox_pending().await.unwrap();
    assert!(
        pending.iter().all(|r| r.resource_uuid != b.resource),
        "{pending:?}"
    );
}

#[tokio::test]
async fn a_backend_that_is_down_costs_one_ping_per_cycle_not_a_call_per_resource() {
    let b = Billing::new("2026-11-10T00:00:00Z").await;
    for i in 0..5 {
        b.env
            .place_create(&format!("More {i}"), json!({"max_storage_limit": 1}));
    }
    let app = b.app();
    app.order_cycle().await;
    app.usage_sample_cycle().await;
    let buckets_calls = |b: &Billing| {
        b.env
            .croit
            .calls()
            .iter()
            .filter(|c| c.path.ends_with("/buckets"))
            .count()
    };
    let before = buckets_calls(&b);
    assert!(before >= 6, "the six users were sampled");
    b.env.croit.fail_next(1000, 503, "maintenance");
    b.advance(Duration::minutes(10));
    let stats = app.reporters[0].sample_cycle().await;
    assert_eq!((stats.sampled, stats.failed), (0, 6));
    assert_eq!(
        buckets_calls(&b),
        before,
        "no per-resource call while the backend is down"
    );
    b.env.croit.fail_next(0, 503, "");
    app.usage_report_cycle().await;
    assert!(
        b.held("s3_storage", "2026-11").is_some(),
        "what was measured before is still billed"
    );
}

#[tokio::test]
async fn many_figures_are_compared_with_one_offering_wide_read() {
    // 150 resources (300 figures): past the point where Waldur's figures are read once for the
    // offering, not once per resource. The comparison must still skip what Waldur holds and
    // never lower a figure that only grows.
    let b = Billing::new("2026-11-10T00:00:00Z").await;
    let resources = b.add_resources("bulk", 150, |i| 1 + i);
    let app = b.app();
    b.sample_for(&app, 2).await;
    // Waldur already holds resource 0's object count (as computed: 1) and more than the
    // agent will compute for resource 1 (2 objects).
    b.waldur_holds(&resources[0], "s3_objects", "1.00").await;
    b.waldur_holds(&resources[1], "s3_objects", "900.00").await;
    let reads_before = b.usage_reads();
    let posts_before = b.set_usage_calls();
    app.usage_report_cycle().await;
    let reads = b.usage_reads() - reads_before;
    assert!(
        reads <= 4,
        "one paged read for the offering, not one per resource: {reads}"
    );
    let usages = |r: &str| b.env.waldur.component_usages(r);
    let objects = |r: &str| {
        usages(r)
            .into_iter()
            .find(|u| u["type"] == "s3_objects")
            .and_then(|u| u["usage"].as_str().map(str::to_string))
    };
    assert_eq!(objects(&resources[0]).as_deref(), Some("1.00"));
    assert_eq!(
        objects(&resources[1]).as_deref(),
        Some("900.00"),
        "never lowered"
    );
    assert_eq!(objects(&resources[2]).as_deref(), Some("3.00"));
    let rows = app
        .store
        .outbox_rows(Some(resources[1].clone()), None)
        .await
        .unwrap();
    let anomaly = rows.iter().find(|r| r.component == "s3_objects").unwrap();
    assert_eq!(anomaly.state, OutboxState::Anomaly);
    // 151 resources reported; resource 0's object figure was skipped as equal but its
    // storage went, so every resource got exactly one set_usage.
    assert_eq!(b.set_usage_calls() - posts_before, 151);
}

#[tokio::test]
async fn an_offering_wide_read_that_shifts_while_paged_is_not_trusted() {
    // Waldur holds a figure for each of 150 resources (two pages), and its order changes
    // between the pages: rows are missed and repeated. The agent must notice and compare
    // resource by resource — never take a missed row for "Waldur holds nothing".
    let b = Billing::new("2026-11-10T00:00:00Z").await;
    let resources = b.add_resources("shift", 150, |_| 1);
    // Every resource's object count is already in Waldur: 900 (more than the agent's 1).
    for r in &resources {
        b.waldur_holds(r, "s3_objects", "900.00").await;
    }
    b.env.waldur.set_unstable_usage_order(true);
    let app = b.app();
    b.sample_for(&app, 2).await;
    let reads_before = b.usage_reads();
    app.usage_report_cycle().await;
    let reads = b.usage_reads() - reads_before;
    assert!(reads > 150, "fell back to one read per resource: {reads}");
    for r in &resources {
        let objects = b
            .env
            .waldur
            .component_usages(r)
            .into_iter()
            .find(|u| u["type"] == "s3_objects")
            .and_then(|u| u["usage"].as_str().map(str::to_string));
        assert_eq!(objects.as_deref(), Some("900.00"), "never lowered ({r})");
    }
}
