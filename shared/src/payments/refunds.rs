//! Refunds of captured payments. The database bounds their sum (migration V4): a refund reserves
//! its amount when it is created, gives it back if it fails, and counts as refunded once it
//! succeeds. `refund-processor` asks the gateway exactly once per refund (an ask whose outcome is
//! unknown is followed by a lookup, never by a second ask); refund webhooks and the monitor move
//! pending refunds on. Refunds never go back: `pending → succeeded | failed`, both final.

use super::status::{TransactionStatus, Transition};
use super::transactions::check_notes;
use crate::app::App;
use crate::db::record::{DecodeError, Record};
use crate::db::{self, Scope, Transaction};
use crate::error::AppError;
use crate::gateway_accounts;
use crate::gateways::{Gateway, GatewayError, RefundReport, RefundRequest, RefundStatus};
use crate::http::pagination::{Page, PageRequest};
use crate::ids::{AttemptId, GatewayAccountId, MerchantId, RefundId, TransactionId};
use crate::jobs::bus::DomainEvent;
use crate::jobs::outbox::{self, Outgoing};
use crate::jobs::queues;
use crate::money::Currency;
use crate::validation::FieldErrors;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use tokio_postgres::Row;
use tokio_postgres::types::Type;
use uuid::Uuid;

/// `POST /api/v1/transactions/{id}/refunds`: everything optional; no amount refunds the rest.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({ "amount": 10000, "reason": "Customer returned one item", "notes": { "rma": "R-881" } }))]
pub struct RefundBody {
    /// Paise to refund, written as a JSON integer (never `100.0`); the whole refundable amount
    /// when absent.
    #[schema(minimum = 1)]
    pub amount: Option<i64>,
    /// Why, in the merchant's words.
    #[schema(max_length = 255)]
    pub reason: Option<String>,
    /// The merchant's notes (as for payments: at most 15 pairs).
    pub notes: Option<BTreeMap<String, String>>,
}

/// A validated refund request.
#[derive(Debug, Clone)]
pub struct NewRefund {
    amount: Option<i64>,
    reason: Option<String>,
    notes: BTreeMap<String, String>,
}

impl RefundBody {
    /// Checks the fields; every problem at once.
    pub fn validate(self) -> Result<NewRefund, AppError> {
        let mut e = FieldErrors::new();
        if self.amount.is_some_and(|a| a <= 0) {
            e.add("amount", "must be a positive whole number of paise");
        }
        let reason = self
            .reason
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty());
        if reason.as_ref().is_some_and(|r| r.chars().count() > 255) {
            e.add("reason", "must be at most 255 characters");
        }
        let notes = self.notes.unwrap_or_default();
        check_notes(&notes, &mut e);
        e.into_result()?;
        Ok(NewRefund {
            amount: self.amount,
            reason,
            notes,
        })
    }
}

/// Where a refund stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RefundState {
    /// Asked for; the money has not gone back yet.
    Pending,
    /// The gateway refunded it.
    Succeeded,
    /// The gateway could not; the amount is refundable again.
    Failed,
}

impl std::str::FromStr for RefundState {
    type Err = String;
    fn from_str(s: &str) -> Result<RefundState, String> {
        match s {
            "pending" => Ok(RefundState::Pending),
            "succeeded" => Ok(RefundState::Succeeded),
            "failed" => Ok(RefundState::Failed),
            other => Err(format!("unknown refund status '{other}'")),
        }
    }
}

impl RefundState {
    fn as_str(self) -> &'static str {
        match self {
            RefundState::Pending => "pending",
            RefundState::Succeeded => "succeeded",
            RefundState::Failed => "failed",
        }
    }
}

/// A refund as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RefundView {
    /// `rfd_…`
    pub id: RefundId,
    /// The payment refunded.
    pub transaction_id: TransactionId,
    /// Paise.
    pub amount: i64,
    /// ISO code.
    #[schema(value_type = crate::money::Currency)]
    pub currency: String,
    /// Where it stands.
    pub status: RefundState,
    /// Test or live (the payment's).
    pub mode: crate::mode::Mode,
    /// Why, in the merchant's words.
    pub reason: Option<String>,
    /// The merchant's notes.
    #[schema(value_type = BTreeMap<String, String>)]
    pub notes: Value,
    /// The gateway's id for the refund, once it has one.
    pub gateway_refund_id: Option<String>,
    /// Why it failed.
    pub failure_reason: Option<String>,
    /// When it was asked for.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, transaction_id, amount, currency, status, mode, reason, notes, gateway_refund_id, \
     failure_reason, created_at, updated_at";

