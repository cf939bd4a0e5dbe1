//! Cashfree against a mock of its PG APIs that answers as the documented ones do: the
//! `x-client-id` / `x-client-secret` / `x-api-version` headers, JSON with rupee amounts,
//! `{"message","code","type"}` error bodies, and webhooks signed with the client secret.

use super::contract::{
    BrowserReturn, CreatesRefunds, Delivery, Documented, DocumentedError, DocumentedWebhook,
    Fixture, Kind, KnownRefund, Order, Paid, ParsesAs, RefundReports, Retried, quick,
};
use super::{account, dropping_server};
use crate::support::*;
use http::HeaderMap;
use serde_json::{Value, json};
use shared::gateways::PaymentOutcome;
use shared::gateways::cashfree::{Cashfree, webhook_signature};
use shared::gateways::endpoints::Endpoints;
use shared::gateways::{
    CreatedOrder, Gateway, GatewayError, Handoff, OrderRequest, RefundRequest, RefundStatus,
};
use shared::mode::Mode;
use shared::money::Currency;
use std::collections::BTreeMap;
use std::time::Duration;
use wiremock::matchers::{header, method, path, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const CLIENT_ID: &str = "TEST_EXAMPLE_CLIENT_ID_NOT_REAL";
const CLIENT_SECRET: &str = "cfsk_ma_test_EXAMPLE_NOT_REAL";

fn request(receipt: &str, amount: i64) -> OrderRequest {
    super::contract::order_request_to("cashfree", receipt, amount)
}

fn session(order_id: &str) -> String {
    format!("session_EXAMPLE_{order_id}")
}

/// An order entity as `POST /pg/orders` and `GET /pg/orders/{id}` return it (2025-01-01).
fn order_entity(order_id: &str, status: &str) -> Value {
    json!({
        "cf_order_id": "2149460581", "created_at": "2025-05-05T12:00:00+05:30",
        "customer_details": { "customer_id": "lsp_0123456789abcdef01234567", "customer_name": "Asha Verma",
                              "customer_email": "asha@example.in", "customer_phone": "9812345678",
                              "customer_uid": null },
        "entity": "order", "order_amount": 499, "order_currency": "INR",
        "order_expiry_time": "2025-06-04T12:00:00+05:30", "order_id": order_id,
        "order_meta": { "return_url": format!("https://lsp.example/return?order_id={order_id}"),
                        "notify_url": "https://lsp.example/api/v1/webhooks/cashfree", "payment_methods": null },
        "order_note": "Masala chai x 2", "order_splits": [], "order_status": status, "order_tags": null,
        "payment_session_id": session(order_id), "terminal_data": null, "cart_details": null
    })
}

/// A payment entity as `GET /pg/orders/{id}/payments` lists it.
fn payment_entity(cf_payment_id: &str, order_id: &str, status: &str, time: &str) -> Value {
    let failed = status == "FAILED";
    json!({
        "cf_payment_id": cf_payment_id, "order_id": order_id, "entity": "payment",
        "error_details": if failed {
            json!({ "error_code": "TRANSACTION_DECLINED", "error_description": "issuer bank declined the transaction",
                    "error_reason": "bank_rejected", "error_source": "customer" })
        } else { Value::Null },
        "is_captured": status == "SUCCESS", "order_amount": 499, "payment_group": "upi",
        "payment_currency": "INR", "payment_amount": 499, "payment_time": time,
        "payment_completion_time": time, "payment_status": status,
        "payment_message": match status {
            "SUCCESS" => "00::Transaction success",
            "FAILED" => "Transaction declined by the bank",
            "USER_DROPPED" => "Customer closed the payment page",
            _ => "",
        },
        "bank_reference": "234928698581", "auth_id": null,
        "payment_method": { "upi": { "channel": "collect", "upi_id": "asha@okaxis" } }
    })
}

/// A refund entity as the refund endpoints return it.
fn refund_entity(refund_id: &str, order_id: &str, status: &str) -> Value {
    json!({
        "cf_payment_id": "5114910000001", "cf_refund_id": format!("cf_{refund_id}"),
        "refund_id": refund_id, "order_id": order_id, "entity": "refund", "refund_amount": 100,
        "refund_currency": "INR", "refund_note": "Customer changed mind", "refund_status": status,
        "refund_arn": null, "refund_charge": 0,
        "status_description": match status {
            "SUCCESS" => "Refund processed successfully",
            "CANCELLED" => "Refund cancelled after multiple attempts",
            "FAILED" => "Bank account is closed",
            _ => "In Progress",
        },
        "metadata": null, "refund_splits": [], "refund_type": "MERCHANT_INITIATED",
        "refund_mode": "STANDARD", "created_at": "2025-05-06T10:00:00+05:30",
        "processed_at": null, "refund_speed": { "requested": "STANDARD", "accepted": "STANDARD" }
    })
}

fn error(kind: &str, code: &str, message: &str) -> Value {
    json!({ "message": message, "code": code, "type": kind,
            "help": "Check latest errors and resolution from Merchant Dashboard API logs" })
}

fn sent_json(request: &Request) -> Value {
    serde_json::from_slice(&request.body).unwrap()
}

fn raw_body(request: &Request) -> String {
    String::from_utf8(request.body.clone()).unwrap()
}

/// Answers a create as Cashfree does: the order carries the id it was made with.
fn echo_order(request: &Request) -> ResponseTemplate {
    let sent = sent_json(request);
    let order_id = sent["order_id"].as_str().unwrap_or_default();
    let mut order = order_entity(order_id, "ACTIVE");
    order["order_amount"] = sent["order_amount"].clone();
    ResponseTemplate::new(200).set_body_json(order)
}

/// Answers a read of `/pg/orders/{id}` with that order.
fn echo_read(status: &'static str) -> impl Fn(&Request) -> ResponseTemplate + Send + Sync {
    move |request: &Request| {
        let order_id = request.url.path().rsplit('/').next().unwrap_or_default();
        ResponseTemplate::new(200).set_body_json(order_entity(order_id, status))
    }
}

fn authenticated(mock: wiremock::MockBuilder) -> wiremock::MockBuilder {
    mock.and(header("x-client-id", CLIENT_ID))
        .and(header("x-client-secret", CLIENT_SECRET))
        .and(header("x-api-version", "2025-01-01"))
}

#[tokio::test]
async fn creates_an_order_with_the_receipt_as_id_and_an_exact_rupee_amount() {
    let server = MockServer::start().await;
    authenticated(Mock::given(method("POST")).and(path("/pg/orders")))
        .and(header("content-type", "application/json"))
        .respond_with(echo_order)
        .expect(3)
        .mount(&server)
        .await;
    let gateway = quick::<Contract>(&server.uri());
    let acc = account(&Contract::credentials());
    // The first create's answer and fields: `contract::cashfree::an_order_is_created_with…`.
    gateway
        .create_order(&acc, &request("att_1", 49_900))
        .await
        .unwrap();
    gateway
        .create_order(&acc, &request("att_2", 10_001))
        .await
        .unwrap();
    gateway
        .create_order(&acc, &request("att_3", 7))
        .await
        .unwrap();

    let requests = server.received_requests().await.unwrap();
    assert!(raw_body(&requests[1]).contains("\"order_amount\":100.01"));
    assert!(raw_body(&requests[2]).contains("\"order_amount\":0.07"));
    let sent = sent_json(&requests[0]);
    let customer = &sent["customer_details"];
    let customer_id = customer["customer_id"].as_str().unwrap();
    assert!(
        !customer_id.is_empty()
            && customer_id.len() <= 50
            && customer_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
        "{customer_id}"
    );
    assert!(!customer_id.contains("9812345678") && !customer_id.contains("asha"));
    assert_eq!(
        sent_json(&requests[1])["customer_details"]["customer_id"],
        customer_id,
        "the same customer, the same id"
    );
}

#[tokio::test]
async fn a_409_for_the_receipt_uses_the_existing_order() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/pg/orders"))
        .respond_with(ResponseTemplate::new(409).set_body_json(error(
            "invalid_request_error",
            "order_already_exists",
            "order with same id is already present",
        )))
        .mount(&server)
        .await;
    authenticated(Mock::given(method("GET")).and(path("/pg/orders/att_dup")))
        .respond_with(echo_read("ACTIVE"))
        .expect(1)
        .mount(&server)
        .await;
    let gateway = quick::<Contract>(&server.uri());
    let acc = account(&Contract::credentials());
    let existing = gateway
        .create_order(&acc, &request("att_dup", 49_900))
        .await
        .unwrap();
    assert_eq!(existing.reference, "att_dup");
    assert_eq!(existing.checkout_token, Some(session("att_dup").into()));

    // Said to exist but not readable yet: unsettled, so the platform asks again later.
    let lagging = gateway
        .create_order(&acc, &request("att_lag", 49_900))
        .await
        .unwrap_err();
    assert!(matches!(lagging, GatewayError::Ambiguous(_)), "{lagging:?}");
    let posts = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.method == http::Method::POST)
        .count();
    assert_eq!(posts, 2, "each create was sent once, never repeated");
}

