//! The simulated MyFSIO world and its rules (reference `other-backends.md` §6, research in
//! `docs/research/myfsio.md`): IAM users with inline `{bucket, actions, prefix}` policies and
//! server-generated keys, buckets with exact quotas counted over live objects plus archived
//! versions (403 `QuotaExceeded` past them), and the two generations' differences in ids,
//! field names and empty-policy meaning.

use std::collections::BTreeMap;

/// Which MyFSIO answers: the Python/Flask line (v0.4.x) or the Rust line (v0.5.x).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generation {
    /// v0.4.x: `/admin/...`, console under `/ui`, 16-hex ids, `max_bytes` in the quota reply.
    Py,
    /// v0.5.x: `/myfsio/admin/...`, console login at `/login`, `AK…`/`SK…` keys.
    Rs,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub access_key: String,
    pub secret_key: String,
    pub status: String,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub bucket: String,
    pub actions: Vec<String>,
    pub prefix: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub user_id: String,
    pub display_name: String,
    pub enabled: bool,
    pub expires_at: Option<String>,
    pub keys: Vec<Key>,
    pub policies: Vec<Policy>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Quota {
    pub max_bytes: Option<u64>,
    pub max_objects: Option<u64>,
}

#[derive(Debug, Clone, Default)]
pub struct Bucket {
    /// Key → (version id, size).
    pub live: BTreeMap<String, (String, u64)>,
    /// Versions kept by versioning: (key, version id, size).
    pub archived: Vec<(String, String, u64)>,
    pub versioning: bool,
    pub quota: Option<Quota>,
    pub tags: Vec<(String, String)>,
    /// An S3 bucket policy (JSON), set with the `policy` action.
    pub policy: Option<String>,
}

impl Bucket {
    /// Live bytes and objects (what `GET ?quota` reports as usage).
    pub fn live_usage(&self) -> (u64, u64) {
        (
            self.live.values().map(|(_, s)| s).sum(),
            self.live.len() as u64,
        )
    }

    /// Live plus archived (what the quota is enforced against).
    pub fn total_usage(&self) -> (u64, u64) {
        let (b, o) = self.live_usage();
        (
            b + self.archived.iter().map(|(_, _, s)| s).sum::<u64>(),
            o + self.archived.len() as u64,
        )
    }

    pub fn is_empty(&self) -> bool {
        self.live.is_empty() && self.archived.is_empty()
    }
}

/// An answer the way MyFSIO words it: status, content type, body, extra headers.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
    pub headers: Vec<(String, String)>,
}

impl Reply {
    pub fn new(status: u16, content_type: &'static str, body: impl Into<String>) -> Self {
        Self {
            status,
            content_type,
            body: body.into(),
            headers: Vec::new(),
        }
    }
    pub fn json(status: u16, v: serde_json::Value) -> Self {
        Self::new(status, "application/json", v.to_string())
    }
    pub fn empty(status: u16) -> Self {
        Self::new(status, "text/plain", "")
    }
    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.into(), v.into()));
        self
    }
}

/// The S3 actions MyFSIO v0.4 knows by name (unknown names are dropped from a console policy).
pub const S3_ACTIONS: &[&str] = &[
    "list",
    "read",
    "write",
    "delete",
    "share",
    "policy",
    "replication",
    "lifecycle",
    "cors",
    "create_bucket",
    "delete_bucket",
    "versioning",
    "tagging",
    "encryption",
    "quota",
    "object_lock",
    "notification",
    "logging",
    "website",
];

/// What v0.4 stores for an empty or missing console policy list: broad access to every bucket.
pub const PY_DEFAULT_ACTIONS: &[&str] = &[
    "create_bucket",
    "delete",
    "delete_bucket",
    "list",
    "policy",
    "read",
    "share",
    "write",
];

