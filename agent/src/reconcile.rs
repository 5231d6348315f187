//! The resource reconcile pass: for every active resource, make the backend match Waldur —
//! suspend paused users and resume restored ones, repair quota drift (someone changed the
//! quota on the cluster) — and log what it changed.

use crate::config::Offering;
use crate::waldur::{Resource, WaldurClient};
use serde_json::{Map, json};
use site_agent_sdk::{
    AppliedQuota, Enforcement, QuotaCaps, QuotaScope, QuotaSpec, QuotaState, ScopeDims,
    StorageBackend, Suspension, UsageSample,
};
use std::sync::Arc;

/// What the pass did to one resource.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReconcileReport {
    pub suspended: bool,
    pub resumed: bool,
    pub quota_repaired: bool,
    pub missing: bool,
    /// Usage is beyond the ceiling (backends that enforce late).
    pub over_ceiling: bool,
}

pub struct Reconciler {
    pub offering: Offering,
    pub waldur: Arc<WaldurClient>,
    pub backend: Arc<dyn StorageBackend>,
    pub store: crate::store::Store,
    pub locks: crate::locks::ResourceLocks,
}

/// True when `actual` enforces `want` in the dimensions the scope has (sizes may be rounded up
/// to the backend's granularity).
fn matches(want: &QuotaSpec, actual: &QuotaState, dims: ScopeDims, caps: &QuotaCaps) -> bool {
    // An order that names nothing this scope can hold (an object ceiling on a bytes-only
    // bucket quota) is not drift: there is nothing to apply.
    let expressible =
        (dims.bytes && want.max_bytes.is_some()) || (dims.objects && want.max_objects.is_some());
    if !expressible {
        return true;
    }
    let size_ok = match want.max_bytes {
        Some(w) if dims.bytes => actual
            .max_size_bytes
            .is_some_and(|a| caps.rounding.matches(w, a, caps.byte_granularity)),
        _ => true,
    };
    let objects_ok =
        !dims.objects || want.max_objects.is_none() || actual.max_objects == want.max_objects;
    actual.enabled && size_ok && objects_ok
}

/// True when `actual` enforces `want` on every scope the backend has (only those: a backend
/// without a user quota is never "repaired" towards one).
fn enforced(want: &QuotaSpec, actual: &AppliedQuota, caps: &QuotaCaps) -> bool {
    [QuotaScope::User, QuotaScope::Bucket]
        .into_iter()
        .filter_map(|s| caps.dims(s).map(|d| (s, d)))
        .all(|(s, d)| actual.scope(s).is_some_and(|q| matches(want, q, d, caps)))
}

/// Whether `usage` is beyond the ceilings in force.
fn over_ceiling(usage: &UsageSample, applied: &AppliedQuota) -> bool {
    applied.max_size_bytes().is_some_and(|c| usage.bytes > c)
        || applied.max_objects().is_some_and(|c| usage.objects > c)
}

