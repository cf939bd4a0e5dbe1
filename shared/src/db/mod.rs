//! PostgreSQL access: a small pool, scoped transactions that Row Level Security can see, and the
//! embedded migrations.
//!
//! Every query uses the unnamed-statement (typed) API so the code works behind a transaction-mode
//! pooler such as Supabase's Supavisor; session state is only ever set with `SET LOCAL`.

pub mod migrate;
mod tls;

use crate::config::{DatabaseConfig, DatabaseTls};
use crate::ids::MerchantId;
use crate::mode::Mode;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use std::time::Duration;
use tokio_postgres::types::Type;

pub use deadpool_postgres::Object as Client;
pub use tokio_postgres::Transaction;

/// A database failure.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// No connection could be had from the pool.
    #[error("database pool: {0}")]
    Pool(String),
    /// A query or connection failed.
    #[error("{}", describe(.0))]
    Postgres(#[from] tokio_postgres::Error),
    /// The connection could not be configured.
    #[error("database configuration: {0}")]
    Config(String),
}

/// tokio-postgres says only "db error"; the server's message and SQLSTATE are what operators need.
fn describe(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!(
            "{} (SQLSTATE {}){}",
            db.message(),
            db.code().code(),
            db.detail().map(|d| format!(": {d}")).unwrap_or_default()
        ),
        None => error.to_string(),
    }
}

impl DbError {
    /// The name of the violated constraint, when this is a constraint violation.
    pub fn constraint(&self) -> Option<&str> {
        match self {
            DbError::Postgres(e) => e.as_db_error().and_then(|d| d.constraint()),
            _ => None,
        }
    }
}

/// Whom a transaction acts for; Row Level Security policies read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Internal work across merchants (authentication lookups, workers, seeding).
    System,
    /// An operator (role `admin`).
    Admin,
    /// One merchant in one mode.
    Merchant {
        /// The merchant.
        id: MerchantId,
        /// Test or live.
        mode: Mode,
    },
}

impl Scope {
    fn settings(&self) -> (&'static str, String, &'static str) {
        match self {
            Scope::System => ("system", String::new(), ""),
            Scope::Admin => ("admin", String::new(), ""),
            Scope::Merchant { id, mode } => ("merchant", id.as_uuid().to_string(), mode.as_str()),
        }
    }
}

/// The connection pool.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
}

impl Db {
    /// Builds the pool (connections open lazily; call [`Db::warm`] to open one now).
    pub fn connect(config: &DatabaseConfig) -> Result<Db, DbError> {
        let mut pg: tokio_postgres::Config =
            config.url.expose().parse().map_err(|_| {
                DbError::Config("DATABASE_URL is not a valid connection string".into())
            })?;
        pg.application_name("lightspeedpay");
        if pg.get_connect_timeout().is_none() {
            pg.connect_timeout(Duration::from_secs(5));
        }
        let manager_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = match &config.tls {
            DatabaseTls::Disable => Manager::from_config(pg, tokio_postgres::NoTls, manager_config),
            DatabaseTls::Verify { ca_cert_path } => {
                Manager::from_config(pg, tls::connector(ca_cert_path.as_deref())?, manager_config)
            }
        };
        let pool = Pool::builder(manager)
            .max_size(config.pool_size)
            .wait_timeout(Some(Duration::from_secs(10)))
            .create_timeout(Some(Duration::from_secs(10)))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| DbError::Config(e.to_string()))?;
        Ok(Db { pool })
    }

    /// Opens one connection now, so a Lambda pays for the handshake during init, not on the
    /// first request.
    pub async fn warm(&self) -> Result<(), DbError> {
        let client = self.client().await?;
        client.simple_query("SELECT 1").await?;
        Ok(())
    }

    /// A pooled connection.
    pub async fn client(&self) -> Result<Client, DbError> {
        self.pool
            .get()
            .await
            .map_err(|e| DbError::Pool(e.to_string()))
    }
}

/// Starts a transaction on `client` acting for `scope`.
pub async fn begin(client: &mut Client, scope: Scope) -> Result<Transaction<'_>, DbError> {
    start(client, scope, "on").await
}

/// Starts a transaction whose commit does not wait for the WAL flush. Only for writes that are
/// safe to lose in a database crash because they are recounted or redone: rate-limit counters,
/// queue bookkeeping, outbox leases and publication marks (an unmarked row is republished and
/// consumers are idempotent). Money and state changes always use [`begin`].
pub async fn begin_relaxed(client: &mut Client, scope: Scope) -> Result<Transaction<'_>, DbError> {
    start(client, scope, "off").await
}

async fn start<'a>(
    client: &'a mut Client,
    scope: Scope,
    synchronous_commit: &'static str,
) -> Result<Transaction<'a>, DbError> {
    // The plain tokio-postgres transaction: deadpool's wrapper would add its statement cache.
    let tx = tokio_postgres::Client::transaction(client).await?;
    let (name, merchant, mode) = scope.settings();
    tx.query_typed(
        "SELECT set_config('app.scope', $1, true), set_config('app.merchant_id', $2, true),
                set_config('app.mode', $3, true), set_config('synchronous_commit', $4, true)",
        &[
            (&name, Type::TEXT),
            (&merchant, Type::TEXT),
            (&mode, Type::TEXT),
            (&synchronous_commit, Type::TEXT),
        ],
    )
    .await?;
    Ok(tx)
}
