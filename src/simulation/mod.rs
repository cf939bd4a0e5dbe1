//! The routing simulator: synthetic gateway accounts run through the real routing engine for many
//! payments, per mode and against an oracle, with delayed health feedback as in production.
//! `lightspeedpay simulate-routing` prints its table and draws its chart; the routing benchmark and
//! a test run the checked-in scenarios in `scenarios/routing/`.

pub mod report;
pub mod run;
pub mod scenario;
pub mod svg;

pub use run::{Lane, LaneResult, ScenarioResult, run};
pub use scenario::{Scenario, ScenarioError};
