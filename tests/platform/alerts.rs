//! Alerts: one open alert per condition key (repeats count), notification by severity at most
//! once per cool-down (clock injected), automatic resolution when the monitor sees a condition
//! clear, the database's own refusal of a second open alert, and the operators' API.
//!
//! The notification senders are another stream's; what is asserted here is the decision, as the
//! alert records it (`notifications`, `last_notified_at`).

use crate::support::*;
use chrono::{DateTime, TimeZone, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::alerts::{self, AlertKind, Condition};
use shared::clock::ManualClock;
use shared::db::{self, Scope};
use shared::ids::MerchantId;
use shared::notifications::Severity;
use std::sync::Arc;

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 3, 10, 0, 0).unwrap()
}

async fn clocked(extra: &[(&str, &str)]) -> (TestApp, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(start()));
    let app = TestApp::spawn_with_clock(extra, clock.clone()).await;
    (app, clock)
}

fn condition(key: &str, kind: AlertKind, severity: Severity) -> Condition {
    Condition {
        key: key.to_string(),
        kind,
        severity,
        merchant_id: None,
        title: format!("{key} holds"),
        details: json!({ "seen": key }),
    }
}

/// Raises `condition` in a transaction of its own, as a producer would.
async fn raise(app: &TestApp, condition: &Condition) {
    let mut client = app.app.db.client().await.unwrap();
    let tx = db::begin(&mut client, Scope::System).await.unwrap();
    alerts::raise(&tx, &app.app, condition).await.unwrap();
    tx.commit().await.unwrap();
}

/// One alert row as the database holds it.
#[derive(Debug)]
struct Row {
    id: String,
    status: String,
    count: i32,
    notifications: i32,
    last_notified_at: Option<DateTime<Utc>>,
    resolution: Option<String>,
    resolved_by: Option<String>,
    details: Value,
}

/// Every alert of `key`, oldest first.
async fn rows(app: &TestApp, key: &str) -> Vec<Row> {
    app.db
        .owner()
        .await
        .query(
            "SELECT id::text AS id, status, count, notifications, last_notified_at, resolution,
                    resolved_by::text AS resolved_by, details
               FROM alerts WHERE key = $1 ORDER BY id",
            &[&key],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| Row {
            id: r.get("id"),
            status: r.get("status"),
            count: r.get("count"),
            notifications: r.get("notifications"),
            last_notified_at: r.get("last_notified_at"),
            resolution: r.get("resolution"),
            resolved_by: r.get("resolved_by"),
            details: r.get("details"),
        })
        .collect()
}

async fn only(app: &TestApp, key: &str) -> Row {
    let mut found = rows(app, key).await;
    assert_eq!(found.len(), 1, "{key}: {found:?}");
    found.remove(0)
}

