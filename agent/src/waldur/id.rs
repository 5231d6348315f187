//! Waldur object UUIDs in the one form the agent keeps, compares and sends: 32 lowercase hex
//! digits. Waldur renders hex, but operators, events and older data may use the hyphenated
//! or upper-case form; every id is normalised once, where it enters (parsing an answer or an
//! event, reading the config), and is a `WaldurId` from then on.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WaldurId(String);

impl WaldurId {
    /// Normalises any rendering (hyphens, case, surrounding space). Not a validation: an id
    /// that is not a UUID stays what it is and simply matches nothing.
    pub fn new(s: &str) -> Self {
        Self(s.trim().replace('-', "").to_lowercase())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for 32 hex digits (what Waldur's URLs accept).
    pub fn is_uuid(&self) -> bool {
        self.0.len() == 32 && self.0.bytes().all(|b| b.is_ascii_hexdigit())
    }
}

impl std::ops::Deref for WaldurId {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for WaldurId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for WaldurId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::fmt::Debug for WaldurId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl From<WaldurId> for String {
    fn from(id: WaldurId) -> String {
        id.0
    }
}

impl PartialEq<str> for WaldurId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl Serialize for WaldurId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for WaldurId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self::new(
            &Option::<String>::deserialize(d)?.unwrap_or_default(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rendering_becomes_one_form() {
        let a = WaldurId::new(" 0A1B2C3D-4E5F-6071-8293-A4B5C6D7E8F9 ");
        let b: WaldurId = serde_json::from_str("\"0a1b2c3d4e5f60718293a4b5c6d7e8f9\"").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.as_str(), "0a1b2c3d4e5f60718293a4b5c6d7e8f9");
        assert!(a.is_uuid());
        assert!(!WaldurId::new("../etc").is_uuid());
        let none: WaldurId = serde_json::from_str("null").unwrap();
        assert!(none.is_empty());
    }
}
