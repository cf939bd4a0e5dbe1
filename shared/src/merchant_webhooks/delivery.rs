//! Delivering events to endpoints. The delivery worker records each event the bus brings and
//! makes one delivery per endpoint that takes it; every attempt is claimed with a lease (so two
//! workers never send one delivery at once), made without holding a database connection, and
//! recorded with its time, status, latency and the first KB of the answer. A failure waits as
//! the [`schedule`](super::schedule) says and the `webhook-retry` schedule sends it again; after
//! the last attempt the delivery is `failed` (and can be replayed). A 410 disables the endpoint at
//! once; five days without a success disable it too; either way the merchant is told.

use super::egress::{self, Timeouts};
use super::endpoints::{self, DisabledReason, SECRET_COLUMNS};
use super::events::{self, EventData, EventView, TEST_EVENT};
use super::schedule;
use super::signature::sign;
use crate::alerts::{self, AlertKind, Condition};
use crate::app::App;
use crate::db::record::Record;
use crate::db::{self, Scope, Transaction};
use crate::error::AppError;
use crate::ids::{EventId, MerchantId, WebhookAttemptId, WebhookEndpointId};
use crate::jobs::bus::DomainEvent;
use crate::jobs::outbox::{self, Outgoing};
use crate::jobs::queues;
use crate::mode::Mode;
use crate::notifications::Severity;
use crate::routing::engine::Rng;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::time::Instant;
use tokio_postgres::Row;
use tokio_postgres::types::Type;
use uuid::Uuid;

/// How much of a receiver's answer is read and kept.
pub const RESPONSE_KEPT_BYTES: usize = 1024;
/// Five days without a successful attempt disable an endpoint.
pub const FAILING_DAYS: i64 = 5;

/// A job on the delivery queue that is not a domain event: deliveries to send now (replays).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SendJob {
    /// The deliveries.
    pub deliveries: Vec<Uuid>,
}

/// What a run of sending did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Sent {
    /// Attempts answered 2xx.
    pub succeeded: usize,
    /// Attempts that failed (to be retried, or given up).
    pub failed: usize,
}

/// How one attempt went, as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = WebhookAttempt)]
pub struct AttemptView {
    /// `wha_…`
    pub id: WebhookAttemptId,
    /// The endpoint.
    pub endpoint_id: WebhookEndpointId,
    /// The event (`webhook-id`).
    pub event_id: EventId,
    /// When the request was made.
    pub attempted_at: DateTime<Utc>,
    /// Whether the receiver answered 2xx.
    pub succeeded: bool,
    /// The receiver's status code, when it answered.
    pub status_code: Option<i32>,
    /// From the request to the answer's first KB (or the failure).
    pub latency_ms: i32,
    /// The first KB of the answer.
    pub response_body: Option<String>,
    /// Why no answer came, or why no request was made.
    pub error: Option<String>,
}

/// Records a domain event for its merchant (if merchants receive its type) and makes its
/// deliveries; answers the deliveries to send now. Idempotent: the bus may bring it twice.
pub async fn accept(app: &App, event: &DomainEvent) -> Result<Vec<Uuid>, AppError> {
    let Some((merchant, view)) = events::from_domain(event)? else {
        return Ok(Vec::new());
    };
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::System).await?;
    events::record(&tx, merchant, &view).await?;
    let now = app.clock.now();
    let rows = tx
        .query_typed(
            "INSERT INTO webhook_deliveries (id, endpoint_id, event_id, merchant_id, next_attempt_at)
             SELECT gen_random_uuid(), e.id, $1, e.merchant_id, $5 FROM webhook_endpoints e
              WHERE e.merchant_id = $2 AND e.mode = $3 AND e.enabled AND e.deleted_at IS NULL
                AND (cardinality(e.event_types) = 0 OR $4 = ANY (e.event_types))
             ON CONFLICT (endpoint_id, event_id) DO NOTHING
             RETURNING id",
            &[
                (&view.id.as_uuid(), Type::UUID),
                (&merchant.as_uuid(), Type::UUID),
                (&view.mode.as_str(), Type::TEXT),
                (&view.event_type, Type::TEXT),
                (&now, Type::TIMESTAMPTZ),
            ],
        )
        .await?;
    tx.commit().await?;
    rows.iter()
        .map(|row| Ok(Record::new(row, "webhook_deliveries").get("id")?))
        .collect()
}

