//! The `lightspeedpay` command: the local platform runner and the operations CLI. It serves every
//! function of the registry on one port, with the same handlers that run in Lambda.

mod config_doc;
pub mod dev;
pub mod errors_doc;
pub mod listen;
pub mod local_db;
pub mod runner;
pub mod simulation;
