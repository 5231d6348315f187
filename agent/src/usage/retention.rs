//! What the database keeps: every period that still has figures to deliver, the current and
//! the previous period (the previous one may still be closed late), and `history_months` of
//! figures and order journals for the operator; everything older is pruned once a day.
//! Samples are kept only while a figure may still be computed from them (the open periods):
//! a month of ten-minute samples is ~4,300 rows per resource, and thirteen months of them at
//! 10,000 resources would be tens of GB that no figure needs any more.

use super::period::Period;
use crate::store::prune::PruneBefore;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// How far back the daily prune thins repeated readings.
const THIN_DAYS: i64 = 8;

/// The bounds for [`crate::store::Store::prune`] at `now`.
pub fn prune_before(
    now: DateTime<Utc>,
    tz: Tz,
    history_months: u32,
    oldest_open: Option<Period>,
) -> PruneBefore {
    let current = Period::containing(now, tz);
    let mut history = current;
    for _ in 0..history_months {
        history = history.prev();
    }
    let keep_from = [Some(history), Some(current.prev()), oldest_open]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(history);
    let billable_from = [Some(current.prev()), oldest_open]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(current);
    PruneBefore {
        // The last reading before a period holds into it: keep a day before its start.
        samples: (billable_from.start(tz) - chrono::Duration::days(1)).timestamp(),
        period: keep_from.to_string(),
        journal: history.start(tz).timestamp(),
        // Repeated readings go from the last week up to a day ago (the last day stays as
        // sampled; a week catches up after days without a prune), each range inside one
        // period.
        thin: [
            (current.prev().start(tz), current.start(tz)),
            (current.start(tz), now - chrono::Duration::days(1)),
        ]
        .into_iter()
        .map(|(from, to)| (from.max(now - chrono::Duration::days(THIN_DAYS)), to))
        .filter(|(from, to)| from < to)
        .map(|(from, to)| (from.timestamp(), to.timestamp()))
        .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn keeps_history_and_every_open_period() {
        let tz: Tz = "Europe/Tallinn".parse().unwrap();
        let now = Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).unwrap();
        let b = prune_before(now, tz, 13, None);
        assert_eq!(b.period, "2025-10");
        // 2025-10-01 00:00 in Tallinn (UTC+3, summer time).
        let start = Utc.with_ymd_and_hms(2025, 9, 30, 21, 0, 0).unwrap();
        assert_eq!(b.journal, start.timestamp());
        // Samples: from a day before the previous period (2026-10-01 00:00 in Tallinn, UTC+3).
        let previous = Utc.with_ymd_and_hms(2026, 9, 30, 21, 0, 0).unwrap();
        assert_eq!(
            b.samples,
            (previous - chrono::Duration::days(1)).timestamp()
        );
        // An undelivered period older than the history is kept, with its samples.
        let b = prune_before(now, tz, 13, Period::parse("2024-02"));
        assert_eq!(b.period, "2024-02");
        let feb = Utc.with_ymd_and_hms(2024, 1, 31, 22, 0, 0).unwrap();
        assert_eq!(b.samples, (feb - chrono::Duration::days(1)).timestamp());
        // An undelivered period inside the history keeps its samples too.
        let b = prune_before(now, tz, 13, Period::parse("2026-06"));
        assert_eq!(b.period, "2025-10");
        let june = Utc.with_ymd_and_hms(2026, 5, 31, 21, 0, 0).unwrap();
        assert_eq!(b.samples, (june - chrono::Duration::days(1)).timestamp());
        // A short history never prunes the previous period (it may still close late).
        let b = prune_before(now, tz, 0, None);
        assert_eq!(b.period, "2026-10");
        // Thinning: the last eight days up to a day ago, split at the period start.
        let november = Utc.with_ymd_and_hms(2026, 10, 31, 22, 0, 0).unwrap();
        let day_ago = now - chrono::Duration::days(1);
        let week = now - chrono::Duration::days(8);
        assert_eq!(b.thin, vec![(week.timestamp(), day_ago.timestamp())]);
        let early = Utc.with_ymd_and_hms(2026, 11, 3, 6, 0, 0).unwrap();
        assert_eq!(
            prune_before(early, tz, 13, None).thin,
            vec![
                (
                    (early - chrono::Duration::days(8)).timestamp(),
                    november.timestamp()
                ),
                (
                    november.timestamp(),
                    (early - chrono::Duration::days(1)).timestamp()
                )
            ]
        );
        // On the first day of a period only the previous one is thinned.
        let first = Utc.with_ymd_and_hms(2026, 11, 1, 6, 0, 0).unwrap();
        assert_eq!(
            prune_before(first, tz, 13, None).thin,
            vec![(
                (first - chrono::Duration::days(8)).timestamp(),
                november.timestamp()
            )]
        );
    }
}
