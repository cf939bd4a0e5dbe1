//! Operators manage dashboard users: `POST /api/v1/admin/users/{id}/unlock`.

use crate::context::RequestContext;
use shared::auth::mfa;
use shared::db;
use shared::http::ApiResponse;
use shared::ids::UserId;
use shared::{App, AppError};
use std::sync::Arc;

/// The user may log in again.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Unlocked {
    /// The user.
    id: UserId,
    /// Failed logins counted: zero.
    failed_logins: u32,
    /// When the lockout ends: none now.
    locked_until: Option<chrono::DateTime<chrono::Utc>>,
}

/// Lifts a lockout after failed logins; audited with what it cleared.
pub async fn unlock(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let id: UserId = ctx.path_id("id")?;
    let principal = ctx.principal()?;
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, principal.scope()).await?;
    mfa::unlock(&tx, &ctx.audit(), id).await?;
    tx.commit().await?;
    Ok(ApiResponse::ok(
        &Unlocked {
            id,
            failed_logins: 0,
            locked_until: None,
        },
        "Account unlocked",
    ))
}
