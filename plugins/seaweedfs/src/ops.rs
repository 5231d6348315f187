//! [`VendorOps`] for SeaweedFS: an IAM user per resource, stamped with a tag, holding
//! server-generated keys and a policy on the one bucket the agent made for it (the `Granted`
//! model: SeaweedFS has no user quota and no bucket owner for IAM users).

use crate::bucket::{Buckets, bucket_for};
use crate::iam::Iam;
use crate::policy::{POLICY_NAME, document};
use site_agent_sdk::vendor::{VendorOps, VendorUser};
use site_agent_sdk::{
    AppliedQuota, BackendError, BucketModel, BucketUsage, Capabilities, Enforcement, KeyPair,
    KeyPolicy, QuotaCaps, QuotaScope, QuotaSpec, QuotaState, RotationMode, ScopeDims, ScopeQuota,
    SecretOrigin, StampPlace,
};

/// What SeaweedFS 4.48 can do through IAM and `?seaweedfs-quota`.
pub const CAPABILITIES: Capabilities = Capabilities {
    quota: QuotaCaps {
        user: None,
        bucket: Some(ScopeDims {
            bytes: true,
            objects: false,
        }),
        byte_granularity: 1,
        // Enforced by a pass outside the write path, about once a minute.
        enforcement: Enforcement::Lagging,
    },
    keys: KeyPolicy {
        secret: SecretOrigin::Backend,
        choose_access_key: false,
        max_keys: None,
        rotation: RotationMode::AddThenRemove,
    },
    buckets: BucketModel::Granted,
    stamp: StampPlace::Tag,
    suspend: true,
    purge: true,
    metered_series: false,
};

/// The tag holding the ownership stamp.
pub const STAMP_TAG: &str = "waldur-stamp";
/// The tag marking a suspended user (its keys are inactive; keys made meanwhile start so).
pub const SUSPENDED_TAG: &str = "waldur-suspended";

pub struct SeaweedOps {
    pub iam: Iam,
    pub buckets: Buckets,
}

impl SeaweedOps {
    fn bucket(&self, uid: &str) -> Result<String, BackendError> {
        bucket_for(uid)
    }

    async fn suspended_tag(&self, uid: &str) -> Result<bool, BackendError> {
        Ok(self
            .iam
            .tags(uid)
            .await?
            .iter()
            .any(|(k, _)| k == SUSPENDED_TAG))
    }
}

