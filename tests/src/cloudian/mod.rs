//! cloudian-sim: a strict, stateful simulator of the Cloudian HyperStore Admin API (reference
//! `other-backends.md` §4, §9): Basic auth on every call (401 otherwise), groups and users with
//! a string `active`, `PUT /user` 409 for an existing user, `GET` of anything missing 204,
//! `DELETE /user` and `PUT /user/credentials` 400 for a missing user, server-generated
//! credentials with a maximum (403 past it), QoS limits in the query string (KiB, -1 =
//! unlimited; `userId=ALL` a group's per-user default, `*` the group's own), bucket counters
//! that read 0 without bucket-level QoS, and per-user usage records (`GET /usage`, raw, at
//! most 24 hours, numbers as strings) that move only when a counter pass runs. Shapes from
//! cloudian/cloudian-cosi-driver `pkg/clients/admin/api/spec.yaml`, the CloudStack connector's
//! client tests, and PyPI hssadmin 0.3.1 `adminclient.py`.

mod state;

use state::State;
pub use state::{Credential, HsError, Qos};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, Request, State as Sim};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

#[derive(Clone)]
pub struct CloudianSim {
    inner: Arc<(Mutex<State>, SocketAddr)>,
}

type Q = Query<HashMap<String, String>>;
type R = Result<Response, HsError>;

impl IntoResponse for HsError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        (status, [(header::CONTENT_TYPE, "text/plain")], self.text).into_response()
    }
}

impl CloudianSim {
    /// Serves on `127.0.0.1:0` with the admin user `user`/`password`.
    pub async fn start(user: &str, password: &str) -> anyhow::Result<CloudianSim> {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let addr = listener.local_addr()?;
        let sim = CloudianSim {
            inner: Arc::new((Mutex::new(State::new((user.into(), password.into()))), addr)),
        };
        let app = router(sim.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("cloudian-sim: server stopped: {e}");
            }
        });
        Ok(sim)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The Admin API URL (`https://host:19443` on a real HyperStore).
    pub fn url(&self) -> String {
        format!("http://{}", self.inner.1)
    }

    pub fn set_max_credentials(&self, n: usize) {
        self.lock().max_credentials = n;
    }

    /// `s3.qos.bucketLevel`: off, the bucket counters read 0.
    pub fn set_bucket_level_qos(&self, on: bool) {
        self.lock().bucket_level_qos = on;
    }

    /// A group's own limit (`userId=*`), if set.
    pub fn group_limit(&self, gid: &str) -> Option<Qos> {
        self.lock().group(gid).and_then(|g| g.limit.clone())
    }

    /// Removes a group's own limit (as an operator might in the CMC).
    pub fn clear_group_limit(&self, gid: &str) {
        if let Some(g) = self.lock().groups.get_mut(gid) {
            g.limit = None;
        }
    }

    /// Without `GET /usage` (404), as on a release that lacks it.
    pub fn set_usage_api(&self, on: bool) {
        self.lock().usage_api = on;
    }

    /// The next `n` calls answer `status` with `text`.
    pub fn fail_next(&self, n: usize, status: u16, text: &str) {
        let mut st = self.lock();
        for _ in 0..n {
            st.failures.push(HsError::new(status, text));
        }
    }

    /// An S3 write by the user (refused past its hard QoS limits).
    pub fn put_object(&self, gid: &str, uid: &str, bucket: &str, bytes: u64) -> Result<(), String> {
        self.lock()
            .put_object(gid, uid, bucket, bytes)
            .map_err(|e| e.text)
    }

    /// Empties and removes a bucket of the user (as the tenant would over S3).
    pub fn remove_bucket(&self, gid: &str, uid: &str, bucket: &str) {
        if let Some(u) = self.lock().user_mut(gid, uid) {
            u.buckets.remove(bucket);
        }
    }

    /// A user made outside the agent (a stranger's), in a group made if missing.
    pub fn add_user(&self, gid: &str, uid: &str, email: &str) {
        let mut st = self.lock();
        if st.group(gid).is_none() {
            let _ = st.create_group(gid, gid, true);
        }
        let _ = st.create_user(gid, uid, uid, email, true);
    }

    /// A credential made outside the agent: `(access key, secret)`.
    pub fn add_credential(&self, gid: &str, uid: &str) -> Result<(String, String), String> {
        self.lock()
            .create_credential(gid, uid)
            .map(|c| (c.access_key, c.secret_key))
            .map_err(|e| e.text)
    }

    /// A usage counter pass (what `GET /usage` reports catches up with what is stored).
    pub fn record_usage(&self) {
        self.lock().record_usage();
    }

    /// Moves the sim's clock (unix milliseconds).
    pub fn set_now_ms(&self, ms: i64) {
        self.lock().now_ms = ms;
    }

    /// Whether S3 takes this key pair now.
    pub fn key_works(&self, access_key: &str, secret: &str) -> bool {
        self.lock().key_works(access_key, secret)
    }

    /// `(group, user)` of every user.
    pub fn users(&self) -> Vec<(String, String)> {
        self.lock().users.keys().cloned().collect()
    }

    pub fn groups(&self) -> Vec<String> {
        self.lock().groups.keys().cloned().collect()
    }

    /// `(email, active, credentials, qos, buckets)` of a user.
    #[allow(clippy::type_complexity)]
    pub fn user(
        &self,
        gid: &str,
        uid: &str,
    ) -> Option<(
        String,
        bool,
        Vec<Credential>,
        Option<Qos>,
        Vec<(String, u64, u64)>,
    )> {
        let st = self.lock();
        st.user(gid, uid).map(|u| {
            (
                u.email.clone(),
                u.active,
                u.credentials.clone(),
                u.qos.clone(),
                u.buckets
                    .iter()
                    .map(|(n, (b, o))| (n.clone(), *b, *o))
                    .collect(),
            )
        })
    }

    /// `(method, path?query)` of the calls answered so far.
    pub fn calls(&self) -> Vec<(String, String)> {
        self.lock().calls.clone()
    }
}

