//! `GET /api/health`: the function is up. Deliberately touches nothing else, so load balancers
//! and uptime checks never add database load; `/api/v1/system/status` checks dependencies.

use crate::context::RequestContext;
use chrono::{DateTime, Utc};
use serde::Serialize;
use shared::http::ApiResponse;
use shared::{App, AppError};
use std::sync::Arc;

/// The function is alive.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok`.
    status: &'static str,
    /// Always `lightspeedpay`.
    service: &'static str,
    /// This build's version.
    version: &'static str,
    /// The server's clock.
    time: DateTime<Utc>,
}

/// Answers that the service is alive.
pub async fn get(app: Arc<App>, _ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let data = Health {
        status: "ok",
        service: "lightspeedpay",
        version: env!("CARGO_PKG_VERSION"),
        time: app.clock.now(),
    };
    Ok(ApiResponse::ok(&data, "LightSpeedPay is running"))
}