impl RefundView {
    fn from_row(row: &Row) -> Result<RefundView, DecodeError> {
        let row = Record::new(row, "refunds");
        Ok(RefundView {
            id: RefundId::from_uuid(row.get("id")?),
            transaction_id: TransactionId::from_uuid(row.get("transaction_id")?),
            amount: row.get("amount")?,
            currency: row.get("currency")?,
            status: row.parse("status")?,
            mode: row.parse("mode")?,
            reason: row.get("reason")?,
            notes: row.get("notes")?,
            gateway_refund_id: row.get("gateway_refund_id")?,
            failure_reason: row.get("failure_reason")?,
            created_at: row.get("created_at")?,
            updated_at: row.get("updated_at")?,
        })
    }
}

fn event(detail_type: &str, merchant: MerchantId, refund: &RefundView) -> DomainEvent {
    DomainEvent {
        id: format!("evt_{}", Uuid::now_v7().simple()),
        detail_type: detail_type.to_string(),
        time: Utc::now(),
        detail: json!({
            "merchant_id": merchant,
            "refund": {
                "id": refund.id, "transaction_id": refund.transaction_id, "amount": refund.amount,
                "currency": refund.currency, "status": refund.status, "mode": refund.mode,
                "failure_reason": refund.failure_reason,
            },
        }),
    }
}

/// Creates a refund of `transaction` in the merchant's scope; the refund-processor job and the
/// `refund.created` event go in the same database transaction.
pub async fn create(
    tx: &Transaction<'_>,
    app: &App,
    merchant: MerchantId,
    transaction: TransactionId,
    refund: NewRefund,
) -> Result<(RefundView, Vec<Uuid>), AppError> {
    // The row lock makes concurrent refunds of one payment take turns, so the amount checked
    // here is exact; the database's CHECK stays the guarantee behind it.
    let row = tx
        .query_typed_opt(
            "SELECT t.status, t.amount, t.currency, t.refund_reserved, t.purpose,
                    (SELECT a.id FROM transaction_attempts a WHERE a.transaction_id = t.id AND a.status = 'succeeded'
                        AND a.error_code IS DISTINCT FROM 'second_capture'
                      ORDER BY a.created_at DESC LIMIT 1) AS attempt_id
             FROM transactions t WHERE t.id = $1 FOR UPDATE OF t",
            &[(&transaction.as_uuid(), Type::UUID)],
        )
        .await?;
    let Some(row) = row else {
        return Err(archived_or_missing(tx, transaction).await?);
    };
    let row = Record::new(&row, "transactions");
    let status: TransactionStatus = row.parse("status")?;
    if !matches!(
        status,
        TransactionStatus::Succeeded | TransactionStatus::PartiallyRefunded
    ) {
        return Err(AppError::RefundNotAllowed(format!(
            "The payment is {status}; only captured payments can be refunded"
        )));
    }
    // A top-up's money is the wallet's: refunding it would let a merchant spend fees on credit
    // and take the money back. Operators handle such a request outside the API.
    if row.get::<&str>("purpose")? == "wallet_top_up" {
        return Err(AppError::RefundNotAllowed(
            "A wallet top-up is not refunded through the API; ask the platform's operators".into(),
        ));
    }
    let (captured, reserved): (i64, i64) = (row.get("amount")?, row.get("refund_reserved")?);
    let refundable = captured - reserved;
    if refundable <= 0 {
        return Err(AppError::RefundNotAllowed(
            "Refunds already cover the whole payment".into(),
        ));
    }
    let amount = refund.amount.unwrap_or(refundable);
    if amount > refundable {
        return Err(AppError::RefundExceedsCaptured { refundable });
    }
    let attempt: Uuid = row
        .get::<Option<Uuid>>("attempt_id")?
        .ok_or_else(|| AppError::Internal(format!("{transaction} succeeded without an attempt")))?;
    let id = RefundId::generate();
    let notes = serde_json::to_value(&refund.notes).unwrap_or_else(|_| json!({}));
    let inserted = tx
        .query_typed_one(
            &format!(
                "INSERT INTO refunds (id, merchant_id, mode, transaction_id, attempt_id, amount, currency, reason, notes)
                 SELECT $1, merchant_id, mode, id, $3, $4, currency, $5, $6 FROM transactions WHERE id = $2
                 RETURNING {COLUMNS}"
            ),
            &[
                (&id.as_uuid(), Type::UUID),
                (&transaction.as_uuid(), Type::UUID),
                (&attempt, Type::UUID),
                (&amount, Type::INT8),
                (&refund.reason, Type::TEXT),
                (&notes, Type::JSONB),
            ],
        )
        .await;
    let row = match inserted {
        Err(e)
            if e.as_db_error().and_then(|d| d.constraint())
                == Some("transactions_refunds_within_capture") =>
        {
            return Err(AppError::RefundExceedsCaptured { refundable: 0 });
        }
        Err(e)
            if e.as_db_error().and_then(|d| d.constraint()) == Some("refunds_need_a_capture") =>
        {
            return Err(AppError::RefundNotAllowed(
                "Only captured payments can be refunded".into(),
            ));
        }
        other => other?,
    };
    let view = RefundView::from_row(&row)?;
    let ids = outbox::write(
        tx,
        app.delivery,
        &[
            Outgoing::Job {
                queue: queues::REFUND_PROCESSOR,
                body: json!({ "refund_id": id }),
            },
            Outgoing::Event(event("refund.created", merchant, &view)),
        ],
    )
    .await?;
    Ok((view, ids))
}

