//! Refunds as the contract drives them: at the connector (created, classified, fetched, looked
//! up after a lost answer) and through the platform (asked once, settled by the provider's
//! report or by the monitor asking).

use super::{
    Connects, Delivery, Fixture, Order, PRICE, Paid, deliver, dropping_server, fixture_account,
    open, quick, status_of,
};
use crate::support::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::gateways::{Gateway, GatewayError, RefundRequest, RefundStatus};
use std::time::Duration;
use wiremock::{MockServer, ResponseTemplate};

/// A payment captured through the platform: [`open`], then an authentic capture webhook
/// (confirmed by the status query where the provider needs that), applied.
pub async fn captured<F: Fixture>(label: &str) -> (MockServer, TestApp, Merchant, Order) {
    let (server, app, merchant, order) = open::<F>(label).await;
    if F::CONFIRMS_WEBHOOKS {
        F::mount_captured(&app, &server, &order, Paid::IN_FULL).await;
    }
    let delivery = F::captured_webhook(&app, &order, Paid::IN_FULL).await;
    assert_eq!(deliver::<F>(&app, &delivery).await, StatusCode::OK);
    app.drain().await;
    assert_eq!(status_of(&app, &merchant, &order).await, "succeeded");
    (server, app, merchant, order)
}

/// Asks the merchant's API for a refund of `amount` of the payment `id`; our refund id.
pub async fn ask_refund(app: &TestApp, merchant: &Merchant, id: &str, amount: i64) -> String {
    let (status, body) = send(
        app.http
            .post(app.url(&format!("/api/v1/transactions/{id}/refunds")))
            .header("X-Client-Key", &merchant.client_key)
            .header("X-Client-Secret", &merchant.client_secret)
            .json(&json!({ "amount": amount })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["data"]["id"].as_str().unwrap().to_string()
}

/// The refund `refund`, as the merchant's API shows it.
pub async fn read_refund(app: &TestApp, merchant: &Merchant, refund: &str) -> Value {
    let (status, body) = app
        .get_with_key(
            &format!("/api/v1/refunds/{refund}"),
            &merchant.client_key,
            &merchant.client_secret,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"].clone()
}

/// A provider whose refunds can be found by our refund id, so a refund create whose answer was
/// lost is looked up rather than asked again.
#[allow(async_fn_in_trait)]
pub trait RefundsAmbiguously: Connects {
    /// Our id of a refund the gateway has (its create's answer was lost).
    const FOUND: &'static str;
    /// Our id of a refund the gateway never had.
    const MISSING: &'static str;
    /// A refund of the fixture's captured payment under our id `refund_id`.
    fn refund(refund_id: &str) -> RefundRequest;
    /// Mounts the gateway's refund lookup by our id: [`RefundsAmbiguously::FOUND`] is known,
    /// [`RefundsAmbiguously::MISSING`] is not.
    async fn mount_refund_lookup(server: &MockServer);
    /// The gateway's id and the status of the refund found.
    fn found_as() -> (&'static str, RefundStatus);
    /// Whether `request` asks the gateway for a refund.
    fn is_refund_create(request: &wiremock::Request) -> bool;
}

/// A refund create whose answer was lost is ambiguous; the later lookup by our refund id finds
/// it (or finds there is none) without ever asking for the refund again.
pub async fn an_ambiguous_refund_is_found_by_our_id_never_asked_twice<F: RefundsAmbiguously>() {
    let account = fixture_account::<F>();
    let lost = quick::<F>(&dropping_server().await)
        .create_refund(&account, &F::refund(F::FOUND))
        .await
        .unwrap_err();
    assert!(matches!(lost, GatewayError::Ambiguous(_)), "{lost:?}");

    let server = MockServer::start().await;
    F::mount_refund_lookup(&server).await;
    let gateway = quick::<F>(&server.uri());
    let found = gateway
        .fetch_refund(&account, &F::refund(F::FOUND), None)
        .await
        .unwrap()
        .expect("the refund is found by our id");
    let (gateway_id, status) = F::found_as();
    assert_eq!(found.gateway_refund_id.as_deref(), Some(gateway_id));
    assert_eq!(found.status, status);
    let missing = gateway
        .fetch_refund(&account, &F::refund(F::MISSING), None)
        .await
        .unwrap();
    assert_eq!(missing, None, "the gateway never had it: safe to ask");
    let requests = server.received_requests().await.unwrap();
    assert!(
        !requests.iter().any(F::is_refund_create),
        "a lookup never asks for the refund: {requests:?}"
    );
}

/// A provider whose refund create the contract checks against its documented request and answer.
#[allow(async_fn_in_trait)]
pub trait CreatesRefunds: RefundsAmbiguously {
    /// Our id of the refund created.
    const CREATED: &'static str = "rfd_1";
    /// The gateway's id for the refund created.
    const CREATED_AS: &'static str;
    /// Where the documented answer says the refund stands (the sandbox settles at once).
    const CREATED_STATUS: RefundStatus = RefundStatus::Pending;
    /// The refund asked for: [`RefundsAmbiguously::refund`] of [`CreatesRefunds::CREATED`],
    /// unless the documented request carries more (a reason).
    fn documented_refund() -> RefundRequest {
        Self::refund(Self::CREATED)
    }
    /// Mounts the refund create, matching only the documented request (authentication,
    /// encoding, hash, amount) and answering as documented.
    async fn mount_documented_refund(server: &MockServer);
    /// Checks what was sent beyond what the mock matched (our id, the exact amount, encoding).
    fn assert_refund_sent(request: &wiremock::Request);
}

/// A refund is created with one request as documented, under our id and for the exact amount;
/// the answer gives the gateway's id and where the refund stands.
pub async fn a_refund_is_created_with_our_id_and_the_exact_amount<F: CreatesRefunds>() {
    let server = MockServer::start().await;
    F::mount_documented_refund(&server).await;
    let refund = F::documented_refund();
    let report = quick::<F>(&server.uri())
        .create_refund(&fixture_account::<F>(), &refund)
        .await
        .unwrap();
    assert_eq!(report.status, F::CREATED_STATUS);
    assert_eq!(report.refund_id.as_deref(), Some(refund.refund_id.as_str()));
    assert_eq!(report.gateway_refund_id.as_deref(), Some(F::CREATED_AS));
    let requests = server.received_requests().await.unwrap();
    let creates: Vec<_> = requests.iter().filter(|r| F::is_refund_create(r)).collect();
    assert_eq!(creates.len(), 1, "one request: {requests:?}");
    F::assert_refund_sent(creates[0]);
}

/// A provider whose refund create's failures the contract classifies through its documented
/// error answers.
#[allow(async_fn_in_trait)]
pub trait ClassifiesRefundErrors: CreatesRefunds {
    /// Our id of the refund asked for (and, when repeated, read back).
    const REPEATED: &'static str = "rfd_x";
    /// Mounts the refund create answering `response`, and the read the connector makes after a
    /// repeated id.
    async fn mount_refund_answer(server: &MockServer, response: ResponseTemplate);
    /// The provider's documented refusal of a refund (too large, out of its window, done).
    fn refund_refused() -> ResponseTemplate;
    /// Answers after which the refund may exist (server errors, the provider's timeouts).
    fn refund_maybe_made() -> Vec<ResponseTemplate>;
    /// The documented answer to an id already used, and what reading the refund back gives:
    /// the gateway's id and the status (`None`: none is documented, or the provider replays
    /// the first answer).
    fn repeated_id() -> Option<(ResponseTemplate, &'static str, RefundStatus)> {
        None
    }
}

/// A refused refund is declined (never retried); one that may have been made is ambiguous (looked
/// up, never asked again blindly); an id already used reads the refund back, not an error.
pub async fn refund_errors_are_classified_and_a_repeated_id_reads_the_refund_back<
    F: ClassifiesRefundErrors,
>() {
    async fn against<F: ClassifiesRefundErrors>(
        response: ResponseTemplate,
    ) -> Result<shared::gateways::RefundReport, GatewayError> {
        let server = MockServer::start().await;
        F::mount_refund_answer(&server, response).await;
        quick::<F>(&server.uri())
            .create_refund(&fixture_account::<F>(), &F::refund(F::REPEATED))
            .await
    }
    let refused = against::<F>(F::refund_refused()).await.unwrap_err();
    assert!(matches!(refused, GatewayError::Declined(_)), "{refused:?}");
    for response in F::refund_maybe_made() {
        let lost = against::<F>(response).await.unwrap_err();
        assert!(
            matches!(lost, GatewayError::Ambiguous(_)),
            "the refund may exist: {lost:?}"
        );
    }
    if let Some((response, gateway_id, status)) = F::repeated_id() {
        let existing = against::<F>(response).await.unwrap();
        assert_eq!(existing.status, status);
        assert_eq!(existing.refund_id.as_deref(), Some(F::REPEATED));
        assert_eq!(existing.gateway_refund_id.as_deref(), Some(gateway_id));
    }
}

/// One documented refund answer (mounted by the fixture) and what the connector makes of it.
#[derive(Debug, Clone)]
pub struct KnownRefund {
    /// Our id of the refund asked about.
    pub refund_id: &'static str,
    /// The gateway's id it is asked with, once the platform has one.
    pub asked_with: Option<&'static str>,
    /// Where it stands (`None`: the gateway has no such refund).
    pub status: Option<RefundStatus>,
    /// The gateway's id the report carries, when checked.
    pub gateway_refund_id: Option<&'static str>,
    /// The failure reason the report carries, when checked.
    pub failure_reason: Option<&'static str>,
}

impl KnownRefund {
    /// Our refund `refund_id`, asked about with the gateway's id `asked_with`, stands at `status`.
    pub fn is(
        refund_id: &'static str,
        asked_with: Option<&'static str>,
        status: RefundStatus,
    ) -> KnownRefund {
        KnownRefund {
            refund_id,
            asked_with,
            status: Some(status),
            gateway_refund_id: None,
            failure_reason: None,
        }
    }

    /// Asking about our refund `refund_id` with the gateway's id `asked_with` finds nothing.
    pub fn unknown(refund_id: &'static str, asked_with: Option<&'static str>) -> KnownRefund {
        KnownRefund {
            status: None,
            ..KnownRefund::is(refund_id, asked_with, RefundStatus::Pending)
        }
    }

    /// …carrying the gateway's id `id`.
    pub fn known_as(mut self, id: &'static str) -> KnownRefund {
        self.gateway_refund_id = Some(id);
        self
    }

    /// …carrying the failure reason `reason`.
    pub fn failing(mut self, reason: &'static str) -> KnownRefund {
        self.failure_reason = Some(reason);
        self
    }
}

/// A provider whose refund status answers the contract maps.
#[allow(async_fn_in_trait)]
pub trait FetchesRefunds: RefundsAmbiguously {
    /// Mounts the documented refund answers of [`FetchesRefunds::known_refunds`].
    async fn mount_refund_statuses(server: &MockServer);
    /// The documented refund answers and what each must give.
    fn known_refunds() -> Vec<KnownRefund>;
}

/// Every documented refund answer maps to where the refund stands, with its ids and failure
/// reason; fetching never asks for a refund.
pub async fn fetches_a_refund_by_our_id<F: FetchesRefunds>() {
    let server = MockServer::start().await;
    F::mount_refund_statuses(&server).await;
    let gateway = quick::<F>(&server.uri());
    let account = fixture_account::<F>();
    for case in F::known_refunds() {
        let (refund_id, asked_with) = (case.refund_id, case.asked_with);
        let report = gateway
            .fetch_refund(&account, &F::refund(refund_id), asked_with)
            .await
            .unwrap();
        let Some(status) = case.status else {
            assert_eq!(report, None, "{refund_id} ({asked_with:?}) is unknown");
            continue;
        };
        let report = report.unwrap_or_else(|| panic!("{refund_id} ({asked_with:?}) is found"));
        assert_eq!(report.status, status, "{refund_id} ({asked_with:?})");
        assert_eq!(report.refund_id.as_deref(), Some(refund_id));
        if let Some(id) = case.gateway_refund_id {
            assert_eq!(report.gateway_refund_id.as_deref(), Some(id), "{refund_id}");
        }
        if let Some(reason) = case.failure_reason {
            assert_eq!(
                report.failure_reason.as_deref(),
                Some(reason),
                "{refund_id}"
            );
        }
    }
    let requests = server.received_requests().await.unwrap();
    assert!(
        !requests.iter().any(F::is_refund_create),
        "fetching never asks for a refund: {requests:?}"
    );
}

/// What the provider reports about a settled refund: the authentic report and its forgeries.
#[derive(Debug, Clone)]
pub struct RefundReports {
    /// The authentic report (webhook, callback) that the refund succeeded.
    pub authentic: Delivery,
    /// Reports that must be refused: tampered, signed with another secret…
    pub forged: Vec<(&'static str, Delivery)>,
}

/// A provider whose refunds the contract follows through the platform: asked once, settled by
/// the provider's report, or by the monitor asking.
#[allow(async_fn_in_trait)]
pub trait SettlesRefunds: RefundsAmbiguously {
    /// The gateway's id for the refunds it accepts.
    const GATEWAY_REFUND: &'static str;
    /// Mounts the refund create for `order`'s capture: any refund is accepted, pending under
    /// [`SettlesRefunds::GATEWAY_REFUND`], answered after `delay`.
    async fn mount_refund_accepted(server: &MockServer, order: &Order, delay: Duration);
    /// Checks the refund create's request: `order`'s payment, our id `refund`, `amount`.
    fn assert_refund_asked(request: &wiremock::Request, order: &Order, refund: &str, amount: i64);
    /// Mounts the gateway's lookup by our id `refund`: it succeeded, for `amount`.
    async fn mount_refund_found(server: &MockServer, order: &Order, refund: &str, amount: i64);
    /// Mounts the gateway's status answer for the refund `refund` it accepted: it succeeded,
    /// for `amount`. By default the lookup by our id, for gateways that read refunds by it.
    async fn mount_refund_settled(server: &MockServer, order: &Order, refund: &str, amount: i64) {
        Self::mount_refund_found(server, order, refund, amount).await;
    }
    /// The provider's report that `refund` of `amount` succeeded (`None`, the default: it
    /// sends none, so only the monitor and the lookups settle refunds).
    async fn refund_reports(
        _app: &TestApp,
        _order: &Order,
        _refund: &str,
        _amount: i64,
    ) -> Option<RefundReports> {
        None
    }
}

/// The requests that asked the gateway for a refund.
async fn refund_asks<F: SettlesRefunds>(server: &MockServer) -> Vec<wiremock::Request> {
    let requests = server.received_requests().await.unwrap();
    requests.into_iter().filter(F::is_refund_create).collect()
}

/// A refund is asked of the gateway once, as documented, and stays pending; forged reports are
/// refused; the authentic report, however often it comes, settles it.
pub async fn a_refund_is_asked_once_and_settled_by_the_providers_report<F: SettlesRefunds>() {
    let (server, app, merchant, order) = captured::<F>("contract_refund").await;
    F::mount_refund_accepted(&server, &order, Duration::ZERO).await;
    let refund = ask_refund(&app, &merchant, &order.id, 10_000).await;
    app.drain().await;
    let pending = read_refund(&app, &merchant, &refund).await;
    assert_eq!(pending["status"], "pending", "{pending}");
    assert_eq!(pending["gateway_refund_id"], F::GATEWAY_REFUND, "{pending}");
    let asks = refund_asks::<F>(&server).await;
    assert_eq!(asks.len(), 1, "the refund is asked once");
    F::assert_refund_asked(&asks[0], &order, &refund, 10_000);

    let Some(reports) = F::refund_reports(&app, &order, &refund, 10_000).await else {
        return;
    };
    for (label, forged) in reports.forged {
        assert_eq!(
            deliver::<F>(&app, &forged).await,
            StatusCode::UNAUTHORIZED,
            "{label}"
        );
    }
    for _ in 0..2 {
        assert_eq!(deliver::<F>(&app, &reports.authentic).await, StatusCode::OK);
    }
    app.drain().await;
    assert_eq!(
        read_refund(&app, &merchant, &refund).await["status"],
        "succeeded"
    );
    assert_eq!(
        status_of(&app, &merchant, &order).await,
        "partially_refunded"
    );
}

/// A refund create whose answer never arrived is looked up by our id and found settled; it is
/// never asked for twice.
pub async fn an_ambiguous_refund_is_looked_up_never_asked_twice<F: SettlesRefunds>() {
    let (server, app, merchant, order) = captured::<F>("contract_refund_lost").await;
    F::mount_refund_accepted(&server, &order, Duration::from_secs(3)).await;
    let refund = ask_refund(&app, &merchant, &order.id, PRICE).await;
    F::mount_refund_found(&server, &order, &refund, PRICE).await;
    app.drain().await;
    assert_eq!(
        read_refund(&app, &merchant, &refund).await["status"],
        "succeeded"
    );
    assert_eq!(status_of(&app, &merchant, &order).await, "refunded");
    assert_eq!(
        refund_asks::<F>(&server).await.len(),
        1,
        "a refund is never asked for twice"
    );
}

/// A pending refund no report settles is asked about by the monitor once it has been quiet long
/// enough, and the gateway's answer settles it.
pub async fn the_monitor_settles_a_quiet_pending_refund_by_asking_the_gateway<F: SettlesRefunds>() {
    let (server, app, merchant, order) = captured::<F>("contract_refund_poll").await;
    F::mount_refund_accepted(&server, &order, Duration::ZERO).await;
    let refund = ask_refund(&app, &merchant, &order.id, 20_000).await;
    app.drain().await;
    assert_eq!(
        read_refund(&app, &merchant, &refund).await["status"],
        "pending"
    );
    F::mount_refund_settled(&server, &order, &refund, 20_000).await;
    // No report comes; once the refund has been quiet long enough the monitor asks.
    app.db
        .owner()
        .await
        .execute(
            "UPDATE refunds SET updated_at = now() - interval '1 hour'",
            &[],
        )
        .await
        .unwrap();
    let before = server.received_requests().await.unwrap().len();
    let run = shared::payments::monitor::run(&app.app).await.unwrap();
    assert_eq!(run.refunds_checked, 1);
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        before + 1,
        "the monitor asks the gateway once"
    );
    assert_eq!(
        read_refund(&app, &merchant, &refund).await["status"],
        "succeeded"
    );
    assert_eq!(
        status_of(&app, &merchant, &order).await,
        "partially_refunded"
    );
}
