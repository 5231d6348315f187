//! Validation of order input (limits) before anything reaches a backend.
//!
//! The ordered ceilings are `max_storage_limit` (GB) and `max_object_limit` (objects), read from
//! the order's `limits` and then its `attributes`; the old names `storage_limit` and
//! `object_limit` are accepted as fallbacks so old resources survive a restore.

use serde_json::{Map, Value};
use site_agent_sdk::{BucketOptions, BucketPolicy, QuotaSpec};

pub const STORAGE_KEYS: [&str; 2] = ["max_storage_limit", "storage_limit"];
pub const OBJECT_KEYS: [&str; 2] = ["max_object_limit", "object_limit"];

/// Above this a ceiling is surely a typo (1 EB); backends store sizes as signed 64-bit.
const MAX_BYTES: u128 = 1_000_000_000_000_000_000;
const MAX_OBJECTS: u64 = 1_000_000_000_000;

/// The ceilings an order asks for, in Waldur units (GB and objects).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QuotaRequest {
    pub storage_gb: Option<u64>,
    pub objects: Option<u64>,
}

impl QuotaRequest {
    pub fn is_empty(&self) -> bool {
        self.storage_gb.is_none() && self.objects.is_none()
    }

    /// These ceilings, each one not ordered (absent or 0) taken from `current`.
    pub fn merged_over(self, current: QuotaRequest) -> QuotaRequest {
        QuotaRequest {
            storage_gb: self.storage_gb.or(current.storage_gb),
            objects: self.objects.or(current.objects),
        }
    }

    /// Converts to backend units with the storage component's `unit_factor` (bytes per GB).
    pub fn to_spec(self, unit_factor: Option<f64>) -> Result<QuotaSpec, String> {
        let max_bytes = match (self.storage_gb, unit_factor) {
            (None, _) => None,
            (Some(gb), Some(f)) => {
                let bytes = (gb as f64 * f).round();
                if !(bytes.is_finite() && (bytes as u128) <= MAX_BYTES) {
                    return Err(format!(
                        "max_storage_limit {gb} GB is larger than this service allows (at most {} GB)",
                        (MAX_BYTES as f64 / f) as u64
                    ));
                }
                Some(bytes as u64)
            }
            (Some(_), None) => {
                return Err("this offering has no storage component to turn max_storage_limit into bytes; ask the service provider".into());
            }
        };
        Ok(QuotaSpec {
            max_bytes,
            max_objects: self.objects,
        })
    }
}

/// The quota ceilings become on `offering`: storage in bytes by the storage component's
/// `unit_factor`, each dimension only where the offering enforces it (`enforce_limits`).
pub fn quota_spec(
    offering: &crate::config::Offering,
    q: QuotaRequest,
) -> Result<QuotaSpec, String> {
    let factor = offering
        .storage_component()
        .and_then(|(_, c)| c.unit_factor);
    let mut spec = q.to_spec(factor)?;
    if !offering.enforces("storage") {
        spec.max_bytes = None;
    }
    if !offering.enforces("objects") {
        spec.max_objects = None;
    }
    Ok(spec)
}

impl From<crate::store::ceilings::Ceilings> for QuotaRequest {
    fn from(c: crate::store::ceilings::Ceilings) -> Self {
        QuotaRequest {
            storage_gb: c.storage_gb,
            objects: c.objects,
        }
    }
}

impl From<QuotaRequest> for crate::store::ceilings::Ceilings {
    fn from(q: QuotaRequest) -> Self {
        crate::store::ceilings::Ceilings {
            storage_gb: q.storage_gb,
            objects: q.objects,
        }
    }
}

/// Reads one ceiling: the first present key among `keys` in the first source that has one
/// (sources newest first). Zero means "not ordered"; anything but a whole non-negative number
/// is refused.
fn ceiling(
    keys: &[&str],
    sources: &[Option<&Map<String, Value>>],
    max: u64,
) -> Result<Option<u64>, String> {
    let found = sources.iter().flatten().find_map(|m| {
        keys.iter()
            .find_map(|k| m.get(*k).filter(|v| !v.is_null()).map(|v| (*k, v)))
    });
    let Some((key, value)) = found else {
        return Ok(None);
    };
    let n = match value {
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                u
            } else if n.as_i64().is_some_and(|i| i < 0) || n.as_f64().is_some_and(|f| f < 0.0) {
                return Err(format!("{key} must not be negative (got {n})"));
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                if f.is_finite() && f.fract() == 0.0 && f <= u64::MAX as f64 {
                    f as u64
                } else {
                    return Err(format!("{key} must be a whole number (got {n})"));
                }
            }
        }
        Value::String(s) => match s.trim().parse::<u64>() {
            Ok(u) => u,
            Err(_) if s.trim().parse::<f64>().is_ok_and(|f| f < 0.0) => {
                return Err(format!("{key} must not be negative (got {s:?})"));
            }
            Err(_) if s.trim().parse::<f64>().is_ok() => {
                return Err(format!("{key} must be a whole number (got {s:?})"));
            }
            Err(_) => return Err(format!("{key} must be a number (got {s:?})")),
        },
        other => return Err(format!("{key} must be a number (got {other})")),
    };
    if n > max {
        return Err(format!(
            "{key} {n} is larger than this service allows (at most {max})"
        ));
    }
    Ok((n > 0).then_some(n))
}

