//! The agent's Waldur client against waldur-sim: pagination and OIDC client credentials.

mod common;

use common::*;
use serde_json::json;
use site_agent::orders::Outcome;

#[tokio::test]
async fn lists_follow_pagination_to_the_last_page() {
    let env = env().await;
    for i in 0..230 {
        env.place_create(&format!("bulk {i}"), json!({"max_storage_limit": 1}));
    }
    let app = env.app();
    let orders = app.processors[0]
        .waldur
        .list_orders(OFFERING, &site_agent::waldur::OrderState::ACTIVE, None)
        .await
        .unwrap();
    assert_eq!(orders.len(), 230);
    let uuids: Vec<String> = orders.iter().map(|o| o.uuid.to_string()).collect();
    let distinct: std::collections::HashSet<&String> = uuids.iter().collect();
    assert_eq!(distinct.len(), 230, "no order listed twice");
    assert_eq!(
        env.waldur.count_calls("GET", "/api/marketplace-orders/"),
        3,
        "three pages of 100"
    );
    // Pages fetched side by side still come out in Waldur's order: as page 1, 2, 3 read one
    // after another.
    let mut by_hand = Vec::new();
    for page in 1..=3 {
        let r = reqwest::Client::new()
            .get(format!("{}marketplace-orders/", env.waldur.api_url()))
            .header(
                "Authorization",
                format!("Token {}", env.waldur.provider_token()),
            )
            .query(&[
                ("offering_uuid", OFFERING),
                ("state", "pending-provider"),
                ("state", "executing"),
                ("page_size", "100"),
                ("page", &page.to_string()),
            ])
            .send()
            .await
            .unwrap();
        let items: Vec<serde_json::Value> = r.json().await.unwrap();
        by_hand.extend(
            items
                .iter()
                .map(|o| o["uuid"].as_str().unwrap().to_string()),
        );
    }
    assert_eq!(uuids, by_hand);
}

#[tokio::test]
async fn oidc_client_credentials_token_is_fetched_once_and_used_as_bearer() {
    let env = env().await;
    env.waldur
        .add_oidc_client("site-agent", "oidc-secret-canary");
    let yaml = env.config_yaml().replace(
        &format!("waldur_api_token: {}", env.waldur.provider_token()),
        &format!(
            "oidc_token_url: {}\n    oidc_client_id: site-agent\n    oidc_client_secret: oidc-secret-canary",
            env.waldur.oidc_token_url()
        ),
    );
    let config = site_agent::config::load_str(&yaml, "t", Vec::<(String, String)>::new()).unwrap();
    assert!(!format!("{config:?}").contains("oidc-secret-canary"));
    let store = site_agent::store::Store::open(&config.database_path).unwrap();
    let app = site_agent::app::App::build_with_store(
        config,
        store,
        &site_agent::app::AppOptions {
            retry: fast_retry(),
            ..Default::default()
        },
    )
    .unwrap();
    let placed = env.place_create("Via OIDC", json!({"max_storage_limit": 1}));
    assert_eq!(
        app.order_cycle().await,
        vec![(placed.order_uuid, Outcome::Done)]
    );
    assert_eq!(
        env.waldur.count_calls("POST", "/oidc/token"),
        1,
        "the token is cached"
    );
}

#[tokio::test]
async fn wrong_oidc_secret_is_explained() {
    let env = env().await;
    env.waldur.add_oidc_client("site-agent", "right");
    let yaml = env.config_yaml().replace(
        &format!("waldur_api_token: {}", env.waldur.provider_token()),
        &format!(
            "oidc_token_url: {}\n    oidc_client_id: site-agent\n    oidc_client_secret: wrong",
            env.waldur.oidc_token_url()
        ),
    );
    let config = site_agent::config::load_str(&yaml, "t", Vec::<(String, String)>::new()).unwrap();
    let store = site_agent::store::Store::in_memory().unwrap();
    let app = site_agent::app::App::build_with_store(config, store, &Default::default()).unwrap();
    let e = app.processors[0].waldur.me().await.unwrap_err();
    assert!(
        e.message.contains("oidc_client_id / oidc_client_secret"),
        "{}",
        e.message
    );
}
