//! The hosted checkout behind `checkout_url`, and the gateways' browser return.

use crate::context::RequestContext;
use http::StatusCode;
use shared::gateways::Handoff;
use shared::html::{escape, page};
use shared::http::ApiResponse;
use shared::ids::TransactionId;
use shared::payments::checkout;
use shared::{App, AppError};
use std::collections::BTreeMap;
use std::sync::Arc;

fn error_page(status: StatusCode, message: &str) -> ApiResponse {
    ApiResponse::html(
        status,
        page(
            "Payment",
            &format!("<p id=\"error\">{}</p>", escape(message)),
        ),
    )
}

/// Any other failure: a generic page with the request id. The details (attempt ids, gateway and
/// transport errors, which may name internal URLs) go only to the log.
fn failure_page(ctx: &RequestContext, error: &AppError) -> ApiResponse {
    tracing::error!(request_id = %ctx.request_id, path = %ctx.request.path, error = %error, "checkout page failed");
    let status = match error {
        AppError::GatewayUnavailable(_) | AppError::Database(_) => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let mut page = error_page(
        status,
        &format!(
            "We could not load this payment right now. If you have paid, you need not pay again. \
             Please try again in a minute (reference {}).",
            ctx.request_id
        ),
    );
    if status == StatusCode::SERVICE_UNAVAILABLE {
        page.set_header("retry-after", "30");
    }
    page
}

/// Hands the customer to the gateway, or shows how the payment ended.
pub async fn page_for(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let Ok(id) = ctx.path_id::<TransactionId>("id") else {
        return Ok(error_page(
            StatusCode::NOT_FOUND,
            "This payment link is not valid.",
        ));
    };
    match checkout::checkout(&app, id).await {
        Ok(Handoff::Redirect(url)) => Ok(ApiResponse::redirect(&url)),
        Ok(Handoff::Html(html)) => Ok(ApiResponse::html(StatusCode::OK, html)),
        Err(AppError::NotFound(_)) => Ok(error_page(
            StatusCode::NOT_FOUND,
            "This payment link is not valid.",
        )),
        Err(e) => Ok(failure_page(&ctx, &e)),
    }
}

/// Verifies the gateway's return and sends the customer back to the merchant.
pub async fn browser_return(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let Ok(id) = ctx.path_id::<TransactionId>("id") else {
        return Ok(error_page(
            StatusCode::NOT_FOUND,
            "This payment link is not valid.",
        ));
    };
    let mut params: BTreeMap<String, String> =
        serde_urlencoded::from_str(&ctx.request.query).unwrap_or_default();
    if ctx.request.method == http::Method::POST {
        params.extend(
            serde_urlencoded::from_bytes::<BTreeMap<String, String>>(&ctx.request.body)
                .unwrap_or_default(),
        );
    }
    match checkout::browser_return(&app, id, &params).await {
        Ok(location) => Ok(ApiResponse::redirect(&location)),
        Err(AppError::Unauthorized(_)) => Ok(error_page(
            StatusCode::BAD_REQUEST,
            "We could not verify this payment response. Nothing was changed.",
        )),
        Err(AppError::NotFound(_)) => Ok(error_page(
            StatusCode::NOT_FOUND,
            "This payment link is not valid.",
        )),
        Err(e) => Ok(failure_page(&ctx, &e)),
    }
}

/// The browser return as a form POST, as several gateways send it: the same as
/// [`browser_return`], reading the form too.
pub async fn browser_return_form(
    app: Arc<App>,
    ctx: RequestContext,
) -> Result<ApiResponse, AppError> {
    browser_return(app, ctx).await
}

/// The customer tries a failed payment again (the button on the checkout page): back to the
/// checkout, which hands over to the gateway the retry was routed to, or shows why it cannot.
pub async fn retry(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let Ok(id) = ctx.path_id::<TransactionId>("id") else {
        return Ok(error_page(
            StatusCode::NOT_FOUND,
            "This payment link is not valid.",
        ));
    };
    match checkout::retry(&app, id).await {
        Ok(()) => Ok(ApiResponse::redirect(&checkout_path(id))),
        Err(AppError::NotFound(_)) => Ok(error_page(
            StatusCode::NOT_FOUND,
            "This payment link is not valid.",
        )),
        Err(e) => Ok(failure_page(&ctx, &e)),
    }
}

fn checkout_path(id: TransactionId) -> String {
    format!("/api/v1/checkout/{id}")
}
