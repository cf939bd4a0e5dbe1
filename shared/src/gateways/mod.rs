//! The `Gateway` port and one module per provider. Every provider answers the same questions:
//! create an order, hand the customer over, verify the browser return and the webhooks, and
//! report a payment's status. Errors are classified so callers know whether a retry is safe.

pub mod cashfree;
pub mod connectors;
pub mod easebuzz;
pub mod endpoints;
pub mod method;
pub mod payu;
pub mod payu_family;
pub mod phonepe;
pub mod provider;
pub mod razorpay;
pub mod sandbox;
pub mod signature;
pub mod stripe;
pub mod transport;

use crate::config::Config;
use crate::ids::GatewayAccountId;
use crate::mode::Mode;
use crate::money::{Currency, ReportedAmount};
use crate::secret::Secret;
use async_trait::async_trait;
use http::HeaderMap;
pub use method::PaymentMethod;
pub use provider::Provider;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// Gateway credentials by field name (`key_id`, `key_secret`, `webhook_secret`, …): what a
/// connector needs from an account, so the port owns the type and account storage uses it.
pub type Credentials = BTreeMap<String, Secret<String>>;

/// A gateway account with its opened credentials, for one call.
#[derive(Debug, Clone)]
pub struct Account {
    /// The account.
    pub id: GatewayAccountId,
    /// Test or live environment of the gateway.
    pub environment: Mode,
    /// Its credentials.
    pub credentials: Credentials,
}

impl Account {
    /// A credential field, or a configuration error naming it.
    pub fn credential(&self, name: &str) -> Result<&str, GatewayError> {
        self.credentials
            .get(name)
            .map(|s| s.expose().as_str())
            .ok_or_else(|| {
                GatewayError::Configuration(format!(
                    "gateway account {} has no '{name}' credential",
                    self.id
                ))
            })
    }
}

/// An order to create at a gateway.
#[derive(Debug, Clone)]
pub struct OrderRequest {
    /// Our attempt id: the gateway's receipt / merchant reference, unique per attempt.
    pub receipt: String,
    /// Amount in minor units.
    pub amount: i64,
    /// Currency.
    pub currency: Currency,
    /// Customer's name.
    pub customer_name: String,
    /// Customer's email.
    pub customer_email: String,
    /// Customer's phone.
    pub customer_phone: String,
    /// Shown to the customer.
    pub description: Option<String>,
    /// Where the gateway sends server-to-server events.
    pub notify_url: String,
    /// Where the gateway returns the customer's browser.
    pub return_url: String,
}

/// An order the gateway created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedOrder {
    /// The gateway's id for the order.
    pub reference: String,
    /// Where the customer pays, when the gateway hosts the page.
    pub pay_url: Option<String>,
    /// What the checkout page hands the gateway's browser script (Stripe's PaymentIntent client
    /// secret, Cashfree's payment session id); meant for the customer's browser, never logged.
    pub checkout_token: Option<Secret<String>>,
}

impl CreatedOrder {
    /// The checkout token in plain text, for the page that hands it to the customer's browser.
    pub fn exposed_checkout_token(&self) -> Option<&str> {
        self.checkout_token.as_ref().map(|t| t.expose().as_str())
    }
}

/// Where a payment stands at the gateway, in the gateway's terms; the payments domain decides
/// what it means for a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentOutcome {
    /// Not finished: the customer may still be paying, or the gateway is still deciding.
    Pending,
    /// The gateway captured the money.
    Succeeded,
    /// The payment failed or was given up.
    Failed,
}

impl fmt::Display for PaymentOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PaymentOutcome::Pending => "pending",
            PaymentOutcome::Succeeded => "succeeded",
            PaymentOutcome::Failed => "failed",
        })
    }
}

