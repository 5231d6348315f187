//! The S3 data plane, for backends whose management API cannot remove a user's data: empties
//! and deletes buckets with the user's own (temporary) key. Presigned requests (rusty-s3) sent
//! through the shared HTTP client, so proxy and TLS settings apply.

use crate::{BackendError, KeyPair, validate_identifier};
use rusty_s3::actions::ListObjectsV2;
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};
use secrecy::ExposeSecret;
use std::time::Duration;

const TTL: Duration = Duration::from_secs(300);

pub struct S3DataPlane {
    http: reqwest::Client,
    endpoint: url::Url,
    region: String,
}

impl S3DataPlane {
    pub fn new(http: reqwest::Client, endpoint: &str, region: &str) -> Result<Self, BackendError> {
        let endpoint = endpoint.parse().map_err(|e| {
            BackendError::invalid(format!("s3_endpoint {endpoint:?} is not a URL: {e}"))
        })?;
        Ok(Self {
            http,
            endpoint,
            region: region.to_string(),
        })
    }

    fn bucket(&self, name: &str) -> Result<Bucket, BackendError> {
        validate_identifier("bucket name", name)?;
        Bucket::new(
            self.endpoint.clone(),
            UrlStyle::Path,
            name.to_string(),
            self.region.clone(),
        )
        .map_err(|e| BackendError::invalid(format!("bucket {name:?}: {e}")))
    }

    async fn send(&self, what: &str, req: reqwest::RequestBuilder) -> Result<String, BackendError> {
        let resp = req
            .send()
            .await
            .map_err(|e| crate::http::transport_error(what, e))?;
        let status = resp.status().as_u16();
        let body = crate::http::read_text(resp, crate::http::MAX_BODY)
            .await
            .map_err(|e| e.into_backend(what))?;
        if (200..300).contains(&status) {
            return Ok(body);
        }
        Err(crate::s3error::classify_s3(what, status, &body))
    }

    /// Deletes every object of `bucket`, then the bucket; returns how many objects went.
    /// Versioned buckets keep old versions and then refuse deletion with a clear error.
    pub async fn purge_bucket(&self, name: &str, key: &KeyPair) -> Result<u64, BackendError> {
        let bucket = self.bucket(name)?;
        let creds = Credentials::new(
            key.access_key.clone(),
            key.secret_key.expose_secret().to_string(),
        );
        let mut deleted = 0u64;
        loop {
            // Always list from the start: every listed object is deleted before the next list.
            let url = bucket.list_objects_v2(Some(&creds)).sign(TTL);
            let body = self
                .send(&format!("S3 list bucket {name}"), self.http.get(url))
                .await?;
            let listing = ListObjectsV2::parse_response(&body).map_err(|e| {
                BackendError::unavailable(format!("S3 list bucket {name}: unreadable answer: {e}"))
            })?;
            if listing.contents.is_empty() {
                break;
            }
            for obj in &listing.contents {
                let url = bucket.delete_object(Some(&creds), &obj.key).sign(TTL);
                self.send(
                    &format!("S3 delete object in {name}"),
                    self.http.delete(url),
                )
                .await?;
                deleted += 1;
            }
        }
        let url = bucket.delete_bucket(&creds).sign(TTL);
        self.send(&format!("S3 delete bucket {name}"), self.http.delete(url))
            .await?;
        Ok(deleted)
    }
}
