//! The dead letters of a queue: send them back (all or by id), purge those older than a cutoff
//! (counted first by a dry run), and peek at them with their last error.

use super::{QueueName, known, queue_error, unknown_queue};
use crate::App;
use crate::audit::{self, AuditContext, AuditEvent};
use crate::db::{self, Scope};
use crate::error::AppError;
use crate::jobs::activity::{self, JobFailure};
use crate::jobs::{DeadLetter, Purge, Redriven, Selection};
use crate::validation::FieldErrors;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;

/// The most message ids one retry names.
pub const MAX_IDS: usize = 100;
/// The most dead letters one peek shows.
pub const MAX_PEEK: usize = 100;

/// The body of `POST /api/v1/admin/queues/retry`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryRequest {
    /// The queue whose dead letters go back to it.
    #[schema(value_type = QueueName)]
    pub queue: String,
    /// Only these dead letters (the peek's ids); absent: every one.
    #[schema(max_items = 100)]
    pub message_ids: Option<Vec<String>>,
}

/// What a retry did.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Retried {
    /// The queue.
    #[schema(value_type = QueueName)]
    pub queue: String,
    /// What the backend did.
    #[serde(flatten)]
    pub redriven: Redriven,
}

/// The body of `POST /api/v1/admin/queues/clean`: a dry run with a cutoff (an age or an
/// instant), then its confirmation with the dry run's `before` and `fingerprint`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CleanRequest {
    /// The queue whose dead letters are purged.
    #[schema(value_type = QueueName)]
    pub queue: String,
    /// Dry run: count dead letters first sent more than this many seconds ago.
    #[schema(minimum = 0)]
    pub older_than_seconds: Option<i64>,
    /// Dead letters first sent before this instant: a dry run's cutoff, or the `before` a dry
    /// run answered (required to confirm).
    pub before: Option<DateTime<Utc>>,
    /// The dry run's `fingerprint` of the set it counted (required to confirm): the purge
    /// removes that set or, when it changed, nothing.
    pub fingerprint: Option<String>,
    /// `true`: only count them.
    pub dry_run: bool,
}

/// What a clean found or removed.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Cleaned {
    /// The queue.
    #[schema(value_type = QueueName)]
    pub queue: String,
    /// Whether this was only a count.
    pub dry_run: bool,
    /// The absolute cutoff: dead letters first sent before it. Pass it back to confirm.
    pub before: DateTime<Utc>,
    /// How many dead letters were (or, on a dry run, would be) removed.
    pub count: u64,
    /// The set counted, as a token. Pass it back to confirm.
    pub fingerprint: String,
    /// Whether every dead letter was looked at: SQS offers at most 1000 to one scan, and a
    /// purge of an incomplete count is refused.
    pub complete: bool,
}

/// A dead letter with its last recorded error.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct DeadLetterView {
    /// The message.
    #[serde(flatten)]
    pub message: DeadLetter,
    /// Its last error, as its worker recorded it.
    pub last_error: Option<JobFailure>,
}

/// Sends a queue's dead letters (all, or the named ones) back to it; audited.
pub async fn retry(
    app: &App,
    audit_ctx: &AuditContext,
    request: &RetryRequest,
) -> Result<Retried, AppError> {
    let mut errors = FieldErrors::new();
    if let Some(message) = unknown_queue(&request.queue) {
        errors.add("queue", message);
    }
    if let Some(ids) = &request.message_ids {
        if ids.is_empty() {
            errors.add(
                "message_ids",
                "name at least one id, or leave it out for all",
            );
        } else if ids.len() > MAX_IDS {
            errors.add("message_ids", format!("at most {MAX_IDS} ids"));
        } else if ids.iter().any(|id| id.trim().is_empty() || id.len() > 200) {
            errors.add("message_ids", "each id is 1 to 200 characters");
        }
    }
    errors.into_result()?;
    let queue = known(&request.queue, "queue")?;
    let which = match &request.message_ids {
        Some(ids) => Selection::Ids(ids),
        None => Selection::All,
    };
    let redriven = app.queue.redrive(queue, which).await.map_err(queue_error)?;
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::Admin).await?;
    activity::forget(&tx, queue, &redriven.retired).await?;
    audit::record(
        &tx,
        audit_ctx,
        AuditEvent::success("queue.dead_letters_retried")
            .target("queue", queue)
            .change(
                None,
                Some(json!({
                    "message_ids": request.message_ids,
                    "moved": redriven.moved,
                    "method": redriven.method,
                    "task_handle": redriven.task_handle,
                    "not_found": redriven.not_found,
                })),
            ),
    )
    .await?;
    tx.commit().await?;
    Ok(Retried {
        queue: queue.to_string(),
        redriven,
    })
}