/// A delivery claimed for one attempt, with what sending it needs.
struct Claimed {
    delivery: Uuid,
    /// The lease this claim holds: every write-back is fenced on it, so a claim that outlived
    /// its lease changes nothing another claim has since decided.
    lease: DateTime<Utc>,
    attempts: i32,
    endpoint: WebhookEndpointId,
    merchant: MerchantId,
    mode: Mode,
    url: String,
    enabled: bool,
    event: EventView,
    row: Row,
}

/// Claims deliveries with a lease long enough for one attempt: any that are due, or the named
/// ones whenever they are due (a test send is never due, so the schedule cannot take it).
async fn claim(app: &App, only: Option<&[Uuid]>, limit: i64) -> Result<Vec<Claimed>, AppError> {
    let now = app.clock.now();
    let lease = now
        + chrono::Duration::from_std(app.config.webhooks.timeout)
            .unwrap_or_else(|_| chrono::Duration::seconds(30))
        + chrono::Duration::seconds(30);
    let only: Option<Vec<Uuid>> = only.map(<[Uuid]>::to_vec);
    let mut client = app.db.client().await?;
    let tx = db::begin_relaxed(&mut client, Scope::System).await?;
    let rows = tx
        .query_typed(
            &format!(
                "WITH claimed AS (
                     UPDATE webhook_deliveries d SET lease_until = $3, updated_at = now()
                       FROM (SELECT id FROM webhook_deliveries
                              WHERE status = 'pending'
                                AND (lease_until IS NULL OR lease_until < $1)
                                AND CASE WHEN $2::uuid[] IS NULL THEN next_attempt_at <= $1
                                         ELSE id = ANY ($2) END
                              ORDER BY next_attempt_at LIMIT $4 FOR UPDATE SKIP LOCKED) due
                      WHERE d.id = due.id
                  RETURNING d.id, d.attempts, d.endpoint_id, d.event_id, d.lease_until)
                 SELECT c.id AS delivery_id, c.attempts, c.lease_until, w.id, w.merchant_id, w.mode, w.url, w.enabled,
                        {SECRET_COLUMNS},
                        m.id AS event_id, m.type AS event_type, m.created_at AS event_created_at,
                        m.mode AS event_mode, m.data AS event_data
                   FROM claimed c
                   JOIN webhook_endpoints w ON w.id = c.endpoint_id
                   JOIN merchant_events m ON m.id = c.event_id"
            ),
            &[
                (&now, Type::TIMESTAMPTZ),
                (&only, Type::UUID_ARRAY),
                (&lease, Type::TIMESTAMPTZ),
                (&limit, Type::INT8),
            ],
        )
        .await?;
    tx.commit().await?;
    rows.into_iter()
        .map(|row| {
            let r = Record::new(&row, "webhook_deliveries");
            Ok(Claimed {
                delivery: r.get("delivery_id")?,
                lease: r.get("lease_until")?,
                attempts: r.get("attempts")?,
                endpoint: WebhookEndpointId::from_uuid(r.get("id")?),
                merchant: MerchantId::from_uuid(r.get("merchant_id")?),
                mode: r.parse("mode")?,
                url: r.get("url")?,
                enabled: r.get("enabled")?,
                event: events::from_columns(&row, "event_")?,
                row,
            })
        })
        .collect()
}

/// What one attempt came to.
struct Outcome {
    at: DateTime<Utc>,
    status: Option<u16>,
    latency_ms: i32,
    body: Option<String>,
    error: Option<String>,
}