/// The documented error answers: `contract::cashfree::a_failed_create_is_classified…` and
/// `contract::cashfree::a_failed_status_query…`. Here: what is refused before anything is sent.
#[tokio::test]
async fn an_order_id_or_a_secret_cashfree_cannot_take_is_refused_before_sending() {
    let acc = account(&Contract::credentials());
    let odd = quick::<Contract>("http://mock.invalid")
        .create_order(&acc, &request("att 1/../x", 49_900))
        .await
        .unwrap_err();
    assert!(matches!(odd, GatewayError::Declined(_)), "{odd:?}");
    let unusable = quick::<Contract>(&dropping_server().await)
        .create_order(
            &account(&[("client_id", CLIENT_ID), ("client_secret", "line\nbreak")]),
            &request("att_err", 49_900),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(unusable, GatewayError::Configuration(_)),
        "refused before sending: {unusable:?}"
    );
}

async fn mount_order(server: &MockServer, order_id: &str, status: &str, payments: Vec<Value>) {
    Mock::given(method("GET"))
        .and(path(format!("/pg/orders/{order_id}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(order_entity(order_id, status)))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/pg/orders/{order_id}/payments")))
        .respond_with(ResponseTemplate::new(200).set_body_json(Value::Array(payments)))
        .mount(server)
        .await;
}

fn refund_request(refund_id: &str, reason: Option<&str>) -> RefundRequest {
    RefundRequest {
        refund_id: refund_id.into(),
        reference: "att_paid".into(),
        payment_id: Some("5114910000001".into()),
        receipt: "att_paid".into(),
        amount: 10_000,
        payment_amount: 49_900,
        currency: Currency::Inr,
        reason: reason.map(str::to_string),
        notify_url: "https://lsp.example/api/v1/webhooks/cashfree".into(),
    }
}

/// The documented create: `contract::cashfree::a_refund_is_created_with_our_id…`.
#[tokio::test]
async fn a_refund_without_a_reason_sends_no_note() {
    let server = MockServer::start().await;
    <Contract as CreatesRefunds>::mount_documented_refund(&server).await;
    quick::<Contract>(&server.uri())
        .create_refund(
            &account(&Contract::credentials()),
            &refund_request("rfd_2", None),
        )
        .await
        .unwrap();
    let requests = server.received_requests().await.unwrap();
    assert!(sent_json(&requests[0]).get("refund_note").is_none());
}

