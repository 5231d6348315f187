//! Secret scrubbing for any text that may reach a log, an error or Waldur.

/// Query/body parameter names whose values are secrets (compared case-insensitively).
const SECRET_NAMES: &[&str] = &[
    "secretkey",
    "secret_key",
    "secret-key",
    "api_key",
    "apikey",
    "api-key",
    "token",
    "password",
    "passcode",
    "client_secret",
    "access_token",
];

/// A URL with any password replaced, for messages (`http://user:***@proxy:3128/`).
pub fn redact_url(s: &str) -> String {
    match url::Url::parse(s) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        Err(_) if s.contains('@') => "<unparsable URL with credentials>".into(),
        Err(_) => s.to_string(),
    }
}

/// Replaces the value of every `name=value` or `"name": "value"` pair whose name is a known
/// secret name with `[REDACTED]`.
pub fn scrub_secrets(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < text.len() {
        if let Some((name_end, value_start)) = secret_name_at(text, i) {
            out.push_str(&text[i..value_start]);
            let value_end = value_end(bytes, value_start);
            if value_end > value_start {
                out.push_str("[REDACTED]");
            }
            i = value_end.max(name_end);
            continue;
        }
        let ch = text[i..].chars().next().unwrap_or(' ');
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

/// If a secret parameter name starts at `i` (on a word boundary) and is followed by `=` or
/// `": "`/`":"`, returns (end of name, start of value).
fn secret_name_at(text: &str, i: usize) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    if i > 0 {
        let prev = bytes[i - 1];
        if prev.is_ascii_alphanumeric() || prev == b'_' || prev == b'-' {
            return None;
        }
    }
    let rest = &text[i..];
    for name in SECRET_NAMES {
        if rest.len() >= name.len()
            && rest.is_char_boundary(name.len())
            && rest[..name.len()].eq_ignore_ascii_case(name)
        {
            let after = i + name.len();
            let tail = &text[after..];
            if tail.starts_with('=') {
                return Some((after, after + 1));
            }
            for sep in ["\": \"", "\":\"", ": "] {
                if tail.starts_with(sep) {
                    return Some((after, after + sep.len()));
                }
            }
        }
    }
    None
}

fn value_end(bytes: &[u8], start: usize) -> usize {
    let mut j = start;
    while j < bytes.len() && !matches!(bytes[j], b'&' | b'"' | b' ' | b',' | b'\n' | b'}' | b'\'') {
        j += 1;
    }
    j
}

#[cfg(test)]
mod tests {
    use super::scrub_secrets;

    #[test]
    fn scrubs_query_parameters() {
        assert_eq!(
            scrub_secrets("PUT /u/keys/AK?secretKey=abc/def+g&x=1"),
            "PUT /u/keys/AK?secretKey=[REDACTED]&x=1"
        );
        assert_eq!(scrub_secrets("a?Secret-Key=zz"), "a?Secret-Key=[REDACTED]");
        assert_eq!(
            scrub_secrets("token=t0k&password=pw"),
            "token=[REDACTED]&password=[REDACTED]"
        );
    }

    #[test]
    fn scrubs_json_fields() {
        assert_eq!(
            scrub_secrets(r#"{"api_key": "s3cr3t", "client_id": "AK"}"#),
            r#"{"api_key": "[REDACTED]", "client_id": "AK"}"#
        );
    }

    #[test]
    fn leaves_ordinary_text_alone() {
        let t = "Unable to remove user with buckets. tokens: 3, mytoken=keep";
        assert_eq!(scrub_secrets(t), t);
        assert_eq!(scrub_secrets("ünïcode token=x"), "ünïcode token=[REDACTED]");
    }
}
