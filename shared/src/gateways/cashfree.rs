//! Cashfree Payments: the PG APIs under `/pg` (`x-client-id` / `x-client-secret` headers,
//! `x-api-version: 2025-01-01`, JSON with amounts in rupees as decimal numbers), Cashfree.js as the
//! hand-off, and signed webhooks:
//!
//! - `x-webhook-signature` is the standard (padded) base64 HMAC-SHA256 of `x-webhook-timestamp`
//!   (epoch milliseconds) followed directly by the raw body, keyed with the client secret; it is
//!   compared in constant time. Cashfree's own SDK checks no freshness; we refuse a timestamp more
//!   than 300 s from our clock, as for Stripe, so a captured delivery cannot be replayed later.
//!   The docs do not say whether Cashfree's retries (at 2, 10 and 30 minutes by default) are
//!   signed afresh: if they are not, late retries are refused, and the return's status query and
//!   reconciliation settle the payment instead. Replays inside the window are caught by the
//!   `x-idempotency-key` header (the same across retries of one event).
//! - The return to `order_meta.return_url` (a GET) carries no signature in the PG API docs (that
//!   none exists at all is UNCONFIRMED): it only names the order, and the platform believes
//!   nothing until a status query confirms it.
//!
//! Orders are made with our receipt as `order_id`. Cashfree keeps order ids unique and answers a
//! second create with 409 `order_already_exists`, so a retried create finds the first order
//! instead of making another, and [`Gateway::find_order`] is a plain read by the receipt. No
//! `x-idempotency-key` request header is sent: the Go SDK lists one, but its semantics and format
//! are not documented, and the unique order and refund ids already make creates safe to repeat.
//!
//! Amounts go out as JSON numbers written from paise by integer arithmetic (see
//! [`json_with_amount`]); amounts in answers are never read, since parsing them would need
//! floating point.
//!
//! A failed attempt does not close a Cashfree order: the customer may pay again on the same
//! session, so only `PAID` (success) and `EXPIRED` / `TERMINATED` (failure) are final here.

use super::endpoints::{Endpoints, Hosts};
use super::signature::hmac_sha256;
use super::transport::{Call, Transport, path_id, unsettled};
use super::{
    Account, CreatedOrder, Gateway, GatewayError, GatewayEvent, Handoff, OrderRequest,
    PaymentMethod, PaymentOutcome, Provider, RefundReport, RefundRequest, RefundStatus,
    StatusReport,
};
use crate::crypto::sha256;
use crate::html::{escape, page, rupees, script_json};
use crate::mode::Mode;
use crate::money::{ReportedAmount, parse_major_json, to_major_string};
use crate::secret::Secret;
use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value, json};
use sha2::Sha256;
use std::collections::BTreeMap;

const API: Hosts = Hosts {
    test: "https://sandbox.cashfree.com",
    live: "https://api.cashfree.com",
};
const SDK: Hosts = Hosts {
    test: "https://sdk.cashfree.com",
    live: "https://sdk.cashfree.com",
};

/// The `x-api-version` every call asks for; field types differ between versions.
pub const API_VERSION: &str = "2025-01-01";

/// How far a webhook's signed timestamp may be from our clock, in milliseconds.
pub const SIGNATURE_TOLERANCE_MS: i64 = 300_000;

/// An order id nobody makes: reading it proves the credentials without touching money.
const CREDENTIAL_PROBE: &str = "lsp_credential_check";

/// The Cashfree connector.
pub struct Cashfree {
    client: reqwest::Client,
    endpoints: Endpoints,
}

impl Cashfree {
    /// A connector using `client`, at the hosts `endpoints` gives.
    pub fn new(client: reqwest::Client, endpoints: Endpoints) -> Cashfree {
        Cashfree { client, endpoints }
    }

    fn api(&self, account: &Account, path: &str) -> String {
        format!("{}{path}", self.endpoints.base(account.environment, API))
    }

    /// A GET of `path`. Reading changes nothing at Cashfree: any failure may simply be retried.
    fn get_request(
        &self,
        account: &Account,
        path: &str,
    ) -> Result<reqwest::RequestBuilder, GatewayError> {
        Ok(self
            .client
            .get(self.api(account, path))
            .headers(auth_headers(account)?)
            .timeout(self.endpoints.timeout))
    }

    async fn get<T: DeserializeOwned>(
        &self,
        account: &Account,
        path: &str,
    ) -> Result<T, GatewayError> {
        CASHFREE
            .read(self.get_request(account, path)?, Call::Read)
            .await
    }

    /// A read where Cashfree's 404 means "no such order or refund" rather than a refusal.
    async fn get_optional<T: DeserializeOwned>(
        &self,
        account: &Account,
        path: &str,
    ) -> Result<Option<T>, GatewayError> {
        CASHFREE.lookup(self.get_request(account, path)?).await
    }

    /// A POST of the JSON `body` to `path`.
    fn post(
        &self,
        account: &Account,
        path: &str,
        body: String,
    ) -> Result<reqwest::RequestBuilder, GatewayError> {
        Ok(self
            .client
            .post(self.api(account, path))
            .headers(auth_headers(account)?)
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .timeout(self.endpoints.timeout))
    }

    async fn order(
        &self,
        account: &Account,
        order_id: &str,
    ) -> Result<Option<Order>, GatewayError> {
        let Ok(order_id) = cashfree_id(order_id) else {
            // Cashfree refuses such ids, so no order can have one.
            return Ok(None);
        };
        self.get_optional(account, &format!("/pg/orders/{order_id}"))
            .await
    }

    async fn refund(
        &self,
        account: &Account,
        refund: &RefundRequest,
    ) -> Result<Option<Refund>, GatewayError> {
        let order_id = cashfree_id(&refund.reference)?;
        let refund_id = cashfree_id(&refund.refund_id)?;
        self.get_optional(
            account,
            &format!("/pg/orders/{order_id}/refunds/{refund_id}"),
        )
        .await
    }
}

