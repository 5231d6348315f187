//! The API listener: `/myfsio/health`, the JSON admin routes (rate-limited) and S3, every
//! call authenticated by SigV4 (v0.4 also takes the `X-Access-Key`/`X-Secret-Key` pair; v0.5
//! refuses it) and authorised by the caller's inline policies.

use super::state::{Generation, Policy, Quota, Reply, State, User};
use super::{Inner, MyfsioSim, Process};
use crate::sigv4_check::{Received, Refusal};
use axum::Router;
use axum::extract::{Request, State as Sim};
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Instant;

pub(super) fn router(sim: MyfsioSim) -> Router {
    Router::new().fallback(handle).with_state(sim)
}

/// SigV4's allowed clock skew (`SIGV4_TIMESTAMP_TOLERANCE_SECONDS`).
const SKEW_SECS: i64 = 900;

fn request_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..16].to_string()
}

/// An S3 error: v0.4 `<Error><Code/><Message/><Resource/><RequestId/>`, v0.5 adds `<HostId>`.
pub(super) fn s3_error(g: Generation, status: u16, code: &str, msg: &str, resource: &str) -> Reply {
    let host = match g {
        Generation::Py => String::new(),
        Generation::Rs => format!("<HostId>{}</HostId>", request_id()),
    };
    Reply::new(
        status,
        "application/xml",
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{msg}</Message><Resource>{resource}</Resource><RequestId>{}</RequestId>{host}</Error>",
            request_id()
        ),
    )
}

fn admin_error(status: u16, code: &str, msg: &str) -> Reply {
    Reply::json(status, json!({"error": {"code": code, "message": msg}}))
}

async fn handle(Sim(sim): Sim<MyfsioSim>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, 16 << 20).await else {
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
    let mut guard = sim.lock();
    let inner = &mut *guard;
    inner
        .calls
        .push(("api", parts.method.to_string(), uri.clone()));
    if !inner.api_failures.is_empty() {
        let (status, body) = inner.api_failures.remove(0);
        return Reply::new(status, "text/html", body).into_response();
    }
    let lost = inner
        .lost_api
        .iter()
        .position(|(m, p)| parts.method.as_str() == m && path.contains(p.as_str()))
        .map(|i| inner.lost_api.remove(i));
    let file = inner.enter(Process::Api);
    let reply = serve(inner, &parts, &uri, &path, &query, &body);
    inner.leave(Process::Api, file);
    match lost {
        Some(_) => Reply::new(502, "text/html", "<h1>Bad Gateway</h1>").into_response(),
        None => reply.into_response(),
    }
}

fn serve(
    inner: &mut Inner,
    parts: &axum::http::request::Parts,
    uri: &str,
    path: &str,
    query: &HashMap<String, String>,
    body: &[u8],
) -> Reply {
    let g = inner.st.generation;
    if path == "/myfsio/health" && parts.method == Method::GET {
        return match g {
            Generation::Py => Reply::json(200, json!({"status": "ok"})),
            Generation::Rs => Reply::json(200, json!({"status": "ok", "version": "0.5.7"})),
        };
    }
    let admin_prefix = match g {
        Generation::Py => "/admin/",
        Generation::Rs => "/myfsio/admin/",
    };
    let req = Received {
        method: &parts.method,
        headers: &parts.headers,
        uri,
        body,
    };
    let rest = path.strip_prefix(admin_prefix);
    if rest.is_some()
        && let Some(r) = rate_limited(inner)
    {
        return r;
    }
    let who = match authenticate(&inner.st, &req, path) {
        Ok(i) => i,
        Err(r) => return r,
    };
    // A path under the admin prefix that is no admin route is an S3 path (both servers
    // route `/<bucket>/<key>` last).
    if let Some(r) = rest.and_then(|rest| admin(&mut inner.st, who, &parts.method, rest)) {
        return r;
    }
    let ct = parts
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok());
    s3(&mut inner.st, who, &parts.method, path, query, body, ct)
}

