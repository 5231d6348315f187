//! The simulator's response type and the DRF error shapes built from it.

use serde_json::{Value, json};

/// A response before it is turned into HTTP: status, optional JSON body, extra headers.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub status: u16,
    pub body: Option<Value>,
    pub headers: Vec<(String, String)>,
    /// Broker work to do after the state lock is released, before the response is sent.
    pub effects: super::events::Effects,
}

/// Handlers return `Err(reply)` for every error so `?` short-circuits.
pub(crate) type Res<T> = Result<T, Reply>;

impl Reply {
    pub fn json(status: u16, body: Value) -> Self {
        Reply {
            status,
            body: Some(body),
            headers: Vec::new(),
            effects: Default::default(),
        }
    }

    /// DRF `Response(status=...)` without data: empty body.
    pub fn empty(status: u16) -> Self {
        Reply {
            status,
            body: None,
            headers: Vec::new(),
            effects: Default::default(),
        }
    }

    pub fn detail(status: u16, msg: impl Into<String>) -> Self {
        Reply::json(status, json!({ "detail": msg.into() }))
    }

    pub fn not_found() -> Self {
        Reply::detail(404, "Not found.")
    }

    pub fn forbidden() -> Self {
        Reply::detail(403, "You do not have permission to perform this action.")
    }

    /// `StateValidator`: 409 `Valid states for operation: a, b.`
    pub fn invalid_state(valid: &[&str]) -> Self {
        Reply::detail(
            409,
            format!("Valid states for operation: {}.", valid.join(", ")),
        )
    }

    /// 400 `{"field": ["msg"]}`.
    pub fn field(field: &str, msg: impl Into<String>) -> Self {
        Reply::json(400, json!({ field: [msg.into()] }))
    }

    /// 400 `{"non_field_errors": ["msg"]}`.
    pub fn non_field(msg: impl Into<String>) -> Self {
        Reply::field("non_field_errors", msg)
    }

    pub fn with_effects(mut self, effects: super::events::Effects) -> Self {
        self.effects = effects;
        self
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }
}
