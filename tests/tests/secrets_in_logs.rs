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

#[tokio::test]
async fn no_secret_reaches_the_log() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

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
