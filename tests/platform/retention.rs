//! The maintenance job's retention of the operations tables (worker minutes, message failures,
//! run records) and of volume-cap periods long over: ages count from the run's scheduled time,
//! not the clock, and a run happens once per scheduled time.

use crate::support::*;
use chrono::{DateTime, Duration, DurationRound, Utc};
use functions::worker::run_schedule_at;
use serde_json::Value;
use shared::db::{self, Scope};
use shared::schedules::runs::RunOutcome;

/// The rows of `sql` (one text column, `name`), sorted.
async fn names(app: &TestApp, sql: &str) -> Vec<String> {
    let mut names: Vec<String> = app
        .db
        .owner()
        .await
        .query(sql, &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get("name"))
        .collect();
    names.sort();
    names
}

/// Writes one row of each pruned operations table, aged by its own duration before `at`, named
/// `label`.
async fn rows_aged(
    app: &TestApp,
    at: DateTime<Utc>,
    label: &str,
    worker: Duration,
    failure: Duration,
    run: Duration,
) {
    let owner = app.db.owner().await;
    let minute = (at - worker).duration_trunc(Duration::minutes(1)).unwrap();
    owner
        .execute(
            "INSERT INTO worker_activity (worker, minute) VALUES ($1, $2)",
            &[&label, &minute],
        )
        .await
        .unwrap();
    owner
        .execute(
            "INSERT INTO job_failures (queue, message_id, receive_count, error, failed_at)
             VALUES ('transaction-processor', $1, 1, 'boom', $2)",
            &[&label, &(at - failure)],
        )
        .await
        .unwrap();
    owner
        .execute(
            "INSERT INTO schedule_runs (job, scheduled_at, status, started_at, finished_at)
             VALUES ($1, $2, 'succeeded', $2, $2)",
            &[&label, &(at - run)],
        )
        .await
        .unwrap();
}

