//! Easebuzz against a mock of its pay and dashboard hosts that checks form bodies and hashes and
//! answers as Easebuzz's kits document, alone and through the platform.

use super::account;
use super::contract::{
    BrowserReturn, Connects, Delivery, Documented, DocumentedError, Fixture, Kind, KnownRefund,
    Order, Paid, Retried, open,
};
use crate::support::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::gateways::PaymentOutcome;
use shared::gateways::easebuzz::{
    Easebuzz, refund_hash, refund_status_hash, request_hash, retrieve_hash,
};
use shared::gateways::endpoints::Endpoints;
use shared::gateways::signature::sha512_pipe_hex;
use shared::gateways::{CreatedOrder, Gateway, GatewayError, RefundRequest, RefundStatus};
use shared::money::Currency;
use std::collections::BTreeMap;
use std::time::Duration;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const KEY: &str = "EXAMPLEEBZKEY";
const SALT: &str = "example-easebuzz-salt-not-real";
const INITIATE: &str = "/payment/initiateLink";
const RETRIEVE: &str = "/transaction/v2/retrieve";
const REFUND: &str = "/transaction/v2/refund";
const REFUND_STATUS: &str = "/refund/v1/retrieve";
const EASEPAYID: &str = "E2611290ABCD12";
/// What the platform's test payments are for, as Easebuzz echoes it back.
const PRODUCT: &str = "Masala chai x 2";

fn access_key(n: usize) -> String {
    ["a1b2c3d4", "e5f60718", "9a0b1c2d"][n % 3].repeat(8)
}

fn form(request: &Request) -> BTreeMap<String, String> {
    serde_urlencoded::from_bytes(&request.body).unwrap()
}

async fn requests_to(server: &MockServer, to: &str) -> Vec<Request> {
    server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.path() == to)
        .collect()
}

/// `initiateLink` as Easebuzz answers it: the kit's mandatory fields, the key and the request
/// hash are checked; the answer is the access key.
fn initiate(access_key: String) -> impl Fn(&Request) -> ResponseTemplate + Send + Sync {
    move |request: &Request| {
        let fields = form(request);
        for name in [
            "txnid",
            "amount",
            "firstname",
            "email",
            "phone",
            "productinfo",
            "surl",
            "furl",
        ] {
            if fields.get(name).is_none_or(|v| v.is_empty()) {
                return ResponseTemplate::new(200).set_body_json(json!({
                    "status": 0, "data": format!("Mandatory parameter '{name}' cannot be empty") }));
            }
        }
        let hashed: BTreeMap<&str, String> = fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        if fields.get("key").map(String::as_str) != Some(KEY)
            || fields.get("hash") != Some(&request_hash(KEY, SALT, &hashed))
        {
            return ResponseTemplate::new(200)
                .set_body_json(json!({ "status": 0, "data": "Invalid Hash" }));
        }
        ResponseTemplate::new(200).set_body_json(json!({ "status": 1, "data": access_key }))
    }
}

/// The reverse hash Easebuzz puts on a result, over the posted strings.
fn reverse_hash(salt: &str, key: &str, status: &str, amount: &str, txnid: &str) -> String {
    let mut fields = vec![salt, status];
    fields.extend([""; 10]);
    fields.extend(["asha@example.in", "Asha Verma", PRODUCT, amount, txnid, key]);
    sha512_pipe_hex(&fields)
}

/// A transaction as the transaction API describes it.
fn transaction(txnid: &str, status: &str, easepayid: &str) -> Value {
    let failed = status != "success";
    json!({
        "txnid": txnid, "easepayid": easepayid, "status": status, "key": KEY, "amount": "499.00",
        "net_amount_debit": "499.00", "productinfo": PRODUCT, "firstname": "Asha Verma",
        "email": "asha@example.in", "phone": "919812345678", "mode": "UPI", "PG_TYPE": "UPI-PG",
        "bank_ref_num": "633412345678", "addedon": "2026-11-29 10:12:13",
        "error": if failed { "Transaction failed" } else { "NA" },
        "error_Message": if failed { "Payment declined by the bank" } else { "NA" },
        "udf1": "", "udf2": "", "udf3": "", "udf4": "", "udf5": "",
        "udf6": "", "udf7": "", "udf8": "", "udf9": "", "udf10": "",
        "hash": reverse_hash(SALT, KEY, status, "499.00", txnid),
    })
}

