//! Operators manage dashboard users: `POST /api/v1/admin/users/{id}/unlock`.

use crate::context::RequestContext;
use shared::auth::mfa;
use shared::db;
use shared::http::ApiResponse;
use shared::ids::UserId;
use shared::{App, AppError};
use std::sync::Arc;

/// Lifts a lockout after failed logins; audited with what it cleared.
pub async fn unlock(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let id: UserId = ctx.path_id("id")?;
    let principal = ctx.principal()?;
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, principal.scope()).await?;
    mfa::unlock(&tx, &ctx.audit(), id).await?;
    tx.commit().await?;
    Ok(ApiResponse::ok(
        &serde_json::json!({ "id": id, "failed_logins": 0, "locked_until": null }),
        "Account unlocked",
    ))
}
