//! Operators run the worker queues: `GET /api/v1/admin/queues[/stats]`,
//! `POST /api/v1/admin/queues/{pause,resume,retry,clean}` (audited) and
//! `GET /api/v1/admin/queues/{queue}/dead-letters`. The work is in `shared::jobs::admin`.

use crate::context::RequestContext;
use serde::Deserialize;
use shared::http::ApiResponse;
use shared::jobs::admin::{self, CleanRequest, QueueSwitch, RetryRequest};
use shared::{App, AppError};
use std::sync::Arc;

/// The query of the dead-letter peek.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PeekQuery {
    /// How many dead letters at most, 1 to 100 (20 if absent).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
}

/// Lists the worker queues.
pub async fn list(app: Arc<App>, _ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let queues = admin::list(&app).await?;
    Ok(ApiResponse::ok(&queues, "Queues"))
}

/// Each queue's depth and its worker's throughput.
pub async fn stats(app: Arc<App>, _ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let stats = admin::stats(&app).await?;
    Ok(ApiResponse::ok(&stats, "Queue statistics"))
}

/// Pauses a queue's worker.
pub async fn pause(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let request: QueueSwitch = ctx.body()?;
    let queue = admin::switch(&app, &ctx.audit(), &request, true).await?;
    Ok(ApiResponse::ok(&queue, "Queue paused"))
}

/// Resumes a queue's worker.
pub async fn resume(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let request: QueueSwitch = ctx.body()?;
    let queue = admin::switch(&app, &ctx.audit(), &request, false).await?;
    Ok(ApiResponse::ok(&queue, "Queue resumed"))
}

/// Sends dead letters back to their queue.
pub async fn retry(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let request: RetryRequest = ctx.body()?;
    let retried = admin::retry(&app, &ctx.audit(), &request).await?;
    Ok(ApiResponse::ok(&retried, "Dead letters sent back"))
}

/// Counts or purges old dead letters.
pub async fn clean(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let request: CleanRequest = ctx.body()?;
    let cleaned = admin::clean(&app, &ctx.audit(), &request).await?;
    let message = if cleaned.dry_run {
        "Dead letters counted; pass `before` back to purge exactly these"
    } else {
        "Dead letters purged"
    };
    Ok(ApiResponse::ok(&cleaned, message))
}

/// A queue's dead letters with their last error.
pub async fn dead_letters(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let queue = admin::queue_in_path(ctx.params.get("queue").unwrap_or_default())?;
    let query: PeekQuery = ctx.query()?;
    let limit = match query.limit.as_deref() {
        None => 20,
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=admin::MAX_PEEK).contains(n))
            .ok_or_else(|| AppError::field("limit", "a whole number from 1 to 100"))?,
    };
    let letters = admin::dead_letters(&app, queue, limit).await?;
    Ok(ApiResponse::ok(&letters, "Dead letters"))
}
