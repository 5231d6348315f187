//! [`VendorOps`] for MyFSIO (the `Granted` model: no bucket owner, no user quota). Per
//! resource: one IAM user, made in the console, whose display name carries the stamp
//! (`display.rs`); one bucket the agent makes, stamped with a tag, capped by an exact quota
//! (always set: usage is read from it); an inline policy granting exactly `list`, `read`,
//! `write` and `delete` on exactly that bucket (never `quota`, `policy`, `share`, `iam:*` or
//! `*`: a tenant with `quota` could lift its own ceiling).
//!
//! Keys, by `key_mode`:
//! - `admin` (default): MyFSIO makes them through the admin routes (add, delete), two per
//!   resource, a rotation adds before it removes. The console's create always makes a key
//!   too: the agent names it (`WANCHOR…`) and forgets its secret, so it works for nobody and
//!   is kept out of every key list (it also keeps the user from ever holding no key, which
//!   MyFSIO refuses).
//! - `console`: for v0.5 with `iam.json` encrypted at rest, whose admin key and enable/disable
//!   routes fail (a MyFSIO bug). The console has no key routes, only a create that takes a
//!   key pair: a user holds one key, the agent's, and a new key replaces the user (same
//!   display name, policies and state) at once.
//!
//! Pause: v0.4 disables the user (admin route); v0.5 disables it where that route works and
//! otherwise empties its policies (on v0.5 an empty list grants nothing; on v0.4 it would
//! grant broad access, so it is never sent there).

use crate::admin::{Admin, Generation, Listed};
use crate::console::Console;
use crate::display;
use serde_json::{Value, json};
use site_agent_sdk::keys::generate_key_pair;
use site_agent_sdk::naming::bucket_for;
use site_agent_sdk::s3bucket::S3Buckets;
use site_agent_sdk::sigv4::encode;
use site_agent_sdk::vendor::{VendorOps, VendorUser};
use site_agent_sdk::{
    AccessKeyOrigin, AppliedQuota, BackendError, BucketModel, BucketOptions, BucketUsage,
    Capabilities, Enforcement, ErrorKind, KeyPair, KeyPolicy, OptionCaps, QuotaCaps, QuotaScope,
    QuotaSpec, QuotaState, RotationMode, Rounding, ScopeDims, ScopeQuota, SecretOrigin, StampPlace,
    Suspension,
};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How a resource's keys are made (see the module text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyMode {
    Admin,
    Console,
}

/// What MyFSIO can do, by key mode.
pub fn capabilities(mode: KeyMode) -> Capabilities {
    let keys = match mode {
        KeyMode::Admin => KeyPolicy {
            secret: SecretOrigin::Backend,
            access_key: AccessKeyOrigin::Backend,
            max_keys: None,
            tenant_can_issue: false,
            rotation: RotationMode::AddThenRemove,
        },
        KeyMode::Console => KeyPolicy {
            secret: SecretOrigin::Agent,
            access_key: AccessKeyOrigin::Agent,
            max_keys: Some(1),
            tenant_can_issue: false,
            rotation: RotationMode::ReplaceInPlace,
        },
    };
    Capabilities {
        quota: QuotaCaps {
            user: None,
            bucket: Some(ScopeDims {
                bytes: true,
                objects: true,
            }),
            byte_granularity: 1,
            rounding: Rounding::Up,
            // Checked at commit, exactly: 403 `QuotaExceeded` past it.
            enforcement: Enforcement::Inline,
        },
        keys,
        buckets: BucketModel::Granted,
        stamp: StampPlace::DisplayName,
        suspend: true,
        purge: true,
        metered_series: false,
        usage_precision: 1,
        options: OptionCaps::NONE,
    }
}

/// The tag holding the ownership stamp on the resource's bucket.
pub const STAMP_TAG: &str = "waldur-stamp";
/// The access keys the agent gives the console's own key (see the module text).
pub const ANCHOR_PREFIX: &str = "WANCHOR";
/// What a tenant may do in its bucket.
pub const TENANT_ACTIONS: [&str; 4] = ["delete", "list", "read", "write"];
/// How long the user listing serves (a pass reads it once, not once per resource).
const LISTING_FOR: Duration = Duration::from_secs(60);
/// v0.4: how long the admin API may take to see a console write (its IAM cache).
const VISIBLE_WITHIN: Duration = Duration::from_secs(15);

