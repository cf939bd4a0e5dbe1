//! Operators manage merchants: `/api/v1/admin/merchants[/{id}[/suspend|/reactivate]]`.

use crate::context::RequestContext;
use serde::{Deserialize, Serialize};
use shared::db::{self, Scope};
use shared::http::ApiResponse;
use shared::http::pagination::PageRequest;
use shared::ids::{CredentialId, MerchantId, UserId};
use shared::merchants::{self, CreateMerchant, Merchant, SuspendMerchant, UpdateMerchant};
use shared::mode::Mode;
use shared::{App, AppError};
use std::sync::Arc;

#[derive(Serialize)]
struct KeyPair {
    id: CredentialId,
    mode: Mode,
    client_key: String,
    client_secret: String,
}

#[derive(Serialize)]
struct Created {
    #[serde(flatten)]
    merchant: Merchant,
    test_credentials: KeyPair,
    user_id: Option<UserId>,
}

/// Onboards a merchant; the answer holds its test key pair, the only time the secret is shown.
pub async fn create(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let request: CreateMerchant = ctx.body()?;
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::Admin).await?;
    let onboarded = merchants::create(&tx, &ctx.audit(), request).await?;
    tx.commit().await?;
    let keys = onboarded.test_credentials;
    let created = Created {
        merchant: onboarded.merchant,
        test_credentials: KeyPair {
            id: keys.id,
            mode: keys.mode,
            client_key: keys.client_key,
            client_secret: keys.client_secret.expose().clone(),
        },
        user_id: onboarded.user_id,
    };
    Ok(ApiResponse::created(
        &created,
        "Merchant created; store the client secret now, it is shown only once",
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    limit: Option<String>,
    starting_after: Option<String>,
    status: Option<String>,
}

/// Lists merchants, newest first, with cursor pagination and an optional status filter.
pub async fn list(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let query: ListQuery = ctx.query()?;
    let page =
        PageRequest::<MerchantId>::parse(query.limit.as_deref(), query.starting_after.as_deref())?;
    if let Some(status) = &query.status
        && !["active", "suspended"].contains(&status.as_str())
    {
        return Err(AppError::field("status", "must be 'active' or 'suspended'"));
    }
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::Admin).await?;
    let merchants = merchants::list(&tx, &page, query.status.as_deref()).await?;
    tx.commit().await?;
    Ok(ApiResponse::ok(&merchants, "Merchants"))
}

/// Reads one merchant.
pub async fn get(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let id: MerchantId = ctx.path_id("id")?;
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::Admin).await?;
    let merchant = merchants::get(&tx, id)
        .await?
        .ok_or(AppError::NotFound("merchant"))?;
    tx.commit().await?;
    Ok(ApiResponse::ok(&merchant, "Merchant"))
}

/// Changes name, live mode or rate limit.
pub async fn update(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let id: MerchantId = ctx.path_id("id")?;
    let patch: UpdateMerchant = ctx.body()?;
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::Admin).await?;
    let merchant = merchants::update(&tx, &ctx.audit(), id, patch).await?;
    tx.commit().await?;
    Ok(ApiResponse::ok(&merchant, "Merchant updated"))
}

/// Suspends a merchant.
pub async fn suspend(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let id: MerchantId = ctx.path_id("id")?;
    let request: SuspendMerchant = ctx.body()?;
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::Admin).await?;
    let merchant = merchants::suspend(&tx, &ctx.audit(), id, request).await?;
    tx.commit().await?;
    Ok(ApiResponse::ok(&merchant, "Merchant suspended"))
}

/// Lifts a suspension.
pub async fn reactivate(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let id: MerchantId = ctx.path_id("id")?;
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::Admin).await?;
    let merchant = merchants::reactivate(&tx, &ctx.audit(), id).await?;
    tx.commit().await?;
    Ok(ApiResponse::ok(&merchant, "Merchant reactivated"))
}
