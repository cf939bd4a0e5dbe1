//! The scenarios every connector must pass, written once and run for each provider through its
//! fixture (`Contract` in the provider's own file): a mock server answering as the real API does,
//! its documented payloads, its signing. A test reads
//! `gateways::contract::<provider>::<scenario>`.

mod creates;
mod refunds;
mod webhooks;
pub use creates::*;
pub use refunds::*;
pub use webhooks::*;

use super::{account, assert_amount_mismatch, attempt_reference, dropping_server, platform_with};
use crate::support::*;
use http::HeaderMap;
use reqwest::StatusCode;
use shared::gateways::{Gateway, GatewayError, OrderRequest};
use std::time::Duration;
use wiremock::MockServer;

/// What every contract payment costs, in minor units.
pub const PRICE: i64 = 49_900;

/// A payment whose order exists at the gateway.
#[derive(Debug, Clone)]
pub struct Order {
    /// Our transaction id.
    pub id: String,
    /// Our attempt id: the receipt the order was made with.
    pub receipt: String,
    /// The gateway's id for the order.
    pub reference: String,
}

/// What the gateway says it captured.
#[derive(Debug, Clone, Copy)]
pub struct Paid {
    /// Minor units.
    pub amount: i64,
    /// ISO code, upper case.
    pub currency: &'static str,
}

impl Paid {
    /// The whole price, in rupees.
    pub const IN_FULL: Paid = Paid {
        amount: PRICE,
        currency: "INR",
    };
}

