//! The access keys of one resource, kept equal on the backend and in Waldur through crashes,
//! lost answers and timeouts.
//!
//! Every key the agent creates is written to the key ledger (`Issue`) before it is applied,
//! and every key it retires (`Revoke`) before Waldur is told; [`KeyBook::settle`] resolves the
//! open rows against Waldur's list: a key Waldur holds is kept, one it does not hold is removed
//! from the backend. When Waldur's list cannot be read nothing is removed, and a row younger
//! than Waldur's late-answer window is left for later: a call the agent gave up on (or that
//! was in flight when the agent died) may still be carried out by Waldur. Orders, rotations,
//! the order loop and the reconcile pass all settle, and all work on one resource at a time
//! (see `locks`), so no settlement races a key being reported by this process.

use super::StepError;
use crate::store::{KeyIntent, LedgerRow, Store};
use crate::waldur::{ApiKeyStatus, WaldurClient, WaldurError};
use secrecy::ExposeSecret;
use site_agent_sdk::keys::{generate_key_pair, key_id};
use site_agent_sdk::ownership::keys_to_prune;
use site_agent_sdk::{AccessKeyOrigin, KeyPair, KeyPolicy, RotationMode, StorageBackend, Tenant};
use std::collections::HashSet;

pub struct KeyBook<'a> {
    pub store: &'a Store,
    pub waldur: &'a WaldurClient,
    pub backend: &'a dyn StorageBackend,
    /// The offering, 32 hex digits.
    pub offering: &'a str,
    /// The resource, 32 hex digits.
    pub resource: &'a str,
    pub tenant: &'a Tenant,
}

/// The keys Waldur holds for a resource, by the id the agent tracks keys by
/// (`site_agent_sdk::keys::key_id`): the access key, or where every secret of a user shares
/// it, the fingerprint of the secret the agent last saw Waldur take.
pub struct Held {
    pub keys: Vec<ApiKeyStatus>,
    /// Per Waldur key (same order as `keys`): its id, `None` where it is not known.
    ids: Vec<Option<String>>,
}

impl Held {
    pub fn ids(&self) -> HashSet<&str> {
        self.ids.iter().flatten().map(String::as_str).collect()
    }

    pub fn holds(&self, id: &str) -> bool {
        self.ids.iter().flatten().any(|i| i == id)
    }

    /// Every key Waldur lists is known by its id (a row without a `client_id` names nothing on
    /// the backend): only then may keys it does not hold go.
    pub fn complete(&self) -> bool {
        self.keys
            .iter()
            .zip(&self.ids)
            .all(|(k, id)| k.client_id.as_deref().is_none_or(str::is_empty) || id.is_some())
    }

    /// The id of Waldur's key `key_uuid`, where known.
    pub fn id_of(&self, key_uuid: &str) -> Option<&str> {
        let i = self.keys.iter().position(|k| k.uuid.as_str() == key_uuid)?;
        self.ids[i].as_deref()
    }

    /// Waldur's keys shown as `client_id` (by position).
    fn shown_as(&self, client_id: &str) -> impl Iterator<Item = usize> + '_ {
        let c = client_id.to_string();
        (0..self.keys.len()).filter(move |&i| self.keys[i].client_id.as_deref() == Some(c.as_str()))
    }

    /// Waldur's keys shown as `client_id`, each with its id where known.
    pub fn shown(&self, client_id: &str) -> Vec<(&ApiKeyStatus, Option<&str>)> {
        self.shown_as(client_id)
            .map(|i| (&self.keys[i], self.ids[i].as_deref()))
            .collect()
    }
}

/// What settling one ledger row comes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// Waldur holds it (an `Issue` reported after all) or let it go (a `Revoke` that took):
    /// the row is done; `remove` says whether the key goes from the backend.
    Done { remove: bool },
    /// Too young to tell: a late answer may still change Waldur's list.
    Wait,
}

