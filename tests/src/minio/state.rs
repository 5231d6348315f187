//! minio-sim's model: users, canned policies, service accounts, buckets with objects, tags
//! and quotas, and the usage scanner's last picture. Authorisation as MinIO does it: root may
//! do anything; anyone else by their policies (Deny wins), a service account by its parent's
//! (none while the parent is disabled), intersected with its own embedded policy.

use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct User {
    pub secret: String,
    pub enabled: bool,
    pub policies: Vec<String>,
    /// Groups (an operator's; the simulator evaluates no group policies, it reports them).
    pub groups: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct ServiceAccount {
    pub parent: String,
    pub secret: String,
    /// `on` / `off`.
    pub enabled: bool,
    pub name: String,
    pub description: String,
    /// An embedded policy (else the parent's policies apply: "implied").
    pub policy: Option<Value>,
}

#[derive(Debug, Clone, Default)]
pub struct Bucket {
    /// key → size.
    pub objects: BTreeMap<String, u64>,
    pub tags: Vec<(String, String)>,
    /// Hard quota in bytes.
    pub quota: Option<u64>,
}

impl Bucket {
    pub fn usage(&self) -> (u64, u64) {
        (self.objects.values().sum(), self.objects.len() as u64)
    }
}

/// The scanner's picture: per bucket (bytes, objects), and when it was taken.
#[derive(Debug, Clone)]
pub struct Scan {
    pub buckets: HashMap<String, (u64, u64)>,
    pub at: Option<chrono::DateTime<chrono::Utc>>,
    pub taken: Instant,
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    Root,
    User(String),
    /// A service account (its access key) and its parent user.
    ServiceAccount(String, String),
}

impl Caller {
    /// The user a request acts as (a service account acts as its parent).
    pub fn user(&self) -> Option<&str> {
        match self {
            Caller::Root => None,
            Caller::User(u) => Some(u),
            Caller::ServiceAccount(_, p) => Some(p),
        }
    }
}

#[derive(Debug)]
pub struct State {
    pub root_key: String,
    pub root_secret: String,
    pub users: BTreeMap<String, User>,
    pub policies: BTreeMap<String, Value>,
    pub service_accounts: BTreeMap<String, ServiceAccount>,
    pub buckets: BTreeMap<String, Bucket>,
    pub scan: Scan,
    /// How long the scanner takes to catch up with writes.
    pub scanner_lag: Duration,
}

/// The policies MinIO ships (`readwrite`, `readonly`, `writeonly`, `consoleAdmin`,
/// `diagnostics`), as far as the simulator evaluates them.
fn builtin_policies() -> BTreeMap<String, Value> {
    let doc = |actions: &[&str], resource: &str| {
        serde_json::json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": actions, "Resource": [resource]}]})
    };
    BTreeMap::from([
        ("readwrite".into(), doc(&["s3:*"], "arn:aws:s3:::*")),
        (
            "readonly".into(),
            doc(&["s3:GetBucketLocation", "s3:GetObject"], "arn:aws:s3:::*"),
        ),
        ("writeonly".into(), doc(&["s3:PutObject"], "arn:aws:s3:::*")),
        (
            "consoleAdmin".into(),
            serde_json::json!({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": ["admin:*"]},
                {"Effect": "Allow", "Action": ["kms:*"]},
                {"Effect": "Allow", "Action": ["s3:*"], "Resource": ["arn:aws:s3:::*"]}]}),
        ),
        (
            "diagnostics".into(),
            doc(&["admin:ServerInfo", "admin:Profiling"], "arn:aws:s3:::*"),
        ),
    ])
}

impl State {
    pub fn new(root_key: &str, root_secret: &str) -> Self {
        Self {
            root_key: root_key.into(),
            root_secret: root_secret.into(),
            users: BTreeMap::new(),
            policies: builtin_policies(),
            service_accounts: BTreeMap::new(),
            buckets: BTreeMap::new(),
            scan: Scan {
                buckets: HashMap::new(),
                at: None,
                taken: Instant::now(),
            },
            scanner_lag: Duration::ZERO,
        }
    }

