//! Shared set-up for the end-to-end tests: waldur-sim + croit-sim + the agent library.

#![allow(dead_code)]

use serde_json::{Value, json};
use site_agent::app::{App, AppOptions};
use site_agent::retry::RetryPolicy;
use site_agent::store::Store;
use site_agent_sdk::{
    AppliedQuota, BackendError, Capabilities, ConnectionInfo, DeleteMode, Ensured, KeyPair,
    QuotaSpec, StorageBackend, Tenant, UsageSample, UserInfo, UserSpec,
};
use site_agent_sims::croit::{CroitAuth, CroitSim};
use site_agent_sims::waldur::{
    ComponentSeed, OfferingSeed, OrderSeed, PlacedOrder, SimOptions, WaldurSim,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub const CROIT_TOKEN: &str = "croit-canary-token-5f1e";
pub const OFFERING: &str = "0ff00000000000000000000000000001";

pub struct Env {
    pub waldur: WaldurSim,
    pub croit: CroitSim,
    pub dir: tempfile::TempDir,
    pub offering: String,
    /// `backend_type`, `backend_settings` and `unit_factor` for the config (croit-sim unless
    /// replaced).
    pub backend_type: &'static str,
    pub backend_settings: String,
    pub unit_factor: u64,
}

/// The env against the real RadosGW (see `site_agent_sims::s3::RgwPeer`), with a tiny "GB"
/// (`unit_factor` 1024) so quotas can be filled in a test.
pub async fn rgw_env(peer: &site_agent_sims::s3::RgwPeer) -> Env {
    let mut e = env().await;
    e.backend_settings = format!(
        "flavour: radosgw\n      s3_endpoint: {}\n      admin_access_key: {}\n      admin_secret_key: {}\n      s3_region: default\n      allocation_prefix: w{}-",
        peer.endpoint,
        peer.admin_access_key,
        peer.admin_secret_key,
        &uuid::Uuid::new_v4().simple().to_string()[..6],
    );

    e.unit_factor = 1024;
    e
}

/// The env against the real SeaweedFS (see `site_agent_sims::s3::SeaweedPeer`), with the same
/// tiny "GB" as [`rgw_env`]; `purge` turns `purge_data` on.
pub async fn seaweed_env(peer: &site_agent_sims::s3::SeaweedPeer, purge: bool) -> Env {
    let mut e = env().await;
    e.backend_type = "seaweedfs";
    e.backend_settings = format!(
        "s3_endpoint: {}\n      admin_access_key: {}\n      admin_secret_key: {}\n      purge_data: {purge}\n      allocation_prefix: w{}-",
        peer.endpoint,
        peer.admin_access_key,
        peer.admin_secret_key,
        &uuid::Uuid::new_v4().simple().to_string()[..6],
    );
    e.unit_factor = 1024;
    e
}

pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        retries: 3,
        min_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
    }
}

/// Fast retries, and no late-answer window: these tests resume right after an injected
/// crash and want the key ledger judged at once (`faults_e2e` covers the window itself).
pub fn test_options() -> AppOptions {
    AppOptions {
        retry: fast_retry(),
        late_answers: Some(Duration::ZERO),
        ..AppOptions::default()
    }
}

pub async fn env() -> Env {
    let waldur = WaldurSim::start(SimOptions::default()).await.unwrap();
    let croit = CroitSim::start(CroitAuth::Bearer(CROIT_TOKEN.into()))
        .await
        .unwrap();
    let offering = waldur.add_offering(OfferingSeed {
        uuid: Some(OFFERING.parse().unwrap()),
        name: "S3".into(),
        components: vec![
            ComponentSeed::s3_storage(),
            ComponentSeed {
                type_: "s3_objects".into(),
                name: "Objects".into(),
                billing_type: "usage".into(),
                measured_unit: "objects".into(),
                unit_factor: None,
                limit_amount: None,
            },
        ],
        ..OfferingSeed::default()
    });
    let backend_settings = format!(
        "api_url: {}\n      token: {CROIT_TOKEN}\n      s3_endpoint: https://s3.test\n      s3_region: eu-test",
        croit.base_url()
    );
    Env {
        waldur,
        croit,
        dir: tempfile::tempdir().unwrap(),
        offering,
        backend_type: "ceph_s3",
        backend_settings,
        unit_factor: 1_000_000_000,
    }
}

