//! One request as the handlers see it: method, path, query, origin, headers and the
//! lazily parsed body (DRF parses `request.data` only when a view reads it).

use serde_json::{Map, Value};

use super::body::Form;
use super::query::Query;
use super::reply::{Reply, Res};
use super::util::parse_pairs;

#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    pub method: String,
    pub path: String,
    pub raw_query: String,
    pub query: Query,
    /// `http://host[:port]` from the Host header (absolute URLs in responses).
    pub origin: String,
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

impl Ctx {
    pub fn is_head(&self) -> bool {
        self.method == "HEAD"
    }

    fn media_type(&self) -> String {
        self.content_type
            .as_deref()
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    }

    /// DRF `request.data`: `{}` for an empty body; JSON or form bodies parsed; anything
    /// else is 415; malformed JSON is 400 `JSON parse error - …`.
    pub fn data(&self) -> Res<Value> {
        if self.body.is_empty() {
            return Ok(Value::Object(Map::new()));
        }
        let media = self.media_type();
        if media == "application/json" || media.ends_with("+json") {
            serde_json::from_slice(&self.body)
                .map_err(|e| Reply::detail(400, format!("JSON parse error - {e}")))
        } else if media == "application/x-www-form-urlencoded" {
            let raw = String::from_utf8_lossy(&self.body);
            let mut map = Map::new();
            for (k, v) in parse_pairs(&raw) {
                map.insert(k, Value::String(v));
            }
            Ok(Value::Object(map))
        } else {
            let shown = self.content_type.clone().unwrap_or_default();
            Err(Reply::detail(
                415,
                format!("Unsupported media type \"{shown}\" in request."),
            ))
        }
    }

    /// `request.data` validated as an object, ready for field checks.
    pub fn form(&self) -> Res<Form> {
        Form::new(self.data()?)
    }

    /// The body as recorded in `CallRecord`: parsed JSON (or form) or `Null`.
    pub fn recorded_body(&self) -> Value {
        if self.body.is_empty() {
            return Value::Null;
        }
        match self.data() {
            Ok(v) => v,
            Err(_) => serde_json::from_slice(&self.body).unwrap_or(Value::Null),
        }
    }

    /// `?field=a&field=b` restriction list (empty: all fields).
    pub fn fields(&self) -> Vec<&str> {
        self.query
            .all("field")
            .into_iter()
            .filter(|f| !f.is_empty())
            .collect()
    }

    /// Applies `?field=` to one serialized object.
    pub fn restrict(&self, v: Value) -> Value {
        let fields = self.fields();
        if fields.is_empty() {
            return v;
        }
        match v {
            Value::Object(map) => Value::Object(
                map.into_iter()
                    .filter(|(k, _)| fields.contains(&k.as_str()))
                    .collect(),
            ),
            other => other,
        }
    }

    /// 200 with the restricted object.
    pub fn detail(&self, v: Value) -> Reply {
        Reply::json(200, self.restrict(v))
    }
}
