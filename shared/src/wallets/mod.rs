//! Prepaid wallets: a merchant's balance per mode, from which our fee on payments captured on its
//! own gateway accounts is taken (ledger rule 2). The balance is its `merchant_wallet` ledger
//! account; the `wallets` row holds its thresholds (defaults without one).
//!
//! - [`view`]: the wallet as merchants and operators read it, with its movements.
//! - [`guard`]: what routing reads of it on every new payment (below the suspension threshold,
//!   only platform-owned accounts; `WALLET_BALANCE_LOW` when none can take it).
//! - [`thresholds`]: operators set the alert and suspension thresholds.
//! - [`top_ups`]: money in, by an operator or through the platform's checkout.
//! - [`monitor`]: the low-balance alert, raised and cleared per wallet.

pub mod guard;
pub mod monitor;
pub mod thresholds;
pub mod top_ups;
pub mod view;

pub use view::{Movement, WalletState, WalletView};

/// The alert threshold of a wallet without a `wallets` row (₹1,000; the column's default).
pub const DEFAULT_ALERT_THRESHOLD: i64 = 100_000;
/// The suspension threshold of a wallet without a `wallets` row (the column's default).
pub const DEFAULT_SUSPENSION_THRESHOLD: i64 = 0;
/// Wallets are kept in rupees.
pub const CURRENCY: &str = "INR";
