//! SigV4 request signing (via aws-sigv4, without the AWS SDK), for every backend whose admin
//! API is signed like S3: RGW Admin Ops (service `s3`), IAM query APIs (service `iam`), S3
//! sub-resources a presigning library does not know (SeaweedFS `?seaweedfs-quota`).

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use secrecy::{ExposeSecret, SecretString};
use std::time::SystemTime;

use crate::BackendError;

pub struct Signer {
    access_key: String,
    secret_key: SecretString,
    region: String,
    service: &'static str,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Signer({}, {}, {})",
            self.access_key, self.region, self.service
        )
    }
}

/// One request to sign: the headers it will carry besides the signature (say `content-type`)
/// and its exact body.
pub struct Signable<'a> {
    pub method: &'a str,
    pub url: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
}

impl Signer {
    pub fn new(
        access_key: String,
        secret_key: SecretString,
        region: String,
        service: &'static str,
    ) -> Self {
        Self {
            access_key,
            secret_key,
            region,
            service,
        }
    }

    /// The headers to add to a bodiless request for `method url` at `time`.
    pub fn headers(
        &self,
        method: &str,
        url: &str,
        time: SystemTime,
    ) -> Result<Vec<(String, String)>, BackendError> {
        self.sign(
            &Signable {
                method,
                url,
                headers: &[],
                body: &[],
            },
            time,
        )
    }

    /// The signature headers (`authorization`, `x-amz-date`, `x-amz-content-sha256`) for `req`.
    pub fn sign(
        &self,
        req: &Signable<'_>,
        time: SystemTime,
    ) -> Result<Vec<(String, String)>, BackendError> {
        let fail = |e: &dyn std::fmt::Display| {
            BackendError::invalid(format!("cannot sign the {} request: {e}", self.service))
        };
        let identity = Credentials::new(
            self.access_key.clone(),
            self.secret_key.expose_secret().to_string(),
            None,
            None,
            "site-agent",
        )
        .into();
        let mut settings = SigningSettings::default();
        // S3 rules: the payload hash header is mandatory (RGW refuses SigV4 without it), paths
        // are not normalised and query values are encoded once. IAM accepts the same.
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(self.service)
            .time(time)
            .settings(settings)
            .build()
            .map_err(|e| fail(&e))?
            .into();
        let signable = SignableRequest::new(
            req.method,
            req.url,
            req.headers.iter().copied(),
            SignableBody::Bytes(req.body),
        )
        .map_err(|e| fail(&e))?;
        let (instructions, _) = sign(signable, &params).map_err(|e| fail(&e))?.into_parts();
        Ok(instructions
            .headers()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect())
    }
}

/// RFC 3986 percent-encoding for a query or form value: only unreserved characters stay as
/// they are (a space is `%20`, never `+`), the form SigV4 canonicalises.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `k=v&k=v`, each side encoded with [`encode`].
pub fn encode_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    pairs
        .into_iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// An HTTP client whose every request is signed: one place for signing, sending, the body
/// bound and transport errors. The caller classifies a non-2xx answer (each API words its
/// errors its own way).
pub struct SignedHttp {
    http: reqwest::Client,
    signer: Signer,
}

/// An answer as read: status and (bounded) body.
pub struct Answer {
    pub status: u16,
    pub body: String,
    /// `Retry-After` in seconds, where the server named one (a rate limit's answer).
    pub retry_after: Option<u64>,
}

impl Answer {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// An answer whose body is kept as bytes.
pub struct RawAnswer {
    pub status: u16,
    pub body: Vec<u8>,
    pub retry_after: Option<u64>,
}

impl RawAnswer {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

impl SignedHttp {
    pub fn new(http: reqwest::Client, signer: Signer) -> Self {
        Self { http, signer }
    }

