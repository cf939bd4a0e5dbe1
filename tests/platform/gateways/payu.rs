//! PayU against a mock of its payment page and postservice command API.

use super::contract::{
    BrowserReturn, Delivery, Documented, Fixture, Order, Paid, ask_refund, captured, open, quick,
    read_refund,
};
use super::{account, assert_amount_mismatch, no_redirects};
use crate::browser::Browser;
use crate::support::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::gateways::PaymentOutcome;
use shared::gateways::endpoints::Endpoints;
use shared::gateways::payu::{PayU, command_hash, request_hash, txnid};
use shared::gateways::signature::sha512_pipe_hex;
use shared::gateways::{CreatedOrder, Gateway, GatewayError, RefundRequest, RefundStatus};
use shared::money::Currency;
use std::collections::BTreeMap;
use std::time::Duration;
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEY: &str = "EXAMPLEKEY";
const SALT: &str = "example-salt-not-real";

/// `verify_payment`'s answer for one txnid, as PayU documents it.
fn verified(txnid: &str, status: &str, unmapped: &str) -> Value {
    json!({
        "status": 1,
        "msg": "1 out of 1 Transactions Fetched Successfully",
        "transaction_details": { txnid: {
            "mihpayid": "403993715521889530", "request_id": "", "bank_ref_num": "721522", "amt": "499.00",
            "transaction_amount": "499.00", "txnid": txnid, "additional_charges": "0.00", "productinfo": "Masala chai x 2",
            "firstname": "Asha Verma", "bankcode": "CC", "udf1": "", "udf2": "", "udf3": "", "udf4": "", "udf5": "",
            "field9": if status == "success" { "No Error" } else { "OTP/ATM page expired due to no user action" },
            "error_code": if status == "success" { "E000" } else { "E1602" }, "addedon": "2026-11-29 10:12:13",
            "payment_source": "payu", "card_type": "UNKNOWN",
            "error_Message": if status == "success" { "NO ERROR" } else { "Bank was unable to authenticate." },
            "net_amount_debit": 499, "disc": "0.00", "mode": "CC", "PG_TYPE": "CC-PG",
            "card_no": "512345XXXXXX2346", "name_on_card": "Asha", "status": status, "unmappedstatus": unmapped,
            "Merchant_UTR": null, "Settled_At": "0000-00-00 00:00:00"
        }}
    })
}

/// The fields PayU posts back, with its reverse hash.
fn result_fields(txnid: &str, status: &str, amount: &str) -> Vec<(String, String)> {
    let hash = sha512_pipe_hex(&[
        SALT,
        status,
        "",
        "",
        "",
        "",
        "",
        "",
        "",
        "",
        "",
        "",
        "asha@example.in",
        "Asha Verma",
        "Masala chai x 2",
        amount,
        txnid,
        KEY,
    ]);
    [
        ("mihpayid", "403993715521889530"),
        ("mode", "CC"),
        ("status", status),
        (
            "unmappedstatus",
            if status == "success" {
                "captured"
            } else {
                "bounced"
            },
        ),
        ("key", KEY),
        ("txnid", txnid),
        ("amount", amount),
        ("productinfo", "Masala chai x 2"),
        ("firstname", "Asha Verma"),
        ("email", "asha@example.in"),
        ("phone", "+919812345678"),
        ("udf1", ""),
        ("udf2", ""),
        ("udf3", ""),
        ("udf4", ""),
        ("udf5", ""),
        ("field9", "No Error"),
        ("error", "E000"),
        ("error_Message", "No Error"),
        ("hash", hash.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

#[tokio::test]
async fn a_wrong_key_or_salt_is_a_configuration_error() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(body_string_contains("var1=lsp-credential-check"))
        .and(body_string_contains(format!(
            "hash={}",
            command_hash(KEY, SALT, "verify_payment", "lsp-credential-check")
        )))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "status": 0, "msg": "0 out of 1 Transactions Fetched Successfully",
            "transaction_details": { "lsp-credential-check": { "status": "Not Found" } } })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(body_string_contains("var1=lsp-credential-check"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "status": 0, "msg": "Invalid Hash." })),
        )
        .mount(&server)
        .await;
    let gateway = quick::<Contract>(&server.uri());
    gateway
        .check_credentials(&account(&Contract::credentials()))
        .await
        .unwrap();
    let wrong = gateway
        .check_credentials(&account(&[("key", KEY), ("salt", "wrong")]))
        .await
        .unwrap_err();
    assert!(matches!(wrong, GatewayError::Configuration(_)), "{wrong:?}");
}