/// Counts an admin call; the answer when it is one too many.
fn rate_limited(inner: &mut Inner) -> Option<Reply> {
    let now = Instant::now();
    let l = &mut inner.limit;
    while l
        .hits
        .front()
        .is_some_and(|t| now.duration_since(*t) >= l.window)
    {
        l.hits.pop_front();
    }
    if l.hits.len() < l.max {
        l.hits.push_back(now);
        return None;
    }
    l.refused += 1;
    let wait = l
        .hits
        .front()
        .map(|t| l.window.saturating_sub(now.duration_since(*t)))
        .unwrap_or(l.window);
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    Some(match inner.st.generation {
        // Flask-Limiter's default page: no Retry-After.
        Generation::Py => Reply::new(
            429,
            "text/html",
            format!(
                "<!doctype html><title>429 Too Many Requests</title><h1>Too Many Requests</h1><p>{} per 1 minute</p>",
                l.max
            ),
        ),
        Generation::Rs => {
            let msg = if l.rs_status == 429 {
                "Rate limit exceeded"
            } else {
                "Please reduce your request rate"
            };
            s3_error(Generation::Rs, l.rs_status, "SlowDown", msg, "")
                .header("retry-after", &secs.max(1).to_string())
        }
    })
}

/// The user a request is made by, or the generation's refusal.
fn authenticate(st: &State, req: &Received<'_>, path: &str) -> Result<usize, Reply> {
    let g = st.generation;
    let denied = |m: &str| s3_error(g, 403, "AccessDenied", m, path);
    let header = |n: &str| req.headers.get(n).and_then(|v| v.to_str().ok());
    if header("authorization").is_none() {
        return match (header("x-access-key"), header("x-secret-key"), g) {
            (Some(_), Some(_), Generation::Rs) => Err(denied(
                "Legacy header authentication is disabled (set ALLOW_LEGACY_HEADER_AUTH=true to re-enable)",
            )),
            (Some(ak), Some(sk), Generation::Py) => match st.owner_of_key(ak) {
                Some(i) if st.key_works(ak, sk) => Ok(i),
                Some(i) if !st.users[i].enabled => Err(denied("User account is disabled")),
                _ => Err(denied("Invalid credentials")),
            },
            _ => Err(denied("Missing credentials")),
        };
    }
    let (ak, _) = req
        .credential()
        .map_err(|_| denied("Missing credentials"))?;
    let Some(i) = st.owner_of_key(ak) else {
        return Err(match g {
            Generation::Py => denied("Invalid credentials"),
            Generation::Rs => s3_error(
                g,
                403,
                "InvalidAccessKeyId",
                "The AWS Access Key Id you provided does not exist in our records.",
                path,
            ),
        });
    };
    let user = &st.users[i];
    let key = user.keys.iter().find(|k| k.access_key == ak);
    let secrets = key
        .filter(|k| k.status == "active")
        .map(|k| k.secret_key.as_str());
    if let Some(d) = header("x-amz-date")
        .and_then(|d| chrono::NaiveDateTime::parse_from_str(d, "%Y%m%dT%H%M%SZ").ok())
        && (chrono::Utc::now().timestamp() - d.and_utc().timestamp()).abs() > SKEW_SECS
    {
        return Err(match g {
            Generation::Py => denied("Request timestamp too old or too far in the future"),
            Generation::Rs => s3_error(
                g,
                403,
                "RequestTimeTooSkewed",
                "The difference between the request time and the server's time is too large.",
                path,
            ),
        });
    }
    match req.signed_by(secrets) {
        Ok(()) => {}
        Err(Refusal::Mismatch) => {
            return Err(match g {
                Generation::Py => denied("SignatureDoesNotMatch"),
                Generation::Rs => s3_error(
                    g,
                    403,
                    "SignatureDoesNotMatch",
                    "The request signature we calculated does not match the signature you provided.",
                    path,
                ),
            });
        }
        Err(_) => return Err(denied("Missing credentials")),
    }
    if !user.enabled {
        return Err(denied("User account is disabled"));
    }
    Ok(i)
}

