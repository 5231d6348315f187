//! `site-agent adopt`: takes over the users an older plugin made, without a
//! customer losing a working key. For each resource whose `backend_id` names an existing user
//! that carries no stamp of ours:
//! 1. ownership is recorded in the agent's database (the proof for that uid and that resource
//!    only), and stamped on the user where the backend can store a stamp on an existing user;
//! 2. the user's existing keys are reported to Waldur as resource API keys, so the customer's
//!    working credential appears there;
//! 3. only then the resource's metadata is rewritten: `s3_credentials` goes, the agent's keys
//!    (endpoint, quotas, storage summary) come;
//! 4. quotas stay as they are, unless `--apply-quotas` applies the resource's ceilings.
//!
//! Users stamped for another resource are refused. No key is ever removed. Every step is
//! idempotent: a run cut short is finished by running it again.

use crate::config::{Config, Offering};
use crate::orders::input::{quota_spec, resource_ceilings};
use crate::orders::metadata::{merged, quota_metadata, storage_summary};
use crate::retry::RetryPolicy;
use crate::store::Store;
use crate::waldur::{Resource, WaldurClient, WaldurId};
use serde_json::{Map, json};
use site_agent_sdk::{ErrorKind, StorageBackend, Tenant, is_agent_stamp};
use std::collections::HashSet;
use std::sync::Arc;

/// Resources that may be adopted: live ones.
const ADOPTABLE_STATES: [&str; 3] = ["OK", "Erred", "Updating"];

#[derive(Debug, Clone, Copy, Default)]
pub struct AdoptOptions {
    /// Print the plan; change nothing.
    pub dry_run: bool,
    /// Apply the resource's ordered ceilings as quotas (else the user's quotas stay).
    pub apply_quotas: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Adopted (in a dry run: would be), with what was (would be) done.
    Adopted(Vec<String>),
    /// Ours already: stamped for this resource by this agent.
    AlreadyOurs,
    /// Nothing to adopt.
    Skipped(String),
    /// Not taken over, and why.
    Refused(String),
    /// Cut short; running `adopt` again finishes it.
    Failed(String),
}

#[derive(Debug, Clone)]
pub struct Planned {
    pub offering: String,
    pub resource: String,
    pub name: String,
    pub uid: String,
    pub verdict: Verdict,
}

/// Adopts (or plans, in a dry run) every offering's resources.
pub async fn adopt(
    config: &Config,
    store: &Store,
    options: AdoptOptions,
    retry: RetryPolicy,
    user_agent: &str,
) -> Vec<Planned> {
    let mut out = Vec::new();
    for offering in &config.offerings {
        let plan = |verdict: Verdict| Planned {
            offering: offering.name.clone(),
            resource: String::new(),
            name: String::new(),
            uid: String::new(),
            verdict,
        };
        let waldur = match WaldurClient::new(offering, retry, user_agent) {
            Ok(w) => w,
            Err(e) => {
                out.push(plan(Verdict::Failed(e.message)));
                continue;
            }
        };
        let backend = match crate::backends::build(offering.backend.as_ref(), retry) {
            Ok(b) => b,
            Err(e) => {
                out.push(plan(Verdict::Failed(e.to_string())));
                continue;
            }
        };
        let key = offering.offering_uuid.simple().to_string();
        let resources = match waldur.list_resources(&key, &ADOPTABLE_STATES).await {
            Ok(r) => r,
            Err(e) => {
                out.push(plan(Verdict::Failed(e.message)));
                continue;
            }
        };
        let mut seen = HashSet::new();
        let shared: HashSet<String> = resources
            .iter()
            .filter_map(|r| r.backend_id())
            .filter(|uid| !seen.insert(uid.to_string()))
            .map(str::to_string)
            .collect();
        let adopter = Adopter {
            offering,
            waldur: &waldur,
            backend,
            store,
            options,
            shared,
        };
        for r in resources {
            let verdict = adopter.one(&r).await;
            out.push(Planned {
                offering: offering.name.clone(),
                resource: r.uuid.to_string(),
                name: r.name.clone(),
                uid: r.backend_id().unwrap_or_default().to_string(),
                verdict,
            });
        }
    }
    out
}

