//! Transactions (payments) and their attempts: validation of `POST /api/v1/pay`, creation with
//! its first attempt and outbox in one database transaction, reading and listing, and applying
//! what gateways report through the state machine.

use super::routing::Router;
use super::status::{TransactionStatus, Transition};
use crate::app::App;
use crate::config::PaymentsConfig;
use crate::db::Transaction;
use crate::error::AppError;
use crate::gateways::StatusReport;
use crate::http::pagination::{Page, PageRequest};
use crate::ids::{AttemptId, MerchantId, TransactionId};
use crate::jobs::bus::DomainEvent;
use crate::jobs::outbox::{self, Outgoing};
use crate::jobs::queues;
use crate::mode::Mode;
use crate::money::Currency;
use crate::validation::{FieldErrors, check_length, normalize_email};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Type;
use uuid::Uuid;

/// The body of `POST /api/v1/pay`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayRequest {
    /// Paise, a whole number.
    pub amount: i64,
    /// ISO code; INR when absent.
    pub currency: Option<String>,
    /// The merchant's reference, unique per merchant and mode.
    pub order_id: String,
    /// Who pays.
    pub customer: Customer,
    /// Shown to the customer.
    pub description: Option<String>,
    /// Where the customer returns after paying.
    pub return_url: String,
    /// Free-form string pairs for the merchant.
    pub notes: Option<BTreeMap<String, String>>,
    /// Seconds until the payment expires.
    pub expires_in: Option<i64>,
}

/// The paying customer.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Customer {
    /// Full name.
    pub name: String,
    /// Email address.
    pub email: String,
    /// Phone number, digits with an optional leading `+`.
    pub phone: String,
}

/// A validated payment request.
#[derive(Debug, Clone)]
pub struct NewPayment {
    amount: i64,
    currency: Currency,
    order_id: String,
    customer_name: String,
    customer_email: String,
    customer_phone: String,
    description: Option<String>,
    return_url: String,
    notes: BTreeMap<String, String>,
    expires_in: i64,
}

const MAX_NOTES: usize = 15;

/// The limits on merchants' notes (payments and refunds): at most 15 pairs, keys of 1–40 and
/// values of at most 256 characters.
pub fn check_notes(notes: &BTreeMap<String, String>, e: &mut FieldErrors) {
    if notes.len() > MAX_NOTES {
        e.add("notes", format!("must have at most {MAX_NOTES} entries"));
    }
    for (k, v) in notes {
        if k.is_empty() || k.chars().count() > 40 || v.chars().count() > 256 {
            e.add(
                format!("notes.{k}"),
                "keys must be 1-40 characters and values at most 256",
            );
        }
    }
}

