//! PhonePe PG, API generation v1 (the salt key and `X-VERIFY`), with PhonePe's hosted pay page
//! (`PAY_PAGE`) as the hand-off.
//!
//! Why v1: every checksum formula of v1 is in PhonePe's docs with a worked example we re-computed,
//! while the newer v2 "Standard Checkout" (OAuth `O-Bearer` tokens) leaves its webhook
//! authentication (username/password digest or an HMAC option), its error shape and several answer
//! shapes unconfirmed. Credentials: `merchant_id`, `salt_key`, `salt_index`.
//!
//! Hosts: UAT `https://api-preprod.phonepe.com/apis/pg-sandbox`, PROD
//! `https://api.phonepe.com/apis/hermes`. Both carry a path prefix; a configured override replaces
//! the whole base and the API paths (`/pg/v1/…`) are appended to it. The checksums cover the API
//! path only, never the host's `/apis/…` prefix.
//!
//! Checksums, each `lower-case hex SHA-256 … + "###" + salt index` (see [`x_verify`]):
//!
//! - a POST (pay, refund): over `base64(JSON payload) + api path + salt key`; the body is
//!   `{"request": "<base64>"}`; null fields are left out of the payload, as the docs ask;
//! - the status GET: over `"/pg/v1/status/{merchantId}/{merchantTransactionId}" + salt key`, with
//!   `X-MERCHANT-ID`;
//! - the server-to-server callback (`{"response": "<base64>"}`): over `response + salt key`, with
//!   no path ([`callback_checksum`]; a third-party connector adds the URL path, against the docs).
//!   The docs print the hex upper-case in one example and SDKs produce lower-case, so either case
//!   is accepted, compared in constant time. The index after `###` must be the account's.
//!
//! Ids. PhonePe's `merchantTransactionId` must be under 35 characters of `A-Z a-z 0-9 _ -`; our
//! `att_…` / `rfd_…` ids are 36, so they travel as `a_…` / `r_…` with the same 32 hex characters
//! ([`merchant_transaction_id`], reversed by [`our_id`]): deterministic, so a second create for one
//! receipt can only meet PhonePe's duplicate refusal (`INVALID_TRANSACTION_ID`), never make a
//! second order. `merchantUserId` is derived from the receipt ([`merchant_user_id`]): PhonePe asks
//! not to send an email or phone there, and a refund, which knows the receipt, sends the same one.
//!
//! `redirectMode` is `POST`: PhonePe then form-posts `code`, `merchantId`, `transactionId` (our
//! merchantTransactionId), `amount` and `providerReferenceId` to `redirectUrl` (docs, "UI
//! callback"), so the return names the transaction; what a `REDIRECT` return carries is not
//! documented. None of it is signed: the return is accepted only if it names the attempt's
//! transaction, and the platform then believes only a status query.
//!
//! The pay page URL comes only in the create answer; the status API cannot give it back. After an
//! ambiguous create, [`Gateway::find_order`] can say that PhonePe has the transaction, but not
//! where the customer pays: it answers with no pay URL, the hand-off then fails with a
//! configuration error, and the payment ends with its expiry (or whatever PhonePe reports). That
//! is the price of never creating a second order for one receipt.
//!
//! Status (the docs: base decisions on `code`; `state` only when the code is not one we know):
//! `PAYMENT_SUCCESS` / `COMPLETED` succeed (payment id: PhonePe's `transactionId`);
//! `PAYMENT_ERROR` / `PAYMENT_DECLINED` / `FAILED` fail; `PAYMENT_PENDING` / `PENDING` wait;
//! `TRANSACTION_NOT_FOUND` ("payment not initiated inside PhonePe") is pending: the customer has
//! not started; `INTERNAL_SERVER_ERROR` / `TIMED_OUT` are retryable (a later query will know).
//!
//! Refunds: `POST /pg/v1/refund` with the refund's own merchantTransactionId. The v1 refund docs
//! say its callback carries "the same payload as the Status API Response of Refund transaction"
//! and ask merchants to "check status with check transaction status API before retrying the
//! refund"; no separate v1 refund-status path is documented, so [`Gateway::fetch_refund`] asks
//! `/pg/v1/status/{merchantId}/{refund's merchantTransactionId}` (the exact endpoint is
//! UNCONFIRMED). PhonePe's own ids are not accepted there, so the gateway refund id is not used.
//!
//! Callbacks are deduplicated by `{merchantTransactionId}:{transactionId}:{code}`: PhonePe's
//! retries repeat all three, and a later state of the same transaction is a new event.
//!
//! UNCONFIRMED and decided here: the pay answer's `data.instrumentResponse.redirectInfo.url`
//! (third-party clients read it there); the refund status endpoint (above); the HTTP status that
//! comes with `TRANSACTION_NOT_FOUND` (codes are read whatever the status, below 500); the
//! minimum amount (docs say "greater than 100" paise in one place and "minimum 100" in another:
//! 100 is accepted).

use super::endpoints::{Endpoints, Hosts};
use super::transport::{self, Call, unsettled};
use super::{
    Account, CreatedOrder, Gateway, GatewayError, GatewayEvent, Handoff, OrderRequest,
    PaymentMethod, PaymentOutcome, Provider, RefundReport, RefundRequest, RefundStatus,
    StatusReport,
};
use crate::crypto::{constant_time_eq, sha256};
use crate::ids::{AttemptId, RefundId};
use crate::money::ReportedAmount;
use async_trait::async_trait;
use base64::Engine;
use base64::alphabet;
use base64::engine::general_purpose::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use http::header::CONTENT_TYPE;
use http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;

const PROVIDER: &str = "phonepe";
const API: Hosts = Hosts {
    test: "https://api-preprod.phonepe.com/apis/pg-sandbox",
    live: "https://api.phonepe.com/apis/hermes",
};

/// The pay API's path (and the path its checksum covers).
pub const PAY_PATH: &str = "/pg/v1/pay";
/// The refund API's path (and the path its checksum covers).
pub const REFUND_PATH: &str = "/pg/v1/refund";
/// The smallest amount PhonePe takes for a payment or a refund, in paise.
pub const MIN_AMOUNT: i64 = 100;
/// The longest merchantTransactionId PhonePe takes ("less than 35 characters").
pub const MAX_TRANSACTION_ID: usize = 34;

// "Less than 38 characters" for merchant ids.
const MAX_MERCHANT_ID: usize = 37;
// Our return endpoint takes a form POST, and only the POST return is documented to carry the id.
const REDIRECT_MODE: &str = "POST";
// What PhonePe answers to a merchantTransactionId it has seen before.
const DUPLICATE: &str = "INVALID_TRANSACTION_ID";
// A merchantTransactionId nobody uses: its status query proves the checksum and moves no money.
const CREDENTIAL_PROBE: &str = "lsp-credential-check";
// Our prefixed ids and their short tags, so that tag, `_` and 32 hex characters fit in 34.
const SHORT_PREFIXES: [(&str, &str); 2] = [(AttemptId::PREFIX, "a"), (RefundId::PREFIX, "r")];
// Marks an id that only fitted once hashed; it cannot be turned back.
const HASHED: &str = "h";
// Callbacks are checked on the exact base64 string; decoding need not insist on padding.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The PhonePe connector.
pub struct PhonePe {
    client: reqwest::Client,
    endpoints: Endpoints,
}

impl PhonePe {
    /// A connector using `client`, at the hosts `endpoints` gives.
    pub fn new(client: reqwest::Client, endpoints: Endpoints) -> PhonePe {
        PhonePe { client, endpoints }
    }

