//! `POST /api/v1/pay`: validates, honours `Idempotency-Key`, and writes the transaction, its
//! first attempt and its outbox in one database transaction.

use crate::context::RequestContext;
use crate::idempotent;
use shared::auth::Principal;
use shared::db;
use shared::http::{ApiResponse, body};
use shared::payments::transactions::{self, PayRequest};
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

    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, principal.scope()).await?;
    let claim = match idempotent::claim(&tx, &ctx, merchant_id, mode, key.as_deref(), &raw).await? {
        Ok(claim) => claim,
        Err(replay) => {
            tx.commit().await?;
            return Ok(replay);
        }
    };
    let (transaction, outbox) = transactions::create(
        &tx,
        &app,
        &PgRouter {
            settings: app.config.routing,
        },
        merchant_id,
        mode,
        payment,
    )
    .await?;
    let response = ApiResponse::created(
        &transaction,
        "Payment created; send the customer to checkout_url",
    );
    idempotent::complete(&tx, claim.as_ref(), &response).await?;
    tx.commit().await?;
    drop(client);
    app.publish(&outbox).await;
    Ok(response)
}
