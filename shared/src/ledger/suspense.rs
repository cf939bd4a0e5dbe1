//! Money held in suspense (rule 8) and its resolution by operators (rule 9): the open items, and
//! one resolution per attempt — refunded to the customer at the gateway, or credited to the
//! merchant. The resolution's business key makes it happen once: a second is a conflict.

use super::posting::{Posted, post};
use super::reports::{self, EntryFilter, EntryView};
use super::rules::{self, Resolution, SuspenseOutcome, Unmatched};
use crate::audit::{self, AuditContext, AuditEvent};
use crate::db::Transaction;
use crate::db::record::Record;
use crate::error::AppError;
use crate::http::pagination::{Page, PageRequest};
use crate::ids::{AttemptId, GatewayAccountId, LedgerEntryId, MerchantId, TransactionId, UserId};
use crate::mode::Mode;
use crate::validation::FieldErrors;
use crate::{App, alerts};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio_postgres::Row;
use tokio_postgres::types::Type;

/// Why money went to suspense, as the capture's flags name it.
pub const REASONS: [&str; 2] = ["amount_mismatch", "second_capture"];

/// The longest note an operator may leave on a resolution.
pub const MAX_NOTE: usize = 500;

/// Money held in suspense for one attempt, not yet resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = SuspenseItem)]
pub struct SuspenseItem {
    /// The suspense entry (the list's cursor).
    pub id: LedgerEntryId,
    /// The attempt the gateway captured on (what a resolution names).
    pub attempt_id: AttemptId,
    /// Its payment.
    pub transaction_id: TransactionId,
    /// Whose payment.
    pub merchant_id: MerchantId,
    /// Test or live books.
    pub mode: Mode,
    /// The platform-owned gateway account that holds the money.
    pub gateway_account_id: GatewayAccountId,
    /// Minor units the gateway captured.
    pub amount: i64,
    /// The gateway's ISO 4217 code (not necessarily the payment's).
    #[schema(pattern = "^[A-Z]{3}$")]
    pub currency: String,
    /// Why no payment took it.
    #[schema(pattern = "^(amount_mismatch|second_capture)$")]
    pub reason: String,
    /// The payment's own currency: only money in it may be credited to the merchant.
    #[schema(pattern = "^[A-Z]{3}$")]
    pub payment_currency: String,
    /// When it was booked.
    pub created_at: DateTime<Utc>,
}

/// The columns of an item: the suspense entry, its clearing line and its payment.
const ITEM: &str = "
SELECT e.id, e.business_key, e.mode, e.merchant_id, e.transaction_id, e.memo->>'reason' AS reason,
       e.created_at, a.owner_id AS gateway_account_id, l.amount, l.currency,
       t.currency AS payment_currency
  FROM ledger_entries e
  JOIN ledger_lines l ON l.entry_id = e.id AND l.side = 'debit'
  JOIN ledger_accounts a ON a.id = l.account_id AND a.code = 'gateway_clearing'
  JOIN transactions t ON t.id = e.transaction_id";

/// Nothing has netted the item out yet: an operator's resolution or a release by a later capture
/// of the payment's own amount (both name it as the entry they reverse).
const OPEN: &str = "NOT EXISTS (SELECT 1 FROM ledger_entries r WHERE r.reverses = e.id)";

impl SuspenseItem {
    fn from_row(row: &Row) -> Result<SuspenseItem, AppError> {
        let row = Record::new(row, "ledger_entries");
        let key: &str = row.get("business_key")?;
        let attempt = key
            .strip_prefix("suspense:")
            .and_then(|id| id.parse::<AttemptId>().ok())
            .ok_or_else(|| AppError::Internal(format!("suspense entry with key '{key}'")))?;
        let transaction: Option<uuid::Uuid> = row.get("transaction_id")?;
        let merchant: Option<uuid::Uuid> = row.get("merchant_id")?;
        let (Some(transaction), Some(merchant)) = (transaction, merchant) else {
            return Err(AppError::Internal(format!(
                "suspense entry {key} names no payment or merchant"
            )));
        };
        Ok(SuspenseItem {
            id: LedgerEntryId::from_uuid(row.get("id")?),
            attempt_id: attempt,
            transaction_id: TransactionId::from_uuid(transaction),
            merchant_id: MerchantId::from_uuid(merchant),
            mode: row.parse("mode")?,
            gateway_account_id: GatewayAccountId::from_uuid(row.get("gateway_account_id")?),
            amount: row.get("amount")?,
            currency: row.get("currency")?,
            reason: row
                .get::<Option<String>>("reason")?
                .unwrap_or_else(|| "unknown".into()),
            payment_currency: row.get("payment_currency")?,
            created_at: row.get("created_at")?,
        })
    }

