//! Issue 14: the platform status report (who may read it, each component, the verdict), the
//! `system-status-checker` that files it, and the daily health report.

use crate::support::*;
use chrono::{DateTime, Duration, TimeZone, Utc};
use functions::handlers::system::watched;
use functions::worker::run_schedule_at;
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::config::{Config, lookup_from};
use shared::db::Scope;
use shared::schedules::Tick;
use shared::schedules::runs::RunOutcome;
use shared::system::{self, Verdict};

async fn status(app: &TestApp, admin: &str) -> Value {
    let (code, body) = app.get("/api/v1/system/status", Some(admin)).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    body["data"].clone()
}

fn reasons(report: &Value) -> Vec<String> {
    report["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_string())
        .collect()
}

/// Asserts the verdict and that one reason contains `reason` (`ok`: no reason at all).
async fn expect(app: &TestApp, admin: &str, verdict: &str, reason: &str) -> Value {
    let report = status(app, admin).await;
    assert_eq!(report["status"], verdict, "{report:#}");
    let reasons = reasons(&report);
    if verdict == "ok" {
        assert!(reasons.is_empty(), "{reasons:?}");
    } else {
        assert!(
            reasons.iter().any(|r| r.contains(reason)),
            "no reason mentions {reason:?}: {reasons:?}"
        );
    }
    report
}

async fn exec(app: &TestApp, sql: &str) {
    app.db.owner().await.batch_execute(sql).await.unwrap();
}

#[tokio::test]
async fn only_operators_read_the_status_and_anyone_else_is_refused_clearly() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Curious Shop").await;
    let merchant_token = m.token(&app).await;

    let (code, body) = app.get("/api/v1/system/status", None).await;
    expect_error(code, &body, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    let (code, body) = app.get("/api/v1/system/status", Some("not-a-token")).await;
    expect_error(code, &body, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    let (code, body) = app
        .get("/api/v1/system/status", Some(&merchant_token))
        .await;
    expect_error(code, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
    let (code, body) = app
        .get_with_key("/api/v1/system/status", &m.client_key, &m.client_secret)
        .await;
    expect_error(code, &body, StatusCode::FORBIDDEN, "FORBIDDEN");

    // Operators get every component.
    let report = expect(&app, &admin, "ok", "").await;
    assert_eq!(report["database"]["reachable"], true);
    assert_eq!(report["version"], env!("CARGO_PKG_VERSION"));
    let queues: Vec<&str> = report["queues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["queue"].as_str().unwrap())
        .collect();
    assert_eq!(queues, shared::jobs::queues::ALL, "{report:#}");
    assert!(
        report["queues"]
            .as_array()
            .unwrap()
            .iter()
            .all(|q| q["dead_letters"] == 0 && q["visible"].is_u64())
    );
    let workers = report["workers"].as_array().unwrap();
    assert_eq!(workers.len(), shared::jobs::queues::WORKERS.len());
    assert!(
        workers.iter().all(|w| w["status"] == "unknown"),
        "{workers:?}"
    );
    let schedules = report["schedules"].as_array().unwrap();
    let report_job = schedules
        .iter()
        .find(|s| s["job"] == "system-health-report")
        .expect("every registry schedule is listed");
    assert_eq!(report_job["state"], "never_run");
    assert_eq!(report_job["expression"], "cron(0 6 * * ? *)");
    let sandbox = &report["gateways"][0];
    assert_eq!(sandbox["breaker"]["state"], "closed", "{report:#}");
    assert_eq!(
        report["open_alerts"],
        json!({ "critical": 0, "warning": 0, "info": 0 })
    );
}

#[tokio::test]
async fn the_verdict_follows_each_component() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    expect(&app, &admin, "ok", "").await;

    // A dead letter.
    exec(
        &app,
        "INSERT INTO job_queue (queue, body, receive_count, dead_lettered_at)
         VALUES ('refund-processor', '{}', 5, now())",
    )
    .await;
    let report = expect(
        &app,
        &admin,
        "degraded",
        "queue refund-processor: 1 dead letters",
    )
    .await;
    let refunds = report["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["queue"] == "refund-processor")
        .unwrap();
    assert_eq!(refunds["dead_letters"], 1);
    exec(&app, "DELETE FROM job_queue").await;
    expect(&app, &admin, "ok", "").await;

    // A scheduled job whose last run failed; a later success clears it.
    exec(
        &app,
        "INSERT INTO schedule_runs (job, scheduled_at, status, finished_at, error)
         VALUES ('maintenance', now() - interval '5 minutes', 'failed', now(), 'disk full')",
    )
    .await;
    let report = expect(
        &app,
        &admin,
        "degraded",
        "schedule maintenance: last run failed",
    )
    .await;
    let maintenance = report["schedules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["job"] == "maintenance")
        .unwrap();
    assert_eq!(maintenance["last_status"], "failed");
    assert_eq!(maintenance["last_error"], "disk full");
    exec(
        &app,
        "INSERT INTO schedule_runs (job, scheduled_at, status, finished_at)
         VALUES ('maintenance', now() - interval '1 minute', 'succeeded', now())",
    )
    .await;
    expect(&app, &admin, "ok", "").await;

    // A job that has not run for more than two periods and the grace is overdue.
    exec(
        &app,
        "INSERT INTO schedule_runs (job, scheduled_at, status, finished_at)
         VALUES ('transaction-monitor', now() - interval '16 minutes', 'succeeded', now())",
    )
    .await;
    expect(
        &app,
        &admin,
        "degraded",
        "schedule transaction-monitor: overdue",
    )
    .await;
    exec(
        &app,
        "DELETE FROM schedule_runs WHERE job = 'transaction-monitor'",
    )
    .await;

    // A worker judged failing; a healthy one does not degrade.
    exec(
        &app,
        "INSERT INTO worker_health (worker, queue, status, checked_at, processed, failed, error_rate)
         VALUES ('refund-processor', 'refund-processor', 'failing', now(), 10, 9, 0.9),
                ('slack-sender', 'slack-sender', 'healthy', now(), 10, 0, 0)",
    )
    .await;
    let report = expect(&app, &admin, "degraded", "worker refund-processor: failing").await;
    assert_eq!(reasons(&report).len(), 1, "{report:#}");
    let slack = report["workers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["worker"] == "slack-sender")
        .unwrap();
    assert_eq!(slack["status"], "healthy");
    exec(
        &app,
        "DELETE FROM worker_health WHERE worker = 'refund-processor'",
    )
    .await;
    expect(&app, &admin, "ok", "").await;

    // An active account's open breaker.
    exec(
        &app,
        "INSERT INTO gateway_breakers (gateway_account_id, state, consecutive_failures, opened_at)
         SELECT id, 'open', 5, now() FROM gateway_accounts LIMIT 1",
    )
    .await;
    let report = expect(&app, &admin, "degraded", "breaker open").await;
    assert_eq!(report["gateways"][0]["breaker"]["state"], "open");
    exec(&app, "DELETE FROM gateway_breakers").await;

    // A critical alert unresolved; warnings only count.
    exec(
        &app,
        "INSERT INTO alerts (id, key, kind, severity, title, first_seen_at, last_seen_at, created_at, updated_at)
         VALUES (gen_random_uuid(), 'queue_backlog:x', 'queue_backlog', 'warning', 'Backlog', now(), now(), now(), now())",
    )
    .await;
    let report = expect(&app, &admin, "ok", "").await;
    assert_eq!(report["open_alerts"]["warning"], 1);
    exec(
        &app,
        "INSERT INTO alerts (id, key, kind, severity, title, first_seen_at, last_seen_at, created_at, updated_at)
         VALUES (gen_random_uuid(), 'dead_letters:x', 'dead_letters', 'critical', 'Dead', now(), now(), now(), now())",
    )
    .await;
    expect(&app, &admin, "degraded", "1 critical alerts open").await;
}

#[tokio::test]
async fn an_unreachable_database_is_down() {
    let app = TestApp::spawn().await;
    let mut vars = env_for(&app.db);
    vars.insert(
        "DATABASE_URL".into(),
        format!("postgres://lsp_app@127.0.0.1:{}/nothing", free_port()),
    );
    vars.insert("DATABASE_POOL_TIMEOUT_SECONDS".into(), "1".into());
    let config = Config::from_lookup(lookup_from(vars)).unwrap();
    let dead = shared::App::new(config).unwrap();
    let started = std::time::Instant::now();
    let report = system::status(&dead, Scope::Admin, Utc::now(), &watched()).await;
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert_eq!(report.status, Verdict::Down);
    assert!(!report.database.reachable);
    assert_eq!(report.reasons[0], "database unreachable");
    assert!(report.gateways.is_none() && report.open_alerts.is_none());
    assert!(report.workers.iter().all(|w| w.status == "unknown"));
    assert!(report.schedules.iter().all(|s| s.state == "unknown"));
    // The same report, judged: `down` is the database alone.
    let mut healthy = system::status(&app.app, Scope::Admin, Utc::now(), &watched()).await;
    assert_eq!(healthy.status, Verdict::Ok, "{:?}", healthy.reasons);
    healthy.database = report.database.clone();
    assert_eq!(system::judge(&healthy).0, Verdict::Down);
}

async fn filed(app: &TestApp) -> Vec<(DateTime<Utc>, String, Value)> {
    app.db
        .owner()
        .await
        .query(
            "SELECT checked_for, status, report FROM system_status ORDER BY checked_for",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

#[tokio::test]
async fn the_checker_files_one_report_per_scheduled_time() {
    let app = TestApp::spawn().await;
    let at = Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap();
    let first = run_schedule_at(&app.app, "system-status-checker", at)
        .await
        .unwrap();
    let RunOutcome::Ran { summary, .. } = first else {
        panic!("{first:?}")
    };
    assert_eq!(summary["stored"], true, "{summary}");
    let again = run_schedule_at(&app.app, "system-status-checker", at)
        .await
        .unwrap();
    assert!(matches!(again, RunOutcome::AlreadyRan { .. }), "{again:?}");
    // Even called past the run key, the table's key files the time once.
    let direct = system::checker::run(&app.app, Tick::at(at), &watched())
        .await
        .unwrap();
    assert_eq!(direct["stored"], false, "{direct}");
    let rows = filed(&app).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0].0, at,
        "filed under the scheduled time, not the clock's"
    );
    assert_eq!(rows[0].1, "ok");
    assert_eq!(rows[0].2["checked_at"], json!(at));
    assert_eq!(rows[0].2["database"]["reachable"], true);

    // A late run for an earlier slot files under that slot, and judges as of it: a failed run
    // scheduled after it is not yet there.
    exec(
        &app,
        "INSERT INTO schedule_runs (job, scheduled_at, status, finished_at, error)
         VALUES ('maintenance', '2026-12-01T09:30:00Z', 'failed', now(), 'disk full')",
    )
    .await;
    let past = at - Duration::hours(1);
    run_schedule_at(&app.app, "system-status-checker", past)
        .await
        .unwrap();
    run_schedule_at(
        &app.app,
        "system-status-checker",
        at + Duration::minutes(10),
    )
    .await
    .unwrap();
    let rows = filed(&app).await;
    let statuses: Vec<(DateTime<Utc>, &str)> =
        rows.iter().map(|(t, s, _)| (*t, s.as_str())).collect();
    assert_eq!(
        statuses,
        vec![
            (past, "ok"),
            (at, "ok"),
            (at + Duration::minutes(10), "degraded")
        ]
    );
    assert!(
        reasons(&rows[2].2).contains(&"schedule maintenance: last run failed".to_string()),
        "{:#}",
        rows[2].2
    );
    assert!(
        shared::maintenance::RETENTION
            .iter()
            .any(|r| r.table == "system_status" && r.column == "checked_for")
    );
}

/// 06:00 IST on 10 March 2026: the run reports 9 March IST, 18:30 UTC on 8 March to 18:30 UTC
/// on 9 March.
fn slot() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 10, 0, 30, 0).unwrap()
}

async fn queued(app: &TestApp, table: &str) -> i64 {
    app.db
        .owner()
        .await
        .query_one(
            &format!("SELECT count(*) FROM {table} WHERE notice_kind = 'report.system_health'"),
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn the_daily_report_covers_exactly_the_previous_ist_day_once() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    for address in ["C0123456789", "+919877777777"] {
        let channel = if address.starts_with('+') {
            "whatsapp"
        } else {
            "slack"
        };
        let (code, body) = app
            .post_json(
                "/api/v1/admin/notification-recipients",
                Some(&admin),
                json!({ "channel": channel, "address": address }),
            )
            .await;
        assert_eq!(code, StatusCode::CREATED, "{body}");
    }
    let m = app.create_merchant(&admin, "Chai Point").await;
    // Inside: the day's first instant and its last second. Outside: a second before, and the
    // next day's first instant.
    let start = Utc.with_ymd_and_hms(2026, 3, 8, 18, 30, 0).unwrap();
    let end = Utc.with_ymd_and_hms(2026, 3, 9, 18, 30, 0).unwrap();
    let payments = [
        ("first", 10_000, true, start),
        ("last", 20_000, true, end - Duration::seconds(1)),
        ("open", 30_000, false, start + Duration::hours(3)),
        ("before", 40_000, true, start - Duration::seconds(1)),
        ("after", 80_000, true, end),
    ];
    for (order, amount, autopay, _) in payments {
        let (code, body) = app.pay(&m, &payment(order, amount, autopay), None).await;
        assert_eq!(code, StatusCode::CREATED, "{body}");
    }
    app.drain().await;
    // A refund asked for inside the day, one outside.
    for order in ["first", "before"] {
        let id: String = app
            .db
            .owner()
            .await
            .query_one(
                "SELECT id::text FROM transactions WHERE order_id = $1",
                &[&order],
            )
            .await
            .unwrap()
            .get(0);
        let id = shared::ids::TransactionId::from_uuid(id.parse().unwrap()).to_string();
        let (code, body) = send(
            app.http
                .post(app.url(&format!("/api/v1/transactions/{id}/refunds")))
                .header("X-Client-Key", &m.client_key)
                .header("X-Client-Secret", &m.client_secret)
                .json(&json!({ "amount": 5_000, "reason": "cup cracked" })),
        )
        .await;
        assert_eq!(code, StatusCode::CREATED, "{body}");
    }
    app.drain().await;
    let owner = app.db.owner().await;
    for (order, _, _, at) in payments {
        owner
            .execute(
                "UPDATE transactions SET created_at = $2 WHERE order_id = $1",
                &[&order, &at],
            )
            .await
            .unwrap();
    }
    owner
        .batch_execute(
            "UPDATE transaction_attempts a SET created_at = t.created_at
               FROM transactions t WHERE t.id = a.transaction_id;
             UPDATE refunds r SET created_at = t.created_at + interval '1 hour'
               FROM transactions t WHERE t.id = r.transaction_id AND t.order_id = 'first';
             UPDATE refunds r SET created_at = t.created_at - interval '1 hour'
               FROM transactions t WHERE t.id = r.transaction_id AND t.order_id = 'before';
             INSERT INTO schedule_runs (job, scheduled_at, status, finished_at, error) VALUES
               ('maintenance', '2026-03-09T10:00:00Z', 'failed', now(), 'disk full'),
               ('maintenance', '2026-03-09T18:30:00Z', 'failed', now(), 'disk full');
             INSERT INTO alerts (id, key, kind, severity, title, first_seen_at, last_seen_at, created_at, updated_at)
             SELECT gen_random_uuid(), 'gateway_breaker:' || id, 'gateway_breaker_open', 'critical', 'Breaker open',
                    '2026-03-09T02:00:00Z', '2026-03-09T02:00:00Z', '2026-03-09T02:00:00Z', '2026-03-09T02:00:00Z'
               FROM gateway_accounts LIMIT 1;
             INSERT INTO alerts (id, key, kind, severity, title, first_seen_at, last_seen_at, created_at, updated_at)
             VALUES (gen_random_uuid(), 'queue_backlog:x', 'queue_backlog', 'warning', 'Backlog',
                    '2026-03-08T18:29:59Z', '2026-03-08T18:29:59Z', '2026-03-08T18:29:59Z', '2026-03-08T18:29:59Z');",
        )
        .await
        .unwrap();
    // Whatever was queued while seeding is not the report.
    let (slack_before, whatsapp_before) = (
        queued(&app, "slack_queue").await,
        queued(&app, "whatsapp_queue").await,
    );
    assert_eq!((slack_before, whatsapp_before), (0, 0));

    let outcome = run_schedule_at(&app.app, "system-health-report", slot())
        .await
        .unwrap();
    let RunOutcome::Ran { summary, .. } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(
        summary,
        json!({ "date": "2026-03-09", "stored": true, "notifications": 2 })
    );
    let row = owner
        .query_one(
            "SELECT report_date::text, period_start, period_end, report, notifications
               FROM system_health_reports",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "2026-03-09");
    assert_eq!(row.get::<_, DateTime<Utc>>(1), start);
    assert_eq!(row.get::<_, DateTime<Utc>>(2), end);
    let report: Value = row.get(3);
    assert_eq!(row.get::<_, i32>(4), 2);
    assert_eq!(
        report["payments"],
        json!([{
            "mode": "test", "currency": "INR",
            "created": 3, "created_amount": 60_000,
            "succeeded": 2, "succeeded_amount": 30_000,
            "failed": 0, "expired": 0,
        }]),
        "{report:#}"
    );
    assert_eq!(report["success_rate_bps"], 10_000, "{report:#}");
    let gateways = report["gateways"].as_array().unwrap();
    assert_eq!(gateways.len(), 1, "{report:#}");
    assert_eq!(
        (&gateways[0]["attempts"], &gateways[0]["successes"]),
        (&json!(2), &json!(2)),
        "{report:#}"
    );
    assert_eq!(
        report["refunds"],
        json!([{ "mode": "test", "currency": "INR", "count": 1, "amount": 5_000,
                 "succeeded": 1, "failed": 0 }]),
        "{report:#}"
    );
    assert_eq!(
        report["incidents"],
        json!({
            "alerts": [{ "kind": "gateway_breaker_open", "severity": "critical", "count": 1 }],
            "failed_runs": [{ "job": "maintenance", "count": 1 }],
            "breakers_opened": 1,
        }),
        "{report:#}"
    );
    // Queued for the operators' Slack and WhatsApp recipients, through their senders.
    assert_eq!(queued(&app, "slack_queue").await, 1);
    assert_eq!(queued(&app, "whatsapp_queue").await, 1);
    let text: String = owner
        .query_one(
            "SELECT text FROM slack_queue WHERE notice_kind = 'report.system_health'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        text.contains("Daily health report for 2026-03-09 (IST)"),
        "{text}"
    );
    assert!(
        text.contains("3 created (600.00), 2 succeeded (300.00)"),
        "{text}"
    );
    let jobs: i64 = owner
        .query_one(
            "SELECT count(*) FROM job_queue WHERE queue IN ('slack-sender', 'whatsapp-sender')
                AND body::jsonb->>'id' IN (SELECT id::text FROM slack_queue UNION ALL SELECT id::text FROM whatsapp_queue)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(jobs, 2, "one sender job per message");

    // The same slot again: the run key stops it. A late run for the same slot (still 10 March
    // in IST), or the job called past the run key, finds the day filed and sends nothing.
    let again = run_schedule_at(&app.app, "system-health-report", slot())
        .await
        .unwrap();
    assert!(matches!(again, RunOutcome::AlreadyRan { .. }), "{again:?}");
    let late = system::daily_report::run(&app.app, Tick::at(slot() + Duration::hours(17)))
        .await
        .unwrap();
    assert_eq!(
        late,
        json!({ "date": "2026-03-09", "stored": false, "notifications": 0 })
    );
    let count: i64 = owner
        .query_one("SELECT count(*) FROM system_health_reports", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 1);
    assert_eq!(queued(&app, "slack_queue").await, 1);
    assert_eq!(queued(&app, "whatsapp_queue").await, 1);

    // The next day's slot reports 10 March: the payment at its first instant.
    run_schedule_at(&app.app, "system-health-report", slot() + Duration::days(1))
        .await
        .unwrap();
    let next: Value = owner
        .query_one(
            "SELECT report FROM system_health_reports WHERE report_date = '2026-03-10'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(next["payments"][0]["created_amount"], 80_000, "{next:#}");
    assert_eq!(queued(&app, "slack_queue").await, 2);
}