impl Outcome {
    fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// Makes one attempt: checks the URL again (its host may resolve elsewhere now), signs with the
/// endpoint's current secrets, connects only to the checked addresses, reads at most
/// [`RESPONSE_KEPT_BYTES`] of the answer.
async fn attempt(app: &App, claimed: &Claimed) -> Outcome {
    let at = app.clock.now();
    let started = Instant::now();
    let elapsed =
        |started: Instant| i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX);
    let refused = |error: String| Outcome {
        at,
        status: None,
        latency_ms: 0,
        body: None,
        error: Some(error),
    };
    let checked = match endpoints::check_url(&app.config, claimed.mode, &claimed.url).await {
        Ok(checked) => checked,
        Err(e) => return refused(format!("not sent: {e}")),
    };
    let secrets = match endpoints::signing_secrets(&claimed.row, &app.config.encryption, at) {
        Ok(secrets) => secrets,
        Err(e) => return refused(format!("not sent: {e}")),
    };
    let body = match claimed.event.body() {
        Ok(body) => body,
        Err(e) => return refused(format!("not sent: {e}")),
    };
    let timeouts = Timeouts {
        connect: app.config.webhooks.connect_timeout,
        total: app.config.webhooks.timeout,
    };
    let client = match egress::client_for(&checked, timeouts) {
        Ok(client) => client,
        Err(e) => return refused(format!("not sent: {e}")),
    };
    let secrets: Vec<_> = secrets.iter().collect();
    let headers = sign(
        &claimed.event.id.to_string(),
        at.timestamp(),
        &body,
        &secrets,
    );
    let sent = client
        .post(checked.url.clone())
        .header("content-type", "application/json")
        .header(
            "user-agent",
            concat!("LightSpeedPay-Webhooks/", env!("CARGO_PKG_VERSION")),
        )
        .header("webhook-id", &headers.id)
        .header("webhook-timestamp", headers.timestamp.to_string())
        .header("webhook-signature", &headers.signature)
        .body(body)
        .send()
        .await;
    match sent {
        Ok(mut response) => {
            let status = response.status().as_u16();
            let mut kept = Vec::new();
            while kept.len() < RESPONSE_KEPT_BYTES {
                match response.chunk().await {
                    Ok(Some(chunk)) => kept.extend_from_slice(&chunk),
                    Ok(None) | Err(_) => break,
                }
            }
            kept.truncate(RESPONSE_KEPT_BYTES);
            // PostgreSQL text holds no NUL; a binary answer is kept readable, never refused.
            let body = String::from_utf8_lossy(&kept).replace('\0', "\u{FFFD}");
            if !(100..=599).contains(&status) {
                return Outcome {
                    at,
                    status: None,
                    latency_ms: elapsed(started),
                    body: Some(body),
                    error: Some(format!("answered the invalid status {status}")),
                };
            }
            Outcome {
                at,
                status: Some(status),
                latency_ms: elapsed(started),
                body: Some(body),
                error: None,
            }
        }
        Err(e) => Outcome {
            at,
            status: None,
            latency_ms: elapsed(started),
            body: None,
            error: Some(describe(&e)),
        },
    }
}

/// A transport failure in words a merchant can act on.
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "could not connect".into()
    } else {
        format!("request failed: {e}")
    }
}

/// Sends due deliveries (the named ones, or up to `limit` of any) and records each attempt.
/// `retry: false` makes one attempt only (the test route).
pub async fn send(
    app: &App,
    only: Option<&[Uuid]>,
    limit: i64,
    retry: bool,
) -> Result<Sent, AppError> {
    let claimed = claim(app, only, limit).await?;
    let results: Vec<bool> = futures::stream::iter(claimed)
        .map(|claimed| async move {
            let (outcome, retry) = if claimed.enabled {
                (attempt(app, &claimed).await, retry)
            } else {
                let outcome = Outcome {
                    at: app.clock.now(),
                    status: None,
                    latency_ms: 0,
                    body: None,
                    error: Some("not sent: the endpoint is disabled".into()),
                };
                (outcome, false)
            };
            let ok = outcome.succeeded();
            // One delivery's bookkeeping failing must not stop the others: its lease runs out
            // and it is claimed again.
            if let Err(e) = record(app, &claimed, outcome, retry).await {
                tracing::warn!(delivery = %claimed.delivery, error = %e, "webhook attempt not recorded");
                return false;
            }
            ok
        })
        .buffer_unordered(app.config.webhooks.concurrency)
        .collect()
        .await;
    let succeeded = results.iter().filter(|ok| **ok).count();
    Ok(Sent {
        succeeded,
        failed: results.len() - succeeded,
    })
}