    /// Sends `method url` with `body` (typed `content_type` when given), signed now.
    pub async fn send(
        &self,
        what: &str,
        method: reqwest::Method,
        url: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Result<Answer, BackendError> {
        let a = self
            .send_raw(what, method, url, content_type, body, crate::http::MAX_BODY)
            .await?;
        Ok(Answer {
            status: a.status,
            body: crate::http::text_of(a.body),
            retry_after: a.retry_after,
        })
    }

    /// As [`Self::send`], the answer's body as bytes (MinIO's encrypted admin answers), read
    /// up to `limit` bytes (`http::MAX_BODY` but for a listing of every bucket of a store).
    pub async fn send_raw(
        &self,
        what: &str,
        method: reqwest::Method,
        url: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
        limit: usize,
    ) -> Result<RawAnswer, BackendError> {
        let ct: Vec<(&str, &str)> = content_type
            .map(|c| ("content-type", c))
            .into_iter()
            .collect();
        let signed = self.signer.sign(
            &Signable {
                method: method.as_str(),
                url,
                headers: &ct,
                body: &body,
            },
            SystemTime::now(),
        )?;
        let mut req = self.http.request(method, url);
        for (k, v) in ct
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .chain(signed)
        {
            req = req.header(k, v);
        }
        if !body.is_empty() {
            req = req.body(body);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| crate::http::transport_error(what, e))?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let body = crate::http::read_bytes(resp, limit)
            .await
            .map_err(|e| e.into_backend(what))?;
        Ok(RawAnswer {
            status,
            body,
            retry_after,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn get(h: &[(String, String)], k: &str) -> String {
        h.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.clone())
            .unwrap()
    }

    #[test]
    fn signs_with_payload_hash_and_s3_scope() {
        let s = Signer::new(
            "AKIDEXAMPLE".into(),
            SecretString::from("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
            "default".into(),
            "s3",
        );
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160); // 2015-08-30T12:36:00Z
        let url = "http://127.0.0.1:7480/admin/user?quota=&uid=waldur-u&format=json";
        let h = s.headers("PUT", url, t).unwrap();
        assert_eq!(get(&h, "x-amz-date"), "20150830T123600Z");
        assert_eq!(
            get(&h, "x-amz-content-sha256"),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let auth = get(&h, "authorization");
        assert!(
            auth.starts_with(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/default/s3/aws4_request"
            ),
            "{auth}"
        );
        assert!(
            auth.contains("SignedHeaders=host;x-amz-content-sha256;x-amz-date"),
            "{auth}"
        );
        // Deterministic for the same inputs; a different query changes the signature.
        assert_eq!(h, s.headers("PUT", url, t).unwrap());
        let other = s
            .headers("PUT", &url.replace("waldur-u", "waldur-v"), t)
            .unwrap();
        assert_ne!(auth, get(&other, "authorization"));
    }

    #[test]
    fn encoding_rules() {
        assert_eq!(
            encode_pairs([
                ("display-name", "My Bucket & co"),
                ("email", "x@invalid"),
                ("q", "")
            ]),
            "display-name=My%20Bucket%20%26%20co&email=x%40invalid&q="
        );
        assert_eq!(encode("a+b/c=~"), "a%2Bb%2Fc%3D~");
    }

    #[test]
    fn signs_a_form_body_for_iam() {
        let s = Signer::new(
            "AKIDEXAMPLE".into(),
            SecretString::from("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
            "us-east-1".into(),
            "iam",
        );
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160);
        let body = b"Action=GetUser&UserName=u&Version=2010-05-08";
        let ct = [("content-type", "application/x-www-form-urlencoded")];
        let req = |body: &'static [u8]| Signable {
            method: "POST",
            url: "http://127.0.0.1:8333/",
            headers: &ct,
            body,
        };
        let h = s.sign(&req(body), t).unwrap();
        let auth = get(&h, "authorization");
        assert!(auth.contains("/us-east-1/iam/aws4_request"), "{auth}");
        assert!(
            auth.contains("content-type"),
            "the content type is signed: {auth}"
        );
        // The body is part of the signature.
        assert_eq!(
            get(&h, "x-amz-content-sha256").len(),
            64,
            "payload hash present"
        );
        let other = s
            .sign(&req(b"Action=DeleteUser&UserName=u&Version=2010-05-08"), t)
            .unwrap();
        assert_ne!(auth, get(&other, "authorization"));
        assert!(!format!("{s:?}").contains("wJalr"), "no secret in Debug");
    }
}
