//! The resource's bucket, reached with the admin identity over S3: the shared SigV4 bucket
//! calls (`site_agent_sdk::s3bucket`) plus SeaweedFS's `?seaweedfs-quota` sub-resource.

use serde::{Deserialize, Serialize};
use site_agent_sdk::s3bucket::S3Buckets;
use site_agent_sdk::sigv4::SignedHttp;
use site_agent_sdk::{BackendError, ErrorKind};

pub use site_agent_sdk::naming::bucket_for;
pub use site_agent_sdk::s3bucket::Stored;

pub struct Buckets(S3Buckets);

impl std::ops::Deref for Buckets {
    type Target = S3Buckets;
    fn deref(&self) -> &S3Buckets {
        &self.0
    }
}

/// The body of `?seaweedfs-quota`, as SeaweedFS reads and writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaBody {
    pub quota_size: u64,
    pub quota_unit: String,
    pub quota_enabled: bool,
}

impl Buckets {
    pub fn new(http: SignedHttp, endpoint: &str) -> Self {
        Self(S3Buckets::new(http, endpoint, "SeaweedFS"))
    }

    /// `None` when the bucket does not exist.
    pub async fn quota(&self, bucket: &str) -> Result<Option<QuotaBody>, BackendError> {
        let what = "SeaweedFS read bucket quota";
        match self
            .call(
                what,
                reqwest::Method::GET,
                &self.url(bucket, "?seaweedfs-quota")?,
                None,
            )
            .await
        {
            Ok(body) => serde_json::from_str(&body)
                .map(Some)
                .map_err(|e| BackendError::unexpected(format!("{what}: unreadable answer: {e}"))),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Sets the byte ceiling (`None`: no quota). Disabling also lifts a read-only mark the
    /// enforcement left behind (it outlives a deleted bucket of the same name).
    pub async fn set_quota(&self, bucket: &str, bytes: Option<u64>) -> Result<(), BackendError> {
        let body = QuotaBody {
            quota_size: bytes.unwrap_or(0),
            quota_unit: "B".into(),
            quota_enabled: bytes.is_some(),
        };
        let json =
            serde_json::to_vec(&body).map_err(|e| BackendError::unexpected(e.to_string()))?;
        self.call(
            "SeaweedFS set bucket quota",
            reqwest::Method::PUT,
            &self.url(bucket, "?seaweedfs-quota")?,
            Some(json),
        )
        .await
        .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names_follow_s3_rules() {
        assert_eq!(bucket_for("waldur-my_res").unwrap(), "waldur-my-res");
        assert_eq!(bucket_for("Waldur-X").unwrap(), "waldur-x");
        for bad in ["ab", "-abc", "abc-", "a..b", &"x".repeat(64), "a@b.c"] {
            assert!(bucket_for(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn quota_body_is_what_seaweedfs_reads_back() {
        // Captured from SeaweedFS 4.48 `GET /<b>?seaweedfs-quota`.
        let q: QuotaBody = serde_json::from_str(
            "{\"quota_size\":1048576,\"quota_unit\":\"B\",\"quota_enabled\":true}\n",
        )
        .unwrap();
        assert_eq!(
            q,
            QuotaBody {
                quota_size: 1_048_576,
                quota_unit: "B".into(),
                quota_enabled: true
            }
        );
    }
}
