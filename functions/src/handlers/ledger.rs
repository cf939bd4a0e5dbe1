//! Operators read the books: `/api/v1/admin/ledger/accounts`, `/api/v1/admin/ledger/entries` and
//! `/api/v1/admin/ledger/trial-balance`; and resolve what suspense holds:
//! `/api/v1/admin/ledger/suspense` and `/api/v1/admin/ledger/suspense/{attempt_id}/resolve`.

use crate::context::RequestContext;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use shared::db::{self, Scope};
use shared::http::ApiResponse;
use shared::http::pagination::PageRequest;
use shared::ids::{AttemptId, LedgerAccountId, LedgerEntryId, MerchantId, TransactionId};
use shared::ledger::accounts::AccountCode;
use shared::ledger::posting::EntryKind;
use shared::ledger::reports::{self, AccountFilter, EntryFilter, OWNER_KINDS};
use shared::ledger::suspense::{self, ResolveSuspense};
use shared::mode::Mode;
use shared::validation::FieldErrors;
use shared::{App, AppError};
use std::str::FromStr;
use std::sync::Arc;

/// The query of `GET /api/v1/admin/ledger/accounts`: every filter optional.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AccountsQuery {
    /// Only this mode's books.
    #[param(value_type = Option<Mode>)]
    mode: Option<String>,
    /// Only accounts for this.
    #[param(value_type = Option<AccountCode>)]
    code: Option<String>,
    /// Only this kind of owner's.
    #[param(pattern = "^(platform|merchant|affiliate|gateway_account)$")]
    owner_kind: Option<String>,
    /// Only this owner's: `platform`, or a merchant, affiliate or gateway account id.
    #[param(pattern = "^(platform|(mer|aff|gwa)_[0-9a-f]{32})$")]
    owner_id: Option<String>,
    /// Only this merchant's own accounts (its payable and wallet).
    #[param(value_type = Option<MerchantId>)]
    merchant_id: Option<String>,
    /// Only accounts in this currency.
    #[param(pattern = "^[A-Z]{3}$")]
    currency: Option<String>,
    #[param(ignore)]
    limit: Option<String>,
    #[param(ignore)]
    starting_after: Option<String>,
}

fn parsed<T: FromStr>(
    errors: &mut FieldErrors,
    field: &str,
    raw: Option<&str>,
    message: impl Fn(T::Err) -> String,
) -> Option<T> {
    raw?.parse::<T>()
        .map_err(|e| errors.add(field, message(e)))
        .ok()
}

fn mode(errors: &mut FieldErrors, raw: Option<&str>) -> Option<Mode> {
    parsed::<Mode>(errors, "mode", raw, |_| {
        "must be 'test' or 'live'".to_string()
    })
}

fn time(errors: &mut FieldErrors, field: &str, raw: Option<&str>) -> Option<DateTime<Utc>> {
    let raw = raw?;
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| errors.add(field, "must be an RFC 3339 time"))
        .ok()
}

fn names<T>(all: &[T], name: impl Fn(&T) -> &'static str) -> String {
    all.iter().map(name).collect::<Vec<_>>().join(", ")
}

/// Lists ledger accounts with their sums and balances, most recently opened first.
pub async fn accounts(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let query: AccountsQuery = ctx.query()?;
    let page = PageRequest::<LedgerAccountId>::parse(
        query.limit.as_deref(),
        query.starting_after.as_deref(),
    )?;
    let mut errors = FieldErrors::new();
    let mode = mode(&mut errors, query.mode.as_deref());
    let code = query.code.as_deref().and_then(|raw| {
        AccountCode::parse(raw)
            .ok_or_else(|| {
                errors.add(
                    "code",
                    format!(
                        "must be one of: {}",
                        names(&AccountCode::ALL, |c| c.as_str())
                    ),
                )
            })
            .ok()
    });
    let owner_kind = query.owner_kind.as_deref().and_then(|raw| {
        OWNER_KINDS
            .iter()
            .copied()
            .find(|k| *k == raw)
            .ok_or_else(|| {
                errors.add(
                    "owner_kind",
                    format!("must be one of: {}", OWNER_KINDS.join(", ")),
                )
            })
            .ok()
    });
    let owner = query.owner_id.as_deref().and_then(|raw| {
        reports::parse_owner(raw)
            .map_err(|m| errors.add("owner_id", m))
            .ok()
    });
    if let (Some(kind), Some(owner)) = (owner_kind, owner)
        && kind != owner.kind()
    {
        errors.add(
            "owner_kind",
            format!("is '{kind}' but owner_id names a {} owner", owner.kind()),
        );
    }
    let merchant = parsed::<MerchantId>(
        &mut errors,
        "merchant_id",
        query.merchant_id.as_deref(),
        |e| e.to_string(),
    );
    if let Some(currency) = &query.currency
        && !(currency.len() == 3 && currency.bytes().all(|b| b.is_ascii_uppercase()))
    {
        errors.add("currency", "must be an ISO 4217 code such as INR");
    }
    errors.into_result()?;
    let filter = AccountFilter {
        mode,
        code,
        owner_kind,
        owner,
        merchant,
        currency: query.currency,
    };
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::Admin).await?;
    let accounts = reports::accounts(&tx, &filter, &page).await?;
    tx.commit().await?;
    Ok(ApiResponse::ok(&accounts, "Ledger accounts"))
}

