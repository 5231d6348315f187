//! MinIO's admin API (`/minio/admin/<version>/…` on the S3 port, SigV4 service `s3`), one
//! async fn per call, identifiers validated before a URL is built. Request bodies that MinIO
//! wants encrypted are sealed with the admin's secret key; encrypted answers are opened with
//! it (other-backends.md §2.1, §2.2).
//!
//! Deriving a madmin key is memory-hard (Argon2id, 64 MiB, tens of milliseconds): requests are
//! sealed with one key derived once per process (a fresh nonce per body), and answers — each
//! under the server's own fresh salt — are opened one at a time, so a burst never holds more
//! than one 64 MiB derivation. Only the service-account list is read encrypted; every other
//! answer the agent needs is plain (`user-info`, quotas, `datausageinfo`).

use crate::error::classify;
use crate::madmin::{self, BodyKey, Cipher};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use site_agent_sdk::sigv4::{SignedHttp, encode_pairs};
use site_agent_sdk::{BackendError, ErrorKind, validate_identifier};
use std::collections::HashMap;
use std::sync::Arc;

/// The most of a `datausageinfo` answer read: room for some 200,000 buckets.
const DATA_USAGE_MAX_BODY: usize = 256 << 20;

pub struct Admin {
    http: SignedHttp,
    /// `{endpoint}/minio/admin/{version}`.
    base: String,
    secret: SecretString,
    seal_key: tokio::sync::OnceCell<Arc<BodyKey>>,
    /// One memory-hard derivation at a time.
    derivations: tokio::sync::Semaphore,
}

/// A request body.
enum Body {
    None,
    /// Plain JSON (policies, quotas).
    Plain(Vec<u8>),
    /// JSON to be sealed (users, service accounts).
    Sealed(Vec<u8>),
}

/// `user-info`: what the agent reads of a user.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct UserInfo {
    /// The user's policies, comma-separated.
    #[serde(rename = "policyName")]
    pub policy_name: String,
    /// `enabled` or `disabled`.
    pub status: String,
    /// The groups the user belongs to (`null` or absent: none).
    #[serde(rename = "memberOf", deserialize_with = "null_as_empty")]
    pub member_of: Vec<String>,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}

impl UserInfo {
    pub fn policies(&self) -> impl Iterator<Item = &str> {
        self.policy_name
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
    }
    pub fn enabled(&self) -> bool {
        self.status == "enabled"
    }
}

/// One bucket of `datausageinfo` (scanner figures).
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(default)]
pub struct BucketUsage {
    pub size: u64,
    #[serde(rename = "objectsCount")]
    pub objects_count: u64,
}

/// `datausageinfo`: the scanner's last complete picture of every bucket.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct DataUsage {
    /// RFC 3339; when the scanner finished the cycle these figures come from.
    #[serde(rename = "lastUpdate")]
    pub last_update: String,
    #[serde(rename = "bucketsUsageInfo")]
    pub buckets: HashMap<String, BucketUsage>,
}

/// `get-bucket-quota`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct QuotaBody {
    quota: u64,
    size: u64,
    quotatype: String,
}

impl Admin {
    pub fn new(http: SignedHttp, endpoint: &str, version: &str, secret: SecretString) -> Self {
        Self {
            http,
            base: format!("{}/minio/admin/{version}", endpoint.trim_end_matches('/')),
            secret,
            seal_key: tokio::sync::OnceCell::new(),
            derivations: tokio::sync::Semaphore::new(1),
        }
    }

