//! ECS in the vendor-neutral shape: one object user per resource in the configured namespace
//! (stamped in a tag), one bucket the agent makes for it (owned by the user, its quota the
//! ceiling), secrets the agent proposes (the access key is the user), lock for pause.
//!
//! ECS has no user quota (reference `other-backends.md` §3.3), so the resource's bucket carries
//! the ceiling as `blockSize` (writes stop) and `notificationSize`, in whole GB rounded down.
//! A tenant can make more buckets of its own with S3; they are billed (usage is every bucket
//! the user owns) and each is capped at what the ceiling leaves after the others, so the
//! total stays bounded; the reconcile pass caps one made since the last pass.

use crate::api::{EcsApi, GIB, quota_gb};
use secrecy::{ExposeSecret, SecretString};
use site_agent_sdk::keys::{generate_key_pair, secret_fingerprint};
use site_agent_sdk::naming::bucket_for;
use site_agent_sdk::s3bucket::S3Buckets;
use site_agent_sdk::sigv4::{SignedHttp, Signer};
use site_agent_sdk::vendor::{VendorOps, VendorUsage, VendorUser};
use site_agent_sdk::{
    AccessKeyOrigin, AppliedQuota, BackendError, BucketModel, BucketOptions, BucketUsage,
    Capabilities, Enforcement, ErrorKind, KeyPair, KeyPolicy, OptionCaps, OptionSupport, QuotaCaps,
    QuotaSpec, QuotaState, RotationMode, Rounding, ScopeDims, SecretOrigin, StampPlace, Suspension,
};
use std::collections::HashMap;
use std::time::{Duration, Instant};

pub const CAPABILITIES: Capabilities = Capabilities {
    quota: QuotaCaps {
        user: None,
        // No object-count quota on ECS.
        bucket: Some(ScopeDims {
            bytes: true,
            objects: false,
        }),
        byte_granularity: GIB,
        rounding: Rounding::Down,
        // blockSize bites on the write path, but a bucket the tenant makes itself is capped
        // only by the next pass, and metering lags: the pass reports an overrun.
        enforcement: Enforcement::Lagging,
    },
    keys: KeyPolicy {
        // The agent proposes the secret (as the CloudStack driver does); ECS keeps it.
        secret: SecretOrigin::Agent,
        access_key: AccessKeyOrigin::User,
        tenant_can_issue: false,
        max_keys: Some(2),
        rotation: RotationMode::AddThenRemove,
    },
    buckets: BucketModel::Granted,
    stamp: StampPlace::Tag,
    suspend: true,
    purge: true,
    metered_series: false,
    usage_precision: 1024,
    options: OptionCaps {
        // Fixed when the bucket is made (`is_encryption_enabled`).
        encryption: OptionSupport::AtCreate,
        // S3 `PUT ?versioning` with the owner's key on the private S3 URL.
        versioning: OptionSupport::Changeable,
        // The Management API's bucket policy (private = no policy).
        policy: OptionSupport::Changeable,
        // The CloudStack ECS driver refuses it ("Dell ECS doesn't support this feature").
        object_lock: OptionSupport::No,
    },
};

/// How long a namespace bucket listing serves lookups.
const LISTING_FOR: Duration = Duration::from_secs(60);

/// The namespace's buckets by owner, and when they were listed.
pub type Listing = tokio::sync::Mutex<Option<(Instant, HashMap<String, Vec<String>>)>>;

pub struct EcsOps {
    pub api: EcsApi,
    /// The namespace listing a pass shares (see `owned`).
    pub listing: Listing,
    /// The agent's own S3 calls (versioning, purge): the private S3 URL.
    pub s3_http: reqwest::Client,
    pub s3_private_endpoint: String,
    pub s3_region: String,
}

/// Caps in whole GB for buckets holding `held` GB each (the resource's first): what each
/// holds plus an even share of what `ceiling` leaves, the remainder to the first; at least 1.
fn split_ceiling(ceiling: i64, held: &[i64]) -> Vec<i64> {
    let n = held.len().max(1) as i64;
    let left = (ceiling - held.iter().sum::<i64>()).max(0);
    let (share, rest) = (left / n, left % n);
    held.iter()
        .enumerate()
        .map(|(i, h)| (h + share + if i == 0 { rest } else { 0 }).max(1))
        .collect()
}

fn foreign(bucket: &str) -> BackendError {
    BackendError::already_exists(format!(
        "bucket {bucket:?} already exists in the namespace and belongs to another user; refusing to use it"
    ))
}

impl EcsOps {
    /// The S3 bucket client signed as the user (its access key is its name).
    fn s3(&self, uid: &str, secret: SecretString) -> S3Buckets {
        S3Buckets::new(
            SignedHttp::new(
                self.s3_http.clone(),
                Signer::new(uid.to_string(), secret, self.s3_region.clone(), "s3"),
            ),
            &self.s3_private_endpoint,
            "ECS S3",
        )
    }

