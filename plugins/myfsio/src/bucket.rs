//! The resource's bucket on MyFSIO, over S3 with the admin key: made and stamped with a tag,
//! its quota (`GET|PUT|DELETE /<bucket>?quota`: JSON, exact), and what it holds.

use serde_json::{Value, json};
use site_agent_sdk::s3bucket::S3Buckets;
use site_agent_sdk::{BackendError, QuotaState};

/// The tag holding the ownership stamp on the resource's bucket.
pub const STAMP_TAG: &str = "waldur-stamp";

pub struct Buckets {
    pub s3: S3Buckets,
    /// The quota set for "no limit" (read back as none).
    pub default_quota: u64,
}

fn foreign(bucket: &str) -> BackendError {
    BackendError::already_exists(format!(
        "bucket {bucket:?} already exists and is not this resource's; refusing to grant access to it"
    ))
}

/// Only `NoSuchBucket` says the bucket is absent (a 404 of another code is no answer to that).
fn absent(e: &BackendError) -> bool {
    e.code() == Some("NoSuchBucket")
}

impl Buckets {
    /// `bucket`, made and stamped if missing (`create`); `None` if it does not exist and
    /// `create` is off. A bucket of that name carrying another stamp, or none while holding
    /// data, is someone else's: refused, never granted, metered or emptied. `stamp`: the
    /// user's (`None`: an unstamped user, which owns no bucket).
    pub async fn own(
        &self,
        bucket: &str,
        stamp: Option<&str>,
        create: bool,
    ) -> Result<Option<String>, BackendError> {
        let Some(stamp) = stamp else {
            if create {
                return Err(BackendError::invalid(format!(
                    "the MyFSIO user of bucket {bucket:?} carries no ownership stamp"
                )));
            }
            return match self.s3.tag(bucket, STAMP_TAG).await {
                Ok(_) => Err(foreign(bucket)),
                Err(e) if absent(&e) => Ok(None),
                Err(e) => Err(e),
            };
        };
        let made = create && self.s3.create(bucket).await?;
        let tag = if made {
            None
        } else {
            match self.s3.tag(bucket, STAMP_TAG).await {
                Ok(t) => t,
                Err(e) if absent(&e) => return Ok(None),
                Err(e) => return Err(e),
            }
        };
        match tag {
            Some(t) if t.eq_ignore_ascii_case(stamp) => return Ok(Some(bucket.to_string())),
            Some(_) => return Err(foreign(bucket)),
            // Unstamped: just made, or made by an attempt cut short before its stamp (no
            // policy granted it to a tenant yet, so it holds nothing of anyone's).
            None if !made && self.s3.holds_objects(bucket).await? => return Err(foreign(bucket)),
            None => {}
        }
        self.s3.set_tag(bucket, STAMP_TAG, stamp).await?;
        Ok(Some(bucket.to_string()))
    }

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
