//! [`VendorOps`] for SeaweedFS: an IAM user per resource, stamped with a tag, holding
//! server-generated keys and a policy on the one bucket the agent made for it (the `Granted`
//! model: SeaweedFS has no user quota and no bucket owner for IAM users).

use crate::bucket::{Buckets, bucket_for};
use crate::iam::Iam;
use crate::policy::{POLICY_NAME, document};
use site_agent_sdk::vendor::{VendorOps, VendorUser};
use site_agent_sdk::{
    AppliedQuota, BackendError, BucketModel, BucketUsage, Capabilities, Enforcement, ErrorKind,
    KeyPair, KeyPolicy, QuotaCaps, QuotaSpec, QuotaState, RotationMode, ScopeDims, SecretOrigin,
    StampPlace, Suspension,
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
        rounding: site_agent_sdk::Rounding::Up,
        // Enforced by a pass outside the write path, about once a minute.
        enforcement: Enforcement::Lagging,
    },
    keys: KeyPolicy {
        secret: SecretOrigin::Backend,
        access_key: site_agent_sdk::AccessKeyOrigin::Backend,
        max_keys: None,
        // A tenant's own key may call CreateAccessKey/UpdateAccessKey/DeleteAccessKey on
        // itself (seen on 4.48).
        tenant_can_issue: true,
        rotation: RotationMode::AddThenRemove,
    },
    buckets: BucketModel::Granted,
    stamp: StampPlace::Tag,
    suspend: true,
    purge: true,
    metered_series: false,
    usage_precision: 1,
    options: site_agent_sdk::OptionCaps::NONE,
};

/// The tag holding the ownership stamp (on the user, and the same on its bucket).
pub use site_agent_sdk::s3bucket::STAMP_TAG;
/// The tag marking a suspended user (its keys are inactive; keys made meanwhile start so).
pub const SUSPENDED_TAG: &str = "waldur-suspended";

pub struct SeaweedOps {
    pub iam: Iam,
    pub buckets: Buckets,
}

/// The user's tags, as the calls below need them.
struct UserTags {
    stamp: Option<String>,
    suspended: bool,
}

impl SeaweedOps {
    async fn user_tags(&self, uid: &str) -> Result<UserTags, BackendError> {
        let tags = self.iam.tags(uid).await?;
        Ok(UserTags {
            stamp: tags
                .iter()
                .find(|(k, _)| k == STAMP_TAG)
                .map(|(_, v)| v.clone())
                .filter(|v| !v.is_empty()),
            suspended: tags.iter().any(|(k, _)| k == SUSPENDED_TAG),
        })
    }

    /// The user's bucket, made and stamped if missing (the SDK's rule for `Granted` buckets).
    /// A bucket once deleted under this name may have left a read-only mark behind: lifted
    /// before the bucket is claimed.
    async fn own_bucket(&self, uid: &str, create: bool) -> Result<Option<String>, BackendError> {
        let bucket = bucket_for(uid)?;
        let stamp = self.user_tags(uid).await?.stamp;
        self.buckets
            .own_with(&bucket, stamp.as_deref(), create, || {
                self.buckets.set_quota(&bucket, None)
            })
            .await
    }

    /// Removes the bucket: the tenant is fenced off first (its policy goes), so nothing is
    /// written meanwhile; a refusal or failure puts the policy back.
    async fn remove_bucket(
        &self,
        uid: &str,
        bucket: &str,
        purge: bool,
    ) -> Result<(), BackendError> {
        self.iam.delete_policy(uid, POLICY_NAME).await?;
        let r = async {
            if !purge && self.buckets.holds_objects(bucket).await? {
                return Err(BackendError::not_empty(format!(
                    "bucket {bucket:?} holds objects"
                )));
            }
            // Lift a read-only mark first: it would outlive the bucket. (A failure after this
            // leaves no quota; the reconcile pass puts it back.)
            self.buckets.set_quota(bucket, None).await?;
            if purge {
                let gone = self.buckets.purge(bucket).await?;
                tracing::info!(uid, bucket, objects = gone, "purged the resource's bucket");
                Ok(())
            } else {
                self.buckets.delete(bucket).await
            }
        }
        .await;
        if r.is_err() {
            let restored = self
                .iam
                .put_policy(uid, POLICY_NAME, &document(bucket))
                .await;
            if let Err(e) = restored {
                tracing::error!(uid, bucket, error = %e, "could not give the tenant its bucket back; the next attempt does");
            }
        }
        r
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
        bucket_for(uid)?;
        self.iam.create_user(uid).await?;
        self.iam.tag_user(uid, STAMP_TAG, stamp).await
    }

