//! Stripe: the PaymentIntents API (HTTP Basic with the secret key as the username and an empty
//! password; form-encoded requests with bracket keys, JSON answers; amounts in minor units), the
//! Payment Element of Stripe.js as the hand-off, and signed webhooks:
//!
//! - `Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>…]`, each `v1` a lower-case hex
//!   HMAC-SHA256 of `"<t>.<raw body>"` keyed with the endpoint's signing secret used verbatim,
//!   `whsec_` prefix included. Any `v1` may match (Stripe sends several while a secret is being
//!   rolled); other schemes (`v0`) are ignored; a timestamp more than 300 s from our clock (the
//!   official libraries' default tolerance) is refused, so a captured delivery cannot be
//!   replayed later. Replays inside the window are caught by the event's `id`.
//! - The browser return is not signed: it only names the PaymentIntent, and the platform trusts
//!   nothing it says until a status query confirms it.
//!
//! Test and live share one host; the mode follows the key (`sk_test_…` / `sk_live_…`), so the
//! credential check compares the key's mode with the account's environment.
//!
//! Every create carries an `Idempotency-Key` (the attempt's receipt for PaymentIntents, our
//! refund id for refunds): Stripe stores the first answer to a key once the endpoint starts
//! executing and replays it to any retry with the same key and parameters, for at least 24 h.
//! That, not the order lookup, is what makes a retried create safe.
//!
//! No `Stripe-Version` header is sent: the account's default API version applies. Nothing here
//! depends on a recent version except `latest_charge` (a payment id falls back to the
//! PaymentIntent id without it) and search (which falls back to the idempotent replay).
//!
//! A failed attempt does not close a PaymentIntent: it returns to `requires_payment_method` and
//! the Payment Element lets the customer try again, so only `succeeded` and `canceled` are final
//! here; a PaymentIntent nobody pays ends with the transaction's expiry.

use super::endpoints::{Endpoints, Hosts};
use super::signature::verify_hmac_sha256_hex;
use super::transport::{Call, Transport, path_id, unsettled};
use super::{
    Account, CreatedOrder, Gateway, GatewayError, GatewayEvent, Handoff, OrderRequest,
    PaymentMethod, PaymentOutcome, Provider, RefundReport, RefundRequest, RefundStatus,
    StatusReport,
};
use crate::html::{escape, page, rupees, script_json};
use crate::mode::Mode;
use crate::money::ReportedAmount;
use crate::secret::Secret;
use async_trait::async_trait;
use http::HeaderMap;
use http::header::{CONTENT_TYPE, HeaderValue};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::collections::BTreeMap;

const API: Hosts = Hosts {
    test: "https://api.stripe.com",
    live: "https://api.stripe.com",
};
const JS: Hosts = Hosts {
    test: "https://js.stripe.com",
    live: "https://js.stripe.com",
};

/// How far a webhook's signed timestamp may be from our clock, in seconds.
pub const SIGNATURE_TOLERANCE_SECONDS: u64 = 300;

/// The refund reasons Stripe accepts in `reason`; any other reason travels in metadata.
const REFUND_REASONS: [&str; 3] = ["duplicate", "fraudulent", "requested_by_customer"];

/// The Stripe connector.
pub struct Stripe {
    client: reqwest::Client,
    endpoints: Endpoints,
}

impl Stripe {
    /// A connector using `client`, at the hosts `endpoints` gives.
    pub fn new(client: reqwest::Client, endpoints: Endpoints) -> Stripe {
        Stripe { client, endpoints }
    }

    fn api(&self, account: &Account, path: &str) -> String {
        format!("{}{path}", self.endpoints.base(account.environment, API))
    }

    /// A GET of `path` with the secret key. Reading changes nothing at Stripe: any failure may
    /// simply be retried.
    fn get_request(
        &self,
        account: &Account,
        path: &str,
    ) -> Result<reqwest::RequestBuilder, GatewayError> {
        Ok(self
            .client
            .get(self.api(account, path))
            .basic_auth(account.credential("secret_key")?, Some(""))
            .timeout(self.endpoints.timeout))
    }

    async fn get<T: DeserializeOwned>(
        &self,
        account: &Account,
        path: &str,
    ) -> Result<T, GatewayError> {
        STRIPE
            .read(self.get_request(account, path)?, Call::Read)
            .await
    }

    /// A read where Stripe's 404 means "no such object" rather than a refused request.
    async fn get_optional<T: DeserializeOwned>(
        &self,
        account: &Account,
        path: &str,
    ) -> Result<Option<T>, GatewayError> {
        STRIPE.lookup(self.get_request(account, path)?).await
    }

    async fn post<T: DeserializeOwned>(
        &self,
        account: &Account,
        path: &str,
        form: &[(&str, String)],
        idempotency_key: &str,
    ) -> Result<T, GatewayError> {
        let body = serde_urlencoded::to_string(form)
            .map_err(|e| GatewayError::Configuration(format!("stripe: encoding {path}: {e}")))?;
        // Checked before sending: a bad header would otherwise surface as a transport error
        // that reads as "may have reached Stripe".
        let key = HeaderValue::from_str(idempotency_key).map_err(|_| {
            GatewayError::Configuration(format!(
                "stripe: '{idempotency_key}' cannot be an idempotency key"
            ))
        })?;
        let request = self
            .client
            .post(self.api(account, path))
            .basic_auth(account.credential("secret_key")?, Some(""))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header("Idempotency-Key", key)
            .body(body)
            .timeout(self.endpoints.timeout);
        STRIPE.read(request, Call::Write).await
    }
}