#[test]
fn the_handoff_page_needs_the_session_and_uses_the_real_host_in_live_mode() {
    // The page itself: `contract::cashfree::the_handoff_page_carries_public_values_only`.
    let gateway = quick::<Contract>("http://mock.invalid");
    let created = <Contract as super::contract::CreatesOrders>::created("http://mock.invalid");
    let without_session = CreatedOrder {
        checkout_token: None,
        ..created.clone()
    };
    assert!(
        gateway
            .handoff(
                &account(&Contract::credentials()),
                &request("att_1", 49_900),
                &without_session
            )
            .is_err()
    );
    let mut live = account(&Contract::credentials());
    live.environment = Mode::Live;
    let Ok(Handoff::Html(real)) = gateway.handoff(&live, &request("att_1", 49_900), &created)
    else {
        panic!("a page")
    };
    assert!(
        real.contains("https://sdk.cashfree.com/js/v3/cashfree.js"),
        "only the test host is replaced"
    );
    assert!(real.contains("\"mode\":\"production\""));
}

#[test]
fn the_return_is_accepted_only_when_it_names_an_order() {
    let gateway = quick::<Contract>("http://mock.invalid");
    let acc = account(&Contract::credentials());
    let params = BTreeMap::from([("order_id".to_string(), "att_1".to_string())]);
    assert_eq!(
        gateway.verify_return(&acc, &params).as_deref(),
        Some("att_1")
    );
    assert_eq!(gateway.verify_return(&acc, &BTreeMap::new()), None);
    let odd = BTreeMap::from([("order_id".to_string(), "att_1?x=<y>".to_string())]);
    assert_eq!(gateway.verify_return(&acc, &odd), None);
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A payment webhook body as Cashfree sends it (2025-01-01), one line, amounts as `499.00`.
fn payment_event(kind: &str, order_id: &str, cf_payment_id: &str, status: &str) -> Vec<u8> {
    let message = match status {
        "SUCCESS" => "00::Transaction success",
        "FAILED" => "Transaction declined by the bank",
        _ => "Customer closed the payment page",
    };
    format!(
        "{{\"data\":{{\"order\":{{\"order_id\":\"{order_id}\",\"order_amount\":499.00,\"order_currency\":\"INR\",\"order_tags\":null}},\
         \"payment\":{{\"cf_payment_id\":\"{cf_payment_id}\",\"payment_status\":\"{status}\",\"payment_amount\":499.00,\
         \"payment_currency\":\"INR\",\"payment_message\":\"{message}\",\"payment_time\":\"2025-05-05T12:19:19+05:30\",\
         \"bank_reference\":\"234928698581\",\"auth_id\":null,\"payment_method\":{{\"upi\":{{\"channel\":\"collect\",\"upi_id\":\"asha@okaxis\"}}}},\
         \"payment_group\":\"upi\"}},\"customer_details\":{{\"customer_name\":\"Asha Verma\",\"customer_id\":\"lsp_x\",\
         \"customer_email\":\"asha@example.in\",\"customer_phone\":\"9812345678\"}},\
         \"payment_gateway_details\":{{\"gateway_name\":\"CASHFREE\",\"gateway_order_id\":null,\"gateway_payment_id\":null}},\
         \"payment_offers\":null}},\"event_time\":\"2025-05-05T12:19:20+05:30\",\"type\":\"{kind}\"}}"
    )
    .into_bytes()
}

fn signed_headers(secret: &str, timestamp: i64, body: &[u8], key: Option<&str>) -> HeaderMap {
    let timestamp = timestamp.to_string();
    let mut headers = HeaderMap::new();
    headers.insert(
        "x-webhook-signature",
        webhook_signature(secret, &timestamp, body).parse().unwrap(),
    );
    headers.insert("x-webhook-timestamp", timestamp.parse().unwrap());
    headers.insert("x-webhook-version", "2025-01-01".parse().unwrap());
    headers.insert("x-webhook-attempt", "1".parse().unwrap());
    if let Some(key) = key {
        headers.insert("x-idempotency-key", key.parse().unwrap());
    }
    headers
}

#[test]
fn webhooks_are_verified_on_the_raw_body_with_a_fresh_millisecond_timestamp() {
    let gateway = quick::<Contract>("http://mock.invalid");
    let acc = account(&Contract::credentials());
    let body = payment_event(
        "PAYMENT_SUCCESS_WEBHOOK",
        "att_1",
        "5114910000001",
        "SUCCESS",
    );
    let good = signed_headers(CLIENT_SECRET, now_ms(), &body, Some("idem_EXAMPLE_1"));
    assert!(gateway.verify_webhook(&acc, &good, &body));
    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    assert!(!gateway.verify_webhook(&acc, &good, &tampered));
    let reformatted = String::from_utf8(body.clone())
        .unwrap()
        .replace("499.00", "499")
        .into_bytes();
    assert!(
        !gateway.verify_webhook(&acc, &good, &reformatted),
        "the raw body, not a re-serialised one"
    );
    let stale = signed_headers(CLIENT_SECRET, now_ms() - 301_000, &body, None);
    assert!(
        !gateway.verify_webhook(&acc, &stale, &body),
        "replayed late"
    );
    let future = signed_headers(CLIENT_SECRET, now_ms() + 301_000, &body, None);
    assert!(!gateway.verify_webhook(&acc, &future, &body));
    let seconds = signed_headers(CLIENT_SECRET, now_ms() / 1000, &body, None);
    assert!(
        !gateway.verify_webhook(&acc, &seconds, &body),
        "the timestamp is in milliseconds"
    );
    let wrong = signed_headers(CLIENT_ID, now_ms(), &body, None);
    assert!(
        !gateway.verify_webhook(&acc, &wrong, &body),
        "the client secret is the key"
    );
    let mut no_timestamp = good.clone();
    no_timestamp.remove("x-webhook-timestamp");
    assert!(!gateway.verify_webhook(&acc, &no_timestamp, &body));
    let mut no_signature = good.clone();
    no_signature.remove("x-webhook-signature");
    assert!(!gateway.verify_webhook(&acc, &no_signature, &body));
    assert!(!gateway.verify_webhook(&acc, &HeaderMap::new(), &body));
}

/// Parsing by type: `contract::cashfree::webhooks_are_parsed_by_type`.
#[test]
fn the_event_id_is_the_bodys_hash_not_the_unsigned_key() {
    let gateway = quick::<Contract>("http://mock.invalid");
    let body = payment_event(
        "PAYMENT_SUCCESS_WEBHOOK",
        "att_1",
        "5114910000001",
        "SUCCESS",
    );
    let keyed = signed_headers(CLIENT_SECRET, now_ms(), &body, Some("idem_EXAMPLE_1"));
    let ok = gateway.parse_webhook(&keyed, &body).unwrap();
    assert!(ok.event_id.starts_with("sha256:"), "{}", ok.event_id);
    let unkeyed = gateway.parse_webhook(&HeaderMap::new(), &body).unwrap();
    assert_eq!(
        unkeyed.event_id, ok.event_id,
        "the unsigned idempotency key does not make the id (F8)"
    );
}

/// Cashfree as the connector contract drives it (`contract::cashfree::…`).
pub struct Contract;

/// The payment id Cashfree gives the contract's captures.
const CONTRACT_PAYMENT: &str = "5114910000009";

impl super::contract::Fixture for Contract {
    const PROVIDER: &'static str = "cashfree";

    fn credentials() -> Vec<(&'static str, &'static str)> {
        vec![("client_id", CLIENT_ID), ("client_secret", CLIENT_SECRET)]
    }
    const CONFIRMS_WEBHOOKS: bool = true;

    async fn mount_create(server: &MockServer, _label: &str) {
        Mock::given(method("POST"))
            .and(path("/pg/orders"))
            .respond_with(echo_order)
            .mount(server)
            .await;
    }

    /// The order is made under our receipt.
    fn expected_reference(_label: &str, receipt: &str) -> Option<String> {
        Some(receipt.to_string())
    }

    async fn mount_captured(_app: &TestApp, server: &MockServer, order: &Order, paid: Paid) {
        let mut payment = payment_entity(
            CONTRACT_PAYMENT,
            &order.reference,
            "SUCCESS",
            "2025-05-05T12:19:19+05:30",
        );
        payment["payment_amount"] = if paid.amount % 100 == 0 {
            json!(paid.amount / 100)
        } else {
            json!(paid.amount as f64 / 100.0)
        };
        payment["payment_currency"] = json!(paid.currency);
        mount_order(server, &order.reference, "PAID", vec![payment]).await;
    }

    async fn status_queries(server: &MockServer, order: &Order) -> Option<usize> {
        let asked = format!("/pg/orders/{}/payments", order.reference);
        Some(
            server
                .received_requests()
                .await
                .unwrap()
                .iter()
                .filter(|r| r.method == http::Method::GET && r.url.path() == asked)
                .count(),
        )
    }

    fn payment_id(_order: &Order) -> String {
        CONTRACT_PAYMENT.into()
    }

    /// The webhook's own amounts are the order's; the status query reports what was paid.
    async fn captured_webhook(_app: &TestApp, order: &Order, _paid: Paid) -> Delivery {
        signed_delivery(CLIENT_SECRET, now_ms(), contract_event(order))
    }

    async fn forged_webhooks(app: &TestApp, order: &Order) -> Vec<(&'static str, Delivery)> {
        let good = Self::captured_webhook(app, order, Paid::IN_FULL).await;
        vec![
            ("tampered", good.clone().tampered()),
            ("unsigned", good.clone().without("x-webhook-signature")),
            (
                "another secret",
                signed_delivery("cfsk_ma_test_NOT_THE_SECRET", now_ms(), good.body.clone()),
            ),
            (
                "stale: a replay",
                signed_delivery(CLIENT_SECRET, now_ms() - 600_000, good.body),
            ),
        ]
    }

    /// The delivery, Cashfree's retry (signed again, same idempotency key), and a replay of it.
    async fn repeated_webhooks(_app: &TestApp, order: &Order) -> Vec<Delivery> {
        let body = contract_event(order);
        let retry = signed_delivery(CLIENT_SECRET, now_ms() + 1, body.clone());
        vec![
            signed_delivery(CLIENT_SECRET, now_ms(), body),
            retry.clone(),
            retry,
        ]
    }

    async fn forged_returns(_app: &TestApp, _order: &Order) -> Vec<(&'static str, BrowserReturn)> {
        vec![
            (
                "another order",
                BrowserReturn::get(&[("order_id", "att_00000000000000000000000000000000")]),
            ),
            ("bare", BrowserReturn::get(&[])),
        ]
    }

    async fn real_return(_app: &TestApp, order: &Order) -> BrowserReturn {
        BrowserReturn::get(&[("order_id", order.reference.as_str())])
    }
}

/// The success webhook of the contract's capture of `order`.
fn contract_event(order: &Order) -> Vec<u8> {
    payment_event(
        "PAYMENT_SUCCESS_WEBHOOK",
        &order.reference,
        CONTRACT_PAYMENT,
        "SUCCESS",
    )
}

/// `body` as Cashfree delivers it, signed with `secret` at `timestamp` (milliseconds).
fn signed_delivery(secret: &str, timestamp: i64, body: Vec<u8>) -> Delivery {
    Delivery {
        headers: {
            let mut headers =
                signed_headers(secret, timestamp, &body, Some("idem_EXAMPLE_webhook"));
            headers.insert("content-type", "application/json".parse().unwrap());
            headers
        },
        body,
    }
}

impl super::contract::Creates for Contract {
    const CREATE_PATH: &'static str = "/pg/orders";

    fn created() -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_json(order_entity("att_err", "ACTIVE"))
    }
}

