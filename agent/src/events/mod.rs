//! Event-driven work: STOMP listeners per offering feed one de-duplicating queue that a worker
//! drains (orders, key rotations). Polling and the reconcile sweep stay on as the safety net.

pub mod listener;
pub mod queue;

pub use listener::EventListener;
pub use queue::{Work, WorkQueue};
