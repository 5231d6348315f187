//! Usage state: the resources known per offering (so sampling goes on while Waldur is away),
//! the samples, the report outbox, and small scheduler facts.

use super::{Store, StoreError};
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use rusqlite::{OptionalExtension, params};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownResource {
    pub resource_uuid: String,
    pub uid: String,
    pub state: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    pub resource_uuid: String,
    pub sampled_at: i64,
    pub bytes: u64,
    pub objects: u64,
}

/// Which figure: one resource, component and billing period (`YYYY-MM`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct FigureKey {
    pub resource_uuid: String,
    pub component: String,
    pub period: String,
}

/// A computed figure, not yet written to the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Figure {
    pub key: FigureKey,
    /// Hundredths of the component's unit.
    pub cents: u64,
    /// The period is closed: the figure never changes again.
    pub is_final: bool,
}

/// Where a figure stands with Waldur.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxState {
    /// To be sent (new, changed, or refused for a reason that may pass).
    Pending,
    /// Waldur holds exactly this amount.
    Sent,
    /// Waldur holds more of a figure that only grows: never lowered, left for a person.
    Anomaly,
    /// A closed period refused to a provider token; a staff token can backfill it.
    NeedsStaff,
    /// Refused by Waldur for good.
    Rejected,
}

impl OutboxState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Anomaly => "anomaly",
            Self::NeedsStaff => "needs_staff",
            Self::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Pending,
            Self::Sent,
            Self::Anomaly,
            Self::NeedsStaff,
            Self::Rejected,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

impl std::fmt::Display for OutboxState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ToSql for OutboxState {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for OutboxState {
    fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
        let s = v.as_str()?;
        Self::parse(s)
            .ok_or_else(|| FromSqlError::Other(format!("unknown outbox state {s:?}").into()))
    }
}

/// One figure in the outbox: what we computed, and what Waldur is known to hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    pub resource_uuid: String,
    pub component: String,
    pub period: String,
    pub amount_cents: u64,
    pub is_final: bool,
    pub sent_cents: Option<u64>,
    pub state: OutboxState,
    pub attempts: u32,
    pub last_error: String,
    pub updated_at: i64,
}

impl OutboxRow {
    pub fn key(&self) -> FigureKey {
        FigureKey {
            resource_uuid: self.resource_uuid.clone(),
            component: self.component.clone(),
            period: self.period.clone(),
        }
    }
}

fn outbox_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<OutboxRow> {
    Ok(OutboxRow {
        resource_uuid: r.get(0)?,
        component: r.get(1)?,
        period: r.get(2)?,
        amount_cents: r.get::<_, i64>(3)? as u64,
        is_final: r.get::<_, i64>(4)? != 0,
        sent_cents: r.get::<_, Option<i64>>(5)?.map(|v| v as u64),
        state: r.get(6)?,
        attempts: r.get::<_, i64>(7)? as u32,
        last_error: r.get(8)?,
        updated_at: r.get(9)?,
    })
}

const OUTBOX_COLUMNS: &str = "resource_uuid, component, period, amount_cents, final, sent_cents, state, attempts, last_error, updated_at";

impl Store {
    /// Makes `list` the offering's active resources (one transaction). Resources that left
    /// the list stay known, inactive: their undelivered figures still belong to this offering.
    pub async fn set_known_resources(
        &self,
        offering: &str,
        list: Vec<KnownResource>,
        now: i64,
    ) -> Result<(), StoreError> {
        let offering = offering.to_string();
        self.call(move |c| {
            let tx = c.unchecked_transaction()?;
            tx.execute(
                "UPDATE usage_resources SET active = 0 WHERE offering_uuid = ?1",
                params![offering],
            )?;
            {
                let mut st = tx.prepare(
                    "INSERT OR REPLACE INTO usage_resources (resource_uuid, offering_uuid, uid, state, seen_at, active) VALUES (?1, ?2, ?3, ?4, ?5, 1)",
                )?;
                for r in &list {
                    st.execute(params![r.resource_uuid, offering, r.uid, r.state, now])?;
                }
            }
            tx.commit()
        })
        .await
    }