/// Stripe's transport; its refusals go to [`classify`].
const STRIPE: Transport<ErrorBody> = Transport::new("stripe", |status, body, call| {
    classify(status, &body.error, call)
});

/// Stripe's error body: `{"error":{"type","code","decline_code","message","param",…}}`.
#[derive(Debug, Default, Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Debug, Default, Deserialize)]
struct ErrorDetail {
    #[serde(rename = "type")]
    kind: Option<String>,
    code: Option<String>,
    decline_code: Option<String>,
    message: Option<String>,
}

/// Classifies a refusal by HTTP status first and Stripe's error `type` / `code` second.
fn classify(status: u16, detail: &ErrorDetail, call: Call) -> GatewayError {
    let kind = detail.kind.as_deref().unwrap_or("");
    let code = detail.code.as_deref().unwrap_or("");
    let mut message = format!(
        "stripe {} ({status}): {}",
        [kind, code, detail.decline_code.as_deref().unwrap_or("")]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join("/"),
        detail.message.as_deref().unwrap_or("no message")
    );
    match (status, kind, code) {
        (401 | 403, _, _) => GatewayError::Configuration(message),
        // The same key with different parameters: our bug, and retrying cannot fix it.
        (_, "idempotency_error", _) => GatewayError::Configuration(message),
        // Another request with our key is still executing (Stripe keeps no answer for this
        // one): that request may yet create the object, and the key's replay will tell.
        (409, _, _) => {
            message.push_str(" (another request with this idempotency key is in progress)");
            unsettled(call, message)
        }
        // The rate limiter runs before the idempotency layer: nothing was executed.
        (429, _, _) => GatewayError::Retryable(message),
        (500..=599 | 424, _, _) | (_, "api_error", _) => unsettled(call, message),
        (402, _, _) | (_, "card_error", _) => GatewayError::Declined(message),
        (400..=499, _, _) => {
            message.push_str(" (stripe refused the request)");
            GatewayError::Declined(message)
        }
        _ => unsettled(call, message),
    }
}

/// Stripe ids go into URL paths; anything outside their alphabet is refused, never escaped.
fn stripe_id(id: &str) -> Result<&str, GatewayError> {
    path_id(
        id,
        |b| b.is_ascii_alphanumeric() || b == b'_',
        "a stripe object id",
    )
}

/// A value inside a single-quoted search-query string.
fn search_quote(value: &str) -> String {
    value.replace('\\', "\\\\").replace('\'', "\\'")
}

#[derive(Debug, Deserialize)]
struct List<T> {
    data: Vec<T>,
}

#[derive(Debug, Deserialize)]
struct PaymentError {
    message: Option<String>,
    code: Option<String>,
}

#[derive(Debug, Deserialize)]
struct PaymentIntent {
    id: String,
    status: String,
    client_secret: Option<Secret<String>>,
    /// A charge id, or the charge itself when expanded.
    latest_charge: Option<Value>,
    last_payment_error: Option<PaymentError>,
    cancellation_reason: Option<String>,
    metadata: Option<BTreeMap<String, String>>,
    #[serde(default)]
    created: i64,
    /// Minor units Stripe captured.
    amount_received: Option<i64>,
    /// Lower-case ISO code.
    currency: Option<String>,
    /// A PaymentMethod id, or the PaymentMethod itself (with its `type`) when expanded.
    payment_method: Option<Value>,
    /// The method types the customer could choose from (`["card", "upi"]`); read loosely.
    payment_method_types: Option<Value>,
}

impl PaymentIntent {
    fn receipt(&self) -> Option<String> {
        self.metadata.as_ref()?.get("receipt").cloned()
    }

    fn charge_id(&self) -> Option<String> {
        match self.latest_charge.as_ref()? {
            Value::String(id) => Some(id.clone()),
            charge => charge.get("id")?.as_str().map(str::to_string),
        }
    }

    /// How the customer paid: the expanded charge's `payment_method_details.type`, else the
    /// expanded PaymentMethod's `type`, else the only type the PaymentIntent allowed. A webhook's
    /// PaymentIntent expands nothing, so with several types allowed it says nothing.
    fn method(&self) -> Option<PaymentMethod> {
        let kind = |object: Option<&Value>| -> Option<String> {
            object?.get("type")?.as_str().map(str::to_string)
        };
        let charged = || {
            kind(
                self.latest_charge
                    .as_ref()
                    .and_then(|c| c.get("payment_method_details")),
            )
        };
        let only_allowed = || match self.payment_method_types.as_ref()?.as_array()?.as_slice() {
            [only] => only.as_str().map(str::to_string),
            _ => None,
        };
        let word = charged()
            .or_else(|| kind(self.payment_method.as_ref()))
            .or_else(only_allowed);
        PaymentMethod::read(word.as_deref(), method_named)
    }

    fn last_error(&self) -> Option<String> {
        let error = self.last_payment_error.as_ref()?;
        error.message.clone().or_else(|| error.code.clone())
    }

    fn order(self) -> CreatedOrder {
        CreatedOrder {
            reference: self.id,
            pay_url: None,
            checkout_token: self.client_secret,
        }
    }
}

