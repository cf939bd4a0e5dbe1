//! The `worker-health-monitor` schedule (every minute): judges each worker from what it did over
//! the window ending at the run's scheduled time (`worker_activity`) and from what waits on its
//! queue, writes the judgement to `worker_health`, and raises or clears its two alerts:
//!
//! - `worker_failing:<worker>` when its error rate over the window is above
//!   `WORKER_FAILING_RATE_PERCENT` with at least `WORKER_FAILING_MIN_FAILURES` failures;
//! - `worker_silent:<worker>` when work waits on its queue (visible messages older than
//!   `WORKER_SILENT_AFTER_SECONDS`, or any visible message when the queue cannot tell their age,
//!   or more than `ALERTS_QUEUE_BACKLOG` visible) and it has not succeeded for
//!   `WORKER_SILENT_AFTER_SECONDS`. A worker that is failing is reported as failing, not also as
//!   silent: one cause, one alert.
//!
//! A late run (scheduled more than a minute ago) does nothing and says so (`{"skipped": "late"}`):
//! the queue's depth can only be read now, and a judgement for an old time written after a newer
//! one would put the newer one's status and alerts back. The next run, a minute later, judges.
//! A worker whose queue an operator paused is `paused`, never silent (its silent alert clears).
//! A queue whose depth cannot be read leaves its worker's silent alert as it was (unknown is not
//! cleared) and records no backlog.

use super::Worker;
use crate::alerts::{AlertKind, Condition, clear, raise};
use crate::app::App;
use crate::config::MonitorsConfig;
use crate::db::record::Record;
use crate::db::{self, Scope};
use crate::error::AppError;
use crate::jobs::{QueueDepth, controls};
use crate::notifications::Severity;
use crate::schedules::Tick;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio_postgres::types::Type;

/// How often the monitor runs (its registry entry's `rate(1 minute)`; a test holds the two
/// together).
pub const PERIOD: Duration = Duration::from_secs(60);

/// A worker's judged health, as `worker_health.status` stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// It did work in the window and is not failing.
    Healthy,
    /// It had nothing to do.
    Idle,
    /// Its error rate is over its limit.
    Failing,
    /// Work waits on its queue and it has not succeeded for too long.
    Silent,
    /// An operator paused its queue: its silence is intended.
    Paused,
}

impl Status {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Healthy => "healthy",
            Status::Idle => "idle",
            Status::Failing => "failing",
            Status::Silent => "silent",
            Status::Paused => "paused",
        }
    }
}

/// What a worker did, read from `worker_activity` for one judgement.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Activity {
    /// Messages done in the window.
    pub processed: i64,
    /// Messages failed in the window.
    pub failed: i64,
    /// Its last success before the scheduled time, however long ago.
    pub last_success_at: Option<DateTime<Utc>>,
    /// Its last failure before the scheduled time.
    pub last_failure_at: Option<DateTime<Utc>>,
    /// That failure's error.
    pub last_error: Option<String>,
}

/// One worker's judgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Judgement {
    /// The status recorded.
    pub status: Status,
    /// Whether its failing alert holds.
    pub failing: bool,
    /// Whether its silent alert holds; `None` when its queue could not be read.
    pub silent: Option<bool>,
}

/// The key of the alert about `worker` gone silent.
pub fn silent_key(worker: &str) -> String {
    format!("worker_silent:{worker}")
}

/// The key of the alert about `worker` failing.
pub fn failing_key(worker: &str) -> String {
    format!("worker_failing:{worker}")
}

/// Whether work waits on a queue for its worker (see the module's documentation).
fn work_waits(depth: &QueueDepth, limits: &MonitorsConfig, backlog: u64) -> bool {
    depth.visible > 0
        && (depth
            .oldest_visible_age
            .is_none_or(|age| age >= limits.worker_silent_after)
            || depth.visible > backlog)
}

