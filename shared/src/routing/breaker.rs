//! The circuit breaker of a gateway account: closed → open after `failures` technical failures
//! in a row (or a technical-error rate over the health window), half-open once the cool-down has
//! passed, letting `probes` payments test the account, closed again on the first success and
//! open again on a probe's failure. Pure state and transitions; the database keeps one per account.

use super::engine::{Admission, Window};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// Where a breaker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Payments flow.
    Closed,
    /// Cooling down: no payments.
    Open,
    /// Testing the account with a few probe payments.
    HalfOpen,
}

impl BreakerState {
    /// The name stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }

    /// Reads a stored name.
    pub fn parse(s: &str) -> Option<BreakerState> {
        [
            BreakerState::Closed,
            BreakerState::Open,
            BreakerState::HalfOpen,
        ]
        .into_iter()
        .find(|b| b.as_str() == s)
    }
}

/// When breakers open and how they recover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerSettings {
    /// Technical failures in a row that open the breaker.
    pub failures: u32,
    /// Technical-error rate over the health window that opens it, in percent …
    pub failure_rate_percent: u32,
    /// … once the window holds at least this many attempts.
    pub min_attempts: u32,
    /// How long an open breaker refuses payments.
    pub cool_down: Duration,
    /// Probe payments allowed at once while half-open.
    pub probes: u32,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        BreakerSettings {
            failures: 5,
            failure_rate_percent: 50,
            min_attempts: 20,
            cool_down: Duration::seconds(30),
            probes: 1,
        }
    }
}

/// One account's breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Breaker {
    /// Where it stands.
    pub state: BreakerState,
    /// Technical failures since the last success.
    pub consecutive_failures: u32,
    /// When it last opened (set unless closed).
    pub opened_at: Option<DateTime<Utc>>,
    /// Probes taken while half-open.
    pub probes: u32,
    /// When it last changed (a half-open probe that never reports frees its slot after a
    /// cool-down).
    pub changed_at: DateTime<Utc>,
}

impl Breaker {
    /// A closed breaker.
    pub fn closed(now: DateTime<Utc>) -> Breaker {
        Breaker {
            state: BreakerState::Closed,
            consecutive_failures: 0,
            opened_at: None,
            probes: 0,
            changed_at: now,
        }
    }

    /// What it lets through at `now`.
    pub fn admission(&self, now: DateTime<Utc>, settings: &BreakerSettings) -> Admission {
        match self.state {
            BreakerState::Closed => Admission::Allow,
            BreakerState::Open => {
                if self
                    .opened_at
                    .is_none_or(|at| now >= at + settings.cool_down)
                {
                    Admission::Probe
                } else {
                    Admission::Refuse
                }
            }
            BreakerState::HalfOpen => {
                if self.probes < settings.probes || now >= self.changed_at + settings.cool_down {
                    Admission::Probe
                } else {
                    Admission::Refuse
                }
            }
        }
    }

    /// A payment takes a probe slot (the breaker is half-open from now on).
    pub fn probe(&mut self, now: DateTime<Utc>, settings: &BreakerSettings) {
        let stale = now >= self.changed_at + settings.cool_down;
        self.probes = if self.state == BreakerState::HalfOpen && !stale {
            self.probes + 1
        } else {
            1
        };
        self.state = BreakerState::HalfOpen;
        self.changed_at = now;
    }

    /// The account answered: closed again.
    pub fn succeeded(&mut self, now: DateTime<Utc>) {
        *self = Breaker::closed(now);
    }

    /// A technical failure: counts towards opening; a probe's failure re-opens at once.
    pub fn failed(&mut self, now: DateTime<Utc>, settings: &BreakerSettings) {
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        let open = match self.state {
            BreakerState::Closed => self.consecutive_failures >= settings.failures,
            BreakerState::HalfOpen => true,
            BreakerState::Open => false,
        };
        if open {
            self.open(now);
        }
    }

    /// The health window's technical-error rate opens a closed breaker.
    pub fn judge(&mut self, window: &Window, now: DateTime<Utc>, settings: &BreakerSettings) {
        if self.state == BreakerState::Closed
            && window.attempts >= settings.min_attempts
            && u64::from(window.technical_errors) * 100
                >= u64::from(settings.failure_rate_percent) * u64::from(window.attempts)
        {
            self.open(now);
        }
    }

    fn open(&mut self, now: DateTime<Utc>) {
        self.state = BreakerState::Open;
        self.opened_at = Some(now);
        self.probes = 0;
        self.changed_at = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn opens_after_the_failures_half_opens_after_the_cool_down_and_closes_on_success() {
        let settings = BreakerSettings::default();
        let t0 = Utc.with_ymd_and_hms(2026, 12, 3, 10, 0, 0).unwrap();
        let mut b = Breaker::closed(t0);
        for _ in 0..settings.failures - 1 {
            b.failed(t0, &settings);
        }
        assert_eq!(b.admission(t0, &settings), Admission::Allow);
        b.failed(t0, &settings);
        assert_eq!(b.state, BreakerState::Open);
        assert_eq!(
            b.admission(t0 + Duration::seconds(29), &settings),
            Admission::Refuse
        );
        let later = t0 + settings.cool_down;
        assert_eq!(b.admission(later, &settings), Admission::Probe);
        b.probe(later, &settings);
        assert_eq!(b.state, BreakerState::HalfOpen);
        assert_eq!(
            b.admission(later, &settings),
            Admission::Refuse,
            "one probe at a time"
        );
        b.failed(later, &settings);
        assert_eq!(b.state, BreakerState::Open, "a failed probe re-opens");
        let again = later + settings.cool_down;
        b.probe(again, &settings);
        b.succeeded(again);
        assert_eq!(b, Breaker::closed(again));
    }

    #[test]
    fn a_high_error_rate_over_the_window_opens_it() {
        let settings = BreakerSettings::default();
        let now = Utc.with_ymd_and_hms(2026, 12, 3, 10, 0, 0).unwrap();
        let mut b = Breaker::closed(now);
        b.judge(
            &Window {
                attempts: 19,
                successes: 0,
                technical_errors: 19,
            },
            now,
            &settings,
        );
        assert_eq!(b.state, BreakerState::Closed, "too few attempts to judge");
        b.judge(
            &Window {
                attempts: 40,
                successes: 20,
                technical_errors: 20,
            },
            now,
            &settings,
        );
        assert_eq!(b.state, BreakerState::Open);
    }
}