    /// Runs `f` with an S3 client signed by one of the user's secrets; where it has none yet
    /// (a Create, before its key), with a temporary one that is removed afterwards (one left
    /// by a crash is a key Waldur does not hold: the order's key step prunes it).
    async fn with_owner_key<F, Fut>(&self, uid: &str, f: F) -> Result<(), BackendError>
    where
        F: FnOnce(S3Buckets) -> Fut,
        Fut: std::future::Future<Output = Result<(), BackendError>>,
    {
        if let Some(secret) = self.api.secrets(uid).await?.into_iter().next() {
            return f(self.s3(uid, secret)).await;
        }
        let temp = generate_key_pair()?.secret_key;
        self.api.add_secret(uid, &temp).await?;
        let r = f(self.s3(uid, temp.clone())).await;
        let cleaned = self.api.delete_secret(uid, &temp).await;
        match (r, cleaned) {
            // The work's own failure says more than the clean-up's (a secret left behind is
            // one Waldur does not hold: the reconcile pass removes it).
            (Err(e), c) => {
                if let Err(c) = c {
                    tracing::warn!(uid, error = %c, "a temporary secret was not removed; the reconcile pass does");
                }
                Err(e)
            }
            (Ok(()), c) => c,
        }
    }

    /// The secret of `uid` whose fingerprint is `id`.
    async fn secret_by_id(
        &self,
        uid: &str,
        id: &str,
    ) -> Result<Option<SecretString>, BackendError> {
        Ok(self
            .api
            .secrets(uid)
            .await?
            .into_iter()
            .find(|s| secret_fingerprint(s.expose_secret()) == id))
    }

    /// Every bucket the user owns, the resource's first (when it exists): from a fresh
    /// listing where a change follows (quotas, delete), else from the namespace listing the
    /// pass shares (refreshed by `ping` and at most [`LISTING_FOR`] old), so a usage cycle
    /// over many resources lists the namespace once, not once per resource.
    async fn owned(&self, uid: &str, fresh: bool) -> Result<Vec<String>, BackendError> {
        let mine = bucket_for(uid)?;
        let mut all = if fresh {
            self.api.buckets_of(uid).await?
        } else {
            let mut listing = self.listing.lock().await;
            if listing
                .as_ref()
                .is_none_or(|(at, _)| at.elapsed() >= LISTING_FOR)
            {
                *listing = Some((Instant::now(), self.api.buckets_by_owner().await?));
            }
            listing
                .as_ref()
                .and_then(|(_, by)| by.get(uid).cloned())
                .unwrap_or_default()
        };
        all.sort_by_key(|b| *b != mine);
        Ok(all)
    }

    /// Drops the shared listing (the next lookup lists the namespace again).
    async fn forget_listing(&self) {
        *self.listing.lock().await = None;
    }
}

