//! The invariants checked after every chaos iteration, each phrased as what an operator or a
//! customer relies on. A violation is a sentence naming the resource or order.

use super::storage::StoredUser;
use super::world::{Ceilings, Expect, SAMPLING_INTERVAL_S, World};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Violations of the order, user, key and quota invariants (empty when consistent).
pub async fn orders_and_keys(w: &mut World) -> Vec<String> {
    let mut bad = Vec::new();
    orders(w, &mut bad);
    if let Err(e) = users_keys_quotas(w, &mut bad).await {
        bad.push(format!("the store could not be read: {e}"));
    }
    bad
}

/// Violations of the usage invariants (empty when consistent).
pub fn usage(w: &mut World) -> Vec<String> {
    let mut bad = Vec::new();
    if let Err(e) = usage_checks(w, &mut bad) {
        bad.push(format!("usage could not be checked: {e}"));
    }
    bad
}

/// Every order ends done or erred (with a reason), as the harness expected, with exactly one
/// accepted `set_state_done` per done order.
fn orders(w: &mut World, bad: &mut Vec<String>) {
    let calls = w.waldur.calls();
    let accepted_done = |order: &str| {
        calls
            .iter()
            .filter(|c| {
                c.method == "POST"
                    && c.path.ends_with("/set_state_done/")
                    && c.path.contains(order)
                    && c.status == 200
            })
            .count()
    };
    for o in w.waldur.orders() {
        let uuid = o["uuid"].as_str().unwrap_or_default().to_string();
        match o["state"].as_str().unwrap_or_default() {
            "done" => {
                let n = accepted_done(&uuid);
                if n != 1 {
                    bad.push(format!("order {uuid}: {n} accepted set_state_done, not 1"));
                }
            }
            "erred" => {
                if o["error_message"]
                    .as_str()
                    .unwrap_or_default()
                    .trim()
                    .is_empty()
                {
                    bad.push(format!("order {uuid}: erred without a reason"));
                }
                if accepted_done(&uuid) != 0 {
                    bad.push(format!("order {uuid}: erred after being done"));
                }
            }
            other => bad.push(format!("order {uuid}: still {other}")),
        }
    }
    let fresh: Vec<_> = w.placed[w.settled..].to_vec();
    for p in fresh {
        let o = w.waldur.order(&p.order).unwrap_or(Value::Null);
        let state = o["state"].as_str().unwrap_or_default();
        let message = o["error_message"].as_str().unwrap_or_default();
        match (&p.expect, state) {
            (Expect::Done, "done") => {
                if let Some(c) = p.ceilings {
                    w.ceilings.insert(p.resource.clone(), c);
                }
            }
            (Expect::Erred(needle), "erred") if message.contains(needle) => {}
            (want, got) => bad.push(format!(
                "{} order {} (iteration {}): expected {want:?}, got {got} {message:?}",
                p.kind, p.order, p.iteration
            )),
        }
    }
    w.settled = w.placed.len();
}