fn deleted(summary: &Value, table: &str) -> i64 {
    summary["pruned"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["table"] == table)
        .unwrap_or_else(|| panic!("{table} is not pruned: {summary}"))["deleted"]
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn a_late_run_prunes_what_its_scheduled_time_allows_and_runs_once() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Chai Point").await;
    let merchant = m.id.parse::<shared::ids::MerchantId>().unwrap().as_uuid();
    let account = {
        let mut client = app.app.db.client().await.unwrap();
        let tx = db::begin(&mut client, Scope::System).await.unwrap();
        let id = shared::seed::sandbox_account(&app.app, &tx).await.unwrap();
        tx.commit().await.unwrap();
        id.as_uuid()
    };
    // The run meant for ten days ago, carried out now.
    let at = (Utc::now() - Duration::days(10))
        .duration_trunc(Duration::hours(1))
        .unwrap();
    let hour = Duration::hours(1);
    // Past each keep as of `at`: deleted.
    rows_aged(
        &app,
        at,
        "old",
        Duration::days(7) + hour,
        Duration::days(14) + hour,
        Duration::days(35) + hour,
    )
    .await;
    // Within each keep as of `at`, though past it as of now: a run for `at` keeps them.
    rows_aged(
        &app,
        at,
        "kept",
        Duration::days(7) - hour,
        Duration::days(14) - hour,
        Duration::days(35) - hour,
    )
    .await;
    let owner = app.db.owner().await;
    for (period, start) in [
        ("day", (at - Duration::days(401)).date_naive()),
        ("month", (at - Duration::days(430)).date_naive()),
        ("day", (at - Duration::days(399)).date_naive()),
        ("day", Utc::now().date_naive()),
    ] {
        owner
            .execute(
                "INSERT INTO routing_cap_usage (merchant_id, gateway_account_id, period, period_start, reserved)
                 VALUES ($1, $2, $3, $4, 500)",
                &[&merchant, &account, &period, &start],
            )
            .await
            .unwrap();
    }

    // Outbox rows: published past the week (deleted), within it (kept), never published (kept,
    // however old).
    for (topic, created, published) in [
        (
            "old.published",
            at - Duration::days(9),
            Some(at - Duration::days(8)),
        ),
        (
            "recent.published",
            at - Duration::days(9),
            Some(at - Duration::days(6)),
        ),
        ("never.published", at - Duration::days(30), None),
    ] {
        owner
            .execute(
                "INSERT INTO outbox (id, kind, topic, payload, created_at, published_at)
                 VALUES (gen_random_uuid(), 'event', $1, '{}', $2, $3)",
                &[&topic, &created, &published],
            )
            .await
            .unwrap();
    }

    let outcome = run_schedule_at(&app.app, "maintenance", at).await.unwrap();
    let RunOutcome::Ran { summary, .. } = outcome else {
        panic!("the first run for {at} runs: {outcome:?}");
    };
    assert_eq!(deleted(&summary, "worker_activity"), 1, "{summary}");
    assert_eq!(deleted(&summary, "job_failures"), 1, "{summary}");
    assert_eq!(deleted(&summary, "schedule_runs"), 1, "{summary}");
    assert_eq!(deleted(&summary, "routing_cap_usage"), 2, "{summary}");
    assert_eq!(deleted(&summary, "outbox"), 1, "{summary}");
    assert_eq!(
        names(
            &app,
            "SELECT topic AS name FROM outbox WHERE topic LIKE '%.published'"
        )
        .await,
        ["never.published", "recent.published"]
    );
    assert_eq!(
        names(&app, "SELECT worker AS name FROM worker_activity").await,
        ["kept"]
    );
    assert_eq!(
        names(&app, "SELECT message_id AS name FROM job_failures").await,
        ["kept"]
    );
    assert_eq!(
        names(&app, "SELECT job AS name FROM schedule_runs").await,
        ["kept", "maintenance"],
        "the run's own record stays"
    );
    let periods = names(
        &app,
        "SELECT period || ' ' || period_start::text AS name FROM routing_cap_usage",
    )
    .await;
    let mut want = vec![
        format!("day {}", (at - Duration::days(399)).date_naive()),
        format!("day {}", Utc::now().date_naive()),
    ];
    want.sort();
    assert_eq!(periods, want, "periods that started within 400 days stay");

    // The same scheduled time again: the run already happened, so nothing more is deleted.
    rows_aged(
        &app,
        at,
        "older",
        Duration::days(8),
        Duration::days(15),
        Duration::days(36),
    )
    .await;
    let again = run_schedule_at(&app.app, "maintenance", at).await.unwrap();
    assert!(matches!(again, RunOutcome::AlreadyRan { .. }), "{again:?}");
    assert_eq!(
        names(&app, "SELECT worker AS name FROM worker_activity").await,
        ["kept", "older"]
    );
    // A run for the next hour prunes them.
    let next = run_schedule_at(&app.app, "maintenance", at + hour)
        .await
        .unwrap();
    let RunOutcome::Ran { summary, .. } = next else {
        panic!("a new scheduled time runs: {next:?}");
    };
    assert_eq!(deleted(&summary, "worker_activity"), 1, "{summary}");
    assert_eq!(
        names(&app, "SELECT worker AS name FROM worker_activity").await,
        ["kept"]
    );

    // A run scheduled in the future by mistake prunes as of now, never rows within their keep.
    let now = Utc::now();
    rows_aged(
        &app,
        now,
        "fresh",
        Duration::days(1),
        Duration::days(1),
        Duration::days(1),
    )
    .await;
    let future = run_schedule_at(&app.app, "maintenance", now + Duration::days(30))
        .await
        .unwrap();
    assert!(matches!(future, RunOutcome::Ran { .. }), "{future:?}");
    assert_eq!(
        names(&app, "SELECT worker AS name FROM worker_activity").await,
        ["fresh"]
    );
    assert_eq!(
        names(&app, "SELECT message_id AS name FROM job_failures").await,
        ["fresh"]
    );
}
