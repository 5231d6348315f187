//! minio-sim's one listener: the admin API under `/minio/admin/v3/` and S3 on the same port,
//! every call SigV4-signed (header form) and authorised as MinIO does. Status codes, error
//! codes and body shapes from MinIO's sources (other-backends.md §2; the research notes in
//! `tests/src/minio/mod.rs`).

use super::state::{Bucket, Caller, ServiceAccount, State, User, validate_policy};
use super::{Inner, MinioSim};
use crate::sigv4_check::{Received, Refusal};
use axum::Router;
use axum::extract::{Request, State as Sim};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use site_agent_minio::madmin;
use std::collections::HashMap;

pub(super) fn router(sim: MinioSim) -> Router {
    Router::new().fallback(handle).with_state(sim)
}

/// An answer: status, content type, body, extra headers.
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Reply {
    fn json(status: u16, v: Value) -> Self {
        Self {
            status,
            content_type: "application/json",
            body: v.to_string().into_bytes(),
        }
    }
    fn empty(status: u16) -> Self {
        Self {
            status,
            content_type: "text/plain",
            body: Vec::new(),
        }
    }
    fn bytes(body: Vec<u8>) -> Self {
        Self {
            status: 200,
            content_type: "application/octet-stream",
            body,
        }
    }
    fn xml(status: u16, body: String) -> Self {
        Self {
            status,
            content_type: "application/xml",
            body: body.into_bytes(),
        }
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let status =
            axum::http::StatusCode::from_u16(self.status).unwrap_or(axum::http::StatusCode::OK);
        (status, [("content-type", self.content_type)], self.body).into_response()
    }
}

const ADMIN_PREFIX: &str = "/minio/admin/v3/";
const REQUEST_ID: &str = "1880F0A3C2D1E0B9";
const HOST_ID: &str = "dd9025bab4ad464b049177c95eb6ebf374d3b3fd1af9251148b658df7ac2e3e8";

/// An admin error (`writeErrorResponseJSON`).
fn admin_err(status: u16, code: &str, message: &str, path: &str) -> Reply {
    Reply::json(
        status,
        json!({"Code": code, "Message": message, "Resource": path,
               "RequestId": REQUEST_ID, "HostId": HOST_ID}),
    )
}

/// An S3 error (XML).
fn s3_err(status: u16, code: &str, message: &str, path: &str) -> Reply {
    Reply::xml(
        status,
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><Resource>{path}</Resource><RequestId>{REQUEST_ID}</RequestId><HostId>{HOST_ID}</HostId></Error>"
        ),
    )
}

const NO_SUCH_USER: &str = "The specified user does not exist. (Specified user does not exist)";

async fn handle(Sim(sim): Sim<MinioSim>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, 64 << 20).await else {
        return Reply::empty(413).into_response();
    };
    let uri = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let path = parts.uri.path().to_string();
    let query: HashMap<String, String> = parts
        .uri
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let mut inner = sim.lock();
    inner.calls.push((parts.method.to_string(), uri.clone()));
    let method = parts.method.to_string();
    let matching = inner
        .fail_matching
        .iter_mut()
        .find(|(m, part, left, _)| *left > 0 && *m == method && uri.contains(part.as_str()))
        .map(|f| {
            f.2 -= 1;
            f.3
        });
    if let Some(status) = inner.fail_next.pop().or(matching) {
        return admin_err(
            status,
            "XMinioServerNotInitialized",
            "Server not initialized yet, please try again.",
            &path,
        )
        .into_response();
    }
    let lose = inner
        .lose
        .iter()
        .position(|p| uri.contains(p.as_str()))
        .map(|i| inner.lose.remove(i));
    let req = Received {
        method: &parts.method,
        headers: &parts.headers,
        uri: &uri,
        body: &body,
    };
    let reply = match path.strip_prefix(ADMIN_PREFIX) {
        Some(command) => admin(&mut inner, &req, command, &path, &query, &body),
        None => s3(&mut inner, &req, &path, &query, &body),
    };
    match lose {
        Some(_) => Reply {
            status: 502,
            content_type: "text/html",
            body: b"<h1>502 Bad Gateway</h1>".to_vec(),
        }
        .into_response(),
        None => reply.into_response(),
    }
}