/// The v2 transaction API: the key and hash are checked; `status_of` says what Easebuzz knows
/// about a txnid (`None`: nothing).
fn retrieve(
    status_of: impl Fn(&str) -> Option<&'static str> + Send + Sync + 'static,
) -> impl Fn(&Request) -> ResponseTemplate + Send + Sync {
    move |request: &Request| {
        let fields = form(request);
        let txnid = fields.get("txnid").cloned().unwrap_or_default();
        if fields.get("key").map(String::as_str) != Some(KEY) {
            return ResponseTemplate::new(200)
                .set_body_json(json!({ "status": false, "msg": "Invalid merchant key" }));
        }
        if fields.get("hash") != Some(&retrieve_hash(KEY, SALT, &txnid)) {
            return ResponseTemplate::new(200)
                .set_body_json(json!({ "status": false, "msg": "Invalid hash" }));
        }
        match status_of(&txnid) {
            Some(status) => ResponseTemplate::new(200).set_body_json(
                json!({ "status": true, "msg": transaction(&txnid, status, EASEPAYID) }),
            ),
            None => ResponseTemplate::new(200)
                .set_body_json(json!({ "status": false, "msg": "Transaction not found" })),
        }
    }
}

async fn mount(server: &MockServer, at: &str, responder: impl wiremock::Respond + 'static) {
    Mock::given(method("POST"))
        .and(path(at))
        .respond_with(responder)
        .mount(server)
        .await;
}

/// What `initiateLink` refuses, checked by a mock that validates as Easebuzz does; the
/// documented error answers: `contract::easebuzz::a_failed_create_is_classified…`.
#[tokio::test]
async fn initiate_link_failures_are_classified() {
    let server = MockServer::start().await;
    mount(&server, INITIATE, initiate(access_key(0))).await;
    let gateway = Contract::connector(&server.uri(), Duration::from_secs(5));
    let wrong_salt = gateway
        .create_order(
            &account(&[("key", KEY), ("salt", "wrong")]),
            &Contract::order_request("att_salt"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(wrong_salt, GatewayError::Configuration(_)),
        "{wrong_salt:?}"
    );
    let mut no_email = Contract::order_request("att_email");
    no_email.customer_email = String::new();
    let refused = gateway
        .create_order(&account(&Contract::credentials()), &no_email)
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, GatewayError::Declined(m) if m.contains("'email'")),
        "{refused:?}"
    );
    let mut tiny = Contract::order_request("att_tiny");
    tiny.amount = 99;
    let too_small = gateway
        .create_order(&account(&Contract::credentials()), &tiny)
        .await
        .unwrap_err();
    assert!(
        matches!(too_small, GatewayError::Declined(_)),
        "{too_small:?}"
    );
    assert_eq!(
        requests_to(&server, INITIATE).await.len(),
        2,
        "under ₹1.00 is refused before calling"
    );
}

fn known(txnid: &str) -> Option<&'static str> {
    match txnid {
        "ebzPaid" => Some("success"),
        "ebzFailed" => Some("failure"),
        "ebzCancelled" => Some("userCancelled"),
        "ebzDropped" => Some("dropped"),
        "ebzBounced" => Some("bounced"),
        "ebzInitiated" => Some("initiated"),
        "ebzPending" => Some("pending"),
        _ => None,
    }
}

/// Status mapping: `contract::easebuzz::every_documented_status_is_mapped`. Here: the query's
/// signed form, `find_order`'s reading of it, and a wrong salt.
#[tokio::test]
async fn status_queries_are_signed_and_find_order_counts_only_payments() {
    let server = MockServer::start().await;
    mount(&server, RETRIEVE, retrieve(known)).await;
    let gateway = Contract::connector(&server.uri(), Duration::from_secs(5));
    let acc = account(&Contract::credentials());

    gateway.fetch_status(&acc, "ebzPaid").await.unwrap();
    let asked = requests_to(&server, RETRIEVE).await;
    let fields = form(&asked[0]);
    assert_eq!(fields["key"], KEY);
    assert_eq!(fields["txnid"], "ebzPaid");
    assert_eq!(fields["hash"], retrieve_hash(KEY, SALT, "ebzPaid"));

    // find_order: only a payment Easebuzz shows counts; an unused link or nothing means none.
    assert_eq!(
        gateway.find_order(&acc, "ebzPaid").await.unwrap(),
        Some(CreatedOrder {
            reference: "ebzPaid".into(),
            pay_url: None,
            checkout_token: None,
        })
    );
    assert!(
        gateway
            .find_order(&acc, "ebzPending")
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        gateway.find_order(&acc, "ebzInitiated").await.unwrap(),
        None
    );
    assert_eq!(
        gateway.find_order(&acc, "ebzNobodyKnows").await.unwrap(),
        None
    );

    let wrong = gateway
        .fetch_status(&account(&[("key", KEY), ("salt", "wrong")]), "ebzPaid")
        .await
        .unwrap_err();
    assert!(matches!(wrong, GatewayError::Configuration(_)), "{wrong:?}");
}

