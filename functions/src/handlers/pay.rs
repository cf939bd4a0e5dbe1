//! `POST /api/v1/pay`: validates, honours `Idempotency-Key`, and writes the transaction, its
//! first attempt and its outbox in one database transaction.

use crate::context::RequestContext;
use crate::idempotent;
use shared::auth::Principal;
use shared::db;
use shared::http::{ApiResponse, body};
use shared::ids::MerchantId;
use shared::mode::Mode;
use shared::payments::transactions::{self, NewPayment, PayRequest};
use shared::routing::PgRouter;
use shared::{App, AppError};
use std::sync::Arc;

/// Creates a payment and answers with its `checkout_url`.
pub async fn create(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let principal = ctx.principal()?;
    let Principal::Merchant {
        merchant_id, mode, ..
    } = principal
    else {
        return Err(AppError::Forbidden("Payments are created by merchants"));
    };
    let key = idempotent::key(&ctx)?;
    // Validation failures are answered before the key is touched, so they are never stored.
    // Parsed once: the document is both the request and the idempotency fingerprint's input.
    let raw: serde_json::Value = ctx.body()?;
    let request: PayRequest = body::from_value(raw.clone())?;
    let payment = request.validate(&app.config.payments, mode)?;

    let order = Order {
        merchant: merchant_id,
        mode,
        scope: principal.scope(),
        message: "Payment created; send the customer to checkout_url",
    };
    create_once(&app, &ctx, order, key, &raw, payment).await
}

/// Whose payment a request creates, in which scope, and what the answer says.
pub struct Order {
    /// The merchant.
    pub merchant: MerchantId,
    /// Its mode.
    pub mode: Mode,
    /// The database scope the request acts in.
    pub scope: db::Scope,
    /// The answer's message.
    pub message: &'static str,
}

/// Creates `payment` under the request's `Idempotency-Key` (claimed before, completed after, in
/// the same database transaction) and answers it `201` with its `checkout_url`; a repeated key
/// answers what the first request did. `raw` is the body as sent (the key's fingerprint).
pub async fn create_once(
    app: &Arc<App>,
    ctx: &RequestContext,
    order: Order,
    key: Option<String>,
    raw: &serde_json::Value,
    payment: NewPayment,
) -> Result<ApiResponse, AppError> {
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, order.scope).await?;
    let claim =
        match idempotent::claim(&tx, ctx, order.merchant, order.mode, key.as_deref(), raw).await? {
            Ok(claim) => claim,
            Err(replay) => {
                tx.commit().await?;
                return Ok(replay);
            }
        };
    let router = PgRouter {
        settings: app.config.routing,
    };
    let (transaction, outbox) =
        transactions::create(&tx, app, &router, order.merchant, order.mode, payment).await?;
    let response = ApiResponse::created(&transaction, order.message);
    idempotent::complete(&tx, claim.as_ref(), &response).await?;
    tx.commit().await?;
    drop(client);
    app.publish(&outbox).await;
    Ok(response)
}
