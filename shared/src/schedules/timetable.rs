//! The local runner's timetable: what a schedule's loop does next, as a pure function of the
//! schedule, the time and the last slot it ran, so the loop around `tokio::time` stays thin.
//!
//! Slots are the schedule's own ([`Schedule`]): every runner process computes the same ones and
//! the run key lets one of them run each slot. Slots missed while nothing ran (the process was
//! down, or a run overran the next slots) are not replayed in a burst: only the most recent one
//! runs, at once. On start that is the latest slot at or before now (a run some other process
//! already did is found done by its run key).

use super::expression::Schedule;
use chrono::{DateTime, Utc};
use std::time::Duration;

/// The longest the runner sleeps before looking at the time again, so a changed wall clock (a
/// laptop waking from sleep) is noticed within it.
pub const LONGEST_NAP: Duration = Duration::from_secs(60);

/// What a schedule's loop does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Run the slot scheduled at this time now.
    Run(DateTime<Utc>),
    /// Nothing is due; the next slot is at this time.
    WaitUntil(DateTime<Utc>),
    /// The schedule never fires again.
    Done,
}

/// The next step at `now`, after the loop last ran the slot `last` (`None`: it just started).
pub fn step(schedule: &Schedule, now: DateTime<Utc>, last: Option<DateTime<Utc>>) -> Step {
    match schedule.latest_at_or_before(now) {
        Some(slot) if last.is_none_or(|last| slot > last) => Step::Run(slot),
        _ => match schedule.next_after(now) {
            Some(next) => Step::WaitUntil(next),
            None => Step::Done,
        },
    }
}

/// How long to sleep at `now` for a slot at `until`: at most [`LONGEST_NAP`].
pub fn nap(now: DateTime<Utc>, until: DateTime<Utc>) -> Duration {
    (until - now)
        .to_std()
        .unwrap_or(Duration::ZERO)
        .min(LONGEST_NAP)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    #[test]
    fn runs_each_slot_once_then_waits_for_the_next() {
        let every_five = Schedule::parse("rate(5 minutes)", "UTC").unwrap();
        let now = utc("2026-12-04T10:07:12Z");
        // On start, the latest slot runs at once (the run key says whether it already ran).
        let slot = utc("2026-12-04T10:05:00Z");
        assert_eq!(step(&every_five, now, None), Step::Run(slot));
        let next = utc("2026-12-04T10:10:00Z");
        assert_eq!(step(&every_five, now, Some(slot)), Step::WaitUntil(next));
        assert_eq!(nap(now, next), LONGEST_NAP, "woken every minute at most");
        let close = utc("2026-12-04T10:09:30Z");
        assert_eq!(nap(close, next), Duration::from_secs(30));
        assert_eq!(nap(next, next), Duration::ZERO);
        assert_eq!(step(&every_five, next, Some(slot)), Step::Run(next));
        // Woken a little early (the clocks disagree): it waits again rather than skip a slot.
        let early = utc("2026-12-04T10:09:59.9Z");
        assert_eq!(step(&every_five, early, Some(slot)), Step::WaitUntil(next));
    }

    #[test]
    fn missed_slots_are_not_replayed_only_the_latest_runs() {
        let every_minute = Schedule::parse("rate(1 minute)", "UTC").unwrap();
        let last = utc("2026-12-04T10:00:00Z");
        // A run that took three and a half minutes: 10:01 and 10:02 are skipped.
        let now = utc("2026-12-04T10:03:30Z");
        assert_eq!(
            step(&every_minute, now, Some(last)),
            Step::Run(utc("2026-12-04T10:03:00Z"))
        );
        let daily = Schedule::parse("cron(0 2 * * ? *)", "Asia/Kolkata").unwrap();
        // Started a week after it last ran: yesterday's 02:00 IST runs, once.
        let now = utc("2026-12-11T10:00:00Z");
        let latest = utc("2026-12-10T20:30:00Z");
        assert_eq!(step(&daily, now, None), Step::Run(latest));
        assert_eq!(
            step(&daily, now, Some(latest)),
            Step::WaitUntil(utc("2026-12-11T20:30:00Z"))
        );
    }

    #[test]
    fn two_runners_compute_the_same_slots() {
        let every_five = Schedule::parse("rate(5 minutes)", "UTC").unwrap();
        let one = step(&every_five, utc("2026-12-04T10:05:01Z"), None);
        let other = step(&every_five, utc("2026-12-04T10:09:59Z"), None);
        assert_eq!(one, other);
    }

    #[test]
    fn a_finished_cron_is_done() {
        let once = Schedule::parse("cron(0 0 1 1 ? 2027)", "UTC").unwrap();
        let after = utc("2027-06-01T00:00:00Z");
        let only = utc("2027-01-01T00:00:00Z");
        assert_eq!(step(&once, after, None), Step::Run(only));
        assert_eq!(step(&once, after, Some(only)), Step::Done);
    }
}