/// A user as the admin API shows it: `listed` in `GET …/users`, else `GET …/users/<id>`.
fn user_json(g: Generation, u: &User, listed: bool) -> Value {
    let keys: Vec<Value> = u
        .keys
        .iter()
        .map(
            |k| json!({"access_key": k.access_key, "status": k.status, "created_at": k.created_at}),
        )
        .collect();
    let policy = |p: &Policy, with_prefix: bool| {
        let mut actions = p.actions.clone();
        if g == Generation::Py {
            actions.sort();
        }
        let mut v = json!({"bucket": p.bucket, "actions": actions});
        if with_prefix || p.prefix != "*" {
            v["prefix"] = json!(p.prefix);
        }
        v
    };
    match (g, listed) {
        (Generation::Py, true) => json!({
            "user_id": u.user_id, "display_name": u.display_name, "enabled": u.enabled,
            "expires_at": u.expires_at,
            "access_key": u.keys.first().map(|k| k.access_key.clone()),
            "access_keys": keys,
            "policies": u.policies.iter().map(|p| policy(p, false)).collect::<Vec<_>>(),
        }),
        (Generation::Rs, true) => json!({
            "user_id": u.user_id, "display_name": u.display_name, "enabled": u.enabled,
            "access_keys": keys, "policy_count": u.policies.len(),
        }),
        (_, false) => json!({
            "user_id": u.user_id, "display_name": u.display_name, "enabled": u.enabled,
            "expires_at": u.expires_at, "access_keys": keys,
            "policies": u.policies.iter().map(|p| policy(p, true)).collect::<Vec<_>>(),
        }),
    }
}

/// The admin routes, after the generation's prefix.
fn admin(st: &mut State, who: usize, method: &Method, rest: &str) -> Option<Reply> {
    let g = st.generation;
    let seg: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    let action = match (method, seg.as_slice()) {
        (&Method::GET, ["iam", "users"]) => "iam:list_users",
        (&Method::GET, ["iam", "users", _]) => "iam:get_user",
        (&Method::GET, ["iam", "users", _, "policies"]) => "iam:get_policy",
        (&Method::POST, ["iam", "users", _, "keys"]) => "iam:create_key",
        (&Method::POST, ["iam", "users", _, "access-keys"]) if g == Generation::Rs => {
            "iam:create_key"
        }
        (&Method::DELETE, ["iam", "users", _, "keys", _]) => "iam:delete_key",
        (&Method::DELETE, ["iam", "users", _, "access-keys", _]) if g == Generation::Rs => {
            "iam:delete_key"
        }
        (&Method::POST, ["iam", "users", _, "disable" | "enable"]) => "iam:disable_user",
        _ => return None,
    };
    Some(admin_do(st, who, action, &seg))
}

