//! Routing benchmark: the in-process routing decision (`shared::routing::engine::decide`, no
//! database) for a pool of 10 accounts in every mode, by criterion (means) and by timing 100,000
//! single decisions (p50/p99, which criterion does not report); then the routing simulator over the
//! checked-in scenarios, with its results table.
//!
//! Run with `cargo bench --bench routing`. The p99 of a smart decision must stay within 50 µs:
//! the run fails if it does not.

#![allow(clippy::unwrap_used)]

use criterion::Criterion;
use lightspeedpay::simulation::{self, Scenario};
use shared::ids::GatewayAccountId;
use shared::routing::engine::{Admission, Ask, Rng, decide};
use shared::routing::smart::SmartSettings;
use shared::routing::{Candidate, Fee, RoutingMode, Window};
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

/// Accounts in the benchmarked pool.
const POOL: usize = 10;
/// Decisions timed one by one per mode.
const SAMPLES: usize = 100_000;
/// The p99 a smart decision must stay within.
const P99_LIMIT: Duration = Duration::from_micros(50);

/// Ten accounts with a recent history like a busy pool's: a few hundred attempts each, success
/// rates from 78 % to 94 %, some technical errors (one account over the elimination threshold),
/// different fees, one half-open breaker.
fn pool() -> Vec<Candidate> {
    (0..POOL)
        .map(|i| {
            let attempts = 150 + 40 * i as u32;
            let rate = 0.78 + 0.016 * ((i * 7) % POOL) as f64;
            let successes = (f64::from(attempts) * rate) as u32;
            let technical_errors = if i == 3 {
                attempts / 2
            } else {
                (attempts - successes) / 5
            };
            let window = Window {
                attempts,
                successes,
                technical_errors,
            };
            Candidate {
                account: GatewayAccountId::from_uuid(uuid::Uuid::from_u128(i as u128 + 1)),
                priority: i as i32 + 1,
                weight: 10 + 5 * i as u32,
                fee: Fee {
                    bps: 150 + 10 * i as u32,
                    fixed: if i % 2 == 0 { 0 } else { 300 },
                },
                enabled: true,
                min_amount: None,
                max_amount: Some(5_000_000),
                admission: if i == 5 {
                    Admission::Probe
                } else {
                    Admission::Allow
                },
                cap_room: None,
                tried: false,
                band: Window {
                    attempts: attempts / 3,
                    successes: successes / 3,
                    technical_errors: technical_errors / 3,
                },
                overall: window,
            }
        })
        .collect()
}

fn ask(n: u64) -> Ask {
    Ask {
        amount: 49_900 + (n % 7) as i64 * 25_000,
        position: n,
    }
}

fn criterion_decisions(c: &mut Criterion, candidates: &[Candidate]) {
    let settings = SmartSettings::default();
    let mut group = c.benchmark_group("decide_10_accounts");
    for mode in RoutingMode::ALL {
        let mut rng = Rng::seeded(1);
        let mut n = 0u64;
        group.bench_function(mode.as_str(), |b| {
            b.iter(|| {
                n += 1;
                decide(mode, black_box(candidates), ask(n), &mut rng, &settings)
            })
        });
    }
    group.finish();
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Times each of `SAMPLES` decisions per mode; prints p50, p99 and the maximum.
fn percentiles(candidates: &[Candidate]) -> Duration {
    let settings = SmartSettings::default();
    let mut smart_p99 = Duration::ZERO;
    println!("\n| mode (10 accounts) | decisions | p50 µs | p99 µs | max µs |");
    println!("|---|---|---|---|---|");
    for mode in RoutingMode::ALL {
        let mut rng = Rng::seeded(2);
        let mut times = Vec::with_capacity(SAMPLES);
        for n in 0..SAMPLES as u64 {
            let started = Instant::now();
            let decision = decide(mode, black_box(candidates), ask(n), &mut rng, &settings);
            times.push(started.elapsed());
            black_box(decision);
        }
        times.sort();
        let at = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
        println!(
            "| {} | {} | {:.2} | {:.2} | {:.1} |",
            mode,
            SAMPLES,
            micros(at(0.50)),
            micros(at(0.99)),
            micros(at(1.0))
        );
        if mode == RoutingMode::Smart {
            smart_p99 = at(0.99);
        }
    }
    smart_p99
}

/// Runs the checked-in scenarios and prints the simulator's table.
fn simulator() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/routing");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    let started = Instant::now();
    let results: Vec<_> = files
        .iter()
        .map(|f| simulation::run(&Scenario::load(f).unwrap()))
        .collect();
    let elapsed = started.elapsed();
    let payments: u64 = results
        .iter()
        .map(|r| r.scenario.payments * r.lanes.len() as u64)
        .sum();
    println!("\n{}", simulation::report::markdown(&results));
    println!(
        "simulated {payments} routed payments in {:.2} s ({:.0} per second)",
        elapsed.as_secs_f64(),
        payments as f64 / elapsed.as_secs_f64()
    );
}

fn main() {
    let candidates = pool();
    let mut c = Criterion::default().configure_from_args();
    criterion_decisions(&mut c, &candidates);
    c.final_summary();
    let smart_p99 = percentiles(&candidates);
    simulator();
    if smart_p99 > P99_LIMIT {
        eprintln!(
            "smart decision p99 {:.2} µs is over the {} µs limit",
            micros(smart_p99),
            micros(P99_LIMIT)
        );
        std::process::exit(1);
    }
}
