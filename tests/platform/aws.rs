//! The same payment path through SQS and EventBridge, on moto's server (`LSP_TEST_MOTO`, started
//! by scripts/test): the adapters, the queues' redrive policies and the bus rules for real.

use crate::support::*;
use aws_sdk_sqs::config::{Credentials, Region};
use reqwest::StatusCode;
use serde_json::Value;
use shared::jobs::bus::EventBus;
use shared::jobs::eventbridge::EventBridgeBus;
use shared::jobs::sqs::SqsQueue;
use shared::jobs::{JobQueue, queues};
use std::sync::Arc;
use std::time::Duration;

fn moto() -> String {
    std::env::var("LSP_TEST_MOTO")
        .expect("LSP_TEST_MOTO must point at a moto server: run scripts/test, which starts one")
}

async fn aws() -> aws_config::SdkConfig {
    shared::jobs::aws::loader()
        .endpoint_url(moto())
        .region(Region::new("ap-south-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
        .load()
        .await
}

struct AwsPlatform {
    app: TestApp,
    sqs: aws_sdk_sqs::Client,
    queue: Arc<SqsQueue>,
    observed: String,
}

/// Queues with redrive policies, a bus whose rule sends `transaction.succeeded` to an observer
/// queue, and the platform using them.
async fn platform(extra: &[(&str, &str)]) -> AwsPlatform {
    platform_with(extra, true).await
}

/// As `platform`, optionally without the worker queues yet (an SQS outage).
async fn platform_with(extra: &[(&str, &str)], create_queues: bool) -> AwsPlatform {
    let config = aws().await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let events = aws_sdk_eventbridge::Client::new(&config);
    let run = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
    let prefix = format!("lsp-{run}-");
    let queue = Arc::new(SqsQueue::new(sqs.clone(), &prefix));
    if create_queues {
        queue
            .ensure_queues(
                &[queues::TRANSACTION_PROCESSOR, queues::WEBHOOK_PROCESSOR],
                3,
            )
            .await
            .unwrap();
    }
    let bus_name = format!("lsp-{run}");
    events
        .create_event_bus()
        .name(&bus_name)
        .send()
        .await
        .unwrap();
    let observed = sqs
        .create_queue()
        .queue_name(format!("{prefix}observed"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&observed)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    events
        .put_rule()
        .name("succeeded-payments")
        .event_bus_name(&bus_name)
        .event_pattern(
            r#"{"source":["lightspeedpay.payments"],"detail-type":["transaction.succeeded"]}"#,
        )
        .send()
        .await
        .unwrap();
    events
        .put_targets()
        .rule("succeeded-payments")
        .event_bus_name(&bus_name)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("observer")
                .arn(arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let bus: Arc<dyn EventBus> = Arc::new(EventBridgeBus::new(events, &bus_name));
    let app =
        TestApp::spawn_with_ports(extra, Some((queue.clone() as Arc<dyn JobQueue>, bus))).await;
    AwsPlatform {
        app,
        sqs,
        queue,
        observed,
    }
}

impl AwsPlatform {
    async fn observed_events(&self) -> Vec<Value> {
        let mut found = Vec::new();
        for _ in 0..3 {
            let received = self
                .sqs
                .receive_message()
                .queue_url(&self.observed)
                .max_number_of_messages(10)
                .send()
                .await
                .unwrap();
            found.extend(
                received
                    .messages
                    .unwrap_or_default()
                    .into_iter()
                    .map(|m| serde_json::from_str::<Value>(&m.body.unwrap()).unwrap()),
            );
            if !found.is_empty() {
                break;
            }
        }
        found
    }
}

#[tokio::test]
async fn a_test_payment_succeeds_end_to_end_through_sqs_and_eventbridge() {
    let aws = platform(&[]).await;
    let app = &aws.app;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Cloud Shop").await;
    let (status, body) = app
        .pay(&m, &payment("order-cloud", 31_400, true), None)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["data"]["id"].as_str().unwrap().to_string();
    // The job went to SQS, not to the PostgreSQL queue.
    assert_eq!(app.db.count("job_queue").await, 0);
    app.drain().await;
    let txn = app.transaction(&m, &id).await;
    assert_eq!(txn["status"], "succeeded", "{txn}");
    let events = aws.observed_events().await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["detail-type"], "transaction.succeeded");
    assert_eq!(events[0]["source"], "lightspeedpay.payments");
    assert_eq!(
        events[0]["detail"]["data"]["transaction"]["id"],
        id.as_str()
    );
}

#[tokio::test]
async fn the_same_sqs_message_delivered_three_times_is_applied_once() {
    let aws = platform(&[]).await;
    let app = &aws.app;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Echo Shop").await;
    let (_, body) = app
        .pay(&m, &payment("order-echo", 10_000, false), None)
        .await;
    let id = body["data"]["id"].as_str().unwrap().to_string();
    app.drain().await;
    // The customer pays; the sandbox's webhook is stored and its job sent to SQS once.
    let pay_page = app
        .http
        .get(body["data"]["checkout_url"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .headers()["location"]
        .to_str()
        .unwrap()
        .to_string();
    app.http
        .post(&pay_page)
        .form(&[("action", "pay")])
        .send()
        .await
        .unwrap();
    let job = aws
        .queue
        .receive(queues::WEBHOOK_PROCESSOR, 10, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(job.len(), 1);
    // At-least-once: the same message comes back twice more (as after lost deletes).
    aws.queue
        .send(
            queues::WEBHOOK_PROCESSOR,
            &[
                job[0].body.clone(),
                job[0].body.clone(),
                job[0].body.clone(),
            ],
            Duration::ZERO,
        )
        .await
        .unwrap();
    aws.queue
        .delete(queues::WEBHOOK_PROCESSOR, &[job[0].receipt.clone()])
        .await
        .unwrap();
    app.drain().await;
    let txn = app.transaction(&m, &id).await;
    assert_eq!(txn["status"], "succeeded");
    assert_eq!(
        app.db.outbox_count("transaction.succeeded").await,
        1,
        "one transition"
    );
    assert_eq!(aws.observed_events().await.len(), 1, "one event on the bus");
}

#[tokio::test]
async fn a_failing_handler_sends_the_message_to_the_dead_letter_queue() {
    let aws = platform(&[("SANDBOX_BASE_URL", "http://127.0.0.1:9")]).await;
    let app = &aws.app;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Redrive Shop").await;
    // The sandbox is unreachable: the order job fails on every receive and is redriven to the DLQ.
    let (_, body) = app
        .pay(&m, &payment("order-redrive", 10_000, true), None)
        .await;
    let id = body["data"]["id"].as_str().unwrap().to_string();
    for _ in 0..4 {
        let batch = aws
            .queue
            .receive(queues::TRANSACTION_PROCESSOR, 10, Duration::from_secs(1))
            .await
            .unwrap();
        if !batch.is_empty() {
            let failed =
                functions::handlers::jobs::transaction_processor(app.app.clone(), batch).await;
            assert_eq!(failed.len(), 1);
        }
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    assert!(
        aws.queue
            .receive(queues::TRANSACTION_PROCESSOR, 10, Duration::from_secs(1))
            .await
            .unwrap()
            .is_empty()
    );
    let dead = aws
        .queue
        .dead_letters(queues::TRANSACTION_PROCESSOR)
        .await
        .unwrap();
    assert_eq!(dead.len(), 1, "the message is in the dead-letter queue");
    assert!(dead[0].body.contains("attempt_id"));
    let txn = app.transaction(&m, &id).await;
    assert_eq!(txn["status"], "created", "nothing half-written");
}

#[tokio::test]
async fn the_sweeper_publishes_what_a_failed_relay_left_behind() {
    // SQS is out: the worker queues do not exist yet, so the relay after commit fails.
    let aws = platform_with(&[("OUTBOX_GRACE_SECONDS", "0")], false).await;
    let app = &aws.app;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Outage Shop").await;
    let (status, body) = app
        .pay(&m, &payment("order-outage", 10_000, true), None)
        .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "the payment is accepted: it is durable in the outbox"
    );
    let id = body["data"]["id"].as_str().unwrap().to_string();
    let owner = app.db.owner().await;
    let stuck: i64 = owner
        .query_one(
            "SELECT count(*) FROM outbox WHERE published_at IS NULL AND last_error IS NOT NULL",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        stuck, 2,
        "the job and the event wait, with the relay's error recorded"
    );

    // SQS is back; the scheduled sweeper publishes what the relay left behind.
    aws.queue
        .ensure_queues(
            &[queues::TRANSACTION_PROCESSOR, queues::WEBHOOK_PROCESSOR],
            3,
        )
        .await
        .unwrap();
    let summary = functions::worker::run_schedule(&app.app, "outbox-sweeper")
        .await
        .unwrap();
    assert_eq!(summary["published"], 2, "{summary}");
    let left: i64 = owner
        .query_one(
            "SELECT count(*) FROM outbox WHERE published_at IS NULL",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
    app.drain().await;
    let txn = app.transaction(&m, &id).await;
    assert_eq!(txn["status"], "succeeded", "{txn}");
}