impl PayRequest {
    /// Checks every field against the payment rules, reporting all problems at once.
    pub fn validate(self, limits: &PaymentsConfig, mode: Mode) -> Result<NewPayment, AppError> {
        let mut e = FieldErrors::new();
        if self.amount < limits.min_amount || self.amount > limits.max_amount {
            e.add(
                "amount",
                format!(
                    "must be a whole number of paise from {} to {}",
                    limits.min_amount, limits.max_amount
                ),
            );
        }
        let currency = match self.currency.as_deref() {
            None => Some(Currency::Inr),
            Some(code) => Currency::parse(code).or_else(|| {
                e.add("currency", "must be a supported ISO currency code (INR)");
                None
            }),
        };
        let order_ok = !self.order_id.is_empty()
            && self.order_id.len() <= 64
            && self
                .order_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._:/-".contains(&b));
        if !order_ok {
            e.add("order_id", "must be 1-64 letters, digits or . _ : / -");
        }
        check_length(&mut e, "customer.name", &self.customer.name, 1, 100);
        let email = normalize_email(&self.customer.email)
            .map_err(|m| e.add("customer.email", m))
            .ok();
        let phone: String = self
            .customer
            .phone
            .chars()
            .filter(|c| !matches!(c, ' ' | '-'))
            .collect();
        let digits = phone.strip_prefix('+').unwrap_or(&phone);
        if !(10..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
            e.add(
                "customer.phone",
                "must be 10-15 digits with an optional leading +",
            );
        }
        if let Some(d) = &self.description {
            check_length(&mut e, "description", d, 0, 255);
        }
        let url = self.return_url.trim();
        let scheme_ok =
            url.starts_with("https://") || (mode == Mode::Test && url.starts_with("http://"));
        // The redirect must reach a real host: what the URL standard refuses (control
        // characters, bad hosts, bad escapes) is refused here, never dropped at redirect time.
        let parsed = url::Url::parse(url)
            .ok()
            .filter(|u| u.host_str().is_some_and(|h| !h.is_empty()));
        if !scheme_ok
            || parsed.is_none()
            || url.len() > 2048
            || url.contains(char::is_whitespace)
            || url.contains(char::is_control)
            || url.split("://").nth(1).is_none_or(str::is_empty)
        {
            e.add(
                "return_url",
                if mode == Mode::Live {
                    "must be an https:// URL"
                } else {
                    "must be an http(s):// URL"
                },
            );
        }
        let notes = self.notes.unwrap_or_default();
        check_notes(&notes, &mut e);
        let expires_in = self
            .expires_in
            .unwrap_or(i64::try_from(limits.default_expiry.as_secs()).unwrap_or(1800));
        if !(60..=7 * 86_400).contains(&expires_in) {
            e.add("expires_in", "must be from 60 to 604800 seconds");
        }
        e.into_result()?;
        Ok(NewPayment {
            amount: self.amount,
            currency: currency.unwrap_or(Currency::Inr),
            order_id: self.order_id,
            customer_name: self.customer.name.trim().to_string(),
            customer_email: email.unwrap_or_default(),
            customer_phone: phone,
            description: self
                .description
                .map(|d| d.trim().to_string())
                .filter(|d| !d.is_empty()),
            return_url: url.to_string(),
            notes,
            expires_in,
        })
    }
}

/// A transaction as the API shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TransactionView {
    /// `txn_…`
    pub id: TransactionId,
    /// The merchant's reference.
    pub order_id: String,
    /// Where it stands.
    pub status: TransactionStatus,
    /// Paise.
    pub amount: i64,
    /// ISO code.
    pub currency: String,
    /// Test or live.
    pub mode: Mode,
    /// Where the customer pays.
    pub checkout_url: String,
    /// The customer.
    pub customer: Value,
    /// Shown to the customer.
    pub description: Option<String>,
    /// Where the customer returns.
    pub return_url: String,
    /// The merchant's notes.
    pub notes: Value,
    /// Why it failed.
    pub failure_reason: Option<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it expires if unpaid.
    pub expires_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
}

/// An attempt as the API shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AttemptView {
    /// `att_…`
    pub id: AttemptId,
    /// The provider.
    pub gateway: String,
    /// Its status.
    pub status: String,
    /// The gateway's order id.
    pub gateway_reference: Option<String>,
    /// The gateway's payment id.
    pub gateway_payment_id: Option<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, order_id, status, amount, currency, mode, customer_name, customer_email, customer_phone, description, \
                       return_url, notes, failure_reason, created_at, expires_at, updated_at, merchant_id";

fn view(row: &Row, base_url: &str) -> TransactionView {
    let id = TransactionId::from_uuid(row.get(0));
    TransactionView {
        checkout_url: checkout_url(base_url, id),
        id,
        order_id: row.get(1),
        status: row
            .get::<_, &str>(2)
            .parse()
            .unwrap_or(TransactionStatus::Created),
        amount: row.get(3),
        currency: row.get(4),
        mode: if row.get::<_, &str>(5) == "live" {
            Mode::Live
        } else {
            Mode::Test
        },
        customer: json!({ "name": row.get::<_, String>(6), "email": row.get::<_, String>(7), "phone": row.get::<_, String>(8) }),
        description: row.get(9),
        return_url: row.get(10),
        notes: row.get(11),
        failure_reason: row.get(12),
        created_at: row.get(13),
        expires_at: row.get(14),
        updated_at: row.get(15),
    }
}

