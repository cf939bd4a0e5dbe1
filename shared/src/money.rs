//! Money: integer minor units (paise for INR) with a currency. Never floating point.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A currency we take payments in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
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

/// An amount as a gateway reports it: minor units and the gateway's own ISO 4217 code, kept as
/// text because a gateway may report a currency we do not take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportedAmount {
    /// Minor units (paise for INR).
    pub minor: i64,
    /// The ISO 4217 code the gateway gave, upper-cased.
    pub currency: String,
}

impl ReportedAmount {
    /// An amount in minor units with the gateway's code (any case).
    pub fn new(minor: i64, currency: &str) -> ReportedAmount {
        ReportedAmount {
            minor,
            currency: currency.trim().to_ascii_uppercase(),
        }
    }

    /// Whether this is exactly `minor` in `currency`.
    pub fn matches(&self, minor: i64, currency: &str) -> bool {
        self.minor == minor && self.currency == currency
    }
}

impl fmt::Display for ReportedAmount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.minor, self.currency)
    }
}

/// Parses a non-negative major-unit decimal with a two-place minor unit (`"499.00"`, `"499.5"`,
/// `"499"`) into minor units, exactly: no floating point. Digits past the second decimal place
/// must be zeros; signs, exponents, separators and overflow are refused.
pub fn parse_major(text: &str) -> Option<i64> {
    let text = text.trim();
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, fraction)) => (whole, fraction),
        None => (text, ""),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) {
        return None;
    }
    if text.ends_with('.') {
        return None;
    }
    let (cents, rest) = fraction.split_at(fraction.len().min(2));
    if rest.bytes().any(|b| b != b'0') {
        return None;
    }
    let mut minor: i64 = whole.parse().ok()?;
    minor = minor.checked_mul(100)?;
    let cents: i64 = match cents.len() {
        0 => 0,
        1 => cents.parse::<i64>().ok()? * 10,
        _ => cents.parse().ok()?,
    };
    minor.checked_add(cents)
}

/// [`parse_major`] over a JSON string or number (Cashfree sends `499.5` as a number; its text,
/// the shortest one that reads back as the same value, is parsed, never the float).
pub fn parse_major_json(value: &serde_json::Value) -> Option<i64> {
    match value {
        serde_json::Value::String(s) => parse_major(s),
        serde_json::Value::Number(n) => parse_major(&n.to_string()),
        _ => None,
    }
}

/// GST on our fee, in basis points (18 %).
pub const GST_BPS: u32 = 1_800;

/// `bps` basis points of `minor` units, rounded half up to the unit: the one rounding rule of the
/// platform's money (fees, GST, commission shares). Half up means a result of exactly x.5 paise is
/// x + 1 (2.5 → 3); amounts are never negative here, so "half up" and "half away from zero" agree.
/// Saturates at `i64::MAX` rather than wrap.
pub fn share_of(minor: i64, bps: u32) -> i64 {
    let share = (i128::from(minor) * i128::from(bps) + 5_000) / 10_000;
    i64::try_from(share).unwrap_or(i64::MAX)
}

/// The part of `minor` that `part` is of `whole` (`minor × part ÷ whole`), rounded half up like
/// [`share_of`]: what a partial refund takes back of a fee. `part` of `whole` is `whole` of
/// `whole` at most, so the sum of the parts of a whole, taken cumulatively, is `minor` exactly.
/// Zero when `whole` is not positive.
pub fn prorate(minor: i64, part: i64, whole: i64) -> i64 {
    if whole <= 0 {
        return 0;
    }
    let part = part.clamp(0, whole);
    let share =
        (i128::from(minor) * i128::from(part) * 2 + i128::from(whole)) / (2 * i128::from(whole));
    i64::try_from(share).unwrap_or(i64::MAX)
}

/// The GST on a fee of `fee` minor units (18 %, rounded with [`share_of`]).
pub fn gst_on(fee: i64) -> i64 {
    share_of(fee, GST_BPS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prorating_rounds_half_up_and_never_passes_the_whole() {
        assert_eq!(prorate(3, 1, 2), 2); // 1.5 → 2
        assert_eq!(prorate(200, 1, 3), 67); // 66.67 → 67
        assert_eq!(prorate(200, 3, 3), 200);
        assert_eq!(prorate(200, 5, 3), 200);
        assert_eq!(prorate(200, 1, 0), 0);
        assert_eq!(prorate(1, 1, 3), 0); // 0.33 → 0
    }

    #[test]
    fn major_amounts_parse_exactly() {
        assert_eq!(parse_major("499.00"), Some(49900));
        assert_eq!(parse_major("499"), Some(49900));
        assert_eq!(parse_major("499.5"), Some(49950));
        assert_eq!(parse_major(" 0.07 "), Some(7));
        assert_eq!(parse_major("1.000"), Some(100));
        assert_eq!(parse_major("0.29"), Some(29), "0.29 is not 28.999… paise");
        assert_eq!(parse_major("92233720368547758.07"), Some(i64::MAX));
        for bad in [
            "",
            ".",
            "1.",
            ".5",
            "-1.00",
            "+1",
            "1.001",
            "1e3",
            "1,000.00",
            "12a",
            "1.2.3",
            "92233720368547758.08",
            "NaN",
        ] {
            assert_eq!(parse_major(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn json_amounts_parse_from_their_text() {
        use serde_json::json;
        assert_eq!(parse_major_json(&json!(499.5)), Some(49950));
        assert_eq!(parse_major_json(&json!(1)), Some(100));
        assert_eq!(parse_major_json(&json!(0.1)), Some(10));
        assert_eq!(parse_major_json(&json!("10.00")), Some(1000));
        assert_eq!(parse_major_json(&json!(-1)), None);
        assert_eq!(parse_major_json(&json!(null)), None);
        assert_eq!(parse_major_json(&json!(1e300)), None);
    }

    #[test]
    fn reported_amounts_compare_codes_in_upper_case() {
        let usd = ReportedAmount::new(100, "usd");
        assert_eq!(usd.currency, "USD");
        assert!(usd.matches(100, "USD"));
        assert!(!usd.matches(100, "INR"));
        assert!(!ReportedAmount::new(99, "INR").matches(100, "INR"));
    }

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

    #[test]
    fn shares_round_half_up_to_the_paisa_and_gst_is_eighteen_percent_of_the_fee() {
        assert_eq!(share_of(25_000, 1), 3, "2.5 paise is 3");
        assert_eq!(share_of(24_999, 1), 2, "2.4999 paise is 2");
        assert_eq!(share_of(10_000, 199), 199);
        assert_eq!(share_of(0, 350), 0);
        assert_eq!(share_of(i64::MAX, 10_000), i64::MAX);
        assert_eq!(
            share_of(i64::MAX, 20_000),
            i64::MAX,
            "saturates, never wraps"
        );
        // ₹1,000 at 3.5 %: a fee of ₹35 and GST of ₹6.30.
        assert_eq!(share_of(100_000, 350), 3_500);
        assert_eq!(gst_on(3_500), 630);
        // 18 % of 3 paise is 0.54 → 1; of 2 paise 0.36 → 0.
        assert_eq!(gst_on(3), 1);
        assert_eq!(gst_on(2), 0);
    }
}
