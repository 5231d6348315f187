//! The resource's bucket on MyFSIO, over S3 with the admin key: made and stamped with a tag,
//! its quota (`GET|PUT|DELETE /<bucket>?quota`: JSON, exact), and what it holds.

use serde_json::{Value, json};
use site_agent_sdk::s3bucket::S3Buckets;
use site_agent_sdk::{BackendError, QuotaState};

pub use site_agent_sdk::s3bucket::STAMP_TAG;

pub struct Buckets {
    pub s3: S3Buckets,
    /// The quota set for "no limit" (read back as none).
    pub default_quota: u64,
}

impl Buckets {
    fn quota_url(&self, bucket: &str) -> Result<String, BackendError> {
        self.s3.url(bucket, "?quota")
    }

    /// The quota (v0.4 names the byte limit `max_bytes` in its reply, v0.5 `max_size_bytes`)
    /// and the live usage `(bytes, objects)`; `None` without a quota (v0.5: 404 `NoSuchKey`;
    /// v0.4: nulls).
    pub async fn quota(
        &self,
        bucket: &str,
    ) -> Result<Option<(QuotaState, (u64, u64))>, BackendError> {
        let body = match self
            .s3
            .call(
                "MyFSIO read bucket quota",
                reqwest::Method::GET,
                &self.quota_url(bucket)?,
                None,
            )
            .await
        {
            Ok(b) => b,
            Err(e) if e.code() == Some("NoSuchKey") => return Ok(None),
            Err(e) => return Err(e),
        };
        let v: Value = serde_json::from_str(&body).map_err(|e| {
            BackendError::unexpected(format!("MyFSIO read bucket quota: unreadable answer: {e}"))
        })?;
        let q = &v["quota"];
        let bytes = q["max_size_bytes"]
            .as_u64()
            .or_else(|| q["max_bytes"].as_u64());
        let objects = q["max_objects"].as_u64();
        let usage = (
            v["usage"]["bytes"].as_u64().unwrap_or(0),
            v["usage"]["objects"].as_u64().unwrap_or(0),
        );
        if bytes.is_none() && objects.is_none() {
            return Ok(None);
        }
        Ok(Some((
            QuotaState {
                enabled: true,
                max_size_bytes: bytes.filter(|b| *b != self.default_quota),
                max_objects: objects,
            },
            usage,
        )))
    }

    /// Sets both limits (a PUT replaces both: an absent field is unlimited).
    pub async fn set_quota(
        &self,
        bucket: &str,
        bytes: u64,
        objects: Option<u64>,
    ) -> Result<(), BackendError> {
        let mut body = json!({"max_size_bytes": bytes});
        if let Some(o) = objects {
            body["max_objects"] = json!(o);
        }
        self.s3
            .call(
                "MyFSIO set bucket quota",
                reqwest::Method::PUT,
                &self.quota_url(bucket)?,
                Some(body.to_string().into_bytes()),
            )
            .await
            .map(|_| ())
    }

    pub async fn remove_quota(&self, bucket: &str) -> Result<(), BackendError> {
        self.s3
            .call(
                "MyFSIO remove bucket quota",
                reqwest::Method::DELETE,
                &self.quota_url(bucket)?,
                None,
            )
            .await
            .map(|_| ())
    }
}
