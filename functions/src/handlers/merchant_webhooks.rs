//! Merchant webhooks: a merchant's endpoints (`/api/v1/merchant/webhooks…`), its events
//! (`/api/v1/merchant/events…`), and operators' view of every endpoint
//! (`/api/v1/admin/webhooks…`).

use crate::context::RequestContext;
use serde::Deserialize;
use shared::audit::{self, AuditEvent};
use shared::db::{self, Scope};
use shared::http::ApiResponse;
use shared::http::pagination::PageRequest;
use shared::ids::{EventId, MerchantId, WebhookAttemptId, WebhookEndpointId};
use shared::merchant_webhooks::delivery::{self, Replay, TestRequest};
use shared::merchant_webhooks::endpoints::{self, DisabledReason, EndpointChanges, NewEndpoint};
use shared::merchant_webhooks::events::{self, EVENT_TYPES, TEST_EVENT};
use shared::{App, AppError};
use std::sync::Arc;

/// Why an operator cannot use the merchant's own routes.
const MERCHANTS_ONLY: &str =
    "Webhook endpoints are a merchant's; operators use /api/v1/admin/webhooks";

/// Adds an endpoint; its signing secret is answered this once.
pub async fn create(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let (merchant, mode, scope) = ctx.merchant(MERCHANTS_ONLY)?;
    let new: NewEndpoint = ctx.body()?;
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, scope).await?;
    let created = endpoints::create(&tx, &app.config, &ctx.audit(), merchant, mode, new).await?;
    tx.commit().await?;
    Ok(ApiResponse::created(
        &created,
        "Webhook endpoint added; keep its secret, it is not shown again",
    ))
}

/// The caller's endpoints in its mode.
pub async fn list(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let (_, _, scope) = ctx.merchant(MERCHANTS_ONLY)?;
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, scope).await?;
    let list = endpoints::list(&tx, None).await?;
    tx.commit().await?;
    Ok(ApiResponse::ok(&list, "Webhook endpoints"))
}

/// One of the caller's endpoints.
pub async fn get(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let (_, _, scope) = ctx.merchant(MERCHANTS_ONLY)?;
    let id: WebhookEndpointId = ctx.path_id("id")?;
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, scope).await?;
    let view = endpoints::get(&tx, id)
        .await?
        .ok_or(AppError::NotFound("webhook endpoint"))?;
    tx.commit().await?;
    Ok(ApiResponse::ok(&view, "Webhook endpoint"))
}

/// Changes URL, event types, description or enabled.
pub async fn update(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let (_, _, scope) = ctx.merchant(MERCHANTS_ONLY)?;
    let id: WebhookEndpointId = ctx.path_id("id")?;
    let changes: EndpointChanges = ctx.body()?;
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, scope).await?;
    let view = endpoints::update(&tx, &app, &ctx.audit(), id, changes).await?;
    tx.commit().await?;
    Ok(ApiResponse::ok(&view, "Webhook endpoint changed"))
}

/// Deletes an endpoint (its deliveries and attempts stay on record).
pub async fn delete(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let (_, _, scope) = ctx.merchant(MERCHANTS_ONLY)?;
    let id: WebhookEndpointId = ctx.path_id("id")?;
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, scope).await?;
    let view = endpoints::delete(&tx, &app, &ctx.audit(), id).await?;
    tx.commit().await?;
    Ok(ApiResponse::ok(&view, "Webhook endpoint deleted"))
}

/// A new signing secret; the old one keeps signing for 24 hours.
pub async fn rotate_secret(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let (_, _, scope) = ctx.merchant(MERCHANTS_ONLY)?;
    let id: WebhookEndpointId = ctx.path_id("id")?;
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, scope).await?;
    let rotated = endpoints::rotate_secret(
        &tx,
        &app.config.encryption,
        &ctx.audit(),
        id,
        app.clock.now(),
    )
    .await?;
    tx.commit().await?;
    Ok(ApiResponse::created(
        &rotated,
        "Signing secret rotated; the previous one signs alongside it for 24 hours",
    ))
}

