//! Order fulfilment: one idempotent `handle(order)` that re-reads the order over REST,
//! approves it, provisions the backend step by step (journaled), and completes or errs it.

mod create;
mod error;
pub mod input;
pub mod keybook;
mod keys;
pub use keys::KEYS_PER_RESOURCE;
pub mod metadata;
mod terminate;
mod update;

pub use error::{HIDDEN_DETAILS, StepError};

use crate::config::Offering;
use crate::store::{JournalStep, Store};
use crate::waldur::WaldurId;
use crate::waldur::{Order, OrderState, OrderType, WaldurClient};
use site_agent_sdk::StorageBackend;
use std::sync::Arc;
use tracing::Instrument;

/// The ceilings a resource has now: those the agent last applied (Waldur keeps only the last
/// order's `limits`, which may name one ceiling), else Waldur's record of the resource.
pub async fn current_ceilings(
    store: &Store,
    resource: &crate::waldur::Resource,
) -> Result<input::QuotaRequest, StepError> {
    if let Some(c) = store.ceilings(&resource.uuid).await? {
        return Ok(c.into());
    }
    input::resource_ceilings(resource).map_err(|e| {
        StepError::invalid(format!("the resource's recorded ceilings are invalid: {e}"))
    })
}

/// What handling an order achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// Erred with this message.
    Erred(String),
    /// Nothing to do (final state, someone else's turn).
    Skipped,
    /// A transient problem; the order is untouched and will be retried.
    Retry(String),
}

/// Orders being handled right now: an order is never handled twice at once (polling, events
/// and the sweep all reach the same `handle`).
#[derive(Clone, Default)]
pub struct InFlight(Arc<std::sync::Mutex<std::collections::HashSet<String>>>);

pub struct InFlightGuard {
    set: InFlight,
    key: String,
}

impl InFlight {
    pub fn try_begin(&self, key: &str) -> Option<InFlightGuard> {
        let mut s = self.0.lock().unwrap_or_else(|e| e.into_inner());
        s.insert(key.to_string()).then(|| InFlightGuard {
            set: self.clone(),
            key: key.to_string(),
        })
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.set
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.key);
    }
}

pub struct OrderProcessor {
    pub in_flight: InFlight,
    pub locks: crate::locks::ResourceLocks,
    pub offering: Offering,
    pub waldur: Arc<WaldurClient>,
    pub backend: Arc<dyn StorageBackend>,
    pub store: Store,
    pub expose_details: bool,
    /// The offering's usage billing, when it reports usage: a terminated resource's last
    /// figures are sent before its user goes.
    pub usage: Option<Arc<crate::usage::UsageReporter>>,
}

impl OrderProcessor {
    /// Lists the offering's pending-provider and executing orders and handles each.
    pub async fn process_offering(&self) -> Result<Vec<(String, Outcome)>, StepError> {
        let offering = self.offering.offering_uuid.simple().to_string();
        let orders = self
            .waldur
            .list_orders(&offering, &OrderState::ACTIVE, None)
            .await?;
        let mut results = Vec::with_capacity(orders.len());
        for order in orders {
            // Re-read each order: an event may have handled it since the list was made.
            let outcome = self.handle(&order.uuid).await;
            results.push((order.uuid.into(), outcome));
        }
        Ok(results)
    }