impl Reconciler {
    pub async fn run(&self) -> Vec<(String, ReconcileReport)> {
        // A pass compares with what the cluster says now (ping also refreshes the listings a
        // backend shares across a pass).
        if let Err(e) = self.backend.ping().await {
            tracing::warn!(offering = %self.offering.name, error = %e, "backend unreachable; resource sync skipped");
            return Vec::new();
        }
        let offering = self.offering.offering_uuid.simple().to_string();
        let resources = match self
            .waldur
            .list_resources(&offering, &["OK", "Erred"])
            .await
        {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(offering = %self.offering.name, error = %e, "could not list resources to sync");
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for r in resources.iter().filter(|r| r.backend_id().is_some()) {
            let guard = self.locks.lock(&r.uuid).await;
            let fresh;
            let r = if guard.waited {
                // An order or rotation worked on it meanwhile: the listing may be stale.
                match self.waldur.get_resource(&r.uuid).await {
                    Ok(x) if ["OK", "Erred"].contains(&x.state.as_str()) => {
                        fresh = x;
                        &fresh
                    }
                    _ => continue,
                }
            } else {
                r
            };
            match self.sync_one(r).await {
                Ok(report) => {
                    let m = crate::metrics::get();
                    for (found, what) in [
                        (report.suspended, "suspended"),
                        (report.resumed, "resumed"),
                        (report.quota_repaired, "quota_repaired"),
                        (report.missing, "missing"),
                        (report.over_ceiling, "over_ceiling"),
                    ] {
                        if found {
                            m.finding(&self.offering.name, what);
                        }
                    }
                    out.push((r.uuid.to_string(), report))
                }
                Err(e) => {
                    tracing::warn!(resource = %r.uuid, error = %e, "resource sync failed; retried next pass")
                }
            }
        }
        out
    }

    async fn sync_one(&self, r: &Resource) -> Result<ReconcileReport, crate::orders::StepError> {
        let uid = r.backend_id().unwrap_or_default();
        let tenant = self.store.tenant(uid, &r.uuid).await?;
        let mut report = ReconcileReport::default();
        // Keys an interrupted order or rotation may have left behind; where tenants can make
        // keys themselves, or every secret shares the access key (a secret left by a crash
        // leaves no ledger row once Waldur's secret is known), any key Waldur does not hold.
        let resource = r.uuid.clone();
        let keys = self.backend.capabilities().keys;
        let self_service =
            keys.tenant_can_issue || keys.access_key == site_agent_sdk::AccessKeyOrigin::User;
        if self_service || !self.store.ledger_rows(&resource).await?.is_empty() {
            let offering = self.offering.offering_uuid.simple().to_string();
            let book = crate::orders::keybook::KeyBook {
                store: &self.store,
                waldur: &self.waldur,
                backend: &*self.backend,
                offering: &offering,
                resource: &resource,
                tenant: &tenant,
            };
            let held = book.settle().await?;
            if self_service {
                book.prune(&held, false).await?;
            }
        }
        let Some(user) = self.backend.user(uid).await? else {
            tracing::warn!(resource = %r.uuid, uid, "the resource's S3 user is missing on the backend");
            report.missing = true;
            return Ok(report);
        };
        let paused = r.paused.unwrap_or(false);
        // A half-done state (a suspension cut short, a key made meanwhile) is finished
        // whichever way Waldur wants it.
        if paused && user.suspension != Suspension::Suspended {
            self.backend.set_suspended(&tenant, true).await?;
            tracing::info!(uid, "resource paused: S3 user suspended");
            report.suspended = true;
        } else if !paused && user.suspension != Suspension::Active {
            self.backend.set_suspended(&tenant, false).await?;
            tracing::info!(uid, "resource restored: S3 user resumed");
            report.resumed = true;
        }

        // A user adopted with its quotas as they were keeps them until an Update (which
        // records ceilings) asks otherwise.
        let kept_as_found = self
            .store
            .adoption(&r.uuid)
            .await?
            .is_some_and(|a| !a.quotas_applied && a.uid == uid)
            && self.store.ceilings(&r.uuid).await?.is_none();
        let want = if kept_as_found {
            None
        } else {
            match crate::orders::current_ceilings(&self.store, r)
                .await
                .map_err(|e| e.to_string())
                .and_then(|q| crate::orders::input::quota_spec(&self.offering, q))
            {
                Ok(w) if !w.is_empty() => Some(w),
                Ok(_) => return Ok(report),
                Err(e) => {
                    tracing::warn!(resource = %r.uuid, error = %e, "cannot derive the expected quota");
                    return Ok(report);
                }
            }
        };
        let caps = self.backend.capabilities().quota;
        let before = r.backend_metadata.clone().unwrap_or_default();
        let mut md = Map::new();
        let mut applied = self.backend.quota(uid).await?;
        if let Some(want) = want.filter(|w| !enforced(w, &applied, &caps)) {
            tracing::warn!(uid, expected = ?want, actual = ?applied,
                "quota drift on the backend; re-applying the ordered quota");
            applied = self.backend.apply_quota(&tenant, &want).await?;
            report.quota_repaired = true;
        }
        // The quota view and what is stored, as the portal shows them; written only when they
        // changed.
        crate::orders::metadata::quota_metadata(&mut md, &applied);
        let usage = self.backend.usage(&tenant).await?;
        crate::orders::metadata::storage_summary(&mut md, &usage);
        if caps.enforcement == Enforcement::Lagging {
            // The backend enforces its quota outside the write path, so the tenant may be over
            // it for a while: say so, in the log and where the portal shows it.
            let over = over_ceiling(&usage, &applied);
            if over {
                tracing::warn!(uid, stored_bytes = usage.bytes, objects = usage.objects,
                    ceiling_bytes = ?applied.max_size_bytes(), ceiling_objects = ?applied.max_objects(),
                    "the resource is over its ceiling (this backend enforces quotas late)");
            }
            report.over_ceiling = over;
            md.insert("s3_over_quota".into(), json!(over));
        }
        let md = crate::orders::metadata::merged(Some(&before), md);
        if md != before
            && let Err(e) = self
                .waldur
                .set_resource_backend_metadata(&r.uuid, &md)
                .await
        {
            tracing::warn!(error = %e, "could not refresh resource metadata");
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_matching_allows_rounding_the_backends_way_only() {
        use site_agent_sdk::{Enforcement, Rounding};
        let caps = |g: u64, rounding| QuotaCaps {
            user: None,
            bucket: None,
            byte_granularity: g,
            rounding,
            enforcement: Enforcement::Inline,
        };
        let (g1, g1024) = (&caps(1, Rounding::Up), &caps(1024, Rounding::Up));
        let want = QuotaSpec {
            max_bytes: Some(5_000_000_000),
            max_objects: Some(10),
        };
        let st = |b: u64, o: u64| QuotaState {
            enabled: true,
            max_size_bytes: Some(b),
            max_objects: Some(o),
        };
        let both = ScopeDims {
            bytes: true,
            objects: true,
        };
        assert!(matches(&want, &st(5_000_000_000, 10), both, g1));
        assert!(matches(&want, &st(5_000_000_512, 10), both, g1024));
        assert!(!matches(&want, &st(5_000_000_512, 10), both, g1));
        assert!(!matches(&want, &st(4_999_999_999, 10), both, g1024));
        assert!(!matches(&want, &st(5_000_000_000, 11), both, g1));
        assert!(!matches(
            &want,
            &QuotaState {
                enabled: false,
                ..st(5_000_000_000, 10)
            },
            both,
            g1
        ));
        let size_only = QuotaSpec {
            max_bytes: Some(1024),
            max_objects: None,
        };
        let unlimited_objects = QuotaState {
            enabled: true,
            max_size_bytes: Some(1024),
            max_objects: None,
        };
        assert!(matches(&size_only, &unlimited_objects, both, g1));
        // A scope without an object dimension is not in drift for lacking one.
        let bytes_only = ScopeDims {
            bytes: true,
            objects: false,
        };
        assert!(matches(
            &want,
            &QuotaState {
                max_size_bytes: Some(5_000_000_000),
                ..unlimited_objects
            },
            bytes_only,
            g1
        ));
        // Rounded down (whole GB): never above the order, less than a unit below it.
        let gib = &caps(1 << 30, Rounding::Down);
        assert!(matches(&want, &st(4 << 30, 10), both, gib));
        assert!(
            !matches(&want, &st(5 << 30, 10), both, gib),
            "above the order"
        );
        assert!(
            !matches(&want, &st(3 << 30, 10), both, gib),
            "a unit too low"
        );
    }

    #[test]
    fn only_the_scopes_a_backend_has_are_compared() {
        use site_agent_sdk::{Enforcement, ScopeQuota};
        let want = QuotaSpec {
            max_bytes: Some(100),
            max_objects: Some(10),
        };
        let bucket_only = QuotaCaps {
            user: None,
            bucket: Some(ScopeDims {
                bytes: true,
                objects: false,
            }),
            byte_granularity: 1,
            rounding: site_agent_sdk::Rounding::Up,
            enforcement: Enforcement::Lagging,
        };
        let applied = AppliedQuota(vec![ScopeQuota {
            scope: QuotaScope::Bucket,
            state: QuotaState {
                enabled: true,
                max_size_bytes: Some(100),
                max_objects: None,
            },
        }]);
        assert!(enforced(&want, &applied, &bucket_only));
        let both = QuotaCaps {
            user: bucket_only.bucket,
            ..bucket_only
        };
        assert!(
            !enforced(&want, &applied, &both),
            "a missing user quota is drift where there is one"
        );
    }

    #[test]
    fn over_the_ceiling_in_bytes_or_objects() {
        use site_agent_sdk::ScopeQuota;
        let applied = AppliedQuota(vec![ScopeQuota {
            scope: QuotaScope::Bucket,
            state: QuotaState {
                enabled: true,
                max_size_bytes: Some(100),
                max_objects: Some(5),
            },
        }]);
        let usage = |bytes, objects| UsageSample {
            bytes,
            objects,
            buckets: vec![],
            sampled_at: None,
        };
        assert!(
            !over_ceiling(&usage(100, 5), &applied),
            "at the ceiling is fine"
        );
        assert!(over_ceiling(&usage(101, 1), &applied));
        assert!(over_ceiling(&usage(1, 6), &applied));
        assert!(
            !over_ceiling(&usage(u64::MAX, 0), &AppliedQuota::default()),
            "no ceiling"
        );
    }
}
