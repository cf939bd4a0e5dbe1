//! Notification recipients (`/api/v1/merchant/notification-recipients` for a merchant's own,
//! `/api/v1/admin/notification-recipients` for the platform's operators) and WhatsApp's status
//! webhook (`/api/v1/whatsapp/webhook`: the subscription handshake and signed status updates).

use crate::context::RequestContext;
use serde::Serialize;
use shared::db::{self, Scope};
use shared::error::AuthFailure;
use shared::http::ApiResponse;
use shared::ids::{MerchantId, RecipientId};
use shared::notifications::recipients::{self, NewRecipient, UpdateRecipient};
use shared::notifications::whatsapp;
use shared::{App, AppError};
use std::sync::Arc;

/// Why an operator cannot use the merchant's own routes.
const MERCHANTS_ONLY: &str = "Only merchants have their own notification recipients";

async fn create_for(
    app: Arc<App>,
    ctx: RequestContext,
    owner: Option<MerchantId>,
    scope: Scope,
) -> Result<ApiResponse, AppError> {
    let input: NewRecipient = ctx.body()?;
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, scope).await?;
    let view = recipients::create(
        &tx,
        &app.config.encryption,
        &ctx.audit(),
        owner,
        input,
        app.config.notifications.slack.allow_local_webhooks,
    )
    .await?;
    tx.commit().await?;
    Ok(ApiResponse::created(&view, "Notification recipient added"))
}

async fn list_for(
    app: Arc<App>,
    owner: Option<MerchantId>,
    scope: Scope,
) -> Result<ApiResponse, AppError> {
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, scope).await?;
    let list = recipients::list(&tx, owner).await?;
    tx.commit().await?;
    Ok(ApiResponse::ok(&list, "Notification recipients"))
}

async fn update_for(
    app: Arc<App>,
    ctx: RequestContext,
    owner: Option<MerchantId>,
    scope: Scope,
) -> Result<ApiResponse, AppError> {
    let id: RecipientId = ctx.path_id("id")?;
    let patch: UpdateRecipient = ctx.body()?;
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, scope).await?;
    let view = recipients::update(&tx, &ctx.audit(), owner, id, patch).await?;
    tx.commit().await?;
    Ok(ApiResponse::ok(&view, "Notification recipient updated"))
}

async fn delete_for(
    app: Arc<App>,
    ctx: RequestContext,
    owner: Option<MerchantId>,
    scope: Scope,
) -> Result<ApiResponse, AppError> {
    let id: RecipientId = ctx.path_id("id")?;
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, scope).await?;
    let view = recipients::delete(&tx, &ctx.audit(), owner, id).await?;
    tx.commit().await?;
    Ok(ApiResponse::ok(&view, "Notification recipient removed"))
}

/// The caller's recipients.
pub async fn merchant_list(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let (merchant, _, scope) = ctx.merchant(MERCHANTS_ONLY)?;
    list_for(app, Some(merchant), scope).await
}

/// Adds a recipient for the caller.
pub async fn merchant_create(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let (merchant, _, scope) = ctx.merchant(MERCHANTS_ONLY)?;
    create_for(app, ctx, Some(merchant), scope).await
}

/// Changes one of the caller's recipients.
pub async fn merchant_update(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let (merchant, _, scope) = ctx.merchant(MERCHANTS_ONLY)?;
    update_for(app, ctx, Some(merchant), scope).await
}

/// Removes one of the caller's recipients.
pub async fn merchant_delete(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let (merchant, _, scope) = ctx.merchant(MERCHANTS_ONLY)?;
    delete_for(app, ctx, Some(merchant), scope).await
}

/// The operators' recipients.
pub async fn admin_list(app: Arc<App>, _ctx: RequestContext) -> Result<ApiResponse, AppError> {
    list_for(app, None, Scope::Admin).await
}

/// Adds an operators' recipient (audited).
pub async fn admin_create(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    create_for(app, ctx, None, Scope::Admin).await
}

/// Changes an operators' recipient (audited).
pub async fn admin_update(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    update_for(app, ctx, None, Scope::Admin).await
}

/// Removes an operators' recipient (audited).
pub async fn admin_delete(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    delete_for(app, ctx, None, Scope::Admin).await
}

/// The subscription handshake: WhatsApp's challenge, answered as plain text when the mode is
/// `subscribe` and the verify token is ours; 403 otherwise.
pub async fn whatsapp_verify(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(&ctx.request.query).unwrap_or_default();
    let value = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let expected = app.config.notifications.whatsapp.verify_token.as_ref();
    let token_matches = match (expected, value("hub.verify_token")) {
        (Some(expected), Some(given)) => {
            shared::crypto::constant_time_eq(expected.expose().as_bytes(), given.as_bytes())
        }
        _ => false,
    };
    let challenge = value("hub.challenge").unwrap_or_default();
    if value("hub.mode") != Some("subscribe") || !token_matches {
        return Err(AppError::Forbidden(
            "hub.mode must be subscribe and hub.verify_token must be the configured token",
        ));
    }
    if challenge.is_empty()
        || challenge.len() > 200
        || !challenge.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(AppError::field(
            "hub.challenge",
            "is required (printable, at most 200 characters)",
        ));
    }
    let mut response = ApiResponse::file("text/plain; charset=utf-8", challenge.to_string());
    response.set_header("cache-control", "no-store");
    Ok(response)
}

/// What a status webhook changed.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = WhatsAppStatusesApplied)]
pub struct Applied {
    /// Always true.
    received: bool,
    /// Messages whose status moved.
    updated: u64,
}

/// Message statuses from WhatsApp, verified with `X-Hub-Signature-256` before anything is read.
pub async fn whatsapp_receive(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let verified = whatsapp::verify_signature(
        app.config.notifications.whatsapp.app_secret.as_ref(),
        &ctx.request.body,
        ctx.request.header("x-hub-signature-256"),
    );
    if !verified {
        return Err(AppError::Unauthorized(AuthFailure::InvalidSignature));
    }
    let updated = whatsapp::apply_statuses(&app, &ctx.request.body).await?;
    Ok(ApiResponse::ok(
        &Applied {
            received: true,
            updated,
        },
        "Statuses applied",
    ))
}
