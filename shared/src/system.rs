//! Platform self-checks for `GET /api/v1/system/status`.

use crate::app::App;
use crate::db::migrate;
use crate::db::record::Record;
use serde::Serialize;
use std::time::Instant;

/// The database as seen from this instance.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DatabaseStatus {
    /// Whether a query succeeded.
    pub reachable: bool,
    /// Round trip of that query.
    pub latency_ms: f64,
    /// The newest migration applied to the database.
    pub migration_version: Option<i64>,
    /// The newest migration this build knows.
    pub expected_migration_version: i64,
    /// Why it is not healthy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The platform's state.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SystemStatus {
    /// `ok` or `degraded`.
    pub status: &'static str,
    /// The database.
    pub database: DatabaseStatus,
    /// This build's version.
    pub version: &'static str,
}

/// Checks the database: reachability, latency and migration version.
pub async fn status(app: &App) -> SystemStatus {
    let started = Instant::now();
    let probe = async {
        let client = app.db.client().await?;
        let row = client
            .query_typed_one(
                "SELECT max(version)::int8 AS version FROM refinery_schema_history",
                &[],
            )
            .await?;
        let version = Record::new(&row, "refinery_schema_history").get("version")?;
        Ok::<Option<i64>, crate::AppError>(version)
    }
    .await;
    let latency_ms = (started.elapsed().as_secs_f64() * 1000.0 * 100.0).round() / 100.0;
    let expected = migrate::latest_version();
    let database = match probe {
        Ok(version) => DatabaseStatus {
            reachable: true,
            latency_ms,
            migration_version: version,
            expected_migration_version: expected,
            error: (version != Some(expected))
                .then(|| "database schema is not at this build's migration version".into()),
        },
        Err(e) => {
            tracing::error!(error = %e, "system status: database check failed");
            DatabaseStatus {
                reachable: false,
                latency_ms,
                migration_version: None,
                expected_migration_version: expected,
                error: Some("database unreachable".into()),
            }
        }
    };
    let status = if database.error.is_none() {
        "ok"
    } else {
        "degraded"
    };
    SystemStatus {
        status,
        database,
        version: env!("CARGO_PKG_VERSION"),
    }
}
