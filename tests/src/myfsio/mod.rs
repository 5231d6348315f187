//! myfsio-sim: a strict, stateful simulator of MyFSIO (reference `other-backends.md` §6; the
//! research with its sources in `docs/research/myfsio.md`), in either generation, chosen at
//! start: the Python/Flask line (v0.4.x) or the Rust line (v0.5.x).
//!
//! Two listeners, as MyFSIO runs them: the API (S3 with SigV4, the JSON admin routes under
//! `/admin` or `/myfsio/admin`, `/myfsio/health`) and the web console (login with the admin
//! key pair, a session cookie, CSRF tokens, JSON replies when asked). Users, keys, policies
//! and quotas are one state both sides see. What each generation does differently is kept:
//! ids, routes, the quota reply's field name and status codes, what an empty policy list
//! means, auth error codes, the console's login and CSRF rules, the admin rate limit's
//! answer, and v0.5's encrypted-IAM bug (admin key and enable/disable routes answer 400).

mod api;
mod console;
mod state;

use state::State;
pub use state::{Bucket, Generation, Key, Policy, Quota, Reply, User};

use axum::response::{IntoResponse, Response};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let status =
            axum::http::StatusCode::from_u16(self.status).unwrap_or(axum::http::StatusCode::OK);
        let mut r = (status, [("content-type", self.content_type)], self.body).into_response();
        for (k, v) in self.headers {
            if let (Ok(k), Ok(v)) = (
                axum::http::HeaderName::from_bytes(k.as_bytes()),
                axum::http::HeaderValue::from_str(&v),
            ) {
                r.headers_mut().append(k, v);
            }
        }
        r
    }
}

/// A console fault: the next POST whose path contains `path` is refused with `status`
/// (nothing done), or done and its answer lost (`lose`: 502 instead).
#[derive(Debug, Clone)]
struct ConsoleFault {
    path: String,
    status: u16,
    lose: bool,
}

/// A console session (cookie value → this).
#[derive(Debug, Clone)]
struct Session {
    csrf: String,
    /// The access key the session logged in with.
    principal: Option<String>,
}

/// The admin rate limit: at most `max` admin calls per `window`, counted per client address
/// (every caller here is one address), over a moving window.
#[derive(Debug)]
struct RateLimit {
    max: usize,
    window: Duration,
    hits: VecDeque<Instant>,
    /// v0.5's answer status (503 in later code, 429 in earlier).
    rs_status: u16,
    /// Calls refused so far.
    refused: usize,
}

/// One v0.4 process's cached copy of `iam.json` (the API and the console each keep one).
#[derive(Debug)]
struct Copy {
    users: Vec<User>,
    loaded: Instant,
}

#[derive(Debug)]
struct Inner {
    /// `st.users` is `iam.json` itself, except while a request runs: then it is the serving
    /// process's view (see [`Inner::enter`]).
    st: State,
    /// v0.4: how long a process serves its cached copy before re-reading the file (5 s and
    /// more on a real server); zero: one shared, always current state.
    reload_lag: Duration,
    /// The API's and the console's copies (v0.4 with a reload lag).
    copies: [Copy; 2],
    sessions: HashMap<String, Session>,
    /// Failed console logins per access key (v0.4 locks a key after 5 in 15 minutes).
    failed_logins: HashMap<String, Vec<Instant>>,
    limit: RateLimit,
    /// Injected failures for the API: `(status, body)` answered before anything else.
    api_failures: Vec<(u16, String)>,
    /// Injected console faults, by path.
    console_faults: Vec<ConsoleFault>,
    /// API calls to do and then answer 502 for: `(method, path part)`.
    lost_api: Vec<(String, String)>,
    /// `(listener, method, path?query)` of every call.
    calls: Vec<(&'static str, String, String)>,
    admin_key: String,
}

#[derive(Clone)]
pub struct MyfsioSim {
    inner: Arc<(Mutex<Inner>, SocketAddr, SocketAddr)>,
}

/// Which process serves a request.
#[derive(Debug, Clone, Copy)]
enum Process {
    Api = 0,
    Console = 1,
}

impl Inner {
    fn staged(&self) -> bool {
        self.st.generation == Generation::Py && !self.reload_lag.is_zero()
    }

    /// Before a request: `st.users` becomes the serving process's view, re-read from the file
    /// if its copy is older than the lag. Returns the file.
    fn enter(&mut self, p: Process) -> Option<Vec<User>> {
        if !self.staged() {
            return None;
        }
        let lag = self.reload_lag;
        let file = std::mem::take(&mut self.st.users);
        let c = &mut self.copies[p as usize];
        if c.loaded.elapsed() >= lag {
            c.users = file.clone();
            c.loaded = Instant::now();
        }
        self.st.users = c.users.clone();
        Some(file)
    }

