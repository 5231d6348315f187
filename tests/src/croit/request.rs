//! Turning raw request parts into values, with croit-style 4xx answers
//! instead of axum's plain-text rejections.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, StatusCode, header};
use serde_json::{Map, Value};

use super::error::ApiError;

pub(crate) type JsonObject = Map<String, Value>;
pub(crate) type PathResult<T> = Result<Path<T>, PathRejection>;
pub(crate) type QueryResult = Result<Query<HashMap<String, String>>, QueryRejection>;
pub(crate) type BodyResult = Result<Bytes, BytesRejection>;

/// Unwrap a path extraction, answering 400 when it fails.
pub(crate) fn path<T>(p: PathResult<T>) -> Result<T, ApiError> {
    p.map(|Path(v)| v)
        .map_err(|e| ApiError::bad_request(format!("Invalid path parameter: {e}")))
}

/// Unwrap a query extraction, answering 400 when it fails.
pub(crate) fn query(q: QueryResult) -> Result<HashMap<String, String>, ApiError> {
    q.map(|Query(v)| v)
        .map_err(|e| ApiError::bad_request(format!("Invalid query string: {e}")))
}

/// A JSON object body: `Content-Type: application/json` is required (415
/// otherwise, as a JAX-RS server answers), and the body must be an object.
pub(crate) fn json_object(headers: &HeaderMap, body: BodyResult) -> Result<JsonObject, ApiError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported Media Type",
        ));
    }
    let body = body.map_err(|e| ApiError::new(e.status(), e.body_text()))?;
    if body.is_empty() {
        return Err(ApiError::bad_request("Request body is required"));
    }
    match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(obj)) => Ok(obj),
        Ok(_) => Err(ApiError::bad_request("Request body must be a JSON object")),
        Err(e) => Err(ApiError::bad_request(format!("Malformed JSON body: {e}"))),
    }
}

/// A required, non-empty string field.
pub(crate) fn required_string(obj: &JsonObject, key: &str) -> Result<String, ApiError> {
    match obj.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(Value::String(_)) => Err(ApiError::bad_request(format!("'{key}' must not be empty"))),
        Some(Value::Null) | None => Err(ApiError::bad_request(format!("'{key}' is required"))),
        Some(_) => Err(ApiError::bad_request(format!("'{key}' must be a string"))),
    }
}

/// An optional string field (absent or null is `None`).
pub(crate) fn optional_string(obj: &JsonObject, key: &str) -> Result<Option<String>, ApiError> {
    match obj.get(key) {
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Null) | None => Ok(None),
        Some(_) => Err(ApiError::bad_request(format!("'{key}' must be a string"))),
    }
}

/// A required boolean field.
pub(crate) fn required_bool(obj: &JsonObject, key: &str) -> Result<bool, ApiError> {
    match obj.get(key) {
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::Null) | None => Err(ApiError::bad_request(format!("'{key}' is required"))),
        Some(_) => Err(ApiError::bad_request(format!("'{key}' must be a boolean"))),
    }
}
