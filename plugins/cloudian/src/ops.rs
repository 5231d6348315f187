//! HyperStore in the vendor-neutral shape. A resource is a user in a group (the uid is
//! `<group>.<user>`): the group is the Waldur customer's (`group_prefix` + its slug, made on
//! demand, as the CloudStack connector maps a domain to a group) or one fixed group. The
//! ownership stamp is the user's `emailAddr`. Credentials are made by HyperStore (`PUT
//! /user/credentials`, no body), up to the cluster's maximum. The ceiling is the user's hard
//! QoS limit, in KiB rounded down (never above the order) and objects. Usage is HyperStore's
//! own counters (`GET /usage`, `SB`/`SO`), with the time they were taken.

use crate::client::{CloudianClient, is_status};
use crate::settings::{GroupMapping, valid_group_id};
use reqwest::Method;
use secrecy::SecretString;
use serde_json::{Value, json};
use site_agent_sdk::naming::NameParts;
use site_agent_sdk::vendor::{VendorOps, VendorUsage, VendorUser};
use site_agent_sdk::{
    AccessKeyOrigin, AppliedQuota, BackendError, BucketModel, BucketUsage, Capabilities,
    Enforcement, ErrorKind, KeyPair, KeyPolicy, OptionCaps, QuotaCaps, QuotaScope, QuotaSpec,
    QuotaState, RotationMode, Rounding, ScopeDims, ScopeQuota, SecretOrigin, StampPlace,
    Suspension, validate_identifier,
};

/// The marker in the name of a group the agent made (only those it ever removes).
pub const GROUP_NAME_PREFIX: &str = "waldur: ";

pub fn capabilities(max_credentials: u32) -> Capabilities {
    Capabilities {
        quota: QuotaCaps {
            user: Some(ScopeDims {
                bytes: true,
                objects: true,
            }),
            // HyperStore has no bucket quota (the CloudStack driver's setBucketQuota throws).
            bucket: None,
            byte_granularity: 1024,
            rounding: Rounding::Down,
            // QoS counters are rolled up apart from the write path (unverified how late).
            enforcement: Enforcement::Lagging,
        },
        keys: KeyPolicy {
            secret: SecretOrigin::Backend,
            access_key: AccessKeyOrigin::Backend,
            // A user can make its own keys in the CMC: the reconcile pass removes them.
            tenant_can_issue: true,
            max_keys: Some(max_credentials),
            rotation: RotationMode::AddThenRemove,
        },
        buckets: BucketModel::Owned,
        stamp: StampPlace::Email,
        suspend: true,
        // `DELETE /user` removes the user's buckets and data with it (assumed, see README).
        purge: true,
        metered_series: false,
        usage_precision: 1,
        options: OptionCaps::NONE,
    }
}

/// Storage (KiB) and object limits, (hard, warning); -1 = unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub kib: (i64, i64),
    pub objects: (i64, i64),
}

pub struct CloudianOps {
    pub client: CloudianClient,
    pub groups: GroupMapping,
    pub remove_empty_groups: bool,
    pub group_limit: (Option<u64>, Option<u64>),
    pub caps: Capabilities,
}

/// `(group, user)` of a uid.
pub fn split(uid: &str) -> Result<(&str, &str), BackendError> {
    let uid = validate_identifier("S3 user id", uid)?;
    match uid.split_once('.') {
        Some((g, u)) if valid_group_id(g) && !u.is_empty() => Ok((g, u)),
        _ => Err(BackendError::invalid(format!(
            "S3 user id {uid:?} is not <group>.<user> (a HyperStore user lives in a group)"
        ))),
    }
}

/// A slug as a group id: lower case, `[a-z0-9_-]`.
fn group_of_slug(prefix: &str, slug: &str) -> Result<String, BackendError> {
    let clean: String = slug
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let gid = format!("{prefix}{}", clean.trim_matches('-'));
    if clean.trim_matches('-').is_empty() || !valid_group_id(&gid) {
        return Err(BackendError::invalid(format!(
            "customer slug {slug:?} cannot name a HyperStore group (at most 64 of a-z, 0-9, '_', '-' with the prefix)"
        )));
    }
    Ok(gid)
}

