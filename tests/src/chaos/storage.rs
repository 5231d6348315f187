//! The object store of a chaos run: croit-sim, (with `CHAOS_BACKEND=rgw`) the real Ceph
//! RadosGW of `../shared/peers`, read through its Admin Ops API and written as a customer
//! would, over S3 with the customer's own key, or (with `CHAOS_BACKEND=ecs`) ecs-sim, where a
//! resource holds one key whose access key is the user and keys are told apart by secret, or
//! (with `CHAOS_BACKEND=myfsio`) myfsio-sim in its v0.5 generation, where users are made in
//! the web console and a resource has one bucket with an exact quota, or (with
//! `CHAOS_BACKEND=minio`) minio-sim, where keys are service accounts made through encrypted
//! admin calls and the stamp is the name of the user's policy.

use crate::croit::{CroitAuth, CroitSim};
use crate::ecs::EcsSim;
use crate::minio::MinioSim;
use crate::myfsio::{Generation, MyfsioSim};
use crate::s3::{RgwPeer, S3User};
use crate::waldur::ApiKeyRow;
use site_agent_ceph_s3::CephS3Settings;
use site_agent_ceph_s3::radosgw::{QuotaType, RgwBucket, RgwClient};

pub const CROIT_TOKEN: &str = "chaos-croit-token";

/// A user as the store reports it.
#[derive(Debug, Clone)]
pub struct StoredUser {
    /// The ownership stamp, wherever the store keeps it (e-mail, tag).
    pub email: String,
    /// Its keys, by [`Storage::key_identity`].
    pub access_keys: Vec<String>,
    /// (scope, (enabled, bytes or -1, objects or -1)) of each quota the store has.
    pub quotas: Vec<(&'static str, (bool, i64, i64))>,
    pub buckets: Vec<String>,
    /// Whether a Terminate without purge must be refused.
    pub holds_data: bool,
    pub bytes: u64,
    pub objects: u64,
}

pub enum Storage {
    Croit(CroitSim),
    Rgw {
        peer: RgwPeer,
        admin: RgwClient,
        /// Unique per run: this run's users among everything else on the cluster.
        prefix: String,
    },
    Ecs(EcsSim),
    /// `console`: v0.5 with an encrypted IAM file, `key_mode: console` (one key per resource,
    /// a new key replaces the user).
    Myfsio {
        sim: MyfsioSim,
        console: bool,
    },
    Minio(MinioSim),
}

const MINIO_ROOT: (&str, &str) = ("chaos-root", "chaos-root-secret");

const MYFSIO_ADMIN: (&str, &str) = ("chaos-admin", "chaos-admin-secret");

/// The uid and stamp a MyFSIO display name carries (`<uid>@<resource uuid, 32 hex>`).
fn myfsio_named(display: &str) -> Option<(String, String)> {
    let (uid, h) = display.split_once('@')?;
    if h.len() != 32 {
        return None;
    }
    let uuid = format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    );
    Some((uid.to_string(), format!("waldur-{uuid}-{uid}@invalid")))
}

const GIB: u64 = 1 << 30;

impl Storage {
    /// croit-sim, or the real RGW when `CHAOS_BACKEND=rgw` (its endpoint and admin key from
    /// the environment, as `./scripts/test.sh` exports them).
    pub async fn from_env() -> anyhow::Result<Storage> {
        if std::env::var("CHAOS_BACKEND").as_deref() == Ok("rgw") {
            let peer = RgwPeer::from_env();
            let prefix = format!("wc{}-", &uuid::Uuid::new_v4().simple().to_string()[..6]);
            let settings = CephS3Settings::from_map(
                serde_json::json!({"flavour": "radosgw", "s3_endpoint": peer.endpoint,
                    "admin_access_key": peer.admin_access_key, "admin_secret_key": peer.admin_secret_key})
                .as_object()
                .ok_or_else(|| anyhow::anyhow!("settings"))?,
            )
            .map_err(|e| anyhow::anyhow!("RGW settings: {e:?}"))?;
            let rgw = settings
                .radosgw
                .as_ref()
                .ok_or_else(|| anyhow::anyhow!("radosgw settings"))?;
            let admin = RgwClient::new(&settings, rgw)?;
            return Ok(Storage::Rgw {
                peer,
                admin,
                prefix,
            });
        }
        let backend = std::env::var("CHAOS_BACKEND").unwrap_or_default();
        if backend == "myfsio" || backend == "myfsio-console" {
            let sim = MyfsioSim::start(Generation::Rs, MYFSIO_ADMIN.0, MYFSIO_ADMIN.1).await?;
            // The agent's calls of a run exceed MyFSIO's default 60 a minute by far.
            sim.set_admin_rate_limit(1_000_000, std::time::Duration::from_secs(60));
            let console = backend == "myfsio-console";
            sim.set_encrypted_iam(console);
            return Ok(Storage::Myfsio { sim, console });
        }
        if backend == "minio" {
            return Ok(Storage::Minio(
                MinioSim::start(MINIO_ROOT.0, MINIO_ROOT.1).await?,
            ));
        }
        if std::env::var("CHAOS_BACKEND").as_deref() == Ok("ecs") {
            return Ok(Storage::Ecs(
                EcsSim::start("chaos-mgmt", "chaos-mgmt-secret", &["waldur"]).await?,
            ));
        }
        Ok(Storage::Croit(
            CroitSim::start(CroitAuth::Bearer(CROIT_TOKEN.into())).await?,
        ))
    }

