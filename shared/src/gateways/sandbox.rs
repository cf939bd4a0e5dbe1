//! Our connector to the sandbox gateway, the provider of test mode. It talks to the sandbox's
//! HTTP API exactly as the real connectors talk to theirs (see `sandbox_provider` for the other
//! side):
//!
//! - `POST {base}/sandbox/v1/orders` (HTTP Basic, the account's `api_key`) creates an order; the
//!   same `receipt` returns the same order, so a retried create never makes a second one.
//! - `GET {base}/sandbox/v1/orders/{id}` reports `created`, `paid` or `failed`.
//! - `POST {base}/sandbox/v1/orders/{id}/refunds` refunds once per `refund_id` (`processed` or
//!   `failed` at once); `GET` on the same path lists the order's refunds.
//! - Webhooks carry `X-Sandbox-Signature: t=<unix>,v1=<hex HMAC-SHA256(webhook_secret, "<t>.<body>")>`,
//!   accepted for five minutes.
//! - Browser returns carry `order_id`, `status`, `payment_id` and
//!   `signature = hex HMAC-SHA256(webhook_secret, "<order_id>|<status>|<payment_id>")`.

use super::signature::{hmac_sha256_hex, verify_hmac_sha256_hex};
use super::transport::{self, Call, Refusal};
use super::{
    Account, CreatedOrder, Gateway, GatewayError, GatewayEvent, Handoff, OrderRequest,
    PaymentOutcome, Provider, RefundReport, RefundRequest, RefundStatus, StatusReport,
};
use crate::money::ReportedAmount;
use async_trait::async_trait;
use http::HeaderMap;
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;

/// Webhooks older (or newer) than this are refused as replays.
pub const SIGNATURE_TOLERANCE_SECONDS: i64 = 300;

/// How long one call to the sandbox may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The sandbox connector.
pub struct SandboxGateway {
    client: reqwest::Client,
    base_url: String,
}

impl SandboxGateway {
    /// A connector to the sandbox API at `base_url`.
    pub fn new(client: reqwest::Client, base_url: &str) -> SandboxGateway {
        SandboxGateway {
            client,
            base_url: base_url.trim_end_matches('/').to_string(),
        }
    }

    /// A `method` request to `path` with HTTP Basic, the account's `api_key`.
    fn request(
        &self,
        method: reqwest::Method,
        account: &Account,
        path: &str,
    ) -> Result<reqwest::RequestBuilder, GatewayError> {
        Ok(self
            .client
            .request(method, format!("{}{path}", self.base_url))
            .basic_auth(account.credential("api_key")?, Some(""))
            .timeout(TIMEOUT))
    }

    /// Sends `request` and reads the answer as `T`; a refusal is classified by [`refused`].
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
        call: Call,
    ) -> Result<T, GatewayError> {
        let response = transport::send(request, call, "sandbox").await?;
        transport::answer(response, call, "sandbox")
            .await?
            .map_err(|refusal| refused(&refusal))
    }
}

/// The sandbox's order as its API returns it.
#[derive(Debug, Deserialize)]
pub struct SandboxOrder {
    /// `sbx_order_…`
    pub id: String,
    /// `created`, `paid` or `failed`.
    pub status: String,
    /// Set once paid.
    pub payment_id: Option<String>,
    /// Where the customer pays.
    pub pay_url: String,
    /// Why it failed.
    pub error_reason: Option<String>,
    /// Paise.
    pub amount: Option<i64>,
    /// ISO code.
    pub currency: Option<String>,
}

/// A sandbox refund as its API returns it.
#[derive(Debug, Deserialize)]
struct SandboxRefund {
    id: String,
    refund_id: String,
    status: String,
}

fn refund_report(refund: SandboxRefund) -> Result<RefundReport, String> {
    let status = match refund.status.as_str() {
        "processed" => RefundStatus::Succeeded,
        "failed" => RefundStatus::Failed,
        other => return Err(format!("unknown sandbox refund status '{other}'")),
    };
    Ok(RefundReport {
        refund_id: Some(refund.refund_id),
        gateway_refund_id: Some(refund.id),
        status,
        failure_reason: (status == RefundStatus::Failed).then(|| "refund declined".to_string()),
    })
}

fn report(
    status: &str,
    payment_id: Option<String>,
    error_reason: Option<String>,
    captured: Option<ReportedAmount>,
) -> Result<StatusReport, String> {
    let status = match status {
        "created" => PaymentOutcome::Pending,
        "paid" => PaymentOutcome::Succeeded,
        "failed" => PaymentOutcome::Failed,
        other => return Err(format!("unknown sandbox status '{other}'")),
    };
    Ok(StatusReport {
        payment_id,
        failure_reason: error_reason,
        captured: captured.filter(|_| status == PaymentOutcome::Succeeded),
        // The sandbox's pay page asks for no method, so it reports none: the default rate applies.
        ..StatusReport::of(status)
    })
}