fn refund(refund_id: &str, amount: i64) -> RefundRequest {
    RefundRequest {
        refund_id: refund_id.into(),
        reference: "lspPaid".into(),
        payment_id: Some("403993715521889530".into()),
        receipt: "att_1".into(),
        amount,
        payment_amount: 49_900,
        currency: Currency::Inr,
        reason: None,
        notify_url: "https://lsp.example/api/v1/webhooks/payu".into(),
    }
}

#[tokio::test]
async fn chromium_posts_the_payment_form_with_the_right_fields_and_hash() {
    let (server, app, _merchant, order) = open::<Contract>("payu-chromium").await;
    let (id, txnid) = (order.id, order.reference);
    Mock::given(method("POST"))
        .and(path("/_payment"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            "<html><body><h1 id=\"payu\">PayU payment page</h1></body></html>",
            "text/html",
        ))
        .mount(&server)
        .await;
    let checkout = app.url(&format!("/api/v1/checkout/{id}"));

    let profile = temp_dir("payu-chromium");
    let browser = Browser::start(&profile.join("profile")).await;
    browser.open(&checkout).await;
    let landed = browser.wait_for_url(&server.uri()).await;
    assert_eq!(landed, format!("{}/_payment", server.uri()));
    assert_eq!(browser.text("#payu").await, "PayU payment page");

    let requests = server.received_requests().await.unwrap();
    let posted: Vec<_> = requests
        .iter()
        .filter(|r| r.url.path() == "/_payment")
        .collect();
    assert_eq!(posted.len(), 1);
    let form: BTreeMap<String, String> = serde_urlencoded::from_bytes(&posted[0].body).unwrap();
    let expected_return = app.url(&format!("/api/v1/checkout/{id}/return"));
    for (field, value) in [
        ("key", KEY),
        ("txnid", txnid.as_str()),
        ("amount", "499.00"),
        ("productinfo", "Masala chai x 2"),
        ("firstname", "Asha Verma"),
        ("email", "asha@example.in"),
        ("phone", "+919812345678"),
        ("surl", expected_return.as_str()),
        ("furl", expected_return.as_str()),
    ] {
        assert_eq!(form.get(field).map(String::as_str), Some(value), "{field}");
    }
    let hashed: BTreeMap<&str, String> = ["txnid", "amount", "productinfo", "firstname", "email"]
        .into_iter()
        .map(|f| (f, form[f].clone()))
        .collect();
    assert_eq!(form["hash"], request_hash(KEY, SALT, &hashed));
    assert!(
        !form.values().any(|v| v.contains(SALT)),
        "the salt never reaches the browser"
    );
}

/// Slow and dropped reads: `contract::payu::a_failed_status_query_changed_nothing…`. A refund
/// is PayU's only write: one whose answer was lost may have been queued.
#[tokio::test]
async fn slow_and_dropped_refunds_are_ambiguous() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(verified("lspSlow", "success", "captured"))
                .set_delay(Duration::from_millis(1500)),
        )
        .mount(&server)
        .await;
    let slow = PayU::new(
        reqwest::Client::new(),
        Endpoints::new(Some(server.uri()), None, Duration::from_millis(300)),
    );
    let acc = account(&Contract::credentials());
    let write = slow
        .create_refund(&acc, &refund("rfd_slow", 100))
        .await
        .unwrap_err();
    assert!(
        matches!(write, GatewayError::Ambiguous(_)),
        "a refund that timed out may have been queued: {write:?}"
    );

    let dropped = quick::<Contract>(&super::dropping_server().await);
    let write = dropped
        .create_refund(&acc, &refund("rfd_dropped", 100))
        .await
        .unwrap_err();
    assert!(matches!(write, GatewayError::Ambiguous(_)), "{write:?}");
}

