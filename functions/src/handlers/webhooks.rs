//! `POST /api/v1/webhooks/{provider}/{account_id}` (and the older provider-wide
//! `POST /api/v1/webhooks/{provider}`): signed gateway events, stored once and answered fast; the
//! webhook-processor worker applies them.

use crate::context::RequestContext;
use serde::Serialize;
use shared::error::AuthFailure;
use shared::http::ApiResponse;
use shared::ids::GatewayAccountId;
use shared::payments::inbound;
use shared::{App, AppError};
use std::sync::Arc;

/// The event is stored; the gateway need not send it again.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = WebhookReceived)]
pub struct Received {
    /// Always true.
    received: bool,
    /// Whether it had been received before (a redelivery, stored once).
    duplicate: bool,
}

/// Verifies, stores and queues an event.
pub async fn receive(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let provider = ctx.params.get("provider").unwrap_or_default().to_string();
    // On the account path, only the named account's secret is tried; a malformed id names none.
    let named = match ctx.params.get("account_id") {
        None => None,
        Some(_) => Some(
            ctx.path_id::<GatewayAccountId>("account_id")
                .map_err(|_| AppError::Unauthorized(AuthFailure::InvalidSignature))?,
        ),
    };
    let received = inbound::receive(
        &app,
        &provider,
        named,
        &ctx.request.headers,
        &ctx.request.body,
    )
    .await?;
    let message = if received.duplicate {
        "Event already received"
    } else {
        "Event received"
    };
    Ok(ApiResponse::ok(
        &Received {
            received: true,
            duplicate: received.duplicate,
        },
        message,
    ))
}

/// The older provider-wide path, kept for orders made before per-account notify URLs: the same
/// as [`receive`], trying each of the provider's accounts.
pub async fn receive_provider_wide(
    app: Arc<App>,
    ctx: RequestContext,
) -> Result<ApiResponse, AppError> {
    receive(app, ctx).await
}