/// Whether a HyperStore flag reads "off" (`"false"`, any case, or a JSON `false`).
fn is_off(v: &Value) -> bool {
    match v {
        Value::Bool(b) => !b,
        Value::String(s) => s.eq_ignore_ascii_case("false"),
        _ => false,
    }
}

fn text(v: &Value, k: &str) -> String {
    v[k].as_str().unwrap_or_default().to_string()
}

/// A number HyperStore may send as a string.
fn number(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

impl CloudianOps {
    /// `(group, user)` of a uid whose group the offering's mapping allows (a recorded
    /// `backend_id` naming any other group is refused, never acted on).
    fn split<'a>(&self, uid: &'a str) -> Result<(&'a str, &'a str), BackendError> {
        let (gid, user) = split(uid)?;
        let allowed = match &self.groups {
            GroupMapping::Fixed(g) => gid == g,
            GroupMapping::PerCustomer { prefix } => gid.starts_with(prefix.as_str()),
        };
        if !allowed {
            return Err(BackendError::invalid(format!(
                "S3 user {uid:?} is in HyperStore group {gid:?}, which this offering's group mapping does not use"
            )));
        }
        Ok((gid, user))
    }

    async fn get_user(&self, gid: &str, uid: &str) -> Result<Option<Value>, BackendError> {
        self.client
            .get(
                "HyperStore get user",
                "/user",
                &[("userId", uid), ("groupId", gid)],
            )
            .await
    }

    /// Writes the user back with `change` applied to its current record (a partial update
    /// could blank what it leaves out: unverified, so the whole record goes).
    async fn update_user(
        &self,
        gid: &str,
        uid: &str,
        change: impl FnOnce(&mut Value),
    ) -> Result<(), BackendError> {
        let Some(mut u) = self.get_user(gid, uid).await? else {
            return Err(BackendError::not_found(format!(
                "HyperStore user {uid:?} of group {gid:?} does not exist"
            )));
        };
        change(&mut u);
        self.client
            .call(
                "HyperStore update user",
                Method::POST,
                "/user",
                &[],
                Some(&u),
            )
            .await
            .map(|_| ())
    }

    /// The group, made if missing (with the configured limit); a group made meanwhile by
    /// another call is fine.
    async fn ensure_group(&self, gid: &str) -> Result<(), BackendError> {
        let found = self
            .client
            .get("HyperStore get group", "/group", &[("groupId", gid)])
            .await?;
        if let Some(g) = found {
            if is_off(&g["active"]) {
                return Err(BackendError::invalid(format!(
                    "HyperStore group {gid:?} is disabled; enable it in the CMC first"
                )));
            }
            // A limit a cut-short create never wrote, or one the operator changed since.
            if text(&g, "groupName").starts_with(GROUP_NAME_PREFIX) {
                self.keep_group_limit(gid).await?;
            }
            return Ok(());
        }
        let body = json!({"groupId": gid, "groupName": format!("{GROUP_NAME_PREFIX}{gid}"),
            "active": "true", "ldapEnabled": false, "s3endpointshttp": ["ALL"],
            "s3endpointshttps": ["ALL"], "s3websiteendpoints": ["ALL"]});
        match self
            .client
            .call(
                "HyperStore create group",
                Method::PUT,
                "/group",
                &[],
                Some(&body),
            )
            .await
        {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => return Ok(()),
            Err(e) => return Err(e),
        }
        tracing::info!(group = gid, "HyperStore group made");
        self.keep_group_limit(gid).await
    }

    /// The configured limit over a group the agent made, written where it differs.
    async fn keep_group_limit(&self, gid: &str) -> Result<(), BackendError> {
        let (gb, objects) = self.group_limit;
        if gb.is_none() && objects.is_none() {
            return Ok(());
        }
        let kib = match gb {
            None => -1,
            Some(g) => g
                .checked_mul(1 << 20)
                .and_then(|k| i64::try_from(k).ok())
                .ok_or_else(|| {
                    BackendError::invalid(format!("a group limit of {g} GB is too large"))
                })?,
        };
        let want = Limits {
            kib: (kib, -1),
            objects: (objects.map_or(-1, |o| o as i64), -1),
        };
        if self.limits(gid, "*").await? != want {
            self.write_limits(gid, "*", &want).await?;
        }
        Ok(())
    }

    async fn write_limits(&self, gid: &str, uid: &str, l: &Limits) -> Result<(), BackendError> {
        let v = [l.kib.0, l.kib.1, l.objects.0, l.objects.1].map(|n| n.to_string());
        self.client
            .call(
                "HyperStore set QoS limits",
                Method::POST,
                "/qos/limits",
                &[
                    ("userId", uid),
                    ("groupId", gid),
                    ("hlStorageQuotaKBytes", &v[0]),
                    ("wlStorageQuotaKBytes", &v[1]),
                    ("hlStorageQuotaCount", &v[2]),
                    ("wlStorageQuotaCount", &v[3]),
                ],
                None,
            )
            .await
            .map(|_| ())
    }

    /// The storage and object limits in force for `uid` (`*`: the group's own), hard and
    /// warning; -1 = unlimited. Newer servers suffix the levels (`_LH`, `_LW`); older ones
    /// name the hard level without a suffix.
    async fn limits(&self, gid: &str, uid: &str) -> Result<Limits, BackendError> {
        let v = self
            .client
            .get(
                "HyperStore get QoS limits",
                "/qos/limits",
                &[("userId", uid), ("groupId", gid)],
            )
            .await?
            .unwrap_or(Value::Null);
        let find = |types: &[&str]| {
            v["qosLimitList"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|l| types.contains(&l["type"].as_str().unwrap_or_default()))
                .and_then(|l| number(&l["value"]))
                .unwrap_or(-1)
        };
        Ok(Limits {
            kib: (
                find(&["STORAGE_QUOTA_KBYTES_LH", "STORAGE_QUOTA_KBYTES"]),
                find(&["STORAGE_QUOTA_KBYTES_LW"]),
            ),
            objects: (
                find(&["STORAGE_QUOTA_COUNT_LH", "STORAGE_QUOTA_COUNT"]),
                find(&["STORAGE_QUOTA_COUNT_LW"]),
            ),
        })
    }

    /// The user's credentials as HyperStore lists them (204: none).
    async fn credentials(&self, gid: &str, uid: &str) -> Result<Vec<Value>, BackendError> {
        let list = self
            .client
            .get(
                "HyperStore list credentials",
                "/user/credentials/list",
                &[("userId", uid), ("groupId", gid)],
            )
            .await?;
        Ok(list.and_then(|v| v.as_array().cloned()).unwrap_or_default())
    }

    /// The user's buckets with HyperStore's bucket counters (0 without bucket-level QoS).
    async fn bucket_usage(&self, gid: &str, uid: &str) -> Result<Vec<BucketUsage>, BackendError> {
        let v = self
            .client
            .get(
                "HyperStore bucket usage",
                "/system/bucketusage",
                &[("groupId", gid), ("userId", uid)],
            )
            .await?
            .unwrap_or(Value::Null);
        let mut out = Vec::new();
        for row in v.as_array().into_iter().flatten() {
            for b in row["buckets"].as_array().into_iter().flatten() {
                out.push(BucketUsage {
                    name: text(b, "bucketName"),
                    // byteCount counts metadata and can dip below zero for a while (the
                    // CloudStack driver clamps it too).
                    bytes: number(&b["byteCount"]).unwrap_or(0).max(0) as u64,
                    objects: number(&b["objectCount"]).unwrap_or(0).max(0) as u64,
                });
            }
        }
        Ok(out)
    }

    /// The newest raw counter of `operation` (`SB` bytes, `SO` objects) within the last day:
    /// `(value, unix seconds)`. Raw queries may span at most 24 hours.
    async fn counter(
        &self,
        gid: &str,
        uid: &str,
        operation: &str,
    ) -> Result<Option<(u64, i64)>, BackendError> {
        let now = chrono::Utc::now();
        let fmt = |t: chrono::DateTime<chrono::Utc>| t.format("%Y%m%d%H%M").to_string();
        let (start, end) = (
            fmt(now - chrono::Duration::hours(23)),
            fmt(now + chrono::Duration::minutes(1)),
        );
        let id = format!("{gid}|{uid}");
        let v = self
            .client
            .get(
                "HyperStore usage",
                "/usage",
                &[
                    ("id", &id),
                    ("operation", operation),
                    ("startTime", &start),
                    ("endTime", &end),
                    ("granularity", "raw"),
                    ("reversed", "true"),
                ],
            )
            .await?
            .unwrap_or(Value::Null);
        let newest = v
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| Some((number(&r["value"])?, number(&r["timestamp"])?)))
            // The newest; of records with the same time, the first (asked newest first).
            .reduce(|best, r| if r.1 > best.1 { r } else { best });
        Ok(newest.map(|(v, ms)| (v.max(0) as u64, ms / 1000)))
    }

    async fn group_is_ours_and_empty(&self, gid: &str) -> Result<bool, BackendError> {
        let Some(g) = self
            .client
            .get("HyperStore get group", "/group", &[("groupId", gid)])
            .await?
        else {
            return Ok(false);
        };
        if !text(&g, "groupName").starts_with(GROUP_NAME_PREFIX) {
            return Ok(false);
        }
        let users = self
            .client
            .get(
                "HyperStore list users",
                "/user/list",
                &[
                    ("groupId", gid),
                    ("userType", "all"),
                    ("userStatus", "all"),
                    ("limit", "1"),
                ],
            )
            .await?;
        Ok(users
            .and_then(|u| u.as_array().map(Vec::is_empty))
            .unwrap_or(true))
    }
}