impl super::contract::ChecksCredentials for Contract {
    async fn mount_credential_check(server: &MockServer) {
        authenticated(Mock::given(method("GET")).and(path_regex("^/pg/orders/[A-Za-z0-9_-]+$")))
            .respond_with(ResponseTemplate::new(404).set_body_json(error(
                "invalid_request_error",
                "order_not_found",
                "order not found",
            )))
            .mount(server)
            .await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(401).set_body_json(error(
                "authentication_error",
                "request_failed",
                "authentication Failed",
            )))
            .mount(server)
            .await;
    }

    fn wrong() -> Vec<Vec<(&'static str, &'static str)>> {
        vec![vec![
            ("client_id", CLIENT_ID),
            ("client_secret", "cfsk_ma_test_WRONG"),
        ]]
    }

    fn incomplete() -> Vec<(&'static str, &'static str)> {
        vec![("client_id", CLIENT_ID)]
    }

    fn moves_no_money(request: &wiremock::Request) -> bool {
        request.method == http::Method::GET
    }
}

impl super::contract::LooksUpOrders for Contract {
    fn is_lookup(request: &Request, receipt: &str) -> bool {
        request.method == http::Method::GET && request.url.path() == format!("/pg/orders/{receipt}")
    }
}

impl super::contract::FindsByReceipt for Contract {
    const RECEIPT_FOUND: &'static str = "att_found";
    const RECEIPT_MISSING: &'static str = "att_missing";

