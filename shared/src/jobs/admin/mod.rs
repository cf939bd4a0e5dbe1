//! Queue administration, the same on both backends: list the queues, their statistics, pause and
//! resume a worker's consumption, send dead letters back, purge old ones, peek at them with
//! their last error. State changes are audited.

mod dead_letters;

pub use dead_letters::{
    CleanRequest, Cleaned, DeadLetterView, MAX_IDS, MAX_PEEK, Retried, RetryRequest, clean,
    dead_letters, retry,
};

use super::activity::{self, WorkerRates};
use super::controls::{self, Control};
use super::{QueueError, queues};
use crate::App;
use crate::audit::{self, Actor, AuditContext, AuditEvent};
use crate::db::{self, Scope};
use crate::error::AppError;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;

/// A worker queue's name, for the API document: the registry's `queues::ALL` (a test holds the
/// two equal).
#[derive(Debug, Clone, Copy, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum QueueName {
    /// Creates gateway orders.
    TransactionProcessor,
    /// Asks gateways for refunds.
    RefundProcessor,
    /// Applies inbound gateway events.
    WebhookProcessor,
    /// Delivers merchants' webhooks.
    WebhookDelivery,
    /// Sends WhatsApp messages.
    WhatsappSender,
    /// Sends Slack messages.
    SlackSender,
    /// Checks wallets after captures.
    WalletBalance,
}

/// A worker queue as operators see it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct QueueView {
    /// The registry's queue name.
    #[schema(value_type = QueueName)]
    pub queue: String,
    /// The registry function that consumes it.
    pub worker: String,
    /// Its dead-letter queue (`<queue>-dlq` on SQS; the dead-lettered rows of the queue locally).
    pub dead_letter_queue: String,
    /// Whether its worker's consumption is paused.
    pub paused: bool,
    /// When it was last paused or resumed.
    pub changed_at: Option<DateTime<Utc>>,
    /// Who last paused or resumed it.
    pub changed_by: Option<String>,
    /// Why, if said.
    pub reason: Option<String>,
}

/// A queue's statistics.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct QueueStats {
    /// The registry's queue name.
    #[schema(value_type = QueueName)]
    pub queue: String,
    /// The registry function that consumes it.
    pub worker: String,
    /// Whether its worker's consumption is paused.
    pub paused: bool,
    /// Messages waiting to be received (approximate on SQS); `None` if the depth was unavailable.
    pub visible: Option<u64>,
    /// Messages received and not yet deleted.
    pub in_flight: Option<u64>,
    /// Messages sent with a delay that has not passed.
    pub delayed: Option<u64>,
    /// Messages in its dead-letter queue.
    pub dead_letters: Option<u64>,
    /// Seconds the oldest visible message has waited; `None` on SQS (a CloudWatch metric, not a
    /// queue attribute) or when nothing waits.
    pub oldest_message_age_seconds: Option<u64>,
    /// The worker's throughput.
    #[serde(flatten)]
    pub rates: WorkerRates,
    /// Why the depth is missing, if it is.
    pub depth_error: Option<String>,
}

/// The body of `POST /api/v1/admin/queues/pause` and `/resume`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueueSwitch {
    /// The queue (one of `GET /api/v1/admin/queues`).
    #[schema(value_type = QueueName)]
    pub queue: String,
    /// Why (kept with the control and in the audit log).
    #[schema(max_length = 500)]
    pub reason: Option<String>,
}

/// What is wrong with a queue name that is not a worker queue of the registry.
fn unknown_queue(queue: &str) -> Option<String> {
    (!queues::ALL.contains(&queue)).then(|| {
        format!(
            "unknown queue '{queue}'; one of: {}",
            queues::ALL.join(", ")
        )
    })
}

/// `queue` if it is a worker queue of the registry, else a 400 on `field` naming them.
fn known(queue: &str, field: &str) -> Result<&'static str, AppError> {
    queues::ALL
        .iter()
        .copied()
        .find(|q| *q == queue)
        .ok_or_else(|| AppError::field(field, unknown_queue(queue).unwrap_or_default()))
}

/// The queue named in a path: a 404 if it is not a worker queue.
pub fn queue_in_path(queue: &str) -> Result<&'static str, AppError> {
    known(queue, "queue").map_err(|_| AppError::NotFound("queue"))
}

fn worker(queue: &str) -> String {
    queues::consumer(queue).unwrap_or(queue).to_string()
}

fn queue_error(e: QueueError) -> AppError {
    AppError::Internal(e.to_string())
}

/// How an actor is named in `queue_controls.changed_by`.
fn actor_name(actor: &Actor) -> String {
    match actor {
        Actor::User(id) => format!("user:{id}"),
        Actor::ApiKey(id) => format!("api_key:{id}"),
        Actor::System => "system".to_string(),
        Actor::Anonymous => "anonymous".to_string(),
    }
}

