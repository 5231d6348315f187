//! waldur-sim's injected faults, over real HTTP: a status answer changes nothing; a dropped
//! or delayed answer comes after the change was made (the client cannot tell it happened).

use serde_json::json;
use site_agent_sims::waldur::{
    ComponentSeed, Fault, FaultRule, OfferingSeed, OrderSeed, SimOptions, WaldurSim,
};
use std::time::Duration;

async fn sim_with_order() -> (WaldurSim, String) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim = WaldurSim::start(SimOptions::default()).await.unwrap();
    let offering = sim.add_offering(OfferingSeed::new("S3", vec![ComponentSeed::s3_storage()]));
    let placed = sim.place_order(
        OrderSeed::create(&offering, "r").with_attributes(json!({"max_storage_limit": 1})),
    );
    (sim, placed.order_uuid)
}

async fn approve(sim: &WaldurSim, order: &str, timeout: Duration) -> Result<u16, reqwest::Error> {
    let url = format!(
        "{}marketplace-orders/{order}/approve_by_provider/",
        sim.api_url()
    );
    let resp = reqwest::Client::new()
        .post(url)
        .timeout(timeout)
        .header("Authorization", format!("Token {}", sim.provider_token()))
        .json(&json!({}))
        .send()
        .await?;
    let status = resp.status().as_u16();
    resp.bytes().await?;
    Ok(status)
}

fn state(sim: &WaldurSim, order: &str) -> String {
    sim.order(order).unwrap()["state"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn a_status_fault_changes_nothing() {
    let (sim, order) = sim_with_order().await;
    sim.inject(FaultRule::new(
        "POST",
        "/approve_by_provider/",
        Fault::Status(503),
        1,
    ));
    assert_eq!(
        approve(&sim, &order, Duration::from_secs(5)).await.unwrap(),
        503
    );
    assert_eq!(state(&sim, &order), "pending-provider");
    assert_eq!(
        approve(&sim, &order, Duration::from_secs(5)).await.unwrap(),
        200,
        "used up"
    );
    assert_eq!(state(&sim, &order), "executing");
}

#[tokio::test]
async fn a_dropped_answer_comes_after_the_change() {
    let (sim, order) = sim_with_order().await;
    sim.inject(FaultRule::new(
        "POST",
        "/approve_by_provider/",
        Fault::DropResponse,
        1,
    ));
    assert!(
        approve(&sim, &order, Duration::from_secs(5)).await.is_err(),
        "the client sees a broken answer"
    );
    assert_eq!(
        state(&sim, &order),
        "executing",
        "but the approval happened"
    );
    // Retried, the call is refused as Mastermind refuses a wrong-state transition.
    assert_eq!(
        approve(&sim, &order, Duration::from_secs(5)).await.unwrap(),
        409
    );
}

#[tokio::test]
async fn a_delayed_answer_times_the_client_out_after_the_change() {
    let (sim, order) = sim_with_order().await;
    sim.inject(FaultRule::new(
        "POST",
        "/approve_by_provider/",
        Fault::Delay(Duration::from_secs(30)),
        1,
    ));
    let e = approve(&sim, &order, Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(e.is_timeout(), "{e}");
    assert_eq!(state(&sim, &order), "executing");
    // Only matching requests are affected.
    sim.inject(FaultRule::new(
        "GET",
        "/no-such-path/",
        Fault::Status(500),
        1,
    ));
    assert_eq!(
        approve(&sim, &order, Duration::from_secs(5)).await.unwrap(),
        409
    );
    sim.clear_faults();
}
