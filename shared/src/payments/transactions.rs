//! Transactions (payments) and their attempts: validation of `POST /api/v1/pay`, creation with
//! its first attempt and outbox in one database transaction, reading and listing, and applying
//! what gateways report through the state machine.

use super::status::{TransactionStatus, Transition};
use crate::app::App;
use crate::config::PaymentsConfig;
use crate::db::Transaction;
use crate::db::record::{DecodeError, Record};
use crate::error::AppError;
use crate::gateways::{PaymentOutcome, StatusReport};
use crate::http::pagination::{Page, PageRequest};
use crate::ids::{AttemptId, MerchantId, TransactionId};
use crate::jobs::bus::DomainEvent;
use crate::jobs::outbox::{self, Outgoing};
use crate::jobs::queues;
use crate::mode::Mode;
use crate::money::Currency;
use crate::routing::{RouteRequest, Router};
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
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "amount": 49900,
    "currency": "INR",
    "order_id": "order_1042",
    "customer": { "name": "Asha Verma", "email": "asha@example.in", "phone": "+919812345678" },
    "description": "Masala chai x 2",
    "return_url": "https://shop.example/orders/1042/paid",
    "notes": { "table": "7" },
    "expires_in": 1800
}))]
pub struct PayRequest {
    /// Paise, a whole number within the platform's limits (by default ₹1 to ₹5,00,000; a
    /// deployment may set others), written as a JSON integer: amounts are never floats, so
    /// `49900.0` is refused like `499.5`.
    #[schema(minimum = 100, maximum = 50000000)]
    pub amount: i64,
    /// ISO code; INR when absent.
    #[schema(value_type = Option<Currency>)]
    pub currency: Option<String>,
    /// The merchant's reference, unique per merchant and mode.
    #[schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9._:/-]+$")]
    pub order_id: String,
    /// Who pays.
    pub customer: Customer,
    /// Shown to the customer.
    #[schema(max_length = 255)]
    pub description: Option<String>,
    /// Where the customer returns after paying: an https URL with a host (http too in test mode),
    /// without spaces or control characters.
    #[schema(
        format = "uri",
        max_length = 2048,
        pattern = r"^https?://[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*(:[0-9]{1,4})?(/[A-Za-z0-9._~%!$&'()*+,;=:@/-]*)?(\?[A-Za-z0-9._~%!$&'()*+,;=:@/?-]*)?$"
    )]
    pub return_url: String,
    /// Free-form string pairs for the merchant: at most 15, keys of 1–40 characters, values of at
    /// most 256.
    pub notes: Option<BTreeMap<String, String>>,
    /// Seconds until the payment expires (default 1800).
    #[schema(minimum = 60, maximum = 604800)]
    pub expires_in: Option<i64>,
}

/// The paying customer.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Customer {
    /// Full name.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// Email address.
    #[schema(
        format = Email,
        max_length = 254,
        pattern = r"^[A-Za-z0-9_%+'-]+(\.[A-Za-z0-9_%+'-]+)*@([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,}$"
    )]
    pub email: String,
    /// Phone number: 10–15 digits with an optional leading `+` (spaces and dashes are ignored).
    #[schema(example = "+919812345678", pattern = r"^\+?[0-9]{10,15}$")]
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
    purpose: PaymentPurpose,
}

impl NewPayment {
    /// The same payment for another purpose (a wallet top-up is routed to platform-owned
    /// accounts only and booked to the wallet, without a fee).
    pub fn with_purpose(mut self, purpose: PaymentPurpose) -> NewPayment {
        self.purpose = purpose;
        self
    }
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
            purpose: PaymentPurpose::Payment,
        })
    }
}

