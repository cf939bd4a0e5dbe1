//! The transaction state machine: `created → pending → succeeded | failed | expired`, then
//! `succeeded → partially_refunded → refunded`. Anything else is refused.

use crate::gateways::PaymentOutcome;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Where a payment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TransactionStatus {
    /// Accepted by us; no order at a gateway yet.
    Created,
    /// The order exists at a gateway; the customer may be paying.
    Pending,
    /// The gateway captured the money.
    Succeeded,
    /// The gateway reported a failure.
    Failed,
    /// Nobody paid before the expiry.
    Expired,
    /// Some of the captured money was refunded.
    PartiallyRefunded,
    /// All of it was refunded.
    Refunded,
}

impl From<PaymentOutcome> for TransactionStatus {
    fn from(outcome: PaymentOutcome) -> TransactionStatus {
        match outcome {
            PaymentOutcome::Pending => TransactionStatus::Pending,
            PaymentOutcome::Succeeded => TransactionStatus::Succeeded,
            PaymentOutcome::Failed => TransactionStatus::Failed,
        }
    }
}

/// What applying a gateway-reported status does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Move to the new status.
    Apply,
    /// Already there: a duplicate, harmless.
    Duplicate,
    /// Not allowed from here (late or out-of-order event): ignore and log.
    Refused,
}

impl TransactionStatus {
    /// The name stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            TransactionStatus::Created => "created",
            TransactionStatus::Pending => "pending",
            TransactionStatus::Succeeded => "succeeded",
            TransactionStatus::Failed => "failed",
            TransactionStatus::Expired => "expired",
            TransactionStatus::PartiallyRefunded => "partially_refunded",
            TransactionStatus::Refunded => "refunded",
        }
    }

    /// Whether the customer can still pay.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            TransactionStatus::Created | TransactionStatus::Pending
        )
    }

    /// What moving from `self` to `next` means.
    ///
    /// A capture reported after a failure or expiry is still applied: the gateway holds the
    /// customer's money, and losing that fact would be worse than a late status change.
    pub fn transition(self, next: TransactionStatus) -> Transition {
        use TransactionStatus::*;
        if self == next {
            return Transition::Duplicate;
        }
        let allowed = matches!(
            (self, next),
            (Created, Pending | Succeeded | Failed | Expired)
                | (Pending, Succeeded | Failed | Expired)
                | (Failed | Expired, Succeeded)
                | (Succeeded, PartiallyRefunded | Refunded)
                | (PartiallyRefunded, Refunded)
        );
        if allowed {
            Transition::Apply
        } else {
            Transition::Refused
        }
    }
}

impl fmt::Display for TransactionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TransactionStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        use TransactionStatus::*;
        Ok(match s {
            "created" => Created,
            "pending" => Pending,
            "succeeded" => Succeeded,
            "failed" => Failed,
            "expired" => Expired,
            "partially_refunded" => PartiallyRefunded,
            "refunded" => Refunded,
            other => return Err(format!("unknown transaction status '{other}'")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::TransactionStatus::*;
    use super::*;

    #[test]
    fn forward_moves_apply() {
        for (from, to) in [
            (Created, Pending),
            (Pending, Succeeded),
            (Pending, Failed),
            (Created, Expired),
            (Succeeded, Refunded),
            (PartiallyRefunded, Refunded),
        ] {
            assert_eq!(from.transition(to), Transition::Apply, "{from} -> {to}");
        }
    }

    #[test]
    fn late_and_backward_moves_are_refused() {
        for (from, to) in [
            (Succeeded, Failed),
            (Succeeded, Pending),
            (Succeeded, Expired),
            (Failed, Pending),
            (Refunded, Succeeded),
            (Expired, Failed),
            (Created, Refunded),
        ] {
            assert_eq!(from.transition(to), Transition::Refused, "{from} -> {to}");
        }
    }

    #[test]
    fn repeats_are_duplicates_and_captures_are_never_lost() {
        assert_eq!(Succeeded.transition(Succeeded), Transition::Duplicate);
        assert_eq!(Failed.transition(Succeeded), Transition::Apply);
        assert_eq!(Expired.transition(Succeeded), Transition::Apply);
    }
}
