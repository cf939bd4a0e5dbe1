//! Running workers and schedules outside Lambda: the local runner and the tests poll the job
//! queue and call the same handlers the Lambda adapters call.

use crate::registry::{FUNCTIONS, Trigger};
use chrono::{DateTime, Utc};
use shared::App;
use shared::schedules::Tick;
use shared::schedules::runs::{self, RunOutcome};
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

/// Runs the scheduled job `name` for now (the app's clock): `run-job` and the tests.
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

/// Seconds between runs of a `rate(N unit)` expression (the local runner's timers).
pub fn rate_seconds(expression: &str) -> Option<u64> {
    let inner = expression.strip_prefix("rate(")?.strip_suffix(')')?;
    let (n, unit) = inner.split_once(' ')?;
    let n: u64 = n.parse().ok()?;
    let unit = match unit.trim_end_matches('s') {
        "minute" => 60,
        "hour" => 3600,
        "day" => 86_400,
        _ => return None,
    };
    Some(n * unit)
}

/// Runs every worker and schedule in the background until the process ends (local runner).
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
        let Trigger::Schedule {
            expression,
            handler,
            ..
        } = function.trigger
        else {
            continue;
        };
        let Some(every) = rate_seconds(expression) else {
            tracing::warn!(
                function = function.name,
                expression,
                "schedule not run locally (only rate expressions are)"
            );
            continue;
        };
        let app = app.clone();
        let name = function.name;
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(std::time::Duration::from_secs(every));
            loop {
                interval.tick().await;
                let tick = Tick::at(app.clock.now());
                match runs::run_once(&app, name, tick, |tick| handler(app.clone(), tick)).await {
                    Ok(outcome) => {
                        tracing::info!(job = name, outcome = ?outcome, "scheduled job ran")
                    }
                    Err(e) => tracing::warn!(job = name, error = %e, "scheduled job failed"),
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_rate_expressions() {
        assert_eq!(super::rate_seconds("rate(1 minute)"), Some(60));
        assert_eq!(super::rate_seconds("rate(5 minutes)"), Some(300));
        assert_eq!(super::rate_seconds("cron(0 2 * * ? *)"), None);
    }
}
