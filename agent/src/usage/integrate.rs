//! Turning usage readings into billing quantities, exactly: GB-days integrated over time, or
//! point-in-time figures. Byte-seconds are summed in integers and divided once.

use super::amount::Cents;

/// One reading: unix seconds and a value (`None`: the source had no value then).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reading {
    pub t: i64,
    pub value: Option<u64>,
}

impl Reading {
    pub fn new(t: i64, value: u64) -> Self {
        Self {
            t,
            value: Some(value),
        }
    }
}

/// GB-days over `[start, end)` from readings sorted by time.
///
/// Each reading holds until the next one (a missing value carries the previous reading); the
/// last holds at most `max_hold` seconds, or, when `max_hold` is `None`, one sampling step
/// (its distance to the reading before it). Nothing is extrapolated before the first reading.
/// A reading before `start` counts for the part of its hold inside the window. Returns `None`
/// when nothing was measured in the window: a resource that was not measured is never billed 0.
pub fn gb_days(
    readings: &[Reading],
    start: i64,
    end: i64,
    max_hold: Option<i64>,
    unit_factor: u64,
) -> Option<Cents> {
    let mut byte_seconds: u128 = 0;
    let mut measured = false;
    let mut carry: Option<u64> = None;
    for (i, r) in readings.iter().enumerate() {
        let value = r.value.or(carry);
        carry = value;
        let until = match readings.get(i + 1) {
            Some(next) => next.t,
            None => {
                let step = match max_hold {
                    Some(h) => h,
                    None if i > 0 => r.t - readings[i - 1].t,
                    None => 0,
                };
                r.t + step.max(0)
            }
        };
        let (a, b) = (r.t.max(start), until.min(end));
        if let Some(v) = value
            && b > a
        {
            byte_seconds += u128::from(v) * (b - a) as u128;
            measured = true;
        }
    }
    measured.then(|| Cents::from_ratio(byte_seconds, u128::from(unit_factor.max(1)) * 86_400))
}

/// The last reading in `[start, end)`.
pub fn latest(readings: &[Reading], start: i64, end: i64) -> Option<u64> {
    readings
        .iter()
        .rev()
        .filter(|r| r.t >= start && r.t < end)
        .find_map(|r| r.value)
}

/// The largest reading in `[start, end)`.
pub fn peak(readings: &[Reading], start: i64, end: i64) -> Option<u64> {
    readings
        .iter()
        .filter(|r| r.t >= start && r.t < end)
        .filter_map(|r| r.value)
        .max()
}

/// Bytes in units of `unit_factor` (e.g. GB), to hundredths.
pub fn in_units(bytes: u64, unit_factor: u64) -> Cents {
    Cents::from_ratio(u128::from(bytes), u128::from(unit_factor.max(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GB: u64 = 1_000_000_000;
    const FAR: i64 = i64::MAX / 4;

    fn gb(points: &[(i64, Option<u64>)]) -> Vec<Reading> {
        points
            .iter()
            .map(|(t, v)| Reading {
                t: *t,
                value: v.map(|g| g * GB),
            })
            .collect()
    }

    fn amount(points: &[(i64, Option<u64>)], end: i64) -> String {
        gb_days(&gb(points), 0, end, None, GB)
            .map(|c| c.to_string())
            .unwrap_or_else(|| "none".into())
    }

    /// The worked figures of the ceph-s3 plugin reference (§7.2).
    #[test]
    fn reference_test_vectors() {
        assert_eq!(
            amount(&[(0, Some(100)), (3600, Some(200)), (7200, Some(200))], FAR),
            "20.83"
        );
        assert_eq!(
            amount(&[(0, Some(240)), (3600, None), (7200, Some(240))], FAR),
            "30.00"
        );
        assert_eq!(amount(&[(0, Some(12)), (360, Some(12))], FAR), "0.10");
        assert_eq!(
            amount(&[(0, Some(3)), (1800, Some(3))], FAR),
            "0.13",
            "0.125 half-up, not 0.12"
        );
        assert_eq!(
            amount(&[(0, Some(1)), (86_400, Some(1))], 86_400),
            "1.00",
            "no closing interval at end"
        );
        let daily: Vec<_> = (0..10).map(|d| (d * 86_400, Some(100))).collect();
        assert_eq!(amount(&daily, FAR), "1000.00", "the last day is not lost");
        assert_eq!(amount(&daily, 10 * 86_400), "1000.00");
        assert_eq!(
            amount(&[(0, Some(0)), (3600, Some(0))], FAR),
            "0.00",
            "a measured zero is reported"
        );
    }

    #[test]
    fn a_month_of_100_gb() {
        // June 2026 (30 days), sampled every 10 minutes, in UTC.
        let start = 1_780_272_000; // 2026-06-01T00:00:00Z
        let end = start + 30 * 86_400;
        let r: Vec<Reading> = (0..30 * 144)
            .map(|i| Reading::new(start + i * 600, 100 * GB))
            .collect();
        assert_eq!(
            gb_days(&r, start, end, Some(600), GB).unwrap().to_string(),
            "3000.00"
        );
    }

    #[test]
    fn nothing_measured_is_none_not_zero() {
        assert_eq!(gb_days(&[], 0, 100, Some(600), GB), None);
        assert_eq!(
            gb_days(&gb(&[(0, None), (10, None)]), 0, 100, None, GB),
            None,
            "all null"
        );
        assert_eq!(
            gb_days(&gb(&[(500, Some(1))]), 0, 100, Some(600), GB),
            None,
            "after the window"
        );
        assert_eq!(latest(&[], 0, 10), None);
    }

    #[test]
    fn readings_and_windows() {
        // A reading taken before the month holds into it, for at most its hold.
        let r = gb(&[(-300, Some(864)), (300, Some(864))]);
        assert_eq!(
            gb_days(&r, 0, 600, Some(600), GB).unwrap().to_string(),
            "6.00"
        );
        // The last reading holds one interval, not to the end of the month.
        let r = gb(&[(0, Some(864))]);
        assert_eq!(
            gb_days(&r, 0, 86_400, Some(600), GB).unwrap().to_string(),
            "6.00"
        );
        // A gap (agent down) holds the previous reading until the next one.
        let r = gb(&[(0, Some(864)), (6000, Some(0))]);
        assert_eq!(
            gb_days(&r, 0, 86_400, Some(600), GB).unwrap().to_string(),
            "60.00"
        );
        let pts = [
            Reading::new(0, 5),
            Reading::new(10, 9),
            Reading::new(20, 7),
            Reading::new(30, 100),
        ];
        assert_eq!(latest(&pts, 0, 30), Some(7));
        assert_eq!(peak(&pts, 0, 30), Some(9));
        assert_eq!(in_units(1_500_000_000, GB).to_string(), "1.50");
        assert_eq!(in_units(1_234_567_890, GB).to_string(), "1.23");
    }
}
