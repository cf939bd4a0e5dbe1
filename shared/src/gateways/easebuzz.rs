//! Easebuzz. The order is a payment link: `initiateLink` on the pay host answers an access key,
//! and the customer pays on Easebuzz's page at `{pay}/pay/<access key>`; Easebuzz posts the
//! result back to our return URL (`surl` = `furl`) and to the dashboard-configured webhook URL,
//! form-encoded, with a reverse hash. Status and refunds go through the dashboard host. There is
//! no header authentication: every call carries the merchant `key` and a SHA-512 `hash` that ends
//! with the salt.
//!
//! - Request hash: `sha512(key|txnid|amount|productinfo|firstname|email|udf1..udf10|salt)`: ten
//!   UDF slots, so sixteen pipes before the salt. We send no UDFs; their slots are hashed empty.
//! - Reverse hash: `sha512(salt|status|udf10..udf1|email|firstname|productinfo|amount|txnid|key)`
//!   over the strings exactly as posted (Easebuzz may echo `499.00` as sent or reformat it: we
//!   never re-format before hashing). It does not cover `easepayid`, `mode` or `bank_ref_num`, so
//!   the return only names the txnid; its status is always confirmed by the transaction API.
//! - Amounts are rupees with two decimals (`499.00`), made from paise without floating point.
//!
//! Decisions where Easebuzz's documentation was not available or silent (its pages at
//! docs.easebuzz.in had no stored copy; the official kits were the best source):
//!
//! - **txnid**: our attempt id (`att_` + 32 hex = 36 characters) already fits the kit's rule
//!   (1–40 of letters, digits, `_ | - /`), so it is sent verbatim; anything else becomes a digest.
//! - **find_order**: a link that was initiated but never paid may not appear in the v2
//!   transaction API, so "not found" cannot prove no link exists. We answer `Some` only when
//!   Easebuzz shows a payment on the txnid (any status past `initiated`): money may be moving, so
//!   no new link is made. Otherwise the platform calls `initiateLink` again *with the same
//!   txnid*, which cannot charge twice: the access key of a create whose answer was lost never
//!   reached a browser (only an answered create stores a `pay_url`, and an attempt keeps the first
//!   one it stores), so at most one payable link per txnid is ever shown. This does not rely on
//!   Easebuzz refusing a second payment on a txnid (plausible, but not documented). If Easebuzz
//!   refuses the repeated txnid, the refusal is `Declined`: the attempt fails and no money moved.
//! - **Failed statuses**: `failure`, `userCancelled`, `dropped` and `bounced` fail the attempt.
//!   Nothing documents paying again on the same txnid: the hosted page posts its final result to
//!   `furl` and the browser leaves Easebuzz, so a retry is a new attempt with a new txnid. A
//!   success reported after a failure is still applied by the state machine, so a late capture
//!   is never lost. `initiated`, `pending` and unknown values stay `Pending`.
//! - **v2 retrieve answer** (shape unconfirmed; third parties disagree): we take the transaction
//!   object whose `txnid` is ours wherever it sits (`msg` or `data`, object or list); none means
//!   Easebuzz does not know the txnid.
//! - **Error bodies** (unconfirmed): the message is read from `error_desc`, `data`, `msg`,
//!   `reason` or `message`; one about the hash, salt or key is `Configuration`, others `Declined`.
//!   Non-2xx answers are classified by status code, as for the other connectors.
//! - **Webhooks** are form-encoded (the WooCommerce kit); a JSON object is accepted too (the
//!   Magento kit falls back to it). The URL is set on Easebuzz's dashboard, not per request.
//! - **Refund answers** (unconfirmed): `status` true means accepted (pending). A refusal that says
//!   the merchant refund id was already used is answered by looking the refund up.
//! - **Amounts under ₹1.00** are refused before calling: the kit rejects them.

use super::endpoints::{Endpoints, Hosts};
use super::payu_family::{self, Family, details, payment_event};
use super::signature::sha512_pipe_hex;
use super::transport::{Call, Transport, unsettled};
use super::{
    Account, CreatedOrder, Gateway, GatewayError, GatewayEvent, Handoff, OrderRequest,
    PaymentOutcome, Provider, RefundReport, RefundRequest, RefundStatus, StatusReport,
};
use crate::crypto::sha256;
use crate::html::{page, rupees};
use crate::ids::AttemptId;
use crate::money::{ReportedAmount, parse_major_json, to_major_string};
use async_trait::async_trait;
use http::HeaderMap;
use serde_json::Value;
use std::collections::BTreeMap;

const PAY: Hosts = Hosts {
    test: "https://testpay.easebuzz.in",
    live: "https://pay.easebuzz.in",
};
const DASHBOARD: Hosts = Hosts {
    test: "https://testdashboard.easebuzz.in",
    live: "https://dashboard.easebuzz.in",
};
/// Easebuzz names all ten UDFs and has no `additionalCharges`; a callback body that opens with
/// `{` must be a JSON object.
const FAMILY: Family = Family {
    name: "easebuzz",
    udfs: 10,
    charges_lead_reverse_hash: false,
    braced_body_is_json: true,
};
const TXNID_MAX: usize = 40;
const PRODUCTINFO_MAX: usize = 45;
const FIRSTNAME_MAX: usize = 150;
/// The smallest amount the kit lets through: ₹1.00.
const MIN_AMOUNT: i64 = 100;
/// A txnid nobody pays with: asking about it moves no money.
const CREDENTIAL_CHECK_TXNID: &str = "lsp-credential-check";
const TRANSPORT: Transport<Value> = Transport::new("easebuzz", classify);

