//! Vendor-neutral domain types shared by the agent and every backend.

use secrecy::SecretString;
use serde::Serialize;

/// What the agent asks for when it makes sure a resource's S3 user exists.
#[derive(Debug, Clone)]
pub struct UserSpec {
    /// The backend user id (already namespaced and validated).
    pub uid: String,
    /// Human-readable name (the Waldur resource name).
    pub display_name: String,
    /// The Waldur resource UUID (hyphenated), used for the ownership stamp.
    pub resource_uuid: String,
}

/// The ownership stamp put in the user's email field: `waldur-<resource uuid>-<uid>@invalid`.
/// `.invalid` is a reserved TLD; the uid is part of it because backends refuse duplicate emails.
pub fn ownership_stamp(resource_uuid: &str, uid: &str) -> String {
    format!("waldur-{resource_uuid}-{uid}@invalid")
}

/// The backend user of one Waldur resource. Every call that changes a user, its quota or its
/// credentials names both, so the backend acts only on a user that carries *this* resource's
/// stamp: a `backend_id` that points at another resource's user is refused, never obeyed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tenant {
    pub uid: String,
    /// Hyphenated, lower-case.
    pub resource_uuid: String,
}

impl Tenant {
    /// Validates the uid and normalises the resource UUID (hex or hyphenated).
    pub fn new(uid: &str, resource_uuid: &str) -> Result<Self, crate::BackendError> {
        crate::validate_identifier("S3 user id", uid)?;
        let u = uuid::Uuid::parse_str(resource_uuid.trim()).map_err(|_| {
            crate::BackendError::invalid(format!("{resource_uuid:?} is not a resource UUID"))
        })?;
        Ok(Self {
            uid: uid.to_string(),
            resource_uuid: u.hyphenated().to_string(),
        })
    }

    /// This resource's ownership stamp.
    pub fn stamp(&self) -> String {
        ownership_stamp(&self.resource_uuid, &self.uid)
    }

    /// True when `email` is this resource's stamp (backends may store it lower-cased).
    pub fn owns(&self, email: &str) -> bool {
        email.eq_ignore_ascii_case(&self.stamp())
    }
}

impl UserSpec {
    pub fn tenant(&self) -> Result<Tenant, crate::BackendError> {
        Tenant::new(&self.uid, &self.resource_uuid)
    }
}

/// How `ensure_user` got the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ensured {
    Created,
    /// It existed already and carries this resource's stamp (an interrupted earlier attempt).
    Adopted,
}

/// A quota request; `None` means "not ordered" and is never sent as 0 or -1.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct QuotaSpec {
    pub max_bytes: Option<u64>,
    pub max_objects: Option<u64>,
}

impl QuotaSpec {
    pub fn is_empty(&self) -> bool {
        self.max_bytes.is_none() && self.max_objects.is_none()
    }
}

/// What the backend really enforces after a quota write (read back where the API allows).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AppliedQuota {
    pub user: QuotaState,
    pub bucket: QuotaState,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct QuotaState {
    pub enabled: bool,
    /// `None`: unlimited.
    pub max_size_bytes: Option<u64>,
    pub max_objects: Option<u64>,
}

/// One S3 key pair. The secret never reaches `Debug` output.
#[derive(Debug, Clone)]
pub struct KeyPair {
    pub access_key: String,
    pub secret_key: SecretString,
}

/// What the backend knows about a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    pub uid: String,
    pub display_name: String,
    pub email: String,
    pub suspended: bool,
    /// Access keys only; secrets are never read back into the agent.
    pub access_keys: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BucketUsage {
    pub name: String,
    pub bytes: u64,
    pub objects: u64,
}

/// One usage reading of a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsageSample {
    pub bytes: u64,
    pub objects: u64,
    pub buckets: Vec<BucketUsage>,
    /// When the backend measured it (unix seconds); the caller's clock when the backend is live.
    pub sampled_at: i64,
}

/// What to do with data on delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteMode {
    /// Refuse while the user still owns buckets.
    KeepData,
    /// Remove the user's buckets and objects too.
    Purge,
}

/// What a backend can and cannot do, so the agent can refuse or degrade clearly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    pub user_quota: bool,
    pub bucket_quota: bool,
    pub object_quota: bool,
    /// Quota sizes are rounded up to a multiple of this many bytes.
    pub quota_byte_granularity: u64,
    pub suspend: bool,
    pub purge: bool,
    /// The backend can report a GB-day series of its own (croit's statistics).
    pub metered_series: bool,
}

/// Non-secret connection facts published to the resource's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionInfo {
    pub s3_endpoint: String,
    pub s3_region: String,
}