/// Judges one worker at `at` from its activity and its queue's depth (`None`: unknown).
pub fn judge(
    activity: &Activity,
    depth: Option<&QueueDepth>,
    at: DateTime<Utc>,
    limits: &MonitorsConfig,
    backlog: u64,
) -> Judgement {
    let attempts = activity.processed + activity.failed;
    let failing = activity.failed >= i64::from(limits.worker_failing_min_failures)
        && activity.failed * 100 > i64::from(limits.worker_failing_rate_percent) * attempts;
    let silent_after =
        chrono::Duration::from_std(limits.worker_silent_after).unwrap_or(chrono::Duration::MAX);
    let no_success = activity
        .last_success_at
        .is_none_or(|last| last <= at - silent_after);
    let silent = depth.map(|d| !failing && no_success && work_waits(d, limits, backlog));
    let status = if failing {
        Status::Failing
    } else if silent == Some(true) {
        Status::Silent
    } else if attempts > 0 {
        Status::Healthy
    } else {
        Status::Idle
    };
    Judgement {
        status,
        failing,
        silent,
    }
}

impl Judgement {
    /// The judgement of a worker whose queue an operator paused: not silent (its silent alert
    /// clears, nobody is paged for a pause), `paused` unless it is failing.
    pub fn paused(self) -> Judgement {
        Judgement {
            status: if self.failing {
                Status::Failing
            } else {
                Status::Paused
            },
            failing: self.failing,
            silent: Some(false),
        }
    }
}

/// What one run saw and did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HealthRun {
    /// The end of the window judged.
    pub scheduled_at: Option<DateTime<Utc>>,
    /// Each worker's status.
    pub workers: BTreeMap<String, Status>,
    /// Alerts raised (new, or one more sighting).
    pub raised: usize,
    /// Alerts resolved because their condition cleared.
    pub cleared: usize,
    /// Queues whose depth could not be read.
    pub queue_errors: Vec<String>,
}