/// Why a payment missing from `transactions` cannot be refunded: archived (the archive takes
/// only payments nothing has changed for `ARCHIVE_AFTER_DAYS`; their refund window has closed),
/// or not there at all.
async fn archived_or_missing(
    tx: &Transaction<'_>,
    transaction: TransactionId,
) -> Result<AppError, AppError> {
    let archived = tx
        .query_typed_opt(
            "SELECT 1 FROM archived_transactions WHERE id = $1",
            &[(&transaction.as_uuid(), Type::UUID)],
        )
        .await?
        .is_some();
    Ok(if archived {
        AppError::RefundNotAllowed(
            "The payment is archived: it is too old to refund through the API; ask the platform's operators"
                .into(),
        )
    } else {
        AppError::NotFound("transaction")
    })
}

/// Whether the payment is visible in the scope, live or archived.
const PAYMENT_VISIBLE: &str = "SELECT 1 FROM transactions WHERE id = $1
                               UNION ALL SELECT 1 FROM archived_transactions WHERE id = $1";

/// One refund, live or archived, if visible in the transaction's scope.
pub async fn get(tx: &Transaction<'_>, id: RefundId) -> Result<Option<RefundView>, AppError> {
    let row = tx
        .query_typed_opt(
            &format!(
                "SELECT {COLUMNS} FROM refunds WHERE id = $1
                 UNION ALL SELECT {COLUMNS} FROM archived_refunds WHERE id = $1"
            ),
            &[(&id.as_uuid(), Type::UUID)],
        )
        .await?;
    Ok(row.as_ref().map(RefundView::from_row).transpose()?)
}

/// One page of a payment's refunds, newest first (`None` when the payment is not visible).
pub async fn page_for(
    tx: &Transaction<'_>,
    transaction: TransactionId,
    page: &PageRequest<RefundId>,
) -> Result<Option<Page<RefundView>>, AppError> {
    let visible = tx
        .query_typed_opt(PAYMENT_VISIBLE, &[(&transaction.as_uuid(), Type::UUID)])
        .await?
        .is_some();
    if !visible {
        return Ok(None);
    }
    // Refund ids are time-ordered (UUIDv7), so id order is creation order and a stable cursor.
    let after = page.starting_after.map(|id| id.as_uuid());
    let rows = tx
        .query_typed(
            &format!(
                "SELECT {COLUMNS} FROM refunds
                 WHERE transaction_id = $1 AND ($2::uuid IS NULL OR id < $2)
                 UNION ALL
                 SELECT {COLUMNS} FROM archived_refunds
                 WHERE transaction_id = $1 AND ($2::uuid IS NULL OR id < $2)
                 ORDER BY id DESC LIMIT $3"
            ),
            &[
                (&transaction.as_uuid(), Type::UUID),
                (&after, Type::UUID),
                (&page.fetch_limit(), Type::INT8),
            ],
        )
        .await?;
    let items = rows
        .iter()
        .map(RefundView::from_row)
        .collect::<Result<_, _>>()?;
    Ok(Some(Page::from_rows(items, page.limit)))
}

