//! Stripe against a mock of its PaymentIntents and Refunds APIs that answers as the documented
//! ones do: form-encoded requests, JSON answers, `{"error":{…}}` bodies, signed webhooks.

use super::account;
use super::contract::{
    BrowserReturn, Connects, CreatesRefunds, Delivery, Documented, DocumentedError,
    DocumentedWebhook, Expected, Fixture, Kind, KnownRefund, Order, Paid, ParsesAs, RefundReports,
    Retried, ask_refund, captured, deliver, open, quick, read_refund,
};
use crate::support::*;
use http::HeaderMap;
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::gateways::PaymentOutcome;
use shared::gateways::endpoints::Endpoints;
use shared::gateways::signature::hmac_sha256_hex;
use shared::gateways::stripe::Stripe;
use shared::gateways::{CreatedOrder, Gateway, GatewayError, Handoff, RefundRequest, RefundStatus};
use shared::mode::Mode;
use shared::money::Currency;
use std::collections::BTreeMap;
use std::time::Duration;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const SECRET_KEY: &str = "sk_test_EXAMPLE_NOT_REAL";
const PUBLISHABLE_KEY: &str = "pk_test_EXAMPLE_NOT_REAL";
const WEBHOOK_SECRET: &str = "whsec_EXAMPLE_NOT_REAL";
// base64("sk_test_EXAMPLE_NOT_REAL:"): the secret key as the username, an empty password.
const BASIC: &str = "Basic c2tfdGVzdF9FWEFNUExFX05PVF9SRUFMOg==";

/// A PaymentIntent as `POST /v1/payment_intents` and `GET /v1/payment_intents/{id}` return it.
fn payment_intent(id: &str, receipt: &str, status: &str) -> Value {
    let failed = status == "requires_payment_method" && id.contains("retry");
    json!({
        "id": id, "object": "payment_intent", "amount": 49900, "amount_capturable": 0,
        "amount_received": if status == "succeeded" { 49900 } else { 0 },
        "automatic_payment_methods": { "enabled": true },
        "canceled_at": if status == "canceled" { json!(1_764_374_600) } else { Value::Null },
        "cancellation_reason": if status == "canceled" { json!("abandoned") } else { Value::Null },
        "capture_method": "automatic",
        "client_secret": format!("{id}_secret_EXAMPLEsecret"),
        "confirmation_method": "automatic", "created": 1_764_374_400, "currency": "inr",
        "customer": null, "description": "Masala chai x 2",
        "last_payment_error": if failed {
            json!({ "type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds",
                    "message": "Your card has insufficient funds." })
        } else { Value::Null },
        "latest_charge": if status == "succeeded" { json!(format!("ch_{}", &id[3..])) } else { Value::Null },
        "livemode": false, "metadata": { "receipt": receipt }, "next_action": null,
        "payment_method": null, "payment_method_types": ["card", "link"],
        "receipt_email": "asha@example.in", "status": status
    })
}

fn search_result(data: Vec<Value>) -> Value {
    json!({ "object": "search_result", "url": "/v1/payment_intents/search", "has_more": false,
            "next_page": null, "data": data })
}

fn refund(id: &str, payment_intent: &str, status: &str, refund_id: &str, created: i64) -> Value {
    json!({
        "id": id, "object": "refund", "amount": 10000, "balance_transaction": null,
        "charge": "ch_1", "created": created, "currency": "inr",
        "failure_reason": if status == "failed" { json!("expired_or_canceled_card") } else { Value::Null },
        "metadata": { "refund_id": refund_id }, "payment_intent": payment_intent,
        "reason": null, "receipt_number": null, "source_transfer_reversal": null,
        "status": status, "transfer_reversal": null
    })
}

fn list(url: &str, data: Vec<Value>) -> Value {
    json!({ "object": "list", "url": url, "has_more": false, "data": data })
}

fn error(kind: &str, code: &str, message: &str) -> Value {
    json!({ "error": { "type": kind, "code": code, "message": message,
                       "doc_url": format!("https://stripe.com/docs/error-codes/{code}") } })
}