struct Adopter<'a> {
    offering: &'a Offering,
    waldur: &'a WaldurClient,
    backend: Arc<dyn StorageBackend>,
    store: &'a Store,
    options: AdoptOptions,
    /// uids named by more than one resource of the offering.
    shared: HashSet<String>,
}

impl Adopter<'_> {
    async fn one(&self, r: &Resource) -> Verdict {
        let Some(uid) = r.backend_id() else {
            return Verdict::Skipped("no backend_id: nothing was made for it".into());
        };
        let tenant = match Tenant::new(uid, &r.uuid) {
            Ok(t) => t,
            Err(e) => return Verdict::Refused(e.to_string()),
        };
        let user = match self.backend.user(uid).await {
            Ok(Some(u)) => u,
            Ok(None) => return Verdict::Skipped(format!("no S3 user {uid:?} on the backend")),
            Err(e) => return Verdict::Failed(e.to_string()),
        };
        // One user belongs to one resource: a uid recorded for another resource, or named by
        // two resources' backend_id, is nobody's to take.
        match self.store.adopter_of(uid).await {
            Ok(Some(other)) if other != r.uuid.as_str() => {
                return Verdict::Refused(format!(
                    "S3 user {uid:?} is already recorded as resource {other}'s"
                ));
            }
            Ok(_) => {}
            Err(e) => return Verdict::Failed(e.to_string()),
        }
        if self.shared.contains(uid) {
            return Verdict::Refused(format!(
                "S3 user {uid:?} is the backend_id of more than one resource; fix the backend_ids in Waldur first"
            ));
        }
        match user.stamp.as_deref() {
            Some(s) if tenant.owns(s) => return Verdict::AlreadyOurs,
            Some(s) if is_agent_stamp(s) => {
                return Verdict::Refused(format!(
                    "S3 user {uid:?} is stamped for another resource; not taken over"
                ));
            }
            _ => {}
        }
        match self.take_over(r, tenant.with_record(true)).await {
            Ok(steps) => Verdict::Adopted(steps),
            Err(v) => v,
        }
    }

    /// The adoption proper (planned only, in a dry run).
    async fn take_over(&self, r: &Resource, tenant: Tenant) -> Result<Vec<String>, Verdict> {
        let dry = self.options.dry_run;
        let would = |s: String| if dry { format!("would {s}") } else { s };
        let failed = |what: &str, e: &dyn std::fmt::Display| {
            Verdict::Failed(format!("{what}: {e}; run adopt again to finish"))
        };
        let mut steps = Vec::new();
        // The user's keys with their secrets, before anything changes: a backend that cannot
        // read them back could not show the customer's key in Waldur.
        let keys = match self.backend.existing_keys(&tenant).await {
            Ok(k) => k,
            Err(e) if e.kind() == ErrorKind::Unsupported => {
                return Err(Verdict::Refused(format!(
                    "{e}: its customer's key could not be shown in Waldur"
                )));
            }
            Err(e) => return Err(failed("reading the user's keys", &e)),
        };
        let held: HashSet<String> = match self.waldur.list_api_keys(&r.uuid).await {
            Ok(list) => list.into_iter().filter_map(|k| k.client_id).collect(),
            Err(e) => return Err(failed("reading Waldur's API keys", &e)),
        };
        let resource = WaldurId::new(&r.uuid);
        let spec = if self.options.apply_quotas {
            let q =
                resource_ceilings(r).map_err(|e| Verdict::Refused(format!("its ceilings: {e}")))?;
            Some((q, quota_spec(self.offering, q).map_err(Verdict::Refused)?))
        } else {
            None
        };

        if keys.is_empty() {
            steps.push("report no key: the user has none".into());
        }
        for k in &keys {
            if held.contains(&k.access_key) {
                steps.push(format!(
                    "keep key {} (Waldur shows it already)",
                    k.access_key
                ));
                continue;
            }
            steps.push(would(format!("report key {} to Waldur", k.access_key)));
            if dry {
                continue;
            }
            let secret = secrecy::ExposeSecret::expose_secret(&k.secret_key);
            if let Err(e) = self
                .waldur
                .report_api_key(&r.uuid, &k.access_key, secret)
                .await
            {
                // A lost answer to a report that landed: Waldur shows it now.
                let landed = self.waldur.list_api_keys(&r.uuid).await.is_ok_and(|l| {
                    l.iter()
                        .any(|x| x.client_id.as_deref() == Some(&k.access_key))
                });
                if !landed {
                    return Err(failed("reporting a key to Waldur", &e));
                }
            }
        }
        let applied = match &spec {
            Some((q, spec)) => {
                steps.push(would(format!("apply the ordered quota {spec:?}")));
                if dry {
                    None
                } else {
                    let applied = self
                        .backend
                        .apply_quota(&tenant, spec)
                        .await
                        .map_err(|e| failed("applying the quota", &e))?;
                    self.store
                        .set_ceilings(&resource, (*q).into())
                        .await
                        .map_err(|e| failed("recording the ceilings", &e))?;
                    Some(applied)
                }
            }
            None => {
                steps.push("keep the user's quotas as they are".into());
                None
            }
        };
        // Only now, with the keys in Waldur, may the old credentials leave the metadata.
        let had_credentials = r
            .backend_metadata
            .as_ref()
            .is_some_and(|m| m.contains_key("s3_credentials"));
        steps.push(would(format!(
            "publish the resource's metadata{}",
            if had_credentials {
                " (s3_credentials removed)"
            } else {
                ""
            }
        )));
        if !dry {
            let md = self
                .metadata(&tenant, applied)
                .await
                .map_err(|e| failed("reading the user for its metadata", &e))?;
            let md = merged(r.backend_metadata.as_ref(), md);
            self.waldur
                .set_resource_backend_metadata(&r.uuid, &md)
                .await
                .map_err(|e| failed("publishing the metadata", &e))?;
        }
        // Last: until the keys are in Waldur and the metadata is rewritten, nothing else may
        // treat the user as the resource's (a reconcile pass would drop `s3_credentials`).
        steps.push(would(
            "record it as this resource's in the agent's database".into(),
        ));
        if !dry {
            self.store
                .record_adoption(&resource, &tenant.uid, spec.is_some())
                .await
                .map_err(|e| Verdict::Refused(format!("recording the adoption: {e}")))?;
            match self.backend.write_stamp(&tenant).await {
                Ok(true) => steps.push("stamp the user".into()),
                Ok(false) => {}
                Err(e) => return Err(failed("stamping the user", &e)),
            }
        }
        Ok(steps)
    }

    async fn metadata(
        &self,
        tenant: &Tenant,
        applied: Option<site_agent_sdk::AppliedQuota>,
    ) -> Result<Map<String, serde_json::Value>, site_agent_sdk::BackendError> {
        let info = self.backend.connection_info();
        let mut md = Map::new();
        md.insert("s3_endpoint".into(), json!(info.s3_endpoint));
        md.insert("s3_region".into(), json!(info.s3_region));
        md.insert("s3_user".into(), json!(tenant.uid));
        md.insert("backend_type".into(), json!(self.backend.kind()));
        let applied = match applied {
            Some(a) => a,
            None => self.backend.quota(&tenant.uid).await?,
        };
        quota_metadata(&mut md, &applied);
        storage_summary(&mut md, &self.backend.usage(tenant).await?);
        Ok(md)
    }
}
