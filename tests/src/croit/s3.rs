//! A minimal S3 data plane under `/s3` (the RGW that croit manages): list objects (v2), delete
//! an object, delete an empty bucket — enough for the agent's purge of a user's data.
//!
//! Requests are presigned (query-string SigV4). The sim checks that the access key in
//! `X-Amz-Credential` belongs to the bucket's owner and that the owner is not suspended; it does
//! not verify the signature itself.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;

use super::CroitSim;

fn s3_error(status: StatusCode, code: &str, message: &str) -> Box<Response> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{message}</Message></Error>"
    );
    Box::new((status, [("content-type", "application/xml")], body).into_response())
}

/// The owner uid of `bucket` if the request's key may act on it.
fn authorize(
    sim: &CroitSim,
    bucket: &str,
    query: &HashMap<String, String>,
) -> Result<String, Box<Response>> {
    let access = query
        .get("X-Amz-Credential")
        .and_then(|c| c.split('/').next())
        .filter(|a| !a.is_empty())
        .ok_or_else(|| {
            s3_error(
                StatusCode::FORBIDDEN,
                "AccessDenied",
                "Anonymous access is forbidden",
            )
        })?;
    let st = sim.lock();
    let holder = st
        .key_owner(access)
        .ok_or_else(|| {
            s3_error(
                StatusCode::FORBIDDEN,
                "InvalidAccessKeyId",
                "The access key does not exist",
            )
        })?
        .to_string();
    if st.users.get(&holder).is_some_and(|u| u.suspended) {
        return Err(s3_error(
            StatusCode::FORBIDDEN,
            "UserSuspended",
            "The user is suspended",
        ));
    }
    match st.bucket_owner(bucket) {
        None => Err(s3_error(
            StatusCode::NOT_FOUND,
            "NoSuchBucket",
            "The specified bucket does not exist",
        )),
        Some(owner) if owner != holder => Err(s3_error(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "Access Denied",
        )),
        Some(owner) => Ok(owner.to_string()),
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

pub(crate) async fn list_objects(
    State(sim): State<CroitSim>,
    Path(bucket): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Err(r) = authorize(&sim, &bucket, &query) {
        return *r;
    }
    if query.get("list-type").map(String::as_str) != Some("2") {
        return *s3_error(
            StatusCode::BAD_REQUEST,
            "InvalidArgument",
            "only list-type=2 is simulated",
        );
    }
    let max: usize = query
        .get("max-keys")
        .and_then(|m| m.parse().ok())
        .unwrap_or(1000)
        .clamp(1, 1000);
    let start = query
        .get("continuation-token")
        .and_then(|t| t.parse::<usize>().ok())
        .unwrap_or(0);
    let st = sim.lock();
    let objects = st.objects.get(&bucket).cloned().unwrap_or_default();
    let page: Vec<_> = objects.iter().skip(start).take(max).collect();
    let truncated = start + page.len() < objects.len();
    let mut body = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">",
    );
    body.push_str(&format!(
        "<Name>{}</Name><Prefix></Prefix><KeyCount>{}</KeyCount><MaxKeys>{max}</MaxKeys><IsTruncated>{truncated}</IsTruncated>",
        xml_escape(&bucket),
        page.len()
    ));
    if truncated {
        body.push_str(&format!(
            "<NextContinuationToken>{}</NextContinuationToken>",
            start + page.len()
        ));
    }
    for (key, size) in page {
        body.push_str(&format!(
            "<Contents><Key>{}</Key><LastModified>2026-01-01T00:00:00.000Z</LastModified><ETag>\"0\"</ETag><Size>{size}</Size><StorageClass>STANDARD</StorageClass></Contents>",
            xml_escape(key)
        ));
    }
    body.push_str("</ListBucketResult>");
    (StatusCode::OK, [("content-type", "application/xml")], body).into_response()
}

pub(crate) async fn delete_object(
    State(sim): State<CroitSim>,
    Path((bucket, key)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let owner = match authorize(&sim, &bucket, &query) {
        Ok(o) => o,
        Err(r) => return *r,
    };
    let mut st = sim.lock();
    let removed = st.objects.get_mut(&bucket).and_then(|objs| {
        let i = objs.iter().position(|(k, _)| *k == key)?;
        Some(objs.remove(i))
    });
    if let Some((_, size)) = removed
        && let Some(user) = st.users.get_mut(&owner)
        && let Some(entry) = user.buckets.iter_mut().find(|(b, _, _)| *b == bucket)
    {
        entry.1 = entry.1.saturating_sub(size);
        entry.2 = entry.2.saturating_sub(1);
    }
    // S3 answers 204 whether or not the key existed.
    StatusCode::NO_CONTENT.into_response()
}

pub(crate) async fn delete_bucket(
    State(sim): State<CroitSim>,
    Path(bucket): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let owner = match authorize(&sim, &bucket, &query) {
        Ok(o) => o,
        Err(r) => return *r,
    };
    let mut st = sim.lock();
    if st.objects.get(&bucket).is_some_and(|o| !o.is_empty()) {
        return *s3_error(
            StatusCode::CONFLICT,
            "BucketNotEmpty",
            "The bucket you tried to delete is not empty",
        );
    }
    st.drop_bucket(&owner, &bucket);
    StatusCode::NO_CONTENT.into_response()
}
