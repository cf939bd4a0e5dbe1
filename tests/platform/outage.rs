//! A database outage is a retryable answer: with the platform's PostgreSQL stopped, requests
//! answer 503 `SERVICE_UNAVAILABLE` with `Retry-After` within the pool's timeout (never 500), the
//! status route says the database is down, a worker hands its batch back at once, and after the
//! database returns, retries with the same idempotency keys create each payment exactly once.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::Value;
use shared::jobs::{JobQueue, Message, QueueError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A queue that answers (as SQS does while the database is down) and records what is sent.
#[derive(Default)]
struct Recording {
    sent: Mutex<Vec<(String, Vec<String>, Duration)>>,
}

#[async_trait::async_trait]
impl JobQueue for Recording {
    async fn send(
        &self,
        queue: &str,
        bodies: &[String],
        delay: Duration,
    ) -> Result<(), QueueError> {
        self.sent
            .lock()
            .unwrap()
            .push((queue.to_string(), bodies.to_vec(), delay));
        Ok(())
    }

    async fn receive(&self, _: &str, _: u32, _: Duration) -> Result<Vec<Message>, QueueError> {
        Ok(Vec::new())
    }

    async fn delete(&self, _: &str, _: &[String]) -> Result<(), QueueError> {
        Ok(())
    }
}

/// The pool timeout the platform runs with here, and the slack allowed on top of it.
const POOL_TIMEOUT: Duration = Duration::from_secs(2);
const MARGIN: Duration = Duration::from_secs(2);

/// Sends `request`, asserting a 503 `SERVICE_UNAVAILABLE` with `Retry-After` within the pool's
/// timeout; returns the body.
async fn expect_unavailable(what: &str, request: reqwest::RequestBuilder) -> Value {
    let started = Instant::now();
    let response = request.send().await.expect("request");
    let elapsed = started.elapsed();
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{what}: {body}");
    assert_eq!(
        body["error"]["code"], "SERVICE_UNAVAILABLE",
        "{what}: {body}"
    );
    let seconds: u64 = retry_after
        .unwrap_or_else(|| panic!("{what}: no Retry-After"))
        .parse()
        .unwrap();
    assert!((1..=5).contains(&seconds), "{what}: Retry-After {seconds}");
    assert!(
        elapsed < POOL_TIMEOUT + MARGIN,
        "{what} took {elapsed:?}, over the pool's wait time"
    );
    body
}

#[tokio::test]
async fn a_database_outage_answers_503_and_retries_create_each_payment_once() {
    let Some(cluster) = PrivateCluster::start() else {
        eprintln!(
            "SKIPPED: no initdb/pg_ctl under /usr/lib/postgresql; install PostgreSQL's server package to run this test"
        );
        return;
    };
    let db = TestDb::create_on(&cluster).await;
    let timeout = POOL_TIMEOUT.as_secs().to_string();
    let app = TestApp::spawn_over(db, &[("DATABASE_POOL_TIMEOUT_SECONDS", &timeout)], None).await;
    let admin = app.admin_token().await;
    let merchant = app.create_merchant(&admin, "Chai Point").await;
    let (status, body) = app
        .pay(
            &merchant,
            &payment("before-outage", 10_000, false),
            Some("key-before"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let before = body["data"]["id"].as_str().unwrap().to_string();

    cluster.stop_server();

    let orders = ["during-outage-1", "during-outage-2", "during-outage-3"];
    for order in orders {
        let body = expect_unavailable(
            "payment",
            app.http
                .post(app.url("/api/v1/pay"))
                .header("X-Client-Key", &merchant.client_key)
                .header("X-Client-Secret", &merchant.client_secret)
                .header("Idempotency-Key", format!("key-{order}"))
                .json(&payment(order, 25_000, false)),
        )
        .await;
        assert_eq!(body["error"]["details"]["dependency"], "database", "{body}");
    }
    expect_unavailable(
        "read",
        app.http
            .get(app.url(&format!("/api/v1/transactions/{before}")))
            .header("X-Client-Key", &merchant.client_key)
            .header("X-Client-Secret", &merchant.client_secret),
    )
    .await;
    expect_unavailable(
        "login",
        app.http
            .post(app.url("/api/v1/auth/login"))
            .json(&serde_json::json!({
                "email": merchant.user_email, "password": merchant.user_password,
            })),
    )
    .await;
    // Operators see the outage: the status route answers 503 saying the database is unreachable.
    let body = expect_unavailable(
        "system status",
        app.http
            .get(app.url("/api/v1/system/status"))
            .bearer_auth(&admin),
    )
    .await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("database is unreachable"),
        "{body}"
    );
    // Liveness does not depend on the database.
    let (status, _) = app.get("/api/health", None).await;
    assert_eq!(status, StatusCode::OK);
    // A worker hands its whole batch back at once instead of waiting per message.
    let messages: Vec<Message> = (0..10)
        .map(|i| Message {
            id: format!("m{i}"),
            receipt: format!("r{i}"),
            body: format!(
                "{{\"attempt_id\":\"{}\"}}",
                shared::ids::AttemptId::from_uuid(uuid::Uuid::now_v7())
            ),
            receive_count: 1,
        })
        .collect();
    // The PostgreSQL queue is in the stopped database too: every message is reported failed.
    let started = Instant::now();
    let failed =
        functions::handlers::jobs::transaction_processor(app.app.clone(), messages.clone()).await;
    assert_eq!(failed.len(), 10, "every message is handed back");
    assert!(
        started.elapsed() < POOL_TIMEOUT + MARGIN,
        "{:?}",
        started.elapsed()
    );
    // A queue that still answers (SQS) gets the batch again with a short delay, and the
    // originals are done: an outage never walks them to the dead-letter queue.
    let recording = Arc::new(Recording::default());
    let queue: Arc<dyn JobQueue> = recording.clone();
    let config = app.app.config.clone();
    let over_sqs = Arc::new(
        shared::App::with_ports(
            config.clone(),
            shared::db::Db::connect(&config.database).unwrap(),
            queue.clone(),
            Arc::new(shared::jobs::bus::LocalBus::new(queue)),
        )
        .unwrap(),
    );
    let started = Instant::now();
    let failed = functions::handlers::jobs::transaction_processor(over_sqs, messages.clone()).await;
    assert!(failed.is_empty(), "{failed:?}");
    assert!(
        started.elapsed() < POOL_TIMEOUT + MARGIN,
        "{:?}",
        started.elapsed()
    );
    let sent = recording.sent.lock().unwrap().clone();
    let bodies: Vec<String> = messages.iter().map(|m| m.body.clone()).collect();
    assert_eq!(
        sent,
        vec![(
            "transaction-processor".to_string(),
            bodies,
            functions::handlers::jobs::OUTAGE_REDELIVERY
        )]
    );

    cluster.start_server();

    // Retries honour Retry-After until the database answers; none may ever be a 500.
    let mut keys = vec![("before-outage", "key-before".to_string(), 10_000)];
    keys.extend(orders.iter().map(|o| (*o, format!("key-{o}"), 25_000)));
    for (order, key, amount) in &keys {
        for round in 0..2 {
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let (status, body) = app
                    .pay(&merchant, &payment(order, *amount, false), Some(key))
                    .await;
                if status == StatusCode::SERVICE_UNAVAILABLE && Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
                assert_eq!(status, StatusCode::CREATED, "{order} round {round}: {body}");
                break;
            }
        }
    }
    let owner = app.db.owner().await;
    for (order, _, _) in &keys {
        let count: i64 = owner
            .query_one(
                "SELECT count(*) FROM transactions WHERE order_id = $1",
                &[order],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(count, 1, "{order} exists exactly once");
    }
    let (status, body) = app.get("/api/v1/system/status", Some(&admin)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["database"]["reachable"], true, "{body}");
}

#[tokio::test]
async fn a_refused_statement_is_not_an_outage_and_an_unreachable_server_is() {
    let app = TestApp::spawn().await;
    // A statement the server refuses (a constraint violation) stays an internal error.
    let mut client = app.app.db.client().await.unwrap();
    let tx = shared::db::begin(&mut client, shared::db::Scope::System)
        .await
        .unwrap();
    let refused = tx
        .execute_typed(
            "INSERT INTO rate_limit_counters (principal, window_start, hits) VALUES ('x', now(), 0)",
            &[],
        )
        .await
        .unwrap_err();
    let error = shared::AppError::from(refused);
    assert!(!error.is_unavailable(), "{error}");
    assert_eq!(error.code().as_str(), "INTERNAL");
    drop(tx);
    // A server nobody answers for is an outage: 503 material.
    let config = shared::config::Config::from_lookup(shared::config::lookup_from(
        [
            (
                "DATABASE_URL".to_string(),
                format!("postgres://lsp_app@127.0.0.1:{}/nothing", free_port()),
            ),
            ("DATABASE_POOL_TIMEOUT_SECONDS".into(), "1".into()),
            ("JWT_SECRET".into(), JWT_SECRET.into()),
            ("ENCRYPTION_KEYS".into(), ENCRYPTION_KEYS.into()),
        ]
        .into_iter()
        .collect(),
    ))
    .unwrap();
    let db = shared::db::Db::connect(&config.database).unwrap();
    let started = Instant::now();
    let error = shared::AppError::from(db.client().await.err().unwrap());
    assert!(started.elapsed() < Duration::from_secs(1) + MARGIN);
    assert!(error.is_unavailable(), "{error}");
    let response = shared::http::ApiResponse::error_for(&error, "req_outage");
    assert_eq!(response.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers["retry-after"], "2");
}
