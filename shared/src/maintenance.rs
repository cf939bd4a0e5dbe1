//! Retention of short-lived rows: the hourly `maintenance` job deletes what no request needs any
//! more. The list of pruned tables and how long each keeps its rows is here and only here. Ages
//! are measured from the run's scheduled time, not the clock: a late or repeated run deletes what
//! that run was meant to, no more.

use crate::app::App;
use crate::db::{self, Scope};
use crate::error::AppError;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::time::Duration;
use tokio_postgres::types::Type;

/// A table whose rows are deleted once `column` is older than `keep`.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// The table.
    pub table: &'static str,
    /// The timestamp column that ages a row.
    pub column: &'static str,
    /// How long a row is kept.
    pub keep: Duration,
}

/// Every pruned table. Rate-limit windows last a minute, so an hour-old counter is dead; the
/// README promises merchants that an `Idempotency-Key` is honoured for at least 24 hours.
pub const RETENTION: &[Retention] = &[
    Retention {
        table: "rate_limit_counters",
        column: "window_start",
        keep: Duration::from_secs(3_600),
    },
    Retention {
        table: "idempotency_keys",
        column: "created_at",
        keep: Duration::from_secs(24 * 3_600),
    },
    // Failed logins feed the lockout (the last day at most) and investigations (a month).
    Retention {
        table: "login_failures",
        column: "created_at",
        keep: Duration::from_secs(30 * 24 * 3_600),
    },
    // Per-minute queue figures: two weeks show a queue's daily and weekly pattern.
    Retention {
        table: "queue_metrics",
        column: "minute",
        keep: Duration::from_secs(14 * DAY),
    },
    // The status checker files a report every ten minutes: a month of them shows trends and
    // past incidents; the daily health reports are kept for good.
    Retention {
        table: "system_status",
        column: "checked_for",
        keep: Duration::from_secs(30 * DAY),
    },
    // Worker minutes feed queue statistics and the health monitor (an hour at most); a week
    // leaves room to look back at an incident.
    Retention {
        table: "worker_activity",
        column: "minute",
        keep: Duration::from_secs(7 * DAY),
    },
    // A message's last error lives as long as the message can: 14 days, the dead-letter queues'
    // retention.
    Retention {
        table: "job_failures",
        column: "failed_at",
        keep: Duration::from_secs(14 * DAY),
    },
    // Run keys stop duplicates within the scheduler's retries (hours); 35 days keep every job's
    // previous run on record, a monthly one's included.
    Retention {
        table: "schedule_runs",
        column: "started_at",
        keep: Duration::from_secs(35 * DAY),
    },
    // Volume caps count per IST day and month, a row per period (`routing::caps`). A release
    // updates only its attempt's own period, and no attempt lives for months, so a period that
    // started 400 days ago (ended over a year ago) is never touched again.
    Retention {
        table: "routing_cap_usage",
        column: "period_start",
        keep: Duration::from_secs(400 * DAY),
    },
    // An outbox row is done once published (its job queued, its event on the bus, merchants'
    // events recorded apart); a week is room to look into a relay incident. A row never
    // published has no `published_at`, so it is never pruned.
    Retention {
        table: "outbox",
        column: "published_at",
        keep: Duration::from_secs(7 * DAY),
    },
];

/// Seconds in a day.
const DAY: u64 = 24 * 3_600;

/// Rows deleted per statement: short transactions, no long lock on a busy table.
const BATCH: i64 = 5_000;

/// Rows deleted from one table by a run.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Pruned {
    /// The table.
    pub table: &'static str,
    /// Rows deleted.
    pub deleted: u64,
}

/// Deletes every row of every table in [`RETENTION`] older than `at` less its keep, in batches.
/// A time ahead of the database's clock counts as now: a run scheduled in the future by mistake
/// never deletes a row still within its keep.
pub async fn prune(app: &App, at: DateTime<Utc>) -> Result<Vec<Pruned>, AppError> {
    let mut report = Vec::with_capacity(RETENTION.len());
    for retention in RETENTION {
        // Table and column names come from the constant list above, never from input.
        let sql = format!(
            "DELETE FROM {table} WHERE ctid IN (
                 SELECT ctid FROM {table}
                  WHERE {column} < least($1, now()) - $2 * interval '1 second' LIMIT $3)",
            table = retention.table,
            column = retention.column,
        );
        let keep_seconds = i64::try_from(retention.keep.as_secs()).unwrap_or(i64::MAX);
        let mut deleted = 0;
        loop {
            let mut client = app.db.client().await?;
            let tx = db::begin(&mut client, Scope::System).await?;
            let n = tx
                .execute_typed(
                    &sql,
                    &[
                        (&at, Type::TIMESTAMPTZ),
                        (&keep_seconds, Type::INT8),
                        (&BATCH, Type::INT8),
                    ],
                )
                .await?;
            tx.commit().await?;
            deleted += n;
            if n < BATCH as u64 {
                break;
            }
        }
        report.push(Pruned {
            table: retention.table,
            deleted,
        });
    }
    Ok(report)
}
