//! The operations monitors: queue metrics per minute, worker health with its silent and failing
//! alerts, and the SLA monitor's payment and webhook alerts. Each acts for its run's scheduled
//! time (the tests steer windows with it instead of sleeping), acts once per scheduled time, and
//! does what it documents for a late run.

use crate::support::*;
use chrono::{DateTime, Duration, DurationRound, Utc};
use functions::worker::run_schedule_at;
use reqwest::StatusCode;
use serde_json::Value;
use shared::schedules::runs::RunOutcome;

/// Now, to the second: the scheduled time of an on-time run.
fn now() -> DateTime<Utc> {
    Utc::now().duration_trunc(Duration::seconds(1)).unwrap()
}

/// Runs `job` for `at`, expecting it to run; answers its summary.
async fn ran(app: &TestApp, job: &str, at: DateTime<Utc>) -> Value {
    match run_schedule_at(&app.app, job, at).await.unwrap() {
        RunOutcome::Ran { summary, .. } => summary,
        other => panic!("{job} at {at} did not run: {other:?}"),
    }
}

/// Runs `job` for `at` again, expecting the run key to stop it.
async fn already_ran(app: &TestApp, job: &str, at: DateTime<Utc>) {
    let outcome = run_schedule_at(&app.app, job, at).await.unwrap();
    assert!(
        matches!(outcome, RunOutcome::AlreadyRan { ref status, .. } if status == "succeeded"),
        "{job} at {at}: {outcome:?}"
    );
}

/// One alert as the database holds it.
#[derive(Debug, PartialEq)]
struct Alert {
    status: String,
    count: i32,
    severity: String,
    merchant_id: Option<String>,
    details: Value,
}

/// Every alert of `key`, oldest first.
async fn alerts(app: &TestApp, key: &str) -> Vec<Alert> {
    app.db
        .owner()
        .await
        .query(
            "SELECT status, count, severity, merchant_id::text AS merchant_id, details
               FROM alerts WHERE key = $1 ORDER BY created_at, id",
            &[&key],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| Alert {
            status: r.get("status"),
            count: r.get("count"),
            severity: r.get("severity"),
            merchant_id: r.get("merchant_id"),
            details: r.get("details"),
        })
        .collect()
}

async fn scalar(app: &TestApp, sql: &str) -> i64 {
    app.db
        .owner()
        .await
        .query_one(sql, &[])
        .await
        .unwrap()
        .get(0)
}

/// Records a worker's minute as the workers would: `processed` done (the last at `minute` + 10 s)
/// and `failed` failed.
async fn activity(app: &TestApp, worker: &str, minute: DateTime<Utc>, processed: i32, failed: i32) {
    let minute = minute.duration_trunc(Duration::minutes(1)).unwrap();
    let success = (processed > 0).then(|| minute + Duration::seconds(10));
    let failure = (failed > 0).then(|| minute + Duration::seconds(20));
    let error = (failed > 0).then_some("gateway said no");
    app.db
        .owner()
        .await
        .execute(
            "INSERT INTO worker_activity (worker, minute, processed, failed, last_success_at, last_failure_at, last_error)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[&worker, &minute, &processed, &failed, &success, &failure, &error],
        )
        .await
        .unwrap();
}

/// Puts `n` messages on `queue`, waiting since `age` ago.
async fn waiting(app: &TestApp, queue: &str, n: usize, age: Duration) {
    let bodies: Vec<String> = (0..n).map(|i| format!("{{\"n\":{i}}}")).collect();
    app.app
        .queue
        .send(queue, &bodies, std::time::Duration::ZERO)
        .await
        .unwrap();
    app.db
        .owner()
        .await
        .execute(
            "UPDATE job_queue SET enqueued_at = now() - make_interval(secs => $2) WHERE queue = $1",
            &[&queue, &(age.num_seconds() as f64)],
        )
        .await
        .unwrap();
}

mod queue_metrics {
    use super::*;
    use shared::monitors::queue_metrics::minute_before;

