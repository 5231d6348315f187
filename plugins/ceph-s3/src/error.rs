//! Mapping croit (status-based) answers into the one error taxonomy.

use site_agent_sdk::{BackendError, ErrorKind};

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

/// Classifies a croit error answer by status: croit's bodies carry no error code beyond the
/// status itself (`{"code": 500, "message": ...}`).
pub fn classify_croit(what: &str, status: u16, body: &str) -> BackendError {
    let msg = extract_message(status, body);
    match status {
        // An expired or wrong management credential is the operator's to fix, not the
        // customer's (the agent keeps orders waiting on `Unauthorized`).
        401 | 403 => BackendError::unauthorized(format!(
            "{what}: croit rejected the configured credentials (HTTP {status}; an expired API token?): {msg}"
        )),
        s => BackendError::new(
            site_agent_sdk::s3error::kind_of_status(s),
            format!("{what}: {msg}"),
        )
        .with_retryable(s == 429 || s >= 500),
    }
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
        assert_eq!(classify_croit("x", 404, "{}").kind(), ErrorKind::NotFound);
        assert_eq!(
            classify_croit("x", 409, "{}").kind(),
            ErrorKind::AlreadyExists
        );
        let busy = classify_croit("x", 503, "{}");
        assert!(busy.kind() == ErrorKind::Unavailable && busy.is_retryable());
        let auth = classify_croit("x", 401, "{}");
        assert!(auth.kind() == ErrorKind::Unauthorized && !auth.is_retryable());
        assert_eq!(classify_croit("x", 400, "{}").kind(), ErrorKind::Invalid);
        // A 500 is worth a retry whatever its message says (croit also answers 500 for a
        // user that still owns buckets: the delete path looks at the buckets, not the text).
        let b = classify_croit(
            "delete",
            500,
            r#"{"code":500,"message":"Unable to remove user with buckets."}"#,
        );
        assert!(b.is_retryable());
        let s = classify_croit("put", 400, r#"{"message":"bad secretKey=abc"}"#);
        assert!(!s.to_string().contains("abc"));
    }
}

/// The JSON `Code` of an RGW Admin Ops error (the part before any `:`).
pub fn rgw_code(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("Code")
                .and_then(|c| c.as_str())
                .map(|c| c.split(':').next().unwrap_or("").trim().to_string())
        })
        .unwrap_or_default()
}

/// Classifies an RGW Admin Ops error: the status gives the default, the JSON `Code` overrides
/// it (RGW answers 403 both for refused admin credentials and for other things).
pub fn classify_rgw(what: &str, status: u16, body: &str) -> BackendError {
    let code = rgw_code(body);
    let msg = extract_message(status, body);
    let kind = site_agent_sdk::s3error::kind_of_code(&code)
        .unwrap_or_else(|| site_agent_sdk::s3error::kind_of_status(status));
    if kind == ErrorKind::Unauthorized {
        return BackendError::unauthorized(format!(
            "{what}: RGW refused the admin credentials ({code}): check admin_access_key/admin_secret_key and the caps users=*;buckets=*"
        ))
        .with_code(code);
    }
    BackendError::new(kind, format!("{what}: {msg}"))
        .with_retryable(kind.retryable_by_default() || status == 429 || status >= 500)
        .with_code(code)
}

#[cfg(test)]
mod rgw_tests {
    use super::*;

    #[test]
    fn rgw_codes() {
        let kind = |status, body| classify_rgw("x", status, body).kind();
        assert_eq!(kind(404, r#"{"Code":"NoSuchUser"}"#), ErrorKind::NotFound);
        assert_eq!(
            kind(409, r#"{"Code":"UserAlreadyExists"}"#),
            ErrorKind::AlreadyExists
        );
        let e = classify_rgw("x", 409, r#"{"Code":"BucketAlreadyExists"}"#);
        assert_eq!(
            e.code(),
            Some("BucketAlreadyExists"),
            "kept for the delete path"
        );
        let auth = classify_rgw("x", 403, r#"{"Code":"AccessDenied"}"#);
        assert_eq!(auth.kind(), ErrorKind::Unauthorized);
        assert!(auth.message().contains("caps"));
        let auth = classify_rgw("x", 403, r#"{"Code":"InvalidAccessKeyId"}"#);
        assert_eq!(
            auth.kind(),
            ErrorKind::Unauthorized,
            "a wrong admin key is no missing user"
        );
        assert_eq!(
            kind(400, r#"{"Code":"InvalidArgument"}"#),
            ErrorKind::Invalid
        );
        let busy = classify_rgw("x", 503, "<html/>");
        assert!(busy.kind() == ErrorKind::Unavailable && busy.is_retryable());
        assert_eq!(
            classify_rgw("x", 400, r#"{"Code":"InvalidArgument: bad"}"#).message(),
            "x: InvalidArgument: bad"
        );
    }
}
