//! MyFSIO's IAM users as the agent keeps them: which generation answers, the user listing a
//! pass shares, finding a resource's user by its display name, and every write — admin routes
//! and console forms — in the order v0.4 needs.
//!
//! v0.4 runs the API and the console as two processes, each with its own cached copy of
//! `iam.json`, re-read only after a few seconds, and each writes its whole copy back: a write
//! from a stale copy silently undoes the other's (other-backends.md §6.7, "What a MyFSIO
//! backend must get right", 1). So on v0.4 every IAM write this process makes to a server goes
//! through one gate (shared by all offerings on it); a console write waits `settle` after the
//! last admin-route write (the console's copy is then re-read, and at start-up after the
//! previous process's writes); after each console write the agent waits until the admin API
//! shows it, and an admin write waits `settle` after a console write it never saw.

use crate::admin::{Admin, Generation, Listed};
use crate::console::Console;
use crate::display;
use crate::ops::KeyMode;
use secrecy::ExposeSecret;
use serde_json::Value;
use site_agent_sdk::sigv4::encode;
use site_agent_sdk::{BackendError, ErrorKind, KeyPair};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long the user listing serves (a pass reads it once, not once per resource).
const LISTING_FOR: Duration = Duration::from_secs(60);
/// v0.4: how long the admin API may take to show a console write.
const VISIBLE_WITHIN: Duration = Duration::from_secs(20);
/// v0.4: how often the admin API is asked meanwhile (each ask counts against its rate limit).
const POLL: Duration = Duration::from_secs(1);

/// What ping found.
#[derive(Debug, Clone)]
struct Found {
    generation: Generation,
    /// The admin key's user (the harmless `enable` probe targets it).
    admin_user: String,
    /// Whether the admin key and enable/disable routes work (v0.5 with an encrypted IAM
    /// file: not); `None` until known.
    admin_writes: Option<bool>,
}

/// A resource's user as found.
#[derive(Debug, Clone)]
pub struct Resident {
    pub user: Listed,
    pub stamp: Option<String>,
    /// The user is a replacement not yet renamed (its predecessor is gone).
    pub pending: bool,
    /// Replacements left beside the user by interrupted key changes (`console` key mode):
    /// none holds a key Waldur was given.
    pub leftovers: Vec<Listed>,
}

/// The order of IAM writes on one v0.4 server, shared by every backend of this process that
/// writes to it (offerings on one server, their loops): see the module text.
#[derive(Default)]
struct Gate {
    turn: tokio::sync::Mutex<()>,
    /// The last admin-route write; at start, now (a write of the previous process may be
    /// just behind us).
    last_admin_write: Mutex<Option<Instant>>,
    /// A console write that failed or was not seen by the admin API: it may still land.
    unseen_console_write: Mutex<Option<Instant>>,
}

/// The gate of the server at `base`.
fn gate(base: &str) -> Arc<Gate> {
    static GATES: std::sync::OnceLock<Mutex<std::collections::HashMap<String, Arc<Gate>>>> =
        std::sync::OnceLock::new();
    let mut gates = lock(GATES.get_or_init(Default::default));
    gates
        .entry(base.to_string())
        .or_insert_with(|| {
            Arc::new(Gate {
                last_admin_write: Mutex::new(Some(Instant::now())),
                ..Gate::default()
            })
        })
        .clone()
}

/// What a console write must be seen to have done by the admin API (v0.4).
pub enum Seen<'a> {
    /// The user with this access key exists.
    Present(&'a str),
    /// The user with this id is gone.
    Gone(&'a str),
    /// The user has exactly these policies.
    Policies(&'a str, &'a Value),
    /// The user has this display name.
    Named(&'a str, &'a str),
}

pub struct Iam {
    pub admin: Admin,
    pub console: Console,
    admin_key: String,
    forced: Option<Generation>,
    key_mode: KeyMode,
    settle: Duration,
    found: Mutex<Option<Found>>,
    listing: Mutex<Option<(Instant, Arc<Vec<Listed>>)>>,
    /// v0.4: one IAM write at a time, in order (see the module text).
    gate: Arc<Gate>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether a user's policies are exactly `want` (any order of actions, prefix `*`).
pub fn same_policies(now: &[Value], want: &Value) -> bool {
    let norm = |v: &Value| {
        let mut a: Vec<String> = v["actions"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_ascii_lowercase))
                    .collect()
            })
            .unwrap_or_default();
        a.sort();
        (
            v["bucket"].as_str().unwrap_or("").to_ascii_lowercase(),
            a,
            v["prefix"].as_str().unwrap_or("*").to_string(),
        )
    };
    let want = want.as_array().cloned().unwrap_or_default();
    let mut a: Vec<_> = now.iter().map(norm).collect();
    let mut b: Vec<_> = want.iter().map(norm).collect();
    a.sort();
    b.sort();
    a == b
}

