//! MinIO storage backend for site-agent.
//!
//! One MinIO user per Waldur resource, one bucket the agent makes for it with a hard bucket
//! quota, a canned policy granting exactly the object actions on that bucket (its name carries
//! the resource's ownership stamp), and keys that are service accounts of the user. The admin
//! API is `/minio/admin/v3` on the S3 port, SigV4-signed, with madmin-encrypted bodies where
//! MinIO wants them (`madmin`).

pub mod admin;
pub mod error;
pub mod madmin;
pub mod ops;
pub mod plugin;
pub mod policy;
pub mod settings;

pub use plugin::PLUGIN;
pub use settings::MinioSettings;

use secrecy::{ExposeSecret, SecretString};
use site_agent_sdk::http::build_client;
use site_agent_sdk::s3bucket::S3Buckets;
use site_agent_sdk::sigv4::{SignedHttp, Signer};
use site_agent_sdk::stamped::StampedBackend;
use site_agent_sdk::{BackendError, StorageBackend};
use std::sync::Arc;

/// Builds the backend for validated settings (nothing is contacted yet).
pub fn build(s: &MinioSettings) -> Result<Arc<dyn StorageBackend>, BackendError> {
    let http = build_client(&s.store.http)?;
    let secret = || SecretString::from(s.admin_secret_key.expose_secret().to_string());
    let signed = || {
        SignedHttp::new(
            http.clone(),
            Signer::new(
                s.admin_access_key.clone(),
                secret(),
                s.store.s3_region.clone(),
                "s3",
            ),
        )
    };
    let ops = ops::MinioOps::new(
        admin::Admin::new(
            signed(),
            &s.store.s3_endpoint,
            &s.admin_api_version,
            secret(),
        ),
        S3Buckets::new(signed(), &s.store.s3_endpoint, "MinIO"),
        s.usage_cache,
    );
    Ok(Arc::new(StampedBackend::new(
        ops,
        s.store.connection(),
        s.store.naming.clone(),
    )))
}
