//! [`VendorOps`] for MinIO: a user per resource, one bucket the agent makes for it (the
//! `Granted` model: MinIO has no user quota, no object-count quota and no bucket owner), a
//! canned policy on exactly that bucket, named after the resource's ownership stamp, and keys
//! that are service accounts of the user (the user's own secret is never handed out).

use crate::admin::{Admin, DataUsage};
use crate::policy;
use site_agent_sdk::naming::bucket_for;
use site_agent_sdk::s3bucket::S3Buckets;
use site_agent_sdk::vendor::{VendorOps, VendorUsage, VendorUser};
use site_agent_sdk::{
    AccessKeyOrigin, AppliedQuota, BackendError, BucketModel, BucketUsage, Capabilities,
    Enforcement, ErrorKind, KeyPair, KeyPolicy, QuotaCaps, QuotaSpec, QuotaState, RotationMode,
    ScopeDims, SecretOrigin, StampPlace, Suspension,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a listed set of service-account keys is trusted.
const KEYS_FRESH_FOR: Duration = Duration::from_secs(3600);

/// What MinIO can do through its admin API (other-backends.md §2.3).
pub const CAPABILITIES: Capabilities = Capabilities {
    quota: QuotaCaps {
        user: None,
        // A hard size quota per bucket; no object-count quota.
        bucket: Some(ScopeDims {
            bytes: true,
            objects: false,
        }),
        byte_granularity: 1,
        rounding: site_agent_sdk::Rounding::Up,
        // Checked against the scanner's usage figures, which lag the writes.
        enforcement: Enforcement::Lagging,
    },
    keys: KeyPolicy {
        // Service accounts take the agent's pair (access key 3-20, secret 8-40 characters:
        // the agent's 20 and 40).
        secret: SecretOrigin::Agent,
        access_key: AccessKeyOrigin::Agent,
        max_keys: None,
        // MinIO lets a user make service accounts for itself unless a policy denies it; the
        // tenant's policy does.
        tenant_can_issue: false,
        rotation: RotationMode::AddThenRemove,
    },
    buckets: BucketModel::Granted,
    stamp: StampPlace::PolicyName,
    suspend: true,
    purge: true,
    metered_series: false,
    usage_precision: 1,
    options: site_agent_sdk::OptionCaps::NONE,
};

pub struct MinioOps {
    pub admin: Admin,
    pub buckets: S3Buckets,
    /// Service-account keys per user, as listed (an encrypted answer: a 64 MiB key derivation
    /// each) and since changed by the agent, trusted for [`KEYS_FRESH_FOR`] (only the agent
    /// mints keys: the tenant's policy denies it; an operator's change shows within that
    /// time). Any failed key change drops the user's entry: it may have happened anyway.
    keys: Mutex<HashMap<String, (Instant, Vec<String>)>>,
    /// Bumped around every key change: a listing is kept only if none began or ended while
    /// it was read (it might not show that change).
    key_writes: std::sync::atomic::AtomicU64,
    usage: tokio::sync::Mutex<Option<(Instant, Arc<DataUsage>)>>,
    /// How long one `datausageinfo` answer serves (`usage_cache_seconds`).
    usage_fresh_for: Duration,
}

impl MinioOps {
    pub fn new(admin: Admin, buckets: S3Buckets, usage_fresh_for: Duration) -> Self {
        Self {
            admin,
            buckets,
            keys: Mutex::default(),
            key_writes: Default::default(),
            usage: tokio::sync::Mutex::default(),
            usage_fresh_for,
        }
    }

    fn cached_keys(&self, uid: &str) -> Option<Vec<String>> {
        self.keys
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(uid)
            .filter(|(at, _)| at.elapsed() < KEYS_FRESH_FOR)
            .map(|(_, k)| k.clone())
    }

    /// Applies a key change the server confirmed to a kept list.
    fn update_keys(&self, uid: &str, f: impl FnOnce(&mut Vec<String>)) {
        if let Some((_, k)) = self
            .keys
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(uid)
        {
            f(k);
        }
    }

    fn forget_keys(&self, uid: &str) {
        self.keys
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(uid);
    }

    fn key_write(&self) {
        self.key_writes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    async fn listed_keys(&self, uid: &str) -> Result<Vec<String>, BackendError> {
        if let Some(k) = self.cached_keys(uid) {
            return Ok(k);
        }
        let writes = self.key_writes.load(std::sync::atomic::Ordering::SeqCst);
        let keys = self.admin.service_accounts(uid).await?;
        let mut kept = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        if self.key_writes.load(std::sync::atomic::Ordering::SeqCst) == writes {
            kept.insert(uid.to_string(), (Instant::now(), keys.clone()));
        }
        Ok(keys)
    }

    /// The user's stamp and status, or `None` when it does not exist. A user with policies or
    /// groups but no policy named after a stamp carries their names as a stamp that is no
    /// resource's: an operator's user is never taken for a bare one.
    async fn stamp_and_status(
        &self,
        uid: &str,
    ) -> Result<Option<(Option<String>, bool)>, BackendError> {
        Ok(self.admin.user_info(uid).await?.map(|info| {
            let stamp = info
                .policies()
                .find_map(|p| policy::stamp_in(p, uid))
                .or_else(|| {
                    // Policies or groups of someone else's (a group's policies reach the user
                    // and its service accounts).
                    let groups = info.member_of.join(",");
                    (!info.policy_name.is_empty() || !groups.is_empty())
                        .then(|| format!("minio-policies:{};groups:{groups}", info.policy_name))
                });
            (stamp, info.enabled())
        }))
    }

    /// Names the user's policy after `stamp`: made on the resource's bucket and made the
    /// user's only policy.
    async fn stamp_policy(&self, uid: &str, stamp: &str) -> Result<(), BackendError> {
        let name = policy::name_for(stamp);
        self.admin
            .add_policy(&name, &policy::document(&bucket_for(uid)?))
            .await?;
        self.admin.set_user_policy(uid, &name).await
    }

    /// The user's bucket, made and stamped if missing (the SDK's rule for `Granted` buckets).
    async fn own_bucket(&self, uid: &str, create: bool) -> Result<Option<String>, BackendError> {
        let stamp = self.stamp_and_status(uid).await?.and_then(|(s, _)| s);
        self.buckets
            .own(&bucket_for(uid)?, stamp.as_deref(), create)
            .await
    }

    /// `datausageinfo`, shared by the lookups of a usage pass for a few seconds.
    async fn data_usage(&self) -> Result<Arc<DataUsage>, BackendError> {
        let mut kept = self.usage.lock().await;
        if let Some((at, u)) = kept.as_ref()
            && at.elapsed() < self.usage_fresh_for
        {
            return Ok(u.clone());
        }
        *kept = None;
        let u = Arc::new(self.admin.data_usage().await?);
        *kept = Some((Instant::now(), u.clone()));
        Ok(u)
    }
}

/// Unix seconds of an RFC 3339 time; `None` for MinIO's zero time (the scanner never ran).
fn unix_of(rfc3339: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .ok()
        .map(|t| t.timestamp())
        .filter(|&t| t > 0)
}

#[async_trait::async_trait]
impl VendorOps for MinioOps {
    fn kind(&self) -> &'static str {
        "minio"
    }

    fn capabilities(&self) -> Capabilities {
        CAPABILITIES
    }

    /// Also drops the kept usage figures: a pass starting with a ping reads them anew.
    async fn ping(&self) -> Result<(), BackendError> {
        *self.usage.lock().await = None;
        self.admin.server_info().await
    }

    /// MinIO's `add-user` is add-or-update (it would reset a stranger's secret): the user is
    /// looked up first. Its own secret is random and never kept or handed out. The stamp
    /// follows at once (an interruption in between leaves a bare user the next attempt stamps).
    async fn create_user(&self, uid: &str, _name: &str, stamp: &str) -> Result<(), BackendError> {
        bucket_for(uid)?;
        match self.admin.user_info(uid).await {
            Ok(None) => {}
            Ok(Some(_)) => {
                return Err(BackendError::already_exists(format!(
                    "MinIO user {uid:?} already exists"
                )));
            }
            // The name is a service account's access key.
            Err(e) if e.code() == Some("XMinioIAMActionNotAllowed") => {
                return Err(BackendError::already_exists(format!(
                    "MinIO refuses the user name {uid:?}: it is taken ({e})"
                )));
            }
            Err(e) => return Err(e),
        }
        let secret = site_agent_sdk::keys::generate_key_pair()?.secret_key;
        match self.admin.add_user(uid, &secret).await {
            // The name is root's or a service account's.
            Err(e) if e.code() == Some("XMinioInvalidIAMCredentials") => {
                return Err(BackendError::already_exists(format!(
                    "MinIO refuses the user name {uid:?}: it is taken ({e})"
                )));
            }
            other => other?,
        }
        self.keys
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(uid.to_string(), (Instant::now(), Vec::new()));
        self.stamp_policy(uid, stamp).await
    }

    /// Claims a bare user (no policy, no key, no data: what an interrupted create leaves).
    /// Its own secret is reset first: whoever made it keeps no working credential to the
    /// bucket the policy is about to grant.
    async fn write_stamp(&self, uid: &str, stamp: &str) -> Result<(), BackendError> {
        let secret = site_agent_sdk::keys::generate_key_pair()?.secret_key;
        self.admin.add_user(uid, &secret).await?;
        self.stamp_policy(uid, stamp).await
    }

    /// A new user whose bucket name is taken goes again, with its policy: the order is
    /// refused cleanly. (Until then its policy names that bucket, but the user holds no key and
    /// its own secret is known to nobody, so nothing can use the grant.)
    async fn after_create(&self, uid: &str) -> Result<(), BackendError> {
        match self.own_bucket(uid, true).await {
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                let stamp = self.stamp_and_status(uid).await?.and_then(|(s, _)| s);
                self.admin.remove_user(uid).await?;
                self.forget_keys(uid);
                if let Some(stamp) = stamp {
                    self.admin.remove_policy(&policy::name_for(&stamp)).await?;
                }
                Err(e)
            }
            other => other.map(|_| ()),
        }
    }

    async fn provision(
        &self,
        uid: &str,
        _options: &site_agent_sdk::BucketOptions,
    ) -> Result<(), BackendError> {
        self.own_bucket(uid, true)
            .await?
            .ok_or_else(|| BackendError::unavailable(format!("bucket of {uid:?} not made")))?;
        Ok(())
    }

    async fn user(&self, uid: &str) -> Result<Option<VendorUser>, BackendError> {
        let Some(mut u) = self.owner_view(uid).await? else {
            return Ok(None);
        };
        u.access_keys = self.listed_keys(uid).await?;
        Ok(Some(u))
    }

    async fn owner_view(&self, uid: &str) -> Result<Option<VendorUser>, BackendError> {
        Ok(self
            .stamp_and_status(uid)
            .await?
            .map(|(stamp, enabled)| VendorUser {
                uid: uid.to_string(),
                name: uid.to_string(),
                stamp,
                suspension: Suspension::of(!enabled),
                access_keys: Vec::new(),
            }))
    }

    /// Refuses while the bucket holds objects (unless `purge`); then the bucket, the user
    /// (MinIO removes its service accounts with it) and its policy. A purge fences the tenant
    /// off first (a disabled user's keys are refused), so nothing is written meanwhile.
    async fn delete_user(&self, uid: &str, purge: bool) -> Result<(), BackendError> {
        let Some((stamp, enabled)) = self.stamp_and_status(uid).await? else {
            return Err(BackendError::not_found(format!(
                "MinIO user {uid:?} does not exist"
            )));
        };
        // The bucket's quota goes with it (MinIO keeps a bucket's metadata with the bucket).
        if let Some(bucket) = self.own_bucket(uid, false).await? {
            if purge {
                if enabled {
                    self.admin.set_user_enabled(uid, false).await?;
                }
                match self.buckets.purge(&bucket).await {
                    Ok(gone) => {
                        tracing::info!(uid, bucket, objects = gone, "purged the resource's bucket")
                    }
                    Err(e) => {
                        // The resource stays as it was: its tenant gets its keys back.
                        if enabled && let Err(back) = self.admin.set_user_enabled(uid, true).await {
                            tracing::error!(uid, error = %back, "could not enable the user again after a failed purge; the reconcile pass does");
                        }
                        return Err(e);
                    }
                }
            } else {
                if self.buckets.holds_objects(&bucket).await? {
                    return Err(BackendError::not_empty(format!(
                        "bucket {bucket:?} holds objects"
                    )));
                }
                // A write that lands meanwhile makes MinIO refuse (409 BucketNotEmpty).
                self.buckets.delete(&bucket).await?;
            }
        }
        self.admin.remove_user(uid).await?;
        self.forget_keys(uid);
        // The policy is in use until its user is gone; a crash or a lost answer before this
        // leaves only an unattached policy named after the resource, granting nobody anything.
        if let Some(stamp) = stamp {
            self.admin.remove_policy(&policy::name_for(&stamp)).await?;
        }
        Ok(())
    }

    /// `set-user-status`: a disabled user's own key is refused, and its service accounts are
    /// denied everything (MinIO reads a disabled parent's policies as none).
    async fn set_suspended(&self, uid: &str, suspended: bool) -> Result<(), BackendError> {
        self.admin.set_user_enabled(uid, !suspended).await
    }

    /// A service account with the agent's pair, inheriting the user's policy. A retry after a
    /// lost answer finds the key taken: it is this user's when the user lists it.
    async fn issue_key(&self, uid: &str, proposal: &KeyPair) -> Result<KeyPair, BackendError> {
        self.key_write();
        let r = self
            .admin
            .add_service_account(uid, &proposal.access_key, &proposal.secret_key)
            .await;
        self.key_write();
        match r {
            Ok(()) => self.update_keys(uid, |k| {
                if !k.contains(&proposal.access_key) {
                    k.push(proposal.access_key.clone());
                }
            }),
            Err(e) => {
                // Made or not, the kept list can no longer tell.
                self.forget_keys(uid);
                let taken = e.code() == Some("XMinioIAMServiceAccountNotAllowed");
                if !taken || !self.listed_keys(uid).await?.contains(&proposal.access_key) {
                    return Err(e);
                }
            }
        }
        Ok(proposal.clone())
    }

    async fn delete_key(&self, uid: &str, access_key: &str) -> Result<(), BackendError> {
        self.key_write();
        let r = self.admin.delete_service_account(access_key).await;
        self.key_write();
        match &r {
            Err(e) if e.kind() != ErrorKind::NotFound => self.forget_keys(uid),
            _ => self.update_keys(uid, |k| k.retain(|x| x != access_key)),
        }
        r
    }

    /// Bytes on the bucket; an object ceiling cannot be set and is dropped (the applied quota
    /// says so). The bucket is made again if someone removed it.
    async fn set_quotas(&self, uid: &str, quota: &QuotaSpec) -> Result<(), BackendError> {
        if let Some(bytes) = quota.max_bytes
            && let Some(bucket) = self.own_bucket(uid, true).await?
        {
            // MinIO reads a zero quota as none; one byte admits no object with data.
            self.admin
                .set_bucket_quota(&bucket, Some(bytes.max(1)))
                .await?;
        }
        Ok(())
    }

    async fn quotas(&self, uid: &str) -> Result<AppliedQuota, BackendError> {
        let bytes = match self.admin.bucket_quota(&bucket_for(uid)?).await {
            Ok(b) => b,
            Err(e) if e.kind() == ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        Ok(AppliedQuota::bucket_only(QuotaState::bytes(bytes)))
    }

    /// The resource's bucket as it is now, by listing (every version counts): what the
    /// termination and adoption checks need.
    async fn buckets(&self, uid: &str) -> Result<Vec<BucketUsage>, BackendError> {
        match self.own_bucket(uid, false).await? {
            Some(bucket) => self.buckets.usage(&bucket).await,
            None => Ok(Vec::new()),
        }
    }

    /// Billing reads the scanner's figures (`datausageinfo`: one admin call for every bucket,
    /// the same figures MinIO enforces quotas with), stamped with the scanner's `lastUpdate`.
    /// `accountinfo` reads the same scanner data but must be signed with the tenant's own
    /// key, which the agent does not keep.
    async fn metered(&self, uid: &str) -> Result<VendorUsage, BackendError> {
        let bucket = bucket_for(uid)?;
        let usage = self.data_usage().await?;
        // Without a finished scan there is no figure: no reading, rather than a zero.
        let Some(at) = unix_of(&usage.last_update) else {
            return Err(BackendError::unavailable(
                "MinIO's usage scanner has not finished a cycle yet (datausageinfo has no lastUpdate)",
            ));
        };
        // A bucket made after the last scan held nothing then.
        let b = usage.buckets.get(&bucket).copied().unwrap_or_default();
        Ok(VendorUsage {
            buckets: vec![BucketUsage {
                name: bucket,
                bytes: b.size,
                objects: b.objects_count,
            }],
            totals: None,
            sampled_at: Some(at),
        })
    }

    fn resource_bucket(&self, uid: &str) -> Option<String> {
        bucket_for(uid).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::unix_of;

    #[test]
    fn the_scanner_time_is_read_and_its_zero_time_is_none() {
        assert_eq!(unix_of("2026-03-15T12:00:00Z"), Some(1_773_576_000));
        assert_eq!(
            unix_of("2026-03-15T12:00:00.123456789Z"),
            Some(1_773_576_000)
        );
        assert_eq!(unix_of("0001-01-01T00:00:00Z"), None);
        assert_eq!(unix_of(""), None);
    }
}
