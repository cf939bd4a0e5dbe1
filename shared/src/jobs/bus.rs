//! The `EventBus` port: domain events (`transaction.succeeded`, …) go to the platform's bus,
//! whose rules route each detail-type to the queues that care. Locally the same rules are applied
//! in-process.

use super::{JobQueue, QueueError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// The `source` of every event the platform publishes.
pub const SOURCE: &str = "lightspeedpay.payments";

/// A domain event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DomainEvent {
    /// Unique id, the consumers' idempotency key.
    pub id: String,
    /// `transaction.created`, `transaction.succeeded`, …
    pub detail_type: String,
    /// When it happened.
    pub time: DateTime<Utc>,
    /// The event's data.
    pub detail: serde_json::Value,
}

impl DomainEvent {
    /// Reads a queue message carrying an event: the form the local bus sends, or the envelope
    /// an EventBridge rule delivers to SQS (`detail-type`, and `detail` holding the event's
    /// `id`, `time` and `data` as [`EventBridgeBus`](super::eventbridge::EventBridgeBus) put it).
    pub fn from_message(body: &str) -> Result<DomainEvent, serde_json::Error> {
        #[derive(Deserialize)]
        struct Envelope {
            #[serde(rename = "detail-type")]
            detail_type: String,
            detail: Detail,
        }
        #[derive(Deserialize)]
        struct Detail {
            id: String,
            time: DateTime<Utc>,
            data: serde_json::Value,
        }
        let value: serde_json::Value = serde_json::from_str(body)?;
        if value.get("detail-type").is_some() {
            let envelope: Envelope = serde_json::from_value(value)?;
            return Ok(DomainEvent {
                id: envelope.detail.id,
                detail_type: envelope.detail_type,
                time: envelope.detail.time,
                detail: envelope.detail.data,
            });
        }
        serde_json::from_value(value)
    }
}

/// Routes detail-types to queues; `template.yaml` declares the same rules for EventBridge.
pub struct Rule {
    /// Detail-types this rule matches.
    pub detail_types: &'static [&'static str],
    /// The queue that receives them.
    pub queue: &'static str,
}

/// The bus's rules: every event merchants receive goes to the webhook delivery worker.
pub static RULES: &[Rule] = &[Rule {
    detail_types: crate::merchant_webhooks::events::EVENT_TYPES,
    queue: super::queues::WEBHOOK_DELIVERY,
}];

/// The queues whose rules match `detail_type`: the one place the rules are read, by the local
/// bus and by the in-transaction delivery of the PostgreSQL backend.
pub fn subscribers(detail_type: &str) -> impl Iterator<Item = &'static str> + '_ {
    RULES
        .iter()
        .filter(move |r| r.detail_types.contains(&detail_type))
        .map(|r| r.queue)
}

/// Publishes domain events.
#[async_trait]
pub trait EventBus: Send + Sync {
    /// Publishes events; either all are accepted or an error is returned.
    async fn publish(&self, events: &[DomainEvent]) -> Result<(), QueueError>;
}

/// The in-process bus: applies [`RULES`] onto a job queue.
pub struct LocalBus {
    queue: Arc<dyn JobQueue>,
}

impl LocalBus {
    /// A bus delivering onto `queue`.
    pub fn new(queue: Arc<dyn JobQueue>) -> LocalBus {
        LocalBus { queue }
    }
}

#[async_trait]
impl EventBus for LocalBus {
    async fn publish(&self, events: &[DomainEvent]) -> Result<(), QueueError> {
        for event in events {
            let body = serde_json::to_string(event).map_err(|e| QueueError::new("bus", e))?;
            for queue in subscribers(&event.detail_type) {
                self.queue
                    .send(queue, std::slice::from_ref(&body), Duration::ZERO)
                    .await?;
            }
        }
        for event in events {
            tracing::info!(event_id = %event.id, detail_type = %event.detail_type, "event published");
        }
        Ok(())
    }
}
