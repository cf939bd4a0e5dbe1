//! EventBridge Scheduler's `cron(...)` expressions, evaluated on wall-clock time: six fields,
//! `minutes hours day-of-month month day-of-week year`, each `*`, a value, a list (`1,15`), a
//! range (`MON-FRI`), or a step (`*/5`, `0/15`, `8-18/2`). Exactly one of the two day fields is
//! `?` (the other decides the days). Month and day-of-week names (`JAN`, `MON`) are read;
//! day-of-week counts Sunday as 1, as EventBridge does. `L`, `W` and `#` are refused.

use chrono::{Datelike, Days, Months, NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use std::collections::BTreeSet;

/// The years EventBridge accepts.
const FIRST_YEAR: u32 = 1970;
const LAST_YEAR: u32 = 2199;

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// A parsed cron expression: the wall-clock minutes it fires at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: BTreeSet<u32>,
    hours: BTreeSet<u32>,
    days: DaySet,
    months: BTreeSet<u32>,
    years: BTreeSet<u32>,
}

/// Which of the two day fields decides the days (the other one is `?`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum DaySet {
    OfMonth(BTreeSet<u32>),
    /// 1 = Sunday … 7 = Saturday.
    OfWeek(BTreeSet<u32>),
}

impl Cron {
    /// Reads the six fields inside `cron(...)`.
    pub fn parse(fields: &str) -> Result<Cron, String> {
        let parts: Vec<&str> = fields.split_whitespace().collect();
        let [minutes, hours, dom, month, dow, year] = parts[..] else {
            return Err(format!(
                "a cron expression has 6 fields (minutes hours day-of-month month day-of-week year), not {}",
                parts.len()
            ));
        };
        let days = match (dom, dow) {
            ("?", "?") => return Err("only one of day-of-month and day-of-week may be '?'".into()),
            (_, "?") => DaySet::OfMonth(field("day-of-month", dom, 1, 31, &[])?),
            ("?", _) => DaySet::OfWeek(field("day-of-week", dow, 1, 7, &WEEKDAYS)?),
            _ => {
                return Err(
                    "one of day-of-month and day-of-week must be '?' (the other picks the days)"
                        .into(),
                );
            }
        };
        Ok(Cron {
            minutes: field("minutes", minutes, 0, 59, &[])?,
            hours: field("hours", hours, 0, 23, &[])?,
            days,
            months: field("month", month, 1, 12, &MONTHS)?,
            years: field("year", year, FIRST_YEAR, LAST_YEAR, &[])?,
        })
    }

    /// The first wall-clock minute it fires at strictly after `local`.
    pub fn next_after(&self, local: NaiveDateTime) -> Option<NaiveDateTime> {
        let start = floor_minute(local).checked_add_signed(chrono::Duration::minutes(1))?;
        let mut date = start.date();
        let mut from = Some(start.time());
        while date.year() <= LAST_YEAR as i32 {
            if !self.years.contains(&(date.year() as u32)) {
                date = NaiveDate::from_ymd_opt(date.year() + 1, 1, 1)?;
            } else if !self.months.contains(&date.month()) {
                date = date.with_day(1)?.checked_add_months(Months::new(1))?;
            } else {
                if self.fires_on(date)
                    && let Some(time) = self.first_time(from.unwrap_or(NaiveTime::MIN))
                {
                    return Some(date.and_time(time));
                }
                date = date.checked_add_days(Days::new(1))?;
            }
            from = None;
        }
        None
    }

    /// The last wall-clock minute it fires at, at or before `local`.
    pub fn latest_at_or_before(&self, local: NaiveDateTime) -> Option<NaiveDateTime> {
        let end = floor_minute(local);
        let mut date = end.date();
        let mut until = Some(end.time());
        while date.year() >= FIRST_YEAR as i32 {
            if !self.years.contains(&(date.year() as u32)) {
                date = NaiveDate::from_ymd_opt(date.year() - 1, 12, 31)?;
            } else if !self.months.contains(&date.month()) {
                date = date.with_day(1)?.checked_sub_days(Days::new(1))?;
            } else {
                let last = NaiveTime::from_hms_opt(23, 59, 0)?;
                if self.fires_on(date)
                    && let Some(time) = self.last_time(until.unwrap_or(last))
                {
                    return Some(date.and_time(time));
                }
                date = date.checked_sub_days(Days::new(1))?;
            }
            until = None;
        }
        None
    }

    fn fires_on(&self, date: NaiveDate) -> bool {
        match &self.days {
            DaySet::OfMonth(days) => days.contains(&date.day()),
            DaySet::OfWeek(days) => days.contains(&date.weekday().number_from_sunday()),
        }
    }

