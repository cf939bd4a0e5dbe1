//! The `sla-monitor` schedule (every five minutes): payments pending past their SLA and merchant
//! webhook deliveries overdue, each raised as an alert and resolved once it settles.
//!
//! - A payment is pending while the customer can still pay or its order is still being made
//!   (`created` or `pending`), expired or not: one left open past its expiry is the transaction
//!   monitor's to close, and still late. It breaches its SLA once it was created
//!   `PAYMENT_SLA_SECONDS` before the run's scheduled time. Alert `payment_sla:<transaction>` (the
//!   merchant named), warning in live mode and informational in test mode (on record, nobody
//!   woken: test payments are often left unpaid on purpose); resolved once the payment succeeded,
//!   failed or expired.
//! - A delivery is overdue while it is pending and either its next attempt is
//!   `WEBHOOK_OVERDUE_SECONDS` past (the retry schedule is not taking it) or it was created
//!   `WEBHOOK_UNDELIVERED_SECONDS` ago (its endpoint keeps failing). One alert per endpoint,
//!   `webhook_overdue:<endpoint>`, counting its overdue deliveries; resolved once none is left
//!   (delivered, or given up).
//!
//! The work is bounded: at most `MONITOR_ALERTS_PER_RUN` payments and as many endpoints get an
//! alert of their own, the oldest first (so the same ones keep theirs until they settle); past
//! that, one aggregate alert (`payment_sla:backlog`, `webhook_overdue:backlog`, critical) counts
//! the rest and names the merchants with most, and resolves once the count is back under the
//! limit. An outage leaving thousands pending raises tens of alerts, not thousands.
//!
//! A late run (scheduled more than five minutes ago) does nothing and says so
//! (`{"skipped": "late"}`): what is pending is the present state, which a run for a past time
//! would judge against an old cut-off and resolve alerts of payments still late. The next run,
//! at most five minutes later, judges.

use crate::alerts::{AlertKind, Condition, clear, open_keys, raise};
use crate::app::App;
use crate::db::record::Record;
use crate::db::{self, Scope, Transaction};
use crate::error::AppError;
use crate::ids::{MerchantId, TransactionId, WebhookEndpointId};
use crate::notifications::Severity;
use crate::schedules::Tick;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeSet;
use std::time::Duration;
use tokio_postgres::types::Type;
use uuid::Uuid;

/// How often the monitor runs (its registry entry's `rate(5 minutes)`; a test holds the two
/// together).
pub const PERIOD: Duration = Duration::from_secs(5 * 60);

/// The aggregate alert about breached payments beyond the per-run limit.
pub const PAYMENT_BACKLOG_KEY: &str = "payment_sla:backlog";

/// The aggregate alert about endpoints with overdue deliveries beyond the per-run limit.
pub const WEBHOOK_BACKLOG_KEY: &str = "webhook_overdue:backlog";

/// Merchants named in an aggregate alert.
const TOP_MERCHANTS: i64 = 10;

/// The key of the alert about payment `id` pending past its SLA.
pub fn payment_key(id: TransactionId) -> String {
    format!("payment_sla:{id}")
}

/// The key of the alert about endpoint `id`'s overdue deliveries.
pub fn endpoint_key(id: WebhookEndpointId) -> String {
    format!("webhook_overdue:{id}")
}

/// What one run found and did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SlaRun {
    /// The time judged against.
    pub scheduled_at: Option<DateTime<Utc>>,
    /// Payments pending past their SLA.
    pub payments_breached: i64,
    /// Endpoints with overdue deliveries.
    pub endpoints_overdue: i64,
    /// Alerts raised (new, or one more sighting), aggregates included.
    pub raised: usize,
    /// Alerts resolved because their payment or endpoint settled.
    pub cleared: usize,
}