    async fn derive<T: Send + 'static>(
        &self,
        f: impl FnOnce(&[u8]) -> Result<T, madmin::CryptError> + Send + 'static,
    ) -> Result<T, BackendError> {
        let _one = self
            .derivations
            .acquire()
            .await
            .map_err(|_| BackendError::unavailable("MinIO admin client is shutting down"))?;
        let secret = SecretString::from(self.secret.expose_secret().to_string());
        tokio::task::spawn_blocking(move || f(secret.expose_secret().as_bytes()))
            .await
            .map_err(|_| BackendError::unexpected("madmin key derivation panicked"))?
            .map_err(|e| BackendError::unexpected(format!("madmin encryption: {e}")))
    }

    async fn seal(&self, plaintext: &[u8]) -> Result<Vec<u8>, BackendError> {
        let key = self
            .seal_key
            .get_or_try_init(|| async {
                self.derive(|s| BodyKey::fresh(s, Cipher::Argon2AesGcm).map(Arc::new))
                    .await
            })
            .await?;
        key.seal(plaintext)
            .map_err(|e| BackendError::unexpected(format!("madmin encryption: {e}")))
    }

    async fn open(&self, what: &str, body: Vec<u8>) -> Result<Vec<u8>, BackendError> {
        self.derive(move |s| madmin::decrypt(s, &body))
            .await
            .map_err(|e| {
                BackendError::unexpected(format!("{what}: cannot open MinIO's encrypted answer ({e}); is `admin_secret_key` the key the agent signs with?"))
            })
    }

    /// Sends one admin call; the answer's body on success.
    async fn call(
        &self,
        what: &str,
        method: reqwest::Method,
        command: &str,
        query: &[(&str, &str)],
        body: Body,
    ) -> Result<Vec<u8>, BackendError> {
        // Only the usage of every bucket may be larger than the usual bound.
        let limit = if command == "datausageinfo" {
            DATA_USAGE_MAX_BODY
        } else {
            site_agent_sdk::http::MAX_BODY
        };
        let mut url = format!("{}/{command}", self.base);
        if !query.is_empty() {
            url.push('?');
            url.push_str(&encode_pairs(query.iter().copied()));
        }
        let (bytes, ct) = match body {
            Body::None => (Vec::new(), None),
            Body::Plain(b) => (b, Some("application/octet-stream")),
            Body::Sealed(b) => (self.seal(&b).await?, Some("application/octet-stream")),
        };
        let a = self
            .http
            .send_raw(what, method, &url, ct, bytes, limit)
            .await?;
        if a.ok() {
            Ok(a.body)
        } else {
            Err(classify(what, a.status, &a.body))
        }
    }

    fn json<T: serde::de::DeserializeOwned>(what: &str, body: &[u8]) -> Result<T, BackendError> {
        serde_json::from_slice(body)
            .map_err(|e| BackendError::unexpected(format!("{what}: unreadable answer: {e}")))
    }

    /// Any admin call that proves the endpoint answers and the credentials are an admin's.
    pub async fn server_info(&self) -> Result<(), BackendError> {
        self.call(
            "MinIO admin info",
            reqwest::Method::GET,
            "info",
            &[],
            Body::None,
        )
        .await
        .map(|_| ())
    }

    /// `None` for a user that does not exist.
    pub async fn user_info(&self, user: &str) -> Result<Option<UserInfo>, BackendError> {
        let user = validate_identifier("MinIO user", user)?;
        let what = "MinIO user info";
        match self
            .call(
                what,
                reqwest::Method::GET,
                "user-info",
                &[("accessKey", user)],
                Body::None,
            )
            .await
        {
            Ok(b) => Self::json(what, &b).map(Some),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates the user, or (MinIO's `add-user` is add-or-update) resets its secret: callers
    /// look first.
    pub async fn add_user(&self, user: &str, secret: &SecretString) -> Result<(), BackendError> {
        let user = validate_identifier("MinIO user", user)?;
        let body = serde_json::to_vec(&serde_json::json!({
            "secretKey": secret.expose_secret(),
            "status": "enabled",
        }))
        .map_err(|e| BackendError::unexpected(e.to_string()))?;
        self.call(
            "MinIO add user",
            reqwest::Method::PUT,
            "add-user",
            &[("accessKey", user)],
            Body::Sealed(body),
        )
        .await
        .map(|_| ())
    }

    pub async fn set_user_enabled(&self, user: &str, enabled: bool) -> Result<(), BackendError> {
        let user = validate_identifier("MinIO user", user)?;
        let status = if enabled { "enabled" } else { "disabled" };
        self.call(
            "MinIO set user status",
            reqwest::Method::PUT,
            "set-user-status",
            &[("accessKey", user), ("status", status)],
            Body::None,
        )
        .await
        .map(|_| ())
    }

    pub async fn remove_user(&self, user: &str) -> Result<(), BackendError> {
        let user = validate_identifier("MinIO user", user)?;
        self.call(
            "MinIO remove user",
            reqwest::Method::DELETE,
            "remove-user",
            &[("accessKey", user)],
            Body::None,
        )
        .await
        .map(|_| ())
    }

    pub async fn add_policy(&self, name: &str, document: &str) -> Result<(), BackendError> {
        let name = validate_identifier("MinIO policy", name)?;
        self.call(
            "MinIO add canned policy",
            reqwest::Method::PUT,
            "add-canned-policy",
            &[("name", name)],
            Body::Plain(document.as_bytes().to_vec()),
        )
        .await
        .map(|_| ())
    }

    /// An absent policy is gone already.
    pub async fn remove_policy(&self, name: &str) -> Result<(), BackendError> {
        let name = validate_identifier("MinIO policy", name)?;
        match self
            .call(
                "MinIO remove canned policy",
                reqwest::Method::DELETE,
                "remove-canned-policy",
                &[("name", name)],
                Body::None,
            )
            .await
        {
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            other => other.map(|_| ()),
        }
    }

    /// Makes `policy` the user's only policy (`set-user-or-group-policy` replaces; a plain
    /// call on every server generation, unlike `idp/builtin/policy/attach`).
    pub async fn set_user_policy(&self, user: &str, policy: &str) -> Result<(), BackendError> {
        let user = validate_identifier("MinIO user", user)?;
        let policy = validate_identifier("MinIO policy", policy)?;
        self.call(
            "MinIO set user policy",
            reqwest::Method::PUT,
            "set-user-or-group-policy",
            &[
                ("policyName", policy),
                ("userOrGroup", user),
                ("isGroup", "false"),
            ],
            Body::None,
        )
        .await
        .map(|_| ())
    }

    /// Adds a service account of `user` with the agent's pair and no policy of its own (it
    /// inherits the user's). The answer (encrypted, repeating the pair) is not opened.
    pub async fn add_service_account(
        &self,
        user: &str,
        access_key: &str,
        secret: &SecretString,
    ) -> Result<(), BackendError> {
        let user = validate_identifier("MinIO user", user)?;
        let access_key = validate_identifier("access key", access_key)?;
        let body = serde_json::to_vec(&serde_json::json!({
            "targetUser": user,
            "accessKey": access_key,
            "secretKey": secret.expose_secret(),
            "name": "waldur",
            "description": "issued by site-agent for Waldur",
        }))
        .map_err(|e| BackendError::unexpected(e.to_string()))?;
        self.call(
            "MinIO add service account",
            reqwest::Method::PUT,
            "add-service-account",
            &[],
            Body::Sealed(body),
        )
        .await
        .map(|_| ())
    }

    pub async fn delete_service_account(&self, access_key: &str) -> Result<(), BackendError> {
        let access_key = validate_identifier("access key", access_key)?;
        self.call(
            "MinIO delete service account",
            reqwest::Method::DELETE,
            "delete-service-account",
            &[("accessKey", access_key)],
            Body::None,
        )
        .await
        .map(|_| ())
    }

    /// The access keys of the user's service accounts (an encrypted answer).
    pub async fn service_accounts(&self, user: &str) -> Result<Vec<String>, BackendError> {
        let user = validate_identifier("MinIO user", user)?;
        let what = "MinIO list service accounts";
        let sealed = self
            .call(
                what,
                reqwest::Method::GET,
                "list-service-accounts",
                &[("user", user)],
                Body::None,
            )
            .await?;
        #[derive(Deserialize)]
        struct Account {
            #[serde(rename = "accessKey")]
            access_key: String,
        }
        #[derive(Deserialize)]
        struct List {
            #[serde(default)]
            accounts: Option<Vec<Account>>,
        }
        let list: List = Self::json(what, &self.open(what, sealed).await?)?;
        let keys: Vec<String> = list
            .accounts
            .unwrap_or_default()
            .into_iter()
            .map(|a| a.access_key)
            .collect();
        for k in &keys {
            validate_identifier("access key", k).map_err(|e| {
                BackendError::unexpected(format!("{what}: MinIO listed an odd access key: {e}"))
            })?;
        }
        Ok(keys)
    }

    /// Sets the bucket's hard quota in bytes; `None` clears it. `size` and `quota` both go:
    /// servers before `size` existed read `quota` (other-backends.md §2.2).
    pub async fn set_bucket_quota(
        &self,
        bucket: &str,
        bytes: Option<u64>,
    ) -> Result<(), BackendError> {
        let bucket = validate_identifier("bucket name", bucket)?;
        let n = bytes.unwrap_or(0);
        let body = serde_json::to_vec(&serde_json::json!({
            "size": n,
            "quota": n,
            "quotatype": "hard",
        }))
        .map_err(|e| BackendError::unexpected(e.to_string()))?;
        self.call(
            "MinIO set bucket quota",
            reqwest::Method::PUT,
            "set-bucket-quota",
            &[("bucket", bucket)],
            Body::Plain(body),
        )
        .await
        .map(|_| ())
    }

    /// The bucket's hard quota in bytes; `None` when none is set (or it is zero, which MinIO
    /// reads as none).
    pub async fn bucket_quota(&self, bucket: &str) -> Result<Option<u64>, BackendError> {
        let bucket = validate_identifier("bucket name", bucket)?;
        let what = "MinIO get bucket quota";
        match self
            .call(
                what,
                reqwest::Method::GET,
                "get-bucket-quota",
                &[("bucket", bucket)],
                Body::None,
            )
            .await
        {
            Ok(b) if b.iter().all(u8::is_ascii_whitespace) => Ok(None),
            Ok(b) => {
                // No quota: `null` from current servers.
                let Some(q) = Self::json::<Option<QuotaBody>>(what, &b)? else {
                    return Ok(None);
                };
                // Newer servers fill `size`; older ones only `quota`.
                let n = if q.size > 0 { q.size } else { q.quota };
                Ok((n > 0 && (q.quotatype.is_empty() || q.quotatype == "hard")).then_some(n))
            }
            // Older servers answer a bucket without quota so.
            Err(e) if e.code() == Some("XMinioAdminNoSuchQuotaConfiguration") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every bucket's figures in one answer (about 1 KB a bucket with its histograms): read up
    /// to [`DATA_USAGE_MAX_BODY`], past the bound on other answers.
    pub async fn data_usage(&self) -> Result<DataUsage, BackendError> {
        let what = "MinIO data usage";
        let b = self
            .call(what, reqwest::Method::GET, "datausageinfo", &[], Body::None)
            .await?;
        Self::json(what, &b)
    }
}