fn router(sim: CloudianSim) -> Router {
    Router::new()
        .route(
            "/group",
            get(get_group)
                .put(create_group)
                .post(update_group)
                .delete(delete_group),
        )
        .route("/group/list", get(list_groups))
        .route(
            "/user",
            get(get_user)
                .put(create_user)
                .post(update_user)
                .delete(delete_user),
        )
        .route("/user/list", get(list_users))
        .route(
            "/user/credentials",
            get(get_credential)
                .put(create_credential)
                .post(import_credential)
                .delete(delete_credential),
        )
        .route(
            "/user/credentials/status",
            axum::routing::post(set_credential),
        )
        .route("/user/credentials/list", get(list_credentials))
        .route("/usage", get(usage))
        .route("/qos/limits", get(get_qos).post(set_qos).delete(delete_qos))
        .route("/system/bucketlist", get(bucket_list))
        .route("/system/bucketusage", get(bucket_usage))
        .route("/system/version", get(|| async { "7.5.1" }))
        .fallback(|| async { HsError::new(404, "Not Found") })
        .layer(axum::middleware::from_fn_with_state(sim.clone(), gate))
        .with_state(sim)
}

/// Basic auth on every call (401 otherwise), then an injected failure, then the call.
async fn gate(Sim(sim): Sim<CloudianSim>, req: Request, next: Next) -> Response {
    {
        let mut st = sim.lock();
        let path = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_default();
        st.calls.push((req.method().to_string(), path));
        let (user, password) = st.admin.clone();
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        );
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if given != Some(expected.as_str()) {
            return HsError::new(401, "Unauthorized").into_response();
        }
        if !st.failures.is_empty() {
            return st.failures.remove(0).into_response();
        }
    }
    next.run(req).await
}

fn param<'a>(q: &'a Q, k: &str) -> Result<&'a str, HsError> {
    q.get(k)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| HsError::new(400, format!("Missing required parameter: {k}")))
}

fn json_body(headers: &HeaderMap, raw: &Bytes) -> Result<Value, HsError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct.starts_with("application/json") {
        return Err(HsError::new(415, "Unsupported Media Type"));
    }
    serde_json::from_slice(raw).map_err(|e| HsError::new(400, format!("Malformed JSON: {e}")))
}

/// HyperStore's string booleans (`"true"`/`"false"`); a JSON boolean is refused.
fn string_flag(v: &Value, k: &str) -> Result<Option<bool>, HsError> {
    match &v[k] {
        Value::Null => Ok(None),
        Value::String(s) if s == "true" => Ok(Some(true)),
        Value::String(s) if s == "false" => Ok(Some(false)),
        other => Err(HsError::new(
            400,
            format!("{k} must be the string \"true\" or \"false\", not {other}"),
        )),
    }
}

