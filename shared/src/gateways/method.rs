//! How the customer paid, in our names: what per-method fee rates (`merchant_fee_rates.method`)
//! and `transactions.payment_method` are keyed by. Each connector maps its gateway's words onto
//! these; a method we have no name for is [`PaymentMethod::Other`], never a failed report.

use std::fmt;

/// A payment method, normalised across gateways.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PaymentMethod {
    /// UPI (collect, intent, QR).
    Upi,
    /// Credit or debit card.
    Card,
    /// Net banking.
    Netbanking,
    /// A wallet (Paytm, PhonePe wallet, Amazon Pay, …).
    Wallet,
    /// EMI, on a card or cardless.
    Emi,
    /// Pay later (buy now, pay later).
    Paylater,
    /// Any method we have no name for.
    Other,
}

impl PaymentMethod {
    /// Every method, in a fixed order.
    pub const ALL: [PaymentMethod; 7] = [
        PaymentMethod::Upi,
        PaymentMethod::Card,
        PaymentMethod::Netbanking,
        PaymentMethod::Wallet,
        PaymentMethod::Emi,
        PaymentMethod::Paylater,
        PaymentMethod::Other,
    ];

    /// Our name, as stored and as fee rates name it.
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentMethod::Upi => "upi",
            PaymentMethod::Card => "card",
            PaymentMethod::Netbanking => "netbanking",
            PaymentMethod::Wallet => "wallet",
            PaymentMethod::Emi => "emi",
            PaymentMethod::Paylater => "paylater",
            PaymentMethod::Other => "other",
        }
    }

    /// A gateway's word for the method, read with `map` (given the word trimmed and in lower
    /// case): nothing when the gateway said nothing (absent, null or blank), `Other` for a word
    /// `map` does not know.
    pub fn read(word: Option<&str>, map: impl Fn(&str) -> Option<PaymentMethod>) -> Option<Self> {
        let word = word?.trim();
        if word.is_empty() {
            return None;
        }
        Some(map(&word.to_ascii_lowercase()).unwrap_or(PaymentMethod::Other))
    }

    /// Our own name (`upi`, `card`, …), as Razorpay and Stripe also spell most of them.
    pub fn named(name: &str) -> Option<PaymentMethod> {
        PaymentMethod::ALL
            .into_iter()
            .find(|m| m.as_str() == name && *m != PaymentMethod::Other)
    }
}

impl fmt::Display for PaymentMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_the_stored_column() {
        for method in PaymentMethod::ALL {
            let name = method.as_str();
            // transactions.payment_method CHECK (payment_method ~ '^[a-z][a-z_]{0,31}$')
            assert!(
                !name.is_empty()
                    && name.len() <= 32
                    && name.starts_with(|c: char| c.is_ascii_lowercase())
                    && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{name}"
            );
        }
    }

    #[test]
    fn silence_is_none_and_unknown_words_are_other() {
        assert_eq!(PaymentMethod::read(None, PaymentMethod::named), None);
        assert_eq!(PaymentMethod::read(Some("  "), PaymentMethod::named), None);
        assert_eq!(
            PaymentMethod::read(Some(" UPI "), PaymentMethod::named),
            Some(PaymentMethod::Upi)
        );
        assert_eq!(
            PaymentMethod::read(Some("crypto"), PaymentMethod::named),
            Some(PaymentMethod::Other)
        );
        assert_eq!(
            PaymentMethod::read(Some("other"), PaymentMethod::named),
            Some(PaymentMethod::Other)
        );
    }
}
