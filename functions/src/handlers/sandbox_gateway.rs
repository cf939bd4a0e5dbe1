//! The sandbox gateway's HTTP surface: its order API (HTTP Basic with the account's `api_key`)
//! and its pay page. See `shared::sandbox_provider` for its behaviour.

use crate::context::RequestContext;
use base64::Engine;
use http::StatusCode;
use serde::Deserialize;
use shared::error::AuthFailure;
use shared::html::{escape, page};
use shared::http::ApiResponse;
use shared::sandbox_provider::{self, Action, CreateOrder, CreateRefund, Orders, Refunds};
use shared::{App, AppError};
use std::sync::Arc;

fn api_key(ctx: &RequestContext) -> Result<String, AppError> {
    let header = ctx
        .request
        .header("authorization")
        .ok_or(AppError::Unauthorized(AuthFailure::MissingCredentials))?;
    let encoded = header
        .strip_prefix("Basic ")
        .ok_or(AppError::Unauthorized(AuthFailure::InvalidCredentials))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| AppError::Unauthorized(AuthFailure::InvalidCredentials))?;
    let text = String::from_utf8(decoded)
        .map_err(|_| AppError::Unauthorized(AuthFailure::InvalidCredentials))?;
    Ok(text.split(':').next().unwrap_or_default().to_string())
}

/// `POST /sandbox/v1/orders`.
pub async fn create_order(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let (account, credentials) = sandbox_provider::authenticate(&app, &api_key(&ctx)?).await?;
    let request: CreateOrder = ctx.body()?;
    let order = sandbox_provider::create_order(&app, account, &credentials, request).await?;
    Ok(ApiResponse::json(
        StatusCode::OK,
        &serde_json::to_value(order).unwrap_or_default(),
    ))
}

/// The query of `GET /sandbox/v1/orders`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ByReceipt {
    /// The receipt the order was made for.
    receipt: String,
}

/// `GET /sandbox/v1/orders?receipt=…`: `{"items": [order…]}`.
pub async fn find_orders(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let (account, _) = sandbox_provider::authenticate(&app, &api_key(&ctx)?).await?;
    let query: ByReceipt = ctx.query()?;
    let orders = sandbox_provider::find_orders(&app, account, &query.receipt).await?;
    Ok(ApiResponse::json(
        StatusCode::OK,
        &serde_json::to_value(Orders { items: orders }).unwrap_or_default(),
    ))
}

/// `POST /sandbox/v1/orders/{order_id}/refunds`.
pub async fn create_refund(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let (account, _) = sandbox_provider::authenticate(&app, &api_key(&ctx)?).await?;
    let request: CreateRefund = ctx.body()?;
    let order = ctx.params.get("order_id").unwrap_or_default();
    let refund = sandbox_provider::create_refund(&app, account, order, request).await?;
    Ok(ApiResponse::json(
        StatusCode::OK,
        &serde_json::to_value(refund).unwrap_or_default(),
    ))
}

/// `GET /sandbox/v1/orders/{order_id}/refunds`: `{"items": [refund…]}`.
pub async fn list_refunds(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let (account, _) = sandbox_provider::authenticate(&app, &api_key(&ctx)?).await?;
    let order = ctx.params.get("order_id").unwrap_or_default();
    let refunds = sandbox_provider::refunds(&app, account, order).await?;
    Ok(ApiResponse::json(
        StatusCode::OK,
        &serde_json::to_value(Refunds { items: refunds }).unwrap_or_default(),
    ))
}

/// `GET /sandbox/v1/orders/{order_id}`.
pub async fn get_order(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let (account, _) = sandbox_provider::authenticate(&app, &api_key(&ctx)?).await?;
    let order = sandbox_provider::get_order(
        &app,
        account,
        ctx.params.get("order_id").unwrap_or_default(),
    )
    .await?;
    Ok(ApiResponse::json(
        StatusCode::OK,
        &serde_json::to_value(order).unwrap_or_default(),
    ))
}

/// `GET /sandbox/pay/{order_id}`: the page with Pay and Fail.
pub async fn pay_page(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    match sandbox_provider::pay_page(&app, ctx.params.get("order_id").unwrap_or_default()).await {
        Ok(html) => Ok(ApiResponse::html(StatusCode::OK, html)),
        Err(AppError::NotFound(_)) => Ok(ApiResponse::html(
            StatusCode::NOT_FOUND,
            page("Sandbox payment", "<p>No such order.</p>"),
        )),
        Err(e) => Err(e),
    }
}

/// The sandbox pay page's form.
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = SandboxPayForm)]
pub struct Pressed {
    /// The button: `pay` or `fail`.
    #[schema(pattern = "^(pay|fail)$")]
    action: String,
}

/// `POST /sandbox/pay/{order_id}`: a button was pressed; the browser goes back to the merchant.
pub async fn submit(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let pressed: Pressed = ctx.body()?;
    let action = match pressed.action.as_str() {
        "pay" => Action::Pay,
        "fail" => Action::Fail,
        other => {
            return Ok(ApiResponse::html(
                StatusCode::BAD_REQUEST,
                page(
                    "Sandbox payment",
                    &format!("<p>Unknown action {}.</p>", escape(other)),
                ),
            ));
        }
    };
    let location =
        sandbox_provider::submit(&app, ctx.params.get("order_id").unwrap_or_default(), action)
            .await?;
    Ok(ApiResponse::redirect(&location))
}
