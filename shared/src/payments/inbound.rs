//! Inbound gateway events: `receive` verifies the signature on the raw body (against each active
//! account of the provider, failing closed), stores the event once by the provider's event id and
//! queues it; `process` applies it through the state machine, at most once.

use super::refunds;
use super::transactions::{self, Applied};
use super::webhook_accounts;
use crate::app::App;
use crate::db::record::Record;
use crate::db::{self, Scope};
use crate::error::{AppError, AuthFailure};
use crate::gateway_accounts;
use crate::gateways::StatusReport;
use crate::ids::{AttemptId, GatewayAccountId};
use crate::jobs::outbox::{self, Outgoing};
use crate::jobs::queues;
use http::HeaderMap;
use serde_json::json;
use tokio_postgres::types::Type;
use uuid::Uuid;

/// What `receive` did with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    /// The stored event.
    pub id: Uuid,
    /// Whether it had been received before.
    pub duplicate: bool,
}

/// Verifies and stores an event; queues it for processing the first time it is seen. `named` is
/// the account the webhook URL names; without one, the provider's accounts are narrowed by what
/// the request says (see [`webhook_accounts`]). An account that cannot be opened is skipped and
/// logged: one broken account never refuses the others' events.
pub async fn receive(
    app: &App,
    provider: &str,
    named: Option<GatewayAccountId>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Received, AppError> {
    let gateway = app
        .gateways
        .get(provider)
        .ok_or(AppError::NotFound("provider"))?;
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::Public).await?;
    let accounts = webhook_accounts::candidates(&tx, provider, named, body).await?;
    let mut verified = None;
    for id in accounts {
        let account = match gateway_accounts::open(&tx, &app.config.encryption, id).await {
            Ok(account) => account,
            Err(error) => {
                tracing::error!(provider, account = %id, error = %error, "gateway account cannot be opened; skipped for this webhook");
                continue;
            }
        };
        if gateway.verify_webhook(&account, headers, body) {
            verified = Some(account.id);
            break;
        }
    }
    let Some(account) = verified else {
        tracing::warn!(
            provider,
            bytes = body.len(),
            "webhook refused: signature missing, stale or wrong"
        );
        return Err(AppError::Unauthorized(AuthFailure::InvalidSignature));
    };
    let mut event = gateway
        .parse_webhook(headers, body)
        .map_err(|e| AppError::field("body", e))?;
    event.event_id = usable_event_id(event.event_id, body);
    let payload = String::from_utf8_lossy(body).into_owned();
    let id = Uuid::now_v7();
    let inserted = tx
        .query_typed_opt(
            "INSERT INTO gateway_events (id, provider, event_id, gateway_account_id, event_type, payload)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (provider, gateway_account_id, event_id) DO NOTHING RETURNING id",
            &[
                (&id, Type::UUID),
                (&provider, Type::TEXT),
                (&event.event_id, Type::TEXT),
                (&account.as_uuid(), Type::UUID),
                (&event.event_type, Type::TEXT),
                (&payload, Type::TEXT),
            ],
        )
        .await?;
    let received = match inserted {
        Some(_) => {
            let ids = outbox::write(
                &tx,
                app.delivery,
                &[Outgoing::Job {
                    queue: queues::WEBHOOK_PROCESSOR,
                    body: json!({ "gateway_event_id": id }),
                }],
            )
            .await?;
            tx.commit().await?;
            drop(client);
            app.publish(&ids).await;
            Received {
                id,
                duplicate: false,
            }
        }
        None => {
            let existing = tx
                .query_typed_one(
                    "SELECT id FROM gateway_events WHERE provider = $1 AND gateway_account_id = $2 AND event_id = $3",
                    &[(&provider, Type::TEXT), (&account.as_uuid(), Type::UUID), (&event.event_id, Type::TEXT)],
                )
                .await?;
            let existing: Uuid = Record::new(&existing, "gateway_events").get("id")?;
            tx.commit().await?;
            Received {
                id: existing,
                duplicate: true,
            }
        }
    };
    Ok(received)
}

/// The provider's event id when it can be stored (1 to 255 printable ASCII characters); otherwise
/// the hash of the signed body, so an odd id can neither fail the insert nor split duplicates.
fn usable_event_id(id: String, body: &[u8]) -> String {
    let printable = id.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
    if !id.is_empty() && id.len() <= 255 && printable {
        id
    } else {
        format!("sha256:{}", hex::encode(crate::crypto::sha256(body)))
    }
}

/// Applies a stored event once. Events for unknown payments are flagged, not dropped. Where the
/// provider's signature leaves part of the report unsigned, the gateway's own status replaces it,
/// asked with no database connection held.
pub async fn process(app: &App, event_id: Uuid) -> Result<(), AppError> {
    let Some(ask) = apply(app, event_id, None).await? else {
        return Ok(());
    };
    let report = ask
        .gateway
        .fetch_status(&ask.account, &ask.reference)
        .await
        .map_err(|e| AppError::GatewayUnavailable(format!("confirming the event: {e}")))?;
    apply(app, event_id, Some(report)).await.map(|_| ())
}

/// A status query an event needs before it can be applied.
struct Confirmation {
    gateway: std::sync::Arc<dyn crate::gateways::Gateway>,
    account: crate::gateways::Account,
    reference: String,
}

