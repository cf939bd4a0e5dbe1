//! What the two sender queues (`whatsapp_queue`, `slack_queue`) share: claiming a due message
//! with a lease and the per-recipient spacing, recording an outcome with backoff and an attempt
//! cap, and finding messages whose next attempt came due.

use crate::App;
use crate::db::record::Record;
use crate::db::{self, Scope};
use crate::error::AppError;
use chrono::{DateTime, Utc};
use std::time::Duration;
use tokio_postgres::Row;
use tokio_postgres::types::Type;
use uuid::Uuid;

/// How long a claimed message is someone's: longer than a send can take (timeouts are 30 s).
const LEASE_SECONDS: i64 = 90;
/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// One of the sender queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queue {
    /// `whatsapp_queue`, spaced per phone number.
    WhatsApp,
    /// `slack_queue`, spaced per recipient.
    Slack,
}

impl Queue {
    /// The table.
    pub fn table(self) -> &'static str {
        match self {
            Queue::WhatsApp => "whatsapp_queue",
            Queue::Slack => "slack_queue",
        }
    }

    /// The column messages are spaced by: one recipient.
    fn spaced_by(self) -> &'static str {
        match self {
            Queue::WhatsApp => "\"to\"::text",
            Queue::Slack => "recipient_id::text",
        }
    }

    /// The column the channel's own message id goes to.
    fn external_id(self) -> &'static str {
        match self {
            Queue::WhatsApp => "wamid",
            Queue::Slack => "message_ts",
        }
    }

    /// The job queue its sender consumes.
    pub fn job_queue(self) -> &'static str {
        match self {
            Queue::WhatsApp => crate::jobs::queues::WHATSAPP_SENDER,
            Queue::Slack => crate::jobs::queues::SLACK_SENDER,
        }
    }

    fn interval(self, app: &App) -> Duration {
        let n = &app.config.notifications;
        match self {
            Queue::WhatsApp => n.whatsapp.recipient_interval,
            Queue::Slack => n.slack.recipient_interval,
        }
    }
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted; the channel's id for the message when it gives one.
    Sent(Option<String>),
    /// Failed in a way that may pass: try again later (not before `after`, when the channel said).
    Retry {
        /// What happened.
        error: String,
        /// The channel's own wait (`Retry-After`).
        after: Option<Duration>,
    },
    /// Failed for good (a bad number, a missing configuration, an archived channel).
    Fail(String),
}

/// Claims message `id` for one attempt: `None` when it is not queued, not due, leased by another
/// worker, or must wait for its recipient's interval (then its next attempt is set to when it may
/// go, and the retry schedule picks it up). The row is returned as it stands.
pub async fn claim(app: &App, queue: Queue, id: Uuid) -> Result<Option<Row>, AppError> {
    let now = app.clock.now();
    let table = queue.table();
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::System).await?;
    let Some(row) = tx
        .query_typed_opt(
            &format!(
                "SELECT *, {} AS spacing_key FROM {table} WHERE id = $1 FOR UPDATE",
                queue.spaced_by()
            ),
            &[(&id, Type::UUID)],
        )
        .await?
    else {
        return Ok(None);
    };
    let record = Record::new(&row, table);
    let status: &str = record.get("status")?;
    let next: DateTime<Utc> = record.get("next_attempt_at")?;
    let lease: Option<DateTime<Utc>> = record.get("lease_until")?;
    if status != "queued" || next > now || lease.is_some_and(|l| l > now) {
        return Ok(None);
    }
    // Claims for one recipient take turns, so two workers cannot both find the interval free.
    let key: Option<String> = record.get("spacing_key")?;
    let interval = queue.interval(app);
    if let Some(key) = key.filter(|_| !interval.is_zero()) {
        tx.execute_typed(
            "SELECT pg_advisory_xact_lock(hashtext($1))",
            &[(&format!("{table}:{key}"), Type::TEXT)],
        )
        .await?;
        let last = tx
            .query_typed_one(
                &format!(
                    "SELECT max(last_attempt_at) AS last FROM {table}
                     WHERE {} = $1 AND id <> $2",
                    queue.spaced_by()
                ),
                &[(&key, Type::TEXT), (&id, Type::UUID)],
            )
            .await?;
        let last: Option<DateTime<Utc>> = Record::new(&last, table).get("last")?;
        let free_at = last.map(|l| l + chrono::Duration::from_std(interval).unwrap_or_default());
        if let Some(free_at) = free_at.filter(|f| *f > now) {
            tx.execute_typed(
                &format!(
                    "UPDATE {table} SET next_attempt_at = $2, updated_at = now() WHERE id = $1"
                ),
                &[(&id, Type::UUID), (&free_at, Type::TIMESTAMPTZ)],
            )
            .await?;
            tx.commit().await?;
            tracing::info!(table, message = %id, until = %free_at, "message waits for its recipient's interval");
            return Ok(None);
        }
    }
    let claimed = tx
        .query_typed_one(
            &format!(
                "UPDATE {table} SET attempts = attempts + 1, last_attempt_at = $2,
                     lease_until = $2 + make_interval(secs => $3), updated_at = now()
                 WHERE id = $1 RETURNING *"
            ),
            &[
                (&id, Type::UUID),
                (&now, Type::TIMESTAMPTZ),
                (&(LEASE_SECONDS as f64), Type::FLOAT8),
            ],
        )
        .await?;
    tx.commit().await?;
    Ok(Some(claimed))
}

