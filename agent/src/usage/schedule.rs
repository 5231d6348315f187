//! The sampling schedule: a cron expression (5 fields, or 6 with seconds first) evaluated in
//! the configured time zone.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// The next slot strictly after `t`.
pub fn next_slot(cron: &croner::Cron, tz: Tz, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    cron.find_next_occurrence(&t.with_timezone(&tz), false)
        .ok()
        .map(|n| n.with_timezone(&Utc))
}

/// Seconds between the two slots after `t` (at least one): how long a reading may hold.
pub fn interval(cron: &croner::Cron, tz: Tz, t: DateTime<Utc>) -> i64 {
    match next_slot(cron, tz, t).and_then(|a| next_slot(cron, tz, a).map(|b| (b - a).num_seconds()))
    {
        Some(s) => s.max(1),
        None => 600,
    }
}

/// The first slot after a (re)start: a slot missed while the agent was down is caught up
/// once, right away — not once per missed slot.
pub fn first_slot(
    cron: &croner::Cron,
    tz: Tz,
    last: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    match last.and_then(|l| next_slot(cron, tz, l)) {
        Some(missed) if missed <= now => Some(now),
        _ => next_slot(cron, tz, now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::{Europe::Tallinn, UTC};

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn every_ten_minutes() {
        let c: croner::Cron = "*/10 * * * *".parse().unwrap();
        assert_eq!(
            next_slot(&c, UTC, at("2026-11-22T10:03:00Z")),
            Some(at("2026-11-22T10:10:00Z"))
        );
        assert_eq!(
            next_slot(&c, UTC, at("2026-11-22T10:10:00Z")),
            Some(at("2026-11-22T10:20:00Z")),
            "strictly after"
        );
        assert_eq!(interval(&c, UTC, at("2026-11-22T10:03:00Z")), 600);
    }

    #[test]
    fn daily_slot_in_local_time_across_dst() {
        // 02:30 local every day; Tallinn leaves summer time on 2026-10-25 at 04:00 local.
        let c: croner::Cron = "30 2 * * *".parse().unwrap();
        assert_eq!(
            next_slot(&c, Tallinn, at("2026-10-24T12:00:00Z")),
            Some(at("2026-10-24T23:30:00Z")),
            "EEST: UTC+3"
        );
        assert_eq!(
            next_slot(&c, Tallinn, at("2026-10-25T12:00:00Z")),
            Some(at("2026-10-26T00:30:00Z")),
            "EET: UTC+2"
        );
        // The day of the change is 25 hours long.
        assert_eq!(interval(&c, Tallinn, at("2026-10-24T12:00:00Z")), 25 * 3600);
        // Spring forward on 2027-03-28: 03:00 local does not exist; 03:30 is skipped to 04:30.
        let c3: croner::Cron = "30 3 * * *".parse().unwrap();
        let t = next_slot(&c3, Tallinn, at("2027-03-27T12:00:00Z")).unwrap();
        assert!(
            t >= at("2027-03-28T00:00:00Z") && t <= at("2027-03-28T02:00:00Z"),
            "{t}"
        );
    }

    #[test]
    fn restart_catches_up_once() {
        let c: croner::Cron = "*/10 * * * *".parse().unwrap();
        let now = at("2026-11-22T12:34:00Z");
        // Down for hours: one sample now, not one per missed slot.
        assert_eq!(
            first_slot(&c, UTC, Some(at("2026-11-22T08:00:00Z")), now),
            Some(now)
        );
        // Sampled at 12:30: nothing was missed; wait for 12:40.
        assert_eq!(
            first_slot(&c, UTC, Some(at("2026-11-22T12:30:00Z")), now),
            Some(at("2026-11-22T12:40:00Z"))
        );
        // A fresh install waits for the next slot.
        assert_eq!(
            first_slot(&c, UTC, None, now),
            Some(at("2026-11-22T12:40:00Z"))
        );
    }
}