#[tokio::test]
async fn a_list_shaped_answer_is_read_too() {
    let server = MockServer::start().await;
    mount(
        &server,
        RETRIEVE,
        ResponseTemplate::new(200).set_body_json(json!({
            "status": 1,
            "data": [transaction("ebzOther", "failure", "E1"), transaction("ebzPaid", "success", EASEPAYID)] })),
    )
    .await;
    let report = Contract::connector(&server.uri(), Duration::from_secs(5))
        .fetch_status(&account(&Contract::credentials()), "ebzPaid")
        .await
        .unwrap();
    assert_eq!(report.status, PaymentOutcome::Succeeded);
    assert_eq!(report.payment_id.as_deref(), Some(EASEPAYID));
}

fn refund(refund_id: &str, amount: i64, payment_id: Option<&str>) -> RefundRequest {
    RefundRequest {
        refund_id: refund_id.into(),
        reference: "ebzPaid".into(),
        payment_id: payment_id.map(str::to_string),
        receipt: "att_1".into(),
        amount,
        payment_amount: 49_900,
        currency: Currency::Inr,
        reason: None,
        notify_url: "https://lsp.example/api/v1/webhooks/easebuzz".into(),
    }
}

/// The v2 refund API: hash checked; the refund accepted.
fn refund_api(request: &Request) -> ResponseTemplate {
    let fields = form(request);
    let get = |name: &str| fields.get(name).cloned().unwrap_or_default();
    let (id, easebuzz_id, amount) = (
        get("merchant_refund_id"),
        get("easebuzz_id"),
        get("refund_amount"),
    );
    if get("key") != KEY || get("hash") != refund_hash(KEY, SALT, &id, &easebuzz_id, &amount) {
        return ResponseTemplate::new(200)
            .set_body_json(json!({ "status": false, "reason": "Invalid hash" }));
    }
    ResponseTemplate::new(200).set_body_json(json!({
        "status": true, "reason": "Refund request initiated successfully",
        "easebuzz_id": easebuzz_id, "refund_id": "R2611290001", "refund_amount": amount }))
}

/// The refund-status API: hash checked; the transaction's refunds.
fn refund_status_api(request: &Request) -> ResponseTemplate {
    let fields = form(request);
    let easebuzz_id = fields.get("easebuzz_id").cloned().unwrap_or_default();
    if fields.get("hash") != Some(&refund_status_hash(KEY, SALT, &easebuzz_id)) {
        return ResponseTemplate::new(200)
            .set_body_json(json!({ "status": false, "msg": "Invalid hash" }));
    }
    ResponseTemplate::new(200).set_body_json(json!({
        "status": true, "txnid": "ebzPaid", "easebuzz_id": easebuzz_id,
        "refunds": [
            { "refund_id": "R2611290001", "refund_status": "refunded", "merchant_refund_id": "rfd_1", "refund_amount": "100.50" },
            { "refund_id": "R2611290002", "refund_status": "queued", "merchant_refund_id": "rfd_dup", "refund_amount": "10.00" },
            { "refund_id": "R2611290003", "refund_status": "reverse chargeback", "merchant_refund_id": "rfd_back", "refund_amount": "5.00" }
        ]
    }))
}

