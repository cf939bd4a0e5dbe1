//! PhonePe PG (v1) against a mock that answers as PhonePe documents: `{"request": base64}` bodies
//! and `X-VERIFY` checksums checked on every call (a wrong one gets `AUTHORIZATION_FAILED`), the
//! `{success, code, message, data}` envelope, base64 server-to-server callbacks.

use super::account;
use super::contract::{
    BrowserReturn, Delivery, Documented, DocumentedError, Expected, Fixture, Kind, KnownRefund,
    Order, Paid, RefundReports, Retried, open, quick,
};
use crate::support::*;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::HeaderMap;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use shared::gateways::PaymentOutcome;
use shared::gateways::endpoints::Endpoints;
use shared::gateways::phonepe::{PhonePe, merchant_transaction_id, merchant_user_id};
use shared::gateways::{
    CreatedOrder, Gateway, GatewayError, OrderRequest, RefundRequest, RefundStatus,
};
use shared::money::Currency;
use std::time::Duration;
use wiremock::matchers::{header, method, path, path_regex};
use wiremock::{Match, Mock, MockServer, Request, ResponseTemplate};

const MERCHANT_ID: &str = "LSPEXAMPLEUAT";
const SALT_KEY: &str = "00000000-fake-salt-0000-not0real0000";
const SALT_INDEX: &str = "1";
const RECEIPT: &str = "att_0196f0c1a2b37c4d8e9f0a1b2c3d4e5f";
const TRANSACTION: &str = "a_0196f0c1a2b37c4d8e9f0a1b2c3d4e5f";
const PAY_PAGE: &str = "https://mercury-uat.phonepe.com/transact/uat_v2?token=EXAMPLEtoken";

fn wrong_salt() -> [(&'static str, &'static str); 3] {
    [
        ("merchant_id", MERCHANT_ID),
        ("salt_key", "11111111-fake-salt-1111-not1real1111"),
        ("salt_index", SALT_INDEX),
    ]
}

/// PhonePe's test orders carry a plain description.
fn request(receipt: &str, amount: i64) -> OrderRequest {
    OrderRequest {
        description: Some("Masala chai x 2".into()),
        ..super::contract::order_request_to("phonepe", receipt, amount)
    }
}

/// The mock's own checksum, computed independently of the connector.
fn checksum(message: &str) -> String {
    format!(
        "{}###{SALT_INDEX}",
        hex::encode(Sha256::digest(format!("{message}{SALT_KEY}").as_bytes()))
    )
}

/// The base64 `request` of a POST, as sent.
fn sent_base64(request: &Request) -> String {
    serde_json::from_slice::<Value>(&request.body).unwrap()["request"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The JSON payload inside a POST's base64 `request`.
fn sent_payload(request: &Request) -> Value {
    serde_json::from_slice(&STANDARD.decode(sent_base64(request)).unwrap()).unwrap()
}

/// Matches only calls whose `X-VERIFY` is PhonePe's checksum: over base64 body + path for a
/// POST, over the path for a GET.
struct Verified;

impl Match for Verified {
    fn matches(&self, request: &Request) -> bool {
        let Some(presented) = request
            .headers
            .get("x-verify")
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        let payload = if request.method == http::Method::POST {
            match serde_json::from_slice::<Value>(&request.body) {
                Ok(body) => body["request"].as_str().unwrap_or_default().to_string(),
                Err(_) => return false,
            }
        } else {
            String::new()
        };
        presented == checksum(&format!("{payload}{}", request.url.path()))
    }
}

fn envelope(success: bool, code: &str, message: &str, data: Value) -> Value {
    json!({ "success": success, "code": code, "message": message, "data": data })
}

fn refusal(code: &str, message: &str) -> Value {
    json!({ "success": false, "code": code, "message": message })
}

/// Answers a pay request as PhonePe does for `PAY_PAGE`: the pay page URL in `redirectInfo`.
fn pay_page(request: &Request) -> ResponseTemplate {
    let sent = sent_payload(request);
    ResponseTemplate::new(200).set_body_json(envelope(
        true,
        "PAYMENT_INITIATED",
        "Payment initiated",
        json!({
            "merchantId": sent["merchantId"], "merchantTransactionId": sent["merchantTransactionId"],
            "instrumentResponse": { "type": "PAY_PAGE", "redirectInfo": { "url": PAY_PAGE, "method": "GET" } }
        }),
    ))
}

/// A status-shaped answer (the status API, and decoded callbacks) for `transaction`.
fn status_body(transaction: &str, code: &str, state: &str, payment: &str) -> Value {
    let message = match code {
        "PAYMENT_SUCCESS" => "Your payment is successful.",
        "PAYMENT_PENDING" => "Your payment is in pending state.",
        _ => "Payment Failed",
    };
    envelope(
        code == "PAYMENT_SUCCESS",
        code,
        message,
        json!({
            "merchantId": MERCHANT_ID, "merchantTransactionId": transaction, "transactionId": payment,
            "amount": 49900, "state": state,
            "responseCode": if code == "PAYMENT_ERROR" { "REQUEST_DECLINE_BY_REQUESTEE" } else { "SUCCESS" },
            "paymentInstrument": { "type": "UPI", "utr": "206378866112" }
        }),
    )
}

fn not_found() -> Value {
    refusal(
        "TRANSACTION_NOT_FOUND",
        "No Transaction found with the given details.",
    )
}

/// The merchantTransactionId in a status path.
fn asked(request: &Request) -> String {
    request
        .url
        .path()
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string()
}

/// What PhonePe answers to a wrong checksum; mounted below every other mock.
async fn refuse_unverified(server: &MockServer) {
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(401).set_body_json(refusal(
            "AUTHORIZATION_FAILED",
            "Authorization failed [X-VERIFY invalid]",
        )))
        .with_priority(10)
        .mount(server)
        .await;
}

fn status_path(transaction: &str) -> String {
    format!("/pg/v1/status/{MERCHANT_ID}/{transaction}")
}

/// The documented create and its redirect: `contract::phonepe::an_order_is_created_with…` and
/// `contract::phonepe::the_handoff_redirects_to_the_pay_page`.
#[tokio::test]
async fn a_phone_number_phonepe_cannot_take_is_left_out() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/pg/v1/pay"))
        .and(header("content-type", "application/json"))
        .and(Verified)
        .respond_with(pay_page)
        .expect(1)
        .mount(&server)
        .await;
    refuse_unverified(&server).await;
    let mut abroad = request("att_0196f0c1a2b37c4d8e9f0a1b2c3d4e60", 100);
    abroad.customer_phone = "+14155550123".into();
    quick::<Contract>(&server.uri())
        .create_order(&account(&Contract::credentials()), &abroad)
        .await
        .unwrap();
    let requests = server.received_requests().await.unwrap();
    let second = sent_payload(&requests[0]);
    assert_eq!(second["amount"], 100);
    assert!(
        second.get("mobileNumber").is_none(),
        "a number PhonePe cannot take is left out, not sent as null: {second}"
    );
}