/// Judges every worker of `workers` for `tick` (the caller has checked that it is not late).
pub async fn check(app: &App, workers: &[Worker], tick: Tick) -> Result<HealthRun, AppError> {
    let at = tick.scheduled_at;
    let limits = &app.config.monitors;
    let backlog = app.config.alerts.queue_backlog;
    let mut run = HealthRun {
        scheduled_at: Some(at),
        ..HealthRun::default()
    };
    // The queues are asked first, with no database connection held (SQS answers over HTTPS).
    let mut depths = BTreeMap::new();
    for worker in workers {
        match app.queue.depth(worker.queue).await {
            Ok(depth) => {
                depths.insert(worker.queue, depth);
            }
            Err(e) => {
                tracing::warn!(queue = worker.queue, error = %e, "queue depth unavailable; the worker's silent alert is left as it is");
                run.queue_errors.push(e.to_string());
            }
        }
    }
    let paused = controls::paused(&app.db).await?;
    let window = chrono::Duration::from_std(limits.worker_window).unwrap_or(chrono::Duration::MAX);
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::System).await?;
    let names: Vec<&str> = workers.iter().map(|w| w.name).collect();
    // The window's sums, and each worker's last success and failure however old (newest minute
    // first on the primary key: the first such minute found is the last).
    let rows = tx
        .query_typed(
            "SELECT w.worker,
                    (SELECT coalesce(sum(a.processed), 0)::int8 FROM worker_activity a
                      WHERE a.worker = w.worker AND a.minute >= $2 AND a.minute < $1) AS processed,
                    (SELECT coalesce(sum(a.failed), 0)::int8 FROM worker_activity a
                      WHERE a.worker = w.worker AND a.minute >= $2 AND a.minute < $1) AS failed,
                    s.last_success_at, f.last_failure_at, f.last_error
               FROM unnest($3::text[]) AS w(worker)
               LEFT JOIN LATERAL (SELECT a.last_success_at FROM worker_activity a
                                   WHERE a.worker = w.worker AND a.minute < $1 AND a.processed > 0
                                   ORDER BY a.minute DESC LIMIT 1) s ON true
               LEFT JOIN LATERAL (SELECT a.last_failure_at, a.last_error FROM worker_activity a
                                   WHERE a.worker = w.worker AND a.minute < $1 AND a.failed > 0
                                   ORDER BY a.minute DESC LIMIT 1) f ON true",
            &[
                (&at, Type::TIMESTAMPTZ),
                (&(at - window), Type::TIMESTAMPTZ),
                (&names, Type::TEXT_ARRAY),
            ],
        )
        .await?;
    let mut activities = BTreeMap::new();
    for row in &rows {
        let r = Record::new(row, "worker_activity");
        let worker: String = r.get("worker")?;
        activities.insert(
            worker,
            Activity {
                processed: r.get("processed")?,
                failed: r.get("failed")?,
                last_success_at: r.get("last_success_at")?,
                last_failure_at: r.get("last_failure_at")?,
                last_error: r.get("last_error")?,
            },
        );
    }
    let mut ids = Vec::new();
    for worker in workers {
        let activity = activities.remove(worker.name).unwrap_or_default();
        let depth = depths.get(worker.queue);
        let mut judgement = judge(&activity, depth, at, limits, backlog);
        if paused.contains(worker.queue) {
            judgement = judgement.paused();
        }
        let waiting = depth.map(|d| i64::try_from(d.visible + d.delayed).unwrap_or(i64::MAX));
        let processed = i32::try_from(activity.processed).unwrap_or(i32::MAX);
        let failed = i32::try_from(activity.failed).unwrap_or(i32::MAX);
        // A judgement never replaces a newer one (runs finishing out of order).
        tx.execute_typed(
            "INSERT INTO worker_health (worker, queue, status, checked_at, last_success_at, last_failure_at,
                                        last_error, processed, failed, error_rate, backlog)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9,
                     CASE WHEN $8 + $9 = 0 THEN 0 ELSE round($9::numeric / ($8 + $9), 4) END, $10)
             ON CONFLICT (worker) DO UPDATE
                SET queue = EXCLUDED.queue, status = EXCLUDED.status, checked_at = EXCLUDED.checked_at,
                    last_success_at = EXCLUDED.last_success_at, last_failure_at = EXCLUDED.last_failure_at,
                    last_error = EXCLUDED.last_error, processed = EXCLUDED.processed,
                    failed = EXCLUDED.failed, error_rate = EXCLUDED.error_rate, backlog = EXCLUDED.backlog
              WHERE worker_health.checked_at <= EXCLUDED.checked_at",
            &[
                (&worker.name, Type::TEXT),
                (&worker.queue, Type::TEXT),
                (&judgement.status.as_str(), Type::TEXT),
                (&at, Type::TIMESTAMPTZ),
                (&activity.last_success_at, Type::TIMESTAMPTZ),
                (&activity.last_failure_at, Type::TIMESTAMPTZ),
                (&activity.last_error, Type::TEXT),
                (&processed, Type::INT4),
                (&failed, Type::INT4),
                (&waiting, Type::INT8),
            ],
        )
        .await?;
        let details = json!({
            "worker": worker.name,
            "queue": worker.queue,
            "window_end": at,
            "window_seconds": limits.worker_window.as_secs(),
            "processed": activity.processed,
            "failed": activity.failed,
            "last_success_at": activity.last_success_at,
            "last_failure_at": activity.last_failure_at,
            "last_error": activity.last_error,
            "visible": depth.map(|d| d.visible),
            "delayed": depth.map(|d| d.delayed),
            "oldest_visible_age_seconds": depth.and_then(|d| d.oldest_visible_age).map(|a| a.as_secs()),
        });
        let failing = judgement.failing.then(|| Condition {
            key: failing_key(worker.name),
            kind: AlertKind::WorkerFailing,
            severity: Severity::Warning,
            merchant_id: None,
            title: format!(
                "Worker {} failed {} of {} messages in the last {} s (limit {} %)",
                worker.name,
                activity.failed,
                activity.processed + activity.failed,
                limits.worker_window.as_secs(),
                limits.worker_failing_rate_percent
            ),
            details: details.clone(),
        });
        let silent = judgement.silent.map(|holds| {
            holds.then(|| Condition {
                key: silent_key(worker.name),
                kind: AlertKind::WorkerSilent,
                severity: Severity::Critical,
                merchant_id: None,
                title: format!(
                    "Worker {} has not succeeded for over {} s while work waits on {}",
                    worker.name,
                    limits.worker_silent_after.as_secs(),
                    worker.queue
                ),
                details: details.clone(),
            })
        });
        let mut decisions = vec![(failing_key(worker.name), failing)];
        if let Some(silent) = silent {
            decisions.push((silent_key(worker.name), silent));
        }
        for (key, condition) in decisions {
            match condition {
                Some(condition) => {
                    ids.extend(raise(&tx, app, &condition).await?);
                    run.raised += 1;
                }
                None => {
                    if clear(&tx, app, &key).await? {
                        run.cleared += 1;
                    }
                }
            }
        }
        run.workers
            .insert(worker.name.to_string(), judgement.status);
    }
    tx.commit().await?;
    app.publish(&ids).await;
    Ok(run)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn limits() -> MonitorsConfig {
        MonitorsConfig {
            worker_window: Duration::from_secs(300),
            worker_silent_after: Duration::from_secs(600),
            worker_failing_rate_percent: 50,
            worker_failing_min_failures: 5,
            ..MonitorsConfig::default()
        }
    }

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 4, 10, 0, 0).unwrap()
    }

    fn waiting(age_seconds: Option<u64>) -> QueueDepth {
        QueueDepth {
            visible: 3,
            oldest_visible_age: age_seconds.map(Duration::from_secs),
            ..QueueDepth::default()
        }
    }

    #[test]
    fn a_worker_with_old_work_waiting_and_no_recent_success_is_silent() {
        let long_ago = Activity {
            last_success_at: Some(at() - chrono::Duration::minutes(30)),
            ..Activity::default()
        };
        let j = judge(&long_ago, Some(&waiting(Some(900))), at(), &limits(), 1000);
        assert_eq!((j.status, j.silent), (Status::Silent, Some(true)));
        // SQS cannot tell the age: any visible message waits.
        let j = judge(&long_ago, Some(&waiting(None)), at(), &limits(), 1000);
        assert_eq!(j.status, Status::Silent);
        // Fresh messages do not wait yet, unless there are more than the backlog allows.
        let j = judge(&long_ago, Some(&waiting(Some(30))), at(), &limits(), 1000);
        assert_eq!((j.status, j.silent), (Status::Idle, Some(false)));
        let j = judge(&long_ago, Some(&waiting(Some(30))), at(), &limits(), 2);
        assert_eq!(j.status, Status::Silent);
        // A recent success: not silent.
        let recent = Activity {
            last_success_at: Some(at() - chrono::Duration::minutes(9)),
            ..Activity::default()
        };
        let j = judge(&recent, Some(&waiting(Some(900))), at(), &limits(), 1000);
        assert_eq!(j.silent, Some(false));
        // An empty queue: idle however long ago it worked; an unknown queue decides nothing.
        let j = judge(
            &long_ago,
            Some(&QueueDepth::default()),
            at(),
            &limits(),
            1000,
        );
        assert_eq!((j.status, j.silent), (Status::Idle, Some(false)));
        let j = judge(&long_ago, None, at(), &limits(), 1000);
        assert_eq!((j.status, j.silent), (Status::Idle, None));
    }

    #[test]
    fn failing_needs_both_the_rate_and_the_count() {
        let activity = |processed, failed| Activity {
            processed,
            failed,
            ..Activity::default()
        };
        let empty = QueueDepth::default();
        let j = judge(&activity(4, 6), Some(&empty), at(), &limits(), 1000);
        assert_eq!((j.status, j.failing), (Status::Failing, true));
        // At the rate exactly: not over it.
        let j = judge(&activity(6, 6), Some(&empty), at(), &limits(), 1000);
        assert_eq!((j.status, j.failing), (Status::Healthy, false));
        // Every message failed, but too few to judge.
        let j = judge(&activity(0, 4), Some(&empty), at(), &limits(), 1000);
        assert_eq!((j.status, j.failing), (Status::Healthy, false));
        // Failing and stuck: reported as failing only.
        let j = judge(
            &activity(0, 9),
            Some(&waiting(Some(900))),
            at(),
            &limits(),
            1000,
        );
        assert_eq!((j.status, j.silent), (Status::Failing, Some(false)));
    }
}
