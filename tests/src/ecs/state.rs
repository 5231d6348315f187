//! The simulated ECS world and its rules (reference `other-backends.md` §3 and §9.1): tokens
//! that expire, namespaces, object users with tags and a lock, at most two secrets per user
//! deleted by value, buckets with an owner and a whole-GB quota, refused deletes while objects
//! remain, and metering that lags behind writes until a metering pass runs.

use super::wire::EcsError;
use axum::http::StatusCode;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Secret {
    pub value: String,
    pub created: i64,
    /// Unix seconds after which the secret no longer works (`None`: never expires).
    pub expires: Option<i64>,
}

#[derive(Debug, Clone, Default)]
pub struct User {
    pub namespace: String,
    pub tags: Vec<(String, String)>,
    pub locked: bool,
    pub created: i64,
    /// Slot 1 and slot 2.
    pub secrets: [Option<Secret>; 2],
}

#[derive(Debug, Clone, Default)]
pub struct Bucket {
    pub namespace: String,
    pub owner: String,
    /// Whole GB; -1: unset.
    pub block_size: i64,
    pub notification_size: i64,
    pub encryption: bool,
    pub policy: Option<String>,
    /// Object key → size in bytes (the current versions).
    pub objects: BTreeMap<String, u64>,
    /// `None`: never set; S3 `PUT ?versioning` sets it (Enabled = true, Suspended = false).
    pub versioning: Option<bool>,
    /// Noncurrent versions a versioned bucket keeps: version id → (key, size).
    pub old_versions: BTreeMap<String, (String, u64)>,
    pub version_seq: u64,
}

impl Bucket {
    /// Bytes and objects held, every version counted (what metering and quotas see).
    pub fn held(&self) -> (u64, u64) {
        let bytes = self.objects.values().sum::<u64>()
            + self.old_versions.values().map(|(_, s)| *s).sum::<u64>();
        (bytes, (self.objects.len() + self.old_versions.len()) as u64)
    }

    /// A fresh id for a version that becomes noncurrent.
    pub fn next_version_id(&mut self) -> String {
        self.version_seq += 1;
        format!("v{}", self.version_seq)
    }

    pub fn is_empty(&self) -> bool {
        self.objects.is_empty() && self.old_versions.is_empty()
    }
}

/// What metering last saw of a bucket.
#[derive(Debug, Clone, Copy, Default)]
pub struct Metered {
    pub bytes: u64,
    pub objects: u64,
    pub sample_time: i64,
}

#[derive(Debug)]
pub struct State {
    pub admin: (String, String),
    pub token_ttl: Duration,
    pub tokens: HashMap<String, Instant>,
    pub namespaces: BTreeMap<String, Option<(i64, i64)>>,
    /// By user id (unique across namespaces, as object user names are).
    pub users: BTreeMap<String, User>,
    pub buckets: BTreeMap<String, Bucket>,
    pub metered: HashMap<String, Metered>,
    /// Injected failures, answered before anything else (ECS 503 storms and the like).
    pub failures: Vec<EcsError>,
    /// `(method, path)` of every management call.
    pub calls: Vec<(String, String)>,
    pub next_token: u64,
    /// The clock the sim stamps with (unix seconds); tests may move it.
    pub now: i64,
}

pub fn conflict(code: u32, what: impl Into<String>) -> EcsError {
    EcsError::new(StatusCode::BAD_REQUEST, code, what)
}

impl State {
    pub fn new(admin: (String, String), namespaces: &[&str]) -> Self {
        Self {
            admin,
            token_ttl: Duration::from_secs(3600),
            tokens: HashMap::new(),
            namespaces: namespaces.iter().map(|n| (n.to_string(), None)).collect(),
            users: BTreeMap::new(),
            buckets: BTreeMap::new(),
            metered: HashMap::new(),
            failures: Vec::new(),
            calls: Vec::new(),
            next_token: 1,
            now: chrono::Utc::now().timestamp(),
        }
    }

    pub fn login(&mut self, user: &str, password: &str) -> Result<String, EcsError> {
        if (user, password) != (self.admin.0.as_str(), self.admin.1.as_str()) {
            return Err(EcsError::unauthorized());
        }
        let token = format!(
            "ECS-TOKEN-{:08}-{}",
            self.next_token,
            uuid::Uuid::new_v4().simple()
        );
        self.next_token += 1;
        self.tokens
            .insert(token.clone(), Instant::now() + self.token_ttl);
        Ok(token)
    }

    pub fn check_token(&mut self, token: Option<&str>) -> Result<(), EcsError> {
        let now = Instant::now();
        self.tokens.retain(|_, exp| *exp > now);
        match token {
            Some(t) if self.tokens.contains_key(t) => Ok(()),
            _ => Err(EcsError::unauthorized()),
        }
    }

