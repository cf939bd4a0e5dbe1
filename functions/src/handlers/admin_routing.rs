//! Operators edit a merchant's routing pool: `/api/v1/admin/merchants/{id}/routing[/priorities]`.
//! Every edit names the pool's version it was based on; a stale one is `409 CONFLICT` and changes
//! nothing (see `shared::routing::pools`).

use crate::context::RequestContext;
use shared::db::{self, Scope};
use shared::http::ApiResponse;
use shared::ids::MerchantId;
use shared::routing::pools::{self, ChangePriorities, ReplacePool};
use shared::{App, AppError};
use std::sync::Arc;

/// Reads the pool: mode, version and members with their accounts.
pub async fn get(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let id: MerchantId = ctx.path_id("id")?;
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::Admin).await?;
    let pool = pools::get(&tx, id)
        .await?
        .ok_or(AppError::NotFound("merchant"))?;
    tx.commit().await?;
    Ok(ApiResponse::ok(&pool, "Routing pool"))
}

/// Replaces the mode and every member in one transaction, if the pool is still at the version sent.
pub async fn replace(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let id: MerchantId = ctx.path_id("id")?;
    let request: ReplacePool = ctx.body()?;
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::Admin).await?;
    let pool = pools::replace(&tx, &ctx.audit(), id, request).await?;
    tx.commit().await?;
    Ok(ApiResponse::ok(&pool, "Routing pool replaced"))
}

/// Sets new priorities on members of the pool, if it is still at the version sent.
pub async fn change_priorities(
    app: Arc<App>,
    ctx: RequestContext,
) -> Result<ApiResponse, AppError> {
    let id: MerchantId = ctx.path_id("id")?;
    let request: ChangePriorities = ctx.body()?;
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::Admin).await?;
    let pool = pools::change_priorities(&tx, &ctx.audit(), id, request).await?;
    tx.commit().await?;
    Ok(ApiResponse::ok(&pool, "Routing priorities changed"))
}
