//! The contract's scenarios about making orders: the documented create and its hand-off, creates
//! that may have happened, lookups by receipt, status mapping, and how failed calls are
//! classified.

use super::{Connects, Order, PRICE, Paid, deliver, fixture_account, quick, status_of};
use crate::gateways::{attempt_reference, dropping_server};
use crate::support::*;
use reqwest::StatusCode;
use shared::gateways::{
    CreatedOrder, Gateway, GatewayError, Handoff, PaymentOutcome, StatusReport,
};
use std::time::Duration;
use wiremock::{MockServer, ResponseTemplate};

/// A provider whose create the contract checks against its documented request and answer.
#[allow(async_fn_in_trait)]
pub trait CreatesOrders: Connects {
    /// The receipt (our attempt id) the order is created for.
    const RECEIPT: &'static str = "att_1";
    /// How many calls a create makes (PayU builds its order on our side: none).
    const CREATE_CALLS: usize = 1;
    /// Mounts the create endpoint, matching only the documented request (authentication,
    /// encoding, key) and answering as documented.
    async fn mount_documented_create(server: &MockServer);
    /// What the connector must make of the documented answer, from a mock at `base`.
    fn created(base: &str) -> CreatedOrder;
    /// Checks what was sent beyond what the mock matched (body fields, encoding).
    fn assert_sent(request: &wiremock::Request);
}

/// An order is created with one request as documented, and the answer gives its reference
/// (and the pay URL or checkout token the provider hands off with).
pub async fn an_order_is_created_with_the_documented_request<F: CreatesOrders>() {
    let server = MockServer::start().await;
    F::mount_documented_create(&server).await;
    let created = quick::<F>(&server.uri())
        .create_order(&fixture_account::<F>(), &F::order_request(F::RECEIPT))
        .await
        .unwrap();
    assert_eq!(created, F::created(&server.uri()));
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), F::CREATE_CALLS, "{requests:?}");
    if let Some(create) = requests.first() {
        F::assert_sent(create);
    }
}

/// A provider that hands the customer off with a page of its own checkout script.
pub trait HandsOffWithAPage: CreatesOrders {
    /// The credentials a browser may see (everything else is secret).
    const PUBLIC_CREDENTIALS: &'static [&'static str];
    /// What the page must carry for [`CreatesOrders::created`], with the provider's hosts at
    /// `http://mock.invalid`: the script's address, the public values it is opened with.
    fn page_carries() -> Vec<String>;
}

/// The hand-off page opens the provider's checkout with what the fixture expects, shows no
/// secret, and the order's description cannot close its script.
pub async fn the_handoff_page_carries_public_values_only<F: HandsOffWithAPage>() {
    let handoff = quick::<F>("http://mock.invalid").handoff(
        &fixture_account::<F>(),
        &F::order_request(F::RECEIPT),
        &F::created("http://mock.invalid"),
    );
    let Ok(Handoff::Html(html)) = handoff else {
        panic!("{} hands off with a page: {handoff:?}", F::PROVIDER)
    };
    for expected in F::page_carries() {
        assert!(html.contains(&expected), "{expected} in {html}");
    }
    for (name, value) in F::credentials() {
        if !F::PUBLIC_CREDENTIALS.contains(&name) {
            assert!(!html.contains(value), "the {name} reaches the browser");
        }
    }
    assert!(
        !html.contains("</script> x 2"),
        "the description cannot close the script"
    );
}

/// The hand-off sends the browser to the pay page the create answered with, nothing else.
pub async fn the_handoff_redirects_to_the_pay_page<F: CreatesOrders>() {
    let base = "http://mock.invalid";
    let created = F::created(base);
    let pay_page = created
        .pay_url
        .clone()
        .expect("the create answers a pay page");
    let handoff = quick::<F>(base)
        .handoff(
            &fixture_account::<F>(),
            &F::order_request(F::RECEIPT),
            &created,
        )
        .unwrap();
    assert_eq!(handoff, Handoff::Redirect(pay_page));
}

