//! One error taxonomy for every backend (and, in the agent, for Waldur and order steps): a
//! *kind* saying what went wrong and, separately, whether trying again may help. Adapters map
//! an answer's status (the default) and the vendor's own error code (which overrides it) into
//! a kind; nothing anywhere classifies an error by its message text. Modelled on the error
//! type of apache/opendal (`core/src/types/error.rs`: kind plus a temporary/persistent status).

use crate::scrub::scrub_secrets;

/// What went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The thing does not exist (deleting it is done).
    NotFound,
    /// The thing exists already (adopt it, or refuse it when it is someone else's).
    AlreadyExists,
    /// The thing still holds something (a user with buckets, a bucket with objects).
    NotEmpty,
    /// A limit of the service was reached (e.g. the most keys a user may hold).
    LimitReached,
    /// The service refused the agent's own credentials (the operator's to fix).
    Unauthorized,
    /// The backend cannot do this at all.
    Unsupported,
    /// The request is wrong as it is (bad input, a refused value).
    Invalid,
    /// The service is not reachable or not answering properly now.
    Unavailable,
    /// Anything else the service answered.
    Unexpected,
}

impl ErrorKind {
    /// Whether an error of this kind is worth trying again by default (an adapter may say
    /// otherwise for a particular answer).
    pub fn retryable_by_default(self) -> bool {
        matches!(self, ErrorKind::Unavailable)
    }
}

/// A backend error with a message that is safe to show an operator or a customer: secrets are
/// scrubbed when the error is built, so no later path can leak them.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct BackendError {
    kind: ErrorKind,
    retryable: bool,
    /// The vendor's own error code (`NoSuchUser`, `EntityAlreadyExists`, …), when it gave one.
    code: Option<String>,
    message: String,
}

impl BackendError {
    pub fn new(kind: ErrorKind, message: impl AsRef<str>) -> Self {
        Self {
            kind,
            retryable: kind.retryable_by_default(),
            code: None,
            message: scrub_secrets(message.as_ref()),
        }
    }
    pub fn unavailable(message: impl AsRef<str>) -> Self {
        Self::new(ErrorKind::Unavailable, message)
    }
    pub fn invalid(message: impl AsRef<str>) -> Self {
        Self::new(ErrorKind::Invalid, message)
    }
    pub fn unexpected(message: impl AsRef<str>) -> Self {
        Self::new(ErrorKind::Unexpected, message)
    }
    pub fn not_found(message: impl AsRef<str>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }
    pub fn already_exists(message: impl AsRef<str>) -> Self {
        Self::new(ErrorKind::AlreadyExists, message)
    }
    pub fn not_empty(message: impl AsRef<str>) -> Self {
        Self::new(ErrorKind::NotEmpty, message)
    }
    pub fn unauthorized(message: impl AsRef<str>) -> Self {
        Self::new(ErrorKind::Unauthorized, message)
    }
    pub fn unsupported(message: impl AsRef<str>) -> Self {
        Self::new(ErrorKind::Unsupported, message)
    }

    /// Says whether trying again may help (overriding the kind's default).
    pub fn with_retryable(mut self, retryable: bool) -> Self {
        self.retryable = retryable;
        self
    }

    /// Keeps the vendor's error code.
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        let code = code.into();
        self.code = (!code.is_empty()).then_some(code);
        self
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
    pub fn is_retryable(&self) -> bool {
        self.retryable
    }
    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Prefix the message with context, keeping kind, retryability and code.
    pub fn context(self, what: impl std::fmt::Display) -> Self {
        Self {
            message: format!("{what}: {}", self.message),
            ..self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_scrubbed_at_construction() {
        let e = BackendError::invalid("PUT /keys/AK?secretKey=hunter2 failed");
        assert!(!e.to_string().contains("hunter2"));
        assert!(!format!("{e:?}").contains("hunter2"));
        assert_eq!(e.kind(), ErrorKind::Invalid);
    }

    #[test]
    fn kind_retryability_and_code_are_separate() {
        let e = BackendError::unavailable("timeout").context("croit PUT quota");
        assert!(e.is_retryable());
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert_eq!(e.message(), "croit PUT quota: timeout");
        let e = BackendError::unauthorized("token expired");
        assert!(
            !e.is_retryable(),
            "the agent decides what a refused credential means"
        );
        let e = BackendError::unexpected("HTTP 500")
            .with_retryable(true)
            .with_code("InternalError");
        assert_eq!(
            (e.kind(), e.is_retryable(), e.code()),
            (ErrorKind::Unexpected, true, Some("InternalError"))
        );
    }
}
