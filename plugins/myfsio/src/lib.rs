//! MyFSIO storage backend for site-agent (both lines in use: the Python/Flask v0.4.x and the
//! Rust v0.5.x, found at each ping).
//!
//! One IAM user per Waldur resource (made in the web console, the only place users are made;
//! its display name carries the stamp), one bucket the agent makes for it with an exact quota
//! (MyFSIO refuses a write past it with 403 `QuotaExceeded`), and an inline policy granting
//! the object actions on exactly that bucket. Keys come from the admin routes, or from the
//! console where v0.5's admin routes fail (`key_mode: console`). Usage is MyFSIO's own live
//! count from `GET /<bucket>?quota`.

pub mod admin;
pub mod bucket;
pub mod console;
pub mod display;
pub mod error;
pub mod iam;
pub mod ops;
pub mod plugin;
pub mod settings;

pub use plugin::PLUGIN;
pub use settings::MyfsioSettings;

use secrecy::{ExposeSecret, SecretString};
use settings::GenerationSetting;
use site_agent_sdk::http::{HttpConfig, build_client};
use site_agent_sdk::s3bucket::S3Buckets;
use site_agent_sdk::sigv4::{SignedHttp, Signer};
use site_agent_sdk::stamped::StampedBackend;
use site_agent_sdk::{BackendError, StorageBackend};
use std::sync::Arc;
use std::time::Duration;

/// The first wait when the rate limit names none (v0.4), doubled each time.
const RATE_LIMIT_BACKOFF: Duration = Duration::from_secs(2);

/// Builds the backend for validated settings (nothing is contacted yet).
pub fn build(s: &MyfsioSettings) -> Result<Arc<dyn StorageBackend>, BackendError> {
    Ok(Arc::new(build_ops(s, RATE_LIMIT_BACKOFF)?))
}

/// The backend with the rate limit's first back-off given (tests shorten it).
pub fn build_ops(
    s: &MyfsioSettings,
    backoff: Duration,
) -> Result<StampedBackend<ops::MyfsioOps>, BackendError> {
    let http = build_client(&HttpConfig {
        peer: "MyFSIO API".into(),
        ..s.store.http.clone()
    })?;
    let console_http = build_client(&HttpConfig {
        peer: "MyFSIO console".into(),
        follow_redirects: false,
        ..s.store.http.clone()
    })?;
    let signed = || {
        SignedHttp::new(
            http.clone(),
            Signer::new(
                s.admin_access_key.clone(),
                SecretString::from(s.admin_secret_key.expose_secret().to_string()),
                s.store.s3_region.clone(),
                "s3",
            ),
        )
    };
    let iam = iam::Iam::new(
        admin::Admin::new(signed(), &s.api_url, backoff),
        console::Console::new(
            console_http,
            &s.console_url,
            &s.admin_access_key,
            SecretString::from(s.admin_secret_key.expose_secret().to_string()),
        ),
        s.admin_access_key.clone(),
        match s.generation {
            GenerationSetting::Auto => None,
            GenerationSetting::V04 => Some(admin::Generation::V04),
            GenerationSetting::V05 => Some(admin::Generation::V05),
        },
        s.key_mode,
        Duration::from_secs_f64(s.console_settle_seconds),
    );
    let buckets = bucket::Buckets {
        s3: S3Buckets::new(signed(), &s.api_url, "MyFSIO"),
        default_quota: s.default_quota_bytes,
    };
    let ops = ops::MyfsioOps::new(iam, buckets, s.key_mode, s.bill_versions);
    Ok(StampedBackend::new(
        ops,
        s.store.connection(),
        s.store.naming.clone(),
    ))
}
