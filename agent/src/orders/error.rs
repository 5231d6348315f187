//! The order error policy, over the one taxonomy (kind + retryable): an error that a retry
//! may cure, or a refused credential of the agent's own (the operator's to fix), leaves the
//! order untouched for later; anything else errs it with a readable message.

use crate::store::StoreError;
use crate::waldur::WaldurError;
use site_agent_sdk::{BackendError, ErrorKind};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepError {
    pub kind: ErrorKind,
    pub retryable: bool,
    message: String,
    /// A Waldur API refusal: its text is shown only with `expose_backend_error_details`.
    pub from_waldur: bool,
}

impl std::fmt::Display for StepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl StepError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            retryable: kind.retryable_by_default(),
            message: message.into(),
            from_waldur: false,
        }
    }

    /// Not now: try again later (the order is left untouched).
    pub fn wait(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, message)
    }

    /// The order cannot be fulfilled as it is (it is erred with this message).
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Invalid, message)
    }

    /// The agent's policy: wait on anything a retry may cure and on refused credentials of
    /// the agent's own (an expired backend token is no customer's fault); err on the rest.
    pub fn waits(&self) -> bool {
        self.retryable || self.kind == ErrorKind::Unauthorized
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// The message sent with `set_state_erred`.
    pub fn public_message(&self, expose_details: bool) -> String {
        if self.from_waldur && !expose_details {
            HIDDEN_DETAILS.to_string()
        } else {
            self.message.clone()
        }
    }
}

impl From<WaldurError> for StepError {
    fn from(e: WaldurError) -> Self {
        Self {
            kind: e.kind,
            retryable: e.retryable,
            message: e.message,
            from_waldur: true,
        }
    }
}

impl From<BackendError> for StepError {
    fn from(e: BackendError) -> Self {
        Self {
            kind: e.kind(),
            retryable: e.is_retryable(),
            message: e.message().to_string(),
            from_waldur: false,
        }
    }
}

impl From<StoreError> for StepError {
    fn from(e: StoreError) -> Self {
        // Our own disk trouble is never the customer's fault.
        StepError::wait(e.to_string())
    }
}

pub const HIDDEN_DETAILS: &str = "Internal backend error. Please contact the service provider.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_are_hidden_only_for_waldur_refusals() {
        let api: StepError = WaldurError::from_status("get resource", 400, r#"{"x": [1]}"#).into();
        assert_eq!(api.public_message(false), HIDDEN_DETAILS);
        assert!(api.public_message(true).contains("HTTP 400"));
        let ours = StepError::invalid("max_storage_limit must be a whole number (got 1.5)");
        assert_eq!(ours.public_message(false), ours.to_string());
    }

    #[test]
    fn the_policy_waits_on_retryable_errors_and_refused_credentials() {
        let w = |e: StepError| e.waits();
        assert!(w(WaldurError::from_status("x", 502, "").into()));
        assert!(!w(WaldurError::from_status("x", 400, "").into()));
        assert!(
            w(WaldurError::from_status("x", 401, "").into()),
            "our token: the operator's"
        );
        assert!(w(BackendError::unauthorized("expired backend token").into()));
        assert!(w(BackendError::unavailable("timeout").into()));
        assert!(!w(
            BackendError::already_exists("someone else's user").into()
        ));
        assert!(!w(BackendError::not_empty("still owns buckets").into()));
        assert!(w(StoreError("disk full".into()).into()));
    }
}
