//! Each worker's health as the worker health monitor last judged it (`worker_health`).

use crate::db::Transaction;
use crate::db::record::Record;
use crate::error::AppError;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

use crate::jobs::queues::Worker;

/// One worker's health.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WorkerStatus {
    /// The worker.
    pub worker: String,
    /// Its queue.
    pub queue: String,
    /// `healthy`, `idle`, `failing`, `silent` or `paused` (an operator paused its queue) as
    /// last judged; `unknown` when it was never judged (or the database could not be asked).
    #[schema(pattern = "^(healthy|idle|failing|silent|paused|unknown)$")]
    pub status: String,
    /// When it was judged.
    pub checked_at: Option<DateTime<Utc>>,
    /// Its last success.
    pub last_success_at: Option<DateTime<Utc>>,
    /// Its last failure.
    pub last_failure_at: Option<DateTime<Utc>>,
    /// The error of its last failure.
    pub last_error: Option<String>,
}

impl WorkerStatus {
    /// A worker nobody has judged.
    pub fn unknown(spec: &Worker) -> WorkerStatus {
        WorkerStatus {
            worker: spec.name.into(),
            queue: spec.queue.into(),
            status: "unknown".into(),
            checked_at: None,
            last_success_at: None,
            last_failure_at: None,
            last_error: None,
        }
    }

    /// Whether it is judged to be failing or silent.
    pub fn unwell(&self) -> bool {
        matches!(self.status.as_str(), "failing" | "silent")
    }
}

/// Every worker of `specs`, in their order; one without a row is `unknown`.
pub async fn read(tx: &Transaction<'_>, specs: &[Worker]) -> Result<Vec<WorkerStatus>, AppError> {
    let rows = tx
        .query_typed(
            "SELECT worker, status, checked_at, last_success_at, last_failure_at, last_error
               FROM worker_health",
            &[],
        )
        .await?;
    let mut judged = BTreeMap::new();
    for row in &rows {
        let row = Record::new(row, "worker_health");
        let worker: String = row.get("worker")?;
        judged.insert(
            worker,
            (
                row.get::<String>("status")?,
                row.get::<DateTime<Utc>>("checked_at")?,
                row.get::<Option<DateTime<Utc>>>("last_success_at")?,
                row.get::<Option<DateTime<Utc>>>("last_failure_at")?,
                row.get::<Option<String>>("last_error")?,
            ),
        );
    }
    Ok(specs
        .iter()
        .map(|spec| match judged.remove(spec.name) {
            None => WorkerStatus::unknown(spec),
            Some((status, checked_at, last_success_at, last_failure_at, last_error)) => {
                WorkerStatus {
                    worker: spec.name.into(),
                    queue: spec.queue.into(),
                    status,
                    checked_at: Some(checked_at),
                    last_success_at,
                    last_failure_at,
                    last_error,
                }
            }
        })
        .collect())
}
