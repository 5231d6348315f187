//! Raw croit API calls. Every path segment is a validated identifier.

use super::wire::{CreateUser, PutQuota, RawBucket, RawKey, RawUser};
use crate::error::classify_croit;
use crate::settings::{CroitAuth, CroitSettings};
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use site_agent_sdk::http::{HttpConfig, build_client, transport_error};
use site_agent_sdk::{BackendError, validate_identifier};
use std::sync::Arc;

/// One entry of croit's user list: a user, or something that is not (skipped).
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum ListEntry {
    User(RawUser),
    Other(serde::de::IgnoredAny),
}

/// croit's user list parsed entry by entry straight into the index: no list of all the
/// entries next to it (at 100,000 users that doubled the listing's memory).
struct UserIndex(Users);

impl<'de> serde::Deserialize<'de> for UserIndex {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Entries;
        impl<'de> serde::de::Visitor<'de> for Entries {
            type Value = UserIndex;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list of users")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<UserIndex, A::Error> {
                let mut users = Users::default();
                while let Some(entry) = seq.next_element::<ListEntry>()? {
                    // By uid: a usage pass looks up every resource's user in this list (a
                    // scan per lookup grew with the square of the users). The first entry of
                    // a uid wins.
                    if let ListEntry::User(u) = entry
                        && let Some(uid) = u.uid.clone()
                    {
                        users.entry(uid).or_insert(u);
                    }
                }
                users.shrink_to_fit();
                Ok(UserIndex(users))
            }
        }
        d.deserialize_seq(Entries)
    }
}

/// The most of croit's user listing read: it is the only way to look a user up, and it grows
/// with the cluster's users (~400 bytes each: 100,000 users are ~40 MB, past the 16 MiB every
/// other answer is held to).
const USER_LIST_MAX_BODY: usize = 256 << 20;

/// croit's users by uid, as one listing returned them.
pub type Users = std::collections::HashMap<String, RawUser>;

pub struct CroitClient {
    http: reqwest::Client,
    base: String,
    auth: CroitAuth,
    /// croit has no get-one-user call, so every user lookup lists them all. A pass over many
    /// resources (sync, quotas) shares one listing for a few seconds; any write by us drops it.
    users: std::sync::Mutex<Option<(std::time::Instant, Arc<Users>)>>,
    /// Bumped before and after every write: a listing is kept only if no write began or
    /// ended while it was in flight (it might not show that write).
    writes: std::sync::atomic::AtomicU64,
    /// One listing in flight at a time: when the kept one expires, concurrent lookups wait
    /// for a single fetch instead of each reading the whole user list (thousands of users,
    /// megabytes each time).
    refresh: tokio::sync::Mutex<()>,
}

/// How long a user listing is reused.
const USERS_FRESH_FOR: std::time::Duration = std::time::Duration::from_secs(5);

/// Forgets the user listing now and when dropped.
struct WriteGuard<'a>(&'a CroitClient);

impl<'a> WriteGuard<'a> {
    fn new(client: &'a CroitClient) -> Self {
        client.forget_users();
        Self(client)
    }
}

impl Drop for WriteGuard<'_> {
    fn drop(&mut self) {
        self.0.forget_users();
    }
}

#[derive(Clone, Copy)]
pub enum QuotaScope {
    User,
    Bucket,
}

impl CroitClient {
    pub fn new(settings: &CroitSettings, http: &HttpConfig) -> Result<Self, BackendError> {
        Ok(Self {
            http: build_client(http)?,
            base: format!("{}/api", settings.api_url),
            auth: settings.auth.clone(),
            users: Default::default(),
            writes: Default::default(),
            refresh: Default::default(),
        })
    }