impl Iam {
    pub fn new(
        admin: Admin,
        console: Console,
        admin_key: String,
        forced: Option<Generation>,
        key_mode: KeyMode,
        settle: Duration,
    ) -> Self {
        Self {
            gate: gate(admin.base()),
            admin,
            console,
            admin_key,
            forced,
            key_mode,
            settle,
            found: Mutex::new(None),
            listing: Mutex::new(None),
        }
    }

    /// Finds which generation answers (and checks the admin key on it).
    async fn discover(&self) -> Result<Found, BackendError> {
        let (generation, admin_user) = match self.forced {
            None => self.admin.detect(&self.admin_key).await?,
            Some(g) => {
                let v = self.admin.user(g, &self.admin_key).await?.ok_or_else(|| {
                    BackendError::unavailable(format!(
                        "MyFSIO {} at {} does not know the admin key {:?}",
                        g.label(),
                        self.admin.base(),
                        self.admin_key
                    ))
                })?;
                (g, v["user_id"].as_str().unwrap_or_default().to_string())
            }
        };
        Ok(Found {
            generation,
            admin_user,
            admin_writes: None,
        })
    }

    async fn found(&self) -> Result<Found, BackendError> {
        if let Some(f) = lock(&self.found).clone() {
            return Ok(f);
        }
        let f = self.discover().await?;
        *lock(&self.found) = Some(f.clone());
        Ok(f)
    }

    pub async fn generation(&self) -> Result<Generation, BackendError> {
        Ok(self.found().await?.generation)
    }

    /// Finds the generation again (an upgrade changes it), checks the admin key, and on v0.5
    /// whether the admin write routes work (until known to); logs what changed.
    pub async fn ping(&self) -> Result<(), BackendError> {
        self.drop_listing();
        let f = self.discover().await?;
        let before = lock(&self.found).replace(Found {
            admin_writes: None,
            ..f.clone()
        });
        if before.as_ref().map(|b| b.generation) != Some(f.generation) {
            tracing::info!(
                api = %self.admin.base(),
                generation = f.generation.label(),
                "MyFSIO generation detected"
            );
        }
        let known = before
            .filter(|b| b.generation == f.generation)
            .and_then(|b| b.admin_writes);
        if let Some(now) = lock(&self.found).as_mut() {
            now.admin_writes = known;
        }
        // Known to work: no probe (a write each pass); a write that fails probes again
        // (`writes_broke`). Unknown or broken: probed, to notice a repair.
        if known == Some(true) {
            return Ok(());
        }
        // A probe that cannot tell (a refusal of another kind) leaves the question open.
        match self.probe(&f).await {
            Ok(w) => self.set_admin_writes(w),
            Err(e) => tracing::debug!(error = %e, "MyFSIO admin write probe inconclusive"),
        }
        Ok(())
    }

