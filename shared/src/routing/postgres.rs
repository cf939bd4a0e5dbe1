//! The `Router` port and its PostgreSQL adapter: reads the merchant's pool with everything
//! eligibility needs (accounts, breakers, cap usage, recent health) in one statement, lets the
//! [`engine`](super::engine) rank it, then reserves the volume cap and, for a half-open breaker,
//! the probe slot of the first member that still has room, in the payment's transaction.

use super::breaker::Breaker;
use super::caps;
use super::engine::{self, Admission, Ask, Candidate, Decision, Fee, Rng, RoutingMode, Window};
use super::failover::stored_breaker;
use super::smart::amount_band;
use crate::config::RoutingConfig;
use crate::db::Transaction;
use crate::db::record::Record;
use crate::error::AppError;
use crate::ids::{GatewayAccountId, MerchantId};
use crate::mode::Mode;
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Value, json};
use tokio_postgres::Row;
use tokio_postgres::types::Type;

/// What a payment needs routed.
#[derive(Debug, Clone)]
pub struct RouteRequest<'a> {
    /// Whose pool.
    pub merchant: MerchantId,
    /// Test or live: only accounts of this environment.
    pub mode: Mode,
    /// Paise.
    pub amount: i64,
    /// The injected clock's time (cap periods, breaker cool-downs).
    pub now: DateTime<Utc>,
    /// Accounts this payment already failed at (failover).
    pub tried: &'a [GatewayAccountId],
    /// Only platform-owned accounts (the sandbox fallback is one): a wallet top-up, whose money
    /// must reach us, or a payment while the merchant's wallet is below its suspension
    /// threshold, whose fee could not be taken from the wallet.
    pub platform_only: bool,
    /// Whether the merchant's wallet decides too: below its suspension threshold, only
    /// platform-owned accounts, and `WALLET_BALANCE_LOW` when none can take the payment but the
    /// merchant's own could. New payments only: an accepted payment's failover and retries keep
    /// what its first attempt was routed by.
    pub wallet_guard: bool,
}

/// A volume-cap reservation an attempt holds until it fails or expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reservation {
    /// Paise reserved.
    pub amount: i64,
    /// The IST day it counts in, if the member has a daily cap.
    pub day: Option<NaiveDate>,
    /// The first day of the IST month it counts in, if the member has a monthly cap.
    pub month: Option<NaiveDate>,
}

/// The chosen account.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// The account.
    pub account: GatewayAccountId,
    /// Its provider.
    pub provider: String,
    /// The decision, as stored on the attempt for operators.
    pub record: Value,
    /// The cap reserved on it, if its member has a cap.
    pub reservation: Option<Reservation>,
}

/// Chooses a gateway account for a payment.
#[async_trait]
pub trait Router: Send + Sync {
    /// Routes the payment in `tx`, reserving what the chosen member needs.
    async fn route(
        &self,
        tx: &Transaction<'_>,
        request: &RouteRequest<'_>,
    ) -> Result<Route, AppError>;
}

/// The router over the merchant's pool in PostgreSQL.
pub struct PgRouter {
    /// Breakers, smart routing.
    pub settings: RoutingConfig,
}

/// One pool member as read, with what reserving on it needs.
struct Member {
    candidate: Candidate,
    provider: String,
    daily_cap: Option<i64>,
    monthly_cap: Option<i64>,
    breaker: Option<Breaker>,
}

/// The merchant's pool; every row also carries its wallet's balance and suspension threshold
/// (one evaluation per statement), so the wallet rule costs no round trip of its own.
static POOL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "
SELECT p.strategy, a.id, a.provider, a.ownership, m.priority, m.weight, (m.enabled AND a.status = 'active') AS enabled,
       a.fee_bps, a.fee_fixed, a.min_amount, a.max_amount, m.daily_cap, m.monthly_cap,
       b.state AS breaker_state, b.consecutive_failures, b.opened_at, b.probes, b.updated_at AS breaker_changed_at,
       d.reserved AS day_reserved, mo.reserved AS month_reserved,
       {WALLET} ,
       hb.attempts AS band_attempts, hb.successes AS band_successes, hb.technical_errors AS band_technical,
       ho.attempts AS all_attempts, ho.successes AS all_successes, ho.technical_errors AS all_technical
  FROM routing_pools p
  JOIN routing_pool_members m ON m.merchant_id = p.merchant_id
  JOIN gateway_accounts a ON a.id = m.gateway_account_id AND a.environment = $2
  LEFT JOIN gateway_breakers b ON b.gateway_account_id = a.id
  LEFT JOIN routing_cap_usage d ON d.merchant_id = p.merchant_id AND d.gateway_account_id = a.id
        AND d.period = 'day' AND d.period_start = $3
  LEFT JOIN routing_cap_usage mo ON mo.merchant_id = p.merchant_id AND mo.gateway_account_id = a.id
        AND mo.period = 'month' AND mo.period_start = $4
  LEFT JOIN LATERAL (SELECT attempts, successes, technical_errors FROM gateway_health_metrics h
                      WHERE p.strategy = 'smart' AND h.gateway_account_id = a.id AND h.amount_band = $5
                      ORDER BY window_end DESC LIMIT 1) hb ON true
  LEFT JOIN LATERAL (SELECT attempts, successes, technical_errors FROM gateway_health_metrics h
                      WHERE p.strategy = 'smart' AND h.gateway_account_id = a.id AND h.amount_band = 0
                      ORDER BY window_end DESC LIMIT 1) ho ON true
 WHERE p.merchant_id = $1
 ORDER BY m.priority, a.id",
        WALLET = crate::wallets::guard::COLUMNS
    )
});

