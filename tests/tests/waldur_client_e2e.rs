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

/// The env's config with OIDC client credentials (`secret`) instead of the API token, plus
/// `extra` offering lines.
fn oidc_config(env: &Env, secret: &str, extra: &str) -> site_agent::config::Config {
    let yaml = env.config_yaml().replace(
        &format!("waldur_api_token: {}", env.waldur.provider_token()),
        &format!(
            "oidc_token_url: {}\n    oidc_client_id: site-agent\n    oidc_client_secret: {secret}{extra}",
            env.waldur.oidc_token_url()
        ),
    );
    site_agent::config::load_str(&yaml, "t", Vec::<(String, String)>::new()).unwrap()
}

/// The app for `config` on its own database, with quick retries.
fn app_for(config: site_agent::config::Config) -> site_agent::app::App {
    let store = site_agent::store::Store::open(&config.database_path).unwrap();
    site_agent::app::App::build_with_store(
        config,
        store,
        &site_agent::app::AppOptions {
            retry: fast_retry(),
            ..Default::default()
        },
    )
    .unwrap()
}

#[tokio::test]
async fn oidc_client_credentials_token_is_fetched_once_and_used_as_bearer() {
    let env = env().await;
    env.waldur
        .add_oidc_client("site-agent", "oidc-secret-canary");
    let config = oidc_config(&env, "oidc-secret-canary", "");
    assert!(!format!("{config:?}").contains("oidc-secret-canary"));
    let app = app_for(config);
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
    let config = oidc_config(&env, "wrong", "");
    let store = site_agent::store::Store::in_memory().unwrap();
    let app = site_agent::app::App::build_with_store(config, store, &Default::default()).unwrap();
    let e = app.processors[0].waldur.me().await.unwrap_err();
    assert!(
        e.message.contains("oidc_client_id / oidc_client_secret"),
        "{}",
        e.message
    );
}

/// `stomp_enabled` with OIDC only (no token for the STOMP passcode): check-config warns that
/// the offering polls instead, and the running agent does — it neither waits for events that
/// cannot come nor stops (an event listener that returned at once used to end the whole run,
/// with success).
#[tokio::test]
async fn an_oidc_only_offering_with_stomp_enabled_polls_its_orders() {
    let env = env().await;
    env.waldur.add_oidc_client("site-agent", "oidc-secret");
    let config = oidc_config(
        &env,
        "oidc-secret",
        "\n    stomp_enabled: true\n    stomp_ws_host: 127.0.0.1\n    stomp_ws_port: 9\n    websocket_use_tls: false",
    );
    assert!(config.offerings[0].stomp.is_some());
    let app = std::sync::Arc::new(app_for(config));
    assert!(app.listeners.is_empty(), "no listener without a passcode");
    let placed = env.place_create("OIDC polls", json!({"max_storage_limit": 1}));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let runner = app.clone();
    let run = tokio::spawn(async move {
        let roles = site_agent::app::Roles {
            orders: Some(std::time::Duration::from_secs(1)),
            events: true,
            ..Default::default()
        };
        runner
            .run(roles, async {
                let _ = stopped.await;
            })
            .await
    });
    let t = std::time::Instant::now();
    while env.order_state(&placed.order_uuid) != "done" {
        assert!(!run.is_finished(), "the agent stopped on its own");
        assert!(
            t.elapsed() < std::time::Duration::from_secs(20),
            "never done"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let _ = stop.send(());
    assert!(
        run.await.unwrap(),
        "stopped by the shutdown signal, cleanly"
    );
}
