//! The simulated marketplace and storage the chaos run acts on, and what the harness expects
//! of them: the ceilings each resource was ordered with, the data each user stored and when,
//! and how each order it placed must end.

use super::rng::Rng;
use super::storage::Storage;
use crate::waldur::{
    ComponentSeed, Fault, FaultRule, OfferingSeed, OrderSeed, SimOptions, WaldurSim,
};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// How long Waldur may take to answer the agent (an injected delay exceeds it).
pub const WALDUR_TIMEOUT_S: u64 = 2;
/// The sampling schedule: every two seconds.
pub const SAMPLING: &str = "*/2 * * * * *";
pub const SAMPLING_INTERVAL_S: i64 = 2;

/// What an order placed by the harness must end as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    Done,
    /// Erred, with a message containing this.
    Erred(&'static str),
}

#[derive(Debug, Clone)]
pub struct Placed {
    pub order: String,
    pub resource: String,
    pub kind: &'static str,
    pub expect: Expect,
    pub iteration: u64,
    /// For Update: the ceilings the resource has once it is done.
    pub ceilings: Option<Ceilings>,
}

/// Ordered ceilings: GB and, optionally, objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ceilings {
    pub storage_gb: u64,
    pub objects: Option<u64>,
}

/// Counts over a run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stats {
    pub data_changes: usize,
    pub samples_checked: usize,
    pub figures_checked: usize,
    pub keys_checked: usize,
}

/// A rotation the harness asked for: the key must end OK under another access key.
#[derive(Debug, Clone)]
pub struct Rotation {
    pub key: String,
    pub resource: String,
    /// The replaced key, by `Storage::key_identity`.
    pub old_key: String,
    pub iteration: u64,
}

pub struct World {
    pub waldur: WaldurSim,
    pub storage: Storage,
    pub offering: String,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub database: PathBuf,
    /// Current ceilings of every resource that got past its Create.
    pub ceilings: BTreeMap<String, Ceilings>,
    /// What each resource's user stored, as (unix second of the change, bytes, objects).
    pub data: BTreeMap<String, Vec<(i64, u64, u64)>>,
    pub placed: Vec<Placed>,
    /// Rotations asked for in the current iteration (checked, then cleared).
    pub rotations: Vec<Rotation>,
    pub rotations_total: usize,
    /// What was checked, over the whole run (for the summary).
    pub stats: Stats,
    /// Orders whose outcome was already checked.
    pub settled: usize,
}