    /// Handles an order by UUID (re-read over REST: events only say that something changed).
    pub async fn handle(&self, order_uuid: &str) -> Outcome {
        let uuid = WaldurId::new(order_uuid);
        // Claim the order first, then read it: whoever handled it before us has finished.
        let Some(_guard) = self.in_flight.try_begin(&uuid) else {
            tracing::debug!(order = %uuid, "order already being handled");
            return Outcome::Skipped;
        };
        // An order the agent cannot read is never erred: it may not exist (a stale or
        // forged event), belong to someone else, or Waldur may be having a bad minute.
        let mut order = match self.waldur.get_order(&uuid).await {
            Ok(order) => order,
            Err(e) if e.is_retryable() => {
                tracing::warn!(order = %uuid, error = %e, "cannot read the order; left for a later retry");
                return Outcome::Retry(e.message);
            }
            Err(e) => {
                tracing::warn!(order = %uuid, error = %e, "cannot read the order; dropped");
                return Outcome::Skipped;
            }
        };
        if order.offering_uuid.as_deref()
            != Some(self.offering.offering_uuid.simple().to_string().as_str())
        {
            tracing::warn!(order = %uuid, offering = ?order.offering_uuid, "order belongs to another offering; dropped");
            return Outcome::Skipped;
        }
        if !order.state.is_active() {
            return Outcome::Skipped;
        }
        let _resource = match order.marketplace_resource_uuid.clone() {
            Some(r) if !r.is_empty() => {
                let guard = self.locks.lock(&r).await;
                if guard.waited {
                    // Someone worked on the resource meanwhile: look at the order afresh.
                    order = match self.waldur.get_order(&uuid).await {
                        Ok(o) => o,
                        Err(e) => return Outcome::Retry(e.message),
                    };
                    if !order.state.is_active() {
                        return Outcome::Skipped;
                    }
                }
                Some(guard)
            }
            _ => None,
        };
        let span = tracing::info_span!("order", order = %uuid, kind = %order.order_type);
        // A fixed set of label values: an unknown type is "other".
        let kind = match &order.order_type {
            OrderType::Other(_) => "other".to_string(),
            t => t.to_string(),
        };
        let started = std::time::Instant::now();
        let result = self.run(order).instrument(span).await;
        let outcome = self.finish(&uuid, result).await;
        let label = match &outcome {
            Outcome::Done => "done",
            Outcome::Erred(_) => "erred",
            Outcome::Skipped => "skipped",
            Outcome::Retry(_) => "retry",
        };
        crate::metrics::get().order(&self.offering.name, &kind, label, started.elapsed());
        outcome
    }

    async fn run(&self, mut order: Order) -> Result<(), StepError> {
        let uuid = order.uuid.clone();
        // Validate before approving: bad input errs the order and no backend is called.
        let quota = self.validate(&order).map_err(StepError::invalid)?;
        if order.state == OrderState::PendingProvider {
            order.state = self.waldur.approve_order(&uuid).await?;
            self.store
                .journal_record(&uuid, JournalStep::Approved, "")
                .await?;
            tracing::info!("order approved");
        }
        if order.state != OrderState::Executing {
            tracing::warn!(state = %order.state, "order is not executing after approval; left for later");
            return Err(StepError::wait(format!(
                "order is {} after approval",
                order.state
            )));
        }
        match &order.order_type {
            OrderType::Create | OrderType::Restore => self.create(&order, quota).await?,
            OrderType::Update => self.update(&order, quota).await?,
            OrderType::Terminate => self.terminate(&order).await?,
            OrderType::Other(other) => {
                return Err(StepError::invalid(format!(
                    "unsupported order type {other:?}"
                )));
            }
        }
        // Waldur completes only an executing order (409 otherwise, no read needed before):
        // someone may have finished or erred it while we worked.
        match self.waldur.set_order_done(&uuid).await {
            Ok(()) => {}
            Err(e) if e.is_wrong_state() => {
                tracing::warn!(error = %e, "order changed state while we worked; not marking done");
            }
            Err(e) => return Err(e.into()),
        }
        self.store
            .journal_record(&uuid, JournalStep::Done, "")
            .await?;
        Ok(())
    }

    /// Checks the order's input; returns the validated ceilings.
    fn validate(&self, order: &Order) -> Result<input::QuotaRequest, String> {
        let q = input::order_ceilings(order)?;
        match order.order_type {
            OrderType::Create => {
                input::require_storage_ceiling(&q)?;
                input::quota_spec(&self.offering, q)?;
            }
            // A restore may repeat no ceiling: the resource's own are used (see `create`).
            OrderType::Update | OrderType::Restore => {
                input::quota_spec(&self.offering, q)?;
            }
            _ => {}
        }
        Ok(q)
    }

    async fn finish(&self, uuid: &str, result: Result<(), StepError>) -> Outcome {
        match result {
            Ok(()) => {
                tracing::info!(order = %uuid, "order done");
                Outcome::Done
            }
            Err(e) if e.waits() => {
                tracing::warn!(order = %uuid, error = %e, "order left for a later retry");
                Outcome::Retry(e.to_string())
            }
            Err(e) => {
                let message = e.public_message(self.expose_details);
                tracing::error!(order = %uuid, error = %e, "order failed");
                match self.waldur.set_order_erred(uuid, &message, "").await {
                    Ok(()) => {
                        let _ = self
                            .store
                            .journal_record(uuid, JournalStep::Erred, "")
                            .await;
                        Outcome::Erred(message)
                    }
                    Err(we) => {
                        tracing::error!(order = %uuid, error = %we, "could not mark the order erred");
                        Outcome::Retry(we.message)
                    }
                }
            }
        }
    }
}