/// Signs a webhook body as the sandbox does.
pub fn sign_webhook(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut message = format!("{timestamp}.").into_bytes();
    message.extend_from_slice(body);
    format!(
        "t={timestamp},v1={}",
        hmac_sha256_hex(secret.as_bytes(), &message)
    )
}

/// Signs a browser return as the sandbox does.
pub fn sign_return(secret: &str, order_id: &str, status: &str, payment_id: &str) -> String {
    hmac_sha256_hex(
        secret.as_bytes(),
        format!("{order_id}|{status}|{payment_id}").as_bytes(),
    )
}

/// Checks a `t=…,v1=…` header against the body, within the tolerance of `now`.
pub fn verify_webhook_signature(secret: &str, header: &str, body: &[u8], now: i64) -> bool {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", v)) => signatures.push(v),
            _ => {}
        }
    }
    let Some(timestamp) = timestamp else {
        return false;
    };
    if (now - timestamp).abs() > SIGNATURE_TOLERANCE_SECONDS {
        return false;
    }
    let mut message = format!("{timestamp}.").into_bytes();
    message.extend_from_slice(body);
    signatures
        .iter()
        .any(|s| verify_hmac_sha256_hex(secret.as_bytes(), &message, s))
}

/// Classifies a refusal by its HTTP status alone. The sandbox makes an order once per receipt and
/// a refund once per refund id, so even a failed write may be repeated.
fn refused(refusal: &Refusal) -> GatewayError {
    let status = refusal.status;
    match status.as_u16() {
        401 | 403 => {
            GatewayError::Configuration(format!("sandbox refused the credentials ({status})"))
        }
        400..=499 if status.as_u16() != 429 => GatewayError::Configuration(format!(
            "sandbox refused the request ({status}): {}",
            refusal.body
        )),
        _ => GatewayError::Retryable(format!("sandbox answered {status}")),
    }
}

#[async_trait]
impl Gateway for SandboxGateway {
    fn provider(&self) -> Provider {
        Provider::Sandbox
    }