/// The hosted checkout page of a transaction.
pub fn checkout_url(base_url: &str, id: TransactionId) -> String {
    format!("{base_url}/api/v1/checkout/{id}")
}

/// Creates the transaction, its first attempt on the routed gateway, the job that creates the
/// gateway order, and the `transaction.created` event, all in `tx` (merchant scope).
pub async fn create(
    tx: &Transaction<'_>,
    app: &App,
    router: &dyn Router,
    merchant: MerchantId,
    mode: Mode,
    payment: NewPayment,
) -> Result<(TransactionView, Vec<uuid::Uuid>), AppError> {
    let base_url = &app.config.http.public_base_url;
    // Statements that do not depend on each other's results are pipelined (sent together, answered
    // in order): this is the hottest path, and on a busy database each round trip is queued.
    let merchant_status = async {
        tx.query_typed_opt(
            "SELECT status FROM merchants WHERE id = $1",
            &[(&merchant.as_uuid(), Type::UUID)],
        )
        .await
    };
    let (status, route) = futures::join!(
        merchant_status,
        router.choose(tx, merchant, mode, payment.amount)
    );
    match status?.map(|r| r.get::<_, String>(0)).as_deref() {
        Some("active") => {}
        Some(_) => return Err(AppError::MerchantSuspended),
        None => return Err(AppError::NotFound("merchant")),
    }
    let route = route?;
    let id = TransactionId::generate();
    let notes = serde_json::to_value(&payment.notes).unwrap_or_else(|_| json!({}));
    let attempt = AttemptId::generate();
    let created = event(
        "transaction.created",
        merchant,
        EventSubject {
            id,
            order_id: &payment.order_id,
            status: TransactionStatus::Created,
            amount: payment.amount,
            currency: payment.currency.code(),
            mode,
        },
    );
    let outgoing = [
        Outgoing::Job {
            queue: queues::TRANSACTION_PROCESSOR,
            body: json!({ "attempt_id": attempt }),
        },
        Outgoing::Event(created),
    ];
    // One statement for both rows, pipelined with the one for the job and the event. Should the
    // insert fail, PostgreSQL refuses the rest of the transaction and its error is the one seen.
    let insert = async {
        tx.query_typed_one(
        &format!(
            "WITH t AS (
                 INSERT INTO transactions (id, merchant_id, mode, order_id, amount, currency, customer_name, customer_email,
                     customer_phone, description, return_url, notes, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, now() + make_interval(secs => $13))
                 RETURNING {COLUMNS}),
             a AS (
                 INSERT INTO transaction_attempts (id, transaction_id, merchant_id, mode, gateway_account_id, provider)
                 SELECT $14, t.id, t.merchant_id, t.mode, $15, $16 FROM t)
             SELECT * FROM t"
        ),
        &[
            (&id.as_uuid(), Type::UUID),
            (&merchant.as_uuid(), Type::UUID),
            (&mode.as_str(), Type::TEXT),
            (&payment.order_id, Type::TEXT),
            (&payment.amount, Type::INT8),
            (&payment.currency.code(), Type::TEXT),
            (&payment.customer_name, Type::TEXT),
            (&payment.customer_email, Type::TEXT),
            (&payment.customer_phone, Type::TEXT),
            (&payment.description, Type::TEXT),
            (&payment.return_url, Type::TEXT),
            (&notes, Type::JSONB),
            (&(payment.expires_in as f64), Type::FLOAT8),
            (&attempt.as_uuid(), Type::UUID),
            (&route.account.as_uuid(), Type::UUID),
            (&route.provider, Type::TEXT),
        ],
    )
        .await
    };
    let (inserted, written) = futures::join!(insert, outbox::write(tx, app.delivery, &outgoing));
    let row = match inserted {
        Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
            return Err(AppError::DuplicateOrderId);
        }
        other => other?,
    };
    let ids = written?;
    Ok((view(&row, base_url), ids))
}

