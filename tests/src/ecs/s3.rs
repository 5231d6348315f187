//! The S3 head of ecs-sim (a real ECS serves it on :9020/:9021): SigV4-signed requests of an
//! object user (access key = user id, any of its live secrets; a locked user is refused),
//! only on buckets the user owns. Enough S3 for what the agent and the tests do: object PUT
//! and DELETE (by version too), `ListObjectVersions`, `?versioning` and bucket DELETE.
//! Errors are S3's XML `<Error><Code>…`. Signatures are checked by signing the request again
//! with each of the user's secrets (the SDK's signer: aws-sigv4).

use super::EcsSim;
use super::state::State;
use crate::sigv4_check::{Received, Refusal};
use axum::Router;
use axum::extract::{Path, Query, Request, State as Sim};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use std::collections::HashMap;

type Q = Query<HashMap<String, String>>;

/// An S3 error answer.
struct S3Err(StatusCode, String);

impl IntoResponse for S3Err {
    fn into_response(self) -> Response {
        (self.0, [("content-type", "application/xml")], self.1).into_response()
    }
}

fn s3_error(status: StatusCode, code: &str, message: &str) -> S3Err {
    S3Err(
        status,
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{message}</Message></Error>"
        ),
    )
}

fn xml(body: String) -> Response {
    (StatusCode::OK, [("content-type", "application/xml")], body).into_response()
}

pub(super) fn router(sim: EcsSim) -> Router {
    Router::new()
        .route("/{bucket}", any(bucket_call))
        .route("/{bucket}/{*key}", any(object_call))
        .with_state(sim)
}

/// The user a request is signed by, if the signature holds for one of its live secrets.
fn signer_of(st: &State, req: &Received<'_>) -> Result<String, S3Err> {
    let denied = |m: &str| s3_error(StatusCode::FORBIDDEN, "AccessDenied", m);
    let (ak, _) = req
        .credential()
        .map_err(|_| denied("anonymous access is not allowed"))?;
    let Some(user) = st.users.get(ak) else {
        return Err(s3_error(
            StatusCode::FORBIDDEN,
            "InvalidAccessKeyId",
            "unknown access key",
        ));
    };
    if user.locked {
        return Err(denied("the user is locked"));
    }
    let live = user
        .secrets
        .iter()
        .flatten()
        .filter(|s| s.expires.is_none_or(|e| e > st.now))
        .map(|s| s.value.as_str());
    match req.signed_by(live) {
        Ok(()) => Ok(ak.to_string()),
        Err(Refusal::Undated) => Err(denied("missing x-amz-date")),
        Err(_) => Err(s3_error(
            StatusCode::FORBIDDEN,
            "SignatureDoesNotMatch",
            "the request signature does not match",
        )),
    }
}

/// Checks the signature and that the signer owns `bucket`.
fn authorise(st: &State, req: &Received<'_>, bucket: &str) -> Result<(), S3Err> {
    let user = signer_of(st, req)?;
    match st.buckets.get(bucket) {
        None => Err(s3_error(
            StatusCode::NOT_FOUND,
            "NoSuchBucket",
            "no such bucket",
        )),
        Some(b) if b.owner != user => Err(s3_error(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "not the bucket's owner",
        )),
        Some(_) => Ok(()),
    }
}

/// The request, read (at most `limit` bytes), if it is signed by the owner of `bucket`.
async fn signed_by_owner(
    sim: &EcsSim,
    req: Request,
    bucket: &str,
    limit: usize,
) -> Result<(axum::http::request::Parts, axum::body::Bytes), S3Err> {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, limit).await.map_err(|_| {
        s3_error(
            StatusCode::BAD_REQUEST,
            "MaxMessageLengthExceeded",
            "body too large",
        )
    })?;
    let uri = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let st = sim.lock();
    let p = Received {
        method: &parts.method,
        headers: &parts.headers,
        uri,
        body: &body,
    };
    authorise(&st, &p, bucket)?;
    drop(st);
    Ok((parts, body))
}