    /// Adds or refreshes one active resource.
    pub async fn upsert_known_resource(
        &self,
        offering: &str,
        r: KnownResource,
        now: i64,
    ) -> Result<(), StoreError> {
        let offering = offering.to_string();
        self.call(move |c| {
            c.execute(
                "INSERT OR REPLACE INTO usage_resources (resource_uuid, offering_uuid, uid, state, seen_at, active) VALUES (?1, ?2, ?3, ?4, ?5, 1)",
                params![r.resource_uuid, offering, r.uid, r.state, now],
            )
        })
        .await
        .map(|_| ())
    }

    /// Every resource this offering ever reported for (active or not).
    pub async fn offering_resource_ids(
        &self,
        offering: &str,
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        let offering = offering.to_string();
        self.call(move |c| {
            let mut st =
                c.prepare("SELECT resource_uuid FROM usage_resources WHERE offering_uuid = ?1")?;
            let rows = st.query_map(params![offering], |r| r.get(0))?;
            rows.collect()
        })
        .await
    }

    /// The offering's active resources.
    pub async fn known_resources(&self, offering: &str) -> Result<Vec<KnownResource>, StoreError> {
        let offering = offering.to_string();
        self.call(move |c| {
            let mut st = c.prepare(
                "SELECT resource_uuid, uid, state FROM usage_resources WHERE offering_uuid = ?1 AND active = 1 ORDER BY resource_uuid",
            )?;
            let rows = st.query_map(params![offering], |r| {
                Ok(KnownResource { resource_uuid: r.get(0)?, uid: r.get(1)?, state: r.get(2)? })
            })?;
            rows.collect()
        })
        .await
    }

    /// Stores samples (one transaction), never replacing or reordering what is stored (a
    /// reading already billed, a peak say, must not vanish from under its figure), and never
    /// after `now`. A sample newer than the resource's latest goes in at its own second; one
    /// at or before it (a backend's own measuring time, a metering sample time, can be older than
    /// a reading already stored) is kept only if it says something new, as the latest, in
    /// the second after it, once that second has come (else a later cycle reads it again).
    pub async fn insert_samples(&self, samples: Vec<Sample>, now: i64) -> Result<(), StoreError> {
        self.call(move |c| {
            let tx = c.unchecked_transaction()?;
            {
                let mut last = tx.prepare(
                    "SELECT sampled_at, bytes, objects FROM usage_samples WHERE resource_uuid = ?1 ORDER BY sampled_at DESC LIMIT 1",
                )?;
                let mut st = tx.prepare(
                    "INSERT OR IGNORE INTO usage_samples (resource_uuid, sampled_at, bytes, objects) VALUES (?1, ?2, ?3, ?4)",
                )?;
                for s in &samples {
                    let latest: Option<(i64, i64, i64)> = last
                        .query_row(params![s.resource_uuid], |r| {
                            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                        })
                        .optional()?;
                    let at = match latest {
                        Some((t, b, o)) if s.sampled_at <= t => {
                            if (b, o) == (s.bytes as i64, s.objects as i64) || t + 1 > now {
                                continue;
                            }
                            t + 1
                        }
                        _ => s.sampled_at,
                    };
                    st.execute(params![s.resource_uuid, at, s.bytes as i64, s.objects as i64])?;
                }
            }
            tx.commit()
        })
        .await
    }

