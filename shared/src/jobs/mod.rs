//! Background work: the `JobQueue` port and its PostgreSQL adapter, the transactional outbox and
//! its relay, and the `EventBus` port. Producers write to the outbox inside their own database
//! transaction; the relay publishes right after commit, and a scheduled sweeper publishes
//! whatever a crash or an outage left behind. Consumers are idempotent on a business key.

pub mod activity;
pub mod admin;
pub mod aws;
pub mod bus;
pub mod consumers;
pub mod controls;
pub mod eventbridge;
pub mod lambda;
pub mod outbox;
pub mod postgres_queue;
pub mod sqs;
mod sqs_dead_letters;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
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

    /// A worker: the registry function and the queue it consumes.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
    pub struct Worker {
        /// The worker's function name (`worker_activity.worker`, `worker_health.worker`).
        pub name: &'static str,
        /// Its queue.
        pub queue: &'static str,
    }

    /// Every worker with its queue, in the order of [`ALL`]: the one list the monitors, the
    /// status report and queue administration read (`shared` does not know the registry; a
    /// registry test holds this list to its `Trigger::Worker` entries).
    pub const WORKERS: &[Worker] = &[
        Worker {
            name: "transaction-processor",
            queue: TRANSACTION_PROCESSOR,
        },
        Worker {
            name: "refund-processor",
            queue: REFUND_PROCESSOR,
        },
        Worker {
            name: "webhook-processor",
            queue: WEBHOOK_PROCESSOR,
        },
        Worker {
            name: "webhook-delivery",
            queue: WEBHOOK_DELIVERY,
        },
        Worker {
            name: "whatsapp-sender",
            queue: WHATSAPP_SENDER,
        },
        Worker {
            name: "slack-sender",
            queue: SLACK_SENDER,
        },
        Worker {
            name: "wallet-balance-monitor",
            queue: WALLET_BALANCE,
        },
    ];

    /// The registry function that consumes `queue` (its worker).
    pub fn consumer(queue: &str) -> Option<&'static str> {
        WORKERS.iter().find(|w| w.queue == queue).map(|w| w.name)
    }
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

/// A message in a dead-letter queue, as the peek shows it (left where it is).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct DeadLetter {
    /// The queue's id for the message (SQS keeps it when it dead-letters).
    pub id: String,
    /// The body.
    pub body: String,
    /// How many times it was received.
    pub receive_count: u32,
    /// When it was first sent (its age counts from here on both backends).
    pub sent_at: DateTime<Utc>,
    /// When it was first received, where the backend records it (SQS).
    pub first_received_at: Option<DateTime<Utc>>,
    /// When it was dead-lettered, where the backend records it (PostgreSQL).
    pub dead_lettered_at: Option<DateTime<Utc>>,
}

/// Which dead letters an operation takes.
#[derive(Debug, Clone, Copy)]
pub enum Selection<'a> {
    /// Every one.
    All,
    /// Those with these message ids.
    Ids(&'a [String]),
}

/// What a redrive did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Redriven {
    /// Messages sent back to their queue (for a move task: the dead letters when it started).
    pub moved: u64,
    /// How: `database` (PostgreSQL), `move_task` (an SQS message move task, which goes on in
    /// the background) or `resend` (each body sent to the queue and deleted from the DLQ).
    pub method: &'static str,
    /// The SQS move task's handle, when one was started.
    pub task_handle: Option<String>,
    /// Ids asked for that are not (or no longer) dead letters of the queue.
    pub not_found: Vec<String>,
    /// Ids that no longer exist as such: on SQS a resent message gets a new id.
    #[serde(skip)]
    pub retired: Vec<String>,
}

/// A purge of old dead letters: only count them, or remove exactly the set a count found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purge<'a> {
    /// Count them and remove nothing.
    Count,
    /// Remove them if they are still the set whose [`fingerprint`] this is; otherwise remove
    /// nothing.
    Confirm(&'a str),
}

/// What a purge of old dead letters found, and whether it removed them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Purged {
    /// How many dead letters were first sent before the cutoff.
    pub count: u64,
    /// Their ids.
    pub ids: Vec<String>,
    /// The [`fingerprint`] of their ids.
    pub fingerprint: String,
    /// Whether every dead letter of the queue was looked at (an SQS scan stops at a limit).
    pub complete: bool,
    /// Whether they were removed: a confirmed purge of a complete scan of the same set.
    pub removed: bool,
}

impl Purged {
    /// The outcome for the dead letters `ids` under `purge`: whether they are to be removed.
    pub fn decide(ids: Vec<String>, complete: bool, purge: Purge<'_>) -> Purged {
        let fingerprint = fingerprint(&ids);
        let removed = complete && purge == Purge::Confirm(fingerprint.as_str());
        Purged {
            count: ids.len() as u64,
            ids,
            fingerprint,
            complete,
            removed,
        }
    }
}

/// A set of message ids as one short token: SHA-256 of the sorted ids, one per line, in hex. A
/// dry run answers it, and the confirming purge removes nothing unless the set is unchanged.
pub fn fingerprint(ids: &[String]) -> String {
    use sha2::{Digest, Sha256};
    let mut sorted: Vec<&str> = ids.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    let mut hash = Sha256::new();
    for id in sorted {
        hash.update(id.as_bytes());
        hash.update(b"\n");
    }
    hex::encode(hash.finalize())
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

    /// Up to `max` dead letters of `queue`, oldest first, without consuming them.
    async fn peek_dead_letters(
        &self,
        queue: &str,
        _max: usize,
    ) -> Result<Vec<DeadLetter>, QueueError> {
        Err(QueueError::new(
            queue,
            "this queue cannot show its dead letters",
        ))
    }

    /// Sends dead letters of `queue` back to it, to be received afresh.
    async fn redrive(&self, queue: &str, _which: Selection<'_>) -> Result<Redriven, QueueError> {
        Err(QueueError::new(
            queue,
            "this queue cannot redrive dead letters",
        ))
    }

    /// Counts the dead letters of `queue` first sent before `before`, and removes them when
    /// `purge` confirms exactly that set.
    async fn purge_dead_letters(
        &self,
        queue: &str,
        _before: DateTime<Utc>,
        _purge: Purge<'_>,
    ) -> Result<Purged, QueueError> {
        Err(QueueError::new(
            queue,
            "this queue cannot purge dead letters",
        ))
    }
}