    #[tokio::test]
    async fn each_queue_gets_one_row_per_minute_and_a_late_run_records_the_work_without_a_depth() {
        let app = TestApp::spawn().await;
        let at = now();
        let minute = minute_before(at);
        activity(&app, "transaction-processor", minute, 7, 2).await;
        // Work outside the minute is not counted in it.
        activity(
            &app,
            "transaction-processor",
            minute - Duration::minutes(1),
            50,
            0,
        )
        .await;
        waiting(&app, "transaction-processor", 3, Duration::seconds(30)).await;

        let summary = ran(&app, "queue-metrics-recorder", at).await;
        assert_eq!(summary["late"], false, "{summary}");
        assert_eq!(summary["sampled"], 7, "{summary}");
        let row = |minute: DateTime<Utc>| {
            let app = &app;
            async move {
                app.db
                    .owner()
                    .await
                    .query_one(
                        "SELECT worker, processed, failed, visible, dead_letters, oldest_age_seconds,
                                sampled_at, recorded_at
                           FROM queue_metrics WHERE queue = 'transaction-processor' AND minute = $1",
                        &[&minute],
                    )
                    .await
                    .unwrap()
            }
        };
        let first = row(minute).await;
        assert_eq!(first.get::<_, String>("worker"), "transaction-processor");
        assert_eq!(first.get::<_, i32>("processed"), 7);
        assert_eq!(first.get::<_, i32>("failed"), 2);
        assert_eq!(first.get::<_, Option<i64>>("visible"), Some(3));
        assert_eq!(first.get::<_, Option<i64>>("dead_letters"), Some(0));
        assert!(first.get::<_, Option<i64>>("oldest_age_seconds").unwrap() >= 30);
        assert!(
            first
                .get::<_, Option<DateTime<Utc>>>("sampled_at")
                .is_some()
        );
        assert_eq!(
            scalar(&app, "SELECT count(*) FROM queue_metrics").await,
            shared::jobs::queues::ALL.len() as i64
        );

        // The same scheduled time again: nothing runs, nothing changes.
        already_ran(&app, "queue-metrics-recorder", at).await;
        let again = row(minute).await;
        assert_eq!(
            again.get::<_, DateTime<Utc>>("recorded_at"),
            first.get::<_, DateTime<Utc>>("recorded_at")
        );
        assert_eq!(
            scalar(&app, "SELECT count(*) FROM queue_metrics").await,
            shared::jobs::queues::ALL.len() as i64
        );

        // A run scheduled ten minutes ago records that minute's work, and no depth: the queue as
        // it is now is not the queue as it was then.
        let late = at - Duration::minutes(10);
        activity(&app, "transaction-processor", minute_before(late), 4, 0).await;
        let summary = ran(&app, "queue-metrics-recorder", late).await;
        assert_eq!(summary["late"], true, "{summary}");
        assert_eq!(summary["sampled"], 0, "{summary}");
        let past = row(minute_before(late)).await;
        assert_eq!(past.get::<_, i32>("processed"), 4);
        assert_eq!(past.get::<_, Option<i64>>("visible"), None);
        assert_eq!(past.get::<_, Option<DateTime<Utc>>>("sampled_at"), None);
        assert_eq!(
            scalar(&app, "SELECT count(*) FROM queue_metrics").await,
            2 * shared::jobs::queues::ALL.len() as i64
        );
    }
}

mod worker_health {
    use super::*;

    /// `worker`'s judged status and when.
    async fn health(app: &TestApp, worker: &str) -> (String, DateTime<Utc>, Option<i64>) {
        let row = app
            .db
            .owner()
            .await
            .query_one(
                "SELECT status, checked_at, backlog FROM worker_health WHERE worker = $1",
                &[&worker],
            )
            .await
            .unwrap();
        (row.get("status"), row.get("checked_at"), row.get("backlog"))
    }