    fn forget_users(&self) {
        // (See `writes`.)
        self.writes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        *self.users.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    async fn send(
        &self,
        what: &str,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<serde_json::Value>,
        ok: &[u16],
    ) -> Result<String, BackendError> {
        self.send_limited(
            what,
            method,
            path,
            query,
            body,
            ok,
            site_agent_sdk::http::MAX_BODY,
        )
        .await
    }

    /// [`Self::send`] reading at most `limit` bytes of the answer.
    #[allow(clippy::too_many_arguments)]
    async fn send_limited(
        &self,
        what: &str,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<serde_json::Value>,
        ok: &[u16],
        limit: usize,
    ) -> Result<String, BackendError> {
        // A write drops the shared listing when it starts and again when it ends (however it
        // ends: the guard also runs if this future is dropped mid-way).
        let _write = (method != Method::GET).then(|| WriteGuard::new(self));
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("Accept", "application/json");
        req = match &self.auth {
            CroitAuth::Token(t) => req.bearer_auth(t.expose_secret()),
            CroitAuth::Basic { username, password } => {
                req.basic_auth(username, Some(password.expose_secret()))
            }
        };
        if !query.is_empty() {
            req = req.query(query);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.map_err(|e| transport_error(what, e))?;
        let status = resp.status().as_u16();
        let text = site_agent_sdk::http::read_text(resp, limit)
            .await
            .map_err(|e| e.into_backend(what))?;
        if ok.contains(&status) {
            Ok(text)
        } else if (200..300).contains(&status) {
            Err(BackendError::unexpected(format!(
                "{what}: unexpected response code {status}"
            )))
        } else {
            Err(classify_croit(what, status, &text))
        }
    }

    fn parse<T: serde::de::DeserializeOwned + Default>(
        what: &str,
        text: &str,
    ) -> Result<T, BackendError> {
        if text.trim().is_empty() {
            return Ok(T::default());
        }
        serde_json::from_str(text)
            .map_err(|e| BackendError::unavailable(format!("{what}: unreadable croit answer: {e}")))
    }

    /// Lists users, fresh from croit (and keeps the listing for the next few seconds).
    pub async fn list_users_fresh(&self) -> Result<Arc<Users>, BackendError> {
        self.forget_users();
        self.list_users().await
    }

    fn kept_users(&self) -> Option<Arc<Users>> {
        let mut kept = self.users.lock().unwrap_or_else(|e| e.into_inner());
        match kept.as_ref() {
            Some((at, users)) if at.elapsed() < USERS_FRESH_FOR => Some(users.clone()),
            // Dropped before the next listing is read: never two listings held at once
            // (unless a lookup still holds the old one).
            _ => {
                *kept = None;
                None
            }
        }
    }

    pub async fn list_users(&self) -> Result<Arc<Users>, BackendError> {
        if let Some(users) = self.kept_users() {
            return Ok(users);
        }
        let _one_fetch = self.refresh.lock().await;
        // Fetched by another lookup while this one waited.
        if let Some(users) = self.kept_users() {
            return Ok(users);
        }
        let what = "croit list users";
        let generation = self.writes.load(std::sync::atomic::Ordering::SeqCst);
        let text = self
            .send_limited(
                what,
                Method::GET,
                "/s3/users",
                &[],
                None,
                &[200],
                USER_LIST_MAX_BODY,
            )
            .await?;
        // Parsed straight into users (no JSON tree of the whole list): an entry that is not
        // a user is skipped, and a non-array counts as empty.
        let users =
            serde_json::from_str::<UserIndex>(&text).map_or_else(|_| Users::default(), |u| u.0);
        let users = Arc::new(users);
        drop(text);
        let mut cached = self.users.lock().unwrap_or_else(|e| e.into_inner());
        if self.writes.load(std::sync::atomic::Ordering::SeqCst) == generation {
            *cached = Some((std::time::Instant::now(), users.clone()));
        }
        Ok(users)
    }

    pub async fn create_user(&self, body: &CreateUser<'_>) -> Result<(), BackendError> {
        validate_identifier("S3 user id", body.uid)?;
        let json = serde_json::to_value(body).map_err(|e| BackendError::invalid(e.to_string()))?;
        self.send(
            "croit create user",
            Method::POST,
            "/s3/users",
            &[],
            Some(json),
            &[201, 204],
        )
        .await
        .map(|_| ())
    }

    pub async fn delete_user(&self, uid: &str) -> Result<(), BackendError> {
        let uid = validate_identifier("S3 user id", uid)?;
        self.send(
            "croit delete user",
            Method::DELETE,
            &format!("/s3/users/{uid}"),
            &[],
            None,
            &[204],
        )
        .await
        .map(|_| ())
    }

    pub async fn set_suspended(&self, uid: &str, suspended: bool) -> Result<(), BackendError> {
        let uid = validate_identifier("S3 user id", uid)?;
        let body = serde_json::json!({ "suspended": suspended });
        self.send(
            "croit suspend user",
            Method::PATCH,
            &format!("/s3/users/{uid}"),
            &[],
            Some(body),
            &[200, 204],
        )
        .await
        .map(|_| ())
    }

    pub async fn list_keys(&self, uid: &str) -> Result<Vec<RawKey>, BackendError> {
        let uid = validate_identifier("S3 user id", uid)?;
        let what = "croit list keys";
        let text = self
            .send(
                what,
                Method::GET,
                &format!("/s3/users/{uid}/keys"),
                &[],
                None,
                &[200],
            )
            .await?;
        Self::parse(what, &text)
    }

    pub async fn put_key(
        &self,
        uid: &str,
        access_key: &str,
        secret: &SecretString,
    ) -> Result<(), BackendError> {
        let uid = validate_identifier("S3 user id", uid)?;
        let ak = validate_identifier("access key", access_key)?;
        // croit takes the secret as a query parameter; it is scrubbed from any error text.
        self.send(
            "croit create key",
            Method::PUT,
            &format!("/s3/users/{uid}/keys/{ak}"),
            &[("secretKey", secret.expose_secret())],
            None,
            &[204],
        )
        .await
        .map(|_| ())
    }

    pub async fn delete_key(&self, uid: &str, access_key: &str) -> Result<(), BackendError> {
        let uid = validate_identifier("S3 user id", uid)?;
        let ak = validate_identifier("access key", access_key)?;
        self.send(
            "croit delete key",
            Method::DELETE,
            &format!("/s3/users/{uid}/keys/{ak}"),
            &[],
            None,
            &[204],
        )
        .await
        .map(|_| ())
    }

    pub async fn buckets(&self, uid: &str) -> Result<Vec<RawBucket>, BackendError> {
        let uid = validate_identifier("S3 user id", uid)?;
        let what = "croit list buckets";
        let text = self
            .send(
                what,
                Method::GET,
                &format!("/s3/users/{uid}/buckets"),
                &[],
                None,
                &[200],
            )
            .await?;
        Self::parse(what, &text)
    }

    /// C10: croit's `s3-user-data` statistics (bytes; `v` may be null or fractional).
    pub async fn stats(
        &self,
        uid: &str,
        start: i64,
        end: i64,
    ) -> Result<Vec<(i64, Option<u64>)>, BackendError> {
        let uid = validate_identifier("S3 user id", uid)?;
        let what = "croit usage statistics";
        let (start, end) = (start.to_string(), end.to_string());
        let query = [
            ("graph", "s3-user-data"),
            ("template-s3-user-name", uid),
            ("startTime", start.as_str()),
            ("endTime", end.as_str()),
            ("maxDataPoints", "2000"),
        ];
        let text = match self
            .send(what, Method::GET, "/stats", &query, None, &[200])
            .await
        {
            Err(e) if e.kind() == site_agent_sdk::ErrorKind::NotFound => {
                // Not "user gone": the graph itself is missing (it is internal to croit).
                return Err(BackendError::unsupported(format!(
                    "{what}: croit has no s3-user-data graph: {e}"
                )));
            }
            other => other?,
        };
        let v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| BackendError::unavailable(format!("{what}: unreadable answer: {e}")))?;
        let points = v
            .pointer("/axis1/graphs/0/datapoints")
            .and_then(|d| d.as_array())
            .cloned()
            .unwrap_or_default();
        Ok(points
            .iter()
            .filter_map(|p| {
                let t = p.get("t")?.as_i64()?;
                // A NaN or negative reading is no reading.
                let v = p
                    .get("v")
                    .and_then(|v| v.as_f64())
                    .filter(|f| f.is_finite() && *f >= 0.0)
                    .map(|f| f.round() as u64);
                Some((t, v))
            })
            .collect())
    }

    pub async fn put_quota(
        &self,
        uid: &str,
        scope: QuotaScope,
        body: &PutQuota,
    ) -> Result<(), BackendError> {
        let uid = validate_identifier("S3 user id", uid)?;
        let (what, path) = match scope {
            QuotaScope::User => ("croit set user quota", format!("/s3/users/{uid}/quota")),
            QuotaScope::Bucket => (
                "croit set bucket quota",
                format!("/s3/users/{uid}/bucket-quota"),
            ),
        };
        let json = serde_json::to_value(body).map_err(|e| BackendError::invalid(e.to_string()))?;
        self.send(what, Method::PUT, &path, &[], Some(json), &[204])
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::UserIndex;

    #[test]
    fn the_user_list_is_indexed_by_uid_skipping_what_is_not_a_user() {
        let text = r#"[
            {"uid": "t1", "email": "a@x", "suspended": true,
             "keys": [{"user": "t1", "access_key": "AK1", "secret_key": "S1"},
                      {"accessKey": "AK2", "secretKey": "S2"}]},
            "not a user",
            {"uid": "t1", "email": "second@x"},
            {"email": "no-uid@x"},
            {"uid": "t2", "userQuota": {"enabled": true, "maxSize": 1024}}
        ]"#;
        let users = serde_json::from_str::<UserIndex>(text).unwrap().0;
        assert_eq!(users.len(), 2);
        let t1 = &users["t1"];
        assert_eq!(
            t1.email.as_deref(),
            Some("a@x"),
            "the first entry of a uid wins"
        );
        assert!(t1.suspended);
        let keys: Vec<_> = t1.keys.iter().filter_map(|k| k.access_key()).collect();
        assert_eq!(keys, ["AK1", "AK2"]);
        assert_eq!(
            users["t2"].user_quota.as_ref().unwrap().max_size,
            Some(1024)
        );
        assert!(serde_json::from_str::<UserIndex>(r#"{"uid": "t1"}"#).is_err());
    }
}
