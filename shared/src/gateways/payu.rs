//! PayU India. There is no server-side order: the checkout page posts a form with a SHA-512
//! request hash to PayU's payment page, and PayU posts the result back to our return URL with a
//! reverse hash. Everything else goes through the "postservice" command API (form fields `key`,
//! `command`, `var1…`, `hash = sha512(key|command|var1|salt)`; `form=2` answers JSON).
//!
//! - Request hash: `sha512(key|txnid|amount|productinfo|firstname|email|udf1..udf5||||||salt)`.
//! - Reverse hash: `sha512([additionalCharges|]salt|status||||||udf5..udf1|email|firstname|
//!   productinfo|amount|txnid|key)`, over the strings exactly as posted.
//! - Amounts are rupees with two decimals (`499.00`), made from paise without floating point.
//! - Webhooks carry the same fields and hash as the return. PayU's refund-status callback is not
//!   signed, so it is refused like any unverifiable call; refunds are confirmed by polling.
//! - The return is only a hint: the status always comes from `verify_payment`.

use super::endpoints::{Endpoints, Hosts};
use super::payu_family::{self, Family, details, payment_event};
use super::signature::sha512_pipe_hex;
use super::transport::{Call, Transport, unsettled};
use super::{
    Account, CreatedOrder, Gateway, GatewayError, GatewayEvent, Handoff, OrderRequest,
    PaymentOutcome, Provider, RefundReport, RefundRequest, RefundStatus, StatusReport,
};
use crate::html::{escape, page, rupees};
use crate::money::{ReportedAmount, parse_major_json, to_major_string};
use async_trait::async_trait;
use http::HeaderMap;
use serde_json::Value;
use std::collections::BTreeMap;

const PAYMENT_PAGE: Hosts = Hosts {
    test: "https://test.payu.in",
    live: "https://secure.payu.in",
};
const COMMANDS: Hosts = Hosts {
    test: "https://test.payu.in",
    live: "https://info.payu.in",
};
const TRANSPORT: Transport<Value> = Transport::new("payu", classify);
/// PayU names five UDFs (`udf1..udf5||||||salt`) and may lead the reverse hash with
/// `additionalCharges`; a callback body that is not a JSON object is read as a form.
const FAMILY: Family = Family {
    name: "payu",
    udfs: 5,
    charges_lead_reverse_hash: true,
    braced_body_is_json: false,
};

/// The PayU connector.
pub struct PayU {
    client: reqwest::Client,
    endpoints: Endpoints,
}

/// PayU's `txnid` for one of our attempts: at most 25 characters, so the attempt's UUID is
/// written in base 62 (`att_` + 32 hex digits would not fit).
pub fn txnid(receipt: &str) -> String {
    let hex = receipt.rsplit('_').next().unwrap_or(receipt);
    match u128::from_str_radix(hex, 16) {
        Ok(mut n) if hex.len() == 32 => {
            const DIGITS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
            let mut out = Vec::new();
            while n > 0 {
                out.push(DIGITS[(n % 62) as usize]);
                n /= 62;
            }
            out.reverse();
            format!("lsp{}", String::from_utf8_lossy(&out))
        }
        _ => receipt.chars().take(25).collect(),
    }
}

/// The request hash of the payment form.
pub fn request_hash(key: &str, salt: &str, form: &BTreeMap<&str, String>) -> String {
    FAMILY.request_hash(key, salt, form)
}

/// The hash of a postservice command.
pub fn command_hash(key: &str, salt: &str, command: &str, var1: &str) -> String {
    sha512_pipe_hex(&[key, command, var1, salt])
}

