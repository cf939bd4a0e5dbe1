//! Alerts: conditions operators must hear about, one open alert per condition key. A repeat of
//! an open condition only counts; when the condition clears, its alert resolves itself and the
//! next occurrence opens a new one. People are told through [`crate::notifications::notify`] by
//! severity, at most once per cool-down per alert.
//!
//! - [`raise`] and [`clear`]: what producers call, inside their own transaction.
//! - [`monitor`]: the `alert-monitor` schedule's conditions (breakers, queues, dead letters).
//! - [`operators`]: the operators' list, acknowledgement and resolution.

pub mod monitor;
pub mod operators;
mod raise;

pub(crate) use raise::open_keys;
pub use raise::{clear, raise};

use crate::db::record::{DecodeError, Record};
use crate::ids::{AlertId, MerchantId, UserId};
use crate::notifications::Severity;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What kind of condition an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// A gateway account's circuit breaker is open (payments avoid it).
    GatewayBreakerOpen,
    /// A queue holds more messages than its threshold.
    QueueBacklog,
    /// A queue's oldest message has waited longer than its threshold.
    QueueAge,
    /// A dead-letter queue holds messages.
    DeadLetters,
    /// A gateway reported a success whose amount or currency is not the payment's.
    AmountMismatch,
    /// A merchant's webhook endpoint was disabled.
    WebhookEndpointDisabled,
    /// A merchant's prepaid wallet is below its alert threshold (critical below suspension).
    WalletBalanceLow,
    /// A payment has been pending longer than its SLA.
    PaymentSlaBreached,
    /// A merchant webhook delivery is overdue (its next attempt long past, or undelivered too long).
    WebhookDeliveryOverdue,
    /// A worker has done nothing for too long while work waits on its queue.
    WorkerSilent,
    /// A worker's error rate is over its limit.
    WorkerFailing,
    /// A scheduled job's run failed.
    ScheduleFailed,
}

impl AlertKind {
    /// Every kind, in declaration order.
    pub const ALL: [AlertKind; 12] = [
        AlertKind::GatewayBreakerOpen,
        AlertKind::QueueBacklog,
        AlertKind::QueueAge,
        AlertKind::DeadLetters,
        AlertKind::AmountMismatch,
        AlertKind::WebhookEndpointDisabled,
        AlertKind::WalletBalanceLow,
        AlertKind::PaymentSlaBreached,
        AlertKind::WebhookDeliveryOverdue,
        AlertKind::WorkerSilent,
        AlertKind::WorkerFailing,
        AlertKind::ScheduleFailed,
    ];

    /// The stored and wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::GatewayBreakerOpen => "gateway_breaker_open",
            AlertKind::QueueBacklog => "queue_backlog",
            AlertKind::QueueAge => "queue_age",
            AlertKind::DeadLetters => "dead_letters",
            AlertKind::AmountMismatch => "amount_mismatch",
            AlertKind::WebhookEndpointDisabled => "webhook_endpoint_disabled",
            AlertKind::WalletBalanceLow => "wallet_balance_low",
            AlertKind::PaymentSlaBreached => "payment_sla_breached",
            AlertKind::WebhookDeliveryOverdue => "webhook_delivery_overdue",
            AlertKind::WorkerSilent => "worker_silent",
            AlertKind::WorkerFailing => "worker_failing",
            AlertKind::ScheduleFailed => "schedule_failed",
        }
    }

    /// Whether the merchant the alert names hears about it too (their own endpoint was
    /// disabled, their wallet runs low); the others are the platform's business.
    pub fn concerns_merchant(self) -> bool {
        matches!(
            self,
            AlertKind::WebhookEndpointDisabled | AlertKind::WalletBalanceLow
        )
    }
}

impl std::fmt::Display for AlertKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for AlertKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AlertKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                let known: Vec<&str> = AlertKind::ALL.iter().map(|k| k.as_str()).collect();
                format!("unknown kind {s:?} (one of {})", known.join(", "))
            })
    }
}

/// Where an alert stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    /// Nobody has looked at it yet.
    Open,
    /// An operator is on it; repeats still count on it.
    Acknowledged,
    /// The condition cleared, or an operator closed it.
    Resolved,
}

impl AlertStatus {
    /// The stored and wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Open => "open",
            AlertStatus::Acknowledged => "acknowledged",
            AlertStatus::Resolved => "resolved",
        }
    }
}

