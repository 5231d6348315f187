//! Connection metadata published to the resource (flat keys, so `{backend_metadata_<key>}`
//! templates work). Built from what we know and merged over what the resource has: a failing
//! read never wipes known facts, and keys others wrote stay. No secret is ever written: an
//! `s3_credentials` block (an older plugin's) is removed whenever the agent writes.

use super::{OrderProcessor, StepError};
use crate::waldur::Resource;
use serde_json::{Map, Value, json};
use site_agent_sdk::{AppliedQuota, BucketOptions, UsageSample};

/// Metadata keys that carried secrets in older plugins; never written back.
const SECRET_KEYS: &[&str] = &["s3_credentials"];

/// `updates` merged over the resource's metadata, without secrets.
pub fn merged(
    existing: Option<&Map<String, Value>>,
    updates: Map<String, Value>,
) -> Map<String, Value> {
    let mut md = existing.cloned().unwrap_or_default();
    md.extend(updates);
    for k in SECRET_KEYS {
        md.remove(*k);
    }
    md
}

/// What the tenant stores, as older plugins showed it: bucket count, totals and each
/// bucket's size and object count.
pub fn storage_summary(md: &mut Map<String, Value>, usage: &UsageSample) {
    let buckets: Vec<Value> = usage
        .buckets
        .iter()
        .map(|b| json!({"name": b.name, "size_bytes": b.bytes, "objects": b.objects}))
        .collect();
    md.insert(
        "storage_summary".into(),
        json!({
            "bucket_count": buckets.len(),
            "total_size_bytes": usage.bytes,
            "total_objects": usage.objects,
            "buckets": buckets,
        }),
    );
}

/// The quota facts of a resource's metadata, from what the backend applied: the tightest
/// ceilings in force, and each scope the backend has as `<scope>_quota`. One builder for
/// orders and the reconcile pass alike.
pub fn quota_metadata(md: &mut Map<String, Value>, q: &AppliedQuota) {
    md.insert("s3_quota_max_size_bytes".into(), json!(q.max_size_bytes()));
    md.insert("s3_quota_max_objects".into(), json!(q.max_objects()));
    let scopes: Map<String, Value> =
        q.0.iter()
            .map(|s| (format!("{}_quota", s.scope.as_str()), json!(s.state)))
            .collect();
    md.insert("quotas".into(), Value::Object(scopes));
}

/// The bucket options in force, as the portal shows them (only those the backend knows).
pub fn options_metadata(md: &mut Map<String, Value>, o: &BucketOptions) {
    for (key, value) in [
        ("s3_bucket_encryption", o.encryption.map(|v| json!(v))),
        ("s3_bucket_versioning", o.versioning.map(|v| json!(v))),
        ("s3_bucket_policy", o.policy.map(|v| json!(v))),
        ("s3_bucket_object_lock", o.object_lock.map(|v| json!(v))),
    ] {
        if let Some(v) = value {
            md.insert(key.into(), v);
        }
    }
}

impl OrderProcessor {
    pub(super) async fn publish_metadata(
        &self,
        resource: &Resource,
        tenant: &site_agent_sdk::Tenant,
        quota: Option<&AppliedQuota>,
        options: Option<&BucketOptions>,
    ) -> Result<(), StepError> {
        let (resource_uuid, uid) = (&resource.uuid, &tenant.uid);
        let info = self.backend.connection_info();
        let mut md = Map::new();
        md.insert("s3_endpoint".into(), json!(info.s3_endpoint));
        md.insert("s3_region".into(), json!(info.s3_region));
        if let Some(console) = &info.console_url {
            md.insert("console_url".into(), json!(console));
        }
        md.insert("s3_user".into(), json!(uid));
        if let Some(bucket) = self.backend.resource_bucket(uid) {
            md.insert("s3_bucket".into(), json!(bucket));
        }
        if let Some(q) = quota {
            quota_metadata(&mut md, q);
        }
        // Where the backend has no object-count quota (MinIO, SeaweedFS, ECS) an ordered
        // object limit is accepted but not enforced: the portal says so.
        md.insert(
            "s3_object_quota_enforced".into(),
            json!(self.backend.capabilities().quota.objects()),
        );
        if let Some(o) = options {
            options_metadata(&mut md, o);
        }
        md.insert(
            "backend_type".into(),
            Value::String(self.backend.kind().to_string()),
        );
        // A convenience: without a reading, the reconcile pass adds it later.
        match self.backend.usage(tenant).await {
            Ok(u) => storage_summary(&mut md, &u),
            Err(e) => tracing::debug!(uid, error = %e, "no storage summary for the metadata yet"),
        }
        let md = merged(resource.backend_metadata.as_ref(), md);
        self.waldur
            .set_resource_backend_metadata(resource_uuid, &md)
            .await
            .or_else(warn_unless_transient)?;
        self.waldur
            .set_resource_endpoints(resource_uuid, "S3 endpoint", &info.s3_endpoint)
            .await
            .or_else(warn_unless_transient)?;
        Ok(())
    }
}

