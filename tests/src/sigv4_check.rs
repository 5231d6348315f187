//! A SigV4-signed request checked the way an S3 server checks it, for the simulators' S3 heads:
//! the access key and region from the `Authorization` header, then the request signed again
//! with each secret the key may have (the SDK's signer: aws-sigv4) and the headers compared.

use axum::http::{HeaderMap, Method};
use site_agent_sdk::sigv4::{Signable, Signer};

/// What a signed request is made of, as the server received it.
pub struct Received<'a> {
    pub method: &'a Method,
    pub headers: &'a HeaderMap,
    /// Path and query, as sent.
    pub uri: &'a str,
    pub body: &'a [u8],
}

/// Why a request is not accepted as signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No `Authorization` header, or one that is not SigV4.
    Anonymous,
    /// No usable `x-amz-date`.
    Undated,
    /// No secret of the access key gives this signature.
    Mismatch,
}

impl Received<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `(access key, region)` of the credential scope.
    pub fn credential(&self) -> Result<(&str, &str), Refusal> {
        let cred = self
            .header("authorization")
            .and_then(|a| a.split("Credential=").nth(1))
            .and_then(|c| c.split(',').next())
            .ok_or(Refusal::Anonymous)?;
        let mut scope = cred.split('/');
        let ak = scope
            .next()
            .filter(|a| !a.is_empty())
            .ok_or(Refusal::Anonymous)?;
        Ok((ak, scope.nth(1).unwrap_or("")))
    }

    /// Whether one of `secrets` signs the request exactly as it came.
    pub fn signed_by<'s>(&self, secrets: impl IntoIterator<Item = &'s str>) -> Result<(), Refusal> {
        let (ak, region) = self.credential()?;
        let auth = self.header("authorization").ok_or(Refusal::Anonymous)?;
        let date = self
            .header("x-amz-date")
            .and_then(|d| chrono::NaiveDateTime::parse_from_str(d, "%Y%m%dT%H%M%SZ").ok())
            .ok_or(Refusal::Undated)?;
        let time = std::time::UNIX_EPOCH
            + std::time::Duration::from_secs(date.and_utc().timestamp().max(0) as u64);
        let url = format!("http://{}{}", self.header("host").unwrap_or(""), self.uri);
        // Every header the client signed (SignedHeaders), as received; the signer adds
        // `host`, `x-amz-date` and `x-amz-content-sha256` itself.
        let signed_names: Vec<&str> = auth
            .split("SignedHeaders=")
            .nth(1)
            .and_then(|s| s.split(',').next())
            .map(|s| s.split(';').collect())
            .unwrap_or_else(|| vec!["content-type"]);
        let ct: Vec<(&str, &str)> = signed_names
            .iter()
            .filter(|n| !matches!(**n, "host" | "x-amz-date" | "x-amz-content-sha256"))
            .filter_map(|n| self.header(n).map(|v| (*n, v)))
            .collect();
        for secret in secrets {
            let signer = Signer::new(ak.into(), secret.to_string().into(), region.into(), "s3");
            let signed = signer.sign(
                &Signable {
                    method: self.method.as_str(),
                    url: &url,
                    headers: &ct,
                    body: self.body,
                },
                time,
            );
            if signed.is_ok_and(|s| {
                s.iter()
                    .any(|(k, v)| k.eq_ignore_ascii_case("authorization") && v == auth)
            }) {
                return Ok(());
            }
        }
        Err(Refusal::Mismatch)
    }
}
