//! What workers did: per worker and minute in `worker_activity`, and the last error of each
//! failing message in `job_failures` (the dead-letter peek shows it). Recorded after each batch
//! on both backends; queue statistics read the rates back.

use crate::db::record::Record;
use crate::db::{self, Db, Transaction};
use chrono::{DateTime, Duration as Span, DurationRound, Utc};
use std::collections::HashMap;
use std::time::Duration;
use tokio_postgres::types::Type;

/// The longest the recording may hold a batch: past it the batch goes on unrecorded.
pub const RECORD_TIMEOUT: Duration = Duration::from_secs(2);

/// The longest error text kept (the tables' limit).
const ERROR_CHARS: usize = 2000;

/// What became of one message of a batch.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The queue's message id.
    pub id: String,
    /// How many times it has been received, this time included.
    pub receive_count: u32,
    /// Why it failed; `None`: it succeeded.
    pub error: Option<String>,
}

fn truncated(text: &str) -> String {
    text.chars().take(ERROR_CHARS).collect()
}

/// Records a batch's outcomes for `worker` (consuming `queue`) at `now`: one upsert of its minute,
/// one of each failed message's last error, and the removal of the errors of messages that now
/// succeeded. Never fails the batch: a problem (or `RECORD_TIMEOUT`) is one log line.
pub async fn record(db: &Db, now: DateTime<Utc>, worker: &str, queue: &str, outcomes: &[Outcome]) {
    if outcomes.is_empty() {
        return;
    }
    match tokio::time::timeout(RECORD_TIMEOUT, write(db, now, worker, queue, outcomes)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(worker, error = %e, "worker activity not recorded"),
        Err(_) => tracing::warn!(worker, "worker activity not recorded in time"),
    }
}

async fn write(
    db: &Db,
    now: DateTime<Utc>,
    worker: &str,
    queue: &str,
    outcomes: &[Outcome],
) -> Result<(), crate::AppError> {
    let minute = now
        .duration_trunc(Span::minutes(1))
        .map_err(|e| crate::AppError::Internal(e.to_string()))?;
    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| o.error.is_some()).collect();
    let succeeded: Vec<String> = outcomes
        .iter()
        .filter(|o| o.error.is_none())
        .map(|o| o.id.clone())
        .collect();
    let processed = i32::try_from(succeeded.len()).unwrap_or(i32::MAX);
    let failures = i32::try_from(failed.len()).unwrap_or(i32::MAX);
    let failed_ids: Vec<String> = failed.iter().map(|o| o.id.clone()).collect();
    let failed_counts: Vec<i32> = failed
        .iter()
        .map(|o| i32::try_from(o.receive_count).unwrap_or(i32::MAX))
        .collect();
    let errors: Vec<String> = failed
        .iter()
        .map(|o| truncated(o.error.as_deref().unwrap_or("failed")))
        .map(|e| {
            if e.is_empty() {
                "failed".to_string()
            } else {
                e
            }
        })
        .collect();
    let last_error = errors.last().cloned();
    let mut client = db.client().await?;
    let tx = db::begin_relaxed(&mut client, db::Scope::System).await?;
    // One round trip: the minute, the failures, and the errors of messages that recovered.
    tx.execute_typed(
        "WITH activity AS (
             INSERT INTO worker_activity (worker, minute, processed, failed, last_success_at, last_failure_at, last_error)
             VALUES ($1, $2, $3, $4, CASE WHEN $3 > 0 THEN $5 END, CASE WHEN $4 > 0 THEN $5 END, $6)
             ON CONFLICT (worker, minute) DO UPDATE SET
                 processed = worker_activity.processed + EXCLUDED.processed,
                 failed = worker_activity.failed + EXCLUDED.failed,
                 last_success_at = coalesce(EXCLUDED.last_success_at, worker_activity.last_success_at),
                 last_failure_at = coalesce(EXCLUDED.last_failure_at, worker_activity.last_failure_at),
                 last_error = coalesce(EXCLUDED.last_error, worker_activity.last_error)
         ), failures AS (
             INSERT INTO job_failures (queue, message_id, receive_count, error, failed_at)
             SELECT $7, f.id, f.receive_count, f.error, $5
             FROM unnest($8::text[], $9::int4[], $10::text[]) AS f(id, receive_count, error)
             ON CONFLICT (queue, message_id) DO UPDATE SET
                 receive_count = EXCLUDED.receive_count, error = EXCLUDED.error, failed_at = EXCLUDED.failed_at
         )
         DELETE FROM job_failures WHERE queue = $7 AND message_id = ANY($11)",
        &[
            (&worker, Type::TEXT),
            (&minute, Type::TIMESTAMPTZ),
            (&processed, Type::INT4),
            (&failures, Type::INT4),
            (&now, Type::TIMESTAMPTZ),
            (&last_error, Type::TEXT),
            (&queue, Type::TEXT),
            (&failed_ids, Type::TEXT_ARRAY),
            (&failed_counts, Type::INT4_ARRAY),
            (&errors, Type::TEXT_ARRAY),
            (&succeeded, Type::TEXT_ARRAY),
        ],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A worker's throughput, per minute, from `worker_activity`.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct WorkerRates {
    /// Messages done in the last full minute.
    pub processed_last_minute: i64,
    /// Messages failed in the last full minute.
    pub failed_last_minute: i64,
    /// Messages done per minute over the last 5 full minutes.
    pub processed_per_minute_5m: f64,
    /// Messages failed per minute over the last 5 full minutes.
    pub failed_per_minute_5m: f64,
    /// Messages done per minute over the last 15 full minutes.
    pub processed_per_minute_15m: f64,
    /// Messages failed per minute over the last 15 full minutes.
    pub failed_per_minute_15m: f64,
}