/// A transaction as the API shows it.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct TransactionView {
    /// `txn_…`
    pub id: TransactionId,
    /// The merchant it belongs to (`mer_…`): what tells payments apart in an operator's list.
    pub merchant_id: MerchantId,
    /// The merchant's reference.
    pub order_id: String,
    /// Where it stands.
    pub status: TransactionStatus,
    /// Paise.
    pub amount: i64,
    /// ISO code.
    #[schema(value_type = Currency)]
    pub currency: String,
    /// Test or live.
    pub mode: Mode,
    /// Where the customer pays.
    #[schema(format = "uri")]
    pub checkout_url: String,
    /// The customer.
    pub customer: CustomerView,
    /// Shown to the customer.
    pub description: Option<String>,
    /// Where the customer returns.
    #[schema(format = "uri")]
    pub return_url: String,
    /// The merchant's notes.
    #[schema(value_type = BTreeMap<String, String>)]
    pub notes: Value,
    /// Why it failed.
    pub failure_reason: Option<String>,
    /// We learned of the capture only after the payment's `expires_at` (the customer paid late,
    /// or the gateway told us late): it succeeded all the same, since the money was taken, but
    /// it may have read as `expired` meanwhile; the merchant decides whether to fulfil the order
    /// or refund it. `transaction.succeeded` says so too, and `transaction.late_capture` follows.
    pub confirmed_after_expiry: bool,
    /// The gateway's id of the payment that captured it (what the gateway's dashboard and
    /// settlement reports show), once captured.
    pub gateway_payment_id: Option<String>,
    /// What it pays for: the merchant's own sale, or a top-up of the merchant's wallet.
    pub purpose: PaymentPurpose,
    /// How the customer paid (`upi`, `card`, `netbanking`, `wallet`, `emi`, `paylater`, `other`),
    /// when the gateway said; it picks the merchant's fee rate for that method.
    #[schema(pattern = "^[a-z][a-z_]{0,31}$")]
    pub payment_method: Option<String>,
    /// Our fee on it, in paise, once captured (at the merchant's rate then; none on a top-up).
    pub fee: Option<i64>,
    /// GST on our fee (18 %), in paise, once captured.
    pub gst: Option<i64>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it expires if unpaid.
    pub expires_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
    /// When it moved to the archive (only on archived payments, which no longer change).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archived_at: Option<DateTime<Utc>>,
}

/// What a payment is for.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentPurpose {
    /// The merchant's sale.
    Payment,
    /// A top-up of the merchant's own prepaid wallet, through the platform's checkout.
    WalletTopUp,
}

impl PaymentPurpose {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentPurpose::Payment => "payment",
            PaymentPurpose::WalletTopUp => "wallet_top_up",
        }
    }
}

impl std::str::FromStr for PaymentPurpose {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "payment" => Ok(PaymentPurpose::Payment),
            "wallet_top_up" => Ok(PaymentPurpose::WalletTopUp),
            other => Err(format!("unknown payment purpose '{other}'")),
        }
    }
}

/// The paying customer, as stored.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct CustomerView {
    /// Full name.
    pub name: String,
    /// Email address, lower case.
    pub email: String,
    /// Phone number without spaces or dashes.
    pub phone: String,
}

/// An attempt as the API shows it.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct AttemptView {
    /// `att_…`
    pub id: AttemptId,
    /// The provider.
    #[schema(value_type = crate::gateways::Provider)]
    pub gateway: String,
    /// Its status: `amount_mismatch` when the gateway reported a capture of another amount or
    /// currency than asked (held for operators, never applied).
    #[schema(pattern = "^(created|pending|succeeded|failed|expired|amount_mismatch)$")]
    pub status: String,
    /// The gateway's order id.
    pub gateway_reference: Option<String>,
    /// The gateway's payment id.
    pub gateway_payment_id: Option<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Operators only: how it was routed (mode, every pool member with its score or why it was
    /// left out, the chosen account and why; `failover_from` when an earlier attempt's account
    /// could not make the order).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub routing: Option<Value>,
}