pub fn is_anchor(access_key: &str) -> bool {
    access_key.starts_with(ANCHOR_PREFIX)
}

/// The one policy a tenant gets.
pub fn grant(bucket: &str) -> Value {
    json!([{"bucket": bucket, "actions": TENANT_ACTIONS}])
}

/// What ping found.
#[derive(Debug, Clone)]
struct Found {
    generation: Generation,
    /// The admin key's user (the harmless `enable` probe targets it).
    admin_user: String,
    /// Whether the admin key and enable/disable routes work (v0.5 with an encrypted IAM
    /// file: not); `None` until known.
    admin_writes: Option<bool>,
}

pub struct MyfsioOps {
    pub admin: Admin,
    pub buckets: S3Buckets,
    pub console: Console,
    pub admin_key: String,
    /// The generation the settings name (`None`: found at ping).
    pub forced: Option<Generation>,
    pub key_mode: KeyMode,
    pub bill_versions: bool,
    pub default_quota: u64,
    pub settle: Duration,
    pub caps: Capabilities,
    found: Mutex<Option<Found>>,
    listing: Mutex<Option<(Instant, Arc<Vec<Listed>>)>>,
    last_admin_write: Mutex<Option<Instant>>,
}

/// A resource's user as found.
struct Found1 {
    user: Listed,
    stamp: Option<String>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl MyfsioOps {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        admin: Admin,
        buckets: S3Buckets,
        console: Console,
        admin_key: String,
        forced: Option<Generation>,
        key_mode: KeyMode,
        bill_versions: bool,
        default_quota: u64,
        settle: Duration,
    ) -> Self {
        Self {
            admin,
            buckets,
            console,
            admin_key,
            forced,
            key_mode,
            bill_versions,
            default_quota,
            settle,
            caps: capabilities(key_mode),
            found: Mutex::new(None),
            listing: Mutex::new(None),
            last_admin_write: Mutex::new(None),
        }
    }

    /// Finds which generation answers (and checks the admin key on it).
    async fn discover(&self) -> Result<Found, BackendError> {
        let (generation, admin_user) = match self.forced {
            None => self.admin.detect(&self.admin_key).await?,
            Some(g) => {
                let v = self.admin.user(g, &self.admin_key).await?.ok_or_else(|| {
                    BackendError::unavailable(format!(
                        "MyFSIO {} at {} does not know the admin key {:?}",
                        g.label(),
                        self.admin.base(),
                        self.admin_key
                    ))
                })?;
                (g, v["user_id"].as_str().unwrap_or_default().to_string())
            }
        };
        Ok(Found {
            generation,
            admin_user,
            admin_writes: None,
        })
    }

    async fn found(&self) -> Result<Found, BackendError> {
        if let Some(f) = lock(&self.found).clone() {
            return Ok(f);
        }
        let f = self.discover().await?;
        *lock(&self.found) = Some(f.clone());
        Ok(f)
    }

    async fn generation(&self) -> Result<Generation, BackendError> {
        Ok(self.found().await?.generation)
    }

    fn set_admin_writes(&self, works: bool) {
        let mut found = lock(&self.found);
        let Some(f) = found.as_mut() else {
            return;
        };
        if f.admin_writes != Some(works) && !works {
            match self.key_mode {
                KeyMode::Admin => tracing::error!(
                    api = %self.admin.base(),
                    "MyFSIO refuses its admin key and enable/disable routes (v0.5 with iam.json encrypted at rest, a MyFSIO bug): pausing works through the console; keys need `key_mode: console` in backend_settings"
                ),
                KeyMode::Console => tracing::info!(
                    api = %self.admin.base(),
                    "MyFSIO refuses its admin enable/disable routes (v0.5 with iam.json encrypted at rest): users are paused by emptying their policies in the console"
                ),
            }
        }
        f.admin_writes = Some(works);
    }

