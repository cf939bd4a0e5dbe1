//! HTTP handlers: each parses its input, runs the domain in the caller's database scope and
//! shapes the answer. Business rules live in `shared`.

pub mod admin_merchants;
pub mod auth;
pub mod health;
pub mod merchant;
pub mod system;
