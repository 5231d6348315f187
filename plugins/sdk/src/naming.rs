//! The uid of a resource's S3 user, by the offering's naming policy:
//! - `slug` (ceph-s3's scheme, the default): `lower(allocation_prefix or "waldur-") + slug`;
//! - `croit_s3` (the older croit-s3 plugin's scheme):
//!   `{user_prefix}{org}{sep}{project}{sep}{first 8 hex digits of the resource UUID}`.

use crate::settings::{Problems, string_setting};
use crate::{BackendError, validate_identifier};
use serde_json::{Map, Value};

pub const DEFAULT_PREFIX: &str = "waldur-";
/// croit-s3's defaults.
pub const CROIT_S3_PREFIX: &str = "waldur_";
pub const CROIT_S3_SEPARATOR: &str = "_";
pub const CROIT_S3_MAX_LEN: usize = 64;
/// The part of the resource UUID in a croit-s3 name.
const UUID_PART: usize = 8;

/// What Waldur says about a resource that a name may be made of.
#[derive(Debug, Clone, Copy, Default)]
pub struct NameParts<'a> {
    pub slug: Option<&'a str>,
    pub customer_slug: Option<&'a str>,
    pub project_slug: Option<&'a str>,
    /// Hex or hyphenated.
    pub resource_uuid: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamingPolicy {
    Slug {
        allocation_prefix: String,
    },
    CroitS3 {
        prefix: String,
        separator: String,
        max_len: usize,
    },
}

/// The keys the naming policy reads.
pub const NAMING_KEYS: &[&str] = &[
    "naming_policy",
    "user_prefix",
    "slug_separator",
    "max_username_length",
];

/// The bucket the agent makes for a resource (`BucketModel::Granted` backends): the uid
/// itself, `_` as `-` (S3 bucket rules: 3–63 of `a-z`, `0-9`, `-`, `.`, starting and ending
/// with a letter or digit, no `..`).
pub fn bucket_for(uid: &str) -> Result<String, BackendError> {
    let name = uid.to_ascii_lowercase().replace('_', "-");
    let ok_chars = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    let edges = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_alphanumeric());
    if (3..=63).contains(&name.len())
        && ok_chars
        && edges(name.bytes().next())
        && edges(name.bytes().last())
        && !name.contains("..")
    {
        Ok(name)
    } else {
        Err(BackendError::invalid(format!(
            "S3 user id {uid:?} cannot name a bucket (3 to 63 of a-z, 0-9, '-' and '.')"
        )))
    }
}

