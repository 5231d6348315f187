//! C7 `GET /api/s3/users/{uid}/buckets`.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::CroitSim;
use super::error::ApiError;
use super::request::{self, PathResult};

/// Each bucket as `{bucket, owner, usageSum}`. `usageSum` is null for a
/// bucket that never held an object (RGW has no `rgw.main` stats for it yet),
/// which the agent must read as 0 (§2.4, §7.5).
pub(crate) async fn list_buckets(
    State(sim): State<CroitSim>,
    uid: PathResult<String>,
) -> Result<Json<Value>, ApiError> {
    let uid = request::path(uid)?;
    let st = sim.lock();
    let user = st.user(&uid)?;
    let list = user
        .buckets
        .iter()
        .map(|(name, size, objects)| {
            let usage = if *size == 0 && *objects == 0 {
                Value::Null
            } else {
                json!({ "size": size, "numObjects": objects })
            };
            json!({ "bucket": name, "owner": user.uid, "usageSum": usage })
        })
        .collect();
    Ok(Json(Value::Array(list)))
}
