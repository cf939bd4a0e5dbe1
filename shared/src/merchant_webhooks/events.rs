//! Events as merchants read them: the versioned envelope their endpoints receive and
//! `GET /api/v1/merchant/events` lists. An event is recorded once, from the domain event the bus
//! delivered, keeping the object as it was when it happened; it is never changed afterwards.

use crate::db::Transaction;
use crate::db::record::Record;
use crate::error::AppError;
use crate::http::pagination::{Page, PageRequest};
use crate::ids::{EventId, MerchantId};
use crate::jobs::bus::DomainEvent;
use crate::mode::Mode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_postgres::Row;
use tokio_postgres::types::Type;

/// The version of the envelope and of the objects inside it; a change that could break a
/// receiver comes with a new version.
pub const API_VERSION: &str = "2026-12-01";

/// The type of the event `POST /api/v1/merchant/webhooks/test` sends.
pub const TEST_EVENT: &str = "webhook.test";

/// Every event type merchants receive: the bus routes exactly these to the delivery worker
/// (`template.yaml` declares the same rule), and endpoints subscribe to a subset of them.
pub const EVENT_TYPES: &[&str] = &[
    "transaction.created",
    "transaction.pending",
    "transaction.succeeded",
    "transaction.late_capture",
    "transaction.failed",
    "transaction.expired",
    "transaction.retried",
    "transaction.second_capture",
    "transaction.amount_mismatch",
    "refund.created",
    "refund.succeeded",
    "refund.failed",
];

/// A payment as it was when the event happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TransactionSnapshot {
    /// `txn_…`
    #[schema(value_type = String, example = "txn_0192f1c1a1b27c3d8e9f0a1b2c3d4e5f")]
    pub id: String,
    /// The merchant's reference.
    pub order_id: String,
    /// Where it stood.
    #[schema(example = "succeeded")]
    pub status: String,
    /// Paise.
    pub amount: i64,
    /// ISO code.
    #[schema(example = "INR")]
    pub currency: String,
    /// Test or live.
    pub mode: Mode,
    /// Why it failed (failed payments).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    /// Present and `true` when the money was captured after the payment's expiry (a late
    /// payment): it succeeded all the same; fulfil the order or refund it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub confirmed_after_expiry: bool,
}

/// A refund as it was when the event happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RefundSnapshot {
    /// `rfd_…`
    #[schema(value_type = String)]
    pub id: String,
    /// The refunded payment, `txn_…`.
    #[schema(value_type = String)]
    pub transaction_id: String,
    /// Paise.
    pub amount: i64,
    /// ISO code.
    pub currency: String,
    /// Where it stood.
    pub status: String,
    /// Test or live.
    pub mode: Mode,
    /// Why it failed (failed refunds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
}

/// The gateway's report behind `transaction.amount_mismatch` and `transaction.second_capture`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AttemptSnapshot {
    /// `att_…`
    #[schema(value_type = String)]
    pub id: String,
    /// The gateway's payment id.
    pub gateway_payment_id: Option<String>,
    /// What the gateway said it captured, in minor units.
    pub reported_amount: Option<i64>,
    /// The currency it reported.
    pub reported_currency: Option<String>,
}

/// What an event is about: `transaction` for `transaction.*`, `refund` for `refund.*`, and the
/// gateway's `attempt` report where the event is about one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventData {
    /// The payment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction: Option<TransactionSnapshot>,
    /// The refund.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund: Option<RefundSnapshot>,
    /// The gateway's report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<AttemptSnapshot>,
    /// For `webhook.test`: says so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// One event: the body of every delivery, and an item of `GET /api/v1/merchant/events`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct EventView {
    /// `evt_…`, also the delivery's `webhook-id`: the same on every attempt and replay.
    pub id: EventId,
    /// `transaction.succeeded`, `refund.created`, …
    #[serde(rename = "type")]
    #[schema(example = "transaction.succeeded")]
    pub event_type: String,
    /// The version of this envelope and its objects.
    #[schema(example = "2026-12-01")]
    pub api_version: &'static str,
    /// When it happened.
    pub created_at: DateTime<Utc>,
    /// Test or live.
    pub mode: Mode,
    /// The object(s) as they were when it happened.
    pub data: EventData,
}

impl EventView {
    /// The exact bytes sent to endpoints (the same on every attempt, so a signature over them
    /// is stable).
    pub fn body(&self) -> Result<Vec<u8>, AppError> {
        serde_json::to_vec(self).map_err(|e| AppError::Internal(format!("event body: {e}")))
    }
}