#[tokio::test]
async fn a_condition_raised_twice_is_one_open_alert_counted_twice_and_notified_once_per_cool_down()
{
    let (app, clock) = clocked(&[("ALERTS_NOTIFY_COOL_DOWN_SECONDS", "1800")]).await;
    let key = "queue_backlog:refund-processor";
    let warning = condition(key, AlertKind::QueueBacklog, Severity::Warning);

    raise(&app, &warning).await;
    clock.advance(chrono::Duration::minutes(1));
    let mut changed = warning.clone();
    changed.details = json!({ "visible": 1234 });
    raise(&app, &changed).await;
    let alert = only(&app, key).await;
    assert_eq!(alert.status, "open");
    assert_eq!(alert.count, 2, "a repeat counts on the open alert");
    assert_eq!(
        alert.details,
        json!({ "visible": 1234 }),
        "the latest figures"
    );
    assert_eq!(alert.notifications, 1, "told once within the cool-down");
    assert_eq!(alert.last_notified_at, Some(start()));

    // Still inside the cool-down (29 minutes after the notification): counted, not told.
    clock.set(start() + chrono::Duration::minutes(29));
    raise(&app, &warning).await;
    let alert = only(&app, key).await;
    assert_eq!((alert.count, alert.notifications), (3, 1));

    // The cool-down has passed: told again, once.
    let later = start() + chrono::Duration::minutes(30);
    clock.set(later);
    raise(&app, &warning).await;
    raise(&app, &warning).await;
    let alert = only(&app, key).await;
    assert_eq!((alert.count, alert.notifications), (5, 2));
    assert_eq!(alert.last_notified_at, Some(later));

    // Critical is told at once as well; info never.
    let critical = condition(
        "dead_letters:refund-processor",
        AlertKind::DeadLetters,
        Severity::Critical,
    );
    raise(&app, &critical).await;
    raise(&app, &critical).await;
    let alert = only(&app, &critical.key).await;
    assert_eq!((alert.count, alert.notifications), (2, 1));
    let info = condition(
        "queue_age:refund-processor",
        AlertKind::QueueAge,
        Severity::Info,
    );
    raise(&app, &info).await;
    let alert = only(&app, &info.key).await;
    assert_eq!(
        (alert.count, alert.notifications, alert.last_notified_at),
        (1, 0, None)
    );

    // Concurrent raises of one new key meet on the open-key index: one alert, every one counted,
    // one notification.
    let racing = condition(
        "queue_backlog:racing",
        AlertKind::QueueBacklog,
        Severity::Critical,
    );
    let app = Arc::new(app);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let app = app.clone();
            let racing = racing.clone();
            tokio::spawn(async move { raise(&app, &racing).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let alert = only(&app, &racing.key).await;
    assert_eq!((alert.count, alert.notifications), (8, 1));
}

/// Runs the `alert-monitor` schedule once; answers its summary.
async fn monitor(app: &TestApp) -> Value {
    functions::worker::run_schedule(&app.app, "alert-monitor")
        .await
        .unwrap()
}

#[tokio::test]
async fn the_monitor_raises_and_resolves_breaker_queue_and_dead_letter_alerts() {
    let (app, clock) = clocked(&[
        ("ALERTS_QUEUE_BACKLOG", "2"),
        ("ALERTS_QUEUE_AGE_SECONDS", "300"),
    ])
    .await;
    let owner = app.db.owner().await;
    let account = {
        let mut client = app.app.db.client().await.unwrap();
        let tx = db::begin(&mut client, Scope::System).await.unwrap();
        let id = shared::seed::sandbox_account(&app.app, &tx).await.unwrap();
        tx.commit().await.unwrap();
        id
    };
    let breaker_key = format!("gateway_breaker:{account}");

    // Nothing holds: nothing is raised.
    let run = monitor(&app).await;
    assert_eq!(run["raised"], 0, "{run}");
    assert_eq!(
        run["queues_checked"],
        shared::jobs::queues::ALL.len(),
        "every worker queue is read: {run}"
    );
    assert_eq!(app.db.count("alerts").await, 0);

    // A breaker opens: a critical alert, counted again on the next run, told once.
    owner
        .execute(
            "INSERT INTO gateway_breakers (gateway_account_id, state, consecutive_failures, opened_at)
             VALUES ($1, 'open', 5, now())",
            &[&account.as_uuid()],
        )
        .await
        .unwrap();
    // A new run of the schedule (the same scheduled time would be the same run, done once).
    clock.advance(chrono::Duration::seconds(1));
    monitor(&app).await;
    clock.advance(chrono::Duration::minutes(1));
    monitor(&app).await;
    let alert = only(&app, &breaker_key).await;
    assert_eq!(
        (alert.status.as_str(), alert.count, alert.notifications),
        ("open", 2, 1)
    );
    assert_eq!(alert.details["state"], "open");
    let severity: String = owner
        .query_one(
            "SELECT severity FROM alerts WHERE key = $1",
            &[&breaker_key],
        )
        .await
        .unwrap()
        .get("severity");
    assert_eq!(severity, "critical");

    // It closes: the next run resolves the alert by itself.
    owner
        .execute(
            "UPDATE gateway_breakers SET state = 'closed', opened_at = NULL, closed_at = now() WHERE gateway_account_id = $1",
            &[&account.as_uuid()],
        )
        .await
        .unwrap();
    clock.advance(chrono::Duration::minutes(1));
    let run = monitor(&app).await;
    assert_eq!(run["cleared"], 1, "{run}");
    let alert = only(&app, &breaker_key).await;
    assert_eq!(alert.status, "resolved");
    assert_eq!(alert.resolution.as_deref(), Some("automatic"));
    assert_eq!(alert.resolved_by, None, "nobody resolved it");

    // It opens again: a new alert, the resolved one stays as it was.
    owner
        .execute(
            "UPDATE gateway_breakers SET state = 'open', opened_at = now() WHERE gateway_account_id = $1",
            &[&account.as_uuid()],
        )
        .await
        .unwrap();
    clock.advance(chrono::Duration::minutes(1));
    monitor(&app).await;
    let both = rows(&app, &breaker_key).await;
    assert_eq!(both.len(), 2, "{both:?}");
    assert_eq!(both[0].status, "resolved");
    assert_eq!(
        (
            both[1].status.as_str(),
            both[1].count,
            both[1].notifications
        ),
        ("open", 1, 1),
        "a new occurrence is a new alert, told about at once"
    );

    // A dead letter appears, then is dealt with.
    owner
        .execute(
            "INSERT INTO job_queue (queue, body, receive_count, dead_lettered_at) VALUES ('refund-processor', '{}', 5, now())",
            &[],
        )
        .await
        .unwrap();
    // And a backlog of three messages that have waited ten minutes.
    owner
        .execute(
            "INSERT INTO job_queue (queue, body, enqueued_at, visible_at)
             SELECT 'webhook-processor', '{}', now() - interval '10 minutes', now() - interval '10 minutes'
               FROM generate_series(1, 3)",
            &[],
        )
        .await
        .unwrap();
    // A new run of the schedule (the same scheduled time would be the same run, done once).
    clock.advance(chrono::Duration::seconds(1));
    monitor(&app).await;
    let dead = only(&app, "dead_letters:refund-processor").await;
    assert_eq!((dead.status.as_str(), dead.notifications), ("open", 1));
    assert_eq!(dead.details["dead_letters"], 1);
    let backlog = only(&app, "queue_backlog:webhook-processor").await;
    assert_eq!(backlog.status, "open");
    assert_eq!(backlog.details["visible"], 3);
    let age = only(&app, "queue_age:webhook-processor").await;
    assert_eq!(age.status, "open");
    assert!(
        age.details["oldest_visible_age_seconds"].as_u64().unwrap() >= 600,
        "{:?}",
        age.details
    );
    assert!(
        rows(&app, "queue_backlog:refund-processor")
            .await
            .is_empty(),
        "one dead letter is no backlog"
    );

    owner.batch_execute("DELETE FROM job_queue").await.unwrap();
    clock.advance(chrono::Duration::minutes(1));
    let run = monitor(&app).await;
    assert_eq!(run["cleared"], 3, "{run}");
    for key in [
        "dead_letters:refund-processor",
        "queue_backlog:webhook-processor",
        "queue_age:webhook-processor",
    ] {
        let alert = only(&app, key).await;
        assert_eq!(
            (alert.status.as_str(), alert.resolution.as_deref()),
            ("resolved", Some("automatic")),
            "{key}"
        );
    }
    // The breaker is still open: its alert is still the open one.
    assert_eq!(rows(&app, &breaker_key).await[1].status, "open");
}

#[tokio::test]
async fn the_database_refuses_two_open_alerts_with_one_key_and_inconsistent_states() {
    let app = TestApp::spawn().await;
    let owner = app.db.owner().await;
    // `extra` adds columns and their values, each starting with a comma.
    let insert = |status: &str, columns: &str, values: &str| {
        format!(
            "INSERT INTO alerts (id, key, kind, severity, status, title, first_seen_at, last_seen_at,
                                 created_at, updated_at{columns})
             VALUES (gen_random_uuid(), 'queue_age:twice', 'queue_age', 'warning', '{status}', 'twice',
                     now(), now(), now(), now(){values})"
        )
    };
    owner.execute(&insert("open", "", ""), &[]).await.unwrap();
    for sql in [
        insert("open", "", ""),
        insert("acknowledged", ", acknowledged_at", ", now()"),
    ] {
        let error = owner
            .execute(&sql, &[])
            .await
            .expect_err("a second open alert for one key");
        assert_eq!(
            error.as_db_error().and_then(|e| e.constraint()),
            Some("alerts_open_key"),
            "{sql}: {error:?}"
        );
    }
    // A resolved alert of the key may sit beside the open one.
    owner
        .execute(
            &insert(
                "resolved",
                ", resolved_at, resolution",
                ", now(), 'automatic'",
            ),
            &[],
        )
        .await
        .unwrap();

    // States the code never writes are refused by the database too.
    for (label, sql, constraint) in [
        (
            "resolved without a time",
            "UPDATE alerts SET status = 'resolved' WHERE status = 'open'",
            "alerts_resolved_when",
        ),
        (
            "an operator resolution without the operator",
            "UPDATE alerts SET resolution = 'operator' WHERE status = 'resolved'",
            "alerts_resolved_by_whom",
        ),
        (
            "acknowledged without a time",
            "UPDATE alerts SET status = 'acknowledged' WHERE status = 'open'",
            "alerts_acknowledged_when",
        ),
        (
            "notified without a count",
            "UPDATE alerts SET last_notified_at = now() WHERE status = 'open'",
            "alerts_notified_when",
        ),
        (
            "a count of zero",
            "UPDATE alerts SET count = 0 WHERE status = 'open'",
            "alerts_count_check",
        ),
        (
            "an unknown kind",
            "UPDATE alerts SET kind = 'vibes' WHERE status = 'open'",
            "alerts_kind_check",
        ),
    ] {
        let error = owner.execute(sql, &[]).await.expect_err(label);
        assert_eq!(
            error.as_db_error().and_then(|e| e.constraint()),
            Some(constraint),
            "{label}: {error:?}"
        );
    }

    // The application role under a merchant's scope sees no platform alerts.
    let app_role = app.db.app_role().await;
    app_role
        .batch_execute(&format!(
            "BEGIN; SET LOCAL app.scope = 'merchant'; SET LOCAL app.merchant_id = '{}'; SET LOCAL app.mode = 'test'",
            MerchantId::generate().as_uuid()
        ))
        .await
        .unwrap();
    let seen: i64 = app_role
        .query_one("SELECT count(*) AS n FROM alerts", &[])
        .await
        .unwrap()
        .get("n");
    assert_eq!(seen, 0);
    app_role.batch_execute("ROLLBACK").await.unwrap();
}

fn ids(page: &Value) -> Vec<String> {
    page["data"]["items"]
        .as_array()
        .unwrap_or_else(|| panic!("{page}"))
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn operators_list_filter_and_page_alerts_and_merchants_cannot() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Alerted Shop").await;
    let merchant: MerchantId = m.id.parse().unwrap();
    let mut mismatch = condition(
        "amount_mismatch:att_0123456789abcdef0123456789abcdef",
        AlertKind::AmountMismatch,
        Severity::Critical,
    );
    mismatch.merchant_id = Some(merchant);
    raise(&app, &mismatch).await;
    raise(
        &app,
        &condition("queue_age:a", AlertKind::QueueAge, Severity::Warning),
    )
    .await;
    raise(
        &app,
        &condition("queue_age:b", AlertKind::QueueAge, Severity::Warning),
    )
    .await;
    raise(
        &app,
        &condition("dead_letters:a", AlertKind::DeadLetters, Severity::Critical),
    )
    .await;
    {
        let mut client = app.app.db.client().await.unwrap();
        let tx = db::begin(&mut client, Scope::System).await.unwrap();
        assert!(alerts::clear(&tx, &app.app, "queue_age:a").await.unwrap());
        assert!(
            !alerts::clear(&tx, &app.app, "queue_age:none")
                .await
                .unwrap()
        );
        tx.commit().await.unwrap();
    }

    let (status, all) = app.get("/api/v1/alerts", Some(&admin)).await;
    assert_eq!(status, StatusCode::OK, "{all}");
    let all_ids = ids(&all);
    assert_eq!(all_ids.len(), 4);
    assert_eq!(all["data"]["has_more"], false);
    let first = &all["data"]["items"][0];
    assert_eq!(first["key"], "dead_letters:a", "newest first: {all}");
    assert!(first["id"].as_str().unwrap().starts_with("alt_"));
    assert_eq!(first["severity"], "critical");
    assert_eq!(first["kind"], "dead_letters");
    assert_eq!(first["count"], 1);

    for (query, keys) in [
        (
            "status=open",
            vec!["dead_letters:a", "queue_age:b", mismatch.key.as_str()],
        ),
        ("status=resolved", vec!["queue_age:a"]),
        (
            "severity=critical",
            vec!["dead_letters:a", mismatch.key.as_str()],
        ),
        ("kind=queue_age&status=open", vec!["queue_age:b"]),
        (
            &format!("merchant_id={}", m.id),
            vec![mismatch.key.as_str()],
        ),
        ("status=acknowledged", vec![]),
    ] {
        let (status, page) = app
            .get(&format!("/api/v1/alerts?{query}"), Some(&admin))
            .await;
        assert_eq!(status, StatusCode::OK, "{query}: {page}");
        let found: Vec<&str> = page["data"]["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["key"].as_str().unwrap())
            .collect();
        assert_eq!(found, keys, "{query}");
    }

    // Pages of two, by cursor.
    let (_, first_page) = app.get("/api/v1/alerts?limit=2", Some(&admin)).await;
    assert_eq!(ids(&first_page), all_ids[..2]);
    assert_eq!(first_page["data"]["has_more"], true);
    let (_, second_page) = app
        .get(
            &format!("/api/v1/alerts?limit=2&starting_after={}", all_ids[1]),
            Some(&admin),
        )
        .await;
    assert_eq!(ids(&second_page), all_ids[2..]);
    assert_eq!(second_page["data"]["has_more"], false);

    // One alert by id.
    let (status, one) = app
        .get(&format!("/api/v1/alerts/{}", all_ids[3]), Some(&admin))
        .await;
    assert_eq!(status, StatusCode::OK, "{one}");
    assert_eq!(one["data"]["key"], mismatch.key);
    assert_eq!(one["data"]["merchant_id"], m.id);

    // Bad filters and cursors: 400 naming the field.
    for (query, field) in [
        ("status=closed", "status"),
        ("severity=urgent", "severity"),
        ("kind=vibes", "kind"),
        ("merchant_id=mer_nope", "merchant_id"),
        (
            "merchant_id=usr_0123456789abcdef0123456789abcdef",
            "merchant_id",
        ),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        (
            "starting_after=txn_0123456789abcdef0123456789abcdef",
            "starting_after",
        ),
    ] {
        let (status, body) = app
            .get(&format!("/api/v1/alerts?{query}"), Some(&admin))
            .await;
        let details = expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        assert!(details[field].is_string(), "{query}: {body}");
    }
    let (status, body) = app.get("/api/v1/alerts?colour=red", Some(&admin)).await;
    expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");

    // Merchants see no alerts route at all, by token or by key; nobody unauthenticated either.
    let token = m.token(&app).await;
    for path in [
        "/api/v1/alerts".to_string(),
        format!("/api/v1/alerts/{}", all_ids[3]),
    ] {
        let (status, body) = app.get(&path, Some(&token)).await;
        expect_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
        let (status, body) = app
            .get_with_key(&path, &m.client_key, &m.client_secret)
            .await;
        expect_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
        let (status, body) = app.get(&path, None).await;
        expect_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    }
    for action in ["acknowledge", "resolve"] {
        let (status, body) = app
            .post_json(
                &format!("/api/v1/alerts/{}/{action}", all_ids[0]),
                Some(&token),
                json!({}),
            )
            .await;
        expect_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
    }
}

#[tokio::test]
async fn acknowledge_and_resolve_are_audited_and_an_acknowledged_alert_still_counts() {
    // No cool-down: every sighting of an open alert notifies, so silence is the acknowledgement's.
    let app = TestApp::spawn_with(&[("ALERTS_NOTIFY_COOL_DOWN_SECONDS", "0")]).await;
    let admin = app.admin_token().await;
    let key = "dead_letters:transaction-processor";
    let dead = condition(key, AlertKind::DeadLetters, Severity::Critical);
    raise(&app, &dead).await;
    raise(&app, &dead).await;
    assert_eq!(
        only(&app, key).await.notifications,
        2,
        "open: told every time"
    );
    let (_, list) = app.get("/api/v1/alerts", Some(&admin)).await;
    let id = ids(&list)[0].clone();

    let (status, acked) = app
        .post_json(
            &format!("/api/v1/alerts/{id}/acknowledge"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{acked}");
    assert_eq!(acked["data"]["status"], "acknowledged");
    assert!(
        acked["data"]["acknowledged_by"]
            .as_str()
            .unwrap()
            .starts_with("usr_")
    );
    assert!(acked["data"]["acknowledged_at"].is_string());

    // Acknowledged, it is still the open alert of its key: a repeat counts on it, and wakes
    // nobody.
    raise(&app, &dead).await;
    let alert = only(&app, key).await;
    assert_eq!(
        (alert.status.as_str(), alert.count, alert.notifications),
        ("acknowledged", 3, 2)
    );
    let (status, body) = app
        .post_json(
            &format!("/api/v1/alerts/{id}/acknowledge"),
            Some(&admin),
            json!({}),
        )
        .await;
    expect_error(status, &body, StatusCode::CONFLICT, "CONFLICT");

    let (status, resolved) = app
        .post_json(
            &format!("/api/v1/alerts/{id}/resolve"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{resolved}");
    assert_eq!(resolved["data"]["status"], "resolved");
    assert_eq!(resolved["data"]["resolution"], "operator");
    assert_eq!(
        resolved["data"]["resolved_by"], acked["data"]["acknowledged_by"],
        "the same operator"
    );
    for action in ["resolve", "acknowledge"] {
        let (status, body) = app
            .post_json(
                &format!("/api/v1/alerts/{id}/{action}"),
                Some(&admin),
                json!({}),
            )
            .await;
        expect_error(status, &body, StatusCode::CONFLICT, "CONFLICT");
    }
    // The condition is seen again after an operator closed it: a new alert.
    raise(&app, &dead).await;
    let both = rows(&app, key).await;
    assert_eq!(both.len(), 2);
    let acknowledged: shared::ids::AlertId = id.parse().unwrap();
    assert_eq!(both[0].id, acknowledged.as_uuid().to_string());
    assert_eq!((both[1].status.as_str(), both[1].count), ("open", 1));

    // Both actions are in the audit log with the state before and after; refusals write nothing.
    let audit = app
        .db
        .owner()
        .await
        .query(
            "SELECT action, actor_type, before->>'status' AS before, after->>'status' AS after
               FROM audit_log WHERE target_type = 'alert' AND target_id = $1 ORDER BY id",
            &[&id],
        )
        .await
        .unwrap();
    let audit: Vec<(String, String, String, String)> = audit
        .iter()
        .map(|r| {
            (
                r.get("action"),
                r.get("actor_type"),
                r.get("before"),
                r.get("after"),
            )
        })
        .collect();
    assert_eq!(
        audit,
        vec![
            (
                "alert.acknowledged".into(),
                "user".into(),
                "open".into(),
                "acknowledged".into()
            ),
            (
                "alert.resolved".into(),
                "user".into(),
                "acknowledged".into(),
                "resolved".into()
            ),
        ]
    );

    // Bad and unknown ids on every route by id.
    let unknown = shared::ids::AlertId::generate().to_string();
    for (method, suffix) in [("GET", ""), ("POST", "/acknowledge"), ("POST", "/resolve")] {
        for (bad, want) in [
            ("123", StatusCode::BAD_REQUEST),
            (
                "mer_0123456789abcdef0123456789abcdef",
                StatusCode::BAD_REQUEST,
            ),
            (
                "alt_0123456789ABCDEF0123456789ABCDEF",
                StatusCode::BAD_REQUEST,
            ),
            (unknown.as_str(), StatusCode::NOT_FOUND),
        ] {
            let path = format!("/api/v1/alerts/{bad}{suffix}");
            let (status, body) = if method == "GET" {
                app.get(&path, Some(&admin)).await
            } else {
                app.post_json(&path, Some(&admin), json!({})).await
            };
            if want == StatusCode::BAD_REQUEST {
                let details = expect_error(status, &body, want, "VALIDATION_ERROR");
                assert!(details["id"].is_string(), "{method} {path}: {body}");
            } else {
                expect_error(status, &body, want, "NOT_FOUND");
            }
        }
    }
}

/// moto's SQS (`LSP_TEST_MOTO`): the adapter reads a queue's and its dead-letter queue's counts,
/// and the monitor raises and clears the dead-letter alert from them.
#[tokio::test]
async fn sqs_reports_queue_depth_and_the_monitor_uses_it() {
    use aws_sdk_sqs::config::{Credentials, Region};
    use shared::jobs::JobQueue;
    use shared::jobs::sqs::SqsQueue;
    use std::time::Duration;

    let moto = std::env::var("LSP_TEST_MOTO")
        .expect("LSP_TEST_MOTO must point at a moto server: run scripts/test, which starts one");
    let config = shared::jobs::aws::loader()
        .endpoint_url(moto)
        .region(Region::new("ap-south-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
        .load()
        .await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let prefix = format!("lsp-{}-", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let queue = Arc::new(SqsQueue::new(sqs, &prefix));
    let name = shared::jobs::queues::REFUND_PROCESSOR;
    queue.ensure_queues(&[name], 3).await.unwrap();

    let empty = queue.depth(name).await.unwrap();
    assert_eq!(empty, shared::jobs::QueueDepth::default());
    queue
        .send(
            name,
            &["{\"a\":1}".into(), "{\"a\":2}".into()],
            Duration::ZERO,
        )
        .await
        .unwrap();
    queue
        .send(name, &["{\"a\":3}".into()], Duration::from_secs(300))
        .await
        .unwrap();
    let received = queue
        .receive(name, 1, Duration::from_secs(300))
        .await
        .unwrap();
    assert_eq!(received.len(), 1);
    queue
        .send(
            &format!("{name}-dlq"),
            &["{\"dead\":true}".into()],
            Duration::ZERO,
        )
        .await
        .unwrap();
    let depth = queue.depth(name).await.unwrap();
    assert_eq!(
        (
            depth.visible,
            depth.in_flight,
            depth.delayed,
            depth.dead_letters
        ),
        (1, 1, 1, 1),
        "{depth:?}"
    );
    assert_eq!(depth.oldest_visible_age, None, "SQS keeps no age attribute");
    // A queue that does not exist is an error, not an empty queue.
    assert!(queue.depth("no-such-queue").await.is_err());

    // The monitor over these queues: the dead letter raises its alert; the other worker queues
    // this run never created are reported, their alerts left alone.
    let app = TestApp::spawn_with_ports(
        &[],
        Some((queue.clone(), Arc::new(shared::jobs::aws::Undeclared))),
    )
    .await;
    let run = monitor(&app).await;
    assert_eq!(run["queues_checked"], 1, "{run}");
    assert_eq!(
        run["queue_errors"].as_array().unwrap().len(),
        shared::jobs::queues::ALL.len() - 1,
        "{run}"
    );
    let key = format!("dead_letters:{name}");
    assert_eq!(only(&app, &key).await.status, "open");

    let dead = queue
        .receive(&format!("{name}-dlq"), 10, Duration::from_secs(30))
        .await
        .unwrap();
    let receipts: Vec<String> = dead.into_iter().map(|m| m.receipt).collect();
    queue
        .delete(&format!("{name}-dlq"), &receipts)
        .await
        .unwrap();
    let run = monitor(&app).await;
    assert_eq!(run["cleared"], 1, "{run}");
    assert_eq!(only(&app, &key).await.status, "resolved");
}

/// The two conditions found on paths that act for someone else are raised in those paths' own
/// scopes: a merchant's endpoint (merchant scope) and an amount mismatch (public scope, the
/// checkout's return). Those scopes can raise nothing else, nor another merchant's.
#[tokio::test]
async fn merchant_and_public_scopes_raise_only_their_own_kinds() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Endpoint Shop").await;
    let merchant: MerchantId = m.id.parse().unwrap();
    let other: MerchantId = app
        .create_merchant(&admin, "Other Shop")
        .await
        .id
        .parse()
        .unwrap();
    let as_merchant = Scope::Merchant {
        id: merchant,
        mode: shared::mode::Mode::Test,
    };
    let attempt = |scope: Scope, condition: Condition| {
        let app = &app;
        async move {
            let mut client = app.app.db.client().await.unwrap();
            let tx = db::begin(&mut client, scope).await.unwrap();
            let result = alerts::raise(&tx, &app.app, &condition).await;
            if result.is_ok() {
                tx.commit().await.unwrap();
            }
            result.map(|_| ()).map_err(|e| e.to_string())
        }
    };
    let refused = |result: Result<(), String>, what: &str| {
        let error = result.expect_err(what);
        assert!(error.contains("row-level security"), "{what}: {error}");
    };
    let endpoint = |merchant: MerchantId| Condition {
        merchant_id: Some(merchant),
        ..condition(
            "webhook_endpoint:wep_0123456789abcdef0123456789abcdef",
            AlertKind::WebhookEndpointDisabled,
            Severity::Warning,
        )
    };
    attempt(as_merchant, endpoint(merchant)).await.unwrap();
    assert_eq!(only(&app, &endpoint(merchant).key).await.status, "open");
    assert!(
        attempt(as_merchant, endpoint(other)).await.is_err(),
        "another merchant's"
    );
    assert!(
        attempt(
            as_merchant,
            condition("dead_letters:x", AlertKind::DeadLetters, Severity::Critical)
        )
        .await
        .is_err(),
        "a platform condition"
    );
    // The merchant enables the endpoint again: its alert resolves in the merchant's scope.
    {
        let mut client = app.app.db.client().await.unwrap();
        let tx = db::begin(&mut client, as_merchant).await.unwrap();
        assert!(
            alerts::clear(&tx, &app.app, &endpoint(merchant).key)
                .await
                .unwrap()
        );
        tx.commit().await.unwrap();
    }
    assert_eq!(only(&app, &endpoint(merchant).key).await.status, "resolved");

    let mismatch = Condition {
        merchant_id: Some(merchant),
        ..condition(
            "amount_mismatch:att_0123456789abcdef0123456789abcdef",
            AlertKind::AmountMismatch,
            Severity::Critical,
        )
    };
    attempt(Scope::Public, mismatch.clone()).await.unwrap();
    attempt(Scope::Public, mismatch.clone()).await.unwrap();
    assert_eq!(only(&app, &mismatch.key).await.count, 2);
    // The public scope cannot see the operators' recipients: the alert waits, unnotified, for
    // the monitor, which tells people once.
    assert_eq!(only(&app, &mismatch.key).await.notifications, 0);
    monitor(&app).await;
    assert_eq!(only(&app, &mismatch.key).await.notifications, 1);
    monitor(&app).await;
    assert_eq!(only(&app, &mismatch.key).await.notifications, 1);
    refused(
        attempt(Scope::Public, endpoint(merchant)).await,
        "public raises only amount mismatches",
    );
}
