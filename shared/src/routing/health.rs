//! Gateway health: the scheduled collector that measures each account's recent attempts into
//! `gateway_health_metrics` (every amount, and per amount band) and opens the circuit breaker of
//! an account whose technical-error rate is too high; and the operators' view of both.
//!
//! The collector's window ends at the time its clock gives (to the whole minute), never at a
//! second reading of the clock, so the rows of one run all describe the same window and a second
//! run for that window writes nothing.

use crate::app::App;
use crate::db::record::{DecodeError, Record};
use crate::db::{self, Scope, Transaction};
use crate::error::AppError;
use crate::ids::GatewayAccountId;
use crate::mode::Mode;
use crate::routing::Window;
use crate::routing::breaker::{Breaker, BreakerSettings, BreakerState};
use crate::routing::smart::amount_band;
use chrono::{DateTime, Duration, DurationRound, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use tokio_postgres::Row;
use tokio_postgres::types::Type;
use uuid::Uuid;

/// How far back one window looks: the attempts created in the 15 minutes before its end.
pub const WINDOW: Duration = Duration::minutes(15);

/// How long measured windows are kept (the smart router reads only the latest ones).
pub const RETENTION: Duration = Duration::days(7);

/// The amount bands measured besides band 0 (every amount); see [`amount_band`].
pub const BANDS: std::ops::RangeInclusive<i16> = 1..=4;

/// What one attempt in the window contributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// The payment's amount, in paise.
    pub amount: i64,
    /// The attempt succeeded.
    pub succeeded: bool,
    /// It failed for technical reasons (`failure_kind = 'technical'`).
    pub technical: bool,
    /// How long the gateway took to create the order, when measured.
    pub latency_ms: Option<i32>,
}

/// One account's measurements over a window, for one amount band.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Measured {
    /// Attempts that ended.
    pub attempts: i32,
    /// Of which succeeded.
    pub successes: i32,
    /// Of which ended otherwise, not for technical reasons (declined, expired, mismatched).
    pub declines: i32,
    /// Of which failed for technical reasons.
    pub technical_errors: i32,
    /// Median order latency in milliseconds (nearest rank), when any was measured.
    pub latency_p50_ms: Option<i32>,
    /// 95th percentile order latency in milliseconds (nearest rank), when any was measured.
    pub latency_p95_ms: Option<i32>,
}

impl Measured {
    /// Counts `outcomes` and takes the latency percentiles of those that were measured.
    pub fn of<'a>(outcomes: impl IntoIterator<Item = &'a Outcome>) -> Measured {
        let mut m = Measured::default();
        let mut latencies = Vec::new();
        for o in outcomes {
            m.attempts += 1;
            if o.succeeded {
                m.successes += 1;
            } else if o.technical {
                m.technical_errors += 1;
            } else {
                m.declines += 1;
            }
            latencies.extend(o.latency_ms);
        }
        latencies.sort_unstable();
        m.latency_p50_ms = nearest_rank(&latencies, 50);
        m.latency_p95_ms = nearest_rank(&latencies, 95);
        m
    }

    /// The breaker's view of it.
    pub fn window(&self) -> Window {
        let count = |n: i32| u32::try_from(n).unwrap_or(0);
        Window {
            attempts: count(self.attempts),
            successes: count(self.successes),
            technical_errors: count(self.technical_errors),
        }
    }
}

/// The nearest-rank percentile of sorted values: the smallest value with at least `percent`% of
/// the values at or below it (SQL's `percentile_disc`).
fn nearest_rank(sorted: &[i32], percent: usize) -> Option<i32> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (sorted.len() * percent).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Collected {
    /// The end of the window measured.
    pub window_end: Option<DateTime<Utc>>,
    /// Accounts measured (every account that is not archived).
    pub accounts: usize,
    /// Metric rows written (none for a window already measured).
    pub rows_written: u64,
    /// Breakers this run opened.
    pub breakers_opened: usize,
    /// Metric rows older than [`RETENTION`] deleted.
    pub pruned: u64,
}