/// A payment's refunds, newest first (`None` when the payment is not visible).
pub async fn list_for(
    tx: &Transaction<'_>,
    transaction: TransactionId,
) -> Result<Option<Vec<RefundView>>, AppError> {
    let visible = tx
        .query_typed_opt(PAYMENT_VISIBLE, &[(&transaction.as_uuid(), Type::UUID)])
        .await?
        .is_some();
    if !visible {
        return Ok(None);
    }
    let rows = tx
        .query_typed(
            &format!(
                "SELECT {COLUMNS} FROM refunds WHERE transaction_id = $1
                 UNION ALL SELECT {COLUMNS} FROM archived_refunds WHERE transaction_id = $1
                 ORDER BY created_at DESC, id DESC"
            ),
            &[(&transaction.as_uuid(), Type::UUID)],
        )
        .await?;
    Ok(rows
        .iter()
        .map(RefundView::from_row)
        .collect::<Result<_, _>>()
        .map(Some)?)
}

/// How long one worker may spend asking the gateway before another may try.
const LEASE_SECONDS: f64 = 60.0;

/// Everything needed to talk to the gateway about one refund.
struct Ask {
    gateway: std::sync::Arc<dyn Gateway>,
    account: crate::gateways::Account,
    request: RefundRequest,
    gateway_refund_id: Option<String>,
    unconfirmed: bool,
}

/// Loads a pending refund and takes its lease; `None` when there is nothing to ask (final,
/// or another worker holds it).
async fn lease(app: &App, id: RefundId, for_creation: bool) -> Result<Option<Ask>, AppError> {
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::System).await?;
    let Some(row) = tx
        .query_typed_opt(
            "SELECT r.status, r.amount, r.currency, r.reason, r.gateway_refund_id, r.unconfirmed_at IS NOT NULL AS unconfirmed,
                    (r.lease_until IS NULL OR r.lease_until < now()) AS lease_free,
                    a.provider, a.gateway_account_id, a.gateway_reference, a.gateway_payment_id, a.id AS attempt_id, t.amount AS payment_amount
             FROM refunds r JOIN transaction_attempts a ON a.id = r.attempt_id JOIN transactions t ON t.id = r.transaction_id
             WHERE r.id = $1 FOR UPDATE OF r",
            &[(&id.as_uuid(), Type::UUID)],
        )
        .await?
    else {
        return Err(AppError::NotFound("refund"));
    };
    let row = Record::new(&row, "refunds");
    let pending = row.parse::<RefundState>("status")? == RefundState::Pending;
    let free = row.get::<bool>("lease_free")?;
    let gateway_refund_id: Option<String> = row.get("gateway_refund_id")?;
    if !pending || !free || (for_creation && gateway_refund_id.is_some()) {
        tx.commit().await?;
        return Ok(None);
    }
    // Read before the refund is marked: a captured attempt without a gateway reference, or a
    // currency we do not take, is corruption to report, never a request to send with a blank.
    let reference: String = row.required("gateway_reference")?;
    let currency: Currency = row.parse("currency")?;
    // Asking for a refund marks it unconfirmed first: whatever happens next (a lost answer, a
    // crash, a lease that runs out), the next try looks it up before it ever asks again.
    tx.execute_typed(
        "UPDATE refunds SET lease_until = now() + make_interval(secs => $2),
                unconfirmed_at = CASE WHEN $3 THEN coalesce(unconfirmed_at, now()) ELSE unconfirmed_at END
         WHERE id = $1",
        &[
            (&id.as_uuid(), Type::UUID),
            (&LEASE_SECONDS, Type::FLOAT8),
            (&for_creation, Type::BOOL),
        ],
    )
    .await?;
    let provider: String = row.get("provider")?;
    let account = gateway_accounts::open(
        &tx,
        &app.config.encryption,
        GatewayAccountId::from_uuid(row.get("gateway_account_id")?),
    )
    .await?;
    tx.commit().await?;
    let gateway = app.gateways.connector(&provider)?;
    let base = &app.config.http.public_base_url;
    let request = RefundRequest {
        refund_id: id.to_string(),
        reference,
        payment_id: row.get("gateway_payment_id")?,
        receipt: AttemptId::from_uuid(row.get("attempt_id")?).to_string(),
        amount: row.get("amount")?,
        payment_amount: row.get("payment_amount")?,
        currency,
        reason: row.get("reason")?,
        notify_url: format!("{base}/api/v1/webhooks/{provider}/{}", account.id),
    };
    Ok(Some(Ask {
        gateway,
        account,
        request,
        gateway_refund_id,
        unconfirmed: row.get("unconfirmed")?,
    }))
}

