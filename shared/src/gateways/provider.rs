//! The payment gateways the platform can talk to, as one closed list. A provider's name is
//! written here once; the database's `CHECK (provider IN …)`, the configuration's host
//! overrides and the connector constructors are held to this list (by tests and by exhaustive
//! matches), so adding a provider cannot miss one of them.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// One payment gateway.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// The built-in sandbox gateway (test mode only).
    Sandbox,
    /// Razorpay.
    Razorpay,
    /// PayU India.
    #[serde(rename = "payu")]
    PayU,
    /// Cashfree Payments.
    Cashfree,
    /// PhonePe Payment Gateway.
    #[serde(rename = "phonepe")]
    PhonePe,
    /// Easebuzz.
    Easebuzz,
    /// Stripe.
    Stripe,
}

impl Provider {
    /// Every provider.
    pub const ALL: [Provider; 7] = [
        Provider::Sandbox,
        Provider::Razorpay,
        Provider::PayU,
        Provider::Cashfree,
        Provider::PhonePe,
        Provider::Easebuzz,
        Provider::Stripe,
    ];

    /// The name used in the API, the database and configuration.
    pub const fn as_str(self) -> &'static str {
        match self {
            Provider::Sandbox => "sandbox",
            Provider::Razorpay => "razorpay",
            Provider::PayU => "payu",
            Provider::Cashfree => "cashfree",
            Provider::PhonePe => "phonepe",
            Provider::Easebuzz => "easebuzz",
            Provider::Stripe => "stripe",
        }
    }

    /// Whether the provider is a third party with hosts of its own, which configuration may
    /// replace (`GATEWAY_<PROVIDER>_<TEST|LIVE>_URL`); the sandbox is served by the platform.
    pub const fn is_external(self) -> bool {
        !matches!(self, Provider::Sandbox)
    }

    /// The third-party providers.
    pub fn external() -> impl Iterator<Item = Provider> {
        Provider::ALL.into_iter().filter(|p| p.is_external())
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not a provider's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown payment provider '{0}'")]
pub struct UnknownProvider(pub String);

impl FromStr for Provider {
    type Err = UnknownProvider;

    fn from_str(name: &str) -> Result<Provider, UnknownProvider> {
        Provider::ALL
            .into_iter()
            .find(|p| p.as_str() == name)
            .ok_or_else(|| UnknownProvider(name.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_text_and_json() {
        for provider in Provider::ALL {
            assert_eq!(provider.as_str().parse::<Provider>(), Ok(provider));
            let json = serde_json::to_string(&provider).unwrap();
            assert_eq!(json, format!("\"{provider}\""));
            assert_eq!(serde_json::from_str::<Provider>(&json).unwrap(), provider);
        }
        assert!("PayU".parse::<Provider>().is_err());
        assert!("".parse::<Provider>().is_err());
    }

    #[test]
    fn only_the_sandbox_is_served_by_the_platform() {
        let external: Vec<_> = Provider::external().collect();
        assert_eq!(external.len(), Provider::ALL.len() - 1);
        assert!(!external.contains(&Provider::Sandbox));
    }
}
