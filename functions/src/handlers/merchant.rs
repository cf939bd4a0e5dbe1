//! The merchant's own resources: `GET /api/v1/merchant/{id}` and
//! `POST /api/v1/merchant/credentials/regenerate`.

use crate::context::RequestContext;
use serde::{Deserialize, Serialize};
use shared::audit::{self, AuditEvent};
use shared::auth::api_keys::{self, CredentialSummary};
use shared::auth::{MerchantActor, Principal};
use shared::db::{self, Scope};
use shared::http::ApiResponse;
use shared::ids::{CredentialId, MerchantId};
use shared::merchants::{self, Merchant};
use shared::mode::Mode;
use shared::{App, AppError};
use std::sync::Arc;

/// A merchant with its active key pairs (never secrets).
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = MerchantWithKeys)]
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
    // A merchant caller sees only its own mode's keys (F1): a test key holder learns nothing
    // about the live pair. Operators see every mode.
    let mode = match principal {
        Principal::Merchant { mode, .. } => Some(mode),
        Principal::Admin { .. } => None,
    };
    let credentials = api_keys::list_active(&tx, id, mode).await?;
    tx.commit().await?;
    Ok(ApiResponse::ok(
        &MerchantView {
            merchant,
            credentials,
        },
        "Merchant",
    ))
}

/// The (optional) body of `POST /api/v1/merchant/credentials/regenerate`.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegenerateRequest {
    /// The mode whose pair is replaced (default: the caller's; an API key manages only its own
    /// test pair).
    mode: Option<Mode>,
    /// How long the old pair keeps working, 0 (default) to 86400 seconds.
    #[schema(minimum = 0, maximum = 86400)]
    grace_period_seconds: Option<i64>,
}

/// A new key pair: the secret is shown only here.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = IssuedKeyPair)]
pub struct IssuedView {
    /// The credential.
    id: CredentialId,
    /// Its mode.
    mode: Mode,
    /// `X-Client-Key`.
    client_key: String,
    /// `X-Client-Secret`: store it now.
    client_secret: String,
    /// When it was issued.
    created_at: chrono::DateTime<chrono::Utc>,
    /// When the previous pair stops working (absent: it stopped at once).
    #[serde(skip_serializing_if = "Option::is_none")]
    previous_expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Replaces the key pair of a mode (default: the caller's). The old pair stops working at once,
/// or after `grace_period_seconds`.
///
/// An API key manages only its own mode's pair, and never a live one: minting a live pair
/// needs a dashboard user (F1). Test keys sit in CI and on laptops; they must not lead to live
/// money.
pub async fn regenerate_credentials(
    app: Arc<App>,
    ctx: RequestContext,
) -> Result<ApiResponse, AppError> {
    let principal = ctx.principal()?;
    let Principal::Merchant {
        merchant_id,
        mode: caller_mode,
        via,
        ..
    } = principal
    else {
        return Err(AppError::Forbidden("Only merchants have API keys"));
    };
    let body: RegenerateRequest = if ctx.request.body.is_empty() {
        RegenerateRequest::default()
    } else {
        ctx.body()?
    };
    let mode = body.mode.unwrap_or(caller_mode);
    if let MerchantActor::ApiKey(_) = via {
        if mode != caller_mode {
            return Err(AppError::Forbidden(
                "An API key manages only its own mode's key pair",
            ));
        }
        if mode == Mode::Live {
            return Err(AppError::Forbidden(
                "Live key pairs are issued by a dashboard user, not with an API key",
            ));
        }
    }
    let max_grace = i64::from(api_keys::MAX_GRACE_SECONDS);
    let grace = match body.grace_period_seconds {
        None => 0,
        Some(seconds) if (0..=max_grace).contains(&seconds) => {
            u32::try_from(seconds).map_err(|e| AppError::Internal(e.to_string()))?
        }
        Some(_) => {
            return Err(AppError::field(
                "grace_period_seconds",
                format!("must be a whole number from 0 to {max_grace}"),
            ));
        }
    };
    let mut client = app.db.client().await?;
    // The transaction acts in the target mode: the credentials policy lets a merchant scope touch
    // only its own mode's rows.
    let tx = db::begin(
        &mut client,
        Scope::Merchant {
            id: merchant_id,
            mode,
        },
    )
    .await?;
    let merchant = merchants::get(&tx, merchant_id)
        .await?
        .ok_or(AppError::NotFound("merchant"))?;
    if mode == Mode::Live && !merchant.live_enabled {
        return Err(AppError::field(
            "mode",
            "live mode is not enabled for this merchant",
        ));
    }
    let issued = api_keys::rotate_with_grace(&tx, merchant_id, mode, grace).await?;
    let previous_expires_at =
        (grace > 0).then(|| issued.created_at + chrono::Duration::seconds(i64::from(grace)));
    audit::record(
        &tx,
        &ctx.audit(),
        AuditEvent::success("merchant.credentials_regenerated")
            .merchant(merchant_id)
            .target("credential", issued.id)
            .change(
                None,
                Some(serde_json::json!({
                    "mode": mode,
                    "client_key": issued.client_key,
                    "grace_period_seconds": grace,
                })),
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
        previous_expires_at,
    };
    Ok(ApiResponse::created(
        &view,
        "Store the client secret now: it is shown only once",
    ))
}