/// Records an attempt and what follows from it, in one transaction; publishes what it raised.
async fn record(
    app: &App,
    claimed: &Claimed,
    outcome: Outcome,
    retry: bool,
) -> Result<(), AppError> {
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::System).await?;
    // The endpoint before the delivery: the order every path that changes both takes
    // (disabling, deleting), so none of them can deadlock with another. A success touches the
    // endpoint only to end a failure streak, so successes to a healthy endpoint do not queue on
    // its row.
    if outcome.succeeded() {
        tx.execute_typed(
            "UPDATE webhook_endpoints SET failing_since = NULL WHERE id = $1 AND failing_since IS NOT NULL",
            &[(&claimed.endpoint.as_uuid(), Type::UUID)],
        )
        .await?;
    } else {
        tx.execute_typed(
            "SELECT 1 FROM webhook_endpoints WHERE id = $1 FOR NO KEY UPDATE",
            &[(&claimed.endpoint.as_uuid(), Type::UUID)],
        )
        .await?;
    }
    let status = outcome.status.map(i32::from);
    tx.execute_typed(
        "INSERT INTO webhook_attempts (id, delivery_id, endpoint_id, event_id, merchant_id, attempted_at,
             succeeded, status_code, latency_ms, response_body, error)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        &[
            (&WebhookAttemptId::generate().as_uuid(), Type::UUID),
            (&claimed.delivery, Type::UUID),
            (&claimed.endpoint.as_uuid(), Type::UUID),
            (&claimed.event.id.as_uuid(), Type::UUID),
            (&claimed.merchant.as_uuid(), Type::UUID),
            (&outcome.at, Type::TIMESTAMPTZ),
            (&outcome.succeeded(), Type::BOOL),
            (&status, Type::INT4),
            (&outcome.latency_ms, Type::INT4),
            (&outcome.body, Type::TEXT),
            (&outcome.error, Type::TEXT),
        ],
    )
    .await?;
    let made = u32::try_from(claimed.attempts).unwrap_or(0) + 1;
    let error = outcome
        .error
        .clone()
        .or_else(|| status.map(|s| format!("answered {s}")));
    let mut outbox = Vec::new();
    if outcome.succeeded() {
        tx.execute_typed(
            "UPDATE webhook_deliveries SET status = 'succeeded', attempts = $2, next_attempt_at = NULL,
                 lease_until = NULL, last_status = $3, last_error = NULL, updated_at = now()
              WHERE id = $1 AND status = 'pending' AND lease_until = $4",
            &[
                (&claimed.delivery, Type::UUID),
                (&i32::try_from(made).unwrap_or(i32::MAX), Type::INT4),
                (&status, Type::INT4),
                (&claimed.lease, Type::TIMESTAMPTZ),
            ],
        )
        .await?;
    } else {
        let seed = claimed.delivery.as_u64_pair().1 ^ u64::from(made);
        let wait = if retry {
            schedule::wait_after(made, &mut Rng::seeded(seed))
        } else {
            None
        };
        let next = wait.map(|w| outcome.at + w);
        tx.execute_typed(
            "UPDATE webhook_deliveries SET status = CASE WHEN $3::timestamptz IS NULL THEN 'failed' ELSE 'pending' END,
                 attempts = $2, next_attempt_at = $3, lease_until = NULL, last_status = $4, last_error = $5,
                 updated_at = now()
              WHERE id = $1 AND status = 'pending' AND lease_until = $6",
            &[
                (&claimed.delivery, Type::UUID),
                (&i32::try_from(made).unwrap_or(i32::MAX), Type::INT4),
                (&next, Type::TIMESTAMPTZ),
                (&status, Type::INT4),
                (&error, Type::TEXT),
                (&claimed.lease, Type::TIMESTAMPTZ),
            ],
        )
        .await?;
        // A test send (no retries) tells the merchant how it went and changes nothing else.
        if claimed.enabled && retry {
            outbox = after_failure(&tx, app, claimed, &outcome).await?;
        }
    }
    tx.commit().await?;
    drop(client);
    app.publish(&outbox).await;
    Ok(())
}

