//! What operators do with alerts: list and read them, acknowledge one (it stays the open alert of
//! its key, so repeats still count on it) and resolve one. Both changes are audited.

use super::{AlertKind, AlertStatus, AlertView, COLUMNS, view};
use crate::audit::{self, AuditContext, AuditEvent};
use crate::db::Transaction;
use crate::http::pagination::{Page, PageRequest};
use crate::ids::{AlertId, MerchantId, UserId};
use crate::notifications::Severity;
use crate::{App, AppError};
use tokio_postgres::types::Type;

/// Which alerts to list; every filter optional.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only alerts in this state.
    pub status: Option<AlertStatus>,
    /// Only alerts of this severity.
    pub severity: Option<Severity>,
    /// Only alerts of this kind.
    pub kind: Option<AlertKind>,
    /// Only alerts about this merchant.
    pub merchant_id: Option<MerchantId>,
}

/// Alerts, newest first.
pub async fn list(
    tx: &Transaction<'_>,
    filter: &ListFilter,
    page: &PageRequest<AlertId>,
) -> Result<Page<AlertView>, AppError> {
    let rows = tx
        .query_typed(
            &format!(
                "SELECT {COLUMNS} FROM alerts
                  WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR severity = $2)
                    AND ($3::text IS NULL OR kind = $3) AND ($4::uuid IS NULL OR merchant_id = $4)
                    AND ($5::uuid IS NULL OR id < $5)
                  ORDER BY id DESC LIMIT $6"
            ),
            &[
                (&filter.status.map(AlertStatus::as_str), Type::TEXT),
                (&filter.severity.map(Severity::as_str), Type::TEXT),
                (&filter.kind.map(AlertKind::as_str), Type::TEXT),
                (&filter.merchant_id.map(|m| m.as_uuid()), Type::UUID),
                (&page.starting_after.map(|id| id.as_uuid()), Type::UUID),
                (&page.fetch_limit(), Type::INT8),
            ],
        )
        .await?;
    Ok(Page::from_rows(
        rows.iter().map(view).collect::<Result<_, _>>()?,
        page.limit,
    ))
}

/// One alert.
pub async fn get(tx: &Transaction<'_>, id: AlertId) -> Result<Option<AlertView>, AppError> {
    let row = tx
        .query_typed_opt(
            &format!("SELECT {COLUMNS} FROM alerts WHERE id = $1"),
            &[(&id.as_uuid(), Type::UUID)],
        )
        .await?;
    Ok(row.as_ref().map(view).transpose()?)
}

/// The alert locked for a change, or 404.
async fn lock(tx: &Transaction<'_>, id: AlertId) -> Result<AlertView, AppError> {
    let row = tx
        .query_typed_opt(
            &format!("SELECT {COLUMNS} FROM alerts WHERE id = $1 FOR UPDATE"),
            &[(&id.as_uuid(), Type::UUID)],
        )
        .await?
        .ok_or(AppError::NotFound("alert"))?;
    Ok(view(&row)?)
}

fn snapshot(alert: &AlertView) -> serde_json::Value {
    serde_json::to_value(alert).unwrap_or_default()
}

/// An operator takes an open alert on: it stays the open alert of its key (repeats still count
/// on it) but nobody is notified about it again. An alert already acknowledged or resolved is a
/// conflict.
pub async fn acknowledge(
    tx: &Transaction<'_>,
    app: &App,
    ctx: &AuditContext,
    operator: UserId,
    id: AlertId,
) -> Result<AlertView, AppError> {
    let before = lock(tx, id).await?;
    match before.status {
        AlertStatus::Open => {}
        AlertStatus::Acknowledged => {
            return Err(AppError::Conflict(
                "the alert is already acknowledged".into(),
            ));
        }
        AlertStatus::Resolved => {
            return Err(AppError::Conflict("the alert is resolved".into()));
        }
    }
    let now = app.clock.now();
    let row = tx
        .query_typed_one(
            &format!(
                "UPDATE alerts SET status = 'acknowledged', acknowledged_at = $2, acknowledged_by = $3,
                        updated_at = $2
                  WHERE id = $1 RETURNING {COLUMNS}"
            ),
            &[
                (&id.as_uuid(), Type::UUID),
                (&now, Type::TIMESTAMPTZ),
                (&operator.as_uuid(), Type::UUID),
            ],
        )
        .await?;
    let after = view(&row)?;
    audit::record(
        tx,
        ctx,
        AuditEvent::success("alert.acknowledged")
            .merchant(after.merchant_id)
            .target("alert", id)
            .change(Some(snapshot(&before)), Some(snapshot(&after))),
    )
    .await?;
    Ok(after)
}

/// An operator closes an open or acknowledged alert; if its condition still holds, the next
/// sighting opens a new alert. Resolving a resolved alert is a conflict.
pub async fn resolve(
    tx: &Transaction<'_>,
    app: &App,
    ctx: &AuditContext,
    operator: UserId,
    id: AlertId,
) -> Result<AlertView, AppError> {
    let before = lock(tx, id).await?;
    if before.status == AlertStatus::Resolved {
        return Err(AppError::Conflict("the alert is already resolved".into()));
    }
    close(tx, app, ctx, operator, before).await
}

/// An operator closes the open or acknowledged alert of `key` as part of settling what it is
/// about (a suspense resolved), audited as [`resolve`]; `None` when no alert of `key` is open.
pub async fn resolve_key(
    tx: &Transaction<'_>,
    app: &App,
    ctx: &AuditContext,
    operator: UserId,
    key: &str,
) -> Result<Option<AlertView>, AppError> {
    let row = tx
        .query_typed_opt(
            &format!(
                "SELECT {COLUMNS} FROM alerts WHERE key = $1 AND status IN ('open', 'acknowledged')
                    FOR UPDATE"
            ),
            &[(&key, Type::TEXT)],
        )
        .await?;
    match row {
        Some(row) => Ok(Some(close(tx, app, ctx, operator, view(&row)?).await?)),
        None => Ok(None),
    }
}

/// Resolves the locked, unresolved alert `before` as the operator's doing, audited.
async fn close(
    tx: &Transaction<'_>,
    app: &App,
    ctx: &AuditContext,
    operator: UserId,
    before: AlertView,
) -> Result<AlertView, AppError> {
    let id = before.id;
    let now = app.clock.now();
    let row = tx
        .query_typed_one(
            &format!(
                "UPDATE alerts SET status = 'resolved', resolved_at = $2, resolved_by = $3,
                        resolution = 'operator', updated_at = $2
                  WHERE id = $1 RETURNING {COLUMNS}"
            ),
            &[
                (&id.as_uuid(), Type::UUID),
                (&now, Type::TIMESTAMPTZ),
                (&operator.as_uuid(), Type::UUID),
            ],
        )
        .await?;
    let after = view(&row)?;
    audit::record(
        tx,
        ctx,
        AuditEvent::success("alert.resolved")
            .merchant(after.merchant_id)
            .target("alert", id)
            .change(Some(snapshot(&before)), Some(snapshot(&after))),
    )
    .await?;
    Ok(after)
}
