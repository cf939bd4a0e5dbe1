//! The SQS adapter of the `JobQueue` port. In AWS the queues, their dead-letter queues and the
//! redrive policies come from `template.yaml`; `ensure_queues` creates the same locally (moto).

use super::{
    DeadLetter, JobQueue, Message, Purge, Purged, QueueDepth, QueueError, Redriven, Selection,
};
use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageSystemAttributeName, QueueAttributeName,
    SendMessageBatchRequestEntry,
};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::RwLock;

/// SQS accepts at most ten entries per batch call.
pub(super) const BATCH: usize = 10;

/// Queues named `<prefix><queue>` in one account and region.
pub struct SqsQueue {
    pub(super) client: Client,
    pub(super) prefix: String,
    urls: RwLock<HashMap<String, String>>,
}

impl SqsQueue {
    /// An adapter over `client` for queues named `<prefix><queue>`.
    pub fn new(client: Client, prefix: &str) -> SqsQueue {
        SqsQueue {
            client,
            prefix: prefix.to_string(),
            urls: RwLock::new(HashMap::new()),
        }
    }

    pub(super) async fn url(&self, queue: &str) -> Result<String, QueueError> {
        if let Some(url) = self.urls.read().await.get(queue) {
            return Ok(url.clone());
        }
        let name = format!("{}{queue}", self.prefix);
        let url = self
            .client
            .get_queue_url()
            .queue_name(&name)
            .send()
            .await
            .map_err(|e| {
                QueueError::new(
                    queue,
                    format!(
                        "resolving {name}: {}",
                        aws_sdk_sqs::error::DisplayErrorContext(&e)
                    ),
                )
            })?
            .queue_url
            .ok_or_else(|| QueueError::new(queue, "no queue URL"))?;
        self.urls
            .write()
            .await
            .insert(queue.to_string(), url.clone());
        Ok(url)
    }

    /// Creates each queue with a `<queue>-dlq` dead-letter queue after `max_receives` receives.
    pub async fn ensure_queues(
        &self,
        queues: &[&str],
        max_receives: u32,
    ) -> Result<(), QueueError> {
        for queue in queues {
            let err = |e: &dyn std::fmt::Display| QueueError::new(queue, e);
            let dlq = self
                .client
                .create_queue()
                .queue_name(format!("{}{queue}-dlq", self.prefix))
                .attributes(QueueAttributeName::MessageRetentionPeriod, "1209600")
                .send()
                .await
                .map_err(|e| err(&aws_sdk_sqs::error::DisplayErrorContext(&e)))?;
            let dlq_url = dlq.queue_url.ok_or_else(|| err(&"no DLQ URL"))?;
            let attributes = self
                .client
                .get_queue_attributes()
                .queue_url(&dlq_url)
                .attribute_names(QueueAttributeName::QueueArn)
                .send()
                .await
                .map_err(|e| err(&aws_sdk_sqs::error::DisplayErrorContext(&e)))?;
            let arn = attributes
                .attributes
                .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
                .ok_or_else(|| err(&"no DLQ ARN"))?;
            let redrive =
                serde_json::json!({ "deadLetterTargetArn": arn, "maxReceiveCount": max_receives })
                    .to_string();
            self.client
                .create_queue()
                .queue_name(format!("{}{queue}", self.prefix))
                .attributes(QueueAttributeName::RedrivePolicy, redrive)
                .send()
                .await
                .map_err(|e| err(&aws_sdk_sqs::error::DisplayErrorContext(&e)))?;
        }
        Ok(())
    }

    /// The approximate counts SQS keeps for `queue` (by its registry name).
    async fn counts(&self, queue: &str) -> Result<HashMap<QueueAttributeName, u64>, QueueError> {
        let url = self.url(queue).await?;
        let answer = self
            .client
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
            .send()
            .await
            .map_err(|e| QueueError::new(queue, aws_sdk_sqs::error::DisplayErrorContext(&e)))?;
        Ok(answer
            .attributes
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(name, value)| value.parse::<u64>().ok().map(|n| (name, n)))
            .collect())
    }

    /// Messages waiting in `<queue>-dlq` (receives them with a short visibility).
    pub async fn dead_letters(&self, queue: &str) -> Result<Vec<Message>, QueueError> {
        self.receive(&format!("{queue}-dlq"), 10, Duration::from_secs(1))
            .await
    }
}

