//! `GET /api/v1/system/status`: dependencies as this instance sees them.

use crate::context::RequestContext;
use http::StatusCode;
use shared::http::ApiResponse;
use shared::{App, AppError, system};
use std::sync::Arc;

/// Reports database reachability, latency and migration version; 503 when degraded.
pub async fn status(app: Arc<App>, _ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let status = system::status(&app).await;
    let code = if status.status == "ok" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Ok(ApiResponse::success(code, &status, "System status"))
}
