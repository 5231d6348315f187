//! Retry (transient errors, jittered backoff) and call logging around any backend: written
//! once here instead of in every plugin.

use crate::retry::RetryPolicy;
use site_agent_sdk::{
    AppliedQuota, BackendError, BucketOptions, Capabilities, ConnectionInfo, DeleteMode, Ensured,
    KeyPair, QuotaSpec, SecretOrigin, StorageBackend, Tenant, UsageSample, UserInfo, UserSpec,
};
use std::sync::Arc;
use std::time::Instant;

pub struct Layered {
    inner: Arc<dyn StorageBackend>,
    retry: RetryPolicy,
}

impl Layered {
    pub fn new(inner: Arc<dyn StorageBackend>, retry: RetryPolicy) -> Self {
        Self { inner, retry }
    }

    async fn call<T, Fut, F>(&self, op: &'static str, f: F) -> Result<T, BackendError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, BackendError>>,
    {
        let started = Instant::now();
        let r = self.retry.run(op, f, BackendError::is_retryable).await;
        self.logged(op, started, r)
    }

    /// One attempt, logged like the others.
    async fn once<T>(
        &self,
        op: &'static str,
        fut: impl std::future::Future<Output = Result<T, BackendError>>,
    ) -> Result<T, BackendError> {
        let started = Instant::now();
        let r = fut.await;
        self.logged(op, started, r)
    }

    /// Whether the backend generates keys itself (each call makes a new one).
    fn generates_keys(&self) -> bool {
        self.inner.capabilities().keys.secret == SecretOrigin::Backend
    }

    fn logged<T>(
        &self,
        op: &'static str,
        started: Instant,
        r: Result<T, BackendError>,
    ) -> Result<T, BackendError> {
        let took = started.elapsed();
        crate::metrics::get().backend_call(
            self.inner.kind(),
            op,
            r.as_ref().err().map(BackendError::kind),
            took,
        );
        let ms = took.as_millis() as u64;
        match &r {
            Ok(_) => tracing::debug!(backend = self.inner.kind(), op, ms, "backend call"),
            Err(e) => {
                tracing::debug!(backend = self.inner.kind(), op, ms, error = %e, "backend call failed")
            }
        }
        r
    }
}

#[async_trait::async_trait]
impl StorageBackend for Layered {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }
    fn capabilities(&self) -> &Capabilities {
        self.inner.capabilities()
    }
    fn connection_info(&self) -> ConnectionInfo {
        self.inner.connection_info()
    }
    fn user_id_for(
        &self,
        parts: &site_agent_sdk::naming::NameParts<'_>,
    ) -> Result<String, BackendError> {
        self.inner.user_id_for(parts)
    }
    fn resource_bucket(&self, uid: &str) -> Option<String> {
        self.inner.resource_bucket(uid)
    }
    async fn ping(&self) -> Result<(), BackendError> {
        self.call("ping", || self.inner.ping()).await
    }
    async fn ensure_user(&self, spec: &UserSpec) -> Result<Ensured, BackendError> {
        self.call("ensure_user", || self.inner.ensure_user(spec))
            .await
    }
    async fn user(&self, uid: &str) -> Result<Option<UserInfo>, BackendError> {
        self.call("user", || self.inner.user(uid)).await
    }
    async fn apply_quota(
        &self,
        tenant: &Tenant,
        quota: &QuotaSpec,
    ) -> Result<AppliedQuota, BackendError> {
        self.call("apply_quota", || self.inner.apply_quota(tenant, quota))
            .await
    }
    async fn quota(&self, uid: &str) -> Result<AppliedQuota, BackendError> {
        self.call("quota", || self.inner.quota(uid)).await
    }
    async fn apply_options(
        &self,
        tenant: &Tenant,
        options: &BucketOptions,
    ) -> Result<BucketOptions, BackendError> {
        self.call("apply_options", || {
            self.inner.apply_options(tenant, options)
        })
        .await
    }
    async fn bucket_options(&self, uid: &str) -> Result<BucketOptions, BackendError> {
        self.call("bucket_options", || self.inner.bucket_options(uid))
            .await
    }
    async fn set_suspended(&self, tenant: &Tenant, suspended: bool) -> Result<(), BackendError> {
        self.call("set_suspended", || {
            self.inner.set_suspended(tenant, suspended)
        })
        .await
    }
    async fn issue_key(
        &self,
        tenant: &Tenant,
        proposal: &KeyPair,
    ) -> Result<KeyPair, BackendError> {
        if self.generates_keys() {
            // Not idempotent: a retry after a lost answer would make a second key.
            return self
                .once("issue_key", self.inner.issue_key(tenant, proposal))
                .await;
        }
        self.call("issue_key", || self.inner.issue_key(tenant, proposal))
            .await
    }
    async fn rotate_key(
        &self,
        tenant: &Tenant,
        old: &str,
        proposal: &KeyPair,
    ) -> Result<KeyPair, BackendError> {
        if self.generates_keys() {
            return self
                .once("rotate_key", self.inner.rotate_key(tenant, old, proposal))
                .await;
        }
        self.call("rotate_key", || {
            self.inner.rotate_key(tenant, old, proposal)
        })
        .await
    }
    async fn delete_key(&self, tenant: &Tenant, access_key: &str) -> Result<(), BackendError> {
        self.call("delete_key", || self.inner.delete_key(tenant, access_key))
            .await
    }
    async fn usage(&self, tenant: &Tenant) -> Result<UsageSample, BackendError> {
        self.call("usage", || self.inner.usage(tenant)).await
    }
    async fn metered_series(
        &self,
        tenant: &Tenant,
        start: i64,
        end: i64,
    ) -> Result<Vec<(i64, Option<u64>)>, BackendError> {
        self.call("metered_series", || {
            self.inner.metered_series(tenant, start, end)
        })
        .await
    }
    async fn delete_user(&self, tenant: &Tenant, mode: DeleteMode) -> Result<(), BackendError> {
        self.call("delete_user", || self.inner.delete_user(tenant, mode))
            .await
    }

    async fn close(&self) {
        self.inner.close().await
    }
    async fn existing_keys(&self, tenant: &Tenant) -> Result<Vec<KeyPair>, BackendError> {
        self.call("existing_keys", || self.inner.existing_keys(tenant))
            .await
    }

    async fn write_stamp(&self, tenant: &Tenant) -> Result<bool, BackendError> {
        self.call("write_stamp", || self.inner.write_stamp(tenant))
            .await
    }
}
