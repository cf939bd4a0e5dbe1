//! Notifications to people: WhatsApp and Slack messages for merchants' contacts and for the
//! platform's operators, chosen by each recipient's preferences (kinds and minimum severity).
//! Producers call [`notify`] inside their own database transaction; the senders deliver after
//! commit and record every outcome.

pub mod queue;
pub mod recipients;
pub mod slack;
pub mod whatsapp;

use crate::App;
use crate::db::record::Record;
use crate::db::{self, Scope, Transaction};
use crate::error::AppError;
use crate::ids::{MerchantId, RecipientId};
use crate::jobs::outbox::{self, Outgoing};
use queue::Queue;
use recipients::Destination;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio_postgres::types::Type;
use uuid::Uuid;

/// How urgent something is; recipients choose the least severity they want to hear about.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// For the record; nobody is woken.
    Info,
    /// Needs attention within the working day.
    Warning,
    /// Needs attention now.
    Critical,
}

impl Severity {
    /// The stored and wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "info" => Ok(Severity::Info),
            "warning" => Ok(Severity::Warning),
            "critical" => Ok(Severity::Critical),
            other => Err(format!(
                "unknown severity {other:?} (info, warning or critical)"
            )),
        }
    }
}

/// Who hears about a notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// A merchant's contacts.
    Merchant(MerchantId),
    /// The platform's operators.
    Operators,
}

/// What to tell them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// A stable kind recipients can choose (`alert.gateway_breaker_open`,
    /// `webhook_endpoint.disabled`, …).
    pub kind: String,
    /// How urgent it is.
    pub severity: Severity,
    /// One line.
    pub title: String,
    /// A few lines more, plain text.
    pub body: String,
}

/// Queues `notice` for every enabled recipient of `audience` whose preferences accept it (no kinds
/// listed, or its kind listed; its severity at least theirs): one message per recipient in the
/// channel's queue table and one sender job each, all in the caller's transaction. Returns the
/// outbox ids to publish after commit (`app.publish`). Nobody listening is not an error.
pub async fn notify(
    tx: &Transaction<'_>,
    app: &App,
    audience: Audience,
    notice: &Notice,
) -> Result<Vec<Uuid>, AppError> {
    if !recipients::is_kind(&notice.kind) {
        return Err(AppError::Internal(format!(
            "notice kind {:?} is not a valid kind",
            notice.kind
        )));
    }
    let owner = match audience {
        Audience::Merchant(m) => Some(m.as_uuid()),
        Audience::Operators => None,
    };
    let rows = tx
        .query_typed(
            "SELECT id, destination, address FROM notification_recipients
             WHERE enabled AND merchant_id IS NOT DISTINCT FROM $1
               AND (cardinality(kinds) = 0 OR $2 = ANY (kinds))
               AND array_position(ARRAY['info', 'warning', 'critical'], min_severity)
                   <= array_position(ARRAY['info', 'warning', 'critical'], $3)
             ORDER BY id",
            &[
                (&owner, Type::UUID),
                (&notice.kind, Type::TEXT),
                (&notice.severity.as_str(), Type::TEXT),
            ],
        )
        .await?;
    let now = app.clock.now();
    let whatsapp = &app.config.notifications.whatsapp;
    let parameters = whatsapp::parameters(notice);
    let text = slack::text(notice);
    let mut jobs = Vec::with_capacity(rows.len());
    for row in &rows {
        let record = Record::new(row, "notification_recipients");
        let recipient = RecipientId::from_uuid(record.get("id")?);
        let id = Uuid::now_v7();
        let queue = match record.parse::<Destination>("destination")? {
            Destination::Phone => {
                let to: String = record.required("address")?;
                tx.execute_typed(
                    "INSERT INTO whatsapp_queue (id, recipient_id, merchant_id, notice_kind, severity, \"to\",
                         template_name, template_language, parameters, next_attempt_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                    &[
                        (&id, Type::UUID),
                        (&recipient.as_uuid(), Type::UUID),
                        (&owner, Type::UUID),
                        (&notice.kind, Type::TEXT),
                        (&notice.severity.as_str(), Type::TEXT),
                        (&to, Type::TEXT),
                        (&whatsapp.template_name, Type::TEXT),
                        (&whatsapp.template_language, Type::TEXT),
                        (&parameters, Type::JSONB),
                        (&now, Type::TIMESTAMPTZ),
                    ],
                )
                .await?;
                Queue::WhatsApp
            }
            Destination::SlackWebhook | Destination::SlackChannel => {
                tx.execute_typed(
                    "INSERT INTO slack_queue (id, recipient_id, merchant_id, notice_kind, severity, text, next_attempt_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    &[
                        (&id, Type::UUID),
                        (&recipient.as_uuid(), Type::UUID),
                        (&owner, Type::UUID),
                        (&notice.kind, Type::TEXT),
                        (&notice.severity.as_str(), Type::TEXT),
                        (&text, Type::TEXT),
                        (&now, Type::TIMESTAMPTZ),
                    ],
                )
                .await?;
                Queue::Slack
            }
        };
        jobs.push(job(queue, id));
    }
    outbox::write(tx, app.delivery, &jobs).await
}

/// The sender job of message `id`.
fn job(queue: Queue, id: Uuid) -> Outgoing {
    Outgoing::Job {
        queue: queue.job_queue(),
        body: json!({ "id": id }),
    }
}

/// The `notification-retry` schedule: hands every message whose next attempt came due (a retry
/// after backoff, or a message that waited for its recipient's interval) to its sender again.
/// Returns how many of each were handed over.
pub async fn retry_due(app: &App) -> Result<serde_json::Value, AppError> {
    let now = app.clock.now();
    let (ids, counts) = {
        let mut client = app.db.client().await?;
        let tx = db::begin(&mut client, Scope::System).await?;
        let mut jobs = Vec::new();
        let mut counts = serde_json::Map::new();
        for queue in [Queue::WhatsApp, Queue::Slack] {
            let due = queue::due(&tx, queue, now, 500).await?;
            counts.insert(queue.table().into(), json!(due.len()));
            jobs.extend(due.into_iter().map(|id| job(queue, id)));
        }
        let ids = outbox::write(&tx, app.delivery, &jobs).await?;
        tx.commit().await?;
        (ids, counts)
    };
    app.publish(&ids).await;
    Ok(serde_json::Value::Object(counts))
}

/// A sender job's body.
#[derive(Debug, Deserialize)]
pub struct SendJob {
    /// The message (a row of the sender's queue table).
    pub id: Uuid,
}
