//! S3-style error answers (an XML `<Code>`, as S3 itself, RGW's S3 side, SeaweedFS and its IAM
//! API answer) mapped into the taxonomy: the status gives the default, the code overrides it.
//! Codes from the AWS S3 and IAM error references.

use crate::error::{BackendError, ErrorKind};

/// The kind an HTTP status means by default.
pub fn kind_of_status(status: u16) -> ErrorKind {
    match status {
        404 => ErrorKind::NotFound,
        409 => ErrorKind::AlreadyExists,
        401 | 403 => ErrorKind::Unauthorized,
        400 | 405 | 411 | 412 | 413 | 416 | 422 => ErrorKind::Invalid,
        429 | 500..=599 => ErrorKind::Unavailable,
        _ => ErrorKind::Unexpected,
    }
}

/// The kind a vendor code means, when it says more than the status.
pub fn kind_of_code(code: &str) -> Option<ErrorKind> {
    Some(match code {
        "NoSuchBucket" | "NoSuchKey" | "NoSuchEntity" | "NoSuchUser" | "NoSuchUpload" => {
            ErrorKind::NotFound
        }
        "BucketAlreadyExists"
        | "BucketAlreadyOwnedByYou"
        | "EntityAlreadyExists"
        | "UserAlreadyExists"
        | "KeyExists"
        | "EmailExists" => ErrorKind::AlreadyExists,
        "BucketNotEmpty" | "DeleteConflict" => ErrorKind::NotEmpty,
        "TooManyBuckets" | "LimitExceeded" | "QuotaExceeded" => ErrorKind::LimitReached,
        "AccessDenied"
        | "InvalidAccessKeyId"
        | "SignatureDoesNotMatch"
        | "InvalidClientTokenId"
        | "ExpiredToken" => ErrorKind::Unauthorized,
        "NotImplemented" => ErrorKind::Unsupported,
        "InvalidArgument"
        | "InvalidRequest"
        | "MalformedPolicyDocument"
        | "MalformedXML"
        | "InvalidBucketName"
        | "ValidationError"
        | "InvalidInput" => ErrorKind::Invalid,
        "SlowDown" | "ServiceUnavailable" | "InternalError" | "RequestTimeout" | "Throttling"
        | "ServiceFailure" => ErrorKind::Unavailable,
        _ => return None,
    })
}

/// The `<Code>` of an S3 or IAM XML error body.
pub fn xml_code(body: &str) -> Option<String> {
    crate::xml::leaf(body, "Code")
}

/// Classifies an S3-style error answer; the message names the call and the code (or status),
/// never the body (it may echo request parameters).
pub fn classify_s3(what: &str, status: u16, body: &str) -> BackendError {
    classify_code(what, status, xml_code(body).unwrap_or_default(), None)
}

/// Classifies an answer by its status and the vendor's `code`; `vendor_kind` is what the
/// vendor's own codes say, where they say more than S3's (MinIO's `XMinio…`).
pub fn classify_code(
    what: &str,
    status: u16,
    code: String,
    vendor_kind: Option<ErrorKind>,
) -> BackendError {
    let kind = vendor_kind
        .or_else(|| kind_of_code(&code))
        .unwrap_or_else(|| kind_of_status(status));
    let shown = if code.is_empty() {
        format!("HTTP {status}")
    } else {
        code.clone()
    };
    // Throttling and server trouble are worth a retry whatever the code says.
    let retryable = kind.retryable_by_default() || status == 429 || status >= 500;
    BackendError::new(kind, format!("{what}: {shown}"))
        .with_retryable(retryable)
        .with_code(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xml(code: &str) -> String {
        format!("<?xml version=\"1.0\"?><Error><Code>{code}</Code><Message>m</Message></Error>")
    }

    #[test]
    fn the_code_overrides_the_status() {
        // SeaweedFS answers 500 for a quota on a missing bucket, RGW 403 for a missing key.
        let e = classify_s3("quota", 404, &xml("NoSuchBucket"));
        assert_eq!(
            (e.kind(), e.is_retryable(), e.code()),
            (ErrorKind::NotFound, false, Some("NoSuchBucket"))
        );
        assert_eq!(
            classify_s3("x", 409, &xml("BucketNotEmpty")).kind(),
            ErrorKind::NotEmpty
        );
        assert_eq!(
            classify_s3("x", 409, &xml("EntityAlreadyExists")).kind(),
            ErrorKind::AlreadyExists
        );
        assert_eq!(
            classify_s3("x", 403, &xml("SignatureDoesNotMatch")).kind(),
            ErrorKind::Unauthorized
        );
        assert_eq!(
            classify_s3("x", 400, &xml("MalformedPolicyDocument")).kind(),
            ErrorKind::Invalid
        );
        let e = classify_s3("x", 503, "<html>bad gateway</html>");
        assert_eq!((e.kind(), e.is_retryable()), (ErrorKind::Unavailable, true));
        assert_eq!(e.message(), "x: HTTP 503");
        let e = classify_s3("x", 500, &xml("SomethingNew"));
        assert!(e.is_retryable(), "a 5xx stays worth a retry");
        assert_eq!(classify_s3("x", 418, "").kind(), ErrorKind::Unexpected);
    }
}
