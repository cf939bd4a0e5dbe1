//! The routing simulator over the checked-in scenarios (`scenarios/routing/`), with their own
//! payments and seeds: smart routing reaches 95 % of the oracle's success rate in each, and beats
//! priority and round robin where accounts drift or go down; one seed gives one result. Then the
//! `simulate-routing` command, with good and bad input.

use lightspeedpay::simulation::{self, Lane, Scenario, ScenarioResult};
use shared::routing::RoutingMode;
use std::path::{Path, PathBuf};
use std::process::Command;

fn file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("scenarios/routing/{name}.toml"))
}

fn run(name: &str) -> ScenarioResult {
    simulation::run(&Scenario::load(&file(name)).unwrap())
}

fn rate(result: &ScenarioResult, mode: RoutingMode) -> f64 {
    result.lane(Lane::Mode(mode)).unwrap().success_rate()
}

#[test]
fn smart_routing_reaches_95_percent_of_the_oracle_and_beats_priority_and_round_robin() {
    for name in ["steady", "drift", "outage"] {
        let result = run(name);
        let share = result.oracle_share(Lane::Mode(RoutingMode::Smart));
        assert!(share >= 0.95, "{name}: smart at {share:.4} of the oracle");
        let oracle = result.lane(Lane::Oracle).unwrap();
        for lane in &result.lanes {
            assert_eq!(lane.payments, result.scenario.payments);
            // Same payments, same dice: the oracle succeeds wherever any mode does.
            assert!(lane.successes <= oracle.successes, "{name}: {lane:?}");
        }
        if name == "steady" {
            continue;
        }
        let smart = rate(&result, RoutingMode::Smart);
        for other in [RoutingMode::Priority, RoutingMode::RoundRobin] {
            assert!(
                smart > rate(&result, other),
                "{name}: smart {smart:.4} against {other} {:.4}",
                rate(&result, other)
            );
        }
    }
}

#[test]
fn in_the_steady_scenario_priority_is_the_oracle_and_the_shares_follow_the_weights() {
    let result = run("steady");
    let priority = result.lane(Lane::Mode(RoutingMode::Priority)).unwrap();
    let oracle = result.lane(Lane::Oracle).unwrap();
    assert_eq!(priority.successes, oracle.successes);
    assert_eq!(priority.picks[0], result.scenario.payments);
    let weighted = result.lane(Lane::Mode(RoutingMode::Weighted)).unwrap();
    for (gateway, &picks) in result.scenario.gateways.iter().zip(&weighted.picks) {
        let share = picks as f64 / weighted.payments as f64;
        assert!(
            (share - f64::from(gateway.weight) / 100.0).abs() < 0.01,
            "{}: {share}",
            gateway.name
        );
    }
}

#[test]
fn one_seed_gives_one_result_and_another_seed_another() {
    let scenario = Scenario::load(&file("outage")).unwrap();
    let first = simulation::run(&scenario);
    assert_eq!(first, simulation::run(&scenario));
    let mut other = scenario.clone();
    other.seed += 1;
    assert_ne!(first.lanes, simulation::run(&other).lanes);
}

fn lightspeedpay(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_lightspeedpay"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run lightspeedpay")
}

#[test]
fn the_command_prints_the_table_and_writes_the_chart() {
    let svg = std::env::temp_dir().join(format!("lsp-routing-{}.svg", std::process::id()));
    let out = lightspeedpay(&[
        "simulate-routing",
        "--scenario",
        "scenarios/routing/drift.toml",
        "--payments",
        "3000",
        "--seed",
        "7",
        "--svg",
        svg.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8(out.stdout).unwrap();
    for mode in ["oracle", "priority", "round_robin", "weighted", "smart"] {
        assert!(table.contains(&format!("| drift | {mode} |")), "{table}");
    }
    assert!(table.contains("drift: 3000 payments over 240 simulated minutes, seed 7."));
    let chart = std::fs::read_to_string(&svg).unwrap();
    assert!(chart.starts_with("<svg") && chart.contains("<polyline"));
    assert_eq!(chart.matches("<polyline").count(), 5);
    std::fs::remove_file(&svg).unwrap();
}

#[test]
fn bad_input_is_refused_with_a_clear_error() {
    let bad = std::env::temp_dir().join(format!("lsp-routing-bad-{}.toml", std::process::id()));
    let text = std::fs::read_to_string(file("steady"))
        .unwrap()
        .replace("success = 0.90", "success = 1.5");
    std::fs::write(&bad, text).unwrap();
    let cases: [(Vec<&str>, &str); 5] = [
        (vec!["--fast"], "unexpected argument '--fast'"),
        (
            vec!["--scenario", "scenarios/routing/none.toml"],
            "cannot read scenario",
        ),
        (
            vec!["--scenario", bad.to_str().unwrap()],
            "success must be between 0 and 1, not 1.5",
        ),
        (
            vec!["--payments", "0"],
            "invalid value '0' for '--payments <PAYMENTS>': must be a whole number above 0",
        ),
        (vec!["--seed"], "a value is required for '--seed <SEED>'"),
    ];
    for (args, expected) in cases {
        let out = lightspeedpay(&[&["simulate-routing"], args.as_slice()].concat());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?} printed a table");
    }
    std::fs::remove_file(&bad).unwrap();
}
