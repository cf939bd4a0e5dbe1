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

/// A merchant's first key pair: the secret is shown only here.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = OnboardingKeyPair)]
pub struct KeyPair {
    /// The credential.
    id: CredentialId,
    /// Always `test`: live keys come once live mode is enabled.
    mode: Mode,
    /// `X-Client-Key`.
    client_key: String,
    /// `X-Client-Secret`: store it now.
    client_secret: String,
}

/// A new merchant with its test key pair and first user.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = OnboardedMerchant)]
pub struct Created {
    /// The merchant.
    #[serde(flatten)]
    merchant: Merchant,
    /// Its test key pair.
    test_credentials: KeyPair,
    /// The dashboard user created with it, if one was asked for.
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

/// The query of `GET /api/v1/admin/merchants`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[param(ignore)]
    limit: Option<String>,
    #[param(ignore)]
    starting_after: Option<String>,
    /// Only merchants in this state.
    #[param(pattern = "^(active|suspended)$")]
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