#[tokio::test]
async fn amounts_under_a_rupee_are_declined_without_asking_phonepe() {
    let server = MockServer::start().await;
    refuse_unverified(&server).await;
    let gateway = quick::<Contract>(&server.uri());
    let acc = account(&Contract::credentials());
    let small = gateway
        .create_order(&acc, &request(RECEIPT, 99))
        .await
        .unwrap_err();
    assert!(matches!(small, GatewayError::Declined(_)), "{small:?}");
    let refund = gateway
        .create_refund(
            &acc,
            &refund_request("rfd_0196f0c1a2b37c4d8e9f0a1b2c3d4e5f", 99),
        )
        .await
        .unwrap_err();
    assert!(matches!(refund, GatewayError::Declined(_)), "{refund:?}");
    assert!(server.received_requests().await.unwrap().is_empty());
}

/// The documented error answers: `contract::phonepe::a_failed_create_is_classified…` and
/// `contract::phonepe::a_failed_status_query…`. Here: a wrong salt, refused by PhonePe's
/// checksum check.
#[tokio::test]
async fn a_wrong_salt_is_a_configuration_error() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(Verified)
        .respond_with(pay_page)
        .mount(&server)
        .await;
    refuse_unverified(&server).await;
    let wrong = quick::<Contract>(&server.uri())
        .create_order(&account(&wrong_salt()), &request(RECEIPT, 49_900))
        .await
        .unwrap_err();
    assert!(matches!(wrong, GatewayError::Configuration(_)), "{wrong:?}");
}

#[tokio::test]
async fn a_duplicate_transaction_id_is_looked_up_never_created_again() {
    for (lookup, label) in [
        (
            ResponseTemplate::new(200).set_body_json(status_body(
                TRANSACTION,
                "PAYMENT_PENDING",
                "PENDING",
                "T2405061224370000000001",
            )),
            "pending",
        ),
        // A pay page nobody opened yet may read as not found: the id is taken all the same.
        (
            ResponseTemplate::new(200).set_body_json(not_found()),
            "not started",
        ),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/pg/v1/pay"))
            .and(Verified)
            .respond_with(
                ResponseTemplate::new(400)
                    .set_body_json(refusal("INVALID_TRANSACTION_ID", "Duplicate TransactionID")),
            )
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path(status_path(TRANSACTION)))
            .and(header("x-merchant-id", MERCHANT_ID))
            .and(Verified)
            .respond_with(lookup)
            .expect(1)
            .mount(&server)
            .await;
        refuse_unverified(&server).await;
        let gateway = quick::<Contract>(&server.uri());
        let acc = account(&Contract::credentials());
        let order = request(RECEIPT, 49_900);
        let created = gateway.create_order(&acc, &order).await.unwrap();
        assert_eq!(
            created,
            CreatedOrder {
                reference: TRANSACTION.into(),
                pay_url: None,
                checkout_token: None,
            },
            "{label}"
        );
        // The pay page URL came only with the first answer: there is nowhere to send the customer.
        let handoff = gateway.handoff(&acc, &order, &created).unwrap_err();
        assert!(
            matches!(handoff, GatewayError::Configuration(_)),
            "{handoff:?}"
        );
    }
}

fn refund_request(refund_id: &str, amount: i64) -> RefundRequest {
    RefundRequest {
        refund_id: refund_id.into(),
        reference: TRANSACTION.into(),
        payment_id: Some("T2405061224370000000001".into()),
        receipt: RECEIPT.into(),
        amount,
        payment_amount: 49_900,
        currency: Currency::Inr,
        reason: Some("Customer changed mind".into()),
        notify_url: "https://lsp.example/api/v1/webhooks/phonepe".into(),
    }
}

/// A callback as PhonePe posts it: `{"response": base64(status JSON)}`.
fn callback(status: &Value) -> (Vec<u8>, String) {
    let response = STANDARD.encode(serde_json::to_vec(status).unwrap());
    let body = serde_json::to_vec(&json!({ "response": response })).unwrap();
    (body, response)
}

