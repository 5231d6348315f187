//! The order error policy: transient errors leave the order untouched for a later retry;
//! permanent ones err it with a readable message.

use crate::store::StoreError;
use crate::waldur::{WaldurError, WaldurErrorClass};
use site_agent_sdk::{BackendError, ErrorClass};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepError {
    /// Retry later; never err the order.
    Transient(String),
    /// Err the order with this (customer-readable) message.
    Permanent(String),
    /// A Waldur API call was refused (4xx): shown only with `expose_backend_error_details`.
    Api(String),
}

impl std::fmt::Display for StepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StepError::Transient(m) | StepError::Permanent(m) | StepError::Api(m) => f.write_str(m),
        }
    }
}

impl From<WaldurError> for StepError {
    fn from(e: WaldurError) -> Self {
        match e.class {
            WaldurErrorClass::Transient => StepError::Transient(e.message),
            _ => StepError::Api(e.message),
        }
    }
}

impl From<BackendError> for StepError {
    fn from(e: BackendError) -> Self {
        match e.class {
            ErrorClass::Transient => StepError::Transient(e.message().to_string()),
            _ => StepError::Permanent(e.message().to_string()),
        }
    }
}

impl From<StoreError> for StepError {
    fn from(e: StoreError) -> Self {
        // Our own disk trouble is never the customer's fault.
        StepError::Transient(e.to_string())
    }
}

pub const HIDDEN_DETAILS: &str = "Internal backend error. Please contact the service provider.";

impl StepError {
    /// The message sent with `set_state_erred`.
    pub fn public_message(&self, expose_details: bool) -> String {
        match self {
            StepError::Api(_) if !expose_details => HIDDEN_DETAILS.to_string(),
            other => other.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_are_hidden_only_for_api_refusals() {
        let api = StepError::Api("Waldur get resource: HTTP 400: {\"x\": 1}".into());
        assert_eq!(api.public_message(false), HIDDEN_DETAILS);
        assert!(api.public_message(true).contains("HTTP 400"));
        let ours =
            StepError::Permanent("max_storage_limit must be a whole number (got 1.5)".into());
        assert_eq!(ours.public_message(false), ours.to_string());
    }

    #[test]
    fn classification() {
        let t: StepError = WaldurError::from_status("x", 502, "").into();
        assert!(matches!(t, StepError::Transient(_)));
        let p: StepError = WaldurError::from_status("x", 400, "").into();
        assert!(matches!(p, StepError::Api(_)));
        let b: StepError = BackendError::conflict("exists").into();
        assert!(matches!(b, StepError::Permanent(_)));
        let s: StepError = StoreError("disk full".into()).into();
        assert!(matches!(s, StepError::Transient(_)));
    }
}