    fn url(&self, account: &Account, path: &str) -> String {
        format!("{}{path}", self.endpoints.base(account.environment, API))
    }

    async fn post<T: Serialize>(
        &self,
        account: &Account,
        keys: &Keys<'_>,
        path: &str,
        payload: &T,
    ) -> Result<Answer, GatewayError> {
        let payload = serde_json::to_vec(payload)
            .map_err(|e| GatewayError::Configuration(format!("phonepe: encoding {path}: {e}")))?;
        let request = STANDARD.encode(payload);
        let checksum = x_verify(&request, path, keys.salt_key, keys.salt_index);
        let builder = self
            .client
            .post(self.url(account, path))
            .header(CONTENT_TYPE, "application/json")
            .header("X-VERIFY", checksum)
            .json(&json!({ "request": request }))
            .timeout(self.endpoints.timeout);
        answer(builder, Call::Write).await
    }

    async fn status(
        &self,
        account: &Account,
        keys: &Keys<'_>,
        transaction: &str,
    ) -> Result<Answer, GatewayError> {
        let path = status_path(keys.merchant_id, transaction);
        let request = self
            .client
            .get(self.url(account, &path))
            .header(CONTENT_TYPE, "application/json")
            .header(
                "X-VERIFY",
                x_verify("", &path, keys.salt_key, keys.salt_index),
            )
            .header("X-MERCHANT-ID", keys.merchant_id)
            .timeout(self.endpoints.timeout);
        // Reading changes nothing at PhonePe: any failure may simply be retried.
        answer(request, Call::Read).await
    }

    /// What PhonePe knows of `transaction`, a payment's or a refund's merchantTransactionId.
    async fn lookup(
        &self,
        account: &Account,
        keys: &Keys<'_>,
        transaction: &str,
    ) -> Result<(Outcome, Answer), GatewayError> {
        let answer = self.status(account, keys, transaction).await?;
        let outcome = outcome(&answer).ok_or_else(|| answer.error(Call::Read))?;
        if let Some(other) = answer.envelope.data().merchant_transaction_id
            && other != transaction
        {
            return Err(GatewayError::Retryable(format!(
                "phonepe answered about '{other}' when asked about '{transaction}'"
            )));
        }
        Ok((outcome, answer))
    }

    async fn find(
        &self,
        account: &Account,
        keys: &Keys<'_>,
        transaction: &str,
    ) -> Result<Option<CreatedOrder>, GatewayError> {
        let (outcome, _) = self.lookup(account, keys, transaction).await?;
        Ok((outcome != Outcome::NotFound).then(|| CreatedOrder {
            reference: transaction.to_string(),
            pay_url: None,
            checkout_token: None,
        }))
    }

    async fn refund_status(
        &self,
        account: &Account,
        keys: &Keys<'_>,
        refund: &RefundRequest,
    ) -> Result<Option<RefundReport>, GatewayError> {
        let transaction = merchant_transaction_id(&refund.refund_id);
        let (outcome, answer) = self.lookup(account, keys, &transaction).await?;
        Ok((outcome != Outcome::NotFound)
            .then(|| refund_report(outcome, &answer.envelope, &refund.refund_id)))
    }
}

/// An account's PhonePe credentials, checked before they go into paths and headers.
struct Keys<'a> {
    merchant_id: &'a str,
    salt_key: &'a str,
    salt_index: &'a str,
}

impl<'a> Keys<'a> {
    fn of(account: &'a Account) -> Result<Keys<'a>, GatewayError> {
        let merchant_id = account.credential("merchant_id")?.trim();
        let salt_key = account.credential("salt_key")?.trim();
        let salt_index = account.credential("salt_index")?.trim();
        if merchant_id.is_empty()
            || merchant_id.len() > MAX_MERCHANT_ID
            || !merchant_id.bytes().all(id_byte)
        {
            return Err(GatewayError::Configuration(format!(
                "gateway account {}: '{merchant_id}' is not a phonepe merchant id",
                account.id
            )));
        }
        if salt_key.is_empty() {
            return Err(GatewayError::Configuration(format!(
                "gateway account {} has an empty phonepe salt key",
                account.id
            )));
        }
        if salt_index.is_empty() || !salt_index.bytes().all(|b| b.is_ascii_digit()) {
            return Err(GatewayError::Configuration(format!(
                "gateway account {}: the phonepe salt index must be a number",
                account.id
            )));
        }
        Ok(Keys {
            merchant_id,
            salt_key,
            salt_index,
        })
    }
}

fn id_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

fn lower_hex_32(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Whether PhonePe takes `id` as a merchantTransactionId.
pub fn is_transaction_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_TRANSACTION_ID && id.bytes().all(id_byte)
}

/// Our id (an attempt's receipt, a refund id) as a PhonePe merchantTransactionId, deterministically.
pub fn merchant_transaction_id(our_id: &str) -> String {
    for (prefix, tag) in SHORT_PREFIXES {
        if let Some(hex) = our_id
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_prefix('_'))
            .filter(|hex| lower_hex_32(hex))
        {
            return format!("{tag}_{hex}");
        }
    }
    if is_transaction_id(our_id) {
        return our_id.to_string();
    }
    format!("{HASHED}_{}", hex::encode(&sha256(our_id.as_bytes())[..16]))
}

/// The id [`merchant_transaction_id`] made a merchantTransactionId from; `None` for hashed ones.
pub fn our_id(merchant_transaction_id: &str) -> Option<String> {
    if let Some((tag, hex)) = merchant_transaction_id.split_once('_')
        && lower_hex_32(hex)
    {
        if let Some((prefix, _)) = SHORT_PREFIXES.iter().find(|(_, short)| *short == tag) {
            return Some(format!("{prefix}_{hex}"));
        }
        if tag == HASHED {
            return None;
        }
    }
    Some(merchant_transaction_id.to_string())
}

/// The merchantUserId of a payment and its refunds, derived from the payment's receipt.
pub fn merchant_user_id(receipt: &str) -> String {
    // 34 characters, under PhonePe's 36; a digest so that no customer data travels in it.
    format!("u_{}", hex::encode(&sha256(receipt.as_bytes())[..16]))
}

/// The 10-digit Indian mobile number PhonePe's `mobileNumber` takes, when the phone is one.
pub fn mobile_number(phone: &str) -> Option<String> {
    let phone = phone.trim();
    if !phone
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b' ' | b'-'))
    {
        return None;
    }
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    let national = match (phone.starts_with('+'), digits.len()) {
        (true, 12) => digits.strip_prefix("91")?,
        (false, 10) => digits.as_str(),
        (false, 11) => digits.strip_prefix('0')?,
        (false, 12) => digits.strip_prefix("91")?,
        _ => return None,
    };
    Some(national.to_string())
}

/// The status API's path (and the path its checksum covers) for one merchantTransactionId.
pub fn status_path(merchant_id: &str, merchant_transaction_id: &str) -> String {
    format!("/pg/v1/status/{merchant_id}/{merchant_transaction_id}")
}

/// `X-VERIFY`: lower-case hex SHA-256 of `payload` (base64, empty for a GET) + `api_path` +
/// `salt_key`, then `###` and `salt_index`.
pub fn x_verify(payload: &str, api_path: &str, salt_key: &str, salt_index: &str) -> String {
    let digest = sha256(format!("{payload}{api_path}{salt_key}").as_bytes());
    format!("{}###{salt_index}", hex::encode(digest))
}

/// The `X-VERIFY` of a server-to-server callback: over its `response` value and the salt key only.
pub fn callback_checksum(response: &str, salt_key: &str, salt_index: &str) -> String {
    x_verify(response, "", salt_key, salt_index)
}

