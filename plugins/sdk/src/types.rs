//! Vendor-neutral domain types shared by the agent and every backend.

use secrecy::SecretString;
use serde::Serialize;

/// What the agent asks for when it makes sure a resource's S3 user exists.
#[derive(Debug, Clone, Default)]
pub struct UserSpec {
    /// The backend user id (already namespaced and validated).
    pub uid: String,
    /// Human-readable name (the Waldur resource name).
    pub display_name: String,
    /// The Waldur resource UUID (hyphenated), used for the ownership stamp.
    pub resource_uuid: String,
    /// The agent's records prove an existing `uid` is this resource's (see [`Tenant::recorded`]).
    pub recorded: bool,
    /// The bucket options the order asks for; those fixed at creation are applied when the
    /// resource's bucket is made (see [`OptionCaps`]).
    pub options: BucketOptions,
}

/// Who may read a bucket's objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BucketPolicy {
    /// The owner only (no bucket policy).
    Private,
    /// Anyone may read objects (`s3:GetObject` for `*`).
    PublicRead,
}

/// Bucket settings an order asks for (`None`: not asked, the vendor's default holds), or that
/// a backend reports in force (`None`: not known there).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct BucketOptions {
    pub encryption: Option<bool>,
    pub versioning: Option<bool>,
    pub policy: Option<BucketPolicy>,
    pub object_lock: Option<bool>,
}

impl BucketOptions {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// These options, each one not asked taken from `base`.
    pub fn merged_over(self, base: BucketOptions) -> BucketOptions {
        BucketOptions {
            encryption: self.encryption.or(base.encryption),
            versioning: self.versioning.or(base.versioning),
            policy: self.policy.or(base.policy),
            object_lock: self.object_lock.or(base.object_lock),
        }
    }
}

/// How a backend honours one bucket option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionSupport {
    /// Not at all: asking for it on errs the order.
    No,
    /// Only when the bucket is made; an Update asking to change it errs.
    AtCreate,
    /// At creation and later.
    Changeable,
}

/// The bucket options a backend honours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionCaps {
    pub encryption: OptionSupport,
    pub versioning: OptionSupport,
    pub policy: OptionSupport,
    pub object_lock: OptionSupport,
}

impl OptionCaps {
    /// A backend with no bucket options (asking for any on errs the order).
    pub const NONE: OptionCaps = OptionCaps {
        encryption: OptionSupport::No,
        versioning: OptionSupport::No,
        policy: OptionSupport::No,
        object_lock: OptionSupport::No,
    };

    /// The part of `wanted` that can change on an existing bucket (what a vendor is asked to
    /// apply after creation; the rest is fixed at creation or, asked as the default, nothing).
    pub fn changeable(&self, wanted: &BucketOptions) -> BucketOptions {
        let keep = |s: OptionSupport| s == OptionSupport::Changeable;
        BucketOptions {
            encryption: wanted.encryption.filter(|_| keep(self.encryption)),
            versioning: wanted.versioning.filter(|_| keep(self.versioning)),
            policy: wanted.policy.filter(|_| keep(self.policy)),
            object_lock: wanted.object_lock.filter(|_| keep(self.object_lock)),
        }
    }

    /// Whether `wanted` can be honoured: on a new bucket (`in_force` is `None`) or on one whose
    /// options are `in_force`. Asking for the vendor default ("off", private) is always fine.
    pub fn check(
        &self,
        kind: &str,
        wanted: &BucketOptions,
        in_force: Option<&BucketOptions>,
    ) -> Result<(), crate::BackendError> {
        let rows = [
            (
                "Encryption",
                self.encryption,
                wanted.encryption == Some(true),
                wanted.encryption.is_some()
                    && in_force.is_some_and(|f| {
                        f.encryption.is_some() && f.encryption != wanted.encryption
                    }),
            ),
            (
                "Versioning",
                self.versioning,
                wanted.versioning == Some(true),
                false,
            ),
            (
                "A public-read bucket policy",
                self.policy,
                wanted.policy == Some(BucketPolicy::PublicRead),
                false,
            ),
            (
                "Object Lock",
                self.object_lock,
                wanted.object_lock == Some(true),
                wanted.object_lock.is_some()
                    && in_force.is_some_and(|f| {
                        f.object_lock.is_some() && f.object_lock != wanted.object_lock
                    }),
            ),
        ];
        for (name, support, on, changes) in rows {
            match support {
                OptionSupport::No if on => {
                    return Err(crate::BackendError::unsupported(format!(
                        "{name} is not supported on {kind}"
                    )));
                }
                OptionSupport::AtCreate if changes => {
                    return Err(crate::BackendError::invalid(format!(
                        "{name} can only be chosen when the bucket is made; it cannot be changed on an existing resource"
                    )));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Whether `stamp` is any agent's ownership stamp (of whichever resource).
pub fn is_agent_stamp(stamp: &str) -> bool {
    let s = stamp.to_ascii_lowercase();
    s.starts_with("waldur-") && s.ends_with("@invalid")
}

/// The ownership stamp: `waldur-<resource uuid>-<uid>@invalid`, the same text wherever a
/// backend keeps it (e-mail field, tag, display name). `.invalid` is a reserved TLD; the uid is
/// part of it because backends refuse duplicate e-mails.
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
    /// The agent's own records prove that `uid` is this resource's (a user adopted from an
    /// older plugin, on a backend that cannot store a stamp): it counts as this resource's
    /// unless it carries another resource's stamp.
    pub recorded: bool,
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
            recorded: false,
        })
    }

    /// The same tenant, proven by the agent's records (see [`Tenant::recorded`]).
    pub fn with_record(mut self, recorded: bool) -> Self {
        self.recorded = recorded;
        self
    }

    /// This resource's ownership stamp.
    pub fn stamp(&self) -> String {
        ownership_stamp(&self.resource_uuid, &self.uid)
    }

    /// True when `stamp` is this resource's stamp (backends may store it lower-cased).
    pub fn owns(&self, stamp: &str) -> bool {
        stamp.eq_ignore_ascii_case(&self.stamp())
    }
}

impl UserSpec {
    pub fn tenant(&self) -> Result<Tenant, crate::BackendError> {
        Ok(Tenant::new(&self.uid, &self.resource_uuid)?.with_record(self.recorded))
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

/// Where a quota applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum QuotaScope {
    /// Everything the tenant stores.
    User,
    /// Each bucket of the tenant (`Owned`), or the resource's one bucket (`Granted`).
    Bucket,
}

impl QuotaScope {
    pub fn as_str(self) -> &'static str {
        match self {
            QuotaScope::User => "user",
            QuotaScope::Bucket => "bucket",
        }
    }
}

/// What a backend enforces on one scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScopeQuota {
    pub scope: QuotaScope,
    #[serde(flatten)]
    pub state: QuotaState,
}