    /// The scanner's picture, re-taken once it is `scanner_lag` old (the first one comes
    /// `scanner_lag` after the start: until then nothing was scanned).
    pub fn scanned(&mut self) -> &Scan {
        if self.scan.taken.elapsed() >= self.scanner_lag {
            self.rescan();
        }
        &self.scan
    }

    pub fn rescan(&mut self) {
        self.scan = Scan {
            buckets: self
                .buckets
                .iter()
                .map(|(n, b)| (n.clone(), b.usage()))
                .collect(),
            at: Some(chrono::Utc::now()),
            taken: Instant::now(),
        };
    }

    /// The caller's secret and identity for an access key (`None`: unknown).
    pub fn identity(&self, ak: &str) -> Option<(String, Caller)> {
        if ak == self.root_key {
            return Some((self.root_secret.clone(), Caller::Root));
        }
        if let Some(u) = self.users.get(ak) {
            return Some((u.secret.clone(), Caller::User(ak.into())));
        }
        self.service_accounts.get(ak).map(|s| {
            (
                s.secret.clone(),
                Caller::ServiceAccount(ak.into(), s.parent.clone()),
            )
        })
    }

    /// Why an authenticated key may not be used at all (disabled user or service account).
    pub fn disabled(&self, caller: &Caller) -> bool {
        match caller {
            Caller::Root => false,
            Caller::User(u) => !self.users.get(u).is_some_and(|u| u.enabled),
            Caller::ServiceAccount(ak, _) => {
                !self.service_accounts.get(ak).is_some_and(|s| s.enabled)
            }
        }
    }

    /// Whether `caller` may do `action` on `resource` (an ARN; `None` for admin actions).
    /// `deny_only`: allowed unless a statement denies it (MinIO's rule for acting on oneself).
    pub fn allowed(
        &self,
        caller: &Caller,
        action: &str,
        resource: Option<&str>,
        deny_only: bool,
    ) -> bool {
        let user_docs = |user: &str| -> Vec<&Value> {
            match self.users.get(user) {
                // A disabled user has no policies (so its service accounts may do nothing).
                Some(u) if u.enabled => u
                    .policies
                    .iter()
                    .filter_map(|p| self.policies.get(p))
                    .collect(),
                _ => Vec::new(),
            }
        };
        match caller {
            Caller::Root => true,
            Caller::User(u) => judge(&user_docs(u), action, resource, deny_only),
            Caller::ServiceAccount(ak, parent) => {
                let parent_ok = self.users.get(parent).is_some_and(|u| u.enabled);
                if !parent_ok {
                    return false;
                }
                let own = self
                    .service_accounts
                    .get(ak)
                    .and_then(|s| s.policy.as_ref());
                judge(&user_docs(parent), action, resource, deny_only)
                    && own.is_none_or(|p| judge(&[p], action, resource, deny_only))
            }
        }
    }

    /// Whether a policy name is in use by a user.
    pub fn policy_in_use(&self, name: &str) -> bool {
        self.users
            .values()
            .any(|u| u.policies.iter().any(|p| p == name))
    }
}

/// Allow-then-Deny evaluation over `docs`.
fn judge(docs: &[&Value], action: &str, resource: Option<&str>, deny_only: bool) -> bool {
    let mut allowed = deny_only;
    for doc in docs {
        for st in statements(doc) {
            if !matches_action(st, action) || !matches_resource(st, action, resource) {
                continue;
            }
            match st.get("Effect").and_then(Value::as_str) {
                Some("Deny") => return false,
                Some("Allow") => allowed = true,
                _ => {}
            }
        }
    }
    allowed
}

fn statements(doc: &Value) -> Vec<&Value> {
    match doc.get("Statement") {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(v @ Value::Object(_)) => vec![v],
        _ => Vec::new(),
    }
}

