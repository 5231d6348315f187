//! Small wire helpers: UUID and datetime formats, URL encoding, slugs, JSON builders.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Timelike, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

/// Mastermind renders UUIDs as 32 lowercase hex characters.
pub(crate) fn hex(u: &Uuid) -> String {
    u.simple().to_string()
}

/// Accepts the undashed (32) and dashed (36) forms only.
pub(crate) fn parse_uuid(s: &str) -> Option<Uuid> {
    if s.len() == 32 || s.len() == 36 {
        Uuid::try_parse(s).ok()
    } else {
        None
    }
}

/// Database precision: microseconds.
pub(crate) fn truncate_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    let nanos = t.nanosecond() % 1_000_000_000;
    t.with_nanosecond(nanos / 1000 * 1000).unwrap_or(t)
}

/// DRF style: ISO-8601, `Z` suffix, microseconds only when non-zero.
pub(crate) fn fmt_dt(t: &DateTime<Utc>) -> String {
    if t.timestamp_subsec_micros() == 0 {
        t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    } else {
        t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
    }
}

pub(crate) fn opt_dt(t: &Option<DateTime<Utc>>) -> Value {
    match t {
        Some(t) => Value::String(fmt_dt(t)),
        None => Value::Null,
    }
}

/// Parses what Django's `DateTimeField` accepts: ISO-8601 with or without offset
/// (naive means server time, UTC here), `T` or space separator, optional seconds and
/// fraction, or a bare date (midnight).
pub(crate) fn parse_dt(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(truncate_micros(t.with_timezone(&Utc)));
    }
    let mut norm = s.replacen(' ', "T", 1);
    if norm.ends_with('Z') || norm.ends_with('z') {
        norm.pop();
        norm.push_str("+00:00");
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f%:z",
        "%Y-%m-%dT%H:%M%:z",
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%dT%H:%M%z",
    ] {
        if let Ok(t) = DateTime::parse_from_str(&norm, fmt) {
            return Some(truncate_micros(t.with_timezone(&Utc)));
        }
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(&norm, fmt) {
            return Some(truncate_micros(t.and_utc()));
        }
    }
    parse_date(s)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

pub(crate) fn parse_date(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    if s.len() != 10 {
        return None;
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

/// First day of the month of `t` (server time zone is UTC).
pub(crate) fn month_start(t: &DateTime<Utc>) -> NaiveDate {
    let d = t.date_naive();
    NaiveDate::from_ymd_opt(chrono::Datelike::year(&d), chrono::Datelike::month(&d), 1).unwrap_or(d)
}

/// `application/x-www-form-urlencoded` / query-string decoding (`+` is a space).
pub(crate) fn url_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' if i + 2 < bytes.len() => {
                let h = (bytes[i + 1] as char).to_digit(16);
                let l = (bytes[i + 2] as char).to_digit(16);
                match (h, l) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 3;
                    }
                    _ => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Python's `urllib.parse.quote_plus`.
pub(crate) fn quote_plus(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Python's `parse_qsl(keep_blank_values=True)`.
pub(crate) fn parse_pairs(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (url_decode(k), url_decode(v)),
            None => (url_decode(p), String::new()),
        })
        .collect()
}

fn fold_latin(c: char) -> Option<char> {
    let folded = match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => 'a',
        'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å' => 'A',
        'ç' => 'c',
        'Ç' => 'C',
        'è' | 'é' | 'ê' | 'ë' => 'e',
        'È' | 'É' | 'Ê' | 'Ë' => 'E',
        'ì' | 'í' | 'î' | 'ï' => 'i',
        'Ì' | 'Í' | 'Î' | 'Ï' => 'I',
        'ñ' => 'n',
        'Ñ' => 'N',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' => 'o',
        'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ö' => 'O',
        'ù' | 'ú' | 'û' | 'ü' => 'u',
        'Ù' | 'Ú' | 'Û' | 'Ü' => 'U',
        'ý' | 'ÿ' => 'y',
        'Ý' => 'Y',
        c if c.is_ascii() => c,
        _ => return None,
    };
    Some(folded)
}

/// Django's `slugify` (ASCII mode): fold accents, drop everything but word characters,
/// whitespace and hyphens, lowercase, collapse whitespace/hyphen runs into one hyphen,
/// strip leading/trailing hyphens and underscores.
pub(crate) fn slugify(name: &str) -> String {
    let kept: String = name
        .chars()
        .filter_map(fold_latin)
        .map(|c| c.to_ascii_lowercase())
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-' || c.is_ascii_whitespace())
        .collect();
    let mut out = String::with_capacity(kept.len());
    let mut in_run = false;
    for c in kept.chars() {
        if c == '-' || c.is_ascii_whitespace() {
            if !in_run {
                out.push('-');
                in_run = true;
            }
        } else {
            out.push(c);
            in_run = false;
        }
    }
    out.trim_matches(|c| c == '-' || c == '_').to_string()
}

/// Mastermind's `generate_slug`: `slugify(name)[:10]`, and on collision `-N` appended with
/// N = highest existing suffix + 1 (starting at 2).
pub(crate) fn generate_slug<'a>(name: &str, existing: impl Iterator<Item = &'a str>) -> String {
    Slugs::of(existing).next(name)
}

/// [`generate_slug`] for many names in a row: the existing slugs are read once, and each
/// slug handed out counts for the next (seeding 100,000 resources one scan each was
/// quadratic).
#[derive(Default)]
pub(crate) struct Slugs {
    /// Per base: whether the base itself is taken, and the highest `-N` suffix on it.
    bases: std::collections::HashMap<String, (bool, u64)>,
}

