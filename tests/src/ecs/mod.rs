//! ecs-sim: a strict, stateful simulator of the Dell EMC ECS Management API (reference
//! `other-backends.md` §3, §9.1): login with Basic for a token that expires, XML unless JSON is
//! asked for, object users with tags and a lock, at most two secrets per user deleted by value,
//! buckets with an owner and a whole-GB quota, non-empty bucket deletes refused, billing that
//! lags behind writes. Errors are ECS's `{code, retryable, description, details}`.

mod s3;
mod state;
pub mod wire;

pub use state::GB;
use state::{Bucket, State, check_quota};
use wire::{EcsError, body, flag, int, reply, required, text};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State as Sim};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use base64::Engine;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

pub const TOKEN_HEADER: &str = "X-SDS-AUTH-TOKEN";

#[derive(Clone)]
pub struct EcsSim {
    /// The state, the management API's address and the S3 head's.
    inner: Arc<(Mutex<State>, SocketAddr, SocketAddr)>,
}

type Q = Query<HashMap<String, String>>;

impl EcsSim {
    /// Serves on `127.0.0.1:0` with a management user and the given namespaces.
    pub async fn start(user: &str, password: &str, namespaces: &[&str]) -> anyhow::Result<EcsSim> {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let addr = listener.local_addr()?;
        let s3_listener =
            tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let s3_addr = s3_listener.local_addr()?;
        let sim = EcsSim {
            inner: Arc::new((
                Mutex::new(State::new((user.into(), password.into()), namespaces)),
                addr,
                s3_addr,
            )),
        };
        for (listener, app) in [
            (listener, router(sim.clone())),
            (s3_listener, s3::router(sim.clone())),
        ] {
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, app).await {
                    eprintln!("ecs-sim: server stopped: {e}");
                }
            });
        }
        Ok(sim)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The management URL (`https://node:4443` on a real ECS).
    pub fn url(&self) -> String {
        format!("http://{}", self.inner.1)
    }

    /// The S3 head (`http(s)://node:9020/9021` on a real ECS).
    pub fn s3_url(&self) -> String {
        format!("http://{}", self.inner.2)
    }

    /// `(versioning, noncurrent versions)` of a bucket.
    pub fn versions(&self, bucket: &str) -> Option<(Option<bool>, usize)> {
        self.lock()
            .buckets
            .get(bucket)
            .map(|b| (b.versioning, b.old_versions.len()))
    }

    /// Every token given out so far stops working (as at their max-age).
    pub fn expire_tokens(&self) {
        self.lock().tokens.clear();
    }

    /// How long tokens live from now on.
    pub fn set_token_ttl(&self, ttl: std::time::Duration) {
        self.lock().token_ttl = ttl;
    }

    /// The next `n` management calls answer `status` with ECS's error body for `code`.
    pub fn fail_next(&self, n: usize, status: StatusCode, code: u32, description: &str) {
        let mut st = self.lock();
        for _ in 0..n {
            let mut e = EcsError::new(status, code, description);
            e.retryable = status.is_server_error();
            st.failures.push(e);
        }
    }

    /// A metering pass: billing catches up with what the buckets hold.
    pub fn meter(&self) {
        self.lock().meter();
    }

    /// Sets the sim's clock (unix seconds).
    pub fn set_now(&self, now: i64) {
        self.lock().now = now;
    }

    /// The resource bucket's `blockSize` and `(name, bytes, objects)` of every bucket `uid`
    /// owns (every version counted; the resource's bucket is named like the user).
    pub fn owned_by(&self, uid: &str) -> (i64, Vec<(String, u64, u64)>) {
        let mine = site_agent_sdk::naming::bucket_for(uid).unwrap_or_default();
        let st = self.lock();
        let mut quota = -1;
        let mut buckets = Vec::new();
        for (name, b) in st.buckets.iter().filter(|(_, b)| b.owner == uid) {
            if *name == mine {
                quota = b.block_size;
            }
            let (bytes, objects) = b.held();
            buckets.push((name.clone(), bytes, objects));
        }
        (quota, buckets)
    }

    /// Moves the sim's clock (secret expiry, sample times).
    pub fn advance(&self, secs: i64) {
        self.lock().now += secs;
    }

    /// An S3 PUT of `size` bytes (refused past the bucket's `blockSize`).
    pub fn put_object(&self, bucket: &str, key: &str, size: u64) -> Result<(), String> {
        self.lock()
            .put_object(bucket, key, size)
            .map_err(|e| e.description)
    }

    pub fn delete_objects(&self, bucket: &str) {
        if let Some(b) = self.lock().buckets.get_mut(bucket) {
            b.objects.clear();
            b.old_versions.clear();
        }
    }

    /// Whether S3 accepts this key pair now.
    pub fn key_works(&self, access_key: &str, secret: &str) -> bool {
        self.lock().key_works(access_key, secret)
    }

    pub fn users(&self) -> Vec<String> {
        self.lock().users.keys().cloned().collect()
    }

    /// `(tags, locked, secret values)` of a user.
    #[allow(clippy::type_complexity)]
    pub fn user(&self, uid: &str) -> Option<(Vec<(String, String)>, bool, Vec<String>)> {
        let st = self.lock();
        st.users.get(uid).map(|u| {
            (
                u.tags.clone(),
                u.locked,
                u.secrets
                    .iter()
                    .flatten()
                    .map(|s| s.value.clone())
                    .collect(),
            )
        })
    }

    /// `(owner, blockSize, notificationSize, encryption, policy)` of a bucket.
    #[allow(clippy::type_complexity)]
    pub fn bucket(&self, name: &str) -> Option<(String, i64, i64, bool, Option<String>)> {
        let st = self.lock();
        st.buckets.get(name).map(|b| {
            (
                b.owner.clone(),
                b.block_size,
                b.notification_size,
                b.encryption,
                b.policy.clone(),
            )
        })
    }

    /// `(method, path)` of the management calls answered so far.
    pub fn calls(&self) -> Vec<(String, String)> {
        self.lock().calls.clone()
    }
}

