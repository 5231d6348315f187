//! C8 `PUT /api/s3/users/{uid}/quota` and C9 `PUT …/bucket-quota` (§5).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;

use super::error::ApiError;
use super::request::{self, BodyResult, JsonObject, PathResult};
use super::{CroitSim, SimQuota};

/// "Unlimited", as croit stores and reports an omitted dimension.
const UNLIMITED: i64 = -1;

/// Which of the user's two quotas a call writes.
#[derive(Debug, Clone, Copy)]
enum Scope {
    User,
    Bucket,
}

/// One quota dimension. Absent means unlimited (-1). The simulator is
/// stricter than "whatever croit tolerates" on `null`: the agent's contract
/// is to *omit* an unordered dimension (§2.3), so a `null` is refused (400).
fn dimension(obj: &JsonObject, key: &str) -> Result<i64, ApiError> {
    match obj.get(key) {
        None => Ok(UNLIMITED),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(v) if v >= UNLIMITED => Ok(v),
            Some(_) => Err(ApiError::bad_request(format!(
                "'{key}' must be -1 or a non-negative integer"
            ))),
            None => Err(ApiError::bad_request(format!("'{key}' must be an integer"))),
        },
        Some(_) => Err(ApiError::bad_request(format!("'{key}' must be an integer"))),
    }
}

/// croit stores sizes in KB: a byte count reads back rounded up to the next
/// KiB (5,000,000,000 → 5,000,000,512). -1 stays -1.
pub(crate) fn round_up_to_kib(bytes: i64) -> Result<i64, ApiError> {
    if bytes < 0 {
        return Ok(bytes);
    }
    let kib = bytes / 1024 + i64::from(bytes % 1024 != 0);
    kib.checked_mul(1024)
        .ok_or_else(|| ApiError::bad_request("'maxSize' is out of range"))
}

/// Parse a C8/C9 body `{enabled, maxSize?, maxObjects?}` into what croit
/// would read back.
pub(crate) fn parse_quota(obj: &JsonObject) -> Result<SimQuota, ApiError> {
    let enabled = request::required_bool(obj, "enabled")?;
    let max_size = round_up_to_kib(dimension(obj, "maxSize")?)?;
    let max_objects = dimension(obj, "maxObjects")?;
    Ok(SimQuota {
        enabled,
        max_size,
        max_objects,
    })
}

async fn put_quota(
    sim: CroitSim,
    scope: Scope,
    uid: PathResult<String>,
    headers: HeaderMap,
    body: BodyResult,
) -> Result<StatusCode, ApiError> {
    let uid = request::path(uid)?;
    let obj = request::json_object(&headers, body)?;
    let quota = parse_quota(&obj)?;
    let mut st = sim.lock();
    let user = st.user_mut(&uid)?;
    match scope {
        Scope::User => user.user_quota = quota,
        Scope::Bucket => user.bucket_quota = quota,
    }
    Ok(StatusCode::NO_CONTENT)
}

/// C8: the aggregate quota over all of the user's buckets → 204.
pub(crate) async fn put_user_quota(
    State(sim): State<CroitSim>,
    uid: PathResult<String>,
    headers: HeaderMap,
    body: BodyResult,
) -> Result<StatusCode, ApiError> {
    put_quota(sim, Scope::User, uid, headers, body).await
}

/// C9: the per-bucket quota → 204.
pub(crate) async fn put_bucket_quota(
    State(sim): State<CroitSim>,
    uid: PathResult<String>,
    headers: HeaderMap,
    body: BodyResult,
) -> Result<StatusCode, ApiError> {
    put_quota(sim, Scope::Bucket, uid, headers, body).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> JsonObject {
        match v {
            Value::Object(o) => o,
            _ => JsonObject::new(),
        }
    }

    #[test]
    fn sizes_round_up_to_kib() {
        assert_eq!(round_up_to_kib(5_000_000_000), Ok(5_000_000_512));
        assert_eq!(round_up_to_kib(0), Ok(0));
        assert_eq!(round_up_to_kib(1), Ok(1024));
        assert_eq!(round_up_to_kib(1024), Ok(1024));
        assert_eq!(round_up_to_kib(1025), Ok(2048));
        assert_eq!(round_up_to_kib(-1), Ok(-1));
        assert!(round_up_to_kib(i64::MAX).is_err());
    }

    #[test]
    fn omitted_dimensions_are_unlimited() {
        let q = parse_quota(&obj(json!({"enabled": true, "maxObjects": 10}))).unwrap();
        assert_eq!(
            q,
            SimQuota {
                enabled: true,
                max_size: -1,
                max_objects: 10
            }
        );
    }

    #[test]
    fn bad_bodies_are_refused() {
        for body in [
            json!({"maxSize": 1}),
            json!({"enabled": "true"}),
            json!({"enabled": true, "maxSize": -2}),
            json!({"enabled": true, "maxSize": 1.5}),
            json!({"enabled": true, "maxSize": "1"}),
            json!({"enabled": true, "maxObjects": null}),
            json!({"enabled": true, "maxObjects": u64::MAX}),
        ] {
            let err = parse_quota(&obj(body.clone())).unwrap_err();
            assert_eq!(err.status, StatusCode::BAD_REQUEST, "{body}");
        }
    }
}
