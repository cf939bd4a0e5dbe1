//! `POST /api/v1/merchant/return-signing-secret`: the secret that signs the redirect to the
//! merchant's `return_url`, for the caller's mode. Each call replaces it and answers the new one:
//! the only time it is shown.

use crate::context::RequestContext;
use serde::Serialize;
use shared::audit::{self, AuditEvent};
use shared::db;
use shared::http::ApiResponse;
use shared::mode::Mode;
use shared::return_signing;
use shared::{App, AppError};
use std::sync::Arc;

/// A new return signing secret: shown only here.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = ReturnSigningSecret)]
pub struct IssuedSecret {
    /// The mode it signs returns of.
    mode: Mode,
    /// The secret: store it now.
    secret: String,
    /// When it was made.
    created_at: chrono::DateTime<chrono::Utc>,
}

/// Creates or rotates the caller's return signing secret for its mode.
pub async fn rotate(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let principal = ctx.principal()?;
    let shared::auth::Principal::Merchant {
        merchant_id, mode, ..
    } = principal
    else {
        return Err(AppError::Forbidden(
            "Only merchants have return signing secrets",
        ));
    };
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, principal.scope()).await?;
    let (secret, created_at) =
        return_signing::rotate(&tx, &app.config.encryption, merchant_id, mode).await?;
    audit::record(
        &tx,
        &ctx.audit(),
        AuditEvent::success("merchant.return_signing_secret_rotated")
            .merchant(merchant_id)
            .change(None, Some(serde_json::json!({ "mode": mode }))),
    )
    .await?;
    tx.commit().await?;
    Ok(ApiResponse::created(
        &IssuedSecret {
            mode,
            secret: secret.expose().clone(),
            created_at,
        },
        "Store the secret now: it is shown only once; the previous one no longer signs",
    ))
}
