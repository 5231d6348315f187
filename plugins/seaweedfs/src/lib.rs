//! SeaweedFS storage backend for site-agent.
//!
//! One IAM user per Waldur resource (stamped with a tag), server-generated keys, and one bucket
//! the agent makes for the resource, granted to the user with explicit object actions and
//! capped with `?seaweedfs-quota`. Quotas are enforced by SeaweedFS outside the write path
//! (about once a minute), so the agent's reconcile pass reports a bucket over its ceiling.

pub mod bucket;
pub mod iam;
pub mod ops;
pub mod plugin;
pub mod policy;
pub mod settings;

pub use plugin::PLUGIN;
pub use settings::SeaweedSettings;

use secrecy::{ExposeSecret, SecretString};
use site_agent_sdk::http::build_client;
use site_agent_sdk::sigv4::{SignedHttp, Signer};
use site_agent_sdk::stamped::StampedBackend;
use site_agent_sdk::{BackendError, StorageBackend};
use std::sync::Arc;

/// Builds the backend for validated settings (nothing is contacted yet).
pub fn build(s: &SeaweedSettings) -> Result<Arc<dyn StorageBackend>, BackendError> {
    let http = build_client(&s.store.http)?;
    let signer = |service| {
        Signer::new(
            s.admin_access_key.clone(),
            SecretString::from(s.admin_secret_key.expose_secret().to_string()),
            s.store.s3_region.clone(),
            service,
        )
    };
    let ops = ops::SeaweedOps {
        iam: iam::Iam::new(
            SignedHttp::new(http.clone(), signer("iam")),
            &s.iam_endpoint,
        ),
        buckets: bucket::Buckets::new(SignedHttp::new(http, signer("s3")), &s.store.s3_endpoint),
    };
    Ok(Arc::new(StampedBackend::new(
        ops,
        s.store.connection(),
        s.store.naming.clone(),
    )))
}
