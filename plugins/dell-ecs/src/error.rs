//! ECS errors in the SDK's taxonomy. ECS answers `{code, retryable, description, details}`
//! (python-ecsclient 1.1.12 `common/exceptions.py`, `common/error_codes.py`; reference
//! `other-backends.md` §3.1): the status gives the default kind, the code overrides it, and
//! ECS's own `retryable` flag is honoured. No decision reads the description.

use serde::Deserialize;
use site_agent_sdk::{BackendError, ErrorKind};

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Body {
    code: Option<u64>,
    retryable: Option<bool>,
    description: Option<String>,
    details: Option<String>,
}

/// The kind an ECS error code means, where the code says more than the status.
fn kind_of_code(code: u64) -> Option<ErrorKind> {
    Some(match code {
        // "Request parameter cannot be found", "Resource not found".
        1004 | 1019 => ErrorKind::NotFound,
        // "Resource already exists", "Bucket already exists".
        1015 | 40008 => ErrorKind::AlreadyExists,
        // "Resource is being referenced" (a bucket with objects, a user owning buckets), and
        // the bucket-not-empty code the CloudStack driver looks for (unverified).
        1020 | 60019 => ErrorKind::NotEmpty,
        // "Exceeding limit" (a third secret key).
        1031 => ErrorKind::LimitReached,
        // "Bad request body", "Invalid bucket name", "Bucket Owner not valid".
        1013 | 40009 | 40010 => ErrorKind::Invalid,
        // Forbidden; invalid credentials or token.
        3000 | 4000 => ErrorKind::Unauthorized,
        // Service unavailable.
        6000 => ErrorKind::Unavailable,
        _ => return None,
    })
}

/// An ECS error answer as a backend error (`what` names the call).
pub fn classify(what: &str, status: u16, body: &str) -> BackendError {
    let b: Body = serde_json::from_str(body).unwrap_or_default();
    let by_status = match status {
        404 => ErrorKind::NotFound,
        401 | 403 => ErrorKind::Unauthorized,
        400 | 405 | 409 | 413 | 415 | 422 => ErrorKind::Invalid,
        429 | 500..=599 => ErrorKind::Unavailable,
        _ => ErrorKind::Unexpected,
    };
    let kind = b.code.and_then(kind_of_code).unwrap_or(by_status);
    let text = b
        .description
        .or(b.details)
        .unwrap_or_else(|| body.chars().take(300).collect());
    let mut e = BackendError::new(
        kind,
        format!("{what}: ECS answered {status}: {}", text.trim()),
    );
    if let Some(code) = b.code {
        e = e.with_code(code.to_string());
    }
    match b.retryable {
        Some(r) => e.with_retryable(r),
        None => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_override_statuses_and_retryable_is_honoured() {
        let e = classify(
            "create secret",
            400,
            r#"{"code":1031,"retryable":false,"description":"User u already has 2 valid keys"}"#,
        );
        assert_eq!(e.kind(), ErrorKind::LimitReached);
        assert!(!e.is_retryable());
        assert_eq!(e.code(), Some("1031"));
        let e = classify(
            "delete bucket",
            400,
            r#"{"code":1020,"description":"Bucket b is not empty"}"#,
        );
        assert_eq!(e.kind(), ErrorKind::NotEmpty);
        let e = classify(
            "whoami",
            503,
            r#"{"code":6000,"retryable":true,"description":"Service unavailable"}"#,
        );
        assert!(e.is_retryable());
        let e = classify(
            "x",
            500,
            r#"{"code":9999,"retryable":false,"description":"odd"}"#,
        );
        assert_eq!(
            (e.kind(), e.is_retryable()),
            (ErrorKind::Unavailable, false)
        );
        let e = classify("x", 404, "<html>gone</html>");
        assert_eq!(e.kind(), ErrorKind::NotFound);
    }
}