impl Env {
    pub fn config_yaml(&self) -> String {
        format!(
            r#"
timezone: UTC
database_path: {db}
heartbeat_file: {hb}
offerings:
  - name: S3
    waldur_api_url: {api}
    waldur_api_token: {token}
    waldur_offering_uuid: {off}
    backend_type: {backend}
    order_processing_backend: {backend}
    backend_settings:
      {settings}
    backend_components:
      s3_storage:
        backend_name: storage
        measured_unit: GB-day
        accounting_type: usage
        label: Storage
        unit_factor: {factor}
"#,
            db = self.dir.path().join("state.sqlite3").display(),
            hb = self.dir.path().join("heartbeat").display(),
            api = self.waldur.api_url(),
            token = self.waldur.provider_token(),
            off = self.offering,
            settings = self.backend_settings,
            backend = self.backend_type,
            factor = self.unit_factor,
        )
    }

    pub fn config(&self) -> site_agent::config::Config {
        site_agent::config::load_str(
            &self.config_yaml(),
            "test.yaml",
            Vec::<(String, String)>::new(),
        )
        .unwrap()
    }

    /// A fresh agent process, as after a restart: new memory, the same database file.
    pub fn app(&self) -> App {
        let config = self.config();
        let store = Store::open(&config.database_path).unwrap();
        App::build_with_store(config, store, &test_options()).unwrap()
    }

    /// The config with usage billing on: GB-days of storage and peak objects, from samples.
    pub fn usage_config_yaml(&self) -> String {
        self.config_yaml()
            .replace(
                &format!("    order_processing_backend: {}\n", self.backend_type),
                &format!(
                    "    order_processing_backend: {b}\n    reporting_backend: {b}\n",
                    b = self.backend_type
                ),
            )
            .replace(
                "        label: Storage\n",
                "        label: Storage\n        usage: gb_days\n",
            )
            + "      s3_objects:\n        measured_unit: objects\n        accounting_type: usage\n        label: Objects\n        usage: objects_peak\n"
    }

    /// A fresh agent process (same database file) with usage billing on and a manual clock.
    pub fn usage_app(&self, yaml: &str, clock: Arc<site_agent::usage::clock::ManualClock>) -> App {
        let config =
            site_agent::config::load_str(yaml, "usage.yaml", Vec::<(String, String)>::new())
                .unwrap();
        let store = Store::open(&config.database_path).unwrap();
        let options = AppOptions {
            clock,
            ..test_options()
        };
        App::build_with_store(config, store, &options).unwrap()
    }

    /// An agent whose backend is wrapped by `wrap`.
    pub fn app_with(
        &self,
        wrap: impl Fn(Arc<dyn StorageBackend>) -> Arc<dyn StorageBackend>,
    ) -> App {
        let config = self.config();
        let store = Store::open(&config.database_path).unwrap();
        App::build_with_backends(config, store, &test_options(), |o| {
            site_agent::backends::build(o.backend.as_ref(), fast_retry()).map(&wrap)
        })
        .unwrap()
    }

    pub fn place_create(&self, name: &str, attributes: Value) -> PlacedOrder {
        self.waldur.place_order(OrderSeed {
            offering_uuid: self.offering.clone(),
            order_type: "Create".into(),
            resource_name: name.into(),
            project_slug: "acme-ml".into(),
            customer_slug: "acme".into(),
            attributes,
            limits: json!({}),
            ..OrderSeed::default()
        })
    }

    pub fn place_for(
        &self,
        resource: &str,
        order_type: &str,
        attributes: Value,
        limits: Value,
    ) -> PlacedOrder {
        self.waldur.place_order(OrderSeed {
            offering_uuid: self.offering.clone(),
            order_type: order_type.into(),
            resource_uuid: Some(resource.into()),
            resource_name: "x".into(),
            project_slug: "acme-ml".into(),
            customer_slug: "acme".into(),
            attributes,
            limits,
            ..OrderSeed::default()
        })
    }

