//! The books as operators read them: accounts with their sums and balances, entries with their
//! lines, and the trial balance.
//!
//! The trial balance is computed twice in one statement (one snapshot): from the accounts'
//! running sums, which the line trigger keeps, and from the lines themselves. Each must balance
//! (debits equal credits, per currency), and the two must agree account by account; a
//! disagreement names the accounts, since it means the running sums no longer tell the truth.

use super::accounts::{AccountCode, Owner};
use super::book::owner;
use super::posting::{EntryKind, Side};
use crate::db::Transaction;
use crate::db::record::{DecodeError, Record};
use crate::error::AppError;
use crate::http::pagination::{Page, PageRequest};
use crate::ids::{
    AffiliateId, GatewayAccountId, LedgerAccountId, LedgerEntryId, MerchantId, RefundId,
    TransactionId,
};
use crate::mode::Mode;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use tokio_postgres::Row;
use tokio_postgres::types::Type;
use uuid::Uuid;

/// The most disagreeing accounts a trial balance names per currency (the count is complete).
pub const MAX_NAMED_DISAGREEMENTS: usize = 50;

/// The public form of an account's owner: a typed id, or `None` for the platform.
pub fn owner_public_id(owner: Owner) -> Option<String> {
    match owner {
        Owner::Platform => None,
        Owner::Merchant(id) => Some(id.to_string()),
        Owner::Affiliate(id) => Some(id.to_string()),
        Owner::GatewayAccount(id) => Some(id.to_string()),
    }
}

/// Parses an owner as a filter names it: `platform`, or a merchant, affiliate or gateway account
/// id (`mer_…`, `aff_…`, `gwa_…`).
pub fn parse_owner(raw: &str) -> Result<Owner, &'static str> {
    const WHAT: &str =
        "must be 'platform' or a merchant (mer_), affiliate (aff_) or gateway account (gwa_) id";
    if raw == "platform" {
        return Ok(Owner::Platform);
    }
    match raw.split_once('_').map(|(prefix, _)| prefix) {
        Some(MerchantId::PREFIX) => raw.parse().map(Owner::Merchant).map_err(|_| WHAT),
        Some(AffiliateId::PREFIX) => raw.parse().map(Owner::Affiliate).map_err(|_| WHAT),
        Some(GatewayAccountId::PREFIX) => raw.parse().map(Owner::GatewayAccount).map_err(|_| WHAT),
        _ => Err(WHAT),
    }
}

/// The stored owner kinds.
pub const OWNER_KINDS: [&str; 4] = ["platform", "merchant", "affiliate", "gateway_account"];

/// One account as operators see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = LedgerAccount)]
pub struct AccountView {
    /// Its id.
    pub id: LedgerAccountId,
    /// What it is for.
    pub code: AccountCode,
    /// `asset`, `liability`, `revenue` or `expense`.
    #[schema(pattern = "^(asset|liability|revenue|expense)$")]
    pub r#type: String,
    /// `platform`, `merchant`, `affiliate` or `gateway_account`.
    #[schema(pattern = "^(platform|merchant|affiliate|gateway_account)$")]
    pub owner_kind: String,
    /// The owner's id (`mer_…`, `aff_…` or `gwa_…`); `null` for the platform's own accounts.
    pub owner_id: Option<String>,
    /// The merchant, for a merchant's own account.
    pub merchant_id: Option<MerchantId>,
    /// Test or live books.
    pub mode: Mode,
    /// ISO 4217 code.
    #[schema(pattern = "^[A-Z]{3}$")]
    pub currency: String,
    /// Sum of its debit lines, minor units.
    pub debits: i64,
    /// Sum of its credit lines, minor units.
    pub credits: i64,
    /// The side its balance normally sits on (debit for assets and expenses).
    pub normal_side: Side,
    /// Its balance on its normal side (may be negative: a merchant owing us, say).
    pub balance: i64,
    /// How many lines it has.
    pub lines: i64,
    /// When it was opened (its first line).
    pub created_at: DateTime<Utc>,
    /// When its last line was posted.
    pub updated_at: DateTime<Utc>,
}