/// A 410 disables the endpoint at once; otherwise the failure streak starts (or goes on), and
/// five days of it disable the endpoint.
async fn after_failure(
    tx: &Transaction<'_>,
    app: &App,
    claimed: &Claimed,
    outcome: &Outcome,
) -> Result<Vec<Uuid>, AppError> {
    if outcome.status == Some(410) {
        return disable(tx, app, claimed.endpoint, DisabledReason::Gone, outcome.at).await;
    }
    let row = tx
        .query_typed_one(
            "UPDATE webhook_endpoints SET failing_since = coalesce(failing_since, $2)
              WHERE id = $1 RETURNING failing_since",
            &[
                (&claimed.endpoint.as_uuid(), Type::UUID),
                (&outcome.at, Type::TIMESTAMPTZ),
            ],
        )
        .await?;
    let since: DateTime<Utc> = Record::new(&row, "webhook_endpoints").required("failing_since")?;
    if outcome.at - since >= chrono::Duration::days(FAILING_DAYS) {
        return disable(
            tx,
            app,
            claimed.endpoint,
            DisabledReason::Failing,
            outcome.at,
        )
        .await;
    }
    Ok(Vec::new())
}

/// Disables an endpoint that is still enabled, gives up its pending deliveries, and tells the
/// merchant (and operators, through an alert). Answers the outbox ids to publish.
pub async fn disable(
    tx: &Transaction<'_>,
    app: &App,
    endpoint: WebhookEndpointId,
    reason: DisabledReason,
    at: DateTime<Utc>,
) -> Result<Vec<Uuid>, AppError> {
    let disabled = tx
        .query_typed_opt(
            "UPDATE webhook_endpoints SET enabled = false, disabled_reason = $2, disabled_at = $3, updated_at = now()
              WHERE id = $1 AND enabled RETURNING id, merchant_id, url, mode",
            &[
                (&endpoint.as_uuid(), Type::UUID),
                (&reason.as_str(), Type::TEXT),
                (&at, Type::TIMESTAMPTZ),
            ],
        )
        .await?;
    let Some(row) = disabled else {
        return Ok(Vec::new());
    };
    let record = Record::new(&row, "webhook_endpoints");
    let merchant = MerchantId::from_uuid(record.get("merchant_id")?);
    let url: String = record.get("url")?;
    let mode: Mode = record.parse("mode")?;
    endpoints::give_up_pending(tx, endpoint, "the endpoint was disabled").await?;
    tracing::warn!(endpoint = %endpoint, merchant = %merchant, reason = reason.as_str(), "webhook endpoint disabled");
    tell_about_disabled(tx, app, endpoint, merchant, mode, &url, reason).await
}

/// The alert key of a disabled endpoint: cleared when the endpoint is enabled again.
pub fn alert_key(endpoint: WebhookEndpointId) -> String {
    format!("webhook_endpoint:{endpoint}")
}

/// Raises the alert for a disabled endpoint, which tells operators and the merchant's contacts
/// (WhatsApp, Slack) by their preferences.
async fn tell_about_disabled(
    tx: &Transaction<'_>,
    app: &App,
    endpoint: WebhookEndpointId,
    merchant: MerchantId,
    mode: Mode,
    url: &str,
    reason: DisabledReason,
) -> Result<Vec<Uuid>, AppError> {
    let why = match reason {
        DisabledReason::Gone => "it answered 410 Gone".to_string(),
        DisabledReason::Failing => format!("every delivery failed for {FAILING_DAYS} days"),
        DisabledReason::Merchant | DisabledReason::Operator => "it was turned off".to_string(),
    };
    alerts::raise(
        tx,
        app,
        &Condition {
            key: alert_key(endpoint),
            kind: AlertKind::WebhookEndpointDisabled,
            severity: Severity::Warning,
            merchant_id: Some(merchant),
            title: format!("Webhook endpoint {endpoint} ({mode}) was disabled: {why}"),
            details: json!({
                "endpoint_id": endpoint, "url": url, "mode": mode, "reason": reason,
            }),
        },
    )
    .await
}