    #[tokio::test]
    async fn a_worker_that_stopped_with_work_waiting_is_silent_until_it_works_again() {
        let app = TestApp::spawn().await;
        let at = now();
        // The refund processor last succeeded half an hour ago; two refunds have waited 20 min.
        activity(&app, "refund-processor", at - Duration::minutes(30), 3, 0).await;
        waiting(&app, "refund-processor", 2, Duration::minutes(20)).await;
        // The webhook processor fails most of what it takes.
        activity(&app, "webhook-processor", at - Duration::minutes(2), 1, 9).await;
        // The transaction processor works.
        activity(
            &app,
            "transaction-processor",
            at - Duration::minutes(1),
            12,
            0,
        )
        .await;

        let summary = ran(&app, "worker-health-monitor", at).await;
        assert_eq!(
            summary["workers"]["refund-processor"], "silent",
            "{summary}"
        );
        assert_eq!(
            summary["workers"]["webhook-processor"], "failing",
            "{summary}"
        );
        assert_eq!(
            summary["workers"]["transaction-processor"], "healthy",
            "{summary}"
        );
        assert_eq!(summary["workers"]["slack-sender"], "idle", "{summary}");
        assert_eq!(
            health(&app, "refund-processor").await,
            ("silent".to_string(), at, Some(2))
        );
        let silent = alerts(&app, "worker_silent:refund-processor").await;
        assert_eq!(silent.len(), 1);
        assert_eq!((silent[0].status.as_str(), silent[0].count), ("open", 1));
        assert_eq!(silent[0].severity, "critical");
        let failing = alerts(&app, "worker_failing:webhook-processor").await;
        assert_eq!(failing.len(), 1, "{failing:?}");
        assert_eq!(failing[0].details["failed"], 9);
        assert_eq!(failing[0].details["last_error"], "gateway said no");
        assert!(
            alerts(&app, "worker_silent:webhook-processor")
                .await
                .is_empty()
        );
        assert_eq!(
            scalar(
                &app,
                "SELECT count(*) FROM alerts WHERE kind IN ('worker_silent', 'worker_failing')"
            )
            .await,
            2
        );

        // The same scheduled time again: nothing runs, the alert is not seen twice.
        already_ran(&app, "worker-health-monitor", at).await;
        assert_eq!(
            alerts(&app, "worker_silent:refund-processor").await[0].count,
            1
        );

        // A run scheduled ten minutes ago is late: it judges nothing (the queue can only be read
        // now) and leaves the newer judgement as it is.
        let summary = ran(&app, "worker-health-monitor", at - Duration::minutes(10)).await;
        assert_eq!(summary["skipped"], "late", "{summary}");
        assert_eq!(health(&app, "refund-processor").await.1, at);
        assert_eq!(
            alerts(&app, "worker_silent:refund-processor").await[0].count,
            1
        );

        // The worker comes back: it succeeds in the next minute and its alert resolves, though
        // messages still wait.
        activity(&app, "refund-processor", at, 5, 0).await;
        let next = at + Duration::minutes(1);
        let summary = ran(&app, "worker-health-monitor", next).await;
        assert_eq!(
            summary["workers"]["refund-processor"], "healthy",
            "{summary}"
        );
        assert_eq!(health(&app, "refund-processor").await.0, "healthy");
        let silent = alerts(&app, "worker_silent:refund-processor").await;
        assert_eq!(silent.len(), 1);
        assert_eq!(silent[0].status, "resolved");
        // The failures have left the window: that alert resolves too.
        let later = at + Duration::minutes(10);
        activity(&app, "refund-processor", later - Duration::minutes(1), 1, 0).await;
        ran(&app, "worker-health-monitor", later).await;
        assert_eq!(
            alerts(&app, "worker_failing:webhook-processor").await[0].status,
            "resolved"
        );
        assert_eq!(health(&app, "webhook-processor").await.0, "idle");
    }

