//! Razorpay against a mock of its Orders API that answers as the documented one does.

use super::contract::{
    BrowserReturn, Connects, Delivery, Documented, DocumentedError, Fixture, Kind, KnownRefund,
    Order, Paid, RefundReports, deliver, open,
};
use super::{account, no_redirects};
use crate::support::*;
use http::HeaderMap;
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::gateways::PaymentOutcome;
use shared::gateways::endpoints::Endpoints;
use shared::gateways::razorpay::{Razorpay, return_signature};
use shared::gateways::signature::hmac_sha256_hex;
use shared::gateways::{CreatedOrder, Gateway, RefundRequest, RefundStatus};
use shared::money::Currency;
use std::collections::BTreeMap;
use std::time::Duration;
use wiremock::matchers::{body_partial_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEY_ID: &str = "rzp_test_EXAMPLEKEYID01";
const KEY_SECRET: &str = "example-key-secret-not-real";
const WEBHOOK_SECRET: &str = "example-webhook-secret";
// base64("rzp_test_EXAMPLEKEYID01:example-key-secret-not-real")
const BASIC: &str = "Basic cnpwX3Rlc3RfRVhBTVBMRUtFWUlEMDE6ZXhhbXBsZS1rZXktc2VjcmV0LW5vdC1yZWFs";

/// An order entity as `POST /v1/orders` and `GET /v1/orders/{id}` return it.
fn order(id: &str, receipt: &str, status: &str) -> Value {
    json!({
        "id": id, "entity": "order", "amount": 49900, "amount_paid": if status == "paid" { 49900 } else { 0 },
        "amount_due": if status == "paid" { 0 } else { 49900 }, "currency": "INR", "receipt": receipt,
        "offer_id": null, "status": status, "attempts": 0, "notes": { "attempt": receipt }, "created_at": 1_764_374_400
    })
}

fn payment_entity(id: &str, order_id: &str, status: &str) -> Value {
    json!({
        "id": id, "entity": "payment", "amount": 49900, "currency": "INR", "status": status,
        "order_id": order_id, "invoice_id": null, "international": false, "method": "upi",
        "amount_refunded": 0, "refund_status": null, "captured": status == "captured",
        "description": null, "card_id": null, "bank": null, "wallet": null, "vpa": "asha@okaxis",
        "email": "asha@example.in", "contact": "+919812345678", "notes": [], "fee": 1180, "tax": 180,
        "error_code": if status == "failed" { json!("BAD_REQUEST_ERROR") } else { Value::Null },
        "error_description": if status == "failed" { json!("Payment failed due to insufficient balance") } else { Value::Null },
        "error_source": null, "error_step": null, "error_reason": null, "created_at": 1_764_374_460
    })
}

fn collection(items: Vec<Value>) -> Value {
    json!({ "entity": "collection", "count": items.len(), "items": items })
}

fn error(code: &str, description: &str, reason: &str) -> Value {
    json!({ "error": { "code": code, "description": description, "source": "NA", "step": "NA",
                       "reason": reason, "metadata": {} } })
}

fn sign(secret: &str, body: &[u8]) -> String {
    hmac_sha256_hex(secret.as_bytes(), body)
}

fn captured_event(order_id: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "entity": "event", "account_id": "acc_BFQ7uQEaa7j2z7", "event": "payment.captured",
        "contains": ["payment"], "payload": { "payment": { "entity": payment_entity("pay_webhook", order_id, "captured") } },
        "created_at": 1_764_374_500
    }))
    .unwrap()
}

#[test]
fn webhooks_are_verified_on_the_raw_body_and_parsed() {
    let gateway = Contract::connector("http://mock.invalid", Duration::from_secs(5));
    let acc = account(&Contract::credentials());
    let body = captured_event("order_1");
    let mut headers = HeaderMap::new();
    headers.insert(
        "x-razorpay-signature",
        sign(WEBHOOK_SECRET, &body).parse().unwrap(),
    );
    headers.insert("x-razorpay-event-id", "evt_1".parse().unwrap());
    assert!(gateway.verify_webhook(&acc, &headers, &body));
    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    assert!(!gateway.verify_webhook(&acc, &headers, &tampered));
    let mut wrong_key = headers.clone();
    wrong_key.insert(
        "x-razorpay-signature",
        sign(KEY_SECRET, &body).parse().unwrap(),
    );
    assert!(
        !gateway.verify_webhook(&acc, &wrong_key, &body),
        "the webhook secret, not the key secret"
    );
    assert!(!gateway.verify_webhook(&acc, &HeaderMap::new(), &body));

    let event = gateway.parse_webhook(&headers, &body).unwrap();
    assert!(event.event_id.starts_with("sha256:"), "{}", event.event_id);
    let mut other_id = headers.clone();
    other_id.insert("x-razorpay-event-id", "evt_2".parse().unwrap());
    assert_eq!(
        gateway.parse_webhook(&other_id, &body).unwrap().event_id,
        event.event_id,
        "the unsigned header does not make the id (F8)"
    );
    assert_eq!(event.reference.as_deref(), Some("order_1"));
    let report = event.report.unwrap();
    assert_eq!(report.status, PaymentOutcome::Succeeded);
    assert_eq!(report.payment_id.as_deref(), Some("pay_webhook"));
}