/// A form-encoded request body as name → value.
fn form(request: &Request) -> BTreeMap<String, String> {
    let body = String::from_utf8(request.body.clone()).unwrap();
    reqwest::Url::parse(&format!("http://form.invalid/?{body}"))
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

fn idempotency_key(request: &Request) -> Option<String> {
    request
        .headers
        .get("idempotency-key")
        .map(|v| v.to_str().unwrap().to_string())
}

#[tokio::test]
async fn a_retried_create_sends_the_same_key_and_parameters_so_stripe_replays_it() {
    let server = MockServer::start().await;
    // The first answer is lost (too slow); Stripe has made the PaymentIntent all the same.
    Mock::given(method("POST"))
        .and(path("/v1/payment_intents"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(payment_intent(
                    "pi_once",
                    "att_r",
                    "requires_payment_method",
                ))
                .set_delay(Duration::from_millis(1500)),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/payment_intents"))
        .respond_with(ResponseTemplate::new(200).set_body_json(payment_intent(
            "pi_once",
            "att_r",
            "requires_payment_method",
        )))
        .mount(&server)
        .await;
    let gateway = Contract::connector(&server.uri(), Duration::from_millis(300));
    let acc = account(&Contract::credentials());
    let first = gateway
        .create_order(&acc, &Contract::order_request("att_r"))
        .await
        .unwrap_err();
    assert!(matches!(first, GatewayError::Ambiguous(_)), "{first:?}");
    let again = gateway
        .create_order(&acc, &Contract::order_request("att_r"))
        .await
        .unwrap();
    assert_eq!(again.reference, "pi_once");
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
    assert_eq!(idempotency_key(&requests[0]).as_deref(), Some("att_r"));
    assert_eq!(idempotency_key(&requests[1]).as_deref(), Some("att_r"));
    assert_eq!(
        requests[0].body, requests[1].body,
        "Stripe refuses a key reused with other parameters"
    );
}

fn refund_request(refund_id: &str, reason: Option<&str>) -> RefundRequest {
    RefundRequest {
        refund_id: refund_id.into(),
        reference: "pi_paid".into(),
        payment_id: Some("ch_paid".into()),
        receipt: "att_paid".into(),
        amount: 10_000,
        payment_amount: 49_900,
        currency: Currency::Inr,
        reason: reason.map(str::to_string),
        notify_url: "https://lsp.example/api/v1/webhooks/stripe".into(),
    }
}

/// The documented create: `contract::stripe::a_refund_is_created_with_our_id…`. Stripe refuses
/// reasons outside its enum, so any other reason travels in the metadata.
#[tokio::test]
async fn a_reason_outside_stripes_enum_goes_to_the_metadata() {
    let server = MockServer::start().await;
    <Contract as CreatesRefunds>::mount_documented_refund(&server).await;
    quick::<Contract>(&server.uri())
        .create_refund(
            &account(&Contract::credentials()),
            &refund_request("rfd_2", Some("Customer changed mind")),
        )
        .await
        .unwrap();
    let requests = server.received_requests().await.unwrap();
    assert_eq!(idempotency_key(&requests[0]).as_deref(), Some("rfd_2"));
    let second = form(&requests[0]);
    assert!(
        !second.contains_key("reason"),
        "Stripe refuses reasons outside its enum"
    );
    assert_eq!(second["metadata[reason]"], "Customer changed mind");
}

#[tokio::test]
async fn the_credential_check_refuses_live_mode_keys_on_a_test_account() {
    let server = MockServer::start().await;
    let balance = |livemode: bool| {
        json!({ "object": "balance", "livemode": livemode,
                "available": [{ "amount": 0, "currency": "inr", "source_types": { "card": 0 } }],
                "pending": [{ "amount": 0, "currency": "inr", "source_types": { "card": 0 } }] })
    };
    Mock::given(method("GET"))
        .and(path("/v1/balance"))
        .and(header("authorization", BASIC))
        .respond_with(ResponseTemplate::new(200).set_body_json(balance(false)))
        .mount(&server)
        .await;
    // base64("sk_live_EXAMPLE_NOT_REAL:")
    Mock::given(method("GET"))
        .and(path("/v1/balance"))
        .and(header(
            "authorization",
            "Basic c2tfbGl2ZV9FWEFNUExFX05PVF9SRUFMOg==",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(balance(true)))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/balance"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({ "error": {
            "type": "invalid_request_error", "message": "Invalid API Key provided: sk_test_****rong" } })))
        .mount(&server)
        .await;
    // Right and wrong keys, and calls that move no money: `contract::stripe::the_credential_check…`.
    let gateway = quick::<Contract>(&server.uri());
    let live_key = gateway
        .check_credentials(&account(&[
            ("secret_key", "sk_live_EXAMPLE_NOT_REAL"),
            ("publishable_key", PUBLISHABLE_KEY),
            ("webhook_secret", WEBHOOK_SECRET),
        ]))
        .await
        .unwrap_err();
    assert!(
        matches!(&live_key, GatewayError::Configuration(m) if m.contains("live-mode")),
        "a live key on a test account would take real money: {live_key:?}"
    );
    let live_publishable = gateway
        .check_credentials(&account(&[
            ("secret_key", SECRET_KEY),
            ("publishable_key", "pk_live_EXAMPLE_NOT_REAL"),
            ("webhook_secret", WEBHOOK_SECRET),
        ]))
        .await
        .unwrap_err();
    assert!(
        matches!(live_publishable, GatewayError::Configuration(_)),
        "{live_publishable:?}"
    );
    let requests = server.received_requests().await.unwrap();
    assert!(requests.iter().all(|r| r.method == http::Method::GET));
}

/// The page itself: `contract::stripe::the_handoff_page_carries_public_values_only`.
#[test]
fn the_handoff_page_needs_the_client_secret_and_uses_the_real_host_in_live_mode() {
    let gateway = quick::<Contract>("http://mock.invalid");
    let without_secret = CreatedOrder {
        checkout_token: None,
        ..<Contract as super::contract::CreatesOrders>::created("http://mock.invalid")
    };
    assert!(
        gateway
            .handoff(
                &account(&Contract::credentials()),
                &Contract::order_request("att_1"),
                &without_secret
            )
            .is_err()
    );
    let mut live = account(&Contract::credentials());
    live.environment = Mode::Live;
    let Ok(Handoff::Html(real)) = quick::<Contract>("http://mock.invalid").handoff(
        &live,
        &Contract::order_request("att_1"),
        &CreatedOrder {
            reference: "pi_1".into(),
            pay_url: None,
            checkout_token: Some("pi_1_secret_x".into()),
        },
    ) else {
        panic!("a page")
    };
    assert!(
        real.contains("https://js.stripe.com/v3/"),
        "only the test host is replaced"
    );
}

#[test]
fn the_return_is_accepted_only_when_it_names_a_payment_intent() {
    let gateway = quick::<Contract>("http://mock.invalid");
    let acc = account(&Contract::credentials());
    let params = BTreeMap::from([
        ("payment_intent".to_string(), "pi_1".to_string()),
        (
            "payment_intent_client_secret".to_string(),
            "pi_1_secret_x".to_string(),
        ),
        ("redirect_status".to_string(), "succeeded".to_string()),
    ]);
    assert_eq!(
        gateway.verify_return(&acc, &params).as_deref(),
        Some("pi_1")
    );
    assert_eq!(gateway.verify_return(&acc, &BTreeMap::new()), None);
    let odd = BTreeMap::from([("payment_intent".to_string(), "pi_1?x=<y>".to_string())]);
    assert_eq!(gateway.verify_return(&acc, &odd), None);
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A `Stripe-Signature` value for `body` signed at `t`.
fn sign(secret: &str, t: i64, body: &[u8]) -> String {
    let mut payload = format!("{t}.").into_bytes();
    payload.extend_from_slice(body);
    format!("t={t},v1={}", hmac_sha256_hex(secret.as_bytes(), &payload))
}

fn event(id: &str, kind: &str, object: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": id, "object": "event", "api_version": "2024-10-28.acacia", "created": 1_764_374_500,
        "data": { "object": object }, "livemode": false, "pending_webhooks": 1,
        "request": { "id": "req_EXAMPLE", "idempotency_key": null }, "type": kind
    }))
    .unwrap()
}

