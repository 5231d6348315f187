//! DRF-serializer-like validation of request bodies: field errors are collected and
//! returned together as `{"field": ["msg"]}`.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::reply::{Reply, Res};
use super::util::{parse_dt, parse_uuid, py_type};

pub(crate) const REQUIRED: &str = "This field is required.";
pub(crate) const NOT_NULL: &str = "This field may not be null.";
pub(crate) const NOT_BLANK: &str = "This field may not be blank.";

pub(crate) struct Form {
    obj: Map<String, Value>,
    errors: Map<String, Value>,
}

impl Form {
    /// The request data must be a JSON object (DRF: "Invalid data. Expected a dictionary…").
    pub fn new(data: Value) -> Res<Form> {
        match data {
            Value::Object(obj) => Ok(Form {
                obj,
                errors: Map::new(),
            }),
            other => Err(Reply::non_field(format!(
                "Invalid data. Expected a dictionary, but got {}.",
                py_type(&other)
            ))),
        }
    }

    pub fn raw(&self, key: &str) -> Option<&Value> {
        self.obj.get(key)
    }

    pub fn error(&mut self, key: &str, msg: impl Into<String>) {
        self.errors.insert(key.to_string(), json!([msg.into()]));
    }

    /// Nested error structures (lists of per-item errors, dict child errors).
    pub fn error_value(&mut self, key: &str, v: Value) {
        self.errors.insert(key.to_string(), v);
    }

    /// `CharField`: strings, and numbers coerced to strings; whitespace trimmed.
    pub fn string(&mut self, key: &str, required: bool, allow_blank: bool) -> Option<String> {
        let v = match self.obj.get(key) {
            None => {
                if required {
                    self.error(key, REQUIRED);
                }
                return None;
            }
            Some(v) => v.clone(),
        };
        let s = match v {
            Value::Null => {
                self.error(key, NOT_NULL);
                return None;
            }
            Value::String(s) => s.trim().to_string(),
            Value::Number(n) => n.to_string(),
            _ => {
                self.error(key, "Not a valid string.");
                return None;
            }
        };
        if s.is_empty() && !allow_blank {
            self.error(key, NOT_BLANK);
            return None;
        }
        Some(s)
    }

    /// Optional `CharField` with a default of `""`.
    pub fn string_or_empty(&mut self, key: &str) -> String {
        self.string(key, false, true).unwrap_or_default()
    }

    pub fn boolean(&mut self, key: &str) -> Option<bool> {
        let v = self.obj.get(key)?.clone();
        match bool_value(&v) {
            Ok(b) => Some(b),
            Err(msg) => {
                self.error(key, msg);
                None
            }
        }
    }

    /// `DictField`.
    pub fn object(&mut self, key: &str, required: bool) -> Option<Map<String, Value>> {
        match self.obj.get(key) {
            None => {
                if required {
                    self.error(key, REQUIRED);
                }
                None
            }
            Some(Value::Object(m)) => Some(m.clone()),
            Some(Value::Null) => {
                self.error(key, NOT_NULL);
                None
            }
            Some(other) => {
                let msg = format!(
                    "Expected a dictionary of items but got type \"{}\".",
                    py_type(other)
                );
                self.error(key, msg);
                None
            }
        }
    }

    /// `ListField` / `many=True`.
    pub fn list(&mut self, key: &str, required: bool) -> Option<Vec<Value>> {
        match self.obj.get(key) {
            None => {
                if required {
                    self.error(key, REQUIRED);
                }
                None
            }
            Some(Value::Array(a)) => Some(a.clone()),
            Some(Value::Null) => {
                self.error(key, NOT_NULL);
                None
            }
            Some(other) => {
                let msg = format!(
                    "Expected a list of items but got type \"{}\".",
                    py_type(other)
                );
                self.error(key, msg);
                None
            }
        }
    }

    /// `UUIDField`.
    pub fn uuid(&mut self, key: &str, required: bool) -> Option<Uuid> {
        let s = self.string(key, required, false)?;
        match parse_uuid(&s) {
            Some(u) => Some(u),
            None => {
                self.error(key, "Must be a valid UUID.");
                None
            }
        }
    }

    /// `SlugRelatedField(slug_field="uuid")`: returns the UUID; existence is checked by the caller.
    pub fn related_uuid(&mut self, key: &str, required: bool) -> Option<Uuid> {
        let s = self.string(key, required, false)?;
        match parse_uuid(&s) {
            Some(u) => Some(u),
            None => {
                self.error(key, "Invalid value.");
                None
            }
        }
    }

    /// Reports a `SlugRelatedField` that points at nothing.
    pub fn does_not_exist(&mut self, key: &str, u: &Uuid) {
        let raw = self
            .obj
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| u.simple().to_string());
        self.error(key, format!("Object with uuid={raw} does not exist."));
    }

    /// `DateTimeField`.
    pub fn datetime(&mut self, key: &str, required: bool) -> Option<DateTime<Utc>> {
        match self.obj.get(key) {
            None => {
                if required {
                    self.error(key, REQUIRED);
                }
                None
            }
            Some(Value::Null) => {
                self.error(key, NOT_NULL);
                None
            }
            Some(Value::String(s)) => match parse_dt(s) {
                Some(t) => Some(t),
                None => {
                    self.error(key, DATETIME_FORMAT);
                    None
                }
            },
            Some(_) => {
                self.error(key, DATETIME_FORMAT);
                None
            }
        }
    }

    pub fn check(&self) -> Res<()> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(Reply::json(400, Value::Object(self.errors.clone())))
        }
    }
}

pub(crate) const DATETIME_FORMAT: &str = "Datetime has wrong format. Use one of these formats instead: YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z].";

/// DRF `BooleanField` parsing.
pub(crate) fn bool_value(v: &Value) -> Result<bool, &'static str> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::Number(n) if n.as_i64() == Some(1) => Ok(true),
        Value::Number(n) if n.as_i64() == Some(0) => Ok(false),
        Value::String(s) => match s.as_str() {
            "true" | "True" | "TRUE" | "t" | "T" | "yes" | "Yes" | "YES" | "y" | "Y" | "on"
            | "On" | "ON" | "1" => Ok(true),
            "false" | "False" | "FALSE" | "f" | "F" | "no" | "No" | "NO" | "n" | "N" | "off"
            | "Off" | "OFF" | "0" => Ok(false),
            _ => Err("Must be a valid boolean."),
        },
        Value::Null => Err(NOT_NULL),
        _ => Err("Must be a valid boolean."),
    }
}
