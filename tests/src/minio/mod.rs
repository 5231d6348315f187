//! minio-sim: a strict, stateful simulator of MinIO's admin API v3 and the S3 calls the agent
//! and its tests make, on one port (reference `other-backends.md` §2; MinIO's behaviour as its
//! sources show it: `cmd/admin-handlers-users.go`, `cmd/iam-store.go`, `cmd/api-errors.go`,
//! `cmd/bucket-quota.go`, madmin-go `user-commands.go`, `encrypt.go`).
//!
//! What it holds to: every call SigV4-signed, `x-amz-content-sha256` required on admin calls;
//! the madmin-encrypted bodies required where MinIO requires them (`add-user`,
//! `add-service-account`, `update-service-account`: a plain body is `XMinioAdminConfigBadJSON`)
//! and its encrypted answers (`add-service-account`, `list-service-accounts`) sealed with the
//! caller's secret; `add-user` is add-or-update; a disabled user's own key is refused
//! (`InvalidAccessKeyId`) and its service accounts are denied everything; a service account
//! without a policy of its own inherits its parent's; a user may make, list and delete its
//! own service accounts unless a policy denies it; `remove-user` takes the user's service
//! accounts with it; a policy in use cannot be removed, an unknown one can; bucket quotas in
//! all three body shapes (0: none), `get-bucket-quota` answers `null` without one; writes over
//! a hard quota are refused with 400 `XMinioAdminBucketQuotaExceeded` once the usage scanner
//! (its lag configurable) has counted what is there; `datausageinfo` is the scanner's
//! picture with its `lastUpdate`.

mod api;
pub mod state;

use state::State;
pub use state::{Bucket, Caller, ServiceAccount, User};

use site_agent_minio::madmin::{self, BodyKey, CryptError};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

#[derive(Debug)]
struct Inner {
    st: State,
    /// `(method, path?query)` of every call.
    calls: Vec<(String, String)>,
    /// Statuses to answer the next calls with (last first), before anything is done.
    fail_next: Vec<u16>,
    /// `(method, path or query part, times left, status)`: matching calls refused so.
    fail_matching: Vec<(String, String, usize, u16)>,
    /// Calls (a path or query part) to carry out and then answer 502.
    lose: Vec<String>,
    /// Body keys by (secret, salt): a client seals many bodies under one salt, and the
    /// simulator need not derive its key again for each (MinIO does; only time differs).
    keys: HashMap<(String, [u8; madmin::SALT_LEN]), Arc<BodyKey>>,
}

impl Inner {
    /// Opens a sealed request body with the caller's secret.
    fn open(&mut self, secret: &str, body: &[u8]) -> Result<Vec<u8>, CryptError> {
        let (salt, cipher) = madmin::header(body)?;
        let key = match self.keys.get(&(secret.to_string(), salt)) {
            Some(k) if k.cipher() == cipher => k.clone(),
            _ => {
                let k = Arc::new(BodyKey::derive(secret.as_bytes(), salt, cipher)?);
                self.keys.insert((secret.to_string(), salt), k.clone());
                k
            }
        };
        madmin::decrypt_with(&key, secret.as_bytes(), body)
    }
}

#[derive(Clone)]
pub struct MinioSim {
    inner: Arc<(Mutex<Inner>, SocketAddr)>,
}

