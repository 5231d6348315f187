//! A [`StorageBackend`] over any [`VendorOps`]: the ownership stamp, adopt or refuse, key
//! safety and delete rules, written once for every vendor.

use crate::naming::{NameParts, NamingPolicy};
use crate::ownership::{Owner, owner};
use crate::vendor::{VendorOps, VendorUser};
use crate::{
    AppliedQuota, BackendError, BucketModel, BucketOptions, Capabilities, ConnectionInfo,
    DeleteMode, Ensured, ErrorKind, KeyPair, QuotaSpec, StampPlace, StorageBackend, Tenant,
    UsageSample, UserInfo, UserSpec, validate_identifier,
};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct StampedBackend<V> {
    ops: V,
    caps: Capabilities,
    connection: ConnectionInfo,
    naming: NamingPolicy,
    /// Tenants whose own stamp was seen recently: key calls right after `ensure_user` need not
    /// read the user again (croit has no get-one-user call and lists every user).
    verified: Mutex<Verified>,
}

/// Tenants seen with their own stamp, and when expired ones were last dropped: dropping them
/// on every insert would walk every entry each time (a usage pass over 10,000 resources spent
/// a quarter of its CPU there).
#[derive(Default)]
struct Verified {
    seen: HashMap<Tenant, Instant>,
    pruned: Option<Instant>,
}

/// How long a seen stamp is trusted.
const VERIFIED_FOR: Duration = Duration::from_secs(60);

impl<V: VendorOps> StampedBackend<V> {
    pub fn new(ops: V, connection: ConnectionInfo, naming: NamingPolicy) -> Self {
        Self {
            caps: ops.capabilities(),
            ops,
            connection,
            naming,
            verified: Default::default(),
        }
    }

    fn remember(&self, t: &Tenant) {
        let mut v = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if v.pruned
            .is_none_or(|p| now.duration_since(p) >= VERIFIED_FOR)
        {
            v.seen
                .retain(|_, at| now.duration_since(*at) < VERIFIED_FOR);
            v.pruned = Some(now);
        }
        v.seen.insert(t.clone(), now);
    }

    /// Forgets every tenant of `uid` (the user is going or gone).
    fn forget(&self, uid: &str) {
        self.verified
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .seen
            .retain(|t, _| t.uid != uid);
    }

    fn recently_verified(&self, t: &Tenant) -> bool {
        self.verified
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .seen
            .get(t)
            .is_some_and(|at| at.elapsed() < VERIFIED_FOR)
    }

    /// Whether `u` is the tenant's. Vendors with nowhere to keep a stamp rely on the agent's
    /// records and the uid prefix: every user under the prefix is the agent's.
    fn is_owned(&self, t: &Tenant, u: &VendorUser) -> bool {
        self.caps.stamp == StampPlace::None || owner(t, u, true) == Owner::This
    }

