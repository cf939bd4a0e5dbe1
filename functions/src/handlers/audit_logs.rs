//! The audit log: `GET /api/v1/admin/audit-logs` (operators, every entry) and
//! `GET /api/v1/merchant/audit-logs` (a merchant, the entries about itself; see
//! `shared::audit::entries`).

use crate::context::RequestContext;
use serde::Deserialize;
use shared::audit::entries::{self, EntryId};
use shared::audit::filter::{ActorType, Audience, Filter, FilterInput};
use shared::db::{self, Scope};
use shared::http::ApiResponse;
use shared::http::pagination::PageRequest;
use shared::ids::MerchantId;
use shared::{App, AppError};
use std::sync::Arc;

const MERCHANTS_ONLY: &str =
    "This is a merchant's own audit log; operators use /api/v1/admin/audit-logs";

/// The query of `GET /api/v1/admin/audit-logs`: every filter optional, all must hold.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AdminQuery {
    /// Who acted: `user`, `api_key`, `system` or `anonymous`.
    #[param(value_type = Option<String>, pattern = "^(user|api_key|system|anonymous)$")]
    actor_type: Option<String>,
    /// The acting user (`usr_…`) or API key (`cred_…`).
    actor_id: Option<String>,
    /// One action (`merchant.suspended`), or every action under a prefix (`merchant.*`).
    #[param(pattern = r"^[a-z_]+(\.[a-z_]+)*\.([a-z_]+|\*)$")]
    action: Option<String>,
    /// The kind of object acted on (`merchant`, `webhook_endpoint`, …).
    #[param(pattern = "^[a-z_]+$")]
    target_type: Option<String>,
    /// The object acted on (needs `target_type`).
    target_id: Option<String>,
    /// One merchant's entries.
    #[param(value_type = Option<MerchantId>)]
    merchant_id: Option<String>,
    /// At or after this time (RFC 3339).
    #[param(value_type = Option<chrono::DateTime<chrono::Utc>>)]
    from: Option<String>,
    /// Before this time (RFC 3339); not before `from`.
    #[param(value_type = Option<chrono::DateTime<chrono::Utc>>)]
    to: Option<String>,
    #[param(ignore)]
    limit: Option<String>,
    #[param(ignore)]
    starting_after: Option<String>,
}

/// The query of `GET /api/v1/merchant/audit-logs`: as operators', less `merchant_id`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MerchantQuery {
    /// Who acted: `user` (one of the merchant's users), `api_key`, `system`, `anonymous` or
    /// `operator` (platform staff).
    #[param(value_type = Option<ActorType>)]
    actor_type: Option<String>,
    /// One of the merchant's users (`usr_…`) or API keys (`cred_…`).
    actor_id: Option<String>,
    /// One action (`merchant.suspended`), or every action under a prefix (`merchant.*`).
    #[param(pattern = r"^[a-z_]+(\.[a-z_]+)*\.([a-z_]+|\*)$")]
    action: Option<String>,
    /// The kind of object acted on (`merchant`, `webhook_endpoint`, …).
    #[param(pattern = "^[a-z_]+$")]
    target_type: Option<String>,
    /// The object acted on (needs `target_type`).
    target_id: Option<String>,
    /// At or after this time (RFC 3339).
    #[param(value_type = Option<chrono::DateTime<chrono::Utc>>)]
    from: Option<String>,
    /// Before this time (RFC 3339); not before `from`.
    #[param(value_type = Option<chrono::DateTime<chrono::Utc>>)]
    to: Option<String>,
    #[param(ignore)]
    limit: Option<String>,
    #[param(ignore)]
    starting_after: Option<String>,
}

/// Every entry the filters match, newest first.
pub async fn admin_list(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let query: AdminQuery = ctx.query()?;
    let page =
        PageRequest::<EntryId>::parse(query.limit.as_deref(), query.starting_after.as_deref())?;
    let input = FilterInput {
        actor_type: query.actor_type.as_deref(),
        actor_id: query.actor_id.as_deref(),
        action: query.action.as_deref(),
        target_type: query.target_type.as_deref(),
        target_id: query.target_id.as_deref(),
        merchant_id: query.merchant_id.as_deref(),
        from: query.from.as_deref(),
        to: query.to.as_deref(),
    };
    let filter = Filter::parse(&input, Audience::Platform)?;
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::Admin).await?;
    let entries = entries::list_for_operators(&tx, &filter, &page).await?;
    tx.commit().await?;
    Ok(ApiResponse::ok(&entries, "Audit log"))
}

/// The caller's merchant's entries the filters match, newest first, as a merchant may see them.
pub async fn merchant_list(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let (merchant, mode, scope) = ctx.merchant(MERCHANTS_ONLY)?;
    let query: MerchantQuery = ctx.query()?;
    let page =
        PageRequest::<EntryId>::parse(query.limit.as_deref(), query.starting_after.as_deref())?;
    let input = FilterInput {
        actor_type: query.actor_type.as_deref(),
        actor_id: query.actor_id.as_deref(),
        action: query.action.as_deref(),
        target_type: query.target_type.as_deref(),
        target_id: query.target_id.as_deref(),
        merchant_id: None,
        from: query.from.as_deref(),
        to: query.to.as_deref(),
    };
    let filter = Filter::parse(&input, Audience::Merchant)?;
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, scope).await?;
    let entries = entries::list_for_merchant(&tx, merchant, mode, &filter, &page).await?;
    tx.commit().await?;
    Ok(ApiResponse::ok(&entries, "Audit log"))
}
