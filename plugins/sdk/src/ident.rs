//! Identifier validation: every uid or access key is checked before it is put into a URL.
//!
//! HTTP clients resolve dot-segments, so an access key of `..` would turn "delete key" into
//! "delete user"; `?`, `#` and `/` would change the request entirely.

use crate::BackendError;

/// Checks `value` against `^[A-Za-z0-9._-]{1,255}$`, refusing `.` and `..`.
pub fn validate_identifier<'a>(what: &str, value: &'a str) -> Result<&'a str, BackendError> {
    let ok_chars = value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if value.is_empty() || value.len() > 255 || !ok_chars || value == "." || value == ".." {
        return Err(BackendError::invalid(format!(
            "{what} {value:?} is not a valid identifier: it must be 1-255 characters of A-Z, a-z, 0-9, '.', '_' or '-', and not '.' or '..'"
        )));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::validate_identifier;

    #[test]
    fn rejects_traversal_and_url_syntax() {
        for bad in [
            "../..",
            "a/../../../v2/status",
            "u?admin=1",
            "",
            "u#frag",
            "..",
            ".",
            "AKIA/",
            "a b",
        ] {
            assert!(validate_identifier("uid", bad).is_err(), "{bad:?} accepted");
        }
        assert!(validate_identifier("uid", &"a".repeat(256)).is_err());
    }

    #[test]
    fn accepts_ordinary_ids() {
        for good in [
            "cust-0-pro",
            "AKIAEXAMPLE123456789",
            "waldur-test_proje-2",
            "a.b",
        ] {
            assert_eq!(validate_identifier("uid", good).unwrap(), good);
        }
    }
}