    /// Whether the admin key and enable/disable routes work: `enable` on the admin's own
    /// (enabled) user changes nothing where they do, and fails with 400 where v0.5 cannot
    /// read its encrypted IAM file.
    async fn probe(&self, f: &Found) -> Result<bool, BackendError> {
        if f.generation == Generation::V04 {
            return Ok(true);
        }
        match self.switch(&f.admin_user, true).await {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == ErrorKind::Invalid => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn set_admin_writes(&self, works: bool) {
        let mut found = lock(&self.found);
        let Some(f) = found.as_mut() else {
            return;
        };
        if f.admin_writes != Some(works) && !works {
            match self.key_mode {
                KeyMode::Admin => tracing::error!(
                    api = %self.admin.base(),
                    "MyFSIO refuses its admin key and enable/disable routes (v0.5 with iam.json encrypted at rest, a MyFSIO bug): pausing works through the console; keys need `key_mode: console` in backend_settings"
                ),
                KeyMode::Console => tracing::info!(
                    api = %self.admin.base(),
                    "MyFSIO refuses its admin enable/disable routes (v0.5 with iam.json encrypted at rest): users are paused by emptying their policies in the console"
                ),
            }
        }
        if f.admin_writes == Some(false) && works {
            tracing::info!(api = %self.admin.base(), "MyFSIO's admin write routes work again");
        }
        f.admin_writes = Some(works);
    }

    /// Whether the admin key and enable/disable routes work (probed once, then known).
    pub async fn admin_writes(&self) -> Result<bool, BackendError> {
        let f = self.found().await?;
        if let Some(w) = f.admin_writes {
            return Ok(w);
        }
        let w = self.probe(&f).await?;
        self.set_admin_writes(w);
        Ok(w)
    }

    /// After an admin write answered 400: was it the encrypted-IAM failure (`true`), or a
    /// refusal of this call alone (a user gone meanwhile)? Probed again, not read from text.
    pub async fn writes_broke(&self) -> Result<bool, BackendError> {
        let f = self.found().await?;
        let broken = !self.probe(&f).await?;
        self.set_admin_writes(!broken);
        Ok(broken)
    }

    pub fn drop_listing(&self) {
        *lock(&self.listing) = None;
    }

    async fn listing(&self) -> Result<Arc<Vec<Listed>>, BackendError> {
        if let Some((at, l)) = lock(&self.listing).as_ref()
            && at.elapsed() < LISTING_FOR
        {
            return Ok(l.clone());
        }
        let l = Arc::new(self.admin.list(self.generation().await?).await?);
        *lock(&self.listing) = Some((Instant::now(), l.clone()));
        Ok(l)
    }

    /// The resource's user: the one whose display name is `uid`'s (stamped or bare), or if
    /// an interrupted key change left none, its replacement. Two settled users under one name
    /// are a mix-up nobody can resolve automatically: refused.
    pub async fn find(&self, uid: &str) -> Result<Option<Resident>, BackendError> {
        let listing = self.listing().await?;
        let (mut settled, mut pending) = (Vec::new(), Vec::new());
        for u in listing.iter() {
            if let Some(n) = display::read(&u.display_name, uid) {
                if n.pending {
                    pending.push((u, n));
                } else {
                    settled.push((u, n));
                }
            }
        }
        if let [(a, _), (b, _), ..] = settled.as_slice() {
            return Err(BackendError::unexpected(format!(
                "MyFSIO has several users named for {uid:?} ({} and {}); remove the stray one in the console",
                a.user_id, b.user_id
            )));
        }
        // Without a settled user, one replacement (always the same one) stands in for it.
        pending.sort_by(|a, b| a.0.user_id.cmp(&b.0.user_id));
        let (chosen, is_pending) = match settled.pop() {
            Some(s) => (s, false),
            None if pending.is_empty() => return Ok(None),
            None => (pending.remove(0), true),
        };
        Ok(Some(Resident {
            user: chosen.0.clone(),
            stamp: chosen.1.stamp,
            pending: is_pending,
            leftovers: pending.into_iter().map(|(u, _)| u.clone()).collect(),
        }))
    }

    pub async fn require(&self, uid: &str) -> Result<Resident, BackendError> {
        self.find(uid).await?.ok_or_else(|| {
            BackendError::not_found(format!("MyFSIO user for {uid:?} does not exist"))
        })
    }

    /// One IAM write at a time on v0.4 (see the module text).
    async fn write_turn(&self, g: Generation) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match g {
            Generation::V04 => Some(self.gate.turn.lock().await),
            Generation::V05 => None,
        }
    }

    /// v0.4: waits until `settle` has passed since `since`.
    async fn settled(&self, since: &Mutex<Option<Instant>>) {
        let elapsed = lock(since).map(|t| t.elapsed());
        if let Some(wait) = elapsed.and_then(|e| self.settle.checked_sub(e)) {
            tokio::time::sleep(wait).await;
        }
    }

    /// An admin-route write.
    pub async fn admin_write(
        &self,
        what: &str,
        method: reqwest::Method,
        route: &str,
    ) -> Result<Value, BackendError> {
        let g = self.generation().await?;
        let _turn = self.write_turn(g).await;
        if g == Generation::V04 {
            // A console write the admin API never showed may still land: let it, first.
            self.settled(&self.gate.unseen_console_write).await;
        }
        let r = self.admin.call(g, what, method, route).await;
        *lock(&self.gate.last_admin_write) = Some(Instant::now());
        self.drop_listing();
        r
    }

    /// A console write, and on v0.4 the wait until the admin API shows `seen`.
    pub async fn console_write(
        &self,
        what: &str,
        path: &str,
        form: &[(&str, &str)],
        seen: Seen<'_>,
    ) -> Result<Value, BackendError> {
        let g = self.generation().await?;
        let _turn = self.write_turn(g).await;
        if g == Generation::V04 {
            self.settled(&self.gate.last_admin_write).await;
        }
        let r = self.console.post(g, what, path, form).await;
        self.drop_listing();
        if g != Generation::V04 {
            return r;
        }
        let seen = match r {
            Ok(v) => self.await_seen(g, &seen).await.map(|()| v),
            Err(e) => Err(e),
        };
        if seen.is_err() {
            *lock(&self.gate.unseen_console_write) = Some(Instant::now());
        }
        seen
    }

    async fn shows(&self, g: Generation, seen: &Seen<'_>) -> Result<bool, BackendError> {
        Ok(match seen {
            Seen::Present(ak) => self.admin.user(g, ak).await?.is_some(),
            Seen::Gone(id) => self.admin.user(g, id).await?.is_none(),
            Seen::Policies(id, want) => self.admin.user(g, id).await?.is_some_and(|u| {
                same_policies(
                    u["policies"].as_array().map(Vec::as_slice).unwrap_or(&[]),
                    want,
                )
            }),
            Seen::Named(id, name) => self
                .admin
                .user(g, id)
                .await?
                .is_some_and(|u| u["display_name"].as_str() == Some(name)),
        })
    }

    async fn await_seen(&self, g: Generation, seen: &Seen<'_>) -> Result<(), BackendError> {
        let started = Instant::now();
        loop {
            if self.shows(g, seen).await? {
                return Ok(());
            }
            if started.elapsed() > VISIBLE_WITHIN {
                return Err(BackendError::unavailable(format!(
                    "MyFSIO's admin API did not show a console change within {}s",
                    VISIBLE_WITHIN.as_secs()
                )));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Whether the admin API shows the user with access key `ak` (v0.4: once it re-read the
    /// IAM file; polled).
    pub async fn sees_key(&self, ak: &str) -> Result<bool, BackendError> {
        let g = self.generation().await?;
        let seen = Seen::Present(ak);
        if g == Generation::V05 {
            return self.shows(g, &seen).await;
        }
        Ok(self.await_seen(g, &seen).await.is_ok())
    }

    /// The user's policies, as MyFSIO shows them.
    pub async fn policies(&self, user_id: &str) -> Result<Vec<Value>, BackendError> {
        let g = self.generation().await?;
        let v = self.admin.user(g, user_id).await?.ok_or_else(|| {
            BackendError::not_found(format!("MyFSIO user {user_id:?} does not exist"))
        })?;
        Ok(v["policies"].as_array().cloned().unwrap_or_default())
    }

    pub async fn set_policies(&self, user_id: &str, policies: &Value) -> Result<(), BackendError> {
        self.console_write(
            "MyFSIO set user policies",
            &format!("/ui/iam/users/{}/policies", encode(user_id)),
            &[("policies", &policies.to_string())],
            Seen::Policies(user_id, policies),
        )
        .await
        .map(|_| ())
    }

    pub async fn rename(&self, user_id: &str, display: &str) -> Result<(), BackendError> {
        self.console_write(
            "MyFSIO rename user",
            &format!("/ui/iam/users/{}/update", encode(user_id)),
            &[("display_name", display)],
            Seen::Named(user_id, display),
        )
        .await
        .map(|_| ())
    }

    /// Makes a user in the console holding `key` (the console's create always makes one).
    pub async fn create(
        &self,
        display: &str,
        policies: &Value,
        key: &KeyPair,
    ) -> Result<(), BackendError> {
        self.console_write(
            "MyFSIO create user",
            "/ui/iam/users",
            &[
                ("display_name", display),
                ("policies", &policies.to_string()),
                ("access_key", &key.access_key),
                ("secret_key", key.secret_key.expose_secret()),
            ],
            Seen::Present(&key.access_key),
        )
        .await
        .map(|_| ())
    }

    pub async fn delete(&self, user: &Listed) -> Result<(), BackendError> {
        // Both generations resolve the path by user id (or an access key).
        self.console_write(
            "MyFSIO delete user",
            &format!("/ui/iam/users/{}/delete", encode(&user.user_id)),
            &[],
            Seen::Gone(&user.user_id),
        )
        .await
        .map(|_| ())
    }

    /// The admin enable/disable route.
    pub async fn switch(&self, user_id: &str, enabled: bool) -> Result<(), BackendError> {
        let verb = if enabled { "enable" } else { "disable" };
        self.admin_write(
            &format!("MyFSIO {verb} user"),
            reqwest::Method::POST,
            &format!("/iam/users/{}/{verb}", encode(user_id)),
        )
        .await
        .map(|_| ())
    }

    /// The user id of the user holding access key `ak`.
    pub async fn id_of_key(&self, ak: &str) -> Result<String, BackendError> {
        let g = self.generation().await?;
        let v = self.admin.user(g, ak).await?.ok_or_else(|| {
            BackendError::unavailable(format!(
                "MyFSIO shows no user with the access key {ak:?} yet"
            ))
        })?;
        v["user_id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| BackendError::unexpected("MyFSIO user without a user_id"))
    }

    /// `console` key mode: `uid`'s user again, holding `key` and nothing else, with the same
    /// display name, policies and state. The replacement is made under a pending name (and on
    /// v0.4 disabled, if the user was) before the old user goes, then renamed: an interruption
    /// leaves the old user (and a leftover, removed next time) or the replacement (renamed
    /// next time), never no user, never two under one name, never a paused user working. A
    /// retry with the same key carries on where the last attempt stopped.
    pub async fn replace_user(&self, uid: &str, key: &KeyPair) -> Result<(), BackendError> {
        let g = self.generation().await?;
        let mut r = self.require(uid).await?;
        if r.pending {
            let display = r.user.display_name.replacen('#', "@", 1);
            self.rename(&r.user.user_id, &display).await?;
            r = self.require(uid).await?;
        }
        if r.user.access_keys == [key.access_key.clone()] {
            // Done by an earlier attempt whose answer was lost.
            for left in &r.leftovers {
                self.delete(left).await?;
            }
            return Ok(());
        }
        let mut made = None;
        for left in &r.leftovers {
            if left.access_keys.contains(&key.access_key) {
                made = Some(left.user_id.clone());
            } else {
                self.delete(left).await?;
            }
        }
        let old = r.user;
        let new_id = match made {
            Some(id) => id,
            None => {
                // A disabled v0.5 user comes back paused by its policies (its enable route
                // may fail); v0.4 cannot be sent an empty list, so there the copy is disabled
                // before the old user goes.
                let policies = if !old.enabled && g == Generation::V05 {
                    Value::Array(Vec::new())
                } else {
                    Value::Array(self.policies(&old.user_id).await?)
                };
                self.create(&display::pending(&old.display_name), &policies, key)
                    .await?;
                let id = self.id_of_key(&key.access_key).await?;
                if !old.enabled && g == Generation::V04 {
                    self.switch(&id, false).await?;
                }
                id
            }
        };
        self.delete(&old).await?;
        self.rename(&new_id, &old.display_name).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn policies_compare_as_sets() {
        let want = json!([{"bucket": "b", "actions": ["delete", "list", "read", "write"]}]);
        assert!(same_policies(
            &[
                json!({"bucket": "b", "actions": ["write", "read", "list", "delete"], "prefix": "*"})
            ],
            &want
        ));
        assert!(!same_policies(&[], &want));
        assert!(same_policies(&[], &json!([])));
        assert!(!same_policies(
            &[json!({"bucket": "b", "actions": ["write"], "prefix": "docs/"})],
            &json!([{"bucket": "b", "actions": ["write"]}])
        ));
    }
}
