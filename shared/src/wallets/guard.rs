//! What a new payment's routing reads of the merchant's wallet: its balance and suspension
//! threshold, as columns of the routing pool's own statement (no round trip of its own on the
//! hottest path).

use super::DEFAULT_SUSPENSION_THRESHOLD;
use crate::db::record::{DecodeError, Record};

/// SQL columns over `$1` (the merchant) and `$2` (the mode): `wallet_balance` (0 without an
/// account) and `wallet_suspension_threshold` (NULL without a `wallets` row: [`Guard::read`]
/// applies the one default, [`DEFAULT_SUSPENSION_THRESHOLD`]). Both are
/// uncorrelated subqueries, evaluated once per statement.
pub const COLUMNS: &str = "coalesce((SELECT la.credits - la.debits FROM ledger_accounts la
                 WHERE la.code = 'merchant_wallet' AND la.owner_kind = 'merchant' AND la.owner_id = $1
                   AND la.mode = $2 AND la.currency = 'INR'), 0)::bigint AS wallet_balance,
       (SELECT w.suspension_threshold FROM wallets w WHERE w.merchant_id = $1 AND w.mode = $2)
           AS wallet_suspension_threshold";

/// The wallet as routing sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Guard {
    /// Paise.
    pub balance: i64,
    /// Below this, the merchant's own accounts take no new payment.
    pub suspension_threshold: i64,
}

impl Guard {
    /// Reads the [`COLUMNS`] of a row.
    pub fn read(row: &Record<'_>) -> Result<Guard, DecodeError> {
        Ok(Guard {
            balance: row.get::<Option<i64>>("wallet_balance")?.unwrap_or(0),
            suspension_threshold: row
                .get::<Option<i64>>("wallet_suspension_threshold")?
                .unwrap_or(DEFAULT_SUSPENSION_THRESHOLD),
        })
    }

    /// Whether the wallet is below its suspension threshold.
    pub fn suspended(&self) -> bool {
        self.balance < self.suspension_threshold
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suspended_only_below_the_threshold() {
        let at = Guard {
            balance: 50_000,
            suspension_threshold: 50_000,
        };
        assert!(!at.suspended());
        assert!(
            Guard {
                balance: 49_999,
                ..at
            }
            .suspended()
        );
        assert!(
            !Guard {
                balance: 0,
                suspension_threshold: 0
            }
            .suspended()
        );
    }
}