/// The balance of an account of `code` with these sums, on its normal side.
pub fn balance(code: AccountCode, debits: i64, credits: i64) -> i64 {
    if code.debit_normal() {
        debits.saturating_sub(credits)
    } else {
        credits.saturating_sub(debits)
    }
}

fn normal_side(code: AccountCode) -> Side {
    if code.debit_normal() {
        Side::Debit
    } else {
        Side::Credit
    }
}

fn code_of(row: &Record<'_>, column: &str) -> Result<AccountCode, DecodeError> {
    let raw: &str = row.get(column)?;
    AccountCode::parse(raw).ok_or_else(|| DecodeError {
        table: "ledger_accounts",
        column: column.to_string(),
        reason: format!("unknown account code {raw:?}"),
    })
}

fn owner_of(row: &Record<'_>) -> Result<Owner, AppError> {
    owner(row.get("owner_kind")?, row.get("owner_id")?)
}

impl AccountView {
    fn from_row(row: &Row) -> Result<AccountView, AppError> {
        let row = Record::new(row, "ledger_accounts");
        let code = code_of(&row, "code")?;
        let debits: i64 = row.get("debits")?;
        let credits: i64 = row.get("credits")?;
        Ok(AccountView {
            id: LedgerAccountId::from_uuid(row.get("id")?),
            code,
            r#type: row.get("type")?,
            owner_kind: row.get("owner_kind")?,
            owner_id: owner_public_id(owner_of(&row)?),
            merchant_id: row
                .get::<Option<Uuid>>("merchant_id")?
                .map(MerchantId::from_uuid),
            mode: row.parse("mode")?,
            currency: row.get("currency")?,
            debits,
            credits,
            normal_side: normal_side(code),
            balance: balance(code, debits, credits),
            lines: row.get("lines")?,
            created_at: row.get("created_at")?,
            updated_at: row.get("updated_at")?,
        })
    }
}

/// Which accounts to list; every filter optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountFilter {
    /// Only this mode's.
    pub mode: Option<Mode>,
    /// Only accounts for this.
    pub code: Option<AccountCode>,
    /// Only this kind of owner's (`platform`, `merchant`, …).
    pub owner_kind: Option<&'static str>,
    /// Only this owner's.
    pub owner: Option<Owner>,
    /// Only this merchant's own accounts.
    pub merchant: Option<MerchantId>,
    /// Only in this currency.
    pub currency: Option<String>,
}

/// Accounts, most recently opened first.
pub async fn accounts(
    tx: &Transaction<'_>,
    filter: &AccountFilter,
    page: &PageRequest<LedgerAccountId>,
) -> Result<Page<AccountView>, AppError> {
    let owner_kind = filter.owner.map(Owner::kind).or(filter.owner_kind);
    let rows = tx
        .query_typed(
            "SELECT a.id, a.code, a.type, a.owner_kind, a.owner_id, a.merchant_id, a.mode, a.currency,
                    a.debits, a.credits, a.lines, a.created_at, a.updated_at
               FROM ledger_accounts a
              WHERE ($1::text IS NULL OR a.mode = $1) AND ($2::text IS NULL OR a.code = $2)
                AND ($3::text IS NULL OR a.owner_kind = $3) AND ($4::uuid IS NULL OR a.owner_id = $4)
                AND ($5::uuid IS NULL OR a.merchant_id = $5) AND ($6::text IS NULL OR a.currency = $6)
                AND ($7::uuid IS NULL OR (a.created_at, a.id) <
                     (SELECT c.created_at, c.id FROM ledger_accounts c WHERE c.id = $7))
              ORDER BY a.created_at DESC, a.id DESC LIMIT $8",
            &[
                (&filter.mode.map(Mode::as_str), Type::TEXT),
                (&filter.code.map(AccountCode::as_str), Type::TEXT),
                (&owner_kind, Type::TEXT),
                (&filter.owner.map(Owner::id), Type::UUID),
                (&filter.merchant.map(|m| m.as_uuid()), Type::UUID),
                (&filter.currency, Type::TEXT),
                (&page.starting_after.map(|id| id.as_uuid()), Type::UUID),
                (&page.fetch_limit(), Type::INT8),
            ],
        )
        .await?;
    Ok(Page::from_rows(
        rows.iter()
            .map(AccountView::from_row)
            .collect::<Result<_, _>>()?,
        page.limit,
    ))
}