fn text(v: &Value, k: &str) -> String {
    v[k].as_str().unwrap_or_default().to_string()
}

fn ok() -> R {
    Ok(StatusCode::OK.into_response())
}

fn no_content() -> R {
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn group_json(gid: &str, g: &state::Group) -> Value {
    json!({"groupId": gid, "groupName": g.name, "active": g.active.to_string(),
           "ldapEnabled": false, "s3endpointshttp": ["ALL"], "s3endpointshttps": ["ALL"],
           "s3websiteendpoints": ["ALL"]})
}

async fn get_group(Sim(sim): Sim<CloudianSim>, q: Q) -> R {
    let gid = param(&q, "groupId")?;
    let st = sim.lock();
    match st.group(gid) {
        Some(g) => Ok(axum::Json(group_json(gid, g)).into_response()),
        None => no_content(),
    }
}

async fn list_groups(Sim(sim): Sim<CloudianSim>) -> R {
    let st = sim.lock();
    let all: Vec<Value> = st.groups.iter().map(|(id, g)| group_json(id, g)).collect();
    Ok(axum::Json(all).into_response())
}

async fn create_group(Sim(sim): Sim<CloudianSim>, headers: HeaderMap, raw: Bytes) -> R {
    let v = json_body(&headers, &raw)?;
    let gid = text(&v, "groupId");
    let active = string_flag(&v, "active")?.unwrap_or(true);
    sim.lock()
        .create_group(&gid, &text(&v, "groupName"), active)?;
    ok()
}

async fn update_group(Sim(sim): Sim<CloudianSim>, headers: HeaderMap, raw: Bytes) -> R {
    let v = json_body(&headers, &raw)?;
    let gid = text(&v, "groupId");
    let active = string_flag(&v, "active")?;
    let mut st = sim.lock();
    let g = st
        .groups
        .get_mut(&gid)
        .ok_or_else(|| HsError::new(400, format!("Group {gid} does not exist")))?;
    if let Some(a) = active {
        g.active = a;
    }
    if let Some(n) = v["groupName"].as_str() {
        g.name = n.into();
    }
    ok()
}

async fn delete_group(Sim(sim): Sim<CloudianSim>, q: Q) -> R {
    sim.lock().delete_group(param(&q, "groupId")?)?;
    ok()
}

fn user_json(gid: &str, uid: &str, u: &state::User) -> Value {
    json!({"userId": uid, "groupId": gid, "userType": u.user_type, "fullName": u.full_name,
           "emailAddr": u.email, "active": u.active.to_string(), "canonicalUserId": u.canonical_id,
           "address1": "", "city": "", "state": "", "zip": "", "country": "", "phone": ""})
}

async fn get_user(Sim(sim): Sim<CloudianSim>, q: Q) -> R {
    let (uid, gid) = (param(&q, "userId")?, param(&q, "groupId")?);
    let st = sim.lock();
    match st.user(gid, uid) {
        Some(u) => Ok(axum::Json(user_json(gid, uid, u)).into_response()),
        None => no_content(),
    }
}

async fn create_user(Sim(sim): Sim<CloudianSim>, headers: HeaderMap, raw: Bytes) -> R {
    let v = json_body(&headers, &raw)?;
    let (uid, gid) = (text(&v, "userId"), text(&v, "groupId"));
    if uid.is_empty() || gid.is_empty() {
        return Err(HsError::new(400, "userId and groupId are required"));
    }
    let active = string_flag(&v, "active")?.unwrap_or(true);
    sim.lock().create_user(
        &gid,
        &uid,
        &text(&v, "fullName"),
        &text(&v, "emailAddr"),
        active,
    )?;
    ok()
}

async fn update_user(Sim(sim): Sim<CloudianSim>, headers: HeaderMap, raw: Bytes) -> R {
    let v = json_body(&headers, &raw)?;
    let (uid, gid) = (text(&v, "userId"), text(&v, "groupId"));
    let active = string_flag(&v, "active")?;
    let mut st = sim.lock();
    let u = st
        .user_mut(&gid, &uid)
        .ok_or_else(|| HsError::new(400, "User does not exist"))?;
    if let Some(a) = active {
        u.active = a;
    }
    if let Some(e) = v["emailAddr"].as_str() {
        u.email = e.into();
    }
    if let Some(n) = v["fullName"].as_str() {
        u.full_name = n.into();
    }
    ok()
}

async fn delete_user(Sim(sim): Sim<CloudianSim>, q: Q) -> R {
    let (uid, gid) = (param(&q, "userId")?, param(&q, "groupId")?);
    sim.lock().delete_user(gid, uid)?;
    ok()
}

/// `limit + 1` results mean there are more; `offset` is the last user id of the page before.
async fn list_users(Sim(sim): Sim<CloudianSim>, q: Q) -> R {
    let gid = param(&q, "groupId")?;
    let limit: usize = q.get("limit").and_then(|l| l.parse().ok()).unwrap_or(100);
    let offset = q.get("offset").cloned().unwrap_or_default();
    let st = sim.lock();
    let page: Vec<Value> = st
        .users
        .iter()
        .filter(|((g, u), _)| g == gid && (offset.is_empty() || *u > offset))
        .take(limit + 1)
        .map(|((g, u), user)| user_json(g, u, user))
        .collect();
    // HyperStore answers an unknown group, or one without users, with an empty 200.
    if page.is_empty() {
        return ok();
    }
    Ok(axum::Json(page).into_response())
}

fn credential_json(c: &Credential) -> Value {
    json!({"accessKey": c.access_key, "secretKey": c.secret_key, "createDate": c.create_date,
           "expireDate": null, "active": c.active})
}

/// No body: HyperStore makes both halves.
async fn create_credential(Sim(sim): Sim<CloudianSim>, q: Q, raw: Bytes) -> R {
    if !raw.is_empty() {
        return Err(HsError::new(400, "PUT /user/credentials takes no body"));
    }
    let (uid, gid) = (param(&q, "userId")?, param(&q, "groupId")?);
    let c = sim.lock().create_credential(gid, uid)?;
    Ok(axum::Json(credential_json(&c)).into_response())
}

async fn get_credential(Sim(sim): Sim<CloudianSim>, q: Q) -> R {
    let ak = param(&q, "accessKey")?;
    let st = sim.lock();
    match st
        .owner_of(ak)
        .and_then(|(_, u)| u.credentials.iter().find(|c| c.access_key == ak))
    {
        Some(c) => Ok(axum::Json(credential_json(c)).into_response()),
        None => no_content(),
    }
}

/// `POST /user/credentials?userId=&groupId=&accessKey=&secretKey=`: a key pair the caller
/// chose (409 if the access key exists anywhere, 403 at the maximum).
async fn import_credential(Sim(sim): Sim<CloudianSim>, q: Q) -> R {
    let (uid, gid) = (param(&q, "userId")?, param(&q, "groupId")?);
    let (ak, sk) = (param(&q, "accessKey")?, param(&q, "secretKey")?);
    let mut st = sim.lock();
    if st.owner_of(ak).is_some() {
        return Err(HsError::new(409, "Access key already exists"));
    }
    let (now, max) = (st.now_ms, st.max_credentials);
    let u = st
        .user_mut(gid, uid)
        .ok_or_else(|| HsError::new(400, "User does not exist"))?;
    if u.credentials.len() >= max {
        return Err(HsError::new(
            403,
            "Reached maximum number of credentials allowed",
        ));
    }
    u.credentials.push(Credential {
        access_key: ak.into(),
        secret_key: sk.into(),
        create_date: now,
        active: true,
    });
    ok()
}

/// `POST /user/credentials/status?accessKey=&isActive=true|false`.
async fn set_credential(Sim(sim): Sim<CloudianSim>, q: Q) -> R {
    let ak = param(&q, "accessKey")?;
    let active = match param(&q, "isActive")? {
        "true" => true,
        "false" => false,
        other => {
            return Err(HsError::new(
                400,
                format!("isActive must be true or false, not {other}"),
            ));
        }
    };
    sim.lock().set_credential_active(ak, active)?;
    ok()
}

async fn delete_credential(Sim(sim): Sim<CloudianSim>, q: Q) -> R {
    sim.lock().delete_credential(param(&q, "accessKey")?)?;
    ok()
}

async fn list_credentials(Sim(sim): Sim<CloudianSim>, q: Q) -> R {
    let (uid, gid) = (param(&q, "userId")?, param(&q, "groupId")?);
    let st = sim.lock();
    match st.user(gid, uid) {
        Some(u) if !u.credentials.is_empty() => Ok(axum::Json(
            u.credentials
                .iter()
                .map(credential_json)
                .collect::<Vec<_>>(),
        )
        .into_response()),
        _ => no_content(),
    }
}

/// A QoS value from the query string: an integer, -1 = unlimited.
fn qos_value(q: &Q, k: &str) -> Result<Option<i64>, HsError> {
    match q.get(k) {
        None => Ok(None),
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n >= -1 => Ok(Some(n)),
            _ => Err(HsError::new(400, format!("Invalid value for {k}: {v}"))),
        },
    }
}

