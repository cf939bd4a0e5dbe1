//! Refunds as the contract drives them: at the connector, a refund create whose answer was lost
//! is looked up by our refund id.

use super::{Connects, dropping_server, fixture_account, quick};
use shared::gateways::{Gateway, GatewayError, RefundRequest, RefundStatus};
use wiremock::MockServer;

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
