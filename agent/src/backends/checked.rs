//! The capability-check layer: a call the backend says it cannot carry out is answered
//! `Unsupported` here, with a message for the operator, before the vendor is asked.

use site_agent_sdk::{
    AppliedQuota, BackendError, BucketOptions, Capabilities, ConnectionInfo, DeleteMode, Ensured,
    KeyPair, QuotaSpec, StorageBackend, Tenant, UsageSample, UserInfo, UserSpec,
};
use std::sync::Arc;

pub struct Checked {
    inner: Arc<dyn StorageBackend>,
}

impl Checked {
    pub fn new(inner: Arc<dyn StorageBackend>) -> Self {
        Self { inner }
    }

    fn caps(&self) -> &Capabilities {
        self.inner.capabilities()
    }

    fn refuse<T>(&self, what: &str) -> Result<T, BackendError> {
        Err(BackendError::unsupported(format!(
            "the {} backend cannot {what}",
            self.inner.kind()
        )))
    }
}

#[async_trait::async_trait]
impl StorageBackend for Checked {
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
        self.inner.ping().await
    }
    async fn ensure_user(&self, spec: &UserSpec) -> Result<Ensured, BackendError> {
        self.caps()
            .options
            .check(self.inner.kind(), &spec.options, None)?;
        self.inner.ensure_user(spec).await
    }
    async fn user(&self, uid: &str) -> Result<Option<UserInfo>, BackendError> {
        self.inner.user(uid).await
    }
    async fn apply_quota(
        &self,
        tenant: &Tenant,
        quota: &QuotaSpec,
    ) -> Result<AppliedQuota, BackendError> {
        self.inner.apply_quota(tenant, quota).await
    }
    async fn quota(&self, uid: &str) -> Result<AppliedQuota, BackendError> {
        self.inner.quota(uid).await
    }
    /// An option fixed at creation is compared with what the bucket has.
    async fn apply_options(
        &self,
        tenant: &Tenant,
        options: &BucketOptions,
    ) -> Result<BucketOptions, BackendError> {
        if options.is_empty() {
            return self.inner.bucket_options(&tenant.uid).await;
        }
        let in_force = self.inner.bucket_options(&tenant.uid).await?;
        self.caps()
            .options
            .check(self.inner.kind(), options, Some(&in_force))?;
        self.inner.apply_options(tenant, options).await
    }
    async fn bucket_options(&self, uid: &str) -> Result<BucketOptions, BackendError> {
        self.inner.bucket_options(uid).await
    }
    async fn set_suspended(&self, tenant: &Tenant, suspended: bool) -> Result<(), BackendError> {
        if !self.caps().suspend {
            return self.refuse(if suspended {
                "suspend a user (pausing needs it)"
            } else {
                "resume a user"
            });
        }
        self.inner.set_suspended(tenant, suspended).await
    }
    async fn issue_key(
        &self,
        tenant: &Tenant,
        proposal: &KeyPair,
    ) -> Result<KeyPair, BackendError> {
        self.inner.issue_key(tenant, proposal).await
    }
    async fn rotate_key(
        &self,
        tenant: &Tenant,
        old: &str,
        proposal: &KeyPair,
    ) -> Result<KeyPair, BackendError> {
        self.inner.rotate_key(tenant, old, proposal).await
    }
    async fn delete_key(&self, tenant: &Tenant, access_key: &str) -> Result<(), BackendError> {
        self.inner.delete_key(tenant, access_key).await
    }
    async fn usage(&self, tenant: &Tenant) -> Result<UsageSample, BackendError> {
        self.inner.usage(tenant).await
    }
    async fn metered_series(
        &self,
        tenant: &Tenant,
        start: i64,
        end: i64,
    ) -> Result<Vec<(i64, Option<u64>)>, BackendError> {
        if !self.caps().metered_series {
            return self.refuse("report a usage series of its own (use usage_source: sampled)");
        }
        self.inner.metered_series(tenant, start, end).await
    }
    async fn delete_user(&self, tenant: &Tenant, mode: DeleteMode) -> Result<(), BackendError> {
        if mode == DeleteMode::Purge && !self.caps().purge {
            return self
                .refuse("purge a user's data; empty the buckets, then retry the termination");
        }
        self.inner.delete_user(tenant, mode).await
    }

    async fn close(&self) {
        self.inner.close().await
    }
    async fn existing_keys(&self, tenant: &Tenant) -> Result<Vec<KeyPair>, BackendError> {
        self.inner.existing_keys(tenant).await
    }

    async fn write_stamp(&self, tenant: &Tenant) -> Result<bool, BackendError> {
        self.inner.write_stamp(tenant).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A backend that can do nothing optional and counts the calls that reach it.
    struct Bare {
        caps: Capabilities,
        calls: AtomicUsize,
    }

    #[async_trait::async_trait]
    impl StorageBackend for Bare {
        fn kind(&self) -> &'static str {
            "bare"
        }
        fn capabilities(&self) -> &Capabilities {
            &self.caps
        }
        fn connection_info(&self) -> ConnectionInfo {
            unreachable!()
        }
        fn user_id_for(
            &self,
            _: &site_agent_sdk::naming::NameParts<'_>,
        ) -> Result<String, BackendError> {
            unreachable!()
        }
        async fn ping(&self) -> Result<(), BackendError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
        async fn ensure_user(&self, _: &UserSpec) -> Result<Ensured, BackendError> {
            unreachable!()
        }
        async fn user(&self, _: &str) -> Result<Option<UserInfo>, BackendError> {
            unreachable!()
        }
        async fn apply_quota(
            &self,
            _: &Tenant,
            _: &QuotaSpec,
        ) -> Result<AppliedQuota, BackendError> {
            unreachable!()
        }
        async fn apply_options(
            &self,
            _: &Tenant,
            _: &BucketOptions,
        ) -> Result<BucketOptions, BackendError> {
            unreachable!("no options are asked for")
        }
        async fn bucket_options(&self, _: &str) -> Result<BucketOptions, BackendError> {
            Ok(BucketOptions::default())
        }
        async fn quota(&self, _: &str) -> Result<AppliedQuota, BackendError> {
            unreachable!()
        }
        async fn set_suspended(&self, _: &Tenant, _: bool) -> Result<(), BackendError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
        async fn issue_key(&self, _: &Tenant, _: &KeyPair) -> Result<KeyPair, BackendError> {
            unreachable!()
        }
        async fn delete_key(&self, _: &Tenant, _: &str) -> Result<(), BackendError> {
            unreachable!()
        }
        async fn usage(&self, _: &Tenant) -> Result<UsageSample, BackendError> {
            unreachable!()
        }
        async fn delete_user(&self, _: &Tenant, _: DeleteMode) -> Result<(), BackendError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
        async fn close(&self) {}
        async fn existing_keys(&self, _: &Tenant) -> Result<Vec<KeyPair>, BackendError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            Ok(Vec::new())
        }
        async fn write_stamp(&self, _: &Tenant) -> Result<bool, BackendError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            Ok(true)
        }
    }

    #[tokio::test]
    async fn what_the_backend_cannot_do_never_reaches_it() {
        use site_agent_sdk::*;
        let caps = Capabilities {
            quota: QuotaCaps {
                user: None,
                bucket: Some(ScopeDims {
                    bytes: true,
                    objects: false,
                }),
                byte_granularity: 1,
                rounding: site_agent_sdk::Rounding::Up,
                enforcement: Enforcement::Lagging,
            },
            keys: KeyPolicy {
                secret: SecretOrigin::Backend,
                access_key: site_agent_sdk::AccessKeyOrigin::Backend,
                max_keys: None,
                tenant_can_issue: false,
                rotation: RotationMode::AddThenRemove,
            },
            buckets: BucketModel::Granted,
            stamp: StampPlace::None,
            suspend: false,
            purge: false,
            metered_series: false,
            usage_precision: 1,
            options: site_agent_sdk::OptionCaps::NONE,
        };
        let bare = Arc::new(Bare {
            caps,
            calls: AtomicUsize::new(0),
        });
        let b = Checked::new(bare.clone());
        let t = Tenant::new("waldur-x", "12345678-1234-5678-9abc-123456789abc").unwrap();
        for e in [
            b.set_suspended(&t, true).await.unwrap_err(),
            b.delete_user(&t, DeleteMode::Purge).await.unwrap_err(),
            b.metered_series(&t, 0, 1).await.unwrap_err(),
        ] {
            assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
            assert!(!e.is_retryable());
            assert!(e.message().contains("the bare backend cannot"), "{e}");
        }
        assert_eq!(
            bare.calls.load(Ordering::SeqCst),
            0,
            "nothing reached the vendor"
        );
        b.delete_user(&t, DeleteMode::KeepData).await.unwrap();
        b.ping().await.unwrap();
        assert_eq!(
            bare.calls.load(Ordering::SeqCst),
            2,
            "what it can do passes through"
        );
    }
}
