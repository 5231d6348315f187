//! The ECS calls the backend makes, typed (reference `other-backends.md` §3.2). Every
//! identifier is validated before it reaches a path; every call names the namespace.

use crate::client::EcsClient;
use reqwest::Method;
use secrecy::SecretString;
use serde_json::{Value, json};
use site_agent_sdk::{BackendError, BucketPolicy, ErrorKind, validate_identifier};

/// The tag that holds the ownership stamp on an object user.
pub const STAMP_TAG: &str = "waldur-stamp";
pub const GIB: u64 = 1 << 30;

/// An object user as ECS describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcsUser {
    pub locked: bool,
    pub tags: Vec<(String, String)>,
}

impl EcsUser {
    pub fn stamp(&self) -> Option<&str> {
        self.tags
            .iter()
            .find(|(k, _)| k == STAMP_TAG)
            .map(|(_, v)| v.as_str())
    }
}

/// A bucket as ECS describes it (quota in whole GB, -1 unset).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcsBucket {
    pub owner: String,
    pub block_size: i64,
    pub notification_size: i64,
    pub encryption: bool,
}

/// What metering last measured of a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metered {
    pub bytes: u64,
    pub objects: u64,
    /// Unix seconds of the metering sample (not the agent's clock).
    pub sample_time: i64,
}

/// ECS quotas are whole GB (GiB): the ceiling is rounded **down**, so ECS never allows more
/// than ordered; below 1 GB nothing can be expressed.
pub fn quota_gb(max_bytes: u64) -> Result<i64, BackendError> {
    let gb = max_bytes / GIB;
    if gb == 0 {
        return Err(BackendError::invalid(format!(
            "a storage ceiling of {max_bytes} bytes is below ECS's smallest quota (1 GB)"
        )));
    }
    Ok(gb as i64)
}

/// `None` for a not-found answer.
fn found<T>(r: Result<T, BackendError>) -> Result<Option<T>, BackendError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn str_of(v: &Value, k: &str) -> String {
    match &v[k] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => String::new(),
    }
}

fn int_of(v: &Value, k: &str) -> i64 {
    str_of(v, k).parse().unwrap_or(-1)
}

pub struct EcsApi {
    pub client: EcsClient,
    pub namespace: String,
    pub replication_group: Option<String>,
}

impl EcsApi {
    /// Proves the API answers and the management user's token works.
    pub async fn whoami(&self) -> Result<(), BackendError> {
        self.client
            .call("ECS whoami", Method::GET, "/user/whoami", &[], None)
            .await
            .map(|_| ())
    }

    pub async fn create_user(&self, uid: &str, stamp: &str) -> Result<(), BackendError> {
        let uid = validate_identifier("ECS object user", uid)?;
        let body = json!({"user": uid, "namespace": self.namespace,
                          "tags": [{"name": STAMP_TAG, "value": stamp}]});
        self.client
            .call(
                "ECS create user",
                Method::POST,
                "/object/users",
                &[],
                Some(&body),
            )
            .await
            .map(|_| ())
    }

