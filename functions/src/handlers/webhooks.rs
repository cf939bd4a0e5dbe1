//! `POST /api/v1/webhooks/{provider}`: signed gateway events, stored once and answered fast; the
//! webhook-processor worker applies them.

use crate::context::RequestContext;
use serde_json::json;
use shared::http::ApiResponse;
use shared::payments::inbound;
use shared::{App, AppError};
use std::sync::Arc;

/// Verifies, stores and queues an event.
pub async fn receive(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let provider = ctx.params.get("provider").unwrap_or_default().to_string();
    let received =
        inbound::receive(&app, &provider, &ctx.request.headers, &ctx.request.body).await?;
    let message = if received.duplicate {
        "Event already received"
    } else {
        "Event received"
    };
    Ok(ApiResponse::ok(
        &json!({ "received": true, "duplicate": received.duplicate }),
        message,
    ))
}