fn router(sim: EcsSim) -> Router {
    Router::new()
        .route("/login", get(login))
        .route("/logout", get(logout))
        .route("/user/whoami", get(whoami))
        .route("/object/namespaces/namespace/{ns}", get(namespace))
        .route("/object/users", get(list_users).post(create_user))
        .route("/object/users/{uid}/info", get(user_info))
        .route("/object/users/deactivate", post(deactivate_user))
        .route("/object/users/lock", put(lock_user))
        .route("/object/users/lock/{uid}/{ns}", get(user_lock))
        .route(
            "/object/user-secret-keys/{uid}",
            get(secrets).post(add_secret),
        )
        .route("/object/user-secret-keys/{uid}/{ns}", get(secrets_ns))
        .route(
            "/object/user-secret-keys/{uid}/deactivate",
            post(delete_secret),
        )
        .route("/object/bucket", get(list_buckets).post(create_bucket))
        .route("/object/bucket/{b}/info", get(bucket_info))
        .route("/object/bucket/{b}/deactivate", post(deactivate_bucket))
        .route(
            "/object/bucket/{b}/quota",
            get(get_quota).put(put_quota).delete(delete_quota),
        )
        .route(
            "/object/bucket/{b}/policy",
            get(get_policy).put(put_policy).delete(delete_policy),
        )
        .route("/object/bucket/{b}/owner", put(set_owner))
        .route("/object/billing/buckets/{ns}/{b}/info", get(bucket_billing))
        .route(
            "/object/billing/namespace/{ns}/info",
            get(namespace_billing),
        )
        .fallback(|| async { EcsError::not_found("no such resource") })
        .layer(axum::middleware::from_fn_with_state(sim.clone(), gate))
        .with_state(sim)
}

/// Records the call, answers an injected failure, and requires a valid token (but on
/// `/login`).
async fn gate(Sim(sim): Sim<EcsSim>, req: Request, next: Next) -> Response {
    {
        let mut st = sim.lock();
        st.calls
            .push((req.method().to_string(), req.uri().path().to_string()));
        if !st.failures.is_empty() {
            return st.failures.remove(0).into_response();
        }
        if req.uri().path() != "/login" {
            let token = req
                .headers()
                .get(TOKEN_HEADER)
                .and_then(|v| v.to_str().ok());
            if let Err(e) = st.check_token(token) {
                return e.into_response();
            }
        }
    }
    next.run(req).await
}

