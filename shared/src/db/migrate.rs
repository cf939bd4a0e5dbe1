//! The SQL migrations in `migrations/`, embedded in the binary and applied in order by refinery.
//! They run over a direct owner connection from `lightspeedpay migrate`, never from a request.

use super::DbError;
use crate::config::DatabaseTls;

mod embedded {
    refinery::embed_migrations!("../migrations");
}

/// Applies every pending migration; returns the versions applied now.
pub async fn run(owner_url: &str, tls: &DatabaseTls) -> Result<Vec<i64>, DbError> {
    let (mut client, handle) = match tls {
        DatabaseTls::Disable => {
            let (client, connection) =
                tokio_postgres::connect(owner_url, tokio_postgres::NoTls).await?;
            (client, tokio::spawn(connection))
        }
        DatabaseTls::Verify { extra_ca } => {
            let connector = super::tls::connector(extra_ca.as_ref())?;
            let (client, connection) = tokio_postgres::connect(owner_url, connector).await?;
            (client, tokio::spawn(connection))
        }
    };
    let report = embedded::migrations::runner()
        .run_async(&mut client)
        .await
        .map_err(|e| DbError::Config(format!("migration failed: {}", with_causes(&e))))?;
    drop(client);
    let _ = handle.await;
    Ok(report
        .applied_migrations()
        .iter()
        .map(|m| i64::from(m.version()))
        .collect())
}

/// An error with every cause under it, the server's own message included (refinery's summary
/// alone says only "db error").
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let more = match cause.downcast_ref::<tokio_postgres::Error>() {
            Some(pg) => pg
                .as_db_error()
                .map(|db| format!("{} ({})", db.message(), db.code().code()))
                .unwrap_or_else(|| pg.to_string()),
            None => cause.to_string(),
        };
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        // The server's message said it all; what lies under it repeats it.
        if cause.is::<tokio_postgres::Error>() {
            break;
        }
        source = cause.source();
    }
    text
}

/// The newest migration version compiled into this binary.
pub fn latest_version() -> i64 {
    embedded::migrations::runner()
        .get_migrations()
        .iter()
        .map(|m| i64::from(m.version()))
        .max()
        .unwrap_or(0)
}

/// A fingerprint of every embedded migration (name, version and checksum), so tests can keep a
/// migrated template database per schema and rebuild it when a migration changes.
pub fn fingerprint() -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for m in embedded::migrations::runner().get_migrations() {
        m.version().hash(&mut hasher);
        m.name().hash(&mut hasher);
        m.checksum().hash(&mut hasher);
    }
    hasher.finish()
}