/// The rule, on its own: `held` is whether Waldur's list has the key, `young` whether the row
/// is within the late-answer window.
fn verdict(intent: KeyIntent, held: bool, young: bool) -> Verdict {
    match (intent, held, young) {
        (KeyIntent::Issue, true, _) => Verdict::Done { remove: false },
        (KeyIntent::Issue, false, false) => Verdict::Done { remove: true },
        (KeyIntent::Revoke, false, _) => Verdict::Done { remove: true },
        // Waldur still shows the old key: the rotation did not take, so it must keep working.
        (KeyIntent::Revoke, true, false) => Verdict::Done { remove: false },
        (_, _, true) => Verdict::Wait,
    }
}

impl KeyBook<'_> {
    fn policy(&self) -> KeyPolicy {
        self.backend.capabilities().keys
    }

    /// Whether every secret of the user shares its access key (then Waldur holds one key).
    pub fn shares_access_key(&self) -> bool {
        self.policy().access_key == AccessKeyOrigin::User
    }

    /// The id the agent tracks `key` by.
    pub fn id(&self, key: &KeyPair) -> String {
        key_id(&self.policy(), key)
    }

    /// Waldur's keys for the resource; an unreadable list is an error (never "none").
    pub async fn held(&self) -> Result<Held, StepError> {
        let keys = self.waldur.list_api_keys(self.resource).await?;
        let mut ids = Vec::with_capacity(keys.len());
        for k in &keys {
            let client = k.client_id.as_deref().filter(|c| !c.is_empty());
            ids.push(match client {
                None => None,
                Some(c) if self.shares_access_key() => {
                    self.store.held_secret(self.resource, c).await?
                }
                Some(c) => Some(c.to_string()),
            });
        }
        Ok(Held { keys, ids })
    }

    /// Resolves every open ledger row of the resource; returns Waldur's keys. A row too young
    /// to judge is a transient error (the work waits for it).
    pub async fn settle(&self) -> Result<Held, StepError> {
        let rows = self.store.ledger_rows(self.resource).await?;
        let mut held = self.held().await?;
        if self.shares_access_key() {
            self.learn_held_secret(&rows, &mut held).await?;
        }
        let window = self.waldur.late_answer_window().as_secs() as i64;
        let now = chrono::Utc::now().timestamp();
        let mut waiting = 0;
        for row in rows {
            let young = now - row.at < window;
            match verdict(row.intent, held.holds(&row.access_key), young) {
                Verdict::Wait => waiting += 1,
                Verdict::Done { remove } => self.resolve(&row, remove).await?,
            }
        }
        if waiting > 0 {
            return Err(StepError::wait(format!(
                "{waiting} key(s) of this resource were written moments ago and Waldur may still answer for them; settled within {window} s"
            )));
        }
        Ok(held)
    }

    /// Where secrets share the access key, Waldur's list cannot say which secret it took;
    /// the key's `issued_at` can: only `report_created` and `set_key` change it, and only the
    /// agent calls them, one at a time per resource and never while a row is young. So a key
    /// whose `issued_at` moved since an open issued row was written holds that row's secret,
    /// whatever its state now (the customer may have asked for another rotation since). Rows
    /// written before the rule (or a Waldur that does not send `issued_at`) go by the state:
    /// `OK` while a secret is pending means Waldur took it.
    async fn learn_held_secret(
        &self,
        rows: &[LedgerRow],
        held: &mut Held,
    ) -> Result<(), StepError> {
        let Some(issued) = rows.iter().rev().find(|r| r.intent == KeyIntent::Issue) else {
            return Ok(());
        };
        let shown: Vec<usize> = held.shown_as(&self.tenant.uid).collect();
        for i in shown {
            let k = &held.keys[i];
            let now = k.issued_at.as_deref().filter(|s| !s.is_empty());
            let took = match (issued.waldur_issued_at.as_deref(), now) {
                (Some(before), Some(now)) => now != before,
                _ => k.state == "OK",
            };
            if took && held.ids[i].as_deref() != Some(&issued.access_key) {
                self.store
                    .set_held_secret(self.resource, &self.tenant.uid, &issued.access_key)
                    .await?;
                tracing::info!(key = %issued.access_key, "key ledger: Waldur took this secret");
                held.ids[i] = Some(issued.access_key.clone());
            }
        }
        Ok(())
    }

    async fn resolve(&self, row: &LedgerRow, remove: bool) -> Result<(), StepError> {
        if remove {
            let tenant = self.store.tenant(&row.uid, self.resource).await?;
            self.backend.delete_key(&tenant, &row.access_key).await?;
            tracing::info!(access_key = %row.access_key, intent = ?row.intent, "key ledger: Waldur does not show this key; removed from the backend");
        } else {
            tracing::info!(access_key = %row.access_key, intent = ?row.intent, "key ledger: settled; the key stays");
        }
        Ok(self
            .store
            .ledger_remove(self.resource, &row.access_key, row.intent)
            .await?)
    }

    /// Removes backend keys Waldur does not hold (settle first: then no ledger row is open).
    /// Only against a non-empty list, unless `fresh_user`: an empty list proves nothing about
    /// a user that may hold keys not reported yet (say, adopted from elsewhere). A user this
    /// order created or re-adopted from its own interrupted attempt holds no key Waldur may
    /// rely on, so there an empty list means "none" (a key a backend generated itself, left behind
    /// by a crash between creating the user and removing it, goes this way). Returns the
    /// access keys left on the backend.
    /// Where Waldur shows a key whose id the agent does not know (a secret shared access key
    /// with no record), nothing goes: the customer's secret cannot be told from the others.
    pub async fn prune(&self, held: &Held, fresh_user: bool) -> Result<Vec<String>, StepError> {
        let ids = held.ids();
        let Some(user) = self.backend.user(&self.tenant.uid).await? else {
            return Ok(Vec::new());
        };
        if !held.complete() {
            return Ok(user.access_keys);
        }
        let gone = keys_to_prune(&user.access_keys, &ids, fresh_user);
        for ak in &gone {
            self.backend.delete_key(self.tenant, ak).await?;
            tracing::info!(access_key = %ak, "pruned a key Waldur does not hold");
        }
        Ok(user
            .access_keys
            .iter()
            .filter(|k| !gone.contains(&k.as_str()))
            .cloned()
            .collect())
    }

    /// Issues a key (in a rotation, the successor of the key `replacing`, by id) and records
    /// it in the ledger; the caller reports it (see [`Self::issue`]). The row is written
    /// before the call where the key's id is known in advance, and right after it where the
    /// backend names the key: a key lost in between is one Waldur never sees, and pruning
    /// removes it.
    ///
    /// `waldur_issued_at` is the `issued_at` Waldur shows for the key the secret is for
    /// (empty: none yet), kept with the row where secrets share the access key.
    pub async fn apply_new(
        &self,
        replacing: Option<&str>,
        waldur_issued_at: &str,
    ) -> Result<KeyPair, StepError> {
        let proposal = generate_key_pair()?;
        let early = self.policy().id_known_in_advance();
        let planned = self.id(&proposal);
        let before = self.shares_access_key().then_some(waldur_issued_at);
        if early {
            self.record(&planned, before).await?;
        }
        let key = match replacing {
            Some(old) => self.backend.rotate_key(self.tenant, old, &proposal).await?,
            None => self.backend.issue_key(self.tenant, &proposal).await?,
        };
        let id = self.id(&key);
        if !early || id != planned {
            self.record(&id, before).await?;
        }
        Ok(key)
    }

    /// Waldur holds `key` now. Where secrets share the access key this is recorded before
    /// the key's ledger row is closed: the record is what keeps the key from being pruned.
    pub async fn taken(&self, key: &KeyPair) -> Result<(), StepError> {
        let id = self.id(key);
        if self.shares_access_key() {
            self.store
                .set_held_secret(self.resource, &key.access_key, &id)
                .await?;
        }
        self.confirmed(&id, KeyIntent::Issue).await
    }

    async fn record(&self, access_key: &str, issued_before: Option<&str>) -> Result<(), StepError> {
        Ok(self
            .store
            .ledger_add(
                self.offering,
                self.resource,
                &self.tenant.uid,
                access_key,
                KeyIntent::Issue,
                issued_before,
            )
            .await?)
    }

    /// Ends a rotation once Waldur holds the new key: the old one must stop working (unless
    /// the backend lets it expire by itself).
    pub async fn retire(&self, old: &str) -> Result<(), StepError> {
        if self.policy().rotation != RotationMode::ExpireOld {
            self.backend.delete_key(self.tenant, old).await?;
        }
        self.confirmed(old, KeyIntent::Revoke).await
    }

    /// Ends a rotation whose old key's id is unknown (a secret shared access key with no
    /// record): Waldur holds `new` alone, so every other key of the user goes.
    pub async fn retire_all_but(&self, new: &str) -> Result<(), StepError> {
        if let Some(user) = self.backend.user(&self.tenant.uid).await? {
            for k in user.access_keys.iter().filter(|k| k.as_str() != new) {
                self.backend.delete_key(self.tenant, k).await?;
                tracing::info!(key = %k, "rotation: retired a key Waldur no longer shows");
            }
        }
        Ok(())
    }

    /// Records a key about to be retired (before Waldur is told of its replacement).
    pub async fn retiring(&self, access_key: &str) -> Result<(), StepError> {
        Ok(self
            .store
            .ledger_add(
                self.offering,
                self.resource,
                &self.tenant.uid,
                access_key,
                KeyIntent::Revoke,
                None,
            )
            .await?)
    }

    /// The key is known to Waldur: its ledger row is done.
    pub async fn confirmed(&self, access_key: &str, intent: KeyIntent) -> Result<(), StepError> {
        Ok(self
            .store
            .ledger_remove(self.resource, access_key, intent)
            .await?)
    }

    /// Takes a key off the backend and out of the ledger (Waldur refused it).
    pub async fn withdraw(&self, access_key: &str) -> Result<(), StepError> {
        self.backend.delete_key(self.tenant, access_key).await?;
        self.confirmed(access_key, KeyIntent::Issue).await
    }

    /// Mints a key, applies it and reports it to Waldur as a resource API key.
    pub async fn issue(&self) -> Result<(), StepError> {
        // A new Waldur key: none was shown under this access key before (see
        // `OrderProcessor::provision_keys`).
        let key = self.apply_new(None, "").await?;
        let id = self.id(&key);
        let reported = self
            .waldur
            .report_api_key(
                self.resource,
                &key.access_key,
                key.secret_key.expose_secret(),
            )
            .await;
        match reported {
            Ok(()) => {}
            // The ledger row stays: the next settlement asks Waldur whether it got the key.
            Err(e) if e.is_retryable() => return Err(e.into()),
            Err(e) => {
                // A refusal after a lost answer may be about a key Waldur already took.
                let now = self.held().await?;
                let took = if self.shares_access_key() {
                    now.shown_as(&key.access_key)
                        .any(|i| now.keys[i].state == "OK")
                } else {
                    now.holds(&id)
                };
                if !took {
                    tracing::warn!(key = %id, error = %e, "Waldur refused the key; removed from the backend");
                    self.withdraw(&id).await?;
                    return Err(e.into());
                }
            }
        }
        self.taken(&key).await?;
        tracing::info!(access_key = %key.access_key, key = %id, "key minted and reported");
        Ok(())
    }
}

