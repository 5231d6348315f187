//! Billing amounts in exact hundredths (Waldur accepts at most 2 decimals).

/// An amount in hundredths of a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Cents(pub u64);

impl Cents {
    /// `num / den` rounded half-up to hundredths.
    pub fn from_ratio(num: u128, den: u128) -> Cents {
        if den == 0 {
            return Cents(0);
        }
        let scaled = num.saturating_mul(100);
        let (q, r) = (scaled / den, scaled % den);
        let q = if r.saturating_mul(2) >= den { q + 1 } else { q };
        Cents(u64::try_from(q).unwrap_or(u64::MAX))
    }

    pub fn whole(n: u64) -> Cents {
        Cents(n.saturating_mul(100))
    }

    /// Parses Waldur's decimal strings (`"12.3"`, `"12.30"`, `"12"`); more than 2 decimals are
    /// rounded half-up.
    pub fn parse(s: &str) -> Option<Cents> {
        let s = s.trim();
        let (int, frac) = s.split_once('.').unwrap_or((s, ""));
        if int.is_empty()
            || !int.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let int: u64 = int.parse().ok()?;
        let mut digits = frac.bytes().map(|b| (b - b'0') as u64);
        let d1 = digits.next().unwrap_or(0);
        let d2 = digits.next().unwrap_or(0);
        let round_up = digits.next().is_some_and(|d3| d3 >= 5);
        Some(Cents(
            int.checked_mul(100)? + d1 * 10 + d2 + u64::from(round_up),
        ))
    }
}

impl std::fmt::Display for Cents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::Cents;

    #[test]
    fn rounding_and_formatting() {
        assert_eq!(
            Cents::from_ratio(1, 8).to_string(),
            "0.13",
            "0.125 rounds half-up"
        );
        assert_eq!(Cents::from_ratio(1, 3).to_string(), "0.33");
        assert_eq!(Cents::from_ratio(2, 3).to_string(), "0.67");
        assert_eq!(Cents::from_ratio(0, 7).to_string(), "0.00");
        assert_eq!(Cents::whole(5).to_string(), "5.00");
        assert_eq!(Cents::parse("12.3"), Some(Cents(1230)));
        assert_eq!(Cents::parse("12.345"), Some(Cents(1235)));
        assert_eq!(Cents::parse("7"), Some(Cents(700)));
        assert_eq!(Cents::parse("-1"), None);
        assert_eq!(Cents::parse("x"), None);
    }
}
