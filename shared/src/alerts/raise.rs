//! Raising and clearing conditions, in the producer's transaction, and the notification decision.

use super::{AlertKind, Condition};
use crate::db::Transaction;
use crate::db::record::Record;
use crate::ids::{AlertId, MerchantId};
use crate::notifications::{self, Audience, Notice, Severity};
use crate::{App, AppError};
use tokio_postgres::types::Type;
use uuid::Uuid;

/// Records that `condition` holds: a new open alert, or one more sighting of the open alert of
/// its key. People are told by severity (critical and warning; info never) unless they were told
/// about this alert within the cool-down or an operator acknowledged it. Answers the outbox ids of the notifications, for the
/// caller to publish after commit.
pub async fn raise(
    tx: &Transaction<'_>,
    app: &App,
    condition: &Condition,
) -> Result<Vec<Uuid>, AppError> {
    if !condition.details.is_object() {
        return Err(AppError::Internal(format!(
            "alert {}: details must be a JSON object",
            condition.key
        )));
    }
    let now = app.clock.now();
    let merchant = condition.merchant_id.map(|m| m.as_uuid());
    // One statement: the partial unique index on open keys makes concurrent raises of one key
    // meet here, and the loser updates the winner's row instead of failing or duplicating it.
    let row = tx
        .query_typed_one(
            "INSERT INTO alerts AS a (id, key, kind, severity, merchant_id, title, details,
                                      first_seen_at, last_seen_at, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $8, $8)
             ON CONFLICT (key) WHERE status IN ('open', 'acknowledged') DO UPDATE
                SET count = a.count + 1,
                    last_seen_at = greatest(a.last_seen_at, EXCLUDED.last_seen_at),
                    severity = EXCLUDED.severity,
                    title = EXCLUDED.title,
                    details = EXCLUDED.details,
                    updated_at = EXCLUDED.updated_at
             RETURNING id, count",
            &[
                (&AlertId::generate().as_uuid(), Type::UUID),
                (&condition.key, Type::TEXT),
                (&condition.kind.as_str(), Type::TEXT),
                (&condition.severity.as_str(), Type::TEXT),
                (&merchant, Type::UUID),
                (&condition.title, Type::TEXT),
                (&condition.details, Type::JSONB),
                (&now, Type::TIMESTAMPTZ),
            ],
        )
        .await?;
    let row = Record::new(&row, "alerts");
    let id = AlertId::from_uuid(row.get("id")?);
    let count: i32 = row.get("count")?;
    notify_if_due(tx, app, id, count, condition).await
}

/// Tells people about alert `id` unless it is informational, acknowledged, or was told within
/// the cool-down; answers the outbox ids. Only the platform's scopes can see the operators'
/// recipients, so an alert raised elsewhere (a checkout page's amount mismatch, in the public
/// scope) is left unnotified here and the `alert-monitor` tells people on its next run.
pub(crate) async fn notify_if_due(
    tx: &Transaction<'_>,
    app: &App,
    id: AlertId,
    count: i32,
    condition: &Condition,
) -> Result<Vec<Uuid>, AppError> {
    if condition.severity == Severity::Info {
        return Ok(Vec::new());
    }
    let platform: bool = Record::new(
        &tx.query_typed_one("SELECT app_is_platform() AS platform", &[])
            .await?,
        "alerts",
    )
    .get("platform")?;
    if !platform {
        return Ok(Vec::new());
    }
    let now = app.clock.now();
    // The cool-down is decided by the same row lock the upsert took: of two raises in one
    // cool-down, only the first finds the alert unnotified. An acknowledged alert has someone on
    // it: its repeats count but wake nobody. One that turned critical since people were told is
    // told again at once: the cool-down is for repeats, not for news.
    let since = now - app.config.alerts.notify_cool_down;
    let due = tx
        .query_typed_opt(
            "UPDATE alerts SET last_notified_at = $2, notifications = notifications + 1,
                    notified_severity = severity
              WHERE id = $1 AND status = 'open'
                AND (last_notified_at IS NULL OR last_notified_at <= $3
                     OR (severity = 'critical' AND notified_severity IS DISTINCT FROM 'critical'))
              RETURNING id",
            &[
                (&id.as_uuid(), Type::UUID),
                (&now, Type::TIMESTAMPTZ),
                (&since, Type::TIMESTAMPTZ),
            ],
        )
        .await?;
    if due.is_none() {
        return Ok(Vec::new());
    }
    let notice = notice(id, count, condition);
    let mut ids = notifications::notify(tx, app, Audience::Operators, &notice).await?;
    if let Some(merchant) = condition.merchant_id
        && condition.kind.concerns_merchant()
    {
        ids.extend(notifications::notify(tx, app, Audience::Merchant(merchant), &notice).await?);
    }
    Ok(ids)
}

/// Notifies the open alerts nobody has been told about yet (raised outside the platform's
/// scopes); the monitor runs it in the system scope.
pub(crate) async fn notify_unnotified(
    tx: &Transaction<'_>,
    app: &App,
) -> Result<Vec<Uuid>, AppError> {
    let rows = tx
        .query_typed(
            "SELECT id, key, kind, severity, merchant_id, title, details, count FROM alerts
              WHERE status = 'open' AND last_notified_at IS NULL AND severity <> 'info'
              ORDER BY id LIMIT 100",
            &[],
        )
        .await?;
    let mut ids = Vec::new();
    for row in &rows {
        let r = Record::new(row, "alerts");
        let condition = Condition {
            key: r.get("key")?,
            kind: r.parse("kind")?,
            severity: r.parse("severity")?,
            merchant_id: r
                .get::<Option<Uuid>>("merchant_id")?
                .map(MerchantId::from_uuid),
            title: r.get("title")?,
            details: r.get("details")?,
        };
        let id = AlertId::from_uuid(r.get("id")?);
        ids.extend(notify_if_due(tx, app, id, r.get("count")?, &condition).await?);
    }
    Ok(ids)
}

/// What people are told about alert `id`.
fn notice(id: AlertId, count: i32, condition: &Condition) -> Notice {
    let repeats = if count > 1 {
        format!(" (seen {count} times)")
    } else {
        String::new()
    };
    Notice {
        kind: format!("alert.{}", condition.kind),
        severity: condition.severity,
        title: condition.title.clone(),
        body: format!(
            "{}{repeats}\nAlert {id}, {} {}.",
            condition.title, condition.severity, condition.kind
        ),
    }
}

/// Resolves the open alert of `key` because its condition no longer holds (automatic
/// resolution: nobody resolved it). Answers whether there was one.
pub async fn clear(tx: &Transaction<'_>, app: &App, key: &str) -> Result<bool, AppError> {
    let now = app.clock.now();
    let cleared = tx
        .execute_typed(
            "UPDATE alerts SET status = 'resolved', resolved_at = $2, resolution = 'automatic',
                    updated_at = $2
              WHERE key = $1 AND status IN ('open', 'acknowledged')",
            &[(&key, Type::TEXT), (&now, Type::TIMESTAMPTZ)],
        )
        .await?;
    Ok(cleared > 0)
}

/// Keys of the open alerts of `kind` (the monitor clears those whose condition is gone).
pub(crate) async fn open_keys(
    tx: &Transaction<'_>,
    kind: AlertKind,
) -> Result<Vec<String>, AppError> {
    let rows = tx
        .query_typed(
            "SELECT key FROM alerts WHERE kind = $1 AND status IN ('open', 'acknowledged')",
            &[(&kind.as_str(), Type::TEXT)],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Record::new(r, "alerts")
                .get::<String>("key")
                .map_err(AppError::from)
        })
        .collect()
}