/// The caller of a signed request, or MinIO's refusal (`admin`: JSON, else XML).
fn authenticate(st: &State, req: &Received<'_>, path: &str, admin: bool) -> Result<Caller, Reply> {
    let err = |status, code: &str, msg: &str| {
        if admin {
            admin_err(status, code, msg, path)
        } else {
            s3_err(status, code, msg, path)
        }
    };
    if req.headers.get("x-amz-content-sha256").is_none() && admin {
        return Err(err(403, "AccessDenied", "Access Denied."));
    }
    let Ok((ak, _)) = req.credential() else {
        return Err(err(403, "AccessDenied", "Access Denied."));
    };
    let Some((secret, caller)) = st.identity(ak) else {
        return Err(err(
            403,
            "InvalidAccessKeyId",
            "The Access Key Id you provided does not exist in our records.",
        ));
    };
    match req.signed_by([secret.as_str()]) {
        Ok(()) => {}
        Err(Refusal::Mismatch) => {
            return Err(err(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
            ));
        }
        Err(_) => return Err(err(403, "AccessDenied", "Access Denied.")),
    }
    if st.disabled(&caller) {
        return Err(err(
            403,
            "InvalidAccessKeyId",
            "Your account is disabled; please contact your administrator.",
        ));
    }
    Ok(caller)
}

fn secret_of(st: &State, caller: &Caller) -> String {
    match caller {
        Caller::Root => st.root_secret.clone(),
        Caller::User(u) => st
            .users
            .get(u)
            .map(|u| u.secret.clone())
            .unwrap_or_default(),
        Caller::ServiceAccount(ak, _) => st
            .service_accounts
            .get(ak)
            .map(|s| s.secret.clone())
            .unwrap_or_default(),
    }
}

fn access_key_ok(ak: &str) -> bool {
    ak.len() >= 3 && !ak.contains('=') && !ak.contains(',')
}

