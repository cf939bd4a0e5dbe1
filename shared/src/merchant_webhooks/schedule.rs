//! When a failed delivery is tried again: the Standard Webhooks example schedule (immediately,
//! 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, 24 h, 24 h: 75.6 hours in all), each wait
//! lengthened by up to 10 % so that endpoints that failed together are not retried in lockstep
//! (only lengthened: the schedule never gives up before three days).

use crate::routing::engine::Rng;
use chrono::Duration;

/// The wait before each attempt after the first (attempt 2 waits `WAITS[0]`, …).
const WAITS: [i64; 9] = [
    5,
    5 * 60,
    30 * 60,
    2 * 3600,
    5 * 3600,
    10 * 3600,
    10 * 3600,
    24 * 3600,
    24 * 3600,
];

/// Attempts a delivery gets in all.
pub const ATTEMPTS: u32 = WAITS.len() as u32 + 1;

/// How long to wait after attempt `made` (1-based) failed, or `None` when it was the last.
pub fn wait_after(made: u32, rng: &mut Rng) -> Option<Duration> {
    let index = usize::try_from(made.checked_sub(1)?).ok()?;
    let base = *WAITS.get(index)?;
    // Up to +10 %, in milliseconds so short waits are spread too.
    let spread = rng.next_f64() * 0.1 * base as f64 * 1_000.0;
    Some(Duration::milliseconds(base * 1_000 + spread as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_attempts_spread_over_more_than_three_days_with_jitter() {
        assert_eq!(ATTEMPTS, 10);
        for seed in 0..50 {
            let mut rng = Rng::seeded(seed);
            let waits: Vec<Duration> = (1..ATTEMPTS)
                .map(|n| wait_after(n, &mut rng).unwrap())
                .collect();
            assert_eq!(wait_after(ATTEMPTS, &mut rng), None);
            assert_eq!(wait_after(0, &mut rng), None);
            let total: Duration = waits.iter().copied().sum();
            assert!(total > Duration::days(3), "{total}");
            for (wait, base) in waits.iter().zip(WAITS) {
                let ms = wait.num_milliseconds() as f64;
                let base = base as f64 * 1_000.0;
                assert!(ms >= base && ms <= base * 1.1 + 1.0, "{ms} vs {base}");
            }
        }
        // Two endpoints failing at once are not retried at the same instant.
        let mut other = Rng::seeded(10);
        assert_ne!(
            wait_after(3, &mut Rng::seeded(9)),
            wait_after(3, &mut other)
        );
    }
}
