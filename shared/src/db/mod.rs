//! PostgreSQL access: a small pool, scoped transactions that Row Level Security can see, and the
//! embedded migrations.
//!
//! Every query uses the unnamed-statement (typed) API so the code works behind a transaction-mode
//! pooler such as Supabase's Supavisor; session state is only ever set with `SET LOCAL`.

pub mod migrate;
pub mod record;
mod tls;

use crate::config::{DatabaseConfig, DatabaseTls};
use crate::ids::MerchantId;
use crate::mode::Mode;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Row, Statement};

/// A pooled connection; it derefs to the tokio-postgres client.
pub struct Client {
    inner: deadpool_postgres::Object,
    statement_cache: bool,
}

impl std::ops::Deref for Client {
    type Target = deadpool_postgres::Object;

    fn deref(&self) -> &deadpool_postgres::Object {
        &self.inner
    }
}

impl std::ops::DerefMut for Client {
    fn deref_mut(&mut self) -> &mut deadpool_postgres::Object {
        &mut self.inner
    }
}

/// A database failure.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// No connection could be had from the pool (a misconfigured pool, not an outage).
    #[error("database pool: {0}")]
    Pool(String),
    /// The database could not be reached in time: every pooled connection was busy, or a new
    /// one could not be opened before the pool's timeout.
    #[error("database unreachable: {0}")]
    Unavailable(String),
    /// A query or connection failed.
    #[error("{}", describe(.0))]
    Postgres(#[from] tokio_postgres::Error),
    /// The connection could not be configured.
    #[error("database configuration: {0}")]
    Config(String),
    /// A statement expected to return one row returned another number.
    #[error("expected one row, the statement returned {0}")]
    RowCount(usize),
    /// A row could not be read into our types.
    #[error(transparent)]
    Decode(#[from] record::DecodeError),
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
    /// Whether the database could not be reached (an outage, a restart, a severed connection),
    /// as opposed to a statement it refused: the request may be retried shortly as it was.
    pub fn is_unavailable(&self) -> bool {
        match self {
            DbError::Unavailable(_) => true,
            DbError::Postgres(e) => unreachable(e),
            DbError::Pool(_) | DbError::Config(_) | DbError::RowCount(_) | DbError::Decode(_) => {
                false
            }
        }
    }

    /// The name of the violated constraint, when this is a constraint violation.
    pub fn constraint(&self) -> Option<&str> {
        match self {
            DbError::Postgres(e) => e.as_db_error().and_then(|d| d.constraint()),
            _ => None,
        }
    }
}

/// Whether `error` says the server is out of reach rather than that it refused a statement:
/// the connection is closed, an I/O error or connect timeout, or a SQLSTATE of class 08
/// (connection exception), a shutdown or start-up in progress (57P01–57P03) or no connection
/// slot left (53300). Constraint violations and every other server answer are not.
fn unreachable(error: &tokio_postgres::Error) -> bool {
    if let Some(db) = error.as_db_error() {
        let code = db.code().code();
        return code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300");
    }
    if error.is_closed() {
        return true;
    }
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if cause.is::<std::io::Error>() {
            return true;
        }
        source = cause.source();
    }
    false
}

/// A pool failure as a [`DbError`]: a timeout or a connection that could not be opened is an
/// outage; anything else is the pool's own misconfiguration.
fn pool_error(error: deadpool_postgres::PoolError) -> DbError {
    use deadpool_postgres::PoolError;
    match error {
        PoolError::Backend(e) => DbError::Postgres(e),
        PoolError::Timeout(_) | PoolError::Closed => DbError::Unavailable(error.to_string()),
        other => DbError::Pool(other.to_string()),
    }
}

/// Whom a transaction acts for; Row Level Security policies read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Internal work across merchants (authentication lookups, workers, seeding).
    System,
    /// The unauthenticated surface (checkout, browser returns, gateway webhooks, the sandbox):
    /// only the tables and operations those routes need (see migration V9), never credentials,
    /// users, sessions or idempotency keys.
    Public,
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
            Scope::Public => ("public", String::new(), ""),
            Scope::Admin => ("admin", String::new(), ""),
            Scope::Merchant { id, mode } => ("merchant", id.as_uuid().to_string(), mode.as_str()),
        }
    }
}