/// `POST /qos/limits?userId=<u or *>&groupId=&hlStorageQuotaKBytes=&…`: values in the query
/// string, nothing in the body.
async fn set_qos(Sim(sim): Sim<CloudianSim>, q: Q) -> R {
    let (uid, gid) = (param(&q, "userId")?, param(&q, "groupId")?);
    let mut qos = Qos::unlimited();
    if let Some(v) = qos_value(&q, "hlStorageQuotaKBytes")? {
        qos.storage_kib.0 = v;
    }
    if let Some(v) = qos_value(&q, "wlStorageQuotaKBytes")? {
        qos.storage_kib.1 = v;
    }
    if let Some(v) = qos_value(&q, "hlStorageQuotaCount")? {
        qos.objects.0 = v;
    }
    if let Some(v) = qos_value(&q, "wlStorageQuotaCount")? {
        qos.objects.1 = v;
    }
    let mut st = sim.lock();
    if uid == "*" || uid == "ALL" {
        let g = st
            .groups
            .get_mut(gid)
            .ok_or_else(|| HsError::new(400, format!("Group {gid} does not exist")))?;
        // `*`: the group's own limit; `ALL`: the default of each of its users.
        if uid == "*" {
            g.limit = Some(qos);
        } else {
            g.user_default = Some(qos);
        }
    } else {
        let u = st
            .user_mut(gid, uid)
            .ok_or_else(|| HsError::new(400, "User does not exist"))?;
        u.qos = Some(qos);
    }
    ok()
}