/// One webhook delivery as the provider sends it: headers (content type included) and raw body.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Delivery {
    /// A delivery of `body` with `content_type` and the given headers.
    pub fn new(content_type: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Delivery {
        let mut map = HeaderMap::new();
        map.insert("content-type", content_type.parse().unwrap());
        for (name, value) in headers {
            map.insert(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        Delivery { headers: map, body }
    }

    /// A form-encoded delivery of `fields`.
    pub fn form(fields: &[(String, String)]) -> Delivery {
        Delivery::new(
            "application/x-www-form-urlencoded",
            &[],
            serde_urlencoded::to_string(fields).unwrap().into_bytes(),
        )
    }

    /// The same delivery without the header `name`.
    pub fn without(mut self, name: &str) -> Delivery {
        self.headers.remove(name);
        self
    }

    /// The same headers over a body with a byte appended.
    pub fn tampered(mut self) -> Delivery {
        self.body.extend_from_slice(b"\n");
        self
    }
}

/// How the customer's browser comes back to `/api/v1/checkout/{id}/return`.
#[derive(Debug, Clone)]
pub enum BrowserReturn {
    /// A GET with these query parameters.
    Get(Vec<(String, String)>),
    /// A form POST of these fields.
    Post(Vec<(String, String)>),
}

impl BrowserReturn {
    /// A form POST of `fields`.
    pub fn post(fields: &[(&str, &str)]) -> BrowserReturn {
        BrowserReturn::Post(owned(fields))
    }

    /// A GET with the query `fields`.
    pub fn get(fields: &[(&str, &str)]) -> BrowserReturn {
        BrowserReturn::Get(owned(fields))
    }
}

fn owned(fields: &[(&str, &str)]) -> Vec<(String, String)> {
    fields
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A provider as the contract drives it: its mock API, its payloads and its signing.
#[allow(async_fn_in_trait)]
pub trait Fixture {
    /// The provider's name, as in `/api/v1/webhooks/{provider}`.
    const PROVIDER: &'static str;
    /// Whether a webhook's report is confirmed by a status query before it is applied.
    const CONFIRMS_WEBHOOKS: bool = false;

    /// The fixture account's credentials.
    fn credentials() -> Vec<(&'static str, &'static str)>;
    /// The platform with this provider's test hosts at `server` and the fixture's account first
    /// in a new merchant's routing pool.
    async fn platform(server: &MockServer) -> (TestApp, Merchant) {
        platform_with(server, Self::PROVIDER, &Self::credentials()).await
    }
    /// Mounts the create endpoint, answering as the provider does for the payment `label`.
    async fn mount_create(server: &MockServer, label: &str);
    /// The gateway reference the attempt `receipt` of payment `label` must get, when known.
    fn expected_reference(label: &str, receipt: &str) -> Option<String>;
    /// Makes the gateway's status query report `order` captured as `paid`, with
    /// [`Fixture::payment_id`].
    async fn mount_captured(app: &TestApp, server: &MockServer, order: &Order, paid: Paid);
    /// How many status queries about `order` reached the gateway (`None`: not observable).
    async fn status_queries(server: &MockServer, order: &Order) -> Option<usize>;
    /// The gateway's payment id of a capture of `order`.
    fn payment_id(order: &Order) -> String;
    /// An authentic webhook saying `order` was captured as `paid`.
    async fn captured_webhook(app: &TestApp, order: &Order, paid: Paid) -> Delivery;
    /// Deliveries that must be refused: tampered, unsigned, signed with another secret, stale…
    async fn forged_webhooks(app: &TestApp, order: &Order) -> Vec<(&'static str, Delivery)>;
    /// Authentic deliveries of the one capture (redeliveries, replays): applied once.
    async fn repeated_webhooks(app: &TestApp, order: &Order) -> Vec<Delivery> {
        let one = Self::captured_webhook(app, order, Paid::IN_FULL).await;
        vec![one.clone(), one.clone(), one]
    }
    /// An authentic failure for the same payment arriving after its capture, if the fixture has one.
    async fn late_failure(_app: &TestApp, _order: &Order) -> Option<Delivery> {
        None
    }
    /// Browser returns that must be refused without asking the gateway.
    async fn forged_returns(app: &TestApp, order: &Order) -> Vec<(&'static str, BrowserReturn)>;
    /// An authentic browser return for `order` (whatever it claims, the status query decides).
    async fn real_return(app: &TestApp, order: &Order) -> BrowserReturn;
}

/// A provider whose connector the contract drives directly (the sandbox answers in-process).
pub trait Connects: Fixture {
    /// The connector under test.
    type Connector: Gateway;
    /// The connector with the provider's hosts at `base`, waiting at most `timeout`.
    fn connector(base: &str, timeout: Duration) -> Self::Connector;
    /// An order request for the attempt `receipt`, at the contract price.
    fn order_request(receipt: &str) -> OrderRequest {
        order_request_to(Self::PROVIDER, receipt, PRICE)
    }
}

/// The contract's order request to `provider` for the attempt `receipt`, of `amount` minor units:
/// a description that tries to close a script, an Indian phone number.
pub fn order_request_to(provider: &str, receipt: &str, amount: i64) -> OrderRequest {
    OrderRequest {
        receipt: receipt.into(),
        amount,
        currency: shared::money::Currency::Inr,
        customer_name: "Asha Verma".into(),
        customer_email: "asha@example.in".into(),
        customer_phone: "+919812345678".into(),
        description: Some("Masala chai </script> x 2".into()),
        notify_url: format!("https://lsp.example/api/v1/webhooks/{provider}"),
        return_url: "https://lsp.example/api/v1/checkout/txn_1/return".into(),
    }
}

/// `F`'s connector at `base`, patient enough for any mock.
pub fn quick<F: Connects + ?Sized>(base: &str) -> F::Connector {
    F::connector(base, Duration::from_secs(5))
}

/// `F`'s fixture account, as a connector receives it.
pub fn fixture_account<F: Fixture + ?Sized>() -> shared::gateways::Account {
    account(&F::credentials())
}

/// The platform with a payment whose order exists at the gateway.
pub async fn open<F: Fixture>(label: &str) -> (MockServer, TestApp, Merchant, Order) {
    let server = MockServer::start().await;
    F::mount_create(&server, label).await;
    let (app, merchant) = F::platform(&server).await;
    let (status, body) = app
        .pay(&merchant, &payment(label, PRICE, false), None)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["data"]["id"].as_str().unwrap().to_string();
    app.drain().await;
    let transaction = app.transaction(&merchant, &id).await;
    let receipt = transaction["attempts"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let reference = attempt_reference(&app, &merchant, &id)
        .await
        .unwrap_or_else(|| panic!("the order was created: {transaction}"));
    if let Some(expected) = F::expected_reference(label, &receipt) {
        assert_eq!(reference, expected, "{transaction}");
    }
    (
        server,
        app,
        merchant,
        Order {
            id,
            receipt,
            reference,
        },
    )
}

/// Posts `delivery` to the provider's webhook endpoint; the answer's status.
pub async fn deliver<F: Fixture>(app: &TestApp, delivery: &Delivery) -> StatusCode {
    app.http
        .post(app.url(&format!("/api/v1/webhooks/{}", F::PROVIDER)))
        .headers(delivery.headers.clone())
        .body(delivery.body.clone())
        .send()
        .await
        .unwrap()
        .status()
}

/// Sends the customer's browser back for `order`; the answer (redirects are not followed).
pub async fn come_back(app: &TestApp, order: &Order, back: &BrowserReturn) -> reqwest::Response {
    let url = app.url(&format!("/api/v1/checkout/{}/return", order.id));
    let request = match back {
        BrowserReturn::Get(query) => app.http.get(url).query(query),
        BrowserReturn::Post(form) => app.http.post(url).form(form),
    };
    request.send().await.unwrap()
}

/// The payment's status, as the merchant's API shows it.
async fn status_of(app: &TestApp, merchant: &Merchant, order: &Order) -> String {
    app.transaction(merchant, &order.id).await["status"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Forgeries are refused and change nothing; the authentic capture, however often it comes,
/// is stored once and applied once (one transition, one event); a late failure changes nothing.
pub async fn a_signed_webhook_settles_the_payment_once_and_forgeries_change_nothing<F: Fixture>() {
    let (server, app, merchant, order) = open::<F>("contract_webhook").await;
    for (label, forged) in F::forged_webhooks(&app, &order).await {
        assert_eq!(
            deliver::<F>(&app, &forged).await,
            StatusCode::UNAUTHORIZED,
            "{label}"
        );
    }
    app.drain().await;
    assert_eq!(status_of(&app, &merchant, &order).await, "pending");
    assert_eq!(
        app.db.count("gateway_events").await,
        0,
        "refused events are not stored"
    );

    if F::CONFIRMS_WEBHOOKS {
        F::mount_captured(&app, &server, &order, Paid::IN_FULL).await;
    }
    for delivery in F::repeated_webhooks(&app, &order).await {
        assert_eq!(deliver::<F>(&app, &delivery).await, StatusCode::OK);
    }
    app.drain().await;
    let transaction = app.transaction(&merchant, &order.id).await;
    assert_eq!(transaction["status"], "succeeded", "{transaction}");
    assert_eq!(
        transaction["attempts"][0]["gateway_payment_id"],
        F::payment_id(&order).as_str(),
        "the payment id is the gateway's own: {transaction}"
    );
    assert_eq!(
        app.db.count("gateway_events").await,
        1,
        "a replay is stored once"
    );
    assert_eq!(
        app.db.outbox_count("transaction.succeeded").await,
        1,
        "one transition, one event"
    );

    if let Some(failure) = F::late_failure(&app, &order).await {
        assert_eq!(deliver::<F>(&app, &failure).await, StatusCode::OK);
        app.drain().await;
        assert_eq!(status_of(&app, &merchant, &order).await, "succeeded");
        assert_eq!(app.db.outbox_count("transaction.succeeded").await, 1);
    }
}

/// F2: an authentic capture reported as `paid` (another amount or currency) is flagged for
/// operators, never applied.
async fn a_capture_reported_as<F: Fixture>(label: &str, paid: Paid) {
    let (server, app, merchant, order) = open::<F>(label).await;
    if F::CONFIRMS_WEBHOOKS {
        F::mount_captured(&app, &server, &order, paid).await;
    }
    let delivery = F::captured_webhook(&app, &order, paid).await;
    assert_eq!(deliver::<F>(&app, &delivery).await, StatusCode::OK);
    app.drain().await;
    assert_amount_mismatch(&app, &merchant, &order.id).await;
    assert_eq!(app.db.outbox_count("transaction.amount_mismatch").await, 1);
    let outcome: String = app
        .db
        .owner()
        .await
        .query_one("SELECT outcome FROM gateway_events", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(outcome, "amount_mismatch");
    if F::CONFIRMS_WEBHOOKS
        && let Some(asked) = F::status_queries(&server, &order).await
    {
        assert!(asked >= 1, "the webhook was confirmed by a status query");
    }
}

pub async fn f2_a_capture_of_a_lower_amount_is_flagged_not_applied<F: Fixture>() {
    a_capture_reported_as::<F>(
        "contract_f2_amount",
        Paid {
            amount: 100,
            currency: "INR",
        },
    )
    .await;
}

pub async fn f2_a_capture_in_another_currency_is_flagged_not_applied<F: Fixture>() {
    a_capture_reported_as::<F>(
        "contract_f2_currency",
        Paid {
            amount: PRICE,
            currency: "USD",
        },
    )
    .await;
}

/// Returns that do not verify are refused without asking the gateway; a verified one is settled
/// by the gateway's own status answer (never by what the browser claims), once.
pub async fn the_return_is_confirmed_by_a_status_query<F: Fixture>() {
    let (server, app, merchant, order) = open::<F>("contract_return").await;
    F::mount_captured(&app, &server, &order, Paid::IN_FULL).await;
    let before = server.received_requests().await.unwrap().len();
    for (label, forged) in F::forged_returns(&app, &order).await {
        let answer = come_back(&app, &order, &forged).await;
        assert_eq!(answer.status(), StatusCode::BAD_REQUEST, "{label}");
    }
    assert_eq!(status_of(&app, &merchant, &order).await, "pending");
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        before,
        "nothing was asked for a return we could not verify"
    );

    let answer = come_back(&app, &order, &F::real_return(&app, &order).await).await;
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let location = answer.headers()["location"].to_str().unwrap();
    assert!(
        location.starts_with("https://shop.example.in/payments/done?cart=42&")
            && location.contains("status=succeeded"),
        "{location}"
    );
    let transaction = app.transaction(&merchant, &order.id).await;
    assert_eq!(transaction["status"], "succeeded", "{transaction}");
    assert_eq!(
        transaction["attempts"][0]["gateway_payment_id"],
        F::payment_id(&order).as_str(),
        "the payment id is the status query's, not the browser's: {transaction}"
    );
    if let Some(asked) = F::status_queries(&server, &order).await {
        assert_eq!(asked, 1, "one status query");
    }
}

/// A provider whose credential check is a call to its API (the sandbox answers in-process).
#[allow(async_fn_in_trait)]
pub trait ChecksCredentials: Connects {
    /// Mounts what the provider answers to the check: yes to the fixture's credentials, a
    /// refusal to anything else.
    async fn mount_credential_check(server: &MockServer);
    /// Checks `credentials` with a connector at `base`.
    async fn check(base: &str, credentials: &[(&str, &str)]) -> Result<(), GatewayError> {
        quick::<Self>(base)
            .check_credentials(&account(credentials))
            .await
    }
    /// The fixture's (right) credentials.
    fn right() -> Vec<(&'static str, &'static str)> {
        Self::credentials()
    }
    /// Credentials the provider refuses.
    fn wrong() -> Vec<Vec<(&'static str, &'static str)>>;
    /// An account missing a credential the check needs.
    fn incomplete() -> Vec<(&'static str, &'static str)>;
    /// Whether `request` is one that cannot move money.
    fn moves_no_money(request: &wiremock::Request) -> bool;
}

/// The credential check accepts the right credentials and calls wrong ones a configuration
/// error, with calls that move no money; an incomplete account is refused without a call.
pub async fn the_credential_check_moves_no_money<F: ChecksCredentials>() {
    let server = MockServer::start().await;
    F::mount_credential_check(&server).await;
    F::check(&server.uri(), &F::right()).await.unwrap();
    let wrong = F::wrong();
    for credentials in &wrong {
        let error = F::check(&server.uri(), credentials).await.unwrap_err();
        assert!(matches!(error, GatewayError::Configuration(_)), "{error:?}");
    }
    let missing = F::check(&server.uri(), &F::incomplete()).await.unwrap_err();
    assert!(
        matches!(missing, GatewayError::Configuration(_)),
        "{missing:?}"
    );
    let requests = server.received_requests().await.unwrap();
    assert_eq!(
        requests.len(),
        1 + wrong.len(),
        "a missing credential is caught before any call"
    );
    assert!(requests.iter().all(F::moves_no_money), "{requests:?}");
}

/// Runs every scenario for one provider's fixture, as `contract::<provider>::<scenario>`, plus
/// the named scenarios that need more of the fixture (such as [`Creates`]).
macro_rules! contract {
    ($provider:ident, $fixture:ty $(, $scenario:ident)*) => {
        mod $provider {
            $(
                #[tokio::test]
                async fn $scenario() {
                    super::$scenario::<$fixture>().await;
                }
            )*

            #[tokio::test]
            async fn a_signed_webhook_settles_the_payment_once_and_forgeries_change_nothing() {
                super::a_signed_webhook_settles_the_payment_once_and_forgeries_change_nothing::<
                    $fixture,
                >()
                .await;
            }

            #[tokio::test]
            async fn f2_a_capture_of_a_lower_amount_is_flagged_not_applied() {
                super::f2_a_capture_of_a_lower_amount_is_flagged_not_applied::<$fixture>().await;
            }

            #[tokio::test]
            async fn f2_a_capture_in_another_currency_is_flagged_not_applied() {
                super::f2_a_capture_in_another_currency_is_flagged_not_applied::<$fixture>().await;
            }

            #[tokio::test]
            async fn the_return_is_confirmed_by_a_status_query() {
                super::the_return_is_confirmed_by_a_status_query::<$fixture>().await;
            }
        }
    };
}

contract!(
    razorpay,
    crate::gateways::razorpay::Contract,
    an_ambiguous_refund_is_found_by_our_id_never_asked_twice,
    a_create_that_may_have_reached_the_gateway_is_ambiguous,
    the_handoff_page_carries_public_values_only,
    an_order_is_created_with_the_documented_request,
    every_documented_status_is_mapped,
    a_failed_status_query_changed_nothing_and_is_retryable,
    a_failed_create_is_classified_by_whether_it_could_have_acted,
    an_ambiguous_create_is_found_by_receipt_never_made_twice,
    finds_an_order_by_its_receipt,
    the_credential_check_moves_no_money,
    a_refund_is_created_with_our_id_and_the_exact_amount,
    fetches_a_refund_by_our_id,
    a_refund_is_asked_once_and_settled_by_the_providers_report,
    an_ambiguous_refund_is_looked_up_never_asked_twice,
    the_monitor_settles_a_quiet_pending_refund_by_asking_the_gateway
);
contract!(
    stripe,
    crate::gateways::stripe::Contract,
    webhooks_are_parsed_by_type,
    when_the_lookup_finds_nothing_the_retried_create_makes_one_order,
    a_create_that_may_have_reached_the_gateway_is_ambiguous,
    the_handoff_page_carries_public_values_only,
    an_order_is_created_with_the_documented_request,
    an_ambiguous_refund_is_found_by_our_id_never_asked_twice,
    every_documented_status_is_mapped,
    a_failed_status_query_changed_nothing_and_is_retryable,
    a_failed_create_is_classified_by_whether_it_could_have_acted,
    an_ambiguous_create_is_found_by_receipt_never_made_twice,
    finds_an_order_by_its_receipt,
    the_credential_check_moves_no_money,
    a_refund_is_created_with_our_id_and_the_exact_amount,
    refund_errors_are_classified_and_a_repeated_id_reads_the_refund_back,
    fetches_a_refund_by_our_id,
    a_refund_is_asked_once_and_settled_by_the_providers_report,
    an_ambiguous_refund_is_looked_up_never_asked_twice,
    the_monitor_settles_a_quiet_pending_refund_by_asking_the_gateway
);
contract!(
    cashfree,
    crate::gateways::cashfree::Contract,
    webhooks_are_parsed_by_type,
    when_the_lookup_finds_nothing_the_retried_create_makes_one_order,
    a_create_that_may_have_reached_the_gateway_is_ambiguous,
    an_order_is_created_with_the_documented_request,
    the_handoff_page_carries_public_values_only,
    an_ambiguous_refund_is_found_by_our_id_never_asked_twice,
    every_documented_status_is_mapped,
    a_failed_status_query_changed_nothing_and_is_retryable,
    a_failed_create_is_classified_by_whether_it_could_have_acted,
    an_ambiguous_create_is_found_by_receipt_never_made_twice,
    finds_an_order_by_its_receipt,
    the_credential_check_moves_no_money,
    a_refund_is_created_with_our_id_and_the_exact_amount,
    refund_errors_are_classified_and_a_repeated_id_reads_the_refund_back,
    fetches_a_refund_by_our_id,
    a_refund_is_asked_once_and_settled_by_the_providers_report,
    an_ambiguous_refund_is_looked_up_never_asked_twice,
    the_monitor_settles_a_quiet_pending_refund_by_asking_the_gateway
);
contract!(
    phonepe,
    crate::gateways::phonepe::Contract,
    when_the_lookup_finds_nothing_the_retried_create_makes_one_order,
    an_order_is_created_with_the_documented_request,
    the_handoff_redirects_to_the_pay_page,
    a_create_that_may_have_reached_the_gateway_is_ambiguous,
    an_ambiguous_refund_is_found_by_our_id_never_asked_twice,
    every_documented_status_is_mapped,
    a_failed_status_query_changed_nothing_and_is_retryable,
    a_failed_create_is_classified_by_whether_it_could_have_acted,
    an_ambiguous_create_is_found_by_receipt_never_made_twice,
    finds_an_order_by_its_receipt,
    the_credential_check_moves_no_money,
    a_refund_is_created_with_our_id_and_the_exact_amount,
    refund_errors_are_classified_and_a_repeated_id_reads_the_refund_back,
    fetches_a_refund_by_our_id,
    a_refund_is_asked_once_and_settled_by_the_providers_report,
    an_ambiguous_refund_is_looked_up_never_asked_twice,
    the_monitor_settles_a_quiet_pending_refund_by_asking_the_gateway
);
contract!(
    payu,
    crate::gateways::payu::Contract,
    a_failed_status_query_changed_nothing_and_is_retryable,
    an_order_is_created_with_the_documented_request,
    the_handoff_page_carries_public_values_only,
    every_documented_status_is_mapped,
    an_ambiguous_refund_is_found_by_our_id_never_asked_twice,
    a_refund_is_created_with_our_id_and_the_exact_amount,
    refund_errors_are_classified_and_a_repeated_id_reads_the_refund_back,
    a_refund_is_asked_once_and_settled_by_the_providers_report,
    an_ambiguous_refund_is_looked_up_never_asked_twice,
    the_monitor_settles_a_quiet_pending_refund_by_asking_the_gateway
);
contract!(
    easebuzz,
    crate::gateways::easebuzz::Contract,
    when_the_lookup_finds_nothing_the_retried_create_makes_one_order,
    an_order_is_created_with_the_documented_request,
    the_handoff_redirects_to_the_pay_page,
    a_create_that_may_have_reached_the_gateway_is_ambiguous,
    every_documented_status_is_mapped,
    a_failed_status_query_changed_nothing_and_is_retryable,
    a_failed_create_is_classified_by_whether_it_could_have_acted,
    an_ambiguous_refund_is_found_by_our_id_never_asked_twice,
    the_credential_check_moves_no_money,
    a_refund_is_created_with_our_id_and_the_exact_amount,
    refund_errors_are_classified_and_a_repeated_id_reads_the_refund_back,
    fetches_a_refund_by_our_id,
    a_refund_is_asked_once_and_settled_by_the_providers_report,
    an_ambiguous_refund_is_looked_up_never_asked_twice,
    the_monitor_settles_a_quiet_pending_refund_by_asking_the_gateway
);
contract!(
    sandbox,
    crate::gateways::sandbox::Contract,
    an_order_is_created_with_the_documented_request,
    the_handoff_redirects_to_the_pay_page,
    every_documented_status_is_mapped,
    an_ambiguous_refund_is_found_by_our_id_never_asked_twice,
    a_refund_is_created_with_our_id_and_the_exact_amount
);
