//! `queue_controls`: whether each worker queue is paused. The one source of truth on both
//! backends; the consumer switch follows it in AWS.

use crate::db::record::Record;
use crate::db::{self, Db, Transaction};
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};
use tokio_postgres::types::Type;

/// A queue's last pause or resume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Control {
    /// Whether it is paused.
    pub paused: bool,
    /// When that was decided.
    pub changed_at: DateTime<Utc>,
    /// Who decided it (`user:<id>`, `system`).
    pub changed_by: String,
    /// Why, if the operator said.
    pub reason: Option<String>,
}

fn to_control(row: &tokio_postgres::Row) -> Result<(String, Control), crate::AppError> {
    let row = Record::new(row, "queue_controls");
    Ok((
        row.get("queue")?,
        Control {
            paused: row.get("paused")?,
            changed_at: row.get("changed_at")?,
            changed_by: row.get("changed_by")?,
            reason: row.get("reason")?,
        },
    ))
}

/// Every queue's control row, by queue (a queue without one runs).
pub async fn all(tx: &Transaction<'_>) -> Result<HashMap<String, Control>, crate::AppError> {
    let rows = tx
        .query_typed(
            "SELECT queue, paused, changed_at, changed_by, reason FROM queue_controls",
            &[],
        )
        .await?;
    rows.iter().map(to_control).collect()
}

/// The paused queues: what the local runner skips (its own short transaction, system scope).
pub async fn paused(db: &Db) -> Result<HashSet<String>, crate::AppError> {
    let mut client = db.client().await?;
    let tx = db::begin_relaxed(&mut client, db::Scope::System).await?;
    let rows = tx
        .query_typed("SELECT queue FROM queue_controls WHERE paused", &[])
        .await?;
    tx.commit().await?;
    Ok(rows
        .iter()
        .map(|row| Record::new(row, "queue_controls").get::<String>("queue"))
        .collect::<Result<_, _>>()?)
}

/// Pauses or resumes `queue`; answers the control before the change (`None`: never set).
pub async fn set(
    tx: &Transaction<'_>,
    queue: &str,
    paused: bool,
    changed_by: &str,
    reason: Option<&str>,
) -> Result<Option<Control>, crate::AppError> {
    let before = tx
        .query_typed_opt(
            "SELECT queue, paused, changed_at, changed_by, reason FROM queue_controls WHERE queue = $1 FOR UPDATE",
            &[(&queue, Type::TEXT)],
        )
        .await?
        .as_ref()
        .map(to_control)
        .transpose()?
        .map(|(_, control)| control);
    tx.execute_typed(
        "INSERT INTO queue_controls (queue, paused, changed_at, changed_by, reason) VALUES ($1, $2, now(), $3, $4)
         ON CONFLICT (queue) DO UPDATE SET paused = EXCLUDED.paused, changed_at = EXCLUDED.changed_at,
             changed_by = EXCLUDED.changed_by, reason = EXCLUDED.reason",
        &[
            (&queue, Type::TEXT),
            (&paused, Type::BOOL),
            (&changed_by, Type::TEXT),
            (&reason, Type::TEXT),
        ],
    )
    .await?;
    Ok(before)
}
