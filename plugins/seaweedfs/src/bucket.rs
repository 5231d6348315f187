//! The resource's bucket, reached with the admin identity over S3 (SigV4 service `s3`):
//! create, the `?seaweedfs-quota` sub-resource, a logical-size listing, delete.

use serde::{Deserialize, Serialize};
use site_agent_sdk::sigv4::{SignedHttp, encode};
use site_agent_sdk::xml::{blocks, leaf};
use site_agent_sdk::{BackendError, ErrorKind, s3error::classify_s3, validate_identifier};

pub struct Buckets {
    http: SignedHttp,
    endpoint: String,
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

pub use site_agent_sdk::naming::bucket_for;

impl Buckets {
    pub fn new(http: SignedHttp, endpoint: &str) -> Self {
        Self {
            http,
            endpoint: endpoint.to_string(),
        }
    }

    fn url(&self, bucket: &str, query: &str) -> Result<String, BackendError> {
        validate_identifier("bucket name", bucket)?;
        Ok(format!("{}/{}{query}", self.endpoint, encode(bucket)))
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
                &self.url(bucket, "")?,
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

    /// One page of ListObjectVersions: every version and delete marker, so data a tenant
    /// hid behind versioning is seen (SeaweedFS 4.48 lets a tenant's PutBucketVersioning
    /// through while IAM is being written, see README).
    async fn versions(
        &self,
        bucket: &str,
        max_keys: u32,
        from: &Marker,
    ) -> Result<Page, BackendError> {
        let what = "SeaweedFS list bucket versions";
        let mut query = format!("?versions&max-keys={max_keys}");
        if let Some((key, version)) = from {
            query.push_str(&format!(
                "&key-marker={}&version-id-marker={}",
                encode(key),
                encode(version)
            ));
        }
        let body = self
            .call(what, reqwest::Method::GET, &self.url(bucket, &query)?, None)
            .await?;
        let mut page = Page::default();
        for (tag, is_data) in [("Version", true), ("DeleteMarker", false)] {
            for v in blocks(&body, tag) {
                let key = leaf(v, "Key").ok_or_else(|| {
                    BackendError::unexpected(format!("{what}: an entry without a key"))
                })?;
                let version = leaf(v, "VersionId").unwrap_or_else(|| "null".into());
                if is_data {
                    let size = leaf(v, "Size")
                        .and_then(|s| s.parse::<u64>().ok())
                        .ok_or_else(|| {
                            BackendError::unexpected(format!("{what}: a version without a size"))
                        })?;
                    page.stored.bytes = page.stored.bytes.saturating_add(size);
                    page.stored.objects += 1;
                }
                page.entries.push((key, version));
            }
        }
        if leaf(&body, "IsTruncated").as_deref() == Some("true") {
            let next = (
                leaf(&body, "NextKeyMarker").unwrap_or_default(),
                leaf(&body, "NextVersionIdMarker").unwrap_or_default(),
            );
            if next.0.is_empty() || from.as_ref() == Some(&next) {
                return Err(BackendError::unexpected(format!(
                    "{what}: the listing does not move on"
                )));
            }
            page.next = Some(next);
        }
        Ok(page)
    }

    /// The logical bytes and objects in the bucket, every version counted; `None` when the
    /// bucket does not exist.
    pub async fn stored(&self, bucket: &str) -> Result<Option<Stored>, BackendError> {
        let mut total = Stored::default();
        let mut from: Marker = None;
        loop {
            let page = match self.versions(bucket, 1000, &from).await {
                Ok(p) => p,
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e),
            };
            total.bytes = total.bytes.saturating_add(page.stored.bytes);
            total.objects += page.stored.objects;
            match page.next {
                Some(n) => from = Some(n),
                None => return Ok(Some(total)),
            }
        }
    }

    /// Whether the bucket holds any object or old version (a missing bucket holds none).
    pub async fn holds_objects(&self, bucket: &str) -> Result<bool, BackendError> {
        Ok(self.stored(bucket).await?.is_some_and(|s| s.objects > 0))
    }

    /// The value of the bucket's tag `key` (`None`: no such tag, or no tags at all).
    pub async fn tag(&self, bucket: &str, key: &str) -> Result<Option<String>, BackendError> {
        let what = "SeaweedFS read bucket tags";
        match self
            .call(
                what,
                reqwest::Method::GET,
                &self.url(bucket, "?tagging")?,
                None,
            )
            .await
        {
            Ok(body) => Ok(blocks(&body, "Tag")
                .into_iter()
                .find(|t| leaf(t, "Key").as_deref() == Some(key))
                .and_then(|t| leaf(t, "Value"))),
            Err(e) if e.code() == Some("NoSuchTagSet") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Replaces the bucket's tags with the one `key=value`.
    pub async fn set_tag(&self, bucket: &str, key: &str, value: &str) -> Result<(), BackendError> {
        let body = format!(
            "<Tagging><TagSet><Tag><Key>{}</Key><Value>{}</Value></Tag></TagSet></Tagging>",
            escape(key),
            escape(value)
        );
        let a = self
            .http
            .send(
                "SeaweedFS tag bucket",
                reqwest::Method::PUT,
                &self.url(bucket, "?tagging")?,
                Some("application/xml"),
                body.into_bytes(),
            )
            .await?;
        if a.ok() {
            Ok(())
        } else {
            Err(classify_s3("SeaweedFS tag bucket", a.status, &a.body))
        }
    }

    /// Deletes the (empty) bucket; an absent bucket is success.
    pub async fn delete(&self, bucket: &str) -> Result<(), BackendError> {
        match self
            .call(
                "SeaweedFS delete bucket",
                reqwest::Method::DELETE,
                &self.url(bucket, "")?,
                None,
            )
            .await
        {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Deletes every version and delete marker of the bucket, then the bucket; returns how
    /// many entries went. An absent bucket is success.
    pub async fn purge(&self, bucket: &str) -> Result<u64, BackendError> {
        let mut deleted = 0u64;
        loop {
            // Always list from the start: every listed entry is deleted before the next list.
            let page = match self.versions(bucket, 1000, &None).await {
                Ok(p) => p,
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(deleted),
                Err(e) => return Err(e),
            };
            if page.entries.is_empty() {
                break;
            }
            for (key, version) in &page.entries {
                let url = self.url(
                    bucket,
                    &format!("/{}?versionId={}", encode_path(key), encode(version)),
                )?;
                match self
                    .call(
                        "SeaweedFS delete object version",
                        reqwest::Method::DELETE,
                        &url,
                        None,
                    )
                    .await
                {
                    Err(e) if e.kind() != ErrorKind::NotFound => return Err(e),
                    _ => deleted += 1,
                }
            }
        }
        self.delete(bucket).await?;
        Ok(deleted)
    }
}

/// Where a version listing goes on from: (key marker, version-id marker).
type Marker = Option<(String, String)>;

#[derive(Default)]
struct Page {
    stored: Stored,
    /// (key, version id) of every version and delete marker listed.
    entries: Vec<(String, String)>,
    next: Marker,
}

/// An object key in a URL path: each segment encoded, the slashes kept.
fn encode_path(key: &str) -> String {
    key.split('/').map(encode).collect::<Vec<_>>().join("/")
}

/// XML text escaping for the few values the agent writes.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_keys_keep_their_slashes() {
        assert_eq!(encode_path("dir/k 1+x"), "dir/k%201%2Bx");
    }

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