/// Counts (dry run) or purges a queue's dead letters first sent before the cutoff; a purge is
/// audited.
pub async fn clean(
    app: &App,
    audit_ctx: &AuditContext,
    request: &CleanRequest,
) -> Result<Cleaned, AppError> {
    let mut errors = FieldErrors::new();
    if let Some(message) = unknown_queue(&request.queue) {
        errors.add("queue", message);
    }
    let now = app.clock.now();
    let before = match (request.older_than_seconds, request.before) {
        (Some(_), _) if !request.dry_run => {
            errors.add(
                "older_than_seconds",
                "a purge is confirmed with the dry run's before and fingerprint",
            );
            None
        }
        (Some(age), None) if age < 0 => {
            errors.add("older_than_seconds", "must not be negative");
            None
        }
        (Some(age), None) => chrono::Duration::try_seconds(age)
            .and_then(|age| now.checked_sub_signed(age))
            .or_else(|| {
                errors.add("older_than_seconds", "too large");
                None
            }),
        (None, Some(before)) if before > now => {
            errors.add("before", "must not be in the future");
            None
        }
        (None, Some(before)) => Some(before),
        (None, None) if !request.dry_run => {
            errors.add("before", "required to confirm: the dry run's before");
            None
        }
        (None, None) => {
            errors.add("older_than_seconds", "give older_than_seconds or before");
            None
        }
        (Some(_), Some(_)) => {
            errors.add(
                "older_than_seconds",
                "give either older_than_seconds or before, not both",
            );
            None
        }
    };
    let purge = match (request.dry_run, request.fingerprint.as_deref()) {
        (true, None) => Purge::Count,
        (true, Some(_)) => {
            errors.add("fingerprint", "only to confirm a dry run (dry_run false)");
            Purge::Count
        }
        (false, Some(fingerprint)) => Purge::Confirm(fingerprint),
        (false, None) => {
            errors.add(
                "fingerprint",
                "required to confirm: the dry run's fingerprint",
            );
            Purge::Count
        }
    };
    errors.into_result()?;
    let queue = known(&request.queue, "queue")?;
    let before = before.ok_or_else(|| AppError::Internal("cutoff checked above".into()))?;
    let purged = app
        .queue
        .purge_dead_letters(queue, before, purge)
        .await
        .map_err(queue_error)?;
    if !request.dry_run && !purged.removed {
        return Err(AppError::Conflict(if purged.complete {
            format!(
                "the dead letters of {queue} sent before {before} changed since the dry run \
                 (now {}); nothing was removed: run the dry run again",
                purged.count
            )
        } else {
            format!(
                "{queue} has more dead letters than one scan looks at; nothing was removed: \
                 retry or let the queue expire some first"
            )
        }));
    }
    if purged.removed {
        let mut client = app.db.client().await?;
        let tx = db::begin(&mut client, Scope::Admin).await?;
        activity::forget(&tx, queue, &purged.ids).await?;
        audit::record(
            &tx,
            audit_ctx,
            AuditEvent::success("queue.dead_letters_purged")
                .target("queue", queue)
                .change(
                    Some(json!({ "before": before, "count": purged.count })),
                    Some(json!({ "count": 0 })),
                ),
        )
        .await?;
        tx.commit().await?;
    }
    Ok(Cleaned {
        queue: queue.to_string(),
        dry_run: request.dry_run,
        before,
        count: purged.count,
        fingerprint: purged.fingerprint,
        complete: purged.complete,
    })
}

/// Up to `limit` dead letters of `queue`, oldest first, each with its last error, left in place.
pub async fn dead_letters(
    app: &App,
    queue: &'static str,
    limit: usize,
) -> Result<Vec<DeadLetterView>, AppError> {
    let letters = app
        .queue
        .peek_dead_letters(queue, limit)
        .await
        .map_err(queue_error)?;
    let ids: Vec<String> = letters.iter().map(|l| l.id.clone()).collect();
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::Admin).await?;
    let mut failures = activity::failures(&tx, queue, &ids).await?;
    tx.commit().await?;
    Ok(letters
        .into_iter()
        .map(|message| DeadLetterView {
            last_error: failures.remove(&message.id),
            message,
        })
        .collect())
}
