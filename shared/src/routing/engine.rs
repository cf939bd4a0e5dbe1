//! The routing decision, in memory: which eligible account takes a payment and in which order the
//! others follow. No I/O and no clock reads, so a decision is a pure function of its inputs (the
//! smart mode's randomness comes from the caller's [`Rng`]).

use super::smart::{self, SmartSettings};
use crate::ids::GatewayAccountId;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// How a pool chooses among its eligible members.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoutingMode {
    /// The lowest priority number first.
    Priority,
    /// In turn, one payment each.
    RoundRobin,
    /// Shares proportional to the members' weights.
    Weighted,
    /// By recent success rate (and cost), exploring the others now and then.
    Smart,
}

impl RoutingMode {
    /// Every mode.
    pub const ALL: [RoutingMode; 4] = [
        RoutingMode::Priority,
        RoutingMode::RoundRobin,
        RoutingMode::Weighted,
        RoutingMode::Smart,
    ];

    /// The name stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            RoutingMode::Priority => "priority",
            RoutingMode::RoundRobin => "round_robin",
            RoutingMode::Weighted => "weighted",
            RoutingMode::Smart => "smart",
        }
    }

    /// Whether the mode consumes the pool's rotation counter.
    pub fn rotates(self) -> bool {
        matches!(self, RoutingMode::RoundRobin | RoutingMode::Weighted)
    }
}

impl fmt::Display for RoutingMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RoutingMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RoutingMode::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| format!("unknown routing mode '{s}'"))
    }
}

/// What an account charges per payment: basis points of the amount plus a fixed fee, in paise.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fee {
    /// Hundredths of a percent of the amount.
    pub bps: u32,
    /// Paise per payment.
    pub fixed: i64,
}

impl Fee {
    /// The fee on `amount` paise, rounded as all money is ([`crate::money::share_of`]).
    pub fn on(self, amount: i64) -> i64 {
        crate::money::share_of(amount, self.bps).saturating_add(self.fixed)
    }
}

/// Recent outcomes of one account (for one amount band, or all amounts).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// Attempts that ended (succeeded, declined or technical error).
    pub attempts: u32,
    /// Of which succeeded.
    pub successes: u32,
    /// Of which failed for technical reasons (timeouts, 5xx, refused connections).
    pub technical_errors: u32,
}

/// What a circuit breaker allows right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Admission {
    /// Closed: take payments.
    Allow,
    /// Half-open with a free probe slot: one payment may test the account.
    Probe,
    /// Open (cooling down) or half-open with every probe slot taken.
    Refuse,
}

/// One member of a pool as the decision sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The account.
    pub account: GatewayAccountId,
    /// Lower is preferred (priority mode, and the order ties fall back to).
    pub priority: i32,
    /// Share in weighted mode.
    pub weight: u32,
    /// What the account charges.
    pub fee: Fee,
    /// Whether the member is enabled and its account active in the payment's environment.
    pub enabled: bool,
    /// The smallest amount the account takes, paise.
    pub min_amount: Option<i64>,
    /// The largest amount the account takes, paise.
    pub max_amount: Option<i64>,
    /// Its circuit breaker.
    pub admission: Admission,
    /// What is left of its tightest volume cap, paise (`None`: no cap).
    pub cap_room: Option<i64>,
    /// Already tried for this payment (failover).
    pub tried: bool,
    /// Recent outcomes for the payment's amount band.
    pub band: Window,
    /// Recent outcomes for all amounts.
    pub overall: Window,
}

/// Why a member cannot take the payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Exclusion {
    /// Member disabled or account not active.
    Disabled,
    /// The amount is outside the account's limits.
    AmountOutOfRange,
    /// Its circuit breaker is open.
    CircuitOpen,
    /// Its volume cap has no room for the amount.
    CapReached,
    /// This payment already failed there.
    AlreadyTried,
    /// Smart routing's elimination: too many recent technical errors.
    TechnicalErrors,
}

impl Candidate {
    /// An enabled, uncapped member with a closed breaker, no fee and no history.
    pub fn new(account: GatewayAccountId, priority: i32, weight: u32) -> Candidate {
        Candidate {
            account,
            priority,
            weight,
            fee: Fee::default(),
            enabled: true,
            min_amount: None,
            max_amount: None,
            admission: Admission::Allow,
            cap_room: None,
            tried: false,
            band: Window::default(),
            overall: Window::default(),
        }
    }