/// A provider whose orders are made by a call to its API (PayU's form and the sandbox's fixed
/// ten-second wait are not), for the connector-level scenarios.
#[allow(async_fn_in_trait)]
pub trait Creates: Connects {
    /// The path of the create endpoint.
    const CREATE_PATH: &'static str;
    /// The receipt of the creates made to fail.
    const FAILING_RECEIPT: &'static str = "att_err";
    /// The create's documented success answer.
    fn created() -> ResponseTemplate;
    /// Asks the connector, against a mock whose create answers `response`, waiting `timeout`.
    async fn create_against(response: ResponseTemplate, timeout: Duration) -> GatewayError {
        let server = MockServer::start().await;
        wiremock::Mock::given(wiremock::matchers::method("POST"))
            .and(wiremock::matchers::path(Self::CREATE_PATH))
            .respond_with(response)
            .mount(&server)
            .await;
        Self::connector(&server.uri(), timeout)
            .create_order(
                &fixture_account::<Self>(),
                &Self::order_request(Self::FAILING_RECEIPT),
            )
            .await
            .unwrap_err()
    }
    /// Asks the connector at `base` to create an order; it must fail.
    async fn create_at(base: &str) -> GatewayError {
        quick::<Self>(base)
            .create_order(
                &fixture_account::<Self>(),
                &Self::order_request(Self::FAILING_RECEIPT),
            )
            .await
            .unwrap_err()
    }
}

/// A create that may have reached the gateway (answered too late, connection dropped after
/// sending) is ambiguous: it is looked up, never repeated blindly. A connection never made is
/// safe to retry.
pub async fn a_create_that_may_have_reached_the_gateway_is_ambiguous<F: Creates>() {
    let slow = F::create_against(
        F::created().set_delay(Duration::from_millis(1500)),
        Duration::from_millis(300),
    )
    .await;
    assert!(matches!(slow, GatewayError::Ambiguous(_)), "{slow:?}");
    let dropped = F::create_at(&dropping_server().await).await;
    assert!(matches!(dropped, GatewayError::Ambiguous(_)), "{dropped:?}");
    let refused = F::create_at(&format!("http://127.0.0.1:{}", free_port())).await;
    assert!(
        matches!(refused, GatewayError::Retryable(_)),
        "nothing was sent: {refused:?}"
    );
}

/// What a status query must give: a report with this outcome, or a failure of this kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// A report with this outcome.
    Is(PaymentOutcome),
    /// A refusal to ask (or to believe the answer): never retried.
    Declined,
    /// A failure that changed nothing: asked again later.
    Retryable,
}

/// One documented status answer (mounted by the fixture) and what the connector makes of it.
#[derive(Debug, Clone)]
pub struct Documented {
    /// The reference the status query is asked about.
    pub reference: &'static str,
    /// What it must give.
    pub expected: Expected,
    /// The payment id the report carries, when checked.
    pub payment_id: Option<Option<&'static str>>,
    /// The failure reason the report carries, when checked.
    pub failure_reason: Option<Option<&'static str>>,
    /// What the report says was captured, when checked.
    pub captured: Option<Paid>,
    /// Why, for the assertion message.
    pub why: &'static str,
}

impl Documented {
    /// The answer about `reference` is reported as `outcome`.
    pub fn is(reference: &'static str, outcome: PaymentOutcome) -> Documented {
        Documented::gives(reference, Expected::Is(outcome))
    }

    /// Asking about `reference` gives `expected`.
    pub fn gives(reference: &'static str, expected: Expected) -> Documented {
        Documented {
            reference,
            expected,
            payment_id: None,
            failure_reason: None,
            captured: None,
            why: "",
        }
    }

    /// …carrying the payment id `id` (`None`: none).
    pub fn paid_as(mut self, id: Option<&'static str>) -> Documented {
        self.payment_id = Some(id);
        self
    }

    /// …carrying the failure reason `reason` (`None`: none).
    pub fn failing(mut self, reason: Option<&'static str>) -> Documented {
        self.failure_reason = Some(reason);
        self
    }

    /// …saying `paid` was captured.
    pub fn capturing(mut self, paid: Paid) -> Documented {
        self.captured = Some(paid);
        self
    }

    /// …for this reason (the assertion message).
    pub fn because(mut self, why: &'static str) -> Documented {
        self.why = why;
        self
    }
}

/// A provider whose status query the contract drives with its documented answers.
#[allow(async_fn_in_trait)]
pub trait MapsStatus: Connects {
    /// Whether a status query can report a payment failed (Razorpay's orders never fail: the
    /// customer may retry on them).
    const REPORTS_FAILURE: bool = true;
    /// Mounts the documented status answers of [`MapsStatus::documented`].
    async fn mount_statuses(server: &MockServer);
    /// The documented answers and what each must give.
    fn documented() -> Vec<Documented>;
    /// Asks the connector at `base` for the status of `reference`.
    async fn fetch_status(base: &str, reference: &str) -> Result<StatusReport, GatewayError> {
        quick::<Self>(base)
            .fetch_status(&fixture_account::<Self>(), reference)
            .await
    }
}

