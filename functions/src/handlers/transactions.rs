//! `GET /api/v1/transactions` and `GET /api/v1/transactions/{id}`: merchant-scoped under Row
//! Level Security; operators see every merchant's and may filter by `merchant_id`.

use crate::context::RequestContext;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;
use shared::db;
use shared::http::ApiResponse;
use shared::http::pagination::PageRequest;
use shared::ids::{MerchantId, TransactionId};
use shared::payments::refunds;
use shared::payments::status::TransactionStatus;
use shared::payments::transactions::{self, ListFilter};
use shared::validation::FieldErrors;
use shared::{App, AppError};
use std::sync::Arc;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    status: Option<String>,
    order_id: Option<String>,
    created_from: Option<String>,
    created_to: Option<String>,
    merchant_id: Option<String>,
    limit: Option<String>,
    starting_after: Option<String>,
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
    errors.into_result()?;
    let filter = ListFilter {
        merchant,
        status,
        order_id: query.order_id,
        created_from,
        created_to,
    };
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, principal.scope()).await?;
    let page = transactions::list(&tx, &app.config.http.public_base_url, &filter, &page).await?;
    tx.commit().await?;
    Ok(ApiResponse::ok(&page, "Transactions"))
}

/// One transaction with its attempts and refunds; another merchant's is a 404.
pub async fn get(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let id: TransactionId = ctx.path_id("id")?;
    let principal = ctx.principal()?;
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, principal.scope()).await?;
    let found = transactions::get(&tx, &app.config.http.public_base_url, id).await?;
    let (transaction, attempts) = found.ok_or(AppError::NotFound("transaction"))?;
    let refunds = refunds::list_for(&tx, id).await?.unwrap_or_default();
    tx.commit().await?;
    let mut data =
        serde_json::to_value(&transaction).map_err(|e| AppError::Internal(e.to_string()))?;
    data["attempts"] = json!(attempts);
    data["refunds"] = json!(refunds);
    Ok(ApiResponse::ok(&data, "Transaction"))
}
