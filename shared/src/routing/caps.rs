//! Volume-cap periods: caps count per day and per month in Asia/Kolkata (IST, UTC+05:30 all
//! year), so they reset at IST midnight and at the first of the IST month.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, Utc};

/// IST's offset from UTC in seconds (no daylight saving time).
pub const IST_OFFSET_SECONDS: i32 = 5 * 3600 + 30 * 60;

/// The IST day and the first day of the IST month that `now` falls in.
pub fn periods(now: DateTime<Utc>) -> (NaiveDate, NaiveDate) {
    let ist = FixedOffset::east_opt(IST_OFFSET_SECONDS).expect("IST offset is within a day");
    let day = now.with_timezone(&ist).date_naive();
    let month = day.with_day(1).expect("the first of a month exists");
    (day, month)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_day_turns_at_ist_midnight_not_utc_midnight() {
        // 18:29:59 UTC is 23:59:59 IST; 18:30 UTC is midnight IST.
        let before = Utc.with_ymd_and_hms(2026, 3, 31, 18, 29, 59).unwrap();
        let after = Utc.with_ymd_and_hms(2026, 3, 31, 18, 30, 0).unwrap();
        let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        assert_eq!(periods(before), (date(2026, 3, 31), date(2026, 3, 1)));
        assert_eq!(periods(after), (date(2026, 4, 1), date(2026, 4, 1)));
    }
}