/// Every documented status answer maps to our outcome (captured, failed, pending), with the
/// gateway's payment id, failure reason and captured amount; answers that cannot be believed or
/// asked are refused.
pub async fn every_documented_status_is_mapped<F: MapsStatus>() {
    let server = MockServer::start().await;
    F::mount_statuses(&server).await;
    let documented = F::documented();
    let mut outcomes = vec![PaymentOutcome::Succeeded, PaymentOutcome::Pending];
    if F::REPORTS_FAILURE {
        outcomes.push(PaymentOutcome::Failed);
    }
    for outcome in outcomes {
        assert!(
            documented
                .iter()
                .any(|d| d.expected == Expected::Is(outcome)),
            "the fixture documents a {outcome} answer"
        );
    }
    for case in documented {
        let (reference, why) = (case.reference, case.why);
        let answer = F::fetch_status(&server.uri(), reference).await;
        let report = match (case.expected, answer) {
            (Expected::Is(outcome), Ok(report)) => {
                assert_eq!(report.status, outcome, "{reference}: {why}");
                report
            }
            (Expected::Declined, Err(GatewayError::Declined(_)))
            | (Expected::Retryable, Err(GatewayError::Retryable(_))) => continue,
            (expected, answer) => panic!("{reference}: {why}: {answer:?}, not {expected:?}"),
        };
        if let Some(id) = case.payment_id {
            assert_eq!(report.payment_id.as_deref(), id, "{reference}: {why}");
        }
        if let Some(reason) = case.failure_reason {
            assert_eq!(
                report.failure_reason.as_deref(),
                reason,
                "{reference}: {why}"
            );
        }
        if let Some(paid) = case.captured {
            let captured = report.captured.as_ref().expect(reference);
            assert_eq!(
                (captured.minor, captured.currency.as_str()),
                (paid.amount, paid.currency),
                "{reference}: {why}"
            );
        }
    }
}

/// What a connector makes of a failed call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Changed nothing: asked again later.
    Retryable,
    /// The gateway or the bank said no.
    Declined,
    /// Our configuration is wrong.
    Configuration,
    /// May have happened: looked up, never repeated blindly.
    Ambiguous,
}

impl Kind {
    /// The kind of `error`.
    pub fn of(error: &GatewayError) -> Kind {
        match error {
            GatewayError::Retryable(_) => Kind::Retryable,
            GatewayError::Declined(_) => Kind::Declined,
            GatewayError::Configuration(_) => Kind::Configuration,
            GatewayError::Ambiguous(_) => Kind::Ambiguous,
        }
    }
}

/// One documented failing answer and what the connector must make of it.
pub struct DocumentedError {
    /// What the answer is, for the assertion message.
    pub label: &'static str,
    /// The gateway's answer.
    pub answer: ResponseTemplate,
    /// The kind of error it must give.
    pub kind: Kind,
    /// A text the error's message must carry, when checked.
    pub mentions: Option<&'static str>,
}

impl DocumentedError {
    /// The answer `label` gives an error of `kind`.
    pub fn new(label: &'static str, answer: ResponseTemplate, kind: Kind) -> DocumentedError {
        DocumentedError {
            label,
            answer,
            kind,
            mentions: None,
        }
    }

    /// …whose message carries `text`.
    pub fn mentioning(mut self, text: &'static str) -> DocumentedError {
        self.mentions = Some(text);
        self
    }

    /// Checks that `error` is what this answer must give.
    fn check(&self, error: &GatewayError) {
        assert_eq!(Kind::of(error), self.kind, "{}: {error:?}", self.label);
        if let Some(text) = self.mentions {
            assert!(
                error.to_string().contains(text),
                "{}: {error:?}",
                self.label
            );
        }
    }
}

/// A provider whose failed status queries are classified by the kit's rules: a read changed
/// nothing, so its failures are retried (PayU too: its only writes are refunds).
#[allow(async_fn_in_trait)]
pub trait ClassifiesReadErrors: Connects {
    /// The reference the failing status queries ask about.
    const ASKED: &'static str;
    /// The provider's documented answer to a server error.
    fn server_error() -> ResponseTemplate;
    /// The provider's documented answer to too many requests.
    fn too_many_requests() -> ResponseTemplate;
    /// Mounts `answer` as the answer to the status query about [`ClassifiesReadErrors::ASKED`].
    async fn mount_status_answer(server: &MockServer, answer: ResponseTemplate);
    /// The provider's other documented failing answers to a status query.
    fn documented_read_errors() -> Vec<DocumentedError> {
        Vec::new()
    }
}

