//! Events for one offering: register the agent identity and its subscriptions and queues, keep
//! STOMP sessions to them, and turn each message into work — written to the inbox first, then
//! acknowledged, so delivery is at-least-once and nothing is lost in between.

use super::queue::{Work, WorkQueue};
use crate::config::{Offering, WaldurAuth};
use crate::ops::supervisor::Supervisor;
use crate::retry::Backoff;
use crate::stomp::session::{self, Delivery, SessionConfig};
use crate::store::{InboxItem, Store};
use crate::waldur::OrderState;
use crate::waldur::WaldurClient;
use crate::waldur::WaldurId;
use secrecy::SecretString;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{mpsc, watch};

/// The object types the agent subscribes to for order processing.
pub const OBJECT_TYPES: [&str; 2] = ["order", "resource_api_key_rotation"];

pub struct EventListener {
    pub offering: Offering,
    pub waldur: Arc<WaldurClient>,
    pub store: Store,
    pub queue: Arc<WorkQueue>,
    /// Delays between set-up attempts and STOMP reconnects.
    pub backoff: Backoff,
    /// Shows each session's state to systemd.
    pub supervisor: Supervisor,
}

/// A session to open and what its subscriptions carry.
struct Planned {
    config: SessionConfig,
    /// subscription id → object type (`None`: unified queue, typed by the payload).
    types: HashMap<String, Option<String>>,
}

impl EventListener {
    fn offering_key(&self) -> String {
        self.offering.offering_uuid.simple().to_string()
    }

    /// Runs until `shutdown`: setup is retried while Waldur is away, sessions reconnect forever.
    pub async fn run(&self, mut shutdown: watch::Receiver<bool>) {
        let Some(stomp) = self.offering.stomp.clone() else {
            return;
        };
        let WaldurAuth::Token(token) = &self.offering.auth else {
            tracing::warn!(offering = %self.offering.name, "STOMP needs waldur_api_token as its passcode; this offering polls instead");
            return;
        };
        let mut attempt = 0u32;
        let planned = loop {
            match self.setup(&stomp, token.clone()).await {
                Ok(p) => break p,
                Err(e) => {
                    attempt += 1;
                    let delay = self.backoff.delay(attempt);
                    tracing::warn!(offering = %self.offering.name, error = %e, retry_in_ms = delay.as_millis() as u64, "cannot register event subscriptions yet");
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = shutdown.changed() => { if *shutdown.borrow() { return; } }
                    }
                }
            }
        };
        // Orders placed before our queues existed sent their events nowhere: sweep them now.
        match self
            .waldur
            .list_orders(&self.offering_key(), &OrderState::ACTIVE, None)
            .await
        {
            Ok(orders) => {
                for o in orders {
                    self.queue.push(Work::Order {
                        offering: self.offering_key(),
                        order_uuid: o.uuid.into(),
                    });
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "initial order sweep failed; polling will catch up")
            }
        }
        let (tx, mut rx) = mpsc::channel::<Delivery>(256);

