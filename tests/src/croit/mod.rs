//! croit-sim: a strict, stateful simulator of the croit management API
//! subset that site-agent uses (spec `ceph-s3-plugin.md` §2, calls C1–C10).
//!
//! It answers as croit does, errors included: 201 on create, 204 on the
//! writes, croit-style `{"code": N, "message": "..."}` bodies, the 500 for
//! deleting an absent key, the 500 for deleting a user that owns buckets,
//! snake_case key lists inside camelCase user objects, quota sizes rounded
//! up to KiB, one auto-generated key on every created user, and emails
//! lowercased as RGW stores them.
//!
//! Start it with [`CroitSim::start`]; drive and inspect its world with the
//! other methods. The `/sim/` routes are an unauthenticated control API for
//! demos and are not part of croit.

mod auth;
mod buckets;
mod control;
mod error;
mod gate;
mod keys;
mod quota;
mod request;
mod s3;
mod state;
mod stats;
mod users;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::Context as _;
use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use serde::Serialize;

use state::{Failure, NewUser, State};

/// The credential croit expects on every `/api` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CroitAuth {
    /// `Authorization: Bearer <token>`.
    Bearer(String),
    /// HTTP Basic `<username>:<password>`.
    Basic { username: String, password: String },
}

/// A quota as croit reads it back: `max_size` in bytes (a multiple of
/// 1024), -1 for unlimited; unset is `{false, -1, -1}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SimQuota {
    pub enabled: bool,
    pub max_size: i64,
    pub max_objects: i64,
}

impl SimQuota {
    /// How croit reports a quota that was never set.
    pub fn unset() -> Self {
        Self {
            enabled: false,
            max_size: -1,
            max_objects: -1,
        }
    }
}

/// A snapshot of one simulated user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SimUser {
    pub uid: String,
    pub name: String,
    /// As stored: lowercased, like RGW does.
    pub email: String,
    pub suspended: bool,
    /// (access key, secret key), in creation order.
    pub keys: Vec<(String, String)>,
    pub user_quota: SimQuota,
    pub bucket_quota: SimQuota,
    /// (bucket, size bytes, objects), in creation order.
    pub buckets: Vec<(String, u64, u64)>,
}

/// One `/api` request as the simulator answered it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SimCall {
    pub method: String,
    /// The raw (still percent-encoded) path, e.g. `/api/s3/users/u/keys`.
    pub path: String,
    /// The raw query string without `?`; empty when there is none.
    pub query: String,
    pub status: u16,
}

struct Inner {
    state: Mutex<State>,
    addr: SocketAddr,
}

/// A running simulator. Cloning shares the same world.
#[derive(Clone)]
pub struct CroitSim {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for CroitSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CroitSim")
            .field("addr", &self.inner.addr)
            .finish_non_exhaustive()
    }
}

fn router(sim: CroitSim) -> Router {
    Router::new()
        .route(
            "/api/s3/users",
            get(users::list_users).post(users::create_user),
        )
        .route(
            "/api/s3/users/{uid}",
            axum::routing::delete(users::delete_user).patch(users::patch_user),
        )
        .route("/api/s3/users/{uid}/keys", get(keys::list_keys))
        .route(
            "/api/s3/users/{uid}/keys/{access_key}",
            put(keys::put_key).delete(keys::delete_key),
        )
        .route("/api/s3/users/{uid}/buckets", get(buckets::list_buckets))
        .route("/api/s3/users/{uid}/quota", put(quota::put_user_quota))
        .route(
            "/api/s3/users/{uid}/bucket-quota",
            put(quota::put_bucket_quota),
        )
        .route("/api/stats", get(stats::stats))
        .route(
            "/s3/{bucket}",
            get(s3::list_objects).delete(s3::delete_bucket),
        )
        // Path-style S3 clients address a bucket with a trailing slash.
        .route(
            "/s3/{bucket}/",
            get(s3::list_objects).delete(s3::delete_bucket),
        )
        .route(
            "/s3/{bucket}/{*key}",
            axum::routing::delete(s3::delete_object),
        )
        .route("/sim/users", get(control::users))
        .route("/sim/users/{uid}", get(control::get_user))
        .route("/sim/users/{uid}/buckets", post(control::add_bucket))
        .route("/sim/calls", get(control::calls))
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            sim.clone(),
            gate::api_gate,
        ))
        .with_state(sim)
}