/// `POST /api/v1/merchant/webhooks/{id}/replay`: one event, or every failed one since a time.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = WebhookReplay)]
pub struct Replay {
    /// Send this event again (`evt_…`).
    pub event_id: Option<EventId>,
    /// Send again every event since this time whose delivery to the endpoint failed.
    pub since: Option<DateTime<Utc>>,
}

/// How many deliveries a replay scheduled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = WebhookReplayed)]
pub struct Replayed {
    /// Deliveries now pending again.
    pub scheduled: usize,
}

/// Makes the chosen deliveries pending again (a fresh round of attempts) and queues them to be
/// sent now; the endpoint must be enabled.
pub async fn replay(
    tx: &Transaction<'_>,
    app: &App,
    endpoint: WebhookEndpointId,
    request: &Replay,
) -> Result<(Replayed, Vec<Uuid>), AppError> {
    let view = endpoints::get(tx, endpoint)
        .await?
        .ok_or(AppError::NotFound("webhook endpoint"))?;
    if !view.enabled {
        return Err(AppError::Conflict(
            "The endpoint is disabled; enable it before replaying events to it".into(),
        ));
    }
    let now = app.clock.now();
    let rows = match (request.event_id, request.since) {
        (Some(event), None) => {
            if events::get(tx, event).await?.is_none_or(|e| e.mode != view.mode) {
                return Err(AppError::NotFound("event"));
            }
            tx.query_typed(
                "INSERT INTO webhook_deliveries (id, endpoint_id, event_id, merchant_id, next_attempt_at)
                 VALUES (gen_random_uuid(), $1, $2, $3, $4)
                 ON CONFLICT (endpoint_id, event_id) DO UPDATE SET status = 'pending', attempts = 0,
                     next_attempt_at = excluded.next_attempt_at, lease_until = NULL, updated_at = now()
                  WHERE webhook_deliveries.status <> 'pending'
                 RETURNING id",
                &[
                    (&endpoint.as_uuid(), Type::UUID),
                    (&event.as_uuid(), Type::UUID),
                    (&view.merchant_id.as_uuid(), Type::UUID),
                    (&now, Type::TIMESTAMPTZ),
                ],
            )
            .await?
        }
        (None, Some(since)) => {
            tx.query_typed(
                "UPDATE webhook_deliveries d SET status = 'pending', attempts = 0, next_attempt_at = $3,
                     lease_until = NULL, updated_at = now()
                  FROM merchant_events m
                 WHERE m.id = d.event_id AND d.endpoint_id = $1 AND d.status = 'failed' AND m.created_at >= $2
                 RETURNING d.id",
                &[
                    (&endpoint.as_uuid(), Type::UUID),
                    (&since, Type::TIMESTAMPTZ),
                    (&now, Type::TIMESTAMPTZ),
                ],
            )
            .await?
        }
        _ => {
            return Err(AppError::field(
                "event_id",
                "send exactly one of event_id and since",
            ));
        }
    };
    let deliveries = rows
        .iter()
        .map(|row| Ok(Record::new(row, "webhook_deliveries").get("id")?))
        .collect::<Result<Vec<Uuid>, AppError>>()?;
    let scheduled = deliveries.len();
    // A few go to the delivery worker now; a large replay is left to the `webhook-retry`
    // schedule (they are due now), which takes them a pass at a time, never in one message.
    let ids = if deliveries.is_empty() || scheduled > app.config.webhooks.concurrency {
        Vec::new()
    } else {
        outbox::write(
            tx,
            app.delivery,
            &[Outgoing::Job {
                queue: queues::WEBHOOK_DELIVERY,
                body: json!(SendJob { deliveries }),
            }],
        )
        .await?
    };
    Ok((Replayed { scheduled }, ids))
}

/// What `POST /api/v1/merchant/webhooks/test` answers: the one attempt's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = WebhookTestOutcome)]
pub struct TestOutcome {
    /// The test event sent (`webhook.test`).
    pub event_id: EventId,
    /// The attempt.
    pub attempt: AttemptView,
}

/// `POST /api/v1/merchant/webhooks/test`: which endpoint.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = WebhookTestRequest)]
pub struct TestRequest {
    /// The endpoint to send a signed `webhook.test` event to (`ep_…`).
    pub endpoint_id: WebhookEndpointId,
}

