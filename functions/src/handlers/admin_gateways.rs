//! Operators manage gateway accounts: `/api/v1/admin/gateways[/{id}[/check]]` and
//! `/api/v1/admin/gateways/health`. Credentials go in once, are sealed before they reach the
//! database, and come back only as keyed fingerprints (public identifiers as their last four
//! characters). Accounts are archived, never erased.

use crate::context::RequestContext;
use serde::{Deserialize, Serialize};
use shared::db::{self, Scope};
use shared::gateway_accounts::{self, AddGatewayAccount, UpdateGatewayAccount};
use shared::gateways::GatewayError;
use shared::http::ApiResponse;
use shared::http::pagination::PageRequest;
use shared::ids::GatewayAccountId;
use shared::routing::health;
use shared::{App, AppError};
use std::sync::Arc;

/// Adds an account after checking the provider's required credential fields.
pub async fn create(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let request: AddGatewayAccount = ctx.body()?;
    let account = gateway_accounts::validate(&app.gateways, request)?;
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::Admin).await?;
    let view = gateway_accounts::add(&tx, &app.config.encryption, &ctx.audit(), &account).await?;
    tx.commit().await?;
    Ok(ApiResponse::created(&view, "Gateway account added"))
}

/// The query of `GET /api/v1/admin/gateways`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[param(ignore)]
    limit: Option<String>,
    #[param(ignore)]
    starting_after: Option<String>,
    /// Only accounts at this provider.
    #[param(value_type = Option<shared::gateways::Provider>)]
    provider: Option<String>,
}

/// Lists accounts, newest first, optionally of one provider.
pub async fn list(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let query: ListQuery = ctx.query()?;
    let page = PageRequest::<GatewayAccountId>::parse(
        query.limit.as_deref(),
        query.starting_after.as_deref(),
    )?;
    if let Some(provider) = &query.provider
        && app.gateways.get(provider).is_none()
    {
        return Err(AppError::field(
            "provider",
            format!("must be one of: {}", app.gateways.names().join(", ")),
        ));
    }
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::Admin).await?;
    let accounts = gateway_accounts::list(&tx, &page, query.provider.as_deref()).await?;
    tx.commit().await?;
    Ok(ApiResponse::ok(&accounts, "Gateway accounts"))
}

/// Reads one account.
pub async fn get(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let id: GatewayAccountId = ctx.path_id("id")?;
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::Admin).await?;
    let account = gateway_accounts::get(&tx, id)
        .await?
        .ok_or(AppError::NotFound("gateway account"))?;
    tx.commit().await?;
    Ok(ApiResponse::ok(&account, "Gateway account"))
}

/// What the gateway said to a call that moves no money.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = CredentialCheck)]
pub struct CheckResult {
    /// Whether the credentials work.
    ok: bool,
    /// `retryable`, `declined`, `configuration` or `ambiguous` when not ok.
    #[schema(pattern = "^(retryable|declined|configuration|ambiguous)$")]
    problem: Option<&'static str>,
    /// The gateway's answer, when not ok.
    detail: Option<String>,
}

/// Checks the account's credentials at the gateway with a call that moves no money.
pub async fn check(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let id: GatewayAccountId = ctx.path_id("id")?;
    let (account, provider) = {
        let mut client = app.db.client().await?;
        let tx = db::begin(&mut client, Scope::Admin).await?;
        let view = gateway_accounts::get(&tx, id)
            .await?
            .ok_or(AppError::NotFound("gateway account"))?;
        let account = gateway_accounts::open(&tx, &app.config.encryption, id).await?;
        tx.commit().await?;
        (account, view.provider)
    };
    let gateway = app.gateways.connector(&provider)?;
    // No database connection is held while the gateway answers.
    let result = match gateway.check_credentials(&account).await {
        Ok(()) => CheckResult {
            ok: true,
            problem: None,
            detail: None,
        },
        Err(e) => CheckResult {
            ok: false,
            problem: Some(match e {
                GatewayError::Retryable(_) => "retryable",
                GatewayError::Declined(_) => "declined",
                GatewayError::Configuration(_) => "configuration",
                GatewayError::Ambiguous(_) => "ambiguous",
            }),
            detail: Some(e.to_string()),
        },
    };
    tracing::info!(account = %id, provider = %provider, ok = result.ok, "gateway credential check");
    Ok(ApiResponse::ok(&result, "Credential check"))
}

/// Changes an account's label, fees, amount limits, status or credentials.
pub async fn update(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let id: GatewayAccountId = ctx.path_id("id")?;
    let patch: UpdateGatewayAccount = ctx.body()?;
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::Admin).await?;
    let view = gateway_accounts::update(
        &tx,
        &app.gateways,
        &app.config.encryption,
        &ctx.audit(),
        id,
        patch,
    )
    .await?;
    tx.commit().await?;
    Ok(ApiResponse::ok(&view, "Gateway account updated"))
}

/// Archives an account once no money is moving through it; archiving again answers it as it is.
pub async fn archive(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let id: GatewayAccountId = ctx.path_id("id")?;
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::Admin).await?;
    let view = gateway_accounts::archive(&tx, &ctx.audit(), id).await?;
    tx.commit().await?;
    Ok(ApiResponse::ok(&view, "Gateway account archived"))
}

/// Every account that is not archived, with its circuit breaker and its latest health window.
pub async fn health(app: Arc<App>, _ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::Admin).await?;
    let accounts = health::report(&tx).await?;
    tx.commit().await?;
    Ok(ApiResponse::ok(&accounts, "Gateway health"))
}
