//! The ownership stamp in a MyFSIO display name. MyFSIO users have a server-made `user_id` and
//! a free display name of at most 64 characters (both consoles refuse more), which is the only
//! place a user can carry anything of the agent's. The full stamp
//! (`waldur-<resource uuid>-<uid>@invalid`) does not fit, so the display name carries the same
//! facts compactly: `<uid>@<resource uuid, 32 hex>`. A uid longer than 31 characters is cut
//! to 22 and a hash of the whole uid is added (`<22>~<8 hex>`), so two long uids never share
//! a display name. The uid is what the agent looks users up by; the stamp read back is the
//! full one, rebuilt from the uid asked for and the UUID found.

use site_agent_sdk::{BackendError, ownership_stamp};

/// The longest display name MyFSIO's console takes.
pub const MAX_DISPLAY: usize = 64;
const HEX_UUID: usize = 32;
/// Room for the uid beside `@` and the UUID.
const UID_ROOM: usize = MAX_DISPLAY - 1 - HEX_UUID;
const CUT: usize = 22;

/// How the uid appears in the display name.
pub fn uid_part(uid: &str) -> String {
    if uid.len() <= UID_ROOM {
        return uid.to_string();
    }
    let digest = ring::digest::digest(&ring::digest::SHA256, uid.as_bytes());
    let hash: String = digest.as_ref()[..4]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    // uids are ASCII (validated identifiers), so a byte cut is a character cut.
    format!("{}~{hash}", &uid[..CUT.min(uid.len())])
}

/// The resource UUID of an ownership stamp as 32 hex digits.
fn uuid_hex(stamp: &str, uid: &str) -> Result<String, BackendError> {
    let bad = || BackendError::invalid(format!("{stamp:?} is not an ownership stamp of {uid:?}"));
    let inner = stamp
        .strip_prefix("waldur-")
        .and_then(|s| s.strip_suffix("@invalid"))
        .and_then(|s| s.strip_suffix(uid))
        .and_then(|s| s.strip_suffix('-'))
        .ok_or_else(bad)?;
    let hex: String = inner.chars().filter(|c| *c != '-').collect();
    if hex.len() == HEX_UUID && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(hex.to_ascii_lowercase())
    } else {
        Err(bad())
    }
}

/// The display name of `uid`'s user, stamped with `stamp`.
pub fn display_name(uid: &str, stamp: &str) -> Result<String, BackendError> {
    Ok(format!("{}@{}", uid_part(uid), uuid_hex(stamp, uid)?))
}

/// The name a replacement user carries until the user it replaces is gone (`console` key
/// mode): the same facts, `#` for `@`, so it fits the same 64 characters.
pub fn pending(display: &str) -> String {
    display.replacen('@', "#", 1)
}

/// What a display name says of `uid`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    /// The full ownership stamp it carries; `None`: it is `uid` bare (a user made outside
    /// the agent, or by an older tool, under the same name).
    pub stamp: Option<String>,
    /// A replacement not yet renamed (see [`pending`]).
    pub pending: bool,
}

/// What `display` says of `uid`; `None` when it is another user's name.
pub fn read(display: &str, uid: &str) -> Option<Named> {
    if display == uid {
        return Some(Named {
            stamp: None,
            pending: false,
        });
    }
    let (name, hex, pending) = match display.rsplit_once('@') {
        Some((n, h)) => (n, h, false),
        None => {
            let (n, h) = display.rsplit_once('#')?;
            (n, h, true)
        }
    };
    if name != uid_part(uid) || hex.len() != HEX_UUID || !hex.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return None;
    }
    let h = hex.to_ascii_lowercase();
    let uuid = format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    );
    Some(Named {
        stamp: Some(ownership_stamp(&uuid, uid)),
        pending,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const UUID: &str = "12345678-1234-5678-9abc-123456789abc";

    #[test]
    fn round_trips_and_fits() {
        for uid in [
            "waldur-a",
            "waldur-a-31-characters-long-xyz",
            "waldur-a-very-long-slug-that-would-never-fit-into-sixty-four",
        ] {
            let stamp = ownership_stamp(UUID, uid);
            let d = display_name(uid, &stamp).unwrap();
            assert!(d.len() <= MAX_DISPLAY, "{d} is {} long", d.len());
            let named = read(&d, uid).unwrap();
            assert_eq!(
                (named.stamp.as_deref(), named.pending),
                (Some(stamp.as_str()), false),
                "{d}"
            );
            assert_eq!(read(&d, "waldur-b"), None, "another uid's name");
            let p = pending(&d);
            assert_eq!(p.len(), d.len());
            assert_eq!(
                read(&p, uid).unwrap(),
                Named {
                    stamp: Some(stamp),
                    pending: true
                }
            );
        }
        assert_eq!(read("waldur-a", "waldur-a").unwrap().stamp, None, "bare");
        assert_eq!(read("Local Admin", "waldur-a"), None);
    }

    #[test]
    fn long_uids_sharing_a_start_differ() {
        let a = "waldur-a-very-long-slug-that-shares-its-start-one";
        let b = "waldur-a-very-long-slug-that-shares-its-start-two";
        assert_ne!(uid_part(a), uid_part(b));
        let d = display_name(a, &ownership_stamp(UUID, a)).unwrap();
        assert_eq!(read(&d, b), None);
    }

    #[test]
    fn a_stamp_of_another_uid_is_refused() {
        assert!(display_name("waldur-a", &ownership_stamp(UUID, "waldur-b")).is_err());
        assert!(display_name("waldur-a", "someone@example.org").is_err());
    }
}