/// Sends one event, or every failed one since a time, again.
pub async fn replay(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let (_, _, scope) = ctx.merchant(MERCHANTS_ONLY)?;
    let id: WebhookEndpointId = ctx.path_id("id")?;
    let request: Replay = ctx.body()?;
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, scope).await?;
    let (replayed, outbox) = delivery::replay(&tx, &app, id, &request).await?;
    tx.commit().await?;
    drop(client);
    app.publish(&outbox).await;
    Ok(ApiResponse::success(
        http::StatusCode::ACCEPTED,
        &replayed,
        "Deliveries scheduled",
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PageQuery {
    limit: Option<String>,
    starting_after: Option<String>,
}

/// An endpoint's delivery attempts, newest first.
pub async fn attempts(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let (_, _, scope) = ctx.merchant(MERCHANTS_ONLY)?;
    let id: WebhookEndpointId = ctx.path_id("id")?;
    let query: PageQuery = ctx.query()?;
    let page = PageRequest::<WebhookAttemptId>::parse(
        query.limit.as_deref(),
        query.starting_after.as_deref(),
    )?;
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, scope).await?;
    endpoints::get(&tx, id)
        .await?
        .ok_or(AppError::NotFound("webhook endpoint"))?;
    let page = delivery::attempts_page(&tx, id, &page).await?;
    tx.commit().await?;
    Ok(ApiResponse::ok(&page, "Delivery attempts"))
}

/// Sends a signed `webhook.test` event to one endpoint now and answers how it went.
pub async fn test(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let (merchant, mode, _) = ctx.merchant(MERCHANTS_ONLY)?;
    let request: TestRequest = ctx.body()?;
    let outcome = delivery::test(&app, merchant, mode, request.endpoint_id).await?;
    let message = if outcome.attempt.succeeded {
        "Test event delivered"
    } else {
        "Test event not delivered"
    };
    Ok(ApiResponse::ok(&outcome, message))
}

/// `GET /api/v1/merchant/events` filters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Only events of this type.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    event_type: Option<String>,
    #[param(ignore)]
    limit: Option<String>,
    #[param(ignore)]
    starting_after: Option<String>,
}

/// The caller's events in its mode, newest first.
pub async fn list_events(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let (_, _, scope) = ctx.merchant(MERCHANTS_ONLY)?;
    let query: EventsQuery = ctx.query()?;
    let page =
        PageRequest::<EventId>::parse(query.limit.as_deref(), query.starting_after.as_deref())?;
    if let Some(t) = query.event_type.as_deref()
        && t != TEST_EVENT
        && !EVENT_TYPES.contains(&t)
    {
        return Err(AppError::field(
            "type",
            format!(
                "unknown event type; one of {}, {TEST_EVENT}",
                EVENT_TYPES.join(", ")
            ),
        ));
    }
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, scope).await?;
    let page = events::page(&tx, query.event_type.as_deref(), &page).await?;
    tx.commit().await?;
    Ok(ApiResponse::ok(&page, "Events"))
}

/// One of the caller's events.
pub async fn get_event(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let (_, _, scope) = ctx.merchant(MERCHANTS_ONLY)?;
    let id: EventId = ctx.path_id("id")?;
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, scope).await?;
    let event = events::get(&tx, id)
        .await?
        .ok_or(AppError::NotFound("event"))?;
    tx.commit().await?;
    Ok(ApiResponse::ok(&event, "Event"))
}

/// `GET /api/v1/admin/webhooks` filters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AdminListQuery {
    /// Only this merchant's endpoints (`mer_…`).
    merchant_id: Option<String>,
}

/// Every merchant's endpoints (or one merchant's), for operators.
pub async fn admin_list(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let query: AdminListQuery = ctx.query()?;
    let merchant = query
        .merchant_id
        .as_deref()
        .map(|m| {
            m.parse::<MerchantId>()
                .map_err(|e| AppError::field("merchant_id", e.to_string()))
        })
        .transpose()?;
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::Admin).await?;
    let list = endpoints::list(&tx, merchant).await?;
    tx.commit().await?;
    Ok(ApiResponse::ok(&list, "Webhook endpoints"))
}

/// Disables any merchant's endpoint (audited); the merchant is told.
pub async fn admin_disable(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let id: WebhookEndpointId = ctx.path_id("id")?;
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::Admin).await?;
    let before = endpoints::get(&tx, id)
        .await?
        .ok_or(AppError::NotFound("webhook endpoint"))?;
    if !before.enabled {
        return Err(AppError::Conflict(
            "The endpoint is already disabled".into(),
        ));
    }
    let outbox =
        delivery::disable(&tx, &app, id, DisabledReason::Operator, app.clock.now()).await?;
    let after = endpoints::get(&tx, id)
        .await?
        .ok_or(AppError::NotFound("webhook endpoint"))?;
    audit::record(
        &tx,
        &ctx.audit(),
        AuditEvent::success("webhook_endpoint.disabled")
            .merchant(after.merchant_id)
            .target("webhook_endpoint", id)
            .change(
                Some(serde_json::json!({ "enabled": true })),
                Some(serde_json::json!({ "enabled": false, "disabled_reason": "operator" })),
            ),
    )
    .await?;
    tx.commit().await?;
    drop(client);
    app.publish(&outbox).await;
    Ok(ApiResponse::ok(&after, "Webhook endpoint disabled"))
}