fn window(row: &Record<'_>, prefix: &str) -> Result<Window, AppError> {
    let count = |name: &str| -> Result<u32, AppError> {
        let value: Option<i32> = row.get(&format!("{prefix}_{name}"))?;
        Ok(u32::try_from(value.unwrap_or(0)).unwrap_or(0))
    };
    Ok(Window {
        attempts: count("attempts")?,
        successes: count("successes")?,
        technical_errors: count("technical")?,
    })
}

fn member(
    row: &Row,
    request: &RouteRequest<'_>,
    settings: &RoutingConfig,
) -> Result<Member, AppError> {
    let row = Record::new(row, "routing_pool_members");
    let account = GatewayAccountId::from_uuid(row.get("id")?);
    let breaker = row
        .get::<Option<&str>>("breaker_state")?
        .map(|state| stored_breaker(&row, state, "breaker_changed_at"))
        .transpose()?;
    let admission = breaker.map_or(Admission::Allow, |b| {
        b.admission(request.now, &settings.breaker)
    });
    let daily_cap: Option<i64> = row.get("daily_cap")?;
    let monthly_cap: Option<i64> = row.get("monthly_cap")?;
    let day_reserved: Option<i64> = row.get("day_reserved")?;
    let month_reserved: Option<i64> = row.get("month_reserved")?;
    let day_room = daily_cap.map(|cap| cap - day_reserved.unwrap_or(0));
    let month_room = monthly_cap.map(|cap| cap - month_reserved.unwrap_or(0));
    let cap_room = match (day_room, month_room) {
        (Some(d), Some(m)) => Some(d.min(m)),
        (d, m) => d.or(m),
    };
    Ok(Member {
        candidate: Candidate {
            account,
            priority: row.get("priority")?,
            weight: u32::try_from(row.get::<i32>("weight")?).unwrap_or(0),
            fee: Fee {
                bps: u32::try_from(row.get::<i32>("fee_bps")?).unwrap_or(0),
                fixed: row.get("fee_fixed")?,
            },
            enabled: row.get("enabled")?,
            min_amount: row.get("min_amount")?,
            max_amount: row.get("max_amount")?,
            admission,
            cap_room,
            tried: request.tried.contains(&account),
            band: window(&row, "band")?,
            overall: window(&row, "all")?,
        },
        provider: row.get("provider")?,
        daily_cap,
        monthly_cap,
        breaker,
    })
}

/// The record stored on the attempt: the mode, every member with its score or exclusion, the
/// members skipped at reservation, and why the chosen one won.
fn record(
    decision: &Decision,
    chosen: GatewayAccountId,
    skipped: &[(GatewayAccountId, &str)],
    now: DateTime<Utc>,
    platform_only: bool,
) -> Value {
    json!({
        "mode": decision.mode,
        "chosen": chosen,
        "reason": decision.reason,
        "candidates": decision.considered,
        "skipped": skipped.iter().map(|(account, why)| json!({"account": account, "why": why})).collect::<Vec<_>>(),
        "decided_at": now,
        // Failover and the customer's retry read this: the payment stays on platform accounts.
        "platform_only": platform_only,
    })
}

