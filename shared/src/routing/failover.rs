//! What order creation tells routing: each gateway call's outcome moves the account's circuit
//! breaker, and a payment whose order could not be made at one account moves to the next
//! eligible one (a new attempt with its own reference), at most `max_accounts` accounts per
//! payment.

use super::breaker::{Breaker, BreakerState};
use super::postgres::{PgRouter, Route, RouteRequest, Router};
use crate::app::App;
use crate::db::Transaction;
use crate::db::record::Record;
use crate::error::AppError;
use crate::ids::{AttemptId, GatewayAccountId, MerchantId};
use crate::jobs::outbox::{self, Outgoing};
use crate::jobs::queues;
use crate::mode::Mode;
use serde_json::json;
use tokio_postgres::types::Type;
use uuid::Uuid;

/// How a gateway call ended, for the breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    /// The gateway answered as documented (an order made, or a business refusal).
    Answered,
    /// Timeout, refused connection, 5xx, unreadable answer, bad credentials.
    TechnicalFailure,
}

/// Records a gateway call of `account` on its breaker, with the injected clock's time.
pub async fn record_call(
    tx: &Transaction<'_>,
    app: &App,
    account: GatewayAccountId,
    outcome: CallOutcome,
) -> Result<(), AppError> {
    let now = app.clock.now();
    let settings = app.config.routing.breaker;
    if outcome == CallOutcome::Answered {
        // The common case touches nothing: a closed breaker with no failures is not written, so
        // busy accounts do not serialise their orders on one row.
        tx.execute_typed(
            "UPDATE gateway_breakers SET state = 'closed', consecutive_failures = 0, opened_at = NULL, probes = 0,
                    closed_at = CASE WHEN state <> 'closed' THEN $2 ELSE closed_at END, updated_at = $2
              WHERE gateway_account_id = $1 AND (state <> 'closed' OR consecutive_failures > 0)",
            &[(&account.as_uuid(), Type::UUID), (&now, Type::TIMESTAMPTZ)],
        )
        .await?;
        return Ok(());
    }
    tx.execute_typed(
        "INSERT INTO gateway_breakers (gateway_account_id, updated_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        &[(&account.as_uuid(), Type::UUID), (&now, Type::TIMESTAMPTZ)],
    )
    .await?;
    let row = tx
        .query_typed_one(
            "SELECT state, consecutive_failures, opened_at, probes, updated_at FROM gateway_breakers
              WHERE gateway_account_id = $1 FOR UPDATE",
            &[(&account.as_uuid(), Type::UUID)],
        )
        .await?;
    let row = Record::new(&row, "gateway_breakers");
    let state: &str = row.get("state")?;
    let mut breaker = stored_breaker(&row, state, "updated_at")?;
    let before = breaker.state;
    breaker.failed(now, &settings);
    if breaker.state != before {
        tracing::warn!(account = %account, from = before.as_str(), to = breaker.state.as_str(), "circuit breaker changed");
    }
    tx.execute_typed(
        "UPDATE gateway_breakers SET state = $2, consecutive_failures = $3, opened_at = $4, probes = $5, updated_at = $6
          WHERE gateway_account_id = $1",
        &[
            (&account.as_uuid(), Type::UUID),
            (&breaker.state.as_str(), Type::TEXT),
            (&i32::try_from(breaker.consecutive_failures).unwrap_or(i32::MAX), Type::INT4),
            (&breaker.opened_at, Type::TIMESTAMPTZ),
            (&i32::try_from(breaker.probes).unwrap_or(i32::MAX), Type::INT4),
            (&breaker.changed_at, Type::TIMESTAMPTZ),
        ],
    )
    .await?;
    Ok(())
}

/// A breaker as stored: `state` read from its row, the other columns under their names, the
/// time it last changed from `changed_at`.
pub(super) fn stored_breaker(
    row: &Record<'_>,
    state: &str,
    changed_at: &str,
) -> Result<Breaker, AppError> {
    Ok(Breaker {
        state: BreakerState::parse(state)
            .ok_or_else(|| AppError::Internal(format!("unknown breaker state '{state}'")))?,
        consecutive_failures: u32::try_from(row.get::<i32>("consecutive_failures")?).unwrap_or(0),
        opened_at: row.get("opened_at")?,
        probes: u32::try_from(row.get::<i32>("probes")?).unwrap_or(0),
        changed_at: row.get(changed_at)?,
    })
}

