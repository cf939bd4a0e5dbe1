//! The AWS Lambda adapter of the consumer-switch port: pausing a queue disables the event source
//! mappings that feed it to its worker, resuming enables them. Messages wait in the queue
//! meanwhile (up to its retention period).

use super::QueueError;
use super::consumers::ConsumerSwitch;
use super::sqs::SqsQueue;
use async_trait::async_trait;
use aws_sdk_lambda::error::DisplayErrorContext;

/// Event source mappings found by the ARN of the queue they read.
pub struct LambdaConsumers {
    lambda: aws_sdk_lambda::Client,
    queues: SqsQueue,
}

impl LambdaConsumers {
    /// The switch over `lambda`, finding queue ARNs through `queues`.
    pub fn new(lambda: aws_sdk_lambda::Client, queues: SqsQueue) -> LambdaConsumers {
        LambdaConsumers { lambda, queues }
    }

    /// The UUIDs of the mappings reading `queue`.
    async fn mappings(&self, queue: &str) -> Result<Vec<String>, QueueError> {
        let arn = self.queues.arn(queue).await?;
        let mut uuids = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = self
                .lambda
                .list_event_source_mappings()
                .event_source_arn(&arn)
                .set_marker(marker.take())
                .send()
                .await
                .map_err(|e| QueueError::new(queue, DisplayErrorContext(&e)))?;
            uuids.extend(
                page.event_source_mappings
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|m| m.uuid),
            );
            match page.next_marker {
                Some(next) if !next.is_empty() => marker = Some(next),
                _ => return Ok(uuids),
            }
        }
    }
}

#[async_trait]
impl ConsumerSwitch for LambdaConsumers {
    async fn set(&self, queue: &str, enabled: bool) -> Result<u32, QueueError> {
        let uuids = self.mappings(queue).await?;
        if uuids.is_empty() {
            return Err(QueueError::new(
                queue,
                "no event source mapping reads this queue",
            ));
        }
        for uuid in &uuids {
            self.lambda
                .update_event_source_mapping()
                .uuid(uuid)
                .enabled(enabled)
                .send()
                .await
                .map_err(|e| QueueError::new(queue, DisplayErrorContext(&e)))?;
        }
        Ok(u32::try_from(uuids.len()).unwrap_or(u32::MAX))
    }
}
