//! The last run of each scheduled job (`schedule_runs`), and whether it is late.

use crate::db::Transaction;
use crate::db::record::Record;
use crate::error::AppError;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use tokio_postgres::types::Type;

/// Slack on top of two periods before a job's last run counts as overdue: a scheduler that
/// fires a little late, or one missed slot, is not yet an incident.
pub const OVERDUE_GRACE: Duration = Duration::minutes(5);

/// A scheduled job of the registry (shared does not know the registry: the caller lists them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScheduleSpec {
    /// The job's function name (`schedule_runs.job`).
    pub name: &'static str,
    /// Its `rate(…)` or `cron(…)` expression.
    pub expression: &'static str,
}

/// How often an expression fires, when that is one fixed period: `rate(N minute|hour|day)`, or a
/// `cron` at a fixed minute and hour of every day. Other crons are not judged overdue.
pub fn period(expression: &str) -> Option<Duration> {
    if let Some(inner) = expression.strip_prefix("rate(") {
        let (n, unit) = inner.strip_suffix(')')?.split_once(' ')?;
        let n: i64 = n.parse().ok().filter(|n| *n > 0)?;
        return match unit.trim_end_matches('s') {
            "minute" => Some(Duration::minutes(n)),
            "hour" => Some(Duration::hours(n)),
            "day" => Some(Duration::days(n)),
            _ => None,
        };
    }
    let fields: Vec<&str> = expression
        .strip_prefix("cron(")?
        .strip_suffix(')')?
        .split_whitespace()
        .collect();
    let [minute, hour, day, month, weekday, year] = fields.as_slice() else {
        return None;
    };
    let fixed = |f: &str| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit());
    let every = |f: &str| f == "*" || f == "?";
    (fixed(minute) && fixed(hour) && every(day) && every(month) && every(weekday) && every(year))
        .then(|| Duration::days(1))
}

/// One job's latest run.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ScheduleStatus {
    /// The job.
    pub job: String,
    /// Its expression.
    pub expression: String,
    /// `ok` (its last run succeeded or is running, and is not late), `failed` (its last run
    /// failed), `overdue` (no run for two periods and five minutes), `never_run`, or `unknown`
    /// (the database could not be asked).
    #[schema(pattern = "^(ok|failed|overdue|never_run|unknown)$")]
    pub state: String,
    /// The latest run's scheduled time.
    pub last_scheduled_at: Option<DateTime<Utc>>,
    /// Its status: `running`, `succeeded` or `failed`.
    pub last_status: Option<String>,
    /// When it finished.
    pub last_finished_at: Option<DateTime<Utc>>,
    /// Why it failed.
    pub last_error: Option<String>,
}

impl ScheduleStatus {
    /// Whether its last run failed or it is late.
    pub fn unwell(&self) -> bool {
        matches!(self.state.as_str(), "failed" | "overdue")
    }
}

/// The state of a job whose latest run (scheduled at or before `now`) is `last`.
fn state(
    last: Option<(DateTime<Utc>, &str)>,
    period: Option<Duration>,
    now: DateTime<Utc>,
) -> &'static str {
    match last {
        None => "never_run",
        Some((_, "failed")) => "failed",
        Some((at, _)) if period.is_some_and(|p| at + p * 2 + OVERDUE_GRACE < now) => "overdue",
        Some(_) => "ok",
    }
}

/// Every job of `specs`, in their order, with its latest run scheduled at or before `now`.
pub async fn read(
    tx: &Transaction<'_>,
    specs: &[ScheduleSpec],
    now: DateTime<Utc>,
) -> Result<Vec<ScheduleStatus>, AppError> {
    let jobs: Vec<&str> = specs.iter().map(|s| s.name).collect();
    // One indexed look-up per job (`schedule_runs_latest_idx`), not a scan of its history.
    let rows = tx
        .query_typed(
            "SELECT j.job, r.scheduled_at, r.status, r.finished_at, r.error
               FROM unnest($1::text[]) WITH ORDINALITY AS j (job, position)
               LEFT JOIN LATERAL (
                    SELECT scheduled_at, status, finished_at, error FROM schedule_runs
                     WHERE job = j.job AND scheduled_at <= $2
                     ORDER BY scheduled_at DESC LIMIT 1) r ON true
              ORDER BY j.position",
            &[(&jobs, Type::TEXT_ARRAY), (&now, Type::TIMESTAMPTZ)],
        )
        .await?;
    specs
        .iter()
        .zip(rows.iter())
        .map(|(spec, row)| {
            let row = Record::new(row, "schedule_runs");
            let scheduled_at: Option<DateTime<Utc>> = row.get("scheduled_at")?;
            let status: Option<String> = row.get("status")?;
            let last = scheduled_at.zip(status.as_deref());
            Ok(ScheduleStatus {
                job: spec.name.into(),
                expression: spec.expression.into(),
                state: state(last, period(spec.expression), now).into(),
                last_scheduled_at: scheduled_at,
                last_finished_at: row.get("finished_at")?,
                last_error: row.get("error")?,
                last_status: status,
            })
        })
        .collect()
}

/// Every job of `specs` when the database could not be asked.
pub fn unknown(specs: &[ScheduleSpec]) -> Vec<ScheduleStatus> {
    specs
        .iter()
        .map(|spec| ScheduleStatus {
            job: spec.name.into(),
            expression: spec.expression.into(),
            state: "unknown".into(),
            last_scheduled_at: None,
            last_status: None,
            last_finished_at: None,
            last_error: None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn periods_of_rates_and_daily_crons() {
        assert_eq!(period("rate(1 minute)"), Some(Duration::minutes(1)));
        assert_eq!(period("rate(10 minutes)"), Some(Duration::minutes(10)));
        assert_eq!(period("rate(2 hours)"), Some(Duration::hours(2)));
        assert_eq!(period("cron(0 6 * * ? *)"), Some(Duration::days(1)));
        assert_eq!(period("cron(0/5 6 * * ? *)"), None);
        assert_eq!(period("cron(0 6 ? * MON *)"), None);
        assert_eq!(period("rate(0 minutes)"), None);
        assert_eq!(period("every day"), None);
    }

    #[test]
    fn a_run_is_overdue_after_two_periods_and_the_grace() {
        let at = Utc.with_ymd_and_hms(2026, 3, 10, 0, 0, 0).unwrap();
        let ten = Some(Duration::minutes(10));
        let edge = at + Duration::minutes(25);
        assert_eq!(state(Some((at, "succeeded")), ten, edge), "ok");
        assert_eq!(
            state(Some((at, "succeeded")), ten, edge + Duration::seconds(1)),
            "overdue"
        );
        assert_eq!(state(Some((at, "running")), ten, at), "ok");
        assert_eq!(state(Some((at, "failed")), ten, at), "failed");
        assert_eq!(
            state(Some((at, "succeeded")), None, at + Duration::days(30)),
            "ok"
        );
        assert_eq!(state(None, ten, at), "never_run");
    }
}