/// One entry with its lines.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = LedgerEntry)]
pub struct EntryView {
    /// Its id.
    pub id: LedgerEntryId,
    /// What happened, once (`capture:att_…`, `refund:rfd_…`): the same key never posts twice.
    pub business_key: String,
    /// What caused it.
    pub kind: EntryKind,
    /// Test or live books.
    pub mode: Mode,
    /// The merchant it is about, if any.
    pub merchant_id: Option<MerchantId>,
    /// The payment it is about, if any.
    pub transaction_id: Option<TransactionId>,
    /// The refund it is about, if any.
    pub refund_id: Option<RefundId>,
    /// The entry it reverses, for a correction.
    pub reverses: Option<LedgerEntryId>,
    /// How the amounts were worked out (rates, policy).
    #[schema(value_type = Object)]
    pub memo: Value,
    /// When it was posted.
    pub created_at: DateTime<Utc>,
    /// Its lines, in the order posted: debits equal credits in each currency.
    pub lines: Vec<LineView>,
}

/// One line of an entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = LedgerLine)]
pub struct LineView {
    /// The account.
    pub account_id: LedgerAccountId,
    /// What the account is for.
    pub code: AccountCode,
    /// `platform`, `merchant`, `affiliate` or `gateway_account`.
    #[schema(pattern = "^(platform|merchant|affiliate|gateway_account)$")]
    pub owner_kind: String,
    /// The account owner's id; `null` for the platform's own accounts.
    pub owner_id: Option<String>,
    /// Debit or credit.
    pub side: Side,
    /// Minor units, always positive.
    pub amount: i64,
    /// ISO 4217 code.
    #[schema(pattern = "^[A-Z]{3}$")]
    pub currency: String,
    /// The account's debits less credits right after this line.
    pub balance_after: i64,
}

/// Which entries to list; every filter optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntryFilter {
    /// Only this mode's.
    pub mode: Option<Mode>,
    /// Only of this kind.
    pub kind: Option<EntryKind>,
    /// Only about this merchant.
    pub merchant: Option<MerchantId>,
    /// Only about this payment.
    pub transaction: Option<TransactionId>,
    /// Only the entry with this business key.
    pub business_key: Option<String>,
    /// Posted at or after.
    pub created_from: Option<DateTime<Utc>>,
    /// Posted before.
    pub created_to: Option<DateTime<Utc>>,
}

