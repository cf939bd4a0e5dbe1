//! Scheduled runs: every schedule of the registry runs once per scheduled time (its run key); a
//! failed run is taken up again by the next invocation of its time and raises `schedule_failed`
//! until a run succeeds; a run whose invocation died is taken over after `ABANDONED_AFTER`.

use crate::support::*;
use chrono::{DateTime, DurationRound, Utc};
use functions::registry::FUNCTIONS;
use functions::worker::{run_schedule_at, schedule_of};
use reqwest::StatusCode;
use shared::AppError;
use shared::schedules::Tick;
use shared::schedules::runs::{self, ABANDONED_AFTER, RunOutcome};

/// `(status, attempts, error)` of each run of `job`, by scheduled time.
async fn runs_of(app: &TestApp, job: &str) -> Vec<(DateTime<Utc>, String, i32, Option<String>)> {
    app.db
        .owner()
        .await
        .query(
            "SELECT scheduled_at, status, attempts, error FROM schedule_runs WHERE job = $1
              ORDER BY scheduled_at",
            &[&job],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| {
            (
                r.get("scheduled_at"),
                r.get("status"),
                r.get("attempts"),
                r.get("error"),
            )
        })
        .collect()
}

/// `(status, resolution, count)` of the alerts of `key`, oldest first.
async fn alerts_of(app: &TestApp, key: &str) -> Vec<(String, Option<String>, i32)> {
    app.db
        .owner()
        .await
        .query(
            "SELECT status, resolution, count FROM alerts WHERE key = $1 AND kind = 'schedule_failed'
              ORDER BY created_at, id",
            &[&key],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get("status"), r.get("resolution"), r.get("count")))
        .collect()
}

#[tokio::test]
async fn every_schedule_runs_once_per_scheduled_time() {
    let app = TestApp::spawn().await;
    let mut checked = 0;
    for function in FUNCTIONS {
        let Some(schedule) = schedule_of(function) else {
            continue;
        };
        let name = function.name;
        // The schedule's latest slot: the time its scheduler would have passed.
        let at = schedule
            .unwrap()
            .latest_at_or_before(app.app.clock.now())
            .unwrap();
        match run_schedule_at(&app.app, name, at).await {
            Ok(RunOutcome::Ran { scheduled_at, .. }) => assert_eq!(scheduled_at, at, "{name}"),
            other => panic!("{name}: the first invocation should run it: {other:?}"),
        }
        match run_schedule_at(&app.app, name, at).await {
            Ok(RunOutcome::AlreadyRan {
                scheduled_at,
                status,
            }) => assert_eq!((scheduled_at, status.as_str()), (at, "succeeded"), "{name}"),
            other => panic!("{name}: the second invocation should do nothing: {other:?}"),
        }
        assert_eq!(
            runs_of(&app, name).await,
            vec![(at, "succeeded".to_string(), 1, None)],
            "{name}"
        );
        checked += 1;
    }
    assert!(checked >= 8, "{checked} schedules");
    // A different time is a different run.
    let later = Utc::now()
        .duration_trunc(chrono::Duration::minutes(1))
        .unwrap()
        + chrono::Duration::minutes(1);
    assert!(matches!(
        run_schedule_at(&app.app, "outbox-sweeper", later).await,
        Ok(RunOutcome::Ran { .. })
    ));
    assert_eq!(runs_of(&app, "outbox-sweeper").await.len(), 2);
}