#[async_trait]
impl JobQueue for SqsQueue {
    async fn send(
        &self,
        queue: &str,
        bodies: &[String],
        delay: Duration,
    ) -> Result<(), QueueError> {
        let url = self.url(queue).await?;
        let delay = i32::try_from(delay.as_secs().min(900)).unwrap_or(900);
        for chunk in bodies.chunks(BATCH) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, body)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(body)
                        .delay_seconds(delay)
                        .build()
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| QueueError::new(queue, e))?;
            let sent = self
                .client
                .send_message_batch()
                .queue_url(&url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| QueueError::new(queue, aws_sdk_sqs::error::DisplayErrorContext(&e)))?;
            if !sent.failed.is_empty() {
                return Err(QueueError::new(
                    queue,
                    format!(
                        "{} of {} messages not accepted",
                        sent.failed.len(),
                        chunk.len()
                    ),
                ));
            }
        }
        Ok(())
    }

    async fn receive(
        &self,
        queue: &str,
        max: u32,
        visibility: Duration,
    ) -> Result<Vec<Message>, QueueError> {
        let url = self.url(queue).await?;
        let received = self
            .client
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(i32::try_from(max.clamp(1, 10)).unwrap_or(10))
            .visibility_timeout(i32::try_from(visibility.as_secs()).unwrap_or(30))
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(|e| QueueError::new(queue, aws_sdk_sqs::error::DisplayErrorContext(&e)))?;
        Ok(received
            .messages
            .unwrap_or_default()
            .into_iter()
            .map(|m| Message {
                receive_count: m
                    .attributes
                    .as_ref()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(1),
                id: m.message_id.unwrap_or_default(),
                receipt: m.receipt_handle.unwrap_or_default(),
                body: m.body.unwrap_or_default(),
            })
            .collect())
    }

    async fn delete(&self, queue: &str, receipts: &[String]) -> Result<(), QueueError> {
        let url = self.url(queue).await?;
        for chunk in receipts.chunks(BATCH) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, receipt)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(receipt)
                        .build()
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| QueueError::new(queue, e))?;
            self.client
                .delete_message_batch()
                .queue_url(&url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| QueueError::new(queue, aws_sdk_sqs::error::DisplayErrorContext(&e)))?;
        }
        Ok(())
    }

    async fn depth(&self, queue: &str) -> Result<QueueDepth, QueueError> {
        let main = self.counts(queue).await?;
        let dlq = self.counts(&format!("{queue}-dlq")).await?;
        let of = |counts: &HashMap<QueueAttributeName, u64>, name: QueueAttributeName| {
            counts.get(&name).copied().unwrap_or(0)
        };
        Ok(QueueDepth {
            visible: of(&main, QueueAttributeName::ApproximateNumberOfMessages),
            in_flight: of(
                &main,
                QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
            ),
            delayed: of(
                &main,
                QueueAttributeName::ApproximateNumberOfMessagesDelayed,
            ),
            // A dead letter being looked at (received with a short visibility) is still one.
            dead_letters: of(&dlq, QueueAttributeName::ApproximateNumberOfMessages)
                + of(
                    &dlq,
                    QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
                ),
            // The age of the oldest message is a CloudWatch metric, not a queue attribute.
            oldest_visible_age: None,
        })
    }

    async fn peek_dead_letters(
        &self,
        queue: &str,
        max: usize,
    ) -> Result<Vec<DeadLetter>, QueueError> {
        self.peek(queue, max).await
    }

    async fn redrive(&self, queue: &str, which: Selection<'_>) -> Result<Redriven, QueueError> {
        self.redrive_dead_letters(queue, which).await
    }

    async fn purge_dead_letters(
        &self,
        queue: &str,
        before: DateTime<Utc>,
        purge: Purge<'_>,
    ) -> Result<Purged, QueueError> {
        self.purge(queue, before, purge).await
    }
}