/// Measures the window ending at `now` (to the whole minute) for every account that is not
/// archived, judges their closed breakers on it and prunes old windows (system scope). Each
/// account is written in a transaction of its own, and its breaker judged only by the run that
/// wrote its window, so a repeated run for the same window changes nothing.
pub async fn collect(
    app: &App,
    now: DateTime<Utc>,
    settings: &BreakerSettings,
) -> Result<Collected, AppError> {
    let window_end = now
        .duration_trunc(Duration::minutes(1))
        .map_err(|e| AppError::Internal(format!("health window end: {e}")))?;
    let window_seconds = i32::try_from(WINDOW.num_seconds()).unwrap_or(i32::MAX);
    let mut run = Collected {
        window_end: Some(window_end),
        ..Collected::default()
    };
    let outcomes = {
        let mut client = app.db.client().await?;
        let tx = db::begin(&mut client, Scope::System).await?;
        let outcomes = outcomes(&tx, window_end).await?;
        tx.commit().await?;
        outcomes
    };
    run.accounts = outcomes.len();
    for (account, outcomes) in outcomes {
        let mut client = app.db.client().await?;
        let tx = db::begin(&mut client, Scope::System).await?;
        let all = Measured::of(&outcomes);
        let written = insert(&tx, account, 0, window_end, window_seconds, &all).await?;
        run.rows_written += written;
        for band in BANDS {
            let in_band: Vec<&Outcome> = outcomes
                .iter()
                .filter(|o| amount_band(o.amount) == band)
                .collect();
            if !in_band.is_empty() {
                let measured = Measured::of(in_band);
                run.rows_written +=
                    insert(&tx, account, band, window_end, window_seconds, &measured).await?;
            }
        }
        if written > 0 && judge(&tx, account, &all.window(), now, settings).await? {
            run.breakers_opened += 1;
            tracing::warn!(account = %account, attempts = all.attempts, technical_errors = all.technical_errors, "circuit breaker opened on the health window's technical-error rate");
        }
        tx.commit().await?;
    }
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::System).await?;
    run.pruned = tx
        .execute_typed(
            "DELETE FROM gateway_health_metrics WHERE window_end < $1",
            &[(&(window_end - RETENTION), Type::TIMESTAMPTZ)],
        )
        .await?;
    tx.commit().await?;
    Ok(run)
}

/// Every account that is not archived, with the attempts created in the window ending at
/// `window_end` that have ended.
async fn outcomes(
    tx: &Transaction<'_>,
    window_end: DateTime<Utc>,
) -> Result<BTreeMap<GatewayAccountId, Vec<Outcome>>, AppError> {
    let mut accounts: BTreeMap<GatewayAccountId, Vec<Outcome>> = BTreeMap::new();
    for row in tx
        .query_typed(
            "SELECT id FROM gateway_accounts WHERE status <> 'archived'",
            &[],
        )
        .await?
    {
        let id = GatewayAccountId::from_uuid(Record::new(&row, "gateway_accounts").get("id")?);
        accounts.insert(id, Vec::new());
    }
    let rows = tx
        .query_typed(
            // From the accounts, so each account's recent attempts come from the
            // (gateway_account_id, created_at) index rather than a scan of every attempt.
            "SELECT a.gateway_account_id, t.amount, a.status = 'succeeded' AS succeeded,
                    a.failure_kind IS NOT DISTINCT FROM 'technical' AS technical, a.order_latency_ms
               FROM gateway_accounts g
               JOIN transaction_attempts a ON a.gateway_account_id = g.id
                AND a.created_at > $1 AND a.created_at <= $2
               JOIN transactions t ON t.id = a.transaction_id
              WHERE g.status <> 'archived'
                AND a.status IN ('succeeded', 'failed', 'expired', 'amount_mismatch')",
            &[
                (&(window_end - WINDOW), Type::TIMESTAMPTZ),
                (&window_end, Type::TIMESTAMPTZ),
            ],
        )
        .await?;
    for row in rows {
        let row = Record::new(&row, "transaction_attempts");
        let id = GatewayAccountId::from_uuid(row.get::<Uuid>("gateway_account_id")?);
        // An account archived between the two reads is not measured.
        if let Some(list) = accounts.get_mut(&id) {
            list.push(Outcome {
                amount: row.get("amount")?,
                succeeded: row.get("succeeded")?,
                technical: row.get("technical")?,
                latency_ms: row.get("order_latency_ms")?,
            });
        }
    }
    Ok(accounts)
}

async fn insert(
    tx: &Transaction<'_>,
    account: GatewayAccountId,
    band: i16,
    window_end: DateTime<Utc>,
    window_seconds: i32,
    m: &Measured,
) -> Result<u64, AppError> {
    Ok(tx
        .execute_typed(
            "INSERT INTO gateway_health_metrics (gateway_account_id, amount_band, window_end, window_seconds,
                 attempts, successes, declines, technical_errors, latency_p50_ms, latency_p95_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (gateway_account_id, amount_band, window_end) DO NOTHING",
            &[
                (&account.as_uuid(), Type::UUID),
                (&band, Type::INT2),
                (&window_end, Type::TIMESTAMPTZ),
                (&window_seconds, Type::INT4),
                (&m.attempts, Type::INT4),
                (&m.successes, Type::INT4),
                (&m.declines, Type::INT4),
                (&m.technical_errors, Type::INT4),
                (&m.latency_p50_ms, Type::INT4),
                (&m.latency_p95_ms, Type::INT4),
            ],
        )
        .await?)
}