#[derive(Debug)]
pub struct State {
    pub generation: Generation,
    pub users: Vec<User>,
    pub buckets: BTreeMap<String, Bucket>,
    /// v0.5 with `iam.json` encrypted at rest: the admin key and enable/disable routes fail.
    pub encrypted_iam: bool,
    pub seq: u64,
}

impl State {
    pub fn new(generation: Generation, admin_key: &str, admin_secret: &str) -> Self {
        let mut st = Self {
            generation,
            users: Vec::new(),
            buckets: BTreeMap::new(),
            encrypted_iam: false,
            seq: 0,
        };
        let id = st.user_id();
        st.users.push(User {
            user_id: id,
            display_name: "Local Admin".into(),
            enabled: true,
            expires_at: None,
            keys: vec![st.key_with(admin_key, admin_secret)],
            policies: vec![Policy {
                bucket: "*".into(),
                actions: vec!["*".into()],
                prefix: "*".into(),
            }],
        });
        st
    }

    fn rand_hex(&mut self, n: usize) -> String {
        self.seq += 1;
        let mut s = uuid::Uuid::new_v4().simple().to_string();
        s.push_str(&uuid::Uuid::new_v4().simple().to_string());
        s.truncate(n);
        s
    }

    pub fn user_id(&mut self) -> String {
        match self.generation {
            Generation::Py => format!("u-{}", self.rand_hex(16)),
            Generation::Rs => format!("u-{}", self.rand_hex(32)),
        }
    }

    fn key_with(&self, ak: &str, sk: &str) -> Key {
        Key {
            access_key: ak.into(),
            secret_key: sk.into(),
            status: "active".into(),
            created_at: chrono::Utc::now().to_rfc3339(),
        }
    }

    /// A server-generated key pair in the generation's format.
    pub fn new_key(&mut self) -> Key {
        let (ak, sk) = match self.generation {
            Generation::Py => {
                let ak = self.rand_hex(16);
                // token_urlsafe(24): 32 url-safe characters.
                let sk = self.rand_hex(32).replace('a', "-").replace('b', "_");
                (ak, sk)
            }
            Generation::Rs => (
                format!("AK{}", self.rand_hex(32)),
                format!("SK{}", self.rand_hex(32)),
            ),
        };
        self.key_with(&ak, &sk)
    }

    /// The user a path segment names: a user id, or (both generations) any of its access keys.
    pub fn find(&self, ident: &str) -> Option<usize> {
        self.users
            .iter()
            .position(|u| u.user_id == ident || u.keys.iter().any(|k| k.access_key == ident))
    }

    pub fn owner_of_key(&self, ak: &str) -> Option<usize> {
        self.users
            .iter()
            .position(|u| u.keys.iter().any(|k| k.access_key == ak))
    }

    pub fn secret_in_use(&self, ak: &str) -> bool {
        self.owner_of_key(ak).is_some()
    }

    /// Whether `user` may do `action` on `bucket` (`None`: an account-wide action such as
    /// `iam:*` or listing every bucket, which needs a policy on `*`). Actions match by exact
    /// name, any case; `*` is every action, `iam:*` every IAM action.
    pub fn allows(user: &User, action: &str, bucket: Option<&str>) -> bool {
        user.policies.iter().any(|p| {
            let bucket_ok =
                p.bucket == "*" || bucket.is_some_and(|b| p.bucket.eq_ignore_ascii_case(b));
            bucket_ok
                && p.actions.iter().any(|a| {
                    a == "*"
                        || a.eq_ignore_ascii_case(action)
                        || (a.eq_ignore_ascii_case("iam:*") && action.starts_with("iam:"))
                })
        })
    }

    /// An admin (v0.5's console gate): a policy with bucket `*` and action `*`.
    pub fn is_admin(user: &User) -> bool {
        user.policies
            .iter()
            .any(|p| p.bucket == "*" && p.actions.iter().any(|a| a == "*" || a == "iam:*"))
    }