impl PgRouter {
    /// In test mode, a merchant whose pool has no account of the test environment pays through
    /// the platform's sandbox, so that a new merchant can try the API at once.
    async fn sandbox(
        &self,
        tx: &Transaction<'_>,
        request: &RouteRequest<'_>,
    ) -> Result<Route, AppError> {
        let none = || {
            AppError::GatewayUnavailable(format!(
                "no active gateway account can take this {} payment for this merchant",
                request.mode
            ))
        };
        if request.mode != Mode::Test {
            return Err(none());
        }
        let row = tx
            .query_typed_opt(
                "SELECT id, provider FROM gateway_accounts
                  WHERE provider = 'sandbox' AND ownership = 'platform' AND status = 'active' AND environment = 'test'
                  ORDER BY id LIMIT 1",
                &[],
            )
            .await?
            .ok_or_else(none)?;
        let row = Record::new(&row, "gateway_accounts");
        let account = GatewayAccountId::from_uuid(row.get("id")?);
        if request.tried.contains(&account) {
            return Err(none());
        }
        Ok(Route {
            account,
            provider: row.get("provider")?,
            record: json!({
                "mode": null,
                "chosen": account,
                "reason": "the pool has no test account; test payments fall back to the platform's sandbox",
                "candidates": [],
                "decided_at": request.now,
                "platform_only": request.platform_only,
            }),
            reservation: None,
        })
    }

    /// Takes the next value of the merchant's rotation counter.
    async fn position(
        &self,
        tx: &Transaction<'_>,
        request: &RouteRequest<'_>,
    ) -> Result<u64, AppError> {
        let row = tx
            .query_typed_one(
                "INSERT INTO routing_positions AS r (merchant_id, mode, position) VALUES ($1, $2, 1)
                 ON CONFLICT (merchant_id, mode) DO UPDATE SET position = r.position + 1
                 RETURNING position - 1 AS taken",
                &[(&request.merchant.as_uuid(), Type::UUID), (&request.mode.as_str(), Type::TEXT)],
            )
            .await?;
        let taken: i64 = Record::new(&row, "routing_positions").get("taken")?;
        Ok(u64::try_from(taken).unwrap_or(0))
    }

    /// Reserves the member's caps for the payment; false when one has no room left.
    async fn reserve(
        &self,
        tx: &Transaction<'_>,
        request: &RouteRequest<'_>,
        member: &Member,
        (day, month): (NaiveDate, NaiveDate),
    ) -> Result<Option<Option<Reservation>>, AppError> {
        if member.daily_cap.is_none() && member.monthly_cap.is_none() {
            return Ok(Some(None));
        }
        let row = tx
            .query_typed_one(
                "SELECT routing_reserve($1, $2, $3, $4, $5, $6, $7) AS reserved",
                &[
                    (&request.merchant.as_uuid(), Type::UUID),
                    (&member.candidate.account.as_uuid(), Type::UUID),
                    (&request.amount, Type::INT8),
                    (&day, Type::DATE),
                    (&month, Type::DATE),
                    (&member.daily_cap, Type::INT8),
                    (&member.monthly_cap, Type::INT8),
                ],
            )
            .await?;
        let reserved: bool = Record::new(&row, "routing_cap_usage").get("reserved")?;
        // Only the periods that have a cap: giving back a period never reserved would free room
        // that later payments filled.
        Ok(reserved.then_some(Some(Reservation {
            amount: request.amount,
            day: member.daily_cap.map(|_| day),
            month: member.monthly_cap.map(|_| month),
        })))
    }

    /// Claims a half-open breaker's probe slot; false when another payment took it first.
    async fn claim_probe(
        &self,
        tx: &Transaction<'_>,
        member: &Member,
        now: DateTime<Utc>,
    ) -> Result<bool, AppError> {
        let Some(mut breaker) = member.breaker else {
            return Ok(true);
        };
        let before = breaker;
        breaker.probe(now, &self.settings.breaker);
        // Compare-and-set on what was read: two payments racing for one slot cannot both win.
        let claimed = tx
            .execute_typed(
                "UPDATE gateway_breakers SET state = $2, probes = $3, updated_at = $4
                  WHERE gateway_account_id = $1 AND state = $5 AND probes = $6 AND updated_at = $7",
                &[
                    (&member.candidate.account.as_uuid(), Type::UUID),
                    (&breaker.state.as_str(), Type::TEXT),
                    (
                        &i32::try_from(breaker.probes).unwrap_or(i32::MAX),
                        Type::INT4,
                    ),
                    (&now, Type::TIMESTAMPTZ),
                    (&before.state.as_str(), Type::TEXT),
                    (
                        &i32::try_from(before.probes).unwrap_or(i32::MAX),
                        Type::INT4,
                    ),
                    (&before.changed_at, Type::TIMESTAMPTZ),
                ],
            )
            .await?;
        Ok(claimed == 1)
    }
}