/// What a transaction's domain event says about it.
#[derive(Debug, Clone, Copy)]
pub struct EventSubject<'a> {
    /// The transaction.
    pub id: TransactionId,
    /// The merchant's reference.
    pub order_id: &'a str,
    /// Its status after the change the event reports.
    pub status: TransactionStatus,
    /// Paise.
    pub amount: i64,
    /// ISO code.
    pub currency: &'a str,
    /// Test or live.
    pub mode: Mode,
}

impl<'a> From<&'a TransactionView> for EventSubject<'a> {
    fn from(t: &'a TransactionView) -> Self {
        EventSubject {
            id: t.id,
            order_id: &t.order_id,
            status: t.status,
            amount: t.amount,
            currency: &t.currency,
            mode: t.mode,
        }
    }
}

/// A domain event about a transaction.
pub fn event(detail_type: &str, merchant: MerchantId, subject: EventSubject<'_>) -> DomainEvent {
    DomainEvent {
        id: format!("evt_{}", Uuid::now_v7().simple()),
        detail_type: detail_type.to_string(),
        time: Utc::now(),
        detail: json!({
            "merchant_id": merchant,
            "transaction": {
                "id": subject.id, "order_id": subject.order_id, "status": subject.status,
                "amount": subject.amount, "currency": subject.currency, "mode": subject.mode,
            },
        }),
    }
}

/// One transaction with its attempts, if visible in the transaction's scope.
pub async fn get(
    tx: &Transaction<'_>,
    base_url: &str,
    id: TransactionId,
) -> Result<Option<(TransactionView, Vec<AttemptView>)>, AppError> {
    let Some(row) = tx
        .query_typed_opt(
            &format!("SELECT {COLUMNS} FROM transactions WHERE id = $1"),
            &[(&id.as_uuid(), Type::UUID)],
        )
        .await?
    else {
        return Ok(None);
    };
    let attempts = tx
        .query_typed(
            "SELECT id, provider, status, gateway_reference, gateway_payment_id, created_at FROM transaction_attempts
             WHERE transaction_id = $1 ORDER BY created_at, id",
            &[(&id.as_uuid(), Type::UUID)],
        )
        .await?
        .iter()
        .map(|r| AttemptView {
            id: AttemptId::from_uuid(r.get(0)),
            gateway: r.get(1),
            status: r.get(2),
            gateway_reference: r.get(3),
            gateway_payment_id: r.get(4),
            created_at: r.get(5),
        })
        .collect();
    Ok(Some((view(&row, base_url), attempts)))
}

/// Filters of `GET /api/v1/transactions`.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only this merchant (operators); merchants are limited by their scope anyway.
    pub merchant: Option<MerchantId>,
    /// Only this status.
    pub status: Option<TransactionStatus>,
    /// Only this order id.
    pub order_id: Option<String>,
    /// Created at or after.
    pub created_from: Option<DateTime<Utc>>,
    /// Created before.
    pub created_to: Option<DateTime<Utc>>,
}

