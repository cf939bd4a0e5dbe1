//! Delivery faults on the PostgreSQL queue: a handler that keeps failing, a worker that dies
//! mid-batch, and duplicate deliveries. (A relay failing after commit needs a relay: see the
//! SQS tests in `aws.rs`; with the PostgreSQL queue the job is written in the same transaction.)

use crate::support::*;
use shared::jobs::{Message, queues};
use std::time::Duration;

async fn queued(app: &TestApp, queue: &str) -> i64 {
    app.db
        .owner()
        .await
        .query_one(
            "SELECT count(*) FROM job_queue WHERE queue = $1 AND dead_lettered_at IS NULL",
            &[&queue],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn a_handler_that_keeps_failing_dead_letters_and_writes_nothing() {
    // The sandbox is unreachable, so every attempt to create the order fails before it starts.
    let app = TestApp::spawn_with(&[
        ("SANDBOX_BASE_URL", "http://127.0.0.1:9"),
        ("QUEUE_MAX_RECEIVES", "3"),
        ("QUEUE_VISIBILITY_TIMEOUT_SECONDS", "1"),
    ])
    .await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Unlucky Shop").await;
    let (_, body) = app
        .pay(&m, &payment("order-unlucky", 10_000, true), None)
        .await;
    let id = body["data"]["id"].as_str().unwrap().to_string();
    for _ in 0..4 {
        functions::worker::poll_once(&app.app).await;
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    functions::worker::poll_once(&app.app).await;
    let queue = shared::jobs::postgres_queue::PostgresQueue::new(app.app.db.clone(), 3);
    let dead = queue
        .dead_letters(queues::TRANSACTION_PROCESSOR)
        .await
        .unwrap();
    assert_eq!(
        dead.len(),
        1,
        "the message is dead-lettered after three receives"
    );
    assert_eq!(dead[0].receive_count, 3);
    assert_eq!(queued(&app, queues::TRANSACTION_PROCESSOR).await, 0);
    let txn = app.transaction(&m, &id).await;
    assert_eq!(txn["status"], "created", "nothing half-written");
    assert!(txn["attempts"][0]["gateway_reference"].is_null());
}

#[tokio::test]
async fn messages_of_a_worker_that_died_mid_batch_come_back_after_the_visibility_timeout() {
    let app = TestApp::spawn_with(&[("QUEUE_VISIBILITY_TIMEOUT_SECONDS", "1")]).await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Crashy Shop").await;
    for i in 0..5 {
        app.pay(
            &m,
            &payment(&format!("order-crash-{i}"), 10_000, true),
            None,
        )
        .await;
    }
    // A worker takes the batch, finishes two messages, and dies before the rest.
    let batch = app
        .app
        .queue
        .receive(queues::TRANSACTION_PROCESSOR, 10, Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(batch.len(), 5);
    let finished: Vec<Message> = batch[..2].to_vec();
    let failed =
        functions::handlers::jobs::transaction_processor(app.app.clone(), finished.clone()).await;
    assert!(failed.is_empty());
    app.app
        .queue
        .delete(
            queues::TRANSACTION_PROCESSOR,
            &finished
                .iter()
                .map(|m| m.receipt.clone())
                .collect::<Vec<_>>(),
        )
        .await
        .unwrap();
    // Until the timeout passes, nobody sees the other three.
    assert!(
        app.app
            .queue
            .receive(queues::TRANSACTION_PROCESSOR, 10, Duration::from_secs(1))
            .await
            .unwrap()
            .is_empty()
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    app.drain().await;
    let (_, page) = app
        .get_with_key(
            "/api/v1/transactions?status=succeeded",
            &m.client_key,
            &m.client_secret,
        )
        .await;
    assert_eq!(page["data"]["items"].as_array().unwrap().len(), 5, "{page}");
    let orders: i64 = app
        .db
        .owner()
        .await
        .query_one("SELECT count(*) FROM sandbox_orders", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        orders, 5,
        "one gateway order per payment, whatever the redeliveries"
    );
}

#[tokio::test]
async fn the_same_message_delivered_three_times_is_applied_once() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Twice Shop").await;
    app.pay(&m, &payment("order-thrice", 10_000, true), None)
        .await;
    // Create the order (the sandbox pays and its webhook is stored and queued once).
    let batch = app
        .app
        .queue
        .receive(queues::TRANSACTION_PROCESSOR, 10, Duration::from_secs(30))
        .await
        .unwrap();
    assert!(
        functions::handlers::jobs::transaction_processor(app.app.clone(), batch)
            .await
            .is_empty()
    );
    let owner = app.db.owner().await;
    let body: String = owner
        .query_one(
            "SELECT body FROM job_queue WHERE queue = $1",
            &[&queues::WEBHOOK_PROCESSOR],
        )
        .await
        .unwrap()
        .get(0);
    // At-least-once delivery: the same job twice more.
    app.app
        .queue
        .send(
            queues::WEBHOOK_PROCESSOR,
            &[body.clone(), body],
            Duration::ZERO,
        )
        .await
        .unwrap();
    app.drain().await;
    let succeeded: i64 = owner
        .query_one(
            "SELECT count(*) FROM outbox WHERE kind = 'event' AND topic = 'transaction.succeeded'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(succeeded, 1, "one transition, one event");
    assert_eq!(queued(&app, queues::WEBHOOK_PROCESSOR).await, 0);
}

#[tokio::test]
async fn a_lambda_worker_reports_only_the_failed_messages_of_an_sqs_batch() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Batch Shop").await;
    let (_, body) = app
        .pay(&m, &payment("order-batch", 10_000, true), None)
        .await;
    let id = body["data"]["id"].as_str().unwrap().to_string();
    let attempt = app.transaction(&m, &id).await["attempts"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // The sample event's message names an attempt that does not exist; add one that does.
    let mut event: serde_json::Value =
        serde_json::from_str(include_str!("../../events/transaction-processor.json")).unwrap();
    let mut good = event["Records"][0].clone();
    good["messageId"] = serde_json::json!("good-message");
    good["body"] = serde_json::json!(serde_json::json!({ "attempt_id": attempt }).to_string());
    event["Records"].as_array_mut().unwrap().push(good);
    let event: aws_lambda_events::sqs::SqsEvent = serde_json::from_value(event).unwrap();
    let functions::registry::Trigger::Worker { handler, .. } =
        functions::registry::find("transaction-processor")
            .unwrap()
            .trigger
    else {
        panic!("transaction-processor is a worker");
    };
    let response = functions::lambda::handle_sqs_batch(handler, app.app.clone(), event).await;
    let wire = serde_json::to_value(&response).unwrap();
    assert_eq!(
        wire,
        serde_json::json!({ "batchItemFailures": [{ "itemIdentifier": "00000001-0000-4000-8000-000000000000" }] })
    );
    // The good message did its work: the order exists and the sandbox paid it.
    app.drain().await;
    assert_eq!(app.transaction(&m, &id).await["status"], "succeeded");
}
