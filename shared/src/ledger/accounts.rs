//! The chart of accounts: what each account is for, whose it is, and which may not go negative.
//!
//! | code                 | type      | owner           | may go negative?                          |
//! |----------------------|-----------|-----------------|-------------------------------------------|
//! | `gateway_clearing`   | asset     | gateway account | no: what a platform-owned gateway owes us |
//! | `platform_bank`      | asset     | platform        | yes: money received outside a gateway     |
//! | `merchant_payable`   | liability | merchant        | yes: a debt after a refund kept our fee   |
//! | `merchant_wallet`    | liability | merchant        | yes: fees of payments under way when empty|
//! | `gst_payable`        | liability | platform        | no                                        |
//! | `affiliate_payable`  | liability | affiliate       | no                                        |
//! | `suspense`           | liability | platform        | yes: money that needs a person            |
//! | `fee_revenue`        | revenue   | platform        | no                                        |
//! | `commission_expense` | expense   | platform        | no                                        |
//!
//! The database holds the same table (`ledger_account_type`, `ledger_account_limit`) and refuses
//! any line that would take a limited account below zero.

use crate::ids::{AffiliateId, GatewayAccountId, MerchantId};
use serde::Serialize;
use uuid::Uuid;

/// What an account is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccountCode {
    /// Captured on a platform-owned gateway account, not yet settled to us.
    GatewayClearing,
    /// Received outside the gateways (an operator's wallet top-up).
    PlatformBank,
    /// What we owe a merchant for its captured payments.
    MerchantPayable,
    /// A merchant's prepaid balance, from which fees on its own gateway accounts are taken.
    MerchantWallet,
    /// GST collected on our fees, owed to the government.
    GstPayable,
    /// Commission owed to an affiliate.
    AffiliatePayable,
    /// Money captured that no payment could take (an amount mismatch), for operators.
    Suspense,
    /// Our fees.
    FeeRevenue,
    /// Commission paid away from our fees.
    CommissionExpense,
}

impl AccountCode {
    /// Every code, in the order reports list them.
    pub const ALL: [AccountCode; 9] = [
        AccountCode::GatewayClearing,
        AccountCode::PlatformBank,
        AccountCode::MerchantPayable,
        AccountCode::MerchantWallet,
        AccountCode::GstPayable,
        AccountCode::AffiliatePayable,
        AccountCode::Suspense,
        AccountCode::FeeRevenue,
        AccountCode::CommissionExpense,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountCode::GatewayClearing => "gateway_clearing",
            AccountCode::PlatformBank => "platform_bank",
            AccountCode::MerchantPayable => "merchant_payable",
            AccountCode::MerchantWallet => "merchant_wallet",
            AccountCode::GstPayable => "gst_payable",
            AccountCode::AffiliatePayable => "affiliate_payable",
            AccountCode::Suspense => "suspense",
            AccountCode::FeeRevenue => "fee_revenue",
            AccountCode::CommissionExpense => "commission_expense",
        }
    }

    /// Parses a stored name.
    pub fn parse(text: &str) -> Option<AccountCode> {
        AccountCode::ALL.into_iter().find(|c| c.as_str() == text)
    }

    /// Whether the account's balance is normally a debit (assets, expenses) or a credit.
    pub fn debit_normal(self) -> bool {
        matches!(
            self,
            AccountCode::GatewayClearing
                | AccountCode::PlatformBank
                | AccountCode::CommissionExpense
        )
    }
}

/// Whose an account is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Owner {
    /// The platform's own books.
    Platform,
    /// A merchant's.
    Merchant(MerchantId),
    /// An affiliate's.
    Affiliate(AffiliateId),
    /// A gateway account's (clearing).
    GatewayAccount(GatewayAccountId),
}

impl Owner {
    /// The stored kind.
    pub fn kind(self) -> &'static str {
        match self {
            Owner::Platform => "platform",
            Owner::Merchant(_) => "merchant",
            Owner::Affiliate(_) => "affiliate",
            Owner::GatewayAccount(_) => "gateway_account",
        }
    }

    /// The stored owner id: the nil uuid for the platform.
    pub fn id(self) -> Uuid {
        match self {
            Owner::Platform => Uuid::nil(),
            Owner::Merchant(id) => id.as_uuid(),
            Owner::Affiliate(id) => id.as_uuid(),
            Owner::GatewayAccount(id) => id.as_uuid(),
        }
    }

    /// The merchant, for a merchant's own account (what row security reads).
    pub fn merchant(self) -> Option<MerchantId> {
        match self {
            Owner::Merchant(id) => Some(id),
            _ => None,
        }
    }
}

/// One account of one owner (the mode and currency come with the entry and the line).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AccountRef {
    /// What it is for.
    pub code: AccountCode,
    /// Whose.
    pub owner: Owner,
}

impl AccountRef {
    /// The clearing account of a platform-owned gateway account.
    pub fn clearing(account: GatewayAccountId) -> AccountRef {
        AccountRef {
            code: AccountCode::GatewayClearing,
            owner: Owner::GatewayAccount(account),
        }
    }

    /// A merchant's payable.
    pub fn payable(merchant: MerchantId) -> AccountRef {
        AccountRef {
            code: AccountCode::MerchantPayable,
            owner: Owner::Merchant(merchant),
        }
    }

    /// A merchant's prepaid wallet.
    pub fn wallet(merchant: MerchantId) -> AccountRef {
        AccountRef {
            code: AccountCode::MerchantWallet,
            owner: Owner::Merchant(merchant),
        }
    }

    /// An affiliate's payable.
    pub fn affiliate(affiliate: AffiliateId) -> AccountRef {
        AccountRef {
            code: AccountCode::AffiliatePayable,
            owner: Owner::Affiliate(affiliate),
        }
    }

    /// One of the platform's own accounts.
    pub fn platform(code: AccountCode) -> AccountRef {
        AccountRef {
            code,
            owner: Owner::Platform,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_know_their_normal_side() {
        for code in AccountCode::ALL {
            assert_eq!(AccountCode::parse(code.as_str()), Some(code));
        }
        assert_eq!(AccountCode::parse("cash"), None);
        assert!(AccountCode::GatewayClearing.debit_normal());
        assert!(!AccountCode::MerchantPayable.debit_normal());
        assert!(!AccountCode::FeeRevenue.debit_normal());
    }
}
