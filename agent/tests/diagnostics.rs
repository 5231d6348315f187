//! `site-agent diagnostics` on the real binary, against waldur-sim and myfsio-sim with the
//! shipped `config/myfsio.yaml`: everything right passes; a wrong token, a missing offering,
//! a component that differs from Waldur's and a backend that is down each give their FAIL and
//! exit status 1; no secret is printed.

mod support;

use site_agent_sims::myfsio::{Generation, MyfsioSim};
use site_agent_sims::waldur::{SimOptions, WaldurSim};
use support::{BIN, shipped_config};

struct World {
    waldur: WaldurSim,
    _fs: MyfsioSim,
    yaml: String,
    dir: tempfile::TempDir,
}

async fn world() -> World {
    site_agent_sdk::http::ensure_crypto_provider();
    let waldur = WaldurSim::start(SimOptions::default()).await.unwrap();
    let fs = MyfsioSim::start(Generation::Rs, "localadmin", "admin-secret-canary")
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (_, yaml) = shipped_config(
        &waldur,
        "MyFSIO S3",
        "myfsio.yaml",
        "0ff00000000000000000000000000006",
        dir.path(),
    );
    let yaml = yaml
        .replace("http://127.0.0.1:5000", &fs.url())
        .replace("http://127.0.0.1:5100", &fs.console_url())
        .replace("\"change-me\"", "\"admin-secret-canary\"");
    World {
        waldur,
        _fs: fs,
        yaml,
        dir,
    }
}

/// `(exit status, output)` of `diagnostics` on `yaml`.
async fn diagnose(w: &World, yaml: &str) -> (i32, String) {
    let cfg = w.dir.path().join("d.yaml");
    std::fs::write(&cfg, yaml).unwrap();
    let out = std::process::Command::new(BIN)
        .args(["diagnostics", "-c", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains("admin-secret-canary"), "{text}");
    assert!(!text.contains(&w.waldur.provider_token()), "{text}");
    (out.status.code().unwrap_or(-1), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_setup_passes_every_check() {
    let w = world().await;
    // Before the first start there is no database yet: a warning, not a failure.
    let (code, text) = diagnose(&w, &w.yaml).await;
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("WARN  database: ") && text.contains("does not exist yet"),
        "{text}"
    );
    // As the agent leaves it after its first start.
    site_agent::store::Store::open(&w.dir.path().join("state.sqlite3")).unwrap();
    let (code, text) = diagnose(&w, &w.yaml).await;
    assert_eq!(code, 0, "{text}");
    for want in [
        "PASS  database: ",
        "PASS  [MyFSIO S3] waldur: ",
        "PASS  [MyFSIO S3] token: accepted: user",
        "PASS  [MyFSIO S3] clock: this host is",
        "PASS  [MyFSIO S3] offering: ",
        "PASS  [MyFSIO S3] components: 2 configured, all match Waldur",
        "PASS  [MyFSIO S3] backend: myfsio answers with the admin credentials",
        "0 failed",
    ] {
        assert!(text.contains(want), "{want:?} missing:\n{text}");
    }
    assert!(!text.contains("FAIL"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_fault_gives_its_own_fail() {
    let w = world().await;
    let token = w.waldur.provider_token();
    let cases = [
        (
            w.yaml
                .replace(&token, "ffffffffffffffffffffffffffffffffffffffff"),
            "FAIL  [MyFSIO S3] token: Waldur refused the token",
        ),
        (
            w.yaml.replace(
                "waldur_offering_uuid: \"",
                "waldur_offering_uuid: \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\" # was \"",
            ),
            "FAIL  [MyFSIO S3] offering: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa does not exist or is not visible",
        ),
        (
            w.yaml
                .replace("measured_unit: \"GB-day\"", "measured_unit: \"TB-day\""),
            "FAIL  [MyFSIO S3] components: s3_storage: unit \"TB-day\" here, \"GB-day\" in Waldur",
        ),
        (
            w.yaml.replace(
                &format!("api_url: \"{}\"", w._fs.url()),
                "api_url: \"http://127.0.0.1:9\"",
            ),
            "FAIL  [MyFSIO S3] backend: myfsio: ",
        ),
    ];
    for (yaml, want) in cases {
        assert_ne!(yaml, w.yaml, "the case changed nothing");
        let (code, text) = diagnose(&w, &yaml).await;
        assert_eq!(code, 1, "{text}");
        assert!(text.contains(want), "{want:?} missing:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stomp_endpoint_that_does_not_answer_fails() {
    let w = world().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let yaml = w.yaml.replace(
        "    backend_type: \"myfsio\"",
        &format!(
            "    stomp_enabled: true\n    websocket_use_tls: false\n    stomp_ws_host: \"127.0.0.1\"\n    stomp_ws_port: {port}\n    backend_type: \"myfsio\""
        ),
    );
    assert_ne!(yaml, w.yaml);
    let (code, text) = diagnose(&w, &yaml).await;
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains(&format!("FAIL  [MyFSIO S3] stomp: ws://127.0.0.1:{port}")),
        "{text}"
    );
}
