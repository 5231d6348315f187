//! The object store of a chaos run: croit-sim, or (with `CHAOS_BACKEND=rgw`) the real Ceph
//! RadosGW of `../shared/peers`, read through its Admin Ops API and written as a customer
//! would, over S3 with the customer's own key.

use crate::croit::{CroitAuth, CroitSim};
use crate::s3::{RgwPeer, S3User};
use site_agent_ceph_s3::CephS3Settings;
use site_agent_ceph_s3::radosgw::{QuotaType, RgwBucket, RgwClient};

pub const CROIT_TOKEN: &str = "chaos-croit-token";

/// A user as the store reports it.
#[derive(Debug, Clone)]
pub struct StoredUser {
    pub email: String,
    pub access_keys: Vec<String>,
    /// (enabled, bytes or -1, objects or -1) of the user and the bucket quota.
    pub quotas: [(bool, i64, i64); 2],
    pub buckets: Vec<String>,
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
}

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
        Ok(Storage::Croit(
            CroitSim::start(CroitAuth::Bearer(CROIT_TOKEN.into())).await?,
        ))
    }

    pub fn name(&self) -> &'static str {
        match self {
            Storage::Croit(_) => "croit-sim",
            Storage::Rgw { .. } => "real Ceph RGW",
        }
    }

    /// Bytes per ordered "GB": real on croit-sim (data there costs nothing), a MiB on the real
    /// RGW (where the harness really writes the data).
    pub fn unit_factor(&self) -> u64 {
        match self {
            Storage::Croit(_) => 1_000_000_000,
            Storage::Rgw { .. } => 1 << 20,
        }
    }

    /// The size quota a ceiling of `gb` reads back as (croit rounds up to KiB).
    pub fn quota_bytes(&self, gb: u64) -> i64 {
        let bytes = gb * self.unit_factor();
        match self {
            Storage::Croit(_) => (bytes.div_ceil(1024) * 1024) as i64,
            Storage::Rgw { .. } => bytes as i64,
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
        }
    }

    /// This run's users.
    pub async fn users(&self) -> anyhow::Result<Vec<String>> {
        Ok(match self {
            Storage::Croit(sim) => sim.users(),
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
                quotas: [
                    (
                        u.user_quota.enabled,
                        u.user_quota.max_size,
                        u.user_quota.max_objects,
                    ),
                    (
                        u.bucket_quota.enabled,
                        u.bucket_quota.max_size,
                        u.bucket_quota.max_objects,
                    ),
                ],
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
                    quotas: [q(QuotaType::User).await?, q(QuotaType::Bucket).await?],
                    bytes: buckets.iter().map(|b| main(b).0).sum(),
                    objects: buckets.iter().map(|b| main(b).1).sum(),
                    buckets: buckets.into_iter().map(|b| b.bucket).collect(),
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
