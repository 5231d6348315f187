//! Checking the `Authorization` header against the configured credential.

use axum::http::{HeaderMap, header};

use super::CroitAuth;

/// Decode standard base64 (padding optional); `None` if malformed.
fn base64_decode(input: &str) -> Option<Vec<u8>> {
    fn sextet(c: u8) -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some(u32::from(c - b'A')),
            b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let trimmed = input.trim_end_matches('=');
    if input.len() - trimmed.len() > 2 || trimmed.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(trimmed.len() * 3 / 4);
    for chunk in trimmed.as_bytes().chunks(4) {
        let mut acc = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            acc |= sextet(*c)? << (18 - 6 * i);
        }
        let bytes = acc.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Some(out)
}

/// Split `Scheme credentials` (scheme case-insensitive).
fn scheme<'a>(value: &'a str, name: &str) -> Option<&'a str> {
    let (s, rest) = value.split_once(' ')?;
    s.eq_ignore_ascii_case(name).then(|| rest.trim())
}

/// Whether the request carries exactly the configured credential. A Bearer
/// token does not satisfy Basic, nor the other way round.
pub(crate) fn authorized(auth: &CroitAuth, headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    match auth {
        CroitAuth::Bearer(token) => scheme(value, "Bearer").is_some_and(|t| t == token),
        CroitAuth::Basic { username, password } => scheme(value, "Basic")
            .and_then(base64_decode)
            .and_then(|raw| String::from_utf8(raw).ok())
            .is_some_and(|pair| {
                pair.split_once(':')
                    .is_some_and(|(u, p)| u == username && p == password)
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(header::AUTHORIZATION, v);
        }
        h
    }

    #[test]
    fn decodes_base64() {
        assert_eq!(base64_decode("YWRtaW46czNjcjN0").unwrap(), b"admin:s3cr3t");
        assert_eq!(base64_decode("YQ==").unwrap(), b"a");
        assert_eq!(base64_decode("YWI=").unwrap(), b"ab");
        assert_eq!(base64_decode("YWI").unwrap(), b"ab");
        assert!(base64_decode("Y").is_none());
        assert!(base64_decode("Y!==").is_none());
    }

    #[test]
    fn checks_each_scheme() {
        let bearer = CroitAuth::Bearer("tok".into());
        assert!(authorized(&bearer, &headers("Bearer tok")));
        assert!(authorized(&bearer, &headers("bearer tok")));
        assert!(!authorized(&bearer, &headers("Bearer tok2")));
        assert!(!authorized(&bearer, &headers("Basic dG9r")));
        assert!(!authorized(&bearer, &HeaderMap::new()));

        let basic = CroitAuth::Basic {
            username: "admin".into(),
            password: "s3cr3t".into(),
        };
        assert!(authorized(&basic, &headers("Basic YWRtaW46czNjcjN0")));
        // admin:wrong
        assert!(!authorized(&basic, &headers("Basic YWRtaW46d3Jvbmc=")));
        assert!(!authorized(&basic, &headers("Bearer s3cr3t")));
    }
}
