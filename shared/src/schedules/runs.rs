//! The run key: one row of `schedule_runs` per `(job, scheduled_at)`. An invocation claims its
//! run before doing anything; a run that succeeded, or that another invocation is running now,
//! is not claimed again. A failed run, or one whose invocation died mid-way, is taken up by the
//! next invocation of the same time (the scheduler's retry, or an operator's `run-job --at`).
//!
//! A failed run raises the job's `schedule_failed` alert; the job's next successful run (of any
//! slot) resolves it.

use super::Tick;
use crate::alerts::{self, AlertKind, Condition};
use crate::app::App;
use crate::db::record::Record;
use crate::db::{self, Scope};
use crate::error::AppError;
use crate::notifications::Severity;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use std::future::Future;
use std::time::Duration;
use tokio_postgres::types::Type;

/// A run still marked running after this long died with its invocation (Lambda's limit is 15
/// minutes), and may be claimed again.
pub const ABANDONED_AFTER: Duration = Duration::from_secs(15 * 60);

/// Longest error text kept for a failed run.
const ERROR_LIMIT: usize = 2_000;

/// What an invocation did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RunOutcome {
    /// It claimed the run and the job did its work; the job's own summary.
    Ran {
        /// The run's scheduled time.
        scheduled_at: DateTime<Utc>,
        /// What the job reported.
        summary: serde_json::Value,
    },
    /// The run was already done (or is being done by another invocation): nothing was done.
    AlreadyRan {
        /// The run's scheduled time.
        scheduled_at: DateTime<Utc>,
        /// `succeeded` or `running`.
        status: String,
    },
}

/// Runs `work` for `(job, tick)` unless that run already happened: claims the run, does the
/// work, and records its summary or its error. The job's error is returned after it is
/// recorded, so the scheduler sees the failure (and may retry, which claims the run again).
pub async fn run_once<F, Fut>(
    app: &App,
    job: &str,
    tick: Tick,
    work: F,
) -> Result<RunOutcome, AppError>
where
    F: FnOnce(Tick) -> Fut,
    Fut: Future<Output = Result<serde_json::Value, AppError>>,
{
    let scheduled_at = tick.scheduled_at;
    if let Some(status) = claim(app, job, scheduled_at).await? {
        return Ok(RunOutcome::AlreadyRan {
            scheduled_at,
            status,
        });
    }
    let result = work(tick).await;
    let (status, summary, error) = match &result {
        Ok(summary) => ("succeeded", Some(summary.clone()), None),
        Err(e) => {
            let mut text = e.to_string();
            if text.len() > ERROR_LIMIT {
                let mut end = ERROR_LIMIT;
                while !text.is_char_boundary(end) {
                    end -= 1;
                }
                text.truncate(end);
            }
            ("failed", None, Some(text))
        }
    };
    finish(app, job, scheduled_at, status, summary, error.clone()).await?;
    // The run's outcome is recorded and is what the caller hears; an alert that cannot be
    // written is logged, never turned into the run's error.
    if let Err(e) = alert(app, job, scheduled_at, error.as_deref()).await {
        tracing::warn!(job, error = %e, "schedule_failed alert not updated");
    }
    result.map(|summary| RunOutcome::Ran {
        scheduled_at,
        summary,
    })
}

/// Claims the run, or answers the status of the run that holds it.
async fn claim(
    app: &App,
    job: &str,
    scheduled_at: DateTime<Utc>,
) -> Result<Option<String>, AppError> {
    let abandoned = ABANDONED_AFTER.as_secs_f64();
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::System).await?;
    let claimed = tx
        .query_typed_opt(
            "INSERT INTO schedule_runs (job, scheduled_at, status) VALUES ($1, $2, 'running')
             ON CONFLICT (job, scheduled_at) DO UPDATE
                 SET status = 'running', attempts = schedule_runs.attempts + 1, started_at = now(),
                     finished_at = NULL, summary = NULL, error = NULL
                 WHERE schedule_runs.status = 'failed'
                    OR (schedule_runs.status = 'running'
                        AND schedule_runs.started_at < now() - make_interval(secs => $3))
             RETURNING attempts",
            &[
                (&job, Type::TEXT),
                (&scheduled_at, Type::TIMESTAMPTZ),
                (&abandoned, Type::FLOAT8),
            ],
        )
        .await?;
    if claimed.is_some() {
        tx.commit().await?;
        return Ok(None);
    }
    let row = tx
        .query_typed_one(
            "SELECT status FROM schedule_runs WHERE job = $1 AND scheduled_at = $2",
            &[(&job, Type::TEXT), (&scheduled_at, Type::TIMESTAMPTZ)],
        )
        .await?;
    tx.commit().await?;
    let status: String = Record::new(&row, "schedule_runs").get("status")?;
    Ok(Some(status))
}

/// The key of a job's `schedule_failed` alert.
pub fn alert_key(job: &str) -> String {
    format!("schedule_failed:{job}")
}

/// Raises the job's alert for a failed run (`error`), or clears it after a successful one.
async fn alert(
    app: &App,
    job: &str,
    scheduled_at: DateTime<Utc>,
    error: Option<&str>,
) -> Result<(), AppError> {
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::System).await?;
    let ids = match error {
        Some(error) => {
            let condition = Condition {
                key: alert_key(job),
                kind: AlertKind::ScheduleFailed,
                severity: Severity::Warning,
                merchant_id: None,
                title: format!("Scheduled job {job} failed"),
                details: json!({ "job": job, "scheduled_at": scheduled_at, "error": error }),
            };
            alerts::raise(&tx, app, &condition).await?
        }
        None => {
            alerts::clear(&tx, app, &alert_key(job)).await?;
            Vec::new()
        }
    };
    tx.commit().await?;
    drop(client);
    app.publish(&ids).await;
    Ok(())
}

async fn finish(
    app: &App,
    job: &str,
    scheduled_at: DateTime<Utc>,
    status: &str,
    summary: Option<serde_json::Value>,
    error: Option<String>,
) -> Result<(), AppError> {
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::System).await?;
    tx.execute_typed(
        "UPDATE schedule_runs SET status = $3, finished_at = now(), summary = $4, error = $5
         WHERE job = $1 AND scheduled_at = $2",
        &[
            (&job, Type::TEXT),
            (&scheduled_at, Type::TIMESTAMPTZ),
            (&status, Type::TEXT),
            (&summary, Type::JSONB),
            (&error, Type::TEXT),
        ],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