fn verify_header(value: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("x-verify", value.parse().unwrap());
    headers
}

#[test]
fn callbacks_are_verified_on_the_response_without_a_path_and_parsed() {
    let gateway = quick::<Contract>("http://mock.invalid");
    let acc = account(&Contract::credentials());
    let (body, response) = callback(&status_body(
        TRANSACTION,
        "PAYMENT_SUCCESS",
        "COMPLETED",
        "T2405061224370000000001",
    ));
    let good = checksum(&response);
    assert!(gateway.verify_webhook(&acc, &verify_header(&good), &body));
    assert!(gateway.verify_webhook(&acc, &verify_header(&good.to_uppercase()), &body));
    let with_path = checksum(&format!("{response}/api/v1/webhooks/phonepe"));
    assert!(!gateway.verify_webhook(&acc, &verify_header(&with_path), &body));
    assert!(!gateway.verify_webhook(&acc, &verify_header(&good.replace("###1", "###2")), &body));
    assert!(!gateway.verify_webhook(&acc, &HeaderMap::new(), &body));
    assert!(!gateway.verify_webhook(&account(&wrong_salt()), &verify_header(&good), &body));

    let event = gateway.parse_webhook(&HeaderMap::new(), &body).unwrap();
    assert_eq!(
        event.event_id,
        format!("{TRANSACTION}:T2405061224370000000001:PAYMENT_SUCCESS")
    );
    assert_eq!(event.receipt.as_deref(), Some(RECEIPT));
    assert_eq!(event.reference.as_deref(), Some(TRANSACTION));
    let report = event.report.unwrap();
    assert_eq!(report.status, PaymentOutcome::Succeeded);
    assert_eq!(
        report.payment_id.as_deref(),
        Some("T2405061224370000000001")
    );

    let (failed, _) = callback(&status_body(TRANSACTION, "PAYMENT_ERROR", "FAILED", "T9"));
    let failed = gateway.parse_webhook(&HeaderMap::new(), &failed).unwrap();
    assert_eq!(failed.report.unwrap().status, PaymentOutcome::Failed);
    assert_eq!(failed.event_id, format!("{TRANSACTION}:T9:PAYMENT_ERROR"));
    assert!(
        gateway
            .parse_webhook(&HeaderMap::new(), br#"{"response":"%%%"}"#)
            .is_err()
    );
    assert!(gateway.parse_webhook(&HeaderMap::new(), b"{}").is_err());
}

// Through the platform: a merchant whose routing pool has a PhonePe account.

/// The attempt's id (our receipt) and its gateway reference.
async fn attempt(app: &TestApp, merchant: &Merchant, id: &str) -> (String, Option<String>) {
    let transaction = app.transaction(merchant, id).await;
    let attempt = &transaction["attempts"][0];
    (
        attempt["id"].as_str().unwrap().to_string(),
        attempt["gateway_reference"].as_str().map(str::to_string),
    )
}

async fn pays(server: &MockServer) -> Vec<Request> {
    server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.method == http::Method::POST && r.url.path() == "/pg/v1/pay")
        .collect()
}