/// Entries with their lines, newest first.
pub async fn entries(
    tx: &Transaction<'_>,
    filter: &EntryFilter,
    page: &PageRequest<LedgerEntryId>,
) -> Result<Page<EntryView>, AppError> {
    let rows = tx
        .query_typed(
            "SELECT e.id, e.business_key, e.kind, e.mode, e.merchant_id, e.transaction_id, e.refund_id,
                    e.reverses, e.memo, e.created_at
               FROM ledger_entries e
              WHERE ($1::text IS NULL OR e.mode = $1) AND ($2::text IS NULL OR e.kind = $2)
                AND ($3::uuid IS NULL OR e.merchant_id = $3) AND ($4::uuid IS NULL OR e.transaction_id = $4)
                AND ($5::text IS NULL OR e.business_key = $5)
                AND ($6::timestamptz IS NULL OR e.created_at >= $6) AND ($7::timestamptz IS NULL OR e.created_at < $7)
                AND ($8::uuid IS NULL OR e.id < $8)
              ORDER BY e.id DESC LIMIT $9",
            &[
                (&filter.mode.map(Mode::as_str), Type::TEXT),
                (&filter.kind.map(EntryKind::as_str), Type::TEXT),
                (&filter.merchant.map(|m| m.as_uuid()), Type::UUID),
                (&filter.transaction.map(|t| t.as_uuid()), Type::UUID),
                (&filter.business_key, Type::TEXT),
                (&filter.created_from, Type::TIMESTAMPTZ),
                (&filter.created_to, Type::TIMESTAMPTZ),
                (&page.starting_after.map(|id| id.as_uuid()), Type::UUID),
                (&page.fetch_limit(), Type::INT8),
            ],
        )
        .await?;
    let ids: Vec<Uuid> = rows
        .iter()
        .map(|row| Record::new(row, "ledger_entries").get::<Uuid>("id"))
        .collect::<Result<_, _>>()?;
    let line_rows = tx
        .query_typed(
            "SELECT l.entry_id, l.account_id, a.code, a.owner_kind, a.owner_id, l.side, l.amount, l.currency,
                    l.balance_after
               FROM ledger_lines l JOIN ledger_accounts a ON a.id = l.account_id
              WHERE l.entry_id = ANY($1) ORDER BY l.id",
            &[(&ids, Type::UUID_ARRAY)],
        )
        .await?;
    let mut lines: HashMap<Uuid, Vec<LineView>> = HashMap::new();
    for row in &line_rows {
        let row = Record::new(row, "ledger_lines");
        let side = match row.get::<&str>("side")? {
            "debit" => Side::Debit,
            "credit" => Side::Credit,
            other => {
                return Err(AppError::Internal(format!("unknown ledger side '{other}'")));
            }
        };
        lines
            .entry(row.get("entry_id")?)
            .or_default()
            .push(LineView {
                account_id: LedgerAccountId::from_uuid(row.get("account_id")?),
                code: code_of(&row, "code")?,
                owner_kind: row.get("owner_kind")?,
                owner_id: owner_public_id(owner_of(&row)?),
                side,
                amount: row.get("amount")?,
                currency: row.get("currency")?,
                balance_after: row.get::<Option<i64>>("balance_after")?.unwrap_or_default(),
            });
    }
    let mut entries = Vec::with_capacity(rows.len());
    for row in &rows {
        let row = Record::new(row, "ledger_entries");
        let id: Uuid = row.get("id")?;
        let kind: &str = row.get("kind")?;
        entries.push(EntryView {
            id: LedgerEntryId::from_uuid(id),
            business_key: row.get("business_key")?,
            kind: EntryKind::parse(kind)
                .ok_or_else(|| AppError::Internal(format!("unknown ledger entry kind '{kind}'")))?,
            mode: row.parse("mode")?,
            merchant_id: row
                .get::<Option<Uuid>>("merchant_id")?
                .map(MerchantId::from_uuid),
            transaction_id: row
                .get::<Option<Uuid>>("transaction_id")?
                .map(TransactionId::from_uuid),
            refund_id: row
                .get::<Option<Uuid>>("refund_id")?
                .map(RefundId::from_uuid),
            reverses: row
                .get::<Option<Uuid>>("reverses")?
                .map(LedgerEntryId::from_uuid),
            memo: row.get("memo")?,
            created_at: row.get("created_at")?,
            lines: lines.remove(&id).unwrap_or_default(),
        });
    }
    Ok(Page::from_rows(entries, page.limit))
}

/// The trial balance of one mode's books.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TrialBalance {
    /// Test or live books.
    pub mode: Mode,
    /// Whether every currency balances, from the accounts' sums and from the lines.
    pub balanced: bool,
    /// Whether the accounts' running sums agree with their lines, in every currency.
    pub agrees: bool,
    /// One balance per currency the books hold.
    pub currencies: Vec<CurrencyBalance>,
}