/// Judges the account's breaker on `window` when it is closed (a missing row is a closed
/// breaker); answers whether it opened. The write is guarded on the row still being closed, so a
/// payment that changed the breaker meanwhile is never overwritten.
async fn judge(
    tx: &Transaction<'_>,
    account: GatewayAccountId,
    window: &Window,
    now: DateTime<Utc>,
    settings: &BreakerSettings,
) -> Result<bool, AppError> {
    let row = tx
        .query_typed_opt(
            "SELECT state, consecutive_failures, closed_at FROM gateway_breakers WHERE gateway_account_id = $1",
            &[(&account.as_uuid(), Type::UUID)],
        )
        .await?;
    let mut breaker = Breaker::closed(now);
    if let Some(row) = &row {
        let row = Record::new(row, "gateway_breakers");
        let state: String = row.get("state")?;
        if state != BreakerState::Closed.as_str() {
            return Ok(false);
        }
        // Closed again within the window: the failures it holds are the outage the probe just
        // saw end, and would open the breaker again at once.
        let closed_at: Option<DateTime<Utc>> = row.get("closed_at")?;
        if closed_at.is_some_and(|at| at > now - WINDOW) {
            return Ok(false);
        }
        breaker.consecutive_failures =
            u32::try_from(row.get::<i32>("consecutive_failures")?).unwrap_or(0);
    }
    breaker.judge(window, now, settings);
    if breaker.state != BreakerState::Open {
        return Ok(false);
    }
    let failures = i32::try_from(breaker.consecutive_failures).unwrap_or(i32::MAX);
    let opened = tx
        .execute_typed(
            "INSERT INTO gateway_breakers AS b (gateway_account_id, state, consecutive_failures, opened_at, probes, updated_at)
             VALUES ($1, 'open', $2, $3, 0, $3)
             ON CONFLICT (gateway_account_id) DO UPDATE
                SET state = 'open', opened_at = EXCLUDED.opened_at, probes = 0, updated_at = EXCLUDED.updated_at
              WHERE b.state = 'closed'",
            &[
                (&account.as_uuid(), Type::UUID),
                (&failures, Type::INT4),
                (&breaker.opened_at, Type::TIMESTAMPTZ),
            ],
        )
        .await?;
    Ok(opened > 0)
}

/// An account's circuit breaker as operators see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BreakerView {
    /// `closed` (payments flow), `open` (cooling down, no payments) or `half_open` (a few probe
    /// payments test the account).
    pub state: BreakerState,
    /// Technical failures in a row since the last success.
    pub consecutive_failures: i32,
    /// When it last opened (`null` while closed).
    pub opened_at: Option<DateTime<Utc>>,
}

/// An account's latest measured window over every amount.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HealthWindow {
    /// The end of the window.
    pub window_end: DateTime<Utc>,
    /// Its length in seconds (attempts created in `(window_end - window_seconds, window_end]`).
    pub window_seconds: i32,
    /// Attempts created in the window that have ended (succeeded, failed, expired or mismatched).
    pub attempts: i32,
    /// Of which succeeded.
    pub successes: i32,
    /// Of which ended otherwise, not for technical reasons (declined, expired, mismatched).
    pub declines: i32,
    /// Of which failed for technical reasons (timeouts, 5xx, refused connections).
    pub technical_errors: i32,
    /// `successes` per 10000 `attempts` (basis points, rounded down: 9850 is 98.5%); `null`
    /// when there were no attempts.
    #[schema(minimum = 0, maximum = 10000)]
    pub success_rate_bps: Option<i64>,
    /// `technical_errors` per 10000 `attempts` (basis points, rounded down); `null` when there
    /// were no attempts.
    #[schema(minimum = 0, maximum = 10000)]
    pub technical_error_rate_bps: Option<i64>,
    /// Median time the gateway took to create an order, in milliseconds (`null`: none measured).
    pub latency_p50_ms: Option<i32>,
    /// 95th percentile of that time, in milliseconds (`null`: none measured).
    pub latency_p95_ms: Option<i32>,
}

/// One account's health.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GatewayHealth {
    /// The account.
    pub id: GatewayAccountId,
    /// Its provider.
    #[schema(value_type = crate::gateways::Provider)]
    pub provider: String,
    /// Its name for operators.
    pub label: String,
    /// Test or live environment of the gateway.
    pub environment: Mode,
    /// `active` or `disabled`.
    #[schema(pattern = "^(active|disabled)$")]
    pub status: String,
    /// Its circuit breaker (closed when it never opened).
    pub breaker: BreakerView,
    /// The latest window measured over every amount; `null` until the collector has run.
    pub metrics: Option<HealthWindow>,
}

