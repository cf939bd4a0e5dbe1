//! Our fee on a payment: the merchant's rate in basis points plus an optional fixed fee, per
//! payment method where the method is known, and GST at 18 % on the fee. Every amount is rounded
//! with [`crate::money::share_of`] (half up to the paisa), and only there.

use crate::money::{gst_on, prorate, share_of};
use serde::{Deserialize, Serialize};

/// A fee rate: basis points of the amount plus a fixed fee in minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FeeRate {
    /// Basis points of the payment's amount (199 = 1.99 %).
    pub rate_bps: u32,
    /// Minor units added per payment.
    pub fixed_fee: i64,
}

/// What we charge on one payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, utoipa::ToSchema)]
pub struct Charge {
    /// Our fee, minor units.
    pub fee: i64,
    /// GST on the fee (18 %), minor units.
    pub gst: i64,
}

impl Charge {
    /// Fee and GST together.
    pub fn total(self) -> i64 {
        self.fee.saturating_add(self.gst)
    }

    /// The part of this charge a refund takes back when `refunded` of `amount` has been refunded
    /// in all (cumulative, so that refunds adding up to the amount give back exactly the charge).
    pub fn returned_when(self, refunded: i64, amount: i64) -> Charge {
        Charge {
            fee: prorate(self.fee, refunded, amount),
            gst: prorate(self.gst, refunded, amount),
        }
    }

    /// What of this charge a refund that takes the payment's refunded sum from `refunded_before`
    /// to `refunded_after` of `amount` returns: its own share (cumulative, so that shares add up
    /// to the charge), and never more than the refunds before it, which returned
    /// `returned_before`, left of the charge up to `refunded_after` (so that the returns on one
    /// payment never exceed it, even after a refund was undone). A refund that returned nothing
    /// because the merchant's setting kept our fee then does not make a later one return its
    /// share as well.
    pub fn returned_by(
        self,
        refunded_before: i64,
        refunded_after: i64,
        amount: i64,
        returned_before: Charge,
    ) -> Charge {
        let upto = self.returned_when(refunded_after, amount);
        let share = upto.less(self.returned_when(refunded_before, amount));
        let left = upto.less(returned_before);
        Charge {
            fee: share.fee.min(left.fee),
            gst: share.gst.min(left.gst),
        }
    }

    /// This charge less `other` (what one refund returns, from two cumulative figures).
    pub fn less(self, other: Charge) -> Charge {
        Charge {
            fee: self.fee.saturating_sub(other.fee).max(0),
            gst: self.gst.saturating_sub(other.gst).max(0),
        }
    }
}

impl FeeRate {
    /// The fee and its GST on a payment of `amount`.
    pub fn charge(self, amount: i64) -> Charge {
        let fee = share_of(amount, self.rate_bps).saturating_add(self.fixed_fee);
        Charge {
            fee,
            gst: gst_on(fee),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fees_round_half_up_to_the_paisa() {
        // ₹99,999.99 at 1.99 % + ₹3, by hand:
        // 9,999,999 × 199 / 10,000 = 198,999.98 → 199,000; + 300 = 199,300; GST 35,874 exactly.
        let rate = FeeRate {
            rate_bps: 199,
            fixed_fee: 300,
        };
        assert_eq!(
            rate.charge(9_999_999),
            Charge {
                fee: 199_300,
                gst: 35_874
            }
        );
        // 25 paise at 2 %: 0.5 → 1; GST on 1 paisa: 0.18 → 0.
        let two = FeeRate {
            rate_bps: 200,
            fixed_fee: 0,
        };
        assert_eq!(two.charge(25), Charge { fee: 1, gst: 0 });
        // 1 paisa at 1.99 %: 0.0199 → 0.
        assert_eq!(
            FeeRate {
                rate_bps: 199,
                fixed_fee: 0
            }
            .charge(1),
            Charge { fee: 0, gst: 0 }
        );
        // ₹100 at 1.99 %: 199; GST 35.82 → 36.
        assert_eq!(
            FeeRate {
                rate_bps: 199,
                fixed_fee: 0
            }
            .charge(10_000),
            Charge { fee: 199, gst: 36 }
        );
    }

    #[test]
    fn refunds_adding_up_to_the_amount_return_exactly_the_charge() {
        let charge = Charge { fee: 199, gst: 36 };
        let first = charge.returned_when(3_333, 10_000);
        assert_eq!(first, Charge { fee: 66, gst: 12 }); // 66.33 → 66, 11.999 → 12
        let second = charge.returned_when(10_000, 10_000).less(first);
        assert_eq!(second, Charge { fee: 133, gst: 24 });
        assert_eq!(first.fee + second.fee, 199);
        assert_eq!(first.gst + second.gst, 36);
    }

    #[test]
    fn a_refund_returns_only_its_own_share_after_one_that_kept_the_fee() {
        let charge = Charge { fee: 199, gst: 36 };
        // Half refunded with our fee kept (nothing returned), then the other half with it returned:
        // the second half's share only (199 − 99.5 → 100 = 99; 36 − 18 = 18), not the whole fee.
        assert_eq!(
            charge.returned_by(5_000, 10_000, 10_000, Charge::default()),
            Charge { fee: 99, gst: 18 }
        );
        // All returned, in two refunds: exactly the charge.
        let first = charge.returned_by(0, 3_333, 10_000, Charge::default());
        assert_eq!(first, Charge { fee: 66, gst: 12 });
        let second = charge.returned_by(3_333, 10_000, 10_000, first);
        assert_eq!(second, Charge { fee: 133, gst: 24 });
        // 25 paise refunded twice (the first share rounds to 0, the cumulative second to 1), the
        // first refund undone, then the remaining 99.75: its own share would be 199 − 0, but only
        // 198 is left, and the payment's returns add up to the charge, not one paisa more.
        let a = charge.returned_by(0, 25, 10_000, Charge::default());
        let b = charge.returned_by(25, 50, 10_000, a);
        assert_eq!((a, b), (Charge::default(), Charge { fee: 1, gst: 0 }));
        let c = charge.returned_by(25, 10_000, 10_000, b);
        assert_eq!(c, Charge { fee: 198, gst: 36 });
    }
}
