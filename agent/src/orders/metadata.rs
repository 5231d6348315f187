//! Connection metadata published to the resource (flat keys, so `{backend_metadata_<key>}`
//! templates work). Built from what we know; a failing read never wipes known facts.

use super::{OrderProcessor, StepError};
use serde_json::{Map, Value, json};
use site_agent_sdk::AppliedQuota;

impl OrderProcessor {
    pub(super) async fn publish_metadata(
        &self,
        resource_uuid: &str,
        uid: &str,
        quota: Option<&AppliedQuota>,
    ) -> Result<(), StepError> {
        let info = self.backend.connection_info();
        let mut md = Map::new();
        md.insert("s3_endpoint".into(), json!(info.s3_endpoint));
        md.insert("s3_region".into(), json!(info.s3_region));
        md.insert("s3_user".into(), json!(uid));
        if let Some(q) = quota {
            md.insert(
                "s3_quota_max_size_bytes".into(),
                json!(q.user.max_size_bytes),
            );
            md.insert("s3_quota_max_objects".into(), json!(q.user.max_objects));
            md.insert(
                "quotas".into(),
                json!({ "user_quota": q.user, "bucket_quota": q.bucket }),
            );
        }
        md.insert(
            "backend_type".into(),
            Value::String(self.backend.kind().to_string()),
        );
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
