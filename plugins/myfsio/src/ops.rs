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
//!   too: the agent names it (`WANCHOR…`, from the stamp) and never keeps its secret, so it
//!   works for nobody and is kept out of every key list (it also keeps the user from ever
//!   holding no key, which MyFSIO refuses).
//! - `console`: for v0.5 with `iam.json` encrypted at rest, whose admin key and enable/disable
//!   routes fail (a MyFSIO bug). The console has no key routes, only a create that takes a
//!   key pair: a user holds one key, the agent's, and a new key replaces the user (same
//!   display name, policies and state) at once (`Iam::replace_user`).
//!
//! Pause: v0.4 disables the user (admin route); v0.5 disables it where that route works and
//! otherwise empties its policies (on v0.5 an empty list grants nothing; on v0.4 it would
//! grant broad access, so it is never sent there).

use crate::admin::Generation;
use crate::bucket::Buckets;
use crate::display;
use crate::iam::{Iam, Resident, same_policies};
use serde_json::{Value, json};
use site_agent_sdk::keys::generate_key_pair;
use site_agent_sdk::naming::bucket_for;
use site_agent_sdk::sigv4::encode;
use site_agent_sdk::vendor::{VendorOps, VendorUser};
use site_agent_sdk::{
    AccessKeyOrigin, AppliedQuota, BackendError, BucketModel, BucketOptions, BucketUsage,
    Capabilities, Enforcement, ErrorKind, KeyPair, KeyPolicy, OptionCaps, QuotaCaps, QuotaSpec,
    QuotaState, RotationMode, Rounding, ScopeDims, SecretOrigin, StampPlace, Suspension,
};

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

/// The access keys the agent gives the console's own key (see the module text).
pub const ANCHOR_PREFIX: &str = "WANCHOR";
/// What a tenant may do in its bucket.
pub const TENANT_ACTIONS: [&str; 4] = ["delete", "list", "read", "write"];

pub fn is_anchor(access_key: &str) -> bool {
    access_key.starts_with(ANCHOR_PREFIX)
}

/// The one policy a tenant gets.
pub fn grant(bucket: &str) -> Value {
    json!([{"bucket": bucket, "actions": TENANT_ACTIONS}])
}

/// The console-made key of a resource's user: its access key follows from the stamp, so a
/// create whose answer was lost and is sent again is refused by the console (an access key
/// in use) instead of making a second user; its secret is random and never kept.
pub fn anchor(stamp: &str) -> Result<KeyPair, BackendError> {
    let digest = ring::digest::digest(&ring::digest::SHA256, stamp.as_bytes());
    let id: String = digest.as_ref()[..10]
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    Ok(KeyPair {
        access_key: format!("{ANCHOR_PREFIX}{id}"),
        secret_key: generate_key_pair()?.secret_key,
    })
}

pub struct MyfsioOps {
    pub iam: Iam,
    pub buckets: Buckets,
    pub key_mode: KeyMode,
    pub bill_versions: bool,
    pub caps: Capabilities,
}

impl MyfsioOps {
    pub fn new(iam: Iam, buckets: Buckets, key_mode: KeyMode, bill_versions: bool) -> Self {
        Self {
            iam,
            buckets,
            key_mode,
            bill_versions,
            caps: capabilities(key_mode),
        }
    }

    /// The resource's bucket if it is this user's (see `Buckets::own`).
    async fn own_bucket(
        &self,
        uid: &str,
        r: Option<&Resident>,
        create: bool,
    ) -> Result<Option<String>, BackendError> {
        let stamp = r.and_then(|r| r.stamp.as_deref());
        self.buckets.s3.own(&bucket_for(uid)?, stamp, create).await
    }

    fn broken_keys(&self) -> BackendError {
        BackendError::invalid(
            "MyFSIO refuses its admin key routes (v0.5 with iam.json encrypted at rest, a MyFSIO bug): set `key_mode: console` in backend_settings (one key per resource, made through the console)",
        )
        .with_retryable(false)
    }

    /// An admin key route's refusal: the encrypted-IAM failure becomes advice.
    async fn key_route_failed(&self, e: BackendError) -> BackendError {
        if e.kind() == ErrorKind::Invalid && self.iam.writes_broke().await.unwrap_or(false) {
            return self.broken_keys();
        }
        e
    }
}

