//! The consumer-switch port: starts and stops a worker's consumption of its queue. In AWS a
//! worker is fed by its SQS event source mapping (the `lambda` adapter enables and disables it);
//! the local runner reads `queue_controls` itself before each receive, so its switch does nothing.

use super::QueueError;
use async_trait::async_trait;

/// Turns the consumption of a queue by its worker on and off.
#[async_trait]
pub trait ConsumerSwitch: Send + Sync {
    /// Starts (`enabled`) or stops feeding `queue`'s messages to its worker; answers how many
    /// consumers were changed (none where the runner reads the pause itself).
    async fn set(&self, queue: &str, enabled: bool) -> Result<u32, QueueError>;
}

/// The local runner's switch: `functions::worker::poll_once` skips a paused queue.
pub struct LocalRunner;

#[async_trait]
impl ConsumerSwitch for LocalRunner {
    async fn set(&self, _queue: &str, _enabled: bool) -> Result<u32, QueueError> {
        Ok(0)
    }
}

/// The switch of a process whose registry entry does not administer queues: its IAM role
/// grants nothing on event source mappings, so every call fails.
pub struct Undeclared;

#[async_trait]
impl ConsumerSwitch for Undeclared {
    async fn set(&self, queue: &str, _enabled: bool) -> Result<u32, QueueError> {
        Err(QueueError::new(
            queue,
            "switching consumers is not declared in this function's registry entry",
        ))
    }
}
