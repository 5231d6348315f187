//! Typed client for the Waldur Mastermind REST API subset the agent uses.

mod api;
mod auth;
mod client;
mod error;
pub mod events_api;
mod id;
mod order_kind;
pub mod types;

pub use api::ComponentUsage;
pub use client::WaldurClient;
pub use error::WaldurError;
pub use id::WaldurId;
pub use order_kind::{OrderState, OrderType};
pub use types::{ApiKeyStatus, Me, Order, ProviderOffering, Resource};
