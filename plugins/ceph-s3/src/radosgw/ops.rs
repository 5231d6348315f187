//! [`FlavourOps`] over the Admin Ops client.

use super::client::{QuotaType, RgwClient, RgwQuota};
use crate::ops::stamp_of;
use crate::settings::CephS3Settings;
use site_agent_sdk::vendor::{VendorOps, VendorUser};
use site_agent_sdk::{
    AppliedQuota, BackendError, BucketModel, BucketUsage, Capabilities, Enforcement, KeyPair,
    KeyPolicy, QuotaCaps, QuotaScope, QuotaSpec, QuotaState, RotationMode, ScopeDims, ScopeQuota,
    SecretOrigin, StampPlace, Suspension,
};

/// Both quota types are set and read in exact bytes (see `RgwClient::set_quota`).
pub const CAPABILITIES: Capabilities = Capabilities {
    quota: QuotaCaps {
        user: Some(ScopeDims {
            bytes: true,
            objects: true,
        }),
        bucket: Some(ScopeDims {
            bytes: true,
            objects: true,
        }),
        byte_granularity: 1,
        rounding: site_agent_sdk::Rounding::Up,
        enforcement: Enforcement::Inline,
    },
    keys: KeyPolicy {
        secret: SecretOrigin::Agent,
        access_key: site_agent_sdk::AccessKeyOrigin::Agent,
        max_keys: None,
        tenant_can_issue: false,
        rotation: RotationMode::AddThenRemove,
    },
    buckets: BucketModel::Owned,
    stamp: StampPlace::Email,
    suspend: true,
    purge: true,
    metered_series: false,
    usage_precision: 1,
    options: site_agent_sdk::OptionCaps::NONE,
};

pub struct RgwOps {
    client: RgwClient,
    placement: Option<String>,
}

impl RgwOps {
    pub fn new(settings: &CephS3Settings) -> Result<Self, BackendError> {
        let rgw = settings
            .radosgw
            .as_ref()
            .ok_or_else(|| BackendError::invalid("radosgw settings missing"))?;
        Ok(Self {
            client: RgwClient::new(settings, rgw)?,
            placement: settings.default_placement.clone(),
        })
    }
}

fn state(q: RgwQuota) -> QuotaState {
    let positive = |v: i64| (v >= 0).then_some(v as u64);
    QuotaState {
        enabled: q.enabled,
        max_size_bytes: positive(q.max_size),
        max_objects: positive(q.max_objects),
    }
}

#[async_trait::async_trait]
impl VendorOps for RgwOps {
    fn kind(&self) -> &'static str {
        "ceph_s3/radosgw"
    }

    fn capabilities(&self) -> Capabilities {
        CAPABILITIES
    }

    async fn ping(&self) -> Result<(), BackendError> {
        self.client.list_users().await.map(|_| ())
    }

    async fn create_user(&self, uid: &str, name: &str, stamp: &str) -> Result<(), BackendError> {
        self.client
            .create_user(uid, name, stamp, self.placement.as_deref())
            .await
    }

    async fn user(&self, uid: &str) -> Result<Option<VendorUser>, BackendError> {
        Ok(self.client.user(uid).await?.map(|u| VendorUser {
            uid: u.user_id,
            name: u.display_name,
            stamp: stamp_of(u.email),
            suspension: Suspension::of(u.suspended != 0),
            access_keys: u.keys.into_iter().map(|k| k.access_key).collect(),
        }))
    }

    async fn delete_user(&self, uid: &str, purge: bool) -> Result<(), BackendError> {
        self.client.delete_user(uid, purge).await
    }

    async fn set_suspended(&self, uid: &str, suspended: bool) -> Result<(), BackendError> {
        self.client.set_suspended(uid, suspended).await
    }

    async fn issue_key(&self, uid: &str, proposal: &KeyPair) -> Result<KeyPair, BackendError> {
        self.client
            .put_key(uid, &proposal.access_key, &proposal.secret_key)
            .await?;
        Ok(proposal.clone())
    }

    async fn delete_key(&self, uid: &str, access_key: &str) -> Result<(), BackendError> {
        self.client.delete_key(uid, access_key).await
    }

    async fn set_quotas(&self, uid: &str, quota: &QuotaSpec) -> Result<(), BackendError> {
        self.client
            .set_quota(uid, QuotaType::User, quota.max_bytes, quota.max_objects)
            .await?;
        self.client
            .set_quota(uid, QuotaType::Bucket, quota.max_bytes, quota.max_objects)
            .await
    }

    async fn quotas(&self, uid: &str) -> Result<AppliedQuota, BackendError> {
        Ok(AppliedQuota(vec![
            ScopeQuota {
                scope: QuotaScope::User,
                state: state(self.client.quota(uid, QuotaType::User).await?),
            },
            ScopeQuota {
                scope: QuotaScope::Bucket,
                state: state(self.client.quota(uid, QuotaType::Bucket).await?),
            },
        ]))
    }

    async fn buckets(&self, uid: &str) -> Result<Vec<BucketUsage>, BackendError> {
        Ok(self
            .client
            .buckets(uid)
            .await?
            .into_iter()
            .map(|b| {
                // Logical bytes (`size`), the same meaning as croit's usageSum.size; a bucket
                // without stats has no `rgw.main` and reads as 0.
                let main = b.usage.get("rgw.main");
                BucketUsage {
                    name: b.bucket,
                    bytes: main.map(|u| u.size).unwrap_or(0),
                    objects: main.map(|u| u.num_objects).unwrap_or(0),
                }
            })
            .collect())
    }
}