#[async_trait::async_trait]
impl VendorOps for EcsOps {
    fn kind(&self) -> &'static str {
        "dell_ecs"
    }

    fn capabilities(&self) -> Capabilities {
        CAPABILITIES
    }

    /// A pass starts here: it sees the namespace as it is now.
    async fn ping(&self) -> Result<(), BackendError> {
        self.api.whoami().await?;
        self.forget_listing().await;
        Ok(())
    }

    /// ECS takes the tags with the user: never a bare user.
    async fn create_user(&self, uid: &str, _name: &str, stamp: &str) -> Result<(), BackendError> {
        bucket_for(uid)?;
        self.api.create_user(uid, stamp).await
    }

    /// A new user whose bucket name is taken goes again: the order is refused cleanly.
    async fn after_create(&self, uid: &str) -> Result<(), BackendError> {
        let name = bucket_for(uid)?;
        match self.api.bucket(&name).await? {
            Some(b) if b.owner != uid => {
                self.api.delete_user(uid).await?;
                Err(foreign(&name))
            }
            _ => Ok(()),
        }
    }

    /// The resource's bucket, owned by the user, with the encryption asked for (fixed from
    /// then on); made without a quota (the user has no key yet; the ceiling follows at once).
    /// One of that name owned by anyone else is refused.
    async fn provision(&self, uid: &str, options: &BucketOptions) -> Result<(), BackendError> {
        let name = bucket_for(uid)?;
        let encryption = options.encryption.unwrap_or(false);
        match self.api.bucket(&name).await? {
            Some(b) if b.owner == uid => Ok(()),
            Some(_) => Err(foreign(&name)),
            None => match self.api.create_bucket(&name, uid, None, encryption).await {
                Ok(()) => Ok(()),
                // Made by an answer that was lost: whose it is decides.
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                    match self.api.bucket(&name).await? {
                        Some(b) if b.owner == uid => Ok(()),
                        _ => Err(foreign(&name)),
                    }
                }
                Err(e) => Err(e),
            },
        }
    }

    /// Versioning over S3 with the owner's key; the policy through the Management API.
    async fn set_options(&self, uid: &str, options: &BucketOptions) -> Result<(), BackendError> {
        let name = bucket_for(uid)?;
        if let Some(p) = options.policy {
            self.api.set_policy(&name, p).await?;
        }
        if let Some(on) = options.versioning {
            // S3 refuses a locked user's key, and the agent has no S3 identity of its own.
            if self.api.user(uid).await?.is_some_and(|u| u.locked) {
                return Err(BackendError::invalid(
                    "versioning cannot be changed while the resource is paused; restore it first",
                ));
            }
            self.with_owner_key(uid, |s3| {
                let name = name.clone();
                async move { s3.set_versioning(&name, on).await }
            })
            .await?;
        }
        Ok(())
    }

    async fn options(&self, uid: &str) -> Result<BucketOptions, BackendError> {
        let name = bucket_for(uid)?;
        let Some(b) = self.api.bucket(&name).await? else {
            return Ok(BucketOptions::default());
        };
        let policy = self.api.policy(&name).await?;
        // Read only with a key the user already has (no key is made just to look), and not
        // while the user is locked (S3 refuses its keys).
        let locked = self.api.user(uid).await?.is_some_and(|u| u.locked);
        let versioning = match self.api.secrets(uid).await?.into_iter().next() {
            Some(secret) if !locked => Some(self.s3(uid, secret).versioning(&name).await?),
            _ => None,
        };
        Ok(BucketOptions {
            encryption: Some(b.encryption),
            versioning,
            policy: Some(policy),
            object_lock: Some(false),
        })
    }

    async fn user(&self, uid: &str) -> Result<Option<VendorUser>, BackendError> {
        let Some(u) = self.api.user(uid).await? else {
            return Ok(None);
        };
        let access_keys = self
            .api
            .secrets(uid)
            .await?
            .iter()
            .map(|s| secret_fingerprint(s.expose_secret()))
            .collect();
        Ok(Some(VendorUser {
            uid: uid.to_string(),
            name: uid.to_string(),
            stamp: u.stamp().map(str::to_string),
            suspension: Suspension::of(u.locked),
            access_keys,
        }))
    }

    /// Buckets first (ECS refuses to deactivate a user that owns any), each refused by ECS
    /// while it holds objects unless `purge`, which empties them over S3 with the owner's key
    /// (every version); the user's secrets go with the user.
    async fn delete_user(&self, uid: &str, purge: bool) -> Result<(), BackendError> {
        let owned = self.owned(uid, true).await?;
        if purge && !owned.is_empty() {
            // A locked user's key is refused by S3: unlocked for the purge (the user goes
            // right after; a write meanwhile makes the bucket delete fail and the retry purge
            // again), and locked again if the purge fails.
            let locked = self.api.user(uid).await?.is_some_and(|u| u.locked);
            if locked {
                self.api.set_locked(uid, false).await?;
            }
            let purged = self
                .with_owner_key(uid, |s3| {
                    let owned = owned.clone();
                    async move {
                        for b in &owned {
                            let gone = s3.purge(b).await?;
                            tracing::info!(uid, bucket = %b, objects = gone, "purged a bucket of the resource");
                        }
                        Ok(())
                    }
                })
                .await;
            if let Err(e) = purged {
                if locked && let Err(l) = self.api.set_locked(uid, true).await {
                    tracing::error!(uid, error = %l, "could not lock the paused user again after a failed purge; the reconcile pass does");
                }
                return Err(e);
            }
        }
        for b in self.owned(uid, true).await? {
            self.api.delete_bucket(&b).await?;
        }
        self.api.delete_user(uid).await
    }

    async fn set_suspended(&self, uid: &str, suspended: bool) -> Result<(), BackendError> {
        self.api.set_locked(uid, suspended).await
    }

    /// Adds the proposed secret (a retry after a lost answer finds it there already).
    async fn issue_key(&self, uid: &str, proposal: &KeyPair) -> Result<KeyPair, BackendError> {
        let id = secret_fingerprint(proposal.secret_key.expose_secret());
        if self.secret_by_id(uid, &id).await?.is_none() {
            self.api.add_secret(uid, &proposal.secret_key).await?;
        }
        Ok(KeyPair {
            access_key: uid.to_string(),
            secret_key: proposal.secret_key.clone(),
        })
    }

    /// `key` is the secret's fingerprint: ECS deletes a secret by its value.
    async fn delete_key(&self, uid: &str, key: &str) -> Result<(), BackendError> {
        match self.secret_by_id(uid, key).await? {
            Some(secret) => self.api.delete_secret(uid, &secret).await,
            None => Err(BackendError::not_found(format!(
                "S3 user {uid:?} has no secret {key}"
            ))),
        }
    }

    /// The ceiling bounds the user's buckets together: each holds what it has (whole GB, up)
    /// plus an even share of what the ceiling leaves, the remainder going to the resource's
    /// bucket, so the caps add up to the ceiling (ECS's smallest quota, 1 GB per bucket, may
    /// push a user with many buckets past it). With one bucket that is the ceiling itself.
    async fn set_quotas(&self, uid: &str, quota: &QuotaSpec) -> Result<(), BackendError> {
        let Some(max) = quota.max_bytes else {
            return Ok(());
        };
        let ceiling = quota_gb(max)?;
        let owned = self.owned(uid, true).await?;
        if owned.len() <= 1 {
            return self.api.set_bucket_quota(&bucket_for(uid)?, ceiling).await;
        }
        let mut held = Vec::with_capacity(owned.len());
        for b in &owned {
            held.push(self.api.metered(b).await?.bytes.div_ceil(GIB) as i64);
        }
        for (b, cap) in owned.iter().zip(split_ceiling(ceiling, &held)) {
            self.api.set_bucket_quota(b, cap).await?;
        }
        Ok(())
    }

    /// The caps on the user's buckets together (see `set_quotas`); not in force while a
    /// bucket of the user has none (one the tenant made since: the reconcile pass caps it).
    async fn quotas(&self, uid: &str) -> Result<AppliedQuota, BackendError> {
        let mine = bucket_for(uid)?;
        if self.api.bucket(&mine).await?.is_none() {
            return Ok(AppliedQuota::default());
        }
        let (mut enabled, mut total) = (true, 0u64);
        let mut owned = self.owned(uid, false).await?;
        // Made since the listing: it exists (just read), so it counts.
        if !owned.contains(&mine) {
            owned.insert(0, mine.clone());
        }
        for b in owned {
            match self.api.bucket(&b).await? {
                Some(o) if o.block_size > 0 => total += o.block_size as u64 * GIB,
                Some(_) => enabled = false,
                None => {}
            }
        }
        Ok(AppliedQuota::bucket_only(QuotaState {
            enabled,
            max_size_bytes: (total > 0).then_some(total),
            max_objects: None,
        }))
    }

    async fn buckets(&self, uid: &str) -> Result<Vec<BucketUsage>, BackendError> {
        Ok(self.metered(uid).await?.buckets)
    }

    /// Every bucket the user owns, as ECS metering last saw it; the reading is as old as the
    /// oldest bucket's sample. The resource's bucket is always read; others come from the
    /// listing the pass shares (one the tenant made in the last minute may be missed once, as
    /// ECS's own metering of it lags further still).
    async fn metered(&self, uid: &str) -> Result<VendorUsage, BackendError> {
        let mut out = Vec::new();
        let mut oldest: Option<i64> = None;
        let mine = bucket_for(uid)?;
        let mut names = self.owned(uid, false).await?;
        if !names.contains(&mine) {
            names.insert(0, mine.clone());
        }
        for name in names {
            let m = match self.api.metered(&name).await {
                Ok(m) => m,
                Err(e) if e.kind() == ErrorKind::NotFound && name == mine => continue,
                Err(e) => return Err(e),
            };
            // A bucket metering has not reached yet has no sample time worth the name.
            if m.sample_time > 0 {
                oldest = Some(oldest.map_or(m.sample_time, |o| o.min(m.sample_time)));
            }
            out.push(BucketUsage {
                name,
                bytes: m.bytes,
                objects: m.objects,
            });
        }
        Ok(VendorUsage {
            buckets: out,
            totals: None,
            sampled_at: oldest,
        })
    }

    fn resource_bucket(&self, uid: &str) -> Option<String> {
        bucket_for(uid).ok()
    }

    async fn close(&self) {
        self.api.client.logout().await
    }
}

#[cfg(test)]
mod tests {
    use super::split_ceiling;

    #[test]
    fn caps_add_up_to_the_ceiling() {
        assert_eq!(split_ceiling(10, &[3, 1]), vec![6, 4]);
        assert_eq!(split_ceiling(10, &[0, 0, 0]), vec![4, 3, 3]);
        assert_eq!(split_ceiling(10, &[0]), vec![10]);
        // Over the ceiling: each keeps what it holds (writes stop), never below 1 GB.
        assert_eq!(split_ceiling(5, &[4, 3, 0]), vec![4, 3, 1]);
    }
}
