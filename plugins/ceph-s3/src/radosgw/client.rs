//! Raw Admin Ops calls. Identifiers are validated before any URL is built.

use super::query::AdminQuery;
use crate::error::classify_rgw;
use crate::settings::{CephS3Settings, RadosgwSettings};
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use site_agent_sdk::http::build_client;
use site_agent_sdk::sigv4::{SignedHttp, Signer};
use site_agent_sdk::{BackendError, validate_identifier};

pub struct RgwClient {
    http: SignedHttp,
    base: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RgwUser {
    pub user_id: String,
    pub display_name: String,
    pub email: String,
    pub suspended: u8,
    pub keys: Vec<RgwKey>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub struct RgwKey {
    pub user: String,
    pub access_key: String,
}

impl std::fmt::Debug for RgwKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RgwKey({})", self.access_key)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RgwQuota {
    pub enabled: bool,
    /// Exact bytes; -1 means unlimited. (`max_size_kb` is rounded and ignored.)
    pub max_size: i64,
    pub max_objects: i64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RgwBucket {
    pub bucket: String,
    pub usage: std::collections::HashMap<String, RgwBucketUsage>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RgwBucketUsage {
    pub size: u64,
    pub size_actual: u64,
    pub num_objects: u64,
}

#[derive(Clone, Copy)]
pub enum QuotaType {
    User,
    Bucket,
}

impl QuotaType {
    fn as_str(self) -> &'static str {
        match self {
            QuotaType::User => "user",
            QuotaType::Bucket => "bucket",
        }
    }
}

impl RgwClient {
    pub fn new(settings: &CephS3Settings, rgw: &RadosgwSettings) -> Result<Self, BackendError> {
        Ok(Self {
            http: SignedHttp::new(
                build_client(&settings.store.http)?,
                Signer::new(
                    rgw.admin_access_key.clone(),
                    SecretString::from(rgw.admin_secret_key.expose_secret().to_string()),
                    settings.store.s3_region.clone(),
                    "s3",
                ),
            ),
            base: format!("{}/{}", settings.store.s3_endpoint, rgw.admin_path),
        })
    }

    async fn send(
        &self,
        what: &str,
        method: Method,
        resource: &str,
        query: &AdminQuery,
    ) -> Result<String, BackendError> {
        let url = format!("{}/{resource}?{}", self.base, query.encode());
        let answer = self.http.send(what, method, &url, None, Vec::new()).await?;
        if answer.ok() {
            Ok(answer.body)
        } else {
            Err(classify_rgw(what, answer.status, &answer.body))
        }
    }

    fn parse<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T, BackendError> {
        serde_json::from_str(text)
            .map_err(|e| BackendError::unavailable(format!("{what}: unreadable RGW answer: {e}")))
    }

    /// R1: `?list` needs only the users cap (unlike `/admin/info` or `/admin/metadata`).
    pub async fn list_users(&self) -> Result<Vec<String>, BackendError> {
        #[derive(Deserialize, Default)]
        #[serde(default)]
        struct Listing {
            keys: Vec<String>,
            truncated: bool,
        }
        let what = "RGW list users";
        let text = self
            .send(
                what,
                Method::GET,
                "user",
                &AdminQuery::new().subresource("list"),
            )
            .await?;
        let l: Listing = Self::parse(what, &text)?;
        if l.truncated {
            tracing::warn!("RGW user listing is truncated; only the first page was read");
        }
        Ok(l.keys)
    }

    /// R2: no key is generated; the agent mints its own.
    pub async fn create_user(
        &self,
        uid: &str,
        display_name: &str,
        email: &str,
        placement: Option<&str>,
    ) -> Result<(), BackendError> {
        let uid = validate_identifier("S3 user id", uid)?;
        let q = AdminQuery::new()
            .param("uid", uid)
            .param("display-name", display_name)
            .param("generate-key", "False")
            .param("email", email)
            .opt("default-placement", placement);
        self.send("RGW create user", Method::PUT, "user", &q)
            .await
            .map(|_| ())
    }

    /// R3: `Ok(None)` when the user does not exist.
    pub async fn user(&self, uid: &str) -> Result<Option<RgwUser>, BackendError> {
        let uid = validate_identifier("S3 user id", uid)?;
        let what = "RGW get user";
        match self
            .send(
                what,
                Method::GET,
                "user",
                &AdminQuery::new().param("uid", uid),
            )
            .await
        {
            Ok(text) => Ok(Some(Self::parse(what, &text)?)),
            Err(e) if e.kind() == site_agent_sdk::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// R4.
    pub async fn delete_user(&self, uid: &str, purge: bool) -> Result<(), BackendError> {
        let uid = validate_identifier("S3 user id", uid)?;
        let q = AdminQuery::new()
            .param("uid", uid)
            .opt("purge-data", purge.then_some("True"));
        match self
            .send("RGW delete user", Method::DELETE, "user", &q)
            .await
        {
            Ok(_) => Ok(()),
            // RGW's code for deleting a user who still owns buckets.
            Err(e) if e.code() == Some("BucketAlreadyExists") => Err(BackendError::not_empty(
                format!("{e} (the user owns buckets)"),
            )),
            Err(e) => Err(e),
        }
    }

    /// Modify user: suspend or resume.
    pub async fn set_suspended(&self, uid: &str, suspended: bool) -> Result<(), BackendError> {
        let uid = validate_identifier("S3 user id", uid)?;
        let q = AdminQuery::new()
            .param("uid", uid)
            .param("suspended", if suspended { "True" } else { "False" });
        self.send("RGW suspend user", Method::POST, "user", &q)
            .await
            .map(|_| ())
    }

    /// R5: re-sending an existing access key rewrites its secret.
    pub async fn put_key(
        &self,
        uid: &str,
        access_key: &str,
        secret: &SecretString,
    ) -> Result<(), BackendError> {
        let uid = validate_identifier("S3 user id", uid)?;
        let ak = validate_identifier("access key", access_key)?;
        let q = AdminQuery::new()
            .subresource("key")
            .param("uid", uid)
            .param("access-key", ak)
            .param("secret-key", secret.expose_secret());
        self.send("RGW create key", Method::PUT, "user", &q)
            .await
            .map(|_| ())
    }

    /// R6.
    pub async fn delete_key(&self, uid: &str, access_key: &str) -> Result<(), BackendError> {
        let uid = validate_identifier("S3 user id", uid)?;
        let ak = validate_identifier("access key", access_key)?;
        let q = AdminQuery::new()
            .subresource("key")
            .param("uid", uid)
            .param("access-key", ak);
        self.send("RGW delete key", Method::DELETE, "user", &q)
            .await
            .map(|_| ())
    }

    /// R7.
    pub async fn quota(&self, uid: &str, kind: QuotaType) -> Result<RgwQuota, BackendError> {
        let uid = validate_identifier("S3 user id", uid)?;
        let what = "RGW get quota";
        let q = AdminQuery::new()
            .subresource("quota")
            .param("uid", uid)
            .param("quota-type", kind.as_str());
        let text = self.send(what, Method::GET, "user", &q).await?;
        Self::parse(what, &text)
    }

    /// R8: sizes in bytes for both quota types (`max-size`; `max-size-kb` would round up to
    /// the next KiB, so 5 GB would read back as 5,000,000,512). A PUT merges, so an omitted
    /// dimension keeps its stored value; an unordered bucket size is sent as -1 (unlimited)
    /// so a stale ceiling never lingers there.
    pub async fn set_quota(
        &self,
        uid: &str,
        kind: QuotaType,
        max_bytes: Option<u64>,
        max_objects: Option<u64>,
    ) -> Result<(), BackendError> {
        let uid = validate_identifier("S3 user id", uid)?;
        let size = match (kind, max_bytes) {
            (_, Some(b)) => Some(b.to_string()),
            (QuotaType::Bucket, None) => Some("-1".to_string()),
            (QuotaType::User, None) => None,
        };
        let q = AdminQuery::new()
            .subresource("quota")
            .param("uid", uid)
            .param("quota-type", kind.as_str())
            .param("enabled", "True")
            .opt("max-size", size)
            .opt("max-objects", max_objects.map(|n| n.to_string()));
        self.send("RGW set quota", Method::PUT, "user", &q)
            .await
            .map(|_| ())
    }

    /// R9: an empty array for a user without buckets, never a 404.
    pub async fn buckets(&self, uid: &str) -> Result<Vec<RgwBucket>, BackendError> {
        let uid = validate_identifier("S3 user id", uid)?;
        let what = "RGW list buckets";
        let text = self
            .send(
                what,
                Method::GET,
                "bucket",
                &AdminQuery::new().param("uid", uid).param("stats", "True"),
            )
            .await?;
        Self::parse(what, &text)
    }
}