    async fn write_stamp(&self, uid: &str, stamp: &str) -> Result<(), BackendError> {
        self.iam.tag_user(uid, STAMP_TAG, stamp).await
    }

    /// A new user whose bucket name is taken goes again: the order is refused cleanly.
    async fn after_create(&self, uid: &str) -> Result<(), BackendError> {
        match self.own_bucket(uid, true).await {
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                self.iam.delete_user(uid).await?;
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
        let bucket = self
            .own_bucket(uid, true)
            .await?
            .ok_or_else(|| BackendError::unavailable(format!("bucket of {uid:?} not made")))?;
        self.iam
            .put_policy(uid, POLICY_NAME, &document(&bucket))
            .await
    }

    async fn user(&self, uid: &str) -> Result<Option<VendorUser>, BackendError> {
        if !self.iam.user_exists(uid).await? {
            return Ok(None);
        }
        let tags = self.user_tags(uid).await?;
        let keys = self.iam.keys(uid).await?;
        let suspension = match (tags.suspended, keys.iter().filter(|k| k.active).count()) {
            (true, 0) => Suspension::Suspended,
            (false, n) if n == keys.len() => Suspension::Active,
            _ => Suspension::Partial,
        };
        Ok(Some(VendorUser {
            uid: uid.to_string(),
            name: uid.to_string(),
            stamp: tags.stamp,
            suspension,
            access_keys: keys.into_iter().map(|k| k.access_key).collect(),
        }))
    }

    async fn delete_user(&self, uid: &str, purge: bool) -> Result<(), BackendError> {
        if !self.iam.user_exists(uid).await? {
            return Err(BackendError::not_found(format!(
                "S3 user {uid:?} does not exist"
            )));
        }
        if let Some(bucket) = self.own_bucket(uid, false).await? {
            self.remove_bucket(uid, &bucket, purge).await?;
        }
        // Keys and policy go with the user.
        self.iam.delete_user(uid).await
    }

    /// IAM has no user switch: every key goes inactive (refused at once, 403
    /// `InvalidAccessKeyId`), and a tag keeps the state for keys made later. Suspending marks
    /// first; resuming unmarks last; a tenant's key made in between leaves the user `Partial`,
    /// which the next pass finishes.
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

    /// SeaweedFS makes both halves itself; the proposal is not used. A key made for a
    /// suspended user is switched off before anyone is told of it (or removed again).
    async fn issue_key(&self, uid: &str, _proposal: &KeyPair) -> Result<KeyPair, BackendError> {
        let suspended = self.user_tags(uid).await?.suspended;
        let key = self.iam.create_key(uid).await?;
        if suspended && let Err(e) = self.iam.set_key_active(uid, &key.access_key, false).await {
            let _ = self.iam.delete_key(uid, &key.access_key).await;
            return Err(e);
        }
        Ok(key)
    }

    async fn delete_key(&self, uid: &str, access_key: &str) -> Result<(), BackendError> {
        self.iam.delete_key(uid, access_key).await
    }

    /// Bytes on the bucket; an object ceiling cannot be set and is dropped (the applied quota
    /// says so). The bucket is made again if someone removed it.
    async fn set_quotas(&self, uid: &str, quota: &QuotaSpec) -> Result<(), BackendError> {
        if let Some(bytes) = quota.max_bytes
            && let Some(bucket) = self.own_bucket(uid, true).await?
        {
            self.buckets.set_quota(&bucket, Some(bytes)).await?;
        }
        Ok(())
    }

    async fn quotas(&self, uid: &str) -> Result<AppliedQuota, BackendError> {
        let q = self.buckets.quota(&bucket_for(uid)?).await?;
        let bytes = q.filter(|q| q.quota_enabled).map(|q| q.quota_size);
        Ok(AppliedQuota::bucket_only(QuotaState::bytes(bytes)))
    }

    /// The resource's bucket, by listing: the logical size the tenant stored (SeaweedFS's own
    /// figures are compressed stored bytes, and have no object count); every kept version
    /// counts (see `Buckets::stored`).
    async fn buckets(&self, uid: &str) -> Result<Vec<BucketUsage>, BackendError> {
        match self.own_bucket(uid, false).await? {
            Some(bucket) => self.buckets.usage(&bucket).await,
            None => Ok(Vec::new()),
        }
    }

    fn resource_bucket(&self, uid: &str) -> Option<String> {
        bucket_for(uid).ok()
    }
}
