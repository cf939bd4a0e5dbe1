//! Request rate limits shared by every instance: one counter row per principal in PostgreSQL,
//! with a one-minute window that opens at the principal's first request.

use chrono::{DateTime, Utc};
use tokio_postgres::Transaction;
use tokio_postgres::types::Type;

/// Where a principal stands in its current window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitStatus {
    /// Requests allowed per window.
    pub limit: u32,
    /// Requests counted in this window, including this one.
    pub used: u32,
    /// When the window closes.
    pub reset_at: DateTime<Utc>,
    /// The database's time when this request was counted.
    pub now: DateTime<Utc>,
}

impl RateLimitStatus {
    /// Whether this request is within the limit.
    pub fn allowed(&self) -> bool {
        self.used <= self.limit
    }

    /// Requests left in this window.
    pub fn remaining(&self) -> u32 {
        self.limit.saturating_sub(self.used)
    }

    /// Whole seconds until the window closes, at least one.
    pub fn retry_after_seconds(&self) -> i64 {
        let millis = (self.reset_at - self.now).num_milliseconds();
        ((millis + 999) / 1000).max(1)
    }
}

/// Counts one request for `principal` and reports the window's state.
pub async fn hit(
    tx: &Transaction<'_>,
    principal: &str,
    limit: u32,
) -> Result<RateLimitStatus, tokio_postgres::Error> {
    // A window lasts a minute from its first request; a request after that opens a new one.
    let row = tx
        .query_typed_one(
            "INSERT INTO rate_limit_counters AS c (principal, window_start, hits)
             VALUES ($1, now(), 1)
             ON CONFLICT (principal) DO UPDATE SET
                 hits = CASE WHEN c.window_start > now() - interval '1 minute' THEN least(c.hits, 2147483646) + 1 ELSE 1 END,
                 window_start = CASE WHEN c.window_start > now() - interval '1 minute' THEN c.window_start ELSE now() END
             RETURNING hits, window_start + interval '1 minute', now()",
            &[(&principal, Type::TEXT)],
        )
        .await?;
    let used: i32 = row.get(0);
    Ok(RateLimitStatus {
        limit,
        used: u32::try_from(used).unwrap_or(u32::MAX),
        reset_at: row.get(1),
        now: row.get(2),
    })
}