#[test]
fn the_browser_return_is_verified_with_the_key_secret() {
    let gateway = Contract::connector("http://mock.invalid", Duration::from_secs(5));
    let acc = account(&Contract::credentials());
    let mut params = BTreeMap::from([
        ("razorpay_order_id".to_string(), "order_1".to_string()),
        ("razorpay_payment_id".to_string(), "pay_1".to_string()),
        (
            "razorpay_signature".to_string(),
            return_signature(KEY_SECRET, "order_1", "pay_1"),
        ),
    ]);
    assert_eq!(
        gateway.verify_return(&acc, &params).as_deref(),
        Some("order_1")
    );
    params.insert("razorpay_payment_id".into(), "pay_2".into());
    assert_eq!(gateway.verify_return(&acc, &params), None);
    params.remove("razorpay_signature");
    assert_eq!(gateway.verify_return(&acc, &params), None);
}

// Through the platform: a merchant whose routing pool has a Razorpay account.

/// Stands in for `checkout.js`: records the options Checkout was opened with in the page.
const FAKE_CHECKOUT_JS: &str = "window.Razorpay = function (options) { this.open = function () { \
    var p = document.createElement('pre'); p.id = 'rzp-options'; \
    p.textContent = JSON.stringify(options); document.body.appendChild(p); }; };";

