//! A schedule's timetable, from the registry's `expression` and `timezone` as EventBridge
//! Scheduler reads them: `rate(N unit)` or `cron(...)` (see [`super::cron`]) in an IANA zone.
//!
//! A rate's slots are the multiples of its period since the Unix epoch (UTC): every process
//! computes the same slots, so two runners meet on one run key. EventBridge counts a rate from
//! the schedule's creation instead; either way the slot is the run's scheduled time. A rate
//! ignores its zone, as EventBridge does; a cron is read on the zone's wall clock.

use super::cron::Cron;
use super::zone::Zone;
use chrono::{DateTime, Utc};

/// An expression or zone the schedules cannot follow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("schedule {expression:?} in {timezone:?}: {reason}")]
pub struct ExpressionError {
    /// The expression as written.
    pub expression: String,
    /// The zone as written.
    pub timezone: String,
    /// What is wrong with it.
    pub reason: String,
}

/// When a schedule fires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expression {
    /// Every so many seconds, on the epoch-aligned slots.
    Rate {
        /// The period in seconds.
        seconds: i64,
    },
    /// On the wall-clock minutes of a cron expression.
    Cron(Cron),
}

impl Expression {
    /// Reads `rate(N unit)` or `cron(f f f f f f)`.
    pub fn parse(text: &str) -> Result<Expression, String> {
        if let Some(inner) = text.strip_prefix("rate(").and_then(|t| t.strip_suffix(')')) {
            return rate(inner).map(|seconds| Expression::Rate { seconds });
        }
        if let Some(inner) = text.strip_prefix("cron(").and_then(|t| t.strip_suffix(')')) {
            return Cron::parse(inner).map(Expression::Cron);
        }
        Err("expected rate(N unit) or cron(minutes hours day-of-month month day-of-week year) (one-time at(...) schedules are not run)".into())
    }
}

/// `N minute(s)|hour(s)|day(s)`: singular for 1 and plural otherwise, as EventBridge requires.
fn rate(inner: &str) -> Result<i64, String> {
    let (n, unit) = inner
        .split_once(' ')
        .ok_or("a rate is rate(N unit), e.g. rate(5 minutes)")?;
    let n: i64 = n
        .parse()
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("{n:?} is not a whole number above 0"))?;
    let (singular, seconds) = match unit {
        "minute" | "minutes" => ("minute", 60),
        "hour" | "hours" => ("hour", 3_600),
        "day" | "days" => ("day", 86_400),
        other => {
            return Err(format!(
                "unit {other:?} is not minute(s), hour(s) or day(s)"
            ));
        }
    };
    if (n == 1) != (unit == singular) {
        return Err(format!(
            "the unit is singular for 1 and plural otherwise, not \"{n} {unit}\""
        ));
    }
    Ok(n * seconds)
}

/// A schedule: its expression in its zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// When it fires.
    pub expression: Expression,
    /// The zone a cron's wall-clock times are in.
    pub zone: Zone,
}

impl Schedule {
    /// Reads a registry entry's `expression` and `timezone`.
    pub fn parse(expression: &str, timezone: &str) -> Result<Schedule, ExpressionError> {
        let error = |reason: String| ExpressionError {
            expression: expression.to_string(),
            timezone: timezone.to_string(),
            reason,
        };
        Ok(Schedule {
            expression: Expression::parse(expression).map_err(error)?,
            zone: Zone::named(timezone).map_err(error)?,
        })
    }