    /// The `backend_type` the agent is configured with.
    pub fn backend_type(&self) -> &'static str {
        match self {
            Storage::Ecs(_) => "dell_ecs",
            Storage::Myfsio { .. } => "myfsio",
            Storage::Minio(_) => "minio",
            _ => "ceph_s3",
        }
    }

    /// How many Waldur keys a resource holds.
    pub fn keys_per_resource(&self) -> usize {
        match self {
            Storage::Ecs(_) | Storage::Myfsio { console: true, .. } => 1,
            _ => 2,
        }
    }

    /// What tells a key apart: its access key, or on ECS (where every secret shares the
    /// access key, the user) its secret.
    pub fn key_identity(&self, k: &ApiKeyRow) -> String {
        match self {
            Storage::Ecs(_) => k.api_key.clone(),
            _ => k.client_id.clone(),
        }
    }

    /// Words of the refusal of a Terminate while data remains.
    pub fn not_empty_words(&self) -> &'static str {
        match self {
            Storage::Ecs(_) | Storage::Myfsio { .. } | Storage::Minio(_) => "still holds",
            _ => "still owns",
        }
    }

    /// The quotas an ordered ceiling reads back as, per scope the store has.
    pub fn expected_quotas(
        &self,
        gb: u64,
        objects: Option<u64>,
    ) -> Vec<(&'static str, (bool, i64, i64))> {
        let o = objects.map_or(-1, |o| o as i64);
        match self {
            // Whole GB (one ordered GB is a GiB here); no object quota.
            Storage::Ecs(_) => vec![("bucket", (true, (gb * GIB) as i64, -1))],
            // Exact, both dimensions, on the resource's bucket only.
            Storage::Myfsio { .. } => vec![("bucket", (true, self.quota_bytes(gb), o))],
            // A hard size quota on the resource's bucket; MinIO has no object quota (and reads
            // a zero quota as none: the agent sends one byte).
            Storage::Minio(_) => vec![("bucket", (true, self.quota_bytes(gb).max(1), -1))],
            _ => {
                let b = self.quota_bytes(gb);
                vec![("user", (true, b, o)), ("bucket", (true, b, o))]
            }
        }
    }

    /// A metering pass on stores that meter (ECS): what billing reports catches up, stamped
    /// with the real time (so a reading's time is the time of the data it reports).
    pub fn meter(&self) {
        if let Storage::Ecs(sim) = self {
            sim.set_now(chrono::Utc::now().timestamp());
            sim.meter();
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Storage::Croit(_) => "croit-sim",
            Storage::Rgw { .. } => "real Ceph RGW",
            Storage::Ecs(_) => "ecs-sim",
            Storage::Myfsio { console: false, .. } => "myfsio-sim (v0.5)",
            Storage::Myfsio { console: true, .. } => {
                "myfsio-sim (v0.5, encrypted IAM, console keys)"
            }
            Storage::Minio(_) => "minio-sim",
        }
    }

    /// Bytes per ordered "GB": real on croit-sim (data there costs nothing), a MiB on the real
    /// RGW (where the harness really writes the data).
    pub fn unit_factor(&self) -> u64 {
        match self {
            Storage::Croit(_) | Storage::Myfsio { .. } | Storage::Minio(_) => 1_000_000_000,
            Storage::Rgw { .. } => 1 << 20,
            // ECS quotas are whole GiB; ecs-sim stores sizes, not data.
            Storage::Ecs(_) => GIB,
        }
    }

    /// The size quota a ceiling of `gb` reads back as (croit rounds up to KiB).
    pub fn quota_bytes(&self, gb: u64) -> i64 {
        let bytes = gb * self.unit_factor();
        match self {
            Storage::Croit(_) => (bytes.div_ceil(1024) * 1024) as i64,
            Storage::Rgw { .. } | Storage::Ecs(_) | Storage::Myfsio { .. } | Storage::Minio(_) => {
                bytes as i64
            }
        }
    }

    /// The offering's `backend_settings`, indented for the config.
    pub fn settings_yaml(&self) -> String {
        match self {
            Storage::Croit(sim) => format!(
                "api_url: {}\n      token: {CROIT_TOKEN}\n      s3_endpoint: {}\n      timeout: 5",
                sim.base_url(),
                sim.s3_endpoint()
            ),
            Storage::Rgw { peer, prefix, .. } => format!(
                "flavour: radosgw\n      s3_endpoint: {}\n      admin_access_key: {}\n      admin_secret_key: {}\n      s3_region: default\n      allocation_prefix: {prefix}\n      timeout: 5",
                peer.endpoint, peer.admin_access_key, peer.admin_secret_key
            ),
            Storage::Ecs(sim) => format!(
                "management_url: {}\n      username: chaos-mgmt\n      password: chaos-mgmt-secret\n      namespace: waldur\n      s3_endpoint: https://s3.ecs.chaos\n      s3_private_endpoint: {}\n      timeout: 5",
                sim.url(),
                sim.s3_url()
            ),
            Storage::Myfsio { sim, console } => format!(
                "api_url: {}\n      console_url: {}\n      admin_access_key: {}\n      admin_secret_key: {}\n      s3_endpoint: https://s3.myfsio.chaos\n      key_mode: {}\n      timeout: 5",
                sim.url(),
                sim.console_url(),
                MYFSIO_ADMIN.0,
                MYFSIO_ADMIN.1,
                if *console { "console" } else { "admin" }
            ),
            // Usage read live (the simulator's scanner does not lag here).
            Storage::Minio(sim) => format!(
                "s3_endpoint: {}\n      admin_access_key: {}\n      admin_secret_key: {}\n      usage_cache_seconds: 0\n      timeout: 5",
                sim.url(),
                MINIO_ROOT.0,
                MINIO_ROOT.1
            ),
        }
    }

    /// This run's users.
    pub async fn users(&self) -> anyhow::Result<Vec<String>> {
        Ok(match self {
            Storage::Croit(sim) => sim.users(),
            Storage::Ecs(sim) => sim.users(),
            Storage::Myfsio { sim, .. } => sim
                .users()
                .iter()
                .filter_map(|u| myfsio_named(&u.display_name).map(|n| n.0))
                .collect(),
            Storage::Minio(sim) => sim.users(),
            Storage::Rgw { admin, prefix, .. } => admin
                .list_users()
                .await?
                .into_iter()
                .filter(|u| u.starts_with(prefix.as_str()))
                .collect(),
        })
    }

    pub async fn user(&self, uid: &str) -> anyhow::Result<Option<StoredUser>> {
        match self {
            Storage::Croit(sim) => Ok(sim.user(uid).map(|u| StoredUser {
                email: u.email,
                access_keys: u.keys.iter().map(|k| k.0.clone()).collect(),
                quotas: vec![
                    (
                        "user",
                        (
                            u.user_quota.enabled,
                            u.user_quota.max_size,
                            u.user_quota.max_objects,
                        ),
                    ),
                    (
                        "bucket",
                        (
                            u.bucket_quota.enabled,
                            u.bucket_quota.max_size,
                            u.bucket_quota.max_objects,
                        ),
                    ),
                ],
                holds_data: !u.buckets.is_empty(),
                bytes: u.buckets.iter().map(|b| b.1).sum(),
                objects: u.buckets.iter().map(|b| b.2).sum(),
                buckets: u.buckets.into_iter().map(|b| b.0).collect(),
            })),
            Storage::Rgw { admin, .. } => {
                let Some(u) = admin.user(uid).await? else {
                    return Ok(None);
                };
                let q = |kind| async move {
                    admin
                        .quota(uid, kind)
                        .await
                        .map(|q| (q.enabled, q.max_size, q.max_objects))
                };
                let buckets = admin.buckets(uid).await?;
                let main = |b: &RgwBucket| {
                    b.usage
                        .get("rgw.main")
                        .map(|u| (u.size, u.num_objects))
                        .unwrap_or((0, 0))
                };
                Ok(Some(StoredUser {
                    email: u.email,
                    access_keys: u.keys.into_iter().map(|k| k.access_key).collect(),
                    quotas: vec![
                        ("user", q(QuotaType::User).await?),
                        ("bucket", q(QuotaType::Bucket).await?),
                    ],
                    holds_data: !buckets.is_empty(),
                    bytes: buckets.iter().map(|b| main(b).0).sum(),
                    objects: buckets.iter().map(|b| main(b).1).sum(),
                    buckets: buckets.into_iter().map(|b| b.bucket).collect(),
                }))
            }
            Storage::Myfsio { sim, .. } => {
                let Some((u, stamp)) = sim.users().into_iter().find_map(|u| {
                    let (id, stamp) = myfsio_named(&u.display_name)?;
                    (id == uid).then_some((u, stamp))
                }) else {
                    return Ok(None);
                };
                let name = site_agent_sdk::naming::bucket_for(uid)?;
                let bucket = sim.bucket(&name);
                let q = bucket.as_ref().and_then(|b| b.quota);
                let quota = match q {
                    Some(q) => (
                        true,
                        q.max_bytes.map_or(-1, |b| b as i64),
                        q.max_objects.map_or(-1, |o| o as i64),
                    ),
                    None => (false, -1, -1),
                };
                let (bytes, objects) = bucket.as_ref().map(|b| b.live_usage()).unwrap_or((0, 0));
                Ok(Some(StoredUser {
                    email: stamp,
                    access_keys: u
                        .keys
                        .iter()
                        .map(|k| k.access_key.clone())
                        .filter(|k| !k.starts_with("WANCHOR"))
                        .collect(),
                    quotas: vec![("bucket", quota)],
                    holds_data: bucket.is_some_and(|b| !b.is_empty()),
                    bytes,
                    objects,
                    buckets: vec![name],
                }))
            }
            Storage::Minio(sim) => {
                let Some(u) = sim.user(uid) else {
                    return Ok(None);
                };
                let name = site_agent_sdk::naming::bucket_for(uid)?;
                let bucket = sim.bucket(&name);
                let quota = match bucket.as_ref().and_then(|b| b.quota) {
                    Some(q) => (true, q as i64, -1),
                    None => (false, -1, -1),
                };
                let (bytes, objects) = bucket.as_ref().map(|b| b.usage()).unwrap_or((0, 0));
                Ok(Some(StoredUser {
                    // The stamp is the policy's name.
                    email: u
                        .policies
                        .iter()
                        .find(|p| p.starts_with("waldur-"))
                        .map(|p| format!("{p}@invalid"))
                        .unwrap_or_default(),
                    access_keys: sim.service_accounts(uid).into_iter().map(|s| s.0).collect(),
                    quotas: vec![("bucket", quota)],
                    holds_data: objects > 0,
                    bytes,
                    objects,
                    buckets: vec![name],
                }))
            }
            Storage::Ecs(sim) => {
                let Some((tags, _, secrets)) = sim.user(uid) else {
                    return Ok(None);
                };
                let stamp = tags
                    .iter()
                    .find(|(k, _)| k == "waldur-stamp")
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default();
                // The resource's bucket carries the quota; every bucket the user owns counts,
                // as metering reports it (whole KB per bucket).
                let (quota, owned) = sim.owned_by(uid);
                let bytes = owned.iter().map(|b| b.1 / 1024 * 1024).sum();
                let objects = owned.iter().map(|b| b.2).sum();
                let buckets = owned.into_iter().map(|b| b.0).collect();
                Ok(Some(StoredUser {
                    email: stamp,
                    access_keys: secrets,
                    quotas: vec![("bucket", (quota > 0, quota.max(0) * GIB as i64, -1))],
                    holds_data: objects > 0,
                    bytes,
                    objects,
                    buckets,
                }))
            }
        }
    }

    /// Whether the key pair works against the store (the secret included).
    pub async fn key_works(&self, uid: &str, access_key: &str, secret: &str) -> bool {
        match self {
            Storage::Croit(sim) => sim
                .user(uid)
                .is_some_and(|u| u.keys.iter().any(|(a, s)| a == access_key && s == secret)),
            Storage::Ecs(sim) => access_key == uid && sim.key_works(access_key, secret),
            Storage::Myfsio { sim, .. } => sim.key_works(access_key, secret),
            Storage::Minio(sim) => {
                sim.service_accounts(uid).iter().any(|s| s.0 == access_key)
                    && sim.key_authenticates(access_key, secret)
            }
            Storage::Rgw { peer, .. } => {
                // A signed listing of a bucket that does not exist: a working key gets
                // NoSuchBucket, a wrong one InvalidAccessKeyId or SignatureDoesNotMatch.
                let s3 = S3User::new(&peer.endpoint, "default", access_key, secret);
                let r = s3.list_objects("chaos-probe-no-such-bucket").await;
                r.code() == Some("NoSuchBucket")
            }
        }
    }

    /// Stores an object of `bytes` (croit-sim: `objects` of them) in a new bucket, as the
    /// customer would with `key`.
    pub async fn add_data(
        &self,
        uid: &str,
        bucket: &str,
        bytes: u64,
        objects: u64,
        key: Option<(&str, &str)>,
    ) -> anyhow::Result<()> {
        match self {
            Storage::Croit(sim) => {
                sim.add_bucket(uid, bucket, bytes, objects);
                Ok(())
            }
            // Into the resource's bucket (named like the user), under the ceiling.
            Storage::Ecs(sim) => {
                let mine = site_agent_sdk::naming::bucket_for(uid)?;
                let n = objects.clamp(1, 20);
                for i in 0..n {
                    sim.put_object(&mine, &format!("{bucket}-o{i}"), bytes / n)
                        .map_err(|e| anyhow::anyhow!("put into {mine}: {e}"))?;
                }
                self.meter();
                Ok(())
            }
            Storage::Minio(sim) => {
                let mine = site_agent_sdk::naming::bucket_for(uid)?;
                let n = objects.clamp(1, 20);
                for i in 0..n {
                    sim.put_object(&mine, &format!("{bucket}-o{i}"), bytes / n);
                }
                Ok(())
            }
            // Into the resource's bucket, up to its exact quota (a refused write stops there).
            Storage::Myfsio { sim, .. } => {
                let mine = site_agent_sdk::naming::bucket_for(uid)?;
                let n = objects.clamp(1, 20);
                for i in 0..n {
                    if sim
                        .put_object(&mine, &format!("{bucket}-o{i}"), bytes / n)
                        .is_err()
                    {
                        break;
                    }
                }
                Ok(())
            }
            Storage::Rgw { peer, .. } => {
                let (ak, sk) = key.ok_or_else(|| anyhow::anyhow!("no key to write with"))?;
                let s3 = S3User::new(&peer.endpoint, "default", ak, sk);
                let r = s3.create_bucket(bucket).await;
                anyhow::ensure!(r.ok(), "create bucket {bucket}: {r:?}");
                let r = s3.put_object(bucket, "data", vec![7; bytes as usize]).await;
                anyhow::ensure!(r.ok(), "put object into {bucket}: {r:?}");
                Ok(())
            }
        }
    }

    /// Removes the user's buckets and their data, as the customer would.
    pub async fn remove_data(&self, uid: &str, key: Option<(&str, &str)>) -> anyhow::Result<()> {
        let Some(user) = self.user(uid).await? else {
            return Ok(());
        };
        match self {
            Storage::Croit(sim) => {
                for b in user.buckets {
                    sim.remove_bucket(uid, &b);
                }
                Ok(())
            }
            Storage::Ecs(sim) => {
                for b in user.buckets {
                    sim.delete_objects(&b);
                }
                self.meter();
                Ok(())
            }
            Storage::Myfsio { sim, .. } => {
                for b in user.buckets {
                    sim.empty_bucket(&b);
                }
                Ok(())
            }
            Storage::Minio(sim) => {
                for b in user.buckets {
                    sim.empty_bucket(&b);
                }
                Ok(())
            }
            Storage::Rgw { peer, .. } => {
                let (ak, sk) = key.ok_or_else(|| anyhow::anyhow!("no key to delete with"))?;
                let s3 = S3User::new(&peer.endpoint, "default", ak, sk);
                for b in user.buckets {
                    s3.delete_object(&b, "data").await;
                    let r = s3.delete_bucket(&b).await;
                    anyhow::ensure!(r.ok() || r.status == 404, "delete bucket {b}: {r:?}");
                }
                Ok(())
            }
        }
    }
}