/// An id field, which PayU may send as a string (trimmed) or a number.
fn id_text(value: &Value, name: &str) -> Option<String> {
    match value.get(name)? {
        Value::String(s) => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Our status for PayU's `status` / `unmappedstatus` pair.
fn payment_report(details: &Value) -> StatusReport {
    let text = |name: &str| details.get(name).and_then(Value::as_str).map(str::trim);
    let payment_id = id_text(details, "mihpayid");
    let reason = text("error_Message")
        .or(text("field9"))
        .filter(|r| !r.is_empty() && !r.eq_ignore_ascii_case("no error"))
        .map(str::to_string);
    match text("status").map(str::to_ascii_lowercase).as_deref() {
        Some("success") => StatusReport {
            payment_id,
            captured: captured(details),
            method: payu_family::method(details),
            ..StatusReport::of(PaymentOutcome::Succeeded)
        },
        Some("failure" | "failed") => StatusReport {
            payment_id,
            failure_reason: reason.or_else(|| text("unmappedstatus").map(str::to_string)),
            ..StatusReport::of(PaymentOutcome::Failed)
        },
        // `pending`, or nothing yet for a txnid the customer has not submitted.
        _ => StatusReport::of(PaymentOutcome::Pending),
    }
}

/// What PayU says was paid: `amt` and `transaction_amount` in `verify_payment`, `amount` on a
/// posted result, rupees as decimal text; the lowest of them counts (`transaction_amount` may
/// add the customer's charges on top). An unreadable one reports nothing, so the success is
/// held. PayU India reports INR unless a `currency` is given (multi-currency accounts).
fn captured(details: &Value) -> Option<ReportedAmount> {
    let mut lowest: Option<i64> = None;
    for name in ["amt", "transaction_amount", "amount"] {
        if let Some(value) = details.get(name) {
            let minor = parse_major_json(value)?;
            lowest = Some(lowest.map_or(minor, |l| l.min(minor)));
        }
    }
    let currency = details
        .get("currency")
        .and_then(Value::as_str)
        .filter(|c| !c.trim().is_empty())
        .unwrap_or("INR");
    Some(ReportedAmount::new(lowest?, currency))
}

impl PayU {
    /// A connector using `client`, at the hosts `endpoints` gives.
    pub fn new(client: reqwest::Client, endpoints: Endpoints) -> PayU {
        PayU { client, endpoints }
    }

    /// Runs a postservice command; `call` says whether a failure may have changed something.
    async fn command(
        &self,
        account: &Account,
        command: &str,
        vars: &[(&str, &str)],
        call: Call,
    ) -> Result<Value, GatewayError> {
        let key = account.credential("key")?;
        let salt = account.credential("salt")?;
        let var1 = vars
            .iter()
            .find(|(name, _)| *name == "var1")
            .map(|(_, v)| *v)
            .unwrap_or("");
        let hash = command_hash(key, salt, command, var1);
        let mut form = vec![("key", key), ("command", command), ("hash", hash.as_str())];
        form.extend_from_slice(vars);
        let url = format!(
            "{}/merchant/postservice.php?form=2",
            self.endpoints.base(account.environment, COMMANDS)
        );
        let request = self
            .client
            .post(url)
            .form(&form)
            .timeout(self.endpoints.timeout);
        let body: Value = TRANSPORT.read(request, call).await?;
        // A wrong key or hash is said in words (`"Invalid Hash."`, `"Invalid key"`).
        let message = body.get("msg").and_then(Value::as_str).unwrap_or("");
        let lower = message.to_ascii_lowercase();
        if body.get("status").and_then(Value::as_i64) == Some(0)
            && (lower.contains("hash") || lower.contains("key"))
        {
            return Err(GatewayError::Configuration(format!(
                "payu {command}: {message}"
            )));
        }
        Ok(body)
    }
}

/// Classifies a non-2xx answer of the command API: an overloaded or failing PayU may have acted
/// on a write; any other refusal is of a request as we built it.
fn classify(status: u16, body: &Value, call: Call) -> GatewayError {
    let message = match body {
        Value::Null => format!("payu answered {status}"),
        _ => format!("payu answered {status}: {body}"),
    };
    match status {
        429 | 500..=599 => unsettled(call, message),
        _ => GatewayError::Configuration(message),
    }
}

/// Our status for a refund entry of PayU's refund APIs.
fn refund_report(entry: &Value, refund_id: &str) -> RefundReport {
    let text = |name: &str| entry.get(name).and_then(Value::as_str).map(str::trim);
    let status = match text("status").map(str::to_ascii_lowercase).as_deref() {
        Some("success") => RefundStatus::Succeeded,
        Some("failure" | "failed" | "cancelled") => RefundStatus::Failed,
        _ => RefundStatus::Pending,
    };
    RefundReport {
        refund_id: Some(refund_id.to_string()),
        gateway_refund_id: id_text(entry, "request_id"),
        status,
        failure_reason: (status == RefundStatus::Failed).then(|| {
            text("remark")
                .or(text("msg"))
                .unwrap_or("refund failed")
                .to_string()
        }),
    }
}

/// Every JSON object under `value` whose `token` is `refund_id` (PayU nests refund lists by
/// transaction and by request).
fn find_by_token<'a>(value: &'a Value, refund_id: &str, found: &mut Vec<&'a Value>) {
    match value {
        Value::Object(map) => {
            if map.get("token").and_then(Value::as_str).map(str::trim) == Some(refund_id) {
                found.push(value);
            }
            map.values()
                .for_each(|v| find_by_token(v, refund_id, found));
        }
        Value::Array(items) => items
            .iter()
            .for_each(|v| find_by_token(v, refund_id, found)),
        _ => {}
    }
}

/// What an answer to `cancel_refund_transaction` means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RefundAnswer {
    /// This token was asked for before (106, 109, 227): find what became of it.
    AlreadyAsked,
    /// Taken: done (100) or on its way (pending, queued, in progress, …).
    Accepted(RefundStatus),
    /// The transaction was locked (120): nothing happened, try again.
    Locked,
    /// A documented refusal: nothing was refunded.
    Refused,
    /// Not an answer we know: PayU may have queued it, so it must be looked up.
    Unknown,
}