#[async_trait]
impl Router for PgRouter {
    async fn route(
        &self,
        tx: &Transaction<'_>,
        request: &RouteRequest<'_>,
    ) -> Result<Route, AppError> {
        let periods = caps::periods(request.now);
        let band = amount_band(request.amount);
        let rows = tx
            .query_typed(
                POOL.as_str(),
                &[
                    (&request.merchant.as_uuid(), Type::UUID),
                    (&request.mode.as_str(), Type::TEXT),
                    (&periods.0, Type::DATE),
                    (&periods.1, Type::DATE),
                    (&band, Type::INT2),
                ],
            )
            .await?;
        if rows.is_empty() {
            return self.sandbox(tx, request).await;
        }
        let wallet = crate::wallets::guard::Guard::read(&Record::new(&rows[0], "wallets"))?;
        let low = request.wallet_guard && wallet.suspended();
        let platform_only = request.platform_only || low;
        // Merchant-owned members are left out before ranking, so that rotation and weights
        // spread platform-only payments over the platform's members alone.
        let mut left_out = 0usize;
        let mut kept: Vec<&Row> = Vec::with_capacity(rows.len());
        for row in &rows {
            let owned_by_platform =
                Record::new(row, "gateway_accounts").get::<&str>("ownership")? == "platform";
            if platform_only && !owned_by_platform {
                left_out += 1;
            } else {
                kept.push(row);
            }
        }
        // Nothing of the platform's can take it, and the merchant's own accounts are closed
        // to it because its wallet cannot pay their fees: that, not the gateways, is the reason.
        let refused = |why: String| {
            if low && left_out > 0 {
                AppError::WalletBalanceLow {
                    balance: wallet.balance,
                    suspension_threshold: wallet.suspension_threshold,
                }
            } else {
                AppError::GatewayUnavailable(why)
            }
        };
        let rows = kept;
        let Some(first) = rows.first() else {
            return Err(refused(format!(
                "no platform-owned gateway account in this merchant's pool can take this {} payment",
                request.mode
            )));
        };
        let mode: RoutingMode = Record::new(first, "routing_pools").parse("strategy")?;
        let members = rows
            .iter()
            .map(|row| member(row, request, &self.settings))
            .collect::<Result<Vec<_>, _>>()?;
        let candidates: Vec<Candidate> = members.iter().map(|m| m.candidate.clone()).collect();
        let position = if mode.rotates() {
            self.position(tx, request).await?
        } else {
            0
        };
        let mut rng = Rng::seeded(u64::from_le_bytes(crate::crypto::random::bytes::<8>()));
        let decision = engine::decide(
            mode,
            &candidates,
            Ask {
                amount: request.amount,
                position,
            },
            &mut rng,
            &self.settings.smart,
        );
        let mut skipped = Vec::new();
        for account in &decision.ranked {
            let Some(member) = members.iter().find(|m| m.candidate.account == *account) else {
                continue;
            };
            let Some(reservation) = self.reserve(tx, request, member, periods).await? else {
                skipped.push((*account, "cap_reached"));
                continue;
            };
            if member.candidate.admission == Admission::Probe
                && !self.claim_probe(tx, member, request.now).await?
            {
                if let Some(r) = reservation {
                    release_reservation(tx, request.merchant, *account, r).await?;
                }
                skipped.push((*account, "probe_taken"));
                continue;
            }
            return Ok(Route {
                account: *account,
                provider: member.provider.clone(),
                record: record(&decision, *account, &skipped, request.now, platform_only),
                reservation,
            });
        }
        Err(refused(format!(
            "no gateway account in this merchant's pool can take this payment now ({})",
            if request.tried.is_empty() {
                "every member is disabled, capped, out of range for the amount or cooling down"
            } else {
                "the others are disabled, capped, out of range or cooling down"
            }
        )))
    }
}

/// Gives back a reservation taken in this transaction (a probe slot lost after the cap was
/// reserved).
async fn release_reservation(
    tx: &Transaction<'_>,
    merchant: MerchantId,
    account: GatewayAccountId,
    reservation: Reservation,
) -> Result<(), AppError> {
    tx.execute_typed(
        "UPDATE routing_cap_usage SET reserved = greatest(reserved - $3, 0)
          WHERE merchant_id = $1 AND gateway_account_id = $2
            AND ((period = 'day' AND period_start = $4) OR (period = 'month' AND period_start = $5))",
        &[
            (&merchant.as_uuid(), Type::UUID),
            (&account.as_uuid(), Type::UUID),
            (&reservation.amount, Type::INT8),
            (&reservation.day, Type::DATE),
            (&reservation.month, Type::DATE),
        ],
    )
    .await?;
    Ok(())
}