/// Created, refused, found by our id: `contract::easebuzz::…refund…`. Without a stored payment
/// id, the transaction API names the payment the refund is looked up under.
#[tokio::test]
async fn without_a_payment_id_a_refund_is_found_under_the_transactions_payment() {
    let server = MockServer::start().await;
    mount(&server, REFUND_STATUS, refund_status_api).await;
    mount(&server, RETRIEVE, retrieve(known)).await;
    let found = Contract::connector(&server.uri(), Duration::from_secs(5))
        .fetch_refund(
            &account(&Contract::credentials()),
            &refund("rfd_1", 10_050, None),
            None,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.status, RefundStatus::Succeeded);
    let status_asked = requests_to(&server, REFUND_STATUS).await;
    assert!(
        status_asked
            .iter()
            .all(|r| form(r)["easebuzz_id"] == EASEPAYID)
    );
}

/// The fields Easebuzz posts to `surl`/`furl` and to the webhook, with its reverse hash.
fn result_fields(txnid: &str, status: &str, easepayid: &str) -> Vec<(String, String)> {
    let hash = reverse_hash(SALT, KEY, status, "499.00", txnid);
    let mut fields: Vec<(String, String)> = [
        ("txnid", txnid),
        ("easepayid", easepayid),
        ("status", status),
        ("key", KEY),
        ("amount", "499.00"),
        ("productinfo", PRODUCT),
        ("firstname", "Asha Verma"),
        ("email", "asha@example.in"),
        ("phone", "919812345678"),
        ("mode", "UPI"),
        ("PG_TYPE", "UPI-PG"),
        ("bank_ref_num", "633412345678"),
        ("addedon", "2026-11-29 10:12:13"),
        (
            "error",
            if status == "success" {
                "NA"
            } else {
                "Transaction failed"
            },
        ),
        (
            "error_Message",
            if status == "success" {
                "NA"
            } else {
                "Payment declined by the bank"
            },
        ),
        ("hash", hash.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    fields.extend((1..=10).map(|i| (format!("udf{i}"), String::new())));
    fields
}

fn with(
    mut fields: Vec<(String, String)>,
    name: &str,
    value: Option<&str>,
) -> Vec<(String, String)> {
    fields.retain(|(k, _)| k != name);
    if let Some(value) = value {
        fields.push((name.to_string(), value.to_string()));
    }
    fields
}

#[tokio::test]
async fn the_checkout_redirects_to_the_payment_link_made_for_the_attempt() {
    let (server, app, _merchant, order) = open::<Contract>("ebz-checkout").await;
    let (id, txnid) = (order.id, order.reference);
    assert!(
        txnid.starts_with("att_") && txnid.len() <= 40,
        "the attempt id is the txnid: {txnid}"
    );

    let page = app
        .http
        .get(app.url(&format!("/api/v1/checkout/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        page.headers()["location"].to_str().unwrap(),
        format!("{}/pay/{}", server.uri(), access_key(0))
    );

    let posted = requests_to(&server, INITIATE).await;
    assert_eq!(posted.len(), 1);
    let fields = form(&posted[0]);
    let back = app.url(&format!("/api/v1/checkout/{id}/return"));
    assert_eq!(fields["txnid"], txnid);
    assert_eq!(fields["amount"], "499.00");
    assert_eq!(fields["surl"], back);
    assert_eq!(fields["furl"], back);
    assert_eq!(fields["phone"], "919812345678");
}

#[tokio::test]
async fn a_return_the_status_query_does_not_confirm_changes_nothing() {
    let (server, app, merchant, order) = open::<Contract>("ebz-return-get").await;
    let (id, txnid) = (order.id, order.reference);
    mount(&server, RETRIEVE, retrieve(|_| Some("pending"))).await;
    let query = serde_urlencoded::to_string(result_fields(&txnid, "success", EASEPAYID)).unwrap();
    let answer = app
        .http
        .get(app.url(&format!("/api/v1/checkout/{id}/return?{query}")))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let location = answer.headers()["location"].to_str().unwrap();
    assert!(location.contains("status=pending"), "{location}");
    assert_eq!(app.transaction(&merchant, &id).await["status"], "pending");
}

#[tokio::test]
async fn a_user_cancelled_webhook_fails_the_payment() {
    let (server, app, merchant, order) = open::<Contract>("ebz-cancel").await;
    let (id, txnid) = (order.id, order.reference);
    mount(&server, RETRIEVE, retrieve(|_| Some("userCancelled"))).await;
    let fields = result_fields(&txnid, "userCancelled", "");
    let status = app
        .http
        .post(app.url("/api/v1/webhooks/easebuzz"))
        .form(&fields)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, StatusCode::OK);
    app.drain().await;
    let transaction = app.transaction(&merchant, &id).await;
    assert_eq!(transaction["status"], "failed");
    assert_eq!(
        transaction["failure_reason"],
        "Payment declined by the bank"
    );
}

/// Easebuzz as the connector contract drives it (`contract::easebuzz::…`): results carry a
/// reverse hash, and the transaction API confirms every one of them.
pub struct Contract;

impl super::contract::Fixture for Contract {
    const PROVIDER: &'static str = "easebuzz";

    fn credentials() -> Vec<(&'static str, &'static str)> {
        vec![("key", KEY), ("salt", SALT)]
    }
    const CONFIRMS_WEBHOOKS: bool = true;

    async fn mount_create(server: &MockServer, _label: &str) {
        mount(server, INITIATE, initiate(access_key(0))).await;
    }

    /// The attempt id is the txnid.
    fn expected_reference(_label: &str, receipt: &str) -> Option<String> {
        Some(receipt.to_string())
    }

    async fn mount_captured(_app: &TestApp, server: &MockServer, _order: &Order, paid: Paid) {
        if paid.amount == Paid::IN_FULL.amount && paid.currency == Paid::IN_FULL.currency {
            mount(server, RETRIEVE, retrieve(|_| Some("success"))).await;
            return;
        }
        let amount = format!("{}.{:02}", paid.amount / 100, paid.amount % 100);
        mount(server, RETRIEVE, move |request: &Request| {
            let txnid = form(request).get("txnid").cloned().unwrap_or_default();
            let mut found = transaction(&txnid, "success", EASEPAYID);
            found["amount"] = json!(amount);
            if paid.currency != "INR" {
                found["currency"] = json!(paid.currency);
            }
            ResponseTemplate::new(200).set_body_json(json!({ "status": true, "msg": found }))
        })
        .await;
    }

    async fn status_queries(server: &MockServer, _order: &Order) -> Option<usize> {
        Some(requests_to(server, RETRIEVE).await.len())
    }

    fn payment_id(_order: &Order) -> String {
        EASEPAYID.into()
    }

    /// The result's own amount is the payment's; the transaction API reports what was paid.
    async fn captured_webhook(_app: &TestApp, order: &Order, _paid: Paid) -> Delivery {
        Delivery::form(&result_fields(&order.reference, "success", EASEPAYID))
    }

    async fn forged_webhooks(_app: &TestApp, order: &Order) -> Vec<(&'static str, Delivery)> {
        let txnid = order.reference.as_str();
        let good = result_fields(txnid, "success", EASEPAYID);
        let other_account = with(
            with(good.clone(), "key", Some("OTHERKEY")),
            "hash",
            Some(reverse_hash("other-salt", "OTHERKEY", "success", "499.00", txnid).as_str()),
        );
        vec![
            (
                "tampered amount",
                Delivery::form(&with(good.clone(), "amount", Some("4.99"))),
            ),
            (
                "tampered status",
                Delivery::form(&with(good.clone(), "status", Some("failure"))),
            ),
            ("unsigned", Delivery::form(&with(good, "hash", None))),
            ("another account", Delivery::form(&other_account)),
        ]
    }

    /// A replay with another easepayid arrives first (the reverse hash does not cover it, so it
    /// must not plant it); then the result three times, and once as a JSON object.
    async fn repeated_webhooks(_app: &TestApp, order: &Order) -> Vec<Delivery> {
        let good = result_fields(&order.reference, "success", EASEPAYID);
        let as_json: BTreeMap<String, String> = good.iter().cloned().collect();
        vec![
            Delivery::form(&with(
                good.clone(),
                "easepayid",
                Some("E_PLANTED_BY_A_REPLAY"),
            )),
            Delivery::form(&good),
            Delivery::form(&good),
            Delivery::form(&good),
            Delivery::new(
                "application/json",
                &[],
                serde_json::to_vec(&as_json).unwrap(),
            ),
        ]
    }

    async fn late_failure(_app: &TestApp, order: &Order) -> Option<Delivery> {
        Some(Delivery::form(&result_fields(
            &order.reference,
            "failure",
            EASEPAYID,
        )))
    }

    async fn forged_returns(_app: &TestApp, order: &Order) -> Vec<(&'static str, BrowserReturn)> {
        let txnid = order.reference.as_str();
        let good = result_fields(txnid, "success", "E_FROM_RETURN");
        let failed = result_fields(txnid, "failure", "E_FROM_RETURN");
        let other_salt = with(
            good.clone(),
            "hash",
            Some(reverse_hash("other-salt", KEY, "success", "499.00", txnid).as_str()),
        );
        vec![
            (
                "tampered amount",
                BrowserReturn::Post(with(good.clone(), "amount", Some("4.99"))),
            ),
            (
                "status changed after hashing",
                BrowserReturn::Post(with(failed, "status", Some("success"))),
            ),
            ("unsigned", BrowserReturn::Post(with(good, "hash", None))),
            ("another salt", BrowserReturn::Post(other_salt)),
        ]
    }

    /// The browser's easepayid is not the one recorded: the status query's is.
    async fn real_return(_app: &TestApp, order: &Order) -> BrowserReturn {
        BrowserReturn::Post(result_fields(&order.reference, "success", "E_FROM_RETURN"))
    }
}

impl super::contract::Creates for Contract {
    const CREATE_PATH: &'static str = INITIATE;

    fn created() -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_json(json!({ "status": 1, "data": access_key(1) }))
    }
}

impl super::contract::LooksUpOrders for Contract {
    /// The transaction API, asked about the txnid (our receipt).
    fn is_lookup(request: &Request, receipt: &str) -> bool {
        request.url.path() == RETRIEVE
            && form(request).get("txnid").map(String::as_str) == Some(receipt)
    }
}

impl super::contract::RetriesCreates for Contract {
    /// Easebuzz makes the first link but answers too late: the request timed out on our side.
    /// The unused link is not visible in the transaction API; a second initiate makes another.
    async fn mount_lagging_create(server: &MockServer, _label: &str) {
        Mock::given(method("POST"))
            .and(path(INITIATE))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({ "status": 1, "data": access_key(1) }))
                    .set_delay(Duration::from_secs(3)),
            )
            .up_to_n_times(1)
            .mount(server)
            .await;
        mount(server, INITIATE, initiate(access_key(2))).await;
        mount(server, RETRIEVE, retrieve(|_| None)).await;
    }

    /// The txnid is our receipt: the same txnid, amount and hash, so one charge at most.
    fn made_for(request: &Request, receipt: &str) -> bool {
        form(request).get("txnid").map(String::as_str) == Some(receipt)
    }

    /// The customer is shown the second link, the only one they can pay on.
    fn retried_handoff(base: &str, _order: &Order) -> Retried {
        Retried::Redirect(format!("{base}/pay/{}", access_key(2)))
    }
}