    fn drop_listing(&self) {
        *lock(&self.listing) = None;
    }

    async fn listing(&self) -> Result<Arc<Vec<Listed>>, BackendError> {
        if let Some((at, l)) = lock(&self.listing).as_ref()
            && at.elapsed() < LISTING_FOR
        {
            return Ok(l.clone());
        }
        let l = Arc::new(self.admin.list(self.generation().await?).await?);
        *lock(&self.listing) = Some((Instant::now(), l.clone()));
        Ok(l)
    }

    /// The resource's user: the one whose display name is `uid`'s (stamped or bare). Two
    /// would be a mix-up nobody can resolve automatically: refused.
    async fn find(&self, uid: &str) -> Result<Option<Found1>, BackendError> {
        let listing = self.listing().await?;
        let mut hits = listing
            .iter()
            .filter_map(|u| display::read(&u.display_name, uid).map(|s| (u, s)));
        let Some((user, stamp)) = hits.next() else {
            return Ok(None);
        };
        if let Some((other, _)) = hits.next() {
            return Err(BackendError::unexpected(format!(
                "MyFSIO has several users named for {uid:?} ({} and {}); remove the stray one in the console",
                user.user_id, other.user_id
            )));
        }
        Ok(Some(Found1 {
            user: user.clone(),
            stamp,
        }))
    }

    async fn require(&self, uid: &str) -> Result<Found1, BackendError> {
        self.find(uid).await?.ok_or_else(|| {
            BackendError::not_found(format!("MyFSIO user for {uid:?} does not exist"))
        })
    }

    /// An admin-route write (remembered for v0.4's console, see `settle`).
    async fn admin_write(
        &self,
        what: &str,
        method: reqwest::Method,
        route: &str,
    ) -> Result<Value, BackendError> {
        let g = self.generation().await?;
        let r = self.admin.call(g, what, method, route).await;
        *lock(&self.last_admin_write) = Some(Instant::now());
        self.drop_listing();
        r
    }

    /// A console write. v0.4's console process keeps its own copy of the IAM file and writes
    /// all of it back: a write within its cache time after an admin-route write would undo
    /// that write, so it waits `settle` first.
    async fn console_write(
        &self,
        what: &str,
        path: &str,
        form: &[(&str, &str)],
    ) -> Result<Value, BackendError> {
        let g = self.generation().await?;
        if g == Generation::V04 {
            let since = lock(&self.last_admin_write).map(|t| t.elapsed());
            if let Some(wait) = since.and_then(|s| self.settle.checked_sub(s)) {
                tokio::time::sleep(wait).await;
            }
        }
        let r = self.console.post(g, what, path, form).await;
        self.drop_listing();
        r
    }