fn signed_headers(signature: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("stripe-signature", signature.parse().unwrap());
    headers
}

#[test]
fn webhooks_are_verified_on_the_raw_body_with_a_fresh_timestamp() {
    let gateway = quick::<Contract>("http://mock.invalid");
    let acc = account(&Contract::credentials());
    let body = event(
        "evt_1",
        "payment_intent.succeeded",
        payment_intent("pi_1", "att_1", "succeeded"),
    );
    let good = signed_headers(&sign(WEBHOOK_SECRET, now(), &body));
    assert!(gateway.verify_webhook(&acc, &good, &body));
    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    assert!(!gateway.verify_webhook(&acc, &good, &tampered));
    let stale = signed_headers(&sign(WEBHOOK_SECRET, now() - 301, &body));
    assert!(
        !gateway.verify_webhook(&acc, &stale, &body),
        "replayed late"
    );
    let wrong = signed_headers(&sign(SECRET_KEY, now(), &body));
    assert!(
        !gateway.verify_webhook(&acc, &wrong, &body),
        "the webhook secret, not the secret key"
    );
    let stripped = signed_headers(&sign(
        WEBHOOK_SECRET.trim_start_matches("whsec_"),
        now(),
        &body,
    ));
    assert!(
        !gateway.verify_webhook(&acc, &stripped, &body),
        "the secret is used verbatim"
    );
    assert!(!gateway.verify_webhook(&acc, &HeaderMap::new(), &body));
    // While a secret is rolled Stripe signs with both: either may be ours.
    let t = now();
    let rolled = format!(
        "t={t},v1={},v1={}",
        "ab".repeat(32),
        sign(WEBHOOK_SECRET, t, &body).rsplit_once("v1=").unwrap().1
    );
    assert!(gateway.verify_webhook(&acc, &signed_headers(&rolled), &body));
}

/// Parsing by type: `contract::stripe::webhooks_are_parsed_by_type`.
#[test]
fn the_event_id_is_the_bodys_own() {
    let body = event(
        "evt_ok",
        "payment_intent.succeeded",
        payment_intent("pi_1", "att_1", "succeeded"),
    );
    let ok = quick::<Contract>("http://mock.invalid")
        .parse_webhook(&HeaderMap::new(), &body)
        .unwrap();
    assert_eq!(
        ok.event_id, "evt_ok",
        "the body's id, with or without headers"
    );
}

// Through the platform: a merchant whose routing pool has a Stripe account.

/// F8: event ids are unique per signing account. Another merchant's Stripe account signs an event
/// carrying the id this account's next event will have; this account's event still lands.
#[tokio::test]
async fn f8_an_event_id_claimed_first_by_another_account_does_not_block_this_accounts_event() {
    let (_server, app, merchant, order) = open::<Contract>("f8victim").await;
    let admin = app.admin_token().await;
    let other = app.create_merchant(&admin, "Other Shop").await;
    app.add_gateway_account(
        &other,
        "stripe",
        &[
            ("secret_key", "sk_test_OTHER_NOT_REAL"),
            ("publishable_key", "pk_test_OTHER_NOT_REAL"),
            ("webhook_secret", "whsec_OTHER_NOT_REAL"),
        ],
    )
    .await;
    let claim = event(
        "evt_f8_shared",
        "payment_intent.succeeded",
        payment_intent(
            "pi_f8other",
            "att_00000000000000000000000000000000",
            "succeeded",
        ),
    );
    let claim = signed_delivery("whsec_OTHER_NOT_REAL", now(), claim);
    assert_eq!(deliver::<Contract>(&app, &claim).await, StatusCode::OK);
    let real = event(
        "evt_f8_shared",
        "payment_intent.succeeded",
        payment_intent("pi_f8victim", &order.receipt, "succeeded"),
    );
    let real = signed_delivery(WEBHOOK_SECRET, now(), real);
    assert_eq!(deliver::<Contract>(&app, &real).await, StatusCode::OK);
    app.drain().await;
    assert_eq!(
        app.transaction(&merchant, &order.id).await["status"],
        "succeeded"
    );
    assert_eq!(app.db.count("gateway_events").await, 2);
}