/// The ceilings of an order or resource from `limits`, then `attributes`, validated.
pub fn quota_request(
    limits: Option<&Map<String, Value>>,
    attributes: Option<&Map<String, Value>>,
) -> Result<QuotaRequest, String> {
    ceilings_from(&[limits, attributes])
}

/// An order's ceilings, the newest first: an options-change Update's `new_options`, then
/// `limits`, then the order form's `attributes`.
pub fn order_ceilings(order: &crate::waldur::Order) -> Result<QuotaRequest, String> {
    let new_options = order
        .attributes
        .as_ref()
        .and_then(|a| a.get("new_options"))
        .and_then(Value::as_object);
    ceilings_from(&[
        new_options,
        order.limits.as_ref(),
        order.attributes.as_ref(),
    ])
}

/// Waldur's record of a resource's ceilings, the newest first: its `options` (which
/// options-change Updates rewrite), then `limits`, then the Create's `attributes`.
pub fn resource_ceilings(resource: &crate::waldur::Resource) -> Result<QuotaRequest, String> {
    ceilings_from(&[
        resource.options.as_ref(),
        resource.limits.as_ref(),
        resource.attributes.as_ref(),
    ])
}

/// Names an order may use for each bucket option (the first is the documented one).
pub const ENCRYPTION_KEYS: [&str; 2] = ["encryption", "bucket_encryption"];
pub const VERSIONING_KEYS: [&str; 2] = ["versioning", "bucket_versioning"];
pub const POLICY_KEYS: [&str; 1] = ["bucket_policy"];
pub const OBJECT_LOCK_KEYS: [&str; 2] = ["object_lock", "object_locking"];

/// The bucket options an order asks for, the newest source first (an options-change
/// Update's `new_options`, then the order form's `attributes`); an option not named is left
/// to the backend's default.
pub fn order_options(order: &crate::waldur::Order) -> Result<BucketOptions, String> {
    let new_options = order
        .attributes
        .as_ref()
        .and_then(|a| a.get("new_options"))
        .and_then(Value::as_object);
    bucket_options(&[new_options, order.attributes.as_ref()])
}

/// The bucket options named in `sources` (the first source naming one wins), validated.
pub fn bucket_options(sources: &[Option<&Map<String, Value>>]) -> Result<BucketOptions, String> {
    let mut problems = Vec::new();
    let mut flag = |keys: &[&'static str]| match first_named(keys, sources) {
        None => None,
        Some((key, v)) => match as_flag(v) {
            Some(b) => Some(b),
            None => {
                problems.push(format!("`{key}` must be true or false, not {v}"));
                None
            }
        },
    };
    let encryption = flag(&ENCRYPTION_KEYS);
    let versioning = flag(&VERSIONING_KEYS);
    let object_lock = flag(&OBJECT_LOCK_KEYS);
    let policy = match first_named(&POLICY_KEYS, sources) {
        None => None,
        Some((key, v)) => match v.as_str().map(|s| s.trim().to_ascii_lowercase()).as_deref() {
            Some("private") => Some(BucketPolicy::Private),
            Some("public-read" | "public_read") => Some(BucketPolicy::PublicRead),
            _ => {
                problems.push(format!(
                    "`{key}` must be \"private\" or \"public-read\", not {v}"
                ));
                None
            }
        },
    };
    if !problems.is_empty() {
        return Err(problems.join("; "));
    }
    Ok(BucketOptions {
        encryption,
        versioning,
        policy,
        object_lock,
    })
}

