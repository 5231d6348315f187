//! The simulator's mutable world: users, their keys, quotas and buckets,
//! stats series, the injected-failure budget and the call log.

use std::collections::{BTreeMap, HashMap};

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::error::ApiError;
use super::keys::{new_access_key, new_secret_key};
use super::{CroitAuth, SimCall, SimQuota, SimUser};

/// One stored RGW user as croit manages it.
#[derive(Debug, Clone)]
pub(crate) struct UserRec {
    pub uid: String,
    pub name: String,
    /// Stored lowercased, as RGW does (`RGWUserAdminOpState::set_user_email`).
    pub email: String,
    pub suspended: bool,
    pub tenant: String,
    pub default_placement: String,
    pub default_storage_class: String,
    /// (access key, secret key), in creation order.
    pub keys: Vec<(String, String)>,
    pub user_quota: SimQuota,
    pub bucket_quota: SimQuota,
    /// (bucket, size bytes, objects), in creation order.
    pub buckets: Vec<(String, u64, u64)>,
}

impl UserRec {
    pub fn to_sim(&self) -> SimUser {
        SimUser {
            uid: self.uid.clone(),
            name: self.name.clone(),
            email: self.email.clone(),
            suspended: self.suspended,
            keys: self.keys.clone(),
            user_quota: self.user_quota.clone(),
            bucket_quota: self.bucket_quota.clone(),
            buckets: self.buckets.clone(),
        }
    }

    /// A key-list entry: croit spells these snake_case (§11 item 18).
    pub fn key_json(&self, access: &str, secret: &str) -> Value {
        json!({ "user": self.uid, "access_key": access, "secret_key": secret })
    }

    pub fn keys_json(&self) -> Value {
        Value::Array(self.keys.iter().map(|(a, s)| self.key_json(a, s)).collect())
    }

    /// The user object of C1/C2: camelCase, unlike the keys inside it.
    pub fn to_json(&self) -> Value {
        json!({
            "uid": self.uid,
            "name": self.name,
            "email": self.email,
            "suspended": self.suspended,
            "tenant": self.tenant,
            "defaultPlacement": self.default_placement,
            "defaultStorageClass": self.default_storage_class,
            "keys": self.keys_json(),
            "userQuota": quota_json(&self.user_quota),
            "bucketQuota": quota_json(&self.bucket_quota),
        })
    }
}

fn quota_json(q: &SimQuota) -> Value {
    json!({ "enabled": q.enabled, "maxSize": q.max_size, "maxObjects": q.max_objects })
}

/// What a new user is created from (C2 body, or `CroitSim::add_user`).
#[derive(Debug, Clone, Default)]
pub(crate) struct NewUser {
    pub uid: String,
    pub name: String,
    pub email: Option<String>,
    pub tenant: Option<String>,
    pub default_placement: Option<String>,
    pub default_storage_class: Option<String>,
}

/// Answer the next `remaining` /api requests with `status` + message.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub remaining: usize,
    pub status: StatusCode,
    pub message: String,
}

#[derive(Debug)]
pub(crate) struct State {
    pub auth: CroitAuth,
    pub users: BTreeMap<String, UserRec>,
    /// Stats series by uid, sorted by `t`. Kept after the user is deleted,
    /// as croit's graphite keeps the history.
    pub series: HashMap<String, Vec<(i64, Option<u64>)>>,
    /// The objects of each bucket (key, size), for the S3 data plane under `/s3`.
    pub objects: HashMap<String, Vec<(String, u64)>>,
    pub failure: Option<Failure>,
    pub calls: Vec<SimCall>,
    /// Added before every `/api` and `/s3` request is handled (`CroitSim::set_latency`).
    pub latency: std::time::Duration,
}

/// A new user's record, as croit makes it: one generated key, no quotas, no buckets.
fn user_rec(new: NewUser, email: String, access: String) -> UserRec {
    UserRec {
        uid: new.uid,
        name: new.name,
        email,
        suspended: false,
        tenant: new.tenant.unwrap_or_default(),
        default_placement: new.default_placement.unwrap_or_default(),
        default_storage_class: new.default_storage_class.unwrap_or_default(),
        keys: vec![(access, new_secret_key())],
        user_quota: SimQuota::unset(),
        bucket_quota: SimQuota::unset(),
        buckets: Vec::new(),
    }
}

impl State {
    pub fn new(auth: CroitAuth) -> Self {
        Self {
            auth,
            users: BTreeMap::new(),
            series: HashMap::new(),
            objects: HashMap::new(),
            failure: None,
            calls: Vec::new(),
            latency: std::time::Duration::ZERO,
        }
    }

    pub fn user(&self, uid: &str) -> Result<&UserRec, ApiError> {
        self.users.get(uid).ok_or_else(ApiError::user_not_found)
    }

    pub fn user_mut(&mut self, uid: &str) -> Result<&mut UserRec, ApiError> {
        self.users.get_mut(uid).ok_or_else(ApiError::user_not_found)
    }

