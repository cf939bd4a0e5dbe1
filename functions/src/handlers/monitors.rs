//! The operations monitors' schedules: each acts for its run's scheduled time (see
//! `shared::monitors`, where each documents what a late run does).

use shared::jobs::queues;
use shared::monitors::{self, queue_metrics, sla, worker_health};
use shared::schedules::Tick;
use shared::{App, AppError};
use std::sync::Arc;

fn summary(value: impl serde::Serialize) -> Result<serde_json::Value, AppError> {
    serde_json::to_value(value).map_err(|e| AppError::Internal(e.to_string()))
}

/// `queue-metrics-recorder`: each worker queue's depth and its worker's work for the minute
/// before the scheduled time; a late run records the work without a depth.
pub async fn queue_metrics_recorder(
    app: Arc<App>,
    tick: Tick,
) -> Result<serde_json::Value, AppError> {
    summary(queue_metrics::record(&app, queues::WORKERS, tick).await?)
}

/// `worker-health-monitor`: judges each worker over the window ending at the scheduled time and
/// raises or clears its alerts; a late run does nothing.
pub async fn worker_health_monitor(
    app: Arc<App>,
    tick: Tick,
) -> Result<serde_json::Value, AppError> {
    let now = app.clock.now();
    if monitors::is_late(tick, worker_health::PERIOD, now) {
        return Ok(monitors::skipped_late(tick, worker_health::PERIOD, now));
    }
    summary(worker_health::check(&app, queues::WORKERS, tick).await?)
}

/// `sla-monitor`: payments pending past their SLA and overdue webhook deliveries, raised and
/// resolved; a late run does nothing.
pub async fn sla_monitor(app: Arc<App>, tick: Tick) -> Result<serde_json::Value, AppError> {
    let now = app.clock.now();
    if monitors::is_late(tick, sla::PERIOD, now) {
        return Ok(monitors::skipped_late(tick, sla::PERIOD, now));
    }
    summary(sla::check(&app, tick).await?)
}