#[async_trait::async_trait]
impl VendorOps for SeaweedOps {
    fn kind(&self) -> &'static str {
        "seaweedfs"
    }

    fn capabilities(&self) -> Capabilities {
        CAPABILITIES
    }

    async fn ping(&self) -> Result<(), BackendError> {
        self.iam.whoami().await
    }

    /// IAM drops tags given to `CreateUser`: the stamp follows at once (an interruption in
    /// between leaves a bare user, which the next attempt stamps).
    async fn create_user(&self, uid: &str, _name: &str, stamp: &str) -> Result<(), BackendError> {
        self.bucket(uid)?;
        self.iam.create_user(uid).await?;
        self.iam.tag_user(uid, STAMP_TAG, stamp).await
    }

    async fn write_stamp(&self, uid: &str, stamp: &str) -> Result<(), BackendError> {
        self.iam.tag_user(uid, STAMP_TAG, stamp).await
    }

    /// A new resource gets a new bucket: a bucket of that name that is already there belongs
    /// to someone else, so the user just made is removed again and the order refused.
    async fn after_create(&self, uid: &str) -> Result<(), BackendError> {
        let bucket = self.bucket(uid)?;
        if !self.buckets.create(&bucket).await? {
            self.iam.delete_user(uid).await?;
            return Err(BackendError::already_exists(format!(
                "bucket {bucket:?} already exists and is not this resource's; refusing to grant access to it"
            )));
        }
        // A bucket once deleted under this name may have left a read-only mark behind.
        self.buckets.set_quota(&bucket, None).await
    }

    async fn provision(&self, uid: &str) -> Result<(), BackendError> {
        let bucket = self.bucket(uid)?;
        self.buckets.create(&bucket).await?;
        self.iam
            .put_policy(uid, POLICY_NAME, &document(&bucket))
            .await
    }

    async fn user(&self, uid: &str) -> Result<Option<VendorUser>, BackendError> {
        if !self.iam.user_exists(uid).await? {
            return Ok(None);
        }
        let tags = self.iam.tags(uid).await?;
        let keys = self.iam.keys(uid).await?;
        let stamp = tags
            .iter()
            .find(|(k, _)| k == STAMP_TAG)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty());
        // Suspended if marked, or if any key is off: a suspension or resumption cut short is
        // then finished by the next call, never mistaken for done.
        let suspended =
            tags.iter().any(|(k, _)| k == SUSPENDED_TAG) || keys.iter().any(|k| !k.active);
        Ok(Some(VendorUser {
            uid: uid.to_string(),
            name: uid.to_string(),
            stamp,
            suspended,
            access_keys: keys.into_iter().map(|k| k.access_key).collect(),
        }))
    }

    async fn delete_user(&self, uid: &str, purge: bool) -> Result<(), BackendError> {
        if !self.iam.user_exists(uid).await? {
            return Err(BackendError::not_found(format!(
                "S3 user {uid:?} does not exist"
            )));
        }
        let bucket = self.bucket(uid)?;
        if purge {
            let gone = self.buckets.purge(&bucket).await?;
            tracing::info!(uid, bucket, objects = gone, "purged the resource's bucket");
        } else {
            let refuse = || BackendError::not_empty(format!("bucket {bucket:?} holds objects"));
            if self.buckets.holds_objects(&bucket).await? {
                return Err(refuse());
            }
            // Fence the tenant off, then look again: nothing written meanwhile is lost.
            self.iam.delete_policy(uid, POLICY_NAME).await?;
            if self.buckets.holds_objects(&bucket).await? {
                self.iam
                    .put_policy(uid, POLICY_NAME, &document(&bucket))
                    .await?;
                return Err(refuse());
            }
            if self.buckets.quota(&bucket).await?.is_some() {
                // Lift a read-only mark: it would outlive the bucket.
                self.buckets.set_quota(&bucket, None).await?;
            }
            self.buckets.delete(&bucket).await?;
        }
        // Keys and policy go with the user.
        self.iam.delete_user(uid).await
    }

    /// IAM has no user switch: every key goes inactive (refused at once, 403
    /// `InvalidAccessKeyId`), and a tag keeps the state for keys made later. Suspending marks
    /// first; resuming unmarks last.
    async fn set_suspended(&self, uid: &str, suspended: bool) -> Result<(), BackendError> {
        if suspended {
            self.iam.tag_user(uid, SUSPENDED_TAG, "true").await?;
        }
        for key in self.iam.keys(uid).await? {
            if key.active == suspended {
                self.iam
                    .set_key_active(uid, &key.access_key, !suspended)
                    .await?;
            }
        }
        if !suspended {
            self.iam.untag_user(uid, SUSPENDED_TAG).await?;
        }
        Ok(())
    }

    /// SeaweedFS makes both halves itself; the proposal is not used.
    async fn issue_key(&self, uid: &str, _proposal: &KeyPair) -> Result<KeyPair, BackendError> {
        let key = self.iam.create_key(uid).await?;
        if self.suspended_tag(uid).await? {
            self.iam.set_key_active(uid, &key.access_key, false).await?;
        }
        Ok(key)
    }

    async fn delete_key(&self, uid: &str, access_key: &str) -> Result<(), BackendError> {
        self.iam.delete_key(uid, access_key).await
    }

    /// Bytes on the bucket; an object ceiling cannot be set and is dropped (the applied quota
    /// says so). The bucket is made again if someone removed it.
    async fn set_quotas(&self, uid: &str, quota: &QuotaSpec) -> Result<(), BackendError> {
        let bucket = self.bucket(uid)?;
        if let Some(bytes) = quota.max_bytes {
            self.buckets.create(&bucket).await?;
            self.buckets.set_quota(&bucket, Some(bytes)).await?;
        }
        Ok(())
    }

    async fn quotas(&self, uid: &str) -> Result<AppliedQuota, BackendError> {
        let q = self.buckets.quota(&self.bucket(uid)?).await?;
        let state = match q {
            Some(q) if q.quota_enabled => QuotaState {
                enabled: true,
                max_size_bytes: Some(q.quota_size),
                max_objects: None,
            },
            _ => QuotaState::default(),
        };
        Ok(AppliedQuota(vec![ScopeQuota {
            scope: QuotaScope::Bucket,
            state,
        }]))
    }

    /// The resource's bucket, by listing: the logical size the tenant stored (SeaweedFS's own
    /// figures are compressed stored bytes, and have no object count).
    async fn buckets(&self, uid: &str) -> Result<Vec<BucketUsage>, BackendError> {
        let bucket = self.bucket(uid)?;
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

    fn resource_bucket(&self, uid: &str) -> Option<String> {
        bucket_for(uid).ok()
    }
}
