//! `GET /api/v1/system/status` (operators only): every component as this instance sees it, and
//! the `system-status-checker` and `system-health-report` schedules.

use crate::context::RequestContext;
use crate::registry::WATCHED_SCHEDULES;
use http::StatusCode;
use shared::db::Scope;
use shared::http::ApiResponse;
use shared::jobs::queues;
use shared::schedules::Tick;
use shared::system::{self, Verdict, Watched};
use shared::{App, AppError};
use std::sync::Arc;

/// What the registry runs: every worker queue, worker and scheduled job. From the registry's
/// plain lists, not its entries, so this function's binary links no other handler.
pub fn watched() -> Watched {
    Watched {
        queues: queues::ALL.to_vec(),
        workers: queues::WORKERS.to_vec(),
        schedules: WATCHED_SCHEDULES.to_vec(),
    }
}

/// The full report (operators only); `200` while payments can flow (`ok` or `degraded`), `503`
/// when the platform is `down`, so an operator's uptime check can alarm on the status code alone
/// (load balancers probe the public `/api/health`).
pub async fn status(app: Arc<App>, _ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let report = system::status(&app, Scope::Admin, app.clock.now(), &watched()).await;
    let code = if report.status == Verdict::Down {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    Ok(ApiResponse::success(code, &report, "System status"))
}

/// `system-status-checker`: files the same report under the run's scheduled time.
pub async fn checker(app: Arc<App>, tick: Tick) -> Result<serde_json::Value, AppError> {
    system::checker::run(&app, tick, &watched()).await
}

/// `system-health-report`: the previous IST day's report, filed and sent to operators.
pub async fn health_report(app: Arc<App>, tick: Tick) -> Result<serde_json::Value, AppError> {
    system::daily_report::run(&app, tick).await
}