#[tokio::test]
async fn a_failed_run_is_retried_and_alerts_until_a_run_succeeds() {
    let app = TestApp::spawn().await;
    let job = "flaky-report";
    let key = runs::alert_key(job);
    let at = Utc::now()
        .duration_trunc(chrono::Duration::minutes(1))
        .unwrap();
    let failing = |_tick: Tick| async {
        Err::<serde_json::Value, _>(AppError::Internal("the report store is unreachable".into()))
    };
    let e = runs::run_once(&app.app, job, Tick::at(at), failing)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("unreachable"), "{e}");
    let recorded = runs_of(&app, job).await;
    assert_eq!(recorded.len(), 1);
    assert_eq!((recorded[0].1.as_str(), recorded[0].2), ("failed", 1));
    assert!(recorded[0].3.as_deref().unwrap().contains("unreachable"));
    assert_eq!(
        alerts_of(&app, &key).await,
        vec![("open".to_string(), None, 1)]
    );

    // The next invocation of the same time (the scheduler's retry, `run-job --at`) claims the
    // failed run again and succeeds: the run is done (attempts 2) and the alert resolved.
    let outcome = runs::run_once(&app.app, job, Tick::at(at), |tick| async move {
        Ok(serde_json::json!({ "for": tick.scheduled_at }))
    })
    .await
    .unwrap();
    assert!(matches!(outcome, RunOutcome::Ran { .. }), "{outcome:?}");
    assert_eq!(
        runs_of(&app, job).await,
        vec![(at, "succeeded".to_string(), 2, None)]
    );
    assert_eq!(
        alerts_of(&app, &key).await,
        vec![("resolved".to_string(), Some("automatic".to_string()), 1)]
    );
    // Once succeeded, the run is not run again, not even by a failing invocation.
    let again = runs::run_once(&app.app, job, Tick::at(at), failing)
        .await
        .unwrap();
    assert!(matches!(again, RunOutcome::AlreadyRan { .. }), "{again:?}");
    assert_eq!(runs_of(&app, job).await[0].2, 2);

    // A later slot that fails twice opens a new alert, seen twice; other jobs have none.
    let next = at + chrono::Duration::minutes(1);
    for attempt in 1..=2 {
        runs::run_once(&app.app, job, Tick::at(next), failing)
            .await
            .unwrap_err();
        assert_eq!(runs_of(&app, job).await[1].2, attempt);
    }
    assert_eq!(
        alerts_of(&app, &key).await,
        vec![
            ("resolved".to_string(), Some("automatic".to_string()), 1),
            ("open".to_string(), None, 2),
        ]
    );
    assert!(
        alerts_of(&app, &runs::alert_key("outbox-sweeper"))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn a_run_whose_invocation_died_is_taken_over_after_abandoned_after() {
    let app = TestApp::spawn().await;
    let owner = app.db.owner().await;
    let at = Utc::now()
        .duration_trunc(chrono::Duration::minutes(1))
        .unwrap();
    let recent = at - chrono::Duration::minutes(1);
    let abandoned = ABANDONED_AFTER.as_secs_f64() + 60.0;
    // One run died long ago; another started a moment ago and is still going.
    for (scheduled_at, age) in [(at, abandoned), (recent, 5.0)] {
        owner
            .execute(
                "INSERT INTO schedule_runs (job, scheduled_at, status, started_at)
                 VALUES ('gateway-health', $1, 'running', now() - make_interval(secs => $2))",
                &[&scheduled_at, &age],
            )
            .await
            .unwrap();
    }
    match run_schedule_at(&app.app, "gateway-health", recent).await {
        Ok(RunOutcome::AlreadyRan { status, .. }) => assert_eq!(status, "running"),
        other => panic!("a run in progress is left to its invocation: {other:?}"),
    }
    match run_schedule_at(&app.app, "gateway-health", at).await {
        Ok(RunOutcome::Ran { .. }) => {}
        other => panic!("an abandoned run is taken over: {other:?}"),
    }
    assert_eq!(
        runs_of(&app, "gateway-health").await,
        vec![
            (recent, "running".to_string(), 1, None),
            (at, "succeeded".to_string(), 2, None),
        ]
    );
}

/// A late run, its scheduled time a day behind the clock, runs once for that time and succeeds:
/// the monitors that can only read the present skip it (`{"skipped": "late"}`), the jobs that
/// measure a window or an age measure the scheduled time's, and the sweepers act on what is due
/// when they run (below).
#[tokio::test]
async fn every_schedule_run_late_runs_once_for_its_own_time() {
    let app = TestApp::spawn().await;
    let day_ago = app.app.clock.now() - chrono::Duration::days(1);
    let mut checked = 0;
    for function in FUNCTIONS {
        let Some(schedule) = schedule_of(function) else {
            continue;
        };
        let name = function.name;
        let late = schedule.unwrap().latest_at_or_before(day_ago).unwrap();
        match run_schedule_at(&app.app, name, late).await {
            Ok(RunOutcome::Ran { scheduled_at, .. }) => assert_eq!(scheduled_at, late, "{name}"),
            other => panic!("{name}: a late run should run for its own time: {other:?}"),
        }
        assert!(
            matches!(
                run_schedule_at(&app.app, name, late).await,
                Ok(RunOutcome::AlreadyRan { .. })
            ),
            "{name}: a second late invocation does nothing"
        );
        assert_eq!(
            runs_of(&app, name).await,
            vec![(late, "succeeded".to_string(), 1, None)],
            "{name}"
        );
        checked += 1;
    }
    assert!(checked >= 8, "{checked} schedules");
}

/// The transaction monitor is a sweep of the present: run late, it expires a payment whose
/// expiry passed after its scheduled time, since that payment is expired when the run happens.
#[tokio::test]
async fn a_late_sweep_acts_on_what_is_due_when_it_runs() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Late Sweep Shop").await;
    let (status, body) = app
        .pay(&m, &payment("order-late-sweep", 25_000, false), None)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    app.drain().await;
    let id: shared::ids::TransactionId = body["data"]["id"].as_str().unwrap().parse().unwrap();
    let owner = app.db.owner().await;
    owner
        .execute(
            "UPDATE transactions SET created_at = now() - interval '2 hours',
                    expires_at = now() - interval '1 minute'
              WHERE id = $1",
            &[&id.as_uuid()],
        )
        .await
        .unwrap();
    let scheduled = app.app.clock.now() - chrono::Duration::hours(1);
    let late = scheduled
        .duration_trunc(chrono::Duration::minutes(5))
        .unwrap();
    let outcome = run_schedule_at(&app.app, "transaction-monitor", late)
        .await
        .unwrap();
    assert!(matches!(outcome, RunOutcome::Ran { .. }), "{outcome:?}");
    let status: String = owner
        .query_one(
            "SELECT status FROM transactions WHERE id = $1",
            &[&id.as_uuid()],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(status, "expired");
}