    /// Stores one sample as the resource's latest: at its own second, or the second after the
    /// latest one stored. A deleted user's final zero must follow every reading taken before
    /// the deletion, and must never replace one: a reading already billed (a peak, say) would
    /// vanish from under its figure. Returns the second used.
    pub async fn append_sample(&self, s: Sample) -> Result<i64, StoreError> {
        self.call(move |c| {
            let tx = c.unchecked_transaction()?;
            let last: Option<(i64, i64, i64)> = tx
                .query_row(
                    "SELECT sampled_at, bytes, objects FROM usage_samples WHERE resource_uuid = ?1 ORDER BY sampled_at DESC LIMIT 1",
                    params![s.resource_uuid],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            // The same reading again (a retried termination's zero) says nothing new.
            if let Some((t, b, o)) = last
                && (b, o) == (s.bytes as i64, s.objects as i64)
            {
                return Ok(t);
            }
            let at = last.map_or(s.sampled_at, |(l, _, _)| s.sampled_at.max(l + 1));
            tx.execute(
                "INSERT INTO usage_samples (resource_uuid, sampled_at, bytes, objects) VALUES (?1, ?2, ?3, ?4)",
                params![s.resource_uuid, at, s.bytes as i64, s.objects as i64],
            )?;
            tx.commit()?;
            Ok(at)
        })
        .await
    }

    /// Samples of a resource in `[from, to)`, plus the last one before `from` (it holds into
    /// the window), oldest first.
    pub async fn samples(
        &self,
        resource: &str,
        from: i64,
        to: i64,
    ) -> Result<Vec<Sample>, StoreError> {
        let mut all = self
            .samples_of(vec![resource.to_string()], from, to)
            .await?;
        Ok(all.pop().unwrap_or_default())
    }

    /// [`Store::samples`] for several resources in one database call (a usage pass over
    /// thousands of resources would otherwise pay a round trip to the blocking pool for
    /// each), in the order given.
    pub async fn samples_of(
        &self,
        resources: Vec<String>,
        from: i64,
        to: i64,
    ) -> Result<Vec<Vec<Sample>>, StoreError> {
        self.call(move |c| {
            let map = |r: &rusqlite::Row<'_>| {
                Ok(Sample {
                    resource_uuid: r.get(0)?,
                    sampled_at: r.get(1)?,
                    bytes: r.get::<_, i64>(2)? as u64,
                    objects: r.get::<_, i64>(3)? as u64,
                })
            };
            let mut before = c.prepare(
                "SELECT resource_uuid, sampled_at, bytes, objects FROM usage_samples
                 WHERE resource_uuid = ?1 AND sampled_at < ?2 ORDER BY sampled_at DESC LIMIT 1",
            )?;
            let mut within = c.prepare(
                "SELECT resource_uuid, sampled_at, bytes, objects FROM usage_samples
                 WHERE resource_uuid = ?1 AND sampled_at >= ?2 AND sampled_at < ?3 ORDER BY sampled_at",
            )?;
            let mut all = Vec::with_capacity(resources.len());
            for resource in &resources {
                let mut out: Vec<Sample> = before
                    .query_row(params![resource, from], map)
                    .optional()?
                    .into_iter()
                    .collect();
                for s in within.query_map(params![resource, from, to], map)? {
                    out.push(s?);
                }
                all.push(out);
            }
            Ok(all)
        })
        .await
    }

    pub async fn outbox_row(
        &self,
        resource: &str,
        component: &str,
        period: &str,
    ) -> Result<Option<OutboxRow>, StoreError> {
        let (resource, component, period) = (
            resource.to_string(),
            component.to_string(),
            period.to_string(),
        );
        self.call(move |c| {
            c.query_row(
                &format!("SELECT {OUTBOX_COLUMNS} FROM usage_outbox WHERE resource_uuid = ?1 AND component = ?2 AND period = ?3"),
                params![resource, component, period],
                outbox_row,
            )
            .optional()
        })
        .await
    }