    /// A console policy list as the generation stores it. v0.4: empty means its broad
    /// default, unknown actions are dropped, nothing valid is refused; v0.5: as given.
    pub fn policies_from(&self, text: &str) -> Result<Vec<Policy>, String> {
        let text = text.trim();
        let raw: Vec<serde_json::Value> = if text.is_empty() {
            Vec::new()
        } else {
            serde_json::from_str(text).map_err(|e| format!("Invalid policies JSON: {e}"))?
        };
        let mut out = Vec::new();
        for v in raw {
            let bucket = v["bucket"]
                .as_str()
                .ok_or("Each policy needs a bucket")?
                .to_ascii_lowercase();
            let actions: Vec<String> = v["actions"]
                .as_array()
                .ok_or("Each policy needs actions")?
                .iter()
                .filter_map(|a| a.as_str().map(str::to_string))
                .collect();
            let prefix = v["prefix"].as_str().unwrap_or("*").to_string();
            out.push(Policy {
                bucket,
                actions,
                prefix,
            });
        }
        if self.generation == Generation::Rs {
            return Ok(out);
        }
        if out.is_empty() {
            return Ok(vec![Policy {
                bucket: "*".into(),
                actions: PY_DEFAULT_ACTIONS.iter().map(|s| s.to_string()).collect(),
                prefix: "*".into(),
            }]);
        }
        for p in &mut out {
            p.actions
                .retain(|a| S3_ACTIONS.contains(&a.as_str()) || a == "*" || a.starts_with("iam:"));
            p.actions.sort();
        }
        out.retain(|p| !p.actions.is_empty());
        if out.is_empty() {
            return Err("At least one policy with valid actions is required".into());
        }
        Ok(out)
    }

    /// Whether S3 takes this key pair now (the key exists, is active, its user enabled and
    /// not expired).
    pub fn key_works(&self, ak: &str, sk: &str) -> bool {
        self.owner_of_key(ak).is_some_and(|i| {
            let u = &self.users[i];
            u.enabled
                && u.keys
                    .iter()
                    .any(|k| k.access_key == ak && k.secret_key == sk && k.status == "active")
        })
    }

    /// A PUT of `size` bytes at `key`, checked against the bucket quota exactly (live plus
    /// archived; an overwrite adds only the difference, or a new version when versioning).
    pub fn put_object(
        &mut self,
        bucket: &str,
        key: &str,
        size: u64,
    ) -> Result<(), (u16, String, String)> {
        self.seq += 1;
        let vid = format!("v{}", self.seq);
        let b = self.buckets.get_mut(bucket).ok_or((
            404,
            "NoSuchBucket".to_string(),
            "Bucket does not exist".to_string(),
        ))?;
        let old = b.live.get(key).map(|(_, s)| *s);
        let (bytes, objects) = b.total_usage();
        let (add_bytes, add_objects) = match (old, b.versioning) {
            (Some(_), true) => (size, 1),
            (Some(o), false) => (size.saturating_sub(o), 0),
            (None, _) => (size, 1),
        };
        let net_bytes = match (old, b.versioning) {
            (Some(o), false) => bytes - o + size,
            _ => bytes + size,
        };
        if let Some(q) = b.quota {
            if let Some(max) = q.max_bytes
                && net_bytes > max
            {
                return Err((
                    403,
                    "QuotaExceeded".into(),
                    format!(
                        "Quota exceeded: adding {add_bytes} bytes would result in {net_bytes} bytes, exceeding limit of {max} bytes"
                    ),
                ));
            }
            if let Some(max) = q.max_objects
                && objects + add_objects > max
            {
                return Err((
                    403,
                    "QuotaExceeded".into(),
                    format!(
                        "Quota exceeded: adding {add_objects} objects would result in {} objects, exceeding limit of {max} objects",
                        objects + add_objects
                    ),
                ));
            }
        }
        if let Some((old_vid, old_size)) = b.live.insert(key.to_string(), (vid, size))
            && b.versioning
        {
            b.archived.push((key.to_string(), old_vid, old_size));
        }
        Ok(())
    }