/// An admin route's work, once the route is known.
fn admin_do(st: &mut State, who: usize, action: &str, seg: &[&str]) -> Reply {
    let g = st.generation;
    if !State::allows(&st.users[who], action, None) {
        return admin_error(
            403,
            "AccessDenied",
            &format!("Requires {action} permission"),
        );
    }
    let ident = seg.get(2).copied().unwrap_or("");
    let not_found = || match g {
        Generation::Py => "User not found".to_string(),
        Generation::Rs => format!("User '{ident}' not found"),
    };
    // v0.5 reads iam.json as plain JSON on these paths: an encrypted file fails them all.
    let broken = g == Generation::Rs
        && st.encrypted_iam
        && matches!(
            action,
            "iam:create_key" | "iam:delete_key" | "iam:disable_user"
        );
    if broken {
        return admin_error(
            400,
            "InvalidRequest",
            "Failed to parse IAM config: expected value at line 1 column 1",
        );
    }
    match action {
        "iam:list_users" => Reply::json(
            200,
            json!({"users": st.users.iter().map(|u| user_json(g, u, true)).collect::<Vec<_>>()}),
        ),
        "iam:get_user" | "iam:get_policy" => match st.find(ident) {
            None => admin_error(404, "NotFound", &not_found()),
            Some(i) if action == "iam:get_user" => {
                Reply::json(200, user_json(g, &st.users[i], false))
            }
            Some(i) => {
                let v = user_json(g, &st.users[i], true);
                let policies = match g {
                    Generation::Py => v["policies"].clone(),
                    Generation::Rs => user_json(g, &st.users[i], false)["policies"].clone(),
                };
                Reply::json(200, json!({"policies": policies}))
            }
        },
        "iam:create_key" => match st.find(ident) {
            None => admin_error(400, "InvalidRequest", &not_found()),
            Some(i) => {
                let k = st.new_key();
                let out = json!({"access_key": k.access_key, "secret_key": k.secret_key});
                st.users[i].keys.push(k);
                Reply::json(201, out)
            }
        },
        "iam:delete_key" => {
            // Both generations act on the access key alone.
            let ak = seg.get(4).copied().unwrap_or("");
            let Some(i) = st.owner_of_key(ak) else {
                return admin_error(
                    400,
                    "InvalidRequest",
                    &match g {
                        Generation::Py => "Access key not found".to_string(),
                        Generation::Rs => format!("Access key '{ak}' not found"),
                    },
                );
            };
            if st.users[i].keys.len() == 1 {
                return admin_error(
                    400,
                    "InvalidRequest",
                    match g {
                        Generation::Py => "Cannot delete the only access key for a user",
                        Generation::Rs => "Cannot delete the last access key",
                    },
                );
            }
            st.users[i].keys.retain(|k| k.access_key != ak);
            Reply::empty(204)
        }
        _ => match st.find(ident) {
            None => admin_error(400, "InvalidRequest", "User not found"),
            Some(i) => {
                let on = seg.get(3) == Some(&"enable");
                st.users[i].enabled = on;
                Reply::json(
                    200,
                    json!({"status": if on { "enabled" } else { "disabled" }}),
                )
            }
        },
    }
}

/// A bucket name MyFSIO accepts (S3 rules).
fn valid_bucket(b: &str) -> bool {
    (3..=63).contains(&b.len())
        && b.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'.')
        && b.as_bytes()[0].is_ascii_alphanumeric()
        && b.as_bytes()[b.len() - 1].is_ascii_alphanumeric()
}

fn xml_ok(body: String) -> Reply {
    Reply::new(200, "application/xml", body)
}

