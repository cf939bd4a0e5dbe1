//! The `system-status-checker` schedule: the same check as the status route, filed in
//! `system_status` under the run's scheduled time, so the platform's health has a history.

use super::{Watched, status};
use crate::app::App;
use crate::db::{self, Scope};
use crate::error::AppError;
use crate::schedules::Tick;
use serde_json::json;
use tokio_postgres::types::Type;

/// Checks the platform as of the tick's time and stores the report under that time; a second
/// run for the same time stores nothing (the run key already stops it; the table's key makes it
/// so on its own). With the database down nothing can be stored, and the run fails.
pub async fn run(app: &App, tick: Tick, watched: &Watched) -> Result<serde_json::Value, AppError> {
    let report = status(app, Scope::System, tick.scheduled_at, watched).await;
    let body = serde_json::to_value(&report)
        .map_err(|e| AppError::Internal(format!("system status report: {e}")))?;
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::System).await?;
    let stored = tx
        .execute_typed(
            "INSERT INTO system_status (checked_for, status, report) VALUES ($1, $2, $3)
             ON CONFLICT (checked_for) DO NOTHING",
            &[
                (&tick.scheduled_at, Type::TIMESTAMPTZ),
                (&report.status.as_str(), Type::TEXT),
                (&body, Type::JSONB),
            ],
        )
        .await?;
    tx.commit().await?;
    Ok(json!({
        "checked_for": tick.scheduled_at,
        "status": report.status,
        "reasons": report.reasons,
        "stored": stored > 0,
    }))
}