    /// The first slot strictly after `t` (`None`: it never fires again).
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match &self.expression {
            Expression::Rate { seconds } => {
                let slot = (t.timestamp().div_euclid(*seconds) + 1) * seconds;
                DateTime::from_timestamp(slot, 0)
            }
            Expression::Cron(cron) => cron
                .next_after(self.zone.local(t))
                .map(|local| self.zone.instant(local)),
        }
    }

    /// The last slot at or before `t` (`None`: it never fired by then).
    pub fn latest_at_or_before(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match &self.expression {
            Expression::Rate { seconds } => {
                DateTime::from_timestamp(t.timestamp().div_euclid(*seconds) * seconds, 0)
            }
            Expression::Cron(cron) => cron
                .latest_at_or_before(self.zone.local(t))
                .map(|local| self.zone.instant(local)),
        }
    }

    /// Whether `t` is one of the slots.
    pub fn is_slot(&self, t: DateTime<Utc>) -> bool {
        self.latest_at_or_before(t) == Some(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    #[test]
    fn a_cron_in_india_fires_on_indian_wall_clock_time() {
        let daily = Schedule::parse("cron(0 2 * * ? *)", "Asia/Kolkata").unwrap();
        // 02:00 IST on 5 December is 20:30 UTC on 4 December.
        let slot = utc("2026-12-04T20:30:00Z");
        assert_eq!(daily.next_after(utc("2026-12-04T10:00:00Z")), Some(slot));
        assert_eq!(
            daily.next_after(slot),
            Some(utc("2026-12-05T20:30:00Z")),
            "strictly after"
        );
        assert_eq!(daily.latest_at_or_before(slot), Some(slot));
        assert_eq!(
            daily.latest_at_or_before(utc("2026-12-04T20:29:59Z")),
            Some(utc("2026-12-03T20:30:00Z"))
        );
        assert!(daily.is_slot(slot));
        assert!(!daily.is_slot(utc("2026-12-04T02:00:00Z")));
        let report = Schedule::parse("cron(0 6 * * ? *)", "Asia/Kolkata").unwrap();
        assert_eq!(
            report.next_after(utc("2026-12-04T10:00:00Z")),
            Some(utc("2026-12-05T00:30:00Z"))
        );
        // The same expression in UTC means 02:00 UTC.
        let in_utc = Schedule::parse("cron(0 2 * * ? *)", "UTC").unwrap();
        assert_eq!(
            in_utc.next_after(utc("2026-12-04T10:00:00Z")),
            Some(utc("2026-12-05T02:00:00Z"))
        );
    }

    #[test]
    fn the_day_of_week_is_the_zones_day() {
        // Monday 00:30 IST is still Sunday in UTC.
        let monday = Schedule::parse("cron(30 0 ? * MON *)", "Asia/Kolkata").unwrap();
        assert_eq!(
            monday.next_after(utc("2026-12-04T00:00:00Z")),
            Some(utc("2026-12-06T19:00:00Z"))
        );
        // The first of the month in India, at 01:00 IST, is the last day of the month in UTC.
        let monthly = Schedule::parse("cron(0 1 1 * ? *)", "Asia/Kolkata").unwrap();
        assert_eq!(
            monthly.next_after(utc("2026-12-04T00:00:00Z")),
            Some(utc("2026-12-31T19:30:00Z"))
        );
    }

    #[test]
    fn rate_slots_are_multiples_of_the_period_since_the_epoch() {
        let five = Schedule::parse("rate(5 minutes)", "UTC").unwrap();
        assert_eq!(
            five.next_after(utc("2026-12-04T10:02:30.5Z")),
            Some(utc("2026-12-04T10:05:00Z"))
        );
        assert_eq!(
            five.next_after(utc("2026-12-04T10:05:00Z")),
            Some(utc("2026-12-04T10:10:00Z"))
        );
        assert_eq!(
            five.latest_at_or_before(utc("2026-12-04T10:09:59.9Z")),
            Some(utc("2026-12-04T10:05:00Z"))
        );
        let hourly = Schedule::parse("rate(1 hour)", "UTC").unwrap();
        assert_eq!(
            hourly.next_after(utc("2026-12-04T10:00:00Z")),
            Some(utc("2026-12-04T11:00:00Z"))
        );
        let daily = Schedule::parse("rate(1 day)", "UTC").unwrap();
        assert_eq!(
            daily.next_after(utc("2026-12-04T10:00:00Z")),
            Some(utc("2026-12-05T00:00:00Z"))
        );
    }

    #[test]
    fn refuses_what_eventbridge_refuses_or_the_runner_cannot_follow() {
        for (expression, zone, why) in [
            ("rate(1 minutes)", "UTC", "singular"),
            ("rate(5 minute)", "UTC", "plural"),
            ("rate(0 minutes)", "UTC", "above 0"),
            ("rate(5 seconds)", "UTC", "unit"),
            ("rate(5minutes)", "UTC", "rate(N unit)"),
            ("at(2026-12-04T10:00:00)", "UTC", "at(...)"),
            ("cron(0 2 * * ?)", "Asia/Kolkata", "6 fields"),
            ("cron(0 2 * * ? *)", "Europe/London", "daylight saving"),
        ] {
            let e = Schedule::parse(expression, zone).unwrap_err();
            assert!(e.to_string().contains(why), "{expression}: {e}");
            assert!(e.to_string().contains(expression), "{e}");
        }
    }
}
