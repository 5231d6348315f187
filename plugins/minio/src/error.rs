//! MinIO's error answers into the taxonomy: the status gives the default, MinIO's code
//! overrides it. Admin answers are JSON (`Code`, `Message`, …) and madmin falls back to XML
//! (madmin-go `api-error-response.go`); S3 answers are the usual XML `<Error>`. Codes from
//! minio/minio `cmd/api-errors.go` (other-backends.md §2).

use site_agent_sdk::s3error::{classify_code, xml_code};
use site_agent_sdk::{BackendError, ErrorKind};

/// The kind a MinIO-specific code means.
fn kind_of_minio_code(code: &str, status: u16) -> Option<ErrorKind> {
    Some(match code {
        // An unknown service account is this code with 404; with 403 it refuses a name
        // (a user named like root or a service account).
        "XMinioInvalidIAMCredentials" if status == 404 => ErrorKind::NotFound,
        "XMinioInvalidIAMCredentials" => ErrorKind::Invalid,
        "XMinioIAMActionNotAllowed" => ErrorKind::Invalid,
        "XMinioAdminNoSuchUser"
        | "XMinioAdminNoSuchPolicy"
        | "XMinioAdminNoSuchQuotaConfiguration"
        | "XMinioAdminNoSuchServiceAccount"
        | "XMinioAdminNoSuchAccessKey"
        | "XMinioAdminNoSuchGroup" => ErrorKind::NotFound,
        "XMinioAdminBucketQuotaExceeded" => ErrorKind::LimitReached,
        // The usage scanner is off: bucket quotas cannot be had on this server.
        "XMinioAdminBucketQuotaDisabled" => ErrorKind::Unsupported,
        "XMinioStorageFull"
        | "XMinioServerNotInitialized"
        | "XMinioAdminIAMNotInitialized"
        | "XMinioIAMNotInitialized"
        | "XMinioBackendDown" => ErrorKind::Unavailable,
        "XMinioAdminInvalidAccessKey"
        | "XMinioAdminInvalidSecretKey"
        | "XMinioAdminInvalidArgument"
        | "XMinioAdminConfigBadJSON"
        | "XMinioMalformedIAMPolicy"
        | "XMinioInvalidResource"
        | "XMinioAdminNoSecretKey"
        | "XMinioAdminNoAccessKey"
        | "XMinioIAMServiceAccountNotAllowed"
        | "XMinioMalformedJSON"
        | "XMinioAdminResourceInvalidArgument"
        | "XMinioAdminInvalidQuotaType" => ErrorKind::Invalid,
        _ => return None,
    })
}

/// The `Code` of an admin answer (JSON first, then XML, as madmin reads it).
pub fn code_of(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Json {
        #[serde(rename = "Code")]
        code: String,
    }
    if let Ok(j) = serde_json::from_slice::<Json>(body) {
        return Some(j.code);
    }
    xml_code(&String::from_utf8_lossy(body))
}

/// Classifies a MinIO error answer; the message names the call and the code (or status),
/// never the body (it may echo request parameters).
pub fn classify(what: &str, status: u16, body: &[u8]) -> BackendError {
    let code = code_of(body).unwrap_or_default();
    let vendor = kind_of_minio_code(&code, status);
    classify_code(what, status, code, vendor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_overrides_the_status() {
        // Shapes as MinIO answers them (JSON for admin calls, XML for S3).
        let json = |c: &str| {
            format!(
                "{{\"Code\":\"{c}\",\"Message\":\"m\",\"Resource\":\"/minio/admin/v3/x\",\"RequestId\":\"1\",\"HostId\":\"h\"}}"
            )
        };
        for (status, code, kind) in [
            (404, "XMinioAdminNoSuchUser", ErrorKind::NotFound),
            (404, "XMinioAdminNoSuchPolicy", ErrorKind::NotFound),
            (
                404,
                "XMinioAdminNoSuchQuotaConfiguration",
                ErrorKind::NotFound,
            ),
            (
                400,
                "XMinioAdminBucketQuotaExceeded",
                ErrorKind::LimitReached,
            ),
            (
                400,
                "XMinioAdminBucketQuotaDisabled",
                ErrorKind::Unsupported,
            ),
            (507, "XMinioStorageFull", ErrorKind::Unavailable),
            (403, "SignatureDoesNotMatch", ErrorKind::Unauthorized),
            (403, "InvalidAccessKeyId", ErrorKind::Unauthorized),
            (400, "XMinioAdminInvalidArgument", ErrorKind::Invalid),
            (404, "XMinioInvalidIAMCredentials", ErrorKind::NotFound),
            (403, "XMinioInvalidIAMCredentials", ErrorKind::Invalid),
            (503, "XMinioServerNotInitialized", ErrorKind::Unavailable),
        ] {
            let e = classify("call", status, json(code).as_bytes());
            assert_eq!(e.kind(), kind, "{code}");
            assert_eq!(e.code(), Some(code));
        }
        let xml = b"<?xml version=\"1.0\"?><Error><Code>BucketNotEmpty</Code><Message>m</Message></Error>";
        assert_eq!(classify("call", 409, xml).kind(), ErrorKind::NotEmpty);
        let e = classify("call", 502, b"<html>bad gateway</html>");
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert!(e.is_retryable());
        assert_eq!(e.message(), "call: HTTP 502");
    }
}