/// The trial balance of one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CurrencyBalance {
    /// ISO 4217 code.
    #[schema(pattern = "^[A-Z]{3}$")]
    pub currency: String,
    /// Σ of every account's debits (its running sum).
    pub debits: i64,
    /// Σ of every account's credits (its running sum).
    pub credits: i64,
    /// Whether Σ(debits − credits) over all accounts is zero.
    pub balanced: bool,
    /// The same totals from the lines themselves.
    pub lines: LineTotals,
    /// Whether the accounts' sums agree with their lines: the totals, and account by account.
    pub agrees: bool,
    /// How many accounts' running sums (or line counts) differ from their lines.
    pub disagreeing_count: i64,
    /// The first of those accounts (at most 50).
    pub disagreeing_accounts: Vec<LedgerAccountId>,
    /// Totals per account code, from the accounts' sums.
    pub by_code: Vec<CodeTotals>,
}

/// Totals of the lines of one currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = LedgerLineTotals)]
pub struct LineTotals {
    /// Σ of debit lines.
    pub debits: i64,
    /// Σ of credit lines.
    pub credits: i64,
    /// How many lines.
    pub count: i64,
    /// Whether they balance.
    pub balanced: bool,
}

/// The accounts of one code, in one currency, together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = LedgerCodeTotals)]
pub struct CodeTotals {
    /// What the accounts are for.
    pub code: AccountCode,
    /// `asset`, `liability`, `revenue` or `expense`.
    #[schema(pattern = "^(asset|liability|revenue|expense)$")]
    pub r#type: String,
    /// The side their balance normally sits on.
    pub normal_side: Side,
    /// How many accounts.
    pub accounts: i64,
    /// Σ of their debits.
    pub debits: i64,
    /// Σ of their credits.
    pub credits: i64,
    /// Their balance on their normal side.
    pub balance: i64,
}

const TRIAL_BALANCE: &str = "
WITH per_account AS (
    SELECT account_id,
           coalesce(sum(amount) FILTER (WHERE side = 'debit'), 0)::bigint AS debits,
           coalesce(sum(amount) FILTER (WHERE side = 'credit'), 0)::bigint AS credits,
           count(*) AS lines
      FROM ledger_lines WHERE mode = $1 GROUP BY account_id
), accounts AS (
    SELECT a.id, a.code, a.type, a.currency, a.debits, a.credits, a.lines,
           coalesce(p.debits, 0) AS line_debits, coalesce(p.credits, 0) AS line_credits,
           coalesce(p.lines, 0) AS line_count
      FROM ledger_accounts a LEFT JOIN per_account p ON p.account_id = a.id
     WHERE a.mode = $1
)
SELECT 'code' AS row_kind, currency, code, type, count(*)::bigint AS accounts,
       sum(debits)::bigint AS debits, sum(credits)::bigint AS credits,
       array_remove(array_agg(CASE WHEN debits <> line_debits OR credits <> line_credits OR lines <> line_count
                                   THEN id END ORDER BY id), NULL) AS disagreeing
  FROM accounts GROUP BY currency, code, type
UNION ALL
SELECT 'lines', currency, NULL, NULL, count(*)::bigint,
       coalesce(sum(amount) FILTER (WHERE side = 'debit'), 0)::bigint,
       coalesce(sum(amount) FILTER (WHERE side = 'credit'), 0)::bigint,
       '{}'::uuid[]
  FROM ledger_lines WHERE mode = $1 GROUP BY currency
ORDER BY 2, 1, 3";