impl super::contract::CreatesOrders for Contract {
    const RECEIPT: &'static str = "att_0196f0c2a1b27c3d8e9f0a1b2c3d4e5f";

    /// A form with the kit's mandatory fields, the key and the request hash, checked by
    /// [`initiate`]; the answer is the access key of the pay page.
    async fn mount_documented_create(server: &MockServer) {
        Mock::given(method("POST"))
            .and(path(INITIATE))
            .respond_with(initiate(access_key(0)))
            .expect(1)
            .mount(server)
            .await;
    }

    /// The receipt is the txnid; the pay page is the access key's.
    fn created(base: &str) -> CreatedOrder {
        CreatedOrder {
            reference: Self::RECEIPT.into(),
            pay_url: Some(format!("{base}/pay/{}", access_key(0))),
            checkout_token: None,
        }
    }

    fn assert_sent(request: &Request) {
        assert_eq!(
            request.headers["content-type"],
            "application/x-www-form-urlencoded"
        );
        let fields = form(request);
        for (name, value) in [
            ("key", KEY),
            ("txnid", "att_0196f0c2a1b27c3d8e9f0a1b2c3d4e5f"),
            ("amount", "499.00"),
            ("productinfo", "Masala chai script x 2"),
            ("firstname", "Asha Verma"),
            ("email", "asha@example.in"),
            ("phone", "919812345678"),
            ("surl", "https://lsp.example/api/v1/checkout/txn_1/return"),
            ("furl", "https://lsp.example/api/v1/checkout/txn_1/return"),
        ] {
            assert_eq!(fields.get(name).map(String::as_str), Some(value), "{name}");
        }
        let hashed: BTreeMap<&str, String> = fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        assert_eq!(fields["hash"], request_hash(KEY, SALT, &hashed));
        assert!(
            !fields.keys().any(|k| k.starts_with("udf")),
            "empty UDFs are hashed, not sent"
        );
        assert!(!String::from_utf8_lossy(&request.body).contains(SALT));
    }
}