/// The Easebuzz connector.
pub struct Easebuzz {
    client: reqwest::Client,
    endpoints: Endpoints,
}

/// Easebuzz's `txnid` for one of our attempts: the receipt itself when it fits (at most 40
/// letters, digits, `_` or `-`), otherwise `lsp_` and 36 hex digits of its SHA-256, so two
/// receipts never share a txnid.
pub fn txnid(receipt: &str) -> String {
    // `|` and `/` are allowed by the kit, but a pipe inside a hashed field makes the hash input
    // ambiguous, so only the plainest characters pass verbatim.
    let plain = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if !receipt.is_empty() && receipt.len() <= TXNID_MAX && receipt.chars().all(plain) {
        return receipt.to_string();
    }
    let digest = hex::encode(sha256(receipt.as_bytes()));
    format!(
        "lsp_{}",
        digest.get(..TXNID_MAX - 4).unwrap_or(digest.as_str())
    )
}

/// Keeps the characters `allowed`, turns any whitespace into single spaces, trims, and cuts to
/// `max` characters.
fn clean(text: &str, allowed: impl Fn(char) -> bool, max: usize) -> String {
    let kept: String = text
        .chars()
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .filter(|c| *c == ' ' || allowed(*c))
        .collect();
    let joined = kept.split_whitespace().collect::<Vec<_>>().join(" ");
    joined
        .chars()
        .take(max)
        .collect::<String>()
        .trim()
        .to_string()
}

/// The description in the kit's `productinfo` charset (letters, digits, spaces, hyphens), at
/// most 45 characters; `Payment` when nothing is left.
pub fn productinfo(description: Option<&str>) -> String {
    // The kit also allows `|`, which would sit inside the pipe-joined hash input: left out.
    let cleaned = clean(
        description.unwrap_or(""),
        |c| c.is_ascii_alphanumeric() || c == '-',
        PRODUCTINFO_MAX,
    );
    if cleaned.is_empty() {
        "Payment".into()
    } else {
        cleaned
    }
}

/// The customer's name in the kit's `firstname` charset, at most 150 characters; `Customer`
/// when nothing is left.
pub fn firstname(name: &str) -> String {
    // The kit allows `&` and `'`, but its older version HTML-escaped values before hashing:
    // without them the hash cannot depend on which version Easebuzz mirrors.
    let cleaned = clean(
        name,
        |c| c.is_ascii_alphanumeric() || "-._()/,@".contains(c),
        FIRSTNAME_MAX,
    );
    if cleaned.is_empty() {
        "Customer".into()
    } else {
        cleaned
    }
}

/// The kit's hash builder: each value followed by `|` (empty values keep their place), then the
/// salt, SHA-512 in lower-case hex.
pub fn sequence_hash(values: &[&str], salt: &str) -> String {
    let mut fields = values.to_vec();
    fields.push(salt);
    sha512_pipe_hex(&fields)
}

/// The hash of an `initiateLink` form: `key|txnid|amount|productinfo|firstname|email|udf1..udf10`.
pub fn request_hash(key: &str, salt: &str, form: &BTreeMap<&str, String>) -> String {
    FAMILY.request_hash(key, salt, form)
}

/// The hash of a v2 transaction retrieve: `key|txnid`.
pub fn retrieve_hash(key: &str, salt: &str, txnid: &str) -> String {
    sequence_hash(&[key, txnid], salt)
}

/// The hash of a v2 refund: `key|merchant_refund_id|easebuzz_id|refund_amount`.
pub fn refund_hash(
    key: &str,
    salt: &str,
    merchant_refund_id: &str,
    easebuzz_id: &str,
    refund_amount: &str,
) -> String {
    sequence_hash(&[key, merchant_refund_id, easebuzz_id, refund_amount], salt)
}

/// The hash of a refund-status query: `key|easebuzz_id`.
pub fn refund_status_hash(key: &str, salt: &str, easebuzz_id: &str) -> String {
    sequence_hash(&[key, easebuzz_id], salt)
}

/// Whether `value` looks like the access key `initiateLink` answers: 64 lower-case hex digits.
fn is_access_key(value: &str) -> bool {
    value.len() == 64
        && value
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A trimmed, non-empty string field.
fn text<'a>(value: &'a Value, name: &str) -> Option<&'a str> {
    value
        .get(name)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// An id field, which Easebuzz may send as a string or a number.
fn id_text(value: &Value, name: &str) -> Option<String> {
    match value.get(name)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Whether an answer's `status` says yes (`1`, `true`, or those as text).
fn accepted(body: &Value) -> bool {
    match body.get("status") {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_i64() == Some(1),
        Some(Value::String(s)) => matches!(
            s.trim().to_ascii_lowercase().as_str(),
            "1" | "true" | "success"
        ),
        _ => false,
    }
}

/// The words of a refusal, wherever the answer puts them.
fn message(body: &Value) -> Option<&str> {
    ["error_desc", "data", "msg", "reason", "message", "error"]
        .into_iter()
        .find_map(|name| text(body, name))
}

/// Whether a refusal is about our credentials (so retrying cannot help).
fn credential_complaint(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    let bad = [
        "invalid",
        "incorrect",
        "wrong",
        "mismatch",
        "not found",
        "unauthori",
    ]
    .iter()
    .any(|w| m.contains(w));
    m.contains("hash")
        || m.contains("salt")
        || m.contains("authentication")
        || (bad && (m.contains("key") || m.contains("merchant")))
}

/// The transaction object for `txnid` anywhere in a transaction-API answer.
fn find_transaction<'a>(value: &'a Value, txnid: &str) -> Option<&'a Value> {
    match value {
        Value::Object(map) => {
            if text(value, "txnid") == Some(txnid) && text(value, "status").is_some() {
                return Some(value);
            }
            map.values().find_map(|v| find_transaction(v, txnid))
        }
        Value::Array(items) => items.iter().find_map(|v| find_transaction(v, txnid)),
        _ => None,
    }
}