/// The security review's F2 demo: a customer who rewrote the form pays ₹1 for a ₹499 payment;
/// PayU then honestly reports a success of `1.00`, signed and confirmed by `verify_payment`.
#[tokio::test]
async fn f2_payu_a_success_for_a_lower_amount_is_flagged_not_applied() {
    let (server, app, merchant, order) = open::<Contract>("payu-f2-amount").await;
    let (id, txnid) = (order.id, order.reference);
    let mut answer = verified(&txnid, "success", "captured");
    answer["transaction_details"][&txnid]["amt"] = json!("1.00");
    answer["transaction_details"][&txnid]["transaction_amount"] = json!("1.00");
    Mock::given(method("POST"))
        .and(body_string_contains("command=verify_payment"))
        .respond_with(ResponseTemplate::new(200).set_body_json(answer))
        .mount(&server)
        .await;
    let sent = app
        .http
        .post(app.url("/api/v1/webhooks/payu"))
        .form(&result_fields(&txnid, "success", "1.00"))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), StatusCode::OK);
    app.drain().await;
    assert_amount_mismatch(&app, &merchant, &id).await;
    let transaction = app.transaction(&merchant, &id).await;
    assert_eq!(transaction["status"], "pending");
    assert_eq!(transaction["amount"], 49_900);
    // The browser return of the same payment goes through the same check.
    let answer = no_redirects()
        .post(app.url(&format!("/api/v1/checkout/{id}/return")))
        .form(&result_fields(&txnid, "success", "1.00"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let location = answer.headers()["location"].to_str().unwrap();
    assert!(!location.contains("status=succeeded"), "{location}");
    assert_amount_mismatch(&app, &merchant, &id).await;
}

#[tokio::test]
async fn f2_payu_a_success_in_another_currency_is_flagged_not_applied() {
    let (server, app, merchant, order) = open::<Contract>("payu-f2-currency").await;
    let (id, txnid) = (order.id, order.reference);
    let mut answer = verified(&txnid, "success", "captured");
    answer["transaction_details"][&txnid]["currency"] = json!("USD");
    Mock::given(method("POST"))
        .and(body_string_contains("command=verify_payment"))
        .respond_with(ResponseTemplate::new(200).set_body_json(answer))
        .mount(&server)
        .await;
    // Through the browser return this time: the status query's answer decides.
    let answer = no_redirects()
        .post(app.url(&format!("/api/v1/checkout/{id}/return")))
        .form(&result_fields(&txnid, "success", "499.00"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let location = answer.headers()["location"].to_str().unwrap();
    assert!(location.contains("status=pending"), "{location}");
    assert_amount_mismatch(&app, &merchant, &id).await;
}

/// F16: PayU answers the refund with something we do not recognise (a `status` sent as a string,
/// an undocumented code): the refund may have been queued, so it stays pending with its
/// reservation held, and PayU is asked where it stands; it is never taken as refused.
#[tokio::test]
async fn f16_an_unrecognised_refund_answer_leaves_the_refund_pending_and_its_reservation_held() {
    for (label, answer) in [
        (
            "payu-f16-string",
            json!({ "status": "0", "msg": "Refund Request Received" }),
        ),
        (
            "payu-f16-code",
            json!({ "status": 0, "msg": "Unexpected", "error_code": 999 }),
        ),
    ] {
        let (server, app, merchant, order) = captured::<Contract>(label).await;
        Mock::given(method("POST"))
            .and(body_string_contains("command=cancel_refund_transaction"))
            .respond_with(ResponseTemplate::new(200).set_body_json(answer))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(body_string_contains("command=getAllRefundsFromTxnIds"))
            .respond_with(ResponseTemplate::new(200).set_body_json(
                json!({ "status": 0, "msg": "No refund found", "Refund Details": {} }),
            ))
            .mount(&server)
            .await;
        let refund = ask_refund(&app, &merchant, &order.id, 10_000).await;
        app.drain().await;
        let read = read_refund(&app, &merchant, &refund).await;
        assert_eq!(read["status"], "pending", "{label}: {read}");
        let row = app
            .db
            .owner()
            .await
            .query_one(
                "SELECT refund_reserved, refunded_amount FROM transactions WHERE order_id = $1",
                &[&label],
            )
            .await
            .unwrap();
        assert_eq!(
            (row.get::<_, i64>(0), row.get::<_, i64>(1)),
            (10_000, 0),
            "{label}: the reservation is held"
        );
        let requests = server.received_requests().await.unwrap();
        assert!(
            requests
                .iter()
                .any(|r| String::from_utf8_lossy(&r.body)
                    .contains("command=getAllRefundsFromTxnIds")),
            "{label}: a lookup followed"
        );
        assert!(
            !requests
                .iter()
                .any(|r| String::from_utf8_lossy(&r.body).contains("var2=")
                    && !String::from_utf8_lossy(&r.body).contains(&format!("var2={refund}"))),
            "{label}: only this refund's token was ever sent"
        );
    }
}

/// F5(c): the payer's browser holds a validly hashed result; the reverse hash does not cover
/// `mihpayid`. Replaying it with `mihpayid = 1, 2, 3, …` creates no new event, no job and no
/// `verify_payment` call.
#[tokio::test]
async fn f5_payu_replays_with_new_mihpayid_create_nothing() {
    let (server, app, merchant, order) = open::<Contract>("payu-f5-replay").await;
    let (id, txnid) = (order.id, order.reference);
    Mock::given(method("POST"))
        .and(body_string_contains("command=verify_payment"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(verified(&txnid, "success", "captured")),
        )
        .mount(&server)
        .await;
    let post = |mihpayid: String| {
        let mut fields = result_fields(&txnid, "success", "499.00");
        for (k, v) in fields.iter_mut() {
            if k == "mihpayid" {
                *v = mihpayid.clone();
            }
        }
        let request = app
            .http
            .post(app.url("/api/v1/webhooks/payu"))
            .form(&fields);
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(post("403993715521889530".into()).await, StatusCode::OK);
    app.drain().await;
    assert_eq!(app.transaction(&merchant, &id).await["status"], "succeeded");
    let asked = || async {
        server
            .received_requests()
            .await
            .unwrap()
            .iter()
            .filter(|r| String::from_utf8_lossy(&r.body).contains("command=verify_payment"))
            .count()
    };
    let asked_before = asked().await;
    assert_eq!(app.db.count("gateway_events").await, 1);
    for i in 1..=20 {
        assert_eq!(post(i.to_string()).await, StatusCode::OK);
    }
    let queued: i64 = app
        .db
        .owner()
        .await
        .query_one(
            "SELECT (SELECT count(*) FROM job_queue WHERE queue = 'webhook-processor')
                  + (SELECT count(*) FROM outbox WHERE kind = 'job' AND published_at IS NULL)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(queued, 0, "no job was queued for a replay");
    app.drain().await;
    assert_eq!(app.db.count("gateway_events").await, 1, "no new event");
    assert_eq!(asked().await, asked_before, "no verify_payment call");
    assert_eq!(
        app.transaction(&merchant, &id).await["attempts"][0]["gateway_payment_id"],
        "403993715521889530"
    );
}

/// PayU as the connector contract drives it (`contract::payu::…`): the payment form is made on
/// our side, results carry a reverse hash, and `verify_payment` confirms every one of them.
pub struct Contract;

/// PayU's payment id for the contract's captures.
const CONTRACT_PAYMENT: &str = "403993715521889530";

impl super::contract::Fixture for Contract {
    const PROVIDER: &'static str = "payu";
    const CONFIRMS_WEBHOOKS: bool = true;

    fn credentials() -> Vec<(&'static str, &'static str)> {
        vec![("key", KEY), ("salt", SALT)]
    }

    /// PayU has no create call: the txnid is made on our side.
    async fn mount_create(_server: &MockServer, _label: &str) {}

    fn expected_reference(_label: &str, _receipt: &str) -> Option<String> {
        None
    }

    async fn mount_captured(_app: &TestApp, server: &MockServer, order: &Order, paid: Paid) {
        let txnid = order.reference.as_str();
        let mut answer = verified(txnid, "success", "captured");
        let amount = rupees(paid.amount);
        answer["transaction_details"][txnid]["amt"] = json!(amount);
        answer["transaction_details"][txnid]["transaction_amount"] = json!(amount);
        if paid.currency != "INR" {
            answer["transaction_details"][txnid]["currency"] = json!(paid.currency);
        }
        Mock::given(method("POST"))
            .and(body_string_contains("command=verify_payment"))
            .respond_with(ResponseTemplate::new(200).set_body_json(answer))
            .mount(server)
            .await;
    }

    async fn status_queries(server: &MockServer, _order: &Order) -> Option<usize> {
        Some(
            server
                .received_requests()
                .await
                .unwrap()
                .iter()
                .filter(|r| String::from_utf8_lossy(&r.body).contains("command=verify_payment"))
                .count(),
        )
    }

    fn payment_id(_order: &Order) -> String {
        CONTRACT_PAYMENT.into()
    }

    async fn captured_webhook(_app: &TestApp, order: &Order, paid: Paid) -> Delivery {
        let amount = if paid.currency == "INR" {
            rupees(paid.amount)
        } else {
            "499.00".into()
        };
        Delivery::form(&result_fields(&order.reference, "success", &amount))
    }

    async fn forged_webhooks(_app: &TestApp, order: &Order) -> Vec<(&'static str, Delivery)> {
        let mut tampered = result_fields(&order.reference, "success", "499.00");
        tampered.retain(|(k, _)| k != "amount");
        tampered.push(("amount".into(), "4.99".into()));
        let mut unsigned = result_fields(&order.reference, "success", "499.00");
        unsigned.retain(|(k, _)| k != "hash");
        vec![
            ("tampered amount", Delivery::form(&tampered)),
            ("unsigned", Delivery::form(&unsigned)),
        ]
    }

    /// A replay carrying another mihpayid arrives first: the reverse hash does not cover it, so
    /// it must not plant it, and it is the same event (F5c).
    async fn repeated_webhooks(_app: &TestApp, order: &Order) -> Vec<Delivery> {
        let good = result_fields(&order.reference, "success", "499.00");
        let mut planted = good.clone();
        for (k, v) in planted.iter_mut() {
            if k == "mihpayid" {
                *v = "111111111111".into();
            }
        }
        vec![
            Delivery::form(&planted),
            Delivery::form(&good),
            Delivery::form(&good),
            Delivery::form(&good),
        ]
    }

    async fn late_failure(_app: &TestApp, order: &Order) -> Option<Delivery> {
        Some(Delivery::form(&result_fields(
            &order.reference,
            "failure",
            "499.00",
        )))
    }

    /// A result whose status was changed after PayU hashed it.
    async fn forged_returns(_app: &TestApp, order: &Order) -> Vec<(&'static str, BrowserReturn)> {
        let mut forged = result_fields(&order.reference, "failure", "499.00");
        for (k, v) in forged.iter_mut() {
            if k == "status" {
                *v = "success".into();
            }
        }
        vec![("status changed after hashing", BrowserReturn::Post(forged))]
    }

    async fn real_return(_app: &TestApp, order: &Order) -> BrowserReturn {
        assert!(order.reference.len() <= 25, "{}", order.reference);
        BrowserReturn::Post(result_fields(&order.reference, "success", "499.00"))
    }
}

impl super::contract::Connects for Contract {
    type Connector = PayU;

    fn connector(base: &str, timeout: Duration) -> PayU {
        PayU::new(
            reqwest::Client::new(),
            Endpoints::new(Some(base.to_string()), None, timeout),
        )
    }
}

/// PayU's `verify_payment` is a POST, a read all the same.
impl super::contract::ClassifiesReadErrors for Contract {
    const ASKED: &'static str = "lspX";

    /// An outage: PayU documents no body.
    fn server_error() -> ResponseTemplate {
        ResponseTemplate::new(503)
    }

    fn too_many_requests() -> ResponseTemplate {
        ResponseTemplate::new(429)
    }

    async fn mount_status_answer(server: &MockServer, answer: ResponseTemplate) {
        Mock::given(method("POST"))
            .respond_with(answer)
            .mount(server)
            .await;
    }
}

impl super::contract::CreatesOrders for Contract {
    const RECEIPT: &'static str = "att_0196f0c2a1b27c3d8e9f0a1b2c3d4e5f";
    /// The order comes into being when the customer's browser posts the form.
    const CREATE_CALLS: usize = 0;

    async fn mount_documented_create(_server: &MockServer) {}

    /// The txnid is made from the receipt, within PayU's 25 characters.
    fn created(_base: &str) -> CreatedOrder {
        CreatedOrder {
            reference: txnid(Self::RECEIPT),
            pay_url: None,
            checkout_token: None,
        }
    }

    fn assert_sent(request: &wiremock::Request) {
        panic!("PayU's create calls nobody: {request:?}")
    }
}

impl super::contract::HandsOffWithAPage for Contract {
    const PUBLIC_CREDENTIALS: &'static [&'static str] = &["key"];

    /// A form posting to PayU's payment page, signed with the request hash over its fields.
    fn page_carries() -> Vec<String> {
        let reference = txnid(<Self as super::contract::CreatesOrders>::RECEIPT);
        let mut form: BTreeMap<&str, String> = BTreeMap::new();
        for (name, value) in [
            ("key", KEY),
            ("txnid", reference.as_str()),
            ("amount", "499.00"),
            ("productinfo", "Masala chai </script> x 2"),
            ("firstname", "Asha Verma"),
            ("email", "asha@example.in"),
            ("phone", "+919812345678"),
            ("surl", "https://lsp.example/api/v1/checkout/txn_1/return"),
            ("furl", "https://lsp.example/api/v1/checkout/txn_1/return"),
        ] {
            form.insert(name, value.to_string());
        }
        vec![
            "action=\"http://mock.invalid/_payment\"".to_string(),
            format!("name=\"txnid\" value=\"{reference}\""),
            "name=\"amount\" value=\"499.00\"".to_string(),
            format!("name=\"key\" value=\"{KEY}\""),
            format!("name=\"hash\" value=\"{}\"", request_hash(KEY, SALT, &form)),
            "document.getElementById('payu').submit();".to_string(),
        ]
    }
}

impl super::contract::RefundsAmbiguously for Contract {
    const FOUND: &'static str = "rfd_1";
    const MISSING: &'static str = "rfd_unknown";

    fn refund(refund_id: &str) -> RefundRequest {
        refund(refund_id, 10_050)
    }

    /// PayU lists the transaction's refunds; ours carry our id as their token.
    async fn mount_refund_lookup(server: &MockServer) {
        Mock::given(method("POST"))
        .and(body_string_contains("command=getAllRefundsFromTxnIds"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "status": 1, "msg": "Refund Details Fetched",
            "Refund Details": { "lspPaid": [
                { "mihpayid": "403993715521889530", "request_id": "11865427756", "token": "rfd_1",
                  "amt": "100.50", "action": "refund", "status": "success", "bank_ref_num": "308239782136" }
            ] } })))
        .mount(server)
        .await;
    }

    fn found_as() -> (&'static str, RefundStatus) {
        ("11865427756", RefundStatus::Succeeded)
    }

    fn is_refund_create(request: &wiremock::Request) -> bool {
        String::from_utf8_lossy(&request.body).contains("command=cancel_refund_transaction")
    }
}

impl super::contract::CreatesRefunds for Contract {
    const CREATED_AS: &'static str = "11865427756";

    /// `cancel_refund_transaction` on the payment, our id as its token, the amount in rupees,
    /// signed with the command hash; PayU queues it.
    async fn mount_documented_refund(server: &MockServer) {
        Mock::given(method("POST"))
            .and(body_string_contains("command=cancel_refund_transaction"))
            .and(body_string_contains("var1=403993715521889530"))
            .and(body_string_contains("var2=rfd_1"))
            .and(body_string_contains("var3=100.50"))
            .and(body_string_contains(format!(
                "hash={}",
                command_hash(KEY, SALT, "cancel_refund_transaction", "403993715521889530")
            )))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "status": 1, "msg": "Refund Request Queued", "request_id": "11865427756",
                "bank_ref_num": null, "mihpayid": 403993715521889530u64, "error_code": 102 })))
            .mount(server)
            .await;
    }

    /// The mock matched the whole documented request; the key names the merchant.
    fn assert_refund_sent(request: &wiremock::Request) {
        let sent = String::from_utf8_lossy(&request.body);
        assert!(sent.contains(&format!("key={KEY}")), "{sent}");
    }
}

