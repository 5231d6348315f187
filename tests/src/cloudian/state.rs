//! The simulated HyperStore world and its rules (reference `other-backends.md` §4 and §9):
//! groups, users in them with a string `active` flag, server-generated credentials up to a
//! maximum, QoS limits kept in KiB and object counts (-1 = unlimited), buckets per user with
//! byte and object counters that are only kept with bucket-level QoS on.

use std::collections::BTreeMap;

#[derive(Debug, Clone)]
pub struct Credential {
    pub access_key: String,
    pub secret_key: String,
    pub create_date: i64,
    pub active: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Qos {
    /// Hard and warning storage limits in KiB; -1 = unlimited.
    pub storage_kib: (i64, i64),
    /// Hard and warning object-count limits; -1 = unlimited.
    pub objects: (i64, i64),
}

impl Qos {
    pub fn unlimited() -> Self {
        Self {
            storage_kib: (-1, -1),
            objects: (-1, -1),
        }
    }
}

#[derive(Debug, Clone)]
pub struct User {
    pub user_type: String,
    pub full_name: String,
    pub email: String,
    pub active: bool,
    pub canonical_id: String,
    pub credentials: Vec<Credential>,
    pub qos: Option<Qos>,
    /// Bucket name → (bytes, objects).
    pub buckets: BTreeMap<String, (u64, u64)>,
    /// What `GET /usage` reports (`SB`, `SO` raw records), oldest first; taken by
    /// [`State::record_usage`], as HyperStore's counters are rolled up on their own schedule.
    pub readings: Vec<Reading>,
}

#[derive(Debug, Clone)]
pub struct Group {
    pub name: String,
    pub active: bool,
    /// The group's default QoS for each of its users (`userId=ALL`).
    pub user_default: Option<Qos>,
    /// The group's own limit, over all its users together (`userId=*`).
    pub limit: Option<Qos>,
}

/// One reading of the QoS usage counters: unix milliseconds, bytes, objects.
#[derive(Debug, Clone, Copy)]
pub struct Reading {
    pub at_ms: i64,
    pub bytes: u64,
    pub objects: u64,
}

/// An error as HyperStore answers it: a status and a plain-text body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HsError {
    pub status: u16,
    pub text: String,
}

impl HsError {
    pub fn new(status: u16, text: impl Into<String>) -> Self {
        Self {
            status,
            text: text.into(),
        }
    }
}

#[derive(Debug)]
pub struct State {
    pub admin: (String, String),
    pub groups: BTreeMap<String, Group>,
    /// By (group id, user id).
    pub users: BTreeMap<(String, String), User>,
    /// The per-user credential maximum (a further `PUT /user/credentials` is 403).
    pub max_credentials: usize,
    /// `s3.qos.bucketLevel`: without it the bucket counters read 0.
    pub bucket_level_qos: bool,
    /// Whether `GET /usage` exists (an older release answers 404).
    pub usage_api: bool,
    /// Injected failures: `(status, text)` answered before anything else.
    pub failures: Vec<HsError>,
    /// `(method, path?query)` of every call.
    pub calls: Vec<(String, String)>,
    pub seq: u64,
    /// The sim's clock (unix milliseconds) for dates it hands out.
    pub now_ms: i64,
}

impl State {
    pub fn new(admin: (String, String)) -> Self {
        Self {
            admin,
            groups: BTreeMap::new(),
            users: BTreeMap::new(),
            max_credentials: 5,
            bucket_level_qos: true,
            usage_api: true,
            failures: Vec::new(),
            calls: Vec::new(),
            seq: 0,
            now_ms: chrono::Utc::now().timestamp_millis(),
        }
    }