/// Sends a signed `webhook.test` event to one of the merchant's endpoints now, once (no retries),
/// and answers how it went.
pub async fn test(
    app: &App,
    merchant: MerchantId,
    mode: Mode,
    endpoint: WebhookEndpointId,
) -> Result<TestOutcome, AppError> {
    let event = EventView {
        id: EventId::generate(),
        event_type: TEST_EVENT.to_string(),
        api_version: events::API_VERSION,
        created_at: app.clock.now(),
        mode,
        data: EventData {
            transaction: None,
            refund: None,
            attempt: None,
            message: Some("A test event from LightSpeedPay: your endpoint is reachable.".into()),
        },
    };
    let delivery = {
        let mut client = app.db.client().await?;
        let tx = db::begin(&mut client, Scope::Merchant { id: merchant, mode }).await?;
        let view = endpoints::get(&tx, endpoint)
            .await?
            .ok_or(AppError::NotFound("webhook endpoint"))?;
        if !view.enabled {
            return Err(AppError::Conflict(
                "The endpoint is disabled; enable it to test it".into(),
            ));
        }
        events::record(&tx, merchant, &event).await?;
        let row = tx
            .query_typed_one(
                // Never due: only this request's own claim below sends it.
                "INSERT INTO webhook_deliveries (id, endpoint_id, event_id, merchant_id, next_attempt_at)
                 VALUES (gen_random_uuid(), $1, $2, $3, 'infinity') RETURNING id",
                &[
                    (&endpoint.as_uuid(), Type::UUID),
                    (&event.id.as_uuid(), Type::UUID),
                    (&merchant.as_uuid(), Type::UUID),
                ],
            )
            .await?;
        tx.commit().await?;
        Record::new(&row, "webhook_deliveries").get::<Uuid>("id")?
    };
    send(app, Some(&[delivery]), 1, false).await?;
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::Merchant { id: merchant, mode }).await?;
    let row = tx
        .query_typed_one(
            &format!("SELECT {ATTEMPT_COLUMNS} FROM webhook_attempts WHERE delivery_id = $1 ORDER BY id DESC LIMIT 1"),
            &[(&delivery, Type::UUID)],
        )
        .await?;
    tx.commit().await?;
    Ok(TestOutcome {
        event_id: event.id,
        attempt: attempt_from_row(&row)?,
    })
}

const ATTEMPT_COLUMNS: &str = "id, endpoint_id, event_id, attempted_at, succeeded, status_code, latency_ms, response_body, error";

fn attempt_from_row(row: &Row) -> Result<AttemptView, AppError> {
    let row = Record::new(row, "webhook_attempts");
    Ok(AttemptView {
        id: WebhookAttemptId::from_uuid(row.get("id")?),
        endpoint_id: WebhookEndpointId::from_uuid(row.get("endpoint_id")?),
        event_id: EventId::from_uuid(row.get("event_id")?),
        attempted_at: row.get("attempted_at")?,
        succeeded: row.get("succeeded")?,
        status_code: row.get("status_code")?,
        latency_ms: row.get("latency_ms")?,
        response_body: row.get("response_body")?,
        error: row.get("error")?,
    })
}

/// An endpoint's attempts, newest first, one page at a time.
pub async fn attempts_page(
    tx: &Transaction<'_>,
    endpoint: WebhookEndpointId,
    request: &crate::http::pagination::PageRequest<WebhookAttemptId>,
) -> Result<crate::http::pagination::Page<AttemptView>, AppError> {
    let after = request.starting_after.map(|id| id.as_uuid());
    let rows = tx
        .query_typed(
            &format!(
                "SELECT {ATTEMPT_COLUMNS} FROM webhook_attempts
                  WHERE endpoint_id = $1 AND ($2::uuid IS NULL OR id < $2) ORDER BY id DESC LIMIT $3"
            ),
            &[
                (&endpoint.as_uuid(), Type::UUID),
                (&after, Type::UUID),
                (&request.fetch_limit(), Type::INT8),
            ],
        )
        .await?;
    let items = rows
        .iter()
        .map(attempt_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(crate::http::pagination::Page::from_rows(
        items,
        request.limit,
    ))
}
