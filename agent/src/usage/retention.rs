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

    /// Thinning drops only what no figure needs: for readings with runs of repeats (and
    /// irregular gaps), every window a figure uses — the range's period whole, or up to any
    /// instant after the range — gives the same GB-days, peak and latest, while a resource
    /// whose usage never changes keeps two readings.
    #[tokio::test]
    async fn thinning_keeps_every_figure_exact() {
        use crate::store::Store;
        use crate::store::usage::Sample;
        use crate::usage::integrate::{Reading, gb_days, latest, peak};
        let (from, to) = (1_000, 100_000);
        // A deterministic, irregular series: runs of equal values, changes, gaps, and
        // readings before and after the range.
        let mut t = 400;
        let mut series = Vec::new();
        let mut seed = 7u64;
        while t < 130_000 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let value = [5, 5, 5, 9, 9, 0, 5][(seed >> 33) as usize % 7] * 1_000_000_000u64;
            series.push((t, value, value / 1_000_000));
            t += 300 + (seed >> 40) as i64 % 1_500;
        }
        let sample = |r: &str, (t, bytes, objects): (i64, u64, u64)| Sample {
            resource_uuid: r.into(),
            sampled_at: t,
            bytes,
            objects,
        };
        let st = Store::in_memory().unwrap();
        let all = |r: &str| series.iter().map(|p| sample(r, *p)).collect::<Vec<_>>();
        st.insert_samples(all("thin"), i64::MAX).await.unwrap();
        st.insert_samples(all("raw"), i64::MAX).await.unwrap();
        let flat: Vec<Sample> = (0..200)
            .map(|i| sample("flat", (2_000 + i * 300, 7, 7)))
            .collect();
        st.insert_samples(flat, i64::MAX).await.unwrap();

        let dropped = st.thin_samples("thin", from, to).await.unwrap();
        assert!(dropped >= 10, "the series has runs to drop: {dropped}");
        assert_eq!(st.thin_samples("flat", from, to).await.unwrap(), 198);
        assert_eq!(st.samples("flat", 0, i64::MAX).await.unwrap().len(), 2);
        assert_eq!(
            st.thin_samples("thin", from, to).await.unwrap(),
            0,
            "idempotent"
        );

        let readings = |s: Vec<Sample>| -> (Vec<Reading>, Vec<Reading>) {
            (
                s.iter()
                    .map(|s| Reading::new(s.sampled_at, s.bytes))
                    .collect(),
                s.iter()
                    .map(|s| Reading::new(s.sampled_at, s.objects))
                    .collect(),
            )
        };
        let mut ends = vec![to, 100_500, 110_000, 129_999];
        ends.extend((to..130_000).step_by(777));
        for end in ends {
            let (tb, to_) = readings(st.samples("thin", from, end).await.unwrap());
            let (rb, ro) = readings(st.samples("raw", from, end).await.unwrap());
            for hold in [300, 600, 3_600] {
                assert_eq!(
                    gb_days(&tb, from, end, Some(hold), 1_000_000_000),
                    gb_days(&rb, from, end, Some(hold), 1_000_000_000),
                    "window [{from}, {end}), hold {hold}"
                );
            }
            assert_eq!(peak(&tb, from, end), peak(&rb, from, end));
            assert_eq!(latest(&tb, from, end), latest(&rb, from, end));
            assert_eq!(peak(&to_, from, end), peak(&ro, from, end));
            assert_eq!(latest(&to_, from, end), latest(&ro, from, end));
        }
        // Outside the range nothing moved.
        let outside = |s: Vec<Sample>| {
            s.into_iter()
                .filter(|s| s.sampled_at < from || s.sampled_at >= to)
                .count()
        };
        assert_eq!(
            outside(st.samples("thin", 0, i64::MAX).await.unwrap()),
            outside(st.samples("raw", 0, i64::MAX).await.unwrap())
        );
    }
}