/// Whether `presented` is the checksum of `message` (payload and path, joined) under the salt:
/// either hex case, compared in constant time, the account's index; fails closed.
fn checksum_matches(message: &str, salt_key: &str, salt_index: &str, presented: &str) -> bool {
    let Some((hash, index)) = presented.trim().rsplit_once("###") else {
        return false;
    };
    let expected = hex::encode(sha256(format!("{message}{salt_key}").as_bytes()));
    let hash_matches = constant_time_eq(
        expected.as_bytes(),
        hash.trim().to_ascii_lowercase().as_bytes(),
    );
    hash_matches & (index.trim() == salt_index)
}

/// Whether `presented` (a callback's `X-VERIFY`) is the checksum of `response` under the salt.
pub fn verify_callback_checksum(
    response: &str,
    salt_key: &str,
    salt_index: &str,
    presented: &str,
) -> bool {
    checksum_matches(response, salt_key, salt_index, presented)
}

/// The pay request's payload, in the order of PhonePe's sample; absent fields are left out.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PayPayload<'a> {
    merchant_id: &'a str,
    merchant_transaction_id: &'a str,
    merchant_user_id: &'a str,
    amount: i64,
    redirect_url: &'a str,
    redirect_mode: &'a str,
    callback_url: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    mobile_number: Option<String>,
    payment_instrument: PaymentInstrument,
}

#[derive(Debug, Serialize)]
struct PaymentInstrument {
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct RefundPayload<'a> {
    merchant_id: &'a str,
    merchant_user_id: &'a str,
    original_transaction_id: &'a str,
    merchant_transaction_id: &'a str,
    amount: i64,
    callback_url: &'a str,
}

/// PhonePe's envelope, `{success, code, message, data}`, read leniently: unknown fields are
/// ignored (the docs ask for it) and a field of an unexpected type reads as absent.
#[derive(Debug, Default, Deserialize)]
struct Envelope {
    #[serde(default)]
    success: Option<bool>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    data: Value,
}

impl Envelope {
    fn code(&self) -> &str {
        self.code.as_deref().unwrap_or("")
    }