    /// The uid holding `access`, if any.
    pub fn key_owner(&self, access: &str) -> Option<&str> {
        self.users
            .values()
            .find(|u| u.keys.iter().any(|(a, _)| a == access))
            .map(|u| u.uid.as_str())
    }

    /// The uid owning `bucket`, if any.
    pub fn bucket_owner(&self, bucket: &str) -> Option<&str> {
        self.users
            .values()
            .find(|u| u.buckets.iter().any(|(b, _, _)| b == bucket))
            .map(|u| u.uid.as_str())
    }

    /// Create a user with one auto-generated key, as RGW does under croit.
    pub fn create_user(&mut self, new: NewUser) -> Result<&UserRec, ApiError> {
        let uid = new.uid.clone();
        self.create_users(vec![new])?;
        self.user(&uid)
    }

    /// Creates users as croit does (the same conflicts), the e-mails and keys in use read
    /// once per call: seeding 100,000 users one scan each was quadratic.
    pub fn create_users(&mut self, news: Vec<NewUser>) -> Result<(), ApiError> {
        let mut emails: std::collections::HashSet<String> = self
            .users
            .values()
            .filter(|u| !u.email.is_empty())
            .map(|u| u.email.clone())
            .collect();
        let mut keys: std::collections::HashSet<String> = self
            .users
            .values()
            .flat_map(|u| u.keys.iter().map(|(a, _)| a.clone()))
            .collect();
        for new in news {
            if self.users.contains_key(&new.uid) {
                return Err(ApiError::conflict("User already exists"));
            }
            let email = new.email.clone().unwrap_or_default().to_ascii_lowercase();
            if !email.is_empty() && !emails.insert(email.clone()) {
                return Err(ApiError::conflict("Email already in use"));
            }
            let access = loop {
                let k = new_access_key();
                if keys.insert(k.clone()) {
                    break k;
                }
            };
            let uid = new.uid.clone();
            self.users.insert(uid, user_rec(new, email, access));
        }
        Ok(())
    }

    /// Add a bucket to `uid`, or update its usage if `uid` already owns it.
    pub fn put_bucket(
        &mut self,
        uid: &str,
        bucket: &str,
        size: u64,
        objects: u64,
    ) -> Result<(), ApiError> {
        self.put_buckets(&[(uid.to_string(), bucket.to_string(), size, objects)])
    }

    /// Many `put_bucket`s (uid, bucket, bytes, objects) at once, the owners read once.
    pub fn put_buckets(&mut self, buckets: &[(String, String, u64, u64)]) -> Result<(), ApiError> {
        let mut owners: HashMap<String, String> = self
            .users
            .values()
            .flat_map(|u| u.buckets.iter().map(|(b, _, _)| (b.clone(), u.uid.clone())))
            .collect();
        for (uid, bucket, size, objects) in buckets {
            self.user(uid)?;
            match owners.get(bucket) {
                Some(owner) if owner != uid => {
                    return Err(ApiError::conflict(format!(
                        "Bucket {bucket} is owned by {owner}"
                    )));
                }
                _ => {
                    owners.insert(bucket.clone(), uid.clone());
                }
            }
            self.store_bucket(uid, bucket, *size, *objects)?;
        }
        Ok(())
    }

    /// Records `uid`'s bucket and materialises its objects (ownership checked by the caller).
    fn store_bucket(
        &mut self,
        uid: &str,
        bucket: &str,
        size: u64,
        objects: u64,
    ) -> Result<(), ApiError> {
        let user = self.user_mut(uid)?;
        match user.buckets.iter_mut().find(|(b, _, _)| b == bucket) {
            Some(entry) => *entry = (bucket.to_string(), size, objects),
            None => user.buckets.push((bucket.to_string(), size, objects)),
        }
        // Materialise the objects: `o000000`…, the last one taking the remainder of `size`.
        let each = size.checked_div(objects).unwrap_or(0);
        let list = (0..objects)
            .map(|i| {
                let s = if i + 1 == objects {
                    size - each * (objects - 1)
                } else {
                    each
                };
                (format!("o{i:06}"), s)
            })
            .collect();
        self.objects.insert(bucket.to_string(), list);
        Ok(())
    }

    /// Drops a bucket and its objects.
    pub fn drop_bucket(&mut self, uid: &str, bucket: &str) {
        if let Some(user) = self.users.get_mut(uid) {
            user.buckets.retain(|(b, _, _)| b != bucket);
        }
        self.objects.remove(bucket);
    }

    /// Consume one injected failure, if any is pending.
    pub fn take_failure(&mut self) -> Option<ApiError> {
        let f = self.failure.as_mut()?;
        let err = ApiError::new(f.status, f.message.clone());
        f.remaining = f.remaining.saturating_sub(1);
        if f.remaining == 0 {
            self.failure = None;
        }
        Some(err)
    }
}
