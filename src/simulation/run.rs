//! Runs a scenario's payments through the real routing engine (`decide`, the smart ranking and
//! the circuit breaker), once per mode, and once through an oracle that knows every account's
//! true success probability.
//!
//! Every lane sees the same payments and the same luck: payment `i` has one amount and one
//! uniform draw `u`, and it succeeds on account `g` exactly when `u` is below `g`'s true success
//! probability at that moment. So the oracle, which always takes the highest probability,
//! succeeds on every payment any mode succeeds on, and the differences between modes are the
//! routing's, not the dice's.

use super::scenario::{GatewaySpec, Scenario};
use chrono::{DateTime, Duration, TimeZone, Utc};
use shared::ids::GatewayAccountId;
use shared::routing::breaker::{Breaker, BreakerSettings};
use shared::routing::engine::{Admission, Ask, Rng, decide};
use shared::routing::smart::{SmartSettings, amount_band};
use shared::routing::{Candidate, RoutingMode, Window};
use uuid::Uuid;

/// Amount bands the health collector keeps (0 is every amount).
const BANDS: usize = 5;

/// Who routes: the oracle or one of the engine's modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// Knows each account's true success probability now and takes the best.
    Oracle,
    /// The engine in this mode.
    Mode(RoutingMode),
}

impl Lane {
    /// The oracle, then every mode.
    pub const ALL: [Lane; 5] = [
        Lane::Oracle,
        Lane::Mode(RoutingMode::Priority),
        Lane::Mode(RoutingMode::RoundRobin),
        Lane::Mode(RoutingMode::Weighted),
        Lane::Mode(RoutingMode::Smart),
    ];

    /// Its name in tables and charts.
    pub fn label(self) -> &'static str {
        match self {
            Lane::Oracle => "oracle",
            Lane::Mode(mode) => mode.as_str(),
        }
    }
}

/// What one lane achieved over a scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct LaneResult {
    /// Who routed.
    pub lane: Lane,
    /// Payments sent.
    pub payments: u64,
    /// Payments whose (single) attempt succeeded.
    pub successes: u64,
    /// Attempts that failed technically.
    pub technical_errors: u64,
    /// Payments no account could take (every breaker open).
    pub unrouted: u64,
    /// Fees charged on the successful payments, paise.
    pub fees: i64,
    /// Sum of the attempts' response times, milliseconds.
    pub latency_ms: u64,
    /// Attempts per account, in the scenario's order.
    pub picks: Vec<u64>,
    /// Payments and successes per simulated minute (for the chart).
    pub per_minute: Vec<(u32, u32)>,
}

impl LaneResult {
    /// Successful payments over payments sent.
    pub fn success_rate(&self) -> f64 {
        self.successes as f64 / self.payments.max(1) as f64
    }

    /// Mean response time of the attempts, milliseconds.
    pub fn mean_latency_ms(&self) -> f64 {
        let attempts = self.payments - self.unrouted;
        self.latency_ms as f64 / attempts.max(1) as f64
    }
}

/// Every lane's result for one scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioResult {
    /// The scenario as run.
    pub scenario: Scenario,
    /// The oracle first, then each mode.
    pub lanes: Vec<LaneResult>,
}

impl ScenarioResult {
    /// The lane's result.
    pub fn lane(&self, lane: Lane) -> Option<&LaneResult> {
        self.lanes.iter().find(|l| l.lane == lane)
    }

    /// The lane's success rate as a share of the oracle's.
    pub fn oracle_share(&self, lane: Lane) -> f64 {
        let oracle = self
            .lane(Lane::Oracle)
            .map_or(0.0, LaneResult::success_rate);
        let own = self.lane(lane).map_or(0.0, LaneResult::success_rate);
        if oracle > 0.0 { own / oracle } else { 0.0 }
    }
}

/// Runs every lane over `scenario` (its `payments` and `seed` as given).
pub fn run(scenario: &Scenario) -> ScenarioResult {
    let lanes = Lane::ALL
        .iter()
        .map(|&lane| Simulation::new(scenario, lane).run())
        .collect();
    ScenarioResult {
        scenario: scenario.clone(),
        lanes,
    }
}

/// One payment's share of the scenario's randomness, the same in every lane.
struct Draw {
    amount: i64,
    /// Success iff below the chosen account's true success probability.
    success: f64,
    /// Whether a failure is technical.
    kind: f64,
    /// Response-time jitter.
    latency: f64,
}

/// The outcome of one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Success,
    Declined,
    Technical,
}

