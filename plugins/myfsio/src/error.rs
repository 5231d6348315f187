//! MyFSIO's answers in the SDK's taxonomy. Admin routes answer JSON
//! `{"error":{"code","message"}}` (`NotFound`, `InvalidRequest`, `AccessDenied`); their auth
//! layer and S3 answer XML `<Error><Code>`; the console answers `{"error": "…"}` and redirects.
//! The code decides where there is one, else the status; no decision reads a message.

use serde_json::Value;
use site_agent_sdk::s3error::{classify_s3, kind_of_status, xml_code};
use site_agent_sdk::{BackendError, ErrorKind};

/// The most of MyFSIO's own message shown in an error.
const SHOWN: usize = 200;

fn shown(s: &str) -> String {
    s.chars().take(SHOWN).collect::<String>().trim().to_string()
}

/// An admin-route (or console) error answer.
pub fn classify_admin(what: &str, status: u16, body: &str) -> BackendError {
    if xml_code(body).is_some() {
        return classify_s3(what, status, body);
    }
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let (code, message) = match &v["error"] {
        Value::Object(e) => (
            e.get("code").and_then(Value::as_str).map(str::to_string),
            e.get("message")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        ),
        Value::String(m) => (None, m.clone()),
        _ => (None, String::new()),
    };
    let kind = match code.as_deref() {
        Some("NotFound") => ErrorKind::NotFound,
        Some("InvalidRequest" | "InvalidArgument") => ErrorKind::Invalid,
        Some("AccessDenied") => ErrorKind::Unauthorized,
        _ => kind_of_status(status),
    };
    let text = if message.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("{status} {}", shown(&message))
    };
    let retryable = kind.retryable_by_default() || status == 429 || status >= 500;
    let e = BackendError::new(kind, format!("{what}: MyFSIO answered {text}"))
        .with_retryable(retryable);
    match code {
        Some(c) => e.with_code(c),
        None => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_decide_then_statuses() {
        let e = classify_admin(
            "get user",
            404,
            r#"{"error":{"code":"NotFound","message":"User not found"}}"#,
        );
        assert_eq!(
            (e.kind(), e.code()),
            (ErrorKind::NotFound, Some("NotFound"))
        );
        let e = classify_admin(
            "add key",
            400,
            r#"{"error":{"code":"InvalidRequest","message":"Failed to parse IAM config"}}"#,
        );
        assert_eq!(e.kind(), ErrorKind::Invalid);
        assert!(!e.is_retryable());
        let e = classify_admin(
            "list",
            403,
            "<Error><Code>SignatureDoesNotMatch</Code><Message>m</Message></Error>",
        );
        assert_eq!(e.kind(), ErrorKind::Unauthorized);
        let e = classify_admin("list", 429, "<html>60 per 1 minute</html>");
        assert_eq!((e.kind(), e.is_retryable()), (ErrorKind::Unavailable, true));
        let e = classify_admin("create user", 400, r#"{"error":"Invalid policies JSON"}"#);
        assert_eq!(e.kind(), ErrorKind::Invalid);
        assert!(e.message().contains("Invalid policies JSON"), "{e}");
        let e = classify_admin("x", 404, "<XML><NoSuchBucket/>");
        assert_eq!(e.code(), None);
    }
}