/// Classifies an answer by PayU's documented refund-initiation codes ("error codes for refund
/// initiation"); `status` 1 with no code we know is an acceptance. Anything else, a `status` 0
/// without a documented refusal code included, is unknown and never a refusal: a refund
/// wrongly taken as refused gives its reservation back and could be made twice.
fn refund_answer(status: Option<i64>, code: Option<i64>) -> RefundAnswer {
    match code {
        Some(106 | 109 | 227) => RefundAnswer::AlreadyAsked,
        Some(100) => RefundAnswer::Accepted(RefundStatus::Succeeded),
        Some(101 | 102 | 107 | 112 | 122 | 123 | 126 | 127 | 225 | 226) => {
            RefundAnswer::Accepted(RefundStatus::Pending)
        }
        Some(120) => RefundAnswer::Locked,
        // A refusal code beside `status: 1` contradicts itself: not a refusal.
        Some(
            103 | 105 | 110 | 111 | 113 | 115 | 116 | 117 | 119 | 121 | 124 | 125 | 128 | 214 | 230,
        ) if status != Some(1) => RefundAnswer::Refused,
        _ if status == Some(1) => RefundAnswer::Accepted(RefundStatus::Pending),
        _ => RefundAnswer::Unknown,
    }
}

#[async_trait]
impl Gateway for PayU {
    fn provider(&self) -> Provider {
        Provider::PayU
    }