    /// The tenant's user, only if it carries this resource's stamp (its keys may be left
    /// unlisted: [`VendorOps::owner_view`]).
    async fn require_owned(&self, t: &Tenant) -> Result<VendorUser, BackendError> {
        validate_identifier("S3 user id", &t.uid)?;
        match self.ops.owner_view(&t.uid).await? {
            Some(u) if self.is_owned(t, &u) => {
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

    /// Adopts the existing `uid` for `tenant` or refuses; `create_error` is what the create said.
    async fn adopt(
        &self,
        tenant: &Tenant,
        options: &BucketOptions,
        create_error: BackendError,
    ) -> Result<Ensured, BackendError> {
        let uid = tenant.uid.as_str();
        let Some(u) = self.ops.user(uid).await? else {
            return Err(create_error);
        };
        let verdict = if self.is_owned(tenant, &u) {
            Owner::This
        } else if u.stamp.is_none() && u.access_keys.is_empty() {
            // Whatever cannot be shown empty counts as data: a bare user is claimed only
            // when it provably holds nothing.
            let holds_data = self.ops.buckets(uid).await.map_or(true, |b| !b.is_empty());
            owner(tenant, &u, holds_data)
        } else {
            Owner::Someone
        };
        match verdict {
            Owner::This => {}
            Owner::Nobody => match self.ops.write_stamp(uid, &tenant.stamp()).await {
                Ok(()) => {
                    tracing::info!(uid, "stamped a bare S3 user left by an interrupted create")
                }
                Err(e) if e.kind() == ErrorKind::Unsupported => return Err(taken(uid)),
                Err(e) => return Err(e),
            },
            Owner::Someone => return Err(taken(uid)),
        }
        self.ops.provision(uid, options).await?;
        self.remember(tenant);
        Ok(Ensured::Adopted)
    }
}

fn taken(uid: &str) -> BackendError {
    BackendError::already_exists(format!(
        "S3 user {uid:?} already exists and is not owned by this resource; refusing to take it over"
    ))
}

fn not_owned(t: &Tenant) -> BackendError {
    BackendError::invalid(format!(
        "refusing to touch S3 user {:?}: it does not belong to resource {} (its ownership stamp differs)",
        t.uid, t.resource_uuid
    ))
}

#[async_trait::async_trait]
impl<V: VendorOps> StorageBackend for StampedBackend<V> {
    fn kind(&self) -> &'static str {
        self.ops.kind()
    }

    fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    fn connection_info(&self) -> ConnectionInfo {
        self.connection.clone()
    }

    fn user_id_for(&self, parts: &NameParts<'_>) -> Result<String, BackendError> {
        let uid = self.ops.scoped_uid(parts, self.naming.uid(parts)?)?;
        validate_identifier("S3 user id", &uid)?;
        Ok(uid)
    }

    fn resource_bucket(&self, uid: &str) -> Option<String> {
        self.ops.resource_bucket(uid)
    }

    async fn ping(&self) -> Result<(), BackendError> {
        self.ops.ping().await
    }

    async fn ensure_user(&self, spec: &UserSpec) -> Result<Ensured, BackendError> {
        let uid = validate_identifier("S3 user id", &spec.uid)?;
        let tenant = spec.tenant()?;
        let name = if spec.display_name.is_empty() {
            format!("User for {}", spec.resource_uuid)
        } else {
            spec.display_name.clone()
        };
        match self.ops.create_user(uid, &name, &tenant.stamp()).await {
            Ok(()) => {
                self.ops.after_create(uid).await?;
                self.ops.provision(uid, &spec.options).await?;
                self.remember(&tenant);
                Ok(Ensured::Created)
            }
            // Whatever the create answered (croit reports a duplicate as a plain 500 after its
            // own retries), the user as it is now decides: adopt our own, refuse another's.
            Err(e) => self.adopt(&tenant, &spec.options, e).await,
        }
    }

    async fn user(&self, uid: &str) -> Result<Option<UserInfo>, BackendError> {
        validate_identifier("S3 user id", uid)?;
        Ok(self.ops.user(uid).await?.map(|u| UserInfo {
            uid: u.uid,
            display_name: u.name,
            stamp: u.stamp,
            suspension: u.suspension,
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

    async fn apply_options(
        &self,
        tenant: &Tenant,
        options: &BucketOptions,
    ) -> Result<BucketOptions, BackendError> {
        self.check_owned(tenant).await?;
        // Only what can change; an option asked as the default on a backend without it, or
        // one fixed at creation, is nothing to do here.
        let change = self.caps.options.changeable(options);
        if !change.is_empty() {
            self.ops.set_options(&tenant.uid, &change).await?;
        }
        // What was just applied fills what the vendor cannot read back right now.
        Ok(self.ops.options(&tenant.uid).await?.merged_over(change))
    }

    async fn bucket_options(&self, uid: &str) -> Result<BucketOptions, BackendError> {
        validate_identifier("S3 user id", uid)?;
        self.ops.options(uid).await
    }

    /// Always carried out (vendors make it idempotent): a suspension cut short must be
    /// finished by the retry even where the user already reads as suspended.
    async fn set_suspended(&self, tenant: &Tenant, suspended: bool) -> Result<(), BackendError> {
        self.require_owned(tenant).await?;
        self.ops.set_suspended(&tenant.uid, suspended).await
    }

    async fn issue_key(
        &self,
        tenant: &Tenant,
        proposal: &KeyPair,
    ) -> Result<KeyPair, BackendError> {
        validate_identifier("access key", &proposal.access_key)?;
        self.check_owned(tenant).await?;
        let key = self.ops.issue_key(&tenant.uid, proposal).await?;
        // A generated key comes from the vendor: it is checked like any identifier before the
        // agent stores it or sends it anywhere.
        validate_identifier("access key", &key.access_key).map_err(|e| {
            BackendError::unexpected(format!("{} issued an odd access key: {e}", self.kind()))
        })?;
        Ok(key)
    }

    async fn delete_key(&self, tenant: &Tenant, access_key: &str) -> Result<(), BackendError> {
        validate_identifier("access key", access_key)?;
        validate_identifier("S3 user id", &tenant.uid)?;
        let uid = tenant.uid.as_str();
        // Look first: croit answers 500 (retried) rather than 404 for an absent key.
        let Some(user) = self.ops.user(uid).await? else {
            return Ok(());
        };
        if !self.is_owned(tenant, &user) {
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

    async fn close(&self) {
        self.ops.close().await
    }

    async fn existing_keys(&self, tenant: &Tenant) -> Result<Vec<KeyPair>, BackendError> {
        self.require_owned(tenant).await?;
        self.ops.existing_keys(&tenant.uid).await
    }

    async fn write_stamp(&self, tenant: &Tenant) -> Result<bool, BackendError> {
        let user = self.require_owned(tenant).await?;
        if user.stamp.as_deref().is_some_and(|s| tenant.owns(s)) {
            return Ok(true);
        }
        match self.ops.write_stamp(&tenant.uid, &tenant.stamp()).await {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == ErrorKind::Unsupported => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn usage(&self, tenant: &Tenant) -> Result<UsageSample, BackendError> {
        self.check_owned(tenant).await?;
        let m = self.ops.metered(&tenant.uid).await?;
        let (bytes, objects) = m.totals.unwrap_or_else(|| {
            (
                m.buckets.iter().map(|b| b.bytes).sum(),
                m.buckets.iter().map(|b| b.objects).sum(),
            )
        });
        Ok(UsageSample {
            bytes,
            objects,
            buckets: m.buckets,
            sampled_at: m.sampled_at,
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
        if !self.is_owned(tenant, &user) {
            return Err(not_owned(tenant));
        }
        if mode == DeleteMode::Purge && !self.caps.purge {
            return Err(BackendError::unsupported(format!(
                "purge is not supported by {}; empty the buckets, then retry the termination",
                self.kind()
            )));
        }
        self.forget(uid);
        match self.ops.delete_user(uid, mode == DeleteMode::Purge).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotEmpty => Err(self.still_holds(uid, &e).await),
            Err(e) => Err(e),
        }
    }
}

impl<V: VendorOps> StampedBackend<V> {
    /// The refusal of a delete while data remains, saying what remains.
    async fn still_holds(&self, uid: &str, refusal: &BackendError) -> BackendError {
        let buckets = self.ops.buckets(uid).await.unwrap_or_default();
        let msg = match self.caps.buckets {
            BucketModel::Owned => {
                let count = match buckets.len() {
                    0 => "one or more".to_string(),
                    n => n.to_string(),
                };
                format!(
                    "S3 user {uid:?} still owns {count} bucket(s); empty and remove them, then retry the termination"
                )
            }
            BucketModel::Granted => {
                let objects: u64 = buckets.iter().map(|b| b.objects).sum();
                let name = self.ops.resource_bucket(uid).unwrap_or_default();
                format!(
                    "the bucket {name:?} of S3 user {uid:?} still holds {objects} object(s); empty it, then retry the termination"
                )
            }
        };
        // The vendor's own words too: they may name what the agent cannot see.
        BackendError::not_empty(format!(
            "{msg} ({} said: {})",
            self.kind(),
            refusal.message()
        ))
    }
}