/// The trial balance of `mode`'s books, from the accounts and from the lines, in one snapshot.
pub async fn trial_balance(tx: &Transaction<'_>, mode: Mode) -> Result<TrialBalance, AppError> {
    let rows = tx
        .query_typed(TRIAL_BALANCE, &[(&mode.as_str(), Type::TEXT)])
        .await?;
    let mut currencies: BTreeMap<String, CurrencyBalance> = BTreeMap::new();
    for row in &rows {
        let row = Record::new(row, "ledger_accounts");
        let currency: String = row.get("currency")?;
        let entry = currencies
            .entry(currency.clone())
            .or_insert_with(|| CurrencyBalance {
                currency,
                debits: 0,
                credits: 0,
                balanced: true,
                lines: LineTotals {
                    debits: 0,
                    credits: 0,
                    count: 0,
                    balanced: true,
                },
                agrees: true,
                disagreeing_count: 0,
                disagreeing_accounts: Vec::new(),
                by_code: Vec::new(),
            });
        let debits: i64 = row.get("debits")?;
        let credits: i64 = row.get("credits")?;
        match row.get::<&str>("row_kind")? {
            "lines" => {
                entry.lines = LineTotals {
                    debits,
                    credits,
                    count: row.get("accounts")?,
                    balanced: debits == credits,
                };
            }
            _ => {
                let code = code_of(&row, "code")?;
                let disagreeing: Vec<Uuid> = row.get("disagreeing")?;
                entry.debits = entry.debits.saturating_add(debits);
                entry.credits = entry.credits.saturating_add(credits);
                entry.disagreeing_count = entry
                    .disagreeing_count
                    .saturating_add(i64::try_from(disagreeing.len()).unwrap_or(i64::MAX));
                let room = MAX_NAMED_DISAGREEMENTS.saturating_sub(entry.disagreeing_accounts.len());
                entry.disagreeing_accounts.extend(
                    disagreeing
                        .into_iter()
                        .take(room)
                        .map(LedgerAccountId::from_uuid),
                );
                entry.by_code.push(CodeTotals {
                    code,
                    r#type: row.get("type")?,
                    normal_side: normal_side(code),
                    accounts: row.get("accounts")?,
                    debits,
                    credits,
                    balance: balance(code, debits, credits),
                });
            }
        }
    }
    let mut currencies: Vec<CurrencyBalance> = currencies.into_values().collect();
    for c in &mut currencies {
        c.balanced = c.debits == c.credits;
        c.agrees =
            c.disagreeing_count == 0 && c.debits == c.lines.debits && c.credits == c.lines.credits;
        // The chart's order, not the alphabet's.
        c.by_code.sort_by_key(|t| {
            AccountCode::ALL
                .iter()
                .position(|code| *code == t.code)
                .unwrap_or(usize::MAX)
        });
    }
    Ok(TrialBalance {
        mode,
        balanced: currencies.iter().all(|c| c.balanced && c.lines.balanced),
        agrees: currencies.iter().all(|c| c.agrees),
        currencies,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balances_sit_on_the_normal_side() {
        assert_eq!(balance(AccountCode::GatewayClearing, 100, 30), 70);
        assert_eq!(balance(AccountCode::MerchantPayable, 235, 0), -235);
        assert_eq!(balance(AccountCode::FeeRevenue, 66, 199), 133);
        assert_eq!(normal_side(AccountCode::CommissionExpense), Side::Debit);
        assert_eq!(normal_side(AccountCode::AffiliatePayable), Side::Credit);
    }

    #[test]
    fn owners_parse_from_their_public_ids_and_back() {
        assert_eq!(parse_owner("platform"), Ok(Owner::Platform));
        for owner in [
            Owner::Merchant(MerchantId::generate()),
            Owner::Affiliate(AffiliateId::generate()),
            Owner::GatewayAccount(GatewayAccountId::generate()),
        ] {
            let public = owner_public_id(owner).expect("an id");
            assert_eq!(parse_owner(&public), Ok(owner));
            assert!(OWNER_KINDS.contains(&owner.kind()));
        }
        assert_eq!(owner_public_id(Owner::Platform), None);
        for bad in [
            "",
            "mer_",
            "usr_0190f0c2a4b87c3e9d1f2a3b4c5d6e7f",
            "Platform",
            "txn_x",
        ] {
            assert!(parse_owner(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn entry_kinds_round_trip() {
        for kind in EntryKind::ALL {
            assert_eq!(EntryKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(EntryKind::parse("payout"), None);
    }
}
