//! Smart routing: Thompson sampling over each account's recent success rate (a Beta posterior per
//! account and amount band), after eliminating accounts whose technical-error rate is over a
//! threshold, optionally weighing each by what the payment nets after the account's fee. A band's
//! own window is pooled with the account's other outcomes (partial pooling), so a band with little
//! history is judged mostly by the account's overall rate.

use super::engine::{Candidate, Rng, Window};
use serde::{Deserialize, Serialize};

/// The knobs of smart routing.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SmartSettings {
    /// Technical-error rate over which an account is eliminated (while another remains).
    pub elimination_threshold: f64,
    /// Attempts an account needs in the window before elimination judges it.
    pub elimination_min_attempts: u32,
    /// How many attempts' worth of weight the account's other amount bands carry in a band's
    /// estimate: a band with fewer attempts of its own leans on the account's overall rate, one
    /// with many more is judged mostly on its own (see [`rank`]).
    pub band_min_attempts: u32,
    /// Score by expected net value (success probability × (amount − fee)), not success alone.
    pub cost_aware: bool,
}

impl Default for SmartSettings {
    fn default() -> Self {
        SmartSettings {
            elimination_threshold: 0.3,
            elimination_min_attempts: 10,
            // Measured with `lightspeedpay simulate-routing`: at 20 (then a hard switch from the
            // overall rate to the band's own), each band's thin window made smart routing explore
            // worse accounts far more often; 200 attempts pin a rate to about ±2 points.
            band_min_attempts: 200,
            cost_aware: true,
        }
    }
}

/// Amount bands (1–4) that success rates are kept per; band 0 means every amount.
pub fn amount_band(amount: i64) -> i16 {
    match amount {
        ..=50_000 => 1,
        50_001..=200_000 => 2,
        200_001..=1_000_000 => 3,
        _ => 4,
    }
}

/// What smart ranking found.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranking {
    /// The chosen candidate (an index into the candidates).
    pub first: Option<usize>,
    /// Each ranked candidate's score.
    pub scores: Vec<(usize, f64)>,
    /// Candidates eliminated for technical errors.
    pub eliminated: Vec<usize>,
    /// Why the first won.
    pub reason: String,
}

/// Ranks `order` (eligible candidates, by priority) for a payment of `amount` paise. Each
/// account's success rate is sampled from its band's outcomes pooled with up to
/// `band_min_attempts` of its other outcomes, so thin band windows do not add noise.
pub fn rank(
    candidates: &[Candidate],
    order: &[usize],
    amount: i64,
    rng: &mut Rng,
    settings: &SmartSettings,
) -> Ranking {
    let failing = |i: &usize| {
        let w = candidates[*i].overall;
        w.attempts >= settings.elimination_min_attempts
            && f64::from(w.technical_errors)
                > settings.elimination_threshold * f64::from(w.attempts)
    };
    let eliminated: Vec<usize> = order.iter().copied().filter(failing).collect();
    // Elimination never empties the pool: if every account is failing, all stay in play.
    let pool: Vec<usize> = if eliminated.len() == order.len() {
        order.to_vec()
    } else {
        order.iter().copied().filter(|i| !failing(i)).collect()
    };
    let eliminated = if eliminated.len() == order.len() {
        Vec::new()
    } else {
        eliminated
    };
    let mut scores: Vec<(usize, f64)> = pool
        .iter()
        .map(|&i| {
            let c = &candidates[i];
            let p = sample_success(pooled(c.band, c.overall, settings.band_min_attempts), rng);
            let score = if settings.cost_aware {
                p * (amount - c.fee.on(amount)).max(0) as f64
            } else {
                p
            };
            (i, score)
        })
        .collect();
    scores.sort_by(|a, b| b.1.total_cmp(&a.1));
    let first = scores.first().map(|s| s.0);
    let reason = match first {
        Some(i) => format!(
            "highest sampled {} ({} recent attempts)",
            if settings.cost_aware {
                "expected net value"
            } else {
                "success rate"
            },
            candidates[i].overall.attempts
        ),
        None => "no member can take this payment".to_string(),
    };
    Ranking {
        first,
        scores,
        eliminated,
        reason,
    }
}

/// A band's evidence with the account's other amounts as a prior worth at most `prior_attempts`
/// attempts (partial pooling): a band with little history borrows the account's overall rate
/// without taking on the band's own noise, and a band with a lot of its own outweighs the rest.
/// Returns (successes, attempts), fractional.
fn pooled(band: Window, overall: Window, prior_attempts: u32) -> (f64, f64) {
    let others_attempts = overall.attempts.saturating_sub(band.attempts);
    let others_successes = overall
        .successes
        .saturating_sub(band.successes)
        .min(others_attempts);
    let weight = if others_attempts == 0 {
        0.0
    } else {
        f64::from(others_attempts.min(prior_attempts)) / f64::from(others_attempts)
    };
    (
        f64::from(band.successes.min(band.attempts)) + weight * f64::from(others_successes),
        f64::from(band.attempts) + weight * f64::from(others_attempts),
    )
}