/// Whether `account` must not be asked now: its breaker is open and cooling down, or an operator
/// disabled or archived it after the payment was routed there.
pub async fn refuses(
    tx: &Transaction<'_>,
    app: &App,
    account: GatewayAccountId,
) -> Result<bool, AppError> {
    let row = tx
        .query_typed_one(
            "SELECT a.status, b.state, b.opened_at FROM gateway_accounts a
               LEFT JOIN gateway_breakers b ON b.gateway_account_id = a.id
              WHERE a.id = $1",
            &[(&account.as_uuid(), Type::UUID)],
        )
        .await?;
    let row = Record::new(&row, "gateway_accounts");
    if row.get::<&str>("status")? != "active" {
        return Ok(true);
    }
    let open = row.get::<Option<&str>>("state")? == Some(BreakerState::Open.as_str());
    let opened_at: Option<chrono::DateTime<chrono::Utc>> = row.get("opened_at")?;
    let cool_down = app.config.routing.breaker.cool_down;
    Ok(open && opened_at.is_some_and(|at| app.clock.now() < at + cool_down))
}

/// Moves the payment of `attempt` (whose order could not be made) to the next eligible account:
/// the attempt fails as a technical failure and gives back its cap, and a new attempt is routed
/// with every account already tried left out, with the job that creates its order. `None` when
/// the attempt is no longer the payment's open one, the bound is reached, or no other account
/// can take the payment; the caller then keeps the current attempt. The outbox ids come with the
/// new attempt, to publish after commit.
pub async fn failover(
    tx: &Transaction<'_>,
    app: &App,
    attempt: AttemptId,
    reason: &str,
) -> Result<Option<(AttemptId, Vec<Uuid>)>, AppError> {
    let row = tx
        .query_typed_opt(
            &format!("SELECT a.number, a.status AS attempt_status, a.gateway_reference, t.id AS transaction_id, t.status,
                    t.merchant_id, t.mode, t.amount, {PLATFORM_ONLY} AS platform_only,
                    ARRAY(SELECT DISTINCT o.gateway_account_id FROM transaction_attempts o WHERE o.transaction_id = t.id) AS tried,
                    NOT EXISTS (SELECT 1 FROM transaction_attempts n WHERE n.transaction_id = t.id AND n.number > a.number) AS latest
               FROM transaction_attempts a JOIN transactions t ON t.id = a.transaction_id
              WHERE a.id = $1 FOR UPDATE OF a, t"),
            &[(&attempt.as_uuid(), Type::UUID)],
        )
        .await?
        .ok_or(AppError::NotFound("attempt"))?;
    let row = Record::new(&row, "transaction_attempts");
    let open = matches!(row.get::<&str>("status")?, "created" | "pending");
    if !open
        || row.get::<&str>("attempt_status")? != "created"
        || row.get::<Option<String>>("gateway_reference")?.is_some()
        || !row.get::<bool>("latest")?
    {
        return Ok(None);
    }
    let tried: Vec<GatewayAccountId> = row
        .get::<Vec<Uuid>>("tried")?
        .into_iter()
        .map(GatewayAccountId::from_uuid)
        .collect();
    if tried.len() >= app.config.routing.max_accounts as usize {
        tracing::warn!(attempt = %attempt, tried = tried.len(), "failover bound reached; staying on this account");
        return Ok(None);
    }
    let payment = Payment {
        transaction: row.get("transaction_id")?,
        merchant: MerchantId::from_uuid(row.get("merchant_id")?),
        mode: row.parse("mode")?,
        amount: row.get("amount")?,
        number: row.get::<i16>("number")? + 1,
        platform_only: row.get("platform_only")?,
    };
    // Routed first: if nothing else can take the payment, the attempt stays as it is.
    let Some(mut route) = reroute(tx, app, &payment, &tried).await? else {
        return Ok(None);
    };
    tx.execute_typed(
        "UPDATE transaction_attempts SET status = 'failed', failure_kind = 'technical', error_code = 'gateway_unavailable',
                error_message = $2, order_lease_until = NULL, updated_at = now()
          WHERE id = $1",
        &[(&attempt.as_uuid(), Type::UUID), (&reason, Type::TEXT)],
    )
    .await?;
    tx.execute_typed(
        "SELECT routing_release($1)",
        &[(&attempt.as_uuid(), Type::UUID)],
    )
    .await?;
    route.record["failover_from"] = json!({ "attempt": attempt, "reason": reason });
    let (next, ids) = add_attempt(tx, app, &payment, &route).await?;
    tracing::warn!(attempt = %attempt, next = %next, account = %route.account, reason = %reason, "payment failed over to another gateway account");
    Ok(Some((next, ids)))
}

/// The payment a new attempt is for.
#[derive(Debug, Clone, Copy)]
pub struct Payment {
    /// The transaction.
    pub transaction: Uuid,
    /// Its merchant.
    pub merchant: MerchantId,
    /// Test or live.
    pub mode: Mode,
    /// Paise.
    pub amount: i64,
    /// The new attempt's number.
    pub number: i16,
    /// Routed on platform-owned accounts only, as its first attempt was.
    pub platform_only: bool,
}

/// Whether the payment `t` stays on platform-owned accounts (SQL over `t`, a `transactions`
/// row): a wallet top-up always; a payment whose earlier attempt was routed so (the merchant's
/// wallet was below its suspension threshold when it was created).
pub const PLATFORM_ONLY: &str = "(t.purpose = 'wallet_top_up' OR EXISTS (
        SELECT 1 FROM transaction_attempts p WHERE p.transaction_id = t.id
           AND coalesce((p.routing ->> 'platform_only')::boolean, false)))";