/// No repeated-id answer: PayU documents none for a repeated token.
impl super::contract::ClassifiesRefundErrors for Contract {
    async fn mount_refund_answer(server: &MockServer, response: ResponseTemplate) {
        Mock::given(method("POST"))
            .and(body_string_contains("command=cancel_refund_transaction"))
            .respond_with(response)
            .mount(server)
            .await;
    }

    fn refund_refused() -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_json(json!({
            "status": 0, "msg": "Invalid amount", "error_code": 105 }))
    }

    /// Slow and dropped answers: `slow_and_dropped_answers_are_retryable_reads_and_ambiguous…`.
    fn refund_maybe_made() -> Vec<ResponseTemplate> {
        vec![]
    }
}

/// PayU's id for the refunds the platform asks for.
const PLATFORM_REFUND: &str = "11865427799";

/// PayU sends no refund report: the monitor and the lookups settle its refunds.
impl super::contract::SettlesRefunds for Contract {
    const GATEWAY_REFUND: &'static str = PLATFORM_REFUND;

    async fn mount_refund_accepted(server: &MockServer, _order: &Order, delay: Duration) {
        Mock::given(method("POST"))
            .and(body_string_contains("command=cancel_refund_transaction"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({
                        "status": 1, "msg": "Refund Request Queued", "request_id": PLATFORM_REFUND,
                        "bank_ref_num": null, "mihpayid": 403993715521889530u64, "error_code": 102 }))
                    .set_delay(delay),
            )
            .mount(server)
            .await;
    }

