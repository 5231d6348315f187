//! The event workers: each offering's work queue (orders, key rotations), filled by its STOMP
//! listener, the reconcile sweep and the inbox replay, is drained by its own worker, so one
//! offering's trouble never holds up another's. Each piece of work leaves the inbox once
//! handled.

use super::{App, WORK_ITEM_LIMIT};
use crate::events::Work;
use crate::ops::supervisor::Beat;

impl App {
    /// Work journaled before a restart is queued again.
    pub(crate) async fn replay_inbox(&self) {
        for item in self.store.inbox_all().await.unwrap_or_default() {
            let work = match item.kind.as_str() {
                "order" => Work::Order {
                    offering: item.offering_uuid.clone(),
                    order_uuid: item.key,
                },
                _ => Work::Rotate {
                    offering: item.offering_uuid.clone(),
                    api_key_uuid: item.key,
                },
            };
            match self.queues.get(&item.offering_uuid) {
                Some(q) => {
                    q.push(work);
                }
                None => {
                    // The offering left the config: nothing here will ever handle it.
                    let (kind, key) = work.inbox_key();
                    let _ = self.store.inbox_remove(kind, key).await;
                }
            }
        }
    }

    /// The reconcile sweep of one offering: every order waiting for the provider and every
    /// key waiting for rotation goes into its queue (de-duplicated against what events queued).
    pub async fn sweep_into_queue(&self, offering: &str) -> usize {
        let Some(queue) = self.queues.get(offering) else {
            return 0;
        };
        let mut queued = 0;
        for p in self
            .processors
            .iter()
            .filter(|p| p.offering.offering_uuid.simple().to_string() == offering)
        {
            match p
                .waldur
                .list_orders(offering, &crate::waldur::OrderState::ACTIVE, None)
                .await
            {
                Ok(orders) => {
                    for o in orders {
                        queued += usize::from(queue.push(Work::Order {
                            offering: offering.to_string(),
                            order_uuid: o.uuid.into(),
                        }));
                    }
                }
                Err(e) => {
                    tracing::warn!(offering = %p.offering.name, error = %e, "sweep: cannot list orders")
                }
            }
        }
        for r in self
            .rotators
            .iter()
            .filter(|r| r.offering.offering_uuid.simple().to_string() == offering)
        {
            match r
                .waldur
                .list_keys_updating(offering, &chrono::Utc::now().to_rfc3339())
                .await
            {
                Ok(keys) => {
                    for k in keys {
                        queued += usize::from(queue.push(Work::Rotate {
                            offering: offering.to_string(),
                            api_key_uuid: k.uuid.into(),
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

    /// Drains one offering's work queue forever, each item bounded in time.
    pub async fn work(&self, offering: String, beat: Beat) {
        let Some(queue) = self.queues.get(&offering).cloned() else {
            return;
        };
        loop {
            let w = queue.pop().await;
            beat.cycle(WORK_ITEM_LIMIT, self.do_work(&w)).await;
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
            } => {
                match self
                    .rotators
                    .iter()
                    .find(|r| r.offering.offering_uuid.simple().to_string() == *offering)
                {
                    // The key is read afresh over REST: the event only says which key.
                    Some(r) => {
                        let outcome = r.rotate(api_key_uuid).await;
                        tracing::info!(api_key = %api_key_uuid, ?outcome, "rotation event handled");
                    }
                    None => {
                        tracing::warn!(offering, api_key = %api_key_uuid, "rotation for an offering without order processing; dropped")
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
