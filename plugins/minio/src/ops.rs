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
    Enforcement, ErrorKind, KeyPair, KeyPolicy, QuotaCaps, QuotaScope, QuotaSpec, QuotaState,
    RotationMode, ScopeDims, ScopeQuota, SecretOrigin, StampPlace, Suspension,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

/// The tag holding the ownership stamp on the resource's bucket (MinIO has no bucket owner).
pub const STAMP_TAG: &str = "waldur-stamp";

pub struct MinioOps {
    pub admin: Admin,
    pub buckets: S3Buckets,
    /// Service-account keys per user, as last listed or since changed by the agent (only the
    /// agent mints keys: the tenant's policy denies it). Listing is an encrypted answer.
    keys: Mutex<HashMap<String, Vec<String>>>,
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
            usage: tokio::sync::Mutex::default(),
            usage_fresh_for,
        }
    }

    fn cached_keys(&self, uid: &str) -> Option<Vec<String>> {
        self.keys
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(uid)
            .cloned()
    }

    fn update_keys(&self, uid: &str, f: impl FnOnce(&mut Vec<String>)) {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(k) = keys.get_mut(uid) {
            f(k);
        }
    }

    fn forget_keys(&self, uid: &str) {
        self.keys
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(uid);
    }

    async fn listed_keys(&self, uid: &str) -> Result<Vec<String>, BackendError> {
        if let Some(k) = self.cached_keys(uid) {
            return Ok(k);
        }
        let keys = self.admin.service_accounts(uid).await?;
        self.keys
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(uid.to_string(), keys.clone());
        Ok(keys)
    }

    /// The user's stamp and status, or `None` when it does not exist. A user with policies
    /// but none named after a stamp carries their names as a stamp that is no resource's: an
    /// operator's user is never taken for a bare one.
    async fn stamp_and_status(
        &self,
        uid: &str,
    ) -> Result<Option<(Option<String>, bool)>, BackendError> {
        Ok(self.admin.user_info(uid).await?.map(|info| {
            let stamp = info
                .policies()
                .find_map(|p| policy::stamp_in(p, uid))
                .or_else(|| {
                    (!info.policy_name.is_empty())
                        .then(|| format!("minio-policies:{}", info.policy_name))
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

    /// The user's bucket, made and stamped if missing; `None` if it does not exist and
    /// `create` is off. A bucket of that name that carries another stamp, or none while
    /// holding data, is someone else's: refused, never granted, metered or emptied.
    async fn own_bucket(&self, uid: &str, create: bool) -> Result<Option<String>, BackendError> {
        let bucket = bucket_for(uid)?;
        let stamp = self.stamp_and_status(uid).await?.and_then(|(s, _)| s);
        let Some(stamp) = stamp else {
            if create {
                return Err(BackendError::invalid(format!(
                    "MinIO user {uid:?} carries no ownership stamp"
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
            Some(t) if t == stamp => return Ok(Some(bucket)),
            Some(_) => return Err(foreign(&bucket)),
            // Unstamped: just made, or made by an attempt cut short before its stamp.
            None if !made && self.buckets.holds_objects(&bucket).await? => {
                return Err(foreign(&bucket));
            }
            None => {}
        }
        self.buckets.set_tag(&bucket, STAMP_TAG, &stamp).await?;
        Ok(Some(bucket))
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

fn foreign(bucket: &str) -> BackendError {
    BackendError::already_exists(format!(
        "bucket {bucket:?} already exists and is not this resource's; refusing to grant access to it"
    ))
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
        if self.admin.user_info(uid).await?.is_some() {
            return Err(BackendError::already_exists(format!(
                "MinIO user {uid:?} already exists"
            )));
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
            .insert(uid.to_string(), Vec::new());
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

    /// A new user whose bucket name is taken goes again: the order is refused cleanly.
    async fn after_create(&self, uid: &str) -> Result<(), BackendError> {
        match self.own_bucket(uid, true).await {
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                self.admin.remove_user(uid).await?;
                self.forget_keys(uid);
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
        if let Some(bucket) = self.own_bucket(uid, false).await? {
            if purge {
                if enabled {
                    self.admin.set_user_enabled(uid, false).await?;
                }
                let gone = self.buckets.purge(&bucket).await?;
                tracing::info!(uid, bucket, objects = gone, "purged the resource's bucket");
            } else {
                if self.buckets.holds_objects(&bucket).await? {
                    return Err(BackendError::not_empty(format!(
                        "bucket {bucket:?} holds objects"
                    )));
                }
                // A write that lands meanwhile makes MinIO refuse (409 BucketNotEmpty).
                self.buckets.delete(&bucket).await?;
            }
            self.admin
                .set_bucket_quota(&bucket, None)
                .await
                .or_else(|e| {
                    if e.kind() == ErrorKind::NotFound {
                        Ok(())
                    } else {
                        Err(e)
                    }
                })?;
        }
        self.admin.remove_user(uid).await?;
        self.forget_keys(uid);
        // The policy is in use until its user is gone; a crash before this leaves only an
        // unattached policy named after the resource.
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
        match self
            .admin
            .add_service_account(uid, &proposal.access_key, &proposal.secret_key)
            .await
        {
            Ok(()) => {}
            Err(e) if e.code() == Some("XMinioIAMServiceAccountNotAllowed") => {
                self.forget_keys(uid);
                if !self.listed_keys(uid).await?.contains(&proposal.access_key) {
                    return Err(e);
                }
            }
            Err(e) => return Err(e),
        }
        self.update_keys(uid, |k| {
            if !k.contains(&proposal.access_key) {
                k.push(proposal.access_key.clone());
            }
        });
        Ok(proposal.clone())
    }

    async fn delete_key(&self, uid: &str, access_key: &str) -> Result<(), BackendError> {
        let r = self.admin.delete_service_account(access_key).await;
        if r.is_ok() || r.as_ref().is_err_and(|e| e.kind() == ErrorKind::NotFound) {
            self.update_keys(uid, |k| k.retain(|x| x != access_key));
        }
        r
    }

    /// Bytes on the bucket; an object ceiling cannot be set and is dropped (the applied quota
    /// says so). The bucket is made again if someone removed it.
    async fn set_quotas(&self, uid: &str, quota: &QuotaSpec) -> Result<(), BackendError> {
        if let Some(bytes) = quota.max_bytes
            && let Some(bucket) = self.own_bucket(uid, true).await?
        {
            self.admin.set_bucket_quota(&bucket, Some(bytes)).await?;
        }
        Ok(())
    }

    async fn quotas(&self, uid: &str) -> Result<AppliedQuota, BackendError> {
        let state = match self.admin.bucket_quota(&bucket_for(uid)?).await {
            Ok(Some(bytes)) => QuotaState {
                enabled: true,
                max_size_bytes: Some(bytes),
                max_objects: None,
            },
            Ok(None) => QuotaState::default(),
            Err(e) if e.kind() == ErrorKind::NotFound => QuotaState::default(),
            Err(e) => return Err(e),
        };
        Ok(AppliedQuota(vec![ScopeQuota {
            scope: QuotaScope::Bucket,
            state,
        }]))
    }

    /// The resource's bucket as it is now, by listing (every version counts): what the
    /// termination and adoption checks need.
    async fn buckets(&self, uid: &str) -> Result<Vec<BucketUsage>, BackendError> {
        let Some(bucket) = self.own_bucket(uid, false).await? else {
            return Ok(Vec::new());
        };
        Ok(self
            .buckets
            .stored(&bucket)
            .await?
            .map(|s| BucketUsage {
                name: bucket,
                bytes: s.bytes,
                objects: s.objects,
            })
            .into_iter()
            .collect())
    }

    /// Billing reads the scanner's figures (`datausageinfo`: one admin call for every bucket,
    /// the same figures MinIO enforces quotas with), stamped with the scanner's `lastUpdate`.
    /// `accountinfo` reads the same scanner data but must be signed with the tenant's own
    /// key, which the agent does not keep.
    async fn metered(&self, uid: &str) -> Result<VendorUsage, BackendError> {
        let bucket = bucket_for(uid)?;
        let usage = self.data_usage().await?;
        let b = usage.buckets.get(&bucket).copied().unwrap_or_default();
        Ok(VendorUsage {
            buckets: vec![BucketUsage {
                name: bucket,
                bytes: b.size,
                objects: b.objects_count,
            }],
            totals: None,
            sampled_at: unix_of(&usage.last_update),
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
