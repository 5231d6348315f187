//! A tiny S3 data-plane client for tests: proves that provisioned keys really work (or are
//! refused) against a real RadosGW. Presigned requests from rusty-s3, sent with reqwest.

use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};
use std::time::Duration;

/// The answer of an S3 call: status and body (with the S3 error `Code`, if any).
#[derive(Debug, Clone)]
pub struct S3Reply {
    pub status: u16,
    pub body: String,
}

impl S3Reply {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
    /// The `<Code>` of an S3 error body.
    pub fn code(&self) -> Option<&str> {
        let start = self.body.find("<Code>")? + "<Code>".len();
        let end = self.body[start..].find("</Code>")? + start;
        Some(&self.body[start..end])
    }
}

pub struct S3User {
    endpoint: url::Url,
    region: String,
    creds: Credentials,
    http: reqwest::Client,
}

impl S3User {
    pub fn new(endpoint: &str, region: &str, access_key: &str, secret_key: &str) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        Self {
            endpoint: endpoint.parse().expect("S3 endpoint URL"),
            region: region.to_string(),
            creds: Credentials::new(access_key, secret_key),
            http: reqwest::Client::new(),
        }
    }

    fn bucket(&self, name: &str) -> Bucket {
        Bucket::new(
            self.endpoint.clone(),
            UrlStyle::Path,
            name.to_string(),
            self.region.clone(),
        )
        .expect("bucket")
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> S3Reply {
        match req.send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                S3Reply {
                    status,
                    body: r.text().await.unwrap_or_default(),
                }
            }
            Err(e) => S3Reply {
                status: 0,
                body: e.to_string(),
            },
        }
    }

    const TTL: Duration = Duration::from_secs(600);

    pub async fn create_bucket(&self, name: &str) -> S3Reply {
        let b = self.bucket(name);
        let url = b.create_bucket(&self.creds).sign(Self::TTL);
        self.send(self.http.put(url)).await
    }

    pub async fn delete_bucket(&self, name: &str) -> S3Reply {
        let b = self.bucket(name);
        let url = b.delete_bucket(&self.creds).sign(Self::TTL);
        self.send(self.http.delete(url)).await
    }

    pub async fn put_object(&self, bucket: &str, key: &str, body: Vec<u8>) -> S3Reply {
        let b = self.bucket(bucket);
        let url = b.put_object(Some(&self.creds), key).sign(Self::TTL);
        self.send(self.http.put(url).body(body)).await
    }

    pub async fn list_objects(&self, bucket: &str) -> S3Reply {
        let b = self.bucket(bucket);
        let url = b.list_objects_v2(Some(&self.creds)).sign(Self::TTL);
        self.send(self.http.get(url)).await
    }

    pub async fn delete_object(&self, bucket: &str, key: &str) -> S3Reply {
        let b = self.bucket(bucket);
        let url = b.delete_object(Some(&self.creds), key).sign(Self::TTL);
        self.send(self.http.delete(url)).await
    }
}

/// Whether the S3 endpoint accepts `key` for a read of `bucket`: anything but a refusal
/// (403: unknown, inactive or suspended key, bad signature) counts; a missing bucket is fine.
pub async fn key_accepted(
    endpoint: &str,
    region: &str,
    access_key: &str,
    secret_key: &str,
    bucket: &str,
) -> bool {
    let s3 = S3User::new(endpoint, region, access_key, secret_key);
    let r = s3.list_objects(bucket).await;
    assert_ne!(r.status, 0, "S3 endpoint unreachable: {}", r.body);
    r.status != 403
}

/// The real RadosGW started by `../shared/peers/start-ceph-rgw.sh` (its `KEY=VALUE` output
/// exported into the environment, as `./scripts/test.sh` and `.ci/run` do).
#[derive(Debug, Clone)]
pub struct RgwPeer {
    pub endpoint: String,
    pub admin_access_key: String,
    pub admin_secret_key: String,
}

impl RgwPeer {
    /// Panics with instructions when the peer is not running: these tests need the real RGW.
    pub fn from_env() -> Self {
        let get = |k: &str| {
            std::env::var(k).unwrap_or_else(|_| {
                panic!("{k} is not set: these tests run against a real Ceph RGW; run ./scripts/test.sh (it starts ../shared/peers/start-ceph-rgw.sh) or export its output")
            })
        };
        Self {
            endpoint: get("RGW_ENDPOINT"),
            admin_access_key: get("RGW_ADMIN_ACCESS_KEY"),
            admin_secret_key: get("RGW_ADMIN_SECRET_KEY"),
        }
    }
}

/// The real SeaweedFS started by `../shared/peers/start-seaweedfs.sh` (its `KEY=VALUE` output
/// exported into the environment, as `./scripts/test.sh` and `.ci/run` do).
#[derive(Debug, Clone)]
pub struct SeaweedPeer {
    pub endpoint: String,
    pub region: String,
    pub admin_access_key: String,
    pub admin_secret_key: String,
    /// `weed shell -master=…`, for `s3.bucket.quota.enforce -apply`.
    pub shell: String,
}

impl SeaweedPeer {
    /// Panics with instructions when the peer is not running: these tests need the real server.
    pub fn from_env() -> Self {
        let get = |k: &str| {
            std::env::var(k).unwrap_or_else(|_| {
                panic!("{k} is not set: these tests run against a real SeaweedFS; run ./scripts/test.sh (it starts ../shared/peers/start-seaweedfs.sh) or export its output")
            })
        };
        Self {
            endpoint: get("SEAWEEDFS_S3_ENDPOINT"),
            region: std::env::var("SEAWEEDFS_REGION").unwrap_or_else(|_| "us-east-1".into()),
            admin_access_key: get("SEAWEEDFS_ADMIN_ACCESS_KEY"),
            admin_secret_key: get("SEAWEEDFS_ADMIN_SECRET_KEY"),
            shell: get("SEAWEEDFS_SHELL"),
        }
    }

    /// An S3 client with the admin identity.
    pub fn admin(&self) -> S3User {
        S3User::new(
            &self.endpoint,
            &self.region,
            &self.admin_access_key,
            &self.admin_secret_key,
        )
    }

    /// Runs SeaweedFS's own quota enforcement now (it otherwise runs about once a minute).
    pub fn enforce_quotas(&self) -> String {
        let mut parts = self.shell.trim_matches('\'').split_whitespace();
        let bin = parts.next().expect("SEAWEEDFS_SHELL names weed");
        let mut child = std::process::Command::new(bin)
            .args(parts)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("weed shell starts");
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"s3.bucket.quota.enforce -apply\n")
            .unwrap();
        let out = child.wait_with_output().expect("weed shell runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}
