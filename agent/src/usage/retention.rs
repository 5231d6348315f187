//! What the database keeps: every period that still has figures to deliver, the current and
//! the previous period (the previous one may still be closed late), and `history_months` of
//! history for the operator; everything older is pruned once a day.

use super::period::Period;
use crate::store::prune::PruneBefore;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

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
    PruneBefore {
        // The last reading before a period holds into it: keep a day before its start.
        samples: (keep_from.start(tz) - chrono::Duration::days(1)).timestamp(),
        period: keep_from.to_string(),
        journal: history.start(tz).timestamp(),
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
        // 2025-10-01 00:00 in Tallinn (UTC+3, summer time) minus one day.
        let start = Utc.with_ymd_and_hms(2025, 9, 30, 21, 0, 0).unwrap();
        assert_eq!(b.samples, (start - chrono::Duration::days(1)).timestamp());
        assert_eq!(b.journal, start.timestamp());
        // An undelivered period older than the history is kept.
        let b = prune_before(now, tz, 13, Period::parse("2024-02"));
        assert_eq!(b.period, "2024-02");
        // A short history never prunes the previous period (it may still close late).
        let b = prune_before(now, tz, 0, None);
        assert_eq!(b.period, "2026-10");
    }
}