/// Exactly one stamped user per live resource and none otherwise; its keys equal Waldur's,
/// secrets included; its quotas equal the ordered ceilings; rotations took.
async fn users_keys_quotas(w: &mut World, bad: &mut Vec<String>) -> anyhow::Result<()> {
    let mut expected_users = BTreeMap::new();
    for r in w.waldur.resources() {
        let uuid = r["uuid"].as_str().unwrap_or_default().to_string();
        let state = r["state"].as_str().unwrap_or_default();
        let uid = r["backend_id"].as_str().unwrap_or_default().to_string();
        match state {
            "OK" | "Erred" => {
                if uid.is_empty() {
                    bad.push(format!("resource {uuid}: {state} without a backend_id"));
                    continue;
                }
                if expected_users.insert(uid.clone(), uuid.clone()).is_some() {
                    bad.push(format!("user {uid}: the backend_id of two live resources"));
                }
            }
            "Terminated" => {}
            other => bad.push(format!("resource {uuid}: still {other}")),
        }
    }
    let actual: BTreeSet<String> = w.storage.users().await?.into_iter().collect();
    for uid in actual.difference(&expected_users.keys().cloned().collect()) {
        bad.push(format!(
            "user {uid}: on the backend but no live resource owns it"
        ));
    }
    for (uid, resource) in &expected_users {
        let Some(user) = w.storage.user(uid).await? else {
            bad.push(format!("resource {resource}: its user {uid} is missing"));
            continue;
        };
        let hyphenated = uuid::Uuid::parse_str(resource)
            .map(|u| u.hyphenated().to_string())
            .unwrap_or_default();
        if !user
            .email
            .eq_ignore_ascii_case(&format!("waldur-{hyphenated}-{uid}@invalid"))
        {
            bad.push(format!(
                "user {uid}: stamp {:?} is not resource {resource}'s",
                user.email
            ));
        }
        let mut live: Vec<String> = user.access_keys.clone();
        let held = w.waldur.api_keys(resource);
        let mut held_ids: Vec<String> = held.iter().map(|k| w.storage.key_identity(k)).collect();
        live.sort();
        held_ids.sort();
        if live != held_ids {
            bad.push(format!(
                "resource {resource}: backend keys {live:?} != Waldur keys {held_ids:?}"
            ));
        }
        for k in &held {
            w.stats.keys_checked += 1;
            if !w.storage.key_works(uid, &k.client_id, &k.api_key).await {
                bad.push(format!(
                    "resource {resource}: the key {} Waldur shows does not work",
                    k.client_id
                ));
            }
        }
        let want = w.storage.keys_per_resource();
        if held.len() != want {
            bad.push(format!(
                "resource {resource}: {} keys, not {want}",
                held.len()
            ));
        }
        if let Some(c) = w.ceilings.get(resource) {
            quota(w, resource, c, &user, bad);
        }
    }
    // This iteration's rotations: each must have taken by now.
    for rot in &w.rotations {
        match w
            .waldur
            .api_keys(&rot.resource)
            .iter()
            .find(|k| k.uuid == rot.key)
        {
            Some(k) if k.state == "OK" && w.storage.key_identity(k) != rot.old_key => {}
            Some(k) => bad.push(format!(
                "key {} (rotated in iteration {}): {} with access key {}",
                rot.key, rot.iteration, k.state, k.client_id
            )),
            None => bad.push(format!("key {}: gone from Waldur", rot.key)),
        }
        let uid = w.uid(&rot.resource).unwrap_or_default();
        if w.storage
            .user(&uid)
            .await?
            .is_some_and(|u| u.access_keys.contains(&rot.old_key))
        {
            bad.push(format!(
                "key {}: the replaced access key {} still works",
                rot.key, rot.old_key
            ));
        }
    }
    w.rotations.clear();
    Ok(())
}

fn quota(w: &World, resource: &str, c: &Ceilings, user: &StoredUser, bad: &mut Vec<String>) {
    let want = w.storage.expected_quotas(c.storage_gb, c.objects);
    if user.quotas != want {
        bad.push(format!(
            "resource {resource}: quotas {:?}, ordered {} GB / {:?} objects (expected {want:?})",
            user.quotas, c.storage_gb, c.objects
        ));
    }
}

struct Sample {
    t: i64,
    bytes: u64,
    objects: u64,
}

struct Figure {
    resource: String,
    component: String,
    period: String,
    cents: u64,
    is_final: bool,
    state: String,
    computed_at: i64,
}