impl CroitSim {
    /// Bind `127.0.0.1:0` and serve on a spawned tokio task.
    pub async fn start(auth: CroitAuth) -> anyhow::Result<CroitSim> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), auth).await
    }

    /// Bind `addr` and serve on a spawned tokio task.
    pub async fn start_on(addr: SocketAddr, auth: CroitAuth) -> anyhow::Result<CroitSim> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("croit-sim: cannot bind {addr}"))?;
        let addr = listener.local_addr()?;
        let sim = CroitSim {
            inner: Arc::new(Inner {
                state: Mutex::new(State::new(auth)),
                addr,
            }),
        };
        let app = router(sim.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("croit-sim: server stopped: {e}");
            }
        });
        Ok(sim)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// `http://HOST:PORT`, the agent's `api_url` (it appends `/api`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.inner.addr)
    }

    /// Poison-tolerant: a panicking test thread must not wedge the server.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A snapshot of one user.
    pub fn user(&self, uid: &str) -> Option<SimUser> {
        self.lock().users.get(uid).map(|u| u.to_sim())
    }

    /// All uids, sorted.
    pub fn users(&self) -> Vec<String> {
        self.lock().users.keys().cloned().collect()
    }

    /// Seed a pre-existing user (e.g. a stranger's), with one generated key
    /// and `name` = `uid`.
    ///
    /// # Panics
    /// If the uid exists or the email is already in use (a test bug).
    pub fn add_user(&self, uid: &str, email: &str) {
        let new = NewUser {
            uid: uid.to_string(),
            name: uid.to_string(),
            email: Some(email.to_string()),
            ..NewUser::default()
        };
        if let Err(e) = self.lock().create_user(new) {
            panic!("croit-sim: add_user({uid}, {email}): {}", e.message);
        }
    }

    /// Many users (uid, e-mail) at once, for benchmarks at a scale where `add_user` one by
    /// one is quadratic.
    pub fn add_users(&self, users: &[(String, String)]) {
        let news = users
            .iter()
            .map(|(uid, email)| NewUser {
                uid: uid.clone(),
                name: uid.clone(),
                email: Some(email.clone()),
                ..NewUser::default()
            })
            .collect();
        if let Err(e) = self.lock().create_users(news) {
            panic!("croit-sim: add_users: {}", e.message);
        }
    }

    /// Many buckets (uid, bucket, bytes, objects) at once, as `add_bucket` each.
    pub fn add_buckets(&self, buckets: &[(String, String, u64, u64)]) {
        if let Err(e) = self.lock().put_buckets(buckets) {
            panic!("croit-sim: add_buckets: {}", e.message);
        }
    }

    /// Seed a user as the croit-s3 plugin made them: no e-mail, `name` as given, and the key
    /// croit generates with every user (access, secret), which the plugin showed its
    /// customer in `s3_credentials`.
    ///
    /// # Panics
    /// If the uid exists (a test bug).
    pub fn add_legacy_user(&self, uid: &str, name: &str) -> (String, String) {
        let new = NewUser {
            uid: uid.to_string(),
            name: name.to_string(),
            ..NewUser::default()
        };
        let mut st = self.lock();
        match st.create_user(new) {
            Ok(rec) => rec.keys[0].clone(),
            Err(e) => panic!("croit-sim: add_legacy_user({uid}): {}", e.message),
        }
    }

    /// Set a user's quotas directly (as an older plugin or an operator left them).
    ///
    /// # Panics
    /// If the user is unknown (a test bug).
    pub fn set_quotas(&self, uid: &str, user: SimQuota, bucket: SimQuota) {
        let mut st = self.lock();
        match st.user_mut(uid) {
            Ok(u) => {
                u.user_quota = user;
                u.bucket_quota = bucket;
            }
            Err(e) => panic!("croit-sim: set_quotas({uid}): {}", e.message),
        }
    }

    /// Give `uid` a bucket, or update the usage of a bucket it owns.
    /// `size == 0 && objects == 0` reads back as `usageSum: null`.
    ///
    /// # Panics
    /// If the user is unknown or another user owns the bucket (a test bug).
    pub fn add_bucket(&self, uid: &str, bucket: &str, size: u64, objects: u64) {
        if let Err(e) = self.lock().put_bucket(uid, bucket, size, objects) {
            panic!("croit-sim: add_bucket({uid}, {bucket}): {}", e.message);
        }
    }

    /// Remove a bucket from `uid`; absent is a no-op.
    pub fn remove_bucket(&self, uid: &str, bucket: &str) {
        self.lock().drop_bucket(uid, bucket);
    }

    /// The S3 endpoint of the sim's data plane (`{base_url}/s3`).
    pub fn s3_endpoint(&self) -> String {
        format!("{}/s3", self.base_url())
    }

    /// Replace `uid`'s `s3-user-data` series: (unix seconds, bytes or
    /// null). Stored sorted by time; the user need not exist.
    pub fn set_series(&self, uid: &str, mut points: Vec<(i64, Option<u64>)>) {
        points.sort_by_key(|(t, _)| *t);
        self.lock().series.insert(uid.to_string(), points);
    }

    /// The next `n` `/api` requests answer `status` with
    /// `{"code": status, "message": message}` and change nothing (they are
    /// still logged). `n == 0` cancels a pending injection.
    ///
    /// # Panics
    /// If `status` is not a valid HTTP status code (a test bug).
    pub fn fail_next(&self, n: usize, status: u16, message: &str) {
        let status = StatusCode::from_u16(status)
            .unwrap_or_else(|_| panic!("croit-sim: fail_next: invalid status {status}"));
        self.lock().failure = (n > 0).then(|| Failure {
            remaining: n,
            status,
            message: message.to_string(),
        });
    }

    /// Every later `/api` and `/s3` request waits `d` (an async sleep, so
    /// concurrent requests overlap) before it is handled: a stand-in for
    /// network and server time. Zero (the default) turns it off; injected
    /// failures are delayed too.
    pub fn set_latency(&self, d: std::time::Duration) {
        self.lock().latency = d;
    }

    /// Every `/api` request so far, in the order answered.
    pub fn calls(&self) -> Vec<SimCall> {
        self.lock().calls.clone()
    }

    /// How many `/api` requests had `method` (case-insensitive) and a path
    /// ending in `path_suffix`.
    pub fn count_calls(&self, method: &str, path_suffix: &str) -> usize {
        self.lock()
            .calls
            .iter()
            .filter(|c| c.method.eq_ignore_ascii_case(method) && c.path.ends_with(path_suffix))
            .count()
    }
}