    /// The receipt is the order id: the lookup reads the order.
    async fn mount_lookups(server: &MockServer) {
        authenticated(Mock::given(method("GET")).and(path("/pg/orders/att_found")))
            .respond_with(echo_read("ACTIVE"))
            .mount(server)
            .await;
        Mock::given(method("GET"))
            .and(path("/pg/orders/att_missing"))
            .respond_with(ResponseTemplate::new(404).set_body_json(error(
                "invalid_request_error",
                "order_not_found",
                "order not found",
            )))
            .mount(server)
            .await;
    }

    /// With the payment session the checkout needs.
    fn found() -> CreatedOrder {
        CreatedOrder {
            reference: "att_found".into(),
            pay_url: None,
            checkout_token: Some(session("att_found").into()),
        }
    }

    fn never_found() -> Vec<(&'static str, &'static str)> {
        vec![("att/../x", "an id Cashfree refuses cannot exist")]
    }

    /// Cashfree makes the order but answers too late: the request timed out on our side.
    async fn mount_late_create_found_by_lookup(server: &MockServer) {
        Mock::given(method("POST"))
            .and(path("/pg/orders"))
            .respond_with(|request: &Request| echo_order(request).set_delay(Duration::from_secs(3)))
            .mount(server)
            .await;
        Mock::given(method("GET"))
            .and(path_regex("^/pg/orders/att_[0-9a-f]+$"))
            .respond_with(echo_read("ACTIVE"))
            .mount(server)
            .await;
    }

    /// The receipt is the order id; the amount is exact rupees.
    fn assert_create_request(request: &Request, receipt: &str) {
        assert_eq!(sent_json(request)["order_id"], receipt);
        assert!(raw_body(request).contains("\"order_amount\":499.00"));
    }

    /// Cashfree's order id is our receipt.
    fn found_reference(receipt: &str) -> String {
        receipt.to_string()
    }
}

impl super::contract::RetriesCreates for Contract {
    /// The first create times out on our side; Cashfree refuses the order id from then on
    /// (409). The order is not readable at first (neither the lookup after the timeout nor the
    /// one before the next try finds it), and is afterwards: the 409 reads it back.
    async fn mount_lagging_create(server: &MockServer, _label: &str) {
        Mock::given(method("POST"))
            .and(path("/pg/orders"))
            .respond_with(|request: &Request| echo_order(request).set_delay(Duration::from_secs(3)))
            .up_to_n_times(1)
            .mount(server)
            .await;
        Mock::given(method("POST"))
            .and(path("/pg/orders"))
            .respond_with(ResponseTemplate::new(409).set_body_json(error(
                "invalid_request_error",
                "order_already_exists",
                "order with same id is already present",
            )))
            .mount(server)
            .await;
        Mock::given(method("GET"))
            .and(path_regex("^/pg/orders/att_[0-9a-f]+$"))
            .respond_with(ResponseTemplate::new(404).set_body_json(error(
                "invalid_request_error",
                "order_not_found",
                "order not found",
            )))
            .up_to_n_times(2)
            .mount(server)
            .await;
        Mock::given(method("GET"))
            .and(path_regex("^/pg/orders/att_[0-9a-f]+$"))
            .respond_with(echo_read("ACTIVE"))
            .mount(server)
            .await;
    }

    /// The receipt is the order id, which Cashfree holds once.
    fn made_for(request: &Request, receipt: &str) -> bool {
        sent_json(request)["order_id"] == receipt
    }

    fn retried_handoff(_base: &str, order: &Order) -> Retried {
        Retried::Page {
            shows: vec![format!(
                "\"paymentSessionId\":\"{}\"",
                session(&order.reference)
            )],
            hides: vec![CLIENT_SECRET],
        }
    }
}

