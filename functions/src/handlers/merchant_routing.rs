//! A merchant reads its own routing pool: `GET /api/v1/merchant/routing`.

use crate::context::RequestContext;
use shared::auth::Principal;
use shared::db;
use shared::http::ApiResponse;
use shared::routing::pools;
use shared::{App, AppError};
use std::sync::Arc;

/// The pool's mode and the members of the caller's mode (test or live), never credentials, and
/// neither labels nor caps of the platform's accounts.
pub async fn get(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let principal = ctx.principal()?;
    let Principal::Merchant {
        merchant_id, mode, ..
    } = principal
    else {
        return Err(AppError::Forbidden("Only merchants have a routing pool"));
    };
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, principal.scope()).await?;
    let pool = pools::for_merchant(&tx, merchant_id, mode).await?;
    tx.commit().await?;
    Ok(ApiResponse::ok(&pool, "Routing pool"))
}