    /// Why the candidate cannot take `amount`, if it cannot.
    pub fn exclusion(&self, amount: i64) -> Option<Exclusion> {
        if !self.enabled {
            Some(Exclusion::Disabled)
        } else if self.min_amount.is_some_and(|m| amount < m)
            || self.max_amount.is_some_and(|m| amount > m)
        {
            Some(Exclusion::AmountOutOfRange)
        } else if self.tried {
            Some(Exclusion::AlreadyTried)
        } else if self.admission == Admission::Refuse {
            Some(Exclusion::CircuitOpen)
        } else if self.cap_room.is_some_and(|room| room < amount) {
            Some(Exclusion::CapReached)
        } else {
            None
        }
    }
}

/// One member's line in the decision record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Considered {
    /// The account.
    pub account: GatewayAccountId,
    /// Its score in the mode (higher is better; priority mode: the negated priority).
    pub score: Option<f64>,
    /// Why it was left out.
    pub excluded: Option<Exclusion>,
}

/// The outcome of routing one payment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    /// The mode that decided.
    pub mode: RoutingMode,
    /// Eligible accounts, best first: the first takes the payment, the rest are its failover
    /// order (a member whose cap reservation then fails is skipped).
    pub ranked: Vec<GatewayAccountId>,
    /// Every member with its score or why it was left out.
    pub considered: Vec<Considered>,
    /// Why the first was chosen, for operators.
    pub reason: String,
}