#[async_trait::async_trait]
impl VendorOps for MyfsioOps {
    fn kind(&self) -> &'static str {
        "myfsio"
    }

    fn capabilities(&self) -> Capabilities {
        self.caps.clone()
    }

    async fn ping(&self) -> Result<(), BackendError> {
        self.iam.ping().await
    }

    /// MyFSIO takes any number of users with one display name: the agent looks first, and
    /// the anchor key (one per resource) makes the console refuse a second create.
    async fn create_user(&self, uid: &str, _name: &str, stamp: &str) -> Result<(), BackendError> {
        let display = display::display_name(uid, stamp)?;
        let bucket = bucket_for(uid)?;
        let key = anchor(stamp)?;
        self.iam.drop_listing();
        let exists = || BackendError::already_exists(format!("MyFSIO user for {uid:?} exists"));
        if self.iam.find(uid).await?.is_some() {
            return Err(exists());
        }
        match self.iam.create(&display, &grant(&bucket), &key).await {
            Ok(()) => Ok(()),
            // Refused (or its answer lost): if the anchor's user is there, it was made.
            Err(e) if self.iam.sees_key(&key.access_key).await.unwrap_or(false) => {
                tracing::info!(uid, error = %e, "the MyFSIO user was made by an earlier attempt");
                self.iam.drop_listing();
                Err(exists())
            }
            Err(e) => Err(e),
        }
    }

    async fn write_stamp(&self, uid: &str, stamp: &str) -> Result<(), BackendError> {
        let r = self.iam.require(uid).await?;
        let display = display::display_name(uid, stamp)?;
        self.iam.rename(&r.user.user_id, &display).await
    }

    /// A new user whose bucket name is taken goes again: the order is refused cleanly.
    async fn after_create(&self, uid: &str) -> Result<(), BackendError> {
        let r = self.iam.require(uid).await?;
        match self.own_bucket(uid, Some(&r), true).await {
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                self.iam.delete(&r.user).await?;
                Err(e)
            }
            other => other.map(|_| ()),
        }
    }

    /// The bucket (stamped), a quota on it, and the user's grant on exactly it (a list
    /// granting anything else is replaced; an empty list is a paused v0.5 user, left so).
    async fn provision(&self, uid: &str, _options: &BucketOptions) -> Result<(), BackendError> {
        let r = self.iam.require(uid).await?;
        let bucket = self
            .own_bucket(uid, Some(&r), true)
            .await?
            .ok_or_else(|| BackendError::unavailable(format!("bucket of {uid:?} not made")))?;
        if self.buckets.quota(&bucket).await?.is_none() {
            self.buckets
                .set_quota(&bucket, self.buckets.default_quota, None)
                .await?;
        }
        let wanted = grant(&bucket);
        let now = self.iam.policies(&r.user.user_id).await?;
        if !now.is_empty() && !same_policies(&now, &wanted) {
            self.iam.set_policies(&r.user.user_id, &wanted).await?;
        }
        Ok(())
    }

    async fn user(&self, uid: &str) -> Result<Option<VendorUser>, BackendError> {
        let Some(r) = self.iam.find(uid).await? else {
            return Ok(None);
        };
        let paused = !r.user.enabled || r.user.policies == Some(0);
        Ok(Some(VendorUser {
            uid: uid.to_string(),
            name: r.user.display_name.clone(),
            stamp: r.stamp,
            suspension: if paused {
                Suspension::Suspended
            } else {
                Suspension::Active
            },
            access_keys: r
                .user
                .access_keys
                .into_iter()
                .filter(|k| !is_anchor(k))
                .collect(),
        }))
    }

    async fn delete_user(&self, uid: &str, purge: bool) -> Result<(), BackendError> {
        let r = self.iam.require(uid).await?;
        if let Some(bucket) = self.own_bucket(uid, Some(&r), false).await? {
            if purge {
                // Fenced off first, so nothing is written while the bucket is emptied.
                self.set_suspended(uid, true).await?;
                self.buckets.remove_quota(&bucket).await?;
                let gone = self.buckets.s3.purge(&bucket).await?;
                tracing::info!(uid, bucket, objects = gone, "purged the resource's bucket");
            } else if self.buckets.s3.holds_objects(&bucket).await? {
                return Err(BackendError::not_empty(format!(
                    "bucket {bucket:?} holds objects"
                )));
            } else {
                self.buckets.remove_quota(&bucket).await?;
                if let Err(e) = self.buckets.s3.delete(&bucket).await {
                    // A write slipped in (`BucketNotEmpty`): the ceiling goes back at once.
                    let q = self
                        .buckets
                        .set_quota(&bucket, self.buckets.default_quota, None);
                    if let Err(back) = q.await {
                        tracing::error!(uid, bucket, error = %back, "bucket left without a quota; the reconcile pass sets it");
                    }
                    return Err(e);
                }
            }
        }
        let r = self.iam.require(uid).await?;
        for left in &r.leftovers {
            self.iam.delete(left).await?;
        }
        self.iam.delete(&r.user).await
    }

    async fn set_suspended(&self, uid: &str, suspended: bool) -> Result<(), BackendError> {
        let r = self.iam.require(uid).await?;
        let id = r.user.user_id.clone();
        let g = self.iam.generation().await?;
        if g == Generation::V04 || self.iam.admin_writes().await? {
            match self.iam.switch(&id, !suspended).await {
                Ok(()) => {
                    // A user paused by its policies (while the routes failed) gets them back.
                    if !suspended && g == Generation::V05 && r.user.policies == Some(0) {
                        self.iam
                            .set_policies(&id, &grant(&bucket_for(uid)?))
                            .await?;
                    }
                    return Ok(());
                }
                Err(e)
                    if g == Generation::V05
                        && e.kind() == ErrorKind::Invalid
                        && self.iam.writes_broke().await? => {}
                Err(e) => return Err(e),
            }
        }
        // v0.5 without working enable/disable: an empty policy list grants nothing.
        if suspended {
            return self.iam.set_policies(&id, &json!([])).await;
        }
        if !r.user.enabled {
            return Err(BackendError::invalid(format!(
                "MyFSIO user {id} is disabled and MyFSIO refuses its enable route (v0.5 with iam.json encrypted at rest); enable it in the console"
            )));
        }
        self.iam.set_policies(&id, &grant(&bucket_for(uid)?)).await
    }

    async fn issue_key(&self, uid: &str, proposal: &KeyPair) -> Result<KeyPair, BackendError> {
        if self.key_mode == KeyMode::Console {
            self.iam.replace_user(uid, proposal).await?;
            return Ok(proposal.clone());
        }
        if !self.iam.admin_writes().await? {
            return Err(self.broken_keys());
        }
        let r = self.iam.require(uid).await?;
        let v = match self
            .iam
            .admin_write(
                "MyFSIO add access key",
                reqwest::Method::POST,
                &format!("/iam/users/{}/keys", encode(&r.user.user_id)),
            )
            .await
        {
            Ok(v) => v,
            Err(e) => return Err(self.key_route_failed(e).await),
        };
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
        let r = self.iam.require(uid).await?;
        if self.key_mode == KeyMode::Console {
            if r.user.access_keys.iter().any(|k| k == access_key) {
                // The resource's anchor, unless the user holds it already (a user from the
                // admin key mode): then any anchor does.
                let mut a = anchor(r.stamp.as_deref().unwrap_or(uid))?;
                if r.user.access_keys.contains(&a.access_key) {
                    a = anchor(&generate_key_pair()?.access_key)?;
                }
                return self.iam.replace_user(uid, &a).await;
            }
            return Ok(());
        }
        if !self.iam.admin_writes().await? {
            return Err(self.broken_keys());
        }
        // Both generations act on the access key alone (the user segment is ignored).
        match self
            .iam
            .admin_write(
                "MyFSIO delete access key",
                reqwest::Method::DELETE,
                &format!(
                    "/iam/users/{}/keys/{}",
                    encode(&r.user.user_id),
                    encode(access_key)
                ),
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => Err(self.key_route_failed(e).await),
        }
    }

    /// Bytes always (the default quota where the order names none), objects where asked.
    /// The bucket is made again if someone removed it.
    async fn set_quotas(&self, uid: &str, quota: &QuotaSpec) -> Result<(), BackendError> {
        let r = self.iam.require(uid).await?;
        if let Some(bucket) = self.own_bucket(uid, Some(&r), true).await? {
            self.buckets
                .set_quota(
                    &bucket,
                    quota.max_bytes.unwrap_or(self.buckets.default_quota),
                    quota.max_objects,
                )
                .await?;
        }
        Ok(())
    }

    async fn quotas(&self, uid: &str) -> Result<AppliedQuota, BackendError> {
        let state = match self.buckets.quota(&bucket_for(uid)?).await {
            Ok(q) => q.map(|(s, _)| s).unwrap_or_default(),
            Err(e) if e.code() == Some("NoSuchBucket") => QuotaState::default(),
            Err(e) => return Err(e),
        };
        Ok(AppliedQuota::bucket_only(state))
    }

    /// The resource's bucket: MyFSIO's own live counts from `GET ?quota` (exact and
    /// immediate), or every kept version (listed) with `bill_versions`.
    async fn buckets(&self, uid: &str) -> Result<Vec<BucketUsage>, BackendError> {
        let r = self.iam.find(uid).await?;
        let Some(bucket) = self.own_bucket(uid, r.as_ref(), false).await? else {
            return Ok(Vec::new());
        };
        let live = if self.bill_versions {
            None
        } else {
            self.buckets.quota(&bucket).await?.map(|(_, u)| u)
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
                let s = self.buckets.s3.stored(&bucket).await?.unwrap_or_default();
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
        self.iam.console.logout().await;
    }

    fn resource_bucket(&self, uid: &str) -> Option<String> {
        bucket_for(uid).ok()
    }
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
    }

    #[test]
    fn the_anchor_follows_from_the_stamp_and_its_secret_does_not() {
        let a = anchor("waldur-x-u@invalid").unwrap();
        let b = anchor("waldur-x-u@invalid").unwrap();
        assert_eq!(a.access_key, b.access_key);
        assert!(is_anchor(&a.access_key));
        assert!(
            a.access_key
                .bytes()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        );
        use secrecy::ExposeSecret;
        assert_ne!(a.secret_key.expose_secret(), b.secret_key.expose_secret());
        assert_ne!(
            anchor("waldur-y-u@invalid").unwrap().access_key,
            a.access_key
        );
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