/// A payment's columns as the API reads them. An open payment past its expiry reads as `expired`
/// at once: the monitor that records the expiry (and tells the merchant) runs every few minutes,
/// and our checkout page already refuses it. It is not final: a customer still on a gateway's
/// page may pay, and that capture succeeds the payment (`confirmed_after_expiry`). State
/// decisions read the stored `status`, never this.
/// A payment's status as the API reads it: an open payment past `expires_at` is `expired` at once,
/// before the monitor records it (state decisions read the stored `status`).
macro_rules! effective_status {
    () => {
        "CASE WHEN status IN ('created', 'pending') AND expires_at <= now() THEN 'expired' ELSE status END"
    };
}

const COLUMNS: &str = concat!(
    "id, order_id, ",
    effective_status!(),
    " AS status, \
                       amount, currency, mode, customer_name, customer_email, customer_phone, description, \
                       return_url, notes, failure_reason, created_at, expires_at, updated_at, merchant_id, purpose, payment_method, fee, gst, \
                       succeeded_at IS NOT NULL AND succeeded_at > expires_at AS confirmed_after_expiry, gateway_payment_id"
);

/// A stored status, mode or currency the code does not know is an error, never a guess: a
/// payment shown as `created` or `test` when it is neither misleads whoever acts on it.
fn view(row: &Row, base_url: &str) -> Result<TransactionView, DecodeError> {
    let row = Record::new(row, "transactions");
    let id = TransactionId::from_uuid(row.get("id")?);
    Ok(TransactionView {
        checkout_url: checkout_url(base_url, id),
        id,
        merchant_id: MerchantId::from_uuid(row.get("merchant_id")?),
        order_id: row.get("order_id")?,
        status: row.parse("status")?,
        amount: row.get("amount")?,
        currency: row.parse::<Currency>("currency")?.code().to_string(),
        mode: row.parse("mode")?,
        customer: CustomerView {
            name: row.get("customer_name")?,
            email: row.get("customer_email")?,
            phone: row.get("customer_phone")?,
        },
        description: row.get("description")?,
        return_url: row.get("return_url")?,
        notes: row.get("notes")?,
        failure_reason: row.get("failure_reason")?,
        confirmed_after_expiry: row.get("confirmed_after_expiry")?,
        gateway_payment_id: row.get("gateway_payment_id")?,
        purpose: row.parse("purpose")?,
        payment_method: row.get("payment_method")?,
        fee: row.get("fee")?,
        gst: row.get("gst")?,
        created_at: row.get("created_at")?,
        expires_at: row.get("expires_at")?,
        updated_at: row.get("updated_at")?,
        archived_at: None,
    })
}

/// A payment read from either table (`archived_at` is NULL for a live one).
fn view_either(row: &Row, base_url: &str) -> Result<TransactionView, DecodeError> {
    let mut view = view(row, base_url)?;
    view.archived_at = Record::new(row, "transactions").get("archived_at")?;
    Ok(view)
}