    pub fn namespace(&self, ns: &str) -> Result<(), EcsError> {
        if self.namespaces.contains_key(ns) {
            Ok(())
        } else {
            Err(EcsError::not_found(format!("namespace {ns} not found")))
        }
    }

    pub fn user(&self, uid: &str, ns: Option<&str>) -> Result<&User, EcsError> {
        match self.users.get(uid) {
            Some(u) if ns.is_none_or(|n| n == u.namespace) => Ok(u),
            _ => Err(EcsError::not_found(format!("user {uid} not found"))),
        }
    }

    pub fn user_mut(&mut self, uid: &str, ns: &str) -> Result<&mut User, EcsError> {
        match self.users.get_mut(uid) {
            Some(u) if u.namespace == ns => Ok(u),
            _ => Err(EcsError::not_found(format!("user {uid} not found"))),
        }
    }

    pub fn create_user(
        &mut self,
        uid: &str,
        ns: &str,
        tags: Vec<(String, String)>,
    ) -> Result<(), EcsError> {
        self.namespace(ns)?;
        if !valid_name(uid) {
            return Err(EcsError::bad_body(format!("invalid user name {uid:?}")));
        }
        if self.users.contains_key(uid) {
            return Err(conflict(1015, format!("user {uid} already exists")));
        }
        self.users.insert(
            uid.to_string(),
            User {
                namespace: ns.to_string(),
                tags,
                created: self.now,
                ..User::default()
            },
        );
        Ok(())
    }

    /// Removes a user; one that still owns buckets is refused (its buckets would be orphans).
    pub fn deactivate_user(&mut self, uid: &str, ns: &str) -> Result<(), EcsError> {
        self.user(uid, Some(ns))?;
        if let Some(b) = self.buckets.iter().find(|(_, b)| b.owner == uid) {
            return Err(conflict(
                1020,
                format!("user {uid} is referenced as the owner of bucket {}", b.0),
            ));
        }
        self.users.remove(uid);
        Ok(())
    }

    /// Secrets still valid now.
    fn live(&self, u: &User) -> usize {
        u.secrets
            .iter()
            .flatten()
            .filter(|s| s.expires.is_none_or(|e| e > self.now))
            .count()
    }

    /// Adds a secret (generated when `value` is `None`); `expire_old_mins` gives the existing
    /// secret a grace period. A user holds at most two valid secrets.
    pub fn add_secret(
        &mut self,
        uid: &str,
        ns: &str,
        value: Option<String>,
        expire_old_mins: Option<i64>,
    ) -> Result<Secret, EcsError> {
        let now = self.now;
        let live = self.live(self.user(uid, Some(ns))?);
        if live >= 2 {
            return Err(conflict(
                1031,
                format!("User {uid} already has 2 valid keys"),
            ));
        }
        let value = value.unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
        if value.len() < 8 || !value.chars().all(|c| c.is_ascii_graphic()) {
            return Err(EcsError::bad_body("secretkey is not a valid secret key"));
        }
        let u = self.user_mut(uid, ns)?;
        // Expired secrets free their slot.
        for s in u.secrets.iter_mut() {
            if s.as_ref()
                .is_some_and(|s| s.expires.is_some_and(|e| e <= now))
            {
                *s = None;
            }
        }
        if let Some(mins) = expire_old_mins {
            for s in u.secrets.iter_mut().flatten() {
                s.expires = Some(now + mins * 60);
            }
        }
        let secret = Secret {
            value,
            created: now,
            expires: None,
        };
        let slot = u
            .secrets
            .iter()
            .position(Option::is_none)
            .ok_or_else(|| conflict(1031, format!("User {uid} already has 2 valid keys")))?;
        u.secrets[slot] = Some(secret.clone());
        Ok(secret)
    }

    /// Deletes the secret with this value, or every secret when `value` is `None`.
    pub fn delete_secret(
        &mut self,
        uid: &str,
        ns: &str,
        value: Option<&str>,
    ) -> Result<(), EcsError> {
        let u = self.user_mut(uid, ns)?;
        match value {
            None => u.secrets = [None, None],
            Some(v) => {
                let slot = u
                    .secrets
                    .iter()
                    .position(|s| s.as_ref().is_some_and(|s| s.value == v))
                    .ok_or_else(|| EcsError::not_found("secret key not found"))?;
                u.secrets[slot] = None;
            }
        }
        Ok(())
    }