/// The wait before attempt `attempts + 1`: the base doubled per attempt made, at most an hour,
/// and never less than what the channel asked for.
pub fn backoff(base: Duration, attempts: u32, asked: Option<Duration>) -> Duration {
    let doubled = base.saturating_mul(1u32 << attempts.saturating_sub(1).min(16));
    doubled.min(MAX_BACKOFF).max(asked.unwrap_or_default())
}

/// Records the outcome of the attempt on a claimed message: sent, queued again with backoff, or
/// failed (for good, or because the attempts ran out).
pub async fn finish(
    app: &App,
    queue: Queue,
    id: Uuid,
    attempts: u32,
    outcome: Outcome,
) -> Result<(), AppError> {
    let now = app.clock.now();
    let table = queue.table();
    let settings = &app.config.notifications;
    let outcome = match outcome {
        Outcome::Retry { error, .. } if attempts >= settings.max_attempts => {
            Outcome::Fail(format!("gave up after {attempts} attempts: {error}"))
        }
        other => other,
    };
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::System).await?;
    match &outcome {
        Outcome::Sent(external) => {
            tx.execute_typed(
                &format!(
                    "UPDATE {table} SET status = 'sent', {} = $3, sent_at = $2, lease_until = NULL,
                         last_error = NULL, updated_at = now()
                     WHERE id = $1 AND status = 'queued'",
                    queue.external_id()
                ),
                &[
                    (&id, Type::UUID),
                    (&now, Type::TIMESTAMPTZ),
                    (external, Type::TEXT),
                ],
            )
            .await?;
            tracing::info!(table, message = %id, "notification sent");
        }
        Outcome::Retry { error, after } => {
            let wait = backoff(settings.retry_base, attempts, *after);
            let next = now + chrono::Duration::from_std(wait).unwrap_or_default();
            tx.execute_typed(
                &format!(
                    "UPDATE {table} SET next_attempt_at = $2, last_error = left($3, 2000),
                         lease_until = NULL, updated_at = now()
                     WHERE id = $1 AND status = 'queued'"
                ),
                &[
                    (&id, Type::UUID),
                    (&next, Type::TIMESTAMPTZ),
                    (error, Type::TEXT),
                ],
            )
            .await?;
            tracing::warn!(table, message = %id, attempts, error = %error, next = %next, "notification will be retried");
        }
        Outcome::Fail(error) => {
            tx.execute_typed(
                &format!(
                    "UPDATE {table} SET status = 'failed', failed_at = $2, last_error = left($3, 2000),
                         lease_until = NULL, updated_at = now()
                     WHERE id = $1 AND status = 'queued'"
                ),
                &[
                    (&id, Type::UUID),
                    (&now, Type::TIMESTAMPTZ),
                    (error, Type::TEXT),
                ],
            )
            .await?;
            tracing::warn!(table, message = %id, attempts, error = %error, "notification failed");
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Messages whose next attempt came due and that nobody holds, oldest due first (platform scope).
pub async fn due(
    tx: &db::Transaction<'_>,
    queue: Queue,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Uuid>, AppError> {
    let table = queue.table();
    let rows = tx
        .query_typed(
            &format!(
                "SELECT id FROM {table}
                 WHERE status = 'queued' AND next_attempt_at <= $1 AND (lease_until IS NULL OR lease_until < $1)
                 ORDER BY next_attempt_at LIMIT $2"
            ),
            &[(&now, Type::TIMESTAMPTZ), (&limit, Type::INT8)],
        )
        .await?;
    rows.iter()
        .map(|row| Ok(Record::new(row, table).get("id")?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_an_hour_and_honours_the_channel() {
        let base = Duration::from_secs(30);
        assert_eq!(backoff(base, 1, None), Duration::from_secs(30));
        assert_eq!(backoff(base, 2, None), Duration::from_secs(60));
        assert_eq!(backoff(base, 4, None), Duration::from_secs(240));
        assert_eq!(backoff(base, 30, None), MAX_BACKOFF);
        assert_eq!(
            backoff(base, 1, Some(Duration::from_secs(120))),
            Duration::from_secs(120)
        );
    }
}