/// Every sample is what the backend served; every figure is the exact integral of the
/// samples (GB-days) or their peak (objects); Waldur holds every figure; none was sent twice.
fn usage_checks(w: &mut World, bad: &mut Vec<String>) -> anyhow::Result<()> {
    let db = rusqlite::Connection::open_with_flags(
        &w.database,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )?;
    let mut samples: BTreeMap<String, Vec<Sample>> = BTreeMap::new();
    {
        let mut st = db.prepare(
            "SELECT resource_uuid, sampled_at, bytes, objects FROM usage_samples ORDER BY resource_uuid, sampled_at",
        )?;
        let rows = st.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                Sample {
                    t: r.get(1)?,
                    bytes: r.get::<_, i64>(2)? as u64,
                    objects: r.get::<_, i64>(3)? as u64,
                },
            ))
        })?;
        for row in rows {
            let (r, s) = row?;
            samples.entry(r).or_default().push(s);
        }
    }
    for (r, list) in &samples {
        let timeline = w.data.get(r).map(Vec::as_slice).unwrap_or(&[]);
        w.stats.samples_checked += list.len();
        for s in list {
            if !served(timeline, s.t).contains(&(s.bytes, s.objects)) {
                bad.push(format!(
                    "resource {r}: sample at {} reads {} B / {} objects, the backend served {:?}",
                    s.t,
                    s.bytes,
                    s.objects,
                    served(timeline, s.t)
                ));
            }
        }
    }
    let mut figures = Vec::new();
    {
        let mut st = db.prepare(
            "SELECT resource_uuid, component, period, amount_cents, final, state, computed_at FROM usage_outbox",
        )?;
        let rows = st.query_map([], |r| {
            Ok(Figure {
                resource: r.get(0)?,
                component: r.get(1)?,
                period: r.get(2)?,
                cents: r.get::<_, i64>(3)? as u64,
                is_final: r.get::<_, i64>(4)? != 0,
                state: r.get(5)?,
                computed_at: r.get(6)?,
            })
        })?;
        for f in rows {
            figures.push(f?);
        }
    }
    // Nothing measured goes unbilled: every resource and month with samples has an object
    // figure, and a live resource measured over some seconds also a GB-day figure (a
    // terminated one was last computed at its termination, which the harness does not know).
    let live: BTreeSet<String> = w
        .waldur
        .resources()
        .into_iter()
        .filter(|r| r["state"] == "OK" || r["state"] == "Erred")
        .filter_map(|r| r["uuid"].as_str().map(str::to_string))
        .collect();
    let now = chrono::Utc::now().timestamp();
    for (r, list) in &samples {
        let mut months: Vec<String> = list
            .iter()
            .filter_map(|s| chrono::DateTime::from_timestamp(s.t, 0))
            .map(|t| t.format("%Y-%m").to_string())
            .collect();
        months.dedup();
        for m in months {
            let has = |component: &str| {
                figures
                    .iter()
                    .any(|f| f.resource == *r && f.period == m && f.component == component)
            };
            if !has("s3_objects") {
                bad.push(format!(
                    "resource {r}: sampled in {m} but no s3_objects figure"
                ));
            }
            let Some((start, end)) = period_bounds(&m) else {
                continue;
            };
            let measured = list
                .iter()
                .filter(|s| s.t >= start && s.t < end.min(now - 2))
                .map(|s| s.t)
                .collect::<BTreeSet<i64>>()
                .len()
                >= 2;
            if live.contains(r) && measured && !has("s3_storage") {
                bad.push(format!(
                    "resource {r}: measured in {m} but no s3_storage figure"
                ));
            }
        }
    }
    w.stats.figures_checked += figures.len();
    for f in &figures {
        let list = samples.get(&f.resource).map(Vec::as_slice).unwrap_or(&[]);
        let Some((start, end)) = period_bounds(&f.period) else {
            bad.push(format!(
                "figure {}/{}: bad period {:?}",
                f.resource, f.component, f.period
            ));
            continue;
        };
        let ok = match f.component.as_str() {
            "s3_storage" => gb_days_match(
                list,
                (start, end),
                f.computed_at,
                f.is_final,
                f.cents,
                w.storage.unit_factor(),
            ),
            "s3_objects" => {
                list.iter()
                    .filter(|s| s.t >= start && s.t < end && s.t <= f.computed_at)
                    .map(|s| s.objects * 100)
                    .max()
                    == Some(f.cents)
            }
            _ => false,
        };
        if !ok {
            let seen: Vec<(i64, u64)> = list
                .iter()
                .filter(|s| s.t >= start && s.t < end)
                .map(|s| (s.t - f.computed_at, s.objects))
                .collect();
            bad.push(format!(
                "figure {}/{}/{}: {} cents is not what the samples give (final: {}; samples as (seconds from the computation, objects): {seen:?})",
                f.resource, f.component, f.period, f.cents, f.is_final
            ));
        }
        if f.state != "sent" {
            bad.push(format!(
                "figure {}/{}/{}: still {} after a full cycle",
                f.resource, f.component, f.period, f.state
            ));
            continue;
        }
        let held = w
            .waldur
            .component_usages(&f.resource)
            .into_iter()
            .find(|u| {
                u["type"] == f.component.as_str()
                    && u["billing_period"]
                        .as_str()
                        .is_some_and(|p| p.starts_with(&f.period))
            })
            .and_then(|u| u["usage"].as_str().map(cents_of));
        if held != Some(Some(f.cents)) {
            bad.push(format!(
                "figure {}/{}/{}: Waldur holds {held:?}, the agent sent {}",
                f.resource, f.component, f.period, f.cents
            ));
        }
    }
    sent_twice(w, bad);
    Ok(())
}

