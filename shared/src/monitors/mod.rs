//! The operations monitors, each a scheduled job acting for its run's scheduled time (its
//! [`Tick`]), never for whenever it happened to start:
//!
//! - [`queue_metrics`]: every minute, each worker queue's depth and its worker's work, per minute.
//! - [`worker_health`]: every minute, each worker judged healthy, idle, failing or silent, with
//!   its alerts.
//! - [`sla`]: every five minutes, payments pending past their SLA and merchant webhook
//!   deliveries overdue, with their alerts.
//!
//! A run is late when its scheduled time is more than one period behind the clock (a retry, a
//! backlog of invocations, an operator's `run-job --at`). What a late run does is each job's own
//! decision, written on its `run`.

pub mod queue_metrics;
pub mod sla;
pub mod worker_health;

use crate::schedules::Tick;
use chrono::{DateTime, Utc};
use std::time::Duration;

pub use crate::jobs::queues::Worker;

/// Whether `tick` is more than one `period` behind `now`: a sample taken now would not describe
/// the time the run was meant for.
pub fn is_late(tick: Tick, period: Duration, now: DateTime<Utc>) -> bool {
    let period = chrono::Duration::from_std(period).unwrap_or(chrono::Duration::MAX);
    tick.scheduled_at + period < now
}

/// The summary of a run that did nothing because it was late.
pub fn skipped_late(tick: Tick, period: Duration, now: DateTime<Utc>) -> serde_json::Value {
    serde_json::json!({
        "skipped": "late",
        "scheduled_at": tick.scheduled_at,
        "started_at": now,
        "period_seconds": period.as_secs(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_run_is_late_once_a_whole_period_behind() {
        let at = Utc.with_ymd_and_hms(2026, 12, 4, 10, 0, 0).unwrap();
        let minute = Duration::from_secs(60);
        assert!(!is_late(Tick::at(at), minute, at));
        assert!(!is_late(
            Tick::at(at),
            minute,
            at + chrono::Duration::seconds(60)
        ));
        assert!(is_late(
            Tick::at(at),
            minute,
            at + chrono::Duration::seconds(61)
        ));
        // A run scheduled ahead of the clock (a skewed clock) is not late.
        assert!(!is_late(
            Tick::at(at),
            minute,
            at - chrono::Duration::hours(1)
        ));
    }
}