/// F18: Stripe refunds can go `succeeded → failed` (the customer's bank returned the money). The
/// failure gives the amount back (reservation and refunded sum), the payment is no longer shown
/// refunded, `refund.failed` is published, and the money can be refunded again.
#[tokio::test]
async fn f18_a_stripe_refund_that_fails_after_succeeding_restores_the_refundable_amount() {
    let (server, app, merchant, order) = captured::<Contract>("f18").await;
    Mock::given(method("POST"))
        .and(path("/v1/refunds"))
        .respond_with(echo_refund("re_f18", "succeeded"))
        .mount(&server)
        .await;
    let refund_id = ask_refund(&app, &merchant, &order.id, 10_000).await;
    app.drain().await;
    let sums = || async {
        let row = app
            .db
            .owner()
            .await
            .query_one(
                "SELECT status, refund_reserved, refunded_amount FROM transactions WHERE order_id = 'f18'",
                &[],
            )
            .await
            .unwrap();
        (
            row.get::<_, String>(0),
            row.get::<_, i64>(1),
            row.get::<_, i64>(2),
        )
    };
    assert_eq!(sums().await, ("partially_refunded".into(), 10_000, 10_000));

    let failed = event(
        "evt_f18_failed",
        "charge.refund.updated",
        refund(
            "re_f18",
            &order.reference,
            "failed",
            &refund_id,
            1_764_380_000,
        ),
    );
    let failed = signed_delivery(WEBHOOK_SECRET, now(), failed);
    assert_eq!(deliver::<Contract>(&app, &failed).await, StatusCode::OK);
    app.drain().await;
    assert_eq!(sums().await, ("succeeded".into(), 0, 0));
    let read = read_refund(&app, &merchant, &refund_id).await;
    assert_eq!(read["status"], "failed", "{read}");
    let failures: i64 = app
        .db
        .owner()
        .await
        .query_one(
            "SELECT count(*) FROM outbox WHERE topic = 'refund.failed' AND payload->'detail'->'refund'->>'id' = $1",
            &[&refund_id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(failures, 1, "refund.failed is published");
    // The whole payment is refundable again.
    ask_refund(&app, &merchant, &order.id, 49_900).await;
}

/// Stripe as the connector contract drives it (`contract::stripe::…`).
pub struct Contract;

impl super::contract::Fixture for Contract {
    const PROVIDER: &'static str = "stripe";

    fn credentials() -> Vec<(&'static str, &'static str)> {
        vec![
            ("secret_key", SECRET_KEY),
            ("publishable_key", PUBLISHABLE_KEY),
            ("webhook_secret", WEBHOOK_SECRET),
        ]
    }

    async fn mount_create(server: &MockServer, label: &str) {
        let id = format!("pi_{label}");
        Mock::given(method("POST"))
            .and(path("/v1/payment_intents"))
            .respond_with(move |request: &Request| {
                let receipt = form(request)
                    .get("metadata[receipt]")
                    .cloned()
                    .unwrap_or_default();
                ResponseTemplate::new(200).set_body_json(payment_intent(
                    &id,
                    &receipt,
                    "requires_payment_method",
                ))
            })
            .mount(server)
            .await;
    }

    fn expected_reference(label: &str, _receipt: &str) -> Option<String> {
        Some(format!("pi_{label}"))
    }

    async fn mount_captured(_app: &TestApp, server: &MockServer, order: &Order, paid: Paid) {
        Mock::given(method("GET"))
            .and(path(format!("/v1/payment_intents/{}", order.reference)))
            .respond_with(ResponseTemplate::new(200).set_body_json(succeeded(order, paid)))
            .mount(server)
            .await;
    }

    async fn status_queries(server: &MockServer, order: &Order) -> Option<usize> {
        let asked = format!("/v1/payment_intents/{}", order.reference);
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

    fn payment_id(order: &Order) -> String {
        format!("ch_{}", &order.reference[3..])
    }

    async fn captured_webhook(_app: &TestApp, order: &Order, paid: Paid) -> Delivery {
        let body = event(
            "evt_succeeded_1",
            "payment_intent.succeeded",
            succeeded(order, paid),
        );
        signed_delivery(WEBHOOK_SECRET, now(), body)
    }

    async fn forged_webhooks(app: &TestApp, order: &Order) -> Vec<(&'static str, Delivery)> {
        let good = Self::captured_webhook(app, order, Paid::IN_FULL).await;
        vec![
            ("tampered", good.clone().tampered()),
            ("unsigned", good.clone().without("stripe-signature")),
            (
                "another secret",
                signed_delivery("whsec_not_the_secret", now(), good.body.clone()),
            ),
            (
                "stale: a replay",
                signed_delivery(WEBHOOK_SECRET, now() - 600, good.body),
            ),
        ]
    }

    async fn forged_returns(_app: &TestApp, _order: &Order) -> Vec<(&'static str, BrowserReturn)> {
        vec![
            (
                "another PaymentIntent",
                BrowserReturn::get(&[
                    ("payment_intent", "pi_someone_else"),
                    ("payment_intent_client_secret", "pi_someone_else_secret_x"),
                    ("redirect_status", "succeeded"),
                ]),
            ),
            ("bare", BrowserReturn::get(&[])),
        ]
    }

    /// `redirect_status` says failed, but only Stripe's own answer counts.
    async fn real_return(_app: &TestApp, order: &Order) -> BrowserReturn {
        let secret = format!("{}_secret_EXAMPLEsecret", order.reference);
        BrowserReturn::get(&[
            ("payment_intent", order.reference.as_str()),
            ("payment_intent_client_secret", secret.as_str()),
            ("redirect_status", "failed"),
        ])
    }
}

/// `order`'s PaymentIntent, succeeded with `paid` received.
fn succeeded(order: &Order, paid: Paid) -> Value {
    let mut object = payment_intent(&order.reference, &order.receipt, "succeeded");
    object["amount_received"] = json!(paid.amount);
    object["currency"] = json!(paid.currency.to_lowercase());
    object
}

/// `body` as Stripe delivers it, signed with `secret` at `t`.
fn signed_delivery(secret: &str, t: i64, body: Vec<u8>) -> Delivery {
    let signature = sign(secret, t, &body);
    Delivery::new(
        "application/json; charset=utf-8",
        &[("stripe-signature", signature.as_str())],
        body,
    )
}

impl super::contract::Creates for Contract {
    const CREATE_PATH: &'static str = "/v1/payment_intents";

    fn created() -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_json(payment_intent(
            "pi_slow",
            "att_err",
            "requires_payment_method",
        ))
    }
}

impl super::contract::ChecksCredentials for Contract {
    async fn mount_credential_check(server: &MockServer) {
        Mock::given(method("GET"))
            .and(path("/v1/balance"))
            .and(header("authorization", BASIC))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "object": "balance", "livemode": false,
                "available": [{ "amount": 0, "currency": "inr", "source_types": { "card": 0 } }],
                "pending": [{ "amount": 0, "currency": "inr", "source_types": { "card": 0 } }] })))
            .mount(server)
            .await;
        Mock::given(method("GET"))
            .and(path("/v1/balance"))
            .respond_with(ResponseTemplate::new(401).set_body_json(json!({ "error": {
                "type": "invalid_request_error", "message": "Invalid API Key provided: sk_test_****rong" } })))
            .mount(server)
            .await;
    }

    fn wrong() -> Vec<Vec<(&'static str, &'static str)>> {
        vec![vec![
            ("secret_key", "sk_test_wrong"),
            ("publishable_key", PUBLISHABLE_KEY),
            ("webhook_secret", WEBHOOK_SECRET),
        ]]
    }

    fn incomplete() -> Vec<(&'static str, &'static str)> {
        vec![
            ("publishable_key", PUBLISHABLE_KEY),
            ("webhook_secret", WEBHOOK_SECRET),
        ]
    }

    fn moves_no_money(request: &wiremock::Request) -> bool {
        request.method == http::Method::GET
    }
}

