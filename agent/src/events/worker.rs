//! The event worker: drains the work queue (orders, key rotations) that STOMP listeners, the
//! reconcile sweep and the inbox replay fill; each piece of work leaves the inbox once handled.

use super::queue::Work;
use crate::app::App;

impl App {
    /// Work journaled before a restart is queued again.
    pub(crate) async fn replay_inbox(&self) {
        for item in self.store.inbox_all().await.unwrap_or_default() {
            let work = match item.kind.as_str() {
                "order" => Work::Order {
                    offering: item.offering_uuid,
                    order_uuid: item.key,
                },
                _ => Work::Rotate {
                    offering: item.offering_uuid,
                    api_key_uuid: item.key,
                    payload: item.payload,
                },
            };
            self.queue.push(work);
        }
    }

    /// The reconcile sweep: every order waiting for the provider and every key waiting for
    /// rotation goes into the work queue (de-duplicated against what events queued).
    pub async fn sweep_into_queue(&self) -> usize {
        let mut queued = 0;
        for p in &self.processors {
            let offering = p.offering.offering_uuid.simple().to_string();
            match p
                .waldur
                .list_orders(&offering, &crate::orders::ACTIVE_STATES, None)
                .await
            {
                Ok(orders) => {
                    for o in orders {
                        queued += usize::from(self.queue.push(Work::Order {
                            offering: offering.clone(),
                            order_uuid: crate::waldur::hex(&o.uuid),
                        }));
                    }
                }
                Err(e) => {
                    tracing::warn!(offering = %p.offering.name, error = %e, "sweep: cannot list orders")
                }
            }
        }
        for r in &self.rotators {
            let offering = r.offering.offering_uuid.simple().to_string();
            match r
                .waldur
                .list_keys_updating(&offering, &chrono::Utc::now().to_rfc3339())
                .await
            {
                Ok(keys) => {
                    for k in keys {
                        let payload = serde_json::json!({
                            "action": "rotate",
                            "resource_uuid": k.resource_uuid,
                            "resource_backend_id": k.resource_backend_id,
                            "api_key_uuid": k.uuid,
                            "client_id": k.client_id,
                        });
                        queued += usize::from(self.queue.push(Work::Rotate {
                            offering: offering.clone(),
                            api_key_uuid: crate::waldur::hex(&k.uuid),
                            payload: payload.to_string(),
                        }));
                    }
                }
                Err(e) => {
                    tracing::warn!(offering = %r.offering.name, error = %e, "sweep: cannot list keys to rotate")
                }
            }
        }
        queued
    }

    /// Drains the event work queue forever.
    pub async fn work(&self) {
        loop {
            let w = self.queue.pop().await;
            self.do_work(&w).await;
        }
    }

    /// Handles one piece of queued work and clears it from the inbox.
    pub async fn do_work(&self, w: &Work) {
        match w {
            Work::Order {
                offering,
                order_uuid,
            } => {
                match self
                    .processors
                    .iter()
                    .find(|p| p.offering.offering_uuid.simple().to_string() == *offering)
                {
                    Some(p) => {
                        let outcome = p.handle(order_uuid).await;
                        tracing::info!(order = %order_uuid, ?outcome, "order event handled");
                    }
                    None => {
                        tracing::warn!(offering, "event for an offering without order processing")
                    }
                }
            }
            Work::Rotate {
                offering,
                api_key_uuid,
                payload,
            } => {
                let r = self
                    .rotators
                    .iter()
                    .find(|r| r.offering.offering_uuid.simple().to_string() == *offering);
                let key: Option<crate::waldur::ApiKeyStatus> =
                    serde_json::from_str::<serde_json::Value>(payload)
                        .ok()
                        .map(|v| {
                            let text = |k: &str| {
                                v.get(k)
                                    .and_then(serde_json::Value::as_str)
                                    .map(str::to_string)
                            };
                            crate::waldur::ApiKeyStatus {
                                uuid: api_key_uuid.clone(),
                                resource_uuid: text("resource_uuid"),
                                resource_backend_id: text("resource_backend_id"),
                                client_id: text("client_id"),
                                state: "Updating".into(),
                                modified: None,
                            }
                        });
                match (r, key) {
                    (Some(r), Some(key)) => {
                        let outcome = r.rotate(&key).await;
                        tracing::info!(api_key = %api_key_uuid, ?outcome, "rotation event handled");
                    }
                    (None, _) => {
                        tracing::warn!(offering, api_key = %api_key_uuid, "rotation for an offering without order processing; dropped")
                    }
                    (_, None) => {
                        tracing::warn!(api_key = %api_key_uuid, "unreadable rotation work; dropped (the sweep retries keys still Updating)")
                    }
                }
            }
        }
        let (kind, key) = w.inbox_key();
        if let Err(e) = self.store.inbox_remove(kind, key).await {
            tracing::error!(error = %e, "cannot clear handled work from the inbox");
        }
    }
}