/// S3: buckets, their `?quota`, `?tagging`, `?versioning` and `?versions`, and objects.
#[allow(clippy::too_many_arguments)]
fn s3(
    st: &mut State,
    who: usize,
    method: &Method,
    path: &str,
    q: &HashMap<String, String>,
    body: &[u8],
    content_type: Option<&str>,
) -> Reply {
    let g = st.generation;
    let trimmed = path.trim_start_matches('/');
    let (bucket, key) = match trimmed.split_once('/') {
        Some((b, k)) if !k.is_empty() => (b.to_string(), Some(k.to_string())),
        Some((b, _)) => (b.to_string(), None),
        None => (trimmed.to_string(), None),
    };
    let bucket = percent(&bucket);
    let key = key.map(|k| percent(&k));
    if bucket.is_empty() {
        if method != Method::GET {
            return s3_error(g, 405, "MethodNotAllowed", "Method not allowed", path);
        }
        if !State::allows(&st.users[who], "list", None) {
            return s3_error(g, 403, "AccessDenied", "Access denied", path);
        }
        let mut out = String::from("<ListAllMyBucketsResult><Buckets>");
        for b in st.buckets.keys() {
            out.push_str(&format!("<Bucket><Name>{b}</Name></Bucket>"));
        }
        out.push_str("</Buckets></ListAllMyBucketsResult>");
        return xml_ok(out);
    }
    let sub = ["quota", "tagging", "versioning", "versions", "policy"]
        .into_iter()
        .find(|s| q.contains_key(*s));
    let action = match (method, &key, sub) {
        (_, None, Some("quota")) => "quota",
        (_, None, Some("tagging")) => "tagging",
        (_, None, Some("versioning")) => "versioning",
        (_, None, Some("policy")) => "policy",
        (&Method::PUT, None, None) => "create_bucket",
        (&Method::DELETE, None, None) => "delete_bucket",
        (&Method::GET | &Method::HEAD, None, _) => "list",
        (&Method::PUT | &Method::POST, Some(_), _) => "write",
        (&Method::GET | &Method::HEAD, Some(_), _) => "read",
        (&Method::DELETE, Some(_), _) => "delete",
        _ => return s3_error(g, 405, "MethodNotAllowed", "Method not allowed", path),
    };
    if !State::allows(&st.users[who], action, Some(&bucket)) {
        return s3_error(
            g,
            403,
            "AccessDenied",
            &format!("Access denied for action '{action}' on bucket '{bucket}'"),
            path,
        );
    }
    if action == "create_bucket" {
        if !valid_bucket(&bucket) {
            return s3_error(
                g,
                400,
                "InvalidBucketName",
                "The specified bucket is not valid.",
                path,
            );
        }
        if st.buckets.contains_key(&bucket) {
            // v0.5 says "yours" whoever owns it (MyFSIO has no bucket owner).
            return match g {
                Generation::Py => {
                    s3_error(g, 409, "BucketAlreadyExists", "Bucket already exists", path)
                }
                Generation::Rs => s3_error(
                    g,
                    409,
                    "BucketAlreadyOwnedByYou",
                    "Your previous request to create the named bucket succeeded and you already own it.",
                    path,
                ),
            };
        }
        st.buckets.insert(bucket, Default::default());
        return Reply::empty(200);
    }
    if g == Generation::Py
        && method == Method::PUT
        && matches!(sub, Some("tagging" | "versioning"))
        && !content_type.is_some_and(|c| c.contains("xml"))
    {
        return s3_error(
            g,
            400,
            "InvalidRequest",
            "Content-Type must be application/xml",
            path,
        );
    }
    let Some(b) = st.buckets.get_mut(&bucket) else {
        return s3_error(g, 404, "NoSuchBucket", "Bucket does not exist", path);
    };
    match (action, method, key) {
        ("quota", &Method::GET, _) => match (g, b.quota) {
            (Generation::Rs, None) => {
                s3_error(g, 404, "NoSuchKey", "No quota configuration found", path)
            }
            (_, quota) => {
                let q = quota.unwrap_or_default();
                let (bytes, objects) = b.live_usage();
                let name = match g {
                    Generation::Py => "max_bytes",
                    Generation::Rs => "max_size_bytes",
                };
                Reply::json(
                    200,
                    json!({"quota": {name: q.max_bytes, "max_objects": q.max_objects},
                        "usage": {"bytes": bytes, "objects": objects}}),
                )
            }
        },
        ("quota", &Method::PUT, _) => match parse_quota(g, body) {
            Err((code, msg)) => s3_error(g, 400, code, &msg, path),
            Ok(q) => {
                b.quota = Some(q);
                Reply::empty(if g == Generation::Py { 204 } else { 200 })
            }
        },
        ("quota", &Method::DELETE, _) => {
            b.quota = None;
            Reply::empty(204)
        }
        ("tagging", &Method::GET, _) if b.tags.is_empty() => {
            s3_error(g, 404, "NoSuchTagSet", "The TagSet does not exist", path)
        }
        ("tagging", &Method::GET, _) => {
            let mut out = String::from("<Tagging><TagSet>");
            for (k, v) in &b.tags {
                out.push_str(&format!("<Tag><Key>{k}</Key><Value>{v}</Value></Tag>"));
            }
            out.push_str("</TagSet></Tagging>");
            xml_ok(out)
        }
        ("tagging", &Method::PUT, _) => {
            let text = String::from_utf8_lossy(body);
            let tags: Vec<(String, String)> = site_agent_sdk::xml::blocks(&text, "Tag")
                .into_iter()
                .filter_map(|t| {
                    Some((
                        site_agent_sdk::xml::leaf(t, "Key")?,
                        site_agent_sdk::xml::leaf(t, "Value").unwrap_or_default(),
                    ))
                })
                .collect();
            if tags.is_empty() && !text.contains("<TagSet") {
                return s3_error(
                    g,
                    400,
                    "MalformedXML",
                    "The XML you provided was not well-formed",
                    path,
                );
            }
            b.tags = tags;
            Reply::empty(if g == Generation::Py { 204 } else { 200 })
        }
        ("tagging", &Method::DELETE, _) => {
            b.tags.clear();
            Reply::empty(204)
        }
        ("versioning", &Method::PUT, _) => {
            let text = String::from_utf8_lossy(body);
            match site_agent_sdk::xml::leaf(&text, "Status").as_deref() {
                Some("Enabled") => b.versioning = true,
                Some("Suspended") => b.versioning = false,
                _ => return s3_error(g, 400, "MalformedXML", "no versioning status", path),
            }
            Reply::empty(200)
        }
        ("policy", &Method::GET, _) => match &b.policy {
            None => s3_error(
                g,
                404,
                "NoSuchBucketPolicy",
                "The bucket policy does not exist",
                path,
            ),
            Some(p) => Reply::new(200, "application/json", p.clone()),
        },
        ("policy", &Method::PUT, _) => {
            if serde_json::from_slice::<Value>(body).is_err() {
                return s3_error(
                    g,
                    400,
                    "MalformedPolicy",
                    "Policies must be valid JSON",
                    path,
                );
            }
            b.policy = Some(String::from_utf8_lossy(body).into_owned());
            Reply::empty(204)
        }
        ("policy", &Method::DELETE, _) => {
            b.policy = None;
            Reply::empty(204)
        }
        ("versioning", &Method::GET, _) => xml_ok(format!(
            "<VersioningConfiguration>{}</VersioningConfiguration>",
            if b.versioning {
                "<Status>Enabled</Status>"
            } else {
                ""
            }
        )),
        ("list", &Method::GET, _) if sub == Some("versions") => {
            let mut out = String::from("<ListVersionsResult><IsTruncated>false</IsTruncated>");
            for (k, (vid, size)) in &b.live {
                out.push_str(&format!("<Version><Key>{k}</Key><VersionId>{vid}</VersionId><IsLatest>true</IsLatest><Size>{size}</Size></Version>"));
            }
            for (k, vid, size) in &b.archived {
                out.push_str(&format!("<Version><Key>{k}</Key><VersionId>{vid}</VersionId><IsLatest>false</IsLatest><Size>{size}</Size></Version>"));
            }
            out.push_str("</ListVersionsResult>");
            xml_ok(out)
        }
        ("list", &Method::HEAD, _) => Reply::empty(200),
        ("list", _, _) => {
            let mut out = String::from("<ListBucketResult><IsTruncated>false</IsTruncated>");
            for (k, (_, size)) in &b.live {
                out.push_str(&format!(
                    "<Contents><Key>{k}</Key><Size>{size}</Size></Contents>"
                ));
            }
            out.push_str("</ListBucketResult>");
            xml_ok(out)
        }
        ("delete_bucket", _, _) => {
            if !b.is_empty() {
                return s3_error(
                    g,
                    409,
                    "BucketNotEmpty",
                    "The bucket you tried to delete is not empty",
                    path,
                );
            }
            st.buckets.remove(&bucket);
            Reply::empty(204)
        }
        ("write", &Method::POST, Some(_)) => s3_error(
            g,
            501,
            "NotImplemented",
            "multipart uploads are not simulated",
            path,
        ),
        ("write", _, Some(k)) => match st.put_object(&bucket, &k, body.len() as u64) {
            Ok(()) => Reply::empty(200),
            Err((status, code, msg)) => s3_error(g, status, &code, &msg, path),
        },
        ("read", m, Some(k)) => match b.live.get(&k) {
            None => s3_error(
                g,
                404,
                "NoSuchKey",
                "The specified key does not exist.",
                path,
            ),
            Some((_, size)) if m == Method::HEAD => {
                Reply::empty(200).header("x-amz-meta-size", &size.to_string())
            }
            Some((_, size)) => {
                Reply::new(200, "application/octet-stream", "x".repeat(*size as usize))
            }
        },
        ("delete", _, Some(k)) => {
            st.delete_object(&bucket, &k, q.get("versionId").map(String::as_str));
            Reply::empty(204)
        }
        _ => s3_error(g, 405, "MethodNotAllowed", "Method not allowed", path),
    }
}