async fn set(app: &App, id: RefundId, sql: &str) -> Result<(), AppError> {
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::System).await?;
    tx.execute_typed(sql, &[(&id.as_uuid(), Type::UUID)])
        .await?;
    tx.commit().await?;
    Ok(())
}

/// `refund-processor`: asks the gateway for the refund, once.
pub async fn process(app: &App, id: RefundId) -> Result<(), AppError> {
    let Some(ask) = lease(app, id, true).await? else {
        return Ok(());
    };
    // A lookup that fails says nothing about the refund: never let it fail the refund.
    let look = |ask: &Ask| {
        let (gateway, account, request) = (
            ask.gateway.clone(),
            ask.account.clone(),
            ask.request.clone(),
        );
        async move {
            gateway
                .fetch_refund(&account, &request, None)
                .await
                .map_err(|e| GatewayError::Retryable(format!("refund lookup: {e}")))
        }
    };
    let mut outcome = if ask.unconfirmed {
        look(&ask).await
    } else {
        Ok(None)
    };
    if matches!(outcome, Ok(None)) {
        outcome = ask
            .gateway
            .create_refund(&ask.account, &ask.request)
            .await
            .map(Some);
        if let Err(GatewayError::Ambiguous(reason)) = &outcome {
            let reason = reason.clone();
            tracing::warn!(refund = %id, reason = %reason, "refund request ambiguous; asking the gateway");
            outcome = look(&ask).await;
            if matches!(outcome, Ok(None)) {
                outcome = Err(GatewayError::Ambiguous(reason));
            }
        }
    }
    let report = match outcome {
        Ok(Some(report)) => report,
        Err(GatewayError::Declined(reason) | GatewayError::Configuration(reason)) => {
            tracing::error!(refund = %id, reason = %reason, "gateway refused the refund");
            RefundReport {
                refund_id: Some(id.to_string()),
                gateway_refund_id: None,
                status: RefundStatus::Failed,
                failure_reason: Some(reason),
            }
        }
        Ok(None) | Err(_) => {
            set(
                app,
                id,
                "UPDATE refunds SET lease_until = NULL WHERE id = $1",
            )
            .await?;
            let reason = match outcome {
                Err(e) => e.to_string(),
                Ok(_) => "the gateway has no record of it yet".into(),
            };
            return Err(AppError::GatewayUnavailable(format!(
                "refund {id}: {reason}"
            )));
        }
    };
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::System).await?;
    let ids = apply_report(&tx, app, id, &report).await?;
    tx.commit().await?;
    drop(client);
    app.publish(&ids).await;
    Ok(())
}

