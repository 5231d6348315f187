//! What a vendor adapter implements: plain calls in neutral shapes, with no ownership rules.
//! [`crate::stamped::StampedBackend`] wraps any of them into a [`crate::StorageBackend`] and
//! applies the shared rules (stamp, adopt or refuse, key and delete safety) once for all.

use crate::{
    AppliedQuota, BackendError, BucketOptions, BucketUsage, Capabilities, KeyPair, QuotaSpec,
};

/// A user as the vendor reports it.
#[derive(Debug, Clone, Default)]
pub struct VendorUser {
    pub uid: String,
    pub name: String,
    /// The ownership stamp, read from wherever the vendor keeps it (`Capabilities::stamp`);
    /// `None` when the user carries none.
    pub stamp: Option<String>,
    pub suspension: crate::Suspension,
    pub access_keys: Vec<String>,
}

/// What a vendor reports of a user's usage (see [`VendorOps::metered`]).
#[derive(Debug, Clone, Default)]
pub struct VendorUsage {
    pub buckets: Vec<BucketUsage>,
    /// `(bytes, objects)` where the vendor counts them apart from the buckets.
    pub totals: Option<(u64, u64)>,
    /// Unix seconds of the vendor's measurement; `None`: live.
    pub sampled_at: Option<i64>,
}

#[async_trait::async_trait]
pub trait VendorOps: Send + Sync {
    fn kind(&self) -> &'static str;
    fn capabilities(&self) -> Capabilities;
    async fn ping(&self) -> Result<(), BackendError>;
    /// Creates a user with no usable key, carrying `stamp` where the vendor keeps it. A vendor
    /// that can only stamp an existing user does both here (an interruption between the two
    /// leaves a bare user, which [`Self::write_stamp`] completes).
    async fn create_user(&self, uid: &str, name: &str, stamp: &str) -> Result<(), BackendError>;
    /// Stamps an existing user that carries no stamp. Vendors whose create takes the stamp
    /// along never leave such a user and keep this default.
    async fn write_stamp(&self, uid: &str, _stamp: &str) -> Result<(), BackendError> {
        Err(BackendError::unsupported(format!(
            "{} cannot stamp the existing user {uid:?}",
            self.kind()
        )))
    }
    /// The user's keys with their secrets, for adopting a user an older plugin made (its
    /// customers' keys are reported to Waldur, never replaced). Vendors that cannot read
    /// secrets back keep this default.
    async fn existing_keys(&self, uid: &str) -> Result<Vec<KeyPair>, BackendError> {
        Err(BackendError::unsupported(format!(
            "{} cannot read the secrets of {uid:?}'s keys",
            self.kind()
        )))
    }
    /// Runs only on the branch that really created the user (croit drops its auto key).
    async fn after_create(&self, _uid: &str) -> Result<(), BackendError> {
        Ok(())
    }
    /// What a resource needs beside its user (the `Granted` model: its bucket and the policy
    /// on it), made with the `options` fixed at creation. Idempotent; runs on create and on
    /// adopt alike, so an interrupted create is completed by the next attempt.
    async fn provision(&self, _uid: &str, _options: &BucketOptions) -> Result<(), BackendError> {
        Ok(())
    }
    /// Applies the changeable bucket options asked for (only those the capabilities name).
    async fn set_options(&self, uid: &str, options: &BucketOptions) -> Result<(), BackendError> {
        if options.is_empty() {
            return Ok(());
        }
        Err(BackendError::unsupported(format!(
            "{} has no bucket options ({uid})",
            self.kind()
        )))
    }
    /// The bucket options in force (all `None` where the vendor has none).
    async fn options(&self, _uid: &str) -> Result<BucketOptions, BackendError> {
        Ok(BucketOptions::default())
    }
    async fn user(&self, uid: &str) -> Result<Option<VendorUser>, BackendError>;
    /// The user as an ownership check needs it: its stamp and suspension, `access_keys` left
    /// empty where listing them is costly (MinIO's list is an encrypted answer, a 64 MiB key
    /// derivation each). The checks that use it judge by the stamp alone (a bare user's keys
    /// matter only when adopting, which reads [`Self::user`]).
    async fn owner_view(&self, uid: &str) -> Result<Option<VendorUser>, BackendError> {
        self.user(uid).await
    }
    /// Deletes the user; `NotFound` for an absent user; a user with data is refused with
    /// `NotEmpty` unless `purge`.
    async fn delete_user(&self, uid: &str, purge: bool) -> Result<(), BackendError>;
    async fn set_suspended(&self, uid: &str, suspended: bool) -> Result<(), BackendError>;
    /// Adds a key: the proposed pair where the vendor takes it (`KeyPolicy`), else one the
    /// vendor generates. Returns the pair in force.
    async fn issue_key(&self, uid: &str, proposal: &KeyPair) -> Result<KeyPair, BackendError>;
    /// Deletes a key known to exist; an absent key may be `NotFound`.
    async fn delete_key(&self, uid: &str, access_key: &str) -> Result<(), BackendError>;
    async fn set_quotas(&self, uid: &str, quota: &QuotaSpec) -> Result<(), BackendError>;
    async fn quotas(&self, uid: &str) -> Result<AppliedQuota, BackendError>;
    /// The buckets whose data is the resource's (all the user's own, or its one granted bucket).
    async fn buckets(&self, uid: &str) -> Result<Vec<BucketUsage>, BackendError>;
    /// The user's usage for billing: its buckets, the totals where the vendor keeps them apart
    /// from the buckets (else their sum is billed), and the time the vendor measured them
    /// where its figures come from a metering job of its own (`None`: live).
    async fn metered(&self, uid: &str) -> Result<VendorUsage, BackendError> {
        Ok(VendorUsage {
            buckets: self.buckets(uid).await?,
            ..VendorUsage::default()
        })
    }
    /// The uid for a new resource, from the naming policy's `uid`: vendors whose users live
    /// in a scope the uid must carry (a Cloudian group) prefix it here.
    fn scoped_uid(
        &self,
        _parts: &crate::naming::NameParts<'_>,
        uid: String,
    ) -> Result<String, BackendError> {
        Ok(uid)
    }
    /// The stored-bytes series, where the vendor keeps one (croit's statistics).
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
    /// Ends the vendor session, if it has one (ECS: `GET /logout`).
    async fn close(&self) {}
    /// The bucket the agent made for the resource (`Granted` model only).
    fn resource_bucket(&self, _uid: &str) -> Option<String> {
        None
    }
}