fn pending() -> StatusReport {
    StatusReport::of(PaymentOutcome::Pending)
}

/// What Easebuzz says was paid: `amount`, rupees as decimal text (`"100.0"`), in INR (the
/// only currency Easebuzz takes) unless the answer names another.
fn captured(transaction: &Value) -> Option<ReportedAmount> {
    let minor = parse_major_json(transaction.get("amount")?)?;
    let currency = match transaction.get("currency") {
        None | Some(Value::Null) => "INR",
        Some(Value::String(code)) if !code.trim().is_empty() => code,
        Some(Value::String(_)) => "INR",
        Some(_) => return None,
    };
    Some(ReportedAmount::new(minor, currency))
}

/// Our status for an Easebuzz transaction (`success`, `failure`, `userCancelled`, `dropped`,
/// `bounced`, `initiated`, `pending`, …).
fn payment_report(transaction: &Value) -> StatusReport {
    let status = text(transaction, "status").unwrap_or("");
    let payment_id = id_text(transaction, "easepayid");
    match status.to_ascii_lowercase().as_str() {
        "success" => StatusReport {
            payment_id,
            captured: captured(transaction),
            method: payu_family::method(transaction),
            ..StatusReport::of(PaymentOutcome::Succeeded)
        },
        "failure" | "failed" | "usercancelled" | "dropped" | "bounced" => {
            let reason = ["error_Message", "error"]
                .into_iter()
                .filter_map(|name| text(transaction, name))
                .find(|r| !matches!(r.to_ascii_lowercase().as_str(), "na" | "no error"))
                .map(str::to_string)
                .unwrap_or_else(|| format!("easebuzz status '{status}'"));
            StatusReport {
                payment_id,
                failure_reason: Some(reason),
                ..StatusReport::of(PaymentOutcome::Failed)
            }
        }
        _ => pending(),
    }
}

/// Whether Easebuzz shows a payment on the transaction, beyond a link nobody has used.
fn has_payment(transaction: &Value) -> bool {
    !text(transaction, "status").is_some_and(|s| s.eq_ignore_ascii_case("initiated"))
}

/// Our status for an entry of the refund-status answer.
fn refund_report(entry: &Value, refund_id: &str) -> RefundReport {
    let raw = text(entry, "refund_status").unwrap_or("");
    let status = match raw.to_ascii_lowercase().as_str() {
        "refunded" | "settled" => RefundStatus::Succeeded,
        "cancelled" | "canceled" | "reverse chargeback" | "failed" | "failure" => {
            RefundStatus::Failed
        }
        _ => RefundStatus::Pending,
    };
    RefundReport {
        refund_id: Some(refund_id.to_string()),
        gateway_refund_id: id_text(entry, "refund_id"),
        status,
        failure_reason: (status == RefundStatus::Failed).then(|| {
            text(entry, "reason")
                .map(str::to_string)
                .unwrap_or_else(|| format!("easebuzz refund status '{raw}'"))
        }),
    }
}

/// Every refund entry under `value` that is ours: by our merchant refund id, or by Easebuzz's
/// refund id once known.
fn find_refunds<'a>(
    value: &'a Value,
    refund_id: &str,
    gateway_refund_id: Option<&str>,
    found: &mut Vec<&'a Value>,
) {
    match value {
        Value::Object(map) => {
            let ours = text(value, "merchant_refund_id") == Some(refund_id)
                || gateway_refund_id
                    .is_some_and(|g| id_text(value, "refund_id").as_deref() == Some(g));
            if ours && text(value, "refund_status").is_some() {
                found.push(value);
            }
            map.values()
                .for_each(|v| find_refunds(v, refund_id, gateway_refund_id, found));
        }
        Value::Array(items) => items
            .iter()
            .for_each(|v| find_refunds(v, refund_id, gateway_refund_id, found)),
        _ => {}
    }
}

/// Classifies a non-2xx answer by its status: an overloaded or failing Easebuzz may have acted
/// on a write; refused credentials, or a refused read, are our configuration; any other refused
/// write is a refusal of the payment or refund.
fn classify(status: u16, body: &Value, call: Call) -> GatewayError {
    let text = format!(
        "easebuzz answered {status}: {}",
        message(body).unwrap_or("no message")
    );
    match (status, call) {
        (429 | 500..=599, _) => unsettled(call, text),
        (401 | 403, _) | (_, Call::Read) => GatewayError::Configuration(text),
        (_, Call::Write) => GatewayError::Declined(text),
    }
}

impl Easebuzz {
    /// A connector using `client`, at the hosts `endpoints` gives.
    pub fn new(client: reqwest::Client, endpoints: Endpoints) -> Easebuzz {
        Easebuzz { client, endpoints }
    }

    fn url(&self, account: &Account, hosts: Hosts, path: &str) -> String {
        format!("{}{path}", self.endpoints.base(account.environment, hosts))
    }