    /// On the captured payment, our id as the token, the amount in rupees, the command hash.
    fn assert_refund_asked(request: &wiremock::Request, _order: &Order, refund: &str, amount: i64) {
        let sent: BTreeMap<String, String> = serde_urlencoded::from_bytes(&request.body).unwrap();
        assert_eq!(sent["var1"], "403993715521889530");
        assert_eq!(sent["var2"], refund);
        assert_eq!(sent["var3"], rupees(amount));
        let hash = command_hash(KEY, SALT, "cancel_refund_transaction", "403993715521889530");
        assert_eq!(sent["hash"], hash);
    }

    async fn mount_refund_found(server: &MockServer, order: &Order, refund: &str, amount: i64) {
        let found = json!({
            "status": 1, "msg": "Refund Details Fetched",
            "Refund Details": { order.reference.as_str(): [
                { "mihpayid": "403993715521889530", "request_id": PLATFORM_REFUND, "token": refund,
                  "amt": rupees(amount), "action": "refund", "status": "success",
                  "bank_ref_num": "308239782136" }
            ] } });
        Mock::given(method("POST"))
            .and(body_string_contains("command=getAllRefundsFromTxnIds"))
            .respond_with(ResponseTemplate::new(200).set_body_json(found))
            .mount(server)
            .await;
    }
}