async fn get_qos(Sim(sim): Sim<CloudianSim>, q: Q) -> R {
    let (uid, gid) = (param(&q, "userId")?, param(&q, "groupId")?);
    let st = sim.lock();
    let qos = if uid == "*" || uid == "ALL" {
        st.group(gid).map(|g| {
            let own = if uid == "*" {
                &g.limit
            } else {
                &g.user_default
            };
            own.clone().unwrap_or_else(Qos::unlimited)
        })
    } else {
        st.user(gid, uid).map(|_| st.qos_of(gid, uid))
    };
    let Some(qos) = qos else {
        return no_content();
    };
    let list = json!([
        {"type": "STORAGE_QUOTA_KBYTES_LH", "value": qos.storage_kib.0},
        {"type": "STORAGE_QUOTA_KBYTES_LW", "value": qos.storage_kib.1},
        {"type": "STORAGE_QUOTA_COUNT_LH", "value": qos.objects.0},
        {"type": "STORAGE_QUOTA_COUNT_LW", "value": qos.objects.1},
        {"type": "REQUEST_RATE_LH", "value": -1},
        {"type": "REQUEST_RATE_LW", "value": -1},
    ]);
    Ok(axum::Json(json!({"userId": uid, "groupId": gid, "qosLimitList": list})).into_response())
}

async fn delete_qos(Sim(sim): Sim<CloudianSim>, q: Q) -> R {
    let (uid, gid) = (param(&q, "userId")?, param(&q, "groupId")?);
    let mut st = sim.lock();
    if let Some(u) = st.user_mut(gid, uid) {
        u.qos = None;
    }
    ok()
}