fn admin(
    inner: &mut Inner,
    req: &Received<'_>,
    command: &str,
    path: &str,
    q: &HashMap<String, String>,
    body: &[u8],
) -> Reply {
    let caller = match authenticate(&inner.st, req, path, true) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let m = req.method.clone();
    let err = |status, code: &str, msg: &str| admin_err(status, code, msg, path);
    let denied = || err(403, "AccessDenied", "Access Denied.");
    let arg = |k: &str| q.get(k).cloned().unwrap_or_default();
    let acting_on_self = |user: &str| caller.user() == Some(user);
    let action = match (m.as_str(), command) {
        ("GET", "info") => "admin:ServerInfo",
        ("PUT", "add-user") => "admin:CreateUser",
        ("GET", "user-info") => "admin:GetUser",
        ("PUT", "set-user-status") => "admin:EnableUser",
        ("DELETE", "remove-user") => "admin:DeleteUser",
        ("PUT", "add-canned-policy") => "admin:CreatePolicy",
        ("DELETE", "remove-canned-policy") => "admin:DeletePolicy",
        ("GET", "info-canned-policy") => "admin:GetPolicy",
        ("PUT", "set-user-or-group-policy") => "admin:AttachUserOrGroupPolicy",
        ("PUT", "add-service-account") => "admin:CreateServiceAccount",
        ("POST", "update-service-account") => "admin:UpdateServiceAccount",
        ("DELETE", "delete-service-account") => "admin:RemoveServiceAccount",
        ("GET", "list-service-accounts") => "admin:ListServiceAccounts",
        ("PUT", "set-bucket-quota") => "admin:SetBucketQuota",
        ("GET", "get-bucket-quota") => "admin:GetBucketQuota",
        ("GET", "datausageinfo") => "admin:DataUsageInfo",
        _ => {
            return err(
                400,
                "XMinioAdminInvalidRequest",
                "Invalid admin request (unknown call or method)",
            );
        }
    };
    // MinIO lets a user act on itself unless a policy denies it: its own info, its own
    // service accounts (listing, making, deleting).
    let own_sa = |ak: &str| {
        inner
            .st
            .service_accounts
            .get(ak)
            .is_some_and(|s| caller.user() == Some(s.parent.as_str()))
    };
    let deny_only = match command {
        "user-info" => acting_on_self(&arg("accessKey")),
        "list-service-accounts" => q.get("user").is_none_or(|u| acting_on_self(u)),
        "delete-service-account" => own_sa(&arg("accessKey")),
        // The target is in the sealed body: judged below, after it is opened.
        "add-service-account" => true,
        _ => false,
    };
    if command != "add-service-account" && !inner.st.allowed(&caller, action, None, deny_only) {
        return denied();
    }
    let st = &mut inner.st;
    match command {
        "info" => Reply::json(
            200,
            json!({"mode": "online", "deploymentID": "5f4e3d2c-sim", "region": "us-east-1",
                   "servers": [{"state": "online", "endpoint": "127.0.0.1", "version": "2025-09-07T16-13-09Z"}]}),
        ),
        "add-user" => {
            let user = arg("accessKey");
            if user == st.root_key || st.service_accounts.contains_key(&user) {
                return err(
                    403,
                    "XMinioInvalidIAMCredentials",
                    "The credentials provided are not allowed. (Credential is not allowed to be same as admin access key or an existing service account)",
                );
            }
            if !access_key_ok(&user) {
                return err(
                    400,
                    "XMinioAdminInvalidAccessKey",
                    "access key length should be between 3 and 20",
                );
            }
            let v = match sealed_json(inner, &caller, body, path) {
                Ok(v) => v,
                Err(r) => return r,
            };
            let st = &mut inner.st;
            let sk = v["secretKey"].as_str().unwrap_or_default();
            if sk.len() < 8 {
                return err(
                    400,
                    "XMinioAdminInvalidSecretKey",
                    "secret key length should be between 8 and 40",
                );
            }
            let enabled = matches!(v["status"].as_str(), Some("enabled" | "on"));
            // Add-or-update: an existing user keeps its policies and groups.
            let (policies, groups) = st
                .users
                .get(&user)
                .map(|u| (u.policies.clone(), u.groups.clone()))
                .unwrap_or_default();
            st.users.insert(
                user,
                User {
                    secret: sk.into(),
                    enabled,
                    policies,
                    groups,
                },
            );
            Reply::empty(200)
        }
        "user-info" => match st.users.get(&arg("accessKey")) {
            // A service account's (or an STS) key is not a user to ask about.
            None if st.service_accounts.contains_key(&arg("accessKey")) => err(
                403,
                "XMinioIAMActionNotAllowed",
                "Specified IAM action is not allowed",
            ),
            None => err(404, "XMinioAdminNoSuchUser", NO_SUCH_USER),
            Some(u) => {
                let mut o = json!({"status": if u.enabled {"enabled"} else {"disabled"},
                                   "updatedAt": "2026-01-01T00:00:00Z"});
                if !u.policies.is_empty() {
                    o["policyName"] = json!(u.policies.join(","));
                }
                if !u.groups.is_empty() {
                    o["memberOf"] = json!(u.groups);
                }
                Reply::json(200, o)
            }
        },
        "set-user-status" => {
            let user = arg("accessKey");
            let enabled = match arg("status").as_str() {
                "enabled" => true,
                "disabled" => false,
                _ => {
                    return err(
                        400,
                        "XMinioAdminInvalidArgument",
                        "Invalid arguments specified.",
                    );
                }
            };
            if st.service_accounts.contains_key(&user) {
                return err(
                    403,
                    "XMinioIAMActionNotAllowed",
                    "Specified IAM action is not allowed",
                );
            }
            match st.users.get_mut(&user) {
                None => err(404, "XMinioAdminNoSuchUser", NO_SUCH_USER),
                Some(u) => {
                    u.enabled = enabled;
                    Reply::empty(200)
                }
            }
        }
        "remove-user" => {
            let user = arg("accessKey");
            if st.service_accounts.contains_key(&user)
                || user == st.root_key
                || acting_on_self(&user)
            {
                return err(
                    403,
                    "XMinioIAMActionNotAllowed",
                    "Specified IAM action is not allowed",
                );
            }
            if st.users.remove(&user).is_none() {
                return err(404, "XMinioAdminNoSuchUser", NO_SUCH_USER);
            }
            // Its service accounts go with it.
            st.service_accounts.retain(|_, s| s.parent != user);
            Reply::empty(200)
        }
        "add-canned-policy" => {
            let name = arg("name");
            if name.is_empty() || name.trim() != name {
                return err(
                    400,
                    "XMinioInvalidResource",
                    "Policy, user or group names are not allowed to begin or end with space characters",
                );
            }
            if name.contains(',') {
                return err(
                    400,
                    "PolicyInvalidName",
                    "Policy name may not contain comma",
                );
            }
            if body.is_empty() {
                return err(
                    411,
                    "MissingContentLength",
                    "You must provide the Content-Length HTTP header.",
                );
            }
            let Ok(doc) = serde_json::from_slice::<Value>(body) else {
                return err(400, "XMinioMalformedIAMPolicy", "policy is not valid JSON");
            };
            if let Err((status, code, msg)) = validate_policy(&doc) {
                return err(status, code, &msg);
            }
            st.policies.insert(name, doc);
            Reply::empty(200)
        }
        "remove-canned-policy" => {
            let name = arg("name");
            if st.policy_in_use(&name) {
                return err(
                    400,
                    "XMinioIAMPolicyInUse",
                    "Specified policy is in use and cannot be deleted.",
                );
            }
            // An unknown name is no error (the store ignores errNoSuchPolicy).
            st.policies.remove(&name);
            Reply::empty(200)
        }
        "info-canned-policy" => match st.policies.get(&arg("name")) {
            Some(doc) => Reply::json(200, doc.clone()),
            None => err(
                404,
                "XMinioAdminNoSuchPolicy",
                "The canned policy does not exist.",
            ),
        },
        "set-user-or-group-policy" => {
            if !q.contains_key("policyName")
                || !q.contains_key("userOrGroup")
                || !q.contains_key("isGroup")
            {
                return err(400, "XMinioAdminInvalidRequest", "Invalid admin request");
            }
            if arg("isGroup") == "true" {
                return err(
                    404,
                    "XMinioAdminNoSuchGroup",
                    "The specified group does not exist.",
                );
            }
            let names: Vec<String> = arg("policyName")
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(String::from)
                .collect();
            if let Some(missing) = names.iter().find(|p| !st.policies.contains_key(*p)) {
                let _ = missing;
                return err(
                    404,
                    "XMinioAdminNoSuchPolicy",
                    "The canned policy does not exist.",
                );
            }
            // A disabled user counts as absent here (IAMSys.GetUser).
            match st.users.get_mut(&arg("userOrGroup")) {
                Some(u) if u.enabled => {
                    u.policies = names;
                    Reply::empty(200)
                }
                _ => err(404, "XMinioAdminNoSuchUser", NO_SUCH_USER),
            }
        }
        "add-service-account" => add_service_account(inner, &caller, body, path),
        "update-service-account" => {
            let ak = arg("accessKey");
            if !st.service_accounts.contains_key(&ak) {
                return err(
                    404,
                    "XMinioInvalidIAMCredentials",
                    "The specified service account is not found (Specified service account does not exist)",
                );
            }
            let v = match sealed_json(inner, &caller, body, path) {
                Ok(v) => v,
                Err(r) => return r,
            };
            let sa = inner
                .st
                .service_accounts
                .get_mut(&ak)
                .expect("checked above");
            match v["newStatus"].as_str() {
                Some("on" | "enabled") => sa.enabled = true,
                Some("off" | "disabled") => sa.enabled = false,
                _ => {}
            }
            if let Some(s) = v["newSecretKey"].as_str() {
                sa.secret = s.into();
            }
            Reply::empty(204)
        }
        "delete-service-account" => {
            let ak = arg("accessKey");
            if st.service_accounts.remove(&ak).is_none() {
                return err(
                    404,
                    "XMinioInvalidIAMCredentials",
                    "The specified service account is not found",
                );
            }
            Reply::empty(204)
        }
        "list-service-accounts" => {
            let user = q
                .get("user")
                .cloned()
                .or_else(|| caller.user().map(String::from))
                .unwrap_or_default();
            if !st.users.contains_key(&user) {
                return err(404, "XMinioAdminNoSuchUser", NO_SUCH_USER);
            }
            let accounts: Vec<Value> = st
                .service_accounts
                .iter()
                .filter(|(_, s)| s.parent == user)
                .map(|(ak, s)| {
                    json!({"parentUser": s.parent, "accountStatus": if s.enabled {"on"} else {"off"},
                           "impliedPolicy": s.policy.is_none(), "accessKey": ak, "name": s.name,
                           "description": s.description, "expiration": "1970-01-01T00:00:00Z"})
                })
                .collect();
            let body = if accounts.is_empty() {
                json!({"accounts": null})
            } else {
                json!({"accounts": accounts})
            };
            let secret = secret_of(st, &caller);
            Reply::bytes(seal(&secret, &body))
        }
        "set-bucket-quota" => {
            let bucket = arg("bucket");
            let Some(b) = st.buckets.get_mut(&bucket) else {
                return err(404, "NoSuchBucket", "The specified bucket does not exist");
            };
            let internal = || {
                s3_err(
                    500,
                    "InternalError",
                    "We encountered an internal error, please try again.",
                    path,
                )
            };
            let Ok(v) = serde_json::from_slice::<Value>(body) else {
                return internal();
            };
            let num = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
            let n = if num("size") > 0 {
                num("size")
            } else {
                num("quota")
            };
            let qt = v.get("quotatype").and_then(Value::as_str).unwrap_or("");
            if n > 0 && qt != "hard" {
                return internal();
            }
            b.quota = (n > 0).then_some(n);
            Reply::empty(200)
        }
        "get-bucket-quota" => match st.buckets.get(&arg("bucket")) {
            None => err(404, "NoSuchBucket", "The specified bucket does not exist"),
            Some(Bucket { quota: None, .. }) => Reply::json(200, Value::Null),
            Some(Bucket { quota: Some(n), .. }) => Reply::json(
                200,
                json!({"quota": n, "size": n, "rate": 0, "requests": 0, "quotatype": "hard"}),
            ),
        },
        "datausageinfo" => {
            let scan = st.scanned().clone();
            let buckets: serde_json::Map<String, Value> = scan
                .buckets
                .iter()
                .map(|(n, (size, objects))| {
                    (
                        n.clone(),
                        json!({"size": size, "objectsCount": objects, "versionsCount": objects,
                                       "deleteMarkersCount": 0, "objectsSizesHistogram": {}}),
                    )
                })
                .collect();
            let sizes: serde_json::Map<String, Value> = scan
                .buckets
                .iter()
                .map(|(n, (size, _))| (n.clone(), json!(size)))
                .collect();
            Reply::json(
                200,
                json!({
                    "lastUpdate": scan.at.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
                        .unwrap_or_else(|| "0001-01-01T00:00:00Z".into()),
                    "objectsCount": scan.buckets.values().map(|b| b.1).sum::<u64>(),
                    "objectsTotalSize": scan.buckets.values().map(|b| b.0).sum::<u64>(),
                    "bucketsCount": scan.buckets.len(),
                    "bucketsUsageInfo": buckets,
                    "bucketsSizes": sizes,
                }),
            )
        }
        _ => err(400, "XMinioAdminInvalidRequest", "Invalid admin request"),
    }
}

