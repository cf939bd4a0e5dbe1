//! Payments: creating them, routing them to a gateway, the customer's checkout, gateway events,
//! and the monitor that asks gateways about payments that went quiet.

pub mod checkout;
pub mod idempotency;
pub mod inbound;
pub mod monitor;
pub mod refunds;
pub mod status;
pub mod transactions;
pub mod webhook_accounts;