/// The live payment with id `$1`, else the archived one: one statement, so a payment being
/// archived meanwhile is found in exactly one of the two.
fn either_by_id() -> String {
    format!(
        "SELECT {COLUMNS}, NULL::timestamptz AS archived_at FROM transactions WHERE id = $1
         UNION ALL
         SELECT {COLUMNS}, archived_at FROM archived_transactions WHERE id = $1"
    )
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
    let routing = RouteRequest {
        merchant,
        mode,
        amount: payment.amount,
        now: app.clock.now(),
        tried: &[],
        // A top-up's money must reach us; a payment's fee on the merchant's own account is
        // taken from its wallet, so the wallet decides whether those accounts may take it.
        platform_only: payment.purpose == PaymentPurpose::WalletTopUp,
        wallet_guard: payment.purpose == PaymentPurpose::Payment,
    };
    let (status, route) = futures::join!(merchant_status, router.route(tx, &routing));
    let status = status?;
    let status = status
        .as_ref()
        .map(|r| Record::new(r, "merchants").get::<&str>("status"))
        .transpose()?;
    match status {
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
            failure_reason: None,
            confirmed_after_expiry: false,
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
                     customer_phone, description, return_url, notes, expires_at, purpose)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, now() + make_interval(secs => $13), $21)
                 RETURNING {COLUMNS}),
             a AS (
                 INSERT INTO transaction_attempts (id, transaction_id, merchant_id, mode, gateway_account_id, provider,
                     routing, cap_amount, cap_day, cap_month)
                 SELECT $14, t.id, t.merchant_id, t.mode, $15, $16, $17, $18, $19, $20 FROM t)
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
            (&route.record, Type::JSONB),
            (&route.reservation.map(|r| r.amount), Type::INT8),
            (&route.reservation.and_then(|r| r.day), Type::DATE),
            (&route.reservation.and_then(|r| r.month), Type::DATE),
            (&payment.purpose.as_str(), Type::TEXT),
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
    Ok((view(&row, base_url)?, ids))
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
    /// Why it failed, once it has.
    pub failure_reason: Option<&'a str>,
    /// Captured after its expiry (a late payment).
    pub confirmed_after_expiry: bool,
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
            failure_reason: t.failure_reason.as_deref(),
            confirmed_after_expiry: t.confirmed_after_expiry,
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
                "failure_reason": subject.failure_reason,
                "confirmed_after_expiry": subject.confirmed_after_expiry,
            },
        }),
    }
}

/// One transaction with its attempts, live or archived, if visible in the transaction's scope;
/// with each attempt's routing decision when `with_routing` (operators).
pub async fn get(
    tx: &Transaction<'_>,
    base_url: &str,
    id: TransactionId,
    with_routing: bool,
) -> Result<Option<(TransactionView, Vec<AttemptView>)>, AppError> {
    let Some(row) = tx
        .query_typed_opt(&either_by_id(), &[(&id.as_uuid(), Type::UUID)])
        .await?
    else {
        return Ok(None);
    };
    // Both tables: the payment may have been archived since the statement above.
    let attempts = tx
        .query_typed(
            "SELECT id, provider, status, gateway_reference, gateway_payment_id, created_at, routing, number
               FROM transaction_attempts WHERE transaction_id = $1
             UNION ALL
             SELECT id, provider, status, gateway_reference, gateway_payment_id, created_at, routing, number
               FROM archived_transaction_attempts WHERE transaction_id = $1
             ORDER BY number, created_at, id",
            &[(&id.as_uuid(), Type::UUID)],
        )
        .await?
        .iter()
        .map(|r| {
            let r = Record::new(r, "transaction_attempts");
            Ok(AttemptView {
                id: AttemptId::from_uuid(r.get("id")?),
                gateway: r.get("provider")?,
                status: r.get("status")?,
                gateway_reference: r.get("gateway_reference")?,
                gateway_payment_id: r.get("gateway_payment_id")?,
                created_at: r.get("created_at")?,
                routing: if with_routing {
                    r.get("routing")?
                } else {
                    None
                },
            })
        })
        .collect::<Result<_, DecodeError>>()?;
    Ok(Some((view_either(&row, base_url)?, attempts)))
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
    /// Archived payments too, in the same order.
    pub include_archived: bool,
}

/// The list's filters, the same on both tables.
const LIST_WHERE: &str = concat!(
    "($1::uuid IS NULL OR merchant_id = $1) AND ($2::text IS NULL OR ",
    effective_status!(),
    " = $2)
                   AND ($3::text IS NULL OR order_id = $3) AND ($4::timestamptz IS NULL OR created_at >= $4)
                   AND ($5::timestamptz IS NULL OR created_at < $5) AND ($6::uuid IS NULL OR id < $6)"
);

