//! [`FlavourOps`] over the croit client.

use super::client::{CroitClient, QuotaScope};
use super::wire::{CreateUser, PutQuota, RawQuota, RawUser};
use crate::ops::stamp_of;
use crate::settings::CephS3Settings;
use site_agent_sdk::dataplane::S3DataPlane;
use site_agent_sdk::http::build_client;
use site_agent_sdk::keys::generate_key_pair;
use site_agent_sdk::vendor::{VendorOps, VendorUser};
use site_agent_sdk::{
    AppliedQuota, BackendError, BucketModel, BucketUsage, Capabilities, Enforcement, KeyPair,
    KeyPolicy, QuotaCaps, QuotaSpec, QuotaState, RotationMode, ScopeDims, ScopeQuota, SecretOrigin,
    StampPlace, Suspension,
};

/// croit's quota sizes are stored in KiB; it keeps a usage series of its own.
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
        byte_granularity: 1024,
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
    metered_series: true,
    usage_precision: 1,
    options: site_agent_sdk::OptionCaps::NONE,
};

pub struct CroitOps {
    client: CroitClient,
    /// croit cannot remove a user's data itself: purge empties buckets over S3.
    data: S3DataPlane,
    tenant: Option<String>,
    placement: Option<String>,
    storage_class: Option<String>,
}

impl CroitOps {
    pub fn new(settings: &CephS3Settings) -> Result<Self, BackendError> {
        let croit = settings
            .croit
            .as_ref()
            .ok_or_else(|| BackendError::invalid("croit settings missing"))?;
        Ok(Self {
            client: CroitClient::new(croit, &settings.store.http)?,
            data: S3DataPlane::new(
                build_client(&settings.store.http)?,
                &settings.store.s3_endpoint,
                &settings.store.s3_region,
            )?,
            tenant: croit.default_tenant.clone(),
            placement: settings.default_placement.clone(),
            storage_class: croit.default_storage_class.clone(),
        })
    }

    /// Empties and removes every bucket of `uid` over S3, with a temporary key of the user's own.
    async fn purge_data(&self, uid: &str) -> Result<(), BackendError> {
        let buckets = self.client.buckets(uid).await?;
        if buckets.is_empty() {
            return Ok(());
        }
        if self.raw_user(uid).await?.is_some_and(|u| u.suspended) {
            // The user goes anyway; its keys must work to reach the data.
            self.client.set_suspended(uid, false).await?;
        }
        let key = generate_key_pair()?;
        self.client
            .put_key(uid, &key.access_key, &key.secret_key)
            .await?;
        let mut result = Ok(());
        for b in buckets.iter().filter_map(|b| b.bucket.as_deref()) {
            match self.data.purge_bucket(b, &key).await {
                Ok(n) => tracing::info!(uid, bucket = b, objects = n, "bucket purged"),
                Err(e) => {
                    result = Err(e.context(format!("purging the data of S3 user {uid:?}")));
                    break;
                }
            }
        }
        if result.is_err() {
            let _ = self.client.delete_key(uid, &key.access_key).await;
        }
        result
    }

    /// croit has no get-one-user call: list and filter.
    async fn raw_user(&self, uid: &str) -> Result<Option<RawUser>, BackendError> {
        Ok(self.client.list_users().await?.get(uid).cloned())
    }
}

fn quota_state(q: Option<&RawQuota>) -> QuotaState {
    let positive = |v: Option<i64>| v.filter(|n| *n >= 0).map(|n| n as u64);
    q.map(|q| QuotaState {
        enabled: q.enabled,
        max_size_bytes: positive(q.max_size),
        max_objects: positive(q.max_objects),
    })
    .unwrap_or_default()
}