    /// How many outbox rows are in each state (every state named, zeros included).
    pub async fn outbox_counts(&self) -> Result<Vec<(String, u64)>, StoreError> {
        self.call(|c| {
            let mut st = c.prepare("SELECT state, COUNT(*) FROM usage_outbox GROUP BY state")?;
            let found: Vec<(String, u64)> = st
                .query_map([], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?.max(0) as u64))
                })?
                .collect::<Result<_, _>>()?;
            Ok(["pending", "sent", "anomaly", "needs_staff", "rejected"]
                .iter()
                .map(|s| {
                    let n = found.iter().find(|(k, _)| k == s).map_or(0, |(_, n)| *n);
                    (s.to_string(), n)
                })
                .collect())
        })
        .await
    }

    /// Records a computed figure. A final figure is never changed again; a changed amount
    /// makes the row pending unless Waldur already holds exactly that amount.
    pub async fn outbox_put(&self, rows: Vec<Figure>, now: i64) -> Result<usize, StoreError> {
        self.call(move |c| {
            let tx = c.unchecked_transaction()?;
            let mut changed = 0;
            {
                let mut st = tx.prepare(
                    "INSERT INTO usage_outbox (resource_uuid, component, period, amount_cents, final, state, computed_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?6)
                     ON CONFLICT (resource_uuid, component, period) DO UPDATE SET
                        amount_cents = excluded.amount_cents,
                        final = excluded.final,
                        state = CASE WHEN usage_outbox.sent_cents = excluded.amount_cents THEN 'sent' ELSE 'pending' END,
                        computed_at = excluded.computed_at,
                        updated_at = excluded.updated_at
                     WHERE usage_outbox.final = 0
                       AND (usage_outbox.amount_cents != excluded.amount_cents OR usage_outbox.final != excluded.final)",
                )?;
                for f in &rows {
                    let k = &f.key;
                    changed += st.execute(params![
                        k.resource_uuid,
                        k.component,
                        k.period,
                        f.cents as i64,
                        f.is_final as i64,
                        now
                    ])?;
                }
            }
            tx.commit()?;
            Ok(changed)
        })
        .await
    }

    /// Rows waiting to be delivered (a past period refused for want of a staff token is
    /// retried too: the operator may have switched tokens).
    pub async fn outbox_pending(&self) -> Result<Vec<OutboxRow>, StoreError> {
        self.call(|c| {
            let mut st = c.prepare(&format!(
                "SELECT {OUTBOX_COLUMNS} FROM usage_outbox WHERE state IN ('pending', 'needs_staff') ORDER BY period, resource_uuid, component"

            ))?;
            let rows = st.query_map([], outbox_row)?;
            rows.collect()
        })
        .await
    }

    /// The rows waiting to be delivered (as [`Self::outbox_pending`]) of the next `resources`
    /// resources after `after` (by UUID): a pass over 10,000 resources reads its outbox in
    /// slices instead of all 20,000 rows at once.
    pub async fn outbox_pending_page(
        &self,
        after: &str,
        resources: usize,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        let after = after.to_string();
        self.call(move |c| {
            // `+state`: walk the primary key from `after` (rows come in resource order, the
            // scan stops at the page's end) instead of the state index, whose rows SQLite
            // would sort again for every page: at 100,000 resources the pages took 3.1 s
            // instead of 0.1 s.
            let mut st = c.prepare_cached(&format!(
                "SELECT {OUTBOX_COLUMNS} FROM usage_outbox
                 WHERE state IN ('pending', 'needs_staff') AND resource_uuid IN (
                    SELECT DISTINCT resource_uuid FROM usage_outbox
                    WHERE +state IN ('pending', 'needs_staff') AND resource_uuid > ?1
                    ORDER BY resource_uuid LIMIT ?2)
                 ORDER BY resource_uuid, period, component"
            ))?;
            let rows = st.query_map(params![after, resources as i64], outbox_row)?;
            rows.collect()
        })
        .await
    }

    /// Rows for the operator view, optionally filtered.
    pub async fn outbox_rows(
        &self,
        resource: Option<String>,
        period: Option<String>,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        self.call(move |c| {
            let mut st = c.prepare(&format!(
                "SELECT {OUTBOX_COLUMNS} FROM usage_outbox
                 WHERE (?1 IS NULL OR resource_uuid = ?1) AND (?2 IS NULL OR period = ?2)
                 ORDER BY period, resource_uuid, component"
            ))?;
            let rows = st.query_map(params![resource, period], outbox_row)?;
            rows.collect()
        })
        .await
    }

    /// Records one outcome for several rows, in one transaction (one delivery covers every
    /// component of a resource and period).
    pub async fn outbox_mark_many(
        &self,
        rows: Vec<(FigureKey, Option<u64>)>,
        state: OutboxState,
        error: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let error = error.to_string();
        self.call(move |c| {
            let tx = c.unchecked_transaction()?;
            {
                let mut st = tx.prepare_cached(
                    "UPDATE usage_outbox SET state = ?4, sent_cents = COALESCE(?5, sent_cents), last_error = ?6,
                        attempts = attempts + 1, updated_at = ?7
                     WHERE resource_uuid = ?1 AND component = ?2 AND period = ?3",
                )?;
                for (k, sent) in &rows {
                    st.execute(params![
                        k.resource_uuid,
                        k.component,
                        k.period,
                        state,
                        sent.map(|v| v as i64),
                        error,
                        now
                    ])?;
                }
            }
            tx.commit()
        })
        .await
    }

    /// Records the outcome of a delivery attempt.
    pub async fn outbox_mark(
        &self,
        key: FigureKey,
        state: OutboxState,
        sent_cents: Option<u64>,
        error: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let error = error.to_string();
        self.call(move |c| {
            c.execute(
                "UPDATE usage_outbox SET state = ?4, sent_cents = COALESCE(?5, sent_cents), last_error = ?6,
                    attempts = attempts + 1, updated_at = ?7
                 WHERE resource_uuid = ?1 AND component = ?2 AND period = ?3",
                params![
                    key.resource_uuid,
                    key.component,
                    key.period,
                    state,
                    sent_cents.map(|v| v as i64),
                    error,
                    now
                ],
            )
        })
        .await
        .map(|_| ())
    }

    pub async fn state_get(&self, key: &str) -> Result<Option<String>, StoreError> {
        let key = key.to_string();
        self.call(move |c| {
            c.query_row(
                "SELECT value FROM agent_state WHERE key = ?1",
                params![key],
                |r| r.get(0),
            )
            .optional()
        })
        .await
    }

    pub async fn state_set(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let (key, value) = (key.to_string(), value.to_string());
        self.call(move |c| {
            c.execute(
                "INSERT OR REPLACE INTO agent_state (key, value) VALUES (?1, ?2)",
                params![key, value],
            )
        })
        .await
        .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(r: &str, t: i64, b: u64) -> Sample {
        Sample {
            resource_uuid: r.into(),
            sampled_at: t,
            bytes: b,
            objects: 1,
        }
    }

    #[tokio::test]
    async fn samples_window_includes_the_one_before() {
        let st = Store::in_memory().unwrap();
        st.insert_samples(
            vec![
                s("r", 10, 1),
                s("r", 20, 2),
                s("r", 30, 3),
                s("r", 40, 4),
                s("x", 25, 9),
            ],
            i64::MAX,
        )
        .await
        .unwrap();
        // An older reading that says something new follows the latest, but never in the
        // future (else it waits for a later cycle); one that says nothing new is dropped;
        // nothing stored is replaced.
        st.insert_samples(vec![s("r", 20, 99)], 40).await.unwrap();
        st.insert_samples(vec![s("r", 20, 99), s("r", 35, 99), s("r", 30, 99)], 41)
            .await
            .unwrap();
        let all: Vec<(i64, u64)> = st
            .samples("r", 0, 100)
            .await
            .unwrap()
            .iter()
            .map(|s| (s.sampled_at, s.bytes))
            .collect();
        assert_eq!(all, vec![(10, 1), (20, 2), (30, 3), (40, 4), (41, 99)]);
        let got: Vec<(i64, u64)> = st
            .samples("r", 25, 40)
            .await
            .unwrap()
            .iter()
            .map(|s| (s.sampled_at, s.bytes))
            .collect();
        assert_eq!(got, vec![(20, 2), (30, 3)]);

        // Several resources in one call: each its own window, in the order asked, an
        // unknown one empty.
        let many = st
            .samples_of(vec!["x".into(), "none".into(), "r".into()], 25, 40)
            .await
            .unwrap();
        let pairs = |v: &Vec<Sample>| -> Vec<(String, i64, u64)> {
            v.iter()
                .map(|s| (s.resource_uuid.clone(), s.sampled_at, s.bytes))
                .collect()
        };
        assert_eq!(pairs(&many[0]), vec![("x".into(), 25, 9)]);
        assert!(many[1].is_empty());
        assert_eq!(
            pairs(&many[2]),
            vec![("r".into(), 20, 2), ("r".into(), 30, 3)]
        );
    }

    #[tokio::test]
    async fn a_final_sample_follows_and_never_replaces_a_reading() {
        let st = Store::in_memory().unwrap();
        let s = |t: i64, objects: u64| Sample {
            resource_uuid: "r".into(),
            sampled_at: t,
            bytes: objects,
            objects,
        };
        st.insert_samples(vec![s(15, 425)], i64::MAX).await.unwrap();
        // The zero taken in the same second goes to the next one; the 425 stays.
        assert_eq!(st.append_sample(s(15, 0)).await.unwrap(), 16);
        // A retried termination's zero again: nothing new, nothing stored.
        assert_eq!(st.append_sample(s(15, 0)).await.unwrap(), 16);
        st.insert_samples(vec![s(20, 7)], i64::MAX).await.unwrap();
        assert_eq!(st.append_sample(s(30, 0)).await.unwrap(), 30);
        let got: Vec<(i64, u64)> = st
            .samples("r", 0, 100)
            .await
            .unwrap()
            .iter()
            .map(|x| (x.sampled_at, x.objects))
            .collect();
        assert_eq!(got, vec![(15, 425), (16, 0), (20, 7), (30, 0)]);
    }

    #[tokio::test]
    async fn outbox_pages_cover_every_pending_resource_once_in_order() {
        let st = Store::in_memory().unwrap();
        let fig = |r: usize, c: &str, p: &str| Figure {
            key: FigureKey {
                resource_uuid: format!("r{r:03}"),
                component: c.into(),
                period: p.into(),
            },
            cents: 1,
            is_final: false,
        };
        let mut rows = Vec::new();
        for r in 0..25 {
            for c in ["s3_objects", "s3_storage"] {
                rows.push(fig(r, c, "2026-10"));
                rows.push(fig(r, c, "2026-11"));
            }
        }
        st.outbox_put(rows, 1).await.unwrap();
        // Settled rows are skipped; a resource with nothing pending is not in any page.
        for r in (0..25).step_by(3) {
            for c in ["s3_objects", "s3_storage"] {
                for p in ["2026-10", "2026-11"] {
                    st.outbox_mark(fig(r, c, p).key, OutboxState::Sent, Some(1), "", 2)
                        .await
                        .unwrap();
                }
            }
        }
        let mut after = String::new();
        let mut seen: Vec<String> = Vec::new();
        let mut total = 0;
        loop {
            let page = st.outbox_pending_page(&after, 4).await.unwrap();
            let Some(last) = page.last() else { break };
            after = last.resource_uuid.clone();
            let mut ids: Vec<String> = page.iter().map(|r| r.resource_uuid.clone()).collect();
            ids.dedup();
            assert!(ids.len() <= 4, "{ids:?}");
            assert!(page.iter().all(|r| r.state == OutboxState::Pending));
            total += page.len();
            seen.extend(ids);
        }
        let expected: Vec<String> = (0..25)
            .filter(|r| r % 3 != 0)
            .map(|r| format!("r{r:03}"))
            .collect();
        assert_eq!(seen, expected, "every pending resource once, in order");
        assert_eq!(
            total,
            expected.len() * 4,
            "all of each resource's rows in its page"
        );
    }

    #[tokio::test]
    async fn outbox_rules() {
        let st = Store::in_memory().unwrap();
        let key = FigureKey {
            resource_uuid: "r".into(),
            component: "s3".into(),
            period: "2026-11".into(),
        };
        let row = |cents: u64, is_final: bool| Figure {
            key: key.clone(),
            cents,
            is_final,
        };
        assert_eq!(st.outbox_put(vec![row(100, false)], 1).await.unwrap(), 1);
        assert_eq!(
            st.outbox_put(vec![row(100, false)], 2).await.unwrap(),
            0,
            "unchanged amount: no write"
        );
        st.outbox_mark(key.clone(), OutboxState::Sent, Some(100), "", 3)
            .await
            .unwrap();
        assert!(st.outbox_pending().await.unwrap().is_empty());
        st.outbox_put(vec![row(150, false)], 4).await.unwrap();
        assert_eq!(st.outbox_pending().await.unwrap()[0].amount_cents, 150);
        st.outbox_put(vec![row(100, false)], 5).await.unwrap();
        let r = st
            .outbox_row(&key.resource_uuid, &key.component, &key.period)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r.state, OutboxState::Sent, "back to what Waldur holds");
        st.outbox_put(vec![row(200, true)], 6).await.unwrap();
        assert_eq!(
            st.outbox_put(vec![row(300, false)], 7).await.unwrap(),
            0,
            "a final figure is frozen"
        );
        let r = st
            .outbox_row(&key.resource_uuid, &key.component, &key.period)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (r.amount_cents, r.is_final, r.state),
            (200, true, OutboxState::Pending)
        );
        st.state_set("k", "v").await.unwrap();
        assert_eq!(st.state_get("k").await.unwrap().as_deref(), Some("v"));
    }
}