    fn data(&self) -> Data {
        serde_json::from_value(self.data.clone()).unwrap_or_default()
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Data {
    merchant_id: Option<String>,
    merchant_transaction_id: Option<String>,
    transaction_id: Option<String>,
    state: Option<String>,
    response_code: Option<String>,
    instrument_response: Option<InstrumentResponse>,
    /// Paise, a JSON integer; read loosely so that an odd one cannot hide the rest of `data`.
    amount: Option<Value>,
    currency: Option<Value>,
    /// What the customer paid with (`{"type": "UPI", "utr": …}`, `CARD`, `NETBANKING`); loose too.
    payment_instrument: Option<Value>,
    /// The attempts, each with a `paymentMode`, in answers shaped as v2's order status.
    payment_details: Option<Value>,
}

impl Data {
    /// What PhonePe says was paid: `amount` in paise, in INR (PhonePe's only currency) unless
    /// the answer names another.
    fn captured(&self) -> Option<ReportedAmount> {
        let minor = match self.amount.as_ref()? {
            Value::Number(n) => n.as_i64()?,
            Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
                s.parse().ok()?
            }
            _ => return None,
        };
        let currency = match &self.currency {
            None | Some(Value::Null) => "INR",
            Some(Value::String(code)) => code,
            Some(_) => return None,
        };
        Some(ReportedAmount::new(minor, currency))
    }

    /// How the customer paid: `paymentInstrument.type`, else the completed attempt's
    /// `paymentMode`.
    fn method(&self) -> Option<PaymentMethod> {
        let text = |v: &Value, name: &str| v.get(name).and_then(Value::as_str).map(str::to_string);
        let instrument = self
            .payment_instrument
            .as_ref()
            .and_then(|i| text(i, "type"));
        let completed = || {
            self.payment_details
                .as_ref()?
                .as_array()?
                .iter()
                .find(|d| d.get("state").and_then(Value::as_str) == Some("COMPLETED"))
                .and_then(|d| text(d, "paymentMode"))
        };
        PaymentMethod::read(instrument.or_else(completed).as_deref(), method_named)
    }
}

/// Our name for PhonePe's instrument type or payment mode.
fn method_named(word: &str) -> Option<PaymentMethod> {
    Some(match word {
        "upi" | "upi_intent" | "upi_collect" | "upi_qr" => PaymentMethod::Upi,
        "card" | "credit_card" | "debit_card" => PaymentMethod::Card,
        "netbanking" | "net_banking" => PaymentMethod::Netbanking,
        "wallet" => PaymentMethod::Wallet,
        _ => return None,
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct InstrumentResponse {
    redirect_info: Option<RedirectInfo>,
}

#[derive(Debug, Default, Deserialize)]
struct RedirectInfo {
    url: Option<String>,
}

/// What PhonePe answered: the HTTP status and its envelope.
struct Answer {
    status: StatusCode,
    envelope: Envelope,
}

impl Answer {
    fn code(&self) -> &str {
        self.envelope.code()
    }

    fn accepted(&self) -> bool {
        self.status.is_success() && self.envelope.success == Some(true)
    }

    fn error(&self, call: Call) -> GatewayError {
        classify(
            self.status.as_u16(),
            self.code(),
            self.envelope.message.as_deref().unwrap_or("no message"),
            call,
        )
    }
}

/// Sends `request` and reads PhonePe's envelope whatever the HTTP status: its refusals carry a
/// `code` too (`TRANSACTION_NOT_FOUND` may come with a 4xx), which decides before the status.
async fn answer(request: reqwest::RequestBuilder, call: Call) -> Result<Answer, GatewayError> {
    let response = transport::send(request, call, PROVIDER).await?;
    let (status, text) = transport::text(response, call, PROVIDER).await?;
    match serde_json::from_str::<Envelope>(&text) {
        Ok(envelope) => Ok(Answer { status, envelope }),
        Err(_) if status.is_success() => Err(unsettled(
            call,
            format!("phonepe: unreadable answer ({status})"),
        )),
        Err(_) => Err(classify(status.as_u16(), "", "not a phonepe answer", call)),
    }
}

/// Classifies a refusal by PhonePe's `code` first and the HTTP status second.
fn classify(status: u16, code: &str, message: &str, call: Call) -> GatewayError {
    let text = format!(
        "phonepe {} ({status}): {message}",
        if code.is_empty() { "error" } else { code }
    );
    match (code, status) {
        // A wrong checksum, salt or merchant id; or a request we built wrong.
        ("AUTHORIZATION_FAILED" | "BAD_REQUEST", _) | (_, 401 | 403) => {
            GatewayError::Configuration(text)
        }
        // Nothing PhonePe-shaped answered: the host or its override is wrong.
        ("", 404) => GatewayError::Configuration(text),
        ("PAYMENT_DECLINED", _) => GatewayError::Declined(text),
        // The docs: the request "might get initiated"; ask for status before repeating it.
        ("INTERNAL_SERVER_ERROR" | "TIMED_OUT" | "PAYMENT_PENDING", _) | (_, 429 | 500..=599) => {
            unsettled(call, text)
        }
        ("", 200..=299) => unsettled(call, text),
        _ => GatewayError::Declined(text),
    }
}

/// What PhonePe says about one merchantTransactionId.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// `TRANSACTION_NOT_FOUND`: nothing started (or nothing made) under that id.
    NotFound,
    Pending,
    Succeeded,
    Failed,
}

/// The outcome a status-shaped answer gives, by `code` first and `state` only for codes we do
/// not know (and only in a successful answer); `None` when it gives none.
fn outcome_of(code: &str, state: Option<&str>, answered_ok: bool) -> Option<Outcome> {
    match code {
        "PAYMENT_SUCCESS" => Some(Outcome::Succeeded),
        "PAYMENT_ERROR" | "PAYMENT_DECLINED" => Some(Outcome::Failed),
        "PAYMENT_PENDING" => Some(Outcome::Pending),
        "TRANSACTION_NOT_FOUND" => Some(Outcome::NotFound),
        "INTERNAL_SERVER_ERROR" | "TIMED_OUT" | "BAD_REQUEST" | "AUTHORIZATION_FAILED" => None,
        _ if answered_ok => match state? {
            "COMPLETED" => Some(Outcome::Succeeded),
            "FAILED" => Some(Outcome::Failed),
            "PENDING" => Some(Outcome::Pending),
            _ => None,
        },
        _ => None,
    }
}

fn outcome(answer: &Answer) -> Option<Outcome> {
    // An overloaded or failing server's body is not to be believed about money.
    if answer.status.is_server_error() || answer.status == StatusCode::TOO_MANY_REQUESTS {
        return None;
    }
    outcome_of(
        answer.code(),
        answer.envelope.data().state.as_deref(),
        answer.status.is_success(),
    )
}

/// Why a payment or refund failed, in PhonePe's words.
fn failure_reason(envelope: &Envelope) -> String {
    let code = envelope.code();
    let mut reason = format!("phonepe {code}");
    if let Some(detail) = envelope
        .data()
        .response_code
        .filter(|d| !d.is_empty() && d != code)
    {
        reason.push_str(&format!(" ({detail})"));
    }
    if let Some(message) = envelope.message.as_deref().filter(|m| !m.is_empty()) {
        reason.push_str(&format!(": {message}"));
    }
    reason
}

fn payment_report(outcome: Outcome, envelope: &Envelope) -> StatusReport {
    match outcome {
        Outcome::Succeeded => {
            let data = envelope.data();
            StatusReport {
                captured: data.captured(),
                method: data.method(),
                payment_id: data.transaction_id,
                ..StatusReport::of(PaymentOutcome::Succeeded)
            }
        }
        Outcome::Failed => StatusReport {
            failure_reason: Some(failure_reason(envelope)),
            ..StatusReport::of(PaymentOutcome::Failed)
        },
        // Not found: the customer has not started paying on the page yet.
        Outcome::Pending | Outcome::NotFound => StatusReport::of(PaymentOutcome::Pending),
    }
}

fn refund_report(outcome: Outcome, envelope: &Envelope, refund_id: &str) -> RefundReport {
    let status = match outcome {
        Outcome::Succeeded => RefundStatus::Succeeded,
        Outcome::Failed => RefundStatus::Failed,
        Outcome::Pending | Outcome::NotFound => RefundStatus::Pending,
    };
    RefundReport {
        refund_id: Some(refund_id.to_string()),
        gateway_refund_id: envelope.data().transaction_id,
        status,
        failure_reason: (status == RefundStatus::Failed).then(|| failure_reason(envelope)),
    }
}

/// The body of a server-to-server callback.
#[derive(Debug, Deserialize)]
struct Callback {
    response: String,
}

fn decode_callback(response: &str) -> Result<Envelope, String> {
    let json = LENIENT_BASE64
        .decode(response.trim())
        .map_err(|e| format!("phonepe callback response is not base64: {e}"))?;
    serde_json::from_slice(&json).map_err(|e| format!("phonepe callback response is not JSON: {e}"))
}

fn is_refund_id(id: &str) -> bool {
    id.strip_prefix(RefundId::PREFIX)
        .is_some_and(|rest| rest.starts_with('_'))
}

#[async_trait]
impl Gateway for PhonePe {
    fn provider(&self) -> Provider {
        Provider::PhonePe
    }

    fn required_credentials(&self) -> &'static [&'static str] {
        &["merchant_id", "salt_key", "salt_index"]
    }

    async fn create_order(
        &self,
        account: &Account,
        order: &OrderRequest,
    ) -> Result<CreatedOrder, GatewayError> {
        if order.amount < MIN_AMOUNT {
            return Err(GatewayError::Declined(format!(
                "phonepe takes at least {MIN_AMOUNT} paise, not {}",
                order.amount
            )));
        }
        let keys = Keys::of(account)?;
        let transaction = merchant_transaction_id(&order.receipt);
        let user = merchant_user_id(&order.receipt);
        let payload = PayPayload {
            merchant_id: keys.merchant_id,
            merchant_transaction_id: &transaction,
            merchant_user_id: &user,
            amount: order.amount,
            redirect_url: &order.return_url,
            redirect_mode: REDIRECT_MODE,
            callback_url: &order.notify_url,
            mobile_number: mobile_number(&order.customer_phone),
            payment_instrument: PaymentInstrument { kind: "PAY_PAGE" },
        };
        let answer = self.post(account, &keys, PAY_PATH, &payload).await?;
        if answer.code() == DUPLICATE {
            // Our id is deterministic, so an earlier create of this receipt reached PhonePe. A pay
            // page nobody opened may still read as not found; the id is taken either way, and
            // only its URL is lost.
            let found = self.find(account, &keys, &transaction).await?;
            return Ok(found.unwrap_or(CreatedOrder {
                reference: transaction,
                pay_url: None,
                checkout_token: None,
            }));
        }
        if !answer.accepted() {
            return Err(answer.error(Call::Write));
        }
        let pay_url = answer
            .envelope
            .data()
            .instrument_response
            .and_then(|i| i.redirect_info)
            .and_then(|r| r.url)
            .filter(|url| url.starts_with("https://") || url.starts_with("http://"));
        Ok(CreatedOrder {
            reference: transaction,
            pay_url,
            checkout_token: None,
        })
    }

    /// Some order, without a pay URL, when PhonePe knows the receipt's transaction: the status
    /// API never gives the pay page back.
    async fn find_order(
        &self,
        account: &Account,
        receipt: &str,
    ) -> Result<Option<CreatedOrder>, GatewayError> {
        let keys = Keys::of(account)?;
        self.find(account, &keys, &merchant_transaction_id(receipt))
            .await
    }

    async fn check_credentials(&self, account: &Account) -> Result<(), GatewayError> {
        let keys = Keys::of(account)?;
        // `TRANSACTION_NOT_FOUND` (or any status) means the checksum was accepted.
        self.lookup(account, &keys, CREDENTIAL_PROBE)
            .await
            .map(|_| ())
    }

    async fn fetch_status(
        &self,
        account: &Account,
        reference: &str,
    ) -> Result<StatusReport, GatewayError> {
        if !is_transaction_id(reference) {
            return Err(GatewayError::Declined(format!(
                "'{reference}' is not a phonepe merchantTransactionId"
            )));
        }
        let keys = Keys::of(account)?;
        let (outcome, answer) = self.lookup(account, &keys, reference).await?;
        Ok(payment_report(outcome, &answer.envelope))
    }

    fn handoff(
        &self,
        _account: &Account,
        _order: &OrderRequest,
        created: &CreatedOrder,
    ) -> Result<Handoff, GatewayError> {
        created
            .pay_url
            .clone()
            .map(Handoff::Redirect)
            .ok_or_else(|| {
                GatewayError::Configuration(format!(
                    "phonepe transaction {} has no pay page URL: PhonePe gives it only in the \
                     answer to the create, which was lost",
                    created.reference
                ))
            })
    }

    fn verify_webhook(&self, account: &Account, headers: &HeaderMap, body: &[u8]) -> bool {
        let Ok(keys) = Keys::of(account) else {
            return false;
        };
        let Some(presented) = headers.get("x-verify").and_then(|v| v.to_str().ok()) else {
            return false;
        };
        let Ok(callback) = serde_json::from_slice::<Callback>(body) else {
            return false;
        };
        if !verify_callback_checksum(
            &callback.response,
            keys.salt_key,
            keys.salt_index,
            presented,
        ) {
            return false;
        }
        // Another account sharing the salt must not take this account's events.
        decode_callback(&callback.response).is_ok_and(|envelope| {
            envelope
                .data()
                .merchant_id
                .is_none_or(|id| id == keys.merchant_id)
        })
    }

    fn parse_webhook(&self, _headers: &HeaderMap, body: &[u8]) -> Result<GatewayEvent, String> {
        let callback: Callback = serde_json::from_slice(body)
            .map_err(|e| format!("unreadable phonepe callback: {e}"))?;
        let envelope = decode_callback(&callback.response)?;
        let data = envelope.data();
        let transaction = data
            .merchant_transaction_id
            .filter(|t| !t.is_empty())
            .ok_or("phonepe callback without data.merchantTransactionId")?;
        let code = envelope.code().to_string();
        let event_id = format!(
            "{transaction}:{}:{code}",
            data.transaction_id.as_deref().unwrap_or("")
        );
        let outcome = outcome_of(&code, data.state.as_deref(), true);
        let ours = our_id(&transaction);
        if let Some(refund_id) = ours.as_deref().filter(|id| is_refund_id(id)) {
            // A refund callback whose outcome we cannot read still says the refund exists.
            let outcome = outcome.unwrap_or(Outcome::Pending);
            return Ok(GatewayEvent {
                event_id,
                event_type: code,
                receipt: None,
                reference: None,
                report: None,
                refund: Some(refund_report(outcome, &envelope, refund_id)),
            });
        }
        Ok(GatewayEvent {
            event_id,
            event_type: code,
            receipt: ours,
            reference: Some(transaction),
            report: outcome.map(|o| payment_report(o, &envelope)),
            refund: None,
        })
    }

    async fn create_refund(
        &self,
        account: &Account,
        refund: &RefundRequest,
    ) -> Result<RefundReport, GatewayError> {
        if refund.amount < MIN_AMOUNT {
            return Err(GatewayError::Declined(format!(
                "phonepe refunds at least {MIN_AMOUNT} paise, not {}",
                refund.amount
            )));
        }
        if !is_transaction_id(&refund.reference) {
            return Err(GatewayError::Declined(format!(
                "'{}' is not a phonepe merchantTransactionId",
                refund.reference
            )));
        }
        let keys = Keys::of(account)?;
        let transaction = merchant_transaction_id(&refund.refund_id);
        let user = merchant_user_id(&refund.receipt);
        let payload = RefundPayload {
            merchant_id: keys.merchant_id,
            merchant_user_id: &user,
            original_transaction_id: &refund.reference,
            merchant_transaction_id: &transaction,
            amount: refund.amount,
            callback_url: &refund.notify_url,
        };
        let answer = self.post(account, &keys, REFUND_PATH, &payload).await?;
        if answer.code() == DUPLICATE {
            // An earlier ask with this refund id reached PhonePe: report that refund.
            return self
                .refund_status(account, &keys, refund)
                .await?
                .ok_or_else(|| {
                    GatewayError::Ambiguous(format!(
                        "phonepe says refund id {transaction} is taken but has no record of it yet"
                    ))
                });
        }
        if !answer.accepted() {
            return Err(answer.error(Call::Write));
        }
        let outcome = outcome_of(answer.code(), answer.envelope.data().state.as_deref(), true)
            .unwrap_or(Outcome::Pending);
        Ok(refund_report(outcome, &answer.envelope, &refund.refund_id))
    }

    /// Always by our refund id's merchantTransactionId: the status API takes no PhonePe ids.
    async fn fetch_refund(
        &self,
        account: &Account,
        refund: &RefundRequest,
        _gateway_refund_id: Option<&str>,
    ) -> Result<Option<RefundReport>, GatewayError> {
        let keys = Keys::of(account)?;
        self.refund_status(account, &keys, refund).await
    }

    /// The POST return's `transactionId` (the docs' name for our merchantTransactionId there),
    /// or `merchantTransactionId`; nothing is signed, so it only names what to ask about.
    fn verify_return(
        &self,
        account: &Account,
        params: &BTreeMap<String, String>,
    ) -> Option<String> {
        let named = params.get("transactionId");
        let merchant_named = params.get("merchantTransactionId");
        let transaction = match (named, merchant_named) {
            (Some(a), Some(b)) if a != b => return None,
            (Some(id), _) | (None, Some(id)) => id,
            (None, None) => return None,
        };
        if !is_transaction_id(transaction) {
            return None;
        }
        if let Some(merchant) = params.get("merchantId") {
            let keys = Keys::of(account).ok()?;
            if merchant != keys.merchant_id {
                return None;
            }
        }
        Some(transaction.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::GatewayAccountId;
    use crate::mode::Mode;
    use crate::secret::Secret;

    // PhonePe's public UAT sample credentials, as circulated with the docs' examples.
    const UAT_MERCHANT: &str = "PGTESTPAYUAT";
    const UAT_SALT: &str = "099eb0cd-02cf-4e2a-8aca-3e6c6aff0399";
    // The [CALC] callback vector: a PAYMENT_SUCCESS status response for MT7850590068188104.
    const CALLBACK_RESPONSE: &str = "eyJzdWNjZXNzIjp0cnVlLCJjb2RlIjoiUEFZTUVOVF9TVUNDRVNTIiwibWVzc2FnZSI6IllvdXIgcGF5bWVudCBpcyBzdWNjZXNzZnVsLiIsImRhdGEiOnsibWVyY2hhbnRJZCI6IlBHVEVTVFBBWVVBVCIsIm1lcmNoYW50VHJhbnNhY3Rpb25JZCI6Ik1UNzg1MDU5MDA2ODE4ODEwNCIsInRyYW5zYWN0aW9uSWQiOiJUMjExMTIyMTQzNzQ1NjE5MDE3MDM3OSIsImFtb3VudCI6MTAwMDAsInN0YXRlIjoiQ09NUExFVEVEIiwicmVzcG9uc2VDb2RlIjoiU1VDQ0VTUyIsInBheW1lbnRJbnN0cnVtZW50Ijp7InR5cGUiOiJVUEkiLCJ1dHIiOiIyMDYzNzg4NjYxMTIifX19";
    const CALLBACK_CHECKSUM: &str =
        "73f849becf43c8640991323c08e5c9c7f061813593ffd1a0e4d163192b99980a###1";

    fn account(merchant_id: &str, salt_key: &str, salt_index: &str) -> Account {
        Account {
            id: GatewayAccountId::generate(),
            environment: Mode::Test,
            credentials: [
                ("merchant_id", merchant_id),
                ("salt_key", salt_key),
                ("salt_index", salt_index),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), Secret::new(v.to_string())))
            .collect(),
        }
    }

    fn connector() -> PhonePe {
        PhonePe::new(
            reqwest::Client::new(),
            Endpoints::new(None, None, std::time::Duration::from_secs(1)),
        )
    }

    #[test]
    fn the_docs_x_verify_example_matches() {
        // [VEC] "Calculating X VERIFY": the prose names /v3/service/access, but the published
        // hash is over /v3/service/auth/access, the path in the example itself.
        let payload = "ewoJImdyYW50VG9rZW4iOiAiR1JUOTc5YTYzZjQ4ZjIxYjZmMWRiN2JhOTNiYjRhMGZiMjk3NWQ0OWFmYmMyY2QxMDdkYTBmYWMxZGQ1N2RlN2ZiNCIKfQ==";
        let salt = "6b451f58-d565-4890-836f-6fb1gjt84d97";
        assert_eq!(
            x_verify(payload, "/v3/service/auth/access", salt, "1"),
            "5de0e70cf2b78f3923ca108e583e6a80fabe910efd1726570b3e5cb2040df7d2###1"
        );
        assert_ne!(
            x_verify(payload, "/v3/service/access", salt, "1"),
            x_verify(payload, "/v3/service/auth/access", salt, "1")
        );
        // The docs print it in upper case.
        assert!(checksum_matches(
            &format!("{payload}/v3/service/auth/access"),
            salt,
            "1",
            "5DE0E70CF2B78F3923CA108E583E6A80FABE910EFD1726570B3E5CB2040DF7D2###1"
        ));
    }

    #[test]
    fn the_pay_request_matches_the_calculated_vector() {
        let payload = PayPayload {
            merchant_id: UAT_MERCHANT,
            merchant_transaction_id: "MT7850590068188104",
            merchant_user_id: "MUID123",
            amount: 10_000,
            redirect_url: "https://example.com/redirect",
            redirect_mode: "REDIRECT",
            callback_url: "https://example.com/callback",
            mobile_number: Some("9999999999".into()),
            payment_instrument: PaymentInstrument { kind: "PAY_PAGE" },
        };
        let encoded = STANDARD.encode(serde_json::to_vec(&payload).unwrap());
        assert_eq!(
            encoded,
            "eyJtZXJjaGFudElkIjoiUEdURVNUUEFZVUFUIiwibWVyY2hhbnRUcmFuc2FjdGlvbklkIjoiTVQ3ODUwNTkwMDY4MTg4MTA0IiwibWVyY2hhbnRVc2VySWQiOiJNVUlEMTIzIiwiYW1vdW50IjoxMDAwMCwicmVkaXJlY3RVcmwiOiJodHRwczovL2V4YW1wbGUuY29tL3JlZGlyZWN0IiwicmVkaXJlY3RNb2RlIjoiUkVESVJFQ1QiLCJjYWxsYmFja1VybCI6Imh0dHBzOi8vZXhhbXBsZS5jb20vY2FsbGJhY2siLCJtb2JpbGVOdW1iZXIiOiI5OTk5OTk5OTk5IiwicGF5bWVudEluc3RydW1lbnQiOnsidHlwZSI6IlBBWV9QQUdFIn19"
        );
        assert_eq!(
            x_verify(&encoded, PAY_PATH, UAT_SALT, "1"),
            "13dc25111d78705ed2508ac416787bf4a8e717235eb882ec543517ccc62a78f7###1"
        );
        let without_phone = PayPayload {
            mobile_number: None,
            ..payload
        };
        let json = serde_json::to_string(&without_phone).unwrap();
        assert!(
            !json.contains("mobileNumber"),
            "null fields are left out: {json}"
        );
    }

    #[test]
    fn the_status_checksum_matches_the_calculated_vector() {
        let path = status_path(UAT_MERCHANT, "MT7850590068188104");
        assert_eq!(path, "/pg/v1/status/PGTESTPAYUAT/MT7850590068188104");
        assert_eq!(
            x_verify("", &path, UAT_SALT, "1"),
            "95c6d60f014b7190aa417083aca2489bb5b0a729d0421c17dea19f5913e6d741###1"
        );
    }

    #[test]
    fn the_callback_checksum_has_no_path_and_matches_the_calculated_vector() {
        assert_eq!(
            callback_checksum(CALLBACK_RESPONSE, UAT_SALT, "1"),
            CALLBACK_CHECKSUM
        );
        assert!(verify_callback_checksum(
            CALLBACK_RESPONSE,
            UAT_SALT,
            "1",
            CALLBACK_CHECKSUM
        ));
        assert!(verify_callback_checksum(
            CALLBACK_RESPONSE,
            UAT_SALT,
            "1",
            &CALLBACK_CHECKSUM.to_uppercase()
        ));
        let with_path = x_verify(CALLBACK_RESPONSE, "/api/v1/webhooks/phonepe", UAT_SALT, "1");
        assert!(!verify_callback_checksum(
            CALLBACK_RESPONSE,
            UAT_SALT,
            "1",
            &with_path
        ));
        let mut tampered = CALLBACK_RESPONSE.to_string();
        tampered.replace_range(10..11, "A");
        assert!(!verify_callback_checksum(
            &tampered,
            UAT_SALT,
            "1",
            CALLBACK_CHECKSUM
        ));
        assert!(!verify_callback_checksum(
            CALLBACK_RESPONSE,
            "another-salt",
            "1",
            CALLBACK_CHECKSUM
        ));
        assert!(
            !verify_callback_checksum(CALLBACK_RESPONSE, UAT_SALT, "2", CALLBACK_CHECKSUM),
            "the index must be the account's"
        );
        for malformed in [
            "",
            "###1",
            "73f849becf43c8640991323c08e5c9c7f061813593ffd1a0e4d163192b99980a",
            "73f849becf43c8640991323c08e5c9c7f061813593ffd1a0e4d163192b99980a###",
            "not hex###1",
        ] {
            assert!(
                !verify_callback_checksum(CALLBACK_RESPONSE, UAT_SALT, "1", malformed),
                "{malformed}"
            );
        }
    }

    #[test]
    fn the_calculated_callback_verifies_and_parses() {
        let gateway = connector();
        let acc = account(UAT_MERCHANT, UAT_SALT, "1");
        let body = serde_json::to_vec(&json!({ "response": CALLBACK_RESPONSE })).unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-verify", CALLBACK_CHECKSUM.parse().unwrap());
        assert!(gateway.verify_webhook(&acc, &headers, &body));
        assert!(
            !gateway.verify_webhook(&account("OTHERMERCHANT", UAT_SALT, "1"), &headers, &body),
            "the payload names another merchant"
        );
        assert!(!gateway.verify_webhook(&acc, &HeaderMap::new(), &body));
        assert!(!gateway.verify_webhook(&acc, &headers, b"not json"));

        let event = gateway.parse_webhook(&HeaderMap::new(), &body).unwrap();
        assert_eq!(
            event.event_id,
            "MT7850590068188104:T2111221437456190170379:PAYMENT_SUCCESS"
        );
        assert_eq!(event.event_type, "PAYMENT_SUCCESS");
        assert_eq!(event.reference.as_deref(), Some("MT7850590068188104"));
        assert_eq!(event.receipt.as_deref(), Some("MT7850590068188104"));
        assert_eq!(event.refund, None);
        let report = event.report.unwrap();
        assert_eq!(report.status, PaymentOutcome::Succeeded);
        assert_eq!(
            report.payment_id.as_deref(),
            Some("T2111221437456190170379")
        );
    }

    #[test]
    fn refund_callbacks_are_recognised_by_our_refund_id() {
        let refund_id = "rfd_0196f0c1a2b37c4d8e9f0a1b2c3d4e5f";
        let transaction = merchant_transaction_id(refund_id);
        let response = STANDARD.encode(
            serde_json::to_vec(&json!({
                "success": true, "code": "PAYMENT_SUCCESS", "message": "Your request has been successfully completed.",
                "data": { "merchantId": UAT_MERCHANT, "merchantTransactionId": transaction,
                          "transactionId": "TR620471739210623", "amount": 10000, "state": "COMPLETED",
                          "responseCode": "SUCCESS", "unknownField": { "nested": true } }
            }))
            .unwrap(),
        );
        let body = serde_json::to_vec(&json!({ "response": response })).unwrap();
        let event = connector().parse_webhook(&HeaderMap::new(), &body).unwrap();
        assert_eq!(event.report, None);
        assert_eq!(event.receipt, None);
        let refund = event.refund.unwrap();
        assert_eq!(refund.refund_id.as_deref(), Some(refund_id));
        assert_eq!(
            refund.gateway_refund_id.as_deref(),
            Some("TR620471739210623")
        );
        assert_eq!(refund.status, RefundStatus::Succeeded);
    }

    #[test]
    fn our_ids_fit_phonepe_and_come_back() {
        let attempt = "att_0196f0c1a2b37c4d8e9f0a1b2c3d4e5f";
        let refund = "rfd_0196f0c1a2b37c4d8e9f0a1b2c3d4e5f";
        assert_eq!(
            merchant_transaction_id(attempt),
            "a_0196f0c1a2b37c4d8e9f0a1b2c3d4e5f"
        );
        assert_eq!(
            merchant_transaction_id(refund),
            "r_0196f0c1a2b37c4d8e9f0a1b2c3d4e5f"
        );
        for id in [attempt, refund] {
            let mapped = merchant_transaction_id(id);
            assert!(is_transaction_id(&mapped) && mapped.len() < 35, "{mapped}");
            assert_eq!(merchant_transaction_id(id), mapped, "deterministic");
            assert_eq!(our_id(&mapped).as_deref(), Some(id));
        }
        assert_eq!(merchant_transaction_id("att_1"), "att_1");
        assert_eq!(
            our_id("MT7850590068188104").as_deref(),
            Some("MT7850590068188104")
        );
        let long = "x".repeat(35);
        for odd in [
            "a receipt with spaces",
            long.as_str(),
            "att_0196F0C1A2B37C4D8E9F0A1B2C3D4E5F",
        ] {
            let mapped = merchant_transaction_id(odd);
            assert!(is_transaction_id(&mapped), "{odd} -> {mapped}");
            assert!(mapped.starts_with("h_"), "{mapped}");
            assert_eq!(merchant_transaction_id(odd), mapped, "deterministic");
            assert_eq!(our_id(&mapped), None);
        }
        assert!(!is_transaction_id(""));
        assert!(!is_transaction_id(&"x".repeat(35)));
        assert!(!is_transaction_id("a/../b"));
        assert!(is_refund_id(refund) && !is_refund_id(attempt) && !is_refund_id("rfdx"));
    }

    #[test]
    fn the_user_id_is_derived_from_the_receipt_only() {
        let user = merchant_user_id("att_0196f0c1a2b37c4d8e9f0a1b2c3d4e5f");
        assert!(user.len() < 36 && user.bytes().all(id_byte), "{user}");
        assert_eq!(
            user,
            merchant_user_id("att_0196f0c1a2b37c4d8e9f0a1b2c3d4e5f")
        );
        assert_ne!(
            user,
            merchant_user_id("att_0196f0c1a2b37c4d8e9f0a1b2c3d4e60")
        );
    }

    #[test]
    fn mobile_numbers_are_ten_indian_digits() {
        assert_eq!(
            mobile_number("+919812345678").as_deref(),
            Some("9812345678")
        );
        assert_eq!(
            mobile_number("+91 98123-45678").as_deref(),
            Some("9812345678")
        );
        assert_eq!(mobile_number("9812345678").as_deref(), Some("9812345678"));
        assert_eq!(mobile_number("09812345678").as_deref(), Some("9812345678"));
        assert_eq!(mobile_number("919812345678").as_deref(), Some("9812345678"));
        assert_eq!(mobile_number("+14155550123"), None);
        assert_eq!(mobile_number("+4915112345678"), None);
        assert_eq!(mobile_number("98123"), None);
        assert_eq!(mobile_number("98123x5678"), None);
    }

    #[test]
    fn statuses_are_read_by_code_then_state() {
        use Outcome::*;
        for (code, state, expected) in [
            ("PAYMENT_SUCCESS", Some("COMPLETED"), Some(Succeeded)),
            ("PAYMENT_ERROR", Some("FAILED"), Some(Failed)),
            ("PAYMENT_DECLINED", None, Some(Failed)),
            ("PAYMENT_PENDING", Some("PENDING"), Some(Pending)),
            ("TRANSACTION_NOT_FOUND", None, Some(NotFound)),
            ("SOME_NEW_CODE", Some("COMPLETED"), Some(Succeeded)),
            ("SOME_NEW_CODE", Some("FAILED"), Some(Failed)),
            ("SOME_NEW_CODE", Some("PENDING"), Some(Pending)),
            ("SOME_NEW_CODE", Some("SOMETHING"), None),
            ("SOME_NEW_CODE", None, None),
            ("INTERNAL_SERVER_ERROR", Some("PENDING"), None),
            ("TIMED_OUT", None, None),
            ("AUTHORIZATION_FAILED", None, None),
            ("BAD_REQUEST", None, None),
        ] {
            assert_eq!(outcome_of(code, state, true), expected, "{code} {state:?}");
        }
        assert_eq!(
            outcome_of("SOME_NEW_CODE", Some("COMPLETED"), false),
            None,
            "a state in a refusal is not believed"
        );
        let failed: Envelope = serde_json::from_value(json!({
            "success": false, "code": "PAYMENT_ERROR", "message": "Payment Failed",
            "data": { "merchantTransactionId": "a_1", "transactionId": "T1", "state": "FAILED",
                      "responseCode": "REQUEST_DECLINE_BY_REQUESTEE" }
        }))
        .unwrap();
        let report = payment_report(Failed, &failed);
        assert_eq!(report.status, PaymentOutcome::Failed);
        assert_eq!(
            report.failure_reason.as_deref(),
            Some("phonepe PAYMENT_ERROR (REQUEST_DECLINE_BY_REQUESTEE): Payment Failed")
        );
        assert_eq!(
            payment_report(NotFound, &Envelope::default()).status,
            PaymentOutcome::Pending,
            "not started yet"
        );
    }

    #[test]
    fn refusals_are_classified_by_code_then_status() {
        let read = |status, code| classify(status, code, "m", Call::Read);
        let write = |status, code| classify(status, code, "m", Call::Write);
        assert!(matches!(
            write(401, "AUTHORIZATION_FAILED"),
            GatewayError::Configuration(_)
        ));
        assert!(matches!(
            read(200, "AUTHORIZATION_FAILED"),
            GatewayError::Configuration(_)
        ));
        assert!(matches!(
            write(400, "BAD_REQUEST"),
            GatewayError::Configuration(_)
        ));
        assert!(matches!(read(401, ""), GatewayError::Configuration(_)));
        assert!(matches!(read(404, ""), GatewayError::Configuration(_)));
        assert!(matches!(
            write(200, "PAYMENT_DECLINED"),
            GatewayError::Declined(_)
        ));
        assert!(matches!(
            write(400, "REVERSAL_WINDOW_EXCEEDED"),
            GatewayError::Declined(_)
        ));
        assert!(matches!(
            write(500, "INTERNAL_SERVER_ERROR"),
            GatewayError::Ambiguous(_)
        ));
        assert!(matches!(
            read(500, "INTERNAL_SERVER_ERROR"),
            GatewayError::Retryable(_)
        ));
        assert!(matches!(
            write(200, "TIMED_OUT"),
            GatewayError::Ambiguous(_)
        ));
        assert!(matches!(read(200, "TIMED_OUT"), GatewayError::Retryable(_)));
        assert!(matches!(write(429, ""), GatewayError::Ambiguous(_)));
        assert!(matches!(read(429, ""), GatewayError::Retryable(_)));
        assert!(matches!(write(503, ""), GatewayError::Ambiguous(_)));
        assert!(matches!(read(502, ""), GatewayError::Retryable(_)));
        assert!(matches!(
            write(200, "PAYMENT_PENDING"),
            GatewayError::Ambiguous(_)
        ));
    }

    #[test]
    fn the_return_must_name_a_transaction_of_this_merchant() {
        let gateway = connector();
        let acc = account(UAT_MERCHANT, UAT_SALT, "1");
        let params = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>()
        };
        let posted = params(&[
            ("code", "PAYMENT_SUCCESS"),
            ("merchantId", UAT_MERCHANT),
            ("transactionId", "a_0196f0c1a2b37c4d8e9f0a1b2c3d4e5f"),
            ("amount", "49900"),
            ("providerReferenceId", "T2111221437456190170379"),
        ]);
        assert_eq!(
            gateway.verify_return(&acc, &posted).as_deref(),
            Some("a_0196f0c1a2b37c4d8e9f0a1b2c3d4e5f")
        );
        assert_eq!(
            gateway
                .verify_return(&acc, &params(&[("merchantTransactionId", "a_1")]))
                .as_deref(),
            Some("a_1")
        );
        assert_eq!(
            gateway.verify_return(
                &acc,
                &params(&[("transactionId", "a_1"), ("merchantTransactionId", "a_2")])
            ),
            None
        );
        assert_eq!(
            gateway.verify_return(
                &acc,
                &params(&[("transactionId", "a_1"), ("merchantId", "SOMEONEELSE")])
            ),
            None
        );
        assert_eq!(
            gateway.verify_return(&acc, &params(&[("transactionId", "a/../b")])),
            None
        );
        assert_eq!(
            gateway.verify_return(&acc, &params(&[("code", "PAYMENT_SUCCESS")])),
            None
        );
    }

    #[test]
    fn credentials_are_checked_before_use() {
        assert!(Keys::of(&account(UAT_MERCHANT, UAT_SALT, "1")).is_ok());
        assert!(Keys::of(&account(" PGTESTPAYUAT ", UAT_SALT, " 1 ")).is_ok());
        for (merchant, salt, index) in [
            ("", UAT_SALT, "1"),
            ("PG/TEST", UAT_SALT, "1"),
            (UAT_MERCHANT, "", "1"),
            (UAT_MERCHANT, UAT_SALT, "one"),
            (UAT_MERCHANT, UAT_SALT, ""),
        ] {
            assert!(
                matches!(
                    Keys::of(&account(merchant, salt, index)),
                    Err(GatewayError::Configuration(_))
                ),
                "{merchant} {index}"
            );
        }
    }

    #[test]
    fn the_method_comes_from_the_instrument() {
        // The docs' server-to-server callback sample (UAT credentials, a UPI payment).
        let response = "eyJzdWNjZXNzIjp0cnVlLCJjb2RlIjoiUEFZTUVOVF9TVUNDRVNTIiwibWVzc2FnZSI6IllvdXIgcGF5bWVudCBpcyBzdWNjZXNzZnVsLiIsImRhdGEiOnsibWVyY2hhbnRJZCI6IlBHVEVTVFBBWVVBVCIsIm1lcmNoYW50VHJhbnNhY3Rpb25JZCI6Ik1UNzg1MDU5MDA2ODE4ODEwNCIsInRyYW5zYWN0aW9uSWQiOiJUMjExMTIyMTQzNzQ1NjE5MDE3MDM3OSIsImFtb3VudCI6MTAwMDAsInN0YXRlIjoiQ09NUExFVEVEIiwicmVzcG9uc2VDb2RlIjoiU1VDQ0VTUyIsInBheW1lbnRJbnN0cnVtZW50Ijp7InR5cGUiOiJVUEkiLCJ1dHIiOiIyMDYzNzg4NjYxMTIifX19";
        let upi = decode_callback(response).unwrap();
        let report = payment_report(Outcome::Succeeded, &upi);
        assert_eq!(report.status, PaymentOutcome::Succeeded);
        assert_eq!(report.method, Some(PaymentMethod::Upi));

        // The status answer's other instruments, as the v1 docs show them.
        let status = |instrument: Value| -> Envelope {
            serde_json::from_value(json!({
                "success": true, "code": "PAYMENT_SUCCESS", "message": "Your payment is successful.",
                "data": { "merchantId": "PGTESTPAYUAT", "merchantTransactionId": "a_1",
                          "transactionId": "T2111221437456190170379", "amount": 49900, "state": "COMPLETED",
                          "responseCode": "SUCCESS", "paymentInstrument": instrument }
            }))
            .unwrap()
        };
        for (instrument, ours) in [
            (
                json!({ "type": "CARD", "cardType": "DEBIT_CARD", "pgTransactionId": "PG2207281811",
                        "bankTransactionId": null, "pgAuthorizationCode": null, "arn": "74332",
                        "bankId": "", "brn": "B12345" }),
                Some(PaymentMethod::Card),
            ),
            (
                json!({ "type": "NETBANKING", "pgTransactionId": "1856982900",
                        "pgServiceTransactionId": "PG2207281811", "bankTransactionId": null, "bankId": "SBIN" }),
                Some(PaymentMethod::Netbanking),
            ),
            (
                json!({ "type": "SOMETHING_NEW" }),
                Some(PaymentMethod::Other),
            ),
            (json!("not an object"), None),
            (Value::Null, None),
        ] {
            let report = payment_report(Outcome::Succeeded, &status(instrument.clone()));
            assert_eq!(report.status, PaymentOutcome::Succeeded, "{instrument}");
            assert_eq!(report.captured, Some(ReportedAmount::new(49_900, "INR")));
            assert_eq!(report.method, ours, "{instrument}");
        }

        // An answer shaped as v2's order status: the completed attempt's mode.
        for (mode, ours) in [
            ("UPI_QR", PaymentMethod::Upi),
            ("UPI_INTENT", PaymentMethod::Upi),
            ("UPI_COLLECT", PaymentMethod::Upi),
            ("CARD", PaymentMethod::Card),
            ("NET_BANKING", PaymentMethod::Netbanking),
        ] {
            let v2: Envelope = serde_json::from_value(json!({
                "success": true, "code": "PAYMENT_SUCCESS",
                "data": { "orderId": "OMO2403282020198641071317", "state": "COMPLETED", "amount": 1000,
                          "transactionId": "OM2403", "paymentDetails": [
                    { "paymentMode": "CARD", "transactionId": "OM2402", "amount": 1000, "state": "FAILED" },
                    { "paymentMode": mode, "transactionId": "OM2403", "timestamp": 1_711_694_662_542_i64,
                      "amount": 1000, "payableAmount": 1000, "feeAmount": 0, "state": "COMPLETED",
                      "rail": { "type": "UPI", "utr": "206378866112" }, "instrument": {} }
                ]}
            }))
            .unwrap();
            assert_eq!(
                payment_report(Outcome::Succeeded, &v2).method,
                Some(ours),
                "{mode}"
            );
        }
        let failed = status(json!({ "type": "UPI" }));
        assert_eq!(payment_report(Outcome::Failed, &failed).method, None);
    }
}
