//! `StorageBackend` for Ceph, shared by both flavours: ownership stamp, adopt or refuse,
//! key safety and delete rules, over a [`FlavourOps`] client.

use crate::naming::uid_for_slug;
use crate::ops::FlavourOps;
use crate::settings::CephS3Settings;
use site_agent_sdk::{
    AppliedQuota, BackendError, Capabilities, ConnectionInfo, DeleteMode, Ensured, ErrorKind,
    KeyPair, QuotaSpec, StorageBackend, Tenant, UsageSample, UserInfo, UserSpec,
    validate_identifier,
};

pub struct CephBackend<F> {
    settings: CephS3Settings,
    ops: F,
    caps: Capabilities,
    /// Tenants whose own stamp was seen recently: key calls right after `ensure_user` need not
    /// list every user again (croit has no get-one-user call).
    verified: std::sync::Mutex<std::collections::HashMap<Tenant, std::time::Instant>>,
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

    fn remember(&self, t: &Tenant) {
        let mut v = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        v.retain(|_, at| at.elapsed() < VERIFIED_FOR);
        v.insert(t.clone(), std::time::Instant::now());
    }

    /// Forgets every tenant of `uid` (the user is going or gone).
    fn forget(&self, uid: &str) {
        self.verified
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|t, _| t.uid != uid);
    }

    fn recently_verified(&self, t: &Tenant) -> bool {
        self.verified
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(t)
            .is_some_and(|at| at.elapsed() < VERIFIED_FOR)
    }

    /// The tenant's user, only if it carries this resource's stamp.
    async fn require_owned(&self, t: &Tenant) -> Result<crate::ops::NeutralUser, BackendError> {
        validate_identifier("S3 user id", &t.uid)?;
        match self.ops.user(&t.uid).await? {
            Some(u) if t.owns(&u.email) => {
                self.remember(t);
                Ok(u)
            }
            Some(_) => Err(not_owned(t)),
            None => Err(BackendError::not_found(format!(
                "S3 user {:?} does not exist",
                t.uid
            ))),
        }
    }

    /// Checks ownership unless it was seen moments ago.
    async fn check_owned(&self, t: &Tenant) -> Result<(), BackendError> {
        if self.recently_verified(t) {
            return Ok(());
        }
        self.require_owned(t).await.map(|_| ())
    }
}

fn not_owned(t: &Tenant) -> BackendError {
    BackendError::invalid(format!(
        "refusing to touch S3 user {:?}: it does not belong to resource {} (its ownership stamp differs)",
        t.uid, t.resource_uuid
    ))
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
        let tenant = spec.tenant()?;
        let stamp = tenant.stamp();
        let name = if spec.display_name.is_empty() {
            format!("User for {}", spec.resource_uuid)
        } else {
            spec.display_name.clone()
        };
        match self.ops.create_user(uid, &name, &stamp).await {
            Ok(()) => {
                self.ops.after_create(uid).await?;
                self.remember(&tenant);
                Ok(Ensured::Created)
            }
            // Whatever the create answered (croit reports a duplicate as a plain 500 after its
            // own retries), the user as it is now decides: adopt our own, refuse another's.
            Err(e) => match self.ops.user(uid).await? {
                // Backends may store the email lower-cased: compare without case.
                Some(u) if tenant.owns(&u.email) => {
                    self.remember(&tenant);
                    Ok(Ensured::Adopted)
                }
                Some(_) => Err(BackendError::already_exists(format!(
                    "S3 user {uid:?} already exists and is not owned by this resource; refusing to take it over"
                ))),
                None => Err(e),
            },
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
        tenant: &Tenant,
        quota: &QuotaSpec,
    ) -> Result<AppliedQuota, BackendError> {
        self.check_owned(tenant).await?;
        if !quota.is_empty() {
            self.ops.set_quotas(&tenant.uid, quota).await?;
        }
        self.ops.quotas(&tenant.uid).await
    }

    async fn quota(&self, uid: &str) -> Result<AppliedQuota, BackendError> {
        validate_identifier("S3 user id", uid)?;
        self.ops.quotas(uid).await
    }

    async fn set_suspended(&self, tenant: &Tenant, suspended: bool) -> Result<(), BackendError> {
        let user = self.require_owned(tenant).await?;
        if user.suspended == suspended {
            return Ok(());
        }
        self.ops.set_suspended(&tenant.uid, suspended).await
    }

    async fn put_key(&self, tenant: &Tenant, key: &KeyPair) -> Result<(), BackendError> {
        validate_identifier("access key", &key.access_key)?;
        self.check_owned(tenant).await?;
        self.ops
            .put_key(&tenant.uid, &key.access_key, &key.secret_key)
            .await
    }

    async fn delete_key(&self, tenant: &Tenant, access_key: &str) -> Result<(), BackendError> {
        validate_identifier("access key", access_key)?;
        validate_identifier("S3 user id", &tenant.uid)?;
        let uid = tenant.uid.as_str();
        // Look first: croit answers 500 (retried) rather than 404 for an absent key.
        let Some(user) = self.ops.user(uid).await? else {
            return Ok(());
        };
        if !tenant.owns(&user.email) {
            return Err(not_owned(tenant));
        }
        if !user.access_keys.iter().any(|k| k == access_key) {
            return Ok(());
        }
        match self.ops.delete_key(uid, access_key).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            // An answer that is no "not found" (croit: a 500) may still mean the key is gone
            // (a retry of a delete that went through): the user's keys decide.
            Err(e) => match self.ops.user(uid).await? {
                Some(u) if u.access_keys.iter().any(|k| k == access_key) => Err(e),
                _ => Ok(()),
            },
        }
    }

    async fn usage(&self, tenant: &Tenant) -> Result<UsageSample, BackendError> {
        self.check_owned(tenant).await?;
        let buckets = self.ops.buckets(&tenant.uid).await?;
        Ok(UsageSample {
            bytes: buckets.iter().map(|b| b.bytes).sum(),
            objects: buckets.iter().map(|b| b.objects).sum(),
            buckets,
            sampled_at: chrono::Utc::now().timestamp(),
        })
    }

    async fn metered_series(
        &self,
        tenant: &Tenant,
        start: i64,
        end: i64,
    ) -> Result<Vec<(i64, Option<u64>)>, BackendError> {
        self.check_owned(tenant).await?;
        self.ops.series(&tenant.uid, start, end).await
    }

    async fn delete_user(&self, tenant: &Tenant, mode: DeleteMode) -> Result<(), BackendError> {
        validate_identifier("S3 user id", &tenant.uid)?;
        let uid = tenant.uid.as_str();
        let Some(user) = self.ops.user(uid).await? else {
            return Ok(());
        };
        if !tenant.owns(&user.email) {
            return Err(not_owned(tenant));
        }
        if mode == DeleteMode::Purge && !self.caps.purge {
            return Err(BackendError::unsupported(format!(
                "purge_data is not supported by the {} flavour; empty the buckets, then retry the termination",
                self.settings.flavour.as_str()
            )));
        }
        self.forget(uid);
        match self.ops.delete_user(uid, mode == DeleteMode::Purge).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotEmpty => {
                let n = self.ops.buckets(uid).await.map(|b| b.len()).unwrap_or(0);
                let count = if n == 0 {
                    "one or more".to_string()
                } else {
                    n.to_string()
                };
                Err(BackendError::not_empty(format!(
                    "S3 user {uid:?} still owns {count} bucket(s); empty and remove them, then retry the termination"
                )))
            }
            Err(e) => Err(e),
        }
    }
}
