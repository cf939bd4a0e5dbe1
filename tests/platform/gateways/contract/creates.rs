//! The contract's scenarios about making orders: the documented create and its hand-off, creates
//! that may have happened, lookups by receipt, status mapping, and how failed calls are
//! classified.

use super::{Connects, Fixture, PRICE, Paid, fixture_account, quick};
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

/// A provider whose failed calls are classified by the kit's rules, through its documented
/// error answers.
#[allow(async_fn_in_trait)]
pub trait ClassifiesErrors: Creates {
    /// Whether a 429 on a create may have been acted on (looked up, not resent blindly).
    const THROTTLED_CREATE_IS_AMBIGUOUS: bool;
    /// The provider's documented answer to a server error.
    fn server_error() -> ResponseTemplate;
    /// The provider's documented answer to too many requests.
    fn too_many_requests() -> ResponseTemplate;
    /// Asks the connector, against a mock whose status query answers `response`, for a status.
    async fn status_against(response: ResponseTemplate) -> GatewayError;
    /// Asks the connector at `base` for a status; it must fail.
    async fn status_at(base: &str) -> GatewayError;
}

/// A failed create may have happened (a server error is ambiguous; throttling per the
/// provider's documented meaning); a failed status query changed nothing and is retryable.
pub async fn errors_are_classified_by_whether_the_call_could_have_acted<F: ClassifiesErrors>() {
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
    for response in [F::server_error(), F::too_many_requests()] {
        let read = F::status_against(response).await;
        assert!(matches!(read, GatewayError::Retryable(_)), "{read:?}");
    }
    let dropped = F::status_at(&dropping_server().await).await;
    assert!(matches!(dropped, GatewayError::Retryable(_)), "{dropped:?}");
}

/// A provider that can find an order by our receipt, so a create whose answer was lost is
/// looked up rather than repeated.
#[allow(async_fn_in_trait)]
pub trait FindsByReceipt: Fixture {
    /// Mounts a create that makes the order but answers too late, and a lookup by receipt that
    /// finds it.
    async fn mount_late_create_found_by_lookup(server: &MockServer);
    /// Whether `request` is an order create.
    fn is_create(request: &wiremock::Request) -> bool;
    /// Whether `request` looks up the order made for `receipt`.
    fn is_lookup(request: &wiremock::Request, receipt: &str) -> bool;
    /// Checks the create's request shape for the attempt `receipt` (amount, receipt, key).
    fn assert_create_request(request: &wiremock::Request, receipt: &str);
    /// The reference the lookup reports for `receipt`.
    fn found_reference(receipt: &str) -> String;
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
    let creates: Vec<_> = requests.iter().filter(|r| F::is_create(r)).collect();
    assert_eq!(creates.len(), 1, "exactly one create reached the gateway");
    F::assert_create_request(creates[0], receipt);
    assert!(
        requests.iter().any(|r| F::is_lookup(r, receipt)),
        "the ambiguous create was followed by a lookup"
    );
}