/// A sealed JSON body, opened with the caller's secret; what MinIO answers when it cannot be
/// (a plain body, another secret, a broken one).
fn sealed_json(
    inner: &mut Inner,
    caller: &Caller,
    body: &[u8],
    path: &str,
) -> Result<Value, Reply> {
    let secret = secret_of(&inner.st, caller);
    inner
        .open(&secret, body)
        .ok()
        .and_then(|plain| serde_json::from_slice::<Value>(&plain).ok())
        .ok_or_else(|| {
            admin_err(
                400,
                "XMinioAdminConfigBadJSON",
                "JSON configuration provided is of incorrect format",
                path,
            )
        })
}

fn seal(secret: &str, v: &Value) -> Vec<u8> {
    madmin::encrypt(secret.as_bytes(), v.to_string().as_bytes()).expect("madmin seal")
}

fn add_service_account(inner: &mut Inner, caller: &Caller, body: &[u8], path: &str) -> Reply {
    let err = |status, code: &str, msg: &str| admin_err(status, code, msg, path);
    let v = match sealed_json(inner, caller, body, path) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let secret = secret_of(&inner.st, caller);
    let st = &mut inner.st;
    let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let target = match (s("targetUser"), caller.user()) {
        (t, _) if !t.is_empty() => t,
        (_, Some(u)) => u.to_string(),
        (_, None) => {
            return err(
                400,
                "XMinioAdminInvalidArgument",
                "Invalid arguments specified.",
            );
        }
    };
    let for_self = caller.user() == Some(target.as_str());
    if !st.allowed(caller, "admin:CreateServiceAccount", None, for_self) {
        return err(403, "AccessDenied", "Access Denied.");
    }
    if !st.users.get(&target).is_some_and(|u| u.enabled) {
        return err(
            404,
            "XMinioAdminNoSuchUser",
            &format!("Specified target user {target} does not exist"),
        );
    }
    let (mut ak, mut sk) = (s("accessKey"), s("secretKey"));
    match (ak.is_empty(), sk.is_empty()) {
        (false, true) => {
            return err(
                400,
                "XMinioAdminNoSecretKey",
                "No secret key was specified.",
            );
        }
        (true, false) => {
            return err(
                400,
                "XMinioAdminNoAccessKey",
                "No access key was specified.",
            );
        }
        (true, true) => {
            // MinIO generates 20 characters of [0-9A-Z] and a 40-character secret.
            ak = uuid::Uuid::new_v4().simple().to_string()[..20].to_uppercase();
            sk = format!(
                "{}{}",
                uuid::Uuid::new_v4().simple(),
                uuid::Uuid::new_v4().simple()
            )[..40]
                .to_string();
        }
        (false, false) => {}
    }
    if !(3..=20).contains(&ak.len()) {
        return err(
            400,
            "XMinioAdminInvalidAccessKey",
            "access key length should be between 3 and 20",
        );
    }
    if !(8..=40).contains(&sk.len()) {
        return err(
            400,
            "XMinioAdminInvalidSecretKey",
            "secret key length should be between 8 and 40",
        );
    }
    if ak == st.root_key {
        return err(
            403,
            "XMinioInvalidIAMCredentials",
            "The credentials provided are not allowed. (Credential is not allowed to be same as admin access key)",
        );
    }
    if ak == target {
        return err(
            403,
            "XMinioIAMActionNotAllowed",
            "Specified IAM action is not allowed",
        );
    }
    if st.users.contains_key(&ak) || st.service_accounts.contains_key(&ak) {
        return err(
            400,
            "XMinioIAMServiceAccountNotAllowed",
            "Specified service account action is not allowed: the service account access key already taken",
        );
    }
    let name = s("name");
    if !name.is_empty()
        && (name.len() > 32
            || !name.as_bytes()[0].is_ascii_alphabetic()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'))
    {
        return err(
            400,
            "XMinioInvalidResource",
            "Policy, user or group names are not allowed to begin or end with space characters",
        );
    }
    if s("description").len() > 256 {
        return err(
            400,
            "XMinioInvalidResource",
            "Policy, user or group names are not allowed to begin or end with space characters",
        );
    }
    let policy = match v.get("policy") {
        None | Some(Value::Null) => None,
        Some(p) => {
            if let Err((status, code, msg)) = validate_policy(p) {
                return err(status, code, &msg);
            }
            Some(p.clone())
        }
    };
    st.service_accounts.insert(
        ak.clone(),
        ServiceAccount {
            parent: target,
            secret: sk.clone(),
            enabled: true,
            name,
            description: s("description"),
            policy,
        },
    );
    Reply::bytes(seal(
        &secret,
        &json!({"credentials": {"accessKey": ak, "secretKey": sk, "expiration": "1970-01-01T00:00:00Z"}}),
    ))
}

fn s3(
    inner: &mut Inner,
    req: &Received<'_>,
    path: &str,
    q: &HashMap<String, String>,
    body: &[u8],
) -> Reply {
    let caller = match authenticate(&inner.st, req, path, false) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let st = &mut inner.st;
    let err = |status, code: &str, msg: &str| s3_err(status, code, msg, path);
    let denied = || err(403, "AccessDenied", "Access Denied.");
    let trimmed = path.trim_start_matches('/');
    let (bucket, key) = match trimmed.split_once('/') {
        Some((b, k)) if !k.is_empty() => (b.to_string(), Some(percent_decode(k))),
        Some((b, _)) => (b.to_string(), None),
        None => (trimmed.to_string(), None),
    };
    let m = req.method.as_str();
    let bucket_arn = format!("arn:aws:s3:::{bucket}");
    let allowed =
        |st: &State, action: &str, arn: &str| st.allowed(&caller, action, Some(arn), false);
    if bucket.is_empty() {
        if m != "GET" {
            return err(
                405,
                "MethodNotAllowed",
                "The specified method is not allowed against this resource.",
            );
        }
        let names: String = st
            .buckets
            .keys()
            .filter(|b| allowed(st, "s3:ListBucket", &format!("arn:aws:s3:::{b}")))
            .map(|b| format!("<Bucket><Name>{b}</Name><CreationDate>2026-01-01T00:00:00.000Z</CreationDate></Bucket>"))
            .collect();
        return Reply::xml(
            200,
            format!("<ListAllMyBucketsResult><Buckets>{names}</Buckets></ListAllMyBucketsResult>"),
        );
    }
    match (m, key) {
        ("PUT", None) if q.contains_key("tagging") => {
            if !allowed(st, "s3:PutBucketTagging", &bucket_arn) {
                return denied();
            }
            let Some(b) = st.buckets.get_mut(&bucket) else {
                return err(404, "NoSuchBucket", "The specified bucket does not exist");
            };
            let text = String::from_utf8_lossy(body);
            b.tags = site_agent_sdk::xml::blocks(&text, "Tag")
                .into_iter()
                .filter_map(|t| {
                    Some((
                        site_agent_sdk::xml::leaf(t, "Key")?,
                        site_agent_sdk::xml::leaf(t, "Value").unwrap_or_default(),
                    ))
                })
                .collect();
            Reply::empty(200)
        }
        ("GET", None) if q.contains_key("tagging") => {
            if !allowed(st, "s3:GetBucketTagging", &bucket_arn) {
                return denied();
            }
            match st.buckets.get(&bucket) {
                None => err(404, "NoSuchBucket", "The specified bucket does not exist"),
                Some(b) if b.tags.is_empty() => {
                    err(404, "NoSuchTagSet", "The TagSet does not exist")
                }
                Some(b) => {
                    let tags: String = b
                        .tags
                        .iter()
                        .map(|(k, v)| format!("<Tag><Key>{k}</Key><Value>{v}</Value></Tag>"))
                        .collect();
                    Reply::xml(200, format!("<Tagging><TagSet>{tags}</TagSet></Tagging>"))
                }
            }
        }
        ("PUT", None) => {
            if !allowed(st, "s3:CreateBucket", &bucket_arn) {
                return denied();
            }
            if site_agent_sdk::naming::bucket_for(&bucket).ok().as_deref() != Some(bucket.as_str())
            {
                return err(
                    400,
                    "InvalidBucketName",
                    "The specified bucket is not valid.",
                );
            }
            if st.buckets.contains_key(&bucket) {
                return err(
                    409,
                    "BucketAlreadyOwnedByYou",
                    "Your previous request to create the named bucket succeeded and you already own it.",
                );
            }
            st.buckets.insert(bucket, Bucket::default());
            Reply::empty(200)
        }
        ("DELETE", None) => {
            let force = req
                .headers
                .get("x-minio-force-delete")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            if !allowed(st, "s3:DeleteBucket", &bucket_arn)
                || (force.is_some() && !allowed(st, "s3:ForceDeleteBucket", &bucket_arn))
            {
                return denied();
            }
            let force = match force.as_deref() {
                None => false,
                Some("1" | "t" | "T" | "TRUE" | "true" | "True") => true,
                Some("0" | "f" | "F" | "FALSE" | "false" | "False") => false,
                Some(v) => {
                    return err(
                        400,
                        "InvalidRequest",
                        &format!("strconv.ParseBool: parsing {v:?}: invalid syntax"),
                    );
                }
            };
            match st.buckets.get(&bucket) {
                None => err(404, "NoSuchBucket", "The specified bucket does not exist"),
                Some(b) if !b.objects.is_empty() && !force => err(
                    409,
                    "BucketNotEmpty",
                    "The bucket you tried to delete is not empty",
                ),
                Some(_) => {
                    st.buckets.remove(&bucket);
                    Reply::empty(204)
                }
            }
        }
        ("GET", None) => {
            let action = if q.contains_key("versions") {
                "s3:ListBucketVersions"
            } else {
                "s3:ListBucket"
            };
            if !allowed(st, action, &bucket_arn) && !allowed(st, "s3:ListBucket", &bucket_arn) {
                return denied();
            }
            let Some(b) = st.buckets.get(&bucket) else {
                return err(404, "NoSuchBucket", "The specified bucket does not exist");
            };
            let max: usize = q
                .get("max-keys")
                .and_then(|v| v.parse().ok())
                .unwrap_or(1000)
                .min(1000);
            let after = q
                .get("key-marker")
                .or_else(|| q.get("start-after"))
                .or_else(|| q.get("continuation-token"))
                .cloned()
                .unwrap_or_default();
            let listed: Vec<(&String, &u64)> = b
                .objects
                .iter()
                .filter(|(k, _)| after.is_empty() || k.as_str() > after.as_str())
                .take(max + 1)
                .collect();
            let truncated = listed.len() > max;
            let page = &listed[..listed.len().min(max)];
            if q.contains_key("versions") {
                let entries: String = page
                    .iter()
                    .map(|(k, s)| format!("<Version><Key>{k}</Key><VersionId>null</VersionId><IsLatest>true</IsLatest><Size>{s}</Size></Version>"))
                    .collect();
                let next = if truncated {
                    format!(
                        "<NextKeyMarker>{}</NextKeyMarker><NextVersionIdMarker>null</NextVersionIdMarker>",
                        page.last().map(|p| p.0.as_str()).unwrap_or("")
                    )
                } else {
                    String::new()
                };
                Reply::xml(
                    200,
                    format!(
                        "<ListVersionsResult><Name>{bucket}</Name><IsTruncated>{truncated}</IsTruncated>{next}{entries}</ListVersionsResult>"
                    ),
                )
            } else {
                let entries: String = page
                    .iter()
                    .map(|(k, s)| format!("<Contents><Key>{k}</Key><Size>{s}</Size></Contents>"))
                    .collect();
                Reply::xml(
                    200,
                    format!(
                        "<ListBucketResult><Name>{bucket}</Name><KeyCount>{}</KeyCount><IsTruncated>{truncated}</IsTruncated>{entries}</ListBucketResult>",
                        page.len()
                    ),
                )
            }
        }
        ("PUT", Some(k)) => {
            if !allowed(st, "s3:PutObject", &format!("{bucket_arn}/{k}")) {
                return denied();
            }
            let scanned = st.scanned().buckets.get(&bucket).map(|b| b.0).unwrap_or(0);
            let Some(b) = st.buckets.get_mut(&bucket) else {
                return err(404, "NoSuchBucket", "The specified bucket does not exist");
            };
            let size = body.len() as u64;
            // MinIO's hard quota: checked against the scanner's figure, not the live one.
            if let Some(q) = b.quota
                && (size >= q || (scanned > 0 && scanned + size >= q))
            {
                return err(
                    400,
                    "XMinioAdminBucketQuotaExceeded",
                    "Bucket quota exceeded",
                );
            }
            b.objects.insert(k, size);
            Reply::empty(200)
        }
        ("GET" | "HEAD", Some(k)) => {
            if !allowed(st, "s3:GetObject", &format!("{bucket_arn}/{k}")) {
                return denied();
            }
            match st.buckets.get(&bucket).map(|b| b.objects.get(&k)) {
                None => err(404, "NoSuchBucket", "The specified bucket does not exist"),
                Some(None) => err(404, "NoSuchKey", "The specified key does not exist."),
                Some(Some(size)) => Reply::bytes(vec![0u8; *size as usize]),
            }
        }
        ("DELETE", Some(k)) => {
            let action = if q.contains_key("versionId") {
                "s3:DeleteObjectVersion"
            } else {
                "s3:DeleteObject"
            };
            let arn = format!("{bucket_arn}/{k}");
            if !allowed(st, action, &arn) && !allowed(st, "s3:DeleteObject", &arn) {
                return denied();
            }
            match st.buckets.get_mut(&bucket) {
                None => err(404, "NoSuchBucket", "The specified bucket does not exist"),
                Some(b) => {
                    b.objects.remove(&k);
                    Reply::empty(204)
                }
            }
        }
        _ => err(
            405,
            "MethodNotAllowed",
            "The specified method is not allowed against this resource.",
        ),
    }
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("k={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}