impl super::contract::RefundsAmbiguously for Contract {
    const FOUND: &'static str = "rfd_1";
    const MISSING: &'static str = "rfd_unknown";

    fn refund(refund_id: &str) -> RefundRequest {
        refund(refund_id, 10_050, Some(EASEPAYID))
    }

    /// The refund-status API lists the transaction's refunds with our merchant refund ids.
    async fn mount_refund_lookup(server: &MockServer) {
        mount(server, REFUND_STATUS, refund_status_api).await;
        mount(server, RETRIEVE, retrieve(known)).await;
    }

    fn found_as() -> (&'static str, RefundStatus) {
        ("R2611290001", RefundStatus::Succeeded)
    }

    fn is_refund_create(request: &Request) -> bool {
        request.url.path() == REFUND
    }
}

impl super::contract::CreatesRefunds for Contract {
    const CREATED_AS: &'static str = "R2611290001";

    /// A form signed with the refund hash, on the dashboard host.
    async fn mount_documented_refund(server: &MockServer) {
        mount(server, REFUND, refund_api).await;
    }

    /// Our id as the merchant refund id; the amount in exact rupees; the payment's id.
    fn assert_refund_sent(request: &Request) {
        let asked = form(request);
        assert_eq!(asked["refund_amount"], "100.50");
        assert_eq!(asked["easebuzz_id"], EASEPAYID);
        assert_eq!(asked["merchant_refund_id"], "rfd_1");
    }
}

