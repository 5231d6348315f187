//! The contract between site-agent and its storage backends.
//!
//! Plugins implement [`StorageBackend`]; the agent never sees a vendor's wire format and plugins
//! never see Waldur. Everything a backend may return as an error is one [`BackendError`] whose
//! [`ErrorClass`] tells the agent whether to retry, err the order, or treat it as idempotent.

pub mod backend;
pub mod conformance;
pub mod dataplane;
pub mod error;
pub mod http;
pub mod ident;
pub mod keys;
pub mod scrub;
pub mod settings;
pub mod types;

pub use backend::StorageBackend;
pub use error::{BackendError, ErrorClass};
pub use ident::validate_identifier;
pub use types::*;