        let mut types = HashMap::new();
        let mut sessions = Vec::new();
        for p in planned {
            types.extend(p.types);
            let state = self.supervisor.session(p.config.name.clone());
            sessions.push(session::run(p.config, tx.clone(), shutdown.clone(), state));
        }
        drop(tx);
        let handle = async {
            while let Some(d) = rx.recv().await {
                self.on_delivery(d, &types).await;
            }
        };
        tokio::join!(futures_util::future::join_all(sessions), handle);
    }

    async fn setup(
        &self,
        stomp: &crate::config::StompSettings,
        passcode: SecretString,
    ) -> Result<Vec<Planned>, crate::waldur::WaldurError> {
        let offering = self.offering_key();
        let identity = self
            .waldur
            .register_identity(&offering, env!("CARGO_PKG_VERSION"))
            .await?;
        let tls = if stomp.url.starts_with("wss://") {
            Some(
                site_agent_sdk::http::tls_config(stomp.verify_tls)
                    .map_err(|e| crate::waldur::WaldurError::setup(e.to_string()))?,
            )
        } else {
            None
        };
        let base = |vhost: String, login: String, queue: &str, name: String| SessionConfig {
            url: stomp.url.clone(),
            vhost,
            login,
            passcode: passcode.clone(),
            heartbeat_ms: 10_000,
            subscriptions: vec![(queue.to_string(), format!("/amq/queue/{queue}"))],
            tls: tls.clone(),
            backoff: self.backoff,
            name,
        };
        let mut planned = Vec::new();
        if stomp.unified_queue {
            let q = self
                .waldur
                .register_queue(&identity.uuid, &OBJECT_TYPES)
                .await?;
            let config = base(
                q.vhost.clone(),
                q.rmq_username.clone(),
                &q.queue_name,
                format!("{}/unified", self.offering.name),
            );
            planned.push(Planned {
                config,
                types: HashMap::from([(q.queue_name.clone(), None)]),
            });
        } else {
            for t in OBJECT_TYPES {
                let sub = self
                    .waldur
                    .register_event_subscription(&identity.uuid, t)
                    .await?;
                let q = self.waldur.create_queue(&sub.uuid, &offering, t).await?;
                // Computed as upstream does; the server's answer must agree.
                let queue = format!(
                    "subscription_{}_offering_{offering}_{t}",
                    WaldurId::new(&sub.uuid)
                );
                if !q.queue_name.is_empty() && q.queue_name != queue {
                    tracing::warn!(server = %q.queue_name, computed = %queue, "Waldur names the queue differently; using Waldur's");
                }
                let queue = if q.queue_name.is_empty() {
                    queue
                } else {
                    q.queue_name
                };
                let config = base(
                    WaldurId::new(&sub.user_uuid).into(),
                    WaldurId::new(&sub.uuid).into(),
                    &queue,
                    format!("{}/{t}", self.offering.name),
                );
                planned.push(Planned {
                    config,
                    types: HashMap::from([(queue.clone(), Some(t.to_string()))]),
                });
            }
        }
        tracing::info!(offering = %self.offering.name, sessions = planned.len(), url = %stomp.url, "event subscriptions registered");
        Ok(planned)
    }

    /// Journals the message, then acknowledges it. A malformed or oversized message is
    /// logged (a bounded excerpt) and acknowledged: redelivering it could never help.
    async fn on_delivery(&self, d: Delivery, types: &HashMap<String, Option<String>>) {
        let offering = self.offering_key();
        let metrics = crate::metrics::get();
        let name = self.offering.name.as_str();
        metrics.event(name, "received");
        if let Some(size) = d.dropped {
            tracing::warn!(subscription = %d.subscription, bytes = size, limit = crate::stomp::session::MAX_MESSAGE, "event larger than any Waldur event; acknowledged and dropped (the sweep finds any order it was about)");
            d.acker.ack();
            metrics.event(name, "dropped");
            return;
        }
        let body: Value = match serde_json::from_slice(&d.body) {
            Ok(v @ Value::Object(_)) => v,
            _ => {
                tracing::warn!(subscription = %d.subscription, bytes = d.body.len(), excerpt = %excerpt(&d.body), "malformed event (not a JSON object); acknowledged and dropped");
                d.acker.ack();
                metrics.event(name, "dropped");
                return;
            }
        };
        let object_type = match types.get(&d.subscription) {
            Some(Some(t)) => t.clone(),
            _ => body
                .get("object_type")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        };
        let text = |k: &str| {
            body.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let work = match object_type.as_str() {
            "order" => {
                let (uuid, state) = (WaldurId::new(&text("order_uuid")), text("order_state"));
                if !uuid.is_uuid() {
                    tracing::warn!(excerpt = %excerpt(body.to_string().as_bytes()), "order event without a valid order_uuid; dropped");
                    None
                } else if !OrderState::parse(&state).is_active() {
                    None // done, erred, canceled...: nothing for us, no REST call
                } else {
                    Some(Work::Order {
                        offering: offering.clone(),
                        order_uuid: uuid.into(),
                    })
                }
            }
            "resource_api_key_rotation" => {
                let key = WaldurId::new(&text("api_key_uuid"));
                if text("action") != "rotate" || !key.is_uuid() || text("client_id").is_empty() {
                    tracing::warn!(excerpt = %excerpt(body.to_string().as_bytes()), "rotation event without action rotate, api_key_uuid or client_id; dropped");
                    None
                } else {
                    Some(Work::Rotate {
                        offering: offering.clone(),
                        api_key_uuid: key.into(),
                    })
                }
            }
            other => {
                tracing::debug!(
                    object_type = other,
                    "event of a type this agent does not handle"
                );
                None
            }
        };
        if let Some(work) = work {
            let (kind, key) = work.inbox_key();
            let item = InboxItem {
                kind: kind.into(),
                key: key.into(),
                offering_uuid: offering.clone(),
                payload: body.to_string(),
            };
            if let Err(e) = self
                .store
                .inbox_put(item, chrono::Utc::now().timestamp())
                .await
            {
                // Not acknowledged: the broker delivers it again.
                tracing::error!(error = %e, "cannot journal an event; it will be redelivered");
                return;
            }
            self.queue.push(work);
        }
        d.acker.ack();
        metrics.event(name, "acked");
    }
}

/// At most 200 characters of a message for the log, lossily decoded and with control
/// characters escaped: enough to recognise it, never a whole (possibly huge) body.
pub fn excerpt(body: &[u8]) -> String {
    const MAX: usize = 200;
    let text = String::from_utf8_lossy(&body[..body.len().min(MAX * 4)]);
    let mut out: String = text
        .chars()
        .take(MAX)
        .flat_map(char::escape_debug)
        .collect();
    if text.chars().count() > MAX || body.len() > MAX * 4 {
        out.push_str(&format!("… ({} bytes)", body.len()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::excerpt;

    #[test]
    fn excerpts_are_bounded_and_printable() {
        assert_eq!(excerpt(b"{\"a\":1}"), "{\\\"a\\\":1}");
        let big = vec![b'x'; 1 << 20];
        let e = excerpt(&big);
        assert!(e.len() < 300 && e.ends_with("(1048576 bytes)"), "{e}");
        assert_eq!(excerpt(b"\xff\n"), "\u{fffd}\\n");
    }
}
