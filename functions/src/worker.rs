//! Running workers and schedules outside Lambda: the local runner and the tests poll the job
//! queue and call the same handlers the Lambda adapters call.

use crate::registry::{FUNCTIONS, Trigger};
use chrono::{DateTime, Utc};
use shared::App;
use shared::schedules::Tick;
use shared::schedules::expression::{ExpressionError, Schedule};
use shared::schedules::runs::{self, RunOutcome};
use shared::schedules::timetable::{self, Step};
use std::sync::Arc;

/// Receives one batch for each worker whose queue is not paused and processes it, deleting what
/// succeeded; returns how many messages were handled.
pub async fn poll_once(app: &Arc<App>) -> usize {
    let mut handled = 0;
    // Unreadable controls pause nothing: the workers cope with an outage themselves.
    let paused = shared::jobs::controls::paused(&app.db)
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "queue controls unreadable; no queue is skipped");
            Default::default()
        });
    for function in FUNCTIONS {
        let Trigger::Worker { queue, handler } = function.trigger else {
            continue;
        };
        if paused.contains(queue) {
            continue;
        }
        let visibility = app.config.jobs.visibility_timeout;
        let messages = match app.queue.receive(queue, 10, visibility).await {
            Ok(messages) => messages,
            Err(e) => {
                tracing::warn!(queue, error = %e, "receive failed");
                continue;
            }
        };
        if messages.is_empty() {
            continue;
        }
        handled += messages.len();
        let receipts: Vec<(String, String)> = messages
            .iter()
            .map(|m| (m.id.clone(), m.receipt.clone()))
            .collect();
        let failed = handler(app.clone(), messages).await;
        let done: Vec<String> = receipts
            .into_iter()
            .filter(|(id, _)| !failed.contains(id))
            .map(|(_, receipt)| receipt)
            .collect();
        if let Err(e) = app.queue.delete(queue, &done).await {
            tracing::warn!(queue, error = %e, "delete failed; messages will be delivered again");
        }
    }
    handled
}

/// Polls until every worker queue is empty (tests), at most `rounds` batches.
pub async fn drain(app: &Arc<App>, rounds: usize) {
    for _ in 0..rounds {
        if poll_once(app).await == 0 {
            return;
        }
    }
}

/// Runs the scheduled job `name` for now (the app's clock), answering the job's summary: the tests.
pub async fn run_schedule(
    app: &Arc<App>,
    name: &str,
) -> Result<serde_json::Value, shared::AppError> {
    match run_schedule_at(app, name, app.clock.now()).await? {
        RunOutcome::Ran { summary, .. } => Ok(summary),
        already => {
            serde_json::to_value(already).map_err(|e| shared::AppError::Internal(e.to_string()))
        }
    }
}

/// Runs the scheduled job `name` for the run scheduled at `scheduled_at`, unless that run
/// already happened (the run key).
pub async fn run_schedule_at(
    app: &Arc<App>,
    name: &str,
    scheduled_at: DateTime<Utc>,
) -> Result<RunOutcome, shared::AppError> {
    let function = crate::registry::find(name)
        .ok_or_else(|| shared::AppError::Internal(format!("no function {name}")))?;
    let Trigger::Schedule { handler, .. } = function.trigger else {
        return Err(shared::AppError::Internal(format!(
            "{name} is not a scheduled job"
        )));
    };
    runs::run_once(app, name, Tick::at(scheduled_at), |tick| {
        handler(app.clone(), tick)
    })
    .await
}

/// The timetable of a registry function, if it is a schedule.
pub fn schedule_of(
    function: &crate::registry::Function,
) -> Option<Result<Schedule, ExpressionError>> {
    match function.trigger {
        Trigger::Schedule {
            expression,
            timezone,
            ..
        } => Some(Schedule::parse(expression, timezone)),
        _ => None,
    }
}

/// Runs every worker and schedule in the background until the process ends (local runner).
/// Each schedule runs on its own timetable (`shared::schedules::timetable`), every slot under its
/// run key, so several runner processes on one database run each slot once.
pub fn spawn_all(app: Arc<App>) {
    let workers = app.clone();
    tokio::spawn(async move {
        loop {
            if poll_once(&workers).await == 0 {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        }
    });
    for function in FUNCTIONS {
        let schedule = match schedule_of(function) {
            None => continue,
            Some(Ok(schedule)) => schedule,
            Some(Err(e)) => {
                tracing::error!(function = function.name, error = %e, "schedule not run locally");
                continue;
            }
        };
        let app = app.clone();
        let name = function.name;
        tokio::spawn(async move {
            let mut last = None;
            loop {
                let now = app.clock.now();
                match timetable::step(&schedule, now, last) {
                    Step::Run(slot) => {
                        last = Some(slot);
                        match run_schedule_at(&app, name, slot).await {
                            Ok(outcome) => {
                                tracing::info!(job = name, outcome = ?outcome, "scheduled job ran")
                            }
                            Err(e) => {
                                tracing::warn!(job = name, scheduled_at = %slot, error = %e, "scheduled job failed")
                            }
                        }
                    }
                    Step::WaitUntil(next) => tokio::time::sleep(timetable::nap(now, next)).await,
                    Step::Done => {
                        tracing::info!(job = name, "schedule has no slot left");
                        return;
                    }
                }
            }
        });
    }
}
