//! Billing periods: calendar months in the configured time zone.

use chrono::{DateTime, Datelike, LocalResult, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Period {
    pub year: i32,
    pub month: u32,
}

impl Period {
    /// The period containing `t` in `tz`.
    pub fn containing(t: DateTime<Utc>, tz: Tz) -> Self {
        let local = t.with_timezone(&tz);
        Self {
            year: local.year(),
            month: local.month(),
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        let (y, m) = s.split_once('-')?;
        let p = Self {
            year: y.parse().ok()?,
            month: m.parse().ok()?,
        };
        (1..=12).contains(&p.month).then_some(p)
    }

    pub fn next(self) -> Self {
        if self.month == 12 {
            Self {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Self {
                month: self.month + 1,
                ..self
            }
        }
    }

    pub fn prev(self) -> Self {
        if self.month == 1 {
            Self {
                year: self.year - 1,
                month: 12,
            }
        } else {
            Self {
                month: self.month - 1,
                ..self
            }
        }
    }

    /// Local midnight on the 1st, as an instant.
    pub fn start(self, tz: Tz) -> DateTime<Utc> {
        local_instant(tz, self.year, self.month, 1, 0)
    }

    /// The start of the next period (exclusive end).
    pub fn end(self, tz: Tz) -> DateTime<Utc> {
        self.next().start(tz)
    }

    /// Noon on the 15th: an instant every time zone puts in this month, used as the `date`
    /// of a backfill so Mastermind files it in the right period whatever its own zone.
    pub fn middle(self, tz: Tz) -> DateTime<Utc> {
        local_instant(tz, self.year, self.month, 15, 12)
    }

    /// `YYYY-MM-01`, Waldur's `billing_period` filter.
    pub fn billing_date(self) -> String {
        format!("{:04}-{:02}-01", self.year, self.month)
    }
}

impl std::fmt::Display for Period {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// A local wall-clock time as an instant. Midnight can fall in a DST gap in some zones (then
/// the first valid instant after it is used) or repeat (then the earlier one).
fn local_instant(tz: Tz, year: i32, month: u32, day: u32, hour: u32) -> DateTime<Utc> {
    let date = NaiveDate::from_ymd_opt(year, month, day).unwrap_or(NaiveDate::MIN);
    let mut naive = date.and_hms_opt(hour, 0, 0).unwrap_or_default();
    for _ in 0..4 {
        match tz.from_local_datetime(&naive) {
            LocalResult::Single(t) => return t.with_timezone(&Utc),
            LocalResult::Ambiguous(a, _) => return a.with_timezone(&Utc),
            LocalResult::None => naive += chrono::Duration::minutes(30),
        }
    }
    Utc.from_utc_datetime(&naive)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::{America::Sao_Paulo, Europe::Tallinn, UTC};

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn month_boundaries_in_a_non_utc_zone() {
        let nov = Period {
            year: 2026,
            month: 11,
        };
        assert_eq!(
            nov.start(Tallinn),
            utc("2026-10-31T22:00:00Z"),
            "EET is UTC+2 in November"
        );
        assert_eq!(nov.end(Tallinn), utc("2026-11-30T22:00:00Z"));
        assert_eq!(
            Period::containing(utc("2026-11-30T21:59:59Z"), Tallinn),
            nov
        );
        assert_eq!(
            Period::containing(utc("2026-11-30T22:00:00Z"), Tallinn),
            Period {
                year: 2026,
                month: 12
            }
        );
        assert_eq!(
            Period::containing(utc("2026-11-30T22:00:00Z"), UTC),
            nov,
            "UTC still says November"
        );
        // Summer time: July starts at 21:00 UTC on June 30.
        assert_eq!(
            Period {
                year: 2026,
                month: 7
            }
            .start(Tallinn),
            utc("2026-06-30T21:00:00Z")
        );
        assert_eq!(
            Period {
                year: 2026,
                month: 12
            }
            .next(),
            Period {
                year: 2027,
                month: 1
            }
        );
        assert_eq!(
            Period {
                year: 2027,
                month: 1
            }
            .prev(),
            Period {
                year: 2026,
                month: 12
            }
        );
        assert_eq!(
            Period::parse("2026-03"),
            Some(Period {
                year: 2026,
                month: 3
            })
        );
        assert_eq!(Period::parse("2026-13"), None);
        assert_eq!(nov.to_string(), "2026-11");
        assert_eq!(nov.billing_date(), "2026-11-01");
    }

    #[test]
    fn a_month_with_a_dst_change_has_its_true_length() {
        // Tallinn leaves summer time on 2026-10-25: October has 31 days and one extra hour.
        let oct = Period {
            year: 2026,
            month: 10,
        };
        assert_eq!(
            (oct.end(Tallinn) - oct.start(Tallinn)).num_hours(),
            31 * 24 + 1
        );
        let mar = Period {
            year: 2026,
            month: 3,
        };
        assert_eq!(
            (mar.end(Tallinn) - mar.start(Tallinn)).num_hours(),
            31 * 24 - 1
        );
        assert_eq!(Period::containing(oct.middle(Tallinn), UTC), oct);
    }

    #[test]
    fn midnight_in_a_dst_gap() {
        // Brazil once started DST at midnight: 2018-11-04 00:00 did not exist in Sao Paulo.
        let t = local_instant(Sao_Paulo, 2018, 11, 4, 0);
        assert_eq!(
            t,
            utc("2018-11-04T03:00:00Z"),
            "01:00 local (-02:00), the first valid instant"
        );
    }
}