/// The (bytes, objects) the backend may have served at second `t`: the value after the last
/// change at or before `t` (either side of a change made within that very second).
fn served(timeline: &[(i64, u64, u64)], t: i64) -> Vec<(u64, u64)> {
    let before = timeline
        .iter()
        .rev()
        .find(|(c, _, _)| *c < t)
        .map_or((0, 0), |(_, b, o)| (*b, *o));
    let mut out = vec![before];
    out.extend(
        timeline
            .iter()
            .filter(|(c, _, _)| *c == t)
            .map(|(_, b, o)| (*b, *o)),
    );
    out
}

/// GB-days in hundredths, half-up: each reading holds until the next, the last at most
/// `hold` seconds, nothing before the first; integer byte-seconds divided once. `list` holds
/// the readings that existed when the figure was computed.
fn gb_day_cents(
    list: &[&Sample],
    start: i64,
    window_end: i64,
    hold: i64,
    unit_factor: u64,
) -> Option<u64> {
    let mut byte_seconds: u128 = 0;
    let mut measured = false;
    for (i, s) in list.iter().enumerate() {
        let until = list.get(i + 1).map_or(s.t + hold, |n| n.t);
        let (a, b) = (s.t.max(start), until.min(window_end));
        if b > a {
            byte_seconds += u128::from(s.bytes) * (b - a) as u128;
            measured = true;
        }
    }
    let den = u128::from(unit_factor) * 86_400;
    let scaled = byte_seconds * 100;
    let q = scaled / den + u128::from((scaled % den) * 2 >= den);
    measured.then_some(q as u64)
}

/// Whether `cents` is the GB-day figure computed at `computed_at` (the second of the
/// computation and the readings taken in it are each on either side of it).
fn gb_days_match(
    list: &[Sample],
    (start, end): (i64, i64),
    computed_at: i64,
    is_final: bool,
    cents: u64,
    unit_factor: u64,
) -> bool {
    let (ends, hold) = if is_final {
        (vec![end], SAMPLING_INTERVAL_S.max(6 * 60))
    } else {
        (vec![computed_at - 1, computed_at], SAMPLING_INTERVAL_S)
    };
    ends.into_iter().any(|we| {
        let we = we.min(end);
        [false, true].into_iter().any(|inclusive| {
            let seen: Vec<&Sample> = list
                .iter()
                .filter(|s| {
                    if inclusive {
                        s.t <= computed_at
                    } else {
                        s.t < computed_at
                    }
                })
                .collect();
            let from = seen.iter().rposition(|s| s.t < start).unwrap_or(0);
            gb_day_cents(&seen[from..], start, we, hold, unit_factor) == Some(cents)
        })
    })
}

