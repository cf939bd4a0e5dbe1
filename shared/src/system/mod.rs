//! The platform's health as one report, for `GET /api/v1/system/status`, the
//! `system-status-checker` schedule that files it every ten minutes, and the daily health report.
//!
//! The report names each component (the database, every worker queue, every worker, every
//! gateway account's breaker and success rate, the last run of every scheduled job, open alerts)
//! and one verdict with the reasons for it:
//!
//! - `down`: the database is unreachable (nothing that moves money can work);
//! - `degraded`: any of: the database schema is not this build's; a queue's depth cannot be read,
//!   its dead-letter queue holds messages, or its backlog is over `ALERTS_QUEUE_BACKLOG`; a worker
//!   judged `failing` or `silent`; an active gateway account's breaker not closed; a scheduled
//!   job whose last run failed or that is overdue; a critical alert unresolved; or a part of the
//!   report that could not be read;
//! - `ok`: none of these.
//!
//! A worker never judged (`unknown`) and a job that never ran (`never_run`) are shown but do not
//! degrade: a fresh deployment has both, and the monitors report them once they run.

pub mod checker;
pub mod daily_report;
pub mod database;
pub mod open_alerts;
pub mod queues;
pub mod schedules;
pub mod workers;

use crate::app::App;
use crate::db::{self, Scope};
use crate::error::AppError;
use crate::jobs::queues::Worker;
use crate::routing::breaker::BreakerState;
use crate::routing::health::{self, GatewayHealth};
use chrono::{DateTime, Utc};
pub use database::DatabaseStatus;
use open_alerts::OpenAlerts;
use queues::QueueStatus;
use schedules::{ScheduleSpec, ScheduleStatus};
use serde::Serialize;
use workers::WorkerStatus;

/// The verdict on the whole platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = SystemVerdict)]
pub enum Verdict {
    /// Every component is well.
    Ok,
    /// Payments can flow, but something needs an operator (see `reasons`).
    Degraded,
    /// The database is unreachable.
    Down,
}

impl Verdict {
    /// The stored and wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Degraded => "degraded",
            Verdict::Down => "down",
        }
    }
}

/// What the platform runs, as the registry lists it (shared does not know the registry).
#[derive(Debug, Clone, Default)]
pub struct Watched {
    /// Every worker queue.
    pub queues: Vec<&'static str>,
    /// Every worker.
    pub workers: Vec<Worker>,
    /// Every scheduled job.
    pub schedules: Vec<ScheduleSpec>,
}

/// The platform's state.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SystemStatus {
    /// `ok`, `degraded` or `down` (see `reasons`).
    pub status: Verdict,
    /// Why it is not `ok`, one line each; empty when it is.
    pub reasons: Vec<String>,
    /// The time the check is for (the request's time, or the checker's scheduled time).
    pub checked_at: DateTime<Utc>,
    /// This build's version.
    pub version: &'static str,
    /// The database.
    pub database: DatabaseStatus,
    /// Every worker queue: backlog and dead letters.
    pub queues: Vec<QueueStatus>,
    /// Every worker's health.
    pub workers: Vec<WorkerStatus>,
    /// Every gateway account that is not archived: its breaker and latest success rate; `null`
    /// when the database could not be asked.
    pub gateways: Option<Vec<GatewayHealth>>,
    /// Every scheduled job's last run.
    pub schedules: Vec<ScheduleStatus>,
    /// Unresolved alerts by severity; `null` when the database could not be asked.
    pub open_alerts: Option<OpenAlerts>,
}