    fn required_credentials(&self) -> &'static [&'static str] {
        &["api_key", "webhook_secret"]
    }

    async fn create_order(
        &self,
        account: &Account,
        order: &OrderRequest,
    ) -> Result<CreatedOrder, GatewayError> {
        let body = json!({
            "amount": order.amount,
            "currency": order.currency.code(),
            "receipt": order.receipt,
            "customer_email": order.customer_email,
            "notify_url": order.notify_url,
            "return_url": order.return_url,
        });
        let request = self
            .request(reqwest::Method::POST, account, "/sandbox/v1/orders")?
            .json(&body);
        let created: SandboxOrder = self.call(request, Call::Write).await?;
        Ok(CreatedOrder {
            reference: created.id,
            pay_url: Some(created.pay_url),
            checkout_token: None,
        })
    }

    async fn find_order(
        &self,
        account: &Account,
        receipt: &str,
    ) -> Result<Option<CreatedOrder>, GatewayError> {
        #[derive(Deserialize)]
        struct Found {
            items: Vec<SandboxOrder>,
        }
        let request = self
            .request(reqwest::Method::GET, account, "/sandbox/v1/orders")?
            .query(&[("receipt", receipt)]);
        let found: Found = self.call(request, Call::Read).await?;
        Ok(found.items.into_iter().next().map(|o| CreatedOrder {
            reference: o.id,
            pay_url: Some(o.pay_url),
            checkout_token: None,
        }))
    }

    async fn check_credentials(&self, account: &Account) -> Result<(), GatewayError> {
        // Looking up a receipt nobody uses proves the key without changing anything.
        self.find_order(account, "credential-check")
            .await
            .map(|_| ())
    }

    async fn fetch_status(
        &self,
        account: &Account,
        reference: &str,
    ) -> Result<StatusReport, GatewayError> {
        let request = self.request(
            reqwest::Method::GET,
            account,
            &format!("/sandbox/v1/orders/{reference}"),
        )?;
        let order: SandboxOrder = self.call(request, Call::Read).await?;
        let captured = order
            .amount
            .zip(order.currency.as_deref())
            .map(|(minor, currency)| ReportedAmount::new(minor, currency));
        report(
            &order.status,
            order.payment_id,
            order.error_reason,
            captured,
        )
        .map_err(GatewayError::Ambiguous)
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
            .ok_or_else(|| GatewayError::Configuration("sandbox order without a pay URL".into()))
    }

    fn verify_webhook(&self, account: &Account, headers: &HeaderMap, body: &[u8]) -> bool {
        let Some(header) = headers
            .get("x-sandbox-signature")
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        let Ok(secret) = account.credential("webhook_secret") else {
            return false;
        };
        verify_webhook_signature(secret, header, body, chrono::Utc::now().timestamp())
    }

    fn parse_webhook(&self, _headers: &HeaderMap, body: &[u8]) -> Result<GatewayEvent, String> {
        #[derive(Deserialize)]
        struct Event {
            id: String,
            #[serde(rename = "type")]
            event_type: String,
            data: Data,
        }
        #[derive(Deserialize)]
        struct Data {
            order_id: String,
            receipt: String,
            status: String,
            payment_id: Option<String>,
            error_reason: Option<String>,
            amount: Option<i64>,
            currency: Option<String>,
        }
        let event: Event =
            serde_json::from_slice(body).map_err(|e| format!("unreadable sandbox event: {e}"))?;
        let report = match event.event_type.as_str() {
            "payment.captured" | "payment.failed" => Some(report(
                &event.data.status,
                event.data.payment_id,
                event.data.error_reason,
                event
                    .data
                    .amount
                    .zip(event.data.currency.as_deref())
                    .map(|(minor, currency)| ReportedAmount::new(minor, currency)),
            )?),
            _ => None,
        };
        Ok(GatewayEvent {
            event_id: event.id,
            event_type: event.event_type,
            receipt: Some(event.data.receipt),
            reference: Some(event.data.order_id),
            report,
            refund: None,
        })
    }

    async fn create_refund(
        &self,
        account: &Account,
        refund: &RefundRequest,
    ) -> Result<RefundReport, GatewayError> {
        let request = self
            .request(
                reqwest::Method::POST,
                account,
                &format!("/sandbox/v1/orders/{}/refunds", refund.reference),
            )?
            .json(&json!({ "refund_id": refund.refund_id, "amount": refund.amount }));
        let created: SandboxRefund = self.call(request, Call::Write).await?;
        refund_report(created).map_err(GatewayError::Ambiguous)
    }

    async fn fetch_refund(
        &self,
        account: &Account,
        refund: &RefundRequest,
        _gateway_refund_id: Option<&str>,
    ) -> Result<Option<RefundReport>, GatewayError> {
        #[derive(Deserialize)]
        struct Listed {
            items: Vec<SandboxRefund>,
        }
        let request = self.request(
            reqwest::Method::GET,
            account,
            &format!("/sandbox/v1/orders/{}/refunds", refund.reference),
        )?;
        let listed: Listed = self.call(request, Call::Read).await?;
        listed
            .items
            .into_iter()
            .find(|r| r.refund_id == refund.refund_id)
            .map(refund_report)
            .transpose()
            .map_err(GatewayError::Ambiguous)
    }

    fn verify_return(
        &self,
        account: &Account,
        params: &BTreeMap<String, String>,
    ) -> Option<String> {
        let secret = account.credential("webhook_secret").ok()?;
        let order_id = params.get("order_id")?;
        let status = params.get("status")?;
        let payment_id = params.get("payment_id").map(String::as_str).unwrap_or("");
        let signature = params.get("signature")?;
        let message = format!("{order_id}|{status}|{payment_id}");
        verify_hmac_sha256_hex(secret.as_bytes(), message.as_bytes(), signature)
            .then(|| order_id.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_signatures_are_checked_for_body_secret_and_age() {
        let body = br#"{"id":"sbx_evt_1"}"#;
        let header = sign_webhook("whsec", 1_000_000, body);
        assert!(verify_webhook_signature("whsec", &header, body, 1_000_100));
        assert!(
            !verify_webhook_signature("whsec", &header, br#"{"id":"sbx_evt_2"}"#, 1_000_100),
            "tampered body"
        );
        assert!(
            !verify_webhook_signature("other", &header, body, 1_000_100),
            "wrong secret"
        );
        assert!(
            !verify_webhook_signature(
                "whsec",
                &header,
                body,
                1_000_000 + SIGNATURE_TOLERANCE_SECONDS + 1
            ),
            "stale"
        );
        assert!(
            !verify_webhook_signature("whsec", "v1=abc", body, 1_000_000),
            "no timestamp"
        );
        assert!(
            !verify_webhook_signature("whsec", "", body, 1_000_000),
            "missing"
        );
    }
}