/// A quota body as the generation reads it. v0.4: JSON with integers (`int()`), negatives and
/// non-numbers refused; v0.5: `as_u64`, anything else silently ignored.
fn parse_quota(g: Generation, body: &[u8]) -> Result<Quota, (&'static str, String)> {
    let v: Option<Value> = serde_json::from_slice(body).ok();
    let need = || {
        (
            "InvalidArgument",
            "At least one of max_size_bytes or max_objects is required".to_string(),
        )
    };
    match g {
        Generation::Py => {
            let Some(obj) = v
                .as_ref()
                .and_then(Value::as_object)
                .filter(|o| !o.is_empty())
            else {
                return Err((
                    "MalformedRequest",
                    "Request body must be JSON with quota limits".into(),
                ));
            };
            let field = |name: &str| -> Result<Option<u64>, (&'static str, String)> {
                match obj.get(name) {
                    None | Some(Value::Null) => Ok(None),
                    // Python's int(): a float is truncated.
                    Some(Value::Number(n)) => match n.as_i64().or_else(|| {
                        n.as_f64()
                            .filter(|f| f.is_finite())
                            .map(|f| f.trunc() as i64)
                    }) {
                        Some(i) if i < 0 => {
                            Err(("InvalidArgument", format!("{name} must be non-negative")))
                        }
                        Some(i) => Ok(Some(i as u64)),
                        None => n
                            .as_u64()
                            .map(Some)
                            .ok_or(("InvalidArgument", format!("{name} must be an integer"))),
                    },
                    Some(Value::String(s)) => s
                        .trim()
                        .parse::<i64>()
                        .ok()
                        .filter(|i| *i >= 0)
                        .map(|i| Some(i as u64))
                        .ok_or(("InvalidArgument", format!("{name} must be an integer"))),
                    Some(_) => Err(("InvalidArgument", format!("{name} must be an integer"))),
                }
            };
            let q = Quota {
                max_bytes: field("max_size_bytes")?,
                max_objects: field("max_objects")?,
            };
            if q.max_bytes.is_none() && q.max_objects.is_none() {
                return Err(need());
            }
            Ok(q)
        }
        Generation::Rs => {
            let Some(v) = v else {
                return Err(("InvalidArgument", "Request body must be valid JSON".into()));
            };
            let q = Quota {
                max_bytes: v["max_size_bytes"].as_u64(),
                max_objects: v["max_objects"].as_u64(),
            };
            if q.max_bytes.is_none() && q.max_objects.is_none() {
                return Err(need());
            }
            Ok(q)
        }
    }
}

/// Percent-decoding of a path segment.
fn percent(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}