type R = Result<Response, EcsError>;

async fn login(Sim(sim): Sim<EcsSim>, headers: HeaderMap) -> R {
    let creds = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(EcsError::unauthorized)?;
    let (user, password) = creds.split_once(':').ok_or_else(EcsError::unauthorized)?;
    let mut st = sim.lock();
    let token = st.login(user, password)?;
    let mut resp = reply(&headers, "loggedIn", json!({"user": user}));
    let h = resp.headers_mut();
    h.insert(
        TOKEN_HEADER,
        HeaderValue::from_str(&token).unwrap_or(HeaderValue::from_static("")),
    );
    h.insert(
        "X-SDS-AUTH-MAX-AGE",
        HeaderValue::from(st.token_ttl.as_secs()),
    );
    Ok(resp)
}

async fn logout(Sim(sim): Sim<EcsSim>, headers: HeaderMap) -> R {
    if let Some(t) = headers.get(TOKEN_HEADER).and_then(|v| v.to_str().ok()) {
        sim.lock().tokens.remove(t);
    }
    Ok(reply(&headers, "loggedOut", json!({"user": "logged out"})))
}

async fn whoami(Sim(sim): Sim<EcsSim>, headers: HeaderMap) -> R {
    let user = sim.lock().admin.0.clone();
    Ok(reply(
        &headers,
        "user",
        json!({"common_name": user, "roles": ["SYSTEM_ADMIN"]}),
    ))
}

async fn namespace(Sim(sim): Sim<EcsSim>, headers: HeaderMap, Path(ns): Path<String>) -> R {
    sim.lock().namespace(&ns)?;
    Ok(reply(&headers, "namespace", json!({"id": ns, "name": ns})))
}

fn ns_of(q: &Q) -> Result<String, EcsError> {
    q.get("namespace")
        .filter(|s| !s.is_empty())
        .cloned()
        .ok_or_else(|| {
            EcsError::new(
                StatusCode::BAD_REQUEST,
                1004,
                "Request parameter cannot be found: namespace",
            )
        })
}

async fn list_users(Sim(sim): Sim<EcsSim>, headers: HeaderMap, q: Q) -> R {
    let ns = ns_of(&q)?;
    let st = sim.lock();
    st.namespace(&ns)?;
    let users: Vec<Value> = st
        .users
        .iter()
        .filter(|(_, u)| u.namespace == ns)
        .map(|(id, u)| json!({"userid": id, "name": id, "namespace": u.namespace}))
        .collect();
    Ok(reply(&headers, "users", json!({"blobuser": users})))
}

fn tags_of(m: &serde_json::Map<String, Value>) -> Vec<(String, String)> {
    let list = match m.get("tags") {
        Some(Value::Array(a)) => a.clone(),
        // XML: <tags><tag><name/><value/></tag>…</tags>
        Some(Value::Object(o)) => match o.get("tag") {
            Some(Value::Array(a)) => a.clone(),
            Some(t) => vec![t.clone()],
            None => Vec::new(),
        },
        _ => Vec::new(),
    };
    list.iter()
        .filter_map(|t| {
            let o = t.as_object()?;
            Some((text(o, "name")?, text(o, "value").unwrap_or_default()))
        })
        .collect()
}

async fn create_user(Sim(sim): Sim<EcsSim>, headers: HeaderMap, raw: Bytes) -> R {
    let m = body(&headers, &raw)?;
    let (uid, ns) = (required(&m, "user")?, required(&m, "namespace")?);
    sim.lock().create_user(&uid, &ns, tags_of(&m))?;
    Ok(reply(
        &headers,
        "user",
        json!({"user": uid, "namespace": ns, "link": {"rel": "self", "href": format!("/object/users/{uid}")}}),
    ))
}

