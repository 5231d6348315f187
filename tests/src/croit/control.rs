//! The unauthenticated `/sim/` control API for demos: inspect a user, add
//! a bucket, read the call log. Not part of croit.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::Value;

use super::error::ApiError;
use super::request::{self, PathResult};
use super::{CroitSim, SimCall, SimUser};

/// `GET /sim/users/{uid}` → the `SimUser` snapshot.
pub(crate) async fn get_user(
    State(sim): State<CroitSim>,
    uid: PathResult<String>,
) -> Result<Json<SimUser>, ApiError> {
    let uid = request::path(uid)?;
    sim.user(&uid)
        .map(Json)
        .ok_or_else(ApiError::user_not_found)
}

#[derive(Debug, Deserialize)]
struct NewBucket {
    bucket: String,
    size: u64,
    objects: u64,
}

/// `POST /sim/users/{uid}/buckets` `{bucket, size, objects}` → 204.
pub(crate) async fn add_bucket(
    State(sim): State<CroitSim>,
    uid: PathResult<String>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let uid = request::path(uid)?;
    let b: NewBucket = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("Expected {{bucket,size,objects}}: {e}")))?;
    if b.bucket.is_empty() {
        return Err(ApiError::bad_request("'bucket' must not be empty"));
    }
    sim.lock().put_bucket(&uid, &b.bucket, b.size, b.objects)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /sim/calls` → the `/api` call log, oldest first.
pub(crate) async fn calls(State(sim): State<CroitSim>) -> Json<Vec<SimCall>> {
    Json(sim.calls())
}

/// `GET /sim/users` → all uids.
pub(crate) async fn users(State(sim): State<CroitSim>) -> Json<Value> {
    Json(serde_json::json!(sim.users()))
}
