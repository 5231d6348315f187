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
    /// The broker from the `RMQ_*` variables, or an error naming the first one missing.
    pub fn try_from_env() -> Result<Self, String> {
        let get = |k: &str| std::env::var(k).map_err(|_| format!("{k} is not set"));
        Ok(Self {
            ws_url: get("RMQ_WS_URL")?,
            mgmt_url: get("RMQ_MGMT_URL")?,
            admin_user: get("RMQ_ADMIN_USER")?,
            admin_pass: get("RMQ_ADMIN_PASS")?,
            stomp_host: std::env::var("RMQ_STOMP_HOST").unwrap_or_else(|_| "127.0.0.1".into()),
            stomp_port: std::env::var("RMQ_STOMP_PORT")
                .ok()
                .and_then(|p| p.parse().ok())
                .unwrap_or(61613),
        })
    }

    /// Panics with instructions when the broker is not running: these tests need it.
    pub fn from_env() -> Self {
        Self::try_from_env().unwrap_or_else(|e| {
            panic!("{e}: these tests run against a real RabbitMQ; run ./scripts/test.sh (it starts ../shared/peers/start-rabbitmq.sh) or export its output")
        })
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
        self.create_vhost(vhost).await?;
        self.create_user(user, password).await?;
        self.permit(vhost, user).await
    }

    /// `PUT /api/vhosts/{vhost}` (idempotent; the admin gets full permissions on it).
    pub async fn create_vhost(&self, vhost: &str) -> anyhow::Result<()> {
        self.put(&format!("vhosts/{}", seg(vhost)), json!({})).await
    }

    /// `PUT /api/users/{user}`: creates the user or re-sets its password.
    pub async fn create_user(&self, user: &str, password: &str) -> anyhow::Result<()> {
        self.put(
            &format!("users/{}", seg(user)),
            json!({"password": password, "tags": ""}),
        )
        .await
    }

    /// Full `configure`/`write`/`read` permissions of `user` on `vhost`.
    pub async fn permit(&self, vhost: &str, user: &str) -> anyhow::Result<()> {
        self.put(
            &format!("permissions/{}/{}", seg(vhost), seg(user)),
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

    /// Publishes raw bytes (any bytes: not UTF-8, or megabytes) to a queue.
    pub async fn publish_bytes(&self, vhost: &str, queue: &str, body: &[u8]) -> anyhow::Result<()> {
        use base64::Engine;
        let payload = base64::engine::general_purpose::STANDARD.encode(body);
        let r = self
            .http()
            .post(format!("{}/api/exchanges/{vhost}/amq.default/publish", self.mgmt_url))
            .basic_auth(&self.admin_user, Some(&self.admin_pass))
            .json(&json!({"properties": {"delivery_mode": 2}, "routing_key": queue, "payload": payload, "payload_encoding": "base64"}))
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success(), "RabbitMQ publish: {}", r.status());
        let v: serde_json::Value = r.json().await?;
        anyhow::ensure!(
            v["routed"] == true,
            "RabbitMQ did not route the message: {v}"
        );
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

    /// DELETE on the management API; a missing object counts as deleted.
    async fn delete_path(&self, path: &str) -> anyhow::Result<()> {
        let r = self
            .http()
            .delete(format!("{}/api/{path}", self.mgmt_url))
            .basic_auth(&self.admin_user, Some(&self.admin_pass))
            .send()
            .await?;
        anyhow::ensure!(
            r.status().is_success() || r.status() == reqwest::StatusCode::NOT_FOUND,
            "RabbitMQ DELETE {path}: {}",
            r.status()
        );
        Ok(())
    }

    /// Drops `user` if it exists (no error when it does not).
    pub async fn remove_user(&self, user: &str) -> anyhow::Result<()> {
        self.delete_path(&format!("users/{}", seg(user))).await
    }

    /// Drops a vhost with everything in it (no error when it does not exist).
    pub async fn delete_vhost(&self, vhost: &str) -> anyhow::Result<()> {
        self.delete_path(&format!("vhosts/{}", seg(vhost))).await
    }

    /// Drops a queue (no error when it does not exist).
    pub async fn delete_queue(&self, vhost: &str, queue: &str) -> anyhow::Result<()> {
        self.delete_path(&format!("queues/{}/{}", seg(vhost), seg(queue)))
            .await
    }

    /// Takes up to `count` messages off a queue for good
    /// (`POST /api/queues/{vhost}/{queue}/get`, `ackmode: ack_requeue_false`), oldest first.
    /// Each item is the management API's message object (`payload`, `properties`, …).
    pub async fn take_messages(
        &self,
        vhost: &str,
        queue: &str,
        count: usize,
    ) -> anyhow::Result<Vec<serde_json::Value>> {
        let r = self
            .http()
            .post(format!(
                "{}/api/queues/{}/{}/get",
                self.mgmt_url,
                seg(vhost),
                seg(queue)
            ))
            .basic_auth(&self.admin_user, Some(&self.admin_pass))
            .json(&json!({"count": count, "ackmode": "ack_requeue_false", "encoding": "auto"}))
            .send()
            .await?;
        let status = r.status();
        anyhow::ensure!(
            status.is_success(),
            "RabbitMQ get {vhost}/{queue}: {status} {}",
            r.text().await.unwrap_or_default()
        );
        let v: serde_json::Value = r.json().await?;
        Ok(v.as_array().cloned().unwrap_or_default())
    }

    /// Whether the queue exists (`GET /api/queues/{vhost}/{queue}` answers 200).
    pub async fn queue_exists(&self, vhost: &str, queue: &str) -> anyhow::Result<bool> {
        let r = self
            .http()
            .get(format!(
                "{}/api/queues/{}/{}",
                self.mgmt_url,
                seg(vhost),
                seg(queue)
            ))
            .basic_auth(&self.admin_user, Some(&self.admin_pass))
            .send()
            .await?;
        Ok(r.status().is_success())
    }

    /// The queue's declared `arguments` object (`x-message-ttl`, …).
    pub async fn queue_arguments(
        &self,
        vhost: &str,
        queue: &str,
    ) -> anyhow::Result<serde_json::Value> {
        let r = self
            .http()
            .get(format!(
                "{}/api/queues/{}/{}",
                self.mgmt_url,
                seg(vhost),
                seg(queue)
            ))
            .basic_auth(&self.admin_user, Some(&self.admin_pass))
            .send()
            .await?;
        anyhow::ensure!(
            r.status().is_success(),
            "RabbitMQ queue {vhost}/{queue}: {}",
            r.status()
        );
        let v: serde_json::Value = r.json().await?;
        Ok(v["arguments"].clone())
    }

    /// Whether the user exists (`GET /api/users/{user}` answers 200).
    pub async fn user_exists(&self, user: &str) -> anyhow::Result<bool> {
        let r = self
            .http()
            .get(format!("{}/api/users/{}", self.mgmt_url, seg(user)))
            .basic_auth(&self.admin_user, Some(&self.admin_pass))
            .send()
            .await?;
        Ok(r.status().is_success())
    }
}

/// One path segment of the management API, percent-encoded (`/` is the default vhost's name).
fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
