//! MyFSIO's JSON admin routes over SigV4 (`/admin/...` on v0.4, `/myfsio/admin/...` on v0.5),
//! which generation answers, and the admin rate limit (60 calls a minute per client address
//! by default): v0.4 answers 429 with an HTML page and no `Retry-After`, v0.5 429 or 503
//! `SlowDown` with one. The agent waits as told (or backs off) and tries again, a few times.

use crate::error::classify_admin;
use serde_json::Value;
use site_agent_sdk::sigv4::{Answer, SignedHttp, encode};
use site_agent_sdk::{BackendError, ErrorKind};
use std::time::Duration;

/// Which MyFSIO line answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generation {
    /// v0.4.x, Python/Flask.
    V04,
    /// v0.5.x, Rust.
    V05,
}

impl Generation {
    pub fn admin_prefix(self) -> &'static str {
        match self {
            Generation::V04 => "/admin",
            Generation::V05 => "/myfsio/admin",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Generation::V04 => "v0.4 (Python)",
            Generation::V05 => "v0.5 (Rust)",
        }
    }
}

/// Tries of one call while the rate limit refuses it.
const RATE_LIMIT_TRIES: u32 = 6;
/// The longest wait the agent accepts from `Retry-After`.
const MAX_WAIT: Duration = Duration::from_secs(60);

pub struct Admin {
    http: SignedHttp,
    base: String,
    /// The first back-off without `Retry-After` (v0.4), doubled each time.
    backoff: Duration,
}

/// A user as the listing shows it (the fields both generations carry).
#[derive(Debug, Clone)]
pub struct Listed {
    pub user_id: String,
    pub display_name: String,
    pub enabled: bool,
    pub access_keys: Vec<String>,
    /// How many policy entries it has (v0.4 lists them, v0.5 counts them); `None`: not shown.
    pub policies: Option<usize>,
}

impl Admin {
    pub fn new(http: SignedHttp, base: &str, backoff: Duration) -> Self {
        Self {
            http,
            base: base.trim_end_matches('/').to_string(),
            backoff,
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// Sends a signed request, waiting out the rate limit.
    pub async fn send(
        &self,
        what: &str,
        method: reqwest::Method,
        path: &str,
    ) -> Result<Answer, BackendError> {
        let url = format!("{}{path}", self.base);
        let mut wait = self.backoff;
        for attempt in 1..=RATE_LIMIT_TRIES {
            let a = self
                .http
                .send(what, method.clone(), &url, None, Vec::new())
                .await?;
            if !is_rate_limited(&a) {
                return Ok(a);
            }
            if attempt == RATE_LIMIT_TRIES {
                break;
            }
            let pause = a
                .retry_after
                .map(Duration::from_secs)
                .unwrap_or(wait)
                .min(MAX_WAIT);
            tracing::info!(
                call = what,
                wait_ms = pause.as_millis() as u64,
                "MyFSIO's admin rate limit: waiting before trying again"
            );
            tokio::time::sleep(pause).await;
            wait = (wait * 2).min(MAX_WAIT);
        }
        Err(BackendError::unavailable(format!(
            "{what}: MyFSIO's admin rate limit (RATE_LIMIT_ADMIN) kept refusing; tried {RATE_LIMIT_TRIES} times"
        )))
    }

    /// An admin route of `generation`; the JSON answer (`Null` for none).
    pub async fn call(
        &self,
        generation: Generation,
        what: &str,
        method: reqwest::Method,
        route: &str,
    ) -> Result<Value, BackendError> {
        let a = self
            .send(
                what,
                method,
                &format!("{}{route}", generation.admin_prefix()),
            )
            .await?;
        if !a.ok() {
            return Err(classify_admin(what, a.status, &a.body));
        }
        if a.body.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&a.body).map_err(|e| {
            BackendError::unavailable(format!("{what}: unreadable MyFSIO answer: {e}"))
        })
    }

    /// Which generation answers, found by reading the admin's own user under each prefix:
    /// v0.5 first; on v0.4 that path is an object of a bucket named `myfsio` (404).
    /// Returns the admin's user id too.
    pub async fn detect(&self, admin_key: &str) -> Result<(Generation, String), BackendError> {
        let mut last = None;
        for g in [Generation::V05, Generation::V04] {
            match self.user(g, admin_key).await {
                Ok(Some(v)) => {
                    let id = v["user_id"].as_str().unwrap_or_default().to_string();
                    return Ok((g, id));
                }
                Ok(None) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(BackendError::unavailable(format!(
            "no MyFSIO admin API at {} (neither /myfsio/admin nor /admin shows the admin key's user{})",
            self.base,
            last.map(|e| format!(": {e}")).unwrap_or_default()
        )))
    }

    /// One user by user id or access key; `None` when MyFSIO does not know it.
    pub async fn user(&self, g: Generation, ident: &str) -> Result<Option<Value>, BackendError> {
        match self
            .call(
                g,
                "MyFSIO get user",
                reqwest::Method::GET,
                &format!("/iam/users/{}", encode(ident)),
            )
            .await
        {
            // A JSON `NotFound` is MyFSIO's "no such user"; anything else 404 is no admin
            // route at all (the other generation's path).
            Ok(v) => Ok(Some(v)),
            Err(e) if e.kind() == ErrorKind::NotFound && e.code() == Some("NotFound") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every user (no secrets).
    pub async fn list(&self, g: Generation) -> Result<Vec<Listed>, BackendError> {
        let v = self
            .call(g, "MyFSIO list users", reqwest::Method::GET, "/iam/users")
            .await?;
        let users = v["users"].as_array().ok_or_else(|| {
            BackendError::unexpected("MyFSIO list users: no `users` in the answer")
        })?;
        users.iter().map(listed).collect()
    }
}

/// Reads one user of a listing (or of a single read).
pub fn listed(u: &Value) -> Result<Listed, BackendError> {
    let text = |k: &str| {
        u[k].as_str()
            .map(str::to_string)
            .ok_or_else(|| BackendError::unexpected(format!("MyFSIO user without a `{k}`: {u}")))
    };
    Ok(Listed {
        user_id: text("user_id")?,
        display_name: text("display_name")?,
        enabled: u["enabled"].as_bool().unwrap_or(true),
        access_keys: u["access_keys"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|k| k["access_key"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
        policies: u["policies"]
            .as_array()
            .map(Vec::len)
            .or_else(|| u["policy_count"].as_u64().map(|n| n as usize)),
    })
}

/// A refusal by the rate limit: any 429, or v0.5's 503 `SlowDown`.
fn is_rate_limited(a: &Answer) -> bool {
    a.status == 429
        || (a.status == 503
            && site_agent_sdk::s3error::xml_code(&a.body).as_deref() == Some("SlowDown"))
}
