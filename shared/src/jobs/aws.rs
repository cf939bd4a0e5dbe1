//! The SDK side of the `aws` backend: the SDK's configuration over a rustls client on ring (the
//! one TLS crypto library of the workspace), and the queue and bus a process asks for. Each
//! builder below is its own function, so a Lambda links only the SDK clients its registry entry
//! names, and one that names none does not link the SDK at all.

use super::bus::{DomainEvent, EventBus};
use super::consumers::ConsumerSwitch;
use super::eventbridge::EventBridgeBus;
use super::lambda::LambdaConsumers;
use super::sqs::SqsQueue;
use super::{JobQueue, Message, QueueError};
use async_trait::async_trait;
use aws_smithy_http_client::tls;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// The SDK's configuration loader: default credentials, region and endpoint (`AWS_ENDPOINT_URL`
/// for moto), over rustls with ring rather than the SDK's default aws-lc.
pub fn loader() -> aws_config::ConfigLoader {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(http)
}

/// The job queue and event bus of the `aws` backend.
pub struct Ports {
    /// Where jobs go.
    pub queue: Arc<dyn JobQueue>,
    /// Where domain events go.
    pub bus: Arc<dyn EventBus>,
}

impl Ports {
    /// Neither SQS nor EventBridge: the process declares no queue and no events.
    pub fn undeclared() -> Ports {
        Ports {
            queue: Arc::new(Undeclared),
            bus: Arc::new(Undeclared),
        }
    }
}

/// What a port builder answers.
pub type PortsFuture = Pin<Box<dyn Future<Output = Ports> + Send>>;

/// The SQS queues named `<queue_prefix><queue>`.
fn sqs_queue(sdk: &aws_config::SdkConfig, queue_prefix: &str) -> Arc<dyn JobQueue> {
    Arc::new(SqsQueue::new(aws_sdk_sqs::Client::new(sdk), queue_prefix))
}

/// The EventBridge bus `bus_name`.
fn eventbridge_bus(sdk: &aws_config::SdkConfig, bus_name: &str) -> Arc<dyn EventBus> {
    Arc::new(EventBridgeBus::new(
        aws_sdk_eventbridge::Client::new(sdk),
        bus_name,
    ))
}

/// SQS queues named `<queue_prefix><queue>` and the EventBridge bus `bus_name`.
pub fn sqs_and_eventbridge(queue_prefix: String, bus_name: String) -> PortsFuture {
    Box::pin(async move {
        let sdk = loader().load().await;
        Ports {
            queue: sqs_queue(&sdk, &queue_prefix),
            bus: eventbridge_bus(&sdk, &bus_name),
        }
    })
}

/// SQS only: the process publishes no events.
pub fn sqs(queue_prefix: String, _bus_name: String) -> PortsFuture {
    Box::pin(async move {
        let sdk = loader().load().await;
        Ports {
            queue: sqs_queue(&sdk, &queue_prefix),
            bus: Arc::new(Undeclared),
        }
    })
}

/// EventBridge only: the process sends no jobs.
pub fn eventbridge(_queue_prefix: String, bus_name: String) -> PortsFuture {
    Box::pin(async move {
        let sdk = loader().load().await;
        Ports {
            queue: Arc::new(Undeclared),
            bus: eventbridge_bus(&sdk, &bus_name),
        }
    })
}

/// What a consumer-switch builder answers.
pub type ConsumersFuture = Pin<Box<dyn Future<Output = Arc<dyn ConsumerSwitch>> + Send>>;

/// The Lambda event source mappings that feed the queues named `<queue_prefix><queue>` (only a
/// function that administers queues names this builder, so only it links the Lambda SDK).
pub fn lambda_consumers(queue_prefix: String) -> ConsumersFuture {
    Box::pin(async move {
        let sdk = loader().load().await;
        let queues = SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), &queue_prefix);
        Arc::new(LambdaConsumers::new(
            aws_sdk_lambda::Client::new(&sdk),
            queues,
        )) as Arc<dyn ConsumerSwitch>
    })
}

/// The queue or bus of a process whose registry entry does not declare it: its IAM role grants
/// nothing there either, so every call fails (an outbox row is then left to the sweeper).
pub struct Undeclared;

const UNDECLARED: &str = "not declared in this function's registry entry (nor granted to it)";

#[async_trait]
impl JobQueue for Undeclared {
    async fn send(
        &self,
        queue: &str,
        _bodies: &[String],
        _delay: Duration,
    ) -> Result<(), QueueError> {
        Err(QueueError::new(queue, UNDECLARED))
    }

    async fn receive(
        &self,
        queue: &str,
        _max: u32,
        _visibility: Duration,
    ) -> Result<Vec<Message>, QueueError> {
        Err(QueueError::new(queue, UNDECLARED))
    }

    async fn delete(&self, queue: &str, _receipts: &[String]) -> Result<(), QueueError> {
        Err(QueueError::new(queue, UNDECLARED))
    }
}

#[async_trait]
impl EventBus for Undeclared {
    async fn publish(&self, _events: &[DomainEvent]) -> Result<(), QueueError> {
        Err(QueueError::new("event bus", UNDECLARED))
    }
}
