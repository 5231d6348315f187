//! Mapping croit (status-based) answers into the one error taxonomy.

use site_agent_sdk::{BackendError, ErrorClass};

/// Extracts a readable message from an error body: the first non-empty string among
/// `message`, `error`, `detail`, `Code`, else the start of the body. Trimmed to 500 chars.
pub fn extract_message(status: u16, body: &str) -> String {
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(body) {
        for key in ["message", "error", "detail", "Code"] {
            if let Some(serde_json::Value::String(s)) = map.get(key) {
                let s = s.trim();
                if !s.is_empty() {
                    return truncate(s, 500);
                }
            }
        }
    }
    format!("API error {status}: {}", truncate(body.trim(), 500))
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// Classifies a croit error answer.
pub fn classify_croit(what: &str, status: u16, body: &str) -> BackendError {
    let msg = extract_message(status, body);
    let class = match status {
        404 => ErrorClass::NotFound,
        409 => ErrorClass::Conflict,
        // An expired or wrong management credential is the operator's to fix, not the
        // customer's: keep orders pending (and log loudly) rather than erring them.
        401 => {
            return BackendError::transient(format!(
                "{what}: croit rejected the configured credentials (HTTP 401; an expired API token?): {msg}"
            ));
        }
        429 | 502 | 503 | 504 => ErrorClass::Transient,
        500 if msg.contains("Unable to remove user with buckets") => ErrorClass::Permanent,
        s if s >= 500 => ErrorClass::Transient,
        _ => ErrorClass::Permanent,
    };
    BackendError::new(class, format!("{what}: {msg}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_extraction() {
        assert_eq!(
            extract_message(
                500,
                r#"{"code":500,"message":"Unable to remove user with buckets."}"#
            ),
            "Unable to remove user with buckets."
        );
        assert_eq!(
            extract_message(403, r#"{"Code":"AccessDenied"}"#),
            "AccessDenied"
        );
        assert_eq!(
            extract_message(502, "<html>bad gateway</html>"),
            "API error 502: <html>bad gateway</html>"
        );
        assert_eq!(
            extract_message(400, &"x".repeat(900)).len(),
            "API error 400: ".len() + 500
        );
    }

    #[test]
    fn classes() {
        assert_eq!(classify_croit("x", 404, "{}").class, ErrorClass::NotFound);
        assert_eq!(classify_croit("x", 409, "{}").class, ErrorClass::Conflict);
        assert_eq!(classify_croit("x", 503, "{}").class, ErrorClass::Transient);
        assert_eq!(classify_croit("x", 401, "{}").class, ErrorClass::Transient);
        assert_eq!(classify_croit("x", 400, "{}").class, ErrorClass::Permanent);
        let b = classify_croit(
            "delete",
            500,
            r#"{"code":500,"message":"Unable to remove user with buckets."}"#,
        );
        assert_eq!(b.class, ErrorClass::Permanent);
        let s = classify_croit("put", 400, r#"{"message":"bad secretKey=abc"}"#);
        assert!(!s.to_string().contains("abc"));
    }
}

/// Classifies an RGW Admin Ops error by its JSON `Code` (the part before any `:`), not by the
/// HTTP status: RGW answers 403 both for a missing key and for missing caps.
pub fn classify_rgw(what: &str, status: u16, body: &str) -> BackendError {
    let code = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("Code")
                .and_then(|c| c.as_str())
                .map(|c| c.split(':').next().unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let msg = extract_message(status, body);
    let class = match code.as_str() {
        "NoSuchUser" | "InvalidAccessKeyId" | "NoSuchKey" | "NoSuchBucket" => ErrorClass::NotFound,
        "UserAlreadyExists" | "KeyExists" | "EmailExists" => ErrorClass::Conflict,
        // RGW's misleading code for deleting a user who still owns buckets.
        "BucketAlreadyExists" => ErrorClass::Permanent,
        "AccessDenied" | "SignatureDoesNotMatch" | "InvalidAccessKeyIdAdmin" => {
            return BackendError::transient(format!(
                "{what}: RGW refused the admin credentials ({code}): check admin_access_key/admin_secret_key and the caps users=*;buckets=*"
            ));
        }
        "SlowDown" | "ServiceUnavailable" | "RequestTimeout" => ErrorClass::Transient,
        _ if status >= 500 || status == 429 => ErrorClass::Transient,
        _ => ErrorClass::Permanent,
    };
    BackendError::new(class, format!("{what}: {msg}"))
}

#[cfg(test)]
mod rgw_tests {
    use super::*;

    #[test]
    fn rgw_codes() {
        assert_eq!(
            classify_rgw("x", 404, r#"{"Code":"NoSuchUser"}"#).class,
            ErrorClass::NotFound
        );
        assert_eq!(
            classify_rgw("x", 403, r#"{"Code":"InvalidAccessKeyId"}"#).class,
            ErrorClass::NotFound
        );
        assert_eq!(
            classify_rgw("x", 409, r#"{"Code":"UserAlreadyExists"}"#).class,
            ErrorClass::Conflict
        );
        assert_eq!(
            classify_rgw("x", 409, r#"{"Code":"BucketAlreadyExists"}"#).class,
            ErrorClass::Permanent
        );
        let auth = classify_rgw("x", 403, r#"{"Code":"AccessDenied"}"#);
        assert!(auth.is_transient() && auth.message().contains("caps"));
        assert_eq!(
            classify_rgw("x", 400, r#"{"Code":"InvalidArgument"}"#).class,
            ErrorClass::Permanent
        );
        assert_eq!(
            classify_rgw("x", 503, "<html/>").class,
            ErrorClass::Transient
        );
        assert_eq!(
            classify_rgw("x", 400, r#"{"Code":"InvalidArgument: bad"}"#).message(),
            "x: InvalidArgument: bad"
        );
    }
}