    fn required_credentials(&self) -> &'static [&'static str] {
        &["key", "salt"]
    }

    async fn create_order(
        &self,
        _account: &Account,
        order: &OrderRequest,
    ) -> Result<CreatedOrder, GatewayError> {
        // The order comes into being when the customer's browser posts the form.
        Ok(CreatedOrder {
            reference: txnid(&order.receipt),
            pay_url: None,
            checkout_token: None,
        })
    }

    async fn find_order(
        &self,
        _account: &Account,
        receipt: &str,
    ) -> Result<Option<CreatedOrder>, GatewayError> {
        Ok(Some(CreatedOrder {
            reference: txnid(receipt),
            pay_url: None,
            checkout_token: None,
        }))
    }

    async fn check_credentials(&self, account: &Account) -> Result<(), GatewayError> {
        // Asking about a txnid nobody used moves no money; PayU refuses a wrong key or hash.
        self.command(
            account,
            "verify_payment",
            &[("var1", "lsp-credential-check")],
            Call::Read,
        )
        .await
        .map(|_| ())
    }

    async fn fetch_status(
        &self,
        account: &Account,
        reference: &str,
    ) -> Result<StatusReport, GatewayError> {
        let body = self
            .command(
                account,
                "verify_payment",
                &[("var1", reference)],
                Call::Read,
            )
            .await?;
        Ok(body
            .get("transaction_details")
            .and_then(|d| d.get(reference))
            .map(payment_report)
            .unwrap_or(StatusReport::of(PaymentOutcome::Pending)))
    }

    fn handoff(
        &self,
        account: &Account,
        order: &OrderRequest,
        created: &CreatedOrder,
    ) -> Result<Handoff, GatewayError> {
        let key = account.credential("key")?;
        let salt = account.credential("salt")?;
        let mut form: BTreeMap<&str, String> = BTreeMap::new();
        form.insert("key", key.to_string());
        form.insert("txnid", created.reference.clone());
        form.insert("amount", to_major_string(order.amount));
        form.insert(
            "productinfo",
            order
                .description
                .clone()
                .filter(|d| !d.is_empty())
                .unwrap_or_else(|| "Payment".into()),
        );
        form.insert("firstname", order.customer_name.clone());
        form.insert("email", order.customer_email.clone());
        form.insert("phone", order.customer_phone.clone());
        form.insert("surl", order.return_url.clone());
        form.insert("furl", order.return_url.clone());
        form.insert("hash", request_hash(key, salt, &form));
        let action = format!(
            "{}/_payment",
            self.endpoints.base(account.environment, PAYMENT_PAGE)
        );
        let inputs: String = form
            .iter()
            .map(|(name, value)| {
                format!(
                    "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                    escape(name),
                    escape(value)
                )
            })
            .collect();
        let body = format!(
            "<p class=\"amount\">{amount}</p><p>Taking you to PayU to pay…</p>\
             <form id=\"payu\" method=\"post\" action=\"{action}\">{inputs}\
             <button class=\"pay\" type=\"submit\">Continue to PayU</button></form>\
             <script>document.getElementById('payu').submit();</script>",
            amount = rupees(order.amount),
            action = escape(&action),
        );
        Ok(Handoff::Html(page("Payment", &body)))
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
            .cloned()
            .ok_or("payu callback without a txnid")?;
        let report = payment_report(&details(&fields));
        // One event per payment and outcome: PayU resends the same result on retries. Only
        // fields the reverse hash covers make the id (F5c): `mihpayid` is not covered, so a
        // replay with another one is the same event, not a new job and a new status query.
        Ok(payment_event(txnid, None, &fields, report))
    }

    async fn create_refund(
        &self,
        account: &Account,
        refund: &RefundRequest,
    ) -> Result<RefundReport, GatewayError> {
        let payment_id = refund.payment_id.as_deref().ok_or_else(|| {
            GatewayError::Declined("payu refunds need the payment's mihpayid".into())
        })?;
        let amount = to_major_string(refund.amount);
        let body = self
            .command(
                account,
                "cancel_refund_transaction",
                &[
                    ("var1", payment_id),
                    ("var2", refund.refund_id.as_str()),
                    ("var3", amount.as_str()),
                    ("var5", refund.notify_url.as_str()),
                ],
                Call::Write,
            )
            .await?;
        let number = |name: &str| {
            body.get(name).and_then(|c| match c {
                Value::Number(n) => n.as_i64(),
                Value::String(s) => s.trim().parse().ok(),
                _ => None,
            })
        };
        let code = number("error_code");
        let message = body
            .get("msg")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        match refund_answer(number("status"), code) {
            RefundAnswer::AlreadyAsked => self
                .fetch_refund(account, refund, None)
                .await?
                .ok_or_else(|| GatewayError::Ambiguous(format!("payu: {message}"))),
            RefundAnswer::Accepted(status) => Ok(RefundReport {
                refund_id: Some(refund.refund_id.clone()),
                gateway_refund_id: body.get("request_id").and_then(|v| match v {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                }),
                status,
                failure_reason: None,
            }),
            RefundAnswer::Locked => Err(GatewayError::Retryable(format!("payu: {message}"))),
            RefundAnswer::Refused => Err(GatewayError::Declined(format!(
                "payu refused the refund ({}): {message}",
                code.map(|c| c.to_string()).unwrap_or_default()
            ))),
            // PayU may have queued it: only a lookup by our token can tell (F16).
            RefundAnswer::Unknown => Err(GatewayError::Ambiguous(format!(
                "payu answered the refund with status {:?}, code {:?}: {message}",
                number("status"),
                code
            ))),
        }
    }

    async fn fetch_refund(
        &self,
        account: &Account,
        refund: &RefundRequest,
        _gateway_refund_id: Option<&str>,
    ) -> Result<Option<RefundReport>, GatewayError> {
        // Listing the transaction's refunds finds ours by its token whether or not PayU's
        // request id is known yet.
        let body = self
            .command(
                account,
                "getAllRefundsFromTxnIds",
                &[("var1", refund.reference.as_str())],
                Call::Read,
            )
            .await?;
        let mut found = Vec::new();
        find_by_token(&body, &refund.refund_id, &mut found);
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
    use crate::gateways::signature::sha512_pipe_hex;
    use serde_json::json;

    const KEY: &str = "JPM7Fg";
    const SALT: &str = "TuxqAugd";

    fn verify_result(key: &str, salt: &str, params: &BTreeMap<String, String>) -> bool {
        FAMILY.verify_result(key, salt, params)
    }

    // Vectors P1–P6 of the reference notes (P1–P3 published by PayU).
    #[test]
    fn command_hashes_match_the_vectors() {
        assert_eq!(
            command_hash(KEY, SALT, "verify_payment", "IhfgcZnXR4o4nB"),
            "a0ae79fdd66c875af6e9b21c4a67f1822deb00f2df5e9f0b1948f3222f536a9bf741b24efbb1874ca0f84f76b036e6c0d641581d0100f7abe4aeed2f3264f5c9"
        );
        assert_eq!(
            command_hash(KEY, SALT, "cancel_refund_transaction", "403993715521889530"),
            "0d248e6600fc81db328ee6eed27c9d83aa22b4c7c58e2dbb6a188129afe3ef1f4d89f21bbd254677fd94ab41fa68304351281aafce184ceeb2347a6a8b222b06"
        );
        assert_eq!(
            command_hash(KEY, SALT, "check_action_status", "403993715521889530"),
            "7457b284e7e76f72645c4a0b1f8fe3da333801214b35941eef92c3fc88cd3ae579ed474d5a0fe92d9685b6b39e3696bb507ff36bec354ffc15088e80d99a9547"
        );
    }

    fn form(
        txnid: &str,
        amount: &str,
        productinfo: &str,
        firstname: &str,
        email: &str,
    ) -> BTreeMap<&'static str, String> {
        BTreeMap::from([
            ("txnid", txnid.to_string()),
            ("amount", amount.to_string()),
            ("productinfo", productinfo.to_string()),
            ("firstname", firstname.to_string()),
            ("email", email.to_string()),
        ])
    }

    #[test]
    fn request_hashes_match_the_vectors() {
        assert_eq!(
            request_hash(
                KEY,
                SALT,
                &form(
                    "aI1UM19ONxLgPz",
                    "10.00",
                    "iPhone",
                    "Ashish",
                    "test@gmail.com"
                )
            ),
            "6840ba0d1a14554f7ee5d20966dfbac6b221718e72dd823f05b6da01420286315b4956c28325898b66520b111604020ea2c547608606674766eb7e4164dc0baa"
        );
        let mut with_udf = form("txn_0001", "100.00", "Order 1", "Asha", "asha@example.com");
        with_udf.insert("udf1", "u1".into());
        assert_eq!(
            request_hash(KEY, SALT, &with_udf),
            "512f232cea051415294f7f46286cb79aa77a09027db0b74403c12aabc6837c1bb70d5e12902e763332a7d045fb56567ca0d6ee12d6122e6f3600764029255f0e"
        );
    }

    fn result(hash: &str) -> BTreeMap<String, String> {
        [
            ("key", KEY),
            ("txnid", "ewP8oRopzdHEtC"),
            ("amount", "10.00"),
            ("productinfo", "iPhone"),
            ("firstname", "Ashish"),
            ("email", "test@gmail.com"),
            ("status", "success"),
            ("hash", hash),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    const P3: &str = "1be7e6e97ab1ea9034b9a107e7cf9718308aa9637b4dbbd1a3343c91b0da02b34a40d00ac7267ebe81c20ea1129b931371c555d565bc6e11f470c3d2cf69b5a3";

    #[test]
    fn the_reverse_hash_matches_the_vector_and_covers_the_status() {
        assert!(verify_result(KEY, SALT, &result(P3)));
        let mut flipped = result(P3);
        flipped.insert("status".into(), "failure".into());
        assert!(
            !verify_result(KEY, SALT, &flipped),
            "status is part of the hash"
        );
        let mut other_amount = result(P3);
        other_amount.insert("amount".into(), "10.0".into());
        assert!(
            !verify_result(KEY, SALT, &other_amount),
            "the posted string is hashed as is"
        );
        assert!(!verify_result(KEY, "other-salt", &result(P3)));
        let mut no_hash = result(P3);
        no_hash.remove("hash");
        assert!(!verify_result(KEY, SALT, &no_hash));
    }

    #[test]
    fn additional_charges_lead_the_reverse_hash() {
        let mut params = result("");
        params.insert("additionalCharges".into(), "2.00".into());
        let fields = FAMILY.reverse_fields(SALT, &params);
        assert_eq!(fields[0], "2.00");
        let hash = sha512_pipe_hex(&fields);
        params.insert("hash".into(), hash);
        assert!(verify_result(KEY, SALT, &params));
        params.remove("additionalCharges");
        assert!(!verify_result(KEY, SALT, &params));
    }

    #[test]
    fn only_documented_refund_refusals_are_refusals() {
        assert_eq!(refund_answer(Some(0), Some(105)), RefundAnswer::Refused);
        assert_eq!(refund_answer(Some(0), Some(116)), RefundAnswer::Refused);
        assert_eq!(
            refund_answer(Some(1), Some(102)),
            RefundAnswer::Accepted(RefundStatus::Pending)
        );
        assert_eq!(
            refund_answer(Some(1), None),
            RefundAnswer::Accepted(RefundStatus::Pending)
        );
        assert_eq!(refund_answer(None, Some(109)), RefundAnswer::AlreadyAsked);
        assert_eq!(refund_answer(Some(0), Some(120)), RefundAnswer::Locked);
        for (status, code) in [
            (Some(0), None),
            (None, None),
            (Some(0), Some(999)),
            (Some(0), Some(104)),
        ] {
            assert_eq!(
                refund_answer(status, code),
                RefundAnswer::Unknown,
                "{status:?} {code:?}"
            );
        }
    }

    #[test]
    fn txnids_fit_payus_limit_and_stay_distinct() {
        let a = txnid("att_0196f0c2a1b27c3d8e9f0a1b2c3d4e5f");
        let b = txnid("att_0196f0c2a1b27c3d8e9f0a1b2c3d4e60");
        assert!(a.len() <= 25 && b.len() <= 25, "{a} {b}");
        assert_ne!(a, b);
        assert_eq!(a, txnid("att_0196f0c2a1b27c3d8e9f0a1b2c3d4e5f"));
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
    }

    #[test]
    fn the_method_comes_from_the_mode() {
        // `verify_payment`'s documented answer (a card payment).
        let answer: Value = serde_json::from_str(r#"{"status":1,"msg":"1 out of 1 Transactions Fetched Successfully",
 "transaction_details":{"7fa6c4783a363b3da573":{
   "mihpayid":"403993715521889530","request_id":"","bank_ref_num":"721522","amt":"10.00","transaction_amount":"10.00",
   "txnid":"7fa6c4783a363b3da573","additional_charges":"0.00","productinfo":"Test","firstname":"K","bankcode":"CC",
   "udf1":"","udf2":"","udf3":"","udf4":"","udf5":"","field2":"177047","field5":"211939174867","field7":"AUTHPOSITIVE",
   "field9":"No Error","error_code":"E000","addedon":"2020-10-26 14:12:13","payment_source":"payu","card_type":"UNKNOWN",
   "error_Message":"NO ERROR","net_amount_debit":10,"disc":"0.00","mode":"CC","PG_TYPE":"CC-PG",
   "card_no":"512345XXXXXX2346","name_on_card":"Test","status":"success","unmappedstatus":"captured",
   "Merchant_UTR":null,"Settled_At":"0000-00-00 00:00:00"}}}"#).unwrap();
        let mut details = answer["transaction_details"]["7fa6c4783a363b3da573"].clone();
        let report = payment_report(&details);
        assert_eq!(report.status, PaymentOutcome::Succeeded);
        assert_eq!(report.method, Some(PaymentMethod::Card));
        for (mode, ours) in [
            (json!("DC"), Some(PaymentMethod::Card)),
            (json!("NB"), Some(PaymentMethod::Netbanking)),
            (json!("UPI"), Some(PaymentMethod::Upi)),
            (json!("CASH"), Some(PaymentMethod::Wallet)),
            (json!("EMI"), Some(PaymentMethod::Emi)),
            (json!("BNPL"), Some(PaymentMethod::Paylater)),
            (json!("SODEXO"), Some(PaymentMethod::Other)),
            (Value::Null, None),
        ] {
            details["mode"] = mode.clone();
            let report = payment_report(&details);
            assert_eq!(report.status, PaymentOutcome::Succeeded, "{mode}");
            assert_eq!(report.method, ours, "{mode}");
        }
        details["status"] = json!("failure");
        details["mode"] = json!("UPI");
        assert_eq!(payment_report(&details).method, None);
    }
}
