//! The resource's bucket, reached with the admin identity over S3 (SigV4 service `s3`):
//! create, the `?seaweedfs-quota` sub-resource, a logical-size listing, delete.

use serde::{Deserialize, Serialize};
use site_agent_sdk::dataplane::S3DataPlane;
use site_agent_sdk::sigv4::{SignedHttp, encode};
use site_agent_sdk::xml::{blocks, leaf};
use site_agent_sdk::{BackendError, ErrorKind, KeyPair, s3error::classify_s3};

pub struct Buckets {
    http: SignedHttp,
    endpoint: String,
    /// Empties a bucket object by object (works whatever `-s3.allowDeleteBucketNotEmpty` says).
    data: S3DataPlane,
    admin: KeyPair,
}

/// The body of `?seaweedfs-quota`, as SeaweedFS reads and writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaBody {
    pub quota_size: u64,
    pub quota_unit: String,
    pub quota_enabled: bool,
}

/// What the tenant stored in a bucket: logical bytes (the sizes it uploaded, not the
/// compressed size SeaweedFS stores) and the object count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stored {
    pub bytes: u64,
    pub objects: u64,
}

/// The bucket name of a uid: the uid itself, `_` as `-` (S3 bucket rules: 3–63 of `a-z`,
/// `0-9`, `-`, `.`, starting and ending with a letter or digit, no `..`).
pub fn bucket_for(uid: &str) -> Result<String, BackendError> {
    let name = uid.to_ascii_lowercase().replace('_', "-");
    let ok_chars = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    let edges = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_alphanumeric());
    if (3..=63).contains(&name.len())
        && ok_chars
        && edges(name.bytes().next())
        && edges(name.bytes().last())
        && !name.contains("..")
    {
        Ok(name)
    } else {
        Err(BackendError::invalid(format!(
            "S3 user id {uid:?} cannot name a bucket (3 to 63 of a-z, 0-9, '-' and '.')"
        )))
    }
}

impl Buckets {
    pub fn new(http: SignedHttp, endpoint: &str, data: S3DataPlane, admin: KeyPair) -> Self {
        Self {
            http,
            endpoint: endpoint.to_string(),
            data,
            admin,
        }
    }

    fn url(&self, bucket: &str, query: &str) -> String {
        format!("{}/{}{query}", self.endpoint, encode(bucket))
    }

    async fn call(
        &self,
        what: &str,
        method: reqwest::Method,
        url: &str,
        json: Option<Vec<u8>>,
    ) -> Result<String, BackendError> {
        let ct = json.as_ref().map(|_| "application/json");
        let a = self
            .http
            .send(what, method, url, ct, json.unwrap_or_default())
            .await?;
        if a.ok() {
            Ok(a.body)
        } else {
            Err(classify_s3(what, a.status, &a.body))
        }
    }

    /// `true` when this call made the bucket, `false` when it was there already.
    pub async fn create(&self, bucket: &str) -> Result<bool, BackendError> {
        match self
            .call(
                "SeaweedFS create bucket",
                reqwest::Method::PUT,
                &self.url(bucket, ""),
                None,
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `None` when the bucket does not exist.
    pub async fn quota(&self, bucket: &str) -> Result<Option<QuotaBody>, BackendError> {
        let what = "SeaweedFS read bucket quota";
        match self
            .call(
                what,
                reqwest::Method::GET,
                &self.url(bucket, "?seaweedfs-quota"),
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
            &self.url(bucket, "?seaweedfs-quota"),
            Some(json),
        )
        .await
        .map(|_| ())
    }

    /// One page of ListObjectsV2: (bytes, objects, next continuation token).
    async fn page(
        &self,
        bucket: &str,
        max_keys: u32,
        token: Option<&str>,
    ) -> Result<(Stored, Option<String>), BackendError> {
        let what = "SeaweedFS list bucket";
        let mut query = format!("?list-type=2&max-keys={max_keys}");
        if let Some(t) = token {
            query.push_str(&format!("&continuation-token={}", encode(t)));
        }
        let body = self
            .call(what, reqwest::Method::GET, &self.url(bucket, &query), None)
            .await?;
        let mut stored = Stored::default();
        for c in blocks(&body, "Contents") {
            let size = leaf(c, "Size")
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or_else(|| {
                    BackendError::unexpected(format!("{what}: an object without a size"))
                })?;
            stored.bytes = stored.bytes.saturating_add(size);
            stored.objects += 1;
        }
        let next = (leaf(&body, "IsTruncated").as_deref() == Some("true"))
            .then(|| leaf(&body, "NextContinuationToken"))
            .flatten()
            .filter(|t| !t.is_empty());
        Ok((stored, next))
    }

    /// The logical bytes and objects in the bucket; `None` when it does not exist.
    pub async fn stored(&self, bucket: &str) -> Result<Option<Stored>, BackendError> {
        let mut total = Stored::default();
        let mut token: Option<String> = None;
        loop {
            let (page, next) = match self.page(bucket, 1000, token.as_deref()).await {
                Ok(p) => p,
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e),
            };
            total.bytes = total.bytes.saturating_add(page.bytes);
            total.objects += page.objects;
            match next {
                Some(t) if token.as_deref() != Some(t.as_str()) => token = Some(t),
                Some(_) => {
                    return Err(BackendError::unexpected(
                        "SeaweedFS list bucket: the listing repeats its continuation token",
                    ));
                }
                None => return Ok(Some(total)),
            }
        }
    }

    /// Whether the bucket holds any object (a missing bucket holds none).
    pub async fn holds_objects(&self, bucket: &str) -> Result<bool, BackendError> {
        match self.page(bucket, 1, None).await {
            Ok((page, next)) => Ok(page.objects > 0 || next.is_some()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Deletes the (empty) bucket; an absent bucket is success.
    pub async fn delete(&self, bucket: &str) -> Result<(), BackendError> {
        match self
            .call(
                "SeaweedFS delete bucket",
                reqwest::Method::DELETE,
                &self.url(bucket, ""),
                None,
            )
            .await
        {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Deletes every object of the bucket, then the bucket; an absent bucket is success.
    pub async fn purge(&self, bucket: &str) -> Result<u64, BackendError> {
        match self.data.purge_bucket(bucket, &self.admin).await {
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(0),
            other => other,
        }
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