/// Metadata is a convenience: a refusal is logged, an outage is retried with the order.
fn warn_unless_transient(e: crate::waldur::WaldurError) -> Result<(), StepError> {
    if e.is_retryable() {
        Err(e.into())
    } else {
        tracing::warn!(error = %e, "could not publish resource metadata");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use site_agent_sdk::{QuotaScope, QuotaState, ScopeQuota};

    fn state(bytes: u64, objects: Option<u64>) -> QuotaState {
        QuotaState {
            enabled: true,
            max_size_bytes: Some(bytes),
            max_objects: objects,
        }
    }

    #[test]
    fn both_scopes_publish_as_before() {
        let q = AppliedQuota(vec![
            ScopeQuota {
                scope: QuotaScope::User,
                state: state(5_000_000_512, Some(10)),
            },
            ScopeQuota {
                scope: QuotaScope::Bucket,
                state: state(5_000_000_512, Some(10)),
            },
        ]);
        let mut md = Map::new();
        quota_metadata(&mut md, &q);
        assert_eq!(
            Value::Object(md),
            json!({
                "s3_quota_max_size_bytes": 5_000_000_512u64,
                "s3_quota_max_objects": 10,
                "quotas": {
                    "user_quota": {"enabled": true, "max_size_bytes": 5_000_000_512u64, "max_objects": 10},
                    "bucket_quota": {"enabled": true, "max_size_bytes": 5_000_000_512u64, "max_objects": 10},
                }
            })
        );
    }

    #[test]
    fn metadata_is_merged_and_never_keeps_a_secret() {
        let existing = json!({
            "s3_credentials": {"access_key": "AK", "secret_key": "SECRET-canary"},
            "note": "set by someone else",
            "s3_user": "old",
        });
        let md = merged(
            existing.as_object(),
            json!({"s3_user": "new"}).as_object().unwrap().clone(),
        );
        assert_eq!(
            Value::Object(md),
            json!({"note": "set by someone else", "s3_user": "new"})
        );
        let mut md = Map::new();
        storage_summary(
            &mut md,
            &UsageSample {
                bytes: 30,
                objects: 3,
                buckets: vec![
                    site_agent_sdk::BucketUsage {
                        name: "a".into(),
                        bytes: 10,
                        objects: 1,
                    },
                    site_agent_sdk::BucketUsage {
                        name: "b".into(),
                        bytes: 20,
                        objects: 2,
                    },
                ],
                sampled_at: None,
            },
        );
        assert_eq!(
            md["storage_summary"],
            json!({"bucket_count": 2, "total_size_bytes": 30, "total_objects": 3, "buckets": [
                {"name": "a", "size_bytes": 10, "objects": 1},
                {"name": "b", "size_bytes": 20, "objects": 2},
            ]})
        );
    }

    #[test]
    fn a_bucket_only_backend_publishes_its_one_scope() {
        let q = AppliedQuota(vec![ScopeQuota {
            scope: QuotaScope::Bucket,
            state: state(1 << 30, None),
        }]);
        let mut md = Map::new();
        quota_metadata(&mut md, &q);
        assert_eq!(md["s3_quota_max_size_bytes"], json!(1u64 << 30));
        assert_eq!(
            md["s3_quota_max_objects"],
            Value::Null,
            "no object ceiling claimed"
        );
        assert_eq!(
            md["quotas"],
            json!({"bucket_quota": {"enabled": true, "max_size_bytes": 1u64 << 30, "max_objects": null}})
        );
    }
}
