//! `StorageBackend` over the croit client.

use super::client::{CroitClient, QuotaScope};
use super::wire::{CreateUser, PutQuota, RawQuota, RawUser};
use crate::naming::uid_for_slug;
use crate::settings::CephS3Settings;
use site_agent_sdk::{
    AppliedQuota, BackendError, BucketUsage, Capabilities, ConnectionInfo, DeleteMode, Ensured,
    ErrorClass, KeyPair, QuotaSpec, QuotaState, StorageBackend, UsageSample, UserInfo, UserSpec,
    is_waldur_stamp, ownership_stamp, validate_identifier,
};

pub struct CroitBackend {
    settings: CephS3Settings,
    client: CroitClient,
    caps: Capabilities,
}

impl CroitBackend {
    pub fn new(settings: CephS3Settings) -> Result<Self, BackendError> {
        let croit = settings
            .croit
            .as_ref()
            .ok_or_else(|| BackendError::permanent("croit settings missing"))?;
        let client = CroitClient::new(croit, &settings.http)?;
        Ok(Self {
            settings,
            client,
            caps: Capabilities {
                user_quota: true,
                bucket_quota: true,
                object_quota: true,
                quota_byte_granularity: 1024,
                suspend: true,
                purge: false,
                metered_series: true,
            },
        })
    }

    /// croit has no get-one-user call: list and filter.
    async fn raw_user(&self, uid: &str) -> Result<Option<RawUser>, BackendError> {
        validate_identifier("S3 user id", uid)?;
        Ok(self
            .client
            .list_users()
            .await?
            .into_iter()
            .find(|u| u.uid.as_deref() == Some(uid)))
    }

    /// Keys are addressed by uid only, so refuse users Waldur did not provision.
    async fn require_waldur_user(&self, uid: &str) -> Result<RawUser, BackendError> {
        match self.raw_user(uid).await? {
            Some(u) if is_waldur_stamp(u.email.as_deref().unwrap_or("")) => Ok(u),
            Some(_) => Err(BackendError::permanent(format!(
                "refusing to touch the S3 keys of {uid:?}: the user was not provisioned by Waldur"
            ))),
            None => Err(BackendError::not_found(format!(
                "S3 user {uid:?} does not exist"
            ))),
        }
    }

    /// RGW mints a key whenever croit creates a user; nobody has it yet, so it goes.
    async fn drop_auto_keys(&self, uid: &str) -> Result<(), BackendError> {
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
}

fn quota_state(q: Option<&RawQuota>) -> QuotaState {
    let positive = |v: Option<i64>| v.filter(|n| *n >= 0).map(|n| n as u64);
    match q {
        Some(q) => QuotaState {
            enabled: q.enabled,
            max_size_bytes: positive(q.max_size),
            max_objects: positive(q.max_objects),
        },
        None => QuotaState::default(),
    }
}

fn applied(u: &RawUser) -> AppliedQuota {
    AppliedQuota {
        user: quota_state(u.user_quota.as_ref()),
        bucket: quota_state(u.bucket_quota.as_ref()),
    }
}

#[async_trait::async_trait]
impl StorageBackend for CroitBackend {
    fn kind(&self) -> &'static str {
        "ceph_s3/croit"
    }

    fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    fn connection_info(&self) -> ConnectionInfo {
        ConnectionInfo {
            s3_endpoint: self.settings.s3_endpoint.clone(),
            s3_region: self.settings.s3_region.clone(),
        }
    }

    fn user_id_for_slug(&self, slug: &str) -> Result<String, BackendError> {
        uid_for_slug(&self.settings.allocation_prefix, slug)
    }

    async fn ping(&self) -> Result<(), BackendError> {
        self.client.list_users().await.map(|_| ())
    }

    async fn ensure_user(&self, spec: &UserSpec) -> Result<Ensured, BackendError> {
        let uid = validate_identifier("S3 user id", &spec.uid)?;
        let stamp = ownership_stamp(&spec.resource_uuid, uid);
        let fallback_name = format!("User for {}", spec.resource_uuid);
        let croit = self.settings.croit.as_ref();
        let body = CreateUser {
            uid,
            name: if spec.display_name.is_empty() {
                &fallback_name
            } else {
                &spec.display_name
            },
            email: &stamp,
            tenant: croit.and_then(|c| c.default_tenant.as_deref()),
            default_placement: self.settings.default_placement.as_deref(),
            default_storage_class: croit.and_then(|c| c.default_storage_class.as_deref()),
        };
        match self.client.create_user(&body).await {
            Ok(()) => {
                self.drop_auto_keys(uid).await?;
                Ok(Ensured::Created)
            }
            // croit sometimes reports a duplicate as a 500 "... exists" (after its own retries).
            Err(e)
                if e.class == ErrorClass::Conflict
                    || e.message().to_lowercase().contains("exists") =>
            {
                match self.raw_user(uid).await? {
                    // Backends may store the email lower-cased: compare without case.
                    Some(u)
                        if u.email
                            .as_deref()
                            .is_some_and(|e| e.eq_ignore_ascii_case(&stamp)) =>
                    {
                        Ok(Ensured::Adopted)
                    }
                    Some(_) => Err(BackendError::conflict(format!(
                        "S3 user {uid:?} already exists and is not owned by this resource; refusing to take it over"
                    ))),
                    None => Err(BackendError::conflict(format!(
                        "S3 user {uid:?} could not be created: {e}"
                    ))),
                }
            }
            Err(e) => Err(e),
        }
    }