    /// Posts a form and classifies the answer; a refusal about our credentials is
    /// `Configuration`, any other refusal is left to the caller.
    async fn post(
        &self,
        url: String,
        form: &[(&str, &str)],
        what: &str,
        call: Call,
    ) -> Result<Value, GatewayError> {
        let request = self
            .client
            .post(url)
            .form(form)
            .timeout(self.endpoints.timeout);
        let body: Value = TRANSPORT.read(request, call).await?;
        if !accepted(&body)
            && let Some(refusal) = message(&body).filter(|m| credential_complaint(m))
        {
            return Err(GatewayError::Configuration(format!(
                "easebuzz {what}: {refusal}"
            )));
        }
        Ok(body)
    }

    /// The v2 transaction API's answer about `txnid`.
    async fn retrieve(&self, account: &Account, txnid: &str) -> Result<Value, GatewayError> {
        let key = account.credential("key")?;
        let hash = retrieve_hash(key, account.credential("salt")?, txnid);
        self.post(
            self.url(account, DASHBOARD, "/transaction/v2/retrieve"),
            &[("key", key), ("txnid", txnid), ("hash", hash.as_str())],
            "transaction retrieve",
            Call::Read,
        )
        .await
    }

    /// The `easepayid` a refund is against: the one we stored, or else the transaction API's.
    async fn easebuzz_id(
        &self,
        account: &Account,
        refund: &RefundRequest,
    ) -> Result<Option<String>, GatewayError> {
        if let Some(id) = refund
            .payment_id
            .as_deref()
            .map(str::trim)
            .filter(|id| !id.is_empty())
        {
            return Ok(Some(id.to_string()));
        }
        let body = self.retrieve(account, &refund.reference).await?;
        Ok(find_transaction(&body, &refund.reference)
            .filter(|t| payment_report(t).status == PaymentOutcome::Succeeded)
            .and_then(|t| id_text(t, "easepayid")))
    }
}

#[async_trait]
impl Gateway for Easebuzz {
    fn provider(&self) -> Provider {
        Provider::Easebuzz
    }