struct Simulation<'a> {
    scenario: &'a Scenario,
    lane: Lane,
    payments: Rng,
    decisions: Rng,
    smart: SmartSettings,
    breaker_settings: BreakerSettings,
    breakers: Vec<Breaker>,
    /// Outcomes per account, per refresh period, per band: what the health collector counts.
    buckets: Vec<Vec<[Window; BANDS]>>,
    /// What the engine currently sees per account and band (the last refresh).
    published: Vec<[Window; BANDS]>,
    candidates: Vec<Candidate>,
    position: u64,
    start: DateTime<Utc>,
}

impl<'a> Simulation<'a> {
    fn new(scenario: &'a Scenario, lane: Lane) -> Simulation<'a> {
        let start = Utc
            .with_ymd_and_hms(2026, 12, 1, 0, 0, 0)
            .single()
            .unwrap_or_default();
        let n = scenario.gateways.len();
        let periods =
            (u64::from(scenario.minutes) * 60).div_ceil(u64::from(scenario.stats.refresh_seconds));
        let candidates = scenario
            .gateways
            .iter()
            .enumerate()
            .map(|(i, g)| candidate(i, g))
            .collect();
        Simulation {
            scenario,
            lane,
            payments: Rng::seeded(scenario.seed),
            // The engine's own randomness (smart's sampling), apart from the payments' so that
            // every lane gets the same payments.
            decisions: Rng::seeded(scenario.seed ^ 0x005E_ED0F_D3C1_5105),
            smart: scenario.smart.unwrap_or_default(),
            breaker_settings: BreakerSettings::default(),
            breakers: vec![Breaker::closed(start); n],
            buckets: vec![vec![[Window::default(); BANDS]; periods as usize + 1]; n],
            published: vec![[Window::default(); BANDS]; n],
            candidates,
            position: 0,
            start,
        }
    }

    fn run(mut self) -> LaneResult {
        let s = self.scenario;
        let total_seconds = f64::from(s.minutes) * 60.0;
        let refresh = f64::from(s.stats.refresh_seconds);
        let mut result = LaneResult {
            lane: self.lane,
            payments: s.payments,
            successes: 0,
            technical_errors: 0,
            unrouted: 0,
            fees: 0,
            latency_ms: 0,
            picks: vec![0; s.gateways.len()],
            per_minute: vec![(0, 0); s.minutes as usize],
        };
        let mut next_refresh = refresh;
        for i in 0..s.payments {
            let seconds = (i as f64 + 0.5) * total_seconds / s.payments as f64;
            while seconds >= next_refresh {
                self.refresh(next_refresh);
                next_refresh += refresh;
            }
            let now = self.start + Duration::milliseconds((seconds * 1000.0) as i64);
            let minute = seconds / 60.0;
            let draw = self.draw();
            let slot = &mut result.per_minute[(minute as usize).min(s.minutes as usize - 1)];
            slot.0 += 1;
            let Some(g) = self.choose(now, minute, draw.amount) else {
                result.unrouted += 1;
                continue;
            };
            let spec = &s.gateways[g];
            let outcome = outcome(spec, minute, &draw);
            self.record(g, seconds, draw.amount, outcome, now);
            result.picks[g] += 1;
            result.latency_ms += if outcome == Outcome::Technical && spec.outage_rate(minute) > 0.0
            {
                u64::from(s.timeout_ms)
            } else {
                // Response times spread from half to one and a half times the typical one.
                (f64::from(spec.latency_ms) * (0.5 + draw.latency)) as u64
            };
            match outcome {
                Outcome::Success => {
                    result.successes += 1;
                    slot.1 += 1;
                    result.fees += spec.fee.on(draw.amount);
                }
                Outcome::Technical => result.technical_errors += 1,
                Outcome::Declined => {}
            }
        }
        result
    }

    fn draw(&mut self) -> Draw {
        let (min, max) = (
            self.scenario.amount.min as f64,
            self.scenario.amount.max as f64,
        );
        let u = self.payments.next_f64();
        // Log-uniform: as many payments between ₹100 and ₹1,000 as between ₹1,000 and ₹10,000.
        let amount = (min.ln() + u * (max.ln() - min.ln())).exp().round() as i64;
        Draw {
            amount: amount.clamp(self.scenario.amount.min, self.scenario.amount.max),
            success: self.payments.next_f64(),
            kind: self.payments.next_f64(),
            latency: self.payments.next_f64(),
        }
    }

    /// The account that takes the payment, if any can.
    fn choose(&mut self, now: DateTime<Utc>, minute: f64, amount: i64) -> Option<usize> {
        let mode = match self.lane {
            Lane::Oracle => return Some(self.oracle(minute, amount)),
            Lane::Mode(mode) => mode,
        };
        let band = amount_band(amount) as usize;
        for (i, c) in self.candidates.iter_mut().enumerate() {
            c.admission = self.breakers[i].admission(now, &self.breaker_settings);
            c.band = self.published[i][band];
            c.overall = self.published[i][0];
        }
        let decision = decide(
            mode,
            &self.candidates,
            Ask {
                amount,
                position: self.position,
            },
            &mut self.decisions,
            &self.smart,
        );
        if mode.rotates() {
            self.position += 1;
        }
        let chosen = *decision.ranked.first()?;
        let g = self.candidates.iter().position(|c| c.account == chosen)?;
        if self.candidates[g].admission == Admission::Probe {
            self.breakers[g].probe(now, &self.breaker_settings);
        }
        Some(g)
    }

    /// The highest true success probability; ties go to the lower fee, then the priority.
    fn oracle(&self, minute: f64, amount: i64) -> usize {
        let gateways = &self.scenario.gateways;
        (0..gateways.len())
            .min_by(|&a, &b| {
                let (ga, gb) = (&gateways[a], &gateways[b]);
                gb.success_at(minute)
                    .total_cmp(&ga.success_at(minute))
                    .then(ga.fee.on(amount).cmp(&gb.fee.on(amount)))
                    .then(ga.priority.cmp(&gb.priority))
            })
            .unwrap_or(0)
    }

    /// Counts the attempt for the health collector and tells the breaker.
    fn record(
        &mut self,
        g: usize,
        seconds: f64,
        amount: i64,
        outcome: Outcome,
        now: DateTime<Utc>,
    ) {
        let period = (seconds / f64::from(self.scenario.stats.refresh_seconds)) as usize;
        let bucket = &mut self.buckets[g][period];
        for band in [0, amount_band(amount) as usize] {
            let w = &mut bucket[band];
            w.attempts += 1;
            match outcome {
                Outcome::Success => w.successes += 1,
                Outcome::Technical => w.technical_errors += 1,
                Outcome::Declined => {}
            }
        }
        // A decline is an answer: the account is up.
        match outcome {
            Outcome::Technical => self.breakers[g].failed(now, &self.breaker_settings),
            Outcome::Success | Outcome::Declined => self.breakers[g].succeeded(now),
        }
    }

    /// The health collector's run at `seconds`: each account's outcomes over the window that
    /// ends now become what the engine sees, and the error rate is shown to the breaker.
    fn refresh(&mut self, seconds: f64) {
        let stats = self.scenario.stats;
        let end = (seconds / f64::from(stats.refresh_seconds)).round() as usize;
        let span = (stats.window_minutes * 60).div_ceil(stats.refresh_seconds) as usize;
        let now = self.start + Duration::milliseconds((seconds * 1000.0) as i64);
        for g in 0..self.buckets.len() {
            let mut sum = [Window::default(); BANDS];
            for bucket in &self.buckets[g][end.saturating_sub(span)..end.min(self.buckets[g].len())]
            {
                for (total, w) in sum.iter_mut().zip(bucket) {
                    total.attempts += w.attempts;
                    total.successes += w.successes;
                    total.technical_errors += w.technical_errors;
                }
            }
            self.published[g] = sum;
            self.breakers[g].judge(&sum[0], now, &self.breaker_settings);
        }
    }
}

/// What happens to an attempt on `spec` at `minute` with the payment's draws.
fn outcome(spec: &GatewaySpec, minute: f64, draw: &Draw) -> Outcome {
    let outage = spec.outage_rate(minute);
    let success = spec.success_at(minute);
    if draw.success < success {
        return Outcome::Success;
    }
    // Of the failures, the technical ones: the outage's, plus the account's usual share of the
    // rest.
    let technical =
        outage + (1.0 - outage) * (1.0 - spec.success.at(minute)) * spec.technical_share;
    let failing = 1.0 - success;
    if failing > 0.0 && draw.kind < technical / failing {
        Outcome::Technical
    } else {
        Outcome::Declined
    }
}

/// Account `i` as a pool member with no history yet; its id is fixed so ties sort the same way
/// in every run.
fn candidate(i: usize, spec: &GatewaySpec) -> Candidate {
    let account = GatewayAccountId::from_uuid(Uuid::from_u128(i as u128 + 1));
    Candidate {
        fee: spec.fee,
        ..Candidate::new(account, spec.priority, spec.weight)
    }
}