/// `F`'s connector, waiting at most `timeout`, asks a mock answering `answer` for a status; it
/// must fail.
async fn status_against<F: ClassifiesReadErrors>(
    answer: ResponseTemplate,
    timeout: Duration,
) -> GatewayError {
    let server = MockServer::start().await;
    F::mount_status_answer(&server, answer).await;
    status_at::<F>(&server.uri(), timeout).await
}

/// `F`'s connector at `base`, waiting at most `timeout`, asks for a status; it must fail.
async fn status_at<F: ClassifiesReadErrors>(base: &str, timeout: Duration) -> GatewayError {
    F::connector(base, timeout)
        .fetch_status(&fixture_account::<F>(), F::ASKED)
        .await
        .unwrap_err()
}

/// A failed status query changed nothing and is retryable: a server error, throttling, a dropped
/// connection, an answer too slow; the provider's other documented failures are as documented.
pub async fn a_failed_status_query_changed_nothing_and_is_retryable<F: ClassifiesReadErrors>() {
    let patient = Duration::from_secs(5);
    for answer in [F::server_error(), F::too_many_requests()] {
        let read = status_against::<F>(answer, patient).await;
        assert!(matches!(read, GatewayError::Retryable(_)), "{read:?}");
    }
    let dropped = status_at::<F>(&dropping_server().await, patient).await;
    assert!(matches!(dropped, GatewayError::Retryable(_)), "{dropped:?}");
    let slow = status_against::<F>(
        ResponseTemplate::new(200).set_delay(Duration::from_millis(1500)),
        Duration::from_millis(300),
    )
    .await;
    assert!(
        matches!(slow, GatewayError::Retryable(_)),
        "a read too slow is simply asked again: {slow:?}"
    );
    for case in F::documented_read_errors() {
        let error = status_against::<F>(case.answer.clone(), patient).await;
        case.check(&error);
    }
}

/// A provider whose failed creates are classified by whether they could have acted.
pub trait ClassifiesCreateErrors: Creates + ClassifiesReadErrors {
    /// Whether a 429 on a create may have been acted on (looked up, not resent blindly).
    const THROTTLED_CREATE_IS_AMBIGUOUS: bool;
    /// The provider's documented failing answers to a create, beyond a server error and
    /// throttling.
    fn documented_errors() -> Vec<DocumentedError>;
}

/// A failed create may have happened (a server error is ambiguous; throttling per the
/// provider's documented meaning); the provider's other documented failures are as documented.
pub async fn a_failed_create_is_classified_by_whether_it_could_have_acted<
    F: ClassifiesCreateErrors,
>() {
    let patient = Duration::from_secs(5);
    let server_error = F::create_against(F::server_error(), patient).await;
    assert!(
        matches!(server_error, GatewayError::Ambiguous(_)),
        "a failed write may have happened: {server_error:?}"
    );
    let throttled = F::create_against(F::too_many_requests(), patient).await;
    if F::THROTTLED_CREATE_IS_AMBIGUOUS {
        assert!(
            matches!(throttled, GatewayError::Ambiguous(_)),
            "a throttled write is looked up, not assumed unsent: {throttled:?}"
        );
    } else {
        assert!(
            matches!(throttled, GatewayError::Retryable(_)),
            "{throttled:?}"
        );
    }
    for case in F::documented_errors() {
        let error = F::create_against(case.answer.clone(), patient).await;
        case.check(&error);
    }
}

/// Whether `request` is one of `F`'s order creates.
fn is_create<F: Creates>(request: &wiremock::Request) -> bool {
    request.method == http::Method::POST && request.url.path() == F::CREATE_PATH
}

/// A provider whose orders can be looked up by our receipt.
pub trait LooksUpOrders: Creates {
    /// Whether `request` looks up the order made for `receipt`.
    fn is_lookup(request: &wiremock::Request, receipt: &str) -> bool;
}

