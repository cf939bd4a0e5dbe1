//! HTTP handlers: each parses its input, runs the domain in the caller's database scope and
//! shapes the answer. Business rules live in `shared`.

pub mod admin_gateways;
pub mod admin_merchants;
pub mod admin_queues;
pub mod admin_routing;
pub mod admin_users;
pub mod affiliates;
pub mod alerts;
pub mod audit_logs;
pub mod auth;
pub mod checkout;
pub mod docs;
pub mod fees;
pub mod health;
pub mod jobs;
pub mod ledger;
pub mod merchant;
pub mod merchant_routing;
pub mod merchant_webhooks;
pub mod monitors;
pub mod notifications;
pub mod pay;
pub mod refunds;
pub mod return_signing;
pub mod sandbox_gateway;
pub mod system;
pub mod transactions;
pub mod wallets;
pub mod webhooks;