impl super::contract::ParsesWebhooks for Contract {
    fn documented_webhooks() -> Vec<DocumentedWebhook> {
        let payment = |kind: &'static str, order: &'static str, id: &str, status: &str| {
            let (outcome, payment_id, failure_reason) = match status {
                "SUCCESS" => (PaymentOutcome::Succeeded, Some("5114910000001"), None),
                // The customer may retry.
                "FAILED" => (
                    PaymentOutcome::Pending,
                    None,
                    Some("Transaction declined by the bank"),
                ),
                _ => (
                    PaymentOutcome::Pending,
                    None,
                    Some("Customer closed the payment page"),
                ),
            };
            DocumentedWebhook {
                event_type: kind,
                body: payment_event(kind, order, id, status),
                parses_as: ParsesAs::Payment {
                    reference: order,
                    receipt: order,
                    outcome,
                    payment_id,
                    failure_reason,
                },
            }
        };
        vec![
            payment("PAYMENT_SUCCESS_WEBHOOK", "att_1", "5114910000001", "SUCCESS"),
            payment("PAYMENT_FAILED_WEBHOOK", "att_2", "5114910000002", "FAILED"),
            payment(
                "PAYMENT_USER_DROPPED_WEBHOOK",
                "att_2",
                "5114910000002",
                "USER_DROPPED",
            ),
            // The refund webhook sample in Cashfree's docs has numeric ids.
            DocumentedWebhook {
                event_type: "REFUND_STATUS_WEBHOOK",
                body: br#"{"data":{"refund":{"cf_refund_id":11325632,"cf_payment_id":789727431,"refund_id":"rfd_1","order_id":"att_1","refund_amount":2.00,"refund_currency":"INR","entity":"Refund","refund_type":"MERCHANT_INITIATED","refund_arn":"205907014017","refund_status":"SUCCESS","status_description":"Refund processed successfully","created_at":"2025-05-06T12:54:25+05:30","processed_at":"2025-05-06T13:04:27+05:30","refund_charge":0,"refund_note":"Test","refund_splits":[],"metadata":null,"refund_mode":"STANDARD"}},"event_time":"2025-05-06T13:04:28+05:30","type":"REFUND_STATUS_WEBHOOK"}"#.to_vec(),
                parses_as: ParsesAs::Refund {
                    reference: "att_1",
                    refund_id: "rfd_1",
                    gateway_refund_id: Some("11325632"),
                    status: RefundStatus::Succeeded,
                },
            },
            DocumentedWebhook {
                event_type: "PAYMENT_CHARGES_WEBHOOK",
                body: br#"{"data":{"charges":[{"amount":1.18}]},"event_time":"2025-05-05T12:19:20+05:30","type":"PAYMENT_CHARGES_WEBHOOK"}"#.to_vec(),
                parses_as: ParsesAs::Other { reference: None },
            },
        ]
    }

    fn unreadable_webhooks() -> Vec<(&'static str, Vec<u8>)> {
        vec![
            ("not JSON", b"not json".to_vec()),
            (
                "a success without its order cannot be applied",
                br#"{"data":{},"type":"PAYMENT_SUCCESS_WEBHOOK"}"#.to_vec(),
            ),
        ]
    }
}

impl super::contract::ClassifiesReadErrors for Contract {
    const ASKED: &'static str = "att_1";

    fn server_error() -> ResponseTemplate {
        ResponseTemplate::new(500).set_body_json(error(
            "api_error",
            "internal_error",
            "something went wrong",
        ))
    }

    fn too_many_requests() -> ResponseTemplate {
        ResponseTemplate::new(429)
            .insert_header("x-ratelimit-retry", "1")
            .set_body_json(error(
                "rate_limit_error",
                "request_limit_exceeded",
                "Too many requests",
            ))
    }

    async fn mount_status_answer(server: &MockServer, answer: ResponseTemplate) {
        Mock::given(method("GET"))
            .respond_with(answer)
            .mount(server)
            .await;
    }

    fn documented_read_errors() -> Vec<DocumentedError> {
        vec![
            DocumentedError::new(
                "an outage",
                ResponseTemplate::new(503).set_body_json(error("api_error", "unavailable", "down")),
                Kind::Retryable,
            ),
            DocumentedError::new(
                "wrong credentials",
                ResponseTemplate::new(401).set_body_json(error(
                    "authentication_error",
                    "request_failed",
                    "authentication Failed",
                )),
                Kind::Configuration,
            ),
        ]
    }
}

impl super::contract::ClassifiesCreateErrors for Contract {
    const THROTTLED_CREATE_IS_AMBIGUOUS: bool = true;

    fn documented_errors() -> Vec<DocumentedError> {
        vec![
            DocumentedError::new(
                "an invalid amount",
                ResponseTemplate::new(400).set_body_json(error(
                    "invalid_request_error",
                    "order_amount_invalid",
                    "order_amount : invalid value provided",
                )),
                Kind::Declined,
            )
            .mentioning("order_amount"),
            DocumentedError::new(
                "wrong credentials",
                ResponseTemplate::new(401).set_body_json(error(
                    "authentication_error",
                    "request_failed",
                    "authentication Failed",
                )),
                Kind::Configuration,
            ),
            DocumentedError::new("a bad gateway", ResponseTemplate::new(502), Kind::Ambiguous),
            DocumentedError::new(
                "an order without its payment session",
                ResponseTemplate::new(200)
                    .set_body_json(json!({ "order_id": "att_err", "order_status": "ACTIVE" })),
                Kind::Ambiguous,
            ),
        ]
    }
}

impl super::contract::MapsStatus for Contract {
    async fn mount_statuses(server: &MockServer) {
        let at = |id: &str, order: &str, status: &str, time: &str| {
            payment_entity(id, order, status, &format!("2025-05-05T12:{time}:00+05:30"))
        };
        let paid = vec![
            at("5114910000000", "att_paid", "FAILED", "01"),
            at("5114910000001", "att_paid", "SUCCESS", "03"),
        ];
        mount_order(server, "att_paid", "PAID", paid).await;
        let open = vec![
            at("5114910000002", "att_open", "USER_DROPPED", "01"),
            at("5114910000003", "att_open", "FAILED", "04"),
            at("5114910000004", "att_open", "NOT_ATTEMPTED", "09"),
        ];
        mount_order(server, "att_open", "ACTIVE", open).await;
        mount_order(server, "att_new", "ACTIVE", vec![]).await;
        let expired = vec![at("5114910000005", "att_expired", "USER_DROPPED", "01")];
        mount_order(server, "att_expired", "EXPIRED", expired).await;
        mount_order(server, "att_terminated", "TERMINATED", vec![]).await;
    }