#[async_trait::async_trait]
impl VendorOps for CroitOps {
    fn kind(&self) -> &'static str {
        "ceph_s3/croit"
    }

    fn capabilities(&self) -> Capabilities {
        CAPABILITIES
    }

    /// Also refreshes the user listing that the lookups of the next seconds share.
    async fn ping(&self) -> Result<(), BackendError> {
        self.client.list_users_fresh().await.map(|_| ())
    }

    async fn create_user(&self, uid: &str, name: &str, stamp: &str) -> Result<(), BackendError> {
        self.client
            .create_user(&CreateUser {
                uid,
                name,
                email: stamp,
                tenant: self.tenant.as_deref(),
                default_placement: self.placement.as_deref(),
                default_storage_class: self.storage_class.as_deref(),
            })
            .await
    }

    /// C4 lists each key with its secret (snake_case; the camelCase croit's older docs show is
    /// read too).
    async fn existing_keys(&self, uid: &str) -> Result<Vec<KeyPair>, BackendError> {
        let mut keys = Vec::new();
        for k in self.client.list_keys(uid).await? {
            let access = k.access_key.or(k.access_key_camel);
            let secret = k.secret_key.or(k.secret_key_camel);
            match (access, secret) {
                (Some(access_key), Some(secret_key)) => {
                    site_agent_sdk::validate_identifier("access key", &access_key)?;
                    keys.push(KeyPair {
                        access_key,
                        secret_key,
                    })
                }
                (access, _) => {
                    return Err(BackendError::unexpected(format!(
                        "croit listed a key of {uid:?} without its access key or secret ({access:?})"
                    )));
                }
            }
        }
        Ok(keys)
    }

    /// RGW mints a key whenever croit creates a user; nobody has it yet, so it goes.
    async fn after_create(&self, uid: &str) -> Result<(), BackendError> {
        for key in self.client.list_keys(uid).await? {
            match key.access_key {
                Some(ak) => self.client.delete_key(uid, &ak).await?,
                None => tracing::error!(
                    uid,
                    camel_case = key.access_key_camel.is_some(),
                    "croit key entry without access_key; cannot remove the auto-generated key"
                ),
            }
        }
        Ok(())
    }

    async fn user(&self, uid: &str) -> Result<Option<VendorUser>, BackendError> {
        Ok(self.raw_user(uid).await?.map(|u| VendorUser {
            uid: u.uid.clone().unwrap_or_default(),
            name: u.name.clone().unwrap_or_default(),
            stamp: stamp_of(u.email.clone().unwrap_or_default()),
            suspension: Suspension::of(u.suspended),
            access_keys: u
                .keys
                .iter()
                .filter_map(|k| k.access_key().cloned())
                .collect(),
        }))
    }

    async fn delete_user(&self, uid: &str, purge: bool) -> Result<(), BackendError> {
        if purge {
            self.purge_data(uid).await?;
        }
        match self.client.delete_user(uid).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == site_agent_sdk::ErrorKind::NotFound => Err(e),
            // croit answers a plain 500 for a user that still owns buckets: look at them.
            Err(e) => match self.client.buckets(uid).await {
                Ok(b) if !b.is_empty() => Err(BackendError::not_empty(format!(
                    "{e} (the user owns buckets)"
                ))),
                _ => Err(e),
            },
        }
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
        let body = PutQuota {
            enabled: true,
            max_size: quota.max_bytes,
            max_objects: quota.max_objects,
        };
        // User quota first: it is what really bounds the tenant (croit cannot cap the bucket
        // count); the bucket quota is a per-bucket guard.
        self.client.put_quota(uid, QuotaScope::User, &body).await?;
        self.client.put_quota(uid, QuotaScope::Bucket, &body).await
    }

    async fn quotas(&self, uid: &str) -> Result<AppliedQuota, BackendError> {
        match self.raw_user(uid).await? {
            Some(u) => Ok(AppliedQuota(vec![
                ScopeQuota {
                    scope: site_agent_sdk::QuotaScope::User,
                    state: quota_state(u.user_quota.as_ref()),
                },
                ScopeQuota {
                    scope: site_agent_sdk::QuotaScope::Bucket,
                    state: quota_state(u.bucket_quota.as_ref()),
                },
            ])),
            None => Err(BackendError::new(
                site_agent_sdk::ErrorKind::NotFound,
                format!("S3 user {uid:?} does not exist"),
            )),
        }
    }

    async fn series(
        &self,
        uid: &str,
        start: i64,
        end: i64,
    ) -> Result<Vec<(i64, Option<u64>)>, BackendError> {
        self.client.stats(uid, start, end).await
    }

    async fn buckets(&self, uid: &str) -> Result<Vec<BucketUsage>, BackendError> {
        Ok(self
            .client
            .buckets(uid)
            .await?
            .into_iter()
            .map(|b| BucketUsage {
                name: b.bucket.unwrap_or_default(),
                bytes: b.usage_sum.as_ref().and_then(|u| u.size).unwrap_or(0),
                objects: b
                    .usage_sum
                    .as_ref()
                    .and_then(|u| u.num_objects)
                    .unwrap_or(0),
            })
            .collect())
    }
}