/// Asks the gateway where a pending refund stands (the monitor); re-asks for one never sent.
pub async fn poll(app: &App, id: RefundId) -> Result<(), AppError> {
    let Some(ask) = lease(app, id, false).await? else {
        return Ok(());
    };
    if ask.gateway_refund_id.is_none() {
        // Not known at the gateway yet (the job was lost, failed, or its answer was): `process`
        // looks it up first and asks only if the gateway has none.
        set(
            app,
            id,
            "UPDATE refunds SET lease_until = NULL WHERE id = $1",
        )
        .await?;
        return process(app, id).await;
    }
    let found = ask
        .gateway
        .fetch_refund(&ask.account, &ask.request, ask.gateway_refund_id.as_deref())
        .await;
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::System).await?;
    let ids = match found {
        Ok(Some(report)) => apply_report(&tx, app, id, &report).await?,
        Ok(None) => {
            tx.execute_typed(
                "UPDATE refunds SET lease_until = NULL, updated_at = now() WHERE id = $1",
                &[(&id.as_uuid(), Type::UUID)],
            )
            .await?;
            Vec::new()
        }
        Err(e) => {
            tracing::warn!(refund = %id, error = %e, "refund status query failed; will ask again");
            tx.execute_typed(
                "UPDATE refunds SET lease_until = NULL WHERE id = $1",
                &[(&id.as_uuid(), Type::UUID)],
            )
            .await?;
            Vec::new()
        }
    };
    tx.commit().await?;
    drop(client);
    app.publish(&ids).await;
    Ok(())
}

/// Finds the refund a gateway's report is about, by our id or the gateway's, among the refunds
/// of payments made through `account` (the account whose secret signed the event): an event
/// from one account can never settle another's refund.
pub async fn find(
    tx: &Transaction<'_>,
    account: Uuid,
    report: &RefundReport,
) -> Result<Option<RefundId>, AppError> {
    let ours = report
        .refund_id
        .as_deref()
        .and_then(|r| r.parse::<RefundId>().ok())
        .map(|r| r.as_uuid());
    if ours.is_none() && report.gateway_refund_id.is_none() {
        return Ok(None);
    }
    let row = tx
        .query_typed_opt(
            "SELECT r.id FROM refunds r JOIN transaction_attempts a ON a.id = r.attempt_id
             WHERE a.gateway_account_id = $1 AND (r.id = $2 OR r.gateway_refund_id = $3)
             ORDER BY r.id = $2 DESC NULLS LAST LIMIT 1",
            &[
                (&account, Type::UUID),
                (&ours, Type::UUID),
                (&report.gateway_refund_id, Type::TEXT),
            ],
        )
        .await?;
    Ok(row
        .map(|r| Record::new(&r, "refunds").get("id"))
        .transpose()?
        .map(RefundId::from_uuid))
}

