//! Fee schedules: operators read and replace a merchant's
//! (`/api/v1/admin/merchants/{id}/fees`); a merchant reads its own (`/api/v1/merchant/fees`).

use crate::context::RequestContext;
use shared::db::{self, Scope};
use shared::http::ApiResponse;
use shared::ids::MerchantId;
use shared::ledger::fee_settings::{self, ReplaceFees};
use shared::{App, AppError};
use std::sync::Arc;

/// A merchant's fee schedule, with the platform's default beside it.
pub async fn admin_get(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let id: MerchantId = ctx.path_id("id")?;
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::Admin).await?;
    let schedule = fee_settings::get(&tx, id, app.config.payments.default_fee)
        .await?
        .ok_or(AppError::NotFound("merchant"))?;
    tx.commit().await?;
    Ok(ApiResponse::ok(&schedule, "Fee schedule"))
}

/// Replaces a merchant's fee schedule in one transaction (audited); payments captured from then
/// on are charged at it.
pub async fn replace(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let id: MerchantId = ctx.path_id("id")?;
    let request: ReplaceFees = ctx.body()?;
    let schedule = fee_settings::validate(&request)?;
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::Admin).await?;
    let replaced = fee_settings::replace(
        &tx,
        &ctx.audit(),
        id,
        app.config.payments.default_fee,
        &schedule,
    )
    .await?;
    tx.commit().await?;
    Ok(ApiResponse::ok(&replaced, "Fee schedule replaced"))
}

/// The caller's own fee schedule.
pub async fn own(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let (merchant, _, scope) =
        ctx.merchant("Operators read a merchant's fees under /api/v1/admin")?;
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, scope).await?;
    let schedule = fee_settings::get(&tx, merchant, app.config.payments.default_fee)
        .await?
        .ok_or(AppError::NotFound("merchant"))?;
    tx.commit().await?;
    Ok(ApiResponse::ok(&schedule, "Fee schedule"))
}
