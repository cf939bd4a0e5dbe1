//! The time zones a schedule may name. Only zones with one UTC offset all year are known, so a
//! local wall-clock time always names exactly one instant (no daylight-saving gap or overlap to
//! decide); a zone with daylight saving is refused rather than evaluated wrongly.

use chrono::{DateTime, FixedOffset, NaiveDateTime, Utc};

/// The known zones (IANA names) and their offset east of UTC in seconds. India has kept
/// UTC+05:30 all year since 1945.
const ZONES: [(&str, i32); 4] = [
    ("UTC", 0),
    ("Etc/UTC", 0),
    ("Asia/Kolkata", 19_800),
    ("Asia/Calcutta", 19_800),
];

/// A schedule's time zone: its IANA name and its (fixed) offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Zone {
    name: &'static str,
    offset: FixedOffset,
}

impl Zone {
    /// The zone called `name`, if it is one of the known fixed-offset zones.
    pub fn named(name: &str) -> Result<Zone, String> {
        ZONES
            .iter()
            .find(|(known, _)| *known == name)
            .and_then(|(known, seconds)| {
                FixedOffset::east_opt(*seconds).map(|offset| Zone {
                    name: known,
                    offset,
                })
            })
            .ok_or_else(|| {
                let known: Vec<&str> = ZONES.iter().map(|(n, _)| *n).collect();
                format!(
                    "time zone {name:?} is not supported (one of {}; zones with daylight saving are not)",
                    known.join(", ")
                )
            })
    }

    /// The IANA name.
    pub fn name(self) -> &'static str {
        self.name
    }

    /// The wall-clock time in this zone at instant `t`.
    pub fn local(self, t: DateTime<Utc>) -> NaiveDateTime {
        t.with_timezone(&self.offset).naive_local()
    }

    /// The instant the wall-clock time `local` names in this zone (exactly one: the offset is
    /// fixed).
    pub fn instant(self, local: NaiveDateTime) -> DateTime<Utc> {
        (local - self.offset).and_utc()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn india_is_five_and_a_half_hours_ahead_all_year() {
        let zone = Zone::named("Asia/Kolkata").unwrap();
        for month in [1, 7] {
            let t = Utc.with_ymd_and_hms(2026, month, 1, 20, 30, 0).unwrap();
            let local = zone.local(t);
            assert_eq!(local.to_string(), format!("2026-{month:02}-02 02:00:00"));
            assert_eq!(zone.instant(local), t);
        }
        let utc = Zone::named("UTC").unwrap();
        let t = Utc.with_ymd_and_hms(2026, 12, 4, 10, 0, 0).unwrap();
        assert_eq!(utc.instant(utc.local(t)), t);
    }

    #[test]
    fn refuses_unknown_and_daylight_saving_zones() {
        for name in ["Europe/London", "America/New_York", "IST", ""] {
            let e = Zone::named(name).unwrap_err();
            assert!(e.contains("Asia/Kolkata"), "{e}");
        }
    }
}
