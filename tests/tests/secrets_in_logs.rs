//! A canary secret (tokens, minted keys) never appears in captured logs, even at debug level
//! and through failures.

mod common;

use common::*;
use serde_json::json;
use std::io::Write;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every event at every level, as JSON, into memory (for this test's thread).
fn capture() -> (Capture, tracing::subscriber::DefaultGuard) {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    (capture, tracing::subscriber::set_default(subscriber))
}

#[tokio::test]
async fn no_secret_reaches_the_log() {
    let (capture, _guard) = capture();

    let env = env().await;
    let ok = env.place_create("Logged", json!({"max_storage_limit": 2}));
    let bad = env.place_create("Broken", json!({"max_storage_limit": "x"}));
    env.croit
        .fail_next(2, 503, "secretKey=leaky-canary maintenance");
    let app = env.app();
    app.order_cycle().await;
    app.order_cycle().await;
    assert_eq!(env.order_state(&ok.order_uuid), "done");
    assert_eq!(env.order_state(&bad.order_uuid), "erred");

    let log = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        log.contains("order done"),
        "the capture works: {}",
        &log[..log.len().min(500)]
    );
    let mut canaries = vec![
        env.waldur.provider_token(),
        CROIT_TOKEN.to_string(),
        "leaky-canary".to_string(),
    ];
    canaries.extend(
        env.waldur
            .api_keys(&ok.resource_uuid)
            .into_iter()
            .map(|k| k.api_key),
    );
    assert_eq!(canaries.len(), 5);
    for c in canaries {
        assert!(!log.contains(&c), "secret {c:?} found in the log");
    }
}

/// The same on Dell ECS and Cloudian HyperStore: their admin passwords, the secrets the agent
/// proposes (ECS) or the backend makes (HyperStore), through a create and a rotation.
#[tokio::test]
async fn no_backend_secret_reaches_the_log_on_ecs_or_hyperstore() {
    use site_agent_sims::cloudian::CloudianSim;
    use site_agent_sims::ecs::EcsSim;
    let (capture, _guard) = capture();

    let ecs = EcsSim::start("mgmt", "ecs-pw-canary", &["waldur"])
        .await
        .unwrap();
    let hs = CloudianSim::start("sysadmin", "hs-pw-canary")
        .await
        .unwrap();
    let (hs_host, hs_port) = hs
        .url()
        .trim_start_matches("http://")
        .split_once(':')
        .map(|(h, p)| (h.to_string(), p.to_string()))
        .unwrap();
    let mut canaries = vec!["ecs-pw-canary".to_string(), "hs-pw-canary".to_string()];
    for (backend, settings, factor) in [
        (
            "dell_ecs",
            format!(
                "management_url: {}\n      username: mgmt\n      password: ecs-pw-canary\n      namespace: waldur\n      s3_endpoint: https://s3\n      s3_private_endpoint: {}",
                ecs.url(),
                ecs.s3_url()
            ),
            1u64 << 30,
        ),
        (
            "cloudian",
            format!(
                "admin_host: {hs_host}\n      admin_port: {hs_port}\n      admin_protocol: http\n      admin_password: hs-pw-canary\n      s3_endpoint: https://s3"
            ),
            1_000_000_000,
        ),
    ] {
        let mut env = env().await;
        env.backend_type = backend;
        env.backend_settings = settings;
        env.unit_factor = factor;
        let ok = env.place_create("Logged", json!({"max_storage_limit": 2}));
        let app = env.app();
        app.order_cycle().await;
        assert_eq!(env.order_state(&ok.order_uuid), "done", "{backend}");
        let key = env.waldur.api_keys(&ok.resource_uuid)[0].clone();
        env.waldur.rotate_key(&key.uuid).unwrap();
        app.key_cycle().await;
        canaries.push(key.api_key);
        canaries.extend(
            env.waldur
                .api_keys(&ok.resource_uuid)
                .into_iter()
                .map(|k| k.api_key),
        );
    }
    let log = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains("key rotated"), "the capture works");
    assert!(canaries.len() >= 7);
    for c in canaries {
        assert!(!log.contains(&c), "secret {c:?} found in the log");
    }
}