    /// The first firing time of a day at or after `from`.
    fn first_time(&self, from: NaiveTime) -> Option<NaiveTime> {
        for &hour in self.hours.range(from.hour()..) {
            let low = if hour == from.hour() {
                from.minute()
            } else {
                0
            };
            if let Some(&minute) = self.minutes.range(low..).next() {
                return NaiveTime::from_hms_opt(hour, minute, 0);
            }
        }
        None
    }

    /// The last firing time of a day at or before `until`.
    fn last_time(&self, until: NaiveTime) -> Option<NaiveTime> {
        for &hour in self.hours.range(..=until.hour()).rev() {
            let high = if hour == until.hour() {
                until.minute()
            } else {
                59
            };
            if let Some(&minute) = self.minutes.range(..=high).next_back() {
                return NaiveTime::from_hms_opt(hour, minute, 0);
            }
        }
        None
    }
}

fn floor_minute(t: NaiveDateTime) -> NaiveDateTime {
    t.date()
        .and_time(NaiveTime::from_hms_opt(t.hour(), t.minute(), 0).unwrap_or(NaiveTime::MIN))
}

/// The values one field allows, between `min` and `max`; `names` spell `min`, `min + 1`, ….
fn field(
    name: &str,
    text: &str,
    min: u32,
    max: u32,
    names: &[&str],
) -> Result<BTreeSet<u32>, String> {
    let bad = |why: String| format!("{name} field {text:?}: {why}");
    if text == "?" {
        return Err(bad(
            "'?' is only for one of day-of-month and day-of-week".into()
        ));
    }
    let mut values = BTreeSet::new();
    for item in text.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => {
                let step: u32 =
                    step.parse().ok().filter(|&s| s > 0).ok_or_else(|| {
                        bad(format!("step {step:?} is not a whole number above 0"))
                    })?;
                (range, Some(step))
            }
            None => (item, None),
        };
        let (low, high) = match (range, range.split_once('-')) {
            ("*", _) => (min, max),
            (_, Some((a, b))) => (
                value(a, min, max, names).map_err(&bad)?,
                value(b, min, max, names).map_err(&bad)?,
            ),
            (_, None) => {
                let v = value(range, min, max, names).map_err(&bad)?;
                // `5/15`: from 5 to the end, every 15; `5`: just 5.
                (v, if step.is_some() { max } else { v })
            }
        };
        if low > high {
            return Err(bad(format!(
                "range {range:?} runs backwards (wrapping ranges are not supported)"
            )));
        }
        values.extend((low..=high).step_by(step.unwrap_or(1) as usize));
    }
    Ok(values)
}