impl Slugs {
    pub(crate) fn of<'a>(existing: impl Iterator<Item = &'a str>) -> Self {
        let mut slugs = Slugs::default();
        for slug in existing {
            slugs.record(slug);
        }
        slugs
    }

    fn record(&mut self, slug: &str) {
        self.bases.entry(slug.to_string()).or_insert((false, 1)).0 = true;
        if let Some((base, rest)) = slug.rsplit_once('-')
            && !rest.is_empty()
            && rest.bytes().all(|b| b.is_ascii_digit())
            && let Ok(n) = rest.parse::<u64>()
        {
            let e = self.bases.entry(base.to_string()).or_insert((false, 1));
            e.1 = e.1.max(n);
        }
    }

    /// The slug for `name`, counted as taken from now on.
    pub(crate) fn next(&mut self, name: &str) -> String {
        let mut base: String = slugify(name).chars().take(10).collect();
        if base.is_empty() {
            base = "resource".to_string();
        }
        let slug = match self.bases.get(&base) {
            Some((true, highest)) => format!("{base}-{}", highest + 1),
            _ => base,
        };
        self.record(&slug);
        slug
    }
}

/// Builds a JSON object from ordered pairs (avoids deep `json!` macro recursion).
pub(crate) fn object(pairs: Vec<(&str, Value)>) -> Value {
    let mut map = Map::new();
    for (k, v) in pairs {
        map.insert(k.to_string(), v);
    }
    Value::Object(map)
}

/// Python type names as DRF puts them in error messages.
pub(crate) fn py_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Unpadded base64url (JWT segments).
pub(crate) fn b64url(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            let idx = ((n >> (18 - 6 * i)) & 63) as usize;
            let c = match B64[idx] {
                b'+' => '-',
                b'/' => '_',
                c => c as char,
            };
            out.push(c);
        }
    }
    out
}

/// Standard base64 decoding (padding optional); `None` on invalid input.
pub(crate) fn b64decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0u32;
    for c in s.bytes() {
        let v = B64.iter().position(|&x| x == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_follow_django_and_mastermind() {
        assert_eq!(slugify("acme-buckets"), "acme-buckets");
        assert_eq!(slugify("  Test Project "), "test-project");
        assert_eq!(slugify("Test@Org!"), "testorg");
        assert_eq!(slugify("my_bucket"), "my_bucket");
        assert_eq!(slugify("Café  --  Bar"), "cafe-bar");
        assert_eq!(
            generate_slug("acme-buckets", std::iter::empty()),
            "acme-bucke"
        );
        assert_eq!(
            generate_slug("Test Project", ["test-proje"].into_iter()),
            "test-proje-2"
        );
        assert_eq!(
            generate_slug(
                "Test Project",
                ["test-proje", "test-proje-2", "test-proje-7"].into_iter()
            ),
            "test-proje-8"
        );
        assert_eq!(generate_slug("!!!", std::iter::empty()), "resource");
        // Handed out one after another, as generate_slug over the growing list would.
        let mut slugs = Slugs::of(["bench-1234", "other"].into_iter());
        let mut list = vec!["bench-1234".to_string(), "other".to_string()];
        for name in [
            "bench-1234",
            "bench-1234",
            "a-b",
            "a-b",
            "other",
            "bench-1234x",
        ] {
            let one = generate_slug(name, list.iter().map(String::as_str));
            assert_eq!(slugs.next(name), one, "{name}");
            list.push(one);
        }
        assert_eq!(
            list[2..],
            [
                "bench-1234-2",
                "bench-1234-3",
                "a-b",
                "a-b-2",
                "other-2",
                "bench-1234-4"
            ]
        );
    }

    #[test]
    fn datetimes_parse_like_django() {
        let t = parse_dt("2026-11-22T12:00:00+00:00").unwrap();
        assert_eq!(fmt_dt(&t), "2026-11-22T12:00:00Z");
        assert_eq!(
            fmt_dt(&parse_dt("2026-11-22 12:00:00.5Z").unwrap()),
            "2026-11-22T12:00:00.500000Z"
        );
        assert_eq!(
            fmt_dt(&parse_dt("2026-11-22T14:00+02:00").unwrap()),
            "2026-11-22T12:00:00Z"
        );
        assert_eq!(
            fmt_dt(&parse_dt("2026-11-22T12:00:00").unwrap()),
            "2026-11-22T12:00:00Z"
        );
        assert_eq!(
            fmt_dt(&parse_dt("2026-11-22").unwrap()),
            "2026-11-22T00:00:00Z"
        );
        assert!(parse_dt("yesterday").is_none());
        assert!(parse_dt("2026-13-01").is_none());
    }

    #[test]
    fn url_coding_round_trips() {
        assert_eq!(url_decode("a+b%2Fc%zz"), "a b/c%zz");
        assert_eq!(quote_plus("a b/c"), "a+b%2Fc");
        assert_eq!(
            parse_pairs("state=OK&state=Erred&x&=1"),
            vec![
                ("state".to_string(), "OK".to_string()),
                ("state".to_string(), "Erred".to_string()),
                ("x".to_string(), String::new()),
                (String::new(), "1".to_string()),
            ]
        );
        assert_eq!(b64url(b"hi?"), "aGk_");
        assert_eq!(b64decode("dXNlcjpwYXNz").unwrap(), b"user:pass");
        assert!(b64decode("***").is_none());
    }

    #[test]
    fn uuids_accept_both_forms_only() {
        let u = Uuid::new_v4();
        assert_eq!(parse_uuid(&hex(&u)), Some(u));
        assert_eq!(parse_uuid(&u.hyphenated().to_string()), Some(u));
        assert_eq!(parse_uuid(&format!("{{{}}}", u.hyphenated())), None);
        assert_eq!(parse_uuid("not-a-uuid"), None);
    }
}
