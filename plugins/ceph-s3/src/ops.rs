//! The one contract both flavours' clients meet, in neutral shapes. The shared rules (ownership
//! stamp, adopt or refuse, key safety, delete rules) live once in [`crate::backend`].

use site_agent_sdk::{AppliedQuota, BackendError, BucketUsage, Capabilities, QuotaSpec};

/// A user as either flavour reports it.
#[derive(Debug, Clone, Default)]
pub struct NeutralUser {
    pub uid: String,
    pub name: String,
    pub email: String,
    pub suspended: bool,
    pub access_keys: Vec<String>,
}

#[async_trait::async_trait]
pub trait FlavourOps: Send + Sync {
    fn kind(&self) -> &'static str;
    fn capabilities(&self) -> Capabilities;
    async fn ping(&self) -> Result<(), BackendError>;
    /// Creates a user with no usable key (croit's auto key is removed by `after_create`).
    async fn create_user(&self, uid: &str, name: &str, email: &str) -> Result<(), BackendError>;
    /// Runs only on the branch that really created the user.
    async fn after_create(&self, _uid: &str) -> Result<(), BackendError> {
        Ok(())
    }
    async fn user(&self, uid: &str) -> Result<Option<NeutralUser>, BackendError>;
    /// Deletes the user; `NotFound` for an absent user; a user owning buckets is refused with
    /// `NotEmpty` unless `purge`.
    async fn delete_user(&self, uid: &str, purge: bool) -> Result<(), BackendError>;
    async fn set_suspended(&self, uid: &str, suspended: bool) -> Result<(), BackendError>;
    async fn put_key(
        &self,
        uid: &str,
        access_key: &str,
        secret: &secrecy::SecretString,
    ) -> Result<(), BackendError>;
    /// Deletes a key known to exist; an absent key may be `NotFound`.
    async fn delete_key(&self, uid: &str, access_key: &str) -> Result<(), BackendError>;
    async fn set_quotas(&self, uid: &str, quota: &QuotaSpec) -> Result<(), BackendError>;
    async fn quotas(&self, uid: &str) -> Result<AppliedQuota, BackendError>;
    async fn buckets(&self, uid: &str) -> Result<Vec<BucketUsage>, BackendError>;
    /// The stored-bytes series, where the flavour keeps one (croit's statistics).
    async fn series(
        &self,
        uid: &str,
        _start: i64,
        _end: i64,
    ) -> Result<Vec<(i64, Option<u64>)>, BackendError> {
        Err(BackendError::unsupported(format!(
            "{} keeps no usage series ({uid})",
            self.kind()
        )))
    }
}
