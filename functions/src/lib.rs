//! Every LightSpeedPay function. Each Lambda is a thin binary in `src/bin/` that runs its own
//! entry of the [`registry`]; the handlers live here, so Lambda, the local runner and tests run
//! the same code.

pub mod api;
pub mod context;
pub mod handlers;
pub mod idempotent;
pub mod lambda;
pub mod openapi;
pub mod registry;
pub mod server;
pub mod worker;
