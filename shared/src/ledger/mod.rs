//! The books: a double-entry ledger in PostgreSQL (accounts, balanced entries, append-only
//! lines), the fees it books, and the rules that turn what happened into entries.
//!
//! Every movement of value is one entry, posted in the database transaction of the state change
//! that caused it, under a business key that posts once. The database holds the invariants
//! (`migrations/V14__ledger.sql`); this module decides what to post.

pub mod accounts;
pub mod book;
pub mod fee_settings;
pub mod fees;
pub mod posting;
pub mod reports;
pub mod rules;
pub mod suspense;

pub use accounts::{AccountCode, AccountRef, Owner};
pub use posting::{EntryKind, Line, Posted, Posting, Side, post};