impl super::contract::LooksUpOrders for Contract {
    fn is_lookup(request: &Request, receipt: &str) -> bool {
        let query = format!("metadata['receipt']:'{receipt}'");
        request.method == http::Method::GET
            && request.url.path() == "/v1/payment_intents/search"
            && request
                .url
                .query_pairs()
                .any(|(k, v)| k == "query" && v == query)
    }
}

impl super::contract::FindsByReceipt for Contract {
    const RECEIPT_FOUND: &'static str = "att_found";
    const RECEIPT_MISSING: &'static str = "att_missing";

    /// Stripe's search over the receipt in the metadata.
    async fn mount_lookups(server: &MockServer) {
        Mock::given(method("GET"))
            .and(path("/v1/payment_intents/search"))
            .and(query_param("query", "metadata['receipt']:'att_found'"))
            .and(header("authorization", BASIC))
            .respond_with(ResponseTemplate::new(200).set_body_json(search_result(vec![
                payment_intent("pi_found", "att_found", "requires_payment_method"),
            ])))
            .mount(server)
            .await;
        Mock::given(method("GET"))
            .and(path("/v1/payment_intents/search"))
            .and(query_param("query", "metadata['receipt']:'att_missing'"))
            .respond_with(ResponseTemplate::new(200).set_body_json(search_result(vec![])))
            .mount(server)
            .await;
        // Search is not offered to every account (Stripe: not to merchants in India).
        Mock::given(method("GET"))
            .and(path("/v1/payment_intents/search"))
            .and(query_param(
                "query",
                "metadata['receipt']:'att_unsearchable'",
            ))
            .respond_with(ResponseTemplate::new(400).set_body_json(error(
                "invalid_request_error",
                "feature_not_enabled",
                "Search is not available for this account.",
            )))
            .mount(server)
            .await;
    }

    /// With the client secret the checkout needs.
    fn found() -> CreatedOrder {
        CreatedOrder {
            reference: "pi_found".into(),
            pay_url: None,
            checkout_token: Some("pi_found_secret_EXAMPLEsecret".into()),
        }
    }

    fn never_found() -> Vec<(&'static str, &'static str)> {
        vec![(
            "att_unsearchable",
            "a refused search falls back to the idempotent create, never fails the payment",
        )]
    }

    /// Stripe makes the PaymentIntent but answers too late: the request timed out on our side.
    async fn mount_late_create_found_by_lookup(server: &MockServer) {
        Mock::given(method("POST"))
            .and(path("/v1/payment_intents"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(payment_intent(
                        "pi_late",
                        "ignored",
                        "requires_payment_method",
                    ))
                    .set_delay(Duration::from_secs(3)),
            )
            .mount(server)
            .await;
        Mock::given(method("GET"))
            .and(path("/v1/payment_intents/search"))
            .respond_with(|request: &Request| {
                let query = request
                    .url
                    .query_pairs()
                    .find(|(k, _)| k == "query")
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default();
                let receipt = query
                    .strip_prefix("metadata['receipt']:'")
                    .and_then(|q| q.strip_suffix('\''))
                    .unwrap_or_default()
                    .to_string();
                ResponseTemplate::new(200).set_body_json(search_result(vec![payment_intent(
                    "pi_late",
                    &receipt,
                    "requires_payment_method",
                )]))
            })
            .mount(server)
            .await;
    }

    /// The receipt is in the metadata and is the idempotency key.
    fn assert_create_request(request: &Request, receipt: &str) {
        assert_eq!(form(request)["metadata[receipt]"], receipt);
        assert_eq!(idempotency_key(request).as_deref(), Some(receipt));
    }

    fn found_reference(_receipt: &str) -> String {
        "pi_late".into()
    }
}

impl super::contract::RetriesCreates for Contract {
    /// The first create times out on our side; Stripe replays the same PaymentIntent to any
    /// retry with the same key. Search has not caught up (or is not offered): it finds nothing.
    async fn mount_lagging_create(server: &MockServer, label: &str) {
        let id = format!("pi_{label}");
        Mock::given(method("POST"))
            .and(path("/v1/payment_intents"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(payment_intent(&id, "ignored", "requires_payment_method"))
                    .set_delay(Duration::from_secs(3)),
            )
            .up_to_n_times(1)
            .mount(server)
            .await;
        Self::mount_create(server, label).await;
        Mock::given(method("GET"))
            .and(path("/v1/payment_intents/search"))
            .respond_with(ResponseTemplate::new(200).set_body_json(search_result(vec![])))
            .mount(server)
            .await;
    }

    /// The receipt is the idempotency key (and Stripe refuses a key reused with other
    /// parameters).
    fn made_for(request: &Request, receipt: &str) -> bool {
        idempotency_key(request).as_deref() == Some(receipt)
    }

    fn retried_handoff(_base: &str, order: &Order) -> Retried {
        Retried::Page {
            shows: vec![format!(
                "\"clientSecret\":\"{}_secret_EXAMPLEsecret\"",
                order.reference
            )],
            hides: vec![SECRET_KEY, WEBHOOK_SECRET],
        }
    }
}

impl super::contract::ParsesWebhooks for Contract {
    fn documented_webhooks() -> Vec<DocumentedWebhook> {
        let payment = |kind: &'static str, intent: Value, parses_as: ParsesAs| DocumentedWebhook {
            event_type: kind,
            body: event("evt_p", kind, intent),
            parses_as,
        };
        let mut documented = vec![
            payment(
                "payment_intent.succeeded",
                payment_intent("pi_1", "att_1", "succeeded"),
                ParsesAs::Payment {
                    reference: "pi_1",
                    receipt: "att_1",
                    outcome: PaymentOutcome::Succeeded,
                    payment_id: Some("ch_1"),
                    failure_reason: None,
                },
            ),
            payment(
                "payment_intent.payment_failed",
                payment_intent("pi_retry", "att_2", "requires_payment_method"),
                ParsesAs::Payment {
                    reference: "pi_retry",
                    receipt: "att_2",
                    // The customer may retry.
                    outcome: PaymentOutcome::Pending,
                    payment_id: None,
                    failure_reason: Some("Your card has insufficient funds."),
                },
            ),
            payment(
                "payment_intent.canceled",
                payment_intent("pi_3", "att_3", "canceled"),
                ParsesAs::Payment {
                    reference: "pi_3",
                    receipt: "att_3",
                    outcome: PaymentOutcome::Failed,
                    payment_id: None,
                    failure_reason: Some("canceled: abandoned"),
                },
            ),
        ];
        for (kind, status, expected) in [
            ("refund.created", "succeeded", RefundStatus::Succeeded),
            ("refund.updated", "succeeded", RefundStatus::Succeeded),
            ("refund.failed", "failed", RefundStatus::Failed),
        ] {
            documented.push(DocumentedWebhook {
                event_type: kind,
                body: event("evt_r", kind, refund("re_1", "pi_1", status, "rfd_1", 1)),
                parses_as: ParsesAs::Refund {
                    reference: "pi_1",
                    refund_id: "rfd_1",
                    gateway_refund_id: Some("re_1"),
                    status: expected,
                },
            });
        }
        // A charge lists its refunds: the latest is the news.
        let charge = json!({
            "id": "ch_1", "object": "charge", "amount": 49900, "amount_refunded": 20000,
            "payment_intent": "pi_1", "refunded": false,
            "refunds": { "object": "list", "has_more": false, "url": "/v1/charges/ch_1/refunds", "data": [
                refund("re_1", "pi_1", "succeeded", "rfd_1", 1),
                refund("re_2", "pi_1", "pending", "rfd_2", 2),
            ] }
        });
        // Without its refunds: the refund.* events carry them.
        let bare =
            json!({ "id": "ch_1", "object": "charge", "payment_intent": "pi_1", "refunded": true });
        documented.extend([
            DocumentedWebhook {
                event_type: "charge.refunded",
                body: event("evt_cr", "charge.refunded", charge),
                parses_as: ParsesAs::Refund {
                    reference: "pi_1",
                    refund_id: "rfd_2",
                    gateway_refund_id: None,
                    status: RefundStatus::Pending,
                },
            },
            DocumentedWebhook {
                event_type: "charge.refunded",
                body: event("evt_cb", "charge.refunded", bare),
                parses_as: ParsesAs::Other {
                    reference: Some("pi_1"),
                },
            },
            payment(
                "payment_intent.created",
                payment_intent("pi_4", "att_4", "requires_payment_method"),
                ParsesAs::Other {
                    reference: Some("pi_4"),
                },
            ),
        ]);
        documented
    }

