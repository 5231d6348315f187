//! The ownership rules every backend obeys, written once: whose user this is, and which keys
//! of it may go.

use crate::{Tenant, vendor::VendorUser};
use std::collections::HashSet;

/// Whose user a backend user is, judged by its stamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// It carries this resource's full stamp (never just any agent stamp).
    This,
    /// A bare user: no stamp, no key, no data. Nothing can be taken from anyone by stamping
    /// it; an interrupted create of a vendor that stamps after creating leaves exactly this.
    Nobody,
    /// Another resource's user, or a stranger's.
    Someone,
}

/// Judges `user` for `tenant`; `holds_data` says whether it has buckets or objects.
pub fn owner(tenant: &Tenant, user: &VendorUser, holds_data: bool) -> Owner {
    match user.stamp.as_deref() {
        Some(s) if tenant.owns(s) => Owner::This,
        // Adopted: whatever its stamp field holds (nothing, a customer's e-mail), it is not
        // another resource's.
        s if tenant.recorded && !s.is_some_and(crate::types::is_agent_stamp) => Owner::This,
        None if user.access_keys.is_empty() && !holds_data => Owner::Nobody,
        _ => Owner::Someone,
    }
}

/// The keys to remove from a user so that it holds only those Waldur holds. Nothing goes when
/// Waldur's list is empty, unless the user is fresh (created or re-adopted by this order):
/// an empty list proves nothing about a user that may hold keys not reported yet.
pub fn keys_to_prune<'a>(
    on_backend: &'a [String],
    held: &HashSet<&str>,
    fresh_user: bool,
) -> Vec<&'a str> {
    if held.is_empty() && !fresh_user {
        return Vec::new();
    }
    on_backend
        .iter()
        .map(String::as_str)
        .filter(|k| !held.contains(k))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: &str = "12345678-1234-5678-9abc-123456789abc";

    fn user(stamp: Option<&str>, keys: &[&str]) -> VendorUser {
        VendorUser {
            uid: "waldur-u".into(),
            stamp: stamp.map(str::to_string),
            access_keys: keys.iter().map(|k| k.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn only_the_full_stamp_of_this_resource_owns() {
        let t = Tenant::new("waldur-u", R).unwrap();
        let mine = t.stamp();
        assert_eq!(owner(&t, &user(Some(&mine), &["K"]), true), Owner::This);
        assert_eq!(
            owner(&t, &user(Some(&mine.to_uppercase()), &[]), false),
            Owner::This,
            "stored lower- or upper-cased"
        );
        let other = Tenant::new("waldur-u", "87654321-1234-5678-9abc-123456789abc").unwrap();
        assert_eq!(
            owner(&t, &user(Some(&other.stamp()), &[]), false),
            Owner::Someone
        );
        assert_eq!(
            owner(&t, &user(Some("a@b.example"), &[]), false),
            Owner::Someone
        );
        assert_eq!(owner(&t, &user(None, &[]), false), Owner::Nobody);
        // Adopted users: proven by the agent's records, unless another resource's stamp says
        // otherwise.
        let adopted = t.clone().with_record(true);
        assert_eq!(owner(&adopted, &user(None, &["K"]), true), Owner::This);
        assert_eq!(
            owner(&adopted, &user(Some("ops@customer.example"), &["K"]), true),
            Owner::This
        );
        assert_eq!(
            owner(&adopted, &user(Some(&other.stamp()), &["K"]), true),
            Owner::Someone
        );
        assert_eq!(
            owner(&t, &user(None, &["K"]), false),
            Owner::Someone,
            "has a key"
        );
        assert_eq!(
            owner(&t, &user(None, &[]), true),
            Owner::Someone,
            "has data"
        );
    }

    #[test]
    fn pruning_needs_a_non_empty_list_unless_the_user_is_fresh() {
        let keys = vec!["A".to_string(), "B".to_string()];
        let none = HashSet::new();
        assert!(keys_to_prune(&keys, &none, false).is_empty());
        assert_eq!(keys_to_prune(&keys, &none, true), vec!["A", "B"]);
        let held: HashSet<&str> = ["B"].into();
        assert_eq!(keys_to_prune(&keys, &held, false), vec!["A"]);
    }
}
