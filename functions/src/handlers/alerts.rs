//! Operators' alerts: `GET /api/v1/alerts[/{id}]`, `POST /api/v1/alerts/{id}/acknowledge` and
//! `/resolve` (audited).

use crate::context::RequestContext;
use serde::Deserialize;
use shared::alerts::operators::{self, ListFilter};
use shared::alerts::{AlertKind, AlertStatus};
use shared::db::{self, Scope};
use shared::http::ApiResponse;
use shared::http::pagination::PageRequest;
use shared::ids::{AlertId, MerchantId};
use shared::notifications::Severity;
use shared::validation::FieldErrors;
use shared::{App, AppError};
use std::sync::Arc;

/// The query of `GET /api/v1/alerts`: every filter optional.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only alerts in this state.
    #[param(value_type = Option<AlertStatus>)]
    status: Option<String>,
    /// Only alerts of this severity (`info`, `warning` or `critical`).
    #[param(value_type = Option<String>, pattern = "^(info|warning|critical)$")]
    severity: Option<String>,
    /// Only alerts of this kind.
    #[param(value_type = Option<AlertKind>)]
    kind: Option<String>,
    /// Only alerts about this merchant.
    #[param(value_type = Option<MerchantId>)]
    merchant_id: Option<String>,
    #[param(ignore)]
    limit: Option<String>,
    #[param(ignore)]
    starting_after: Option<String>,
}

/// Parses an optional filter value, adding its error under `field`.
fn filter<T>(errors: &mut FieldErrors, field: &str, raw: Option<&str>) -> Option<T>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    raw?.parse::<T>()
        .map_err(|e| errors.add(field, e.to_string()))
        .ok()
}

/// Lists alerts, newest first.
pub async fn list(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let query: ListQuery = ctx.query()?;
    let page =
        PageRequest::<AlertId>::parse(query.limit.as_deref(), query.starting_after.as_deref())?;
    let mut errors = FieldErrors::new();
    let filter = ListFilter {
        status: filter(&mut errors, "status", query.status.as_deref()),
        severity: filter::<Severity>(&mut errors, "severity", query.severity.as_deref()),
        kind: filter(&mut errors, "kind", query.kind.as_deref()),
        merchant_id: filter(&mut errors, "merchant_id", query.merchant_id.as_deref()),
    };
    errors.into_result()?;
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::Admin).await?;
    let alerts = operators::list(&tx, &filter, &page).await?;
    tx.commit().await?;
    Ok(ApiResponse::ok(&alerts, "Alerts"))
}

/// Reads one alert.
pub async fn get(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let id: AlertId = ctx.path_id("id")?;
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::Admin).await?;
    let alert = operators::get(&tx, id)
        .await?
        .ok_or(AppError::NotFound("alert"))?;
    tx.commit().await?;
    Ok(ApiResponse::ok(&alert, "Alert"))
}

/// The operator acting.
fn operator(ctx: &RequestContext) -> Result<shared::ids::UserId, AppError> {
    ctx.principal()?
        .user_id()
        .ok_or(AppError::Forbidden("only operators act on alerts"))
}

/// Acknowledges an open alert.
pub async fn acknowledge(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let id: AlertId = ctx.path_id("id")?;
    let operator = operator(&ctx)?;
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::Admin).await?;
    let alert = operators::acknowledge(&tx, &app, &ctx.audit(), operator, id).await?;
    tx.commit().await?;
    Ok(ApiResponse::ok(&alert, "Alert acknowledged"))
}

/// Resolves an open or acknowledged alert.
pub async fn resolve(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let id: AlertId = ctx.path_id("id")?;
    let operator = operator(&ctx)?;
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::Admin).await?;
    let alert = operators::resolve(&tx, &app, &ctx.audit(), operator, id).await?;
    tx.commit().await?;
    Ok(ApiResponse::ok(&alert, "Alert resolved"))
}