/// Our name for a Stripe payment method type: `card` (Apple Pay and Google Pay are cards too),
/// `upi`; wallets and buy-now-pay-later providers by their own names.
fn method_named(word: &str) -> Option<PaymentMethod> {
    Some(match word {
        "card" | "card_present" => PaymentMethod::Card,
        "upi" => PaymentMethod::Upi,
        "paypal" | "amazon_pay" | "alipay" | "wechat_pay" | "grabpay" | "cashapp"
        | "revolut_pay" | "mobilepay" => PaymentMethod::Wallet,
        "klarna" | "afterpay_clearpay" | "affirm" | "zip" => PaymentMethod::Paylater,
        _ => return None,
    })
}

/// Our view of a PaymentIntent. Only `succeeded` is money and only `canceled` is final;
/// `requires_payment_method` after a failed attempt keeps the reason but stays open because
/// the customer may try again. `requires_capture` is not a success: we never ask for manual
/// capture, and authorised money is not captured money. A status Stripe adds later is read as
/// open, never as an outcome.
fn payment_report(intent: &PaymentIntent) -> StatusReport {
    match intent.status.as_str() {
        "succeeded" => succeeded(intent),
        "canceled" => canceled(intent),
        // requires_payment_method, requires_confirmation, requires_action, processing,
        // requires_capture, and anything newer.
        _ => StatusReport {
            failure_reason: intent.last_error(),
            ..StatusReport::of(PaymentOutcome::Pending)
        },
    }
}

/// The charge is the payment; without `latest_charge` (older API versions) the PaymentIntent
/// id stands in for it.
fn succeeded(intent: &PaymentIntent) -> StatusReport {
    StatusReport {
        payment_id: Some(intent.charge_id().unwrap_or_else(|| intent.id.clone())),
        captured: intent
            .amount_received
            .zip(intent.currency.as_deref())
            .map(|(minor, currency)| ReportedAmount::new(minor, currency)),
        method: intent.method(),
        ..StatusReport::of(PaymentOutcome::Succeeded)
    }
}

fn canceled(intent: &PaymentIntent) -> StatusReport {
    let reason = intent
        .cancellation_reason
        .as_ref()
        .map(|r| format!("canceled: {r}"))
        .or_else(|| intent.last_error())
        .unwrap_or_else(|| "the payment was canceled".into());
    StatusReport {
        failure_reason: Some(reason),
        ..StatusReport::of(PaymentOutcome::Failed)
    }
}

/// Whether `header` (a `Stripe-Signature` value) signs `body` under `secret` (the endpoint's
/// signing secret, verbatim) at a time within [`SIGNATURE_TOLERANCE_SECONDS`] of `now` (unix
/// seconds). Fails closed on anything malformed.
pub fn verify_signature(secret: &str, header: &str, body: &[u8], now: i64) -> bool {
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        let Some((scheme, value)) = part.trim().split_once('=') else {
            continue;
        };
        match scheme {
            // Two timestamps would leave it open which one was signed.
            "t" if timestamp.is_some() => return false,
            "t" => timestamp = Some(value),
            "v1" => candidates.push(value),
            _ => {}
        }
    }
    let Some(timestamp) = timestamp else {
        return false;
    };
    let Ok(signed_at) = timestamp.parse::<i64>() else {
        return false;
    };
    let fresh = now
        .checked_sub(signed_at)
        .is_some_and(|age| age.unsigned_abs() <= SIGNATURE_TOLERANCE_SECONDS);
    if !fresh || candidates.is_empty() {
        return false;
    }
    // The timestamp exactly as sent is what Stripe signed.
    let mut payload = Vec::with_capacity(timestamp.len() + 1 + body.len());
    payload.extend_from_slice(timestamp.as_bytes());
    payload.push(b'.');
    payload.extend_from_slice(body);
    // Every candidate is checked, so the time taken does not tell which one matched.
    candidates.iter().fold(false, |matched, candidate| {
        verify_hmac_sha256_hex(secret.as_bytes(), &payload, candidate) | matched
    })
}

/// A refund object; our refund id travels as `metadata[refund_id]`.
#[derive(Debug, Deserialize)]
struct Refund {
    id: String,
    status: String,
    payment_intent: Option<String>,
    failure_reason: Option<String>,
    metadata: Option<BTreeMap<String, String>>,
    #[serde(default)]
    created: i64,
}

impl Refund {
    fn refund_id(&self) -> Option<&str> {
        self.metadata.as_ref()?.get("refund_id").map(String::as_str)
    }
}

fn refund_report(refund: Refund) -> Result<RefundReport, String> {
    let status = match refund.status.as_str() {
        "pending" | "requires_action" => RefundStatus::Pending,
        "succeeded" => RefundStatus::Succeeded,
        "failed" | "canceled" => RefundStatus::Failed,
        other => return Err(format!("unknown stripe refund status '{other}'")),
    };
    let failure_reason = (status == RefundStatus::Failed).then(|| match &refund.failure_reason {
        Some(reason) => format!("stripe refund {}: {reason}", refund.status),
        None => format!("stripe refund {}", refund.status),
    });
    Ok(RefundReport {
        refund_id: refund.refund_id().map(str::to_string),
        gateway_refund_id: Some(refund.id),
        status,
        failure_reason,
    })
}