impl super::contract::ClassifiesRefundErrors for Contract {
    const REPEATED: &'static str = "rfd_dup";

    /// After a used id, the refund is read back from the refund-status API.
    async fn mount_refund_answer(server: &MockServer, response: ResponseTemplate) {
        mount(server, REFUND, response).await;
        mount(server, REFUND_STATUS, refund_status_api).await;
    }

    fn refund_refused() -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_json(
            json!({ "status": false, "reason": "Refund amount is greater than the transaction amount" }),
        )
    }

    fn refund_maybe_made() -> Vec<ResponseTemplate> {
        vec![ResponseTemplate::new(503)]
    }

    fn repeated_id() -> Option<(ResponseTemplate, &'static str, RefundStatus)> {
        Some((
            ResponseTemplate::new(200).set_body_json(
                json!({ "status": false, "reason": "Refund request with this merchant_refund_id already exists" }),
            ),
            "R2611290002",
            RefundStatus::Pending,
        ))
    }
}

impl super::contract::FetchesRefunds for Contract {
    async fn mount_refund_statuses(server: &MockServer) {
        mount(server, REFUND_STATUS, refund_status_api).await;
    }

    fn known_refunds() -> Vec<KnownRefund> {
        vec![
            KnownRefund::is("rfd_back", Some("R2611290003"), RefundStatus::Failed)
                .known_as("R2611290003"),
        ]
    }
}

/// Easebuzz's id for the refunds the platform asks for.
const PLATFORM_REFUND: &str = "R2611290009";

/// Easebuzz sends no refund report: the monitor and the lookups settle its refunds.
impl super::contract::SettlesRefunds for Contract {
    const GATEWAY_REFUND: &'static str = PLATFORM_REFUND;

    async fn mount_refund_accepted(server: &MockServer, _order: &Order, delay: Duration) {
        mount(server, REFUND, move |request: &Request| {
            let fields = form(request);
            ResponseTemplate::new(200)
                .set_body_json(json!({
                    "status": true, "reason": "Refund request initiated successfully",
                    "easebuzz_id": fields["easebuzz_id"], "refund_id": PLATFORM_REFUND,
                    "refund_amount": fields["refund_amount"] }))
                .set_delay(delay)
        })
        .await;
    }

    /// Signed with the refund hash, on the captured payment, the amount in exact rupees.
    fn assert_refund_asked(request: &Request, _order: &Order, refund: &str, amount: i64) {
        let asked = form(request);
        let rupees = format!("{}.{:02}", amount / 100, amount % 100);
        assert_eq!(asked["merchant_refund_id"], refund);
        assert_eq!(asked["easebuzz_id"], EASEPAYID);
        assert_eq!(asked["refund_amount"], rupees);
        assert_eq!(
            asked["hash"],
            refund_hash(KEY, SALT, refund, EASEPAYID, &rupees)
        );
    }