/// A domain event read as a merchant event: its merchant, mode, id and data. `None` for a
/// domain event merchants do not receive.
pub fn from_domain(event: &DomainEvent) -> Result<Option<(MerchantId, EventView)>, AppError> {
    if !EVENT_TYPES.contains(&event.detail_type.as_str()) {
        return Ok(None);
    }
    let bad = |what: &str| AppError::Internal(format!("event {}: {what}", event.id));
    let id: EventId = event.id.parse().map_err(|_| bad("id is not an evt_ id"))?;
    let merchant: MerchantId = event
        .detail
        .get("merchant_id")
        .and_then(Value::as_str)
        .and_then(|m| m.parse().ok())
        .ok_or_else(|| bad("no merchant_id"))?;
    let mut detail = event.detail.clone();
    if let Some(object) = detail.as_object_mut() {
        object.remove("merchant_id");
    }
    let data: EventData =
        serde_json::from_value(detail).map_err(|e| bad(&format!("unreadable detail: {e}")))?;
    let mode = data
        .transaction
        .as_ref()
        .map(|t| t.mode)
        .or_else(|| data.refund.as_ref().map(|r| r.mode))
        .ok_or_else(|| bad("neither a transaction nor a refund"))?;
    Ok(Some((
        merchant,
        EventView {
            id,
            event_type: event.detail_type.clone(),
            api_version: API_VERSION,
            created_at: event.time,
            mode,
            data,
        },
    )))
}

/// Stores `event` for `merchant` unless it is already stored (the bus delivers at least once).
pub async fn record(
    tx: &Transaction<'_>,
    merchant: MerchantId,
    event: &EventView,
) -> Result<(), AppError> {
    let data = serde_json::to_value(&event.data)
        .map_err(|e| AppError::Internal(format!("event data: {e}")))?;
    tx.execute_typed(
        "INSERT INTO merchant_events (id, merchant_id, mode, type, created_at, data)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
        &[
            (&event.id.as_uuid(), Type::UUID),
            (&merchant.as_uuid(), Type::UUID),
            (&event.mode.as_str(), Type::TEXT),
            (&event.event_type, Type::TEXT),
            (&event.created_at, Type::TIMESTAMPTZ),
            (&data, Type::JSONB),
        ],
    )
    .await?;
    Ok(())
}

const COLUMNS: &str = "id, mode, type, created_at, data";

/// Reads an event row selected with the module's columns.
fn from_row(row: &Row) -> Result<EventView, AppError> {
    from_columns(row, "")
}

/// Reads an event from a row holding its columns under `prefix` (`event_id`, … in a join).
pub(crate) fn from_columns(row: &Row, prefix: &str) -> Result<EventView, AppError> {
    let row = Record::new(row, "merchant_events");
    let column = |name: &str| format!("{prefix}{name}");
    let data: Value = row.get(&column("data"))?;
    Ok(EventView {
        id: EventId::from_uuid(row.get(&column("id"))?),
        event_type: row.get(&column("type"))?,
        api_version: API_VERSION,
        created_at: row.get(&column("created_at"))?,
        mode: row.parse(&column("mode"))?,
        data: serde_json::from_value(data)
            .map_err(|e| AppError::Internal(format!("stored event data: {e}")))?,
    })
}

/// One event, if visible in the transaction's scope.
pub async fn get(tx: &Transaction<'_>, id: EventId) -> Result<Option<EventView>, AppError> {
    tx.query_typed_opt(
        &format!("SELECT {COLUMNS} FROM merchant_events WHERE id = $1"),
        &[(&id.as_uuid(), Type::UUID)],
    )
    .await?
    .as_ref()
    .map(from_row)
    .transpose()
}

/// The scope's events, newest first, optionally of one type.
pub async fn page(
    tx: &Transaction<'_>,
    event_type: Option<&str>,
    request: &PageRequest<EventId>,
) -> Result<Page<EventView>, AppError> {
    let after = request.starting_after.map(|id| id.as_uuid());
    let rows = tx
        .query_typed(
            &format!(
                "SELECT {COLUMNS} FROM merchant_events
                 WHERE ($1::uuid IS NULL OR id < $1) AND ($2::text IS NULL OR type = $2)
                 ORDER BY id DESC LIMIT $3"
            ),
            &[
                (&after, Type::UUID),
                (&event_type, Type::TEXT),
                (&request.fetch_limit(), Type::INT8),
            ],
        )
        .await?;
    let items = rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_rows(items, request.limit))
}