async fn bucket_call(
    Sim(sim): Sim<EcsSim>,
    Path(bucket): Path<String>,
    q: Q,
    req: Request,
) -> Response {
    let (parts, body) = match signed_by_owner(&sim, req, &bucket, 1 << 20).await {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let mut st = sim.lock();
    let b = st.buckets.get_mut(&bucket).expect("authorised");
    match (
        &parts.method,
        q.contains_key("versioning"),
        q.contains_key("versions"),
    ) {
        (&Method::PUT, true, _) => {
            let text = String::from_utf8_lossy(&body);
            let status = text
                .split("<Status>")
                .nth(1)
                .and_then(|s| s.split("</Status>").next());
            match status {
                Some("Enabled") => b.versioning = Some(true),
                Some("Suspended") => b.versioning = Some(false),
                _ => {
                    return s3_error(
                        StatusCode::BAD_REQUEST,
                        "MalformedXML",
                        "no versioning status",
                    )
                    .into_response();
                }
            }
            StatusCode::OK.into_response()
        }
        (&Method::GET, true, _) => xml(match b.versioning {
            None => "<VersioningConfiguration/>".into(),
            Some(on) => format!(
                "<VersioningConfiguration><Status>{}</Status></VersioningConfiguration>",
                if on { "Enabled" } else { "Suspended" }
            ),
        }),
        (&Method::GET, _, true) => {
            let mut out = String::from("<ListVersionsResult><IsTruncated>false</IsTruncated>");
            for (k, size) in &b.objects {
                out.push_str(&format!("<Version><Key>{k}</Key><VersionId>null</VersionId><IsLatest>true</IsLatest><Size>{size}</Size></Version>"));
            }
            for (id, (k, size)) in &b.old_versions {
                out.push_str(&format!("<Version><Key>{k}</Key><VersionId>{id}</VersionId><IsLatest>false</IsLatest><Size>{size}</Size></Version>"));
            }
            out.push_str("</ListVersionsResult>");
            xml(out)
        }
        (&Method::DELETE, false, false) => {
            if !b.is_empty() {
                return s3_error(
                    StatusCode::CONFLICT,
                    "BucketNotEmpty",
                    "The bucket you tried to delete is not empty",
                )
                .into_response();
            }
            st.buckets.remove(&bucket);
            st.metered.remove(&bucket);
            StatusCode::NO_CONTENT.into_response()
        }
        _ => s3_error(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            "ecs-sim serves only what the agent uses",
        )
        .into_response(),
    }
}

async fn object_call(
    Sim(sim): Sim<EcsSim>,
    Path((bucket, key)): Path<(String, String)>,
    q: Q,
    req: Request,
) -> Response {
    let (parts, body) = match signed_by_owner(&sim, req, &bucket, 16 << 20).await {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let mut st = sim.lock();
    match parts.method {
        Method::PUT => match st.put_object(&bucket, &key, body.len() as u64) {
            Ok(()) => StatusCode::OK.into_response(),
            Err(e) => {
                s3_error(StatusCode::FORBIDDEN, "QuotaExceeded", &e.description).into_response()
            }
        },
        Method::DELETE => {
            let b = st.buckets.get_mut(&bucket).expect("authorised");
            match q.get("versionId").map(String::as_str) {
                None | Some("null")
                    if b.versioning == Some(true) && q.get("versionId").is_none() =>
                {
                    // A plain delete in a versioned bucket keeps the data as an old version.
                    if let Some(size) = b.objects.remove(&key) {
                        let id = b.next_version_id();
                        b.old_versions.insert(id, (key, size));
                    }
                }
                None | Some("null") => {
                    b.objects.remove(&key);
                }
                Some(id) => {
                    b.old_versions.remove(id);
                }
            }
            StatusCode::NO_CONTENT.into_response()
        }
        _ => s3_error(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            "ecs-sim serves only what the agent uses",
        )
        .into_response(),
    }
}
