//! Integration tests of the whole platform against a real PostgreSQL: each test gets its own
//! database cloned from a migrated template, and talks to the platform over HTTP.

#![allow(clippy::unwrap_used)]

mod affiliates;
mod alerts;
mod archive;
mod audit;
mod audit_logs;
mod auth;
mod auth_hardening;
mod aws;
mod browser;
mod cli;
mod db;
mod delivery;
mod dev_runner;
mod docs;
mod gateway_admin;
mod gateways;
mod hints;
mod inbound;
mod ledger;
mod ledger_reports;
mod ledger_suspense;
mod merchant_webhooks;
mod monitors;
mod notifications;
mod operations;
mod outage;
mod payments;
mod providers;
mod public_surface;
mod queues;
mod rate_limit;
mod readme_examples;
mod refunds;
mod reseal;
mod retention;
mod routing;
mod routing_pools;
mod routing_simulation;
mod rows;
mod sam;
mod schedules;
mod secrets;
mod source_rules;
mod support;
mod system_status;
mod tenancy;
mod validation;
mod wallets;