/// A payment's state at the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusReport {
    /// Our status for it; `Pending` while the customer has not finished.
    pub status: PaymentOutcome,
    /// The gateway's payment id, once there is one.
    pub payment_id: Option<String>,
    /// Why it failed, in the gateway's words.
    pub failure_reason: Option<String>,
    /// What the gateway says it captured (a success without it is never applied).
    pub captured: Option<ReportedAmount>,
    /// How the customer paid, when the gateway says (it picks the merchant's fee rate).
    pub method: Option<PaymentMethod>,
}

impl StatusReport {
    /// A report of `status` with nothing else known.
    pub fn of(status: PaymentOutcome) -> StatusReport {
        StatusReport {
            status,
            payment_id: None,
            failure_reason: None,
            captured: None,
            method: None,
        }
    }
}

/// A verified inbound event, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayEvent {
    /// The provider's id for the event (deduplication key).
    pub event_id: String,
    /// The provider's event type.
    pub event_type: String,
    /// Our attempt id, when the event carries it.
    pub receipt: Option<String>,
    /// The gateway's order id.
    pub reference: Option<String>,
    /// What the event says about the payment; `None` for events we do not act on.
    pub report: Option<StatusReport>,
    /// What the event says about a refund, for refund events.
    pub refund: Option<RefundReport>,
}

/// A refund to make at a gateway.
#[derive(Debug, Clone)]
pub struct RefundRequest {
    /// Our refund id (`rfd_…`): the gateway's merchant refund id or idempotency key.
    pub refund_id: String,
    /// The gateway's order id for the payment.
    pub reference: String,
    /// The gateway's payment id, when it has one.
    pub payment_id: Option<String>,
    /// Our attempt id, the receipt the order was made with.
    pub receipt: String,
    /// Amount to refund, in minor units.
    pub amount: i64,
    /// The payment's whole amount, in minor units (some gateways ask for it).
    pub payment_amount: i64,
    /// Currency.
    pub currency: Currency,
    /// Why, in the merchant's words.
    pub reason: Option<String>,
    /// Where the gateway sends refund events.
    pub notify_url: String,
}

/// Where a refund stands at the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundStatus {
    /// Accepted, not yet with the customer's bank.
    Pending,
    /// The money is on its way back.
    Succeeded,
    /// The gateway could not refund.
    Failed,
}

/// A refund as the gateway reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundReport {
    /// Our refund id, when the gateway echoes it.
    pub refund_id: Option<String>,
    /// The gateway's id for the refund.
    pub gateway_refund_id: Option<String>,
    /// Where it stands.
    pub status: RefundStatus,
    /// Why it failed, in the gateway's words.
    pub failure_reason: Option<String>,
}

/// How the checkout page hands the customer over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handoff {
    /// Send the browser here.
    Redirect(String),
    /// Serve this page (auto-submitting forms, scripts).
    Html(String),
}

/// Why a gateway call failed, and so what may be done next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    /// Failed before the gateway could act (connection refused, 5xx, rate limit): retry.
    #[error("retryable: {0}")]
    Retryable(String),
    /// The gateway or the bank said no.
    #[error("declined: {0}")]
    Declined(String),
    /// Our configuration is wrong (credentials, account): retrying will not help.
    #[error("configuration: {0}")]
    Configuration(String),
    /// The request may have reached the gateway (timeout after sending): ask for status.
    #[error("ambiguous: {0}")]
    Ambiguous(String),
}

