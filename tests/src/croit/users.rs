//! S3 users: C1 list, C2 create, C3 delete, and suspension.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;

use super::CroitSim;
use super::error::ApiError;
use super::request::{self, BodyResult, PathResult};
use super::state::NewUser;

/// C1 `GET /api/s3/users`: every user, camelCase, keys snake_case inside.
pub(crate) async fn list_users(State(sim): State<CroitSim>) -> Json<Value> {
    let st = sim.lock();
    Json(Value::Array(
        st.users.values().map(|u| u.to_json()).collect(),
    ))
}

/// C2 `POST /api/s3/users` → 201 with the new user, which already holds one
/// auto-generated key (§6.3). The email is stored lowercased (RGW does so)
/// and must be unique among non-empty emails. `tenant` is stored and echoed
/// but does not change the uid: whether croit then addresses the user as
/// `tenant$uid` is unverified (§11 item 28).
pub(crate) async fn create_user(
    State(sim): State<CroitSim>,
    headers: HeaderMap,
    body: BodyResult,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let obj = request::json_object(&headers, body)?;
    let new = NewUser {
        uid: request::required_string(&obj, "uid")?,
        name: request::required_string(&obj, "name")?,
        email: request::optional_string(&obj, "email")?,
        tenant: request::optional_string(&obj, "tenant")?,
        default_placement: request::optional_string(&obj, "defaultPlacement")?,
        default_storage_class: request::optional_string(&obj, "defaultStorageClass")?,
    };
    let mut st = sim.lock();
    let user = st.create_user(new)?;
    Ok((StatusCode::CREATED, Json(user.to_json())))
}

/// C3 `DELETE /api/s3/users/{uid}` → 204. croit refuses a user that still
/// owns buckets with a 500 (§9); buckets are never purged.
pub(crate) async fn delete_user(
    State(sim): State<CroitSim>,
    uid: PathResult<String>,
) -> Result<StatusCode, ApiError> {
    let uid = request::path(uid)?;
    let mut st = sim.lock();
    if !st.user(&uid)?.buckets.is_empty() {
        return Err(ApiError::internal("Unable to remove user with buckets."));
    }
    st.users.remove(&uid);
    Ok(StatusCode::NO_CONTENT)
}

/// `PATCH /api/s3/users/{uid}` with `{"suspended": bool}` → 204.
///
/// **Assumption of the simulator, pending verification against a real
/// croit:** the plugin never suspends (§5.3), so no croit call for it was
/// ever recorded; this endpoint shape is a guess modelled on croit's REST
/// conventions for the other user calls.
pub(crate) async fn patch_user(
    State(sim): State<CroitSim>,
    uid: PathResult<String>,
    headers: HeaderMap,
    body: BodyResult,
) -> Result<StatusCode, ApiError> {
    let uid = request::path(uid)?;
    let obj = request::json_object(&headers, body)?;
    let suspended = request::required_bool(&obj, "suspended")?;
    let mut st = sim.lock();
    st.user_mut(&uid)?.suspended = suspended;
    Ok(StatusCode::NO_CONTENT)
}