/// A provider that can find an order by our receipt, so a create whose answer was lost is
/// looked up rather than repeated.
#[allow(async_fn_in_trait)]
pub trait FindsByReceipt: LooksUpOrders {
    /// A receipt the gateway has an order for, in [`FindsByReceipt::mount_lookups`].
    const RECEIPT_FOUND: &'static str;
    /// A receipt the gateway has no order for.
    const RECEIPT_MISSING: &'static str;
    /// Mounts the lookup by receipt: [`FindsByReceipt::RECEIPT_FOUND`] finds
    /// [`FindsByReceipt::found`], [`FindsByReceipt::RECEIPT_MISSING`] nothing.
    async fn mount_lookups(server: &MockServer);
    /// The order found for [`FindsByReceipt::RECEIPT_FOUND`].
    fn found() -> CreatedOrder;
    /// Further receipts that find no order (ids the gateway refuses, searches it refuses), and
    /// why.
    fn never_found() -> Vec<(&'static str, &'static str)> {
        Vec::new()
    }
    /// Mounts a create that makes the order but answers too late, and a lookup by receipt that
    /// finds it.
    async fn mount_late_create_found_by_lookup(server: &MockServer);
    /// Checks the create's request shape for the attempt `receipt` (amount, receipt, key).
    fn assert_create_request(request: &wiremock::Request, receipt: &str);
    /// The reference the lookup reports for `receipt`.
    fn found_reference(receipt: &str) -> String;
}

/// An order is found by the receipt it was made for, with what the checkout needs; a receipt the
/// gateway has (or can have) no order for finds none. A lookup only looks up.
pub async fn finds_an_order_by_its_receipt<F: FindsByReceipt>() {
    let server = MockServer::start().await;
    F::mount_lookups(&server).await;
    let gateway = quick::<F>(&server.uri());
    let account = fixture_account::<F>();
    let found = gateway
        .find_order(&account, F::RECEIPT_FOUND)
        .await
        .unwrap();
    assert_eq!(found, Some(F::found()));
    let missing = gateway.find_order(&account, F::RECEIPT_MISSING).await;
    assert_eq!(missing.unwrap(), None);
    let never = F::never_found();
    for (receipt, why) in &never {
        assert_eq!(
            gateway.find_order(&account, receipt).await.unwrap(),
            None,
            "{why}"
        );
    }
    let requests = server.received_requests().await.unwrap();
    let asked: Vec<&str> = [F::RECEIPT_FOUND, F::RECEIPT_MISSING]
        .into_iter()
        .chain(never.iter().map(|(receipt, _)| *receipt))
        .collect();
    for request in &requests {
        assert!(
            asked.iter().any(|receipt| F::is_lookup(request, receipt)),
            "only lookups of the receipts asked about reach the gateway: {request:?}"
        );
    }
    for receipt in [F::RECEIPT_FOUND, F::RECEIPT_MISSING] {
        let lookups = requests.iter().filter(|r| F::is_lookup(r, receipt)).count();
        assert_eq!(lookups, 1, "{receipt} is looked up once");
    }
}

