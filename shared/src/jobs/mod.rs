//! Background work: the `JobQueue` port and its PostgreSQL adapter, the transactional outbox and
//! its relay, and the `EventBus` port. Producers write to the outbox inside their own database
//! transaction; the relay publishes right after commit, and a scheduled sweeper publishes
//! whatever a crash or an outage left behind. Consumers are idempotent on a business key.

pub mod aws;
pub mod bus;
pub mod eventbridge;
pub mod outbox;
pub mod postgres_queue;
pub mod sqs;

use async_trait::async_trait;
use std::time::Duration;

/// Queue names: one queue (and, on SQS, one dead-letter queue) per worker.
pub mod queues {
    /// Creates orders at gateways for new transactions.
    pub const TRANSACTION_PROCESSOR: &str = "transaction-processor";
    /// Asks gateways for new refunds.
    pub const REFUND_PROCESSOR: &str = "refund-processor";
    /// Applies verified inbound gateway events.
    pub const WEBHOOK_PROCESSOR: &str = "webhook-processor";
    /// Delivers events to merchants' webhook endpoints.
    pub const WEBHOOK_DELIVERY: &str = "webhook-delivery";
    /// Sends WhatsApp messages from `whatsapp_queue`.
    pub const WHATSAPP_SENDER: &str = "whatsapp-sender";
    /// Sends Slack messages from `slack_queue`.
    pub const SLACK_SENDER: &str = "slack-sender";
    /// Checks one merchant's wallet against its thresholds after a capture debited it.
    pub const WALLET_BALANCE: &str = "wallet-balance";

    /// Every worker's queue: the alert monitor watches each (a registry test holds this list
    /// to the registry's workers).
    pub const ALL: &[&str] = &[
        TRANSACTION_PROCESSOR,
        REFUND_PROCESSOR,
        WEBHOOK_PROCESSOR,
        WEBHOOK_DELIVERY,
        WHATSAPP_SENDER,
        SLACK_SENDER,
        WALLET_BALANCE,
    ];
}

/// A message received from a queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The queue's id for the message (stable across deliveries).
    pub id: String,
    /// The handle of this delivery (changes on every receive).
    pub receipt: String,
    /// The body.
    pub body: String,
    /// How many times it has been received, this time included.
    pub receive_count: u32,
}

/// A queue failure.
#[derive(Debug, thiserror::Error)]
#[error("queue {queue}: {message}")]
pub struct QueueError {
    /// The queue concerned.
    pub queue: String,
    /// What went wrong.
    pub message: String,
}

impl QueueError {
    /// An error on `queue`.
    pub fn new(queue: &str, message: impl ToString) -> QueueError {
        QueueError {
            queue: queue.to_string(),
            message: message.to_string(),
        }
    }
}

/// How much a queue holds at one moment (SQS's figures are approximate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct QueueDepth {
    /// Messages waiting to be received now.
    pub visible: u64,
    /// Messages received and not yet deleted (being processed, or hidden until retried).
    pub in_flight: u64,
    /// Messages sent with a delay that has not passed.
    pub delayed: u64,
    /// Messages in the dead-letter queue (`<queue>-dlq` on SQS).
    pub dead_letters: u64,
    /// How long the oldest visible message has waited, when the backend can tell.
    pub oldest_visible_age: Option<Duration>,
}

/// A job queue with SQS semantics: at-least-once delivery, a visibility timeout, a receive
/// count, and dead-lettering after too many receives.
#[async_trait]
pub trait JobQueue: Send + Sync {
    /// Sends messages, visible after `delay`.
    async fn send(&self, queue: &str, bodies: &[String], delay: Duration)
    -> Result<(), QueueError>;
    /// Receives up to `max` visible messages, hiding them for `visibility`.
    async fn receive(
        &self,
        queue: &str,
        max: u32,
        visibility: Duration,
    ) -> Result<Vec<Message>, QueueError>;
    /// Deletes processed messages by the receipts of their deliveries.
    async fn delete(&self, queue: &str, receipts: &[String]) -> Result<(), QueueError>;
    /// What `queue` and its dead-letter queue hold (the alert monitor watches this). A backend
    /// that cannot tell answers an error, which the monitor reports instead of guessing.
    async fn depth(&self, queue: &str) -> Result<QueueDepth, QueueError> {
        Err(QueueError::new(queue, "this queue cannot report its depth"))
    }
}
