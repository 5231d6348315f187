//! One error taxonomy for every backend.

use crate::scrub::scrub_secrets;

/// How the agent must react to an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Network trouble, timeouts, 5xx, 429: retry with backoff, never err an order.
    Transient,
    /// The request cannot succeed as it is: err the order with the message.
    Permanent,
    /// The thing already exists (meaningful to idempotency: adopt or refuse).
    Conflict,
    /// The thing does not exist (meaningful to idempotency: deleting it is done).
    NotFound,
}

/// A backend error with a message that is safe to show an operator or a customer: secrets are
/// scrubbed when the error is built, so no later path can leak them.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct BackendError {
    pub class: ErrorClass,
    message: String,
}

impl BackendError {
    pub fn new(class: ErrorClass, message: impl AsRef<str>) -> Self {
        Self {
            class,
            message: scrub_secrets(message.as_ref()),
        }
    }
    pub fn transient(message: impl AsRef<str>) -> Self {
        Self::new(ErrorClass::Transient, message)
    }
    pub fn permanent(message: impl AsRef<str>) -> Self {
        Self::new(ErrorClass::Permanent, message)
    }
    pub fn conflict(message: impl AsRef<str>) -> Self {
        Self::new(ErrorClass::Conflict, message)
    }
    pub fn not_found(message: impl AsRef<str>) -> Self {
        Self::new(ErrorClass::NotFound, message)
    }
    pub fn message(&self) -> &str {
        &self.message
    }
    pub fn is_transient(&self) -> bool {
        self.class == ErrorClass::Transient
    }
    /// Prefix the message with context, keeping the class.
    pub fn context(self, what: impl std::fmt::Display) -> Self {
        Self {
            class: self.class,
            message: format!("{what}: {}", self.message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_scrubbed_at_construction() {
        let e = BackendError::permanent("PUT /keys/AK?secretKey=hunter2 failed");
        assert!(!e.to_string().contains("hunter2"));
        assert!(!format!("{e:?}").contains("hunter2"));
        assert_eq!(e.class, ErrorClass::Permanent);
    }

    #[test]
    fn context_keeps_class() {
        let e = BackendError::transient("timeout").context("croit PUT quota");
        assert!(e.is_transient());
        assert_eq!(e.message(), "croit PUT quota: timeout");
    }
}