impl std::str::FromStr for AlertStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "open" => Ok(AlertStatus::Open),
            "acknowledged" => Ok(AlertStatus::Acknowledged),
            "resolved" => Ok(AlertStatus::Resolved),
            other => Err(format!(
                "unknown status {other:?} (open, acknowledged or resolved)"
            )),
        }
    }
}

/// How a resolved alert was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    /// The condition cleared on its own.
    Automatic,
    /// An operator closed it.
    Operator,
}

impl std::str::FromStr for Resolution {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "automatic" => Ok(Resolution::Automatic),
            "operator" => Ok(Resolution::Operator),
            other => Err(format!("unknown resolution {other:?}")),
        }
    }
}

/// A condition that holds now, as its producer sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// Stable identity of the condition (`gateway_breaker:{account}`, `queue_age:{queue}`, …):
    /// one open alert per key.
    pub key: String,
    /// What it is about.
    pub kind: AlertKind,
    /// How urgent it is; decides who is told and when.
    pub severity: Severity,
    /// The merchant it concerns, if any.
    pub merchant_id: Option<MerchantId>,
    /// One line for people.
    pub title: String,
    /// What the producer measured (a JSON object), replaced on every repeat.
    pub details: serde_json::Value,
}

/// An alert as operators see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AlertView {
    /// The alert.
    pub id: AlertId,
    /// The condition's key.
    pub key: String,
    /// What it is about.
    pub kind: AlertKind,
    /// How urgent it is.
    #[schema(value_type = String, pattern = "^(info|warning|critical)$")]
    pub severity: Severity,
    /// Where it stands.
    pub status: AlertStatus,
    /// The merchant it concerns, if any.
    pub merchant_id: Option<MerchantId>,
    /// One line.
    pub title: String,
    /// What was measured the last time it was seen.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    /// How many times the condition was seen while this alert was open.
    pub count: i32,
    /// First seen.
    pub first_seen_at: DateTime<Utc>,
    /// Last seen.
    pub last_seen_at: DateTime<Utc>,
    /// When an operator acknowledged it.
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// Who acknowledged it.
    pub acknowledged_by: Option<UserId>,
    /// When it was resolved.
    pub resolved_at: Option<DateTime<Utc>>,
    /// Who resolved it; none when the condition cleared on its own.
    pub resolved_by: Option<UserId>,
    /// How it was resolved.
    pub resolution: Option<Resolution>,
    /// When people were last told about it.
    pub last_notified_at: Option<DateTime<Utc>>,
    /// How many times people were told about it.
    pub notifications: i32,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// The columns [`view`] reads.
pub(crate) const COLUMNS: &str = "id, key, kind, severity, status, merchant_id, title, details, count, \
     first_seen_at, last_seen_at, acknowledged_at, acknowledged_by, resolved_at, resolved_by, \
     resolution, last_notified_at, notifications, created_at, updated_at";

/// Reads an `alerts` row selected with [`COLUMNS`].
pub(crate) fn view(row: &tokio_postgres::Row) -> Result<AlertView, DecodeError> {
    let row = Record::new(row, "alerts");
    Ok(AlertView {
        id: AlertId::from_uuid(row.get("id")?),
        key: row.get("key")?,
        kind: row.parse("kind")?,
        severity: row.parse("severity")?,
        status: row.parse("status")?,
        merchant_id: row
            .get::<Option<uuid::Uuid>>("merchant_id")?
            .map(MerchantId::from_uuid),
        title: row.get("title")?,
        details: row.get("details")?,
        count: row.get("count")?,
        first_seen_at: row.get("first_seen_at")?,
        last_seen_at: row.get("last_seen_at")?,
        acknowledged_at: row.get("acknowledged_at")?,
        acknowledged_by: row
            .get::<Option<uuid::Uuid>>("acknowledged_by")?
            .map(UserId::from_uuid),
        resolved_at: row.get("resolved_at")?,
        resolved_by: row
            .get::<Option<uuid::Uuid>>("resolved_by")?
            .map(UserId::from_uuid),
        resolution: row.parse_opt("resolution")?,
        last_notified_at: row.get("last_notified_at")?,
        notifications: row.get("notifications")?,
        created_at: row.get("created_at")?,
        updated_at: row.get("updated_at")?,
    })
}