/// Transactions visible in the scope, newest first; with the archived ones when asked. Ids are
/// unique across both tables and a payment is in exactly one of them in any one statement, so the
/// id cursor pages through both without a gap or a repeat.
pub async fn list(
    tx: &Transaction<'_>,
    base_url: &str,
    filter: &ListFilter,
    page: &PageRequest<TransactionId>,
) -> Result<Page<TransactionView>, AppError> {
    let rows = tx
        .query_typed(
            &format!(
                "SELECT * FROM (
                     (SELECT {COLUMNS}, NULL::timestamptz AS archived_at FROM transactions
                       WHERE {LIST_WHERE} ORDER BY id DESC LIMIT $7)
                     UNION ALL
                     (SELECT {COLUMNS}, archived_at FROM archived_transactions
                       WHERE $8 AND {LIST_WHERE} ORDER BY id DESC LIMIT $7)
                 ) AS both_tables
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
                (&filter.include_archived, Type::BOOL),
            ],
        )
        .await?;
    Ok(Page::from_rows(
        rows.iter()
            .map(|r| view_either(r, base_url))
            .collect::<Result<_, _>>()?,
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
    /// A success whose captured amount or currency is not the payment's, or unknown: the
    /// attempt is flagged `amount_mismatch` and the payment does not succeed.
    AmountMismatch,
}

/// Applies a gateway's report on `attempt` to it and its transaction, under row locks, through
/// the state machine; writes the matching domain event to the outbox. Returns the outbox ids.
///
/// Every path that applies reports (webhooks, browser returns, the monitor) comes through here,
/// so this is the one place a success is checked against what the gateway says it captured.
pub async fn apply_report(
    tx: &Transaction<'_>,
    app: &App,
    attempt: AttemptId,
    report: &StatusReport,
) -> Result<(Applied, Vec<uuid::Uuid>), AppError> {
    apply(tx, app, attempt, report.status.into(), report).await
}

/// Expires the payment of `attempt`, which nobody paid before its expiry: the platform's own
/// decision, through the same state machine and events as a gateway's report.
pub async fn apply_expiry(
    tx: &Transaction<'_>,
    app: &App,
    attempt: AttemptId,
) -> Result<(Applied, Vec<uuid::Uuid>), AppError> {
    let report = StatusReport {
        failure_reason: Some("expired before payment".into()),
        ..StatusReport::of(PaymentOutcome::Pending)
    };
    apply(tx, app, attempt, TransactionStatus::Expired, &report).await
}

/// Moves `attempt` and its transaction to `next`, with what `report` adds (payment id, failure
/// reason, captured amount).
async fn apply(
    tx: &Transaction<'_>,
    app: &App,
    attempt: AttemptId,
    next: TransactionStatus,
    report: &StatusReport,
) -> Result<(Applied, Vec<uuid::Uuid>), AppError> {
    let base_url = &app.config.http.public_base_url;
    let row = tx
        .query_typed_opt(
            "SELECT t.id, t.status, t.merchant_id, t.amount, t.currency, a.status AS attempt_status,
                    EXISTS (SELECT 1 FROM transaction_attempts n WHERE n.transaction_id = t.id AND n.number > a.number) AS superseded,
                    EXISTS (SELECT 1 FROM transaction_attempts s WHERE s.transaction_id = t.id AND s.id <> a.id
                                AND s.status = 'succeeded') AS other_captured
             FROM transaction_attempts a JOIN transactions t ON t.id = a.transaction_id
             WHERE a.id = $1 FOR UPDATE OF t, a",
            &[(&attempt.as_uuid(), Type::UUID)],
        )
        .await?
        .ok_or(AppError::NotFound("attempt"))?;
    let record = Record::new(&row, "transactions");
    let transaction = TransactionId::from_uuid(record.get("id")?);
    let current: TransactionStatus = record.parse("status")?;
    let merchant = MerchantId::from_uuid(record.get("merchant_id")?);
    let amount: i64 = record.get("amount")?;
    let currency: String = record.get("currency")?;
    if next == TransactionStatus::Pending || next == TransactionStatus::Created {
        return Ok((Applied::Unchanged, Vec::new()));
    }
    // The customer paid twice: this attempt's order was captured after another one's. Nothing
    // moves the payment, but the money is there: the attempt says so and operators are told.
    if next == TransactionStatus::Succeeded
        && record.get::<bool>("other_captured")?
        && record.get::<&str>("attempt_status")? != "succeeded"
    {
        return flag_second_capture(tx, app, attempt, merchant, report).await;
    }
    // A later attempt (failover or the customer's retry) speaks for the payment now: an earlier
    // one's failure or expiry is old news. Its capture still counts: that money was taken.
    if record.get::<bool>("superseded")? && next != TransactionStatus::Succeeded {
        tracing::info!(transaction = %transaction, attempt = %attempt, to = %next, "report on a superseded attempt; not applied");
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
    // An earlier report of this attempt was of another amount (what it captured is in suspense).
    let flagged = record.get::<&str>("attempt_status")? == AMOUNT_MISMATCH;
    if next == TransactionStatus::Succeeded
        && !report
            .captured
            .as_ref()
            .is_some_and(|c| c.matches(amount, &currency))
    {
        return flag_amount_mismatch(tx, app, attempt, merchant, report, flagged).await;
    }
    tx.execute_typed(
        "UPDATE transaction_attempts SET status = CASE WHEN status = 'amount_mismatch' AND $2 <> 'succeeded' THEN status ELSE $2 END,
             gateway_payment_id = coalesce($3, gateway_payment_id),
             error_message = CASE WHEN status = 'amount_mismatch' AND $2 <> 'succeeded' THEN error_message ELSE $4 END,
             failure_kind = CASE WHEN $2 = 'failed' THEN coalesce(failure_kind, 'declined') ELSE failure_kind END,
             updated_at = now() WHERE id = $1",
        &[(&attempt.as_uuid(), Type::UUID), (&next.as_str(), Type::TEXT), (&report.payment_id, Type::TEXT), (&report.failure_reason, Type::TEXT)],
    )
    .await?;
    // A payment that will not complete frees the volume its route reserved.
    if matches!(next, TransactionStatus::Failed | TransactionStatus::Expired) {
        tx.execute_typed(
            "SELECT routing_release($1)",
            &[(&attempt.as_uuid(), Type::UUID)],
        )
        .await?;
    }
    // The books move with the payment, in this transaction: our fee, GST and any commission
    // (stored on the payment first, so the update below returns them; posted last). How the
    // customer paid, where the gateway says, picks the merchant's rate and is stored with them.
    let mut outgoing = Vec::with_capacity(2);
    let booking = match next {
        TransactionStatus::Succeeded => {
            let method = report.method.map(|m| m.as_str());
            let booking = crate::ledger::book::capture(tx, app, attempt, method, flagged).await?;
            // The fee came out of the wallet (or a top-up went in): it is checked against its
            // thresholds at once, by its own worker (this transaction may be in a scope that
            // cannot tell people).
            if let Some((merchant, mode)) = booking.wallet_debited.or(booking.wallet_credited) {
                outgoing.push(
                    crate::wallets::monitor::CheckJob {
                        merchant_id: merchant,
                        mode,
                    }
                    .outgoing(),
                );
            }
            Some(booking)
        }
        _ => None,
    };
    let updated = tx
        .query_typed_one(
            &format!(
                "UPDATE transactions SET status = $2, failure_reason = $3, updated_at = now(),
                     succeeded_at = CASE WHEN $2 = 'succeeded' THEN now() ELSE succeeded_at END,
                     gateway_payment_id = CASE WHEN $2 = 'succeeded'
                         THEN (SELECT gateway_payment_id FROM transaction_attempts WHERE id = $4)
                         ELSE gateway_payment_id END
                 WHERE id = $1 RETURNING {COLUMNS}"
            ),
            &[
                (&transaction.as_uuid(), Type::UUID),
                (&next.as_str(), Type::TEXT),
                (&report.failure_reason, Type::TEXT),
                (&attempt.as_uuid(), Type::UUID),
            ],
        )
        .await?;
    if next == TransactionStatus::Succeeded {
        close_the_other_attempts(tx, transaction, attempt).await?;
    }
    let transaction = view(&updated, base_url)?;
    outgoing.push(Outgoing::Event(event(
        &format!("transaction.{next}"),
        merchant,
        EventSubject::from(&transaction),
    )));
    // A capture after the payment's expiry still succeeds it (the money was taken), and the
    // merchant hears of it apart as well: it may have cancelled the order when it expired, and
    // must now fulfil it or refund it.
    if next == TransactionStatus::Succeeded && transaction.confirmed_after_expiry {
        outgoing.push(Outgoing::Event(event(
            "transaction.late_capture",
            merchant,
            EventSubject::from(&transaction),
        )));
    }
    let ids = outbox::write(tx, app.delivery, &outgoing).await?;
    if let Some(booking) = booking {
        booking.post(tx).await?;
    }
    Ok((Applied::Changed(next), ids))
}

/// Once one attempt is captured, the payment's other open attempts are done: they give back their
/// caps and are closed, so no other order of this payment waits to be paid; and the captured one
/// takes back its cap if a failure or expiry had released it (that volume moved after all).
async fn close_the_other_attempts(
    tx: &Transaction<'_>,
    transaction: TransactionId,
    captured: AttemptId,
) -> Result<(), AppError> {
    let params: [(&(dyn tokio_postgres::types::ToSql + Sync), Type); 2] = [
        (&transaction.as_uuid(), Type::UUID),
        (&captured.as_uuid(), Type::UUID),
    ];
    tx.execute_typed(
        "SELECT routing_release(id) FROM transaction_attempts
          WHERE transaction_id = $1 AND id <> $2 AND status IN ('created', 'pending')",
        &params,
    )
    .await?;
    tx.execute_typed(
        "UPDATE transaction_attempts SET status = 'expired', error_code = 'superseded',
                error_message = 'another attempt of this payment was captured', order_lease_until = NULL, updated_at = now()
          WHERE transaction_id = $1 AND id <> $2 AND status IN ('created', 'pending')",
        &params,
    )
    .await?;
    tx.execute_typed("SELECT routing_reclaim($1)", &params[1..])
        .await?;
    Ok(())
}

/// Records a capture on `attempt` after another attempt of its payment was captured, and tells
/// operators (`transaction.second_capture`): the customer paid twice and one must be refunded.
async fn flag_second_capture(
    tx: &Transaction<'_>,
    app: &App,
    attempt: AttemptId,
    merchant: MerchantId,
    report: &StatusReport,
) -> Result<(Applied, Vec<uuid::Uuid>), AppError> {
    tracing::error!(attempt = %attempt, payment_id = ?report.payment_id, "a second attempt of a captured payment was captured; refund one");
    tx.execute_typed(
        "UPDATE transaction_attempts SET status = 'succeeded', gateway_payment_id = coalesce($2, gateway_payment_id),
             error_code = 'second_capture', updated_at = now() WHERE id = $1",
        &[(&attempt.as_uuid(), Type::UUID), (&report.payment_id, Type::TEXT)],
    )
    .await?;
    crate::ledger::book::suspense(tx, attempt, report.captured.as_ref(), "second_capture").await?;
    let ids = tell_operators(
        tx,
        app,
        attempt,
        merchant,
        "transaction.second_capture",
        report,
    )
    .await?;
    Ok((Applied::Unchanged, ids))
}

/// The attempt status of a success that did not match the payment.
const AMOUNT_MISMATCH: &str = "amount_mismatch";

/// Flags `attempt` as reporting a success the payment cannot take, and tells operators once
/// (`transaction.amount_mismatch`): the customer may have paid something, which needs a person.
async fn flag_amount_mismatch(
    tx: &Transaction<'_>,
    app: &App,
    attempt: AttemptId,
    merchant: MerchantId,
    report: &StatusReport,
    already_flagged: bool,
) -> Result<(Applied, Vec<uuid::Uuid>), AppError> {
    let reported = report
        .captured
        .as_ref()
        .map_or_else(|| "no amount".to_string(), ToString::to_string);
    let detail = format!("the gateway reported a success of {reported}");
    // What the gateway did capture is held in suspense until someone resolves it; posted once
    // (its business key), also when only a later report of an attempt already flagged says how
    // much.
    crate::ledger::book::suspense(tx, attempt, report.captured.as_ref(), AMOUNT_MISMATCH).await?;
    if already_flagged {
        return Ok((Applied::AmountMismatch, Vec::new()));
    }
    tracing::error!(attempt = %attempt, reported = %reported, "gateway success does not match the payment's amount and currency; not applied");
    tx.execute_typed(
        "UPDATE transaction_attempts SET status = $2, gateway_payment_id = coalesce($3, gateway_payment_id),
             error_code = $2, error_message = $4, updated_at = now() WHERE id = $1",
        &[
            (&attempt.as_uuid(), Type::UUID),
            (&AMOUNT_MISMATCH, Type::TEXT),
            (&report.payment_id, Type::TEXT),
            (&detail, Type::TEXT),
        ],
    )
    .await?;
    let mut ids = tell_operators(
        tx,
        app,
        attempt,
        merchant,
        "transaction.amount_mismatch",
        report,
    )
    .await?;
    // And an alert, in the same transaction: the event is for systems, the alert for people.
    let condition = crate::alerts::Condition {
        key: format!("amount_mismatch:{attempt}"),
        kind: crate::alerts::AlertKind::AmountMismatch,
        severity: crate::notifications::Severity::Critical,
        merchant_id: Some(merchant),
        title: format!("Amount mismatch on attempt {attempt}: {detail}"),
        details: json!({
            "attempt_id": attempt,
            "gateway_payment_id": report.payment_id,
            "reported_amount": report.captured.as_ref().map(|c| c.minor),
            "reported_currency": report.captured.as_ref().map(|c| c.currency.clone()),
        }),
    };
    ids.extend(crate::alerts::raise(tx, app, &condition).await?);
    Ok((Applied::AmountMismatch, ids))
}

/// Writes `detail_type` about `attempt`'s payment with what the gateway reported, for operators:
/// a capture the payment could not take as it came.
async fn tell_operators(
    tx: &Transaction<'_>,
    app: &App,
    attempt: AttemptId,
    merchant: MerchantId,
    detail_type: &str,
    report: &StatusReport,
) -> Result<Vec<uuid::Uuid>, AppError> {
    let row = tx
        .query_typed_one(
            &format!(
                "SELECT {COLUMNS}, status AS stored_status FROM transactions
                  WHERE id = (SELECT transaction_id FROM transaction_attempts WHERE id = $1)"
            ),
            &[(&attempt.as_uuid(), Type::UUID)],
        )
        .await?;
    let transaction = view(&row, &app.config.http.public_base_url)?;
    // The stored status: these events are about what happened, not how a read would show it.
    let stored: TransactionStatus = Record::new(&row, "transactions").parse("stored_status")?;
    let mut event = event(
        detail_type,
        merchant,
        EventSubject {
            status: stored,
            ..EventSubject::from(&transaction)
        },
    );
    event.detail["attempt"] = json!({
        "id": attempt,
        "gateway_payment_id": report.payment_id,
        "reported_amount": report.captured.as_ref().map(|c| c.minor),
        "reported_currency": report.captured.as_ref().map(|c| c.currency.clone()),
    });
    outbox::write(tx, app.delivery, &[Outgoing::Event(event)]).await
}
