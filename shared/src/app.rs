//! The state every handler shares: configuration, the pool, keys and the clock. Built once per
//! process (per Lambda instance), before the first request.

use crate::auth::jwt::JwtKeys;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::db::{Db, DbError};
use std::sync::Arc;

/// Why the state could not be built.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The pool could not be configured.
    #[error(transparent)]
    Database(#[from] DbError),
    /// The signing key was refused.
    #[error("JWT_SECRET: {0}")]
    Jwt(String),
}

/// Shared application state.
pub struct App {
    /// The configuration it was built from.
    pub config: Config,
    /// The connection pool.
    pub db: Db,
    /// Access-token keys.
    pub jwt: JwtKeys,
    /// The time source.
    pub clock: Arc<dyn Clock>,
}

impl App {
    /// Builds the state (the pool connects lazily; see [`Db::warm`]).
    pub fn new(config: Config) -> Result<App, StartupError> {
        let db = Db::connect(&config.database)?;
        let jwt = JwtKeys::new(&config.auth).map_err(|e| StartupError::Jwt(e.to_string()))?;
        Ok(App {
            config,
            db,
            jwt,
            clock: Arc::new(SystemClock),
        })
    }
}
