//! The metrics and health endpoints of the real binary (`site-agent run` with
//! `metrics_listen`), scraped while it works: the shipped MyFSIO config against waldur-sim and
//! myfsio-sim, an order placed, usage sampled every second. The counters must move as the
//! work says, and no label may carry a resource's name or a secret.

mod support;

use serde_json::json;
use site_agent_sims::myfsio::{Generation, MyfsioSim};
use site_agent_sims::waldur::{OrderSeed, SimOptions, WaldurSim};
use std::time::{Duration, Instant};
use support::{BIN, order_state, shipped_config};

/// Kills the agent when the test ends, however it ends.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn get(url: &str) -> (u16, String) {
    match reqwest::get(url).await {
        Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
        Err(_) => (0, String::new()),
    }
}

/// The value of the first sample line starting with `series` (labels included as given).
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_endpoints_report_the_work_done() {
    site_agent_sdk::http::ensure_crypto_provider();
    let waldur = WaldurSim::start(SimOptions::default()).await.unwrap();
    let fs = MyfsioSim::start(Generation::Rs, "localadmin", "admin-secret")
        .await
        .unwrap();
    fs.set_admin_rate_limit(100_000, Duration::from_secs(60));
    let dir = tempfile::tempdir().unwrap();
    let (offering, yaml) = shipped_config(
        &waldur,
        "MyFSIO S3",
        "myfsio.yaml",
        "0ff00000000000000000000000000006",
        dir.path(),
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let yaml = yaml
        .replace("http://127.0.0.1:5000", &fs.url())
        .replace("http://127.0.0.1:5100", &fs.console_url())
        .replace("\"change-me\"", "\"admin-secret\"")
        .replace(
            "timezone: \"UTC\"",
            &format!(
                "timezone: \"UTC\"\nmetrics_listen: \"127.0.0.1:{port}\"\nusage_sampling_schedule: \"* * * * * *\""
            ),
        );
    let cfg = dir.path().join("myfsio.yaml");
    std::fs::write(&cfg, yaml).unwrap();
    let create = waldur.place_order(OrderSeed {
        offering_uuid: offering.clone(),
        order_type: "Create".into(),
        resource_name: "Secret Project Data".into(),
        customer_slug: "acme".into(),
        project_slug: "acme-project".into(),
        attributes: json!({"max_storage_limit": 2}),
        limits: json!({}),
        ..OrderSeed::default()
    });
    let _agent = Running(
        std::process::Command::new(BIN)
            .args(["run", "-c", cfg.to_str().unwrap()])
            .env("RUST_LOG", "info")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let base = format!("http://127.0.0.1:{port}");
    // Wait for the order and a usage sample.
    let deadline = Instant::now() + Duration::from_secs(60);
    let text = loop {
        let (status, text) = get(&format!("{base}/metrics")).await;
        let done = order_state(&waldur, &create.order_uuid).0 == "done";
        let sampled = value(
            &text,
            "site_agent_usage_samples_total{offering=\"MyFSIO S3\",outcome=\"taken\"}",
        )
        .is_some_and(|v| v >= 1.0);
        if status == 200 && done && sampled {
            break text;
        }
        assert!(Instant::now() < deadline, "no progress: {status}\n{text}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    for (series, at_least) in [
        (
            "site_agent_orders_total{offering=\"MyFSIO S3\",type=\"Create\",outcome=\"done\"}",
            1.0,
        ),
        (
            "site_agent_order_duration_seconds_count{type=\"Create\"}",
            1.0,
        ),
        (
            "site_agent_backend_calls_total{backend=\"myfsio\",op=\"ensure_user\",result=\"ok\"}",
            1.0,
        ),
        (
            "site_agent_backend_calls_total{backend=\"myfsio\",op=\"issue_key\",result=\"ok\"}",
            2.0,
        ),
        (
            "site_agent_waldur_requests_total{endpoint=\"list orders\",status=\"200\"}",
            1.0,
        ),
        (
            "site_agent_waldur_requests_total{endpoint=\"set_state_done\",status=\"200\"}",
            1.0,
        ),
        ("site_agent_build_info{version=", 1.0),
        ("site_agent_database_size_bytes", 1.0),
    ] {
        let v = value(&text, series);
        assert!(
            v.is_some_and(|v| v >= at_least),
            "{series} = {v:?}, want ≥ {at_least}:\n{text}"
        );
    }
    assert!(
        text.contains("site_agent_outbox_rows{state=\"pending\"}"),
        "{text}"
    );
    assert!(
        text.contains("site_agent_loop_last_success_age_seconds{loop=\"orders:MyFSIO S3\"}"),
        "{text}"
    );
    // Label values: fixed sets and config names only.
    let uid = waldur.resource(&create.resource_uuid).unwrap()["backend_id"]
        .as_str()
        .unwrap()
        .to_string();
    for never in [
        "Secret Project Data",
        uid.as_str(),
        create.resource_uuid.as_str(),
        "admin-secret",
        &waldur.provider_token(),
    ] {
        assert!(!text.contains(never), "{never:?} in a label:\n{text}");
    }
    assert_eq!(get(&format!("{base}/healthz")).await.0, 200);
    let (ready, body) = get(&format!("{base}/readyz")).await;
    assert_eq!(ready, 200, "{body}");
    assert_eq!(get(&format!("{base}/nothing")).await.0, 404);
}

#[test]
fn a_port_that_cannot_be_bound_stops_the_start() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.yaml");
    std::fs::write(
        &cfg,
        format!(
            "metrics_listen: \"127.0.0.1:{port}\"\ndatabase_path: \"{}\"\nofferings:\n  - name: \"S3\"\n    waldur_api_url: \"http://127.0.0.1:9/api/\"\n    waldur_api_token: \"0123456789abcdef0123456789abcdef01234567\"\n    waldur_offering_uuid: \"0ff00000000000000000000000000009\"\n    backend_type: \"myfsio\"\n    backend_settings:\n      s3_endpoint: \"http://127.0.0.1:9\"\n      console_url: \"http://127.0.0.1:9\"\n      admin_access_key: \"a\"\n      admin_secret_key: \"b\"\n",
            dir.path().join("state.sqlite3").display()
        ),
    )
    .unwrap();
    let out = std::process::Command::new(BIN)
        .args(["run", "-c", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{log}");
    assert!(log.contains("metrics_listen"), "{log}");
    drop(taken);
}