/// What the backend really enforces after a quota write (read back where the API allows),
/// one entry per scope the backend has.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct AppliedQuota(pub Vec<ScopeQuota>);

impl AppliedQuota {
    pub fn scope(&self, scope: QuotaScope) -> Option<&QuotaState> {
        self.0.iter().find(|q| q.scope == scope).map(|q| &q.state)
    }
    pub fn user(&self) -> Option<&QuotaState> {
        self.scope(QuotaScope::User)
    }
    pub fn bucket(&self) -> Option<&QuotaState> {
        self.scope(QuotaScope::Bucket)
    }
    /// The tightest size ceiling in force (what the tenant can store at most).
    pub fn max_size_bytes(&self) -> Option<u64> {
        self.0.iter().filter_map(|q| q.state.max_size_bytes).min()
    }
    /// The tightest object ceiling in force.
    pub fn max_objects(&self) -> Option<u64> {
        self.0.iter().filter_map(|q| q.state.max_objects).min()
    }
    /// The quota of a backend whose only scope is the resource's bucket.
    pub fn bucket_only(state: QuotaState) -> Self {
        Self(vec![ScopeQuota {
            scope: QuotaScope::Bucket,
            state,
        }])
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct QuotaState {
    pub enabled: bool,
    /// `None`: unlimited.
    pub max_size_bytes: Option<u64>,
    pub max_objects: Option<u64>,
}

impl QuotaState {
    /// A size ceiling only (`None`: no quota set).
    pub fn bytes(max: Option<u64>) -> Self {
        Self {
            enabled: max.is_some(),
            max_size_bytes: max,
            max_objects: None,
        }
    }
}

/// One S3 key pair. The secret never reaches `Debug` output.
#[derive(Debug, Clone)]
pub struct KeyPair {
    pub access_key: String,
    pub secret_key: SecretString,
}

/// Whether a user's access is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Suspension {
    #[default]
    Active,
    Suspended,
    /// Half-way either way (a suspension or resumption cut short, or a key made meanwhile):
    /// neither state holds, so both a pause and a restore must act.
    Partial,
}

impl Suspension {
    pub fn of(suspended: bool) -> Self {
        if suspended {
            Suspension::Suspended
        } else {
            Suspension::Active
        }
    }
}

/// What the backend knows about a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    pub uid: String,
    pub display_name: String,
    /// The ownership stamp, wherever the backend keeps it (`Capabilities::stamp`).
    pub stamp: Option<String>,
    pub suspension: Suspension,
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
    /// When the backend measured it (unix seconds), where its figures come from a metering
    /// job of its own (ECS's `sample_time`); `None`: live, as of the call (the caller's clock).
    pub sampled_at: Option<i64>,
}

/// What to do with data on delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteMode {
    /// Refuse (`NotEmpty`) while the resource still holds data.
    KeepData,
    /// Remove the resource's buckets and objects too.
    Purge,
}

/// Which limits a quota scope enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScopeDims {
    pub bytes: bool,
    pub objects: bool,
}

/// The quota scopes a backend has (`None`: not at all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaCaps {
    pub user: Option<ScopeDims>,
    pub bucket: Option<ScopeDims>,
    /// Quota sizes are rounded to a multiple of this many bytes, the way `rounding` says.
    pub byte_granularity: u64,
    pub rounding: Rounding,
    pub enforcement: Enforcement,
}

