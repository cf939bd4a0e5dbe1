//! Money: integer minor units (paise for INR) with a currency. Never floating point.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A currency we take payments in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Currency {
    /// Indian rupee; minor unit paise (1/100).
    #[serde(rename = "INR")]
    Inr,
}

impl Currency {
    /// The ISO 4217 code.
    pub fn code(self) -> &'static str {
        match self {
            Currency::Inr => "INR",
        }
    }

    /// Parses an ISO 4217 code we support.
    pub fn parse(code: &str) -> Option<Currency> {
        match code {
            "INR" => Some(Currency::Inr),
            _ => None,
        }
    }
}

/// Strict parsing, for codes read back from the database: a code we do not support is an error.
impl std::str::FromStr for Currency {
    type Err = String;
    fn from_str(code: &str) -> Result<Self, Self::Err> {
        Currency::parse(code).ok_or_else(|| format!("unsupported currency '{code}'"))
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Formats minor units as a decimal major-unit string with two places (`12345` → `"123.45"`),
/// as PayU and Easebuzz expect; exact, with no floating point.
pub fn to_major_string(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn major_strings_are_exact() {
        assert_eq!(to_major_string(12345), "123.45");
        assert_eq!(to_major_string(100), "1.00");
        assert_eq!(to_major_string(7), "0.07");
        assert_eq!(to_major_string(-250), "-2.50");
        assert_eq!(to_major_string(i64::MAX), "92233720368547758.07");
    }

    #[test]
    fn only_supported_currencies_parse() {
        assert_eq!(Currency::parse("INR"), Some(Currency::Inr));
        assert_eq!(Currency::parse("inr"), None);
        assert_eq!(Currency::parse("XYZ"), None);
    }
}
