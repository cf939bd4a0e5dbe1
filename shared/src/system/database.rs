//! The database as this instance sees it: reachable, how fast, and at which migration.

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

/// Checks reachability, latency and migration version with one query.
pub async fn check(app: &App) -> DatabaseStatus {
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
    match probe {
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
    }
}