/// The three headers of every call. Checked before sending: a value that cannot be a header would
/// otherwise surface as a transport error that reads as "may have reached Cashfree".
fn auth_headers(account: &Account) -> Result<HeaderMap, GatewayError> {
    let unusable = |name: &str| {
        GatewayError::Configuration(format!(
            "gateway account {}: the cashfree {name} cannot be sent in a header",
            account.id
        ))
    };
    let id = HeaderValue::from_str(account.credential("client_id")?)
        .map_err(|_| unusable("client_id"))?;
    let mut secret = HeaderValue::from_str(account.credential("client_secret")?)
        .map_err(|_| unusable("client_secret"))?;
    secret.set_sensitive(true);
    let mut headers = HeaderMap::new();
    headers.insert("x-client-id", id);
    headers.insert("x-client-secret", secret);
    headers.insert("x-api-version", HeaderValue::from_static(API_VERSION));
    Ok(headers)
}

/// Cashfree's error body: `{"message","code","type"}`, sometimes with `help`.
#[derive(Debug, Default, Deserialize)]
struct ErrorBody {
    message: Option<String>,
    code: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

/// Cashfree's transport; its refusals go to [`classify`].
const CASHFREE: Transport<ErrorBody> = Transport::new("cashfree", classify);

/// By HTTP status first and the error `type` second. A 429 on a write is read as unsettled: the
/// docs do not say that a throttled request was never executed.
fn classify(status: u16, detail: &ErrorBody, call: Call) -> GatewayError {
    let kind = detail.kind.as_deref().unwrap_or("");
    let label = [kind, detail.code.as_deref().unwrap_or("")]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join("/");
    let message = format!(
        "cashfree {label} ({status}): {}",
        detail.message.as_deref().unwrap_or("no message")
    );
    match (status, kind) {
        (401 | 403, _) | (_, "authentication_error") => GatewayError::Configuration(message),
        (429, _) | (_, "rate_limit_error") => unsettled(call, message),
        (500..=599, _) | (_, "api_error") => unsettled(call, message),
        (400..=499, _) | (_, "invalid_request_error") => GatewayError::Declined(message),
        _ => unsettled(call, message),
    }
}

/// Order and refund ids go into URL paths; Cashfree allows letters, digits, `_` and `-` in
/// them, and anything else is refused here rather than escaped.
fn cashfree_id(id: &str) -> Result<&str, GatewayError> {
    path_id(
        id,
        |b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-',
        "a cashfree order or refund id",
    )
}

/// A JSON object whose first member is `field`: the rupee amount of `paise`, written as a JSON
/// number (`49900` → `499.00`), followed by `rest`.
///
/// serde_json without its `arbitrary_precision` or `raw_value` features (not enabled in this
/// workspace) can write a decimal number only from an `f64`, which money may never pass through.
/// The object is therefore assembled as text: `to_major_string` gives the exact decimal by integer
/// division, which is valid JSON number syntax as it stands, and every other key and value is
/// written by serde_json, so escaping stays its business.
pub fn json_with_amount(field: &str, paise: i64, rest: Map<String, Value>) -> String {
    let mut body = format!("{{{}:{}", Value::from(field), to_major_string(paise));
    for (name, value) in rest {
        body.push(',');
        body.push_str(&Value::from(name).to_string());
        body.push(':');
        body.push_str(&value.to_string());
    }
    body.push('}');
    body
}

/// The customer's phone as Cashfree takes it: digits only, the last ten (the national number of
/// an Indian mobile, without `+91`).
fn customer_phone(phone: &str) -> String {
    let digits: Vec<char> = phone.chars().filter(char::is_ascii_digit).collect();
    let skip = digits.len().saturating_sub(10);
    digits.into_iter().skip(skip).collect()
}

/// A stable customer id from the contact details (Cashfree allows letters, digits, `_`, `-`):
/// the same person gets the same id across payments, and no contact detail appears in it.
fn customer_id(order: &OrderRequest) -> String {
    let digest = sha256(
        format!(
            "{}|{}",
            order.customer_email.trim().to_ascii_lowercase(),
            customer_phone(&order.customer_phone)
        )
        .as_bytes(),
    );
    format!("lsp_{}", hex::encode(&digest[..12]))
}

/// The return URL with our order id in its query. Cashfree's docs advise keeping the order id in
/// the return URL (their samples use a `{order_id}` placeholder that Cashfree fills in); since we
/// choose the id, it is written literally, which works whether or not Cashfree substitutes.
fn return_url(base: &str, order_id: &str) -> String {
    let separator = if base.contains('?') { '&' } else { '?' };
    let encoded: String = form_urlencoded::byte_serialize(order_id.as_bytes()).collect();
    format!("{base}{separator}order_id={encoded}")
}

fn order_body(order: &OrderRequest, order_id: &str) -> String {
    let mut customer = Map::new();
    customer.insert("customer_id".into(), json!(customer_id(order)));
    customer.insert("customer_name".into(), json!(order.customer_name));
    if !order.customer_email.is_empty() {
        customer.insert("customer_email".into(), json!(order.customer_email));
    }
    customer.insert(
        "customer_phone".into(),
        json!(customer_phone(&order.customer_phone)),
    );
    let mut rest = Map::new();
    rest.insert("order_id".into(), json!(order_id));
    rest.insert("order_currency".into(), json!(order.currency.code()));
    rest.insert("customer_details".into(), Value::Object(customer));
    rest.insert(
        "order_meta".into(),
        json!({
            "return_url": return_url(&order.return_url, order_id),
            "notify_url": order.notify_url,
        }),
    );
    if let Some(description) = &order.description {
        rest.insert("order_note".into(), json!(description));
    }
    json_with_amount("order_amount", order.amount, rest)
}

/// Cashfree ids (`cf_payment_id`, `cf_refund_id`) are strings in the 2023-08-01 and later APIs
/// but numbers in older versions and in the refund webhook samples; either is read as text.
fn id_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        Text(String),
        Number(u64),
    }
    Ok(Option::<Id>::deserialize(deserializer)?.map(|id| match id {
        Id::Text(text) => text,
        Id::Number(number) => number.to_string(),
    }))
}