impl NamingPolicy {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Slug { .. } => "slug",
            Self::CroitS3 { .. } => "croit_s3",
        }
    }

    /// Reads `naming_policy` (`slug` or `croit_s3`; `default` when unset) and the keys of the
    /// policy chosen. Keys of the other policy are reported in `notes` (they do nothing).
    pub fn from_map(
        map: &Map<String, Value>,
        default: &str,
        p: &mut Problems,
        notes: &mut Vec<String>,
    ) -> Self {
        let policy = string_setting(map, "naming_policy", p)
            .map(|s| s.to_lowercase())
            .unwrap_or_else(|| default.to_string());
        let allocation_prefix = string_setting(map, "allocation_prefix", p).unwrap_or_default();
        if !allocation_prefix.is_empty()
            && validate_identifier("allocation_prefix", &allocation_prefix).is_err()
        {
            p.push(format!(
                "`allocation_prefix` {allocation_prefix:?} may only contain A-Z, a-z, 0-9, '.', '_' and '-'"
            ));
        }
        match policy.as_str() {
            "slug" => {
                for k in ["user_prefix", "slug_separator", "max_username_length"] {
                    if map.contains_key(k) {
                        notes.push(format!(
                            "`backend_settings.{k}` has no effect with the `slug` naming policy (set `naming_policy: croit_s3` to name users as the croit-s3 plugin did)"
                        ));
                    }
                }
                Self::Slug { allocation_prefix }
            }
            "croit_s3" => {
                if !allocation_prefix.is_empty() {
                    notes.push("`backend_settings.allocation_prefix` has no effect with the `croit_s3` naming policy (its prefix is `user_prefix`)".into());
                }
                let prefix =
                    string_setting(map, "user_prefix", p).unwrap_or_else(|| CROIT_S3_PREFIX.into());
                let separator = string_setting(map, "slug_separator", p)
                    .unwrap_or_else(|| CROIT_S3_SEPARATOR.into());
                let max_len = match map.get("max_username_length") {
                    None | Some(Value::Null) => CROIT_S3_MAX_LEN,
                    Some(v) => match v.as_u64() {
                        Some(n) => n as usize,
                        None => {
                            p.push(format!(
                                "`max_username_length`: must be a whole number, not {v}"
                            ));
                            CROIT_S3_MAX_LEN
                        }
                    },
                };
                for (key, value) in [("user_prefix", &prefix), ("slug_separator", &separator)] {
                    if !value.is_empty() && validate_identifier(key, value).is_err() {
                        p.push(format!(
                            "`{key}` {value:?} may only contain A-Z, a-z, 0-9, '.', '_' and '-'"
                        ));
                    }
                }
                if separator.is_empty() || separator.chars().any(|c| c.is_ascii_alphanumeric()) {
                    p.push(format!(
                        "`slug_separator` {separator:?} must be non-empty and contain no letter or digit"
                    ));
                }
                // Room for the prefix, both separators, the UUID part and one character each
                // of organisation and project.
                let least = prefix.len() + 2 * separator.len() + UUID_PART + 2;
                if max_len < least || max_len > 255 {
                    p.push(format!(
                        "`max_username_length`: {max_len} leaves no room for the name; with user_prefix {prefix:?} and slug_separator {separator:?} it must be between {least} and 255"
                    ));
                }
                Self::CroitS3 {
                    prefix,
                    separator,
                    max_len,
                }
            }
            other => {
                p.push(format!(
                    "`naming_policy`: {other:?} is not a policy; use `slug` or `croit_s3`"
                ));
                Self::Slug { allocation_prefix }
            }
        }
    }

    /// The uid for a resource (validated as an identifier).
    pub fn uid(&self, parts: &NameParts<'_>) -> Result<String, BackendError> {
        match self {
            Self::Slug { allocation_prefix } => {
                let slug = parts.slug.filter(|s| !s.is_empty()).ok_or_else(|| {
                    BackendError::invalid("the resource has no slug to name its S3 user")
                })?;
                uid_for_slug(allocation_prefix, slug)
            }
            Self::CroitS3 {
                prefix,
                separator,
                max_len,
            } => {
                let uuid: String = parts
                    .resource_uuid
                    .chars()
                    .filter(|c| *c != '-')
                    .collect::<String>()
                    .to_lowercase();
                if uuid.len() < UUID_PART || !uuid.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(BackendError::invalid(format!(
                        "resource UUID {:?} cannot name an S3 user",
                        parts.resource_uuid
                    )));
                }
                // croit-s3 used `org` and `proj` when Waldur gave no slug.
                let org = clean(parts.customer_slug.unwrap_or("org"), separator);
                let project = clean(parts.project_slug.unwrap_or("proj"), separator);
                let uid = croit_s3_name(
                    prefix,
                    separator,
                    *max_len,
                    &org,
                    &project,
                    &uuid[..UUID_PART],
                );
                validate_identifier("S3 user id", &uid)?;
                Ok(uid)
            }
        }
    }
}

/// croit-s3's cleaning: lower-case, every run of characters other than ASCII letters and
/// digits becomes one separator, none at either end; nothing left is `default`.
fn clean(s: &str, separator: &str) -> String {
    let words: Vec<String> = s
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    if words.is_empty() {
        "default".into()
    } else {
        words.join(separator)
    }
}

/// Joins the parts, shortening organisation and project (half the room each, the project
/// taking an odd one) when the whole is longer than `max_len`. Unlike croit-s3, a cut part
/// never ends in a separator and the result always fits (`max_len` is checked when read).
fn croit_s3_name(
    prefix: &str,
    separator: &str,
    max_len: usize,
    org: &str,
    project: &str,
    uuid: &str,
) -> String {
    let fixed = prefix.len() + 2 * separator.len() + uuid.len();
    let (mut org, mut project) = (org.to_string(), project.to_string());
    if fixed + org.len() + project.len() > max_len {
        let room = max_len.saturating_sub(fixed);
        let org_room = (room / 2).max(1);
        let project_room = room.saturating_sub(org_room).max(1);
        org = cut(&org, org_room, separator);
        project = cut(&project, project_room, separator);
    }
    format!("{prefix}{org}{separator}{project}{separator}{uuid}")
}

/// The first `n` bytes (all ASCII after cleaning), without a trailing separator.
fn cut(s: &str, n: usize, separator: &str) -> String {
    let mut out = s[..n.min(s.len())].to_string();
    while out.len() > 1 && out.ends_with(separator) {
        out.truncate(out.len() - separator.len());
    }
    // A separator cut in half (multi-character separators) leaves its start behind.
    while out.len() > 1 && !out.ends_with(|c: char| c.is_ascii_alphanumeric()) {
        out.pop();
    }
    out
}