fn cents_of(s: &str) -> Option<u64> {
    let (i, f) = s.split_once('.').unwrap_or((s, "0"));
    let f = format!("{f:0<2}");
    Some(i.parse::<u64>().ok()? * 100 + f[..2].parse::<u64>().ok()?)
}

/// `[start, end)` of `YYYY-MM` in UTC (the chaos config's zone).
fn period_bounds(p: &str) -> Option<(i64, i64)> {
    use chrono::{NaiveDate, TimeZone, Utc};
    let (y, m) = p.split_once('-')?;
    let (y, m): (i32, u32) = (y.parse().ok()?, m.parse().ok()?);
    let start = NaiveDate::from_ymd_opt(y, m, 1)?;
    let next = if m == 12 {
        NaiveDate::from_ymd_opt(y + 1, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(y, m + 1, 1)?
    };
    let t = |d: NaiveDate| -> Option<i64> {
        Some(Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0)?).timestamp())
    };
    Some((t(start)?, t(next)?))
}

/// No accepted `set_usage` repeats the previous accepted figure of the same resource,
/// component and month, unless the previous answer was lost (an injected fault: the agent
/// could not know it arrived).
fn sent_twice(w: &World, bad: &mut Vec<String>) {
    let mut last: BTreeMap<(String, String, String), (String, bool)> = BTreeMap::new();
    for c in w.waldur.calls() {
        if !(c.method == "POST" && c.path.ends_with("/set_usage/") && c.status < 300) {
            continue;
        }
        let resource = c.body["resource"]
            .as_str()
            .unwrap_or_default()
            .replace('-', "");
        let month: String = c.body["date"]
            .as_str()
            .unwrap_or_default()
            .chars()
            .take(7)
            .collect();
        let faulted = c.fault.is_some();
        for u in c.body["usages"].as_array().into_iter().flatten() {
            let key = (
                resource.clone(),
                u["type"].as_str().unwrap_or_default().to_string(),
                month.clone(),
            );
            let amount = u["amount"].as_str().unwrap_or_default().to_string();
            if let Some((prev, prev_faulted)) = last.get(&key)
                && *prev == amount
                && !prev_faulted
            {
                bad.push(format!("figure {key:?}: {amount} sent twice"));
            }
            last.insert(key, (amount, faulted));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GB: u64 = 1_000_000_000;

    fn s(t: i64, gb: u64) -> Sample {
        Sample {
            t,
            bytes: gb * GB,
            objects: 0,
        }
    }

    #[test]
    fn the_independent_integration_matches_the_documented_rule() {
        // 10 GB for a day (readings every 12 h), the last holding its 2 s: 10.00 GB-days.
        let list = [s(0, 10), s(43_200, 10), s(86_398, 10)];
        let refs: Vec<&Sample> = list.iter().collect();
        assert_eq!(gb_day_cents(&refs, 0, 86_400, 2, GB), Some(1000));
        assert!(gb_days_match(
            &list,
            (0, 86_400 * 30),
            86_400,
            false,
            1000,
            GB
        ));
        // A reading before the window counts only inside it.
        let list = [s(-100, 24), s(43_200, 0)];
        let refs: Vec<&Sample> = list.iter().collect();
        assert_eq!(gb_day_cents(&refs, 0, 86_400, 2, GB), Some(1200));
        assert_eq!(gb_day_cents(&[], 0, 100, 2, GB), None);
        assert_eq!(served(&[(10, 5, 1), (20, 7, 2)], 15), vec![(5, 1)]);
        assert_eq!(served(&[(10, 5, 1), (20, 7, 2)], 20), vec![(5, 1), (7, 2)]);
        assert_eq!(cents_of("12.3"), Some(1230));
        assert_eq!(period_bounds("2026-12").unwrap().0, 1_796_083_200);
    }
}