#[async_trait::async_trait]
impl VendorOps for CloudianOps {
    fn kind(&self) -> &'static str {
        "cloudian"
    }

    fn capabilities(&self) -> Capabilities {
        self.caps.clone()
    }

    async fn ping(&self) -> Result<(), BackendError> {
        self.client.reachable().await
    }

    fn scoped_uid(&self, parts: &NameParts<'_>, uid: String) -> Result<String, BackendError> {
        let gid = match &self.groups {
            GroupMapping::Fixed(g) => g.clone(),
            GroupMapping::PerCustomer { prefix } => {
                let slug = parts
                    .customer_slug
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| {
                        BackendError::invalid(
                            "the order names no customer slug to map to a HyperStore group",
                        )
                    })?;
                group_of_slug(prefix, slug)?
            }
        };
        Ok(format!("{gid}.{uid}"))
    }

    /// The group first (made on demand), then the user with the stamp as its e-mail.
    async fn create_user(&self, uid: &str, name: &str, stamp: &str) -> Result<(), BackendError> {
        let (gid, user) = self.split(uid)?;
        self.ensure_group(gid).await?;
        let body = json!({"userId": user, "groupId": gid, "userType": "User", "fullName": name,
            "emailAddr": stamp, "active": "true"});
        self.client
            .call(
                "HyperStore create user",
                Method::PUT,
                "/user",
                &[],
                Some(&body),
            )
            .await
            .map(|_| ())
    }

    async fn write_stamp(&self, uid: &str, stamp: &str) -> Result<(), BackendError> {
        let (gid, user) = self.split(uid)?;
        self.update_user(gid, user, |u| u["emailAddr"] = json!(stamp))
            .await
    }

    /// The user's active credentials with their secrets (HyperStore lists them).
    async fn existing_keys(&self, uid: &str) -> Result<Vec<KeyPair>, BackendError> {
        let (gid, user) = self.split(uid)?;
        Ok(self
            .credentials(gid, user)
            .await?
            .iter()
            .filter(|c| c["active"] != json!(false))
            .map(|c| KeyPair {
                access_key: text(c, "accessKey"),
                secret_key: SecretString::from(text(c, "secretKey")),
            })
            .collect())
    }

    async fn user(&self, uid: &str) -> Result<Option<VendorUser>, BackendError> {
        let (gid, user) = self.split(uid)?;
        let Some(u) = self.get_user(gid, user).await? else {
            return Ok(None);
        };
        let access_keys = self
            .credentials(gid, user)
            .await?
            .iter()
            .map(|c| text(c, "accessKey"))
            .collect();
        let email = text(&u, "emailAddr");
        Ok(Some(VendorUser {
            uid: uid.to_string(),
            name: text(&u, "fullName"),
            stamp: (!email.is_empty()).then_some(email),
            // HyperStore writes "true"/"false" (older tools "True"/"False").
            suspension: Suspension::of(is_off(&u["active"])),
            access_keys,
        }))
    }

    /// Refused while the user owns buckets, unless `purge` (then `DELETE /user` takes the
    /// data with it). A group the agent made goes with its last user where configured.
    async fn delete_user(&self, uid: &str, purge: bool) -> Result<(), BackendError> {
        let (gid, user) = self.split(uid)?;
        // HyperStore answers a missing user with 400: look first.
        if self.get_user(gid, user).await?.is_none() {
            return Err(BackendError::not_found(format!(
                "HyperStore user {user:?} does not exist"
            )));
        }
        if !purge && !self.bucket_usage(gid, user).await?.is_empty() {
            return Err(BackendError::not_empty(format!(
                "HyperStore user {user:?} owns buckets"
            )));
        }
        self.client
            .call(
                "HyperStore delete user",
                Method::DELETE,
                "/user",
                &[("userId", user), ("groupId", gid)],
                None,
            )
            .await?;
        if self.remove_empty_groups
            && matches!(self.groups, GroupMapping::PerCustomer { .. })
            && self.group_is_ours_and_empty(gid).await?
        {
            match self
                .client
                .call(
                    "HyperStore delete group",
                    Method::DELETE,
                    "/group",
                    &[("groupId", gid)],
                    None,
                )
                .await
            {
                Ok(_) => tracing::info!(group = gid, "removed the empty HyperStore group"),
                // A user made meanwhile keeps it: nothing lost.
                Err(e) => tracing::info!(group = gid, error = %e, "the HyperStore group stays"),
            }
        }
        Ok(())
    }

    async fn set_suspended(&self, uid: &str, suspended: bool) -> Result<(), BackendError> {
        let (gid, user) = self.split(uid)?;
        let active = if suspended { "false" } else { "true" };
        self.update_user(gid, user, |u| u["active"] = json!(active))
            .await
    }

    /// HyperStore makes the pair (the proposal is ignored); 403 at the credential maximum.
    async fn issue_key(&self, uid: &str, _proposal: &KeyPair) -> Result<KeyPair, BackendError> {
        let (gid, user) = self.split(uid)?;
        let made = self
            .client
            .call(
                "HyperStore create credentials",
                Method::PUT,
                "/user/credentials",
                &[("userId", user), ("groupId", gid)],
                None,
            )
            .await
            .map_err(|e| {
                if is_status(&e, 403) {
                    BackendError::new(
                        ErrorKind::LimitReached,
                        format!(
                            "HyperStore user {user:?} holds the most credentials the cluster allows"
                        ),
                    )
                } else {
                    e
                }
            })?
            .ok_or_else(|| {
                BackendError::unexpected("HyperStore made credentials but sent none back")
            })?;
        let (ak, sk) = (text(&made, "accessKey"), text(&made, "secretKey"));
        if ak.is_empty() || sk.is_empty() {
            return Err(BackendError::unexpected(
                "HyperStore's new credentials lack a key",
            ));
        }
        Ok(KeyPair {
            access_key: ak,
            secret_key: SecretString::from(sk),
        })
    }

    /// Deactivated first (it stops working at once), then deleted.
    async fn delete_key(&self, uid: &str, access_key: &str) -> Result<(), BackendError> {
        self.split(uid)?;
        let found = self
            .client
            .get(
                "HyperStore get credentials",
                "/user/credentials",
                &[("accessKey", access_key)],
            )
            .await?;
        if found.is_none() {
            return Err(BackendError::not_found(format!(
                "no credentials {access_key}"
            )));
        }
        self.client
            .call(
                "HyperStore deactivate credentials",
                Method::POST,
                "/user/credentials/status",
                &[("accessKey", access_key), ("isActive", "false")],
                None,
            )
            .await?;
        self.client
            .call(
                "HyperStore delete credentials",
                Method::DELETE,
                "/user/credentials",
                &[("accessKey", access_key)],
                None,
            )
            .await
            .map(|_| ())
    }

    /// The hard limits: KiB rounded down (never above the order; below 1 KiB refused) and
    /// objects. A dimension not ordered, and the warning levels, stay as they are (HyperStore
    /// takes every limit in one call, so they are read and sent back).
    async fn set_quotas(&self, uid: &str, quota: &QuotaSpec) -> Result<(), BackendError> {
        let (gid, user) = self.split(uid)?;
        let mut l = self.limits(gid, user).await?;
        match quota.max_bytes {
            Some(b) if b < 1024 => {
                return Err(BackendError::invalid(format!(
                    "a storage ceiling of {b} bytes is below HyperStore's smallest quota (1 KiB)"
                )));
            }
            Some(b) => l.kib.0 = (b / 1024) as i64,
            None => {}
        }
        if let Some(o) = quota.max_objects {
            l.objects.0 = o as i64;
        }
        self.write_limits(gid, user, &l).await
    }

    async fn quotas(&self, uid: &str) -> Result<AppliedQuota, BackendError> {
        let (gid, user) = self.split(uid)?;
        let l = self.limits(gid, user).await?;
        let (kib, objects) = (l.kib.0, l.objects.0);
        Ok(AppliedQuota(vec![ScopeQuota {
            scope: QuotaScope::User,
            state: QuotaState {
                enabled: kib >= 0 || objects >= 0,
                max_size_bytes: (kib >= 0).then(|| kib as u64 * 1024),
                max_objects: (objects >= 0).then_some(objects as u64),
            },
        }]))
    }

    async fn buckets(&self, uid: &str) -> Result<Vec<BucketUsage>, BackendError> {
        let (gid, user) = self.split(uid)?;
        self.bucket_usage(gid, user).await
    }

    /// HyperStore's own counters (`SB`, `SO`) with the time they were taken; where none was
    /// taken in the last day, the bucket counters (live; they need `s3.qos.bucketLevel`).
    async fn metered(&self, uid: &str) -> Result<VendorUsage, BackendError> {
        let (gid, user) = self.split(uid)?;
        let buckets = self.bucket_usage(gid, user).await?;
        // A release without `/usage` (or a refusal) is no reason to bill nothing: the bucket
        // counters serve. A transient failure waits for the next cycle.
        let counters = async {
            Ok::<_, BackendError>((
                self.counter(gid, user, "SB").await?,
                self.counter(gid, user, "SO").await?,
            ))
        }
        .await;
        let (bytes, objects) = match counters {
            Ok(c) => c,
            Err(e) if e.is_retryable() => return Err(e),
            Err(e) => {
                tracing::warn!(uid, error = %e, "HyperStore usage counters unreadable; billing the bucket counters");
                (None, None)
            }
        };
        Ok(match (bytes, objects) {
            (Some((b, tb)), Some((o, to))) => VendorUsage {
                buckets,
                totals: Some((b, o)),
                sampled_at: Some(tb.min(to)),
            },
            _ => VendorUsage {
                buckets,
                ..VendorUsage::default()
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_carry_their_group() {
        assert_eq!(
            split("waldur-acme.waldur-res").unwrap(),
            ("waldur-acme", "waldur-res")
        );
        assert_eq!(split("g.u.v").unwrap(), ("g", "u.v"));
        for bad in ["nogroup", ".u", "g.", "../x"] {
            assert!(split(bad).is_err(), "{bad}");
        }
        assert_eq!(
            group_of_slug("waldur-", "ACME Corp.").unwrap(),
            "waldur-acme-corp"
        );
        assert!(group_of_slug("waldur-", "---").is_err());
        assert!(group_of_slug("waldur-", &"x".repeat(64)).is_err());
    }
}