    /// DELETE of an object (a live object, or with `version` one version of it).
    pub fn delete_object(&mut self, bucket: &str, key: &str, version: Option<&str>) -> bool {
        let Some(b) = self.buckets.get_mut(bucket) else {
            return false;
        };
        match version {
            Some(v) => {
                if b.live.get(key).is_some_and(|(id, _)| id == v) {
                    b.live.remove(key);
                    return true;
                }
                let before = b.archived.len();
                b.archived.retain(|(k, id, _)| !(k == key && id == v));
                before != b.archived.len()
            }
            None => match b.live.remove(key) {
                Some((vid, size)) if b.versioning => {
                    b.archived.push((key.to_string(), vid, size));
                    true
                }
                Some(_) => true,
                None => false,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_is_exact_and_inclusive_and_counts_versions() {
        let mut st = State::new(Generation::Py, "admin", "secret");
        st.buckets.insert(
            "b".into(),
            Bucket {
                quota: Some(Quota {
                    max_bytes: Some(3000),
                    max_objects: Some(5),
                }),
                ..Bucket::default()
            },
        );
        for k in ["a", "b", "c"] {
            st.put_object("b", k, 1000).unwrap();
        }
        let e = st.put_object("b", "d", 1000).unwrap_err();
        assert_eq!((e.0, e.1.as_str()), (403, "QuotaExceeded"));
        assert_eq!(
            e.2,
            "Quota exceeded: adding 1000 bytes would result in 4000 bytes, exceeding limit of 3000 bytes"
        );
        st.put_object("b", "e1", 0).unwrap();
        st.put_object("b", "e2", 0).unwrap();
        let e = st.put_object("b", "e3", 0).unwrap_err();
        assert!(
            e.2.contains("adding 1 objects would result in 6 objects"),
            "{}",
            e.2
        );
        // An overwrite adds only the difference.
        st.put_object("b", "a", 1000).unwrap();
        // With versioning the old version stays and counts.
        st.buckets.get_mut("b").unwrap().versioning = true;
        st.delete_object("b", "e1", None);
        assert_eq!(st.buckets["b"].total_usage(), (3000, 5));
        assert_eq!(st.buckets["b"].live_usage(), (3000, 4));
    }

    #[test]
    fn console_policies_per_generation() {
        let py = State::new(Generation::Py, "a", "s");
        let p = py.policies_from("").unwrap();
        assert_eq!(
            p[0].bucket, "*",
            "v0.4 fills an empty list with broad access"
        );
        let p = py
            .policies_from(r#"[{"bucket":"B","actions":["write","list","fly"]}]"#)
            .unwrap();
        assert_eq!(p[0].bucket, "b");
        assert_eq!(p[0].actions, vec!["list", "write"]);
        assert!(
            py.policies_from(r#"[{"bucket":"b","actions":["fly"]}]"#)
                .is_err()
        );
        let rs = State::new(Generation::Rs, "a", "s");
        assert!(
            rs.policies_from("[]").unwrap().is_empty(),
            "v0.5: no access"
        );
    }

    #[test]
    fn authorisation_is_by_exact_bucket() {
        let u = User {
            user_id: "u".into(),
            display_name: "t".into(),
            enabled: true,
            expires_at: None,
            keys: vec![],
            policies: vec![Policy {
                bucket: "mine".into(),
                actions: vec![
                    "list".into(),
                    "read".into(),
                    "write".into(),
                    "delete".into(),
                ],
                prefix: "*".into(),
            }],
        };
        assert!(State::allows(&u, "write", Some("mine")));
        assert!(!State::allows(&u, "write", Some("mine2")));
        assert!(!State::allows(&u, "quota", Some("mine")));
        assert!(!State::allows(&u, "iam:list_users", None));
        assert!(!State::is_admin(&u));
    }
}