impl super::contract::MapsStatus for Contract {
    /// `verify_payment` answers only a request signed with the command hash for `lspPaid`.
    async fn mount_statuses(server: &MockServer) {
        let hash = command_hash(KEY, SALT, "verify_payment", "lspPaid");
        Mock::given(method("POST"))
            .and(path("/merchant/postservice.php"))
            .and(body_string_contains("command=verify_payment"))
            .and(body_string_contains("var1=lspPaid"))
            .and(body_string_contains(format!("hash={hash}")))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(verified("lspPaid", "success", "captured")),
            )
            .mount(server)
            .await;
        Mock::given(method("POST"))
            .and(path("/merchant/postservice.php"))
            .and(body_string_contains("var1=lspFailed"))
            .respond_with(ResponseTemplate::new(200).set_body_json(verified(
                "lspFailed",
                "failure",
                "bounced",
            )))
            .mount(server)
            .await;
        Mock::given(method("POST"))
        .and(path("/merchant/postservice.php"))
        .and(body_string_contains("var1=lspUnpaid"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "status": 0, "msg": "0 out of 1 Transactions Fetched Successfully",
            "transaction_details": { "lspUnpaid": { "mihpayid": "Not Found", "status": "Not Found" } } })))
        .mount(server)
        .await;
    }

    fn documented() -> Vec<Documented> {
        vec![
            Documented::is("lspPaid", PaymentOutcome::Succeeded)
                .paid_as(Some("403993715521889530")),
            Documented::is("lspFailed", PaymentOutcome::Failed)
                .failing(Some("Bank was unable to authenticate.")),
            Documented::is("lspUnpaid", PaymentOutcome::Pending).because("not submitted yet"),
        ]
    }
}

/// Minor units as PayU writes rupees (`499.00`).
fn rupees(minor: i64) -> String {
    format!("{}.{:02}", minor / 100, minor % 100)
}