/// The query of `GET /api/v1/admin/ledger/entries`: every filter optional.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EntriesQuery {
    /// Only this mode's books.
    #[param(value_type = Option<Mode>)]
    mode: Option<String>,
    /// Only entries of this kind.
    #[param(value_type = Option<EntryKind>)]
    kind: Option<String>,
    /// Only entries about this merchant.
    #[param(value_type = Option<MerchantId>)]
    merchant_id: Option<String>,
    /// Only entries about this payment.
    #[param(value_type = Option<TransactionId>)]
    transaction_id: Option<String>,
    /// Only the entry with this business key (`capture:att_…`, `refund:rfd_…`).
    #[param(min_length = 1, max_length = 200)]
    business_key: Option<String>,
    /// Posted at or after this time (RFC 3339).
    #[param(value_type = Option<DateTime<Utc>>)]
    created_from: Option<String>,
    /// Posted before this time (RFC 3339).
    #[param(value_type = Option<DateTime<Utc>>)]
    created_to: Option<String>,
    #[param(ignore)]
    limit: Option<String>,
    #[param(ignore)]
    starting_after: Option<String>,
}

/// Lists ledger entries with their lines, newest first.
pub async fn entries(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let query: EntriesQuery = ctx.query()?;
    let page = PageRequest::<LedgerEntryId>::parse(
        query.limit.as_deref(),
        query.starting_after.as_deref(),
    )?;
    let mut errors = FieldErrors::new();
    let mode = mode(&mut errors, query.mode.as_deref());
    let kind = query.kind.as_deref().and_then(|raw| {
        EntryKind::parse(raw)
            .ok_or_else(|| {
                errors.add(
                    "kind",
                    format!("must be one of: {}", names(&EntryKind::ALL, |k| k.as_str())),
                )
            })
            .ok()
    });
    let merchant = parsed::<MerchantId>(
        &mut errors,
        "merchant_id",
        query.merchant_id.as_deref(),
        |e| e.to_string(),
    );
    let transaction = parsed::<TransactionId>(
        &mut errors,
        "transaction_id",
        query.transaction_id.as_deref(),
        |e| e.to_string(),
    );
    if let Some(key) = &query.business_key
        && !(1..=200).contains(&key.chars().count())
    {
        errors.add("business_key", "must be 1 to 200 characters");
    }
    let created_from = time(&mut errors, "created_from", query.created_from.as_deref());
    let created_to = time(&mut errors, "created_to", query.created_to.as_deref());
    errors.into_result()?;
    let filter = EntryFilter {
        mode,
        kind,
        merchant,
        transaction,
        business_key: query.business_key,
        created_from,
        created_to,
    };
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::Admin).await?;
    let entries = reports::entries(&tx, &filter, &page).await?;
    tx.commit().await?;
    Ok(ApiResponse::ok(&entries, "Ledger entries"))
}

/// The query of `GET /api/v1/admin/ledger/trial-balance`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TrialBalanceQuery {
    /// Whose books: `test` or `live`.
    #[param(value_type = Mode)]
    mode: String,
}

/// The trial balance of one mode's books, from the accounts' sums and from the lines.
pub async fn trial_balance(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let query: TrialBalanceQuery = ctx.query()?;
    let mut errors = FieldErrors::new();
    let mode = mode(&mut errors, Some(&query.mode));
    errors.into_result()?;
    let mode = mode.ok_or_else(|| AppError::field("mode", "must be 'test' or 'live'"))?;
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::Admin).await?;
    let balance = reports::trial_balance(&tx, mode).await?;
    tx.commit().await?;
    Ok(ApiResponse::ok(&balance, "Trial balance"))
}

/// The query of `GET /api/v1/admin/ledger/suspense`: every filter optional.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SuspenseQuery {
    /// Only this mode's books.
    #[param(value_type = Option<Mode>)]
    mode: Option<String>,
    /// Only money captured for this merchant's payments.
    #[param(value_type = Option<MerchantId>)]
    merchant_id: Option<String>,
    #[param(ignore)]
    limit: Option<String>,
    #[param(ignore)]
    starting_after: Option<String>,
}

/// Lists money held in suspense that no operator has resolved yet, newest first.
pub async fn suspense(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let query: SuspenseQuery = ctx.query()?;
    let page = PageRequest::<LedgerEntryId>::parse(
        query.limit.as_deref(),
        query.starting_after.as_deref(),
    )?;
    let mut errors = FieldErrors::new();
    let mode = mode(&mut errors, query.mode.as_deref());
    let merchant = parsed::<MerchantId>(
        &mut errors,
        "merchant_id",
        query.merchant_id.as_deref(),
        |e| e.to_string(),
    );
    errors.into_result()?;
    let filter = suspense::ListFilter { mode, merchant };
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::Admin).await?;
    let items = suspense::open(&tx, &filter, &page).await?;
    tx.commit().await?;
    Ok(ApiResponse::ok(&items, "Open suspense items"))
}

/// Resolves what suspense holds for an attempt, once (audited): refunded at the gateway or
/// credited to the merchant. Answers the resolution's entry.
pub async fn resolve_suspense(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let attempt: AttemptId = ctx.path_id("attempt_id")?;
    let by = ctx
        .principal()?
        .user_id()
        .ok_or(AppError::Forbidden("Suspense is resolved by operators"))?;
    let request: ResolveSuspense = ctx.body()?;
    let input = request.validate()?;
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::Admin).await?;
    let entry = suspense::resolve(&tx, &app, &ctx.audit(), by, attempt, input).await?;
    tx.commit().await?;
    Ok(ApiResponse::ok(&entry, "Suspense resolved"))
}