fn strings(v: Option<&Value>) -> Vec<&str> {
    match v {
        Some(Value::String(s)) => vec![s],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn matches_action(st: &Value, action: &str) -> bool {
    strings(st.get("Action")).iter().any(|p| glob(p, action))
}

fn matches_resource(st: &Value, action: &str, resource: Option<&str>) -> bool {
    let patterns = strings(st.get("Resource"));
    match resource {
        // Admin actions carry no resource; a statement of them may name none.
        None => action.starts_with("admin:") || patterns.is_empty(),
        Some(r) => patterns.iter().any(|p| glob(p, r)),
    }
}

/// `*` and `?` wildcards, as IAM policies use them.
pub fn glob(pattern: &str, s: &str) -> bool {
    fn go(p: &[u8], s: &[u8]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], s) || (!s.is_empty() && go(p, &s[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &s[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &s[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), s.as_bytes())
}

/// Checks a canned policy document as MinIO's parser does (the subset that matters here).
pub fn validate_policy(doc: &Value) -> Result<(), (u16, &'static str, String)> {
    let bad = |m: String| (400, "XMinioMalformedIAMPolicy", m);
    let Some(obj) = doc.as_object() else {
        return Err(bad("policy is not a JSON object".into()));
    };
    if !obj
        .get("Version")
        .and_then(Value::as_str)
        .is_some_and(|v| v == "2012-10-17" || v == "2008-10-17")
    {
        return Err((400, "MalformedPolicy", "Policy has invalid version".into()));
    }
    let st = statements(doc);
    if st.is_empty() {
        return Err((
            400,
            "XMinioAdminInvalidArgument",
            "policy has no statements".into(),
        ));
    }
    for s in st {
        match s.get("Effect").and_then(Value::as_str) {
            Some("Allow" | "Deny") => {}
            other => return Err(bad(format!("invalid Effect {other:?}"))),
        }
        let actions = strings(s.get("Action"));
        if actions.is_empty() {
            return Err(bad("a statement without actions".into()));
        }
        for a in &actions {
            if !(a.starts_with("s3:")
                || a.starts_with("admin:")
                || a.starts_with("kms:")
                || *a == "*")
            {
                return Err(bad(format!("invalid action {a:?}")));
            }
        }
        let s3 = actions.iter().any(|a| a.starts_with("s3:") || *a == "*");
        let resources = strings(s.get("Resource"));
        if s3 && resources.is_empty() {
            return Err(bad("an s3 statement without resources".into()));
        }
        for r in resources {
            if !r.starts_with("arn:aws:s3:::") {
                return Err(bad(format!("invalid resource {r:?}")));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn deny_wins_and_service_accounts_follow_their_parent() {
        let mut st = State::new("root", "rootsecret");
        st.policies.insert(
            "p".into(),
            json!({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::b/*"]},
                {"Effect": "Deny", "Action": ["admin:CreateServiceAccount"]}]}),
        );
        st.users.insert(
            "u".into(),
            User {
                secret: "usersecret".into(),
                enabled: true,
                policies: vec!["p".into()],
                groups: Vec::new(),
            },
        );
        st.service_accounts.insert(
            "SA".into(),
            ServiceAccount {
                parent: "u".into(),
                secret: "sasecret1".into(),
                enabled: true,
                name: String::new(),
                description: String::new(),
                policy: None,
            },
        );
        let sa = Caller::ServiceAccount("SA".into(), "u".into());
        assert!(st.allowed(&sa, "s3:GetObject", Some("arn:aws:s3:::b/k"), false));
        assert!(!st.allowed(&sa, "s3:GetObject", Some("arn:aws:s3:::c/k"), false));
        assert!(!st.allowed(&sa, "s3:PutObject", Some("arn:aws:s3:::b/k"), false));
        assert!(!st.allowed(&sa, "admin:SetBucketQuota", None, false));
        assert!(
            !st.allowed(&sa, "admin:CreateServiceAccount", None, true),
            "denied even for self"
        );
        assert!(
            st.allowed(&sa, "admin:ListServiceAccounts", None, true),
            "self, not denied"
        );
        st.users.get_mut("u").unwrap().enabled = false;
        assert!(
            !st.allowed(&sa, "s3:GetObject", Some("arn:aws:s3:::b/k"), false),
            "parent disabled"
        );
        assert!(
            glob("arn:aws:s3:::b/*", "arn:aws:s3:::b/x/y")
                && !glob("arn:aws:s3:::b", "arn:aws:s3:::bb")
        );
    }
}