fn view(queue: &str, control: Option<&Control>) -> QueueView {
    QueueView {
        queue: queue.to_string(),
        worker: worker(queue),
        dead_letter_queue: format!("{queue}-dlq"),
        paused: control.is_some_and(|c| c.paused),
        changed_at: control.map(|c| c.changed_at),
        changed_by: control.map(|c| c.changed_by.clone()),
        reason: control.and_then(|c| c.reason.clone()),
    }
}

/// Every worker queue with its worker, dead-letter queue and pause state.
pub async fn list(app: &App) -> Result<Vec<QueueView>, AppError> {
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::Admin).await?;
    let controls = controls::all(&tx).await?;
    tx.commit().await?;
    Ok(queues::ALL
        .iter()
        .map(|q| view(q, controls.get(*q)))
        .collect())
}

/// Every worker queue's depth, dead letters and its worker's throughput.
pub async fn stats(app: &App) -> Result<Vec<QueueStats>, AppError> {
    let workers: Vec<String> = queues::ALL.iter().map(|q| worker(q)).collect();
    let names: Vec<&str> = workers.iter().map(String::as_str).collect();
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::Admin).await?;
    let controls = controls::all(&tx).await?;
    let rates = activity::rates(&tx, &names, app.clock.now()).await?;
    tx.commit().await?;
    let depths = futures::future::join_all(queues::ALL.iter().map(|q| app.queue.depth(q))).await;
    Ok(queues::ALL
        .iter()
        .zip(depths)
        .map(|(queue, depth)| {
            let worker = worker(queue);
            let (depth, depth_error) = match depth {
                Ok(depth) => (Some(depth), None),
                Err(e) => (None, Some(e.to_string())),
            };
            QueueStats {
                queue: queue.to_string(),
                paused: controls.get(*queue).is_some_and(|c| c.paused),
                visible: depth.map(|d| d.visible),
                in_flight: depth.map(|d| d.in_flight),
                delayed: depth.map(|d| d.delayed),
                dead_letters: depth.map(|d| d.dead_letters),
                oldest_message_age_seconds: depth
                    .and_then(|d| d.oldest_visible_age)
                    .map(|a| a.as_secs()),
                rates: rates.get(&worker).copied().unwrap_or_default(),
                worker,
                depth_error,
            }
        })
        .collect())
}

/// Pauses (`paused`) or resumes the consumption of a queue by its worker: the control row and
/// its audit row are committed only once the consumer switch (the event source mapping in AWS)
/// followed.
pub async fn switch(
    app: &App,
    audit_ctx: &AuditContext,
    request: &QueueSwitch,
    paused: bool,
) -> Result<QueueView, AppError> {
    let queue = known(&request.queue, "queue")?;
    let reason = request
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty());
    if reason.is_some_and(|r| r.chars().count() > 500) {
        return Err(AppError::field("reason", "at most 500 characters"));
    }
    let changed_by = actor_name(&audit_ctx.actor);
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::Admin).await?;
    let before = controls::set(&tx, queue, paused, &changed_by, reason).await?;
    let action = if paused {
        "queue.paused"
    } else {
        "queue.resumed"
    };
    audit::record(
        &tx,
        audit_ctx,
        AuditEvent::success(action).target("queue", queue).change(
            Some(json!({ "paused": before.as_ref().is_some_and(|c| c.paused) })),
            Some(json!({ "paused": paused, "reason": reason })),
        ),
    )
    .await?;
    let switched = app
        .consumers
        .set(queue, !paused)
        .await
        .map_err(queue_error)?;
    tx.commit().await?;
    tracing::info!(
        queue,
        paused,
        consumers = switched,
        "queue consumption switched"
    );
    let controls = {
        let tx = db::begin(&mut client, Scope::Admin).await?;
        let all = controls::all(&tx).await?;
        tx.commit().await?;
        all
    };
    Ok(view(queue, controls.get(queue)))
}

#[cfg(test)]
mod tests {
    use super::QueueName::*;

    #[test]
    fn the_documented_queue_names_are_the_registrys() {
        let documented: Vec<serde_json::Value> = [
            TransactionProcessor,
            RefundProcessor,
            WebhookProcessor,
            WebhookDelivery,
            WhatsappSender,
            SlackSender,
            WalletBalance,
        ]
        .iter()
        .map(|q| serde_json::to_value(q).unwrap_or_default())
        .collect();
        let registry: Vec<serde_json::Value> = super::queues::ALL
            .iter()
            .map(|q| serde_json::json!(q))
            .collect();
        assert_eq!(documented, registry);
    }
}