/// Which way a ceiling is rounded to the backend's granularity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rounding {
    /// Up: the tenant may store a little more than ordered (never less).
    Up,
    /// Down: never above the order (ECS's whole GB); a ceiling below one unit is refused.
    Down,
}

impl Rounding {
    /// Whether `actual` is `want` rounded this way to `granularity` bytes.
    pub fn matches(self, want: u64, actual: u64, granularity: u64) -> bool {
        let g = granularity.max(1);
        match self {
            Rounding::Up => actual >= want && actual < want.saturating_add(g),
            Rounding::Down => actual <= want && actual > want.saturating_sub(g),
        }
    }
}

/// When a quota bites.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enforcement {
    /// On the write path (give or take a cache: RGW may overshoot slightly).
    Inline,
    /// By a periodic job outside the write path: a tenant can exceed its ceiling for a while,
    /// so the reconcile pass checks usage against it and reports an overrun.
    Lagging,
}

impl QuotaCaps {
    pub fn dims(&self, scope: QuotaScope) -> Option<ScopeDims> {
        match scope {
            QuotaScope::User => self.user,
            QuotaScope::Bucket => self.bucket,
        }
    }
    /// Whether any scope can cap the object count.
    pub fn objects(&self) -> bool {
        [self.user, self.bucket].iter().flatten().any(|d| d.objects)
    }
}

/// Who makes a key's secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretOrigin {
    /// The agent proposes the pair and the backend takes it.
    Agent,
    /// The backend generates it (the agent's proposal is ignored).
    Backend,
}

/// How a key is rotated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotationMode {
    /// Issue the new key, then revoke the old one.
    AddThenRemove,
    /// The old key is replaced in place (no room for a second one).
    ReplaceInPlace,
    /// The old key is left to expire.
    ExpireOld,
}

/// Who names a key's access key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessKeyOrigin {
    /// The agent proposes it and the backend takes it.
    Agent,
    /// The backend generates it.
    Backend,
    /// It is the user id itself, shared by every secret of the user (ECS): a key is then told
    /// apart by its secret (see [`crate::keys::key_id`]) and Waldur holds one key per resource.
    User,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyPolicy {
    pub secret: SecretOrigin,
    /// The tenant can make keys for itself with its own key (SeaweedFS IAM self-service):
    /// the reconcile pass then removes keys Waldur does not hold.
    pub tenant_can_issue: bool,
    /// Who names the access key.
    pub access_key: AccessKeyOrigin,
    /// The most keys a tenant may hold (`None`: no limit).
    pub max_keys: Option<u32>,
    pub rotation: RotationMode,
}

impl KeyPolicy {
    /// Whether the agent knows a key's identity before the backend applies it (it names the
    /// access key, or the key is told by the secret the agent proposes).
    pub fn id_known_in_advance(&self) -> bool {
        match self.access_key {
            AccessKeyOrigin::Agent => true,
            AccessKeyOrigin::User => self.secret == SecretOrigin::Agent,
            AccessKeyOrigin::Backend => false,
        }
    }

    /// How many keys a resource gets: two, or fewer when the backend caps keys, leaving
    /// room for one more during a rotation that adds before it removes.
    pub fn keys_per_resource(&self, wanted: u32) -> u32 {
        match (self.max_keys, self.rotation) {
            (Some(max), RotationMode::AddThenRemove) => wanted.min(max.saturating_sub(1)).max(1),
            (Some(max), _) => wanted.min(max).max(1),
            (None, _) => wanted,
        }
    }
}

/// Who owns the tenant's buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BucketModel {
    /// The tenant creates and owns its buckets; all of them count (RGW, croit).
    Owned,
    /// The agent creates the resource's one bucket and grants the tenant exactly the object
    /// actions on it (backends without bucket ownership or user quota).
    Granted,
}

/// Where the ownership stamp lives on the backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StampPlace {
    Email,
    Tag,
    DisplayName,
    /// In the name of the user's policy (MinIO: no user metadata, but `user-info` names the
    /// user's policies).
    PolicyName,
    /// Nowhere on the backend: the agent's records and the uid prefix are the proof.
    None,
}

/// What a backend can and cannot do: facts the agent obeys (a capability-check layer
/// answers `Unsupported` before the backend is asked for something it cannot do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    pub quota: QuotaCaps,
    pub keys: KeyPolicy,
    pub buckets: BucketModel,
    pub stamp: StampPlace,
    pub suspend: bool,
    pub purge: bool,
    /// The backend keeps a stored-bytes series of its own (for GB-days from day one).
    pub metered_series: bool,
    /// Usage is reported in units of this many bytes, rounded down (ECS meters in KB).
    pub usage_precision: u64,
    /// The bucket options an order may ask for.
    pub options: OptionCaps,
}

/// Non-secret connection facts published to the resource's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionInfo {
    pub s3_endpoint: String,
    pub s3_region: String,
    /// The vendor's management console for tenants (Cloudian CMC), where configured.
    pub console_url: Option<String>,
}
