//! The archive: payments in a final state that nothing has changed for `ARCHIVE_AFTER_DAYS` move,
//! with their attempts, refunds and gateway events, to the `archived_*` tables
//! (`migrations/V18__archive.sql`), which mirror the live ones column for column. Ledger entries,
//! wallet top-ups and merchant events stay where they are. The move itself is the database's
//! `archive_batch` (one batch, one transaction, skipping rows live traffic holds); this module
//! runs batches until the backlog is done or the run's time budget is spent.

use crate::app::App;
use crate::config::ArchiveConfig;
use crate::db::record::Record;
use crate::db::{self, Scope};
use crate::error::AppError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Instant;
use tokio_postgres::types::Type;

/// Each live table that is archived, with its archive (children before their payment).
pub const TABLES: [(&str, &str); 4] = [
    ("gateway_events", "archived_gateway_events"),
    ("refunds", "archived_refunds"),
    ("transaction_attempts", "archived_transaction_attempts"),
    ("transactions", "archived_transactions"),
];

/// Rows moved to the archive, per live table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Moved {
    /// Payments.
    pub transactions: u64,
    /// Their attempts.
    pub transaction_attempts: u64,
    /// Their refunds.
    pub refunds: u64,
    /// The gateway events applied to them.
    pub gateway_events: u64,
}

impl Moved {
    fn add(&mut self, batch: Moved) {
        self.transactions += batch.transactions;
        self.transaction_attempts += batch.transaction_attempts;
        self.refunds += batch.refunds;
        self.gateway_events += batch.gateway_events;
    }
}

/// What one run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Run {
    /// Payments last changed before this were due.
    pub cutoff: DateTime<Utc>,
    /// Database transactions that moved rows (or found none left).
    pub batches: u32,
    /// Rows moved, per table.
    pub moved: Moved,
    /// False when the time budget ran out first: the next run takes up the rest.
    pub finished: bool,
}

/// The cutoff of a run scheduled for `scheduled_at`, at `now`: a late run archives what its slot
/// should have, never more, and a time in the future (`run-job archive --at`) counts as now, so
/// nothing younger than the configured age is ever archived.
pub fn cutoff(
    scheduled_at: DateTime<Utc>,
    now: DateTime<Utc>,
    settings: &ArchiveConfig,
) -> DateTime<Utc> {
    scheduled_at.min(now) - settings.after
}

/// The run scheduled for `scheduled_at`, with the configured settings.
pub async fn run(app: &App, scheduled_at: DateTime<Utc>) -> Result<Run, AppError> {
    let settings = app.config.archive;
    let cutoff = cutoff(scheduled_at, app.clock.now(), &settings);
    archive(app, cutoff, &settings).await
}

/// Archives every due payment last changed before `cutoff`, `settings.batch_size` per
/// transaction, until none is left or `settings.time_budget` has passed.
pub async fn archive(
    app: &App,
    cutoff: DateTime<Utc>,
    settings: &ArchiveConfig,
) -> Result<Run, AppError> {
    let started = Instant::now();
    let mut run = Run {
        cutoff,
        batches: 0,
        moved: Moved::default(),
        finished: false,
    };
    while started.elapsed() < settings.time_budget {
        let batch = batch(app, cutoff, settings.batch_size).await?;
        run.batches += 1;
        run.moved.add(batch);
        if batch.transactions < u64::try_from(settings.batch_size).unwrap_or(u64::MAX) {
            run.finished = true;
            break;
        }
    }
    tracing::info!(
        cutoff = %run.cutoff,
        batches = run.batches,
        transactions = run.moved.transactions,
        finished = run.finished,
        "archive run"
    );
    Ok(run)
}

/// One batch in its own short transaction (system scope: `archive_batch` refuses any other).
async fn batch(app: &App, cutoff: DateTime<Utc>, size: i32) -> Result<Moved, AppError> {
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::System).await?;
    let row = tx
        .query_typed_one(
            "SELECT archive_batch($1, $2) AS moved",
            &[(&cutoff, Type::TIMESTAMPTZ), (&size, Type::INT4)],
        )
        .await?;
    let moved: serde_json::Value = Record::new(&row, "archive_batch").get("moved")?;
    tx.commit().await?;
    serde_json::from_value(moved)
        .map_err(|e| AppError::Internal(format!("archive_batch answered {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use std::time::Duration;

    #[test]
    fn the_cutoff_follows_the_scheduled_time_not_the_clock() {
        let settings = ArchiveConfig {
            after: chrono::Duration::days(180),
            batch_size: 10,
            time_budget: Duration::from_secs(1),
        };
        let slot = Utc.with_ymd_and_hms(2026, 12, 3, 20, 30, 0).unwrap();
        let later = slot + chrono::Duration::hours(5);
        assert_eq!(
            cutoff(slot, later, &settings),
            Utc.with_ymd_and_hms(2026, 6, 6, 20, 30, 0).unwrap(),
            "a late run archives what its slot should have"
        );
        assert_eq!(
            cutoff(later, slot, &settings),
            cutoff(slot, slot, &settings),
            "a scheduled time in the future counts as now"
        );
    }

    #[test]
    fn batches_add_up() {
        let mut total = Moved::default();
        let one = Moved {
            transactions: 2,
            transaction_attempts: 3,
            refunds: 1,
            gateway_events: 4,
        };
        total.add(one);
        total.add(one);
        assert_eq!(total.transactions, 4);
        assert_eq!(total.gateway_events, 8);
    }
}