async fn user_info(Sim(sim): Sim<EcsSim>, headers: HeaderMap, Path(uid): Path<String>, q: Q) -> R {
    let st = sim.lock();
    let u = st.user(&uid, q.get("namespace").map(String::as_str))?;
    let tags: Vec<Value> = u
        .tags
        .iter()
        .map(|(n, v)| json!({"name": n, "value": v}))
        .collect();
    Ok(reply(
        &headers,
        "user_info",
        json!({"name": uid, "namespace": u.namespace, "locked": u.locked, "created": u.created.to_string(), "tags": tags}),
    ))
}

async fn deactivate_user(Sim(sim): Sim<EcsSim>, headers: HeaderMap, raw: Bytes) -> R {
    let m = body(&headers, &raw)?;
    let (uid, ns) = (required(&m, "user")?, required(&m, "namespace")?);
    sim.lock().deactivate_user(&uid, &ns)?;
    Ok(StatusCode::OK.into_response())
}

async fn lock_user(Sim(sim): Sim<EcsSim>, headers: HeaderMap, raw: Bytes) -> R {
    let m = body(&headers, &raw)?;
    let (uid, ns) = (required(&m, "user")?, required(&m, "namespace")?);
    let locked = flag(&m, "isLocked")?.ok_or_else(|| {
        EcsError::new(
            StatusCode::BAD_REQUEST,
            1004,
            "Request parameter cannot be found: isLocked",
        )
    })?;
    sim.lock().user_mut(&uid, &ns)?.locked = locked;
    Ok(StatusCode::OK.into_response())
}

async fn user_lock(
    Sim(sim): Sim<EcsSim>,
    headers: HeaderMap,
    Path((uid, ns)): Path<(String, String)>,
) -> R {
    let locked = sim.lock().user(&uid, Some(&ns))?.locked;
    Ok(reply(
        &headers,
        "user_lock",
        json!({"user_name": uid, "isLocked": locked}),
    ))
}

fn secrets_of(st: &State, headers: &HeaderMap, uid: &str, ns: Option<&str>) -> R {
    let u = st.user(uid, ns)?;
    let slot = |i: usize| u.secrets[i].as_ref();
    let mut v = serde_json::Map::new();
    for i in 0..2 {
        let n = i + 1;
        v.insert(
            format!("secret_key_{n}"),
            json!(slot(i).map(|s| s.value.clone()).unwrap_or_default()),
        );
        v.insert(format!("secret_key_{n}_exist"), json!(slot(i).is_some()));
        v.insert(
            format!("key_timestamp_{n}"),
            json!(slot(i).map(|s| s.created.to_string()).unwrap_or_default()),
        );
        v.insert(
            format!("key_expiry_timestamp_{n}"),
            json!(
                slot(i)
                    .and_then(|s| s.expires)
                    .map(|e| e.to_string())
                    .unwrap_or_default()
            ),
        );
    }
    Ok(reply(headers, "user_secret_keys", Value::Object(v)))
}

async fn secrets(Sim(sim): Sim<EcsSim>, headers: HeaderMap, Path(uid): Path<String>) -> R {
    secrets_of(&sim.lock(), &headers, &uid, None)
}

async fn secrets_ns(
    Sim(sim): Sim<EcsSim>,
    headers: HeaderMap,
    Path((uid, ns)): Path<(String, String)>,
) -> R {
    secrets_of(&sim.lock(), &headers, &uid, Some(&ns))
}

async fn add_secret(
    Sim(sim): Sim<EcsSim>,
    headers: HeaderMap,
    Path(uid): Path<String>,
    raw: Bytes,
) -> R {
    let m = body(&headers, &raw)?;
    let ns = required(&m, "namespace")?;
    let value = text(&m, "secretkey").filter(|s| !s.is_empty());
    let expire = int(&m, "existing_key_expiry_time_mins")?;
    let s = sim.lock().add_secret(&uid, &ns, value, expire)?;
    Ok(reply(
        &headers,
        "user_secret_key",
        json!({"secret_key": s.value, "key_timestamp": s.created.to_string(), "key_expiry_timestamp": "", "link": {"rel": "self", "href": format!("/object/user-secret-keys/{uid}")}}),
    ))
}

async fn delete_secret(
    Sim(sim): Sim<EcsSim>,
    headers: HeaderMap,
    Path(uid): Path<String>,
    raw: Bytes,
) -> R {
    let m = body(&headers, &raw)?;
    let ns = required(&m, "namespace")?;
    let value = text(&m, "secret_key").filter(|s| !s.is_empty());
    sim.lock().delete_secret(&uid, &ns, value.as_deref())?;
    Ok(StatusCode::OK.into_response())
}