    async fn user(&self, uid: &str) -> Result<Option<UserInfo>, BackendError> {
        Ok(self.raw_user(uid).await?.map(|u| UserInfo {
            uid: u.uid.clone().unwrap_or_default(),
            display_name: u.name.clone().unwrap_or_default(),
            email: u.email.clone().unwrap_or_default(),
            suspended: u.suspended,
            access_keys: u.keys.iter().filter_map(|k| k.access_key.clone()).collect(),
        }))
    }

    async fn apply_quota(
        &self,
        uid: &str,
        quota: &QuotaSpec,
    ) -> Result<AppliedQuota, BackendError> {
        if !quota.is_empty() {
            let body = PutQuota {
                enabled: true,
                max_size: quota.max_bytes,
                max_objects: quota.max_objects,
            };
            // User quota first: it is what really bounds the tenant (croit cannot cap the
            // bucket count); the bucket quota is a per-bucket guard.
            self.client.put_quota(uid, QuotaScope::User, &body).await?;
            self.client
                .put_quota(uid, QuotaScope::Bucket, &body)
                .await?;
        }
        self.quota(uid).await
    }

    async fn quota(&self, uid: &str) -> Result<AppliedQuota, BackendError> {
        match self.raw_user(uid).await? {
            Some(u) => Ok(applied(&u)),
            None => Err(BackendError::not_found(format!(
                "S3 user {uid:?} does not exist"
            ))),
        }
    }

    async fn set_suspended(&self, uid: &str, suspended: bool) -> Result<(), BackendError> {
        self.require_waldur_user(uid).await?;
        self.client.set_suspended(uid, suspended).await
    }

    async fn put_key(&self, uid: &str, key: &KeyPair) -> Result<(), BackendError> {
        self.require_waldur_user(uid).await?;
        self.client
            .put_key(uid, &key.access_key, &key.secret_key)
            .await
    }

    async fn delete_key(&self, uid: &str, access_key: &str) -> Result<(), BackendError> {
        validate_identifier("access key", access_key)?;
        // croit answers 500 (retried) rather than 404 for an absent key: look first.
        let keys = match self.client.list_keys(uid).await {
            Ok(k) => k,
            Err(e) if e.class == ErrorClass::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        if !keys
            .iter()
            .any(|k| k.access_key.as_deref() == Some(access_key))
        {
            return Ok(());
        }
        match self.client.delete_key(uid, access_key).await {
            Ok(()) => Ok(()),
            Err(e) if e.class == ErrorClass::NotFound => Ok(()),
            Err(e)
                if e.message()
                    .to_lowercase()
                    .contains("unable to find access key") =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    async fn usage(&self, uid: &str) -> Result<UsageSample, BackendError> {
        let buckets: Vec<BucketUsage> = self
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
            .collect();
        Ok(UsageSample {
            bytes: buckets.iter().map(|b| b.bytes).sum(),
            objects: buckets.iter().map(|b| b.objects).sum(),
            buckets,
            sampled_at: chrono::Utc::now().timestamp(),
        })
    }

    async fn delete_user(&self, uid: &str, mode: DeleteMode) -> Result<(), BackendError> {
        let Some(user) = self.raw_user(uid).await? else {
            return Ok(());
        };
        if !is_waldur_stamp(user.email.as_deref().unwrap_or("")) {
            return Err(BackendError::permanent(format!(
                "refusing to delete S3 user {uid:?}: it was not provisioned by Waldur"
            )));
        }
        if mode == DeleteMode::Purge {
            return Err(BackendError::permanent(
                "purge_data is not supported by the croit flavour: croit cannot remove a user's data; empty the buckets first",
            ));
        }
        match self.client.delete_user(uid).await {
            Ok(()) => Ok(()),
            Err(e) if e.class == ErrorClass::NotFound => Ok(()),
            Err(e) if e.message().contains("Unable to remove user with buckets") => {
                let n = self.client.buckets(uid).await.map(|b| b.len()).unwrap_or(0);
                Err(BackendError::permanent(format!(
                    "S3 user {uid:?} still owns {} bucket(s); empty and remove them, then retry the termination (croit: Unable to remove user with buckets.)",
                    if n == 0 {
                        "one or more".to_string()
                    } else {
                        n.to_string()
                    }
                )))
            }
            Err(e) => Err(e),
        }
    }
}
