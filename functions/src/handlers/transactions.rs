//! `GET /api/v1/transactions` and `GET /api/v1/transactions/{id}`: merchant-scoped under Row
//! Level Security; operators see every merchant's and may filter by `merchant_id`. Archived
//! payments are read by id as any other, and listed on request (`include_archived=true`).

use crate::context::RequestContext;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::db;
use shared::http::ApiResponse;
use shared::http::pagination::PageRequest;
use shared::ids::{MerchantId, TransactionId};
use shared::payments::refunds;
use shared::payments::refunds::RefundView;
use shared::payments::status::TransactionStatus;
use shared::payments::transactions::{self, AttemptView, ListFilter, TransactionView};
use shared::validation::FieldErrors;
use shared::{App, AppError};
use std::sync::Arc;

/// The query of `GET /api/v1/transactions`: every filter optional.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only payments in this state.
    #[param(value_type = Option<TransactionStatus>)]
    status: Option<String>,
    /// Only the payment with this `order_id`.
    order_id: Option<String>,
    /// Created at or after this time (RFC 3339).
    #[param(value_type = Option<DateTime<Utc>>)]
    created_from: Option<String>,
    /// Created before this time (RFC 3339).
    #[param(value_type = Option<DateTime<Utc>>)]
    created_to: Option<String>,
    /// Operators only: one merchant's payments.
    #[param(value_type = Option<MerchantId>)]
    merchant_id: Option<String>,
    /// `true`: archived payments too (they carry `archived_at`), in the same newest-first order
    /// and cursor. Default `false`: only payments not yet archived.
    #[param(value_type = Option<bool>)]
    include_archived: Option<String>,
    #[param(ignore)]
    limit: Option<String>,
    #[param(ignore)]
    starting_after: Option<String>,
}

/// A payment with its attempts and refunds.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TransactionDetail {
    /// The payment.
    #[serde(flatten)]
    transaction: TransactionView,
    /// Its tries at gateways, oldest first.
    attempts: Vec<AttemptView>,
    /// Its refunds, oldest first.
    refunds: Vec<RefundView>,
}

fn time(errors: &mut FieldErrors, field: &str, raw: Option<&str>) -> Option<DateTime<Utc>> {
    let raw = raw?;
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| errors.add(field, "must be an RFC 3339 time"))
        .ok()
}

/// Lists transactions, newest first.
pub async fn list(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let query: ListQuery = ctx.query()?;
    let page = PageRequest::<TransactionId>::parse(
        query.limit.as_deref(),
        query.starting_after.as_deref(),
    )?;
    let principal = ctx.principal()?;
    let mut errors = FieldErrors::new();
    let status = query.status.as_deref().and_then(|s| {
        s.parse::<TransactionStatus>()
            .map_err(|e| errors.add("status", e))
            .ok()
    });
    let created_from = time(&mut errors, "created_from", query.created_from.as_deref());
    let created_to = time(&mut errors, "created_to", query.created_to.as_deref());
    let merchant = match (&query.merchant_id, principal.is_admin()) {
        (None, _) => None,
        (Some(_), false) => {
            errors.add(
                "merchant_id",
                "is for operators; merchants see their own transactions",
            );
            None
        }
        (Some(raw), true) => raw
            .parse::<MerchantId>()
            .map_err(|e| errors.add("merchant_id", e.to_string()))
            .ok(),
    };
    let include_archived = match query.include_archived.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            errors.add("include_archived", "must be true or false");
            false
        }
    };
    errors.into_result()?;
    let filter = ListFilter {
        merchant,
        status,
        order_id: query.order_id,
        created_from,
        created_to,
        include_archived,
    };
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, principal.scope()).await?;
    let page = transactions::list(&tx, &app.config.http.public_base_url, &filter, &page).await?;
    tx.commit().await?;
    Ok(ApiResponse::ok(&page, "Transactions"))
}

/// One transaction (live or archived) with its attempts and refunds; another merchant's is a 404.
pub async fn get(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let id: TransactionId = ctx.path_id("id")?;
    let principal = ctx.principal()?;
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, principal.scope()).await?;
    let operator = matches!(principal.scope(), db::Scope::Admin);
    let found = transactions::get(&tx, &app.config.http.public_base_url, id, operator).await?;
    let (transaction, attempts) = found.ok_or(AppError::NotFound("transaction"))?;
    let refunds = refunds::list_for(&tx, id).await?.unwrap_or_default();
    tx.commit().await?;
    let detail = TransactionDetail {
        transaction,
        attempts,
        refunds,
    };
    Ok(ApiResponse::ok(&detail, "Transaction"))
}
