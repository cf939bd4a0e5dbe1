//! An entry of the ledger as the posting rules build it, and the one way it is written.

use super::accounts::AccountRef;
use crate::db::Transaction;
use crate::error::AppError;
use crate::ids::{LedgerEntryId, MerchantId, RefundId, TransactionId};
use crate::mode::Mode;
use serde::Serialize;
use serde_json::{Value, json};
use tokio_postgres::types::Type;

/// Which side of an account a line is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// Raises an asset or expense, lowers a liability or revenue.
    Debit,
    /// The other way round.
    Credit,
}

impl Side {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Debit => "debit",
            Side::Credit => "credit",
        }
    }

    /// The other side (a reversal swaps every line).
    pub fn opposite(self) -> Side {
        match self {
            Side::Debit => Side::Credit,
            Side::Credit => Side::Debit,
        }
    }
}

/// What caused an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// A payment captured (our fee, GST and any commission with it).
    Capture,
    /// Money added to a merchant's wallet.
    WalletTopUp,
    /// A refund that succeeded (and our fee returned on it, if the merchant's setting says so).
    Refund,
    /// A refund the gateway undid after it had succeeded.
    RefundReversal,
    /// Money captured that no payment could take, held for operators.
    SuspenseCapture,
    /// An operator's resolution of money held in suspense (refunded, or credited to the merchant).
    SuspenseResolution,
    /// A correction of an earlier entry.
    Reversal,
}

impl EntryKind {
    /// Every kind.
    pub const ALL: [EntryKind; 7] = [
        EntryKind::Capture,
        EntryKind::WalletTopUp,
        EntryKind::Refund,
        EntryKind::RefundReversal,
        EntryKind::SuspenseCapture,
        EntryKind::SuspenseResolution,
        EntryKind::Reversal,
    ];

    /// Parses a stored name.
    pub fn parse(text: &str) -> Option<EntryKind> {
        EntryKind::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Capture => "capture",
            EntryKind::WalletTopUp => "wallet_top_up",
            EntryKind::Refund => "refund",
            EntryKind::RefundReversal => "refund_reversal",
            EntryKind::SuspenseCapture => "suspense_capture",
            EntryKind::SuspenseResolution => "suspense_resolution",
            EntryKind::Reversal => "reversal",
        }
    }
}

/// One line: an amount on one side of one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Whose account, and what for.
    pub account: AccountRef,
    /// Debit or credit.
    pub side: Side,
    /// Minor units, always positive.
    pub amount: i64,
    /// ISO 4217 code (a suspense capture may be in a currency the payment was not).
    pub currency: String,
}

/// A balanced entry, ready to post.
#[derive(Debug, Clone, PartialEq)]
pub struct Posting {
    /// What happened, once: the same key never posts twice.
    pub business_key: String,
    /// What caused it.
    pub kind: EntryKind,
    /// Test and live money are booked apart.
    pub mode: Mode,
    /// The merchant it is about, if any (what the merchant may read).
    pub merchant: Option<MerchantId>,
    /// The payment it is about, if any.
    pub transaction: Option<TransactionId>,
    /// The refund it is about, if any.
    pub refund: Option<RefundId>,
    /// The entry it reverses, for a correction.
    pub reverses: Option<LedgerEntryId>,
    /// How the amounts were worked out (rates, policy), for the people reading the books.
    pub memo: Value,
    /// Two or more lines, debits equal to credits in each currency.
    pub lines: Vec<Line>,
}

impl Posting {
    /// A posting with no lines yet.
    pub fn new(business_key: String, kind: EntryKind, mode: Mode) -> Posting {
        Posting {
            business_key,
            kind,
            mode,
            merchant: None,
            transaction: None,
            refund: None,
            reverses: None,
            memo: json!({}),
            lines: Vec::new(),
        }
    }

    /// Adds a line of `amount` (nothing when it is zero; a negative amount goes on the other side).
    pub fn line(
        &mut self,
        account: AccountRef,
        side: Side,
        amount: i64,
        currency: &str,
    ) -> &mut Self {
        let (side, amount) = if amount < 0 {
            (side.opposite(), amount.saturating_neg())
        } else {
            (side, amount)
        };
        if amount > 0 {
            self.lines.push(Line {
                account,
                side,
                amount,
                currency: currency.to_string(),
            });
        }
        self
    }

    /// Whether debits equal credits in every currency (the database checks it again).
    pub fn balances(&self) -> bool {
        let mut net: std::collections::BTreeMap<&str, i128> = std::collections::BTreeMap::new();
        for line in &self.lines {
            let signed = match line.side {
                Side::Debit => i128::from(line.amount),
                Side::Credit => -i128::from(line.amount),
            };
            *net.entry(line.currency.as_str()).or_default() += signed;
        }
        self.lines.len() >= 2 && net.values().all(|n| *n == 0)
    }

    /// The sum of the lines on `account` with `side` (for tests and memos).
    pub fn total(&self, account: AccountRef, side: Side) -> i64 {
        self.lines
            .iter()
            .filter(|l| l.account == account && l.side == side)
            .map(|l| l.amount)
            .sum()
    }
}

/// What posting did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Posted {
    /// The entry was written.
    Written(LedgerEntryId),
    /// Its business key had posted before: nothing was written.
    Replayed,
}

/// Writes `posting` in `tx` (the transaction of the change that caused it) through the
/// database's `ledger_post`, which creates the accounts it names, locks them in a fixed order,
/// and refuses an entry that does not balance or takes a limited account below zero.
pub async fn post(tx: &Transaction<'_>, posting: &Posting) -> Result<Posted, AppError> {
    if !posting.balances() {
        return Err(AppError::Internal(format!(
            "posting {} does not balance",
            posting.business_key
        )));
    }
    let id = LedgerEntryId::generate();
    let lines: Vec<Value> = posting
        .lines
        .iter()
        .map(|l| {
            json!({
                "code": l.account.code.as_str(),
                "owner_kind": l.account.owner.kind(),
                "owner_id": l.account.owner.id(),
                "merchant_id": l.account.owner.merchant().map(|m| m.as_uuid()),
                "currency": l.currency,
                "side": l.side.as_str(),
                "amount": l.amount,
            })
        })
        .collect();
    let lines = Value::Array(lines);
    let row = tx
        .query_typed_one(
            "SELECT ledger_post($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) AS written",
            &[
                (&id.as_uuid(), Type::UUID),
                (&posting.business_key, Type::TEXT),
                (&posting.kind.as_str(), Type::TEXT),
                (&posting.mode.as_str(), Type::TEXT),
                (&posting.merchant.map(|m| m.as_uuid()), Type::UUID),
                (&posting.transaction.map(|t| t.as_uuid()), Type::UUID),
                (&posting.refund.map(|r| r.as_uuid()), Type::UUID),
                (&posting.reverses.map(|r| r.as_uuid()), Type::UUID),
                (&posting.memo, Type::JSONB),
                (&lines, Type::JSONB),
            ],
        )
        .await?;
    let written: bool = crate::db::record::Record::new(&row, "ledger_entries").get("written")?;
    Ok(if written {
        Posted::Written(id)
    } else {
        Posted::Replayed
    })
}