/// Checks everything as of `now`, reading the platform's tables in `scope` (an operator's, or the
/// checker's system scope). Never fails: what cannot be read is reported, and judged.
pub async fn status(
    app: &App,
    scope: Scope,
    now: DateTime<Utc>,
    watched: &Watched,
) -> SystemStatus {
    let (database, queues) =
        futures::future::join(database::check(app), queues::check(app, &watched.queues)).await;
    let mut unreadable = None;
    let mut tables = None;
    if database.reachable {
        match read_tables(app, scope, now, watched).await {
            Ok(read) => tables = Some(read),
            Err(e) => {
                tracing::error!(error = %e, "system status: platform tables unreadable");
                unreadable = Some(format!("platform tables could not be read: {e}"));
            }
        }
    }
    let (workers, gateways, schedules, open_alerts) = match tables {
        Some((w, g, s, a)) => (w, Some(g), s, Some(a)),
        None => (
            watched.workers.iter().map(WorkerStatus::unknown).collect(),
            None,
            schedules::unknown(&watched.schedules),
            None,
        ),
    };
    let mut report = SystemStatus {
        status: Verdict::Ok,
        reasons: Vec::new(),
        checked_at: now,
        version: env!("CARGO_PKG_VERSION"),
        database,
        queues,
        workers,
        gateways,
        schedules,
        open_alerts,
    };
    let (verdict, mut reasons) = judge(&report);
    reasons.extend(unreadable);
    report.status = if verdict == Verdict::Ok && !reasons.is_empty() {
        Verdict::Degraded
    } else {
        verdict
    };
    report.reasons = reasons;
    report
}

type Tables = (
    Vec<WorkerStatus>,
    Vec<GatewayHealth>,
    Vec<ScheduleStatus>,
    OpenAlerts,
);

async fn read_tables(
    app: &App,
    scope: Scope,
    now: DateTime<Utc>,
    watched: &Watched,
) -> Result<Tables, AppError> {
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, scope).await?;
    let workers = workers::read(&tx, &watched.workers).await?;
    let gateways = health::report(&tx).await?;
    let schedules = schedules::read(&tx, &watched.schedules, now).await?;
    let alerts = open_alerts::count(&tx).await?;
    tx.commit().await?;
    Ok((workers, gateways, schedules, alerts))
}

/// The verdict and its reasons, by the rules in this module's documentation.
pub fn judge(report: &SystemStatus) -> (Verdict, Vec<String>) {
    let mut reasons = Vec::new();
    let db = &report.database;
    if !db.reachable {
        reasons.push("database unreachable".to_string());
    } else if db.migration_version != Some(db.expected_migration_version) {
        reasons.push(format!(
            "database schema at migration {}, this build expects {}",
            db.migration_version
                .map_or_else(|| "none".to_string(), |v| v.to_string()),
            db.expected_migration_version
        ));
    }
    for q in &report.queues {
        if let Some(error) = &q.error {
            reasons.push(format!("queue {}: depth unavailable ({error})", q.queue));
        }
        if let Some(dead) = q.dead_letters.filter(|d| *d > 0) {
            reasons.push(format!("queue {}: {dead} dead letters", q.queue));
        }
        if q.backlogged {
            let waiting = q.visible.unwrap_or(0) + q.delayed.unwrap_or(0);
            reasons.push(format!("queue {}: {waiting} messages waiting", q.queue));
        }
    }
    for w in report.workers.iter().filter(|w| w.unwell()) {
        reasons.push(format!("worker {}: {}", w.worker, w.status));
    }
    for g in report.gateways.iter().flatten() {
        if g.status == "active" && g.breaker.state != BreakerState::Closed {
            reasons.push(format!(
                "gateway account {} ({}): breaker {}",
                g.label,
                g.id,
                g.breaker.state.as_str()
            ));
        }
    }
    for s in report.schedules.iter().filter(|s| s.unwell()) {
        let what = if s.state == "failed" {
            "last run failed"
        } else {
            "overdue"
        };
        reasons.push(format!("schedule {}: {what}", s.job));
    }
    if let Some(critical) = report
        .open_alerts
        .as_ref()
        .map(|a| a.critical)
        .filter(|c| *c > 0)
    {
        reasons.push(format!("{critical} critical alerts open"));
    }
    let verdict = if !db.reachable {
        Verdict::Down
    } else if reasons.is_empty() {
        Verdict::Ok
    } else {
        Verdict::Degraded
    };
    (verdict, reasons)
}