/// The connection pool.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
    statement_cache: bool,
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
            pg.connect_timeout(config.pool_timeout);
        }
        let manager_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = match &config.tls {
            DatabaseTls::Disable => Manager::from_config(pg, tokio_postgres::NoTls, manager_config),
            DatabaseTls::Verify { extra_ca } => {
                Manager::from_config(pg, tls::connector(extra_ca.as_ref())?, manager_config)
            }
        };
        let pool = Pool::builder(manager)
            .max_size(config.pool_size)
            .wait_timeout(Some(config.pool_timeout))
            .create_timeout(Some(config.pool_timeout))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| DbError::Config(e.to_string()))?;
        Ok(Db {
            pool,
            statement_cache: config.statement_cache,
        })
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
        let inner = self.pool.get().await.map_err(pool_error)?;
        Ok(Client {
            inner,
            statement_cache: self.statement_cache,
        })
    }
}

/// Starts a transaction on `client` acting for `scope`.
pub async fn begin(client: &mut Client, scope: Scope) -> Result<Transaction<'_>, DbError> {
    Transaction::start(client, scope, SynchronousCommit::On).await
}

/// Starts a transaction whose commit does not wait for the WAL flush. Only for writes that are
/// safe to lose in a database crash because they are recounted or redone: rate-limit counters,
/// queue bookkeeping, outbox leases and publication marks (an unmarked row is republished and
/// consumers are idempotent). Money and state changes always use [`begin`].
pub async fn begin_relaxed(client: &mut Client, scope: Scope) -> Result<Transaction<'_>, DbError> {
    Transaction::start(client, scope, SynchronousCommit::Off).await
}

#[derive(Clone, Copy)]
enum SynchronousCommit {
    On,
    Off,
}

/// An open transaction on a pooled connection. It derefs to the connection for queries; it is
/// rolled back when dropped without [`Transaction::commit`].
///
/// tokio-postgres's own transaction always sends `BEGIN` on its own and waits for it; this one
/// sends `BEGIN` and the scope settings in one simple-query message, so starting a transaction
/// costs one round trip instead of two (on the payment path every round trip counts).
pub struct Transaction<'a> {
    client: &'a mut Client,
    open: bool,
}