/// Transactions visible in the scope, newest first.
pub async fn list(
    tx: &Transaction<'_>,
    base_url: &str,
    filter: &ListFilter,
    page: &PageRequest<TransactionId>,
) -> Result<Page<TransactionView>, AppError> {
    let rows = tx
        .query_typed(
            &format!(
                "SELECT {COLUMNS} FROM transactions
                 WHERE ($1::uuid IS NULL OR merchant_id = $1) AND ($2::text IS NULL OR status = $2)
                   AND ($3::text IS NULL OR order_id = $3) AND ($4::timestamptz IS NULL OR created_at >= $4)
                   AND ($5::timestamptz IS NULL OR created_at < $5) AND ($6::uuid IS NULL OR id < $6)
                 ORDER BY id DESC LIMIT $7"
            ),
            &[
                (&filter.merchant.map(|m| m.as_uuid()), Type::UUID),
                (&filter.status.map(|s| s.as_str()), Type::TEXT),
                (&filter.order_id, Type::TEXT),
                (&filter.created_from, Type::TIMESTAMPTZ),
                (&filter.created_to, Type::TIMESTAMPTZ),
                (&page.starting_after.map(|id| id.as_uuid()), Type::UUID),
                (&page.fetch_limit(), Type::INT8),
            ],
        )
        .await?;
    Ok(Page::from_rows(
        rows.iter().map(|r| view(r, base_url)).collect(),
        page.limit,
    ))
}

/// What applying a gateway report did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The transaction moved to a new status.
    Changed(TransactionStatus),
    /// Nothing new (duplicate or still pending).
    Unchanged,
    /// Refused by the state machine (late or out of order); logged, not applied.
    Refused,
}

/// Applies a gateway's report on `attempt` to it and its transaction, under row locks, through
/// the state machine; writes the matching domain event to the outbox. Returns the outbox ids.
pub async fn apply_report(
    tx: &Transaction<'_>,
    app: &App,
    attempt: AttemptId,
    report: &StatusReport,
) -> Result<(Applied, Vec<uuid::Uuid>), AppError> {
    let base_url = &app.config.http.public_base_url;
    let row = tx
        .query_typed_opt(
            "SELECT t.id, t.status, t.merchant_id FROM transaction_attempts a JOIN transactions t ON t.id = a.transaction_id
             WHERE a.id = $1 FOR UPDATE OF t, a",
            &[(&attempt.as_uuid(), Type::UUID)],
        )
        .await?
        .ok_or(AppError::NotFound("attempt"))?;
    let transaction = TransactionId::from_uuid(row.get(0));
    let current: TransactionStatus = row.get::<_, &str>(1).parse().map_err(AppError::Internal)?;
    let merchant = MerchantId::from_uuid(row.get(2));
    let next = report.status;
    if next == TransactionStatus::Pending || next == TransactionStatus::Created {
        return Ok((Applied::Unchanged, Vec::new()));
    }
    match current.transition(next) {
        Transition::Duplicate => return Ok((Applied::Unchanged, Vec::new())),
        Transition::Refused => {
            tracing::warn!(transaction = %transaction, from = %current, to = %next, "gateway report refused by the state machine");
            return Ok((Applied::Refused, Vec::new()));
        }
        Transition::Apply => {}
    }
    tx.execute_typed(
        "UPDATE transaction_attempts SET status = $2, gateway_payment_id = coalesce($3, gateway_payment_id),
             error_message = $4, updated_at = now() WHERE id = $1",
        &[(&attempt.as_uuid(), Type::UUID), (&next.as_str(), Type::TEXT), (&report.payment_id, Type::TEXT), (&report.failure_reason, Type::TEXT)],
    )
    .await?;
    let updated = tx
        .query_typed_one(
            &format!(
                "UPDATE transactions SET status = $2, failure_reason = $3, updated_at = now(),
                     succeeded_at = CASE WHEN $2 = 'succeeded' THEN now() ELSE succeeded_at END
                 WHERE id = $1 RETURNING {COLUMNS}"
            ),
            &[
                (&transaction.as_uuid(), Type::UUID),
                (&next.as_str(), Type::TEXT),
                (&report.failure_reason, Type::TEXT),
            ],
        )
        .await?;
    let transaction = view(&updated, base_url);
    let ids = outbox::write(
        tx,
        app.delivery,
        &[Outgoing::Event(event(
            &format!("transaction.{next}"),
            merchant,
            EventSubject::from(&transaction),
        ))],
    )
    .await?;
    Ok((Applied::Changed(next), ids))
}