/// Judges payments and deliveries at `tick` (the caller has checked that it is not late).
pub async fn check(app: &App, tick: Tick) -> Result<SlaRun, AppError> {
    let at = tick.scheduled_at;
    let limits = &app.config.monitors;
    let limit = i64::from(limits.alerts_per_run);
    let mut run = SlaRun {
        scheduled_at: Some(at),
        ..SlaRun::default()
    };
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::System).await?;
    let mut ids = Vec::new();
    let cutoff = at - to_chrono(limits.payment_sla);
    payments(&tx, app, at, cutoff, limit, &mut run, &mut ids).await?;
    let due_cutoff = at - to_chrono(limits.webhook_overdue_after);
    let created_cutoff = at - to_chrono(limits.webhook_undelivered_after);
    deliveries(
        &tx,
        app,
        at,
        (due_cutoff, created_cutoff),
        limit,
        &mut run,
        &mut ids,
    )
    .await?;
    tx.commit().await?;
    app.publish(&ids).await;
    Ok(run)
}

fn to_chrono(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// Raises `condition`, counting it.
async fn hold(
    tx: &Transaction<'_>,
    app: &App,
    condition: &Condition,
    run: &mut SlaRun,
    ids: &mut Vec<Uuid>,
) -> Result<(), AppError> {
    ids.extend(raise(tx, app, condition).await?);
    run.raised += 1;
    Ok(())
}

/// Clears each key, counting those that were open.
async fn clear_all(
    tx: &Transaction<'_>,
    app: &App,
    keys: impl IntoIterator<Item = String>,
    run: &mut SlaRun,
) -> Result<(), AppError> {
    for key in keys {
        if clear(tx, app, &key).await? {
            run.cleared += 1;
        }
    }
    Ok(())
}

/// The open alerts of `kind` whose key is `prefix` and an id (not the aggregate), by that id.
async fn open_subjects(
    tx: &Transaction<'_>,
    kind: AlertKind,
    prefix: &str,
    parse: fn(&str) -> Option<Uuid>,
) -> Result<Vec<(String, Uuid)>, AppError> {
    Ok(open_keys(tx, kind)
        .await?
        .into_iter()
        .filter_map(|key| {
            let id = parse(key.strip_prefix(prefix)?)?;
            Some((key, id))
        })
        .collect())
}

async fn payments(
    tx: &Transaction<'_>,
    app: &App,
    at: DateTime<Utc>,
    cutoff: DateTime<Utc>,
    limit: i64,
    run: &mut SlaRun,
    ids: &mut Vec<Uuid>,
) -> Result<(), AppError> {
    let sla = app.config.monitors.payment_sla.as_secs();
    let rows = tx
        .query_typed(
            "SELECT id, merchant_id, mode, status, amount, currency, created_at, expires_at,
                    count(*) OVER () AS total
               FROM transactions
              WHERE status IN ('created', 'pending') AND created_at <= $1
              ORDER BY created_at, id LIMIT $2",
            &[(&cutoff, Type::TIMESTAMPTZ), (&limit.max(1), Type::INT8)],
        )
        .await?;
    let mut total = 0;
    for (n, row) in rows.iter().enumerate() {
        let r = Record::new(row, "transactions");
        total = r.get::<i64>("total")?;
        if n as i64 >= limit {
            break;
        }
        let id = TransactionId::from_uuid(r.get("id")?);
        let merchant = MerchantId::from_uuid(r.get("merchant_id")?);
        let mode: String = r.get("mode")?;
        let created_at: DateTime<Utc> = r.get("created_at")?;
        let pending_seconds = (at - created_at).num_seconds();
        hold(
            tx,
            app,
            &Condition {
                key: payment_key(id),
                kind: AlertKind::PaymentSlaBreached,
                severity: if mode == "live" {
                    Severity::Warning
                } else {
                    Severity::Info
                },
                merchant_id: Some(merchant),
                title: format!(
                    "Payment {id} has been pending {} min (SLA {} min)",
                    pending_seconds / 60,
                    sla / 60
                ),
                details: json!({
                    "transaction_id": id,
                    "merchant_id": merchant,
                    "mode": mode,
                    "status": r.get::<String>("status")?,
                    "amount": r.get::<i64>("amount")?,
                    "currency": r.get::<String>("currency")?,
                    "created_at": created_at,
                    "expires_at": r.get::<DateTime<Utc>>("expires_at")?,
                    "pending_seconds": pending_seconds,
                    "sla_seconds": sla,
                }),
            },
            run,
            ids,
        )
        .await?;
    }
    run.payments_breached = total;

    // Resolve the alerts of payments no longer breaching (settled), checked by their own ids:
    // those beyond this run's limit keep theirs.
    let open = open_subjects(tx, AlertKind::PaymentSlaBreached, "payment_sla:", |id| {
        id.parse::<TransactionId>().ok().map(|id| id.as_uuid())
    })
    .await?;
    let subjects: Vec<Uuid> = open.iter().map(|(_, id)| *id).collect();
    let still: BTreeSet<Uuid> = tx
        .query_typed(
            "SELECT id FROM transactions
              WHERE id = ANY($1) AND status IN ('created', 'pending') AND created_at <= $2",
            &[(&subjects, Type::UUID_ARRAY), (&cutoff, Type::TIMESTAMPTZ)],
        )
        .await?
        .iter()
        .map(|row| Record::new(row, "transactions").get::<Uuid>("id"))
        .collect::<Result<_, _>>()?;
    let settled = open
        .into_iter()
        .filter(|(_, id)| !still.contains(id))
        .map(|(key, _)| key);
    clear_all(tx, app, settled, run).await?;

    if total > limit {
        let top = tx
            .query_typed(
                "SELECT merchant_id, count(*) AS breached FROM transactions
                  WHERE status IN ('created', 'pending') AND created_at <= $1
                  GROUP BY merchant_id ORDER BY count(*) DESC, merchant_id LIMIT $2",
                &[(&cutoff, Type::TIMESTAMPTZ), (&TOP_MERCHANTS, Type::INT8)],
            )
            .await?
            .iter()
            .map(|row| {
                let r = Record::new(row, "transactions");
                Ok(json!({
                    "merchant_id": MerchantId::from_uuid(r.get("merchant_id")?),
                    "breached": r.get::<i64>("breached")?,
                }))
            })
            .collect::<Result<Vec<_>, AppError>>()?;
        hold(
            tx,
            app,
            &Condition {
                key: PAYMENT_BACKLOG_KEY.into(),
                kind: AlertKind::PaymentSlaBreached,
                severity: Severity::Critical,
                merchant_id: None,
                title: format!(
                    "{total} payments pending past their SLA ({} min); the oldest {limit} have alerts of their own",
                    sla / 60
                ),
                details: json!({ "breached": total, "alerted": limit, "sla_seconds": sla, "merchants": top }),
            },
            run,
            ids,
        )
        .await?;
    } else {
        clear_all(tx, app, [PAYMENT_BACKLOG_KEY.to_string()], run).await?;
    }
    Ok(())
}

async fn deliveries(
    tx: &Transaction<'_>,
    app: &App,
    at: DateTime<Utc>,
    (due_cutoff, created_cutoff): (DateTime<Utc>, DateTime<Utc>),
    limit: i64,
    run: &mut SlaRun,
    ids: &mut Vec<Uuid>,
) -> Result<(), AppError> {
    let limits = &app.config.monitors;
    let thresholds = json!({
        "overdue_after_seconds": limits.webhook_overdue_after.as_secs(),
        "undelivered_after_seconds": limits.webhook_undelivered_after.as_secs(),
    });
    const OVERDUE: &str =
        "d.status = 'pending' AND (d.next_attempt_at <= $1 OR d.created_at <= $2)";
    let rows = tx
        .query_typed(
            &format!(
                "SELECT d.endpoint_id, d.merchant_id, e.mode, count(*) AS overdue,
                        min(d.created_at) AS oldest_created_at, min(d.next_attempt_at) AS oldest_next_attempt_at,
                        max(d.attempts) AS most_attempts, count(*) OVER () AS endpoints
                   FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
                  WHERE {OVERDUE}
                  GROUP BY d.endpoint_id, d.merchant_id, e.mode
                  ORDER BY min(d.created_at), d.endpoint_id LIMIT $3"
            ),
            &[
                (&due_cutoff, Type::TIMESTAMPTZ),
                (&created_cutoff, Type::TIMESTAMPTZ),
                (&limit.max(1), Type::INT8),
            ],
        )
        .await?;
    let mut total = 0;
    for (n, row) in rows.iter().enumerate() {
        let r = Record::new(row, "webhook_deliveries");
        total = r.get::<i64>("endpoints")?;
        if n as i64 >= limit {
            break;
        }
        let endpoint = WebhookEndpointId::from_uuid(r.get("endpoint_id")?);
        let merchant = MerchantId::from_uuid(r.get("merchant_id")?);
        let mode: String = r.get("mode")?;
        let overdue: i64 = r.get("overdue")?;
        let oldest: DateTime<Utc> = r.get("oldest_created_at")?;
        let mut details = json!({
            "endpoint_id": endpoint,
            "merchant_id": merchant,
            "mode": mode,
            "overdue_deliveries": overdue,
            "oldest_created_at": oldest,
            "oldest_next_attempt_at": r.get::<DateTime<Utc>>("oldest_next_attempt_at")?,
            "most_attempts": r.get::<i32>("most_attempts")?,
            "undelivered_seconds": (at - oldest).num_seconds(),
        });
        if let (Some(d), Some(t)) = (details.as_object_mut(), thresholds.as_object()) {
            d.extend(t.clone());
        }
        hold(
            tx,
            app,
            &Condition {
                key: endpoint_key(endpoint),
                kind: AlertKind::WebhookDeliveryOverdue,
                severity: if mode == "live" {
                    Severity::Warning
                } else {
                    Severity::Info
                },
                merchant_id: Some(merchant),
                title: format!(
                    "{overdue} webhook deliveries to endpoint {endpoint} are overdue (oldest {} min)",
                    (at - oldest).num_minutes()
                ),
                details,
            },
            run,
            ids,
        )
        .await?;
    }
    run.endpoints_overdue = total;

    let open = open_subjects(
        tx,
        AlertKind::WebhookDeliveryOverdue,
        "webhook_overdue:",
        |id| id.parse::<WebhookEndpointId>().ok().map(|id| id.as_uuid()),
    )
    .await?;
    let subjects: Vec<Uuid> = open.iter().map(|(_, id)| *id).collect();
    let still: BTreeSet<Uuid> = tx
        .query_typed(
            &format!(
                "SELECT DISTINCT d.endpoint_id FROM webhook_deliveries d
                  WHERE d.endpoint_id = ANY($3) AND {OVERDUE}"
            ),
            &[
                (&due_cutoff, Type::TIMESTAMPTZ),
                (&created_cutoff, Type::TIMESTAMPTZ),
                (&subjects, Type::UUID_ARRAY),
            ],
        )
        .await?
        .iter()
        .map(|row| Record::new(row, "webhook_deliveries").get::<Uuid>("endpoint_id"))
        .collect::<Result<_, _>>()?;
    let settled = open
        .into_iter()
        .filter(|(_, id)| !still.contains(id))
        .map(|(key, _)| key);
    clear_all(tx, app, settled, run).await?;

    if total > limit {
        let mut details = json!({ "endpoints": total, "alerted": limit });
        if let (Some(d), Some(t)) = (details.as_object_mut(), thresholds.as_object()) {
            d.extend(t.clone());
        }
        hold(
            tx,
            app,
            &Condition {
                key: WEBHOOK_BACKLOG_KEY.into(),
                kind: AlertKind::WebhookDeliveryOverdue,
                severity: Severity::Critical,
                merchant_id: None,
                title: format!(
                    "{total} webhook endpoints have overdue deliveries; the oldest {limit} have alerts of their own"
                ),
                details,
            },
            run,
            ids,
        )
        .await?;
    } else {
        clear_all(tx, app, [WEBHOOK_BACKLOG_KEY.to_string()], run).await?;
    }
    Ok(())
}
