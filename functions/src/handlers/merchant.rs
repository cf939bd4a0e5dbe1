//! The merchant's own resources: `GET /api/v1/merchant/{id}` and
//! `POST /api/v1/merchant/credentials/regenerate`.

use crate::context::RequestContext;
use serde::{Deserialize, Serialize};
use shared::audit::{self, AuditEvent};
use shared::auth::api_keys::{self, CredentialSummary};
use shared::db;
use shared::http::ApiResponse;
use shared::ids::{CredentialId, MerchantId};
use shared::merchants::{self, Merchant};
use shared::mode::Mode;
use shared::{App, AppError};
use std::sync::Arc;

/// A merchant with its active key pairs (never secrets).
#[derive(Serialize)]
pub struct MerchantView {
    /// The merchant.
    #[serde(flatten)]
    pub merchant: Merchant,
    /// Active key pairs.
    pub credentials: Vec<CredentialSummary>,
}

/// Reads a merchant: a merchant sees only itself (others are 404), operators see any.
pub async fn get(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let id: MerchantId = ctx.path_id("id")?;
    let principal = ctx.principal()?;
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, principal.scope()).await?;
    // Row Level Security hides other merchants' rows; this is the second line, not the first.
    let merchant = merchants::get(&tx, id)
        .await?
        .ok_or(AppError::NotFound("merchant"))?;
    let credentials = api_keys::list_active(&tx, id).await?;
    tx.commit().await?;
    Ok(ApiResponse::ok(
        &MerchantView {
            merchant,
            credentials,
        },
        "Merchant",
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegenerateRequest {
    mode: Option<Mode>,
}

#[derive(Serialize)]
struct IssuedView {
    id: CredentialId,
    mode: Mode,
    client_key: String,
    client_secret: String,
    created_at: chrono::DateTime<chrono::Utc>,
}

/// Replaces the key pair of a mode (default: the caller's). The old pair stops working at once.
pub async fn regenerate_credentials(
    app: Arc<App>,
    ctx: RequestContext,
) -> Result<ApiResponse, AppError> {
    let principal = ctx.principal()?;
    let merchant_id = principal
        .merchant_id()
        .ok_or(AppError::Forbidden("Only merchants have API keys"))?;
    let body: RegenerateRequest = if ctx.request.body.is_empty() {
        RegenerateRequest { mode: None }
    } else {
        ctx.body()?
    };
    let mode = match (body.mode, principal) {
        (Some(mode), _) => mode,
        (None, shared::auth::Principal::Merchant { mode, .. }) => mode,
        (None, _) => Mode::Test,
    };
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, principal.scope()).await?;
    let merchant = merchants::get(&tx, merchant_id)
        .await?
        .ok_or(AppError::NotFound("merchant"))?;
    if mode == Mode::Live && !merchant.live_enabled {
        return Err(AppError::field(
            "mode",
            "live mode is not enabled for this merchant",
        ));
    }
    let issued = api_keys::rotate(&tx, merchant_id, mode).await?;
    audit::record(
        &tx,
        &ctx.audit(),
        AuditEvent::success("merchant.credentials_regenerated")
            .merchant(merchant_id)
            .target("credential", issued.id)
            .change(
                None,
                Some(serde_json::json!({ "mode": mode, "client_key": issued.client_key })),
            ),
    )
    .await?;
    tx.commit().await?;
    let view = IssuedView {
        id: issued.id,
        mode,
        client_key: issued.client_key,
        client_secret: issued.client_secret.expose().clone(),
        created_at: issued.created_at,
    };
    Ok(ApiResponse::created(
        &view,
        "Store the client secret now: it is shown only once",
    ))
}
