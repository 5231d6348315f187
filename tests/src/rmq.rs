//! The real RabbitMQ (web-stomp) started by `../shared/peers/start-rabbitmq.sh`, and the few
//! management-API calls tests and waldur-sim need: vhosts, users, permissions, queues, publish.

use serde_json::json;

#[derive(Debug, Clone)]
pub struct RmqPeer {
    pub ws_url: String,
    pub mgmt_url: String,
    pub admin_user: String,
    pub admin_pass: String,
    pub stomp_host: String,
    pub stomp_port: u16,
}

impl RmqPeer {
    /// Panics with instructions when the broker is not running: these tests need it.
    pub fn from_env() -> Self {
        let get = |k: &str| {
            std::env::var(k).unwrap_or_else(|_| {
                panic!("{k} is not set: these tests run against a real RabbitMQ; run ./scripts/test.sh (it starts ../shared/peers/start-rabbitmq.sh) or export its output")
            })
        };
        Self {
            ws_url: get("RMQ_WS_URL"),
            mgmt_url: get("RMQ_MGMT_URL"),
            admin_user: get("RMQ_ADMIN_USER"),
            admin_pass: get("RMQ_ADMIN_PASS"),
            stomp_host: std::env::var("RMQ_STOMP_HOST").unwrap_or_else(|_| "127.0.0.1".into()),
            stomp_port: std::env::var("RMQ_STOMP_PORT")
                .ok()
                .and_then(|p| p.parse().ok())
                .unwrap_or(61613),
        }
    }

    fn http(&self) -> reqwest::Client {
        let _ = rustls::crypto::ring::default_provider().install_default();
        reqwest::Client::new()
    }

    async fn put(&self, path: &str, body: serde_json::Value) -> anyhow::Result<()> {
        let r = self
            .http()
            .put(format!("{}/api/{path}", self.mgmt_url))
            .basic_auth(&self.admin_user, Some(&self.admin_pass))
            .json(&body)
            .send()
            .await?;
        anyhow::ensure!(
            r.status().is_success(),
            "RabbitMQ PUT {path}: {} {}",
            r.status(),
            r.text().await.unwrap_or_default()
        );
        Ok(())
    }

    /// A vhost, a user with a password and full permissions on it (what Mastermind does for a
    /// subscription).
    pub async fn grant(&self, vhost: &str, user: &str, password: &str) -> anyhow::Result<()> {
        self.put(&format!("vhosts/{vhost}"), json!({})).await?;
        self.put(
            &format!("users/{user}"),
            json!({"password": password, "tags": ""}),
        )
        .await?;
        self.put(
            &format!("permissions/{vhost}/{user}"),
            json!({"configure": ".*", "write": ".*", "read": ".*"}),
        )
        .await
    }

    /// Declares a durable queue with Mastermind's arguments.
    pub async fn declare_queue(&self, vhost: &str, queue: &str) -> anyhow::Result<()> {
        self.put(
            &format!("queues/{vhost}/{queue}"),
            json!({"durable": true, "auto_delete": false, "arguments": {"x-message-ttl": 3_600_000, "x-max-length": 10_000}}),
        )
        .await
    }

    /// Publishes to a queue through the default exchange.
    pub async fn publish(&self, vhost: &str, queue: &str, body: &str) -> anyhow::Result<()> {
        let r = self
            .http()
            .post(format!("{}/api/exchanges/{vhost}/amq.default/publish", self.mgmt_url))
            .basic_auth(&self.admin_user, Some(&self.admin_pass))
            .json(&json!({"properties": {"delivery_mode": 2, "content_type": "application/json"}, "routing_key": queue, "payload": body, "payload_encoding": "string"}))
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success(), "RabbitMQ publish: {}", r.status());
        Ok(())
    }

    /// Messages waiting in a queue (ready + unacknowledged).
    pub async fn queue_depth(&self, vhost: &str, queue: &str) -> anyhow::Result<u64> {
        let r = self
            .http()
            .get(format!("{}/api/queues/{vhost}/{queue}", self.mgmt_url))
            .basic_auth(&self.admin_user, Some(&self.admin_pass))
            .send()
            .await?;
        let v: serde_json::Value = r.json().await?;
        Ok(v["messages"].as_u64().unwrap_or(0))
    }

    /// Drops `user`: RabbitMQ closes its connections at once (a broker-side drop).
    pub async fn delete_user(&self, user: &str) -> anyhow::Result<()> {
        let r = self
            .http()
            .delete(format!("{}/api/users/{user}", self.mgmt_url))
            .basic_auth(&self.admin_user, Some(&self.admin_pass))
            .send()
            .await?;
        anyhow::ensure!(
            r.status().is_success(),
            "delete user {user}: {}",
            r.status()
        );
        Ok(())
    }
}