    /// The item as rule 8 booked it.
    fn unmatched(&self) -> Result<Unmatched, AppError> {
        let reason = REASONS
            .into_iter()
            .find(|r| *r == self.reason)
            .ok_or_else(|| {
                AppError::Internal(format!("unknown suspense reason '{}'", self.reason))
            })?;
        Ok(Unmatched {
            attempt: self.attempt_id,
            transaction: self.transaction_id,
            merchant: self.merchant_id,
            mode: self.mode,
            gateway_account: self.gateway_account_id,
            amount: self.amount,
            currency: self.currency.clone(),
            reason,
        })
    }
}

/// Which open items to list; every filter optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    /// Only this mode's.
    pub mode: Option<Mode>,
    /// Only about this merchant.
    pub merchant: Option<MerchantId>,
}

/// What suspense holds and nobody resolved yet, newest first.
pub async fn open(
    tx: &Transaction<'_>,
    filter: &ListFilter,
    page: &PageRequest<LedgerEntryId>,
) -> Result<Page<SuspenseItem>, AppError> {
    let rows = tx
        .query_typed(
            &format!(
                "{ITEM}
                 WHERE e.kind = 'suspense_capture' AND {OPEN}
                   AND ($1::text IS NULL OR e.mode = $1) AND ($2::uuid IS NULL OR e.merchant_id = $2)
                   AND ($3::uuid IS NULL OR e.id < $3)
                 ORDER BY e.id DESC LIMIT $4"
            ),
            &[
                (&filter.mode.map(Mode::as_str), Type::TEXT),
                (&filter.merchant.map(|m| m.as_uuid()), Type::UUID),
                (&page.starting_after.map(|id| id.as_uuid()), Type::UUID),
                (&page.fetch_limit(), Type::INT8),
            ],
        )
        .await?;
    Ok(Page::from_rows(
        rows.iter()
            .map(SuspenseItem::from_row)
            .collect::<Result<_, _>>()?,
        page.limit,
    ))
}

/// The body of `POST /api/v1/admin/ledger/suspense/{attempt_id}/resolve`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({ "outcome": "refunded", "note": "Refunded ₹23.45 to the customer at the gateway" }))]
pub struct ResolveSuspense {
    /// `refunded`: the money went back to the customer at the gateway; `credited_to_merchant`:
    /// it is the merchant's, credited to its payable with no fee (only in the payment's currency).
    #[schema(value_type = SuspenseOutcome)]
    pub outcome: String,
    /// Why, for the books and the audit log: 1–500 characters.
    #[schema(min_length = 1, max_length = 500)]
    pub note: String,
}

/// A validated resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveInput {
    /// What the operator decided.
    pub outcome: SuspenseOutcome,
    /// Why, trimmed.
    pub note: String,
}

impl ResolveSuspense {
    /// Checks both fields, reporting every problem at once.
    pub fn validate(self) -> Result<ResolveInput, AppError> {
        let mut e = FieldErrors::new();
        let outcome = SuspenseOutcome::parse(&self.outcome);
        if outcome.is_none() {
            e.add("outcome", "must be 'refunded' or 'credited_to_merchant'");
        }
        let note = self.note.trim().to_string();
        if note.is_empty() || note.chars().count() > MAX_NOTE {
            e.add(
                "note",
                format!("must be 1 to {MAX_NOTE} characters, not only spaces"),
            );
        }
        e.into_result()?;
        let outcome = outcome.ok_or_else(|| AppError::field("outcome", "is required"))?;
        Ok(ResolveInput { outcome, note })
    }
}

/// The suspense of `attempt`, resolved or not; `None` when nothing was held for it.
async fn item(tx: &Transaction<'_>, attempt: AttemptId) -> Result<Option<SuspenseItem>, AppError> {
    let row = tx
        .query_typed_opt(
            &format!("{ITEM} WHERE e.business_key = $1 AND e.kind = 'suspense_capture'"),
            &[(&rules::suspense_key(attempt), Type::TEXT)],
        )
        .await?;
    row.as_ref().map(SuspenseItem::from_row).transpose()
}