/// The rates of each of `workers` for the full minutes before `now` (a worker that did nothing
/// has zeros).
pub async fn rates(
    tx: &Transaction<'_>,
    workers: &[&str],
    now: DateTime<Utc>,
) -> Result<HashMap<String, WorkerRates>, crate::AppError> {
    let current = now
        .duration_trunc(Span::minutes(1))
        .map_err(|e| crate::AppError::Internal(e.to_string()))?;
    let workers: Vec<String> = workers.iter().map(|w| w.to_string()).collect();
    let rows = tx
        .query_typed(
            "SELECT worker,
                    coalesce(sum(processed) FILTER (WHERE minute = $2 - interval '1 minute'), 0)::int8 AS processed_1,
                    coalesce(sum(failed) FILTER (WHERE minute = $2 - interval '1 minute'), 0)::int8 AS failed_1,
                    coalesce(sum(processed) FILTER (WHERE minute >= $2 - interval '5 minutes'), 0)::int8 AS processed_5,
                    coalesce(sum(failed) FILTER (WHERE minute >= $2 - interval '5 minutes'), 0)::int8 AS failed_5,
                    coalesce(sum(processed), 0)::int8 AS processed_15,
                    coalesce(sum(failed), 0)::int8 AS failed_15
             FROM worker_activity
             WHERE worker = ANY($1) AND minute >= $2 - interval '15 minutes' AND minute < $2
             GROUP BY worker",
            &[(&workers, Type::TEXT_ARRAY), (&current, Type::TIMESTAMPTZ)],
        )
        .await?;
    let per_minute = |total: i64, minutes: f64| (total as f64 / minutes * 100.0).round() / 100.0;
    let mut rates = HashMap::new();
    for row in &rows {
        let row = Record::new(row, "worker_activity");
        rates.insert(
            row.get::<String>("worker")?,
            WorkerRates {
                processed_last_minute: row.get("processed_1")?,
                failed_last_minute: row.get("failed_1")?,
                processed_per_minute_5m: per_minute(row.get("processed_5")?, 5.0),
                failed_per_minute_5m: per_minute(row.get("failed_5")?, 5.0),
                processed_per_minute_15m: per_minute(row.get("processed_15")?, 15.0),
                failed_per_minute_15m: per_minute(row.get("failed_15")?, 15.0),
            },
        );
    }
    Ok(rates)
}

/// The last recorded error of a message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct JobFailure {
    /// The error text (at most 2000 characters).
    pub error: String,
    /// The receive it failed on.
    pub receive_count: i32,
    /// When.
    pub failed_at: DateTime<Utc>,
}

/// The last error of each of `ids` of `queue` that has one.
pub async fn failures(
    tx: &Transaction<'_>,
    queue: &str,
    ids: &[String],
) -> Result<HashMap<String, JobFailure>, crate::AppError> {
    let rows = tx
        .query_typed(
            "SELECT message_id, error, receive_count, failed_at FROM job_failures
             WHERE queue = $1 AND message_id = ANY($2)",
            &[(&queue, Type::TEXT), (&ids, Type::TEXT_ARRAY)],
        )
        .await?;
    let mut found = HashMap::new();
    for row in &rows {
        let row = Record::new(row, "job_failures");
        found.insert(
            row.get::<String>("message_id")?,
            JobFailure {
                error: row.get("error")?,
                receive_count: row.get("receive_count")?,
                failed_at: row.get("failed_at")?,
            },
        );
    }
    Ok(found)
}

/// Forgets the errors of messages that no longer exist under these ids (purged, or resent
/// under a new id).
pub async fn forget(
    tx: &Transaction<'_>,
    queue: &str,
    ids: &[String],
) -> Result<(), crate::AppError> {
    if ids.is_empty() {
        return Ok(());
    }
    tx.execute_typed(
        "DELETE FROM job_failures WHERE queue = $1 AND message_id = ANY($2)",
        &[(&queue, Type::TEXT), (&ids, Type::TEXT_ARRAY)],
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn error_texts_are_cut_at_the_tables_limit_in_characters() {
        let long = "é".repeat(2500);
        assert_eq!(super::truncated(&long).chars().count(), 2000);
        assert_eq!(super::truncated("short"), "short");
    }
}