impl<'a> Transaction<'a> {
    async fn start(
        client: &'a mut Client,
        scope: Scope,
        synchronous_commit: SynchronousCommit,
    ) -> Result<Transaction<'a>, DbError> {
        let (name, merchant, mode) = scope.settings();
        let synchronous_commit = match synchronous_commit {
            SynchronousCommit::On => "on",
            SynchronousCommit::Off => "off",
        };
        // Every value spliced in comes from a closed set or is a formatted UUID (hex digits and
        // dashes): nothing here can carry a quote.
        let sql = format!(
            "BEGIN; SELECT set_config('app.scope', '{name}', true), \
             set_config('app.merchant_id', '{merchant}', true), set_config('app.mode', '{mode}', true), \
             set_config('synchronous_commit', '{synchronous_commit}', true)"
        );
        if let Err(e) = client.batch_execute(&sql).await {
            // BEGIN may have run before the failure: never hand the pool a connection that is
            // still inside a (failed) transaction.
            let _ = client.batch_execute("ROLLBACK").await;
            return Err(e.into());
        }
        Ok(Transaction { client, open: true })
    }

    /// Commits the transaction.
    pub async fn commit(mut self) -> Result<(), DbError> {
        self.open = false;
        self.client.batch_execute("COMMIT").await?;
        Ok(())
    }

    /// The statement for `sql`, prepared once per connection when the statement cache is on.
    async fn prepared(
        &self,
        sql: &str,
        params: &[(&(dyn ToSql + Sync), Type)],
    ) -> Result<Option<Statement>, tokio_postgres::Error> {
        if !self.client.statement_cache {
            return Ok(None);
        }
        let types: Vec<Type> = params.iter().map(|(_, t)| t.clone()).collect();
        Ok(Some(
            self.client.inner.prepare_typed_cached(sql, &types).await?,
        ))
    }

    /// Runs a statement whose parameters carry their types; every row. Without the statement
    /// cache this is one unnamed statement (what a transaction-mode pooler needs).
    pub async fn query_typed(
        &self,
        sql: &str,
        params: &[(&(dyn ToSql + Sync), Type)],
    ) -> Result<Vec<Row>, tokio_postgres::Error> {
        match self.prepared(sql, params).await? {
            Some(statement) => self.client.query(&statement, &values(params)).await,
            None => self.client.inner.query_typed(sql, params).await,
        }
    }

    /// As [`Transaction::query_typed`], for exactly one row.
    pub async fn query_typed_one(
        &self,
        sql: &str,
        params: &[(&(dyn ToSql + Sync), Type)],
    ) -> Result<Row, tokio_postgres::Error> {
        match self.prepared(sql, params).await? {
            Some(statement) => self.client.query_one(&statement, &values(params)).await,
            None => self.client.inner.query_typed_one(sql, params).await,
        }
    }

    /// As [`Transaction::query_typed`], for at most one row.
    pub async fn query_typed_opt(
        &self,
        sql: &str,
        params: &[(&(dyn ToSql + Sync), Type)],
    ) -> Result<Option<Row>, tokio_postgres::Error> {
        match self.prepared(sql, params).await? {
            Some(statement) => self.client.query_opt(&statement, &values(params)).await,
            None => self.client.inner.query_typed_opt(sql, params).await,
        }
    }

    /// As [`Transaction::query_typed`], for the number of rows changed.
    pub async fn execute_typed(
        &self,
        sql: &str,
        params: &[(&(dyn ToSql + Sync), Type)],
    ) -> Result<u64, tokio_postgres::Error> {
        match self.prepared(sql, params).await? {
            Some(statement) => self.client.execute(&statement, &values(params)).await,
            None => self.client.inner.execute_typed(sql, params).await,
        }
    }

    /// Runs `sql`, the transaction's final statement, and commits right behind it: both travel
    /// together, one round trip instead of two. Should the statement fail, PostgreSQL turns the
    /// COMMIT into a rollback and the statement's error is returned.
    ///
    /// The statement is prepared (when cached) or typed so that it goes out as one message: one
    /// still being prepared would reach the server after the COMMIT.
    pub async fn commit_after_query_one(
        mut self,
        sql: &str,
        params: &[(&(dyn ToSql + Sync), Type)],
    ) -> Result<Row, DbError> {
        let statement = self.prepared(sql, params).await?;
        let query = async {
            match &statement {
                Some(statement) => self.client.query(statement, &values(params)).await,
                None => self.client.inner.query_typed(sql, params).await,
            }
        };
        let (outcome, committed) = futures::join!(query, self.client.batch_execute("COMMIT"));
        self.open = false;
        let mut rows = outcome?;
        committed?;
        match rows.len() {
            1 => Ok(rows.remove(0)),
            n => Err(DbError::RowCount(n)),
        }
    }

    /// Rolls the transaction back now (dropping it does the same without waiting).
    pub async fn rollback(mut self) -> Result<(), DbError> {
        self.open = false;
        self.client.batch_execute("ROLLBACK").await?;
        Ok(())
    }
}

fn values<'p>(params: &[(&'p (dyn ToSql + Sync), Type)]) -> Vec<&'p (dyn ToSql + Sync)> {
    params.iter().map(|(value, _)| *value).collect()
}

impl std::ops::Deref for Transaction<'_> {
    type Target = tokio_postgres::Client;

    fn deref(&self) -> &tokio_postgres::Client {
        self.client
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if self.open {
            // tokio-postgres queues a request on the connection when its future is first polled,
            // and the connection answers requests in order: one poll puts the ROLLBACK ahead of
            // whatever the next user of this pooled connection sends, without waiting for it.
            use futures::FutureExt;
            let _ = self.client.batch_execute("ROLLBACK").now_or_never();
        }
    }
}
