//! The contract between site-agent and its storage backends.
//!
//! Plugins implement [`StorageBackend`]; the agent never sees a vendor's wire format and plugins
//! never see Waldur. Everything a backend may return as an error is one [`BackendError`] whose
//! [`ErrorKind`] says what went wrong and, separately, whether a retry may help.

pub mod backend;
pub mod conformance;
pub mod dataplane;
pub mod error;
pub mod http;
pub mod ident;
pub mod keys;
pub mod naming;
pub mod ownership;
pub mod plugin;
pub mod s3bucket;
pub mod s3error;
pub mod scrub;
pub mod settings;
pub mod sigv4;
pub mod stamped;
pub mod types;
pub mod vendor;
pub mod xml;

pub use backend::StorageBackend;
pub use error::{BackendError, ErrorKind};
pub use ident::validate_identifier;
pub use plugin::{BackendPlugin, BackendSettings};
pub use types::*;