    fn documented() -> Vec<Documented> {
        vec![
            Documented::is("att_paid", PaymentOutcome::Succeeded)
                .paid_as(Some("5114910000001"))
                .failing(None),
            Documented::is("att_open", PaymentOutcome::Pending)
                .paid_as(None)
                .failing(Some("Transaction declined by the bank"))
                .because("the customer may retry on the same order; the latest failure's message"),
            Documented::is("att_new", PaymentOutcome::Pending).failing(None),
            Documented::is("att_expired", PaymentOutcome::Failed)
                .failing(Some("Customer closed the payment page")),
            Documented::is("att_terminated", PaymentOutcome::Failed)
                .failing(Some("the cashfree order is terminated")),
        ]
    }
}

impl super::contract::Connects for Contract {
    type Connector = Cashfree;

    fn connector(base: &str, timeout: Duration) -> Cashfree {
        Cashfree::new(
            reqwest::Client::new(),
            Endpoints::new(Some(base.to_string()), None, timeout),
        )
    }

    fn order_request(receipt: &str) -> OrderRequest {
        request(receipt, 49_900)
    }
}

impl super::contract::RefundsAmbiguously for Contract {
    const FOUND: &'static str = "rfd_ok";
    const MISSING: &'static str = "rfd_missing";

    fn refund(refund_id: &str) -> RefundRequest {
        refund_request(refund_id, None)
    }

    /// Cashfree keeps refunds under the order, by our refund id.
    async fn mount_refund_lookup(server: &MockServer) {
        authenticated(Mock::given(method("GET")).and(path("/pg/orders/att_paid/refunds/rfd_ok")))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(refund_entity("rfd_ok", "att_paid", "SUCCESS")),
            )
            .mount(server)
            .await;
        Mock::given(method("GET"))
            .and(path("/pg/orders/att_paid/refunds/rfd_missing"))
            .respond_with(ResponseTemplate::new(404).set_body_json(error(
                "invalid_request_error",
                "refund_not_found",
                "refund does not exist",
            )))
            .mount(server)
            .await;
    }

    fn found_as() -> (&'static str, RefundStatus) {
        ("cf_rfd_ok", RefundStatus::Succeeded)
    }

    fn is_refund_create(request: &Request) -> bool {
        request.method == http::Method::POST && request.url.path().ends_with("/refunds")
    }
}

/// Answers a refund create as Cashfree does: the refund carries the id it was made with.
fn echo_refund(request: &Request) -> ResponseTemplate {
    let sent = sent_json(request);
    ResponseTemplate::new(200).set_body_json(refund_entity(
        sent["refund_id"].as_str().unwrap_or_default(),
        "att_paid",
        "PENDING",
    ))
}

impl super::contract::CreatesRefunds for Contract {
    const CREATED_AS: &'static str = "cf_rfd_1";

    /// With a reason, sent as the refund's note.
    fn documented_refund() -> RefundRequest {
        refund_request("rfd_1", Some("Customer changed mind"))
    }

    /// JSON under the order, with the API version and both credentials as headers.
    async fn mount_documented_refund(server: &MockServer) {
        authenticated(Mock::given(method("POST")).and(path("/pg/orders/att_paid/refunds")))
            .and(header("content-type", "application/json"))
            .respond_with(echo_refund)
            .mount(server)
            .await;
    }

    /// Our id; the amount in exact rupees; the reason as the note.
    fn assert_refund_sent(request: &Request) {
        let raw = raw_body(request);
        assert!(raw.contains("\"refund_amount\":100.00"), "{raw}");
        let sent = sent_json(request);
        assert_eq!(sent["refund_id"], "rfd_1");
        assert_eq!(sent["refund_note"], "Customer changed mind");
    }
}

impl super::contract::ClassifiesRefundErrors for Contract {
    /// After a 409 for the id, the refund is read back under the order.
    async fn mount_refund_answer(server: &MockServer, response: ResponseTemplate) {
        Mock::given(method("POST"))
            .and(path("/pg/orders/att_paid/refunds"))
            .respond_with(response)
            .mount(server)
            .await;
        Mock::given(method("GET"))
            .and(path("/pg/orders/att_paid/refunds/rfd_x"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(refund_entity("rfd_x", "att_paid", "SUCCESS")),
            )
            .mount(server)
            .await;
    }

    fn refund_refused() -> ResponseTemplate {
        ResponseTemplate::new(400).set_body_json(error(
            "invalid_request_error",
            "refund_amount_invalid",
            "refund amount is greater than the refundable amount",
        ))
    }

    fn refund_maybe_made() -> Vec<ResponseTemplate> {
        vec![ResponseTemplate::new(502)]
    }

    fn repeated_id() -> Option<(ResponseTemplate, &'static str, RefundStatus)> {
        Some((
            ResponseTemplate::new(409).set_body_json(error(
                "invalid_request_error",
                "refund_already_exists",
                "refund with same id is already present",
            )),
            "cf_rfd_x",
            RefundStatus::Succeeded,
        ))
    }
}

impl super::contract::FetchesRefunds for Contract {
    /// Cashfree reads refunds by our id under the order, whatever its own id is.
    async fn mount_refund_statuses(server: &MockServer) {
        for (refund_id, status) in [
            ("rfd_ok", "SUCCESS"),
            ("rfd_pending", "PENDING"),
            ("rfd_hold", "ONHOLD"),
            ("rfd_cancelled", "CANCELLED"),
            ("rfd_failed", "FAILED"),
        ] {
            authenticated(
                Mock::given(method("GET"))
                    .and(path(format!("/pg/orders/att_paid/refunds/{refund_id}"))),
            )
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(refund_entity(refund_id, "att_paid", status)),
            )
            .mount(server)
            .await;
        }
    }