/// The default prefix keeps consumer-chosen names out of the cluster's global namespace, so an
/// order named `backup` can never address an existing `backup` account.
pub fn uid_for_slug(allocation_prefix: &str, slug: &str) -> Result<String, BackendError> {
    let prefix = if allocation_prefix.is_empty() {
        DEFAULT_PREFIX
    } else {
        allocation_prefix
    };
    let uid = format!("{prefix}{slug}").to_lowercase();
    validate_identifier("S3 user id", &uid)?;
    Ok(uid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn worked_examples() {
        assert_eq!(uid_for_slug("", "backup").unwrap(), "waldur-backup");
        assert_eq!(uid_for_slug("tenant-", "backup").unwrap(), "tenant-backup");
        assert_eq!(uid_for_slug("Waldur-", "MyRes").unwrap(), "waldur-myres");
        assert_eq!(
            uid_for_slug("", "test-proje-2").unwrap(),
            "waldur-test-proje-2"
        );
    }

    #[test]
    fn odd_slugs_are_refused() {
        assert!(uid_for_slug("", "../../admin").is_err());
        assert!(uid_for_slug("", "a b").is_err());
        assert!(uid_for_slug("", "x?y=1").is_err());
    }

    const UUID: &str = "12345678-1234-5678-9abc-123456789abc";

    fn policy(settings: serde_json::Value) -> NamingPolicy {
        let (mut p, mut notes) = (Vec::new(), Vec::new());
        let n = NamingPolicy::from_map(
            settings.as_object().unwrap(),
            "croit_s3",
            &mut p,
            &mut notes,
        );
        assert!(p.is_empty(), "{p:?}");
        n
    }

    fn name(n: &NamingPolicy, org: &str, project: &str) -> String {
        n.uid(&NameParts {
            customer_slug: Some(org),
            project_slug: Some(project),
            resource_uuid: UUID,
            ..NameParts::default()
        })
        .unwrap()
    }

    /// The worked examples of the croit-s3 plugin's naming (reference §4.5, #7–#14); where its
    /// truncation left a doubled or trailing separator or overran the maximum, ours does not.
    #[test]
    fn croit_s3_names() {
        let d = policy(json!({}));
        assert_eq!(
            name(&d, "test-org", "test-project"),
            "waldur_test_org_test_project_12345678"
        );
        assert_eq!(
            name(&d, "Test@Org!", "My Project (2024)"),
            "waldur_test_org_my_project_2024_12345678"
        );
        assert_eq!(name(&d, "", "123"), "waldur_default_123_12345678");
        assert_eq!(
            name(&d, "org___with__underscores", "___leading_trailing___"),
            "waldur_org_with_underscores_leading_trailing_12345678"
        );
        let short = policy(json!({"max_username_length": 20}));
        let n = name(
            &short,
            "very-long-organization-name",
            "very-long-project-name",
        );
        assert_eq!(n, "waldur_v_ve_12345678");
        // croit-s3 gave `waldur_very__very__12345678` here.
        let mid = policy(json!({"max_username_length": 27}));
        assert_eq!(
            name(
                &mid,
                "very-long-organization-name",
                "very-long-project-name"
            ),
            "waldur_very_very_12345678"
        );
        // croit-s3 applied its separator only between the parts.
        let dash =
            policy(json!({"user_prefix": "w_", "slug_separator": "-", "max_username_length": 32}));
        assert_eq!(
            name(&dash, "test-org", "test-project"),
            "w_test-org-test-project-12345678"
        );
        for max in 20..70 {
            let n = policy(json!({"max_username_length": max}));
            let uid = name(
                &n,
                "a-very-long-customer-organisation",
                "and-its.project_2024",
            );
            assert!(uid.len() <= max, "{uid} > {max}");
            assert!(
                uid.starts_with("waldur_") && uid.ends_with("_12345678"),
                "{uid}"
            );
            assert!(!uid.contains("__"), "{uid}");
        }
        // Waldur without slugs: croit-s3's stand-ins.
        let uid = d
            .uid(&NameParts {
                resource_uuid: UUID,
                ..NameParts::default()
            })
            .unwrap();
        assert_eq!(uid, "waldur_org_proj_12345678");
    }

    #[test]
    fn croit_s3_settings_are_checked() {
        let check = |v: serde_json::Value| {
            let (mut p, mut notes) = (Vec::new(), Vec::new());
            NamingPolicy::from_map(v.as_object().unwrap(), "slug", &mut p, &mut notes);
            (p, notes)
        };
        let (p, _) = check(json!({"naming_policy": "croit_s3", "max_username_length": 16}));
        assert!(p[0].contains("between 19 and 255"), "{p:?}");
        let (p, _) = check(json!({"naming_policy": "croit_s3", "slug_separator": "x"}));
        assert!(p[0].contains("slug_separator"), "{p:?}");
        let (p, _) = check(json!({"naming_policy": "croit_s3", "user_prefix": "a/b"}));
        assert!(p[0].contains("user_prefix"), "{p:?}");
        let (p, _) = check(json!({"naming_policy": "fancy"}));
        assert!(p[0].contains("`slug` or `croit_s3`"), "{p:?}");
        let (p, notes) = check(json!({"user_prefix": "waldur_"}));
        assert!(p.is_empty());
        assert!(
            notes[0].contains("no effect with the `slug` naming policy"),
            "{notes:?}"
        );
        assert!(
            NamingPolicy::Slug {
                allocation_prefix: String::new()
            }
            .uid(&NameParts {
                resource_uuid: UUID,
                ..NameParts::default()
            })
            .is_err()
        );
    }
}