    fn required_credentials(&self) -> &'static [&'static str] {
        &["key", "salt"]
    }

    async fn create_order(
        &self,
        account: &Account,
        order: &OrderRequest,
    ) -> Result<CreatedOrder, GatewayError> {
        let key = account.credential("key")?;
        let salt = account.credential("salt")?;
        if order.amount < MIN_AMOUNT {
            return Err(GatewayError::Declined(format!(
                "easebuzz takes at least {}; this payment is {}",
                rupees(MIN_AMOUNT),
                rupees(order.amount)
            )));
        }
        let txnid = txnid(&order.receipt);
        let mut form: BTreeMap<&str, String> = BTreeMap::new();
        form.insert("key", key.to_string());
        form.insert("txnid", txnid.clone());
        form.insert("amount", to_major_string(order.amount));
        form.insert("productinfo", productinfo(order.description.as_deref()));
        form.insert("firstname", firstname(&order.customer_name));
        form.insert("email", order.customer_email.trim().to_string());
        form.insert(
            "phone",
            order
                .customer_phone
                .chars()
                .filter(char::is_ascii_digit)
                .collect(),
        );
        form.insert("surl", order.return_url.clone());
        form.insert("furl", order.return_url.clone());
        form.insert("hash", request_hash(key, salt, &form));
        let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let pay = self.endpoints.base(account.environment, PAY);
        let body = self
            .post(
                format!("{pay}/payment/initiateLink"),
                &pairs,
                "initiateLink",
                Call::Write,
            )
            .await?;
        if !accepted(&body) {
            return Err(GatewayError::Declined(format!(
                "easebuzz refused the payment link: {}",
                message(&body).unwrap_or("no reason given")
            )));
        }
        match text(&body, "data").filter(|k| is_access_key(k)) {
            Some(access_key) => Ok(CreatedOrder {
                reference: txnid,
                pay_url: Some(format!("{pay}/pay/{access_key}")),
                checkout_token: None,
            }),
            // Easebuzz said yes, so a link may exist; the lookup decides what happens next.
            None => Err(GatewayError::Ambiguous(
                "easebuzz accepted the payment link without a usable access key".into(),
            )),
        }
    }

    async fn find_order(
        &self,
        account: &Account,
        receipt: &str,
    ) -> Result<Option<CreatedOrder>, GatewayError> {
        let txnid = txnid(receipt);
        let body = self.retrieve(account, &txnid).await?;
        Ok(find_transaction(&body, &txnid)
            .filter(|t| has_payment(t))
            .map(|_| CreatedOrder {
                reference: txnid.clone(),
                pay_url: None,
                checkout_token: None,
            }))
    }

    async fn check_credentials(&self, account: &Account) -> Result<(), GatewayError> {
        self.retrieve(account, CREDENTIAL_CHECK_TXNID)
            .await
            .map(|_| ())
    }

    async fn fetch_status(
        &self,
        account: &Account,
        reference: &str,
    ) -> Result<StatusReport, GatewayError> {
        let body = self.retrieve(account, reference).await?;
        Ok(find_transaction(&body, reference)
            .map(payment_report)
            .unwrap_or_else(pending))
    }

    fn handoff(
        &self,
        _account: &Account,
        order: &OrderRequest,
        created: &CreatedOrder,
    ) -> Result<Handoff, GatewayError> {
        match &created.pay_url {
            Some(url) => Ok(Handoff::Redirect(url.clone())),
            // Found after a lost answer: Easebuzz already has a payment on this txnid, and a
            // second link is exactly what must not be made.
            None => Ok(Handoff::Html(page(
                "Payment",
                &format!(
                    "<p class=\"amount\">{}</p><p id=\"status\">Easebuzz already has this \
                     payment. We are confirming its result; please check back in a minute.</p>",
                    rupees(order.amount)
                ),
            ))),
        }
    }

    fn verify_webhook(&self, account: &Account, _headers: &HeaderMap, body: &[u8]) -> bool {
        FAMILY.verify_webhook(account, body)
    }

    fn webhook_needs_confirmation(&self) -> bool {
        true
    }

    fn parse_webhook(&self, _headers: &HeaderMap, body: &[u8]) -> Result<GatewayEvent, String> {
        let fields = FAMILY.fields_of(body)?;
        let txnid = fields
            .get("txnid")
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .ok_or("easebuzz callback without a txnid")?;
        let receipt = txnid.parse::<AttemptId>().is_ok().then(|| txnid.clone());
        // One event per payment and outcome: Easebuzz resends the same result on retries. Only
        // fields the reverse hash covers make the id (F5c): `easepayid` is not covered, so a
        // replay with another one is the same event, not a new job and a new status query.
        let report = payment_report(&details(&fields));
        Ok(payment_event(txnid, receipt, &fields, report))
    }

    async fn create_refund(
        &self,
        account: &Account,
        refund: &RefundRequest,
    ) -> Result<RefundReport, GatewayError> {
        let key = account.credential("key")?;
        let salt = account.credential("salt")?;
        if refund.amount <= 0 {
            return Err(GatewayError::Declined(
                "a refund must be for more than nothing".into(),
            ));
        }
        let easebuzz_id = self.easebuzz_id(account, refund).await?.ok_or_else(|| {
            GatewayError::Declined(format!(
                "easebuzz shows no successful payment for txnid {}",
                refund.reference
            ))
        })?;
        let amount = to_major_string(refund.amount);
        let hash = refund_hash(key, salt, &refund.refund_id, &easebuzz_id, &amount);
        let body = self
            .post(
                self.url(account, DASHBOARD, "/transaction/v2/refund"),
                &[
                    ("key", key),
                    ("merchant_refund_id", refund.refund_id.as_str()),
                    ("easebuzz_id", easebuzz_id.as_str()),
                    ("refund_amount", amount.as_str()),
                    ("hash", hash.as_str()),
                ],
                "refund",
                Call::Write,
            )
            .await?;
        if accepted(&body) {
            return Ok(RefundReport {
                refund_id: Some(refund.refund_id.clone()),
                gateway_refund_id: id_text(&body, "refund_id"),
                status: RefundStatus::Pending,
                failure_reason: None,
            });
        }
        let reason = message(&body).unwrap_or("no reason given").to_string();
        let lower = reason.to_ascii_lowercase();
        if lower.contains("already") || lower.contains("duplicate") {
            // This merchant refund id was asked for before: report what became of it.
            return self
                .fetch_refund(account, refund, None)
                .await?
                .ok_or_else(|| GatewayError::Ambiguous(format!("easebuzz: {reason}")));
        }
        Err(GatewayError::Declined(format!(
            "easebuzz refused the refund: {reason}"
        )))
    }

    async fn fetch_refund(
        &self,
        account: &Account,
        refund: &RefundRequest,
        gateway_refund_id: Option<&str>,
    ) -> Result<Option<RefundReport>, GatewayError> {
        let key = account.credential("key")?;
        let salt = account.credential("salt")?;
        let Some(easebuzz_id) = self.easebuzz_id(account, refund).await? else {
            return Ok(None);
        };
        let hash = refund_status_hash(key, salt, &easebuzz_id);
        // `merchant_refund_id` narrows the answer; it is not part of the hash.
        let body = self
            .post(
                self.url(account, DASHBOARD, "/refund/v1/retrieve"),
                &[
                    ("key", key),
                    ("easebuzz_id", easebuzz_id.as_str()),
                    ("merchant_refund_id", refund.refund_id.as_str()),
                    ("hash", hash.as_str()),
                ],
                "refund status",
                Call::Read,
            )
            .await?;
        let mut found = Vec::new();
        find_refunds(&body, &refund.refund_id, gateway_refund_id, &mut found);
        Ok(found
            .first()
            .map(|entry| refund_report(entry, &refund.refund_id)))
    }

    fn verify_return(
        &self,
        account: &Account,
        params: &BTreeMap<String, String>,
    ) -> Option<String> {
        FAMILY.verify_return(account, params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateways::PaymentMethod;
    use crate::ids::GatewayAccountId;
    use crate::mode::Mode;
    use crate::secret::Secret;
    use serde_json::json;

    // The official kit README's sample credentials (reference notes §1.8); not a real account.
    const KEY: &str = "10PBP71ABZ2";
    const SALT: &str = "ABC55E8IBW";

    fn verify_result(key: &str, salt: &str, params: &BTreeMap<String, String>) -> bool {
        FAMILY.verify_result(key, salt, params)
    }

    const E1: &str = "417de08d0fda2944b1b26dcd9d1badf0836379e8c368cf761adf8e2c4c6ed2e5a9c01b227d22ac1e89ef7be7a7563125a34ba7c55167d43f70aadde7f7afcc72";
    const E2: &str = "0ce4a225afb38af049489483f5dc247dfb71f424fea2269e8f51c0f7d7d965a85f8d5e79acd3b5429f65b7003797c76562575ba83ef05385e54a38cdb0f83f5d";
    const E3: &str = "0c77078f8d9792825e9d0ff735736af7284a86fcfac28ee7b34e217c845930e36240ada8ce05cc421969b14d67c33afb42a35708e5bbfb4ddcdf38da108a82ef";
    const E4: &str = "6b0bcd0c15d6881c0f1b9f232fb5de058d05db259a3a310eecbd035b6b5aa1e4ecb828590cc288ddd4c267b7b24bb14b7e2af7880cd85025f88e952cc8f94636";
    const E5: &str = "4e65dde941a9ffdbe441c4926019734781d62c1dac70e69d2888b6f97b152040a98bac4a702b6f37735ea57237406baa75f381f03ee051dc636b5d7f79d0993f";
    const E6: &str = "5f6136807374669ebff44d30a4bd9f50020d6768ab634d9b68a2ef6fd0ab8ec8ea6e57c36b97b9ecace95383ec9adad7d625535e09f6c2c76a03bf4eea093dd7";
    const E7: &str = "997a97a705b894a4ab949ed311cc9496b322d0c01a0e7607d977f83fde6941e4d3807574bbd44fd0017b4913039b971ee536192c8a42616ed0a2bca51d813bd1";
    const E8: &str = "8131aa965e32c7a1b6bded1c2723bc860ffdffd8ae1b072fb0dc4eb5510acf41750b225d3c1cd99b3123baa4647433a09fd4ca3694fb35e2db3024bcef341d71";

    fn sample_form(udf: Option<&str>) -> BTreeMap<&'static str, String> {
        let mut form = BTreeMap::from([
            ("txnid", "T3SAT0B5OL".to_string()),
            ("amount", "100.0".to_string()),
            ("productinfo", "Laptop".to_string()),
            ("firstname", "jitendra".to_string()),
            ("email", "test@gmail.com".to_string()),
            ("phone", "1231231235".to_string()),
        ]);
        if let Some(value) = udf {
            for name in ["udf1", "udf2", "udf3", "udf4", "udf5"] {
                form.insert(name, value.to_string());
            }
        }
        form
    }

    #[test]
    fn request_hashes_match_e1_and_e2() {
        assert_eq!(request_hash(KEY, SALT, &sample_form(None)), E1);
        assert_eq!(request_hash(KEY, SALT, &sample_form(Some("aaaa"))), E2);
    }

    #[test]
    fn the_request_hash_has_sixteen_pipes_before_the_salt() {
        let head = "10PBP71ABZ2|T3SAT0B5OL|100.0|Laptop|jitendra|test@gmail.com";
        let input = format!("{head}{}{SALT}", "|".repeat(11));
        assert_eq!(input.matches('|').count(), 16);
        assert_eq!(sha512_pipe_hex(&[&input]), E1);
        // Five UDF slots, as some integrations hash, give another hash.
        let five = format!("{head}{}{SALT}", "|".repeat(6));
        assert_ne!(sha512_pipe_hex(&[&five]), E1);
    }

    fn posted(status: &str, udf: Option<&str>, hash: &str) -> BTreeMap<String, String> {
        let mut params: BTreeMap<String, String> = [
            ("key", KEY),
            ("txnid", "T3SAT0B5OL"),
            ("amount", "100.0"),
            ("productinfo", "Laptop"),
            ("firstname", "jitendra"),
            ("email", "test@gmail.com"),
            ("phone", "1231231235"),
            ("status", status),
            ("easepayid", "E230101ABCDEF"),
            ("hash", hash),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        if let Some(value) = udf {
            for i in 1..=5 {
                params.insert(format!("udf{i}"), value.to_string());
            }
        }
        params
    }

    #[test]
    fn reverse_hashes_match_e3_and_e4() {
        assert!(verify_result(KEY, SALT, &posted("success", None, E3)));
        assert!(verify_result(
            KEY,
            SALT,
            &posted("failure", Some("aaaa"), E4)
        ));
        assert!(
            verify_result(
                KEY,
                SALT,
                &posted("success", None, &E3.to_ascii_uppercase())
            ),
            "hex case does not matter"
        );
    }

    #[test]
    fn reverse_hashes_refuse_tampering() {
        let altered_status = posted("success", Some("aaaa"), E4);
        assert!(
            !verify_result(KEY, SALT, &altered_status),
            "a failure turned into a success"
        );
        let mut amount = posted("success", None, E3);
        amount.insert("amount".into(), "100.00".into());
        assert!(
            !verify_result(KEY, SALT, &amount),
            "the posted string is hashed as is"
        );
        let mut udf = posted("success", None, E3);
        udf.insert("udf10".into(), "x".into());
        assert!(!verify_result(KEY, SALT, &udf), "all ten UDFs are covered");
        assert!(!verify_result(
            KEY,
            "other-salt",
            &posted("success", None, E3)
        ));
        assert!(
            !verify_result("OTHERKEY", SALT, &posted("success", None, E3)),
            "another account's key"
        );
        let mut no_hash = posted("success", None, E3);
        no_hash.remove("hash");
        assert!(!verify_result(KEY, SALT, &no_hash));
        assert!(!verify_result(KEY, SALT, &posted("success", None, "")));
        let mut unhashed = posted("success", None, E3);
        unhashed.insert("easepayid".into(), "E999".into());
        assert!(
            verify_result(KEY, SALT, &unhashed),
            "easepayid is not covered: the status query confirms it"
        );
    }

    #[test]
    fn dashboard_hashes_match_e5_to_e8() {
        assert_eq!(retrieve_hash(KEY, SALT, "T3SAT0B5OL"), E5);
        assert_eq!(
            refund_hash(KEY, SALT, "RF0001", "E230101ABCDEF", "50.0"),
            E6
        );
        assert_eq!(refund_status_hash(KEY, SALT, "E230101ABCDEF"), E7);
        // E8 is the legacy v1 retrieve (`key|txnid|amount|email|phone`): the builder's vector.
        assert_eq!(
            sequence_hash(
                &[KEY, "T3SAT0B5OL", "100.0", "test@gmail.com", "1231231235"],
                SALT
            ),
            E8
        );
    }

    #[test]
    fn txnids_fit_easebuzz_limits_and_stay_distinct() {
        let attempt = "att_0196f0c2a1b27c3d8e9f0a1b2c3d4e5f";
        assert_eq!(txnid(attempt), attempt, "our attempt ids fit as they are");
        let long_a = format!("{}-a", "x".repeat(40));
        let long_b = format!("{}-b", "x".repeat(40));
        for receipt in [
            long_a.as_str(),
            long_b.as_str(),
            "a|b",
            "a.b",
            "ab",
            "",
            "åäö",
        ] {
            let t = txnid(receipt);
            assert!(!t.is_empty() && t.len() <= 40, "{receipt}: {t}");
            assert!(
                t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
                "{t}"
            );
            assert_eq!(t, txnid(receipt), "deterministic");
        }
        assert_ne!(txnid(&long_a), txnid(&long_b));
        assert_eq!(txnid(&long_a).len(), 40);
        assert_ne!(
            txnid("a.b"),
            txnid("ab"),
            "no collision by dropping characters"
        );
        assert_ne!(
            txnid(attempt),
            txnid("att_0196f0c2a1b27c3d8e9f0a1b2c3d4e60")
        );
    }

    #[test]
    fn customer_fields_are_cleaned_to_the_kit_charsets() {
        assert_eq!(
            productinfo(Some("Masala chai </script> x 2")),
            "Masala chai script x 2"
        );
        assert_eq!(productinfo(Some("a|b\tc\n d")), "ab c d");
        assert_eq!(productinfo(Some("<>!!")), "Payment");
        assert_eq!(productinfo(None), "Payment");
        assert_eq!(productinfo(Some("y".repeat(60).as_str())).len(), 45);
        assert_eq!(firstname("Asha D'Souza & co."), "Asha DSouza co.");
        assert_eq!(firstname("  "), "Customer");
        assert_eq!(firstname(&"n".repeat(200)).len(), 150);
    }

    #[test]
    fn access_keys_are_64_lower_hex() {
        assert!(is_access_key(&"ab12".repeat(16)));
        assert!(!is_access_key(&"AB12".repeat(16)));
        assert!(!is_access_key(&"ab12".repeat(15)));
        assert!(!is_access_key(
            "Mandatory parameter 'txnid' cannot be empty"
        ));
    }

    fn transaction(status: &str) -> Value {
        json!({ "txnid": "T1", "easepayid": "E1", "status": status, "error_Message": "Bank declined" })
    }

    #[test]
    fn statuses_map_to_ours() {
        let success = payment_report(&transaction("success"));
        assert_eq!(success.status, PaymentOutcome::Succeeded);
        assert_eq!(success.payment_id.as_deref(), Some("E1"));
        for failed in ["failure", "userCancelled", "dropped", "bounced"] {
            let report = payment_report(&transaction(failed));
            assert_eq!(report.status, PaymentOutcome::Failed, "{failed}");
            assert_eq!(report.failure_reason.as_deref(), Some("Bank declined"));
        }
        let cancelled = payment_report(&json!({ "txnid": "T1", "status": "userCancelled" }));
        assert_eq!(
            cancelled.failure_reason.as_deref(),
            Some("easebuzz status 'userCancelled'")
        );
        for open in ["initiated", "pending", "in_process", "", "something-new"] {
            assert_eq!(payment_report(&transaction(open)), pending(), "{open}");
        }
    }

    #[test]
    fn the_transaction_is_found_in_any_answer_shape() {
        let v1 = json!({ "status": true, "msg": transaction("success") });
        let v2_list = json!({ "status": 1, "data": [transaction("failure"), { "txnid": "T2", "status": "success" }] });
        let not_found = json!({ "status": false, "msg": "Transaction not found" });
        assert_eq!(
            find_transaction(&v1, "T1").map(|t| t["status"].clone()),
            Some(json!("success"))
        );
        assert_eq!(
            find_transaction(&v2_list, "T2").map(|t| t["status"].clone()),
            Some(json!("success"))
        );
        assert!(find_transaction(&v2_list, "T3").is_none());
        assert!(find_transaction(&not_found, "T1").is_none());
        assert!(!has_payment(&transaction("initiated")));
        assert!(has_payment(&transaction("pending")));
    }

    #[test]
    fn refund_statuses_map_to_ours() {
        let entry = |status: &str| json!({ "refund_id": "R1", "merchant_refund_id": "rfd_1", "refund_status": status, "refund_amount": "50.00" });
        for (status, expected) in [
            ("refunded", RefundStatus::Succeeded),
            ("settled", RefundStatus::Succeeded),
            ("cancelled", RefundStatus::Failed),
            ("reverse chargeback", RefundStatus::Failed),
            ("failed", RefundStatus::Failed),
            ("queued", RefundStatus::Pending),
            ("accepted", RefundStatus::Pending),
        ] {
            let report = refund_report(&entry(status), "rfd_1");
            assert_eq!(report.status, expected, "{status}");
            assert_eq!(report.gateway_refund_id.as_deref(), Some("R1"));
        }
        let body = json!({ "status": true, "refunds": [entry("refunded"), { "refund_id": 7, "merchant_refund_id": "rfd_2", "refund_status": "queued" }] });
        let mut found = Vec::new();
        find_refunds(&body, "rfd_2", None, &mut found);
        assert_eq!(found.len(), 1);
        let mut by_gateway_id = Vec::new();
        find_refunds(&body, "rfd_x", Some("7"), &mut by_gateway_id);
        assert_eq!(by_gateway_id.len(), 1);
    }

    #[test]
    fn credential_complaints_are_recognised() {
        for m in [
            "Invalid hash",
            "Hash mismatch",
            "Invalid merchant key",
            "key is incorrect",
        ] {
            assert!(credential_complaint(m), "{m}");
        }
        for m in [
            "Transaction not found",
            "Mandatory parameter 'email' cannot be empty",
        ] {
            assert!(!credential_complaint(m), "{m}");
        }
    }

    fn account() -> Account {
        Account {
            id: GatewayAccountId::generate(),
            environment: Mode::Test,
            credentials: [("key", KEY), ("salt", SALT)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), Secret::new(v.to_string())))
                .collect(),
        }
    }

    fn connector() -> Easebuzz {
        Easebuzz::new(
            reqwest::Client::new(),
            Endpoints::new(None, None, std::time::Duration::from_secs(1)),
        )
    }

    #[test]
    fn webhooks_are_read_as_forms_or_json_objects() {
        let gateway = connector();
        let account = account();
        let headers = HeaderMap::new();
        let params = posted("success", None, E3);
        let form = serde_urlencoded::to_string(&params).unwrap();
        let as_json = serde_json::to_vec(&params).unwrap();
        for body in [form.as_bytes(), as_json.as_slice()] {
            assert!(gateway.verify_webhook(&account, &headers, body));
            let event = gateway.parse_webhook(&headers, body).unwrap();
            assert_eq!(
                event.event_id, "T3SAT0B5OL:success:100.0",
                "hashed fields only: not easepayid"
            );
            assert_eq!(event.reference.as_deref(), Some("T3SAT0B5OL"));
            assert_eq!(event.receipt, None, "not one of our attempt ids");
            assert_eq!(
                event.report.map(|r| r.status),
                Some(PaymentOutcome::Succeeded)
            );
        }
        let tampered = form.replace("amount=100.0", "amount=1.0");
        assert!(!gateway.verify_webhook(&account, &headers, tampered.as_bytes()));
        assert!(!gateway.verify_webhook(&account, &headers, b"{not json"));
        assert!(gateway.parse_webhook(&headers, b"status=success").is_err());
    }

    #[test]
    fn the_handoff_is_a_redirect_to_the_payment_link() {
        let order = OrderRequest {
            receipt: "att_0196f0c2a1b27c3d8e9f0a1b2c3d4e5f".into(),
            amount: 49_900,
            currency: crate::money::Currency::Inr,
            customer_name: "Asha Verma".into(),
            customer_email: "asha@example.in".into(),
            customer_phone: "+919812345678".into(),
            description: None,
            notify_url: "https://lsp.example/api/v1/webhooks/easebuzz".into(),
            return_url: "https://lsp.example/api/v1/checkout/txn_1/return".into(),
        };
        let url = format!("https://testpay.easebuzz.in/pay/{}", "ab12".repeat(16));
        let created = CreatedOrder {
            reference: order.receipt.clone(),
            pay_url: Some(url.clone()),
            checkout_token: None,
        };
        assert_eq!(
            connector().handoff(&account(), &order, &created).unwrap(),
            Handoff::Redirect(url)
        );
        let found = CreatedOrder {
            pay_url: None,
            ..created
        };
        assert!(matches!(
            connector().handoff(&account(), &order, &found).unwrap(),
            Handoff::Html(html) if html.contains("Easebuzz already has this payment")
        ));
    }

    #[test]
    fn the_method_comes_from_the_mode() {
        // A transaction as the transaction API answers, paid by UPI.
        let mut paid = json!({
            "txnid": "T1", "easepayid": "E1", "status": "success", "key": "2PBP7IABZ2", "amount": "499.00",
            "net_amount_debit": "499.00", "productinfo": "Masala chai", "firstname": "Asha Verma",
            "email": "asha@example.in", "phone": "919812345678", "mode": "UPI", "PG_TYPE": "UPI-PG",
            "bank_ref_num": "633412345678", "addedon": "2026-11-29 10:12:13", "error": "NA", "error_Message": "NA",
        });
        assert_eq!(payment_report(&paid).method, Some(PaymentMethod::Upi));
        for (mode, ours) in [
            (json!("CC"), Some(PaymentMethod::Card)),
            (json!("DC"), Some(PaymentMethod::Card)),
            (json!("NB"), Some(PaymentMethod::Netbanking)),
            (json!("MW"), Some(PaymentMethod::Wallet)),
            (json!("EMI"), Some(PaymentMethod::Emi)),
            (json!("OLA"), Some(PaymentMethod::Other)),
            (Value::Null, None),
        ] {
            paid["mode"] = mode.clone();
            let report = payment_report(&paid);
            assert_eq!(report.status, PaymentOutcome::Succeeded, "{mode}");
            assert_eq!(report.method, ours, "{mode}");
        }
        assert_eq!(payment_report(&transaction("failure")).method, None);
    }
}