/// An order entity; the amount is deliberately not read.
#[derive(Debug, Deserialize)]
struct Order {
    order_id: String,
    #[serde(default)]
    order_status: String,
    payment_session_id: Option<Secret<String>>,
}

impl Order {
    fn created(self) -> CreatedOrder {
        CreatedOrder {
            reference: self.order_id,
            pay_url: None,
            checkout_token: self.payment_session_id,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct PaymentErrorDetails {
    error_description: Option<String>,
}

/// A payment entity, from `/pg/orders/{id}/payments` or a payment webhook.
#[derive(Debug, Default, Deserialize)]
struct Payment {
    #[serde(default, deserialize_with = "id_text")]
    cf_payment_id: Option<String>,
    #[serde(default)]
    payment_status: String,
    payment_message: Option<String>,
    error_details: Option<PaymentErrorDetails>,
    payment_time: Option<String>,
    payment_completion_time: Option<String>,
    /// Rupees, a JSON number (`499.5`).
    payment_amount: Option<Value>,
    payment_currency: Option<String>,
    /// `upi`, `credit_card`, `debit_card`, `net_banking`, `wallet`, `pay_later`, `cardless_emi`, …
    payment_group: Option<String>,
    /// The instrument, keyed by its kind (`{"upi": {…}}`, `{"card": {…}}`, `{"netbanking": {…}}`).
    payment_method: Option<Value>,
}

impl Payment {
    /// What this attempt says was paid; nothing when either part is missing or unreadable.
    fn captured(&self) -> Option<ReportedAmount> {
        let minor = parse_major_json(self.payment_amount.as_ref()?)?;
        Some(ReportedAmount::new(
            minor,
            self.payment_currency.as_deref()?,
        ))
    }

    /// How the customer paid: `payment_group`, else the one key of `payment_method`.
    fn method(&self) -> Option<PaymentMethod> {
        let instrument = || match self.payment_method.as_ref()? {
            Value::Object(kinds) if kinds.len() == 1 => kinds.keys().next().map(String::as_str),
            _ => None,
        };
        let group = self
            .payment_group
            .as_deref()
            .filter(|g| !g.trim().is_empty());
        PaymentMethod::read(group.or_else(instrument), method_named)
    }

    /// When it ended (or started), for finding the latest attempt.
    fn time(&self) -> Option<chrono::DateTime<chrono::FixedOffset>> {
        self.payment_completion_time
            .as_deref()
            .or(self.payment_time.as_deref())
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
    }

    /// Why it did not go through, in Cashfree's words.
    fn reason(&self) -> String {
        self.payment_message
            .clone()
            .filter(|m| !m.is_empty())
            .or_else(|| {
                self.error_details
                    .as_ref()
                    .and_then(|d| d.error_description.clone())
            })
            .unwrap_or_else(|| match self.payment_status.as_str() {
                "USER_DROPPED" => "the customer left the payment".into(),
                _ => "the payment attempt failed".into(),
            })
    }
}

/// Our name for Cashfree's payment group (or instrument kind).
fn method_named(word: &str) -> Option<PaymentMethod> {
    Some(match word {
        "upi" => PaymentMethod::Upi,
        "card" | "credit_card" | "debit_card" | "prepaid_card" | "corporate_credit_card" => {
            PaymentMethod::Card
        }
        "net_banking" | "netbanking" => PaymentMethod::Netbanking,
        // `app` is Cashfree's instrument for wallet apps (Paytm, PhonePe, Amazon Pay).
        "wallet" | "app" => PaymentMethod::Wallet,
        "pay_later" | "paylater" => PaymentMethod::Paylater,
        "emi" | "cardless_emi" | "credit_card_emi" | "debit_card_emi" => PaymentMethod::Emi,
        _ => return None,
    })
}

/// The reason of the latest failed or abandoned attempt; ties go to the later one in the list.
fn last_failure(payments: &[Payment]) -> Option<String> {
    payments
        .iter()
        .enumerate()
        .filter(|(_, p)| matches!(p.payment_status.as_str(), "FAILED" | "USER_DROPPED"))
        .max_by_key(|(index, p)| (p.time(), *index))
        .map(|(_, p)| p.reason())
}

/// Our view of an order. `order_status` decides, as Cashfree recommends: `PAID` is a success
/// (the payment id comes from the successful attempt), `EXPIRED` and `TERMINATED` are failures,
/// and everything else (`ACTIVE`, `TERMINATION_REQUESTED`, anything newer) stays open, keeping
/// the latest failed attempt's reason since the customer may try again.
fn report(order_status: &str, payments: &[Payment]) -> StatusReport {
    match order_status {
        // What the successful attempt paid, not the order's own amount: that is what we asked.
        "PAID" => {
            let paid = payments.iter().find(|p| p.payment_status == "SUCCESS");
            StatusReport {
                payment_id: paid.and_then(|p| p.cf_payment_id.clone()),
                captured: paid.and_then(Payment::captured),
                method: paid.and_then(Payment::method),
                ..StatusReport::of(PaymentOutcome::Succeeded)
            }
        }
        "EXPIRED" | "TERMINATED" => StatusReport {
            failure_reason: Some(last_failure(payments).unwrap_or_else(|| {
                format!(
                    "the cashfree order is {}",
                    order_status.to_ascii_lowercase()
                )
            })),
            ..StatusReport::of(PaymentOutcome::Failed)
        },
        _ => StatusReport {
            failure_reason: last_failure(payments),
            ..StatusReport::of(PaymentOutcome::Pending)
        },
    }
}

/// A refund entity; our refund id is Cashfree's `refund_id`.
#[derive(Debug, Deserialize)]
struct Refund {
    #[serde(default, deserialize_with = "id_text")]
    cf_refund_id: Option<String>,
    refund_id: Option<String>,
    order_id: Option<String>,
    #[serde(default)]
    refund_status: String,
    status_description: Option<String>,
}

/// `SUCCESS`, `PENDING`, `ONHOLD`, `CANCELLED`, and `FAILED` (in the field's description though
/// not in the SDK's enum, so accepted).
fn refund_report(refund: Refund) -> Result<RefundReport, String> {
    let status = match refund.refund_status.as_str() {
        "SUCCESS" => RefundStatus::Succeeded,
        "PENDING" | "ONHOLD" => RefundStatus::Pending,
        "CANCELLED" | "FAILED" => RefundStatus::Failed,
        other => return Err(format!("unknown cashfree refund status '{other}'")),
    };
    let failure_reason = (status == RefundStatus::Failed).then(|| {
        match refund
            .status_description
            .as_deref()
            .filter(|d| !d.is_empty())
        {
            Some(description) => format!("cashfree refund {}: {description}", refund.refund_status),
            None => format!("cashfree refund {}", refund.refund_status),
        }
    });
    Ok(RefundReport {
        refund_id: refund.refund_id,
        gateway_refund_id: refund.cf_refund_id,
        status,
        failure_reason,
    })
}

/// The standard base64 HMAC-SHA256 of `timestamp` followed by `body` under `secret`: what
/// Cashfree puts in `x-webhook-signature`.
pub fn webhook_signature(secret: &str, timestamp: &str, body: &[u8]) -> String {
    STANDARD.encode(webhook_mac(secret, timestamp, body).finalize().into_bytes())
}

fn webhook_mac(secret: &str, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = hmac_sha256(secret.as_bytes());
    mac.update(timestamp.as_bytes());
    mac.update(body);
    mac
}

/// Whether `signature` (an `x-webhook-signature`) signs `timestamp` (the `x-webhook-timestamp`,
/// epoch milliseconds, exactly as sent) and `body` under `secret` (the client secret), at a time
/// within [`SIGNATURE_TOLERANCE_MS`] of `now_ms`. Constant-time; fails closed on anything
/// malformed.
pub fn verify_signature(
    secret: &str,
    timestamp: &str,
    body: &[u8],
    signature: &str,
    now_ms: i64,
) -> bool {
    let Ok(signed_at) = timestamp.parse::<i64>() else {
        return false;
    };
    let fresh = now_ms
        .checked_sub(signed_at)
        .is_some_and(|age| age.unsigned_abs() <= SIGNATURE_TOLERANCE_MS.unsigned_abs());
    if !fresh {
        return false;
    }
    let Ok(presented) = STANDARD.decode(signature) else {
        return false;
    };
    webhook_mac(secret, timestamp, body)
        .verify_slice(&presented)
        .is_ok()
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Just the event's type, read first so that an event we do not act on is stored whatever its
/// `data` looks like.
#[derive(Debug, Deserialize)]
struct EventKind {
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Debug, Deserialize)]
struct Event {
    data: EventData,
}

#[derive(Debug, Default, Deserialize)]
struct EventData {
    order: Option<EventOrder>,
    payment: Option<Payment>,
    refund: Option<Refund>,
}

#[derive(Debug, Deserialize)]
struct EventOrder {
    order_id: Option<String>,
}

#[async_trait]
impl Gateway for Cashfree {
    fn provider(&self) -> Provider {
        Provider::Cashfree
    }

    fn required_credentials(&self) -> &'static [&'static str] {
        &["client_id", "client_secret"]
    }

    /// A 409 means this receipt's order exists (an earlier create reached Cashfree): it is read
    /// back and used, never made again. It is used whatever state it is in; the status query
    /// decides what it means.
    async fn create_order(
        &self,
        account: &Account,
        order: &OrderRequest,
    ) -> Result<CreatedOrder, GatewayError> {
        let order_id = cashfree_id(&order.receipt)?;
        let request = self.post(account, "/pg/orders", order_body(order, order_id))?;
        match CASHFREE.answer::<Order>(request, Call::Write).await? {
            Ok(created) if created.payment_session_id.is_none() => {
                Err(GatewayError::Ambiguous(format!(
                    "cashfree: order {} came without a payment session",
                    created.order_id
                )))
            }
            Ok(created) => Ok(created.created()),
            Err(refusal) if refusal.status == StatusCode::CONFLICT => {
                match self.order(account, order_id).await? {
                    Some(existing) => Ok(existing.created()),
                    // Said to exist but not readable yet: the next try will find it.
                    None => Err(GatewayError::Ambiguous(format!(
                        "cashfree reports order {order_id} exists but cannot find it yet: {}",
                        CASHFREE.refused(&refusal, Call::Write)
                    ))),
                }
            }
            Err(refusal) => Err(CASHFREE.refused(&refusal, Call::Write)),
        }
    }

    async fn find_order(
        &self,
        account: &Account,
        receipt: &str,
    ) -> Result<Option<CreatedOrder>, GatewayError> {
        Ok(self.order(account, receipt).await?.map(Order::created))
    }

    /// Reads an order nobody makes: 404 means Cashfree accepted the keys (a 401 is a
    /// configuration error). Test and live have separate hosts and keys, so a key of the other
    /// environment is refused like a wrong one.
    async fn check_credentials(&self, account: &Account) -> Result<(), GatewayError> {
        let _: Option<Order> = self
            .get_optional(account, &format!("/pg/orders/{CREDENTIAL_PROBE}"))
            .await?;
        Ok(())
    }

    async fn fetch_status(
        &self,
        account: &Account,
        reference: &str,
    ) -> Result<StatusReport, GatewayError> {
        let order_id = cashfree_id(reference)?;
        let order: Order = self.get(account, &format!("/pg/orders/{order_id}")).await?;
        let payments: Vec<Payment> = self
            .get(account, &format!("/pg/orders/{order_id}/payments"))
            .await?;
        Ok(report(&order.order_status, &payments))
    }

    fn handoff(
        &self,
        account: &Account,
        order: &OrderRequest,
        created: &CreatedOrder,
    ) -> Result<Handoff, GatewayError> {
        let session = created.exposed_checkout_token().ok_or_else(|| {
            GatewayError::Configuration(format!(
                "cashfree order {} has no payment session to hand off",
                created.reference
            ))
        })?;
        // The payment session id is made for the browser; the client secret never leaves us.
        let options = json!({
            "mode": match account.environment {
                Mode::Test => "sandbox",
                Mode::Live => "production",
            },
            "paymentSessionId": session,
        });
        let script = format!(
            "{}/js/v3/cashfree.js",
            self.endpoints.base(account.environment, SDK)
        );
        let body = format!(
            "<p class=\"amount\">{amount}</p><p>{description}</p>\
             <button id=\"pay\" class=\"pay\" type=\"button\">Pay with Cashfree</button>\
             <p class=\"muted\">You will finish the payment on Cashfree's secure page.</p>\
             <script src=\"{script}\"></script>\
             <script>var options = {options};\
             function openCheckout() {{ Cashfree({{ mode: options.mode }}).checkout(\
             {{ paymentSessionId: options.paymentSessionId, redirectTarget: \"_self\" }}); }}\
             document.getElementById('pay').addEventListener('click', openCheckout);\
             openCheckout();</script>",
            amount = rupees(order.amount),
            description = escape(order.description.as_deref().unwrap_or("")),
            script = escape(&script),
            options = script_json(&options),
        );
        Ok(Handoff::Html(page("Payment", &body)))
    }

    fn verify_webhook(&self, account: &Account, headers: &HeaderMap, body: &[u8]) -> bool {
        let (Some(signature), Some(timestamp)) = (
            header(headers, "x-webhook-signature"),
            header(headers, "x-webhook-timestamp"),
        ) else {
            return false;
        };
        let Ok(secret) = account.credential("client_secret") else {
            return false;
        };
        verify_signature(
            secret,
            timestamp,
            body,
            signature,
            chrono::Utc::now().timestamp_millis(),
        )
    }

    /// Cashfree's signature covers the body, but an order's outcome is confirmed with
    /// Cashfree itself before it is applied, as for PayU and Easebuzz (F2): a report that the
    /// merchant's own account could have produced is never the only evidence of a capture.
    fn webhook_needs_confirmation(&self) -> bool {
        true
    }

    /// Success settles the order; a failed or abandoned attempt stays open with its reason (the
    /// customer may pay again on the same order); refund events report the refund; other types
    /// are stored and not acted on. The order id is our receipt, so it is both.
    fn parse_webhook(&self, _headers: &HeaderMap, body: &[u8]) -> Result<GatewayEvent, String> {
        let EventKind { kind } =
            serde_json::from_slice(body).map_err(|e| format!("unreadable cashfree event: {e}"))?;
        // Cashfree's `x-idempotency-key` is not covered by the signature (timestamp and body
        // are), so a captured body could be replayed under fresh keys (F8): the signed body is
        // the deduplication key. A retry re-signs the same body with a new timestamp.
        let event_id = format!("sha256:{}", hex::encode(sha256(body)));
        let data = || {
            serde_json::from_slice::<Event>(body)
                .map(|e| e.data)
                .map_err(|e| format!("cashfree {kind} with unreadable data: {e}"))
        };
        let mut order_id = None;
        let mut report = None;
        let mut refund = None;
        match kind.as_str() {
            "PAYMENT_SUCCESS_WEBHOOK"
            | "PAYMENT_FAILED_WEBHOOK"
            | "PAYMENT_USER_DROPPED_WEBHOOK" => {
                let data = data()?;
                order_id = Some(
                    data.order
                        .and_then(|o| o.order_id)
                        .ok_or_else(|| format!("{kind} without data.order.order_id"))?,
                );
                let payment = data.payment.unwrap_or_default();
                report = Some(if kind == "PAYMENT_SUCCESS_WEBHOOK" {
                    StatusReport {
                        captured: payment.captured(),
                        method: payment.method(),
                        payment_id: payment.cf_payment_id,
                        ..StatusReport::of(PaymentOutcome::Succeeded)
                    }
                } else {
                    StatusReport {
                        failure_reason: Some(payment.reason()),
                        ..StatusReport::of(PaymentOutcome::Pending)
                    }
                });
            }
            "REFUND_STATUS_WEBHOOK" => {
                let found = data()?
                    .refund
                    .ok_or_else(|| format!("{kind} without data.refund"))?;
                order_id = found.order_id.clone();
                refund = Some(refund_report(found)?);
            }
            _ => {}
        }
        Ok(GatewayEvent {
            event_id,
            event_type: kind,
            receipt: order_id.clone(),
            reference: order_id,
            report,
            refund,
        })
    }

    /// Our refund id is Cashfree's `refund_id`, which Cashfree keeps unique per order: a 409
    /// (what Cashfree answers to a repeated id is not documented; 409 is its "already exists")
    /// reads the existing refund back instead of failing it.
    async fn create_refund(
        &self,
        account: &Account,
        refund: &RefundRequest,
    ) -> Result<RefundReport, GatewayError> {
        let order_id = cashfree_id(&refund.reference)?;
        let refund_id = cashfree_id(&refund.refund_id)?;
        let mut rest = Map::new();
        rest.insert("refund_id".into(), json!(refund_id));
        if let Some(reason) = refund.reason.as_deref().filter(|r| !r.is_empty()) {
            rest.insert("refund_note".into(), json!(reason));
        }
        let request = self.post(
            account,
            &format!("/pg/orders/{order_id}/refunds"),
            json_with_amount("refund_amount", refund.amount, rest),
        )?;
        match CASHFREE.answer::<Refund>(request, Call::Write).await? {
            Ok(created) => refund_report(created).map_err(GatewayError::Ambiguous),
            Err(refusal) if refusal.status == StatusCode::CONFLICT => {
                match self.refund(account, refund).await? {
                    Some(existing) => refund_report(existing).map_err(GatewayError::Ambiguous),
                    None => Err(CASHFREE.refused(&refusal, Call::Write)),
                }
            }
            Err(refusal) => Err(CASHFREE.refused(&refusal, Call::Write)),
        }
    }

    /// Always by our refund id: it is the key Cashfree's refund path takes, so Cashfree's own id
    /// is not needed.
    async fn fetch_refund(
        &self,
        account: &Account,
        refund: &RefundRequest,
        _gateway_refund_id: Option<&str>,
    ) -> Result<Option<RefundReport>, GatewayError> {
        self.refund(account, refund)
            .await?
            .map(refund_report)
            .transpose()
            .map_err(GatewayError::Ambiguous)
    }

    fn verify_return(
        &self,
        _account: &Account,
        params: &BTreeMap<String, String>,
    ) -> Option<String> {
        params
            .get("order_id")
            .filter(|id| cashfree_id(id).is_ok())
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Cashfree Payouts v2 webhooks use the PG's formula (gateway-facts-2, vector C1).
    #[test]
    fn payouts_webhook_vector_holds_for_the_same_check() {
        assert!(verify_signature(
            "cf_test_client_secret",
            "1700000000000",
            br#"{"type":"TRANSFER_SUCCESS","data":{"transfer_id":"T1","cf_transfer_id":"123","status":"SUCCESS"}}"#,
            "+Yuv5148f1ISRcAupencGxLQXL/TSam/HX7hk/Onwvs=",
            1_700_000_000_000,
        ));
    }

    // [CALC] vector from the gateway reference (computed with Python's hmac/base64).
    const SECRET: &str = "cfsk_ma_test_secret";
    const TS: &str = "1746427759733";
    const NOW: i64 = 1_746_427_759_733;
    const BODY: &[u8] = br#"{"data":{"order":{"order_id":"order_1","order_amount":170.00,"order_currency":"INR","order_tags":null},"payment":{"cf_payment_id":"5114910000000","payment_status":"SUCCESS","payment_amount":170.00,"payment_currency":"INR"}},"event_time":"2025-05-05T12:19:19+05:30","type":"PAYMENT_SUCCESS_WEBHOOK"}"#;
    const SIGNATURE: &str = "HWaIYt45JofabJnCmE20ya3EWGUq/6Vbb1bu795pU58=";

    #[test]
    fn the_reference_vector_verifies() {
        assert_eq!(webhook_signature(SECRET, TS, BODY), SIGNATURE);
        assert!(verify_signature(SECRET, TS, BODY, SIGNATURE, NOW));
        assert!(verify_signature(SECRET, TS, BODY, SIGNATURE, NOW + 300_000));
        assert!(verify_signature(SECRET, TS, BODY, SIGNATURE, NOW - 300_000));
    }

    #[test]
    fn a_tampered_body_a_wrong_secret_or_a_moved_timestamp_fails() {
        let mut tampered = BODY.to_vec();
        tampered[40] ^= 1;
        assert!(!verify_signature(SECRET, TS, &tampered, SIGNATURE, NOW));
        let mut longer = BODY.to_vec();
        longer.push(b'\n');
        assert!(!verify_signature(SECRET, TS, &longer, SIGNATURE, NOW));
        assert!(!verify_signature("cfsk_other", TS, BODY, SIGNATURE, NOW));
        assert!(!verify_signature(
            SECRET,
            "1746427759734",
            BODY,
            SIGNATURE,
            NOW
        ));
    }

    #[test]
    fn a_stale_or_future_timestamp_fails() {
        assert!(!verify_signature(
            SECRET,
            TS,
            BODY,
            SIGNATURE,
            NOW + 300_001
        ));
        assert!(!verify_signature(
            SECRET,
            TS,
            BODY,
            SIGNATURE,
            NOW - 300_001
        ));
        assert!(!verify_signature(SECRET, TS, BODY, SIGNATURE, i64::MIN));
        // Seconds instead of milliseconds are ~55 years away.
        assert!(!verify_signature(
            SECRET,
            "1746427759",
            BODY,
            &webhook_signature(SECRET, "1746427759", BODY),
            NOW
        ));
    }

    #[test]
    fn a_malformed_signature_or_timestamp_fails() {
        assert!(!verify_signature(SECRET, TS, BODY, "", NOW));
        assert!(!verify_signature(SECRET, TS, BODY, "not base64!", NOW));
        assert!(!verify_signature(
            SECRET,
            TS,
            BODY,
            &hex::encode(STANDARD.decode(SIGNATURE).unwrap()),
            NOW
        ));
        assert!(!verify_signature(SECRET, "", BODY, SIGNATURE, NOW));
        assert!(!verify_signature(
            SECRET,
            " 1746427759733",
            BODY,
            SIGNATURE,
            NOW
        ));
        assert!(!verify_signature(SECRET, "abc", BODY, SIGNATURE, NOW));
    }

    #[test]
    fn amounts_are_exact_json_numbers() {
        let mut rest = Map::new();
        rest.insert("note".into(), json!("a \"quoted\" </script>"));
        rest.insert("nested".into(), json!({ "k": [1, 2] }));
        let body = json_with_amount("order_amount", 49_900, rest);
        assert!(body.starts_with("{\"order_amount\":499.00,"), "{body}");
        let parsed: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(parsed["note"], "a \"quoted\" </script>");
        assert_eq!(parsed["nested"]["k"][1], 2);
        assert_eq!(json_with_amount("a", 7, Map::new()), "{\"a\":0.07}");
        assert_eq!(json_with_amount("a", 12_345, Map::new()), "{\"a\":123.45}");
        assert_eq!(
            json_with_amount("a", i64::MAX, Map::new()),
            "{\"a\":92233720368547758.07}"
        );
        assert!(serde_json::from_str::<Value>(&json_with_amount("a", 100, Map::new())).is_ok());
    }

    #[test]
    fn customer_details_use_only_allowed_characters() {
        assert_eq!(customer_phone("+91 98123-45678"), "9812345678");
        assert_eq!(customer_phone("9812345678"), "9812345678");
        let order = OrderRequest {
            receipt: "att_1".into(),
            amount: 100,
            currency: crate::money::Currency::Inr,
            customer_name: "Asha".into(),
            customer_email: "Asha@Example.in".into(),
            customer_phone: "+919812345678".into(),
            description: None,
            notify_url: "https://lsp.example/n".into(),
            return_url: "https://lsp.example/r".into(),
        };
        let id = customer_id(&order);
        assert!(cashfree_id(&id).is_ok() && id.len() <= 50, "{id}");
        let mut same = order.clone();
        same.customer_email = "asha@example.in".into();
        same.customer_phone = "9812345678".into();
        assert_eq!(customer_id(&same), id, "stable for one customer");
        assert_eq!(
            return_url("https://lsp.example/r", "att_1"),
            "https://lsp.example/r?order_id=att_1"
        );
        assert_eq!(
            return_url("https://lsp.example/r?x=1", "att_1"),
            "https://lsp.example/r?x=1&order_id=att_1"
        );
    }

    fn payment(id: &str, status: &str, time: &str, message: Option<&str>) -> Payment {
        Payment {
            cf_payment_id: Some(id.into()),
            payment_status: status.into(),
            payment_message: message.map(str::to_string),
            error_details: None,
            payment_time: Some(time.into()),
            payment_completion_time: None,
            payment_amount: Some(serde_json::json!(499)),
            payment_currency: Some("INR".into()),
            payment_group: None,
            payment_method: None,
        }
    }

    #[test]
    fn the_order_status_decides() {
        let tried = [
            payment("1", "FAILED", "2025-05-05T12:00:00+05:30", Some("first")),
            payment("2", "USER_DROPPED", "2025-05-05T12:05:00+05:30", None),
            payment("3", "FAILED", "2025-05-05T06:32:00Z", Some("third")),
        ];
        let open = report("ACTIVE", &tried);
        assert_eq!(
            open.status,
            PaymentOutcome::Pending,
            "the customer may retry"
        );
        assert_eq!(
            open.failure_reason.as_deref(),
            Some("the customer left the payment")
        );
        assert_eq!(report("ACTIVE", &[]).failure_reason, None);
        assert_eq!(
            report("TERMINATION_REQUESTED", &[]).status,
            PaymentOutcome::Pending
        );
        assert_eq!(report("SOMETHING_NEW", &[]).status, PaymentOutcome::Pending);

        let paid = report(
            "PAID",
            &[
                payment("1", "FAILED", "2025-05-05T12:00:00+05:30", Some("x")),
                payment("9", "SUCCESS", "2025-05-05T12:10:00+05:30", None),
            ],
        );
        assert_eq!(paid.status, PaymentOutcome::Succeeded);
        assert_eq!(paid.payment_id.as_deref(), Some("9"));

        let expired = report("EXPIRED", &[]);
        assert_eq!(expired.status, PaymentOutcome::Failed);
        assert_eq!(
            expired.failure_reason.as_deref(),
            Some("the cashfree order is expired")
        );
        let terminated = report("TERMINATED", &tried[..1]);
        assert_eq!(terminated.status, PaymentOutcome::Failed);
        assert_eq!(terminated.failure_reason.as_deref(), Some("first"));
    }

    #[test]
    fn errors_are_classified_by_status_and_type() {
        let detail = |kind: &str, code: &str| ErrorBody {
            message: Some("m".into()),
            code: Some(code.into()),
            kind: Some(kind.into()),
        };
        let none = ErrorBody::default();
        let is = |e: GatewayError, want: &str| {
            let got = match &e {
                GatewayError::Retryable(_) => "retryable",
                GatewayError::Declined(_) => "declined",
                GatewayError::Configuration(_) => "configuration",
                GatewayError::Ambiguous(_) => "ambiguous",
            };
            assert_eq!(got, want, "{e:?}");
        };
        is(
            classify(
                401,
                &detail("authentication_error", "request_failed"),
                Call::Read,
            ),
            "configuration",
        );
        is(classify(403, &none, Call::Write), "configuration");
        is(
            classify(
                400,
                &detail("invalid_request_error", "request_failed"),
                Call::Write,
            ),
            "declined",
        );
        is(
            classify(
                404,
                &detail("invalid_request_error", "order_not_found"),
                Call::Read,
            ),
            "declined",
        );
        is(classify(422, &none, Call::Write), "declined");
        is(
            classify(429, &detail("rate_limit_error", "x"), Call::Read),
            "retryable",
        );
        is(classify(429, &none, Call::Write), "ambiguous");
        is(
            classify(500, &detail("api_error", "x"), Call::Write),
            "ambiguous",
        );
        is(classify(502, &none, Call::Read), "retryable");
        is(
            classify(200, &detail("api_error", "x"), Call::Read),
            "retryable",
        );
    }

    #[test]
    fn refund_statuses_are_mapped() {
        let refund = |status: &str| Refund {
            cf_refund_id: Some("11325632".into()),
            refund_id: Some("rfd_1".into()),
            order_id: Some("att_1".into()),
            refund_status: status.into(),
            status_description: Some("Bank rejected".into()),
        };
        for (status, expected) in [
            ("SUCCESS", RefundStatus::Succeeded),
            ("PENDING", RefundStatus::Pending),
            ("ONHOLD", RefundStatus::Pending),
            ("CANCELLED", RefundStatus::Failed),
            ("FAILED", RefundStatus::Failed),
        ] {
            let report = refund_report(refund(status)).unwrap();
            assert_eq!(report.status, expected, "{status}");
            assert_eq!(report.refund_id.as_deref(), Some("rfd_1"));
            assert_eq!(report.gateway_refund_id.as_deref(), Some("11325632"));
        }
        assert_eq!(
            refund_report(refund("FAILED"))
                .unwrap()
                .failure_reason
                .as_deref(),
            Some("cashfree refund FAILED: Bank rejected")
        );
        assert!(refund_report(refund("MYSTERY")).is_err());
    }

    #[test]
    fn ids_may_be_numbers_or_strings() {
        let numeric: Refund = serde_json::from_str(
            r#"{"cf_refund_id":11325632,"refund_id":"r","refund_status":"SUCCESS","refund_amount":2.00}"#,
        )
        .unwrap();
        assert_eq!(numeric.cf_refund_id.as_deref(), Some("11325632"));
        let text: Payment =
            serde_json::from_str(r#"{"cf_payment_id":"5114910000000","payment_status":"SUCCESS"}"#)
                .unwrap();
        assert_eq!(text.cf_payment_id.as_deref(), Some("5114910000000"));
        let absent: Payment = serde_json::from_str(r#"{"payment_status":"FAILED"}"#).unwrap();
        assert_eq!(absent.cf_payment_id, None);
    }

    #[test]
    fn the_method_comes_from_the_payment_group() {
        // The docs' PAYMENT_SUCCESS_WEBHOOK sample (v2023-08-01): a UPI collect.
        let body = br#"{"data":{"order":{"order_id":"order_OFR_2","order_amount":2,"order_currency":"INR","order_tags":null},"payment":{"cf_payment_id":"1453002795","payment_status":"SUCCESS","payment_amount":1,"payment_currency":"INR","payment_message":"00::Transaction success","payment_time":"2022-12-15T12:20:29+05:30","bank_reference":"234928698581","auth_id":null,"payment_method":{"upi":{"channel":"collect","upi_id":"suhasg6@ybl"}},"payment_group":"upi"},"customer_details":{"customer_name":null,"customer_id":"7112AAA812234","customer_email":"test@example.com","customer_phone":"9908734801"},"payment_gateway_details":{"gateway_name":"CASHFREE","gateway_order_id":"1634766330","gateway_payment_id":"1504280029","gateway_status_code":null},"payment_offers":null},"event_time":"2022-12-15T12:20:33+05:30","type":"PAYMENT_SUCCESS_WEBHOOK"}"#;
        let gateway = Cashfree::new(
            reqwest::Client::new(),
            Endpoints::new(None, None, std::time::Duration::from_secs(1)),
        );
        let event = gateway.parse_webhook(&HeaderMap::new(), body).unwrap();
        let webhook = event.report.unwrap();
        assert_eq!(webhook.status, PaymentOutcome::Succeeded);
        assert_eq!(webhook.method, Some(PaymentMethod::Upi));

        // A payment entity as `GET /pg/orders/{id}/payments` lists it.
        let entity = |group: Value, instrument: Value| {
            serde_json::from_value::<Payment>(serde_json::json!({
                "cf_payment_id": 5114910000000_i64, "order_id": "att_1", "entity": "payment",
                "error_details": null, "is_captured": true, "order_amount": 499, "payment_group": group,
                "payment_currency": "INR", "payment_amount": 499, "payment_time": "2025-05-05T12:10:00+05:30",
                "payment_completion_time": "2025-05-05T12:10:09+05:30", "payment_status": "SUCCESS",
                "payment_message": "Transaction Successful", "bank_reference": "P78112898712",
                "auth_id": "A898101", "authorization": null, "payment_method": instrument
            }))
            .unwrap()
        };
        let card = serde_json::json!({"card": {"channel": "link", "card_number": "xxxxxx1111"}});
        for (group, ours) in [
            ("upi", PaymentMethod::Upi),
            ("credit_card", PaymentMethod::Card),
            ("debit_card", PaymentMethod::Card),
            ("prepaid_card", PaymentMethod::Card),
            ("net_banking", PaymentMethod::Netbanking),
            ("wallet", PaymentMethod::Wallet),
            ("pay_later", PaymentMethod::Paylater),
            ("cardless_emi", PaymentMethod::Emi),
            ("credit_card_emi", PaymentMethod::Emi),
            ("bank_transfer", PaymentMethod::Other),
        ] {
            let paid = report("PAID", &[entity(group.into(), card.clone())]);
            assert_eq!(paid.method, Some(ours), "{group}");
        }
        // Without a group, the instrument's kind; without either, nothing.
        let by_instrument = report("PAID", &[entity(Value::Null, card)]);
        assert_eq!(by_instrument.method, Some(PaymentMethod::Card));
        let none = report("PAID", &[entity(Value::Null, Value::Null)]);
        assert_eq!(none.status, PaymentOutcome::Succeeded);
        assert_eq!(none.method, None);
        assert_eq!(report("ACTIVE", &[]).method, None);
    }
}