    fn unreadable_webhooks() -> Vec<(&'static str, Vec<u8>)> {
        vec![("not JSON", b"not json".to_vec())]
    }
}

impl super::contract::ClassifiesReadErrors for Contract {
    const ASKED: &'static str = "pi_down";

    fn server_error() -> ResponseTemplate {
        ResponseTemplate::new(500).set_body_json(json!({ "error": {
            "type": "api_error", "message": "Something went wrong on Stripe's end." } }))
    }

    fn too_many_requests() -> ResponseTemplate {
        ResponseTemplate::new(429).set_body_json(error(
            "invalid_request_error",
            "rate_limit",
            "Too many requests hit the API too quickly.",
        ))
    }

    async fn mount_status_answer(server: &MockServer, answer: ResponseTemplate) {
        Mock::given(method("GET"))
            .and(path("/v1/payment_intents/pi_down"))
            .respond_with(answer)
            .mount(server)
            .await;
    }
}

impl super::contract::ClassifiesCreateErrors for Contract {
    const THROTTLED_CREATE_IS_AMBIGUOUS: bool = false;

    fn documented_errors() -> Vec<DocumentedError> {
        let misused = "Keys for idempotent requests can only be used with the same parameters they were first used with.";
        vec![
            DocumentedError::new(
                "an invalid parameter",
                ResponseTemplate::new(400).set_body_json(error(
                    "invalid_request_error",
                    "parameter_invalid_integer",
                    "Invalid integer: 499.00",
                )),
                Kind::Declined,
            )
            .mentioning("refused"),
            DocumentedError::new(
                "an invalid key",
                ResponseTemplate::new(401).set_body_json(json!({ "error": {
                    "type": "invalid_request_error",
                    "message": "Invalid API Key provided: sk_test_****REAL" } })),
                Kind::Configuration,
            ),
            DocumentedError::new(
                "a publishable key",
                ResponseTemplate::new(403).set_body_json(error(
                    "invalid_request_error",
                    "secret_key_required",
                    "This API call cannot be made with a publishable API key.",
                )),
                Kind::Configuration,
            ),
            DocumentedError::new(
                "a card declined",
                ResponseTemplate::new(402).set_body_json(json!({ "error": {
                    "type": "card_error", "code": "card_declined", "decline_code": "generic_decline",
                    "message": "Your card was declined." } })),
                Kind::Declined,
            ),
            DocumentedError::new(
                "a key reused with other parameters",
                ResponseTemplate::new(400).set_body_json(json!({ "error": {
                    "type": "idempotency_error", "message": misused } })),
                Kind::Configuration,
            ),
            DocumentedError::new(
                "a key reused with other parameters, as a conflict",
                ResponseTemplate::new(409).set_body_json(json!({ "error": {
                    "type": "idempotency_error", "message": misused } })),
                Kind::Configuration,
            ),
            DocumentedError::new(
                "a key in use by another request, which may create it",
                ResponseTemplate::new(409).set_body_json(error(
                    "invalid_request_error",
                    "idempotency_key_in_use",
                    "There is currently another in-progress request using this Idempotency-Key.",
                )),
                Kind::Ambiguous,
            ),
        ]
    }
}

impl super::contract::MapsStatus for Contract {
    async fn mount_statuses(server: &MockServer) {
        let ids = [
            ("pi_ok", "succeeded"),
            ("pi_retry", "requires_payment_method"),
            ("pi_new", "requires_payment_method"),
            ("pi_confirm", "requires_confirmation"),
            ("pi_action", "requires_action"),
            ("pi_processing", "processing"),
            ("pi_capture", "requires_capture"),
            ("pi_canceled", "canceled"),
        ];
        for (id, status) in ids {
            Mock::given(method("GET"))
                .and(path(format!("/v1/payment_intents/{id}")))
                .and(header("authorization", BASIC))
                .respond_with(
                    ResponseTemplate::new(200).set_body_json(payment_intent(id, "att_s", status)),
                )
                .mount(server)
                .await;
        }
        Mock::given(method("GET"))
            .and(path("/v1/payment_intents/pi_gone"))
            .respond_with(ResponseTemplate::new(404).set_body_json(error(
                "invalid_request_error",
                "resource_missing",
                "No such payment_intent: 'pi_gone'",
            )))
            .mount(server)
            .await;
    }

