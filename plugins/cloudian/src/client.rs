//! The HyperStore Admin API client: Basic auth on every call, JSON bodies, values in the query
//! string where HyperStore wants them (QoS). A 204 (or an empty 200) is "nothing": HyperStore
//! answers a `GET` of something missing that way, not with 404 (cloudian/cloudian-cosi-driver
//! `pkg/clients/admin/api/spec.yaml`; the CloudStack connector's `CloudianClient.java`).
//! Errors carry the HTTP status as their code: HyperStore words a missing user as a 400, so the
//! calls that must tell "missing" apart look first, never at the text.

use crate::settings::CloudianSettings;
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use site_agent_sdk::http::{MAX_BODY, build_client, read_text, transport_error};
use site_agent_sdk::s3error::kind_of_status;
use site_agent_sdk::{BackendError, ErrorKind};

pub struct CloudianClient {
    http: reqwest::Client,
    base: String,
    user: String,
    password: SecretString,
}

/// An error answer: the status's kind (401/403 the operator's, 5xx retried), the status kept
/// as the code for the calls where HyperStore gives it a meaning of its own.
pub fn classify(what: &str, status: u16, body: &str) -> BackendError {
    let kind = kind_of_status(status);
    // Bodies are short texts ("User does not exist"); bounded, and only shown.
    let text: String = body.chars().take(200).collect();
    BackendError::new(
        kind,
        format!("{what}: HyperStore answered {status}: {}", text.trim()),
    )
    .with_retryable(kind == ErrorKind::Unavailable)
    .with_code(status.to_string())
}

impl CloudianClient {
    pub fn new(s: &CloudianSettings) -> Result<Self, BackendError> {
        let http = build_client(&site_agent_sdk::http::HttpConfig {
            peer: "HyperStore Admin API".into(),
            ..s.store.http.clone()
        })?;
        Ok(Self {
            http,
            base: s.admin_url.clone(),
            user: s.admin_user.clone(),
            password: s.admin_password.clone(),
        })
    }

    /// `GET /system/version` (a text answer): proves the address and the credentials.
    pub async fn reachable(&self) -> Result<(), BackendError> {
        let what = "HyperStore version";
        let resp = self
            .http
            .get(format!("{}/system/version", self.base))
            .basic_auth(&self.user, Some(self.password.expose_secret()))
            .send()
            .await
            .map_err(|e| transport_error(what, e))?;
        let status = resp.status().as_u16();
        let text = read_text(resp, MAX_BODY)
            .await
            .map_err(|e| e.into_backend(what))?;
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(classify(what, status, &text))
        }
    }

    /// A `GET`; `None` for "nothing".
    pub async fn get(
        &self,
        what: &str,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Option<Value>, BackendError> {
        self.call(what, Method::GET, path, query, None).await
    }

    /// One call; `None` for "nothing" (204, or an empty 200).
    pub async fn call(
        &self,
        what: &str,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Option<Value>, BackendError> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .basic_auth(&self.user, Some(self.password.expose_secret()));
        if !query.is_empty() {
            req = req.query(query);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|e| transport_error(what, e))?;
        let status = resp.status().as_u16();
        let text = read_text(resp, MAX_BODY)
            .await
            .map_err(|e| e.into_backend(what))?;
        if !(200..300).contains(&status) {
            return Err(classify(what, status, &text));
        }
        if status == 204 || text.trim().is_empty() {
            return Ok(None);
        }
        serde_json::from_str(&text).map(Some).map_err(|e| {
            BackendError::unavailable(format!("{what}: unreadable HyperStore answer: {e}"))
        })
    }
}

/// Whether `e` is HyperStore's answer with this status.
pub fn is_status(e: &BackendError, status: u16) -> bool {
    e.code() == Some(status.to_string().as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_make_the_kind_and_stay_as_the_code() {
        let e = classify("x", 403, "Reached maximum number of credentials allowed");
        assert_eq!(e.kind(), ErrorKind::Unauthorized);
        assert!(is_status(&e, 403) && !e.is_retryable());
        let e = classify("x", 503, "busy");
        assert!(e.is_retryable() && e.kind() == ErrorKind::Unavailable);
        assert_eq!(classify("x", 409, "").kind(), ErrorKind::AlreadyExists);
        let long = "y".repeat(10_000);
        assert!(classify("x", 400, &long).message().len() < 300, "bounded");
    }
}
