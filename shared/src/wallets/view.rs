//! The wallet as merchants and operators read it: balance, thresholds, state, the merchant's
//! payable, and the wallet account's movements, newest first.

use super::{CURRENCY, DEFAULT_ALERT_THRESHOLD, DEFAULT_SUSPENSION_THRESHOLD};
use crate::db::Transaction;
use crate::db::record::Record;
use crate::error::AppError;
use crate::http::pagination::{Page, PageRequest};
use crate::ids::{LedgerEntryId, MerchantId, TransactionId};
use crate::ledger::Side;
use crate::mode::Mode;
use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_postgres::types::Type;

/// Where a wallet stands against its thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WalletState {
    /// At or above the alert threshold.
    Ok,
    /// Below the alert threshold: the merchant and operators are told.
    Low,
    /// Below the suspension threshold: new payments go only to platform-owned accounts.
    Suspended,
}

impl WalletState {
    /// The state of `balance` against the thresholds.
    pub fn of(balance: i64, alert_threshold: i64, suspension_threshold: i64) -> WalletState {
        if balance < suspension_threshold {
            WalletState::Suspended
        } else if balance < alert_threshold {
            WalletState::Low
        } else {
            WalletState::Ok
        }
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            WalletState::Ok => "ok",
            WalletState::Low => "low",
            WalletState::Suspended => "suspended",
        }
    }
}

/// One line on the wallet account, with its entry.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Movement {
    /// The line's id: pass the last one as `starting_after` for the next page.
    pub id: i64,
    /// The entry it belongs to.
    pub entry_id: LedgerEntryId,
    /// What caused it (`capture`, `wallet_top_up`, `refund`, …).
    #[schema(pattern = "^[a-z_]+$")]
    pub kind: String,
    /// Credit adds to the wallet, debit takes from it.
    pub side: Side,
    /// Paise, always positive.
    pub amount: i64,
    /// The wallet's balance after this line, in paise.
    pub balance_after: i64,
    /// The entry's business key (what happened, once).
    pub business_key: String,
    /// The payment it is about, if any.
    pub transaction_id: Option<TransactionId>,
    /// How the amounts were worked out (rate, fee, GST, fee policy, top-up source and reference).
    #[schema(value_type = Object)]
    pub memo: serde_json::Value,
    /// When it was booked.
    pub created_at: DateTime<Utc>,
}

/// A merchant's wallet in one mode.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WalletView {
    /// Whose.
    pub merchant_id: MerchantId,
    /// Test or live: each has its own wallet.
    pub mode: Mode,
    /// Always INR.
    #[schema(example = "INR")]
    pub currency: String,
    /// Paise: credits less debits of the wallet account (0 before the first movement); negative
    /// when fees of payments under way outran it.
    pub balance: i64,
    /// Below this the merchant and operators are told.
    pub alert_threshold: i64,
    /// Below this new payments go only to platform-owned gateway accounts.
    pub suspension_threshold: i64,
    /// Where the balance stands against the thresholds.
    pub state: WalletState,
    /// Paise the platform owes the merchant for payments captured on its accounts.
    pub payable_balance: i64,
    /// The wallet's movements, newest first.
    pub movements: Movements,
}

/// A page of a wallet's movements.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Movements {
    /// Newest first.
    pub items: Vec<Movement>,
    /// Whether another page follows: pass the last item's `id` as `starting_after`.
    pub has_more: bool,
}

impl From<Page<Movement>> for Movements {
    fn from(page: Page<Movement>) -> Movements {
        Movements {
            items: page.items,
            has_more: page.has_more,
        }
    }
}

/// The wallet's figures, without movements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Figures {
    /// Paise.
    pub balance: i64,
    /// Paise.
    pub alert_threshold: i64,
    /// Paise.
    pub suspension_threshold: i64,
    /// Paise.
    pub payable_balance: i64,
}

impl Figures {
    /// Where the balance stands.
    pub fn state(&self) -> WalletState {
        WalletState::of(
            self.balance,
            self.alert_threshold,
            self.suspension_threshold,
        )
    }
}

const FIGURES: &str = "
SELECT EXISTS (SELECT 1 FROM merchants WHERE id = $1) AS known,
       (SELECT la.credits - la.debits FROM ledger_accounts la
         WHERE la.code = 'merchant_wallet' AND la.owner_kind = 'merchant' AND la.owner_id = $1
           AND la.mode = $2 AND la.currency = $3) AS balance,
       (SELECT la.credits - la.debits FROM ledger_accounts la
         WHERE la.code = 'merchant_payable' AND la.owner_kind = 'merchant' AND la.owner_id = $1
           AND la.mode = $2 AND la.currency = $3) AS payable_balance,
       (SELECT w.alert_threshold FROM wallets w WHERE w.merchant_id = $1 AND w.mode = $2) AS alert_threshold,
       (SELECT w.suspension_threshold FROM wallets w WHERE w.merchant_id = $1 AND w.mode = $2) AS suspension_threshold";

