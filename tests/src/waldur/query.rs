//! Query strings and django-filter style list filters (errors collected into one 400).

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::reply::{Reply, Res};
use super::util::{parse_date, parse_dt, parse_pairs, parse_uuid};

/// Decoded query parameters in request order (keys may repeat).
#[derive(Debug, Clone, Default)]
pub(crate) struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub fn parse(raw: &str) -> Self {
        Query {
            pairs: parse_pairs(raw),
        }
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// Django's `QueryDict.get`: the last value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn all(&self, key: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// django-filter semantics: empty values are ignored, invalid values are collected and
/// reported together as a 400 `{"param": ["msg"]}`.
pub(crate) struct Filters<'a> {
    q: &'a Query,
    errors: Map<String, Value>,
}

impl<'a> Filters<'a> {
    pub fn new(q: &'a Query) -> Self {
        Filters {
            q,
            errors: Map::new(),
        }
    }

    fn error(&mut self, key: &str, msg: String) {
        self.errors.insert(key.to_string(), json!([msg]));
    }

    fn last_non_empty(&self, key: &str) -> Option<&'a str> {
        self.q.get(key).filter(|v| !v.is_empty())
    }

    /// Non-empty exact string filter.
    pub fn string(&self, key: &str) -> Option<String> {
        self.last_non_empty(key).map(str::to_string)
    }

    pub fn uuid(&mut self, key: &str) -> Option<Uuid> {
        let raw = self.last_non_empty(key)?;
        match parse_uuid(raw) {
            Some(u) => Some(u),
            None => {
                self.error(key, "Enter a valid UUID.".to_string());
                None
            }
        }
    }

    /// Repeatable UUID filter (`offering_uuid=a&offering_uuid=b`); empty means no filter.
    pub fn uuids(&mut self, key: &str) -> Vec<Uuid> {
        let mut out = Vec::new();
        for raw in self.q.all(key).into_iter().filter(|v| !v.is_empty()) {
            match parse_uuid(raw) {
                Some(u) => out.push(u),
                None => {
                    self.error(key, "Enter a valid UUID.".to_string());
                    return Vec::new();
                }
            }
        }
        out
    }

    /// `MultipleChoiceFilter`; empty means no filter.
    pub fn choices(&mut self, key: &str, allowed: &[&str]) -> Vec<String> {
        let mut out = Vec::new();
        for raw in self.q.all(key).into_iter().filter(|v| !v.is_empty()) {
            if allowed.contains(&raw) {
                out.push(raw.to_string());
            } else {
                self.error(
                    key,
                    format!("Select a valid choice. {raw} is not one of the available choices."),
                );
                return Vec::new();
            }
        }
        out
    }

    pub fn boolean(&mut self, key: &str) -> Option<bool> {
        match self.last_non_empty(key)? {
            "true" | "True" | "1" => Some(true),
            "false" | "False" | "0" => Some(false),
            other => {
                self.error(
                    key,
                    format!("Select a valid choice. {other} is not one of the available choices."),
                );
                None
            }
        }
    }

    pub fn datetime(&mut self, key: &str) -> Option<DateTime<Utc>> {
        let raw = self.last_non_empty(key)?;
        match parse_dt(raw) {
            Some(t) => Some(t),
            None => {
                self.error(key, "Enter a valid date/time.".to_string());
                None
            }
        }
    }

    pub fn date(&mut self, key: &str) -> Option<NaiveDate> {
        let raw = self.last_non_empty(key)?;
        match parse_date(raw) {
            Some(d) => Some(d),
            None => {
                self.error(key, "Enter a valid date.".to_string());
                None
            }
        }
    }

    pub fn finish(self) -> Res<()> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(Reply::json(400, Value::Object(self.errors)))
        }
    }
}
