//! A routing scenario: synthetic gateway accounts (true success rate over time, outages, latency,
//! fees, priority, weight), the payments sent to them and how the health collector reports their
//! outcomes. Scenarios are TOML files checked in under `scenarios/routing/`.

use serde::Deserialize;
use shared::routing::Fee;
use shared::routing::smart::SmartSettings;
use std::collections::HashSet;
use std::path::Path;
use thiserror::Error;

/// Why a scenario cannot be used.
#[derive(Debug, Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("cannot read scenario {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// What the system said.
        source: std::io::Error,
    },
    /// The text is not a scenario (syntax, unknown or missing keys, wrong types).
    #[error("scenario {path} is not valid TOML for a scenario: {message}")]
    Parse {
        /// The file.
        path: String,
        /// What the parser said, with the line.
        message: String,
    },
    /// The values are out of range or inconsistent.
    #[error("scenario {path} is invalid: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// Which value and why.
        message: String,
    },
}

/// One simulated pool and its traffic.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name, shown in tables and charts.
    pub name: String,
    /// What the scenario shows.
    #[serde(default)]
    pub description: String,
    /// Simulated duration; payments arrive evenly over it.
    pub minutes: u32,
    /// Payments sent (the command's `--payments` overrides it).
    pub payments: u64,
    /// Seed of every random draw (the command's `--seed` overrides it).
    pub seed: u64,
    /// Payment amounts, drawn log-uniformly between the bounds.
    pub amount: AmountRange,
    /// How the engine learns about outcomes.
    #[serde(default)]
    pub stats: StatsSettings,
    /// Smart routing's knobs (all four, or none for the production defaults).
    #[serde(default)]
    pub smart: Option<SmartSettings>,
    /// How long a technical error in an outage takes to surface, milliseconds (a timeout).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u32,
    /// The pool's accounts.
    #[serde(rename = "gateway")]
    pub gateways: Vec<GatewaySpec>,
}

fn default_timeout_ms() -> u32 {
    10_000
}

/// Bounds of the payment amounts, paise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmountRange {
    /// Smallest amount, paise.
    pub min: i64,
    /// Largest amount, paise.
    pub max: i64,
}

/// The health collector: it counts each account's outcomes over a sliding window and publishes
/// them every `refresh_seconds`, so the engine always decides on slightly old figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatsSettings {
    /// Length of the window, minutes.
    pub window_minutes: u32,
    /// How often the figures are recomputed, seconds.
    pub refresh_seconds: u32,
}

impl Default for StatsSettings {
    fn default() -> Self {
        // The production health collector: a 15-minute window refreshed every minute.
        StatsSettings {
            window_minutes: 15,
            refresh_seconds: 60,
        }
    }
}

/// One synthetic gateway account.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySpec {
    /// Its name in tables.
    pub name: String,
    /// Pool priority (lower is preferred).
    pub priority: i32,
    /// Pool weight (weighted mode).
    pub weight: u32,
    /// What it charges.
    pub fee: Fee,
    /// Typical response time of an answered call, milliseconds.
    pub latency_ms: u32,
    /// True probability that an attempt succeeds, constant or over time.
    pub success: Curve,
    /// Share of the failures outside outages that are technical (timeouts, 5xx), not declines.
    #[serde(default = "default_technical_share")]
    pub technical_share: f64,
    /// Periods when calls fail technically.
    #[serde(default)]
    pub outages: Vec<Outage>,
}

fn default_technical_share() -> f64 {
    0.1
}

/// A success probability: one value, or `[minute, probability]` points joined by straight lines
/// (flat before the first point and after the last).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(
    untagged,
    expecting = "a probability such as 0.9, or a list of [minute, probability] points such as [[0, 0.9], [60, 0.7]]"
)]
pub enum Curve {
    /// The same all along.
    Constant(f64),
    /// Piecewise linear.
    Points(Vec<[f64; 2]>),
}

impl Curve {
    /// The value at `minute`.
    pub fn at(&self, minute: f64) -> f64 {
        match self {
            Curve::Constant(p) => *p,
            Curve::Points(points) => {
                let Some(first) = points.first() else {
                    return 0.0;
                };
                if minute <= first[0] {
                    return first[1];
                }
                for pair in points.windows(2) {
                    let ([m0, p0], [m1, p1]) = (pair[0], pair[1]);
                    if minute <= m1 {
                        let span = m1 - m0;
                        return if span > 0.0 {
                            p0 + (p1 - p0) * (minute - m0) / span
                        } else {
                            p1
                        };
                    }
                }
                points.last().map_or(0.0, |p| p[1])
            }
        }
    }

    fn values(&self) -> Vec<f64> {
        match self {
            Curve::Constant(p) => vec![*p],
            Curve::Points(points) => points.iter().map(|p| p[1]).collect(),
        }
    }
}

/// A period in which a share of the account's calls fail technically.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outage {
    /// First minute.
    pub start: f64,
    /// Minute it ends (exclusive).
    pub end: f64,
    /// Share of calls that fail technically meanwhile (1 = down; less = a brown-out).
    #[serde(default = "full_outage")]
    pub error_rate: f64,
}

fn full_outage() -> f64 {
    1.0
}

impl GatewaySpec {
    /// The technical-error rate forced by outages at `minute` (0 outside them).
    pub fn outage_rate(&self, minute: f64) -> f64 {
        self.outages
            .iter()
            .filter(|o| minute >= o.start && minute < o.end)
            .map(|o| o.error_rate)
            .fold(0.0, f64::max)
    }