/// True when a refused `set_key` had in fact been applied (its answer was lost).
pub async fn set_key_applied(
    waldur: &WaldurClient,
    key_uuid: &str,
    new_access_key: &str,
    refusal: &WaldurError,
) -> Result<bool, WaldurError> {
    if refusal.is_retryable() {
        return Ok(false);
    }
    let now = waldur.get_api_key(key_uuid).await?;
    Ok(now.client_id.as_deref() == Some(new_access_key) && now.state == "OK")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_is_judged_only_once_no_late_answer_can_change_waldurs_list() {
        use KeyIntent::{Issue, Revoke};
        use Verdict::{Done, Wait};
        // Issued and held: the report arrived (its answer was lost); the key stays.
        assert_eq!(verdict(Issue, true, true), Done { remove: false });
        // Issued, not held: wait out a report that may still land; then remove the key.
        assert_eq!(verdict(Issue, false, true), Wait);
        assert_eq!(verdict(Issue, false, false), Done { remove: true });
        // Retiring, no longer held: Waldur took the replacement; the old key goes at once.
        assert_eq!(verdict(Revoke, false, true), Done { remove: true });
        // Retiring, still held: a set_key may still land; later the old key simply stays.
        assert_eq!(verdict(Revoke, true, true), Wait);
        assert_eq!(verdict(Revoke, true, false), Done { remove: false });
    }
}
