//! Refunds: `POST/GET /api/v1/transactions/{id}/refunds` and `GET /api/v1/refunds/{id}`, in the
//! merchant's scope (operators may read any).

use crate::context::RequestContext;
use crate::idempotent;
use shared::auth::Principal;
use shared::db;
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
    let response = ApiResponse::created(&view, "Refund requested");
    idempotent::complete(&tx, claim.as_ref(), &response).await?;
    tx.commit().await?;
    drop(client);
    app.publish(&outbox).await;
    Ok(response)
}

/// A payment's refunds, newest first.
pub async fn list(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let principal = ctx.principal()?;
    let transaction: TransactionId = ctx.path_id("id")?;
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, principal.scope()).await?;
    let items = refunds::list_for(&tx, transaction)
        .await?
        .ok_or(AppError::NotFound("transaction"))?;
    tx.commit().await?;
    Ok(ApiResponse::ok(
        &serde_json::json!({ "items": items }),
        "Refunds",
    ))
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
