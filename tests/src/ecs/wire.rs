//! ECS's two representations: XML unless the client sends `Accept: application/json`, and
//! request bodies in either form (element names as in the reference, §3.1). Errors are always
//! JSON `{code, retryable, description, details}` (the XML form of errors is unverified).

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// An error answered the way ECS answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcsError {
    pub status: StatusCode,
    pub code: u32,
    pub retryable: bool,
    pub description: String,
}

impl EcsError {
    pub fn new(status: StatusCode, code: u32, description: impl Into<String>) -> Self {
        Self {
            status,
            code,
            retryable: false,
            description: description.into(),
        }
    }
    /// 1004 "Request parameter cannot be found" (what ECS answers for a missing object).
    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, 1004, what)
    }
    /// 1013 "Bad request body".
    pub fn bad_body(what: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, 1013, what)
    }
    /// 4000 "Invalid credentials or authentication token".
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            4000,
            "Invalid credentials or authentication token",
        )
    }
    pub fn unavailable() -> Self {
        Self {
            retryable: true,
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, 6000, "Service unavailable")
        }
    }
}

impl IntoResponse for EcsError {
    fn into_response(self) -> Response {
        let body = json!({
            "code": self.code,
            "retryable": self.retryable,
            "description": self.description,
            "details": self.description,
        });
        (self.status, axum::Json(body)).into_response()
    }
}

/// Whether the client asked for JSON.
pub fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

/// A success body in the representation the client asked for; `root` names the XML root.
pub fn reply(headers: &HeaderMap, root: &str, body: Value) -> Response {
    if wants_json(headers) {
        (StatusCode::OK, axum::Json(body)).into_response()
    } else {
        let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>");
        element(&mut xml, root, &body);
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/xml")],
            xml,
        )
            .into_response()
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn element(out: &mut String, name: &str, v: &Value) {
    match v {
        Value::Array(items) => {
            for i in items {
                element(out, name, i);
            }
        }
        Value::Object(m) => {
            out.push_str(&format!("<{name}>"));
            for (k, v) in m {
                element(out, k, v);
            }
            out.push_str(&format!("</{name}>"));
        }
        Value::Null => out.push_str(&format!("<{name}/>")),
        Value::String(s) => out.push_str(&format!("<{name}>{}</{name}>", escape(s))),
        other => out.push_str(&format!("<{name}>{other}</{name}>")),
    }
}

/// A request body as a JSON object: JSON when it says so (or starts with `{`), else XML, whose
/// root element is dropped and whose leaves become strings (repeated elements an array).
pub fn body(headers: &HeaderMap, raw: &[u8]) -> Result<Map<String, Value>, EcsError> {
    let text = std::str::from_utf8(raw).map_err(|_| EcsError::bad_body("body is not UTF-8"))?;
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"))
        || text.trim_start().starts_with('{');
    if is_json {
        return match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(m)) => Ok(m),
            _ => Err(EcsError::bad_body("Bad request body: not a JSON object")),
        };
    }
    let mut p = XmlParser {
        s: text.trim().trim_start_matches(|c| c != '<').as_bytes(),
        i: 0,
    };
    p.skip_prolog();
    match p.element() {
        Some((_, Value::Object(m))) => Ok(m),
        Some((_, _)) => Ok(Map::new()),
        None => Err(EcsError::bad_body("Bad request body: not XML")),
    }
}

/// Just enough XML for ECS request bodies: elements, text, no attributes that matter.
struct XmlParser<'a> {
    s: &'a [u8],
    i: usize,
}

impl XmlParser<'_> {
    fn skip_ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn skip_prolog(&mut self) {
        self.skip_ws();
        while self.s[self.i..].starts_with(b"<?") {
            match find(&self.s[self.i..], b"?>") {
                Some(n) => self.i += n + 2,
                None => return,
            }
            self.skip_ws();
        }
    }

    /// `<name ...>children or text</name>` or `<name/>`.
    fn element(&mut self) -> Option<(String, Value)> {
        self.skip_ws();
        if self.s.get(self.i) != Some(&b'<') {
            return None;
        }
        let end = self.i + find(&self.s[self.i..], b">")?;
        let tag = std::str::from_utf8(&self.s[self.i + 1..end]).ok()?;
        let self_closing = tag.ends_with('/');
        let name = tag
            .trim_end_matches('/')
            .split_whitespace()
            .next()?
            .to_string();
        self.i = end + 1;
        if self_closing {
            return Some((name, Value::String(String::new())));
        }
        let close = format!("</{name}>");
        self.skip_ws();
        if self.s[self.i..].starts_with(b"<") && !self.s[self.i..].starts_with(b"</") {
            let mut m = Map::new();
            while !self.s[self.i..].starts_with(close.as_bytes()) {
                let (k, v) = self.element()?;
                match m.get_mut(&k) {
                    Some(Value::Array(a)) => a.push(v),
                    Some(prev) => {
                        let first = prev.take();
                        *prev = Value::Array(vec![first, v]);
                    }
                    None => {
                        m.insert(k, v);
                    }
                }
                self.skip_ws();
            }
            self.i += close.len();
            Some((name, Value::Object(m)))
        } else {
            let n = find(&self.s[self.i..], close.as_bytes())?;
            let text = std::str::from_utf8(&self.s[self.i..self.i + n]).ok()?;
            self.i += n + close.len();
            let text = text
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&amp;", "&");
            Some((name, Value::String(text)))
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A field as a string (JSON string, number or bool; XML text).
pub fn text(m: &Map<String, Value>, key: &str) -> Option<String> {
    match m.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A required field.
pub fn required(m: &Map<String, Value>, key: &str) -> Result<String, EcsError> {
    text(m, key).filter(|s| !s.is_empty()).ok_or_else(|| {
        EcsError::new(
            StatusCode::BAD_REQUEST,
            1004,
            format!("Request parameter cannot be found: {key}"),
        )
    })
}

/// An integer field (JSON number or XML text).
pub fn int(m: &Map<String, Value>, key: &str) -> Result<Option<i64>, EcsError> {
    match text(m, key) {
        None => Ok(None),
        Some(s) => {
            s.trim().parse::<i64>().map(Some).map_err(|_| {
                EcsError::bad_body(format!("Bad request body: {key} must be an integer"))
            })
        }
    }
}

/// A boolean field (`true`/`false` in either form).
pub fn flag(m: &Map<String, Value>, key: &str) -> Result<Option<bool>, EcsError> {
    match text(m, key).as_deref() {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(other) => Err(EcsError::bad_body(format!(
            "Bad request body: {key} must be true or false, not {other:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_bodies_parse_like_json_ones() {
        let h = HeaderMap::new();
        let m = body(
            &h,
            br#"<?xml version="1.0"?><user_create_param><user>u1</user><namespace>ns</namespace><tags><tag><name>stamp</name><value>w</value></tag></tags></user_create_param>"#,
        )
        .unwrap();
        assert_eq!(text(&m, "user").as_deref(), Some("u1"));
        assert_eq!(m["tags"]["tag"]["name"], "stamp");
        let m = body(&h, br#"{"user": "u2", "isLocked": true}"#).unwrap();
        assert_eq!(flag(&m, "isLocked").unwrap(), Some(true));
        assert!(body(&h, b"<a><b>x</a>").is_err());
    }
}
