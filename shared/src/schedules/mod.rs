//! Scheduled jobs' runs. Every invocation carries the time the scheduler meant it for (its
//! [`Tick`]); `(job, scheduled_at)` is the run's key in `schedule_runs`, so a duplicate
//! invocation of one run does nothing, and a job acts for the time it was meant for rather than
//! for whenever it happened to start.
//!
//! - [`expression`]: a schedule's slots, from its `rate(...)` or `cron(...)` and time zone.
//! - [`timetable`]: what the local runner does next for one schedule.
//! - [`runs`]: the run key around every run, and the `schedule_failed` alert.

pub mod cron;
pub mod expression;
pub mod runs;
pub mod timetable;
pub mod zone;

use chrono::{DateTime, Utc};

/// One run of a scheduled job, as the scheduler asked for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tick {
    /// The time the run was scheduled for (EventBridge Scheduler's `scheduled-time`, the local
    /// timetable's slot, or the moment `run-job` was asked).
    pub scheduled_at: DateTime<Utc>,
}

impl Tick {
    /// A run scheduled for `scheduled_at`.
    pub fn at(scheduled_at: DateTime<Utc>) -> Tick {
        Tick { scheduled_at }
    }
}