    /// The true probability that an attempt at `minute` succeeds, outages included.
    pub fn success_at(&self, minute: f64) -> f64 {
        self.success.at(minute).clamp(0.0, 1.0) * (1.0 - self.outage_rate(minute))
    }
}

impl Scenario {
    /// Reads and checks the scenario in `path`.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: shown.clone(),
            source,
        })?;
        Scenario::parse(&text, &shown)
    }

    /// Parses and checks a scenario; `path` names it in errors.
    pub fn parse(text: &str, path: &str) -> Result<Scenario, ScenarioError> {
        let scenario: Scenario = toml::from_str(text).map_err(|e| ScenarioError::Parse {
            path: path.to_string(),
            message: e.to_string().trim_end().to_string(),
        })?;
        scenario.check().map_err(|message| ScenarioError::Invalid {
            path: path.to_string(),
            message,
        })?;
        Ok(scenario)
    }

    fn check(&self) -> Result<(), String> {
        let probability = |what: &str, p: f64| {
            if (0.0..=1.0).contains(&p) {
                Ok(())
            } else {
                Err(format!("{what} must be between 0 and 1, not {p}"))
            }
        };
        if self.name.trim().is_empty() {
            return Err("name must not be empty".into());
        }
        if self.minutes == 0 {
            return Err("minutes must be at least 1".into());
        }
        if self.payments == 0 {
            return Err("payments must be at least 1".into());
        }
        if self.amount.min < 1 || self.amount.max < self.amount.min {
            return Err(format!(
                "amount needs 1 <= min <= max paise, not min {} and max {}",
                self.amount.min, self.amount.max
            ));
        }
        if self.stats.window_minutes == 0 || self.stats.refresh_seconds == 0 {
            return Err("stats.window_minutes and stats.refresh_seconds must be at least 1".into());
        }
        if let Some(smart) = &self.smart {
            probability("smart.elimination_threshold", smart.elimination_threshold)?;
        }
        if self.gateways.len() < 2 {
            return Err("a pool needs at least two [[gateway]] entries to route between".into());
        }
        if self.gateways.iter().all(|g| g.weight == 0) {
            return Err("at least one gateway needs a weight above 0".into());
        }
        let mut names = HashSet::new();
        for g in &self.gateways {
            let who = format!("gateway '{}'", g.name);
            if g.name.trim().is_empty() || !names.insert(g.name.as_str()) {
                return Err(format!("{who}: names must be present and unique"));
            }
            if let Curve::Points(points) = &g.success {
                if points.is_empty() {
                    return Err(format!(
                        "{who}: success needs at least one [minute, p] point"
                    ));
                }
                if points.windows(2).any(|w| w[1][0] < w[0][0]) {
                    return Err(format!("{who}: success points must be in time order"));
                }
            }
            for p in g.success.values() {
                probability(&format!("{who}: success"), p)?;
            }
            probability(&format!("{who}: technical_share"), g.technical_share)?;
            for o in &g.outages {
                if o.start.partial_cmp(&o.end) != Some(std::cmp::Ordering::Less) {
                    return Err(format!(
                        "{who}: an outage must start before it ends ({}..{})",
                        o.start, o.end
                    ));
                }
                probability(&format!("{who}: outage error_rate"), o.error_rate)?;
            }
            if g.fee.bps > 10_000 || g.fee.fixed < 0 {
                return Err(format!("{who}: fee needs bps <= 10000 and fixed >= 0"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: &str = r#"
        name = "t"
        minutes = 60
        payments = 100
        seed = 1
        amount = { min = 100, max = 1000 }
        [[gateway]]
        name = "a"
        priority = 1
        weight = 1
        fee = { bps = 200, fixed = 0 }
        latency_ms = 500
        success = [[0, 0.9], [30, 0.5]]
        [[gateway]]
        name = "b"
        priority = 2
        weight = 1
        fee = { bps = 200, fixed = 0 }
        latency_ms = 500
        success = 0.8
        outages = [{ start = 10, end = 20, error_rate = 0.5 }]
    "#;

    #[test]
    fn curves_interpolate_and_outages_scale_the_success_rate() {
        let s = Scenario::parse(TWO, "t").unwrap();
        assert!((s.gateways[0].success_at(15.0) - 0.7).abs() < 1e-9);
        assert!((s.gateways[0].success_at(45.0) - 0.5).abs() < 1e-9);
        assert!((s.gateways[1].success_at(12.0) - 0.4).abs() < 1e-9);
        assert!((s.gateways[1].success_at(20.0) - 0.8).abs() < 1e-9);
        assert_eq!(s.stats, StatsSettings::default());
    }

    #[test]
    fn bad_scenarios_are_refused_with_the_reason() {
        let cases = [
            (
                TWO.replace("success = 0.8", "success = 1.8"),
                "between 0 and 1",
            ),
            (
                TWO.replace("success = 0.8", "success = \"high\""),
                "a probability such as 0.9, or a list of [minute, probability] points",
            ),
            (TWO.replace("[30, 0.5]", "[-5, 0.5]"), "in time order"),
            (TWO.replace("name = \"b\"", "name = \"a\""), "unique"),
            (
                TWO.replace("seed = 1", "seed = 1\ncolour = 2"),
                "unknown field",
            ),
            (
                TWO.replace("start = 10", "start = 30"),
                "start before it ends",
            ),
            (TWO.replace("payments = 100", "payments = 0"), "payments"),
        ];
        for (text, expected) in cases {
            let error = Scenario::parse(&text, "t").unwrap_err().to_string();
            assert!(error.contains(expected), "{error}");
        }
    }
}
