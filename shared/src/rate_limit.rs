//! Request rate limits shared by every instance: one counter row per principal in PostgreSQL,
//! with a one-minute window that opens at the principal's first request.

use crate::db::record::{DecodeError, Record};
use crate::db::{DbError, Transaction};
use chrono::{DateTime, Utc};
use tokio_postgres::Row;
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

// A window lasts a minute from its first request; a request after that opens a new one.
const HIT: &str = "INSERT INTO rate_limit_counters AS c (principal, window_start, hits)
     VALUES ($1, now(), 1)
     ON CONFLICT (principal) DO UPDATE SET
         hits = CASE WHEN c.window_start > now() - interval '1 minute' THEN least(c.hits, 2147483646) + 1 ELSE 1 END,
         window_start = CASE WHEN c.window_start > now() - interval '1 minute' THEN c.window_start ELSE now() END
     RETURNING hits, window_start + interval '1 minute' AS reset_at, now() AS now";

/// Counts one request for `principal` as the last statement of `tx`, commits, and reports the
/// window's state.
pub async fn hit_and_commit(
    tx: Transaction<'_>,
    principal: &str,
    limit: u32,
) -> Result<RateLimitStatus, DbError> {
    let row = tx
        .commit_after_query_one(HIT, &[(&principal, Type::TEXT)])
        .await?;
    Ok(status(&row, limit)?)
}

fn status(row: &Row, limit: u32) -> Result<RateLimitStatus, DecodeError> {
    let row = Record::new(row, "rate_limit_counters");
    let used: i32 = row.get("hits")?;
    Ok(RateLimitStatus {
        limit,
        used: u32::try_from(used).unwrap_or(u32::MAX),
        reset_at: row.get("reset_at")?,
        now: row.get("now")?,
    })
}

// Every counter in $1 takes one hit; the answer is the one closest to (or furthest over) its
// limit. Counters are locked in array order and callers always list them in the same order
// (address before key), so two requests cannot deadlock on them.
const HIT_ALL: &str = "WITH hit AS (
         INSERT INTO rate_limit_counters AS c (principal, window_start, hits)
         SELECT p, now(), 1 FROM unnest($1::text[]) AS p
         ON CONFLICT (principal) DO UPDATE SET
             hits = CASE WHEN c.window_start > now() - interval '1 minute' THEN least(c.hits, 2147483646) + 1 ELSE 1 END,
             window_start = CASE WHEN c.window_start > now() - interval '1 minute' THEN c.window_start ELSE now() END
         RETURNING hits, window_start)
     SELECT hits, window_start + interval '1 minute' AS reset_at, now() AS now
     FROM hit ORDER BY hits DESC LIMIT 1";

/// Counts one hit on each of `principals` (at least one, distinct) as the last statement of
/// `tx`, commits, and reports the fullest counter.
pub async fn hit_all_and_commit(
    tx: Transaction<'_>,
    principals: &[String],
    limit: u32,
) -> Result<RateLimitStatus, DbError> {
    let principals = principals.to_vec();
    let row = tx
        .commit_after_query_one(HIT_ALL, &[(&principals, Type::TEXT_ARRAY)])
        .await?;
    Ok(status(&row, limit)?)
}
