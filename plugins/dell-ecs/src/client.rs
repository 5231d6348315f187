//! The ECS Management API client: `GET /login` with Basic for a token (`X-SDS-AUTH-TOKEN`,
//! 200 or 201), the token reused until 30 s before its `X-SDS-AUTH-MAX-AGE` (300 s when ECS
//! names none), one fresh login and retry when ECS answers 401, 403 or 415 (a stale token
//! shows as any of the three: python-ecsclient `common/token_request.py`), JSON asked for with
//! `Accept`, and errors classified by code (`error.rs`).

use crate::error::classify;
use crate::settings::EcsSettings;
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use site_agent_sdk::BackendError;
use site_agent_sdk::http::{MAX_BODY, build_client, read_text, transport_error};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

pub const TOKEN_HEADER: &str = "X-SDS-AUTH-TOKEN";
const MAX_AGE_HEADER: &str = "X-SDS-AUTH-MAX-AGE";
/// ECS names no max-age: the CloudStack driver's fallback.
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(300);
/// Renewed this long before it would expire.
const MARGIN: Duration = Duration::from_secs(30);

struct Token {
    value: SecretString,
    renew_at: Instant,
}

pub struct EcsClient {
    http: reqwest::Client,
    base: String,
    username: String,
    password: SecretString,
    token: Mutex<Option<Token>>,
}

impl EcsClient {
    pub fn new(s: &EcsSettings) -> Result<Self, BackendError> {
        let http = build_client(&site_agent_sdk::http::HttpConfig {
            peer: "ECS Management API".into(),
            ..s.store.http.clone()
        })?;
        Ok(Self {
            http,
            base: s.management_url.clone(),
            username: s.username.clone(),
            password: s.password.clone(),
            token: Mutex::new(None),
        })
    }

    async fn login(&self) -> Result<Token, BackendError> {
        let what = "ECS login";
        let resp = self
            .http
            .get(format!("{}/login", self.base))
            .basic_auth(&self.username, Some(self.password.expose_secret()))
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| transport_error(what, e))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = read_text(resp, MAX_BODY)
            .await
            .map_err(|e| e.into_backend(what))?;
        if !matches!(status, 200 | 201) {
            let e = classify(what, status, &text);
            return Err(if status == 401 {
                BackendError::unauthorized(format!(
                    "{what}: ECS refused the management user {:?} (check username and password)",
                    self.username
                ))
            } else {
                e
            });
        }
        let value = headers
            .get(TOKEN_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                BackendError::unexpected(format!("{what}: no {TOKEN_HEADER} in ECS's answer"))
            })?;
        let max_age = headers
            .get(MAX_AGE_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_MAX_AGE);
        Ok(Token {
            value: SecretString::from(value.to_string()),
            renew_at: Instant::now() + max_age.saturating_sub(MARGIN),
        })
    }

    /// The current token, logging in when there is none or it is about to expire.
    async fn token(&self, fresh: bool) -> Result<SecretString, BackendError> {
        let mut t = self.token.lock().await;
        if fresh || t.as_ref().is_none_or(|t| Instant::now() >= t.renew_at) {
            *t = Some(self.login().await?);
        }
        Ok(t.as_ref()
            .map(|t| t.value.clone())
            .unwrap_or_else(|| SecretString::from(String::new())))
    }

    /// One call; `Null` for an empty answer. A stale token gets one fresh login and retry.
    pub async fn call(
        &self,
        what: &str,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Value, BackendError> {
        let mut fresh = false;
        loop {
            let token = self.token(fresh).await?;
            let mut req = self
                .http
                .request(method.clone(), format!("{}{path}", self.base))
                .header(TOKEN_HEADER, token.expose_secret())
                .header(reqwest::header::ACCEPT, "application/json");
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
            if matches!(status, 401 | 403 | 415) && !fresh {
                fresh = true;
                continue;
            }
            if !(200..300).contains(&status) {
                return Err(classify(what, status, &text));
            }
            if text.trim().is_empty() {
                return Ok(Value::Null);
            }
            return serde_json::from_str(&text).map_err(|e| {
                BackendError::unavailable(format!("{what}: unreadable ECS answer: {e}"))
            });
        }
    }

    /// Ends the session (best effort: a token left behind expires by itself).
    pub async fn logout(&self) {
        let token = self.token.lock().await.take();
        if let Some(t) = token {
            let _ = self
                .http
                .get(format!("{}/logout", self.base))
                .header(TOKEN_HEADER, t.value.expose_secret())
                .send()
                .await;
        }
    }
}