impl MinioSim {
    /// Serves on `127.0.0.1:0` with the root credentials (`MINIO_ROOT_USER` /
    /// `MINIO_ROOT_PASSWORD`).
    pub async fn start(root_user: &str, root_password: &str) -> anyhow::Result<MinioSim> {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let addr = listener.local_addr()?;
        let sim = MinioSim {
            inner: Arc::new((
                Mutex::new(Inner {
                    st: State::new(root_user, root_password),
                    calls: Vec::new(),
                    fail_next: Vec::new(),
                    fail_matching: Vec::new(),
                    lose: Vec::new(),
                    keys: HashMap::new(),
                }),
                addr,
            )),
        };
        let app = api::router(sim.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("minio-sim: server stopped: {e}");
            }
        });
        Ok(sim)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The endpoint (S3 and admin API).
    pub fn url(&self) -> String {
        format!("http://{}", self.inner.1)
    }

    /// How long the usage scanner takes to catch up with writes (zero: always current).
    pub fn set_scanner_lag(&self, lag: Duration) {
        self.lock().st.scanner_lag = lag;
    }

    /// Runs the scanner now.
    pub fn run_scanner(&self) {
        self.lock().st.rescan();
    }

    /// The next `n` calls are answered `status` before anything is done.
    pub fn fail_next(&self, n: usize, status: u16) {
        self.lock().fail_next.extend(std::iter::repeat_n(status, n));
    }

    /// The next `n` calls of `method` whose path or query contains `part` are answered
    /// `status` before anything is done.
    pub fn fail_matching(&self, method: &str, part: &str, n: usize, status: u16) {
        self.lock()
            .fail_matching
            .push((method.into(), part.into(), n, status));
    }

    /// The next call whose path or query contains `part` is carried out, then answered 502.
    pub fn lose_answer(&self, part: &str) {
        self.lock().lose.push(part.into());
    }

    pub fn calls(&self) -> Vec<(String, String)> {
        self.lock().calls.clone()
    }

    pub fn user(&self, name: &str) -> Option<User> {
        self.lock().st.users.get(name).cloned()
    }

    pub fn users(&self) -> Vec<String> {
        self.lock().st.users.keys().cloned().collect()
    }

    /// Adds a user as an operator would (`mc admin user add`), with these policies.
    pub fn add_user(&self, name: &str, secret: &str, policies: &[&str]) {
        self.lock().st.users.insert(
            name.into(),
            User {
                secret: secret.into(),
                enabled: true,
                policies: policies.iter().map(|p| p.to_string()).collect(),
                groups: Vec::new(),
            },
        );
    }

    /// Puts a user in a group (`mc admin group add`).
    pub fn add_to_group(&self, user: &str, group: &str) {
        if let Some(u) = self.lock().st.users.get_mut(user) {
            u.groups.push(group.into());
        }
    }

    pub fn policy(&self, name: &str) -> Option<serde_json::Value> {
        self.lock().st.policies.get(name).cloned()
    }

    pub fn policy_names(&self) -> Vec<String> {
        self.lock().st.policies.keys().cloned().collect()
    }

    /// Service accounts of `parent`: (access key, account).
    pub fn service_accounts(&self, parent: &str) -> Vec<(String, ServiceAccount)> {
        self.lock()
            .st
            .service_accounts
            .iter()
            .filter(|(_, s)| s.parent == parent)
            .map(|(k, s)| (k.clone(), s.clone()))
            .collect()
    }

    pub fn bucket(&self, name: &str) -> Option<Bucket> {
        self.lock().st.buckets.get(name).cloned()
    }

    pub fn bucket_names(&self) -> Vec<String> {
        self.lock().st.buckets.keys().cloned().collect()
    }

    /// Makes a bucket as someone else would (no tags, no quota).
    pub fn add_bucket(&self, name: &str) {
        self.lock().st.buckets.entry(name.into()).or_default();
    }

    /// Stores an object directly (no policy, no quota).
    pub fn put_object(&self, bucket: &str, key: &str, size: u64) {
        if let Some(b) = self.lock().st.buckets.get_mut(bucket) {
            b.objects.insert(key.into(), size);
        }
    }

    pub fn empty_bucket(&self, name: &str) {
        if let Some(b) = self.lock().st.buckets.get_mut(name) {
            b.objects.clear();
        }
    }

    /// Whether an S3 key pair authenticates and is not disabled (root, a user or a service
    /// account; a service account of a disabled user authenticates but may do nothing).
    pub fn key_authenticates(&self, access_key: &str, secret: &str) -> bool {
        let inner = self.lock();
        inner
            .st
            .identity(access_key)
            .is_some_and(|(s, c)| s == secret && !inner.st.disabled(&c))
    }

    /// Whether `access_key` may do `action` on `arn` (S3) right now.
    pub fn key_allowed(&self, access_key: &str, action: &str, arn: &str) -> bool {
        let inner = self.lock();
        inner.st.identity(access_key).is_some_and(|(_, c)| {
            !inner.st.disabled(&c) && inner.st.allowed(&c, action, Some(arn), false)
        })
    }
}
