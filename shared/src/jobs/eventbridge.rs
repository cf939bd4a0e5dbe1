//! The EventBridge adapter of the `EventBus` port: PutEvents to the platform's bus; the rules in
//! `template.yaml` route each detail-type to the queues that subscribe to it.

use super::QueueError;
use super::bus::{DomainEvent, EventBus, SOURCE};
use async_trait::async_trait;
use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;

/// PutEvents accepts at most ten entries per call.
const BATCH: usize = 10;

/// The platform's event bus.
pub struct EventBridgeBus {
    client: Client,
    bus_name: String,
}

impl EventBridgeBus {
    /// Publishes to `bus_name` through `client`.
    pub fn new(client: Client, bus_name: &str) -> EventBridgeBus {
        EventBridgeBus {
            client,
            bus_name: bus_name.to_string(),
        }
    }
}

#[async_trait]
impl EventBus for EventBridgeBus {
    async fn publish(&self, events: &[DomainEvent]) -> Result<(), QueueError> {
        for chunk in events.chunks(BATCH) {
            let entries = chunk
                .iter()
                .map(|e| {
                    let detail =
                        serde_json::json!({ "id": e.id, "time": e.time, "data": e.detail })
                            .to_string();
                    PutEventsRequestEntry::builder()
                        .event_bus_name(&self.bus_name)
                        .source(SOURCE)
                        .detail_type(&e.detail_type)
                        .detail(detail)
                        .time(aws_sdk_eventbridge::primitives::DateTime::from_secs(
                            e.time.timestamp(),
                        ))
                        .build()
                })
                .collect();
            let put = self
                .client
                .put_events()
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| {
                    QueueError::new(
                        &self.bus_name,
                        aws_sdk_eventbridge::error::DisplayErrorContext(&e),
                    )
                })?;
            if put.failed_entry_count > 0 {
                return Err(QueueError::new(
                    &self.bus_name,
                    format!(
                        "{} of {} events not accepted",
                        put.failed_entry_count,
                        chunk.len()
                    ),
                ));
            }
        }
        Ok(())
    }
}