    pub async fn user(&self, uid: &str) -> Result<Option<EcsUser>, BackendError> {
        let uid = validate_identifier("ECS object user", uid)?;
        let info = found(
            self.client
                .call(
                    "ECS user info",
                    Method::GET,
                    &format!("/object/users/{uid}/info"),
                    &[("namespace", &self.namespace)],
                    None,
                )
                .await,
        )?;
        Ok(info.map(|v| EcsUser {
            locked: v["locked"] == json!(true) || v["locked"] == json!("true"),
            tags: v["tags"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|t| (str_of(t, "name"), str_of(t, "value")))
                        .collect()
                })
                .unwrap_or_default(),
        }))
    }

    pub async fn set_locked(&self, uid: &str, locked: bool) -> Result<(), BackendError> {
        let uid = validate_identifier("ECS object user", uid)?;
        let body = json!({"user": uid, "namespace": self.namespace, "isLocked": locked});
        self.client
            .call(
                "ECS lock user",
                Method::PUT,
                "/object/users/lock",
                &[],
                Some(&body),
            )
            .await
            .map(|_| ())
    }

    /// Removes the user; an absent one is success.
    pub async fn delete_user(&self, uid: &str) -> Result<(), BackendError> {
        let uid = validate_identifier("ECS object user", uid)?;
        let body = json!({"user": uid, "namespace": self.namespace});
        found(
            self.client
                .call(
                    "ECS delete user",
                    Method::POST,
                    "/object/users/deactivate",
                    &[],
                    Some(&body),
                )
                .await,
        )
        .map(|_| ())
    }

    /// The user's secrets (ECS reads them back).
    pub async fn secrets(&self, uid: &str) -> Result<Vec<SecretString>, BackendError> {
        let uid = validate_identifier("ECS object user", uid)?;
        let v = self
            .client
            .call(
                "ECS read secrets",
                Method::GET,
                &format!("/object/user-secret-keys/{uid}/{}", self.namespace),
                &[],
                None,
            )
            .await?;
        Ok((1..=2)
            .filter_map(|n| {
                let s = str_of(&v, &format!("secret_key_{n}"));
                (!s.is_empty()).then(|| SecretString::from(s))
            })
            .collect())
    }

    /// Adds a secret (the proposed one); at most two per user (`LimitReached` for a third).
    pub async fn add_secret(&self, uid: &str, secret: &SecretString) -> Result<(), BackendError> {
        let uid = validate_identifier("ECS object user", uid)?;
        let body = json!({"namespace": self.namespace,
                          "secretkey": secrecy::ExposeSecret::expose_secret(secret)});
        self.client
            .call(
                "ECS add secret",
                Method::POST,
                &format!("/object/user-secret-keys/{uid}"),
                &[],
                Some(&body),
            )
            .await
            .map(|_| ())
    }

    /// Deletes one secret, named by its value (the access key is the user for both).
    pub async fn delete_secret(
        &self,
        uid: &str,
        secret: &SecretString,
    ) -> Result<(), BackendError> {
        let uid = validate_identifier("ECS object user", uid)?;
        let body = json!({"namespace": self.namespace,
                          "secret_key": secrecy::ExposeSecret::expose_secret(secret)});
        found(
            self.client
                .call(
                    "ECS delete secret",
                    Method::POST,
                    &format!("/object/user-secret-keys/{uid}/deactivate"),
                    &[],
                    Some(&body),
                )
                .await,
        )
        .map(|_| ())
    }

    /// Creates a bucket owned by `owner`, with `quota_gb` as block and notification size
    /// where given (else none: the caller applies the ceiling before the owner has a key).
    pub async fn create_bucket(
        &self,
        name: &str,
        owner: &str,
        quota_gb: Option<i64>,
        encryption: bool,
    ) -> Result<(), BackendError> {
        let name = validate_identifier("bucket", name)?;
        let mut body = json!({"name": name, "namespace": self.namespace, "owner": owner,
            "head_type": "s3", "is_encryption_enabled": encryption,
            "filesystem_enabled": false, "is_stale_allowed": false});
        if let Some(gb) = quota_gb {
            body["blockSize"] = json!(gb);
            body["notificationSize"] = json!(gb);
        }
        if let Some(rg) = &self.replication_group {
            body["vpool"] = json!(rg);
        }
        self.client
            .call(
                "ECS create bucket",
                Method::POST,
                "/object/bucket",
                &[],
                Some(&body),
            )
            .await
            .map(|_| ())
    }

    /// The namespace's buckets owned by `owner` (names), every page.
    pub async fn buckets_of(&self, owner: &str) -> Result<Vec<String>, BackendError> {
        Ok(self
            .buckets_by_owner()
            .await?
            .remove(owner)
            .unwrap_or_default())
    }

    /// Every bucket of the namespace by its owner, every page (one listing serves a pass).
    pub async fn buckets_by_owner(
        &self,
    ) -> Result<std::collections::HashMap<String, Vec<String>>, BackendError> {
        let mut out: std::collections::HashMap<String, Vec<String>> = Default::default();
        let mut marker = String::new();
        // Bounded: a listing that never ends is an ECS fault, not a reason to spin.
        for _ in 0..1000 {
            let mut q = vec![("namespace", self.namespace.as_str()), ("limit", "1000")];
            if !marker.is_empty() {
                q.push(("marker", marker.as_str()));
            }
            let v = self
                .client
                .call("ECS list buckets", Method::GET, "/object/bucket", &q, None)
                .await?;
            let list = match &v["object_bucket"] {
                Value::Array(a) => a.clone(),
                Value::Object(_) => vec![v["object_bucket"].clone()],
                _ => Vec::new(),
            };
            for b in &list {
                out.entry(str_of(b, "owner"))
                    .or_default()
                    .push(str_of(b, "name"));
            }
            let next = str_of(&v, "NextMarker");
            if next.is_empty() || next == marker {
                return Ok(out);
            }
            marker = next;
        }
        Err(BackendError::unexpected(
            "ECS's bucket listing did not end after 1000 pages",
        ))
    }

    pub async fn bucket(&self, name: &str) -> Result<Option<EcsBucket>, BackendError> {
        let name = validate_identifier("bucket", name)?;
        let v = found(
            self.client
                .call(
                    "ECS bucket info",
                    Method::GET,
                    &format!("/object/bucket/{name}/info"),
                    &[("namespace", &self.namespace)],
                    None,
                )
                .await,
        )?;
        Ok(v.map(|v| EcsBucket {
            owner: str_of(&v, "owner"),
            block_size: int_of(&v, "block_size"),
            notification_size: int_of(&v, "notification_size"),
            encryption: v["is_encryption_enabled"] == json!(true),
        }))
    }

    pub async fn set_bucket_quota(&self, name: &str, quota_gb: i64) -> Result<(), BackendError> {
        let name = validate_identifier("bucket", name)?;
        let body = json!({"blockSize": quota_gb, "notificationSize": quota_gb, "namespace": self.namespace});
        self.client
            .call(
                "ECS bucket quota",
                Method::PUT,
                &format!("/object/bucket/{name}/quota"),
                &[],
                Some(&body),
            )
            .await
            .map(|_| ())
    }

    /// The bucket's policy as an option: none is private (a `GET` answering 204, 404 or an
    /// empty body all mean "no policy", reference §3.2); one granting `s3:GetObject` to
    /// everyone is public-read; any other policy (an operator's own) reads as private.
    pub async fn policy(&self, name: &str) -> Result<BucketPolicy, BackendError> {
        let name = validate_identifier("bucket", name)?;
        let v = found(
            self.client
                .call(
                    "ECS read bucket policy",
                    Method::GET,
                    &format!("/object/bucket/{name}/policy"),
                    &[("namespace", &self.namespace)],
                    None,
                )
                .await,
        )?
        .unwrap_or(Value::Null);
        Ok(if grants_public_read(&v, name) {
            BucketPolicy::PublicRead
        } else {
            BucketPolicy::Private
        })
    }

    /// Sets the policy option: public-read writes the policy, private deletes any (ECS refuses
    /// a `PUT {}`: "Missing required field Statement").
    pub async fn set_policy(&self, name: &str, policy: BucketPolicy) -> Result<(), BackendError> {
        let name = validate_identifier("bucket", name)?;
        let path = format!("/object/bucket/{name}/policy");
        let q = [("namespace", self.namespace.as_str())];
        match policy {
            BucketPolicy::PublicRead => self
                .client
                .call(
                    "ECS set bucket policy",
                    Method::PUT,
                    &path,
                    &q,
                    Some(&public_read(name)),
                )
                .await
                .map(|_| ()),
            BucketPolicy::Private => found(
                self.client
                    .call("ECS delete bucket policy", Method::DELETE, &path, &q, None)
                    .await,
            )
            .map(|_| ()),
        }
    }

    /// Deletes an empty bucket; an absent one is success, one with objects `NotEmpty`.
    pub async fn delete_bucket(&self, name: &str) -> Result<(), BackendError> {
        let name = validate_identifier("bucket", name)?;
        found(
            self.client
                .call(
                    "ECS delete bucket",
                    Method::POST,
                    &format!("/object/bucket/{name}/deactivate"),
                    &[("namespace", &self.namespace)],
                    None,
                )
                .await,
        )
        .map(|_| ())
    }

    /// What metering last saw of the bucket, in bytes (asked in KB, ECS's finest unit).
    pub async fn metered(&self, name: &str) -> Result<Metered, BackendError> {
        let name = validate_identifier("bucket", name)?;
        let v = self
            .client
            .call(
                "ECS bucket billing",
                Method::GET,
                &format!("/object/billing/buckets/{}/{name}/info", self.namespace),
                &[("sizeunit", "KB")],
                None,
            )
            .await?;
        let unit = str_of(&v, "total_size_unit");
        if unit != "KB" {
            return Err(BackendError::unexpected(format!(
                "ECS billing answered in {unit:?}, not the KB asked for"
            )));
        }
        // A whole number of KB, or a decimal one (ECS's own rounding is not documented).
        let size = str_of(&v, "total_size");
        let kb: f64 = size.parse().map_err(|_| {
            BackendError::unexpected(format!("ECS billing total_size {size:?} is not a number"))
        })?;
        if !(kb.is_finite() && kb >= 0.0) {
            return Err(BackendError::unexpected(format!(
                "ECS billing total_size {size:?} is not a size"
            )));
        }
        let sample = str_of(&v, "sample_time");
        let sample_time = chrono_parse(&sample).ok_or_else(|| {
            BackendError::unexpected(format!(
                "ECS billing has no readable sample_time ({sample:?})"
            ))
        })?;
        Ok(Metered {
            bytes: (kb * 1024.0).floor() as u64,
            objects: str_of(&v, "total_objects").parse().unwrap_or(0),
            sample_time,
        })
    }
}

