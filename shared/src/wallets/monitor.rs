//! The low-balance alert: one per merchant and mode, raised while the balance is below the alert
//! threshold (critical below the suspension threshold) and resolved when it is back at or above.
//! People are told through the alerts' machinery, at most once per cool-down, the merchant's
//! recipients too.
//!
//! Checked at once for one wallet (the `wallet-balance-monitor` worker, fed by captures that
//! debit a wallet; operators' top-ups and threshold changes) and for every wallet by the
//! `low-balance-notifier` schedule.

use super::view::{Figures, figures};
use super::{CURRENCY, WalletState};
use crate::App;
use crate::alerts::{self, AlertKind, Condition};
use crate::db::record::Record;
use crate::db::{self, Scope, Transaction};
use crate::error::AppError;
use crate::ids::MerchantId;
use crate::jobs::outbox::Outgoing;
use crate::jobs::queues;
use crate::mode::Mode;
use crate::money::to_major_string;
use crate::notifications::Severity;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

/// The job asking for one wallet to be checked.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct CheckJob {
    /// Whose wallet.
    pub merchant_id: MerchantId,
    /// Which mode's.
    pub mode: Mode,
}

impl CheckJob {
    /// The outbox item for the `wallet-balance` queue.
    pub fn outgoing(self) -> Outgoing {
        Outgoing::Job {
            queue: queues::WALLET_BALANCE,
            body: json!(self),
        }
    }
}

/// The alert key of a wallet.
pub fn key(merchant: MerchantId, mode: Mode) -> String {
    format!("wallet_balance_low:{merchant}:{mode}")
}

/// The condition a wallet's figures raise, if any.
pub fn condition(merchant: MerchantId, mode: Mode, f: &Figures) -> Option<Condition> {
    let state = f.state();
    let severity = match state {
        WalletState::Ok => return None,
        WalletState::Low => Severity::Warning,
        WalletState::Suspended => Severity::Critical,
    };
    let rupees = |paise: i64| format!("₹{}", to_major_string(paise));
    let title = match state {
        WalletState::Suspended => format!(
            "Wallet of merchant {merchant} ({mode}) is at {}, below its suspension threshold of {}: payments on its own gateway accounts are refused",
            rupees(f.balance),
            rupees(f.suspension_threshold)
        ),
        _ => format!(
            "Wallet of merchant {merchant} ({mode}) is at {}, below its alert threshold of {}: top it up",
            rupees(f.balance),
            rupees(f.alert_threshold)
        ),
    };
    Some(Condition {
        key: key(merchant, mode),
        kind: AlertKind::WalletBalanceLow,
        severity,
        merchant_id: Some(merchant),
        title,
        details: json!({
            "merchant_id": merchant, "mode": mode, "currency": CURRENCY, "balance": f.balance,
            "alert_threshold": f.alert_threshold, "suspension_threshold": f.suspension_threshold,
            "state": state.as_str(),
        }),
    })
}

/// What checking one wallet did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    /// Below the alert threshold: raised (or counted on the open alert).
    Low,
    /// At or above it: the open alert, if any, resolved.
    Ok,
    /// No such merchant.
    Unknown,
}

/// Raises or clears the wallet's alert in `tx` (a platform scope, so notifications go out at
/// once); answers the outbox ids to publish after commit.
pub async fn check(
    tx: &Transaction<'_>,
    app: &App,
    merchant: MerchantId,
    mode: Mode,
) -> Result<(Checked, Vec<Uuid>), AppError> {
    let Some(f) = figures(tx, merchant, mode).await? else {
        return Ok((Checked::Unknown, Vec::new()));
    };
    match condition(merchant, mode, &f) {
        Some(condition) => Ok((Checked::Low, alerts::raise(tx, app, &condition).await?)),
        None => {
            alerts::clear(tx, app, &key(merchant, mode)).await?;
            Ok((Checked::Ok, Vec::new()))
        }
    }
}

/// Checks one wallet in a transaction of its own (the worker), and publishes what it notified.
pub async fn check_one(app: &App, job: CheckJob) -> Result<Checked, AppError> {
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::System).await?;
    let (checked, ids) = check(&tx, app, job.merchant_id, job.mode).await?;
    tx.commit().await?;
    drop(client);
    app.publish(&ids).await;
    Ok(checked)
}

/// What a sweep did.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Swept {
    /// Wallets checked.
    pub checked: u64,
    /// Below their alert threshold.
    pub low: u64,
}

/// Checks every wallet that has a `wallets` row, a wallet account or an open alert.
pub async fn sweep(app: &App) -> Result<Swept, AppError> {
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::System).await?;
    let rows = tx
        .query_typed(
            "SELECT merchant_id, mode FROM wallets
             UNION
             SELECT merchant_id, mode FROM ledger_accounts WHERE code = 'merchant_wallet' AND merchant_id IS NOT NULL
             UNION
             SELECT merchant_id, (details ->> 'mode') FROM alerts
              WHERE kind = 'wallet_balance_low' AND status IN ('open', 'acknowledged') AND merchant_id IS NOT NULL
             ORDER BY 1, 2",
            &[],
        )
        .await?;
    let mut swept = Swept::default();
    let mut ids = Vec::new();
    for row in &rows {
        let r = Record::new(row, "wallets");
        let merchant = MerchantId::from_uuid(r.get("merchant_id")?);
        let mode: Mode = r.parse("mode")?;
        let (checked, written) = check(&tx, app, merchant, mode).await?;
        swept.checked += 1;
        if checked == Checked::Low {
            swept.low += 1;
        }
        ids.extend(written);
    }
    tx.commit().await?;
    drop(client);
    app.publish(&ids).await;
    Ok(swept)
}
