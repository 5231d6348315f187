//! The uid of a resource's S3 user: `lower(allocation_prefix or "waldur-") + slug`.

use crate::{BackendError, validate_identifier};

pub const DEFAULT_PREFIX: &str = "waldur-";

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
}