/// The policy that makes a bucket's objects readable by anyone.
fn public_read(bucket: &str) -> Value {
    json!({"Version": "2012-10-17", "Statement": [{"Sid": "waldur-public-read", "Effect": "Allow",
        "Principal": "*", "Action": ["s3:GetObject"], "Resource": [format!("arn:aws:s3:::{bucket}/*")]}]})
}

/// Whether a policy (as ECS returns it, maybe reformatted) lets anyone read the bucket's
/// objects: a statement allowing `s3:GetObject` to `*` on `bucket/*`.
fn grants_public_read(policy: &Value, bucket: &str) -> bool {
    let list = |v: &Value| -> Vec<String> {
        match v {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a
                .iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        }
    };
    let statements = match &policy["Statement"] {
        Value::Array(a) => a.clone(),
        s @ Value::Object(_) => vec![s.clone()],
        _ => Vec::new(),
    };
    let objects = format!("arn:aws:s3:::{bucket}/*");
    statements.iter().any(|st| {
        let anyone = match &st["Principal"] {
            Value::String(p) => p == "*",
            p @ Value::Object(_) => list(&p["AWS"]).iter().any(|a| a == "*"),
            _ => false,
        };
        st["Effect"] == "Allow"
            && anyone
            && list(&st["Action"])
                .iter()
                .any(|a| a == "s3:GetObject" || a == "s3:*")
            && list(&st["Resource"]).contains(&objects)
    })
}

