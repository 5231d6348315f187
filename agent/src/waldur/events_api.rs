//! Agent identity and event-subscription endpoints.

use super::WaldurId;
use super::client::WaldurClient;
use super::error::WaldurError;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Identity {
    pub uuid: String,
    pub name: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct EventSubscription {
    pub uuid: String,
    pub user_uuid: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SubscriptionQueue {
    pub queue_name: String,
    pub vhost: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct UnifiedQueue {
    pub rmq_username: String,
    pub queue_name: String,
    pub vhost: String,
}

impl WaldurClient {
    /// Registers (or refreshes) the agent identity `agent-<offering uuid>`; returns its uuid.
    pub async fn register_identity(
        &self,
        offering_uuid: &str,
        version: &str,
    ) -> Result<Identity, WaldurError> {
        let name = format!("agent-{offering_uuid}");
        let body = json!({
            "offering": WaldurId::new(offering_uuid),
            "name": name,
            "version": version,
            "last_restarted": chrono::Utc::now().to_rfc3339(),
            "dependencies": [{"package": "site-agent", "version": version}],
            "config_file_path": "",
            "config_file_content": "",
        });
        let found: Vec<Identity> = self
            .get(
                "find identity",
                "/api/marketplace-site-agent-identities/",
                &vec![("name".to_string(), name.clone())],
            )
            .await?;
        let v: Value = match found.into_iter().find(|i| i.name == name) {
            Some(i) => {
                let path = format!("/api/marketplace-site-agent-identities/{}/", i.uuid.clone());
                let (_, text) = self
                    .call(
                        "update identity",
                        reqwest::Method::PUT,
                        &path,
                        &Vec::new(),
                        Some(&body),
                    )
                    .await?;
                serde_json::from_str(&text)
                    .map_err(|e| WaldurError::decode("update identity", e))?
            }
            None => {
                self.post(
                    "create identity",
                    "/api/marketplace-site-agent-identities/",
                    &body,
                )
                .await?
            }
        };
        serde_json::from_value(v).map_err(|e| WaldurError::decode("identity", e))
    }

    pub async fn register_event_subscription(
        &self,
        identity: &str,
        object_type: &str,
    ) -> Result<EventSubscription, WaldurError> {
        let path = format!(
            "/api/marketplace-site-agent-identities/{}/register_event_subscription/",
            WaldurId::new(identity)
        );
        let body = json!({ "observable_object_type": object_type, "description": format!("site-agent {object_type} events") });
        let v = self
            .post("register event subscription", &path, &body)
            .await?;
        serde_json::from_value(v).map_err(|e| WaldurError::decode("event subscription", e))
    }

    pub async fn create_queue(
        &self,
        subscription: &str,
        offering_uuid: &str,
        object_type: &str,
    ) -> Result<SubscriptionQueue, WaldurError> {
        let path = format!(
            "/api/event-subscriptions/{}/create_queue/",
            WaldurId::new(subscription)
        );
        let body =
            json!({ "offering_uuid": WaldurId::new(offering_uuid), "object_type": object_type });
        let v = self.post("create queue", &path, &body).await?;
        serde_json::from_value(v).map_err(|e| WaldurError::decode("queue", e))
    }

    pub async fn register_queue(
        &self,
        identity: &str,
        object_types: &[&str],
    ) -> Result<UnifiedQueue, WaldurError> {
        let path = format!(
            "/api/marketplace-site-agent-identities/{}/register_queue/",
            WaldurId::new(identity)
        );
        let v = self
            .post(
                "register queue",
                &path,
                &json!({ "object_types": object_types }),
            )
            .await?;
        serde_json::from_value(v).map_err(|e| WaldurError::decode("unified queue", e))
    }
}