    pub fn order_state(&self, order: &str) -> String {
        self.waldur.order(order).unwrap()["state"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub fn resource(&self, r: &str) -> Value {
        self.waldur.resource(r).unwrap()
    }

    /// Croit calls that change something (POST/PUT/PATCH/DELETE).
    pub fn croit_writes(&self) -> usize {
        self.croit
            .calls()
            .iter()
            .filter(|c| c.method != "GET")
            .count()
    }
}

/// The live keys of `uid` equal Waldur's keys of `resource`, each with its secret.
pub fn assert_keys_match(env: &Env, resource: &str, uid: &str) {
    let mut live = env.croit.user(uid).expect("user exists").keys;
    let mut reported: Vec<(String, String)> = env
        .waldur
        .api_keys(resource)
        .into_iter()
        .map(|k| (k.client_id, k.api_key))
        .collect();
    live.sort();
    reported.sort();
    assert_eq!(
        live, reported,
        "backend keys == Waldur keys, secrets included"
    );
}

pub fn transient(msg: &str) -> BackendError {
    BackendError::unavailable(msg)
}

/// Wraps the real backend and "crashes" (a transient failure, then the app is dropped) at a
/// chosen point, once.
pub struct Crashing {
    pub inner: Arc<dyn StorageBackend>,
    pub at: &'static str,
    pub fired: AtomicBool,
    /// Instead of failing at `at`, do this once (something else happens meanwhile).
    pub instead: Option<Box<dyn Fn() + Send + Sync>>,
}

impl Crashing {
    /// Fails once at `at` as a crash would.
    pub fn at(inner: Arc<dyn StorageBackend>, at: &'static str) -> Arc<dyn StorageBackend> {
        Arc::new(Crashing {
            inner,
            at,
            fired: AtomicBool::new(false),
            instead: None,
        })
    }

    /// Runs `f` once at `at` and carries on.
    pub fn doing(
        inner: Arc<dyn StorageBackend>,
        at: &'static str,
        f: impl Fn() + Send + Sync + 'static,
    ) -> Arc<dyn StorageBackend> {
        Arc::new(Crashing {
            inner,
            at,
            fired: AtomicBool::new(false),
            instead: Some(Box::new(f)),
        })
    }

    fn fire(&self, point: &str) -> Result<(), BackendError> {
        if point == self.at && !self.fired.swap(true, Ordering::SeqCst) {
            match &self.instead {
                Some(f) => f(),
                None => return Err(BackendError::unavailable("simulated crash")),
            }
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl StorageBackend for Crashing {
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
        let r = self.inner.ensure_user(spec).await?;
        self.fire("after_ensure_user")?;
        Ok(r)
    }
    async fn user(&self, uid: &str) -> Result<Option<UserInfo>, BackendError> {
        self.inner.user(uid).await
    }
    async fn apply_quota(&self, t: &Tenant, q: &QuotaSpec) -> Result<AppliedQuota, BackendError> {
        self.inner.apply_quota(t, q).await
    }
    async fn apply_options(
        &self,
        t: &Tenant,
        o: &site_agent_sdk::BucketOptions,
    ) -> Result<site_agent_sdk::BucketOptions, BackendError> {
        self.inner.apply_options(t, o).await
    }
    async fn bucket_options(
        &self,
        uid: &str,
    ) -> Result<site_agent_sdk::BucketOptions, BackendError> {
        self.inner.bucket_options(uid).await
    }
    async fn quota(&self, uid: &str) -> Result<AppliedQuota, BackendError> {
        self.inner.quota(uid).await
    }
    async fn set_suspended(&self, t: &Tenant, s: bool) -> Result<(), BackendError> {
        self.inner.set_suspended(t, s).await
    }
    async fn issue_key(&self, t: &Tenant, key: &KeyPair) -> Result<KeyPair, BackendError> {
        let k = self.inner.issue_key(t, key).await?;
        self.fire("after_issue_key")?;
        Ok(k)
    }
    async fn delete_key(&self, t: &Tenant, ak: &str) -> Result<(), BackendError> {
        self.fire("before_delete_key")?;
        self.inner.delete_key(t, ak).await?;
        self.fire("after_delete_key")
    }
    async fn usage(&self, t: &Tenant) -> Result<UsageSample, BackendError> {
        self.inner.usage(t).await
    }
    async fn delete_user(&self, t: &Tenant, m: DeleteMode) -> Result<(), BackendError> {
        self.inner.delete_user(t, m).await
    }
    async fn close(&self) {
        self.inner.close().await
    }
    async fn existing_keys(
        &self,
        t: &Tenant,
    ) -> Result<Vec<site_agent_sdk::KeyPair>, BackendError> {
        self.inner.existing_keys(t).await
    }
    async fn write_stamp(&self, t: &Tenant) -> Result<bool, BackendError> {
        self.inner.write_stamp(t).await
    }
}