/// The event envelope: `{"id":"evt_…","object":"event","type",…,"data":{"object":{…}}}`.
#[derive(Debug, Deserialize)]
struct Event {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    data: EventData,
}

#[derive(Debug, Deserialize)]
struct EventData {
    object: Value,
}

/// A charge as `charge.refunded` carries it; `refunds` only on API versions that still embed
/// them (before 2022-11-15) or when expanded.
#[derive(Debug, Deserialize)]
struct Charge {
    payment_intent: Option<String>,
    refunds: Option<List<Refund>>,
}

fn object<T: DeserializeOwned>(event: &Event) -> Result<T, String> {
    serde_json::from_value(event.data.object.clone())
        .map_err(|e| format!("stripe {} with an unreadable object: {e}", event.kind))
}

#[async_trait]
impl Gateway for Stripe {
    fn provider(&self) -> Provider {
        Provider::Stripe
    }

    fn required_credentials(&self) -> &'static [&'static str] {
        &["secret_key", "publishable_key", "webhook_secret"]
    }

    async fn create_order(
        &self,
        account: &Account,
        order: &OrderRequest,
    ) -> Result<CreatedOrder, GatewayError> {
        let mut form = vec![
            ("amount", order.amount.to_string()),
            ("currency", order.currency.code().to_ascii_lowercase()),
            ("automatic_payment_methods[enabled]", "true".to_string()),
            ("metadata[receipt]", order.receipt.clone()),
        ];
        if let Some(description) = &order.description {
            form.push(("description", description.clone()));
        }
        if !order.customer_email.is_empty() {
            form.push(("receipt_email", order.customer_email.clone()));
        }
        // The receipt as the key: a retried create (after a timeout, a dropped connection, a
        // crash) replays the first PaymentIntent instead of making a second one. The request
        // is built only from the attempt's stored fields, so a retry's parameters are the same.
        // Stripe replays a stored 500 as well: after one, the attempt stays ambiguous until
        // search finds the PaymentIntent or the payment expires. A fresh key is never used,
        // since it could make a second PaymentIntent.
        let created: PaymentIntent = self
            .post(account, "/v1/payment_intents", &form, &order.receipt)
            .await?;
        if created.client_secret.is_none() {
            return Err(GatewayError::Ambiguous(format!(
                "stripe: PaymentIntent {} came without a client secret",
                created.id
            )));
        }
        Ok(created.order())
    }

    /// Search (`metadata['receipt']:'…'`) is eventually consistent (Stripe: searchable "in
    /// under a minute", later during outages) and is not offered to merchants in India, so
    /// `None` here does not prove there is no PaymentIntent. That is safe only because the
    /// create is idempotent by the receipt: when the lookup finds nothing the platform creates
    /// again with the same key, and Stripe replays the PaymentIntent the first request made.
    /// For the same reason a search Stripe refuses (4xx) is read as "not found", not as a
    /// refused order, which would fail a payment the replay can still recover.
    async fn find_order(
        &self,
        account: &Account,
        receipt: &str,
    ) -> Result<Option<CreatedOrder>, GatewayError> {
        let query = format!("metadata['receipt']:'{}'", search_quote(receipt));
        let parameters = serde_urlencoded::to_string([("query", query.as_str()), ("limit", "10")])
            .map_err(|e| GatewayError::Configuration(e.to_string()))?;
        let found: List<PaymentIntent> = match self
            .get(account, &format!("/v1/payment_intents/search?{parameters}"))
            .await
        {
            Ok(found) => found,
            Err(GatewayError::Declined(reason)) => {
                tracing::warn!(receipt, reason = %reason, "stripe search refused; relying on the idempotent create");
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        // The key makes one PaymentIntent per receipt; should there be more, the first is it.
        Ok(found
            .data
            .into_iter()
            .filter(|pi| pi.receipt().as_deref() == Some(receipt))
            .min_by_key(|pi| pi.created)
            .map(PaymentIntent::order))
    }

    /// Reads the balance (moves nothing) and checks that the keys' mode is the account's
    /// environment: Stripe has one host for both, so a live key on a test account would take
    /// real money.
    async fn check_credentials(&self, account: &Account) -> Result<(), GatewayError> {
        #[derive(Deserialize)]
        struct Balance {
            livemode: bool,
        }
        let balance: Balance = self.get(account, "/v1/balance").await?;
        let live = account.environment == Mode::Live;
        if balance.livemode != live {
            return Err(GatewayError::Configuration(format!(
                "stripe: the secret key is a {} key but the account is for the {} environment",
                if balance.livemode {
                    "live-mode"
                } else {
                    "test-mode"
                },
                account.environment
            )));
        }
        let prefix = if live { "pk_live_" } else { "pk_test_" };
        if !account.credential("publishable_key")?.starts_with(prefix) {
            return Err(GatewayError::Configuration(format!(
                "stripe: the publishable key of a {} account must start with '{prefix}'",
                account.environment
            )));
        }
        Ok(())
    }

    async fn fetch_status(
        &self,
        account: &Account,
        reference: &str,
    ) -> Result<StatusReport, GatewayError> {
        let intent: PaymentIntent = self
            .get(
                account,
                // The charge expanded: its `payment_method_details.type` is how the customer paid.
                &format!(
                    "/v1/payment_intents/{}?expand%5B%5D=latest_charge",
                    stripe_id(reference)?
                ),
            )
            .await?;
        Ok(payment_report(&intent))
    }

    fn handoff(
        &self,
        account: &Account,
        order: &OrderRequest,
        created: &CreatedOrder,
    ) -> Result<Handoff, GatewayError> {
        let client_secret = created.exposed_checkout_token().ok_or_else(|| {
            GatewayError::Configuration(format!(
                "stripe PaymentIntent {} has no client secret to hand off",
                created.reference
            ))
        })?;
        // Only the publishable key and this PaymentIntent's client secret are meant for the
        // browser; the secret key and the webhook secret never leave the server.
        let options = json!({
            "publishableKey": account.credential("publishable_key")?,
            "clientSecret": client_secret,
            "returnUrl": order.return_url,
        });
        let script = format!("{}/v3/", self.endpoints.base(account.environment, JS));
        let body = format!(
            "<p class=\"amount\">{amount}</p><p>{description}</p>\
             <form id=\"payment-form\"><div id=\"payment-element\"></div>\
             <button id=\"pay\" class=\"pay\" type=\"submit\">Pay</button>\
             <p id=\"message\" class=\"muted\" role=\"alert\"></p></form>\
             <script src=\"{script}\"></script>\
             <script>var options = {options};\
             var stripe = Stripe(options.publishableKey);\
             var elements = stripe.elements({{ clientSecret: options.clientSecret }});\
             elements.create('payment').mount('#payment-element');\
             document.getElementById('payment-form').addEventListener('submit', function (event) {{\
             event.preventDefault();\
             var button = document.getElementById('pay'); button.disabled = true;\
             stripe.confirmPayment({{ elements: elements, confirmParams: {{ return_url: options.returnUrl }} }})\
             .then(function (result) {{ if (result.error) {{\
             document.getElementById('message').textContent = result.error.message;\
             button.disabled = false; }} }});\
             }});</script>",
            amount = rupees(order.amount),
            description = escape(order.description.as_deref().unwrap_or("")),
            script = escape(&script),
            options = script_json(&options),
        );
        Ok(Handoff::Html(page("Payment", &body)))
    }

    fn verify_webhook(&self, account: &Account, headers: &HeaderMap, body: &[u8]) -> bool {
        let Some(header) = headers
            .get("stripe-signature")
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        let Ok(secret) = account.credential("webhook_secret") else {
            return false;
        };
        verify_signature(secret, header, body, chrono::Utc::now().timestamp())
    }

    /// `payment_intent.payment_failed` stays open (the customer may retry on the same
    /// PaymentIntent); refund events report the refund found by `metadata[refund_id]`; other
    /// types are stored and not acted on. The event id comes from the body, so parsing a stored
    /// payload without its headers gives the same event.
    fn parse_webhook(&self, _headers: &HeaderMap, body: &[u8]) -> Result<GatewayEvent, String> {
        let event: Event =
            serde_json::from_slice(body).map_err(|e| format!("unreadable stripe event: {e}"))?;
        let mut receipt = None;
        let mut report = None;
        let mut refund = None;
        let reference = match event.kind.as_str() {
            "payment_intent.succeeded"
            | "payment_intent.payment_failed"
            | "payment_intent.canceled" => {
                let intent: PaymentIntent = object(&event)?;
                receipt = intent.receipt();
                report = Some(match event.kind.as_str() {
                    "payment_intent.payment_failed" => StatusReport {
                        failure_reason: Some(
                            intent
                                .last_error()
                                .unwrap_or_else(|| "the payment attempt failed".into()),
                        ),
                        ..StatusReport::of(PaymentOutcome::Pending)
                    },
                    "payment_intent.canceled" => canceled(&intent),
                    _ => succeeded(&intent),
                });
                Some(intent.id)
            }
            // `charge.refund.updated` is the older name of `refund.updated`.
            "refund.created" | "refund.updated" | "refund.failed" | "charge.refund.updated" => {
                let found: Refund = object(&event)?;
                let reference = found.payment_intent.clone();
                refund = Some(refund_report(found)?);
                reference
            }
            "charge.refunded" => {
                let charge: Charge = object(&event)?;
                // Without embedded refunds the refund.* events (sent for every refund since
                // 2024-10-28.acacia) carry the refund; this one is then only stored.
                if let Some(latest) = charge
                    .refunds
                    .and_then(|r| r.data.into_iter().max_by_key(|r| r.created))
                {
                    refund = Some(refund_report(latest)?);
                }
                charge.payment_intent
            }
            _ => {
                let object = &event.data.object;
                match object.get("object").and_then(Value::as_str) {
                    Some("payment_intent") => object.get("id"),
                    _ => object.get("payment_intent"),
                }
                .and_then(Value::as_str)
                .map(str::to_string)
            }
        };
        Ok(GatewayEvent {
            event_id: event.id,
            event_type: event.kind,
            receipt,
            reference,
            report,
            refund,
        })
    }

    async fn create_refund(
        &self,
        account: &Account,
        refund: &RefundRequest,
    ) -> Result<RefundReport, GatewayError> {
        let mut form = vec![
            ("payment_intent", stripe_id(&refund.reference)?.to_string()),
            ("amount", refund.amount.to_string()),
            ("metadata[refund_id]", refund.refund_id.clone()),
            ("metadata[receipt]", refund.receipt.clone()),
        ];
        // `reason` is an enum at Stripe; a merchant's own words would be refused with a 400.
        match refund.reason.as_deref() {
            Some(reason) if REFUND_REASONS.contains(&reason) => {
                form.push(("reason", reason.to_string()))
            }
            Some(reason) => form.push(("metadata[reason]", reason.to_string())),
            None => {}
        }
        let created: Refund = self
            .post(account, "/v1/refunds", &form, &refund.refund_id)
            .await?;
        refund_report(created).map_err(GatewayError::Ambiguous)
    }

    /// Without Stripe's id, lists the PaymentIntent's refunds (up to 100, more than any payment
    /// has) and matches `metadata[refund_id]`; the list API is read-after-write consistent,
    /// unlike search.
    async fn fetch_refund(
        &self,
        account: &Account,
        refund: &RefundRequest,
        gateway_refund_id: Option<&str>,
    ) -> Result<Option<RefundReport>, GatewayError> {
        let found = match gateway_refund_id {
            Some(id) => {
                self.get_optional::<Refund>(account, &format!("/v1/refunds/{}", stripe_id(id)?))
                    .await?
            }
            None => {
                let parameters = serde_urlencoded::to_string([
                    ("payment_intent", stripe_id(&refund.reference)?),
                    ("limit", "100"),
                ])
                .map_err(|e| GatewayError::Configuration(e.to_string()))?;
                let refunds: List<Refund> = self
                    .get(account, &format!("/v1/refunds?{parameters}"))
                    .await?;
                refunds
                    .data
                    .into_iter()
                    .filter(|r| r.refund_id() == Some(refund.refund_id.as_str()))
                    .min_by_key(|r| r.created)
            }
        };
        found
            .map(refund_report)
            .transpose()
            .map_err(GatewayError::Ambiguous)
    }

    /// Stripe.js appends `payment_intent` (with `payment_intent_client_secret` and
    /// `redirect_status`, which we ignore) to the return URL. None of it is signed: the
    /// platform accepts the return only if it names the attempt's PaymentIntent, and then
    /// believes only a status query.
    fn verify_return(
        &self,
        _account: &Account,
        params: &BTreeMap<String, String>,
    ) -> Option<String> {
        params
            .get("payment_intent")
            .filter(|id| stripe_id(id).is_ok())
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateways::signature::hmac_sha256_hex;

    const SECRET: &str = "whsec_test_secret";
    const T: i64 = 1_492_774_577;
    // The 51-byte payload of the reference vector: real newlines, two-space indent, no
    // trailing newline.
    const PAYLOAD: &[u8] = b"{\n  \"id\": \"evt_test_webhook\",\n  \"object\": \"event\"\n}";
    const V1: &str = "c2f890decbc5ede7c5060bb9a6d31e0626a4342bacb9aeae2adb1bcea72f9812";

    fn header(t: i64, signatures: &[&str]) -> String {
        let mut header = format!("t={t}");
        for signature in signatures {
            header.push_str(&format!(",v1={signature}"));
        }
        header
    }

    #[test]
    fn the_reference_vector_verifies() {
        assert_eq!(PAYLOAD.len(), 51);
        assert_eq!(
            hmac_sha256_hex(
                SECRET.as_bytes(),
                format!("{T}.")
                    .as_bytes()
                    .iter()
                    .chain(PAYLOAD)
                    .copied()
                    .collect::<Vec<_>>()
                    .as_slice()
            ),
            V1
        );
        assert!(verify_signature(
            SECRET,
            &format!("t={T},v1={V1}"),
            PAYLOAD,
            T
        ));
        assert!(verify_signature(
            SECRET,
            &header(T, &[V1]),
            PAYLOAD,
            T + 300
        ));
        assert!(verify_signature(
            SECRET,
            &header(T, &[V1]),
            PAYLOAD,
            T - 300
        ));
    }

    #[test]
    fn a_tampered_body_fails() {
        let mut tampered = PAYLOAD.to_vec();
        tampered[10] ^= 1;
        assert!(!verify_signature(SECRET, &header(T, &[V1]), &tampered, T));
        let mut longer = PAYLOAD.to_vec();
        longer.push(b'\n');
        assert!(!verify_signature(SECRET, &header(T, &[V1]), &longer, T));
    }

    #[test]
    fn the_secret_is_used_verbatim() {
        assert!(!verify_signature(
            "test_secret",
            &header(T, &[V1]),
            PAYLOAD,
            T
        ));
        assert!(!verify_signature(
            "whsec_other",
            &header(T, &[V1]),
            PAYLOAD,
            T
        ));
    }

    #[test]
    fn a_stale_or_future_timestamp_fails() {
        assert!(!verify_signature(
            SECRET,
            &header(T, &[V1]),
            PAYLOAD,
            T + 301
        ));
        assert!(!verify_signature(
            SECRET,
            &header(T, &[V1]),
            PAYLOAD,
            T - 301
        ));
        assert!(!verify_signature(
            SECRET,
            &header(T, &[V1]),
            PAYLOAD,
            i64::MIN
        ));
        // The signed timestamp is part of the payload: moving it breaks the signature.
        assert!(!verify_signature(SECRET, &header(T + 1, &[V1]), PAYLOAD, T));
    }

    #[test]
    fn a_missing_or_malformed_header_fails() {
        assert!(!verify_signature(SECRET, "", PAYLOAD, T));
        assert!(!verify_signature(SECRET, &format!("v1={V1}"), PAYLOAD, T));
        assert!(!verify_signature(SECRET, &format!("t={T}"), PAYLOAD, T));
        assert!(!verify_signature(
            SECRET,
            &format!("t=abc,v1={V1}"),
            PAYLOAD,
            T
        ));
        assert!(!verify_signature(
            SECRET,
            &format!("t={T},v0={V1}"),
            PAYLOAD,
            T
        ));
        assert!(!verify_signature(
            SECRET,
            &format!("t={T},t={},v1={V1}", T + 1),
            PAYLOAD,
            T
        ));
    }

    #[test]
    fn any_of_several_v1_values_may_match() {
        let other = "0".repeat(64);
        assert!(verify_signature(
            SECRET,
            &header(T, &[&other, V1]),
            PAYLOAD,
            T
        ));
        assert!(verify_signature(
            SECRET,
            &header(T, &[V1, &other]),
            PAYLOAD,
            T
        ));
        assert!(verify_signature(
            SECRET,
            &format!("t={T}, v0={other}, v1=nothex, v1={V1}"),
            PAYLOAD,
            T
        ));
        assert!(!verify_signature(
            SECRET,
            &header(T, &[&other, "nothex"]),
            PAYLOAD,
            T
        ));
    }

    fn intent(status: &str, error: Option<&str>) -> PaymentIntent {
        PaymentIntent {
            id: "pi_1".into(),
            status: status.into(),
            client_secret: None,
            latest_charge: (status == "succeeded").then(|| json!("ch_1")),
            last_payment_error: error.map(|m| PaymentError {
                message: Some(m.into()),
                code: Some("card_declined".into()),
            }),
            cancellation_reason: (status == "canceled").then(|| "abandoned".into()),
            metadata: None,
            created: 0,
            amount_received: Some(49_900),
            currency: Some("inr".into()),
            payment_method: None,
            payment_method_types: None,
        }
    }

    #[test]
    fn every_documented_status_is_mapped() {
        let succeeded = payment_report(&intent("succeeded", None));
        assert_eq!(succeeded.status, PaymentOutcome::Succeeded);
        assert_eq!(succeeded.payment_id.as_deref(), Some("ch_1"));
        let mut no_charge = intent("succeeded", None);
        no_charge.latest_charge = None;
        assert_eq!(
            payment_report(&no_charge).payment_id.as_deref(),
            Some("pi_1")
        );
        let mut expanded = intent("succeeded", None);
        expanded.latest_charge = Some(json!({ "id": "ch_2", "object": "charge" }));
        assert_eq!(
            payment_report(&expanded).payment_id.as_deref(),
            Some("ch_2")
        );

        let canceled = payment_report(&intent("canceled", None));
        assert_eq!(canceled.status, PaymentOutcome::Failed);
        assert_eq!(
            canceled.failure_reason.as_deref(),
            Some("canceled: abandoned")
        );

        let retry = payment_report(&intent(
            "requires_payment_method",
            Some("Your card was declined."),
        ));
        assert_eq!(
            retry.status,
            PaymentOutcome::Pending,
            "the customer may retry"
        );
        assert_eq!(
            retry.failure_reason.as_deref(),
            Some("Your card was declined.")
        );
        for open in [
            "requires_payment_method",
            "requires_confirmation",
            "requires_action",
            "processing",
            "requires_capture",
            "some_future_status",
        ] {
            let report = payment_report(&intent(open, None));
            assert_eq!(report.status, PaymentOutcome::Pending, "{open}");
            assert_eq!(report.payment_id, None, "{open}");
        }
    }

    #[test]
    fn errors_are_classified_by_status_type_and_code() {
        let detail = |kind: &str, code: &str| ErrorDetail {
            kind: Some(kind.into()),
            code: Some(code.into()),
            decline_code: None,
            message: Some("m".into()),
        };
        let none = ErrorDetail::default();
        assert!(matches!(
            classify(401, &none, Call::Read),
            GatewayError::Configuration(_)
        ));
        assert!(matches!(
            classify(403, &detail("invalid_request_error", ""), Call::Write),
            GatewayError::Configuration(_)
        ));
        assert!(matches!(
            classify(402, &detail("card_error", "card_declined"), Call::Write),
            GatewayError::Declined(_)
        ));
        let refused = classify(
            400,
            &detail("invalid_request_error", "parameter_invalid_integer"),
            Call::Write,
        );
        assert!(
            matches!(&refused, GatewayError::Declined(m) if m.contains("refused")),
            "{refused:?}"
        );
        assert!(matches!(
            classify(
                404,
                &detail("invalid_request_error", "resource_missing"),
                Call::Read
            ),
            GatewayError::Declined(_)
        ));
        assert!(matches!(
            classify(400, &detail("idempotency_error", ""), Call::Write),
            GatewayError::Configuration(_)
        ));
        assert!(matches!(
            classify(409, &detail("idempotency_error", ""), Call::Write),
            GatewayError::Configuration(_)
        ));
        assert!(matches!(
            classify(
                409,
                &detail("invalid_request_error", "idempotency_key_in_use"),
                Call::Write
            ),
            GatewayError::Ambiguous(_)
        ));
        assert!(matches!(
            classify(
                429,
                &detail("invalid_request_error", "rate_limit"),
                Call::Write
            ),
            GatewayError::Retryable(_)
        ));
        assert!(matches!(
            classify(500, &detail("api_error", ""), Call::Write),
            GatewayError::Ambiguous(_)
        ));
        assert!(matches!(
            classify(503, &none, Call::Read),
            GatewayError::Retryable(_)
        ));
    }

    #[test]
    fn refund_statuses_are_mapped() {
        let refund = |status: &str| Refund {
            id: "re_1".into(),
            status: status.into(),
            payment_intent: Some("pi_1".into()),
            failure_reason: (status == "failed").then(|| "expired_or_canceled_card".into()),
            metadata: Some(BTreeMap::from([(
                "refund_id".to_string(),
                "rfd_1".to_string(),
            )])),
            created: 0,
        };
        for (status, expected) in [
            ("pending", RefundStatus::Pending),
            ("requires_action", RefundStatus::Pending),
            ("succeeded", RefundStatus::Succeeded),
            ("failed", RefundStatus::Failed),
            ("canceled", RefundStatus::Failed),
        ] {
            let report = refund_report(refund(status)).unwrap();
            assert_eq!(report.status, expected, "{status}");
            assert_eq!(report.refund_id.as_deref(), Some("rfd_1"));
            assert_eq!(report.gateway_refund_id.as_deref(), Some("re_1"));
        }
        assert_eq!(
            refund_report(refund("failed"))
                .unwrap()
                .failure_reason
                .as_deref(),
            Some("stripe refund failed: expired_or_canceled_card")
        );
        assert!(refund_report(refund("mystery")).is_err());
    }

    #[test]
    fn search_values_are_quoted() {
        assert_eq!(search_quote("att_1"), "att_1");
        assert_eq!(search_quote("a' OR x:'b\\"), "a\\' OR x:\\'b\\\\");
        assert!(stripe_id("pi_3MtwBwLkdIwHu7ix28a3tqPa").is_ok());
        assert!(stripe_id("pi_1/../balance").is_err());
        assert!(stripe_id("").is_err());
    }

    #[test]
    fn the_method_comes_from_the_charge() {
        // `GET /v1/payment_intents/{id}?expand[]=latest_charge` of a succeeded UPI payment.
        let answer = |charge_type: &str, types: Value| -> PaymentIntent {
            serde_json::from_value(json!({
                "id": "pi_3MtwBwLkdIwHu7ix28a3tqPa", "object": "payment_intent", "amount": 49900,
                "amount_capturable": 0, "amount_received": 49900, "automatic_payment_methods": { "enabled": true },
                "canceled_at": null, "cancellation_reason": null, "capture_method": "automatic",
                "client_secret": "pi_3MtwBwLkdIwHu7ix28a3tqPa_secret_YrKJUKribcBjcG8HVhfZluoGH",
                "confirmation_method": "automatic", "created": 1_680_800_504, "currency": "inr",
                "customer": null, "description": null, "last_payment_error": null,
                "latest_charge": {
                    "id": "ch_3MtwBwLkdIwHu7ix28a3tqPa", "object": "charge", "amount": 49900,
                    "amount_captured": 49900, "captured": true, "currency": "inr", "paid": true,
                    "payment_intent": "pi_3MtwBwLkdIwHu7ix28a3tqPa", "payment_method": "pm_1MtwBwLkdIwHu7ix",
                    "payment_method_details": { "type": charge_type, charge_type: {} }, "status": "succeeded"
                },
                "livemode": false, "metadata": { "receipt": "att_1" }, "next_action": null,
                "payment_method": "pm_1MtwBwLkdIwHu7ix", "payment_method_types": types,
                "status": "succeeded"
            }))
            .unwrap()
        };
        for (kind, ours) in [
            ("upi", PaymentMethod::Upi),
            ("card", PaymentMethod::Card),
            ("amazon_pay", PaymentMethod::Wallet),
            ("klarna", PaymentMethod::Paylater),
            ("link", PaymentMethod::Other),
        ] {
            let report = payment_report(&answer(kind, json!(["card", "upi", "link"])));
            assert_eq!(report.status, PaymentOutcome::Succeeded, "{kind}");
            assert_eq!(
                report.payment_id.as_deref(),
                Some("ch_3MtwBwLkdIwHu7ix28a3tqPa")
            );
            assert_eq!(report.method, Some(ours), "{kind}");
        }

        // A webhook's PaymentIntent expands nothing: only a single allowed type says anything.
        let mut unexpanded = intent("succeeded", None);
        unexpanded.payment_method = Some(json!("pm_1"));
        unexpanded.payment_method_types = Some(json!(["card", "link"]));
        assert_eq!(payment_report(&unexpanded).method, None);
        unexpanded.payment_method_types = Some(json!(["upi"]));
        assert_eq!(payment_report(&unexpanded).method, Some(PaymentMethod::Upi));
        unexpanded.payment_method =
            Some(json!({ "id": "pm_1", "object": "payment_method", "type": "card" }));
        assert_eq!(
            payment_report(&unexpanded).method,
            Some(PaymentMethod::Card)
        );
        assert_eq!(payment_report(&intent("processing", None)).method, None);
    }
}
