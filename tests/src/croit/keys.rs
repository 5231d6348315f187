//! S3 keys: generation (C2's auto key) and calls C4–C6.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::Value;

use super::CroitSim;
use super::error::ApiError;
use super::request::{self, PathResult, QueryResult};

const ACCESS_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const SECRET_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// `len` characters drawn uniformly from `alphabet` (at most 256 symbols),
/// using the OS RNG behind `uuid::Uuid::new_v4`.
fn random_string(len: usize, alphabet: &[u8]) -> String {
    let n = alphabet.len().clamp(1, 256);
    // Largest multiple of n that fits in a byte: rejection keeps it unbiased.
    let limit = 256 - 256 % n;
    let mut out = String::with_capacity(len);
    while out.len() < len {
        let bytes = uuid::Uuid::new_v4().into_bytes();
        // Bytes 6 and 8 carry the version and variant bits.
        for (i, b) in bytes.iter().enumerate() {
            if i == 6 || i == 8 || usize::from(*b) >= limit || out.len() == len {
                continue;
            }
            out.push(char::from(alphabet[usize::from(*b) % n]));
        }
    }
    out
}

/// 20 characters `A-Z0-9`, like RGW's generated access keys.
pub(crate) fn new_access_key() -> String {
    random_string(20, ACCESS_ALPHABET)
}

/// 40 alphanumeric characters, like RGW's generated secrets.
pub(crate) fn new_secret_key() -> String {
    random_string(40, SECRET_ALPHABET)
}

/// C4 `GET /api/s3/users/{uid}/keys`.
pub(crate) async fn list_keys(
    State(sim): State<CroitSim>,
    uid: PathResult<String>,
) -> Result<Json<Value>, ApiError> {
    let uid = request::path(uid)?;
    let st = sim.lock();
    Ok(Json(st.user(&uid)?.keys_json()))
}

/// C5 `PUT /api/s3/users/{uid}/keys/{accessKey}?secretKey=…` (no body).
/// Creates the key, or rewrites the secret of a key the user already holds.
pub(crate) async fn put_key(
    State(sim): State<CroitSim>,
    path: PathResult<(String, String)>,
    query: QueryResult,
) -> Result<StatusCode, ApiError> {
    let (uid, access) = request::path(path)?;
    let query = request::query(query)?;
    let secret = match query.get("secretKey") {
        Some(s) if !s.is_empty() => s.clone(),
        _ => return Err(ApiError::bad_request("'secretKey' is required")),
    };
    let mut st = sim.lock();
    st.user(&uid)?;
    if let Some(owner) = st.key_owner(&access)
        && owner != uid
    {
        return Err(ApiError::conflict("Access key already in use"));
    }
    let user = st.user_mut(&uid)?;
    match user.keys.iter_mut().find(|(a, _)| *a == access) {
        Some(key) => key.1 = secret,
        None => user.keys.push((access, secret)),
    }
    Ok(StatusCode::NO_CONTENT)
}

/// C6 `DELETE /api/s3/users/{uid}/keys/{accessKey}`. croit answers 500, not
/// 404, for a key the user does not hold (§11 item 18).
pub(crate) async fn delete_key(
    State(sim): State<CroitSim>,
    path: PathResult<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let (uid, access) = request::path(path)?;
    let mut st = sim.lock();
    let user = st.user_mut(&uid)?;
    let before = user.keys.len();
    user.keys.retain(|(a, _)| *a != access);
    if user.keys.len() == before {
        return Err(ApiError::internal("Unable to find access key"));
    }
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_have_the_rgw_shape() {
        for _ in 0..50 {
            let a = new_access_key();
            assert_eq!(a.len(), 20);
            assert!(
                a.bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            );
            let s = new_secret_key();
            assert_eq!(s.len(), 40);
            assert!(s.bytes().all(|b| b.is_ascii_alphanumeric()));
        }
        assert_ne!(new_access_key(), new_access_key());
    }
}
