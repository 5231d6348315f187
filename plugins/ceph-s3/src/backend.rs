//! `StorageBackend` for Ceph, shared by both flavours: ownership stamp, adopt or refuse,
//! key safety and delete rules, over a [`FlavourOps`] client.

use crate::naming::uid_for_slug;
use crate::ops::FlavourOps;
use crate::settings::CephS3Settings;
use site_agent_sdk::{
    AppliedQuota, BackendError, Capabilities, ConnectionInfo, DeleteMode, Ensured, ErrorClass,
    KeyPair, QuotaSpec, StorageBackend, UsageSample, UserInfo, UserSpec, is_waldur_stamp,
    ownership_stamp, validate_identifier,
};

pub struct CephBackend<F> {
    settings: CephS3Settings,
    ops: F,
    caps: Capabilities,
    /// Users whose Waldur stamp was seen recently: key calls right after `ensure_user` need not
    /// list every user again (croit has no get-one-user call).
    verified: std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>,
}

/// How long a seen stamp is trusted.
const VERIFIED_FOR: std::time::Duration = std::time::Duration::from_secs(60);

impl<F: FlavourOps> CephBackend<F> {
    pub fn new(settings: CephS3Settings, ops: F) -> Self {
        let caps = ops.capabilities();
        Self {
            settings,
            ops,
            caps,
            verified: Default::default(),
        }
    }

    fn remember(&self, uid: &str) {
        let mut v = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        v.retain(|_, t| t.elapsed() < VERIFIED_FOR);
        v.insert(uid.to_string(), std::time::Instant::now());
    }

    fn forget(&self, uid: &str) {
        self.verified
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(uid);
    }

    fn recently_verified(&self, uid: &str) -> bool {
        self.verified
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(uid)
            .is_some_and(|t| t.elapsed() < VERIFIED_FOR)
    }

    /// Keys are addressed by uid only, so refuse users Waldur did not provision.
    async fn require_waldur_user(
        &self,
        uid: &str,
    ) -> Result<crate::ops::NeutralUser, BackendError> {
        validate_identifier("S3 user id", uid)?;
        match self.ops.user(uid).await? {
            Some(u) if is_waldur_stamp(&u.email) => Ok(u),
            Some(_) => Err(BackendError::permanent(format!(
                "refusing to touch S3 user {uid:?}: it was not provisioned by Waldur"
            ))),
            None => Err(BackendError::not_found(format!(
                "S3 user {uid:?} does not exist"
            ))),
        }
    }
}

