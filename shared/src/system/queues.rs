//! Each worker queue's backlog and dead letters, as the queue itself reports them.

use crate::app::App;
use serde::Serialize;

/// One queue and its dead-letter queue.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct QueueStatus {
    /// The queue (its dead-letter queue is `<queue>-dlq`).
    pub queue: String,
    /// Messages waiting to be received now; `null` when the depth could not be read.
    pub visible: Option<u64>,
    /// Messages being processed or hidden until retried.
    pub in_flight: Option<u64>,
    /// Messages sent with a delay that has not passed.
    pub delayed: Option<u64>,
    /// Messages in the dead-letter queue: each is work that failed every retry.
    pub dead_letters: Option<u64>,
    /// How long the oldest visible message has waited, in seconds, when the backend can tell.
    pub oldest_visible_age_seconds: Option<u64>,
    /// Waiting messages (`visible + delayed`) are over the alert threshold (`ALERTS_QUEUE_BACKLOG`).
    pub backlogged: bool,
    /// Why the depth could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Asks every queue at once (SQS answers over HTTPS; no database connection is held).
pub async fn check(app: &App, queues: &[&str]) -> Vec<QueueStatus> {
    let threshold = app.config.alerts.queue_backlog;
    futures::future::join_all(queues.iter().map(|queue| async move {
        match app.queue.depth(queue).await {
            Ok(depth) => QueueStatus {
                queue: (*queue).to_string(),
                visible: Some(depth.visible),
                in_flight: Some(depth.in_flight),
                delayed: Some(depth.delayed),
                dead_letters: Some(depth.dead_letters),
                oldest_visible_age_seconds: depth.oldest_visible_age.map(|a| a.as_secs()),
                backlogged: depth.visible + depth.delayed > threshold,
                error: None,
            },
            Err(e) => {
                tracing::warn!(queue, error = %e, "system status: queue depth unavailable");
                QueueStatus {
                    queue: (*queue).to_string(),
                    visible: None,
                    in_flight: None,
                    delayed: None,
                    dead_letters: None,
                    oldest_visible_age_seconds: None,
                    backlogged: false,
                    error: Some(e.to_string()),
                }
            }
        }
    }))
    .await
}