async fn apply(
    app: &App,
    event_id: Uuid,
    confirmed: Option<StatusReport>,
) -> Result<Option<Confirmation>, AppError> {
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::System).await?;
    let row = tx
        .query_typed_opt("SELECT provider, payload, processed_at IS NOT NULL AS processed, gateway_account_id FROM gateway_events WHERE id = $1 FOR UPDATE", &[(&event_id, Type::UUID)])
        .await?
        .ok_or(AppError::NotFound("gateway event"))?;
    let row = Record::new(&row, "gateway_events");
    if row.get::<bool>("processed")? {
        return Ok(None);
    }
    let provider: String = row.get("provider")?;
    let payload: String = row.get("payload")?;
    // An event speaks only for payments made through the account whose secret signed it.
    let account: Uuid = row.get("gateway_account_id")?;
    let gateway = app.gateways.connector(&provider)?;
    // The stored row has the event id `receive` settled on; the body has the rest.
    let mut event = gateway
        .parse_webhook(&HeaderMap::new(), payload.as_bytes())
        .map_err(AppError::Internal)?;
    match (confirmed, &event.report, &event.reference) {
        (Some(report), _, _) => event.report = Some(report),
        (None, Some(_), Some(reference)) if gateway.webhook_needs_confirmation() => {
            let account = gateway_accounts::open(
                &tx,
                &app.config.encryption,
                GatewayAccountId::from_uuid(account),
            )
            .await?;
            tx.commit().await?;
            return Ok(Some(Confirmation {
                gateway,
                account,
                reference: reference.clone(),
            }));
        }
        _ => {}
    }
    let by_receipt = event
        .receipt
        .as_deref()
        .and_then(|r| r.parse::<AttemptId>().ok());
    let attempt = tx
        .query_typed_opt(
            "SELECT id FROM transaction_attempts
             WHERE provider = $1 AND gateway_account_id = $4 AND (id = $2 OR gateway_reference = $3) LIMIT 1",
            &[
                (&provider, Type::TEXT),
                (&by_receipt.map(|a| a.as_uuid()), Type::UUID),
                (&event.reference, Type::TEXT),
                (&account, Type::UUID),
            ],
        )
        .await?
        .map(|r| Record::new(&r, "transaction_attempts").get("id"))
        .transpose()?
        .map(AttemptId::from_uuid);
    let mut ids = Vec::new();
    if let Some(report) = &event.refund {
        let refund = refunds::find(&tx, account, report).await?;
        let (outcome, detail) = match refund {
            Some(refund) => {
                ids = refunds::apply_report(&tx, app, refund, report).await?;
                (
                    "applied",
                    format!("refund {refund} reported {:?}", report.status),
                )
            }
            None => {
                tracing::warn!(provider = %provider, event = %event.event_type, "refund event for an unknown refund; flagged");
                (
                    "unknown_transaction",
                    "no refund matches the event".to_string(),
                )
            }
        };
        tx.execute_typed(
            "UPDATE gateway_events SET processed_at = now(), outcome = $2, outcome_detail = $3 WHERE id = $1",
            &[(&event_id, Type::UUID), (&outcome, Type::TEXT), (&detail, Type::TEXT)],
        )
        .await?;
        tx.commit().await?;
        drop(client);
        app.publish(&ids).await;
        return Ok(None);
    }
    let (outcome, detail, transaction) = match (attempt, &event.report) {
        (None, _) => {
            tracing::warn!(provider = %provider, event = %event.event_id, "gateway event for an unknown payment; flagged");
            (
                "unknown_transaction",
                Some("no attempt matches the event's receipt or reference".to_string()),
                None,
            )
        }
        (Some(_), None) => (
            "unsupported",
            Some(format!(
                "event type {} is stored, not acted on",
                event.event_type
            )),
            None,
        ),
        (Some(attempt), Some(report)) => {
            // A webhook can overtake the worker that records the order: keep the reference.
            tx.execute_typed(
                "UPDATE transaction_attempts SET gateway_reference = coalesce(gateway_reference, $2) WHERE id = $1",
                &[(&attempt.as_uuid(), Type::UUID), (&event.reference, Type::TEXT)],
            )
            .await?;
            let (applied, written) = transactions::apply_report(&tx, app, attempt, report).await?;
            ids = written;
            let transaction = tx
                .query_typed_one(
                    "SELECT transaction_id FROM transaction_attempts WHERE id = $1",
                    &[(&attempt.as_uuid(), Type::UUID)],
                )
                .await?;
            let transaction: Uuid =
                Record::new(&transaction, "transaction_attempts").get("transaction_id")?;
            match applied {
                Applied::Changed(status) => (
                    "applied",
                    Some(format!("transaction is now {status}")),
                    Some(transaction),
                ),
                Applied::Unchanged => (
                    "ignored",
                    Some("duplicate or no change".to_string()),
                    Some(transaction),
                ),
                Applied::Refused => (
                    "ignored",
                    Some(format!("{} refused by the state machine", report.status)),
                    Some(transaction),
                ),
                Applied::AmountMismatch => (
                    "amount_mismatch",
                    Some("the reported amount or currency is not the payment's".to_string()),
                    Some(transaction),
                ),
            }
        }
    };
    tx.execute_typed(
        "UPDATE gateway_events SET processed_at = now(), outcome = $2, outcome_detail = $3, transaction_id = $4 WHERE id = $1",
        &[(&event_id, Type::UUID), (&outcome, Type::TEXT), (&detail, Type::TEXT), (&transaction, Type::UUID)],
    )
    .await?;
    tx.commit().await?;
    drop(client);
    app.publish(&ids).await;
    Ok(None)
}