/// One payment gateway.
#[async_trait]
pub trait Gateway: Send + Sync {
    /// The provider's name (`sandbox`, `razorpay`, …).
    fn provider(&self) -> Provider;
    /// The credential fields an account of this provider must have.
    fn required_credentials(&self) -> &'static [&'static str];
    /// Creates an order. Callers never create twice for one receipt without first asking
    /// [`Gateway::find_order`], so an ambiguous failure cannot lead to a second order.
    async fn create_order(
        &self,
        account: &Account,
        order: &OrderRequest,
    ) -> Result<CreatedOrder, GatewayError>;
    /// The order created earlier for `receipt`, if the gateway has one (after an ambiguous
    /// create: the request may have reached the gateway).
    async fn find_order(
        &self,
        account: &Account,
        receipt: &str,
    ) -> Result<Option<CreatedOrder>, GatewayError>;
    /// Checks the account's credentials with a call that moves no money.
    async fn check_credentials(&self, account: &Account) -> Result<(), GatewayError>;
    /// The status of the order `reference`.
    async fn fetch_status(
        &self,
        account: &Account,
        reference: &str,
    ) -> Result<StatusReport, GatewayError>;
    /// How the checkout page hands the customer to the gateway.
    fn handoff(
        &self,
        account: &Account,
        order: &OrderRequest,
        created: &CreatedOrder,
    ) -> Result<Handoff, GatewayError>;
    /// Whether an inbound webhook is authentic (signature on the raw body, freshness).
    fn verify_webhook(&self, account: &Account, headers: &HeaderMap, body: &[u8]) -> bool;
    /// Whether a payment webhook's report must be confirmed by a status query before it is
    /// applied: true where the signature does not cover everything the report carries (PayU's
    /// and Easebuzz's reverse hashes leave out the payment id), or where the gateway's own
    /// answer should be the evidence of a capture (Cashfree).
    fn webhook_needs_confirmation(&self) -> bool {
        false
    }
    /// Parses an authentic webhook. The event id comes only from what the signature covers: a
    /// header outside it could be replayed with fresh ids and defeat deduplication.
    fn parse_webhook(&self, headers: &HeaderMap, body: &[u8]) -> Result<GatewayEvent, String>;
    /// Asks the gateway to refund part or all of a captured payment. When a create's outcome is
    /// unknown (ambiguous), callers ask [`Gateway::fetch_refund`] without a gateway id before
    /// they ever create again, so a refund is never made twice.
    async fn create_refund(
        &self,
        account: &Account,
        refund: &RefundRequest,
    ) -> Result<RefundReport, GatewayError>;
    /// Where a refund stands: by the gateway's id once known, otherwise found by our
    /// `refund_id`; `Ok(None)` when the gateway has no such refund.
    async fn fetch_refund(
        &self,
        account: &Account,
        refund: &RefundRequest,
        gateway_refund_id: Option<&str>,
    ) -> Result<Option<RefundReport>, GatewayError>;
    /// Verifies a browser return; gives the order reference it is about.
    fn verify_return(&self, account: &Account, params: &BTreeMap<String, String>)
    -> Option<String>;
}

/// The configured providers.
#[derive(Clone)]
pub struct Gateways {
    providers: BTreeMap<Provider, Arc<dyn Gateway>>,
}

impl Gateways {
    /// Every provider, talking HTTP through `client` to the hosts `config` names.
    pub fn new(client: reqwest::Client, config: &Config) -> Gateways {
        Gateways {
            providers: Provider::ALL
                .into_iter()
                .map(|provider| (provider, connectors::connector(provider, &client, config)))
                .collect(),
        }
    }

    /// No provider: a process whose registry entry calls no gateway.
    pub fn none() -> Gateways {
        Gateways {
            providers: BTreeMap::new(),
        }
    }

    /// The providers' names.
    pub fn names(&self) -> Vec<&'static str> {
        self.providers.keys().map(|p| p.as_str()).collect()
    }

    /// The provider called `name`.
    pub fn get(&self, name: &str) -> Option<Arc<dyn Gateway>> {
        let provider: Provider = name.parse().ok()?;
        self.providers.get(&provider).cloned()
    }

    /// The connector of a provider named by a stored row, which must exist.
    pub fn connector(&self, name: &str) -> Result<Arc<dyn Gateway>, NoConnector> {
        self.get(name).ok_or_else(|| NoConnector(name.to_string()))
    }
}

/// A stored provider name with no connector in this build.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no connector for provider '{0}'")]
pub struct NoConnector(pub String);