    fn documented() -> Vec<Documented> {
        let mut documented = vec![
            Documented::is("pi_ok", PaymentOutcome::Succeeded)
                .paid_as(Some("ch_ok"))
                .capturing(Paid::IN_FULL)
                .because("the latest charge"),
            Documented::is("pi_retry", PaymentOutcome::Pending)
                .failing(Some("Your card has insufficient funds."))
                .because("the customer may retry"),
        ];
        for id in [
            "pi_new",
            "pi_confirm",
            "pi_action",
            "pi_processing",
            "pi_capture",
        ] {
            documented.push(Documented::is(id, PaymentOutcome::Pending).failing(None));
        }
        documented.extend([
            Documented::is("pi_canceled", PaymentOutcome::Failed)
                .failing(Some("canceled: abandoned")),
            Documented::gives("pi_gone", Expected::Declined),
            Documented::gives("pi_1/../../v1/balance", Expected::Declined)
                .because("never put a foreign string into a path"),
        ]);
        documented
    }
}

impl super::contract::Connects for Contract {
    type Connector = Stripe;

    fn connector(base: &str, timeout: Duration) -> Stripe {
        Stripe::new(
            reqwest::Client::new(),
            Endpoints::new(Some(base.to_string()), None, timeout),
        )
    }
}

impl super::contract::RefundsAmbiguously for Contract {
    const FOUND: &'static str = "rfd_2";
    const MISSING: &'static str = "rfd_never";

    fn refund(refund_id: &str) -> RefundRequest {
        refund_request(refund_id, None)
    }

    /// Stripe lists the PaymentIntent's refunds; ours carry our id in their metadata.
    async fn mount_refund_lookup(server: &MockServer) {
        Mock::given(method("GET"))
            .and(path("/v1/refunds"))
            .and(query_param("payment_intent", "pi_paid"))
            .respond_with(ResponseTemplate::new(200).set_body_json(list(
                "/v1/refunds",
                vec![
                    refund("re_other", "pi_paid", "succeeded", "rfd_other", 3),
                    refund("re_failed", "pi_paid", "failed", "rfd_2", 2),
                ],
            )))
            .mount(server)
            .await;
    }

    fn found_as() -> (&'static str, RefundStatus) {
        ("re_failed", RefundStatus::Failed)
    }

    fn is_refund_create(request: &Request) -> bool {
        request.method == http::Method::POST && request.url.path() == "/v1/refunds"
    }
}

/// Answers a refund create as Stripe does, as `id` at `status`, for what was asked.
fn echo_refund(
    id: &'static str,
    status: &'static str,
) -> impl Fn(&Request) -> ResponseTemplate + Send + Sync {
    move |request: &Request| {
        let sent = form(request);
        let mut created = refund(
            id,
            &sent["payment_intent"],
            status,
            &sent["metadata[refund_id]"],
            1_764_380_000,
        );
        created["amount"] = json!(sent["amount"].parse::<i64>().unwrap());
        ResponseTemplate::new(200).set_body_json(created)
    }
}

impl super::contract::CreatesRefunds for Contract {
    const CREATED_AS: &'static str = "re_1";

    /// With a reason from Stripe's enum.
    fn documented_refund() -> RefundRequest {
        refund_request("rfd_1", Some("requested_by_customer"))
    }

    /// Form-encoded with Basic authentication.
    async fn mount_documented_refund(server: &MockServer) {
        Mock::given(method("POST"))
            .and(path("/v1/refunds"))
            .and(header("authorization", BASIC))
            .respond_with(echo_refund("re_1", "pending"))
            .mount(server)
            .await;
    }

    /// Our id is the idempotency key and in the metadata; the amount in paise.
    fn assert_refund_sent(request: &Request) {
        assert_eq!(idempotency_key(request).as_deref(), Some("rfd_1"));
        let sent = form(request);
        assert_eq!(sent["payment_intent"], "pi_paid");
        assert_eq!(sent["amount"], "10000");
        assert_eq!(sent["metadata[refund_id]"], "rfd_1");
        assert_eq!(sent["reason"], "requested_by_customer");
    }
}

/// No repeated-id answer: Stripe replays the first answer to a repeated idempotency key.
impl super::contract::ClassifiesRefundErrors for Contract {
    async fn mount_refund_answer(server: &MockServer, response: ResponseTemplate) {
        Mock::given(method("POST"))
            .and(path("/v1/refunds"))
            .respond_with(response)
            .mount(server)
            .await;
    }

    fn refund_refused() -> ResponseTemplate {
        ResponseTemplate::new(400).set_body_json(error(
            "invalid_request_error",
            "charge_already_refunded",
            "Charge ch_paid has already been refunded.",
        ))
    }

    fn refund_maybe_made() -> Vec<ResponseTemplate> {
        vec![ResponseTemplate::new(502)]
    }
}

impl super::contract::FetchesRefunds for Contract {
    /// By Stripe's id once known (a 404 when it has none); otherwise found among the
    /// PaymentIntent's refunds by our id in their metadata.
    async fn mount_refund_statuses(server: &MockServer) {
        Mock::given(method("GET"))
            .and(path("/v1/refunds/re_done"))
            .respond_with(ResponseTemplate::new(200).set_body_json(refund(
                "re_done",
                "pi_paid",
                "succeeded",
                "rfd_1",
                1,
            )))
            .mount(server)
            .await;
        Mock::given(method("GET"))
            .and(path("/v1/refunds/re_missing"))
            .respond_with(ResponseTemplate::new(404).set_body_json(error(
                "invalid_request_error",
                "resource_missing",
                "No such refund: 're_missing'",
            )))
            .mount(server)
            .await;
        <Contract as super::contract::RefundsAmbiguously>::mount_refund_lookup(server).await;
    }