/// A small, fast, seedable generator (SplitMix64): routing needs cheap randomness, not secrecy.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator starting from `seed` (same seed, same sequence).
    pub fn seeded(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The inputs of a decision besides the candidates.
#[derive(Debug, Clone, Copy)]
pub struct Ask {
    /// Paise.
    pub amount: i64,
    /// The pool's rotation counter for this payment (round robin and weighted).
    pub position: u64,
}

/// Ranks the eligible candidates for a payment by the pool's mode.
pub fn decide(
    mode: RoutingMode,
    candidates: &[Candidate],
    ask: Ask,
    rng: &mut Rng,
    settings: &SmartSettings,
) -> Decision {
    let mut considered: Vec<Considered> = candidates
        .iter()
        .map(|c| Considered {
            account: c.account,
            score: None,
            excluded: c.exclusion(ask.amount),
        })
        .collect();
    let eligible: Vec<usize> = (0..candidates.len())
        .filter(|&i| considered[i].excluded.is_none())
        .collect();
    // Lowest priority number first, ties by account id: the fallback order of every mode.
    let mut by_priority = eligible.clone();
    by_priority.sort_by_key(|&i| (candidates[i].priority, candidates[i].account));
    let (first, scores, reason) = match mode {
        RoutingMode::Priority => {
            let scores = by_priority
                .iter()
                .map(|&i| (i, -f64::from(candidates[i].priority)))
                .collect();
            (
                by_priority.first().copied(),
                scores,
                "the lowest priority number among eligible members".to_string(),
            )
        }
        RoutingMode::RoundRobin => {
            let pick = (!by_priority.is_empty())
                .then(|| by_priority[(ask.position % by_priority.len() as u64) as usize]);
            (
                pick,
                Vec::new(),
                format!(
                    "turn {} of {} eligible members",
                    ask.position % by_priority.len().max(1) as u64 + 1,
                    by_priority.len()
                ),
            )
        }
        RoutingMode::Weighted => {
            let (pick, scores) = weighted(candidates, &by_priority, ask.position);
            (
                pick,
                scores,
                "the share of the members' weights at this position".to_string(),
            )
        }
        RoutingMode::Smart => {
            let outcome = smart::rank(candidates, &by_priority, ask.amount, rng, settings);
            for &i in &outcome.eliminated {
                considered[i].excluded = Some(Exclusion::TechnicalErrors);
            }
            (outcome.first, outcome.scores, outcome.reason)
        }
    };
    for (i, score) in scores {
        considered[i].score = Some(score);
    }
    let mut ranked = Vec::with_capacity(by_priority.len());
    if let Some(first) = first {
        ranked.push(candidates[first].account);
    }
    // Failover follows the mode's scores where it has them (smart), else priority.
    let mut rest: Vec<usize> = by_priority
        .iter()
        .copied()
        .filter(|&i| Some(i) != first && considered[i].excluded.is_none())
        .collect();
    if mode == RoutingMode::Smart {
        rest.sort_by(|&a, &b| {
            let score = |i: usize| considered[i].score.unwrap_or(f64::NEG_INFINITY);
            score(b).total_cmp(&score(a))
        });
    }
    ranked.extend(rest.into_iter().map(|i| candidates[i].account));
    let reason = if ranked.is_empty() {
        "no member can take this payment".to_string()
    } else {
        reason
    };
    Decision {
        mode,
        ranked,
        considered,
        reason,
    }
}

/// Weighted choice without randomness: position `n` maps to the point `frac(n·φ)` of the unit
/// interval, cut into the eligible members' weight shares. The golden-ratio sequence spreads
/// consecutive points evenly, so over any run of payments each member's share stays within a
/// few payments of its weight (a random draw would wander by √n), and a member leaving the
/// eligible set just rescales the cuts, with no state to repair.
fn weighted(
    candidates: &[Candidate],
    order: &[usize],
    position: u64,
) -> (Option<usize>, Vec<(usize, f64)>) {
    let total: u64 = order.iter().map(|&i| u64::from(candidates[i].weight)).sum();
    if total == 0 {
        return (None, Vec::new());
    }
    const PHI_FRACTION: f64 = 0.618_033_988_749_894_9;
    let point = (position as f64 * PHI_FRACTION).fract() * total as f64;
    let mut edge = 0.0;
    let mut pick = None;
    let mut scores = Vec::with_capacity(order.len());
    for &i in order {
        let weight = f64::from(candidates[i].weight);
        if pick.is_none() && point < edge + weight {
            pick = Some(i);
        }
        edge += weight;
        scores.push((i, weight / total as f64));
    }
    (pick.or(order.last().copied()), scores)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(priority: i32, weight: u32) -> Candidate {
        Candidate::new(GatewayAccountId::generate(), priority, weight)
    }

    fn run(mode: RoutingMode, candidates: &[Candidate], position: u64) -> Decision {
        decide(
            mode,
            candidates,
            Ask {
                amount: 10_000,
                position,
            },
            &mut Rng::seeded(7),
            &SmartSettings::default(),
        )
    }

    #[test]
    fn priority_takes_the_lowest_number_that_is_eligible() {
        let mut pool = vec![candidate(2, 1), candidate(1, 1), candidate(3, 1)];
        assert_eq!(
            run(RoutingMode::Priority, &pool, 0).ranked[0],
            pool[1].account
        );
        pool[1].admission = Admission::Refuse;
        pool[0].cap_room = Some(5_000);
        let decision = run(RoutingMode::Priority, &pool, 0);
        assert_eq!(decision.ranked, vec![pool[2].account]);
        assert_eq!(
            decision.considered[1].excluded,
            Some(Exclusion::CircuitOpen)
        );
        assert_eq!(decision.considered[0].excluded, Some(Exclusion::CapReached));
    }

    #[test]
    fn round_robin_turns_through_the_eligible_members() {
        let pool = vec![candidate(1, 1), candidate(2, 1), candidate(3, 1)];
        let picks: Vec<_> = (0..6)
            .map(|n| run(RoutingMode::RoundRobin, &pool, n).ranked[0])
            .collect();
        let ids: Vec<_> = pool.iter().map(|c| c.account).collect();
        assert_eq!(picks, [ids.clone(), ids].concat());
    }

    #[test]
    fn weighted_shares_stay_within_two_points_of_the_weights() {
        let pool = vec![candidate(1, 50), candidate(2, 30), candidate(3, 20)];
        for start in [0u64, 1_000, 987_654] {
            let mut counts = [0u32; 3];
            for n in start..start + 1_000 {
                let first = run(RoutingMode::Weighted, &pool, n).ranked[0];
                let i = pool.iter().position(|c| c.account == first).unwrap();
                counts[i] += 1;
            }
            for (count, target) in counts.iter().zip([500, 300, 200]) {
                assert!(
                    (i64::from(*count) - target).abs() <= 20,
                    "from {start}: {counts:?}"
                );
            }
        }
    }

    #[test]
    fn an_amount_outside_the_limits_and_a_tried_account_are_left_out() {
        let mut pool = vec![candidate(1, 1), candidate(2, 1), candidate(3, 1)];
        pool[0].max_amount = Some(5_000);
        pool[1].tried = true;
        let decision = run(RoutingMode::Priority, &pool, 0);
        assert_eq!(decision.ranked, vec![pool[2].account]);
        assert_eq!(
            decision.considered[0].excluded,
            Some(Exclusion::AmountOutOfRange)
        );
        assert_eq!(
            decision.considered[1].excluded,
            Some(Exclusion::AlreadyTried)
        );
    }

    #[test]
    fn fees_round_half_up_to_the_paisa() {
        let fee = Fee {
            bps: 199,
            fixed: 300,
        };
        // 2.5 paise → 3; 1.99 % of ₹100 = 199 paise.
        assert_eq!(Fee { bps: 1, fixed: 0 }.on(25_000), 3);
        assert_eq!(fee.on(10_000), 199 + 300);
    }
}