/// Basis points of `part` in `whole`, rounded down; `None` of nothing.
fn rate_bps(part: i32, whole: i32) -> Option<i64> {
    (whole > 0).then(|| i64::from(part) * 10_000 / i64::from(whole))
}

impl GatewayHealth {
    fn from_row(row: &Row) -> Result<GatewayHealth, DecodeError> {
        let row = Record::new(row, "gateway_accounts");
        let state: Option<String> = row.get("breaker_state")?;
        let state = match state.as_deref() {
            None => BreakerState::Closed,
            Some(s) => BreakerState::parse(s).ok_or_else(|| DecodeError {
                table: "gateway_breakers",
                column: "state".into(),
                reason: format!("unknown state {s}"),
            })?,
        };
        let window_end: Option<DateTime<Utc>> = row.get("window_end")?;
        let metrics = match window_end {
            None => None,
            Some(window_end) => {
                let attempts: i32 = row.get("attempts")?;
                let successes: i32 = row.get("successes")?;
                let technical_errors: i32 = row.get("technical_errors")?;
                Some(HealthWindow {
                    window_end,
                    window_seconds: row.get("window_seconds")?,
                    attempts,
                    successes,
                    declines: row.get("declines")?,
                    technical_errors,
                    success_rate_bps: rate_bps(successes, attempts),
                    technical_error_rate_bps: rate_bps(technical_errors, attempts),
                    latency_p50_ms: row.get("latency_p50_ms")?,
                    latency_p95_ms: row.get("latency_p95_ms")?,
                })
            }
        };
        Ok(GatewayHealth {
            id: GatewayAccountId::from_uuid(row.get("id")?),
            provider: row.get("provider")?,
            label: row.get("label")?,
            environment: row.parse("environment")?,
            status: row.get("status")?,
            breaker: BreakerView {
                state,
                consecutive_failures: row.get::<Option<i32>>("consecutive_failures")?.unwrap_or(0),
                opened_at: row.get("opened_at")?,
            },
            metrics,
        })
    }
}

/// Every account that is not archived with its breaker and latest band-0 window, by id (operator
/// or system scope). Accounts are few (one per gateway contract), so the list is not paged.
pub async fn report(tx: &Transaction<'_>) -> Result<Vec<GatewayHealth>, AppError> {
    let rows = tx
        .query_typed(
            "SELECT g.id, g.provider, g.label, g.environment, g.status,
                    b.state AS breaker_state, b.consecutive_failures, b.opened_at,
                    m.window_end, m.window_seconds, m.attempts, m.successes, m.declines,
                    m.technical_errors, m.latency_p50_ms, m.latency_p95_ms
               FROM gateway_accounts g
               LEFT JOIN gateway_breakers b ON b.gateway_account_id = g.id
               LEFT JOIN LATERAL (
                    SELECT * FROM gateway_health_metrics m
                     WHERE m.gateway_account_id = g.id AND m.amount_band = 0
                     ORDER BY m.window_end DESC LIMIT 1) m ON true
              WHERE g.status <> 'archived'
              ORDER BY g.id",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(GatewayHealth::from_row)
        .collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(succeeded: bool, technical: bool, latency_ms: Option<i32>) -> Outcome {
        Outcome {
            amount: 10_000,
            succeeded,
            technical,
            latency_ms,
        }
    }

    #[test]
    fn counts_outcomes_and_takes_nearest_rank_percentiles() {
        let mut outcomes: Vec<Outcome> = (1..=18)
            .map(|i| outcome(true, false, Some(i * 10)))
            .collect();
        outcomes.push(outcome(false, true, None));
        outcomes.push(outcome(false, false, Some(1_000)));
        let m = Measured::of(&outcomes);
        assert_eq!(
            (m.attempts, m.successes, m.technical_errors, m.declines),
            (20, 18, 1, 1)
        );
        // 19 latencies: 10..=180 and 1000. Rank ceil(19 * 0.5) = 10, ceil(19 * 0.95) = 19.
        assert_eq!(m.latency_p50_ms, Some(100));
        assert_eq!(m.latency_p95_ms, Some(1_000));
        assert_eq!(Measured::of(&[]), Measured::default());
        assert_eq!(nearest_rank(&[7], 50), Some(7));
        assert_eq!(nearest_rank(&[1, 2], 50), Some(1));
        assert_eq!(nearest_rank(&[1, 2], 95), Some(2));
    }

    #[test]
    fn rates_are_whole_basis_points_and_absent_without_attempts() {
        assert_eq!(rate_bps(2, 3), Some(6_666));
        assert_eq!(rate_bps(3, 3), Some(10_000));
        assert_eq!(rate_bps(0, 0), None);
    }
}