    /// A queue an operator paused is not a silent worker: it is judged `paused`, pages nobody,
    /// and its silent alert from before the pause resolves; after the resume it is judged again.
    #[tokio::test]
    async fn a_paused_worker_is_paused_not_silent() {
        let app = TestApp::spawn().await;
        let admin = app.admin_token().await;
        let at = now();
        activity(&app, "refund-processor", at - Duration::minutes(30), 3, 0).await;
        waiting(&app, "refund-processor", 2, Duration::minutes(20)).await;
        let summary = ran(&app, "worker-health-monitor", at).await;
        assert_eq!(
            summary["workers"]["refund-processor"], "silent",
            "{summary}"
        );

        let (status, body) = app
            .post_json(
                "/api/v1/admin/queues/pause",
                Some(&admin),
                serde_json::json!({ "queue": "refund-processor", "reason": "gateway maintenance" }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let next = at + Duration::minutes(1);
        let summary = ran(&app, "worker-health-monitor", next).await;
        assert_eq!(
            summary["workers"]["refund-processor"], "paused",
            "{summary}"
        );
        assert_eq!(health(&app, "refund-processor").await.0, "paused");
        let silent = alerts(&app, "worker_silent:refund-processor").await;
        assert_eq!(silent.len(), 1);
        assert_eq!(silent[0].status, "resolved", "{silent:?}");

        let (status, body) = app
            .post_json(
                "/api/v1/admin/queues/resume",
                Some(&admin),
                serde_json::json!({ "queue": "refund-processor" }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let summary = ran(&app, "worker-health-monitor", next + Duration::minutes(1)).await;
        assert_eq!(
            summary["workers"]["refund-processor"], "silent",
            "{summary}"
        );
    }
}

mod sla {
    use super::*;
    use shared::ids::{TransactionId, WebhookEndpointId};
    use shared::monitors::sla;

    /// A payment left unpaid, created `age` ago.
    async fn unpaid(app: &TestApp, m: &Merchant, order: &str, age: Duration) -> TransactionId {
        let (status, body) = app.pay(m, &payment(order, 25_000, false), None).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        app.drain().await;
        let id: TransactionId = body["data"]["id"].as_str().unwrap().parse().unwrap();
        app.db
            .owner()
            .await
            .execute(
                "UPDATE transactions SET created_at = created_at - make_interval(secs => $2)
                  WHERE id = $1",
                &[&id.as_uuid(), &(age.num_seconds() as f64)],
            )
            .await
            .unwrap();
        id
    }

    /// Lets `id`'s expiry pass and has the transaction monitor expire it.
    async fn expire(app: &TestApp, id: TransactionId) {
        app.db
            .owner()
            .await
            .execute(
                "UPDATE transactions SET expires_at = created_at + interval '1 second' WHERE id = $1",
                &[&id.as_uuid()],
            )
            .await
            .unwrap();
        functions::worker::run_schedule(&app.app, "transaction-monitor")
            .await
            .unwrap();
        assert_eq!(
            app.db
                .owner()
                .await
                .query_one(
                    "SELECT status FROM transactions WHERE id = $1",
                    &[&id.as_uuid()]
                )
                .await
                .unwrap()
                .get::<_, String>(0),
            "expired"
        );
    }

    #[tokio::test]
    async fn a_payment_pending_past_its_sla_is_alerted_once_per_run_and_resolved_when_it_settles() {
        let app = TestApp::spawn().await;
        let admin = app.admin_token().await;
        let m = app.create_merchant(&admin, "Chai Point").await;
        let late_payment = unpaid(&app, &m, "order-sla-1", Duration::minutes(20)).await;
        let fresh = unpaid(&app, &m, "order-sla-2", Duration::minutes(1)).await;
        let key = sla::payment_key(late_payment);
        let at = now();

        // A run scheduled ten minutes ago is late: it judges nothing.
        let summary = ran(&app, "sla-monitor", at - Duration::minutes(10)).await;
        assert_eq!(summary["skipped"], "late", "{summary}");
        assert!(alerts(&app, &key).await.is_empty());

        let summary = ran(&app, "sla-monitor", at).await;
        assert_eq!(summary["payments_breached"], 1, "{summary}");
        let found = alerts(&app, &key).await;
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].status, "open");
        let merchant = m.id.parse::<shared::ids::MerchantId>().unwrap().as_uuid();
        assert_eq!(found[0].merchant_id, Some(merchant.to_string()));
        // A test-mode payment: on record, nobody woken.
        assert_eq!(found[0].severity, "info");
        assert_eq!(found[0].details["status"], "pending");
        assert!(found[0].details["pending_seconds"].as_i64().unwrap() >= 19 * 60);
        assert!(alerts(&app, &sla::payment_key(fresh)).await.is_empty());

        // The same scheduled time again: nothing runs, the alert is not seen twice.
        already_ran(&app, "sla-monitor", at).await;
        assert_eq!(alerts(&app, &key).await[0].count, 1);

        // Still pending five minutes later: one more sighting of the same alert.
        ran(&app, "sla-monitor", at + Duration::minutes(5)).await;
        let found = alerts(&app, &key).await;
        assert_eq!((found.len(), found[0].count), (1, 2));

        // It settles (expired): the next run resolves its alert.
        expire(&app, late_payment).await;
        let summary = ran(&app, "sla-monitor", at + Duration::minutes(10)).await;
        assert_eq!(summary["payments_breached"], 0, "{summary}");
        assert_eq!(summary["cleared"], 1, "{summary}");
        let found = alerts(&app, &key).await;
        assert_eq!((found.len(), found[0].status.as_str()), (1, "resolved"));
        assert_eq!(
            scalar(
                &app,
                "SELECT count(*) FROM alerts WHERE kind = 'payment_sla_breached'"
            )
            .await,
            1
        );
    }

    #[tokio::test]
    async fn past_the_per_run_limit_breaches_are_counted_in_one_aggregate_alert() {
        let app = TestApp::spawn_with(&[("MONITOR_ALERTS_PER_RUN", "1")]).await;
        let admin = app.admin_token().await;
        let m = app.create_merchant(&admin, "Chai Point").await;
        let oldest = unpaid(&app, &m, "order-agg-1", Duration::minutes(40)).await;
        let second = unpaid(&app, &m, "order-agg-2", Duration::minutes(30)).await;
        let third = unpaid(&app, &m, "order-agg-3", Duration::minutes(20)).await;
        let at = now();

        let summary = ran(&app, "sla-monitor", at).await;
        assert_eq!(summary["payments_breached"], 3, "{summary}");
        assert_eq!(alerts(&app, &sla::payment_key(oldest)).await.len(), 1);
        assert!(alerts(&app, &sla::payment_key(second)).await.is_empty());
        assert!(alerts(&app, &sla::payment_key(third)).await.is_empty());
        let aggregate = alerts(&app, sla::PAYMENT_BACKLOG_KEY).await;
        assert_eq!(aggregate.len(), 1);
        assert_eq!(aggregate[0].severity, "critical");
        assert_eq!(aggregate[0].details["breached"], 3);
        assert_eq!(aggregate[0].details["merchants"][0]["breached"], 3);

        // Two settle: back within the limit, the aggregate resolves; the oldest keeps its own.
        expire(&app, second).await;
        expire(&app, third).await;
        ran(&app, "sla-monitor", at + Duration::minutes(5)).await;
        assert_eq!(
            alerts(&app, sla::PAYMENT_BACKLOG_KEY).await[0].status,
            "resolved"
        );
        let own = alerts(&app, &sla::payment_key(oldest)).await;
        assert_eq!((own[0].status.as_str(), own[0].count), ("open", 2));
    }

    #[tokio::test]
    async fn an_endpoint_with_overdue_deliveries_is_alerted_until_they_are_delivered() {
        let app = TestApp::spawn().await;
        let admin = app.admin_token().await;
        let m = app.create_merchant(&admin, "Chai Point").await;
        let merchant = m.id.parse::<shared::ids::MerchantId>().unwrap().as_uuid();
        let endpoint = WebhookEndpointId::generate();
        let owner = app.db.owner().await;
        owner
            .execute(
                "INSERT INTO webhook_endpoints (id, merchant_id, mode, url, secret_key_id, secret_nonce, secret_ciphertext)
                 VALUES ($1, $2, 'test', 'https://shop.example.in/hooks', 'k1', '\\x00', '\\x00')",
                &[&endpoint.as_uuid(), &merchant],
            )
            .await
            .unwrap();
        // Two deliveries whose next attempt is 20 minutes past (the retry schedule is not taking
        // them) and one due in the future, created a minute ago.
        for (n, (created, next)) in [(30, -20), (25, -20), (1, 5)].into_iter().enumerate() {
            let event = uuid::Uuid::new_v4();
            owner
                .execute(
                    "INSERT INTO merchant_events (id, merchant_id, mode, type, created_at, data)
                     VALUES ($1, $2, 'test', 'payment.succeeded', now(), '{}')",
                    &[&event, &merchant],
                )
                .await
                .unwrap();
            owner
                .execute(
                    "INSERT INTO webhook_deliveries (id, endpoint_id, event_id, merchant_id, attempts, created_at, next_attempt_at)
                     VALUES ($1, $2, $3, $4, $5, now() - make_interval(mins => $6), now() + make_interval(mins => $7))",
                    &[&uuid::Uuid::new_v4(), &endpoint.as_uuid(), &event, &merchant, &(n as i32), &created, &next],
                )
                .await
                .unwrap();
        }
        let key = sla::endpoint_key(endpoint);
        let at = now();
        let summary = ran(&app, "sla-monitor", at).await;
        assert_eq!(summary["endpoints_overdue"], 1, "{summary}");
        let found = alerts(&app, &key).await;
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].status, "open");
        assert_eq!(found[0].merchant_id, Some(merchant.to_string()));
        assert_eq!(found[0].details["overdue_deliveries"], 2);
        already_ran(&app, "sla-monitor", at).await;
        assert_eq!(alerts(&app, &key).await[0].count, 1);

        // One is delivered, one given up: nothing is overdue, the alert resolves.
        owner
            .batch_execute(
                "UPDATE webhook_deliveries SET status = 'succeeded', next_attempt_at = NULL WHERE attempts = 0;
                 UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL WHERE attempts = 1;",
            )
            .await
            .unwrap();
        let summary = ran(&app, "sla-monitor", at + Duration::minutes(5)).await;
        assert_eq!(summary["endpoints_overdue"], 0, "{summary}");
        let found = alerts(&app, &key).await;
        assert_eq!((found.len(), found[0].status.as_str()), (1, "resolved"));
    }
}
