//! Routing: which gateway account takes a payment, and which takes it next when that one fails.
//!
//! The pipeline is eligibility first (environment, status, circuit breaker, volume caps, amount
//! limits), then the pool's mode (priority, round robin, weighted, smart), then the failover
//! order. [`engine`] decides in memory, with no I/O, so the same code serves payments, the
//! simulator and the benchmark; [`postgres`] feeds it from the database and reserves caps.

pub mod breaker;
pub mod caps;
pub mod engine;
pub mod failover;
pub mod health;
pub mod pools;
pub mod postgres;
pub mod smart;

pub use engine::{Candidate, Decision, Fee, RoutingMode, Window};
pub use postgres::{PgRouter, Reservation, Route, RouteRequest, Router};
