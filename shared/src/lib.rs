//! LightSpeedPay's shared crate: the domain, its ports and their adapters, auth, crypto and the
//! HTTP conventions every function uses. Nothing here knows about Lambda or a web framework.

pub mod affiliates;
pub mod alerts;
pub mod app;
pub mod archive;
pub mod audit;
pub mod auth;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod db;
pub mod error;
pub mod gateway_accounts;
pub mod gateway_lookup;
pub mod gateways;
pub mod html;
pub mod http;
pub mod ids;
pub mod jobs;
pub mod ledger;
pub mod maintenance;
pub mod merchant_webhooks;
pub mod merchants;
pub mod mode;
pub mod money;
pub mod monitors;
pub mod notifications;
pub mod payments;
pub mod rate_limit;
pub mod reseal;
pub mod return_signing;
pub mod routing;
pub mod sandbox_provider;
pub mod schedules;
pub mod secret;
pub mod seed;
pub mod system;
pub mod telemetry;
pub mod users;
pub mod validation;
pub mod wallets;

pub use app::App;
pub use error::AppError;