impl World {
    pub async fn new() -> anyhow::Result<World> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let waldur = WaldurSim::start(SimOptions::default()).await?;
        let storage = Storage::from_env().await?;
        let offering = waldur.add_offering(OfferingSeed::new(
            "S3 chaos",
            vec![
                ComponentSeed::s3_storage(),
                ComponentSeed::usage("s3_objects", "Objects", "objects"),
            ],
        ));
        let dir = tempfile::tempdir()?;
        let database = dir.path().join("state.sqlite3");
        let config = dir.path().join("config.yaml");
        let yaml = format!(
            r#"
timezone: UTC
database_path: {db}
waldur_timeout: {timeout}
usage_sampling_schedule: "{SAMPLING}"
offerings:
  - name: S3 chaos
    waldur_api_url: {api}
    waldur_api_token: {token}
    waldur_offering_uuid: {offering}
    backend_type: {backend}
    order_processing_backend: {backend}
    membership_sync_backend: {backend}
    reporting_backend: {backend}
    backend_settings:
      {settings}
    backend_components:
      s3_storage:
        backend_name: storage
        measured_unit: GB-day
        accounting_type: usage
        label: Storage
        unit_factor: {factor}
        usage: gb_days
      s3_objects:
        measured_unit: objects
        accounting_type: usage
        label: Objects
        usage: objects_peak
"#,
            db = database.display(),
            timeout = WALDUR_TIMEOUT_S,
            api = waldur.api_url(),
            token = waldur.provider_token(),
            settings = storage.settings_yaml(),
            backend = storage.backend_type(),
            factor = storage.unit_factor(),
        );
        std::fs::write(&config, yaml)?;
        Ok(World {
            waldur,
            storage,
            offering,
            dir,
            config,
            database,
            ceilings: BTreeMap::new(),
            data: BTreeMap::new(),
            placed: Vec::new(),
            rotations: Vec::new(),
            rotations_total: 0,
            stats: Stats::default(),
            settled: 0,
        })
    }

    pub fn resource(&self, uuid: &str) -> Value {
        self.waldur.resource(uuid).unwrap_or(Value::Null)
    }

    /// Resources in `state`.
    fn in_state(&self, state: &str) -> Vec<String> {
        self.waldur
            .resources()
            .into_iter()
            .filter(|r| r["state"] == state)
            .filter_map(|r| r["uuid"].as_str().map(str::to_string))
            .collect()
    }

    /// The user `uid` of a resource, if it has one.
    pub fn uid(&self, resource: &str) -> Option<String> {
        self.resource(resource)["backend_id"]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    }

    /// A key of the resource that Waldur shows its customer (to act as the customer).
    fn customer_key(&self, resource: &str) -> Option<(String, String)> {
        self.waldur
            .api_keys(resource)
            .into_iter()
            .find(|k| k.state == "OK")
            .map(|k| (k.client_id, k.api_key))
    }

    async fn record_data(&mut self, resource: &str) {
        let Some(uid) = self.uid(resource) else {
            return;
        };
        let (bytes, objects) = match self.storage.user(&uid).await {
            Ok(Some(u)) => (u.bytes, u.objects),
            Ok(None) => (0, 0),
            Err(e) => {
                eprintln!("chaos: cannot read the data of {uid}: {e}");
                return;
            }
        };
        self.data.entry(resource.to_string()).or_default().push((
            chrono::Utc::now().timestamp(),
            bytes,
            objects,
        ));
    }

    fn place(
        &mut self,
        seed: OrderSeed,
        kind: &'static str,
        expect: Expect,
        it: u64,
    ) -> Option<String> {
        match self.waldur.try_place_order(seed) {
            Ok(p) => {
                self.placed.push(Placed {
                    order: p.order_uuid.clone(),
                    resource: p.resource_uuid.clone(),
                    kind,
                    expect,
                    iteration: it,
                    ceilings: None,
                });
                Some(p.resource_uuid)
            }
            Err(e) => {
                eprintln!("chaos: could not place a {kind} order: {e}");
                None
            }
        }
    }

    /// Places this iteration's orders, rotations and data changes (the agent is not running).
    pub async fn act(&mut self, rng: &mut Rng, it: u64) {
        let mut touched: Vec<String> = Vec::new();
        for _ in 0..rng.range(1, 4) {
            let ok: Vec<String> = self
                .in_state("OK")
                .into_iter()
                .filter(|r| !touched.contains(r))
                .collect();
            match rng.range(0, 9) {
                0..=2 => self.create(rng, it),
                3 => {
                    if let Some(r) = rng.pick(&ok).cloned() {
                        self.update(rng, &r, it);
                        touched.push(r);
                    }
                }
                4 => {
                    if let Some(r) = rng.pick(&ok).cloned() {
                        self.terminate(rng, &r, it).await;
                        touched.push(r);
                    }
                }
                5 => {
                    let gone: Vec<String> = self
                        .in_state("Terminated")
                        .into_iter()
                        .filter(|r| self.uid(r).is_some() && self.ceilings.contains_key(r))
                        .collect();
                    if let Some(r) = rng.pick(&gone).cloned() {
                        let seed = OrderSeed::restore(&r);
                        self.place(seed, "Restore", Expect::Done, it);
                        touched.push(r);
                    }
                }
                6 | 7 => {
                    if let Some(r) = rng.pick(&ok).cloned() {
                        self.rotate(rng, &r, it);
                        touched.push(r);
                    }
                }
                _ => {
                    if let Some(r) = rng.pick(&ok).cloned() {
                        self.change_data(rng, &r).await;
                    }
                }
            }
        }
    }

    fn create(&mut self, rng: &mut Rng, it: u64) {
        let n = self.placed.len();
        let mut seed = OrderSeed::create(&self.offering, &format!("chaos {it}-{n}"));
        if rng.chance(0.07) {
            // Bad input: erred before anything reaches the backend.
            seed = seed.with_attributes(json!({"max_storage_limit": -3}));
            self.place(seed, "Create", Expect::Erred("must not be negative"), it);
            return;
        }
        let c = Ceilings {
            storage_gb: rng.range(1, 20),
            objects: rng.chance(0.5).then(|| rng.range(10, 100_000)),
        };
        let mut attrs = json!({"max_storage_limit": c.storage_gb});
        if let Some(o) = c.objects {
            attrs["max_object_limit"] = json!(o);
        }
        seed = seed.with_attributes(attrs);
        if let Some(r) = self.place(seed, "Create", Expect::Done, it)
            && let Some(p) = self.placed.last_mut()
        {
            p.ceilings = Some(c);
            self.ceilings.insert(r, c);
        }
    }

    fn update(&mut self, rng: &mut Rng, r: &str, it: u64) {
        let Some(old) = self.ceilings.get(r).copied() else {
            return;
        };
        let storage = rng.chance(0.8).then(|| rng.range(1, 30));
        let objects = rng.chance(0.5).then(|| rng.range(10, 100_000));
        let (storage, objects) = if storage.is_none() && objects.is_none() {
            (Some(rng.range(1, 30)), None)
        } else {
            (storage, objects)
        };
        let mut limits = serde_json::Map::new();
        if let Some(s) = storage {
            limits.insert("max_storage_limit".into(), json!(s));
        }
        if let Some(o) = objects {
            limits.insert("max_object_limit".into(), json!(o));
        }
        let want = Ceilings {
            storage_gb: storage.unwrap_or(old.storage_gb),
            objects: objects.or(old.objects),
        };
        let seed = OrderSeed::update(r, Value::Object(limits));
        if self.place(seed, "Update", Expect::Done, it).is_some()
            && let Some(p) = self.placed.last_mut()
        {
            p.ceilings = Some(want);
        }
    }

    async fn terminate(&mut self, rng: &mut Rng, r: &str, it: u64) {
        let has_data = match self.uid(r) {
            Some(u) => matches!(self.storage.user(&u).await, Ok(Some(u)) if u.holds_data),
            None => false,
        };
        let expect = if has_data && rng.chance(0.5) {
            Expect::Erred(self.storage.not_empty_words())
        } else {
            if has_data {
                self.remove_data(r).await;
            }
            Expect::Done
        };
        self.place(OrderSeed::terminate(r), "Terminate", expect, it);
    }

    fn rotate(&mut self, rng: &mut Rng, r: &str, it: u64) {
        let keys = self.waldur.api_keys(r);
        let ok: Vec<_> = keys.iter().filter(|k| k.state == "OK").collect();
        if let Some(k) = rng.pick(&ok)
            && self.waldur.rotate_key(&k.uuid).is_ok()
        {
            self.rotations_total += 1;
            self.rotations.push(Rotation {
                key: k.uuid.clone(),
                resource: r.to_string(),
                old_key: self.storage.key_identity(k),
                iteration: it,
            });
        }
    }

    async fn change_data(&mut self, rng: &mut Rng, r: &str) {
        let Some(uid) = self.uid(r) else { return };
        if !matches!(self.storage.user(&uid).await, Ok(Some(_))) {
            return;
        }
        if rng.chance(0.3) {
            self.remove_data(r).await;
            return;
        }
        let n = self.data.get(r).map_or(0, Vec::len);
        // Bucket names are global on S3: the uid makes them unique.
        let bucket = format!("{uid}-b{n}");
        let bytes = rng.range(1, self.storage.unit_factor() / 16);
        let key = self.customer_key(r);
        let key = key.as_ref().map(|(a, s)| (a.as_str(), s.as_str()));
        match self
            .storage
            .add_data(&uid, &bucket, bytes, rng.range(1, 1000), key)
            .await
        {
            Ok(()) => {
                self.stats.data_changes += 1;
                self.record_data(r).await
            }
            Err(e) => eprintln!("chaos: cannot store data for {uid}: {e}"),
        }
    }

    async fn remove_data(&mut self, r: &str) {
        let Some(uid) = self.uid(r) else { return };
        let key = self.customer_key(r);
        let key = key.as_ref().map(|(a, s)| (a.as_str(), s.as_str()));
        if let Err(e) = self.storage.remove_data(&uid, key).await {
            eprintln!("chaos: cannot remove the data of {uid}: {e}");
        }
        self.record_data(r).await;
    }

    /// Random trouble for this iteration: Waldur loses answers, refuses calls, times out.
    pub fn faults(&self, rng: &mut Rng) -> Vec<String> {
        const POSTS: [&str; 8] = [
            "/approve_by_provider/",
            "/set_state_done/",
            "/report_created/",
            "/set_key/",
            "/set_backend_id/",
            "/set_backend_metadata/",
            "/set_usage/",
            "/set_state_erred/",
        ];
        const GETS: [&str; 3] = [
            "/marketplace-orders/",
            "/marketplace-resource-api-keys/",
            "/marketplace-component-usages/",
        ];
        let mut said = Vec::new();
        if !rng.chance(0.5) {
            return said;
        }
        for _ in 0..rng.range(1, 3) {
            let (method, path) = if rng.chance(0.75) {
                ("POST", *rng.pick(&POSTS).unwrap_or(&POSTS[0]))
            } else {
                ("GET", *rng.pick(&GETS).unwrap_or(&GETS[0]))
            };
            let fault = match rng.range(0, 2) {
                0 => Fault::DropResponse,
                1 => Fault::Status(503),
                _ => Fault::Delay(Duration::from_secs(WALDUR_TIMEOUT_S + 1)),
            };
            let times = rng.range(1, 2) as usize;
            said.push(format!("{method} {path} {fault:?} x{times}"));
            self.waldur
                .inject(FaultRule::new(method, path, fault, times));
        }
        said
    }

    /// Key ledger rows the agent has not settled yet (read from its database).
    pub fn open_ledger_rows(&self) -> usize {
        rusqlite::Connection::open_with_flags(
            &self.database,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .and_then(|db| {
            db.query_row("SELECT COUNT(*) FROM key_ledger", [], |r| {
                r.get::<_, i64>(0)
            })
        })
        .map(|n| n as usize)
        .unwrap_or(0)
    }

    /// Trouble on the store too (the simulators): refused calls the agent must ride out.
    pub fn store_faults(&self, rng: &mut Rng) -> Option<String> {
        use super::storage::Storage;
        if matches!(self.storage, Storage::Rgw { .. }) || !rng.chance(0.3) {
            return None;
        }
        let n = rng.range(1, 4) as usize;
        match &self.storage {
            Storage::Croit(sim) => {
                sim.fail_next(n, 503, "maintenance");
                Some(format!("croit 503 x{n}"))
            }
            Storage::Ecs(sim) => {
                sim.fail_next(
                    n,
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    6000,
                    "Service unavailable",
                );
                // Tokens die too: the agent must log in again mid-order.
                sim.expire_tokens();
                Some(format!("ECS 503 x{n}, tokens expired"))
            }
            Storage::Myfsio { sim, .. } => {
                sim.fail_next(n, 503, "<h1>Service Unavailable</h1>");
                // The console loses its sessions: the agent must log in again mid-order.
                sim.restart_console();
                Some(format!("MyFSIO 503 x{n}, console restarted"))
            }
            Storage::Minio(sim) => {
                sim.fail_next(n, 503);
                Some(format!("MinIO 503 x{n}"))
            }
            Storage::Rgw { .. } => None,
        }
    }

    /// Orders not yet final.
    pub fn busy(&self) -> usize {
        let orders = self
            .waldur
            .orders()
            .iter()
            .filter(|o| {
                ["pending-provider", "executing"].contains(&o["state"].as_str().unwrap_or(""))
            })
            .count();
        let keys = self
            .rotations
            .iter()
            .filter(|r| {
                self.waldur
                    .api_keys(&r.resource)
                    .iter()
                    .any(|k| k.uuid == r.key && k.state == "Updating")
            })
            .count();
        orders + keys
    }
}