/// The wallet's figures, visible in the transaction's scope; `None` for an unknown merchant.
pub async fn figures(
    tx: &Transaction<'_>,
    merchant: MerchantId,
    mode: Mode,
) -> Result<Option<Figures>, AppError> {
    let row = tx
        .query_typed_one(
            FIGURES,
            &[
                (&merchant.as_uuid(), Type::UUID),
                (&mode.as_str(), Type::TEXT),
                (&CURRENCY, Type::TEXT),
            ],
        )
        .await?;
    let row = Record::new(&row, "wallets");
    if !row.get::<bool>("known")? {
        return Ok(None);
    }
    Ok(Some(Figures {
        balance: row.get::<Option<i64>>("balance")?.unwrap_or(0),
        payable_balance: row.get::<Option<i64>>("payable_balance")?.unwrap_or(0),
        alert_threshold: row
            .get::<Option<i64>>("alert_threshold")?
            .unwrap_or(DEFAULT_ALERT_THRESHOLD),
        suspension_threshold: row
            .get::<Option<i64>>("suspension_threshold")?
            .unwrap_or(DEFAULT_SUSPENSION_THRESHOLD),
    }))
}

/// The wallet account's lines with their entries, newest first.
pub async fn movements(
    tx: &Transaction<'_>,
    merchant: MerchantId,
    mode: Mode,
    page: &PageRequest<i64>,
) -> Result<Page<Movement>, AppError> {
    let rows = tx
        .query_typed(
            "SELECT l.id, l.side, l.amount, l.balance_after, l.created_at,
                    e.id AS entry_id, e.kind, e.business_key, e.transaction_id, e.memo
               FROM ledger_accounts a
               JOIN ledger_lines l ON l.account_id = a.id
               JOIN ledger_entries e ON e.id = l.entry_id
              WHERE a.code = 'merchant_wallet' AND a.owner_kind = 'merchant' AND a.owner_id = $1
                AND a.mode = $2 AND a.currency = $3 AND ($4::bigint IS NULL OR l.id < $4)
              ORDER BY l.id DESC LIMIT $5",
            &[
                (&merchant.as_uuid(), Type::UUID),
                (&mode.as_str(), Type::TEXT),
                (&CURRENCY, Type::TEXT),
                (&page.starting_after, Type::INT8),
                (&page.fetch_limit(), Type::INT8),
            ],
        )
        .await?;
    let items = rows
        .iter()
        .map(|row| {
            let r = Record::new(row, "ledger_lines");
            Ok(Movement {
                id: r.get("id")?,
                entry_id: LedgerEntryId::from_uuid(r.get("entry_id")?),
                kind: r.get("kind")?,
                side: match r.get::<&str>("side")? {
                    "debit" => Side::Debit,
                    _ => Side::Credit,
                },
                amount: r.get("amount")?,
                // Stored as the account's debits less credits; a wallet is a liability.
                balance_after: r
                    .get::<Option<i64>>("balance_after")?
                    .unwrap_or(0)
                    .saturating_neg(),
                business_key: r.get("business_key")?,
                transaction_id: r
                    .get::<Option<uuid::Uuid>>("transaction_id")?
                    .map(TransactionId::from_uuid),
                memo: merchant_memo(r.get("memo")?),
                created_at: r.get("created_at")?,
            })
        })
        .collect::<Result<Vec<_>, AppError>>()?;
    Ok(Page::from_rows(items, page.limit))
}

/// What of an entry's memo the merchant may read: how its own money was worked out, never the
/// affiliate's terms or which operator acted (those are in the operators' ledger reports).
const MERCHANT_MEMO: [&str; 13] = [
    "account_model",
    "amount",
    "rate_bps",
    "fixed_fee",
    "fee",
    "gst",
    "fee_policy",
    "fee_returned",
    "gst_returned",
    "source",
    "top_up_id",
    "reference",
    "reverses",
];

fn merchant_memo(memo: serde_json::Value) -> serde_json::Value {
    match memo {
        serde_json::Value::Object(fields) => fields
            .into_iter()
            .filter(|(key, _)| MERCHANT_MEMO.contains(&key.as_str()))
            .collect::<serde_json::Map<_, _>>()
            .into(),
        _ => serde_json::json!({}),
    }
}

/// The whole view: figures and a page of movements; `None` for an unknown merchant.
pub async fn read(
    tx: &Transaction<'_>,
    merchant: MerchantId,
    mode: Mode,
    page: &PageRequest<i64>,
) -> Result<Option<WalletView>, AppError> {
    let Some(figures) = figures(tx, merchant, mode).await? else {
        return Ok(None);
    };
    let movements = movements(tx, merchant, mode, page).await?;
    Ok(Some(WalletView {
        merchant_id: merchant,
        mode,
        currency: CURRENCY.to_string(),
        balance: figures.balance,
        alert_threshold: figures.alert_threshold,
        suspension_threshold: figures.suspension_threshold,
        state: figures.state(),
        payable_balance: figures.payable_balance,
        movements: movements.into(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_against_the_thresholds() {
        assert_eq!(WalletState::of(100_000, 100_000, 0), WalletState::Ok);
        assert_eq!(WalletState::of(99_999, 100_000, 0), WalletState::Low);
        assert_eq!(WalletState::of(-1, 100_000, 0), WalletState::Suspended);
        assert_eq!(WalletState::of(0, 0, 0), WalletState::Ok);
    }
}
