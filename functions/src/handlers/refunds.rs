//! Refunds: `POST/GET /api/v1/transactions/{id}/refunds` and `GET /api/v1/refunds/{id}`, in the
//! merchant's scope (operators may read any).

use crate::context::RequestContext;
use crate::idempotent;
use serde::Deserialize;
use shared::audit::{self, AuditEvent};
use shared::auth::Principal;
use shared::db;
use shared::http::pagination::PageRequest;
use shared::http::{ApiResponse, body};
use shared::ids::{RefundId, TransactionId};
use shared::payments::refunds::{self, RefundBody};
use shared::{App, AppError};
use std::sync::Arc;

/// Refunds part or all of a captured payment; honours `Idempotency-Key`.
pub async fn create(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let principal = ctx.principal()?;
    let Principal::Merchant {
        merchant_id, mode, ..
    } = principal
    else {
        return Err(AppError::Forbidden("Refunds are made by merchants"));
    };
    let transaction: TransactionId = ctx.path_id("id")?;
    let key = idempotent::key(&ctx)?;
    let raw: serde_json::Value = if ctx.request.body.is_empty() {
        serde_json::json!({})
    } else {
        ctx.body()?
    };
    let refund = body::from_value::<RefundBody>(raw.clone())?.validate()?;

    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, principal.scope()).await?;
    let claim = match idempotent::claim(&tx, &ctx, merchant_id, mode, key.as_deref(), &raw).await? {
        Ok(claim) => claim,
        Err(replay) => {
            tx.commit().await?;
            return Ok(replay);
        }
    };
    let (view, outbox) = refunds::create(&tx, &app, merchant_id, transaction, refund).await?;
    // Money leaving a merchant is audited like a change to its keys, in the same transaction.
    audit::record(
        &tx,
        &ctx.audit(),
        AuditEvent::success("refund.created")
            .merchant(merchant_id)
            .target("refund", view.id)
            .change(
                None,
                Some(serde_json::json!({
                    "transaction_id": view.transaction_id, "amount": view.amount,
                    "currency": view.currency, "reason": view.reason, "mode": mode,
                })),
            ),
    )
    .await?;
    let response = ApiResponse::created(&view, "Refund requested");
    idempotent::complete(&tx, claim.as_ref(), &response).await?;
    tx.commit().await?;
    drop(client);
    app.publish(&outbox).await;
    Ok(response)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    limit: Option<String>,
    starting_after: Option<String>,
}

/// A payment's refunds, newest first, one page at a time (the list contract).
pub async fn list(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let query: ListQuery = ctx.query()?;
    let page =
        PageRequest::<RefundId>::parse(query.limit.as_deref(), query.starting_after.as_deref())?;
    let principal = ctx.principal()?;
    let transaction: TransactionId = ctx.path_id("id")?;
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, principal.scope()).await?;
    let page = refunds::page_for(&tx, transaction, &page)
        .await?
        .ok_or(AppError::NotFound("transaction"))?;
    tx.commit().await?;
    Ok(ApiResponse::ok(&page, "Refunds"))
}

/// One refund.
pub async fn get(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let principal = ctx.principal()?;
    let id: RefundId = ctx.path_id("id")?;
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, principal.scope()).await?;
    let refund = refunds::get(&tx, id)
        .await?
        .ok_or(AppError::NotFound("refund"))?;
    tx.commit().await?;
    Ok(ApiResponse::ok(&refund, "Refund"))
}