/// The first of `keys` set (not null) in the first source that sets one.
fn first_named<'a>(
    keys: &[&'static str],
    sources: &[Option<&'a Map<String, Value>>],
) -> Option<(&'static str, &'a Value)> {
    sources.iter().flatten().find_map(|m| {
        keys.iter()
            .find_map(|k| m.get(*k).filter(|v| !v.is_null()).map(|v| (*k, v)))
    })
}

/// A yes/no as order forms send it: a JSON boolean, or the words for one.
fn as_flag(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "enabled" => Some(true),
            "false" | "no" | "off" | "disabled" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

fn ceilings_from(sources: &[Option<&Map<String, Value>>]) -> Result<QuotaRequest, String> {
    let storage = ceiling(&STORAGE_KEYS, sources, u64::MAX);
    let objects = ceiling(&OBJECT_KEYS, sources, MAX_OBJECTS);
    match (storage, objects) {
        (Ok(storage_gb), Ok(objects)) => Ok(QuotaRequest {
            storage_gb,
            objects,
        }),
        (Err(a), Err(b)) => Err(format!("{a}; {b}")),
        (Err(e), _) | (_, Err(e)) => Err(e),
    }
}

/// A Create or Restore must say how much it may store: an uncapped user bounds neither the
/// tenant nor the invoice.
pub fn require_storage_ceiling(q: &QuotaRequest) -> Result<(), String> {
    if q.storage_gb.is_none() {
        return Err("the order sets no storage ceiling: max_storage_limit (GB, a whole number above 0) is required".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn req(attrs: Value) -> Result<QuotaRequest, String> {
        quota_request(None, attrs.as_object())
    }

    fn opts(newest: Value, older: Value) -> Result<BucketOptions, String> {
        bucket_options(&[newest.as_object(), older.as_object()])
    }

    #[test]
    fn bucket_options_are_read_newest_first_and_checked() {
        assert_eq!(
            opts(json!({}), json!({})).unwrap(),
            BucketOptions::default()
        );
        let o = opts(
            json!({"versioning": "enabled", "bucket_policy": null}),
            json!({"encryption": true, "versioning": false, "bucket_policy": "Public-Read", "object_lock": "no"}),
        )
        .unwrap();
        assert_eq!(
            o,
            BucketOptions {
                encryption: Some(true),
                versioning: Some(true),
                policy: Some(BucketPolicy::PublicRead),
                object_lock: Some(false),
            }
        );
        assert_eq!(
            opts(json!({"bucket_encryption": "off"}), json!({}))
                .unwrap()
                .encryption,
            Some(false)
        );
        let e = opts(
            json!({"encryption": 1, "bucket_policy": "world"}),
            json!({}),
        )
        .unwrap_err();
        assert!(
            e.contains("`encryption` must be true or false, not 1"),
            "{e}"
        );
        assert!(
            e.contains("`bucket_policy` must be \"private\" or \"public-read\""),
            "{e}"
        );
    }

    #[test]
    fn accepts_whole_numbers_and_fallback_names() {
        assert_eq!(
            req(json!({"max_storage_limit": 100, "max_object_limit": 5000})).unwrap(),
            QuotaRequest {
                storage_gb: Some(100),
                objects: Some(5000)
            }
        );
        assert_eq!(
            req(json!({"storage_limit": "7", "object_limit": 0}))
                .unwrap()
                .storage_gb,
            Some(7)
        );
        assert_eq!(
            req(json!({"max_storage_limit": 10.0})).unwrap().storage_gb,
            Some(10)
        );
        let limits = json!({"max_storage_limit": 20});
        let attrs = json!({"max_storage_limit": 10});
        assert_eq!(
            quota_request(limits.as_object(), attrs.as_object())
                .unwrap()
                .storage_gb,
            Some(20)
        );
    }

    #[test]
    fn refuses_bad_input_with_readable_messages() {
        assert_eq!(
            req(json!({"max_storage_limit": -5})).unwrap_err(),
            "max_storage_limit must not be negative (got -5)"
        );
        assert_eq!(
            req(json!({"max_storage_limit": 10.5})).unwrap_err(),
            "max_storage_limit must be a whole number (got 10.5)"
        );
        assert_eq!(
            req(json!({"max_storage_limit": "lots"})).unwrap_err(),
            "max_storage_limit must be a number (got \"lots\")"
        );
        assert!(
            req(json!({"max_storage_limit": [1]}))
                .unwrap_err()
                .contains("must be a number")
        );
        assert!(
            req(json!({"max_object_limit": 10_000_000_000_000u64}))
                .unwrap_err()
                .contains("larger than this service allows")
        );
        let e = req(json!({"max_storage_limit": -1, "max_object_limit": "x"})).unwrap_err();
        assert!(
            e.contains("max_storage_limit") && e.contains("max_object_limit"),
            "{e}"
        );
    }

    #[test]
    fn an_update_keeps_the_ceiling_it_does_not_name() {
        let current = req(json!({"max_storage_limit": 100, "max_object_limit": 5000})).unwrap();
        let only_storage = req(json!({"max_storage_limit": 200})).unwrap();
        assert_eq!(
            only_storage.merged_over(current),
            QuotaRequest {
                storage_gb: Some(200),
                objects: Some(5000)
            }
        );
        // 0 means "not ordered", never "unlimited".
        let zero_objects = req(json!({"max_storage_limit": 50, "max_object_limit": 0})).unwrap();
        assert_eq!(zero_objects.merged_over(current).objects, Some(5000));
    }

    #[test]
    fn missing_ceiling_and_absurd_bytes() {
        let empty = req(json!({"name": "x"})).unwrap();
        assert!(
            require_storage_ceiling(&empty)
                .unwrap_err()
                .contains("max_storage_limit")
        );
        let huge = req(json!({"max_storage_limit": 9_000_000_000_000u64})).unwrap();
        assert!(
            huge.to_spec(Some(1e9))
                .unwrap_err()
                .contains("larger than this service allows")
        );
        let ok = req(json!({"max_storage_limit": 5, "max_object_limit": 10})).unwrap();
        assert_eq!(
            ok.to_spec(Some(1e9)).unwrap(),
            QuotaSpec {
                max_bytes: Some(5_000_000_000),
                max_objects: Some(10)
            }
        );
        assert!(ok.to_spec(None).is_err());
    }
}