    async fn mount_refund_found(server: &MockServer, _order: &Order, refund: &str, amount: i64) {
        let listed = json!({
            "status": true, "easebuzz_id": EASEPAYID,
            "refunds": [{ "refund_id": PLATFORM_REFUND, "refund_status": "refunded",
                          "merchant_refund_id": refund,
                          "refund_amount": format!("{}.{:02}", amount / 100, amount % 100) }]
        });
        mount(
            server,
            REFUND_STATUS,
            ResponseTemplate::new(200).set_body_json(listed),
        )
        .await;
    }
}

impl super::contract::MapsStatus for Contract {
    async fn mount_statuses(server: &MockServer) {
        mount(server, RETRIEVE, retrieve(known)).await;
    }

    fn documented() -> Vec<Documented> {
        let declined = Some("Payment declined by the bank");
        let mut documented = vec![
            Documented::is("ebzPaid", PaymentOutcome::Succeeded)
                .paid_as(Some(EASEPAYID))
                .capturing(Paid::IN_FULL),
        ];
        for txnid in ["ebzFailed", "ebzCancelled", "ebzDropped", "ebzBounced"] {
            documented.push(Documented::is(txnid, PaymentOutcome::Failed).failing(declined));
        }
        for txnid in ["ebzInitiated", "ebzPending", "ebzNobodyKnows"] {
            documented.push(
                Documented::is(txnid, PaymentOutcome::Pending)
                    .paid_as(None)
                    .because("not paid yet, or unknown to Easebuzz"),
            );
        }
        documented
    }
}

/// Easebuzz answers a 503 and a 429 with no documented body.
impl super::contract::ClassifiesReadErrors for Contract {
    const ASKED: &'static str = "ebzPaid";

    fn server_error() -> ResponseTemplate {
        ResponseTemplate::new(503)
    }

    fn too_many_requests() -> ResponseTemplate {
        ResponseTemplate::new(429)
    }

    async fn mount_status_answer(server: &MockServer, answer: ResponseTemplate) {
        mount(server, RETRIEVE, answer).await;
    }
}

/// A throttled initiate may have made the link, so it is looked up.
impl super::contract::ClassifiesCreateErrors for Contract {
    const THROTTLED_CREATE_IS_AMBIGUOUS: bool = true;

    fn documented_errors() -> Vec<DocumentedError> {
        vec![
            DocumentedError::new(
                "an answer that is not an access key",
                ResponseTemplate::new(200)
                    .set_body_json(json!({ "status": 1, "data": "not-a-key" })),
                Kind::Ambiguous,
            ),
            DocumentedError::new("a 500", ResponseTemplate::new(500), Kind::Ambiguous),
            DocumentedError::new("a 502", ResponseTemplate::new(502), Kind::Ambiguous),
            DocumentedError::new(
                "unauthorized",
                ResponseTemplate::new(401),
                Kind::Configuration,
            ),
            DocumentedError::new(
                "a bad request",
                ResponseTemplate::new(400).set_body_string("bad request"),
                Kind::Declined,
            ),
        ]
    }
}

impl super::contract::ChecksCredentials for Contract {
    async fn mount_credential_check(server: &MockServer) {
        mount(server, RETRIEVE, retrieve(known)).await;
    }

    fn wrong() -> Vec<Vec<(&'static str, &'static str)>> {
        vec![
            vec![("key", KEY), ("salt", "wrong")],
            vec![("key", "OTHERKEY"), ("salt", SALT)],
        ]
    }

    fn incomplete() -> Vec<(&'static str, &'static str)> {
        vec![("key", KEY)]
    }

    /// The transaction API only reads.
    fn moves_no_money(request: &wiremock::Request) -> bool {
        request.url.path() == RETRIEVE
    }
}

impl super::contract::Connects for Contract {
    type Connector = Easebuzz;

    fn connector(base: &str, timeout: Duration) -> Easebuzz {
        Easebuzz::new(
            reqwest::Client::new(),
            Endpoints::new(Some(base.to_string()), None, timeout),
        )
    }
}
