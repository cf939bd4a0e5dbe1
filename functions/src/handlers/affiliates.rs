//! Operators manage affiliates (`/api/v1/admin/affiliates[/{id}]`) and link merchants to them
//! (`/api/v1/admin/merchants/{id}/affiliate`).

use crate::context::RequestContext;
use serde::Deserialize;
use shared::affiliates::{self, LinkAffiliate, NewAffiliate};
use shared::db::{self, Scope};
use shared::http::ApiResponse;
use shared::http::pagination::PageRequest;
use shared::ids::{AffiliateId, MerchantId};
use shared::{App, AppError};
use std::sync::Arc;

/// Adds an affiliate (audited); `409` when its email is taken.
pub async fn create(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let request: NewAffiliate = ctx.body()?;
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::Admin).await?;
    let affiliate = affiliates::create(&tx, &ctx.audit(), &request).await?;
    tx.commit().await?;
    Ok(ApiResponse::created(&affiliate, "Affiliate added"))
}

/// The query of `GET /api/v1/admin/affiliates`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[param(ignore)]
    limit: Option<String>,
    #[param(ignore)]
    starting_after: Option<String>,
}

/// Lists affiliates, newest first.
pub async fn list(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let query: ListQuery = ctx.query()?;
    let page =
        PageRequest::<AffiliateId>::parse(query.limit.as_deref(), query.starting_after.as_deref())?;
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::Admin).await?;
    let affiliates = affiliates::list(&tx, &page).await?;
    tx.commit().await?;
    Ok(ApiResponse::ok(&affiliates, "Affiliates"))
}

/// One affiliate with its accrued commission and its merchants.
pub async fn get(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let id: AffiliateId = ctx.path_id("id")?;
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::Admin).await?;
    let detail = affiliates::detail(&tx, id)
        .await?
        .ok_or(AppError::NotFound("affiliate"))?;
    tx.commit().await?;
    Ok(ApiResponse::ok(&detail, "Affiliate"))
}

/// Links a merchant to an affiliate, or relinks it (audited).
pub async fn link(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let id: MerchantId = ctx.path_id("id")?;
    let request: LinkAffiliate = ctx.body()?;
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::Admin).await?;
    let linked = affiliates::link(&tx, &ctx.audit(), id, &request).await?;
    tx.commit().await?;
    Ok(ApiResponse::ok(&linked, "Merchant linked to the affiliate"))
}

/// Ends a merchant's link to its affiliate (audited); answers the link that ended.
pub async fn unlink(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let id: MerchantId = ctx.path_id("id")?;
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::Admin).await?;
    let ended = affiliates::unlink(&tx, &ctx.audit(), id).await?;
    tx.commit().await?;
    Ok(ApiResponse::ok(
        &ended,
        "Merchant unlinked from its affiliate",
    ))
}