    /// v0.4: waits until the admin API sees `ak`'s user (`true`) or no longer does (`false`)
    /// after a console write (its own IAM cache lags the console's by seconds).
    async fn await_admin_sees(&self, ak: &str, present: bool) -> Result<(), BackendError> {
        let g = self.generation().await?;
        if g != Generation::V04 {
            return Ok(());
        }
        let started = Instant::now();
        loop {
            if self.admin.user(g, ak).await?.is_some() == present {
                return Ok(());
            }
            if started.elapsed() > VISIBLE_WITHIN {
                return Err(BackendError::unavailable(format!(
                    "MyFSIO's admin API did not see a console change within {}s",
                    VISIBLE_WITHIN.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// The user's policies, as MyFSIO shows them.
    async fn policies(&self, user_id: &str) -> Result<Vec<Value>, BackendError> {
        let g = self.generation().await?;
        let v = self.admin.user(g, user_id).await?.ok_or_else(|| {
            BackendError::not_found(format!("MyFSIO user {user_id:?} does not exist"))
        })?;
        Ok(v["policies"].as_array().cloned().unwrap_or_default())
    }

    async fn set_policies(&self, user_id: &str, policies: &Value) -> Result<(), BackendError> {
        self.console_write(
            "MyFSIO set user policies",
            &format!("/ui/iam/users/{}/policies", encode(user_id)),
            &[("policies", &policies.to_string())],
        )
        .await
        .map(|_| ())
    }

    /// Makes a user in the console; returns its (first) access key.
    async fn console_create(
        &self,
        display: &str,
        policies: &Value,
        key: &KeyPair,
    ) -> Result<(), BackendError> {
        use secrecy::ExposeSecret;
        self.console_write(
            "MyFSIO create user",
            "/ui/iam/users",
            &[
                ("display_name", display),
                ("policies", &policies.to_string()),
                ("access_key", &key.access_key),
                ("secret_key", key.secret_key.expose_secret()),
            ],
        )
        .await?;
        self.await_admin_sees(&key.access_key, true).await
    }

    async fn console_delete(&self, user: &Listed) -> Result<(), BackendError> {
        // v0.4 resolves the path by user id or access key; v0.5 likewise.
        self.console_write(
            "MyFSIO delete user",
            &format!("/ui/iam/users/{}/delete", encode(&user.user_id)),
            &[],
        )
        .await?;
        match user.access_keys.first() {
            Some(ak) => self.await_admin_sees(ak, false).await,
            None => Ok(()),
        }
    }

    /// A key pair nobody will hold: the console's create must make one.
    fn anchor() -> Result<KeyPair, BackendError> {
        let k = generate_key_pair()?;
        Ok(KeyPair {
            access_key: format!("{ANCHOR_PREFIX}{}", k.access_key),
            secret_key: k.secret_key,
        })
    }

    /// `console` key mode: the user again, holding `key` (or an anchor) and nothing else,
    /// with the same display name, policies and state. The old user goes first: an
    /// interruption leaves no user (made again by the next attempt), never two.
    async fn replace_user(&self, uid: &str, key: Option<&KeyPair>) -> Result<(), BackendError> {
        let f = self.require(uid).await?;
        let policies = Value::Array(self.policies(&f.user.user_id).await?);
        let key = match key {
            Some(k) => k.clone(),
            None => Self::anchor()?,
        };
        self.console_delete(&f.user).await?;
        self.console_create(&f.user.display_name, &policies, &key)
            .await?;
        if !f.user.enabled {
            let id = self.require(uid).await?.user.user_id;
            self.switch(&id, false).await?;
        }
        Ok(())
    }

    /// The admin enable/disable route.
    async fn switch(&self, user_id: &str, enabled: bool) -> Result<(), BackendError> {
        let verb = if enabled { "enable" } else { "disable" };
        self.admin_write(
            &format!("MyFSIO {verb} user"),
            reqwest::Method::POST,
            &format!("/iam/users/{}/{verb}", encode(user_id)),
        )
        .await
        .map(|_| ())
    }

    /// The resource's bucket, made and stamped if missing (`create`); `None` if it does not
    /// exist and `create` is off. A bucket of that name carrying another stamp, or none while
    /// holding data, is someone else's: refused, never granted, metered or emptied.
    async fn own_bucket(
        &self,
        uid: &str,
        stamp: Option<&str>,
        create: bool,
    ) -> Result<Option<String>, BackendError> {
        let bucket = bucket_for(uid)?;
        let Some(stamp) = stamp else {
            if create {
                return Err(BackendError::invalid(format!(
                    "MyFSIO user {uid:?} carries no ownership stamp"
                )));
            }
            return match self.buckets.tag(&bucket, STAMP_TAG).await {
                Ok(_) => Err(foreign(&bucket)),
                Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            };
        };
        let made = create && self.buckets.create(&bucket).await?;
        let tag = if made {
            None
        } else {
            match self.buckets.tag(&bucket, STAMP_TAG).await {
                Ok(t) => t,
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e),
            }
        };
        match tag {
            Some(t) if t.eq_ignore_ascii_case(stamp) => return Ok(Some(bucket)),
            Some(_) => return Err(foreign(&bucket)),
            // Unstamped: just made, or made by an attempt cut short before its stamp (no
            // policy granted it to anyone of ours, so it holds nothing of ours).
            None if !made && self.buckets.holds_objects(&bucket).await? => {
                return Err(foreign(&bucket));
            }
            None => {}
        }
        self.buckets.set_tag(&bucket, STAMP_TAG, stamp).await?;
        Ok(Some(bucket))
    }

    fn quota_url(&self, bucket: &str) -> Result<String, BackendError> {
        self.buckets.url(bucket, "?quota")
    }

    /// `GET ?quota`: the quota (v0.4 names the byte limit `max_bytes`, v0.5 `max_size_bytes`)
    /// and the live usage; `None` without a quota (v0.5: 404 `NoSuchKey`; v0.4: nulls).
    async fn read_quota(
        &self,
        bucket: &str,
    ) -> Result<Option<(QuotaState, (u64, u64))>, BackendError> {
        let body = match self
            .buckets
            .call(
                "MyFSIO read bucket quota",
                reqwest::Method::GET,
                &self.quota_url(bucket)?,
                None,
            )
            .await
        {
            Ok(b) => b,
            Err(e) if e.code() == Some("NoSuchKey") => return Ok(None),
            Err(e) => return Err(e),
        };
        let v: Value = serde_json::from_str(&body).map_err(|e| {
            BackendError::unexpected(format!("MyFSIO read bucket quota: unreadable answer: {e}"))
        })?;
        let q = &v["quota"];
        let bytes = q["max_size_bytes"]
            .as_u64()
            .or_else(|| q["max_bytes"].as_u64());
        let objects = q["max_objects"].as_u64();
        let usage = (
            v["usage"]["bytes"].as_u64().unwrap_or(0),
            v["usage"]["objects"].as_u64().unwrap_or(0),
        );
        if bytes.is_none() && objects.is_none() {
            return Ok(None);
        }
        Ok(Some((
            QuotaState {
                enabled: true,
                // The quota set for "no limit" reads as none.
                max_size_bytes: bytes.filter(|b| *b != self.default_quota),
                max_objects: objects,
            },
            usage,
        )))
    }

    async fn write_quota(
        &self,
        bucket: &str,
        bytes: u64,
        objects: Option<u64>,
    ) -> Result<(), BackendError> {
        let mut body = json!({"max_size_bytes": bytes});
        if let Some(o) = objects {
            body["max_objects"] = json!(o);
        }
        self.buckets
            .call(
                "MyFSIO set bucket quota",
                reqwest::Method::PUT,
                &self.quota_url(bucket)?,
                Some(body.to_string().into_bytes()),
            )
            .await
            .map(|_| ())
    }

    /// Whether the admin key and enable/disable routes work (v0.5 with an encrypted IAM file:
    /// not). Probed with `enable` on the admin's own user, which changes nothing.
    async fn probe_admin_writes(&self, f: &Found) -> Result<bool, BackendError> {
        if f.generation == Generation::V04 {
            return Ok(true);
        }
        match self.switch(&f.admin_user, true).await {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == ErrorKind::Invalid => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn admin_writes(&self) -> Result<bool, BackendError> {
        let f = self.found().await?;
        if let Some(w) = f.admin_writes {
            return Ok(w);
        }
        let w = self.probe_admin_writes(&f).await?;
        self.set_admin_writes(w);
        Ok(w)
    }

    fn broken_keys(&self) -> BackendError {
        BackendError::invalid(
            "MyFSIO refuses its admin key routes (v0.5 with iam.json encrypted at rest, a MyFSIO bug): set `key_mode: console` in backend_settings (one key per resource, made through the console)",
        )
        .with_retryable(false)
    }
}

fn foreign(bucket: &str) -> BackendError {
    BackendError::already_exists(format!(
        "bucket {bucket:?} already exists and is not this resource's; refusing to grant access to it"
    ))
}

#[async_trait::async_trait]
impl VendorOps for MyfsioOps {
    fn kind(&self) -> &'static str {
        "myfsio"
    }

    fn capabilities(&self) -> Capabilities {
        self.caps.clone()
    }

    /// Finds the generation again (an upgrade changes it), checks the admin key, and on v0.5
    /// whether the admin write routes work; says so in the log when anything changed.
    async fn ping(&self) -> Result<(), BackendError> {
        self.drop_listing();
        let f = self.discover().await?;
        let before = lock(&self.found).replace(Found {
            admin_writes: None,
            ..f.clone()
        });
        if before.as_ref().map(|b| b.generation) != Some(f.generation) {
            tracing::info!(
                api = %self.admin.base(),
                generation = f.generation.label(),
                "MyFSIO generation detected"
            );
        }
        // Kept as it was until the probe says otherwise (a change is logged once).
        if let Some(f) = lock(&self.found).as_mut() {
            f.admin_writes = before.and_then(|b| b.admin_writes);
        }
        let w = self.probe_admin_writes(&f).await?;
        self.set_admin_writes(w);
        Ok(())
    }

    /// MyFSIO takes any number of users with one display name: the agent looks first.
    async fn create_user(&self, uid: &str, _name: &str, stamp: &str) -> Result<(), BackendError> {
        let display = display::display_name(uid, stamp)?;
        let bucket = bucket_for(uid)?;
        self.drop_listing();
        if self.find(uid).await?.is_some() {
            return Err(BackendError::already_exists(format!(
                "MyFSIO user for {uid:?} exists"
            )));
        }
        self.console_create(&display, &grant(&bucket), &Self::anchor()?)
            .await
    }

    async fn write_stamp(&self, uid: &str, stamp: &str) -> Result<(), BackendError> {
        let f = self.require(uid).await?;
        let display = display::display_name(uid, stamp)?;
        self.console_write(
            "MyFSIO rename user",
            &format!("/ui/iam/users/{}/update", encode(&f.user.user_id)),
            &[("display_name", &display)],
        )
        .await
        .map(|_| ())
    }

    /// A new user whose bucket name is taken goes again: the order is refused cleanly.
    async fn after_create(&self, uid: &str) -> Result<(), BackendError> {
        let f = self.require(uid).await?;
        match self.own_bucket(uid, f.stamp.as_deref(), true).await {
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                self.console_delete(&f.user).await?;
                Err(e)
            }
            other => other.map(|_| ()),
        }
    }

    /// The bucket (stamped), a quota on it, and the user's grant on exactly it (an entry
    /// granting anything else is replaced; an empty list is a paused v0.5 user, left so).
    async fn provision(&self, uid: &str, _options: &BucketOptions) -> Result<(), BackendError> {
        let f = self.require(uid).await?;
        let bucket = self
            .own_bucket(uid, f.stamp.as_deref(), true)
            .await?
            .ok_or_else(|| BackendError::unavailable(format!("bucket of {uid:?} not made")))?;
        if self.read_quota(&bucket).await?.is_none() {
            self.write_quota(&bucket, self.default_quota, None).await?;
        }
        let wanted = grant(&bucket);
        let now = self.policies(&f.user.user_id).await?;
        if !now.is_empty() && !same_grant(&now, &wanted) {
            self.set_policies(&f.user.user_id, &wanted).await?;
        }
        Ok(())
    }

    async fn user(&self, uid: &str) -> Result<Option<VendorUser>, BackendError> {
        let Some(f) = self.find(uid).await? else {
            return Ok(None);
        };
        let paused = !f.user.enabled || f.user.policies == Some(0);
        Ok(Some(VendorUser {
            uid: uid.to_string(),
            name: f.user.display_name.clone(),
            stamp: f.stamp,
            suspension: if paused {
                Suspension::Suspended
            } else {
                Suspension::Active
            },
            access_keys: f
                .user
                .access_keys
                .into_iter()
                .filter(|k| !is_anchor(k))
                .collect(),
        }))
    }

    async fn delete_user(&self, uid: &str, purge: bool) -> Result<(), BackendError> {
        let f = self.require(uid).await?;
        if let Some(bucket) = self.own_bucket(uid, f.stamp.as_deref(), false).await? {
            if purge {
                // Fenced off first, so nothing is written while the bucket is emptied.
                self.set_suspended(uid, true).await?;
                let gone = self.buckets.purge(&bucket).await?;
                tracing::info!(uid, bucket, objects = gone, "purged the resource's bucket");
            } else if self.buckets.holds_objects(&bucket).await? {
                return Err(BackendError::not_empty(format!(
                    "bucket {bucket:?} holds objects"
                )));
            } else {
                // The quota goes with the bucket; a write that slipped in makes this refuse
                // (`BucketNotEmpty`).
                self.buckets.delete(&bucket).await?;
            }
        }
        let f = self.require(uid).await?;
        self.console_delete(&f.user).await
    }

    async fn set_suspended(&self, uid: &str, suspended: bool) -> Result<(), BackendError> {
        let f = self.require(uid).await?;
        let id = f.user.user_id.clone();
        let g = self.generation().await?;
        if g == Generation::V04 || self.admin_writes().await? {
            match self.switch(&id, !suspended).await {
                Ok(()) => {
                    // A user paused by its policies (while the routes failed) gets them back.
                    if !suspended && g == Generation::V05 && f.user.policies == Some(0) {
                        self.set_policies(&id, &grant(&bucket_for(uid)?)).await?;
                    }
                    return Ok(());
                }
                // v0.5's routes started failing (the IAM file is encrypted now).
                Err(e) if g == Generation::V05 && e.kind() == ErrorKind::Invalid => {
                    self.set_admin_writes(false);
                }
                Err(e) => return Err(e),
            }
        }
        // v0.5 without working enable/disable: an empty policy list grants nothing.
        if suspended {
            return self.set_policies(&id, &json!([])).await;
        }
        if !f.user.enabled {
            return Err(BackendError::invalid(format!(
                "MyFSIO user {id} is disabled and MyFSIO refuses its enable route (v0.5 with iam.json encrypted at rest); enable it in the console"
            )));
        }
        self.set_policies(&id, &grant(&bucket_for(uid)?)).await
    }

    async fn issue_key(&self, uid: &str, proposal: &KeyPair) -> Result<KeyPair, BackendError> {
        if self.key_mode == KeyMode::Console {
            self.replace_user(uid, Some(proposal)).await?;
            return Ok(proposal.clone());
        }
        if !self.admin_writes().await? {
            return Err(self.broken_keys());
        }
        let f = self.require(uid).await?;
        let v = self
            .admin_write(
                "MyFSIO add access key",
                reqwest::Method::POST,
                &format!("/iam/users/{}/keys", encode(&f.user.user_id)),
            )
            .await
            .inspect_err(|e| {
                if e.kind() == ErrorKind::Invalid {
                    self.set_admin_writes(false);
                }
            })?;
        let (Some(ak), Some(sk)) = (v["access_key"].as_str(), v["secret_key"].as_str()) else {
            return Err(BackendError::unexpected(
                "MyFSIO add access key: no access_key/secret_key in the answer",
            ));
        };
        Ok(KeyPair {
            access_key: ak.to_string(),
            secret_key: sk.to_string().into(),
        })
    }

    async fn delete_key(&self, uid: &str, access_key: &str) -> Result<(), BackendError> {
        if self.key_mode == KeyMode::Console {
            let f = self.require(uid).await?;
            if f.user.access_keys.iter().any(|k| k == access_key) {
                return self.replace_user(uid, None).await;
            }
            return Ok(());
        }
        if !self.admin_writes().await? {
            return Err(self.broken_keys());
        }
        let f = self.require(uid).await?;
        // Both generations act on the access key alone (the user segment is ignored).
        self.admin_write(
            "MyFSIO delete access key",
            reqwest::Method::DELETE,
            &format!(
                "/iam/users/{}/keys/{}",
                encode(&f.user.user_id),
                encode(access_key)
            ),
        )
        .await
        .map(|_| ())
    }

    /// Bytes always (the default quota where the order names none), objects where asked.
    /// The bucket is made again if someone removed it.
    async fn set_quotas(&self, uid: &str, quota: &QuotaSpec) -> Result<(), BackendError> {
        let f = self.require(uid).await?;
        if let Some(bucket) = self.own_bucket(uid, f.stamp.as_deref(), true).await? {
            self.write_quota(
                &bucket,
                quota.max_bytes.unwrap_or(self.default_quota),
                quota.max_objects,
            )
            .await?;
        }
        Ok(())
    }

    async fn quotas(&self, uid: &str) -> Result<AppliedQuota, BackendError> {
        let state = match self.read_quota(&bucket_for(uid)?).await {
            Ok(q) => q.map(|(s, _)| s).unwrap_or_default(),
            Err(e) if e.kind() == ErrorKind::NotFound => QuotaState::default(),
            Err(e) => return Err(e),
        };
        Ok(AppliedQuota(vec![ScopeQuota {
            scope: QuotaScope::Bucket,
            state,
        }]))
    }

    /// The resource's bucket: MyFSIO's own live counts from `GET ?quota` (exact and
    /// immediate), or every kept version (listed) with `bill_versions`.
    async fn buckets(&self, uid: &str) -> Result<Vec<BucketUsage>, BackendError> {
        let stamp = self.find(uid).await?.and_then(|f| f.stamp);
        let Some(bucket) = self.own_bucket(uid, stamp.as_deref(), false).await? else {
            return Ok(Vec::new());
        };
        let live = if self.bill_versions {
            None
        } else {
            self.read_quota(&bucket).await?.map(|(_, u)| u)
        };
        let (bytes, objects) = match live {
            Some(u) => u,
            None => {
                if !self.bill_versions {
                    tracing::warn!(
                        uid,
                        bucket,
                        "the bucket has no quota (usage is read from it); counting by listing until the next reconcile sets it"
                    );
                }
                let s = self.buckets.stored(&bucket).await?.unwrap_or_default();
                (s.bytes, s.objects)
            }
        };
        Ok(vec![BucketUsage {
            name: bucket,
            bytes,
            objects,
        }])
    }

    async fn close(&self) {
        self.console.logout().await;
    }

    fn resource_bucket(&self, uid: &str) -> Option<String> {
        bucket_for(uid).ok()
    }
}

/// Whether MyFSIO's policy list is exactly the tenant's grant (any order of actions, prefix
/// `*`).
fn same_grant(now: &[Value], wanted: &Value) -> bool {
    let Some(w) = wanted.as_array().and_then(|a| a.first()) else {
        return false;
    };
    let actions = |v: &Value| {
        let mut a: Vec<String> = v["actions"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_ascii_lowercase))
                    .collect()
            })
            .unwrap_or_default();
        a.sort();
        a
    };
    now.len() == 1
        && now[0]["bucket"] == w["bucket"]
        && now[0]["prefix"].as_str().unwrap_or("*") == "*"
        && actions(&now[0]) == actions(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grant_is_exactly_object_actions_on_one_bucket() {
        let g = grant("waldur-a");
        let p = g.as_array().unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0]["bucket"], "waldur-a");
        for a in p[0]["actions"].as_array().unwrap() {
            let a = a.as_str().unwrap();
            assert!(
                ![
                    "quota",
                    "policy",
                    "share",
                    "*",
                    "iam:*",
                    "create_bucket",
                    "delete_bucket"
                ]
                .contains(&a),
                "{a}"
            );
        }
        assert!(same_grant(
            &[
                json!({"bucket": "waldur-a", "actions": ["write", "read", "list", "delete"], "prefix": "*"})
            ],
            &g
        ));
        assert!(!same_grant(
            &[json!({"bucket": "*", "actions": ["write", "read", "list", "delete"]})],
            &g
        ));
        assert!(!same_grant(
            &[
                json!({"bucket": "waldur-a", "actions": ["write", "read", "list", "delete", "quota"]})
            ],
            &g
        ));
    }

    #[test]
    fn capabilities_per_key_mode() {
        let a = capabilities(KeyMode::Admin);
        assert_eq!(a.keys.keys_per_resource(2), 2);
        let c = capabilities(KeyMode::Console);
        assert_eq!(c.keys.keys_per_resource(2), 1);
        assert!(c.keys.id_known_in_advance());
        site_agent_sdk::conformance::capabilities_are_coherent(&a);
        site_agent_sdk::conformance::capabilities_are_coherent(&c);
    }
}