/// A draw from the Beta(successes + 1, other outcomes + 1) posterior of the success rate.
fn sample_success((successes, attempts): (f64, f64), rng: &mut Rng) -> f64 {
    let failures = (attempts - successes).max(0.0);
    let a = sample_gamma(successes + 1.0, rng);
    let b = sample_gamma(failures + 1.0, rng);
    if a + b > 0.0 { a / (a + b) } else { 0.5 }
}

/// Marsaglia and Tsang's method for Gamma(shape ≥ 1, 1).
fn sample_gamma(shape: f64, rng: &mut Rng) -> f64 {
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let x = sample_normal(rng);
        let v = (1.0 + c * x).powi(3);
        if v <= 0.0 {
            continue;
        }
        let u = rng.next_f64();
        if u < 1.0 - 0.0331 * x.powi(4) || u.ln() < 0.5 * x * x + d * (1.0 - v + v.ln()) {
            return d * v;
        }
    }
}

/// A standard normal draw (Box–Muller).
fn sample_normal(rng: &mut Rng) -> f64 {
    let u1 = rng.next_f64().max(f64::MIN_POSITIVE);
    let u2 = rng.next_f64();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::GatewayAccountId;

    fn candidate(priority: i32, weight: u32) -> Candidate {
        Candidate::new(GatewayAccountId::generate(), priority, weight)
    }

    #[test]
    fn the_better_account_wins_most_payments_and_the_other_is_still_explored() {
        let mut pool = vec![candidate(1, 1), candidate(2, 1)];
        pool[0].overall = Window {
            attempts: 200,
            successes: 120,
            technical_errors: 0,
        };
        pool[1].overall = Window {
            attempts: 200,
            successes: 180,
            technical_errors: 0,
        };
        let mut rng = Rng::seeded(1);
        let wins = (0..1_000)
            .filter(|_| {
                rank(&pool, &[0, 1], 10_000, &mut rng, &SmartSettings::default()).first == Some(1)
            })
            .count();
        assert!(wins > 950, "{wins}");
        let mut young = pool.clone();
        young[0].overall = Window {
            attempts: 2,
            successes: 1,
            technical_errors: 0,
        };
        let explored = (0..1_000)
            .filter(|_| {
                rank(&young, &[0, 1], 10_000, &mut rng, &SmartSettings::default()).first == Some(0)
            })
            .count();
        assert!(
            explored > 10,
            "an account with little history is tried: {explored}"
        );
    }

    #[test]
    fn a_thin_band_leans_on_the_overall_rate_and_a_thick_one_on_its_own() {
        let w = |attempts, successes| Window {
            attempts,
            successes,
            technical_errors: 0,
        };
        // 10 band attempts, all failed, against 990 others at 90 %: 200 of the others count.
        let (successes, attempts) = pooled(w(10, 0), w(1_000, 891), 200);
        assert!((attempts - 210.0).abs() < 1e-9);
        assert!((successes / attempts - 180.0 / 210.0).abs() < 1e-9);
        // 2,000 band attempts at 50 % outweigh the 200 others' worth at 90 %.
        let (successes, attempts) = pooled(w(2_000, 1_000), w(3_000, 1_900), 200);
        assert!((successes / attempts - 1_180.0 / 2_200.0).abs() < 1e-9);
        // No other outcomes: the band alone.
        assert_eq!(pooled(w(5, 4), w(5, 4), 200), (4.0, 5.0));
    }

    #[test]
    fn an_account_with_many_technical_errors_is_eliminated_unless_all_are() {
        let mut pool = vec![candidate(1, 1), candidate(2, 1)];
        pool[0].overall = Window {
            attempts: 50,
            successes: 10,
            technical_errors: 30,
        };
        pool[1].overall = Window {
            attempts: 50,
            successes: 20,
            technical_errors: 0,
        };
        let mut rng = Rng::seeded(2);
        let ranking = rank(&pool, &[0, 1], 10_000, &mut rng, &SmartSettings::default());
        assert_eq!(ranking.eliminated, vec![0]);
        assert_eq!(ranking.first, Some(1));
        pool[1].overall.technical_errors = 40;
        let ranking = rank(&pool, &[0, 1], 10_000, &mut rng, &SmartSettings::default());
        assert!(ranking.eliminated.is_empty());
        assert!(ranking.first.is_some());
    }
}
