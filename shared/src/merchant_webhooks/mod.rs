//! Webhooks to merchants: what the platform sends their endpoints about their payments and
//! refunds, signed to the Standard Webhooks specification.

pub mod delivery;
pub mod egress;
pub mod endpoints;
pub mod events;
pub mod schedule;
pub mod signature;
