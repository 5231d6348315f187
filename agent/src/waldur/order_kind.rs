//! Waldur's order types and states as enums. Parsed leniently: a value this agent does not
//! know is kept as `Other` (Mastermind adds states between versions) and never acted on.

use serde::{Deserialize, Deserializer};

/// Defines a string enum with a lenient `Other(String)` catch-all.
macro_rules! wire_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum $name {
            $($variant,)+
            /// A value this agent does not know (empty when there was none).
            Other(String),
        }

        impl Default for $name {
            fn default() -> Self {
                Self::Other(String::new())
            }
        }

        impl $name {
            pub fn parse(s: &str) -> Self {
                match s {
                    $($text => Self::$variant,)+
                    other => Self::Other(other.to_string()),
                }
            }

            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $text,)+
                    Self::Other(s) => s,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                Ok(Self::parse(&Option::<String>::deserialize(d)?.unwrap_or_default()))
            }
        }
    };
}

wire_enum!(
    /// `type` of a marketplace order.
    OrderType {
        Create => "Create",
        Update => "Update",
        Terminate => "Terminate",
        Restore => "Restore",
    }
);

wire_enum!(
    /// `state` of a marketplace order.
    OrderState {
        PendingConsumer => "pending-consumer",
        PendingProvider => "pending-provider",
        PendingProject => "pending-project",
        PendingStartDate => "pending-start-date",
        Executing => "executing",
        Done => "done",
        Erred => "erred",
        Canceled => "canceled",
        Rejected => "rejected",
    }
);

impl OrderState {
    /// States in which an order needs the provider.
    pub const ACTIVE: [OrderState; 2] = [OrderState::PendingProvider, OrderState::Executing];

    pub fn is_active(&self) -> bool {
        Self::ACTIVE.contains(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values_round_trip_and_unknown_ones_are_kept() {
        for s in [
            "pending-provider",
            "executing",
            "done",
            "pending-start-date",
        ] {
            assert_eq!(OrderState::parse(s).as_str(), s);
        }
        assert_eq!(OrderState::parse("executing"), OrderState::Executing);
        assert!(OrderState::parse("pending-provider").is_active());
        let odd = OrderState::parse("pending-review");
        assert!(!odd.is_active());
        assert_eq!(odd.to_string(), "pending-review");
        let t: OrderType = serde_json::from_str("\"Terminate\"").unwrap();
        assert_eq!(t, OrderType::Terminate);
        let t: OrderType = serde_json::from_str("null").unwrap();
        assert_eq!(t, OrderType::Other(String::new()));
        let t: OrderType = serde_json::from_str("\"Migrate\"").unwrap();
        assert_eq!(t.as_str(), "Migrate");
    }
}