    /// Whether S3 would accept `access_key`/`secret` now (unlocked user, valid secret).
    pub fn key_works(&self, access_key: &str, secret: &str) -> bool {
        self.users.get(access_key).is_some_and(|u| {
            !u.locked
                && u.secrets
                    .iter()
                    .flatten()
                    .any(|s| s.value == secret && s.expires.is_none_or(|e| e > self.now))
        })
    }

    pub fn bucket(&self, name: &str, ns: Option<&str>) -> Result<&Bucket, EcsError> {
        match self.buckets.get(name) {
            Some(b) if ns.is_none_or(|n| n == b.namespace) => Ok(b),
            _ => Err(EcsError::not_found(format!("bucket {name} not found"))),
        }
    }

    pub fn bucket_mut(&mut self, name: &str, ns: &str) -> Result<&mut Bucket, EcsError> {
        match self.buckets.get_mut(name) {
            Some(b) if b.namespace == ns => Ok(b),
            _ => Err(EcsError::not_found(format!("bucket {name} not found"))),
        }
    }

    pub fn create_bucket(&mut self, name: &str, b: Bucket) -> Result<(), EcsError> {
        self.namespace(&b.namespace)?;
        if !valid_bucket(name) {
            return Err(conflict(40009, format!("Invalid bucket name {name:?}")));
        }
        if self.buckets.contains_key(name) {
            return Err(conflict(40008, format!("Bucket {name} already exists")));
        }
        if self.user(&b.owner, Some(&b.namespace)).is_err() {
            return Err(conflict(
                40010,
                format!("Bucket Owner {} not valid", b.owner),
            ));
        }
        check_quota(b.block_size, b.notification_size, true)?;
        self.buckets.insert(name.to_string(), b);
        Ok(())
    }

    pub fn deactivate_bucket(&mut self, name: &str, ns: &str) -> Result<(), EcsError> {
        let b = self.bucket(name, Some(ns))?;
        if !b.is_empty() {
            return Err(conflict(
                1020,
                format!("Bucket {name} is not empty: {} objects remain", b.held().1),
            ));
        }
        self.buckets.remove(name);
        self.metered.remove(name);
        Ok(())
    }

    /// Stores an object the way an S3 PUT would: refused (as S3 refuses, 403 QuotaExceeded)
    /// once the bucket's `blockSize` would be passed.
    pub fn put_object(&mut self, bucket: &str, key: &str, size: u64) -> Result<(), EcsError> {
        let b = self
            .buckets
            .get_mut(bucket)
            .ok_or_else(|| EcsError::not_found("no such bucket"))?;
        let versioned = b.versioning == Some(true);
        // An overwrite of an unversioned object frees its bytes; a versioned bucket keeps them.
        let replaced = if versioned {
            0
        } else {
            b.objects.get(key).copied().unwrap_or(0)
        };
        let used = b.held().0 - replaced;
        if b.block_size > 0 && used + size > b.block_size as u64 * GB {
            return Err(EcsError::new(
                StatusCode::FORBIDDEN,
                3000,
                "Bucket quota exceeded",
            ));
        }
        if let Some(old) = b.objects.insert(key.to_string(), size)
            && versioned
        {
            let id = b.next_version_id();
            b.old_versions.insert(id, (key.to_string(), old));
        }
        Ok(())
    }

    /// A metering pass: what billing reports catches up with what is stored.
    pub fn meter(&mut self) {
        let now = self.now;
        for (name, b) in &self.buckets {
            self.metered.insert(
                name.clone(),
                Metered {
                    bytes: b.held().0,
                    objects: b.held().1,
                    sample_time: now,
                },
            );
        }
    }
}

pub const GB: u64 = 1 << 30;

/// `blockSize`/`notificationSize`: whole GB ≥ 1 or -1 (unset), not both unset on a PUT, and
/// the notification not above the block size.
pub fn check_quota(block: i64, notify: i64, creating: bool) -> Result<(), EcsError> {
    let ok = |v: i64| v == -1 || v >= 1;
    if !ok(block) || !ok(notify) {
        return Err(EcsError::bad_body(
            "Bad request body: blockSize and notificationSize must be whole GB of at least 1, or -1",
        ));
    }
    if !creating && block == -1 && notify == -1 {
        return Err(EcsError::bad_body(
            "Bad request body: blockSize and notificationSize cannot both be -1",
        ));
    }
    if block > 0 && notify > block {
        return Err(EcsError::bad_body(
            "Bad request body: notificationSize must not exceed blockSize",
        ));
    }
    Ok(())
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c))
}

/// S3 bucket names: 3–63 lower-case letters, digits, `-` and `.`.
fn valid_bucket(s: &str) -> bool {
    (3..=63).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && !s.starts_with(['-', '.'])
}
