//! Waldur API errors, classified for the retry and order-failure policy.

/// Transient: transport failures, 5xx and 429 (retried, never err an order).
/// Everything else is permanent; 404 and 409 are told apart for idempotency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaldurErrorClass {
    Transient,
    Permanent,
    NotFound,
    Conflict,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct WaldurError {
    pub class: WaldurErrorClass,
    pub status: Option<u16>,
    pub message: String,
}

impl WaldurError {
    pub fn from_status(what: &str, status: u16, body: &str) -> Self {
        let class = match status {
            429 | 500..=599 => WaldurErrorClass::Transient,
            404 => WaldurErrorClass::NotFound,
            409 => WaldurErrorClass::Conflict,
            _ => WaldurErrorClass::Permanent,
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
        Self {
            class,
            status: Some(status),
            message: format!("Waldur {what}: HTTP {status}{hint}: {}", detail.trim()),
        }
    }

    pub fn transport(what: &str, err: reqwest::Error) -> Self {
        let kind = if err.is_timeout() {
            "timed out".to_string()
        } else if err.is_connect() {
            "connection failed".to_string()
        } else {
            err.without_url().to_string()
        };
        Self {
            class: WaldurErrorClass::Transient,
            status: None,
            message: format!("Waldur {what}: {kind}"),
        }
    }

    /// A body that could not be read (cut off, or larger than the agent reads).
    pub fn body(what: &str, err: site_agent_sdk::http::BodyError) -> Self {
        match err {
            site_agent_sdk::http::BodyError::Transport(e) => Self::transport(what, e),
            site_agent_sdk::http::BodyError::TooLarge { limit } => Self {
                class: WaldurErrorClass::Transient,
                status: None,
                message: format!(
                    "Waldur {what}: the answer is larger than {} KiB; not read",
                    limit >> 10
                ),
            },
        }
    }

    pub fn decode(what: &str, err: impl std::fmt::Display) -> Self {
        // A body we cannot read is most likely a proxy or maintenance page: retry.
        Self {
            class: WaldurErrorClass::Transient,
            status: None,
            message: format!("Waldur {what}: unreadable answer: {err}"),
        }
    }

    pub fn is_transient(&self) -> bool {
        self.class == WaldurErrorClass::Transient
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        assert!(WaldurError::from_status("x", 503, "").is_transient());
        assert!(WaldurError::from_status("x", 429, "").is_transient());
        assert_eq!(
            WaldurError::from_status("x", 404, "").class,
            WaldurErrorClass::NotFound
        );
        assert_eq!(
            WaldurError::from_status("x", 409, "").class,
            WaldurErrorClass::Conflict
        );
        assert_eq!(
            WaldurError::from_status("x", 400, "").class,
            WaldurErrorClass::Permanent
        );
        let e = WaldurError::from_status("x", 401, r#"{"detail": "Invalid token."}"#);
        assert!(e.message.contains("waldur_api_token"));
    }
}