    fn next(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    pub fn group(&self, gid: &str) -> Option<&Group> {
        self.groups.get(gid)
    }

    pub fn user(&self, gid: &str, uid: &str) -> Option<&User> {
        self.users.get(&(gid.to_string(), uid.to_string()))
    }

    pub fn user_mut(&mut self, gid: &str, uid: &str) -> Option<&mut User> {
        self.users.get_mut(&(gid.to_string(), uid.to_string()))
    }

    pub fn create_group(&mut self, gid: &str, name: &str, active: bool) -> Result<(), HsError> {
        if !valid_id(gid) {
            return Err(HsError::new(400, format!("Invalid group id: {gid}")));
        }
        if self.groups.contains_key(gid) {
            return Err(HsError::new(409, format!("Group {gid} already exists")));
        }
        self.groups.insert(
            gid.into(),
            Group {
                name: name.into(),
                active,
                user_default: None,
                limit: None,
            },
        );
        Ok(())
    }

    /// Refused while the group has users.
    pub fn delete_group(&mut self, gid: &str) -> Result<(), HsError> {
        if !self.groups.contains_key(gid) {
            return Err(HsError::new(400, format!("Group {gid} does not exist")));
        }
        if self.users.keys().any(|(g, _)| g == gid) {
            return Err(HsError::new(
                400,
                format!("Group {gid} is not empty: delete its users first"),
            ));
        }
        self.groups.remove(gid);
        Ok(())
    }

    pub fn create_user(
        &mut self,
        gid: &str,
        uid: &str,
        full_name: &str,
        email: &str,
        active: bool,
    ) -> Result<(), HsError> {
        if !self.groups.contains_key(gid) {
            return Err(HsError::new(400, format!("Group {gid} does not exist")));
        }
        if !valid_id(uid) {
            return Err(HsError::new(400, format!("Invalid user id: {uid}")));
        }
        if self.user(gid, uid).is_some() {
            return Err(HsError::new(409, format!("User {uid} already exists")));
        }
        let n = self.next();
        self.users.insert(
            (gid.into(), uid.into()),
            User {
                user_type: "User".into(),
                full_name: full_name.into(),
                email: email.into(),
                active,
                canonical_id: format!("{:032x}", 0xc1_0000_0000u64 + n),
                credentials: Vec::new(),
                qos: None,
                buckets: BTreeMap::new(),
                readings: Vec::new(),
            },
        );
        Ok(())
    }

    /// Deletes the user with its credentials and (as HyperStore does) its buckets and data.
    pub fn delete_user(&mut self, gid: &str, uid: &str) -> Result<(), HsError> {
        self.users
            .remove(&(gid.to_string(), uid.to_string()))
            .map(|_| ())
            .ok_or_else(|| HsError::new(400, "User does not exist"))
    }

    /// A server-generated credential; 400 for a missing user, 403 at the maximum.
    pub fn create_credential(&mut self, gid: &str, uid: &str) -> Result<Credential, HsError> {
        let n = self.next();
        let now = self.now_ms;
        let max = self.max_credentials;
        let u = self
            .user_mut(gid, uid)
            .ok_or_else(|| HsError::new(400, "User does not exist"))?;
        if u.credentials.len() >= max {
            return Err(HsError::new(
                403,
                format!("Maximum number of credentials ({max}) reached"),
            ));
        }
        let c = Credential {
            access_key: format!("{:020X}", 0x00AA_0000_0000_0000u64 + n)
                .chars()
                .take(20)
                .collect(),
            secret_key: format!("sk{n:038}"),
            create_date: now,
            active: true,
        };
        u.credentials.push(c.clone());
        Ok(c)
    }

    /// The user owning `access_key`.
    pub fn owner_of(&self, access_key: &str) -> Option<(&(String, String), &User)> {
        self.users
            .iter()
            .find(|(_, u)| u.credentials.iter().any(|c| c.access_key == access_key))
    }

    pub fn set_credential_active(&mut self, access_key: &str, active: bool) -> Result<(), HsError> {
        for u in self.users.values_mut() {
            if let Some(c) = u
                .credentials
                .iter_mut()
                .find(|c| c.access_key == access_key)
            {
                c.active = active;
                return Ok(());
            }
        }
        Err(HsError::new(400, "Credential does not exist"))
    }

    pub fn delete_credential(&mut self, access_key: &str) -> Result<(), HsError> {
        for u in self.users.values_mut() {
            if let Some(i) = u
                .credentials
                .iter()
                .position(|c| c.access_key == access_key)
            {
                u.credentials.remove(i);
                return Ok(());
            }
        }
        Err(HsError::new(400, "Credential does not exist"))
    }

    /// Whether S3 takes this key pair: an active credential of an active user in an active
    /// group.
    pub fn key_works(&self, access_key: &str, secret: &str) -> bool {
        self.owner_of(access_key).is_some_and(|((g, _), u)| {
            u.active
                && self.groups.get(g).is_some_and(|g| g.active)
                && u.credentials
                    .iter()
                    .any(|c| c.access_key == access_key && c.secret_key == secret && c.active)
        })
    }

    /// What a user stores (every bucket), for quota checks on writes.
    fn stored(u: &User) -> (u64, u64) {
        u.buckets
            .values()
            .fold((0, 0), |(b, o), (bb, oo)| (b + bb, o + oo))
    }

    /// The QoS in force for a user: its own, else its group's default.
    pub fn qos_of(&self, gid: &str, uid: &str) -> Qos {
        self.user(gid, uid)
            .and_then(|u| u.qos.clone())
            .or_else(|| self.group(gid).and_then(|g| g.user_default.clone()))
            .unwrap_or_else(Qos::unlimited)
    }

    /// A usage counter pass: every user's totals as of now.
    pub fn record_usage(&mut self) {
        let at_ms = self.now_ms;
        for u in self.users.values_mut() {
            let (bytes, objects) = Self::stored(u);
            u.readings.push(Reading {
                at_ms,
                bytes,
                objects,
            });
        }
    }

    /// An S3 write of `bytes` in one object, refused past the hard limits (the status and
    /// code of HyperStore's refusal are unverified; 403 here).
    pub fn put_object(
        &mut self,
        gid: &str,
        uid: &str,
        bucket: &str,
        bytes: u64,
    ) -> Result<(), HsError> {
        let qos = self.qos_of(gid, uid);
        let u = self
            .user_mut(gid, uid)
            .ok_or_else(|| HsError::new(400, "User does not exist"))?;
        let (b, o) = Self::stored(u);
        let kib = (b + bytes).div_ceil(1024) as i64;
        if (qos.storage_kib.0 >= 0 && kib > qos.storage_kib.0)
            || (qos.objects.0 >= 0 && (o + 1) as i64 > qos.objects.0)
        {
            return Err(HsError::new(403, "QuotaExceeded"));
        }
        let e = u.buckets.entry(bucket.to_string()).or_insert((0, 0));
        e.0 += bytes;
        e.1 += 1;
        Ok(())
    }
}

/// HyperStore ids: letters, digits, `_`, `-`, `.` (the sim's strict reading; unverified).
pub fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}