#[async_trait::async_trait]
impl<F: FlavourOps> StorageBackend for CephBackend<F> {
    fn kind(&self) -> &'static str {
        self.ops.kind()
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
        self.ops.ping().await
    }

    async fn ensure_user(&self, spec: &UserSpec) -> Result<Ensured, BackendError> {
        let uid = validate_identifier("S3 user id", &spec.uid)?;
        let stamp = ownership_stamp(&spec.resource_uuid, uid);
        let name = if spec.display_name.is_empty() {
            format!("User for {}", spec.resource_uuid)
        } else {
            spec.display_name.clone()
        };
        match self.ops.create_user(uid, &name, &stamp).await {
            Ok(()) => {
                self.ops.after_create(uid).await?;
                self.remember(uid);
                Ok(Ensured::Created)
            }
            // croit sometimes reports a duplicate as a 500 "... exists" (after its own retries).
            Err(e)
                if e.class == ErrorClass::Conflict
                    || e.message().to_lowercase().contains("exists") =>
            {
                match self.ops.user(uid).await? {
                    // Backends may store the email lower-cased: compare without case.
                    Some(u) if u.email.eq_ignore_ascii_case(&stamp) => {
                        self.remember(uid);
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
        validate_identifier("S3 user id", uid)?;
        Ok(self.ops.user(uid).await?.map(|u| UserInfo {
            uid: u.uid,
            display_name: u.name,
            email: u.email,
            suspended: u.suspended,
            access_keys: u.access_keys,
        }))
    }

    async fn apply_quota(
        &self,
        uid: &str,
        quota: &QuotaSpec,
    ) -> Result<AppliedQuota, BackendError> {
        validate_identifier("S3 user id", uid)?;
        if !quota.is_empty() {
            self.ops.set_quotas(uid, quota).await?;
        }
        self.ops.quotas(uid).await
    }

    async fn quota(&self, uid: &str) -> Result<AppliedQuota, BackendError> {
        validate_identifier("S3 user id", uid)?;
        self.ops.quotas(uid).await
    }

    async fn set_suspended(&self, uid: &str, suspended: bool) -> Result<(), BackendError> {
        let user = self.require_waldur_user(uid).await?;
        if user.suspended == suspended {
            return Ok(());
        }
        self.ops.set_suspended(uid, suspended).await
    }

    async fn put_key(&self, uid: &str, key: &KeyPair) -> Result<(), BackendError> {
        validate_identifier("access key", &key.access_key)?;
        if !self.recently_verified(uid) {
            self.require_waldur_user(uid).await?;
            self.remember(uid);
        }
        self.ops
            .put_key(uid, &key.access_key, &key.secret_key)
            .await
    }

    async fn delete_key(&self, uid: &str, access_key: &str) -> Result<(), BackendError> {
        validate_identifier("access key", access_key)?;
        validate_identifier("S3 user id", uid)?;
        // Look first: croit answers 500 (retried) rather than 404 for an absent key.
        let Some(user) = self.ops.user(uid).await? else {
            return Ok(());
        };
        if !user.access_keys.iter().any(|k| k == access_key) {
            return Ok(());
        }
        if !is_waldur_stamp(&user.email) {
            return Err(BackendError::permanent(format!(
                "refusing to touch S3 user {uid:?}: it was not provisioned by Waldur"
            )));
        }
        match self.ops.delete_key(uid, access_key).await {
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
        validate_identifier("S3 user id", uid)?;
        let buckets = self.ops.buckets(uid).await?;
        Ok(UsageSample {
            bytes: buckets.iter().map(|b| b.bytes).sum(),
            objects: buckets.iter().map(|b| b.objects).sum(),
            buckets,
            sampled_at: chrono::Utc::now().timestamp(),
        })
    }

    async fn metered_series(
        &self,
        uid: &str,
        start: i64,
        end: i64,
    ) -> Result<Vec<(i64, Option<u64>)>, BackendError> {
        validate_identifier("S3 user id", uid)?;
        self.ops.series(uid, start, end).await
    }

    async fn delete_user(&self, uid: &str, mode: DeleteMode) -> Result<(), BackendError> {
        validate_identifier("S3 user id", uid)?;
        let Some(user) = self.ops.user(uid).await? else {
            return Ok(());
        };
        if !is_waldur_stamp(&user.email) {
            return Err(BackendError::permanent(format!(
                "refusing to delete S3 user {uid:?}: it was not provisioned by Waldur"
            )));
        }
        if mode == DeleteMode::Purge && !self.caps.purge {
            return Err(BackendError::permanent(format!(
                "purge_data is not supported by the {} flavour; empty the buckets, then retry the termination",
                self.settings.flavour.as_str()
            )));
        }
        self.forget(uid);
        match self.ops.delete_user(uid, mode == DeleteMode::Purge).await {
            Ok(()) => Ok(()),
            Err(e) if e.class == ErrorClass::NotFound => Ok(()),
            Err(e) if e.message().contains("owns buckets") => {
                let n = self.ops.buckets(uid).await.map(|b| b.len()).unwrap_or(0);
                let count = if n == 0 {
                    "one or more".to_string()
                } else {
                    n.to_string()
                };
                Err(BackendError::permanent(format!(
                    "S3 user {uid:?} still owns {count} bucket(s); empty and remove them, then retry the termination"
                )))
            }
            Err(e) => Err(e),
        }
    }
}
