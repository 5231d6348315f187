//! Waldur API errors in the one taxonomy (`site_agent_sdk::ErrorKind` plus retryable): the
//! status gives the kind; Django REST framework's field errors (`{"date": ["…"]}`) are kept by
//! field name, so a caller can tell *which* input was refused without reading the text.

use site_agent_sdk::ErrorKind;

#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct WaldurError {
    pub kind: ErrorKind,
    pub retryable: bool,
    pub status: Option<u16>,
    /// The fields a 400 answer names (DRF field errors), e.g. `date`.
    pub fields: Vec<String>,
    pub message: String,
}

impl WaldurError {
    fn new(kind: ErrorKind, message: String) -> Self {
        Self {
            kind,
            retryable: kind.retryable_by_default(),
            status: None,
            fields: Vec::new(),
            message,
        }
    }

    /// A call the agent cannot even make (bad proxy, TLS set-up): the operator's to fix.
    pub fn setup(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Invalid, message.into())
    }

    pub fn from_status(what: &str, status: u16, body: &str) -> Self {
        // 409 is Mastermind's "wrong state for this transition": the request, not a clash.
        let kind = match status {
            404 => ErrorKind::NotFound,
            401 | 403 => ErrorKind::Unauthorized,
            400 | 409 | 413 | 422 => ErrorKind::Invalid,
            429 | 500..=599 => ErrorKind::Unavailable,
            _ => ErrorKind::Unexpected,
        };
        let detail =
            site_agent_sdk::scrub::scrub_secrets(&body.chars().take(500).collect::<String>());
        let hint = if status == 401 {
            " (check waldur_api_token: it is missing, wrong or expired)"
        } else if status == 403 {
            " (the token's user needs OFFERING.MANAGER on the offering)"
        } else {
            ""
        };
        let fields = match serde_json::from_str::<serde_json::Value>(body) {
            Ok(serde_json::Value::Object(m)) if status == 400 => m
                .into_iter()
                .filter(|(k, v)| v.is_array() && k != "detail")
                .map(|(k, _)| k)
                .collect(),
            _ => Vec::new(),
        };
        Self {
            status: Some(status),
            fields,
            ..Self::new(
                kind,
                format!("Waldur {what}: HTTP {status}{hint}: {}", detail.trim()),
            )
        }
    }

    /// The request did not get through (classified once, in the SDK's HTTP layer).
    pub fn transport(what: &str, err: reqwest::Error) -> Self {
        Self::from_http(site_agent_sdk::http::transport_error(what, err))
    }

    /// A body that could not be read (cut off, or larger than the agent reads).
    pub fn body(what: &str, err: site_agent_sdk::http::BodyError) -> Self {
        Self::from_http(err.into_backend(what))
    }

    /// From the shared HTTP layer's error (its message starts with what was called).
    fn from_http(e: site_agent_sdk::BackendError) -> Self {
        Self {
            retryable: e.is_retryable(),
            ..Self::new(e.kind(), format!("Waldur {}", e.message()))
        }
    }

    pub fn decode(what: &str, err: impl std::fmt::Display) -> Self {
        // A body we cannot read is most likely a proxy or maintenance page: retry.
        Self::new(
            ErrorKind::Unavailable,
            format!("Waldur {what}: unreadable answer: {err}"),
        )
    }

    pub fn is_retryable(&self) -> bool {
        self.retryable
    }

    /// True when Waldur refused the call because its object is in the wrong state (409).
    pub fn is_wrong_state(&self) -> bool {
        self.status == Some(409)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_from_status_and_fields_from_the_body() {
        assert!(WaldurError::from_status("x", 503, "").is_retryable());
        assert!(WaldurError::from_status("x", 429, "").is_retryable());
        assert_eq!(
            WaldurError::from_status("x", 404, "").kind,
            ErrorKind::NotFound
        );
        let conflict =
            WaldurError::from_status("x", 409, r#"{"detail": "Valid states: executing."}"#);
        assert!(conflict.is_wrong_state() && !conflict.is_retryable());
        let e = WaldurError::from_status("x", 401, r#"{"detail": "Invalid token."}"#);
        assert_eq!(e.kind, ErrorKind::Unauthorized);
        assert!(e.message.contains("waldur_api_token"));
        let e = WaldurError::from_status(
            "set usage",
            400,
            r#"{"date": ["Service providers can only specify date ..."]}"#,
        );
        assert_eq!(
            (e.kind, e.fields.clone()),
            (ErrorKind::Invalid, vec!["date".to_string()])
        );
        assert!(
            WaldurError::from_status("x", 400, "<html/>")
                .fields
                .is_empty()
        );
    }
}