/// Applies what the gateway says about a refund; returns the outbox ids to publish. Final
/// refunds do not change again, except a success the gateway later reports failed (Stripe's
/// refunds can go `succeeded → failed` when the bank returns the money): that gives the amount
/// back to the payment. A success moves the payment to partially or fully refunded.
pub async fn apply_report(
    tx: &Transaction<'_>,
    app: &App,
    id: RefundId,
    report: &RefundReport,
) -> Result<Vec<Uuid>, AppError> {
    let row = tx
        .query_typed_opt(
            "SELECT status, merchant_id FROM refunds WHERE id = $1 FOR UPDATE",
            &[(&id.as_uuid(), Type::UUID)],
        )
        .await?
        .ok_or(AppError::NotFound("refund"))?;
    let row = Record::new(&row, "refunds");
    let current: RefundState = row.parse("status")?;
    let merchant = MerchantId::from_uuid(row.get("merchant_id")?);
    let next = match report.status {
        RefundStatus::Pending => RefundState::Pending,
        RefundStatus::Succeeded => RefundState::Succeeded,
        RefundStatus::Failed => RefundState::Failed,
    };
    tx.execute_typed(
        "UPDATE refunds SET gateway_refund_id = coalesce(gateway_refund_id, $2), lease_until = NULL,
                unconfirmed_at = NULL, updated_at = now() WHERE id = $1",
        &[(&id.as_uuid(), Type::UUID), (&report.gateway_refund_id, Type::TEXT)],
    )
    .await?;
    let reversed = current == RefundState::Succeeded && next == RefundState::Failed;
    if (current != RefundState::Pending || next == RefundState::Pending) && !reversed {
        if current != next && next != RefundState::Pending {
            tracing::warn!(refund = %id, from = current.as_str(), to = next.as_str(), "refund report refused: refunds are final");
        }
        return Ok(Vec::new());
    }
    // The trigger moves the reservation; the payment's status follows the refunded sum.
    let updated = tx
        .query_typed_one(
            &format!(
                "UPDATE refunds SET status = $2, failure_reason = $3, updated_at = now() WHERE id = $1
                 RETURNING {COLUMNS}"
            ),
            &[
                (&id.as_uuid(), Type::UUID),
                (&next.as_str(), Type::TEXT),
                (&report.failure_reason, Type::TEXT),
            ],
        )
        .await?;
    let view = RefundView::from_row(&updated)?;
    let mut outgoing = Vec::new();
    if next == RefundState::Succeeded {
        let payment = tx
            .query_typed_one(
                "SELECT status, amount, refunded_amount FROM transactions WHERE id = $1 FOR UPDATE",
                &[(&view.transaction_id.as_uuid(), Type::UUID)],
            )
            .await?;
        let payment = Record::new(&payment, "transactions");
        let status: TransactionStatus = payment.parse("status")?;
        let (amount, refunded): (i64, i64) =
            (payment.get("amount")?, payment.get("refunded_amount")?);
        let target = if refunded >= amount {
            TransactionStatus::Refunded
        } else {
            TransactionStatus::PartiallyRefunded
        };
        if status.transition(target) == Transition::Apply {
            tx.execute_typed(
                "UPDATE transactions SET status = $2, updated_at = now() WHERE id = $1",
                &[
                    (&view.transaction_id.as_uuid(), Type::UUID),
                    (&target.as_str(), Type::TEXT),
                ],
            )
            .await?;
        }
        crate::ledger::book::refund(tx, id).await?;
        outgoing.push(Outgoing::Event(event("refund.succeeded", merchant, &view)));
    } else {
        if reversed {
            restore_refundable(tx, view.transaction_id).await?;
            crate::ledger::book::refund_reversal(tx, id).await?;
            tracing::warn!(refund = %id, "a succeeded refund failed at the gateway; its amount is refundable again");
        }
        outgoing.push(Outgoing::Event(event("refund.failed", merchant, &view)));
    }
    outbox::write(tx, app.delivery, &outgoing).await
}

/// After a succeeded refund failed (the trigger has taken it out of `refund_reserved` and
/// `refunded_amount`), moves the payment back to what its refunded sum says: `succeeded` with
/// nothing refunded, else `partially_refunded`. Outside the state machine on purpose: it only
/// ever moves forward, and this is the gateway undoing a step.
async fn restore_refundable(
    tx: &Transaction<'_>,
    transaction: TransactionId,
) -> Result<(), AppError> {
    let row = tx
        .query_typed_one(
            "SELECT status, refunded_amount FROM transactions WHERE id = $1 FOR UPDATE",
            &[(&transaction.as_uuid(), Type::UUID)],
        )
        .await?;
    let record = Record::new(&row, "transactions");
    let status: TransactionStatus = record.parse("status")?;
    let refunded: i64 = record.get("refunded_amount")?;
    let target = if refunded == 0 {
        TransactionStatus::Succeeded
    } else {
        TransactionStatus::PartiallyRefunded
    };
    if status != target {
        tx.execute_typed(
            "UPDATE transactions SET status = $2, updated_at = now() WHERE id = $1",
            &[
                (&transaction.as_uuid(), Type::UUID),
                (&target.as_str(), Type::TEXT),
            ],
        )
        .await?;
    }
    Ok(())
}

/// Pending refunds the monitor should ask about: quiet for `stale` or never sent.
pub async fn stale(
    app: &App,
    stale: std::time::Duration,
    limit: i64,
) -> Result<Vec<RefundId>, AppError> {
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::System).await?;
    let rows = tx
        .query_typed(
            "SELECT id FROM refunds WHERE status = 'pending' AND updated_at < now() - make_interval(secs => $1)
               AND (lease_until IS NULL OR lease_until < now())
             ORDER BY updated_at LIMIT $2",
            &[(&stale.as_secs_f64(), Type::FLOAT8), (&limit, Type::INT8)],
        )
        .await?;
    tx.commit().await?;
    Ok(rows
        .iter()
        .map(|r| Ok(RefundId::from_uuid(Record::new(r, "refunds").get("id")?)))
        .collect::<Result<_, DecodeError>>()?)
}