    fn known_refunds() -> Vec<KnownRefund> {
        vec![
            KnownRefund::is("rfd_1", Some("re_done"), RefundStatus::Succeeded).known_as("re_done"),
            KnownRefund::unknown("rfd_1", Some("re_missing")),
            KnownRefund::is("rfd_2", None, RefundStatus::Failed)
                .known_as("re_failed")
                .failing("stripe refund failed: expired_or_canceled_card"),
        ]
    }
}

impl super::contract::SettlesRefunds for Contract {
    const GATEWAY_REFUND: &'static str = "re_contract";

    async fn mount_refund_accepted(server: &MockServer, _order: &Order, delay: Duration) {
        let accepted = echo_refund("re_contract", "pending");
        Mock::given(method("POST"))
            .and(path("/v1/refunds"))
            .respond_with(move |request: &Request| accepted(request).set_delay(delay))
            .mount(server)
            .await;
    }

    /// The PaymentIntent's refund, our id as the idempotency key, with Basic authentication.
    fn assert_refund_asked(request: &Request, order: &Order, refund: &str, amount: i64) {
        assert_eq!(request.headers["authorization"], BASIC);
        assert_eq!(idempotency_key(request).as_deref(), Some(refund));
        let sent = form(request);
        assert_eq!(sent["payment_intent"], order.reference);
        assert_eq!(sent["amount"], amount.to_string());
        assert_eq!(sent["metadata[refund_id]"], refund);
    }

    async fn mount_refund_found(server: &MockServer, order: &Order, refund: &str, amount: i64) {
        let mut found = self::refund("re_contract", &order.reference, "succeeded", refund, 1);
        found["amount"] = json!(amount);
        Mock::given(method("GET"))
            .and(path("/v1/refunds"))
            .and(query_param("payment_intent", order.reference.as_str()))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(list("/v1/refunds", vec![found])),
            )
            .mount(server)
            .await;
    }

    async fn mount_refund_settled(server: &MockServer, order: &Order, refund: &str, amount: i64) {
        let mut settled = self::refund("re_contract", &order.reference, "succeeded", refund, 1);
        settled["amount"] = json!(amount);
        Mock::given(method("GET"))
            .and(path("/v1/refunds/re_contract"))
            .respond_with(ResponseTemplate::new(200).set_body_json(settled))
            .expect(1)
            .mount(server)
            .await;
    }

    /// A signed `charge.refund.updated`.
    async fn refund_reports(
        _app: &TestApp,
        order: &Order,
        refund: &str,
        amount: i64,
    ) -> Option<RefundReports> {
        let mut settled = self::refund("re_contract", &order.reference, "succeeded", refund, 1);
        settled["amount"] = json!(amount);
        let body = event("evt_refund_1", "charge.refund.updated", settled);
        Some(RefundReports {
            forged: vec![
                (
                    "another secret",
                    signed_delivery("whsec_not_the_secret", now(), body.clone()),
                ),
                (
                    "stale: a replay",
                    signed_delivery(WEBHOOK_SECRET, now() - 600, body.clone()),
                ),
            ],
            authentic: signed_delivery(WEBHOOK_SECRET, now(), body),
        })
    }
}

impl super::contract::CreatesOrders for Contract {
    /// Form-encoded, with Basic authentication and the receipt as the idempotency key.
    async fn mount_documented_create(server: &MockServer) {
        Mock::given(method("POST"))
            .and(path("/v1/payment_intents"))
            .and(header("authorization", BASIC))
            .and(header("content-type", "application/x-www-form-urlencoded"))
            .and(header("idempotency-key", "att_1"))
            .respond_with(ResponseTemplate::new(200).set_body_json(payment_intent(
                "pi_3MtwBwLkdIwHu7ix28a3tqPa",
                "att_1",
                "requires_payment_method",
            )))
            .expect(1)
            .mount(server)
            .await;
    }

    fn created(_base: &str) -> CreatedOrder {
        CreatedOrder {
            reference: "pi_3MtwBwLkdIwHu7ix28a3tqPa".into(),
            pay_url: None,
            checkout_token: Some("pi_3MtwBwLkdIwHu7ix28a3tqPa_secret_EXAMPLEsecret".into()),
        }
    }

    fn assert_sent(request: &Request) {
        let expected: BTreeMap<String, String> = [
            ("amount", "49900"),
            ("currency", "inr"),
            ("automatic_payment_methods[enabled]", "true"),
            ("description", "Masala chai </script> x 2"),
            ("receipt_email", "asha@example.in"),
            ("metadata[receipt]", "att_1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(
            form(request),
            expected,
            "integer minor units, lowercase currency"
        );
        let raw = String::from_utf8(request.body.clone()).unwrap();
        assert!(
            raw.contains("automatic_payment_methods%5Benabled%5D=true")
                && raw.contains("metadata%5Breceipt%5D=att_1"),
            "bracket keys, form-encoded: {raw}"
        );
    }
}

impl super::contract::HandsOffWithAPage for Contract {
    const PUBLIC_CREDENTIALS: &'static [&'static str] = &["publishable_key"];

    /// The Payment Element mounted with the publishable key and the PaymentIntent's secret.
    fn page_carries() -> Vec<String> {
        vec![
            "<script src=\"http://mock.invalid/v3/\"></script>".into(),
            format!("\"publishableKey\":\"{PUBLISHABLE_KEY}\""),
            "\"clientSecret\":\"pi_3MtwBwLkdIwHu7ix28a3tqPa_secret_EXAMPLEsecret\"".into(),
            "\"returnUrl\":\"https://lsp.example/api/v1/checkout/txn_1/return\"".into(),
            "Stripe(options.publishableKey)".into(),
            "elements.create('payment')".into(),
            "stripe.confirmPayment(".into(),
            "return_url: options.returnUrl".into(),
        ]
    }
}