    fn known_refunds() -> Vec<KnownRefund> {
        let asked = Some("cf_ignored");
        vec![
            KnownRefund::is("rfd_ok", asked, RefundStatus::Succeeded),
            KnownRefund::is("rfd_pending", asked, RefundStatus::Pending),
            KnownRefund::is("rfd_hold", asked, RefundStatus::Pending),
            KnownRefund::is("rfd_cancelled", asked, RefundStatus::Failed),
            KnownRefund::is("rfd_failed", asked, RefundStatus::Failed),
            KnownRefund::is("rfd_failed", None, RefundStatus::Failed)
                .failing("cashfree refund FAILED: Bank account is closed"),
        ]
    }
}

/// Cashfree's id for the refunds the platform asks for.
const PLATFORM_REFUND: &str = "cf_rfd_contract";

/// `order`'s refund `refund` of `amount` as Cashfree shows it, at `status`.
fn platform_refund(order: &Order, refund: &str, amount: i64, status: &str) -> Value {
    let mut entity = refund_entity(refund, &order.reference, status);
    entity["cf_refund_id"] = json!(PLATFORM_REFUND);
    entity["refund_amount"] = json!(amount as f64 / 100.0);
    entity
}

impl super::contract::SettlesRefunds for Contract {
    const GATEWAY_REFUND: &'static str = PLATFORM_REFUND;

    async fn mount_refund_accepted(server: &MockServer, order: &Order, delay: Duration) {
        let order = order.clone();
        Mock::given(method("POST"))
            .and(path(format!("/pg/orders/{}/refunds", order.reference)))
            .respond_with(move |request: &Request| {
                let sent = sent_json(request);
                let refund = sent["refund_id"].as_str().unwrap_or_default();
                let amount = (sent["refund_amount"].as_f64().unwrap() * 100.0).round() as i64;
                ResponseTemplate::new(200)
                    .set_body_json(platform_refund(&order, refund, amount, "PENDING"))
                    .set_delay(delay)
            })
            .mount(server)
            .await;
    }

    /// Under the order, our id as the refund id, the amount in exact rupees.
    fn assert_refund_asked(request: &Request, order: &Order, refund: &str, amount: i64) {
        assert_eq!(
            request.url.path(),
            format!("/pg/orders/{}/refunds", order.reference)
        );
        assert_eq!(request.headers["x-client-secret"], CLIENT_SECRET);
        let sent = sent_json(request);
        assert_eq!(sent["refund_id"], refund);
        let rupees = format!("\"refund_amount\":{}.{:02}", amount / 100, amount % 100);
        assert!(raw_body(request).contains(&rupees), "{sent}");
    }

    async fn mount_refund_found(server: &MockServer, order: &Order, refund: &str, amount: i64) {
        Mock::given(method("GET"))
            .and(path(format!(
                "/pg/orders/{}/refunds/{refund}",
                order.reference
            )))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(platform_refund(order, refund, amount, "SUCCESS")),
            )
            .mount(server)
            .await;
    }

    /// A signed `REFUND_STATUS_WEBHOOK`.
    async fn refund_reports(
        _app: &TestApp,
        order: &Order,
        refund: &str,
        amount: i64,
    ) -> Option<RefundReports> {
        let body = serde_json::to_vec(&json!({
            "data": { "refund": platform_refund(order, refund, amount, "SUCCESS") },
            "event_time": "2025-05-06T13:04:28+05:30", "type": "REFUND_STATUS_WEBHOOK"
        }))
        .unwrap();
        let authentic = signed_delivery(CLIENT_SECRET, now_ms(), body.clone());
        Some(RefundReports {
            forged: vec![
                ("tampered", authentic.clone().tampered()),
                (
                    "another secret",
                    signed_delivery("cfsk_ma_test_NOT_THE_SECRET", now_ms(), body),
                ),
            ],
            authentic,
        })
    }
}

impl super::contract::CreatesOrders for Contract {
    /// JSON with the API version and both credentials as headers; Cashfree echoes the order.
    async fn mount_documented_create(server: &MockServer) {
        authenticated(Mock::given(method("POST")).and(path("/pg/orders")))
            .and(header("content-type", "application/json"))
            .respond_with(echo_order)
            .expect(1)
            .mount(server)
            .await;
    }

    /// The receipt is the order id; the session is the checkout token.
    fn created(_base: &str) -> CreatedOrder {
        CreatedOrder {
            reference: "att_1".into(),
            pay_url: None,
            checkout_token: Some(session("att_1").into()),
        }
    }

    fn assert_sent(request: &Request) {
        let raw = raw_body(request);
        assert!(raw.contains("\"order_amount\":499.00"), "{raw}");
        let sent = sent_json(request);
        assert!(sent["order_amount"].is_number(), "a number, not a string");
        assert_eq!(sent["order_id"], "att_1");
        assert_eq!(sent["order_currency"], "INR");
        assert_eq!(sent["order_note"], "Masala chai </script> x 2");
        let customer = &sent["customer_details"];
        assert_eq!(customer["customer_phone"], "9812345678");
        assert_eq!(customer["customer_name"], "Asha Verma");
        assert_eq!(customer["customer_email"], "asha@example.in");
        assert_eq!(
            sent["order_meta"]["return_url"],
            "https://lsp.example/api/v1/checkout/txn_1/return?order_id=att_1"
        );
        assert_eq!(
            sent["order_meta"]["notify_url"],
            "https://lsp.example/api/v1/webhooks/cashfree"
        );
    }
}

impl super::contract::HandsOffWithAPage for Contract {
    const PUBLIC_CREDENTIALS: &'static [&'static str] = &["client_id"];

    /// Cashfree's checkout opened in sandbox mode on the session, with the amount shown.
    fn page_carries() -> Vec<String> {
        vec![
            "<script src=\"http://mock.invalid/js/v3/cashfree.js\"></script>".into(),
            "\"mode\":\"sandbox\"".into(),
            format!("\"paymentSessionId\":\"{}\"", session("att_1")),
            "Cashfree({ mode: options.mode }).checkout(".into(),
            "redirectTarget: \"_self\"".into(),
            "₹499.00".into(),
        ]
    }
}