    /// After it: a process that changed its view writes all of it back to the file.
    fn leave(&mut self, p: Process, file: Option<Vec<User>>) {
        let Some(file) = file else {
            return;
        };
        let view = std::mem::replace(&mut self.st.users, file);
        let c = &mut self.copies[p as usize];
        if view != c.users {
            self.st.users = view.clone();
            c.users = view;
        }
    }
}

impl MyfsioSim {
    /// Serves the API and the console on `127.0.0.1:0`, with the admin key pair (v0.4/v0.5:
    /// `ADMIN_ACCESS_KEY`/`ADMIN_SECRET_KEY`) and MyFSIO's default admin rate limit (60 a
    /// minute).
    pub async fn start(
        generation: Generation,
        admin_key: &str,
        admin_secret: &str,
    ) -> anyhow::Result<MyfsioSim> {
        let bind = || tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)));
        let (api_l, ui_l) = (bind().await?, bind().await?);
        let (api_addr, ui_addr) = (api_l.local_addr()?, ui_l.local_addr()?);
        let sim = MyfsioSim {
            inner: Arc::new((
                Mutex::new(Inner {
                    st: State::new(generation, admin_key, admin_secret),
                    reload_lag: Duration::ZERO,
                    copies: [0, 1].map(|_| Copy {
                        users: Vec::new(),
                        loaded: Instant::now(),
                    }),
                    sessions: HashMap::new(),
                    failed_logins: HashMap::new(),
                    limit: RateLimit {
                        max: 60,
                        window: Duration::from_secs(60),
                        hits: VecDeque::new(),
                        rs_status: 503,
                        refused: 0,
                    },
                    api_failures: Vec::new(),
                    console_faults: Vec::new(),
                    lost_api: Vec::new(),
                    calls: Vec::new(),
                    admin_key: admin_key.into(),
                }),
                api_addr,
                ui_addr,
            )),
        };
        for (listener, app) in [
            (api_l, api::router(sim.clone())),
            (ui_l, console::router(sim.clone())),
        ] {
            tokio::spawn(async move {
                if let Err(e) = axum::serve(
                    listener,
                    app.into_make_service_with_connect_info::<SocketAddr>(),
                )
                .await
                {
                    eprintln!("myfsio-sim: server stopped: {e}");
                }
            });
        }
        Ok(sim)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The API URL (S3 and admin routes).
    pub fn url(&self) -> String {
        format!("http://{}", self.inner.1)
    }

    /// The console URL (v0.4: the UI process; v0.5: the `UI_PORT` listener).
    pub fn console_url(&self) -> String {
        format!("http://{}", self.inner.2)
    }

    pub fn generation(&self) -> Generation {
        self.lock().st.generation
    }

    /// v0.5 with `iam.json` encrypted at rest (the admin write routes fail); no effect on v0.4.
    pub fn set_encrypted_iam(&self, on: bool) {
        self.lock().st.encrypted_iam = on;
    }

    /// The admin rate limit: `max` calls per `window`.
    pub fn set_admin_rate_limit(&self, max: usize, window: Duration) {
        let mut i = self.lock();
        i.limit.max = max;
        i.limit.window = window;
        i.limit.hits.clear();
    }

    /// v0.5's rate-limit status (503 or 429).
    pub fn set_rate_limit_status(&self, status: u16) {
        self.lock().limit.rs_status = status;
    }

    /// v0.4 runs the API and the console as two processes, each serving its own cached copy
    /// of `iam.json` until `lag` has passed since it last read it, and writing its whole copy
    /// back on a change (so a write from a stale copy undoes the other's). No effect on v0.5.
    pub fn set_py_reload_lag(&self, lag: Duration) {
        let mut i = self.lock();
        i.reload_lag = lag;
        let users = i.st.users.clone();
        for c in &mut i.copies {
            c.users = users.clone();
            c.loaded = Instant::now();
        }
    }

    /// How many admin calls the rate limit refused.
    pub fn rate_limited(&self) -> usize {
        self.lock().limit.refused
    }

    /// Versioning on a bucket (as an admin would set it).
    pub fn set_versioning(&self, bucket: &str, on: bool) {
        if let Some(b) = self.lock().st.buckets.get_mut(bucket) {
            b.versioning = on;
        }
    }

    /// The console restarts: v0.5 keeps sessions in memory (all gone); v0.4's session cookie
    /// is signed and survives, with its CSRF token, but the credentials it pointed at were in
    /// the process (logged out).
    pub fn restart_console(&self) {
        let mut i = self.lock();
        // A new process reads the file afresh.
        let file = i.st.users.clone();
        i.copies[Process::Console as usize] = Copy {
            users: file,
            loaded: Instant::now(),
        };
        match i.st.generation {
            Generation::Rs => i.sessions.clear(),
            Generation::Py => {
                for s in i.sessions.values_mut() {
                    s.principal = None;
                }
            }
        }
    }

    /// The next `n` API calls answer `status` with `body`.
    pub fn fail_next(&self, n: usize, status: u16, body: &str) {
        let mut i = self.lock();
        for _ in 0..n {
            i.api_failures.push((status, body.to_string()));
        }
    }

    /// The next console POST to a path containing `path` answers `status`, doing nothing.
    pub fn fail_console(&self, path: &str, status: u16) {
        self.lock().console_faults.push(ConsoleFault {
            path: path.into(),
            status,
            lose: false,
        });
    }

    /// The next console POST to a path containing `path` is done, and its answer lost (502).
    pub fn lose_console_answer(&self, path: &str) {
        self.lock().console_faults.push(ConsoleFault {
            path: path.into(),
            status: 502,
            lose: true,
        });
    }

    /// Five failed console logins of `access_key` (v0.4 then locks it out for 15 minutes).
    pub fn fail_console_logins(&self, access_key: &str) {
        let mut i = self.lock();
        let now = Instant::now();
        i.failed_logins
            .entry(access_key.to_string())
            .or_default()
            .extend([now; 5]);
    }

    /// The next API call with `method` whose path contains `path` is done, and its answer
    /// lost (502).
    pub fn lose_api_answer(&self, method: &str, path: &str) {
        self.lock().lost_api.push((method.into(), path.into()));
    }

    /// Every user (the admin included).
    pub fn users(&self) -> Vec<User> {
        self.lock().st.users.clone()
    }

    /// The users whose display name is `name`.
    pub fn users_named(&self, name: &str) -> Vec<User> {
        self.users()
            .into_iter()
            .filter(|u| u.display_name == name)
            .collect()
    }

    pub fn bucket(&self, name: &str) -> Option<Bucket> {
        self.lock().st.buckets.get(name).cloned()
    }

    pub fn bucket_names(&self) -> Vec<String> {
        self.lock().st.buckets.keys().cloned().collect()
    }

    /// A bucket made outside the agent.
    pub fn add_bucket(&self, name: &str) {
        self.lock().st.buckets.entry(name.to_string()).or_default();
    }

    /// A write into a bucket, as an admin would do it (the quota applies).
    pub fn put_object(&self, bucket: &str, key: &str, size: u64) -> Result<(), String> {
        self.lock()
            .st
            .put_object(bucket, key, size)
            .map_err(|(_, code, msg)| format!("{code}: {msg}"))
    }

    /// Deletes every object and version of a bucket (as its tenant would), keeping it.
    pub fn empty_bucket(&self, name: &str) {
        if let Some(b) = self.lock().st.buckets.get_mut(name) {
            b.live.clear();
            b.archived.clear();
        }
    }

    /// Empties and removes a bucket.
    pub fn remove_bucket(&self, name: &str) {
        self.lock().st.buckets.remove(name);
    }

    /// A user made outside the agent, with one key: `(user id, access key, secret)`.
    pub fn add_user(&self, display_name: &str, policies: Vec<Policy>) -> (String, String, String) {
        let mut i = self.lock();
        // Made in the console, as an operator would.
        let file = i.enter(Process::Console);
        let id = i.st.user_id();
        let key = i.st.new_key();
        let out = (id.clone(), key.access_key.clone(), key.secret_key.clone());
        i.st.users.push(User {
            user_id: id,
            display_name: display_name.into(),
            enabled: true,
            expires_at: None,
            keys: vec![key],
            policies,
        });
        i.leave(Process::Console, file);
        out
    }

    /// Whether S3 takes this key pair now (as the API process sees it).
    pub fn key_works(&self, access_key: &str, secret: &str) -> bool {
        let mut i = self.lock();
        let file = i.enter(Process::Api);
        let works = i.st.key_works(access_key, secret);
        i.leave(Process::Api, file);
        works
    }

    /// `(listener, method, path?query)` of the calls answered so far (`"api"`, `"console"`).
    pub fn calls(&self) -> Vec<(&'static str, String, String)> {
        self.lock().calls.clone()
    }

    pub fn admin_access_key(&self) -> String {
        self.lock().admin_key.clone()
    }
}