/// RFC 3339 (or unix seconds) to unix seconds.
fn chrono_parse(s: &str) -> Option<i64> {
    if let Ok(n) = s.parse::<i64>() {
        return Some(n);
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_round_down_and_never_above_the_order() {
        assert_eq!(quota_gb(5 * GIB).unwrap(), 5);
        assert_eq!(quota_gb(5 * GIB + 1).unwrap(), 5);
        assert_eq!(
            quota_gb(5_000_000_000).unwrap(),
            4,
            "5 decimal GB is 4.66 GiB"
        );
        assert!(quota_gb(GIB - 1).is_err());
    }

    #[test]
    fn a_public_read_policy_is_recognised_however_it_is_written() {
        assert!(grants_public_read(&public_read("b"), "b"));
        let reformatted = json!({"Version": "2012-10-17", "Statement": {"Effect": "Allow",
            "Principal": {"AWS": ["*"]}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}});
        assert!(grants_public_read(&reformatted, "b"));
        assert!(
            !grants_public_read(&public_read("other"), "b"),
            "another bucket's objects"
        );
        let someone = json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": ["u1"]},
            "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::b/*"]}]});
        assert!(
            !grants_public_read(&someone, "b"),
            "one user is not everyone"
        );
        assert!(!grants_public_read(&Value::Null, "b"));
    }

    #[test]
    fn sample_times_parse() {
        assert_eq!(
            chrono_parse("2026-11-30T06:00:00+00:00"),
            Some(1_796_018_400)
        );
        assert_eq!(chrono_parse("2026-11-30T06:00:00Z"), Some(1_796_018_400));
        assert_eq!(
            chrono_parse("2026-11-30T08:00:00+02:00"),
            Some(1_796_018_400)
        );
        assert_eq!(chrono_parse("1796018400"), Some(1_796_018_400));
        assert_eq!(chrono_parse("yesterday"), None);
    }
}
