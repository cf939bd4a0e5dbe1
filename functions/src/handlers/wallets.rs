//! Prepaid wallets: a merchant reads its wallet and tops it up through the platform's checkout
//! (`/api/v1/wallets…`); operators read any merchant's, set its thresholds and record money
//! received (`/api/v1/admin/merchants/{id}/wallet…`).

use crate::context::RequestContext;
use crate::idempotent;
use serde::Deserialize;
use shared::db::{self, Scope};
use shared::http::pagination::PageRequest;
use shared::http::{ApiResponse, body};
use shared::ids::MerchantId;
use shared::mode::Mode;
use shared::wallets::thresholds::{SetThresholds, parse_mode};
use shared::wallets::top_ups::{self, NewCheckoutTopUp, NewOperatorTopUp, OperatorTopUpDone};
use shared::wallets::{monitor, view};
use shared::{App, AppError};
use std::sync::Arc;

const MERCHANTS_ONLY: &str =
    "Wallets here are the calling merchant's; operators use /api/v1/admin/merchants/{id}/wallet";

/// The query of `GET /api/v1/wallets`: a page of the wallet's movements.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct WalletQuery {
    /// Movements per page, 1–100 (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// The `id` of the last movement of the previous page.
    #[param(value_type = Option<i64>)]
    starting_after: Option<String>,
}

/// The query of `GET /api/v1/admin/merchants/{id}/wallet`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AdminWalletQuery {
    /// Which mode's wallet (required).
    #[param(value_type = Mode)]
    mode: Option<String>,
    /// Movements per page, 1–100 (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// The `id` of the last movement of the previous page.
    #[param(value_type = Option<i64>)]
    starting_after: Option<String>,
}

/// The caller's wallet in its mode, with a page of movements.
pub async fn get(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let (merchant, mode, scope) = ctx.merchant(MERCHANTS_ONLY)?;
    let query: WalletQuery = ctx.query()?;
    let page = PageRequest::<i64>::parse(query.limit.as_deref(), query.starting_after.as_deref())?;
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, scope).await?;
    let wallet = view::read(&tx, merchant, mode, &page)
        .await?
        .ok_or(AppError::NotFound("merchant"))?;
    tx.commit().await?;
    Ok(ApiResponse::ok(&wallet, "Wallet"))
}

/// Creates a payment that tops up the caller's wallet, routed only to platform-owned accounts;
/// answers it with its `checkout_url`. Honours `Idempotency-Key` as `/pay` does.
pub async fn top_up(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let (merchant, mode, scope) = ctx.merchant(MERCHANTS_ONLY)?;
    let key = idempotent::key(&ctx)?;
    let raw: serde_json::Value = ctx.body()?;
    let request: NewCheckoutTopUp = body::from_value(raw.clone())?;
    let payment = request.validate(&app.config.payments, mode)?;
    let order = super::pay::Order {
        merchant,
        mode,
        scope,
        message: "Wallet top-up created; pay it at checkout_url",
    };
    super::pay::create_once(&app, &ctx, order, key, &raw, payment).await
}

/// Any merchant's wallet in one mode, with a page of movements.
pub async fn admin_get(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let merchant: MerchantId = ctx.path_id("id")?;
    let query: AdminWalletQuery = ctx.query()?;
    let mut errors = shared::validation::FieldErrors::new();
    let mode = match query.mode.as_deref() {
        Some(raw) => parse_mode(&mut errors, raw),
        None => {
            errors.add("mode", "is required: test or live");
            None
        }
    };
    let page = PageRequest::<i64>::parse(query.limit.as_deref(), query.starting_after.as_deref());
    errors.into_result()?;
    let page = page?;
    let mode = mode.unwrap_or(Mode::Test);
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::Admin).await?;
    let wallet = view::read(&tx, merchant, mode, &page)
        .await?
        .ok_or(AppError::NotFound("merchant"))?;
    tx.commit().await?;
    Ok(ApiResponse::ok(&wallet, "Wallet"))
}

/// Sets a wallet's alert and suspension thresholds (audited); the low-balance alert follows at
/// once. Answers the wallet.
pub async fn admin_set(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let merchant: MerchantId = ctx.path_id("id")?;
    let request: SetThresholds = ctx.body()?;
    let thresholds = request.validate()?;
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::Admin).await?;
    shared::wallets::thresholds::set(&tx, &ctx.audit(), merchant, thresholds).await?;
    let (_, ids) = monitor::check(&tx, &app, merchant, thresholds.mode).await?;
    let wallet = view::read(
        &tx,
        merchant,
        thresholds.mode,
        &PageRequest::parse(None, None)?,
    )
    .await?
    .ok_or(AppError::NotFound("merchant"))?;
    tx.commit().await?;
    drop(client);
    app.publish(&ids).await;
    Ok(ApiResponse::ok(&wallet, "Wallet thresholds set"))
}

/// Records money received for a merchant's wallet and books it (audited); requires
/// `Idempotency-Key`, so that a double submit never credits the money twice. Answers the top-up
/// and the new balance.
pub async fn admin_top_up(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let merchant: MerchantId = ctx.path_id("id")?;
    let by = ctx.principal()?.user_id().ok_or(AppError::Forbidden(
        "Wallet top-ups are recorded by operators",
    ))?;
    let key = idempotent::key(&ctx)?.ok_or_else(|| {
        AppError::field(
            "Idempotency-Key",
            "is required: a top-up records money received, once",
        )
    })?;
    // Operators' keys live apart from the merchant's own (`/pay`, refunds) in its key space.
    let key = Some(format!("operator:{key}"));
    let raw: serde_json::Value = ctx.body()?;
    let request: NewOperatorTopUp = body::from_value(raw.clone())?;
    let input = request.validate()?;
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::Admin).await?;
    // The key is stored under the merchant (its foreign key): an unknown merchant is 404 first.
    if view::figures(&tx, merchant, input.mode).await?.is_none() {
        return Err(AppError::NotFound("merchant"));
    }
    let claim =
        match idempotent::claim(&tx, &ctx, merchant, input.mode, key.as_deref(), &raw).await? {
            Ok(claim) => claim,
            Err(replay) => {
                tx.commit().await?;
                return Ok(replay);
            }
        };
    let top_up = top_ups::by_operator(&tx, &ctx.audit(), merchant, by, &input).await?;
    let (_, ids) = monitor::check(&tx, &app, merchant, input.mode).await?;
    let figures = view::figures(&tx, merchant, input.mode)
        .await?
        .ok_or(AppError::NotFound("merchant"))?;
    let done = OperatorTopUpDone {
        top_up,
        balance: figures.balance,
        state: figures.state(),
    };
    let response = ApiResponse::created(&done, "Wallet topped up");
    idempotent::complete(&tx, claim.as_ref(), &response).await?;
    tx.commit().await?;
    drop(client);
    app.publish(&ids).await;
    Ok(response)
}