/// `[{userId, buckets:[{bucketName}]}]` for the group (or one user).
async fn bucket_list(Sim(sim): Sim<CloudianSim>, q: Q) -> R {
    let gid = param(&q, "groupId")?;
    let only = q.get("userId");
    let st = sim.lock();
    let out: Vec<Value> = st
        .users
        .iter()
        .filter(|((g, u), _)| g == gid && only.is_none_or(|o| o == u))
        .map(|((_, u), user)| {
            json!({"userId": u, "buckets": user.buckets.keys().map(|b| json!({"bucketName": b})).collect::<Vec<_>>()})
        })
        .collect();
    Ok(axum::Json(out).into_response())
}

/// `[{userId, buckets:[{bucketName, byteCount, objectCount, policyName}]}]`; the counters read
/// 0 without bucket-level QoS (`s3.qos.bucketLevel=true`).
async fn bucket_usage(Sim(sim): Sim<CloudianSim>, q: Q) -> R {
    let gid = param(&q, "groupId")?;
    let only = q.get("userId");
    let st = sim.lock();
    if st.group(gid).is_none() {
        return Err(HsError::new(400, format!("Group {gid} does not exist")));
    }
    if let Some(u) = only
        && st.user(gid, u).is_none()
    {
        return Err(HsError::new(400, "User does not exist"));
    }
    let counted = st.bucket_level_qos;
    let out: Vec<Value> = st
        .users
        .iter()
        .filter(|((g, u), _)| g == gid && only.is_none_or(|o| o == u))
        .map(|((_, u), user)| {
            let buckets: Vec<Value> = user
                .buckets
                .iter()
                .map(|(n, (b, o))| {
                    let (b, o) = if counted { (*b, *o) } else { (0, 0) };
                    json!({"bucketName": n, "byteCount": b, "objectCount": o, "policyName": "Default"})
                })
                .collect();
            json!({"userId": u, "buckets": buckets})
        })
        .collect();
    Ok(axum::Json(out).into_response())
}

/// `GET /usage?id=<group>|<user>&operation=SB|SO&startTime=&endTime=&granularity=raw
/// [&reversed=true]`: raw records within at most 24 hours (`YYYYMMDDhhmm`, UTC), every number
/// a string, timestamps in epoch milliseconds.
async fn usage(Sim(sim): Sim<CloudianSim>, q: Q) -> R {
    if !sim.lock().usage_api {
        return Err(HsError::new(404, "Not Found"));
    }
    let id = param(&q, "id")?;
    let op = param(&q, "operation")?;
    if !matches!(op, "SB" | "SO") {
        return Err(HsError::new(400, format!("Unsupported operation: {op}")));
    }
    if param(&q, "granularity")? != "raw" {
        return Err(HsError::new(
            400,
            "cloudian-sim serves raw granularity only",
        ));
    }
    let time = |k: &str| -> Result<i64, HsError> {
        let v = param(&q, k)?;
        chrono::NaiveDateTime::parse_from_str(v, "%Y%m%d%H%M")
            .map(|t| t.and_utc().timestamp_millis())
            .map_err(|_| HsError::new(400, format!("Invalid {k}: {v} (YYYYMMDDhhmm)")))
    };
    let (start, end) = (time("startTime")?, time("endTime")?);
    if end < start || end - start > 24 * 3600 * 1000 {
        return Err(HsError::new(
            400,
            "A raw usage query may span at most 24 hours",
        ));
    }
    let (gid, uid) = id
        .split_once('|')
        .ok_or_else(|| HsError::new(400, format!("Invalid id: {id} (group|user)")))?;
    let st = sim.lock();
    let Some(u) = st.user(gid, uid) else {
        return Ok(axum::Json(json!([])).into_response());
    };
    let mut rows: Vec<Value> = u
        .readings
        .iter()
        .filter(|r| r.at_ms >= start && r.at_ms <= end)
        .map(|r| {
            let v = if op == "SB" { r.bytes } else { r.objects };
            json!({"averageValue": v.to_string(), "bucket": null, "count": "1", "groupId": gid,
                   "ip": "", "maxValue": v.to_string(), "operation": op, "region": "region1",
                   "timestamp": r.at_ms.to_string(), "uri": "", "userId": uid,
                   "value": v.to_string(), "whitelistAverageValue": "0", "whitelistCount": "0",
                   "whitelistMaxValue": "0", "whitelistValue": "0"})
        })
        .collect();
    if q.get("reversed").map(String::as_str) == Some("true") {
        rows.reverse();
    }
    Ok(axum::Json(rows).into_response())
}
