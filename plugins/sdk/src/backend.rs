//! The `StorageBackend` trait: small, async and vendor-neutral.

use crate::{
    AppliedQuota, BackendError, BucketOptions, Capabilities, ConnectionInfo, DeleteMode, Ensured,
    KeyPair, QuotaSpec, Tenant, UsageSample, UserInfo, UserSpec,
};

/// Everything the agent needs from an object store. Implementations must be idempotent:
/// `ensure_user` adopts its own half-made user, `delete_key`/`delete_user` on something absent
/// succeed. Every identifier is validated before a URL is built. Every call that changes a
/// user names its [`Tenant`] and is refused (`Invalid`) unless the user carries that
/// resource's own ownership stamp. Most vendors implement [`crate::vendor::VendorOps`] and get
/// these rules from [`crate::stamped::StampedBackend`].
#[async_trait::async_trait]
pub trait StorageBackend: Send + Sync {
    /// A short name for logs, e.g. `ceph_s3/croit`.
    fn kind(&self) -> &'static str;
    fn capabilities(&self) -> &Capabilities;
    fn connection_info(&self) -> ConnectionInfo;

    /// The backend uid for a new Waldur resource, by the offering's naming policy (validated).
    fn user_id_for(&self, parts: &crate::naming::NameParts<'_>) -> Result<String, BackendError>;

    /// The bucket made for the resource, published in its metadata (`Granted` model only).
    fn resource_bucket(&self, _uid: &str) -> Option<String> {
        None
    }

    /// A cheap call that proves the API answers and our credentials work. Backends that
    /// share a listing across lookups (croit) refresh it here, so a pass starting with a ping
    /// sees the cluster as it is now.
    async fn ping(&self) -> Result<(), BackendError>;

    /// Creates the user, or adopts it when it carries this resource's ownership stamp.
    /// A user owned by anyone else is `AlreadyExists`: never taken over.
    async fn ensure_user(&self, spec: &UserSpec) -> Result<Ensured, BackendError>;

    /// `Ok(None)` when the user does not exist.
    async fn user(&self, uid: &str) -> Result<Option<UserInfo>, BackendError>;

    /// Applies the ceiling on every quota scope the backend has; returns what is in force.
    async fn apply_quota(
        &self,
        tenant: &Tenant,
        quota: &QuotaSpec,
    ) -> Result<AppliedQuota, BackendError>;

    /// Reads the quotas in force.
    async fn quota(&self, uid: &str) -> Result<AppliedQuota, BackendError>;

    /// Applies the bucket options asked for that can change on an existing bucket
    /// (`Capabilities::options`); returns the options in force.
    async fn apply_options(
        &self,
        tenant: &Tenant,
        options: &BucketOptions,
    ) -> Result<BucketOptions, BackendError>;

    /// The options in force on the resource's bucket (all `None` on a backend without any).
    async fn bucket_options(&self, uid: &str) -> Result<BucketOptions, BackendError>;

    async fn set_suspended(&self, tenant: &Tenant, suspended: bool) -> Result<(), BackendError>;

    /// Adds one key to the tenant's user: the proposed pair where the key policy lets the
    /// agent choose (`Capabilities::keys`), else one the backend generates. Returns the pair
    /// in force.
    async fn issue_key(&self, tenant: &Tenant, proposal: &KeyPair)
    -> Result<KeyPair, BackendError>;

    /// Starts replacing the key `old`: returns its successor. The default is add-then-remove:
    /// a new key is issued and `old` keeps working until the agent removes it with
    /// [`Self::delete_key`] once Waldur holds the new one. Backends that replace in place or
    /// let the old key expire say so in `KeyPolicy::rotation` and override this.
    async fn rotate_key(
        &self,
        tenant: &Tenant,
        _old: &str,
        proposal: &KeyPair,
    ) -> Result<KeyPair, BackendError> {
        self.issue_key(tenant, proposal).await
    }

    /// Removes one key; an absent key (or user) is success.
    async fn delete_key(&self, tenant: &Tenant, access_key: &str) -> Result<(), BackendError>;

    /// Current usage of the tenant's user (refused like a change when the stamp differs: a
    /// `backend_id` pointing at another resource's user must not bill its data).
    async fn usage(&self, tenant: &Tenant) -> Result<UsageSample, BackendError>;

    /// The backend's own stored-bytes series for a user over `[start, end]` (unix seconds),
    /// oldest first; `None` values are gaps. Only backends with `metered_series` capability.
    async fn metered_series(
        &self,
        _tenant: &Tenant,
        _start: i64,
        _end: i64,
    ) -> Result<Vec<(i64, Option<u64>)>, BackendError> {
        Err(BackendError::unsupported(format!(
            "{} keeps no usage series",
            self.kind()
        )))
    }

    /// Removes the user; an absent user is success. With `KeepData`, a user whose data remains
    /// is refused with a `NotEmpty` error that says what remains.
    async fn delete_user(&self, tenant: &Tenant, mode: DeleteMode) -> Result<(), BackendError>;

    /// Adopting a user an older plugin made: its keys with their secrets, so Waldur can show
    /// the customer's working key. Refused unless the tenant is proven this resource's;
    /// `Unsupported` where secrets cannot be read back.
    async fn existing_keys(&self, tenant: &Tenant) -> Result<Vec<KeyPair>, BackendError>;

    /// The agent is stopping: end any session with the backend (best effort, bounded by the
    /// caller). Backends without sessions do nothing.
    async fn close(&self);

    /// Adopting: writes this resource's stamp on the user where the backend can store one on
    /// an existing user; `Ok(false)` where it cannot (the agent's records are the proof).
    async fn write_stamp(&self, tenant: &Tenant) -> Result<bool, BackendError>;
}