#[tokio::test]
async fn chromium_opens_checkout_with_the_order_and_key_id_and_no_secret() {
    let (server, app, _merchant, order) = open::<Contract>("chromium").await;
    Mock::given(method("GET"))
        .and(path("/v1/checkout.js"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(FAKE_CHECKOUT_JS, "application/javascript"),
        )
        .mount(&server)
        .await;
    let id = order.id;

    let profile = temp_dir("razorpay-chromium");
    let browser = crate::browser::Browser::start(&profile.join("profile")).await;
    browser
        .open(&app.url(&format!("/api/v1/checkout/{id}")))
        .await;
    let mut source = String::new();
    for _ in 0..50 {
        source = browser.source().await;
        if source.contains("rzp-options") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let options: Value = serde_json::from_str(&browser.text("#rzp-options").await).unwrap();
    assert_eq!(options["key"], KEY_ID);
    assert_eq!(options["order_id"], "order_chromium");
    assert_eq!(options["amount"], 49_900);
    assert_eq!(
        options["callback_url"],
        app.url(&format!("/api/v1/checkout/{id}/return"))
    );
    assert!(
        !source.contains(KEY_SECRET) && !source.contains(WEBHOOK_SECRET),
        "no secret reaches the browser"
    );
    let requests = server.received_requests().await.unwrap();
    assert!(requests.iter().any(|r| r.url.path() == "/v1/checkout.js"));
}

/// The fee follows how the customer paid: a merchant with a default rate and a `upi` rate is
/// charged the `upi` rate on a payment Razorpay reports as UPI, and the default rate on one paid
/// by a method it has no rate for, or on one whose method Razorpay does not name.
#[tokio::test]
async fn the_fee_is_the_merchants_rate_for_the_method_razorpay_reports() {
    // 2.5 % by default: 49,900 × 250 / 10,000 = 1,247.5 → 1,248; GST 224.64 → 225.
    // UPI: 1 % + ₹1: 499 + 100 = 599; GST 107.82 → 108.
    for (label, reported, stored, fee, gst) in [
        ("fee_upi", json!("upi"), Some("upi"), 599, 108),
        ("fee_card", json!("card"), Some("card"), 1_248, 225),
        ("fee_unnamed", Value::Null, None, 1_248, 225),
    ] {
        let (_server, app, merchant, order) = open::<Contract>(label).await;
        let db = app.db.owner().await;
        let merchant_id = merchant.id.parse::<shared::ids::MerchantId>().unwrap();
        db.execute(
            "INSERT INTO merchant_fee_rates (id, merchant_id, method, rate_bps, fixed_fee)
             VALUES (gen_random_uuid(), $1, NULL, 250, 0), (gen_random_uuid(), $1, 'upi', 100, 100)",
            &[&merchant_id.as_uuid()],
        )
        .await
        .unwrap();

        let mut payment = captured_payment(&order.reference, Paid::IN_FULL);
        payment["method"] = reported;
        let body = serde_json::to_vec(&json!({
            "entity": "event", "account_id": "acc_BFQ7uQEaa7j2z7", "event": "payment.captured",
            "contains": ["payment"], "payload": { "payment": { "entity": payment } },
            "created_at": 1_764_374_500
        }))
        .unwrap();
        let delivery = signed_delivery(WEBHOOK_SECRET, body);
        assert_eq!(
            deliver::<Contract>(&app, &delivery).await,
            StatusCode::OK,
            "{label}"
        );
        app.drain().await;

        let transaction = app.transaction(&merchant, &order.id).await;
        assert_eq!(transaction["status"], "succeeded", "{label}: {transaction}");
        assert_eq!(transaction["fee"], fee, "{label}: {transaction}");
        assert_eq!(transaction["gst"], gst, "{label}: {transaction}");
        let method: Option<String> = db
            .query_one(
                "SELECT payment_method FROM transactions WHERE id = $1",
                &[&order
                    .id
                    .parse::<shared::ids::TransactionId>()
                    .unwrap()
                    .as_uuid()],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(method.as_deref(), stored, "{label}");
    }
}

/// A refund entity as Razorpay returns it, for the refund id in `receipt`.
fn refund_entity(id: &str, receipt: &str, amount: i64, status: &str) -> Value {
    json!({
        "id": id, "entity": "refund", "amount": amount, "currency": "INR", "payment_id": "pay_webhook",
        "notes": { "refund_id": receipt }, "receipt": receipt, "acquirer_data": { "arn": null },
        "created_at": 1_764_374_600, "batch_id": null, "status": status,
        "speed_processed": "normal", "speed_requested": "normal"
    })
}

fn echo_refund(
    status: &'static str,
    delay: Duration,
) -> impl Fn(&wiremock::Request) -> ResponseTemplate {
    move |request: &wiremock::Request| {
        let asked: Value = serde_json::from_slice(&request.body).unwrap();
        ResponseTemplate::new(200)
            .set_body_json(refund_entity(
                "rfnd_FP8DDKxqJif6ca",
                asked["receipt"].as_str().unwrap(),
                asked["amount"].as_i64().unwrap(),
                status,
            ))
            .set_delay(delay)
    }
}

#[tokio::test]
async fn an_event_signed_by_another_merchants_account_cannot_settle_this_payment() {
    let (_server, app, merchant, order) = open::<Contract>("victim").await;
    // Another merchant has its own Razorpay account, and so its own webhook secret.
    let admin = app.admin_token().await;
    let other = app.create_merchant(&admin, "Other Shop").await;
    app.add_gateway_account(
        &other,
        "razorpay",
        &[
            ("key_id", "rzp_test_OTHERKEYID0001"),
            ("key_secret", "other-key-secret"),
            ("webhook_secret", "other-webhook-secret"),
        ],
    )
    .await;
    let forged = signed_delivery("other-webhook-secret", captured_event(&order.reference));
    assert_eq!(
        deliver::<Contract>(&app, &forged).await,
        StatusCode::OK,
        "authentic for the other account, so stored"
    );
    app.drain().await;
    assert_eq!(
        app.transaction(&merchant, &order.id).await["status"],
        "pending"
    );
    let outcome: String = app
        .db
        .owner()
        .await
        .query_one("SELECT outcome FROM gateway_events", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(outcome, "unknown_transaction");
}

#[tokio::test]
async fn f5_browser_returns_do_not_fan_out_to_the_gateway() {
    let (server, app, merchant, opened) = open::<Contract>("fanout").await;
    let id = opened.id;
    Mock::given(method("GET"))
        .and(path("/v1/orders/order_fanout"))
        .respond_with(ResponseTemplate::new(200).set_body_json(order(
            "order_fanout",
            "att",
            "attempted",
        )))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/orders/order_fanout/payments"))
        .respond_with(ResponseTemplate::new(200).set_body_json(collection(vec![])))
        .mount(&server)
        .await;
    let status_queries = || async {
        server
            .received_requests()
            .await
            .unwrap()
            .iter()
            .filter(|r| {
                r.method == http::Method::GET && r.url.path().starts_with("/v1/orders/order_fanout")
            })
            .count()
    };
    let signature = return_signature(KEY_SECRET, "order_fanout", "pay_fan");
    let url = app.url(&format!("/api/v1/checkout/{id}/return"));
    let return_once = || async {
        no_redirects()
            .post(&url)
            .form(&[
                ("razorpay_order_id", "order_fanout"),
                ("razorpay_payment_id", "pay_fan"),
                ("razorpay_signature", signature.as_str()),
            ])
            .send()
            .await
            .unwrap()
    };
    let first = return_once().await;
    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    let asked = status_queries().await;
    assert!(asked >= 1, "the first verified return asks the gateway");
    // A looped return within the window answers from what we know, without asking again.
    for _ in 0..5 {
        let again = return_once().await;
        assert_eq!(again.status(), StatusCode::SEE_OTHER);
        let location = again.headers()["location"].to_str().unwrap();
        assert!(location.contains("status=pending"), "{location}");
    }
    assert_eq!(status_queries().await, asked, "one status query per window");
    assert_eq!(app.transaction(&merchant, &id).await["status"], "pending");
}

/// A validly signed webhook whose `X-Razorpay-Event-Id` is empty answered 500. The header is not
/// signed, so it no longer makes the id: empty, 300-byte or non-ASCII, the answer is never a
/// 5xx and the event is stored once.
#[tokio::test]
async fn f8_odd_event_id_headers_are_never_a_5xx_and_store_one_event() {
    let (_server, app, merchant, order) = open::<Contract>("odd_ids").await;
    let id = order.id;
    let body = captured_event(&order.reference);
    let signature = sign(WEBHOOK_SECRET, &body);
    let long = "e".repeat(300);
    let headers: [&[u8]; 4] = [b"", long.as_bytes(), "évt_ü".as_bytes(), b"\xff\xfe"];
    for value in headers {
        let answer = app
            .http
            .post(app.url("/api/v1/webhooks/razorpay"))
            .header("content-type", "application/json")
            .header(
                "x-razorpay-event-id",
                reqwest::header::HeaderValue::from_bytes(value).unwrap(),
            )
            .header("x-razorpay-signature", &signature)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert!(
            answer.status().is_success(),
            "{value:?}: {}",
            answer.status()
        );
    }
    app.drain().await;
    assert_eq!(app.db.count("gateway_events").await, 1);
    assert_eq!(app.transaction(&merchant, &id).await["status"], "succeeded");
}

#[tokio::test]
async fn f11_checkout_pages_never_show_internal_errors() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/orders"))
        .respond_with(ResponseTemplate::new(500).set_body_string("upstream exploded at 10.0.0.7"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/orders"))
        .respond_with(ResponseTemplate::new(200).set_body_json(collection(vec![])))
        .mount(&server)
        .await;
    let (app, merchant) = Contract::platform(&server).await;
    let (status, body) = app
        .pay(&merchant, &payment("rzp-f11", 49_900, false), None)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["data"]["id"].as_str().unwrap();
    let attempt = app.transaction(&merchant, id).await["attempts"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let page = app
        .http
        .get(app.url(&format!("/api/v1/checkout/{id}")))
        .header("x-request-id", "req-f11-check")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    for leak in [
        attempt.as_str(),
        "att_",
        "creating the order",
        "exploded",
        "10.0.0.7",
        &server.uri(),
        "127.0.0.1",
    ] {
        assert!(!html.contains(leak), "{leak} leaked: {html}");
    }
    assert!(html.contains("req-f11-check"), "{html}");
    assert_eq!(app.transaction(&merchant, id).await["status"], "created");
}

/// Razorpay as the connector contract drives it (`contract::razorpay::…`).
pub struct Contract;

impl super::contract::Fixture for Contract {
    const PROVIDER: &'static str = "razorpay";

    fn credentials() -> Vec<(&'static str, &'static str)> {
        vec![
            ("key_id", KEY_ID),
            ("key_secret", KEY_SECRET),
            ("webhook_secret", WEBHOOK_SECRET),
        ]
    }

    async fn mount_create(server: &MockServer, label: &str) {
        Mock::given(method("POST"))
            .and(path("/v1/orders"))
            .respond_with(ResponseTemplate::new(200).set_body_json(order(
                &format!("order_{label}"),
                "att",
                "created",
            )))
            .mount(server)
            .await;
    }

    fn expected_reference(label: &str, _receipt: &str) -> Option<String> {
        Some(format!("order_{label}"))
    }

    async fn mount_captured(_app: &TestApp, server: &MockServer, order: &Order, paid: Paid) {
        let reference = order.reference.as_str();
        Mock::given(method("GET"))
            .and(path(format!("/v1/orders/{reference}")))
            .respond_with(ResponseTemplate::new(200).set_body_json(self::order(
                reference,
                &order.receipt,
                "paid",
            )))
            .mount(server)
            .await;
        Mock::given(method("GET"))
            .and(path(format!("/v1/orders/{reference}/payments")))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(collection(vec![captured_payment(reference, paid)])),
            )
            .mount(server)
            .await;
    }

    async fn status_queries(server: &MockServer, order: &Order) -> Option<usize> {
        let asked = format!("/v1/orders/{}", order.reference);
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
        "pay_webhook".into()
    }

    async fn captured_webhook(_app: &TestApp, order: &Order, paid: Paid) -> Delivery {
        let body = serde_json::to_vec(&json!({
            "entity": "event", "account_id": "acc_BFQ7uQEaa7j2z7", "event": "payment.captured",
            "contains": ["payment"],
            "payload": { "payment": { "entity": captured_payment(&order.reference, paid) } },
            "created_at": 1_764_374_500
        }))
        .unwrap();
        signed_delivery(WEBHOOK_SECRET, body)
    }

    async fn forged_webhooks(app: &TestApp, order: &Order) -> Vec<(&'static str, Delivery)> {
        let good = Self::captured_webhook(app, order, Paid::IN_FULL).await;
        vec![
            ("tampered", good.clone().tampered()),
            ("unsigned", good.clone().without("x-razorpay-signature")),
            (
                "another secret",
                signed_delivery("not-the-secret", good.body),
            ),
        ]
    }

    async fn forged_returns(_app: &TestApp, order: &Order) -> Vec<(&'static str, BrowserReturn)> {
        let reference = order.reference.as_str();
        let guessed = return_signature("guess", reference, "pay_webhook");
        vec![(
            "signed with a guessed secret",
            BrowserReturn::post(&[
                ("razorpay_order_id", reference),
                ("razorpay_payment_id", "pay_webhook"),
                ("razorpay_signature", guessed.as_str()),
            ]),
        )]
    }

    async fn real_return(_app: &TestApp, order: &Order) -> BrowserReturn {
        let reference = order.reference.as_str();
        let signature = return_signature(KEY_SECRET, reference, "pay_webhook");
        BrowserReturn::post(&[
            ("razorpay_order_id", reference),
            ("razorpay_payment_id", "pay_webhook"),
            ("razorpay_signature", signature.as_str()),
        ])
    }
}

/// The captured payment of `order_id`, for `paid`.
fn captured_payment(order_id: &str, paid: Paid) -> Value {
    let mut payment = payment_entity("pay_webhook", order_id, "captured");
    payment["amount"] = json!(paid.amount);
    payment["currency"] = json!(paid.currency);
    payment
}

/// `body` as Razorpay delivers it, signed with `secret`.
fn signed_delivery(secret: &str, body: Vec<u8>) -> Delivery {
    let signature = sign(secret, &body);
    Delivery::new(
        "application/json",
        &[
            ("x-razorpay-event-id", "evt_captured_1"),
            ("x-razorpay-signature", signature.as_str()),
        ],
        body,
    )
}

impl super::contract::Creates for Contract {
    const CREATE_PATH: &'static str = "/v1/orders";

    fn created() -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_json(order("order_slow", "att_err", "created"))
    }
}

impl super::contract::ChecksCredentials for Contract {
    async fn mount_credential_check(server: &MockServer) {
        Mock::given(method("GET"))
            .and(path("/v1/orders"))
            .and(query_param("count", "1"))
            .and(header("authorization", BASIC))
            .respond_with(ResponseTemplate::new(200).set_body_json(collection(vec![])))
            .mount(server)
            .await;
        Mock::given(method("GET"))
            .and(path("/v1/orders"))
            .respond_with(ResponseTemplate::new(401).set_body_json(error(
                "BAD_REQUEST_ERROR",
                "The api key provided is invalid",
                "NA",
            )))
            .mount(server)
            .await;
    }

    fn wrong() -> Vec<Vec<(&'static str, &'static str)>> {
        vec![vec![("key_id", KEY_ID), ("key_secret", "wrong")]]
    }

    fn incomplete() -> Vec<(&'static str, &'static str)> {
        vec![("key_id", KEY_ID)]
    }

    fn moves_no_money(request: &wiremock::Request) -> bool {
        request.method == http::Method::GET
    }
}

impl super::contract::LooksUpOrders for Contract {
    fn is_lookup(request: &wiremock::Request, receipt: &str) -> bool {
        request.method == http::Method::GET
            && request.url.path() == "/v1/orders"
            && request
                .url
                .query_pairs()
                .any(|(k, v)| k == "receipt" && v == receipt)
    }
}

impl super::contract::FindsByReceipt for Contract {
    const RECEIPT_FOUND: &'static str = "att_found";
    const RECEIPT_MISSING: &'static str = "att_missing";

    /// Razorpay lists the orders made with a receipt.
    async fn mount_lookups(server: &MockServer) {
        Mock::given(method("GET"))
            .and(path("/v1/orders"))
            .and(query_param("receipt", "att_found"))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(collection(vec![order(
                    "order_found",
                    "att_found",
                    "created",
                )])),
            )
            .mount(server)
            .await;
        Mock::given(method("GET"))
            .and(path("/v1/orders"))
            .and(query_param("receipt", "att_missing"))
            .respond_with(ResponseTemplate::new(200).set_body_json(collection(vec![])))
            .mount(server)
            .await;
    }

    fn found() -> CreatedOrder {
        CreatedOrder {
            reference: "order_found".into(),
            pay_url: None,
            checkout_token: None,
        }
    }

    /// Razorpay makes the order but answers too late: the request timed out on our side.
    async fn mount_late_create_found_by_lookup(server: &MockServer) {
        Mock::given(method("POST"))
            .and(path("/v1/orders"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(order("order_late", "ignored", "created"))
                    .set_delay(Duration::from_secs(3)),
            )
            .mount(server)
            .await;
        Mock::given(method("GET"))
            .and(path("/v1/orders"))
            .respond_with(move |request: &wiremock::Request| {
                let receipt = request
                    .url
                    .query_pairs()
                    .find(|(k, _)| k == "receipt")
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default();
                ResponseTemplate::new(200).set_body_json(collection(vec![order(
                    "order_late",
                    &receipt,
                    "created",
                )]))
            })
            .mount(server)
            .await;
    }

    fn assert_create_request(request: &wiremock::Request, receipt: &str) {
        let sent: Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(sent["receipt"], receipt, "{sent}");
        assert_eq!(sent["amount"], 49_900, "{sent}");
    }

    fn found_reference(_receipt: &str) -> String {
        "order_late".into()
    }
}

impl super::contract::ClassifiesReadErrors for Contract {
    const ASKED: &'static str = "order_1";

    fn server_error() -> ResponseTemplate {
        ResponseTemplate::new(500).set_body_json(error(
            "SERVER_ERROR",
            "The server encountered an error",
            "NA",
        ))
    }

    fn too_many_requests() -> ResponseTemplate {
        ResponseTemplate::new(429).set_body_json(error(
            "BAD_REQUEST_ERROR",
            "Too many requests",
            "NA",
        ))
    }

    async fn mount_status_answer(server: &MockServer, answer: ResponseTemplate) {
        Mock::given(method("GET"))
            .respond_with(answer)
            .mount(server)
            .await;
    }
}

impl super::contract::ClassifiesCreateErrors for Contract {
    const THROTTLED_CREATE_IS_AMBIGUOUS: bool = false;

    fn documented_errors() -> Vec<DocumentedError> {
        vec![
            DocumentedError::new(
                "an invalid amount",
                ResponseTemplate::new(400).set_body_json(json!({ "error": {
                    "code": "BAD_REQUEST_ERROR", "description": "The amount is invalid", "field": "amount" } })),
                Kind::Declined,
            ),
            DocumentedError::new(
                "an invalid key",
                ResponseTemplate::new(401).set_body_json(error(
                    "BAD_REQUEST_ERROR",
                    "The api key provided is invalid",
                    "NA",
                )),
                Kind::Configuration,
            ),
        ]
    }
}

impl super::contract::MapsStatus for Contract {
    const REPORTS_FAILURE: bool = false;

    async fn mount_statuses(server: &MockServer) {
        let orders = [
            (
                order("order_paid", "att_1", "paid"),
                vec![
                    payment_entity("pay_failed", "order_paid", "failed"),
                    payment_entity("pay_ok", "order_paid", "captured"),
                ],
            ),
            (
                order("order_open", "att_2", "attempted"),
                vec![payment_entity("pay_failed", "order_open", "failed")],
            ),
        ];
        for (order, payments) in orders {
            let id = order["id"].as_str().unwrap().to_string();
            Mock::given(method("GET"))
                .and(path(format!("/v1/orders/{id}")))
                .respond_with(ResponseTemplate::new(200).set_body_json(order))
                .mount(server)
                .await;
            Mock::given(method("GET"))
                .and(path(format!("/v1/orders/{id}/payments")))
                .respond_with(ResponseTemplate::new(200).set_body_json(collection(payments)))
                .mount(server)
                .await;
        }
    }

    fn documented() -> Vec<Documented> {
        vec![
            Documented::is("order_paid", PaymentOutcome::Succeeded)
                .paid_as(Some("pay_ok"))
                .capturing(Paid::IN_FULL),
            Documented::is("order_open", PaymentOutcome::Pending)
                .failing(Some("Payment failed due to insufficient balance"))
                .because("the customer may retry on the same order"),
        ]
    }
}

impl super::contract::RefundsAmbiguously for Contract {
    const FOUND: &'static str = "rfd_2";
    const MISSING: &'static str = "rfd_never";

    fn refund(refund_id: &str) -> RefundRequest {
        RefundRequest {
            refund_id: refund_id.into(),
            reference: "order_paid".into(),
            payment_id: Some("pay_webhook".into()),
            receipt: "att_paid".into(),
            amount: 10_000,
            payment_amount: 49_900,
            currency: Currency::Inr,
            reason: None,
            notify_url: "https://lsp.example/api/v1/webhooks/razorpay".into(),
        }
    }

    /// Razorpay lists the payment's refunds; ours carry our id as their receipt.
    async fn mount_refund_lookup(server: &MockServer) {
        Mock::given(method("GET"))
            .and(path("/v1/payments/pay_webhook/refunds"))
            .and(header("authorization", BASIC))
            .respond_with(ResponseTemplate::new(200).set_body_json(collection(vec![
                refund_entity("rfnd_other", "rfd_other", 5_000, "processed"),
                refund_entity("rfnd_FP8DDKxqJif6ca", "rfd_2", 10_000, "pending"),
            ])))
            .mount(server)
            .await;
    }

    fn found_as() -> (&'static str, RefundStatus) {
        ("rfnd_FP8DDKxqJif6ca", RefundStatus::Pending)
    }

    fn is_refund_create(request: &wiremock::Request) -> bool {
        request.method == http::Method::POST && request.url.path().ends_with("/refund")
    }
}

impl super::contract::CreatesRefunds for Contract {
    const CREATED_AS: &'static str = "rfnd_FP8DDKxqJif6ca";

    /// JSON in paise at normal speed with our id as the receipt, with Basic authentication.
    async fn mount_documented_refund(server: &MockServer) {
        Mock::given(method("POST"))
            .and(path("/v1/payments/pay_webhook/refund"))
            .and(header("authorization", BASIC))
            .and(body_partial_json(
                json!({ "amount": 10_000, "speed": "normal", "receipt": "rfd_1" }),
            ))
            .respond_with(echo_refund("pending", Duration::ZERO))
            .expect(1)
            .mount(server)
            .await;
    }

    fn assert_refund_sent(request: &wiremock::Request) {
        let sent: Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(sent["notes"]["refund_id"], "rfd_1", "{sent}");
    }
}

impl super::contract::FetchesRefunds for Contract {
    /// Once known, a refund is read by Razorpay's id.
    async fn mount_refund_statuses(server: &MockServer) {
        Mock::given(method("GET"))
            .and(path("/v1/refunds/rfnd_FP8DDKxqJif6ca"))
            .and(header("authorization", BASIC))
            .respond_with(ResponseTemplate::new(200).set_body_json(refund_entity(
                "rfnd_FP8DDKxqJif6ca",
                "rfd_1",
                10_000,
                "processed",
            )))
            .mount(server)
            .await;
    }

    fn known_refunds() -> Vec<KnownRefund> {
        vec![
            KnownRefund::is(
                "rfd_1",
                Some("rfnd_FP8DDKxqJif6ca"),
                RefundStatus::Succeeded,
            )
            .known_as("rfnd_FP8DDKxqJif6ca"),
        ]
    }
}

impl super::contract::SettlesRefunds for Contract {
    const GATEWAY_REFUND: &'static str = "rfnd_FP8DDKxqJif6ca";

    async fn mount_refund_accepted(server: &MockServer, _order: &Order, delay: Duration) {
        Mock::given(method("POST"))
            .and(path("/v1/payments/pay_webhook/refund"))
            .respond_with(echo_refund("pending", delay))
            .mount(server)
            .await;
    }

    /// The captured payment's refund, in paise at normal speed, with Basic authentication.
    fn assert_refund_asked(request: &wiremock::Request, _order: &Order, refund: &str, amount: i64) {
        assert_eq!(request.url.path(), "/v1/payments/pay_webhook/refund");
        assert_eq!(request.headers["authorization"], BASIC);
        let sent: Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(sent["amount"], amount, "{sent}");
        assert_eq!(sent["speed"], "normal", "{sent}");
        assert_eq!(sent["receipt"], refund, "{sent}");
    }

    /// Razorpay lists the payment's refunds; ours carries our id as its receipt.
    async fn mount_refund_found(server: &MockServer, _order: &Order, refund: &str, amount: i64) {
        let listed = collection(vec![refund_entity(
            "rfnd_FP8DDKxqJif6ca",
            refund,
            amount,
            "processed",
        )]);
        Mock::given(method("GET"))
            .and(path("/v1/payments/pay_webhook/refunds"))
            .respond_with(ResponseTemplate::new(200).set_body_json(listed))
            .mount(server)
            .await;
    }

    async fn mount_refund_settled(server: &MockServer, _order: &Order, refund: &str, amount: i64) {
        Mock::given(method("GET"))
            .and(path("/v1/refunds/rfnd_FP8DDKxqJif6ca"))
            .respond_with(ResponseTemplate::new(200).set_body_json(refund_entity(
                "rfnd_FP8DDKxqJif6ca",
                refund,
                amount,
                "processed",
            )))
            .expect(1)
            .mount(server)
            .await;
    }

    /// A signed `refund.processed`.
    async fn refund_reports(
        _app: &TestApp,
        order: &Order,
        refund: &str,
        amount: i64,
    ) -> Option<RefundReports> {
        let event = serde_json::to_vec(&json!({
            "entity": "event", "account_id": "acc_BFQ7uQEaa7j2z7", "event": "refund.processed",
            "contains": ["refund", "payment"],
            "payload": {
                "refund": { "entity": refund_entity("rfnd_FP8DDKxqJif6ca", refund, amount, "processed") },
                "payment": { "entity": payment_entity("pay_webhook", &order.reference, "captured") }
            },
            "created_at": 1_764_374_700
        }))
        .unwrap();
        let authentic = signed_delivery(WEBHOOK_SECRET, event.clone());
        Some(RefundReports {
            forged: vec![
                ("tampered", authentic.clone().tampered()),
                ("another secret", signed_delivery("not-the-secret", event)),
            ],
            authentic,
        })
    }
}

impl super::contract::Connects for Contract {
    type Connector = Razorpay;

    fn connector(base: &str, timeout: Duration) -> Razorpay {
        Razorpay::new(
            reqwest::Client::new(),
            Endpoints::new(Some(base.to_string()), None, timeout),
        )
    }
}

impl super::contract::CreatesOrders for Contract {
    /// JSON in paise, with Basic authentication.
    async fn mount_documented_create(server: &MockServer) {
        Mock::given(method("POST"))
            .and(path("/v1/orders"))
            .and(header("authorization", BASIC))
            .and(body_partial_json(
                json!({ "amount": 49900, "currency": "INR", "receipt": "att_1" }),
            ))
            .respond_with(ResponseTemplate::new(200).set_body_json(order(
                "order_EKwxwAgItmmXdp",
                "att_1",
                "created",
            )))
            .expect(1)
            .mount(server)
            .await;
    }

    fn created(_base: &str) -> CreatedOrder {
        CreatedOrder {
            reference: "order_EKwxwAgItmmXdp".into(),
            pay_url: None,
            checkout_token: None,
        }
    }

    fn assert_sent(_request: &wiremock::Request) {}
}

impl super::contract::HandsOffWithAPage for Contract {
    const PUBLIC_CREDENTIALS: &'static [&'static str] = &["key_id"];

    /// Checkout opened on the order with the key id.
    fn page_carries() -> Vec<String> {
        vec![
            "http://mock.invalid/v1/checkout.js".into(),
            "\"order_id\":\"order_EKwxwAgItmmXdp\"".into(),
            format!("\"key\":\"{KEY_ID}\""),
        ]
    }
}