/// A create whose answer never arrived is looked up by its receipt; the order found is used and
/// no second create is sent.
pub async fn an_ambiguous_create_is_found_by_receipt_never_made_twice<F: FindsByReceipt>() {
    let server = MockServer::start().await;
    F::mount_late_create_found_by_lookup(&server).await;
    let (app, merchant) = F::platform(&server).await;
    let (status, body) = app
        .pay(
            &merchant,
            &payment("contract_ambiguous", PRICE, false),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["data"]["id"].as_str().unwrap();
    app.drain().await;
    let transaction = app.transaction(&merchant, id).await;
    let receipt = transaction["attempts"][0]["id"].as_str().unwrap();
    assert!(receipt.starts_with("att_"), "{receipt}");
    assert_eq!(
        attempt_reference(&app, &merchant, id).await,
        Some(F::found_reference(receipt)),
        "{transaction}"
    );
    let requests = server.received_requests().await.unwrap();
    let creates: Vec<_> = requests.iter().filter(|r| is_create::<F>(r)).collect();
    assert_eq!(creates.len(), 1, "exactly one create reached the gateway");
    F::assert_create_request(creates[0], receipt);
    assert!(
        requests.iter().any(|r| F::is_lookup(r, receipt)),
        "the ambiguous create was followed by a lookup"
    );
}

/// What the checkout shows once a retried create settled which order the payment is on.
pub enum Retried {
    /// The provider's page, showing these (the order's hand-off) and none of `hides`.
    Page {
        /// What the page must carry.
        shows: Vec<String>,
        /// The secrets it must not.
        hides: Vec<&'static str>,
    },
    /// A redirect to this pay page, every time the checkout is opened.
    Redirect(String),
    /// No redirect: the pay page was in the answer that was lost.
    NoPayPage,
}

/// A provider whose create can be sent again for the same attempt without making a second
/// order (an idempotency key, an order id the gateway holds once), so a create whose answer was
/// lost and that the lookup cannot see yet is simply sent again.
#[allow(async_fn_in_trait)]
pub trait RetriesCreates: LooksUpOrders {
    /// Mounts a create for the payment `label` that makes the order but answers too late the
    /// first time and as the provider answers a repeat afterwards, and a lookup that finds
    /// nothing.
    async fn mount_lagging_create(server: &MockServer, label: &str);
    /// Whether the create `request` is made under the key of the attempt `receipt`.
    fn made_for(request: &wiremock::Request, receipt: &str) -> bool;
    /// What the checkout shows for `order`, with the provider's hosts at `base`.
    fn retried_handoff(base: &str, order: &Order) -> Retried;
}

/// When the lookup after a lost create answer finds nothing, the next try sends the same create
/// under the same key: the gateway makes one order, the payment stays on it and settles once.
pub async fn when_the_lookup_finds_nothing_the_retried_create_makes_one_order<F: RetriesCreates>() {
    let label = "contract_retried";
    let server = MockServer::start().await;
    F::mount_lagging_create(&server, label).await;
    let (app, merchant) = F::platform(&server).await;
    let (status, body) = app
        .pay(&merchant, &payment(label, PRICE, false), None)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["data"]["id"].as_str().unwrap().to_string();
    app.drain().await;
    assert_eq!(
        attempt_reference(&app, &merchant, &id).await,
        None,
        "not confirmed yet"
    );
    let transaction = app.transaction(&merchant, &id).await;
    let receipt = transaction["attempts"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(receipt.starts_with("att_"), "{receipt}");
    let reference = F::expected_reference(label, &receipt).expect("the order's id is known");
    let order = Order {
        id,
        receipt,
        reference,
    };

    // The customer opens the checkout: the platform asks again, then creates again.
    let checkout = app.url(&format!("/api/v1/checkout/{}", order.id));
    let page = app.http.get(&checkout).send().await.unwrap();
    match F::retried_handoff(&server.uri(), &order) {
        Retried::Page { shows, hides } => {
            assert_eq!(page.status(), StatusCode::OK);
            let html = page.text().await.unwrap();
            for expected in shows {
                assert!(html.contains(&expected), "{expected} in {html}");
            }
            for secret in hides {
                assert!(!html.contains(secret), "a secret reaches the browser");
            }
        }
        Retried::Redirect(pay_page) => {
            assert_eq!(page.status(), StatusCode::SEE_OTHER);
            assert_eq!(page.headers()["location"].to_str().unwrap(), pay_page);
            let again = app.http.get(&checkout).send().await.unwrap();
            assert_eq!(again.headers()["location"].to_str().unwrap(), pay_page);
        }
        Retried::NoPayPage => {
            assert!(!page.status().is_redirection(), "{}", page.status());
        }
    }
    assert_eq!(
        attempt_reference(&app, &merchant, &order.id)
            .await
            .as_deref(),
        Some(order.reference.as_str()),
        "the payment is on the first order"
    );
    let requests = server.received_requests().await.unwrap();
    let creates: Vec<usize> = (0..requests.len())
        .filter(|i| is_create::<F>(&requests[*i]))
        .collect();
    assert_eq!(creates.len(), 2, "one lost answer, one retry, no more");
    for i in &creates {
        assert!(
            F::made_for(&requests[*i], &order.receipt),
            "every create names the same order, so the gateway can hold only one"
        );
    }
    assert_eq!(
        requests[creates[0]].body, requests[creates[1]].body,
        "the retry is the same request"
    );
    let lookup = requests
        .iter()
        .position(|r| F::is_lookup(r, &order.receipt));
    assert!(
        lookup.is_some_and(|l| l > creates[0] && l < creates[1]),
        "the gateway was asked before the create was sent again"
    );

    // The customer pays on that order: the payment settles, once.
    server.reset().await;
    if F::CONFIRMS_WEBHOOKS {
        F::mount_captured(&app, &server, &order, Paid::IN_FULL).await;
    }
    let paid = F::captured_webhook(&app, &order, Paid::IN_FULL).await;
    for _ in 0..2 {
        assert_eq!(deliver::<F>(&app, &paid).await, StatusCode::OK);
    }
    app.drain().await;
    assert_eq!(status_of(&app, &merchant, &order).await, "succeeded");
    assert_eq!(app.db.outbox_count("transaction.succeeded").await, 1);
}