fn bucket_json(name: &str, b: &Bucket) -> Value {
    json!({
        "name": name, "id": format!("{}.{name}", b.namespace), "namespace": b.namespace,
        "owner": b.owner, "block_size": b.block_size, "notification_size": b.notification_size,
        "is_encryption_enabled": b.encryption, "head_type": "s3",
    })
}

async fn list_buckets(Sim(sim): Sim<EcsSim>, headers: HeaderMap, q: Q) -> R {
    let ns = ns_of(&q)?;
    let st = sim.lock();
    st.namespace(&ns)?;
    let list: Vec<Value> = st
        .buckets
        .iter()
        .filter(|(_, b)| b.namespace == ns)
        .map(|(n, b)| bucket_json(n, b))
        .collect();
    Ok(reply(
        &headers,
        "object_buckets",
        json!({"object_bucket": list}),
    ))
}

async fn create_bucket(Sim(sim): Sim<EcsSim>, headers: HeaderMap, raw: Bytes) -> R {
    let m = body(&headers, &raw)?;
    let name = required(&m, "name")?;
    let b = Bucket {
        namespace: required(&m, "namespace")?,
        owner: required(&m, "owner")?,
        block_size: int(&m, "blockSize")?.unwrap_or(-1),
        notification_size: int(&m, "notificationSize")?.unwrap_or(-1),
        encryption: flag(&m, "is_encryption_enabled")?.unwrap_or(false),
        ..Bucket::default()
    };
    let mut st = sim.lock();
    st.create_bucket(&name, b)?;
    let b = st.bucket(&name, None)?;
    Ok(reply(&headers, "object_bucket", bucket_json(&name, b)))
}

async fn bucket_info(Sim(sim): Sim<EcsSim>, headers: HeaderMap, Path(b): Path<String>, q: Q) -> R {
    let st = sim.lock();
    let bucket = st.bucket(&b, q.get("namespace").map(String::as_str))?;
    Ok(reply(&headers, "bucket_info", bucket_json(&b, bucket)))
}

async fn deactivate_bucket(Sim(sim): Sim<EcsSim>, Path(b): Path<String>, q: Q) -> R {
    let ns = ns_of(&q)?;
    sim.lock().deactivate_bucket(&b, &ns)?;
    Ok(StatusCode::OK.into_response())
}

async fn get_quota(Sim(sim): Sim<EcsSim>, headers: HeaderMap, Path(b): Path<String>, q: Q) -> R {
    let st = sim.lock();
    let bucket = st.bucket(&b, q.get("namespace").map(String::as_str))?;
    Ok(reply(
        &headers,
        "bucket_quota_details",
        json!({"bucketname": b, "namespace": bucket.namespace, "blockSize": bucket.block_size, "notificationSize": bucket.notification_size}),
    ))
}

async fn put_quota(
    Sim(sim): Sim<EcsSim>,
    headers: HeaderMap,
    Path(b): Path<String>,
    raw: Bytes,
) -> R {
    let m = body(&headers, &raw)?;
    let ns = required(&m, "namespace")?;
    let block = int(&m, "blockSize")?.unwrap_or(-1);
    let notify = int(&m, "notificationSize")?.unwrap_or(-1);
    check_quota(block, notify, false)?;
    let mut st = sim.lock();
    let bucket = st.bucket_mut(&b, &ns)?;
    bucket.block_size = block;
    bucket.notification_size = notify;
    Ok(StatusCode::OK.into_response())
}

async fn delete_quota(Sim(sim): Sim<EcsSim>, Path(b): Path<String>, q: Q) -> R {
    let ns = ns_of(&q)?;
    let mut st = sim.lock();
    let bucket = st.bucket_mut(&b, &ns)?;
    bucket.block_size = -1;
    bucket.notification_size = -1;
    Ok(StatusCode::OK.into_response())
}

