//! The resource reconcile pass: for every active resource, make the backend match Waldur —
//! suspend paused users and resume restored ones, repair quota drift (someone changed the
//! quota on the cluster) — and log what it changed.

use crate::config::Offering;
use crate::waldur::{Resource, WaldurClient, hex};
use serde_json::json;
use site_agent_sdk::{AppliedQuota, QuotaSpec, QuotaState, StorageBackend, Tenant};
use std::sync::Arc;

/// What the pass did to one resource.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncReport {
    pub suspended: bool,
    pub resumed: bool,
    pub quota_repaired: bool,
    pub missing: bool,
}

pub struct ResourceSync {
    pub offering: Offering,
    pub waldur: Arc<WaldurClient>,
    pub backend: Arc<dyn StorageBackend>,
    pub store: crate::store::Store,
    pub locks: crate::locks::ResourceLocks,
}

/// True when `actual` enforces `want` (sizes may be rounded up to the backend's granularity).
fn matches(want: &QuotaSpec, actual: &QuotaState, granularity: u64) -> bool {
    let size_ok = match want.max_bytes {
        None => true,
        Some(w) => actual
            .max_size_bytes
            .is_some_and(|a| a >= w && a < w + granularity.max(1)),
    };
    let objects_ok = want.max_objects.is_none() || actual.max_objects == want.max_objects;
    actual.enabled && size_ok && objects_ok
}

impl ResourceSync {
    pub async fn run(&self) -> Vec<(String, SyncReport)> {
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
                Ok(report) => out.push((hex(&r.uuid), report)),
                Err(e) => {
                    tracing::warn!(resource = %hex(&r.uuid), error = %e, "resource sync failed; retried next pass")
                }
            }
        }
        out
    }

    async fn sync_one(&self, r: &Resource) -> Result<SyncReport, crate::orders::StepError> {
        let uid = r.backend_id().unwrap_or_default();
        let tenant = Tenant::new(uid, &r.uuid)?;
        let mut report = SyncReport::default();
        // Keys an interrupted order or rotation may have left behind.
        let resource = hex(&r.uuid);
        if !self.store.ledger_rows(&resource).await?.is_empty() {
            let offering = self.offering.offering_uuid.simple().to_string();
            crate::keybook::KeyBook {
                store: &self.store,
                waldur: &self.waldur,
                backend: &*self.backend,
                offering: &offering,
                resource: &resource,
                tenant: &tenant,
            }
            .settle()
            .await?;
        }
        let Some(user) = self.backend.user(uid).await? else {
            tracing::warn!(resource = %hex(&r.uuid), uid, "the resource's S3 user is missing on the backend");
            report.missing = true;
            return Ok(report);
        };
        let paused = r.paused.unwrap_or(false);
        if paused && !user.suspended {
            self.backend.set_suspended(&tenant, true).await?;
            tracing::info!(uid, "resource paused: S3 user suspended");
            report.suspended = true;
        } else if !paused && user.suspended {
            self.backend.set_suspended(&tenant, false).await?;
            tracing::info!(uid, "resource restored: S3 user resumed");
            report.resumed = true;
        }

        let factor = self
            .offering
            .storage_component()
            .and_then(|(_, c)| c.unit_factor);
        let want = match crate::orders::current_ceilings(&self.store, r)
            .await
            .map_err(|e| e.to_string())
            .and_then(|q| q.to_spec(factor))
        {
            Ok(w) if !w.is_empty() => w,
            Ok(_) => return Ok(report),
            Err(e) => {
                tracing::warn!(resource = %hex(&r.uuid), error = %e, "cannot derive the expected quota");
                return Ok(report);
            }
        };
        let actual: AppliedQuota = self.backend.quota(uid).await?;
        let g = self.backend.capabilities().quota_byte_granularity;
        if !(matches(&want, &actual.user, g) && matches(&want, &actual.bucket, g)) {
            tracing::warn!(uid, expected = ?want, user_quota = ?actual.user, bucket_quota = ?actual.bucket,
                "quota drift on the backend; re-applying the ordered quota");
            let applied = self.backend.apply_quota(&tenant, &want).await?;
            report.quota_repaired = true;
            let mut md = r.backend_metadata.clone().unwrap_or_default();
            md.insert(
                "s3_quota_max_size_bytes".into(),
                json!(applied.user.max_size_bytes),
            );
            md.insert(
                "s3_quota_max_objects".into(),
                json!(applied.user.max_objects),
            );
            md.insert(
                "quotas".into(),
                json!({ "user_quota": applied.user, "bucket_quota": applied.bucket }),
            );
            if let Err(e) = self
                .waldur
                .set_resource_backend_metadata(&hex(&r.uuid), &md)
                .await
            {
                tracing::warn!(error = %e, "could not refresh resource metadata");
            }
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_matching_allows_rounding_up_only() {
        let want = QuotaSpec {
            max_bytes: Some(5_000_000_000),
            max_objects: Some(10),
        };
        let st = |b: u64, o: u64| QuotaState {
            enabled: true,
            max_size_bytes: Some(b),
            max_objects: Some(o),
        };
        assert!(matches(&want, &st(5_000_000_000, 10), 1));
        assert!(matches(&want, &st(5_000_000_512, 10), 1024));
        assert!(!matches(&want, &st(5_000_000_512, 10), 1));
        assert!(!matches(&want, &st(4_999_999_999, 10), 1024));
        assert!(!matches(&want, &st(5_000_000_000, 11), 1));
        assert!(!matches(
            &want,
            &QuotaState {
                enabled: false,
                ..st(5_000_000_000, 10)
            },
            1
        ));
        let size_only = QuotaSpec {
            max_bytes: Some(1024),
            max_objects: None,
        };
        assert!(matches(
            &size_only,
            &QuotaState {
                enabled: true,
                max_size_bytes: Some(1024),
                max_objects: None
            },
            1
        ));
    }
}
