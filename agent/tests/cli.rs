//! The command line, run as the real binary.

use site_agent::store::Store;
use site_agent::store::usage::{Figure, FigureKey, KnownResource, Sample};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_site-agent");

fn config(dir: &std::path::Path) -> std::path::PathBuf {
    let yaml = format!(
        r#"
timezone: UTC
database_path: {db}
offerings:
  - name: S3
    waldur_api_url: http://127.0.0.1:9/api/
    waldur_api_token: token-canary-0000
    waldur_offering_uuid: 0ff00000000000000000000000000001
    backend_type: ceph_s3
    reporting_backend: ceph_s3
    backend_settings:
      api_url: http://127.0.0.1:9
      token: croit-canary-0000
      s3_endpoint: https://s3.test
    backend_components:
      s3_storage:
        backend_name: storage
        measured_unit: GB-day
        accounting_type: usage
        label: Storage
        unit_factor: 1000000000
        usage: storage_latest
"#,
        db = dir.join("state.sqlite3").display()
    );
    let path = dir.join("config.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn help_explains_modes_and_commands() {
    let (code, out, _) = run(&["--help"]);
    assert_eq!(code, 0);
    for needle in [
        "order_process",
        "report",
        "membership_sync",
        "event_process",
        "check-config",
        "usage",
        "run",
    ] {
        assert!(out.contains(needle), "--help lacks {needle}:\n{out}");
    }
}

#[test]
fn broken_config_exits_2_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, "offerings: []\ntimezone: Nowhere/City\n").unwrap();
    let (code, _, err) = run(&["check-config", "-c", path.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        err.contains("`timezone`") && err.contains("`offerings`"),
        "{err}"
    );
    let (code, _, err) = run(&["-m", "order_process", "-c", "/nonexistent/site-agent.yaml"]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot read the file"), "{err}");
}

#[test]
fn check_config_summarises_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let (code, out, _) = run(&["check-config", "-c", cfg.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("usage: s3_storage billed as storage_latest"),
        "{out}"
    );
    assert!(out.contains("usage sampling: \"*/10 * * * *\""), "{out}");
    assert!(!out.contains("canary"), "{out}");
}

#[test]
fn usage_show_and_dry_run_read_the_local_state() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = Store::open(&dir.path().join("state.sqlite3")).unwrap();
        let r = "e5000000000000000000000000000001".to_string();
        let now = chrono::Utc::now().timestamp();
        store
            .set_known_resources(
                "0ff00000000000000000000000000001",
                vec![KnownResource {
                    resource_uuid: r.clone(),
                    uid: "waldur-x".into(),
                    state: "OK".into(),
                }],
                now,
            )
            .await
            .unwrap();
        store
            .insert_samples(
                vec![Sample {
                    resource_uuid: r.clone(),
                    sampled_at: now - 60,
                    bytes: 2_500_000_000,
                    objects: 7,
                }],
                now,
            )
            .await
            .unwrap();
        let period = chrono::Utc::now().format("%Y-%m").to_string();
        store
            .outbox_put(
                vec![Figure {
                    key: FigureKey {
                        resource_uuid: r.clone(),
                        component: "s3_storage".into(),
                        period,
                    },
                    cents: 250,
                    is_final: false,
                }],
                now,
            )
            .await
            .unwrap();
    });
    let (code, out, err) = run(&["usage", "show", "-c", cfg.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("e5000000000000000000000000000001"), "{out}");
    assert!(out.contains("2500000000"), "last sample shown: {out}");
    assert!(
        out.contains("database: ") && out.contains(" MiB; history kept: 13 months"),
        "database size shown: {out}"
    );
    assert!(
        out.contains("2.50") && out.contains("pending"),
        "figure and state shown: {out}"
    );
    let (code, out, err) = run(&["usage", "report", "--dry-run", "-c", cfg.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("s3_storage") && out.contains("2.50"), "{out}");
    let (code, _, err) = run(&[
        "usage",
        "show",
        "--period",
        "2026-13",
        "-c",
        cfg.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("YYYY-MM"), "{err}");
}

#[test]
fn under_systemd_it_reports_ready_and_stopping_and_keeps_a_heartbeat() {
    use std::os::unix::net::UnixDatagram;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    // Point the heartbeat into the temp dir.
    let yaml = std::fs::read_to_string(&cfg).unwrap().replace(
        "timezone: UTC",
        &format!(
            "timezone: UTC\nheartbeat_file: {}",
            dir.path().join("hb").display()
        ),
    );
    std::fs::write(&cfg, yaml).unwrap();
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let mut child = Command::new(BIN)
        .args(["run", "--log-format", "json", "-c", cfg.to_str().unwrap()])
        .env("NOTIFY_SOCKET", &sock_path)
        .env("WATCHDOG_USEC", "2000000")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut buf = [0u8; 512];
    let mut seen = String::new();
    while !seen.contains("READY=1") {
        let n = sock.recv(&mut buf).expect("no READY=1 from the agent");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(seen.contains("STATUS=running"), "{seen}");
    // The watchdog is fed while the loop runs, even with Waldur and croit unreachable.
    let n = sock.recv(&mut buf).expect("no WATCHDOG=1");
    assert!(String::from_utf8_lossy(&buf[..n]).contains("WATCHDOG=1"));
    let (code, out, _) = run(&["healthz", "-c", cfg.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    // SIGTERM: a clean stop that says so.
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let mut stopping = false;
    for _ in 0..10 {
        match sock.recv(&mut buf) {
            Ok(n) if String::from_utf8_lossy(&buf[..n]).contains("STOPPING=1") => {
                stopping = true;
                break;
            }
            Ok(_) => continue,
            Err(_) => break,
        }
    }
    assert!(stopping, "no STOPPING=1");
    assert!(child.wait().unwrap().success());
    let (code, out, _) = run(&["healthz", "--max-age", "0", "-c", cfg.to_str().unwrap()]);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (code2, _, _) = run(&["healthz", "--max-age", "0", "-c", cfg.to_str().unwrap()]);
    assert!(
        code == 1 || code2 == 1,
        "a stale heartbeat fails the probe: {out}"
    );
}

#[test]
fn yaml_errors_never_echo_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.yaml");
    std::fs::write(
        &path,
        "offerings:\n  - name: S3\n    waldur_api_token: secret-canary-7731\n   broken: [\n",
    )
    .unwrap();
    let (code, out, err) = run(&["check-config", "-c", path.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("line "), "{err}");
    assert!(
        !err.contains("secret-canary") && !out.contains("secret-canary"),
        "{err}"
    );
}

#[test]
fn a_second_agent_on_the_same_database_is_refused_by_pid() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let mut first = Command::new(BIN)
        .args(["run", "-c", cfg.to_str().unwrap(), "--log-format", "json"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let lock = dir.path().join("state.sqlite3.lock");
    let pid = first.id().to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::fs::read_to_string(&lock).unwrap_or_default().trim() != pid {
        assert!(
            std::time::Instant::now() < deadline,
            "the first agent never took the lock"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let (code, out, err) = run(&["-m", "report", "--once", "-c", cfg.to_str().unwrap()]);
    let _ = first.kill();
    let _ = first.wait();
    assert_eq!(code, 3, "{out}{err}");
    let all = format!("{out}{err}");
    assert!(all.contains(&format!("PID {pid}")), "{all}");
    // Once the first is gone (killed: no clean-up), the lock is free again.
    let (code, _, _) = run(&["usage", "show", "-c", cfg.to_str().unwrap()]);
    assert_eq!(code, 0);
}

/// `site-agent adopt`, as an operator runs it: the dry run prints a plan and changes nothing,
/// the real run reports the plugin user's key to Waldur, a second run has nothing left to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adopt_plans_then_adopts_from_the_command_line() {
    use site_agent_sims::croit::{CroitAuth, CroitSim};
    use site_agent_sims::waldur::{ComponentSeed, OfferingSeed, SimOptions, WaldurSim};
    let waldur = WaldurSim::start(SimOptions::default()).await.unwrap();
    let croit = CroitSim::start(CroitAuth::Bearer("croit-cli-token".into()))
        .await
        .unwrap();
    let offering = waldur.add_offering(OfferingSeed {
        name: "S3".into(),
        components: vec![ComponentSeed::s3_storage()],
        ..OfferingSeed::default()
    });
    let resource = waldur.add_resource_ok(&offering, "Legacy", "x", serde_json::json!({}));
    let uid = format!(
        "waldur_customer_project_{}",
        &resource.replace('-', "")[..8]
    );
    waldur.set_resource_field(&resource, "backend_id", serde_json::json!(uid));
    let (access, secret) = croit.add_legacy_user(&uid, "Legacy");
    waldur.set_resource_field(
        &resource,
        "backend_metadata",
        serde_json::json!({"s3_credentials": {"access_key": access, "secret_key": secret}}),
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("croit-s3.yaml");
    std::fs::write(
        &cfg,
        format!(
            r#"
database_path: {db}
offerings:
  - name: "Croit S3 Object Storage"
    waldur_api_url: "{api}"
    waldur_api_token: "{token}"
    waldur_offering_uuid: "{offering}"
    backend_type: "croit_s3"
    backend_settings:
      api_url: "{croit}"
      token: "croit-cli-token"
    backend_components:
      s3_storage:
        accounting_type: "usage"
        backend_name: "storage"
        unit_factor: 1073741824
"#,
            db = dir.path().join("state.sqlite3").display(),
            api = waldur.api_url(),
            token = waldur.provider_token(),
            croit = croit.base_url(),
        ),
    )
    .unwrap();
    let cfg = cfg.to_str().unwrap().to_string();

    let (code, out, err) = run(&["adopt", "--dry-run", "-c", &cfg]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("plan: would report key")
            && out.contains("would record it as this resource's"),
        "{out}"
    );
    assert!(
        out.contains(&format!("would report key {access} to Waldur")),
        "{out}"
    );
    assert!(
        !out.contains(&secret) && !err.contains(&secret),
        "no secret printed"
    );
    assert!(
        waldur.api_keys(&resource).is_empty(),
        "a dry run changes nothing"
    );

    let (code, out, err) = run(&["adopt", "-c", &cfg]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("adopted:"), "{out}");
    let keys = waldur.api_keys(&resource);
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].client_id, access);
    assert!(
        waldur.resource(&resource).unwrap()["backend_metadata"]
            .get("s3_credentials")
            .is_none()
    );

    let (code, out, _) = run(&["adopt", "-c", &cfg]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("keep key {access}")), "{out}");
    assert_eq!(waldur.api_keys(&resource).len(), 1);
}

/// Every example configuration the project ships passes `check-config` as an operator would
/// run it.
#[test]
fn every_shipped_example_passes_check_config() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let (code, out, err) = run(&["check-config", "-c", path.to_str().unwrap()]);
        assert_eq!(code, 0, "{}: {out}\n{err}", path.display());
        checked += 1;
    }
    assert!(checked >= 5, "the examples were found");
    let (code, out, _) = run(&[
        "check-config",
        "-c",
        dir.join("dell-ecs.yaml").to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    assert!(
        out.contains("dell_ecs, management API https://ecs.example.com:4443 as waldur-agent, namespace waldur"),
        "{out}"
    );
}
