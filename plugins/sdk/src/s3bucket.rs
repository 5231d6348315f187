//! A bucket over S3 with SigV4 header signing (service `s3`): create, the version listing
//! (logical bytes and objects), tags, versioning, delete and purge. Shared by the backends
//! that reach their buckets over S3 (SeaweedFS with its admin identity, ECS with the user's
//! own key on the private S3 URL).

use crate::sigv4::{SignedHttp, encode};
use crate::xml::{blocks, leaf};
use crate::{BackendError, ErrorKind, s3error::classify_s3, validate_identifier};

pub struct S3Buckets {
    http: SignedHttp,
    endpoint: String,
    label: &'static str,
}

/// What the tenant stored in a bucket: logical bytes (the sizes it uploaded, every version
/// counted; not what the store keeps after compression) and the object count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stored {
    pub bytes: u64,
    pub objects: u64,
}

impl S3Buckets {
    /// `label` names the store in messages (`SeaweedFS`, `ECS S3`).
    pub fn new(http: SignedHttp, endpoint: &str, label: &'static str) -> Self {
        Self {
            http,
            endpoint: endpoint.trim_end_matches('/').to_string(),
            label,
        }
    }

    fn what(&self, call: &str) -> String {
        format!("{} {call}", self.label)
    }

    pub fn url(&self, bucket: &str, query: &str) -> Result<String, BackendError> {
        validate_identifier("bucket name", bucket)?;
        Ok(format!("{}/{}{query}", self.endpoint, encode(bucket)))
    }

    pub async fn call(
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
                &self.what("create bucket"),
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

    /// One page of ListObjectVersions: every version and delete marker, so data a tenant
    /// hid behind versioning is seen.
    async fn versions(
        &self,
        bucket: &str,
        max_keys: u32,
        from: &Marker,
    ) -> Result<Page, BackendError> {
        let what = &self.what("list bucket versions");
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
        let what = &self.what("read bucket tags");
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
        self.put_xml("tag bucket", bucket, "?tagging", body).await
    }

    /// `PUT` of an XML sub-resource document.
    async fn put_xml(
        &self,
        call: &str,
        bucket: &str,
        query: &str,
        body: String,
    ) -> Result<(), BackendError> {
        let what = self.what(call);
        let a = self
            .http
            .send(
                &what,
                reqwest::Method::PUT,
                &self.url(bucket, query)?,
                Some("application/xml"),
                body.into_bytes(),
            )
            .await?;
        if a.ok() {
            Ok(())
        } else {
            Err(classify_s3(&what, a.status, &a.body))
        }
    }

    /// Turns versioning on, or suspends it (S3 has no "off" once it was on).
    pub async fn set_versioning(&self, bucket: &str, enabled: bool) -> Result<(), BackendError> {
        let status = if enabled { "Enabled" } else { "Suspended" };
        let body = format!(
            "<VersioningConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Status>{status}</Status></VersioningConfiguration>"
        );
        self.put_xml("set bucket versioning", bucket, "?versioning", body)
            .await
    }

    /// Whether versioning is on (`Enabled`); a bucket where it was never set reads `false`.
    pub async fn versioning(&self, bucket: &str) -> Result<bool, BackendError> {
        let body = self
            .call(
                &self.what("read bucket versioning"),
                reqwest::Method::GET,
                &self.url(bucket, "?versioning")?,
                None,
            )
            .await?;
        Ok(leaf(&body, "Status").as_deref() == Some("Enabled"))
    }

    /// Deletes the (empty) bucket; an absent bucket is success.
    pub async fn delete(&self, bucket: &str) -> Result<(), BackendError> {
        match self
            .call(
                &self.what("delete bucket"),
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
                        &self.what("delete object version"),
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
}