/// The entry with `business_key`, with its lines.
async fn entry(tx: &Transaction<'_>, business_key: String) -> Result<Option<EntryView>, AppError> {
    let filter = EntryFilter {
        business_key: Some(business_key),
        ..EntryFilter::default()
    };
    let page = reports::entries(tx, &filter, &PageRequest::parse(Some("1"), None)?).await?;
    Ok(page.items.into_iter().next())
}

fn already_resolved(attempt: AttemptId, resolution: &EntryView) -> AppError {
    let outcome = resolution.memo["outcome"].as_str().unwrap_or("resolved");
    AppError::Conflict(format!(
        "the suspense of attempt {attempt} was already resolved ({outcome}, entry {}, at {}); it resolves once",
        resolution.id,
        resolution.created_at.to_rfc3339()
    ))
}

/// Resolves the suspense of `attempt` as `input` says (rule 9), in `tx`, audited with the open
/// item before and the resolution entry after; an amount mismatch's open alert is resolved with
/// it. `NotFound` when nothing is held for the attempt, `Conflict` when it was resolved before,
/// `CurrencyMismatch` when money not in the payment's currency is to be credited to the merchant.
pub async fn resolve(
    tx: &Transaction<'_>,
    app: &App,
    audit_ctx: &AuditContext,
    by: UserId,
    attempt: AttemptId,
    input: ResolveInput,
) -> Result<EntryView, AppError> {
    let held = item(tx, attempt)
        .await?
        .ok_or(AppError::NotFound("suspense item"))?;
    let key = rules::suspense_resolved_key(attempt);
    if let Some(resolution) = entry(tx, key.clone()).await? {
        return Err(already_resolved(attempt, &resolution));
    }
    if input.outcome == SuspenseOutcome::CreditedToMerchant
        && held.currency != held.payment_currency
    {
        return Err(AppError::CurrencyMismatch {
            held: held.currency.clone(),
            required: held.payment_currency.clone(),
            what: "the merchant's payable",
        });
    }
    let resolution = Resolution {
        unmatched: held.unmatched()?,
        entry: held.id,
        outcome: input.outcome,
        by,
        note: input.note,
    };
    if post(tx, &rules::suspense_resolution(&resolution)).await? == Posted::Replayed {
        // Another operator resolved it between our read and our write (the key waited on theirs).
        return match entry(tx, key).await? {
            Some(resolution) => Err(already_resolved(attempt, &resolution)),
            None => Err(AppError::Conflict(format!(
                "the suspense of attempt {attempt} was already settled: resolved by an operator, \
                 or released when the gateway reported the payment's own amount"
            ))),
        };
    }
    let resolved = entry(tx, key)
        .await?
        .ok_or_else(|| AppError::Internal("a posted resolution cannot be read".into()))?;
    if held.reason == "amount_mismatch" {
        // The alert told people to settle this money; settling it is resolving the alert.
        alerts::operators::resolve_key(
            tx,
            app,
            audit_ctx,
            by,
            &format!("amount_mismatch:{attempt}"),
        )
        .await?;
    }
    audit::record(
        tx,
        audit_ctx,
        AuditEvent::success("ledger.suspense_resolved")
            .merchant(held.merchant_id)
            .target("attempt", attempt)
            .change(
                serde_json::to_value(&held).ok(),
                serde_json::to_value(&resolved).ok(),
            ),
    )
    .await?;
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(outcome: &str, note: &str) -> ResolveSuspense {
        ResolveSuspense {
            outcome: outcome.into(),
            note: note.into(),
        }
    }

    #[test]
    fn a_resolution_names_a_known_outcome_and_a_short_note() {
        let ok = body("credited_to_merchant", "  customer meant to pay this  ")
            .validate()
            .unwrap();
        assert_eq!(ok.outcome, SuspenseOutcome::CreditedToMerchant);
        assert_eq!(ok.note, "customer meant to pay this");
        assert!(body("refunded", &"é".repeat(MAX_NOTE)).validate().is_ok());
        for (outcome, note) in [
            ("kept", "a note"),
            ("refunded", ""),
            ("refunded", "   "),
            ("refunded", &"x".repeat(MAX_NOTE + 1)),
        ] {
            assert!(body(outcome, note).validate().is_err(), "{outcome} {note}");
        }
        let Err(AppError::Validation(errors)) = body("", "").validate() else {
            panic!("both fields are wrong");
        };
        assert_eq!(errors.fields().len(), 2);
    }
}
