//! Typed, prefixed public identifiers (`mer_…`, `usr_…`): a merchant id can never be passed where a
//! user id is expected, and a malformed id is refused at the edge.
//!
//! The value is a UUIDv7, so ids sort by creation time, which keyset pagination relies on.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

/// Why a string is not an id of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be a {kind} id like '{prefix}_' followed by 32 hexadecimal characters")]
pub struct IdParseError {
    /// What the id names, for messages.
    pub kind: &'static str,
    /// The expected prefix.
    pub prefix: &'static str,
}

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Uuid);

        impl $name {
            /// The prefix of this id's public form.
            pub const PREFIX: &'static str = $prefix;
            /// What this id names, for messages.
            pub const KIND: &'static str = $kind;

            /// A new, time-ordered id.
            pub fn generate() -> Self {
                Self(Uuid::now_v7())
            }

            /// Wraps a uuid read from the database.
            pub fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// The uuid stored in the database.
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}_{}", $prefix, self.0.simple())
            }
        }

        impl FromStr for $name {
            type Err = IdParseError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                parse_prefixed(s, $prefix).map(Self).ok_or(IdParseError { kind: $kind, prefix: $prefix })
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                id_schema($prefix, $kind)
            }
        }

        impl utoipa::ToSchema for $name {
            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed(stringify!($name))
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(deserializer)?;
                raw.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

/// The API document's schema of an id: its prefix, an underscore and 32 hexadecimal characters.
fn id_schema(prefix: &str, kind: &str) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(format!("^{prefix}_[0-9a-f]{{32}}$")))
        .description(Some(format!("A {kind} id")))
        .examples([serde_json::json!(format!(
            "{prefix}_0190f0c2a4b87c3e9d1f2a3b4c5d6e7f"
        ))])
        .into()
}

fn parse_prefixed(s: &str, prefix: &str) -> Option<Uuid> {
    let hex = s.strip_prefix(prefix)?.strip_prefix('_')?;
    if hex.len() != 32
        || !hex
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    {
        return None;
    }
    Uuid::try_parse(hex).ok()
}

typed_id!(
    /// A merchant.
    MerchantId, "mer", "merchant"
);
typed_id!(
    /// A dashboard user (operator or merchant staff).
    UserId, "usr", "user"
);
typed_id!(
    /// A merchant API key pair.
    CredentialId, "cred", "credential"
);
typed_id!(
    /// A configured account at a payment gateway.
    GatewayAccountId, "gwa", "gateway account"
);

typed_id!(
    /// A payment.
    TransactionId, "txn", "transaction"
);
typed_id!(
    /// One try of a payment at one gateway.
    AttemptId, "att", "attempt"
);
typed_id!(
    /// A refund of a captured payment.
    RefundId, "rfd", "refund"
);
typed_id!(
    /// Someone who hears about notices on WhatsApp or Slack.
    RecipientId, "ntr", "notification recipient"
);

typed_id!(
    /// Something that happened that merchants hear about (its `webhook-id` too).
    EventId, "evt", "event"
);
typed_id!(
    /// A merchant's webhook endpoint.
    WebhookEndpointId, "ep", "webhook endpoint"
);
typed_id!(
    /// One attempt at delivering an event to an endpoint.
    WebhookAttemptId, "wha", "webhook attempt"
);
typed_id!(
    /// An alert raised for operators.
    AlertId, "alt", "alert"
);

typed_id!(
    /// An account of the ledger.
    LedgerAccountId, "lac", "ledger account"
);
typed_id!(
    /// A balanced journal entry of the ledger.
    LedgerEntryId, "le", "ledger entry"
);
typed_id!(
    /// Someone who brought merchants and earns a share of our fee on their payments.
    AffiliateId, "aff", "affiliate"
);
typed_id!(
    /// Money added to a merchant's prepaid wallet.
    WalletTopUpId, "wtu", "wallet top-up"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_its_public_form() {
        let id = MerchantId::generate();
        let text = id.to_string();
        assert!(text.starts_with("mer_"));
        assert_eq!(text.len(), 36);
        assert_eq!(text.parse::<MerchantId>(), Ok(id));
    }

    #[test]
    fn refuses_other_kinds_and_garbage() {
        let user = UserId::generate().to_string();
        assert!(user.parse::<MerchantId>().is_err());
        for bad in [
            "",
            "mer_",
            "mer_xyz",
            "123",
            "mer_0123456789ABCDEF0123456789abcdef",
            "mer-0",
        ] {
            assert!(bad.parse::<MerchantId>().is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn ids_sort_by_creation() {
        let a = MerchantId::generate();
        let b = MerchantId::generate();
        assert!(a < b);
    }
}
