//! Queue administration on both backends (the PostgreSQL queue, and SQS on moto): pause and
//! resume, dead letters retried and purged, the peek with each one's last error, the statistics,
//! and the Lambda event source mapping switch on moto's Lambda API.

use crate::support::*;
use aws_sdk_sqs::config::{Credentials, Region};
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::jobs::admin::{self, QueueSwitch};
use shared::jobs::bus::{EventBus, LocalBus};
use shared::jobs::consumers::ConsumerSwitch;
use shared::jobs::lambda::LambdaConsumers;
use shared::jobs::sqs::SqsQueue;
use shared::jobs::{JobQueue, queues};
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Backend {
    Postgres,
    Sqs,
}

async fn moto() -> aws_config::SdkConfig {
    let endpoint = std::env::var("LSP_TEST_MOTO")
        .expect("LSP_TEST_MOTO must point at a moto server: run scripts/test, which starts one");
    shared::jobs::aws::loader()
        .endpoint_url(endpoint)
        .region(Region::new("ap-south-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
        .load()
        .await
}

/// The platform over one backend; on SQS, every worker queue with a dead-letter queue after two
/// receives (as `QUEUE_MAX_RECEIVES=2` does locally).
struct Platform {
    app: TestApp,
    backend: Backend,
    sqs: Option<(aws_sdk_sqs::Client, String)>,
}

const EXTRA: &[(&str, &str)] = &[
    ("QUEUE_MAX_RECEIVES", "2"),
    ("QUEUE_VISIBILITY_TIMEOUT_SECONDS", "1"),
];

async fn platform(backend: Backend) -> Platform {
    match backend {
        Backend::Postgres => Platform {
            app: TestApp::spawn_with(EXTRA).await,
            backend,
            sqs: None,
        },
        Backend::Sqs => {
            let sqs = aws_sdk_sqs::Client::new(&moto().await);
            let prefix = format!("lspq-{}-", &uuid::Uuid::new_v4().simple().to_string()[..12]);
            let queue = Arc::new(SqsQueue::new(sqs.clone(), &prefix));
            queue.ensure_queues(queues::ALL, 2).await.unwrap();
            let queue: Arc<dyn JobQueue> = queue;
            let bus: Arc<dyn EventBus> = Arc::new(LocalBus::new(queue.clone()));
            Platform {
                app: TestApp::spawn_with_ports(EXTRA, Some((queue, bus))).await,
                backend,
                sqs: Some((sqs, prefix)),
            }
        }
    }
}

impl Platform {
    /// Puts a message straight into `queue`'s dead letters, first sent now.
    async fn dead_letter(&self, queue: &str, body: &str) {
        match &self.sqs {
            None => {
                self.app
                    .app
                    .queue
                    .send(queue, &[body.to_string()], Duration::ZERO)
                    .await
                    .unwrap();
                self.app
                    .db
                    .owner()
                    .await
                    .execute(
                        "UPDATE job_queue SET dead_lettered_at = now(), receive_count = 2 WHERE queue = $1 AND body = $2",
                        &[&queue, &body],
                    )
                    .await
                    .unwrap();
            }
            Some((sqs, prefix)) => {
                let url = sqs
                    .get_queue_url()
                    .queue_name(format!("{prefix}{queue}-dlq"))
                    .send()
                    .await
                    .unwrap()
                    .queue_url
                    .unwrap();
                sqs.send_message()
                    .queue_url(url)
                    .message_body(body)
                    .send()
                    .await
                    .unwrap();
            }
        }
    }

    async fn depth(&self, queue: &str) -> shared::jobs::QueueDepth {
        self.app.app.queue.depth(queue).await.unwrap()
    }
}

/// Messages `worker` processed, all minutes together.
async fn successes(owner: &tokio_postgres::Client, worker: &str) -> i64 {
    owner
        .query_one(
            "SELECT coalesce(sum(processed), 0)::int8 FROM worker_activity WHERE worker = $1",
            &[&worker],
        )
        .await
        .unwrap()
        .get(0)
}

async fn post(app: &TestApp, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
    app.post_json(path, Some(token), body).await
}

/// The queue's entry in `GET /api/v1/admin/queues/stats`.
async fn stats_of(app: &TestApp, token: &str, queue: &str) -> Value {
    let (status, body) = app.get("/api/v1/admin/queues/stats", Some(token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["queue"] == queue)
        .cloned()
        .unwrap()
}

async fn pause_stops_consumption_and_resume_drains(backend: Backend) {
    let p = platform(backend).await;
    let app = &p.app;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Paused Shop").await;
    let queue = queues::TRANSACTION_PROCESSOR;

    let (status, body) = post(
        app,
        "/api/v1/admin/queues/pause",
        &admin,
        json!({ "queue": queue, "reason": "gateway maintenance" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["paused"], true, "{body}");
    assert_eq!(body["data"]["reason"], "gateway maintenance");

    let mut ids = Vec::new();
    for n in 0..3 {
        let (status, body) = app
            .pay(
                &m,
                &payment(&format!("order-paused-{n}"), 10_000, true),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        ids.push(body["data"]["id"].as_str().unwrap().to_string());
    }
    // The runner polls, and takes nothing from the paused queue: its jobs accumulate.
    for _ in 0..3 {
        functions::worker::poll_once(&app.app).await;
    }
    for id in &ids {
        assert_eq!(app.transaction(&m, id).await["status"], "created");
    }
    assert_eq!(p.depth(queue).await.visible, 3);
    let stats = stats_of(app, &admin, queue).await;
    assert_eq!(stats["paused"], true, "{stats}");
    assert_eq!(stats["visible"], 3, "{stats}");
    assert_eq!(stats["worker"], "transaction-processor");
    match backend {
        Backend::Postgres => assert!(stats["oldest_message_age_seconds"].is_u64(), "{stats}"),
        Backend::Sqs => assert!(stats["oldest_message_age_seconds"].is_null(), "{stats}"),
    }
    let (_, list) = app.get("/api/v1/admin/queues", Some(&admin)).await;
    let listed = list["data"].as_array().unwrap();
    assert_eq!(listed.len(), queues::ALL.len());
    let entry = listed.iter().find(|q| q["queue"] == queue).unwrap();
    assert_eq!(entry["paused"], true);
    assert_eq!(entry["dead_letter_queue"], "transaction-processor-dlq");
    let wallet = listed
        .iter()
        .find(|q| q["queue"] == queues::WALLET_BALANCE)
        .unwrap();
    assert_eq!(wallet["worker"], "wallet-balance-monitor");
    assert_eq!(wallet["paused"], false);

    let (status, body) = post(
        app,
        "/api/v1/admin/queues/resume",
        &admin,
        json!({ "queue": queue }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["paused"], false);
    app.drain().await;
    for id in &ids {
        assert_eq!(app.transaction(&m, id).await["status"], "succeeded");
    }
    // The worker's throughput was recorded as it drained.
    let processed: i64 = app
        .db
        .owner()
        .await
        .query_one(
            "SELECT coalesce(sum(processed), 0)::int8 FROM worker_activity WHERE worker = 'transaction-processor'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(processed >= 3, "{processed}");
    // Both changes are audited.
    let audited: i64 = app
        .db
        .owner()
        .await
        .query_one(
            "SELECT count(*) FROM audit_log WHERE action IN ('queue.paused', 'queue.resumed') AND target_id = $1",
            &[&queue],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(audited, 2);
}

#[tokio::test]
async fn pause_stops_consumption_and_resume_drains_on_postgres() {
    pause_stops_consumption_and_resume_drains(Backend::Postgres).await;
}

#[tokio::test]
async fn pause_stops_consumption_and_resume_drains_on_sqs() {
    pause_stops_consumption_and_resume_drains(Backend::Sqs).await;
}

/// A webhook-processor job for a gateway event that is not stored yet fails on every receive
/// and is dead-lettered; the peek shows why; once the event is stored, a retry brings the job
/// back and it is applied exactly once.
async fn a_dead_letter_is_peeked_retried_and_processed_once(backend: Backend) {
    let p = platform(backend).await;
    let app = &p.app;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Redrive Shop").await;
    // A real gateway event to copy later: a paid payment's.
    let (_, body) = app
        .pay(&m, &payment("order-redrive", 10_000, true), None)
        .await;
    let paid = body["data"]["id"].as_str().unwrap().to_string();
    app.drain().await;
    assert_eq!(app.transaction(&m, &paid).await["status"], "succeeded");
    let queue = queues::WEBHOOK_PROCESSOR;

    let missing = uuid::Uuid::new_v4();
    app.app
        .queue
        .send(
            queue,
            &[json!({ "gateway_event_id": missing }).to_string()],
            Duration::ZERO,
        )
        .await
        .unwrap();
    // Two receives fail; the third finds it dead-lettered.
    for _ in 0..4 {
        functions::worker::poll_once(&app.app).await;
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    let depth = p.depth(queue).await;
    assert_eq!(
        (depth.visible, depth.in_flight, depth.dead_letters),
        (0, 0, 1),
        "{depth:?}"
    );

    let path = format!("/api/v1/admin/queues/{queue}/dead-letters");
    let (status, body) = app.get(&path, Some(&admin)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let letters = body["data"].as_array().unwrap();
    assert_eq!(letters.len(), 1, "{body}");
    let letter = &letters[0];
    assert!(
        letter["body"]
            .as_str()
            .unwrap()
            .contains(&missing.to_string())
    );
    assert!(letter["receive_count"].as_u64().unwrap() >= 2, "{letter}");
    assert!(letter["sent_at"].is_string(), "{letter}");
    // Found by the dead letter's id: SQS kept the source message's id when it dead-lettered.
    let error = letter["last_error"]["error"].as_str().unwrap_or_default();
    assert!(error.contains("gateway event not found"), "{letter}");
    assert_eq!(letter["last_error"]["receive_count"], 2, "{letter}");
    let id = letter["id"].as_str().unwrap().to_string();
    // The peek consumed nothing.
    assert_eq!(p.depth(queue).await.dead_letters, 1);
    let failed: i64 = app
        .db
        .owner()
        .await
        .query_one(
            "SELECT coalesce(sum(failed), 0)::int8 FROM worker_activity WHERE worker = 'webhook-processor'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(failed, 2);

    // The fix: the event is stored (a copy of the paid payment's, not yet processed).
    let owner = app.db.owner().await;
    owner
        .execute(
            "INSERT INTO gateway_events (id, provider, event_id, gateway_account_id, event_type, payload)
             SELECT $1, provider, event_id || '-copy', gateway_account_id, event_type, payload
             FROM gateway_events ORDER BY received_at LIMIT 1",
            &[&missing],
        )
        .await
        .unwrap();
    let before = successes(&owner, "webhook-processor").await;

    let (status, body) = post(
        app,
        "/api/v1/admin/queues/retry",
        &admin,
        json!({ "queue": queue, "message_ids": [id] }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["moved"], 1, "{body}");
    assert_eq!(body["data"]["not_found"], json!([]), "{body}");
    let method = match backend {
        Backend::Postgres => "database",
        Backend::Sqs => "resend",
    };
    assert_eq!(body["data"]["method"], method, "{body}");
    app.drain().await;
    let row = owner
        .query_one(
            "SELECT processed_at IS NOT NULL, outcome FROM gateway_events WHERE id = $1",
            &[&missing],
        )
        .await
        .unwrap();
    assert!(row.get::<_, bool>(0), "the event was applied");
    assert!(row.get::<_, Option<String>>(1).is_some());
    assert_eq!(
        successes(&owner, "webhook-processor").await - before,
        1,
        "processed exactly once"
    );
    let depth = p.depth(queue).await;
    assert_eq!(
        (depth.visible, depth.in_flight, depth.dead_letters),
        (0, 0, 0),
        "{depth:?}"
    );
    // Its recorded error went with it.
    let left: i64 = owner
        .query_one("SELECT count(*) FROM job_failures", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
    let audited: i64 = owner
        .query_one(
            "SELECT count(*) FROM audit_log WHERE action = 'queue.dead_letters_retried'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(audited, 1);

    // Retrying everything with nothing dead finds nothing; a stale id is reported.
    let (status, body) = post(
        app,
        "/api/v1/admin/queues/retry",
        &admin,
        json!({ "queue": queue, "message_ids": [id] }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["moved"], 0);
    assert_eq!(body["data"]["not_found"], json!([id]));
}

#[tokio::test]
async fn a_dead_letter_is_peeked_retried_and_processed_once_on_postgres() {
    a_dead_letter_is_peeked_retried_and_processed_once(Backend::Postgres).await;
}

#[tokio::test]
async fn a_dead_letter_is_peeked_retried_and_processed_once_on_sqs() {
    a_dead_letter_is_peeked_retried_and_processed_once(Backend::Sqs).await;
}

/// Retry of all: on SQS moto has no message move task, so the fallback sends each back.
async fn retry_all_brings_every_dead_letter_back(backend: Backend) {
    let p = platform(backend).await;
    let app = &p.app;
    let admin = app.admin_token().await;
    let queue = queues::SLACK_SENDER;
    for n in 0..3 {
        p.dead_letter(queue, &format!("{{\"id\":\"retry-all-{n}\"}}"))
            .await;
    }
    assert_eq!(p.depth(queue).await.dead_letters, 3);
    let (status, body) = post(
        app,
        "/api/v1/admin/queues/retry",
        &admin,
        json!({ "queue": queue }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["moved"], 3, "{body}");
    let method = match backend {
        Backend::Postgres => "database",
        Backend::Sqs => "resend",
    };
    assert_eq!(body["data"]["method"], method, "{body}");
    let depth = p.depth(queue).await;
    assert_eq!((depth.visible, depth.dead_letters), (3, 0), "{depth:?}");
}

#[tokio::test]
async fn retry_all_brings_every_dead_letter_back_on_postgres() {
    retry_all_brings_every_dead_letter_back(Backend::Postgres).await;
}

#[tokio::test]
async fn retry_all_falls_back_to_resending_on_sqs_without_move_tasks() {
    retry_all_brings_every_dead_letter_back(Backend::Sqs).await;
}

async fn clean_removes_exactly_what_the_dry_run_counted(backend: Backend) {
    let p = platform(backend).await;
    let app = &p.app;
    let admin = app.admin_token().await;
    let queue = queues::WHATSAPP_SENDER;
    p.dead_letter(queue, "{\"id\":\"old-1\"}").await;
    p.dead_letter(queue, "{\"id\":\"old-2\"}").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    p.dead_letter(queue, "{\"id\":\"young\"}").await;

    let (status, body) = post(
        app,
        "/api/v1/admin/queues/clean",
        &admin,
        json!({ "queue": queue, "older_than_seconds": 1, "dry_run": true }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["count"], 2, "{body}");
    assert_eq!(body["data"]["dry_run"], true);
    let before = body["data"]["before"].as_str().unwrap().to_string();
    let counted = body["data"]["fingerprint"].as_str().unwrap().to_string();
    assert_eq!(body["data"]["complete"], true, "{body}");
    assert_eq!(
        p.depth(queue).await.dead_letters,
        3,
        "a dry run removes nothing"
    );
    let confirm = |fingerprint: &str| json!({ "queue": queue, "before": before, "fingerprint": fingerprint, "dry_run": false });

    // The counted set changes before the confirmation (old-1 is sent back to its queue): the
    // purge removes nothing and says so.
    let (_, peeked) = app
        .get(
            &format!("/api/v1/admin/queues/{queue}/dead-letters"),
            Some(&admin),
        )
        .await;
    let old_1 = peeked["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["body"] == "{\"id\":\"old-1\"}")
        .unwrap()["id"]
        .clone();
    let (status, body) = post(
        app,
        "/api/v1/admin/queues/retry",
        &admin,
        json!({ "queue": queue, "message_ids": [old_1] }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = post(app, "/api/v1/admin/queues/clean", &admin, confirm(&counted)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "CONFLICT", "{body}");
    assert_eq!(
        p.depth(queue).await.dead_letters,
        2,
        "a refused purge removes nothing"
    );

    // Counted again with the same cutoff: one old dead letter, a new fingerprint.
    let (status, body) = post(
        app,
        "/api/v1/admin/queues/clean",
        &admin,
        json!({ "queue": queue, "before": before, "dry_run": true }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["count"], 1, "{body}");
    let recounted = body["data"]["fingerprint"].as_str().unwrap().to_string();
    assert_ne!(recounted, counted);

    // Time passes: the young one is now older than a second too, but not older than `before`.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (status, body) = post(
        app,
        "/api/v1/admin/queues/clean",
        &admin,
        confirm(&recounted),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["count"], 1, "{body}");
    assert_eq!(body["data"]["before"], before.as_str());
    let (_, body) = app
        .get(
            &format!("/api/v1/admin/queues/{queue}/dead-letters"),
            Some(&admin),
        )
        .await;
    let left: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["body"].as_str().unwrap())
        .collect();
    assert_eq!(left, vec!["{\"id\":\"young\"}"], "{body}");
    let audited: i64 = app
        .db
        .owner()
        .await
        .query_one(
            "SELECT count(*) FROM audit_log WHERE action = 'queue.dead_letters_purged'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(audited, 1, "the purge is audited, the dry run is not");
    assert_eq!(p.backend, backend);
}

#[tokio::test]
async fn clean_removes_exactly_what_the_dry_run_counted_on_postgres() {
    clean_removes_exactly_what_the_dry_run_counted(Backend::Postgres).await;
}

#[tokio::test]
async fn clean_removes_exactly_what_the_dry_run_counted_on_sqs() {
    clean_removes_exactly_what_the_dry_run_counted(Backend::Sqs).await;
}

#[tokio::test]
async fn the_routes_refuse_bad_input_and_merchants() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Nosy Shop").await;
    let merchant = m.token(&app).await;

    for path in ["/api/v1/admin/queues/pause", "/api/v1/admin/queues/resume"] {
        let (status, body) = post(&app, path, &admin, json!({ "queue": "nope" })).await;
        let details = expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        assert!(
            details.to_string().contains("unknown queue 'nope'"),
            "{body}"
        );
        let (status, body) = post(&app, path, &admin, json!({})).await;
        expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        let (status, body) = post(
            &app,
            path,
            &admin,
            json!({ "queue": "slack-sender", "reason": "x".repeat(501) }),
        )
        .await;
        expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    let retry = "/api/v1/admin/queues/retry";
    for body in [
        json!({ "queue": "nope" }),
        json!({ "queue": "slack-sender", "message_ids": [] }),
        json!({ "queue": "slack-sender", "message_ids": [""] }),
        json!({ "queue": "slack-sender", "message_ids": ["x".repeat(201)] }),
        json!({ "queue": "slack-sender", "message_ids": vec!["1"; 101] }),
        json!({ "queue": "slack-sender", "message_ids": "1" }),
    ] {
        let (status, answer) = post(&app, retry, &admin, body.clone()).await;
        expect_error(status, &answer, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    let clean = "/api/v1/admin/queues/clean";
    for body in [
        json!({ "queue": "nope", "older_than_seconds": 60, "dry_run": true }),
        json!({ "queue": "slack-sender", "older_than_seconds": -1, "dry_run": true }),
        json!({ "queue": "slack-sender", "dry_run": true }),
        json!({ "queue": "slack-sender", "older_than_seconds": 60, "before": "2026-01-01T00:00:00Z", "dry_run": true }),
        json!({ "queue": "slack-sender", "before": "2999-01-01T00:00:00Z", "dry_run": true }),
        json!({ "queue": "slack-sender", "before": "yesterday", "dry_run": true }),
        json!({ "queue": "slack-sender", "older_than_seconds": 60 }),
        // A purge is confirmed with the dry run's cutoff and fingerprint, never with an age.
        json!({ "queue": "slack-sender", "older_than_seconds": 60, "dry_run": false }),
        json!({ "queue": "slack-sender", "before": "2026-01-01T00:00:00Z", "dry_run": false }),
        json!({ "queue": "slack-sender", "fingerprint": "00", "dry_run": false }),
        json!({ "queue": "slack-sender", "older_than_seconds": 60, "fingerprint": "00", "dry_run": true }),
    ] {
        let (status, answer) = post(&app, clean, &admin, body.clone()).await;
        let details = expect_error(status, &answer, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        if body["older_than_seconds"] == -1 {
            assert!(details.to_string().contains("negative"), "{answer}");
        }
    }
    let (status, body) = app
        .get("/api/v1/admin/queues/nope/dead-letters", Some(&admin))
        .await;
    expect_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    for limit in ["0", "101", "ten"] {
        let (status, body) = app
            .get(
                &format!("/api/v1/admin/queues/slack-sender/dead-letters?limit={limit}"),
                Some(&admin),
            )
            .await;
        expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    // Nothing was paused by the refused calls.
    let (_, list) = app.get("/api/v1/admin/queues", Some(&admin)).await;
    assert!(
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|q| q["paused"] == false),
        "{list}"
    );

    // Merchants may not run queues.
    for path in [
        "/api/v1/admin/queues",
        "/api/v1/admin/queues/stats",
        "/api/v1/admin/queues/slack-sender/dead-letters",
    ] {
        let (status, body) = app.get(path, Some(&merchant)).await;
        expect_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
    }
    for path in [
        "/api/v1/admin/queues/pause",
        "/api/v1/admin/queues/resume",
        retry,
    ] {
        let (status, body) = post(&app, path, &merchant, json!({ "queue": "slack-sender" })).await;
        expect_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
    }
    let (status, body) = post(
        &app,
        clean,
        &merchant,
        json!({ "queue": "slack-sender", "older_than_seconds": 1, "dry_run": false }),
    )
    .await;
    expect_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
    let audited: i64 = app
        .db
        .owner()
        .await
        .query_one(
            "SELECT count(*) FROM audit_log WHERE action LIKE 'queue.%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(audited, 0);
}

/// Pausing in AWS disables the worker's event source mapping, resuming enables it, found by the
/// queue's ARN; on moto's Lambda API (no docker: the mapping starts disabled, and no message is
/// sent while it is enabled, since moto would invoke the function).
#[tokio::test]
async fn the_lambda_switch_toggles_the_workers_event_source_mapping_on_moto() {
    let sdk = moto().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let lambda = aws_sdk_lambda::Client::new(&sdk);
    let role = lambda_role().await;
    let prefix = format!("lspl-{}-", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let queue = SqsQueue::new(sqs.clone(), &prefix);
    queue
        .ensure_queues(&[queues::WEBHOOK_DELIVERY, queues::SLACK_SENDER], 2)
        .await
        .unwrap();
    let url = sqs
        .get_queue_url()
        .queue_name(format!("{prefix}{}", queues::WEBHOOK_DELIVERY))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    let function = format!("{prefix}webhook-delivery");
    lambda
        .create_function()
        .function_name(&function)
        .runtime(aws_sdk_lambda::types::Runtime::Providedal2023)
        .role(&role)
        .handler("bootstrap")
        .code(
            aws_sdk_lambda::types::FunctionCode::builder()
                .zip_file(aws_sdk_lambda::primitives::Blob::new(empty_zip()))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let mapping = lambda
        .create_event_source_mapping()
        .event_source_arn(&arn)
        .function_name(&function)
        .enabled(false)
        .send()
        .await
        .unwrap()
        .uuid
        .unwrap();
    let state = |lambda: aws_sdk_lambda::Client, mapping: String| async move {
        lambda
            .get_event_source_mapping()
            .uuid(mapping)
            .send()
            .await
            .unwrap()
            .state
            .unwrap()
    };

    let switch = LambdaConsumers::new(lambda.clone(), SqsQueue::new(sqs.clone(), &prefix));
    assert_eq!(switch.set(queues::WEBHOOK_DELIVERY, true).await.unwrap(), 1);
    assert_eq!(state(lambda.clone(), mapping.clone()).await, "Enabled");
    assert_eq!(
        switch.set(queues::WEBHOOK_DELIVERY, false).await.unwrap(),
        1
    );
    assert_eq!(state(lambda.clone(), mapping.clone()).await, "Disabled");
    // A queue no mapping reads cannot be paused: said, not ignored.
    let error = switch.set(queues::SLACK_SENDER, false).await.unwrap_err();
    assert!(
        error.to_string().contains("no event source mapping"),
        "{error}"
    );

    // Pausing through the domain operation the route calls, with this adapter as the switch.
    let test = TestApp::spawn().await;
    let mut app = shared::App::with_ports(
        test.app.config.clone(),
        test.app.db.clone(),
        test.app.queue.clone(),
        test.app.bus.clone(),
    )
    .unwrap();
    app.consumers = Arc::new(switch);
    let operator = shared::audit::AuditContext::system();
    let request = |queue: &str| QueueSwitch {
        queue: queue.to_string(),
        reason: None,
    };
    let resumed = admin::switch(&app, &operator, &request(queues::WEBHOOK_DELIVERY), false)
        .await
        .unwrap();
    assert!(!resumed.paused);
    assert_eq!(state(lambda.clone(), mapping.clone()).await, "Enabled");
    let paused = admin::switch(&app, &operator, &request(queues::WEBHOOK_DELIVERY), true)
        .await
        .unwrap();
    assert!(paused.paused);
    assert_eq!(state(lambda.clone(), mapping.clone()).await, "Disabled");
    // A switch that fails leaves the control (and the audit log) as they were.
    admin::switch(&app, &operator, &request(queues::SLACK_SENDER), true)
        .await
        .unwrap_err();
    let listed = admin::list(&app).await.unwrap();
    let slack = listed
        .iter()
        .find(|q| q.queue == queues::SLACK_SENDER)
        .unwrap();
    assert!(!slack.paused);
    let audited: i64 = test
        .db
        .owner()
        .await
        .query_one(
            "SELECT count(*) FROM audit_log WHERE action LIKE 'queue.%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(audited, 2);
}

/// A role moto lets a function assume (IAM's query API; the workspace has no IAM SDK, and moto
/// reads the service from the credential scope without checking the signature).
async fn lambda_role() -> String {
    let name = format!(
        "lsp-queues-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    let endpoint = std::env::var("LSP_TEST_MOTO").unwrap();
    let response = reqwest::Client::new()
        .post(endpoint)
        .header(
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0",
        )
        .form(&[
            ("Action", "CreateRole"),
            ("Version", "2010-05-08"),
            ("RoleName", name.as_str()),
            ("AssumeRolePolicyDocument", trust),
        ])
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{:?}",
        response.text().await
    );
    format!("arn:aws:iam::123456789012:role/{name}")
}

/// An empty zip archive (moto stores a function's code and, with its mapping disabled, never
/// runs it).
fn empty_zip() -> Vec<u8> {
    let mut zip = b"PK\x05\x06".to_vec();
    zip.extend([0u8; 18]);
    zip
}

/// Recording is never the batch's problem: with `worker_activity` refused to the application, the
/// jobs are still done and deleted (the failure is a log line).
#[tokio::test]
async fn a_batch_goes_on_when_its_activity_cannot_be_recorded() {
    let app = TestApp::spawn_with(EXTRA).await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Unrecorded Shop").await;
    app.db
        .owner()
        .await
        .batch_execute("REVOKE INSERT, UPDATE ON worker_activity FROM lsp_app")
        .await
        .unwrap();
    let (_, body) = app
        .pay(&m, &payment("order-unrecorded", 10_000, true), None)
        .await;
    let id = body["data"]["id"].as_str().unwrap().to_string();
    app.drain().await;
    assert_eq!(app.transaction(&m, &id).await["status"], "succeeded");
    assert_eq!(app.db.count("worker_activity").await, 0);
    assert_eq!(
        app.app
            .queue
            .depth(queues::TRANSACTION_PROCESSOR)
            .await
            .unwrap()
            .visible,
        0
    );
}