/// The lookup after a lost create answer (`contract::phonepe::an_ambiguous_create_is_found…`)
/// finds the order, but the pay page URL was in the answer that never arrived: the checkout
/// cannot hand off, says the payment is being confirmed, and still makes no second order.
#[tokio::test]
async fn after_an_ambiguous_create_the_checkout_waits_for_confirmation() {
    let server = MockServer::start().await;
    <Contract as super::contract::FindsByReceipt>::mount_late_create_found_by_lookup(&server).await;
    let (app, merchant) = Contract::platform(&server).await;
    let (status, body) = app
        .pay(&merchant, &payment("pp-amb-1", 49_900, false), None)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["data"]["id"].as_str().unwrap();
    app.drain().await;
    let (receipt, reference) = attempt(&app, &merchant, id).await;
    assert_eq!(
        reference.as_deref(),
        Some(merchant_transaction_id(&receipt).as_str())
    );
    let page = app
        .http
        .get(app.url(&format!("/api/v1/checkout/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("We are confirming this payment")
    );
    assert_eq!(pays(&server).await.len(), 1);
}

#[tokio::test]
async fn the_checkout_redirects_to_the_pay_page() {
    let (server, app, _merchant, order) = open::<Contract>("pp-handoff").await;
    let (id, transaction) = (order.id, order.reference);
    let page = app
        .http
        .get(app.url(&format!("/api/v1/checkout/{id}")))
        .send()
        .await
        .unwrap();
    assert!(page.status().is_redirection(), "{}", page.status());
    assert_eq!(page.headers()["location"], PAY_PAGE);
    let sent = sent_payload(&pays(&server).await[0]);
    assert_eq!(sent["merchantTransactionId"], transaction.as_str());
    assert_eq!(
        sent["redirectUrl"],
        app.url(&format!("/api/v1/checkout/{id}/return"))
    );
    // The callback URL names the account, so only its salt key is tried.
    let callback = sent["callbackUrl"].as_str().unwrap();
    assert!(
        callback.starts_with(&app.url("/api/v1/webhooks/phonepe/gwa_")),
        "{callback}"
    );
    assert_eq!(sent["redirectMode"], "POST");
}

/// PhonePe as the connector contract drives it (`contract::phonepe::…`).
pub struct Contract;

/// PhonePe's transaction id for the contract's captures.
const CONTRACT_PAYMENT: &str = "T2405061224370000000003";

impl super::contract::Fixture for Contract {
    const PROVIDER: &'static str = "phonepe";

    fn credentials() -> Vec<(&'static str, &'static str)> {
        vec![
            ("merchant_id", MERCHANT_ID),
            ("salt_key", SALT_KEY),
            ("salt_index", SALT_INDEX),
        ]
    }

    async fn mount_create(server: &MockServer, _label: &str) {
        Mock::given(method("POST"))
            .and(path("/pg/v1/pay"))
            .and(Verified)
            .respond_with(pay_page)
            .mount(server)
            .await;
        refuse_unverified(server).await;
    }

    fn expected_reference(_label: &str, receipt: &str) -> Option<String> {
        Some(merchant_transaction_id(receipt))
    }

    async fn mount_captured(_app: &TestApp, server: &MockServer, order: &Order, paid: Paid) {
        Mock::given(method("GET"))
            .and(path(status_path(&order.reference)))
            .and(header("x-merchant-id", MERCHANT_ID))
            .and(Verified)
            .respond_with(ResponseTemplate::new(200).set_body_json(captured(order, paid)))
            .mount(server)
            .await;
    }

    async fn status_queries(server: &MockServer, order: &Order) -> Option<usize> {
        let asked = status_path(&order.reference);
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

    async fn captured_webhook(_app: &TestApp, order: &Order, paid: Paid) -> Delivery {
        let (body, response) = callback(&captured(order, paid));
        verified_delivery(&checksum(&response), body)
    }

    async fn forged_webhooks(_app: &TestApp, order: &Order) -> Vec<(&'static str, Delivery)> {
        let (body, response) = callback(&captured(order, Paid::IN_FULL));
        let good = checksum(&response);
        // The same checksum on another response: a forged success for a made-up payment id.
        let mut made_up = captured(order, Paid::IN_FULL);
        made_up["data"]["transactionId"] = json!("T2405061224370000000666");
        let (tampered, _) = callback(&made_up);
        let other_salt = format!(
            "{}###1",
            hex::encode(Sha256::digest(
                format!("{response}11111111-fake-salt-1111-not1real1111").as_bytes()
            ))
        );
        vec![
            ("tampered", verified_delivery(&good, tampered)),
            (
                "unsigned",
                Delivery::new("application/json", &[], body.clone()),
            ),
            (
                "another salt key",
                verified_delivery(&other_salt, body.clone()),
            ),
            (
                "another salt index",
                verified_delivery(&good.replace("###1", "###2"), body),
            ),
        ]
    }

    async fn forged_returns(_app: &TestApp, _order: &Order) -> Vec<(&'static str, BrowserReturn)> {
        vec![
            (
                "another transaction",
                BrowserReturn::post(&[
                    ("code", "PAYMENT_SUCCESS"),
                    ("merchantId", MERCHANT_ID),
                    ("transactionId", "a_00000000000000000000000000000000"),
                    ("amount", "49900"),
                ]),
            ),
            ("bare", BrowserReturn::post(&[("code", "PAYMENT_SUCCESS")])),
        ]
    }

    /// The posted `code` says the payment failed, but only PhonePe's status answer counts.
    async fn real_return(_app: &TestApp, order: &Order) -> BrowserReturn {
        BrowserReturn::post(&[
            ("code", "PAYMENT_ERROR"),
            ("merchantId", MERCHANT_ID),
            ("transactionId", order.reference.as_str()),
            ("amount", "49900"),
            ("providerReferenceId", CONTRACT_PAYMENT),
        ])
    }
}

/// The status answer (and decoded callback) of `order` captured as `paid`.
fn captured(order: &Order, paid: Paid) -> Value {
    let mut status = status_body(
        &order.reference,
        "PAYMENT_SUCCESS",
        "COMPLETED",
        CONTRACT_PAYMENT,
    );
    status["data"]["amount"] = json!(paid.amount);
    if paid.currency != "INR" {
        status["data"]["currency"] = json!(paid.currency);
    }
    status
}

/// A callback `body` as PhonePe delivers it, with `x_verify` as its checksum.
fn verified_delivery(x_verify: &str, body: Vec<u8>) -> Delivery {
    Delivery::new("application/json", &[("x-verify", x_verify)], body)
}

impl super::contract::Creates for Contract {
    const CREATE_PATH: &'static str = "/pg/v1/pay";
    const FAILING_RECEIPT: &'static str = RECEIPT;

    fn created() -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_json(envelope(
            true,
            "PAYMENT_INITIATED",
            "Payment initiated",
            json!({}),
        ))
    }
}

impl super::contract::ChecksCredentials for Contract {
    async fn mount_credential_check(server: &MockServer) {
        Mock::given(method("GET"))
            .and(path(status_path("lsp-credential-check")))
            .and(header("x-merchant-id", MERCHANT_ID))
            .and(Verified)
            .respond_with(ResponseTemplate::new(200).set_body_json(not_found()))
            .mount(server)
            .await;
        refuse_unverified(server).await;
    }

    fn wrong() -> Vec<Vec<(&'static str, &'static str)>> {
        vec![wrong_salt().to_vec()]
    }

    fn incomplete() -> Vec<(&'static str, &'static str)> {
        vec![("merchant_id", MERCHANT_ID), ("salt_key", SALT_KEY)]
    }

    fn moves_no_money(request: &wiremock::Request) -> bool {
        request.method == http::Method::GET
    }
}

impl super::contract::LooksUpOrders for Contract {
    fn is_lookup(request: &Request, receipt: &str) -> bool {
        request.method == http::Method::GET
            && request.url.path() == status_path(&merchant_transaction_id(receipt))
    }
}

impl super::contract::FindsByReceipt for Contract {
    const RECEIPT_FOUND: &'static str = RECEIPT;
    const RECEIPT_MISSING: &'static str = "att_0196f0c1a2b37c4d8e9f0a1b2c3d4e60";

    /// The status API knows a payment by its deterministic merchantTransactionId.
    async fn mount_lookups(server: &MockServer) {
        Mock::given(method("GET"))
            .and(path(status_path(TRANSACTION)))
            .and(header("x-merchant-id", MERCHANT_ID))
            .and(Verified)
            .respond_with(ResponseTemplate::new(200).set_body_json(status_body(
                TRANSACTION,
                "PAYMENT_PENDING",
                "PENDING",
                "T2405061224370000000001",
            )))
            .mount(server)
            .await;
        // Which HTTP status comes with TRANSACTION_NOT_FOUND is not documented: the code decides.
        Mock::given(method("GET"))
            .and(path(status_path(&merchant_transaction_id(
                Self::RECEIPT_MISSING,
            ))))
            .and(Verified)
            .respond_with(ResponseTemplate::new(404).set_body_json(not_found()))
            .mount(server)
            .await;
        refuse_unverified(server).await;
    }

    /// Without its pay page: that came only with the create's answer.
    fn found() -> CreatedOrder {
        CreatedOrder {
            reference: TRANSACTION.into(),
            pay_url: None,
            checkout_token: None,
        }
    }

    /// PhonePe makes the pay page but answers too late: the request timed out on our side. The
    /// status API knows the payment by its deterministic merchantTransactionId.
    async fn mount_late_create_found_by_lookup(server: &MockServer) {
        Mock::given(method("POST"))
            .and(path("/pg/v1/pay"))
            .and(Verified)
            .respond_with(pay_page)
            .mount(server)
            .await;
        Mock::given(method("POST"))
            .and(path("/pg/v1/pay"))
            .respond_with(lost_answer())
            .with_priority(1)
            .up_to_n_times(1)
            .mount(server)
            .await;
        Mock::given(method("GET"))
            .and(path_regex(format!(
                "^/pg/v1/status/{MERCHANT_ID}/a_[0-9a-f]{{32}}$"
            )))
            .and(Verified)
            .respond_with(|request: &Request| {
                ResponseTemplate::new(200).set_body_json(status_body(
                    &asked(request),
                    "PAYMENT_PENDING",
                    "PENDING",
                    "T2405061224370000000002",
                ))
            })
            .mount(server)
            .await;
        refuse_unverified(server).await;
    }

    /// The checked payload carries the receipt's merchantTransactionId and the amount in paise.
    fn assert_create_request(request: &Request, receipt: &str) {
        let sent = sent_payload(request);
        assert_eq!(
            sent["merchantTransactionId"],
            merchant_transaction_id(receipt).as_str(),
            "{sent}"
        );
        assert_eq!(sent["amount"], 49_900, "{sent}");
    }

    /// Found by its deterministic merchantTransactionId.
    fn found_reference(receipt: &str) -> String {
        merchant_transaction_id(receipt)
    }
}

/// A pay request's answer that comes too late to be read.
fn lost_answer() -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_json(envelope(
            true,
            "PAYMENT_INITIATED",
            "Payment initiated",
            json!({}),
        ))
        .set_delay(Duration::from_secs(3))
}

impl super::contract::RetriesCreates for Contract {
    /// The first pay request times out on our side; PhonePe holds the id from then on. Nobody
    /// opened the pay page: the status API does not show it.
    async fn mount_lagging_create(server: &MockServer, _label: &str) {
        Mock::given(method("POST"))
            .and(path("/pg/v1/pay"))
            .and(Verified)
            .respond_with(lost_answer())
            .up_to_n_times(1)
            .mount(server)
            .await;
        Mock::given(method("POST"))
            .and(path("/pg/v1/pay"))
            .and(Verified)
            .respond_with(
                ResponseTemplate::new(400)
                    .set_body_json(refusal("INVALID_TRANSACTION_ID", "Duplicate TransactionID")),
            )
            .mount(server)
            .await;
        Mock::given(method("GET"))
            .and(path_regex(format!(
                "^/pg/v1/status/{MERCHANT_ID}/a_[0-9a-f]{{32}}$"
            )))
            .and(Verified)
            .respond_with(ResponseTemplate::new(200).set_body_json(not_found()))
            .mount(server)
            .await;
        refuse_unverified(server).await;
    }

    /// The merchantTransactionId is made from the receipt, and PhonePe holds it once.
    fn made_for(request: &Request, receipt: &str) -> bool {
        sent_payload(request)["merchantTransactionId"] == merchant_transaction_id(receipt).as_str()
    }

    /// PhonePe's duplicate refusal settles that the order exists, but its pay page came only
    /// with the answer that was lost.
    fn retried_handoff(_base: &str, _order: &Order) -> Retried {
        Retried::NoPayPage
    }
}

impl super::contract::ClassifiesReadErrors for Contract {
    const ASKED: &'static str = TRANSACTION;

    fn server_error() -> ResponseTemplate {
        ResponseTemplate::new(500).set_body_json(refusal(
            "INTERNAL_SERVER_ERROR",
            "There is an error trying to process your transaction at the moment. Please try again in a while.",
        ))
    }

    /// PhonePe's throttling answer carries no documented body.
    fn too_many_requests() -> ResponseTemplate {
        ResponseTemplate::new(429)
    }

    async fn mount_status_answer(server: &MockServer, answer: ResponseTemplate) {
        Mock::given(method("GET"))
            .respond_with(answer)
            .mount(server)
            .await;
    }

    fn documented_read_errors() -> Vec<DocumentedError> {
        vec![
            DocumentedError::new("an outage", ResponseTemplate::new(503), Kind::Retryable),
            DocumentedError::new(
                "a timeout at PhonePe",
                ResponseTemplate::new(200).set_body_json(refusal("TIMED_OUT", "Request timed out")),
                Kind::Retryable,
            ),
            DocumentedError::new(
                "throttling, as a refusal",
                ResponseTemplate::new(429)
                    .set_body_json(refusal("TOO_MANY_REQUESTS", "Too many requests")),
                Kind::Retryable,
            ),
            DocumentedError::new(
                "a checksum refused",
                ResponseTemplate::new(401)
                    .set_body_json(refusal("AUTHORIZATION_FAILED", "Authorization failed")),
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
                "a bad request",
                ResponseTemplate::new(400).set_body_json(refusal(
                    "BAD_REQUEST",
                    "Please check the inputs you have provided.",
                )),
                Kind::Configuration,
            ),
            DocumentedError::new(
                "a decline",
                ResponseTemplate::new(200).set_body_json(refusal(
                    "PAYMENT_DECLINED",
                    "Payment declined by the risk engine",
                )),
                Kind::Declined,
            ),
            DocumentedError::new(
                "a gateway down",
                ResponseTemplate::new(502).set_body_string("<html>Bad Gateway</html>"),
                Kind::Ambiguous,
            ),
        ]
    }
}

impl super::contract::CreatesOrders for Contract {
    const RECEIPT: &'static str = RECEIPT;

    /// JSON whose only field is the base64 payload, with a verified X-VERIFY checksum.
    async fn mount_documented_create(server: &MockServer) {
        Mock::given(method("POST"))
            .and(path("/pg/v1/pay"))
            .and(header("content-type", "application/json"))
            .and(Verified)
            .respond_with(pay_page)
            .expect(1)
            .mount(server)
            .await;
        refuse_unverified(server).await;
    }

    /// The transaction id derived from the receipt; PhonePe's pay page to redirect to.
    fn created(_base: &str) -> CreatedOrder {
        CreatedOrder {
            reference: TRANSACTION.into(),
            pay_url: Some(PAY_PAGE.into()),
            checkout_token: None,
        }
    }

    fn assert_sent(request: &Request) {
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(
            body.as_object().unwrap().keys().collect::<Vec<_>>(),
            ["request"],
            "the body is only the base64 payload"
        );
        assert_eq!(
            sent_payload(request),
            json!({
                "merchantId": MERCHANT_ID,
                "merchantTransactionId": TRANSACTION,
                "merchantUserId": merchant_user_id(RECEIPT),
                "amount": 49900,
                "redirectUrl": "https://lsp.example/api/v1/checkout/txn_1/return",
                "redirectMode": "POST",
                "callbackUrl": "https://lsp.example/api/v1/webhooks/phonepe",
                "mobileNumber": "9812345678",
                "paymentInstrument": { "type": "PAY_PAGE" },
            })
        );
        let user = merchant_user_id(RECEIPT);
        assert!(user.len() < 36 && !user.contains("asha") && !user.contains("9812345678"));
    }
}

impl super::contract::MapsStatus for Contract {
    async fn mount_statuses(server: &MockServer) {
        Mock::given(method("GET"))
            .and(path_regex(format!("^/pg/v1/status/{MERCHANT_ID}/[A-Za-z0-9_-]+$")))
            .and(header("x-merchant-id", MERCHANT_ID))
            .and(Verified)
            .respond_with(|request: &Request| {
                let transaction = asked(request);
                let body = match transaction.as_str() {
                    "t_success" => status_body(&transaction, "PAYMENT_SUCCESS", "COMPLETED", "T1"),
                    "t_error" => status_body(&transaction, "PAYMENT_ERROR", "FAILED", "T2"),
                    "t_declined" => status_body(&transaction, "PAYMENT_DECLINED", "FAILED", "T3"),
                    "t_pending" => status_body(&transaction, "PAYMENT_PENDING", "PENDING", "T4"),
                    "t_new_code" => envelope(true, "SOME_FUTURE_CODE", "m", json!({
                        "merchantTransactionId": transaction, "transactionId": "T5", "state": "COMPLETED" })),
                    "t_unknown" => not_found(),
                    "t_other" => status_body("t_someone_else", "PAYMENT_SUCCESS", "COMPLETED", "T6"),
                    _ => refusal("INTERNAL_SERVER_ERROR", "Something went wrong"),
                };
                ResponseTemplate::new(200).set_body_json(body)
            })
            .mount(server)
            .await;
        refuse_unverified(server).await;
    }

    fn documented() -> Vec<Documented> {
        vec![
            Documented::is("t_success", PaymentOutcome::Succeeded).paid_as(Some("T1")),
            Documented::is("t_error", PaymentOutcome::Failed).failing(Some(
                "phonepe PAYMENT_ERROR (REQUEST_DECLINE_BY_REQUESTEE): Payment Failed",
            )),
            Documented::is("t_declined", PaymentOutcome::Failed),
            Documented::is("t_pending", PaymentOutcome::Pending).paid_as(None),
            Documented::is("t_new_code", PaymentOutcome::Succeeded)
                .because("an unknown code falls back on the state"),
            Documented::is("t_unknown", PaymentOutcome::Pending)
                .because("not found: the customer has not started"),
            Documented::gives("t_other", Expected::Retryable)
                .because("an answer about another transaction is not believed"),
            Documented::gives("t_busy", Expected::Retryable),
            Documented::gives("t_x/../../pay", Expected::Declined),
        ]
    }
}

impl super::contract::Connects for Contract {
    type Connector = PhonePe;

    fn connector(base: &str, timeout: Duration) -> PhonePe {
        PhonePe::new(
            reqwest::Client::new(),
            Endpoints::new(Some(base.to_string()), None, timeout),
        )
    }

    fn order_request(receipt: &str) -> OrderRequest {
        request(receipt, 49_900)
    }
}

impl super::contract::RefundsAmbiguously for Contract {
    const FOUND: &'static str = "rfd_0196f0c1a2b37c4d8e9f0a1b2c3d4e51";
    const MISSING: &'static str = "rfd_0196f0c1a2b37c4d8e9f0a1b2c3d4e50";

    fn refund(refund_id: &str) -> RefundRequest {
        refund_request(refund_id, 10_000)
    }

    /// A refund is a transaction of its own: the status API knows it by its transaction id.
    async fn mount_refund_lookup(server: &MockServer) {
        Mock::given(method("GET"))
            .and(path_regex(format!(
                "^/pg/v1/status/{MERCHANT_ID}/r_[0-9a-f]{{32}}$"
            )))
            .and(header("x-merchant-id", MERCHANT_ID))
            .and(Verified)
            .respond_with(|request: &Request| {
                let transaction = asked(request);
                let body = if transaction.ends_with('1') {
                    status_body(&transaction, "PAYMENT_SUCCESS", "COMPLETED", "TR1")
                } else {
                    not_found()
                };
                ResponseTemplate::new(200).set_body_json(body)
            })
            .mount(server)
            .await;
        refuse_unverified(server).await;
    }

    fn found_as() -> (&'static str, RefundStatus) {
        ("TR1", RefundStatus::Succeeded)
    }

    fn is_refund_create(request: &Request) -> bool {
        request.method == http::Method::POST && request.url.path() == "/pg/v1/refund"
    }
}

/// What PhonePe answers to an accepted refund: pending, under its transaction id `gateway_id`.
fn refund_accepted(
    gateway_id: &'static str,
) -> impl Fn(&Request) -> ResponseTemplate + Send + Sync {
    move |request: &Request| {
        let sent = sent_payload(request);
        ResponseTemplate::new(200).set_body_json(envelope(
            true,
            "PAYMENT_PENDING",
            "Your request has been successfully completed.",
            json!({ "merchantId": MERCHANT_ID, "merchantTransactionId": sent["merchantTransactionId"],
                    "transactionId": gateway_id, "amount": sent["amount"], "state": "PENDING",
                    "responseCode": "PAYMENT_PENDING" }),
        ))
    }
}

impl super::contract::CreatesRefunds for Contract {
    const CREATED: &'static str = "rfd_0196f0c1a2b37c4d8e9f0a1b2c3d4e5f";
    const CREATED_AS: &'static str = "TR620471739210623";

    /// A verified JSON POST; the refund is a transaction of its own.
    async fn mount_documented_refund(server: &MockServer) {
        Mock::given(method("POST"))
            .and(path("/pg/v1/refund"))
            .and(header("content-type", "application/json"))
            .and(Verified)
            .respond_with(refund_accepted("TR620471739210623"))
            .expect(1)
            .mount(server)
            .await;
        refuse_unverified(server).await;
    }

    fn assert_refund_sent(request: &Request) {
        assert_eq!(
            sent_payload(request),
            json!({
                "merchantId": MERCHANT_ID,
                "merchantUserId": merchant_user_id(RECEIPT),
                "originalTransactionId": TRANSACTION,
                "merchantTransactionId": "r_0196f0c1a2b37c4d8e9f0a1b2c3d4e5f",
                "amount": 10000,
                "callbackUrl": "https://lsp.example/api/v1/webhooks/phonepe",
            }),
            "the payment's user id, a refund id of its own"
        );
    }
}

impl super::contract::ClassifiesRefundErrors for Contract {
    const REPEATED: &'static str = "rfd_0196f0c1a2b37c4d8e9f0a1b2c3d4e5f";

    /// After a duplicate id, the refund is read back through the status API.
    async fn mount_refund_answer(server: &MockServer, response: ResponseTemplate) {
        Mock::given(method("POST"))
            .and(path("/pg/v1/refund"))
            .and(Verified)
            .respond_with(response)
            .mount(server)
            .await;
        Mock::given(method("GET"))
            .and(path(status_path("r_0196f0c1a2b37c4d8e9f0a1b2c3d4e5f")))
            .and(Verified)
            .respond_with(ResponseTemplate::new(200).set_body_json(status_body(
                "r_0196f0c1a2b37c4d8e9f0a1b2c3d4e5f",
                "PAYMENT_SUCCESS",
                "COMPLETED",
                "TR1",
            )))
            .mount(server)
            .await;
        refuse_unverified(server).await;
    }

    fn refund_refused() -> ResponseTemplate {
        ResponseTemplate::new(400).set_body_json(refusal(
            "REVERSAL_WINDOW_EXCEEDED",
            "The time window for refunding the transaction has been breached",
        ))
    }

    /// A server error, and PhonePe's own timeout.
    fn refund_maybe_made() -> Vec<ResponseTemplate> {
        vec![
            ResponseTemplate::new(500).set_body_json(refusal(
                "INTERNAL_SERVER_ERROR",
                "Something went wrong. Refund might get initiated",
            )),
            ResponseTemplate::new(200).set_body_json(refusal("TIMED_OUT", "Refund timed out")),
        ]
    }

    fn repeated_id() -> Option<(ResponseTemplate, &'static str, RefundStatus)> {
        Some((
            ResponseTemplate::new(400)
                .set_body_json(refusal("INVALID_TRANSACTION_ID", "Duplicate TransactionID")),
            "TR1",
            RefundStatus::Succeeded,
        ))
    }
}

impl super::contract::FetchesRefunds for Contract {
    /// The status API knows a refund by its own transaction id, whatever PhonePe's id is.
    async fn mount_refund_statuses(server: &MockServer) {
        Mock::given(method("GET"))
            .and(path_regex(format!(
                "^/pg/v1/status/{MERCHANT_ID}/r_[0-9a-f]{{32}}$"
            )))
            .and(header("x-merchant-id", MERCHANT_ID))
            .and(Verified)
            .respond_with(|request: &Request| {
                let transaction = asked(request);
                let body = match &transaction[transaction.len() - 1..] {
                    "1" => status_body(&transaction, "PAYMENT_SUCCESS", "COMPLETED", "TR1"),
                    "2" => status_body(&transaction, "PAYMENT_ERROR", "FAILED", "TR2"),
                    "3" => status_body(&transaction, "PAYMENT_PENDING", "PENDING", "TR3"),
                    _ => not_found(),
                };
                ResponseTemplate::new(200).set_body_json(body)
            })
            .mount(server)
            .await;
        refuse_unverified(server).await;
    }

    fn known_refunds() -> Vec<KnownRefund> {
        let (done, failed, pending) = (
            "rfd_0196f0c1a2b37c4d8e9f0a1b2c3d4e51",
            "rfd_0196f0c1a2b37c4d8e9f0a1b2c3d4e52",
            "rfd_0196f0c1a2b37c4d8e9f0a1b2c3d4e53",
        );
        vec![
            KnownRefund::is(done, Some("ignored"), RefundStatus::Succeeded).known_as("TR1"),
            KnownRefund::is(failed, Some("ignored"), RefundStatus::Failed).known_as("TR2"),
            KnownRefund::is(pending, Some("ignored"), RefundStatus::Pending).known_as("TR3"),
            KnownRefund::is(failed, None, RefundStatus::Failed)
                .failing("phonepe PAYMENT_ERROR (REQUEST_DECLINE_BY_REQUESTEE): Payment Failed"),
        ]
    }
}

/// PhonePe's transaction id for the refunds the platform asks for.
const PLATFORM_REFUND: &str = "TR2405061300000000000001";

/// The status answer (and decoded callback) of the refund `refund` of `amount`, completed.
fn refund_completed(refund: &str, amount: i64) -> Value {
    let mut status = status_body(
        &merchant_transaction_id(refund),
        "PAYMENT_SUCCESS",
        "COMPLETED",
        PLATFORM_REFUND,
    );
    status["data"]["amount"] = json!(amount);
    status
}

impl super::contract::SettlesRefunds for Contract {
    const GATEWAY_REFUND: &'static str = PLATFORM_REFUND;

    async fn mount_refund_accepted(server: &MockServer, _order: &Order, delay: Duration) {
        let accepted = refund_accepted(PLATFORM_REFUND);
        Mock::given(method("POST"))
            .and(path("/pg/v1/refund"))
            .and(Verified)
            .respond_with(move |request: &Request| accepted(request).set_delay(delay))
            .mount(server)
            .await;
    }

    /// A refund transaction of its own, naming the payment's.
    fn assert_refund_asked(request: &Request, order: &Order, refund: &str, amount: i64) {
        let sent = sent_payload(request);
        assert_eq!(
            sent["merchantTransactionId"],
            merchant_transaction_id(refund).as_str()
        );
        assert_eq!(sent["originalTransactionId"], order.reference.as_str());
        assert_eq!(sent["amount"], amount);
    }

    async fn mount_refund_found(server: &MockServer, _order: &Order, refund: &str, amount: i64) {
        Mock::given(method("GET"))
            .and(path(status_path(&merchant_transaction_id(refund))))
            .and(header("x-merchant-id", MERCHANT_ID))
            .and(Verified)
            .respond_with(
                ResponseTemplate::new(200).set_body_json(refund_completed(refund, amount)),
            )
            .mount(server)
            .await;
    }

    /// The refund's callback, checksummed with the salt key.
    async fn refund_reports(
        _app: &TestApp,
        _order: &Order,
        refund: &str,
        amount: i64,
    ) -> Option<RefundReports> {
        let (body, response) = callback(&refund_completed(refund, amount));
        let good = checksum(&response);
        Some(RefundReports {
            forged: vec![
                (
                    "unsigned",
                    Delivery::new("application/json", &[], body.clone()),
                ),
                (
                    "another salt index",
                    verified_delivery(&good.replace("###1", "###2"), body.clone()),
                ),
            ],
            authentic: verified_delivery(&good, body),
        })
    }
}