async fn get_policy(Sim(sim): Sim<EcsSim>, Path(b): Path<String>, q: Q) -> R {
    let st = sim.lock();
    let bucket = st.bucket(&b, q.get("namespace").map(String::as_str))?;
    Ok(match &bucket.policy {
        Some(p) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            p.clone(),
        )
            .into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

async fn put_policy(Sim(sim): Sim<EcsSim>, Path(b): Path<String>, q: Q, raw: Bytes) -> R {
    let ns = ns_of(&q)?;
    let policy: Value = serde_json::from_slice(&raw)
        .map_err(|_| EcsError::bad_body("Bad request body: the policy is not JSON"))?;
    if policy.get("Statement").is_none() {
        return Err(EcsError::bad_body("Missing required field Statement"));
    }
    sim.lock().bucket_mut(&b, &ns)?.policy = Some(policy.to_string());
    Ok(StatusCode::OK.into_response())
}

async fn delete_policy(Sim(sim): Sim<EcsSim>, Path(b): Path<String>, q: Q) -> R {
    let ns = ns_of(&q)?;
    sim.lock().bucket_mut(&b, &ns)?.policy = None;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn set_owner(
    Sim(sim): Sim<EcsSim>,
    headers: HeaderMap,
    Path(b): Path<String>,
    raw: Bytes,
) -> R {
    let m = body(&headers, &raw)?;
    let (owner, ns) = (required(&m, "new_owner")?, required(&m, "namespace")?);
    let mut st = sim.lock();
    if st.user(&owner, Some(&ns)).is_err() {
        return Err(state::conflict(
            40010,
            format!("Bucket Owner {owner} not valid"),
        ));
    }
    st.bucket_mut(&b, &ns)?.owner = owner;
    Ok(StatusCode::OK.into_response())
}

/// Sizes in the requested unit (KB, MB or GB; ECS rounds down, as integers).
fn size_in(bytes: u64, unit: &str) -> Result<u64, EcsError> {
    Ok(match unit {
        "KB" => bytes / 1024,
        "MB" => bytes / (1024 * 1024),
        "GB" => bytes / GB,
        other => return Err(EcsError::bad_body(format!("invalid sizeunit {other:?}"))),
    })
}

async fn bucket_billing(
    Sim(sim): Sim<EcsSim>,
    headers: HeaderMap,
    Path((ns, b)): Path<(String, String)>,
    q: Q,
) -> R {
    let unit = q.get("sizeunit").map(String::as_str).unwrap_or("GB");
    let st = sim.lock();
    st.bucket(&b, Some(&ns))?;
    let m = st.metered.get(&b).copied().unwrap_or_default();
    Ok(reply(
        &headers,
        "bucket_billing_info",
        json!({"name": b, "namespace": ns, "total_objects": m.objects, "total_size": size_in(m.bytes, unit)?, "total_size_unit": unit, "sample_time": chrono::DateTime::from_timestamp(m.sample_time, 0).map(|t| t.to_rfc3339()).unwrap_or_default()}),
    ))
}

async fn namespace_billing(
    Sim(sim): Sim<EcsSim>,
    headers: HeaderMap,
    Path(ns): Path<String>,
    q: Q,
) -> R {
    let unit = q.get("sizeunit").map(String::as_str).unwrap_or("GB");
    let st = sim.lock();
    st.namespace(&ns)?;
    let mut buckets = Vec::new();
    let (mut bytes, mut objects, mut sample) = (0, 0, 0);
    for (name, _) in st.buckets.iter().filter(|(_, b)| b.namespace == ns) {
        let m = st.metered.get(name).copied().unwrap_or_default();
        bytes += m.bytes;
        objects += m.objects;
        sample = sample.max(m.sample_time);
        buckets.push(json!({"name": name, "namespace": ns, "total_objects": m.objects, "total_size": size_in(m.bytes, unit)?, "total_size_unit": unit}));
    }
    Ok(reply(
        &headers,
        "namespace_billing_info",
        json!({"namespace": ns, "total_objects": objects, "total_size": size_in(bytes, unit)?, "total_size_unit": unit,
               "sample_time": chrono::DateTime::from_timestamp(sample, 0).map(|t| t.to_rfc3339()).unwrap_or_default(),
               "bucket_billing_info": buckets}),
    ))
}
