//! The `queue-metrics-recorder` schedule (every minute): one `queue_metrics` row per worker queue
//! for the last whole minute before the run's scheduled time: what the queue held at the end of
//! that minute (its depth, sampled when the run starts) and what its worker did during it
//! (`worker_activity`).
//!
//! A late run (scheduled more than a minute ago) cannot sample the past, so it records the
//! minute's work (a fact on record) with no depth (`sampled_at` and the depth columns empty), never
//! a depth taken now as if it were then. A second run for the same minute (another scheduled time
//! in it, or a failed run taken up again) updates the row; it never adds one.

use super::{Worker, is_late};
use crate::app::App;
use crate::db::record::Record;
use crate::db::{self, Scope};
use crate::error::AppError;
use crate::jobs::QueueDepth;
use crate::schedules::Tick;
use chrono::{DateTime, DurationRound, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio_postgres::types::Type;

/// How often the recorder runs (its registry entry's `rate(1 minute)`; a test holds the two
/// together).
pub const PERIOD: Duration = Duration::from_secs(60);

/// What one run recorded.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Recorded {
    /// The minute the rows describe.
    pub minute: DateTime<Utc>,
    /// The run was late: the depth was not sampled.
    pub late: bool,
    /// Rows written (one per queue).
    pub queues: usize,
    /// Rows with a depth.
    pub sampled: usize,
    /// Queues whose depth could not be read (their rows have none).
    pub depth_errors: Vec<String>,
}

/// The last whole minute before `scheduled_at`: a run at 10:05:00 (or 10:05:20) describes
/// 10:04:00–10:05:00.
pub fn minute_before(scheduled_at: DateTime<Utc>) -> DateTime<Utc> {
    let start = scheduled_at
        .duration_trunc(chrono::Duration::minutes(1))
        .unwrap_or(scheduled_at);
    start - chrono::Duration::minutes(1)
}

/// Records every queue of `workers` for the minute before `tick`.
pub async fn record(app: &App, workers: &[Worker], tick: Tick) -> Result<Recorded, AppError> {
    let minute = minute_before(tick.scheduled_at);
    let late = is_late(tick, PERIOD, app.clock.now());
    // The queues are asked first, with no database connection held (SQS answers over HTTPS).
    let mut depths: BTreeMap<&str, (DateTime<Utc>, QueueDepth)> = BTreeMap::new();
    let mut depth_errors = Vec::new();
    if !late {
        for worker in workers {
            match app.queue.depth(worker.queue).await {
                Ok(depth) => {
                    depths.insert(worker.queue, (app.clock.now(), depth));
                }
                Err(e) => {
                    tracing::warn!(queue = worker.queue, error = %e, "queue depth unavailable; recorded without it");
                    depth_errors.push(e.to_string());
                }
            }
        }
    }
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::System).await?;
    let names: Vec<&str> = workers.iter().map(|w| w.name).collect();
    let rows = tx
        .query_typed(
            "SELECT worker, processed, failed FROM worker_activity
              WHERE minute = $1 AND worker = ANY($2)",
            &[(&minute, Type::TIMESTAMPTZ), (&names, Type::TEXT_ARRAY)],
        )
        .await?;
    let mut activity: BTreeMap<String, (i32, i32)> = BTreeMap::new();
    for row in &rows {
        let r = Record::new(row, "worker_activity");
        activity.insert(r.get("worker")?, (r.get("processed")?, r.get("failed")?));
    }
    for worker in workers {
        let (processed, failed) = activity.get(worker.name).copied().unwrap_or((0, 0));
        let depth = depths.get(worker.queue);
        let count =
            |f: fn(&QueueDepth) -> u64| depth.map(|(_, d)| i64::try_from(f(d)).unwrap_or(i64::MAX));
        let sampled_at = depth.map(|(at, _)| *at);
        let oldest = depth
            .and_then(|(_, d)| d.oldest_visible_age)
            .map(|age| i64::try_from(age.as_secs()).unwrap_or(i64::MAX));
        // A row already sampled keeps its depth when this run has none (a late run after it).
        tx.execute_typed(
            "INSERT INTO queue_metrics (queue, minute, worker, processed, failed, sampled_at, visible,
                                        in_flight, delayed, dead_letters, oldest_age_seconds)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT (queue, minute) DO UPDATE
                SET worker = EXCLUDED.worker, processed = EXCLUDED.processed, failed = EXCLUDED.failed,
                    sampled_at = coalesce(EXCLUDED.sampled_at, queue_metrics.sampled_at),
                    visible = CASE WHEN EXCLUDED.sampled_at IS NULL THEN queue_metrics.visible ELSE EXCLUDED.visible END,
                    in_flight = CASE WHEN EXCLUDED.sampled_at IS NULL THEN queue_metrics.in_flight ELSE EXCLUDED.in_flight END,
                    delayed = CASE WHEN EXCLUDED.sampled_at IS NULL THEN queue_metrics.delayed ELSE EXCLUDED.delayed END,
                    dead_letters = CASE WHEN EXCLUDED.sampled_at IS NULL THEN queue_metrics.dead_letters ELSE EXCLUDED.dead_letters END,
                    oldest_age_seconds = CASE WHEN EXCLUDED.sampled_at IS NULL THEN queue_metrics.oldest_age_seconds
                                              ELSE EXCLUDED.oldest_age_seconds END,
                    recorded_at = now()",
            &[
                (&worker.queue, Type::TEXT),
                (&minute, Type::TIMESTAMPTZ),
                (&worker.name, Type::TEXT),
                (&processed, Type::INT4),
                (&failed, Type::INT4),
                (&sampled_at, Type::TIMESTAMPTZ),
                (&count(|d| d.visible), Type::INT8),
                (&count(|d| d.in_flight), Type::INT8),
                (&count(|d| d.delayed), Type::INT8),
                (&count(|d| d.dead_letters), Type::INT8),
                (&oldest, Type::INT8),
            ],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Recorded {
        minute,
        late,
        queues: workers.len(),
        sampled: depths.len(),
        depth_errors,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_run_describes_the_last_whole_minute_before_it() {
        let at = Utc.with_ymd_and_hms(2026, 12, 4, 10, 5, 0).unwrap();
        let minute = Utc.with_ymd_and_hms(2026, 12, 4, 10, 4, 0).unwrap();
        assert_eq!(minute_before(at), minute);
        assert_eq!(minute_before(at + chrono::Duration::seconds(20)), minute);
        assert_eq!(
            minute_before(at - chrono::Duration::seconds(1)),
            minute - chrono::Duration::minutes(1)
        );
    }
}