/// One value of a field: a number between `min` and `max`, or one of `names`.
fn value(text: &str, min: u32, max: u32, names: &[&str]) -> Result<u32, String> {
    let upper = text.to_ascii_uppercase();
    if let Some(i) = names.iter().position(|n| *n == upper) {
        return Ok(min + i as u32);
    }
    match text.parse::<u32>() {
        Ok(v) if (min..=max).contains(&v) => Ok(v),
        _ if upper.contains(['L', 'W', '#']) => {
            Err("'L' (last), 'W' (nearest weekday) and '#' (nth weekday) are not supported".into())
        }
        _ if names.is_empty() => Err(format!("{text:?} is not a number from {min} to {max}")),
        _ => Err(format!(
            "{text:?} is not a number from {min} to {max} nor one of {}",
            names.join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    fn next(cron: &str, from: &str) -> String {
        Cron::parse(cron)
            .unwrap()
            .next_after(at(from))
            .map(|t| t.to_string())
            .unwrap_or_else(|| "never".into())
    }

    fn latest(cron: &str, until: &str) -> String {
        Cron::parse(cron)
            .unwrap()
            .latest_at_or_before(at(until))
            .map(|t| t.to_string())
            .unwrap_or_else(|| "never".into())
    }

    #[test]
    fn the_next_time_is_strictly_after() {
        assert_eq!(
            next("0 2 * * ? *", "2026-12-04 01:59:30"),
            "2026-12-04 02:00:00"
        );
        assert_eq!(
            next("0 2 * * ? *", "2026-12-04 02:00:00"),
            "2026-12-05 02:00:00"
        );
        assert_eq!(
            next("0 2 * * ? *", "2026-12-31 03:00:00"),
            "2027-01-01 02:00:00"
        );
        assert_eq!(
            latest("0 2 * * ? *", "2026-12-04 02:00:00"),
            "2026-12-04 02:00:00"
        );
        assert_eq!(
            latest("0 2 * * ? *", "2026-12-04 01:59:59"),
            "2026-12-03 02:00:00"
        );
    }

    #[test]
    fn steps_lists_and_ranges() {
        assert_eq!(
            next("*/15 * * * ? *", "2026-12-04 10:14:59"),
            "2026-12-04 10:15:00"
        );
        assert_eq!(
            next("*/15 * * * ? *", "2026-12-04 10:45:00"),
            "2026-12-04 11:00:00"
        );
        assert_eq!(
            next("5/20 * * * ? *", "2026-12-04 10:46:00"),
            "2026-12-04 11:05:00"
        );
        assert_eq!(
            next("0 8-18/5 * * ? *", "2026-12-04 13:00:00"),
            "2026-12-04 18:00:00"
        );
        assert_eq!(
            next("0 8-18/5 * * ? *", "2026-12-04 18:00:00"),
            "2026-12-05 08:00:00"
        );
        assert_eq!(
            next("30 9,17 * * ? *", "2026-12-04 09:30:00"),
            "2026-12-04 17:30:00"
        );
        assert_eq!(
            latest("30 9,17 * * ? *", "2026-12-04 17:29:00"),
            "2026-12-04 09:30:00"
        );
    }

    #[test]
    fn day_of_week_counts_sunday_as_one_and_reads_names() {
        // 2026-12-04 is a Friday.
        assert_eq!(
            next("0 9 ? * MON-FRI *", "2026-12-04 09:00:00"),
            "2026-12-07 09:00:00"
        );
        assert_eq!(
            next("0 9 ? * 2-6 *", "2026-12-04 09:00:00"),
            "2026-12-07 09:00:00"
        );
        assert_eq!(
            next("0 9 ? * 1 *", "2026-12-04 09:00:00"),
            "2026-12-06 09:00:00"
        );
        assert_eq!(
            next("0 9 ? * sat *", "2026-12-04 09:00:00"),
            "2026-12-05 09:00:00"
        );
        assert_eq!(
            latest("0 9 ? * MON *", "2026-12-04 09:00:00"),
            "2026-11-30 09:00:00"
        );
    }

    #[test]
    fn day_of_month_skips_months_without_the_day() {
        assert_eq!(
            next("0 0 31 * ? *", "2026-11-15 00:00:00"),
            "2026-12-31 00:00:00"
        );
        assert_eq!(
            next("0 0 31 * ? *", "2026-12-31 00:00:00"),
            "2027-01-31 00:00:00"
        );
        assert_eq!(
            next("0 0 31 * ? *", "2027-01-31 00:00:00"),
            "2027-03-31 00:00:00"
        );
        assert_eq!(
            next("0 0 29 2 ? *", "2026-03-01 00:00:00"),
            "2028-02-29 00:00:00"
        );
        assert_eq!(
            latest("0 0 29 2 ? *", "2028-02-28 00:00:00"),
            "2024-02-29 00:00:00"
        );
        assert_eq!(
            next("0 0 1 JAN,JUL ? *", "2026-07-01 00:00:00"),
            "2027-01-01 00:00:00"
        );
        assert_eq!(next("0 0 30 2 ? *", "2026-01-01 00:00:00"), "never");
    }

    #[test]
    fn years_bound_the_timetable() {
        assert_eq!(
            next("0 0 1 1 ? 2027-2028", "2026-06-01 00:00:00"),
            "2027-01-01 00:00:00"
        );
        assert_eq!(next("0 0 1 1 ? 2027-2028", "2028-01-01 00:00:00"), "never");
        assert_eq!(
            latest("0 0 1 1 ? 2027-2028", "2026-06-01 00:00:00"),
            "never"
        );
        assert_eq!(
            latest("0 0 1 1 ? 2027-2028", "2030-06-01 00:00:00"),
            "2028-01-01 00:00:00"
        );
    }

    #[test]
    fn refuses_what_it_does_not_read() {
        for (cron, why) in [
            ("0 2 * * *", "6 fields"),
            ("0 2 * * * *", "must be '?'"),
            ("0 2 ? * ? *", "only one"),
            ("0 2 L * ? *", "not supported"),
            ("0 2 15W * ? *", "not supported"),
            ("0 2 ? * 6#3 *", "not supported"),
            ("0 2 ? * 6L *", "not supported"),
            ("60 2 * * ? *", "minutes field"),
            ("0 24 * * ? *", "hours field"),
            ("0 2 0 * ? *", "day-of-month"),
            ("0 2 * 13 ? *", "month"),
            ("0 2 * FOO ? *", "JAN"),
            ("0 2 ? * 8 *", "day-of-week"),
            ("0 2 * * ? 1969", "year"),
            ("*/0 2 * * ? *", "step"),
            ("0 18-6 * * ? *", "backwards"),
            ("0 ? * * ? *", "'?' is only"),
        ] {
            let e = Cron::parse(cron).unwrap_err();
            assert!(e.contains(why), "{cron}: {e}");
        }
    }
}
