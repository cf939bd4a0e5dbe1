//! The SQS adapter's dead-letter operations: peek, redrive and purge on `<queue>-dlq`. SQS has no
//! way to read a message without receiving it, so each operation receives the dead letters it
//! needs (hidden for `HOLD`), acts on some and makes the rest visible again at once.

use super::sqs::{BATCH, SqsQueue};
use super::{DeadLetter, JobQueue, Purge, Purged, QueueError, Redriven, Selection};
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, MessageSystemAttributeName, QueueAttributeName,
};
use chrono::{DateTime, Utc};
use std::time::Duration;

/// How long a scan hides the dead letters it received: long enough to act on them, short enough
/// that a crashed operation leaves them visible again soon.
const HOLD: Duration = Duration::from_secs(60);

/// The most dead letters one operation looks at (an operator repeats it for more).
const SCAN_LIMIT: usize = 1000;

/// One dead letter received for an operation.
struct Held {
    letter: DeadLetter,
    receipt: String,
}

/// The dead-letter queue of `queue`.
fn dlq(queue: &str) -> String {
    format!("{queue}-dlq")
}

/// An SQS timestamp (epoch milliseconds, as text).
fn millis(value: Option<&String>) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(value?.parse().ok()?)
}

impl SqsQueue {
    /// The ARN of the queue named `<prefix><queue>`.
    pub(super) async fn arn(&self, queue: &str) -> Result<String, QueueError> {
        let url = self.url(queue).await?;
        self.client
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| QueueError::new(queue, DisplayErrorContext(&e)))?
            .attributes
            .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
            .ok_or_else(|| QueueError::new(queue, "no queue ARN"))
    }

    /// Receives the dead letters of `queue` (up to `SCAN_LIMIT`), hidden for `HOLD`.
    async fn scan(&self, queue: &str) -> Result<Vec<Held>, QueueError> {
        let name = dlq(queue);
        let url = self.url(&name).await?;
        let mut held: Vec<Held> = Vec::new();
        while held.len() < SCAN_LIMIT {
            // A second of long polling asks every SQS server, so an empty answer means empty.
            let received = self
                .client
                .receive_message()
                .queue_url(&url)
                .max_number_of_messages(10)
                .visibility_timeout(i32::try_from(HOLD.as_secs()).unwrap_or(60))
                .wait_time_seconds(1)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .send()
                .await
                .map_err(|e| QueueError::new(&name, DisplayErrorContext(&e)));
            let received = match received {
                Ok(received) => received.messages.unwrap_or_default(),
                Err(e) => {
                    self.release(queue, &held.iter().collect::<Vec<_>>()).await;
                    return Err(e);
                }
            };
            if received.is_empty() {
                break;
            }
            for m in received {
                let attributes = m.attributes.unwrap_or_default();
                let count = attributes
                    .get(&MessageSystemAttributeName::ApproximateReceiveCount)
                    .and_then(|c| c.parse::<u32>().ok())
                    .unwrap_or(1);
                held.push(Held {
                    letter: DeadLetter {
                        id: m.message_id.unwrap_or_default(),
                        body: m.body.unwrap_or_default(),
                        // This scan's own receive is not one of the worker's.
                        receive_count: count.saturating_sub(1),
                        sent_at: millis(attributes.get(&MessageSystemAttributeName::SentTimestamp))
                            .unwrap_or_default(),
                        first_received_at: millis(
                            attributes
                                .get(&MessageSystemAttributeName::ApproximateFirstReceiveTimestamp),
                        ),
                        dead_lettered_at: None,
                    },
                    receipt: m.receipt_handle.unwrap_or_default(),
                });
            }
        }
        held.sort_by_key(|h| h.letter.sent_at);
        Ok(held)
    }

    /// Makes held dead letters visible again at once; a failure only delays them by `HOLD`.
    async fn release(&self, queue: &str, held: &[&Held]) {
        let name = dlq(queue);
        let Ok(url) = self.url(&name).await else {
            return;
        };
        for chunk in held.chunks(BATCH) {
            let entries = chunk
                .iter()
                .enumerate()
                .filter_map(|(i, h)| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(&h.receipt)
                        .visibility_timeout(0)
                        .build()
                        .ok()
                })
                .collect::<Vec<_>>();
            if let Err(e) = self
                .client
                .change_message_visibility_batch()
                .queue_url(&url)
                .set_entries(Some(entries))
                .send()
                .await
            {
                tracing::warn!(queue = %name, error = %DisplayErrorContext(&e), "dead letters not released; visible again after the hold");
            }
        }
    }

    /// Deletes held dead letters.
    async fn delete_held(&self, queue: &str, held: &[&Held]) -> Result<(), QueueError> {
        let receipts: Vec<String> = held.iter().map(|h| h.receipt.clone()).collect();
        self.delete(&dlq(queue), &receipts).await
    }

    /// Up to `max` dead letters of `queue`, oldest first, released at once.
    pub(super) async fn peek(
        &self,
        queue: &str,
        max: usize,
    ) -> Result<Vec<DeadLetter>, QueueError> {
        let held = self.scan(queue).await?;
        self.release(queue, &held.iter().collect::<Vec<_>>()).await;
        Ok(held.into_iter().take(max).map(|h| h.letter).collect())
    }

    /// Every dead letter back with a message move task, or by receive-and-send where the API is
    /// unavailable (moto, some regions); chosen ones always by receive-and-send.
    pub(super) async fn redrive_dead_letters(
        &self,
        queue: &str,
        which: Selection<'_>,
    ) -> Result<Redriven, QueueError> {
        if let Selection::All = which {
            match self.start_move_task(queue).await {
                Ok(redriven) => return Ok(redriven),
                Err(e) => {
                    tracing::warn!(queue, error = %e, "no message move task; dead letters are sent back one by one")
                }
            }
        }
        self.resend(queue, which).await
    }

    /// Starts a message move task from `<queue>-dlq` to `queue`.
    async fn start_move_task(&self, queue: &str) -> Result<Redriven, QueueError> {
        let waiting = self.depth(queue).await?.dead_letters;
        let source = self.arn(&dlq(queue)).await?;
        let destination = self.arn(queue).await?;
        let task = self
            .client
            .start_message_move_task()
            .source_arn(source)
            .destination_arn(destination)
            .send()
            .await
            .map_err(|e| QueueError::new(queue, DisplayErrorContext(&e)))?;
        Ok(Redriven {
            moved: waiting,
            method: "move_task",
            task_handle: task.task_handle,
            not_found: Vec::new(),
            retired: Vec::new(),
        })
    }

    /// Sends the chosen dead letters' bodies to `queue` and deletes them from the DLQ, ten at a
    /// time (a failure leaves the rest where they were); releases the others.
    async fn resend(&self, queue: &str, which: Selection<'_>) -> Result<Redriven, QueueError> {
        let held = self.scan(queue).await?;
        let chosen = |h: &Held| match which {
            Selection::All => true,
            Selection::Ids(ids) => ids.contains(&h.letter.id),
        };
        let (take, keep): (Vec<&Held>, Vec<&Held>) = held.iter().partition(|h| chosen(h));
        let not_found = match which {
            Selection::All => Vec::new(),
            Selection::Ids(ids) => ids
                .iter()
                .filter(|id| !take.iter().any(|h| &h.letter.id == *id))
                .cloned()
                .collect(),
        };
        let mut retired = Vec::new();
        for (n, chunk) in take.chunks(BATCH).enumerate() {
            let bodies: Vec<String> = chunk.iter().map(|h| h.letter.body.clone()).collect();
            let sent = match self.send(queue, &bodies, Duration::ZERO).await {
                Ok(()) => self.delete_held(queue, chunk).await,
                Err(e) => Err(e),
            };
            if let Err(e) = sent {
                let rest: Vec<&Held> = take[n * BATCH..].iter().chain(&keep).copied().collect();
                self.release(queue, &rest).await;
                return Err(e);
            }
            retired.extend(chunk.iter().map(|h| h.letter.id.clone()));
        }
        self.release(queue, &keep).await;
        Ok(Redriven {
            moved: retired.len() as u64,
            method: "resend",
            task_handle: None,
            not_found,
            retired,
        })
    }

    /// Counts the dead letters first sent before `before` and deletes them when `purge`
    /// confirms that set; releases every other one it received.
    pub(super) async fn purge(
        &self,
        queue: &str,
        before: DateTime<Utc>,
        purge: Purge<'_>,
    ) -> Result<Purged, QueueError> {
        let held = self.scan(queue).await?;
        let complete = held.len() < SCAN_LIMIT;
        let (old, young): (Vec<&Held>, Vec<&Held>) =
            held.iter().partition(|h| h.letter.sent_at < before);
        let ids: Vec<String> = old.iter().map(|h| h.letter.id.clone()).collect();
        let purged = Purged::decide(ids, complete, purge);
        let (deleted, release) = if purged.removed {
            (self.delete_held(queue, &old).await, young)
        } else {
            (Ok(()), held.iter().collect())
        };
        self.release(queue, &release).await;
        deleted?;
        Ok(purged)
    }
}
