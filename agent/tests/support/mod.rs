//! What the binary end-to-end tests share: running `site-agent run --once`, reading an
//! order's state, placing a Terminate.

#![allow(dead_code)]

use serde_json::json;
use site_agent_sims::waldur::{ComponentSeed, OfferingSeed, OrderSeed, PlacedOrder, WaldurSim};
use std::process::Command;

pub const BIN: &str = env!("CARGO_BIN_EXE_site-agent");

/// One `site-agent run --once -c cfg` to completion; its log on failure.
pub fn run_once(cfg: &std::path::Path) -> String {
    let out = Command::new(BIN)
        .args(["run", "--once", "-c", cfg.to_str().unwrap()])
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{log}");
    log
}

/// `(state, error_message)` of an order.
pub fn order_state(w: &WaldurSim, order: &str) -> (String, String) {
    let o = w.order(order).unwrap();
    (
        o["state"].as_str().unwrap_or_default().to_string(),
        o["error_message"].as_str().unwrap_or_default().to_string(),
    )
}

pub fn terminate(w: &WaldurSim, resource: &str) -> PlacedOrder {
    w.place_order(OrderSeed {
        order_type: "Terminate".into(),
        resource_uuid: Some(resource.to_string()),
        attributes: json!({}),
        limits: json!({}),
        ..OrderSeed::default()
    })
}

/// A new offering `name` on `waldur` (billing storage and objects) and the shipped
/// `config/<file>` with its Waldur address, token, offering (`offering_in_file`) and database
/// pointed at it and at `dir`: `(offering uuid, yaml)`.
pub fn shipped_config(
    waldur: &WaldurSim,
    name: &str,
    file: &str,
    offering_in_file: &str,
    dir: &std::path::Path,
) -> (String, String) {
    let offering = waldur.add_offering(OfferingSeed {
        name: name.into(),
        components: vec![
            ComponentSeed::s3_storage(),
            ComponentSeed::usage("s3_objects", "Objects", "objects"),
        ],
        ..OfferingSeed::default()
    });
    let shipped = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../config")
            .join(file),
    )
    .unwrap();
    let yaml = shipped
        .replace("https://waldur.example.com/api/", &waldur.api_url())
        .replace(
            "0123456789abcdef0123456789abcdef01234567",
            &waldur.provider_token(),
        )
        .replace(offering_in_file, &offering)
        .replace(
            "/var/lib/site-agent/state.sqlite3",
            dir.join("state.sqlite3").to_str().unwrap(),
        );
    assert_ne!(yaml, shipped);
    (offering, yaml)
}

/// The figure Waldur holds for `component` of a resource (this month's).
pub fn billed(w: &WaldurSim, resource: &str, component: &str) -> f64 {
    let usages = w.component_usages(resource);
    usages
        .iter()
        .find(|u| u["type"] == component)
        .and_then(|u| u["usage"].as_str())
        .and_then(|u| u.parse().ok())
        .unwrap_or_else(|| panic!("a {component} figure: {usages:?}"))
}

/// Waits into the next second: a backend reading taken now then falls after the last
/// cycle's reading (one of the same second is billed by the following cycle).
pub fn next_second() {
    std::thread::sleep(std::time::Duration::from_millis(1100));
}

/// `(status, body)` of a call to `base` signed with a key Waldur shows (`(access key,
/// secret)`), as a tenant's S3 client would make it.
pub async fn as_tenant(
    base: &str,
    key: (&str, &str),
    method: reqwest::Method,
    path: &str,
    body: &[u8],
) -> (u16, String) {
    use site_agent_sdk::sigv4::{SignedHttp, Signer};
    let a = SignedHttp::new(
        reqwest::Client::new(),
        Signer::new(
            key.0.into(),
            secrecy::SecretString::from(key.1.to_string()),
            "us-east-1".into(),
            "s3",
        ),
    )
    .send(
        "tenant",
        method,
        &format!("{base}{path}"),
        None,
        body.to_vec(),
    )
    .await
    .unwrap();
    (a.status, a.body)
}
