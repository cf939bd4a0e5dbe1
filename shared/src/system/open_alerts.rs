//! How many alerts are open, by severity.

use crate::db::Transaction;
use crate::db::record::Record;
use crate::error::AppError;
use serde::Serialize;

/// Alerts not yet resolved (open or acknowledged), by severity.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct OpenAlerts {
    /// Critical ones: need attention now.
    pub critical: i64,
    /// Warnings.
    pub warning: i64,
    /// For the record.
    pub info: i64,
}

/// Counts the unresolved alerts (the open-key index holds exactly these).
pub async fn count(tx: &Transaction<'_>) -> Result<OpenAlerts, AppError> {
    let row = tx
        .query_typed_one(
            "SELECT count(*) FILTER (WHERE severity = 'critical') AS critical,
                    count(*) FILTER (WHERE severity = 'warning') AS warning,
                    count(*) FILTER (WHERE severity = 'info') AS info
               FROM alerts WHERE status IN ('open', 'acknowledged')",
            &[],
        )
        .await?;
    let row = Record::new(&row, "alerts");
    Ok(OpenAlerts {
        critical: row.get("critical")?,
        warning: row.get("warning")?,
        info: row.get("info")?,
    })
}