/// Routes `payment` with the accounts in `tried` left out; `None` when no other can take it.
pub async fn reroute(
    tx: &Transaction<'_>,
    app: &App,
    payment: &Payment,
    tried: &[GatewayAccountId],
) -> Result<Option<Route>, AppError> {
    let request = RouteRequest {
        merchant: payment.merchant,
        mode: payment.mode,
        amount: payment.amount,
        now: app.clock.now(),
        tried,
        platform_only: payment.platform_only,
        // Accepted already: its first attempt's routing decided the wallet's say.
        wallet_guard: false,
    };
    let router = PgRouter {
        settings: app.config.routing,
    };
    match router.route(tx, &request).await {
        Ok(route) => Ok(Some(route)),
        Err(AppError::GatewayUnavailable(why)) => {
            tracing::warn!(transaction = %payment.transaction, why = %why, "no other account can take the payment");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Adds the payment's next attempt on `route` (with its decision record), with the job that
/// creates its order; answers it with the outbox ids to publish after commit.
pub async fn add_attempt(
    tx: &Transaction<'_>,
    app: &App,
    payment: &Payment,
    route: &Route,
) -> Result<(AttemptId, Vec<Uuid>), AppError> {
    let next = AttemptId::generate();
    tx.execute_typed(
        "INSERT INTO transaction_attempts (id, transaction_id, merchant_id, mode, gateway_account_id, provider, number,
             routing, cap_amount, cap_day, cap_month)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        &[
            (&next.as_uuid(), Type::UUID),
            (&payment.transaction, Type::UUID),
            (&payment.merchant.as_uuid(), Type::UUID),
            (&payment.mode.as_str(), Type::TEXT),
            (&route.account.as_uuid(), Type::UUID),
            (&route.provider, Type::TEXT),
            (&payment.number, Type::INT2),
            (&route.record, Type::JSONB),
            (&route.reservation.map(|r| r.amount), Type::INT8),
            (&route.reservation.and_then(|r| r.day), Type::DATE),
            (&route.reservation.and_then(|r| r.month), Type::DATE),
        ],
    )
    .await?;
    // The caller may go on with the new attempt at once; the job is there should it stop first.
    let ids = outbox::write(
        tx,
        app.delivery,
        &[Outgoing::Job {
            queue: queues::TRANSACTION_PROCESSOR,
            body: json!({ "attempt_id": next }),
        }],
    )
    .await?;
    Ok((next, ids))
}
