//! A bucket over S3 with SigV4 header signing (service `s3`): create, the version listing
//! (logical bytes and objects), tags, versioning, delete and purge. Shared by the backends
//! that reach their buckets over S3 (SeaweedFS with its admin identity, ECS with the user's
//! own key on the private S3 URL).

use crate::sigv4::{SignedHttp, encode};
use crate::xml::{blocks, leaf};
use crate::{BackendError, ErrorKind, s3error::classify_s3, validate_identifier};

/// The tag holding the ownership stamp on a bucket the agent made for a resource (the
/// `Granted` model: the store has no bucket owner).
pub const STAMP_TAG: &str = "waldur-stamp";

/// The refusal of a bucket name that is someone else's.
pub fn foreign_bucket(bucket: &str) -> BackendError {
    BackendError::already_exists(format!(
        "bucket {bucket:?} already exists and is not this resource's; refusing to grant access to it"
    ))
}

/// Whether an error says the bucket does not exist.
fn no_bucket(e: &BackendError) -> bool {
    e.code() == Some("NoSuchBucket")
        || (e.kind() == ErrorKind::NotFound && e.code().is_none_or(str::is_empty))
}

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

    /// The bucket as the one entry of a resource's usage (none when it does not exist).
    pub async fn usage(&self, bucket: &str) -> Result<Vec<crate::BucketUsage>, BackendError> {
        Ok(self
            .stored(bucket)
            .await?
            .map(|s| crate::BucketUsage {
                name: bucket.to_string(),
                bytes: s.bytes,
                objects: s.objects,
            })
            .into_iter()
            .collect())
    }

    /// Whether the bucket holds any object or old version (a missing bucket holds none).
    pub async fn holds_objects(&self, bucket: &str) -> Result<bool, BackendError> {
        Ok(self.stored(bucket).await?.is_some_and(|s| s.objects > 0))
    }

    /// The resource's bucket on a `Granted` backend, made (when `create`) and stamped with the
    /// user's `stamp`; `None` when it does not exist and `create` is off. A bucket of that name
    /// that carries another stamp, or none while holding data, is someone else's: refused,
    /// never granted, metered or emptied. An unstamped user owns no bucket.
    pub async fn own(
        &self,
        bucket: &str,
        stamp: Option<&str>,
        create: bool,
    ) -> Result<Option<String>, BackendError> {
        self.own_with(bucket, stamp, create, || async { Ok(()) })
            .await
    }

    /// As [`Self::own`]; `before_claim` runs before an unstamped bucket is stamped (SeaweedFS
    /// lifts a read-only mark a deleted namesake left there).
    pub async fn own_with<F, Fut>(
        &self,
        bucket: &str,
        stamp: Option<&str>,
        create: bool,
        before_claim: F,
    ) -> Result<Option<String>, BackendError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<(), BackendError>>,
    {
        let Some(stamp) = stamp else {
            if create {
                return Err(BackendError::invalid(format!(
                    "the user of bucket {bucket:?} carries no ownership stamp"
                )));
            }
            // One of its name that exists is someone else's.
            return match self.tag(bucket, STAMP_TAG).await {
                Ok(_) => Err(foreign_bucket(bucket)),
                Err(e) if no_bucket(&e) => Ok(None),
                Err(e) => Err(e),
            };
        };
        let made = create && self.create(bucket).await?;
        let tag = if made {
            None
        } else {
            match self.tag(bucket, STAMP_TAG).await {
                Ok(t) => t,
                Err(e) if no_bucket(&e) => return Ok(None),
                Err(e) => return Err(e),
            }
        };
        match tag {
            Some(t) if t.eq_ignore_ascii_case(stamp) => return Ok(Some(bucket.to_string())),
            Some(_) => return Err(foreign_bucket(bucket)),
            // Unstamped: just made, or made by an attempt cut short before its stamp (no
            // policy granted it to a tenant yet, so it holds nothing of anyone's).
            None if !made && self.holds_objects(bucket).await? => {
                return Err(foreign_bucket(bucket));
            }
            None => {}
        }
        before_claim().await?;
        self.set_tag(bucket, STAMP_TAG, stamp).await?;
        Ok(Some(bucket.to_string()))
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
