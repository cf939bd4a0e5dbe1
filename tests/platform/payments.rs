//! The payments core end to end through the PostgreSQL queue: pay, the worker, the sandbox
//! gateway, signed webhooks, the state machine, checkout and return, idempotency, and bad input.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn events(app: &TestApp, detail_type: &str) -> Vec<Value> {
    app.db
        .owner()
        .await
        .query("SELECT payload FROM outbox WHERE kind = 'event' AND topic = $1 AND published_at IS NOT NULL ORDER BY id", &[&detail_type])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// The sandbox's pay page of the payment `created` (the answer to `POST /api/v1/pay`), where its
/// checkout link sends the customer.
async fn sandbox_page(app: &TestApp, created: &Value) -> String {
    app.http
        .get(created["data"]["checkout_url"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .headers()["location"]
        .to_str()
        .unwrap()
        .to_string()
}

/// Presses `action` (`pay` or `fail`) on the sandbox's pay page and follows the browser back to
/// our return route, as the customer's browser does, before any webhook is processed.
async fn press_and_return(app: &TestApp, pay_page: &str, action: &str) {
    let returned = app
        .http
        .post(pay_page)
        .form(&[("action", action)])
        .send()
        .await
        .unwrap();
    if let Some(back) = returned.headers().get("location") {
        app.http.get(back.to_str().unwrap()).send().await.unwrap();
    }
}

#[tokio::test]
async fn a_test_payment_succeeds_end_to_end_through_the_postgres_queue() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Chai Point").await;

    let (status, body) = app
        .pay(&m, &payment("order-1001", 25_000, true), None)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let data = &body["data"];
    for field in [
        "id",
        "order_id",
        "status",
        "amount",
        "currency",
        "mode",
        "checkout_url",
        "created_at",
        "expires_at",
    ] {
        assert!(!data[field].is_null(), "{field} missing from {data}");
    }
    assert_eq!(
        (
            data["status"].as_str(),
            data["amount"].as_i64(),
            data["currency"].as_str(),
            data["mode"].as_str()
        ),
        (Some("created"), Some(25_000), Some("INR"), Some("test"))
    );
    let id = data["id"].as_str().unwrap().to_string();
    assert_eq!(
        data["checkout_url"],
        format!("{}/api/v1/checkout/{id}", app.base)
    );
    assert_eq!(events(&app, "transaction.created").await.len(), 1);

    // The worker creates the sandbox order; the sandbox pays at once (+autopay) and sends its
    // signed webhook; the webhook worker applies it.
    app.drain().await;
    let txn = app.transaction(&m, &id).await;
    assert_eq!(txn["status"], "succeeded", "{txn}");
    let attempts = txn["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0]["gateway"], "sandbox");
    assert_eq!(attempts[0]["status"], "succeeded");
    assert!(
        attempts[0]["gateway_reference"]
            .as_str()
            .unwrap()
            .starts_with("sbx_order_")
    );
    assert!(
        attempts[0]["gateway_payment_id"]
            .as_str()
            .unwrap()
            .starts_with("sbx_pay_")
    );
    // The payment carries the gateway's payment id itself, in reads and in list items.
    assert_eq!(txn["gateway_payment_id"], attempts[0]["gateway_payment_id"]);
    let (_, page) = app
        .get_with_key("/api/v1/transactions", &m.client_key, &m.client_secret)
        .await;
    assert_eq!(
        page["data"]["items"][0]["gateway_payment_id"], attempts[0]["gateway_payment_id"],
        "{page}"
    );
    let succeeded = events(&app, "transaction.succeeded").await;
    assert_eq!(
        succeeded.len(),
        1,
        "one transaction.succeeded event published"
    );
    assert_eq!(succeeded[0]["detail"]["transaction"]["id"], id.as_str());
    let processed: i64 = app
        .db
        .owner()
        .await
        .query_one(
            "SELECT count(*) FROM gateway_events WHERE outcome = 'applied'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(processed, 1);
}

#[tokio::test]
async fn the_customer_pays_on_the_sandbox_page_and_returns_to_the_merchant() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Browser Shop").await;
    let (_, body) = app
        .pay(&m, &payment("order-browser", 49_900, false), None)
        .await;
    let checkout = body["data"]["checkout_url"].as_str().unwrap().to_string();
    let id = body["data"]["id"].as_str().unwrap().to_string();

    // The checkout page creates the order itself when the worker has not run yet.
    let response = app.http.get(&checkout).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let pay_page = response.headers()["location"].to_str().unwrap().to_string();
    assert!(
        pay_page.starts_with(&format!("{}/sandbox/pay/sbx_order_", app.base)),
        "{pay_page}"
    );
    let html = app
        .http
        .get(&pay_page)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("₹499.00") && html.contains("id=\"pay\""),
        "{html}"
    );
    // The worker now finds the order already made: still exactly one order.
    app.drain().await;
    let orders: i64 = app
        .db
        .owner()
        .await
        .query_one("SELECT count(*) FROM sandbox_orders", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(orders, 1);

    let response = app
        .http
        .post(&pay_page)
        .form(&[("action", "pay")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let back = response.headers()["location"].to_str().unwrap().to_string();
    assert!(
        back.starts_with(&format!("{}/api/v1/checkout/{id}/return?", app.base)),
        "{back}"
    );

    // A tampered return changes nothing.
    let tampered = back.replace("status=paid", "status=failed");
    assert_eq!(
        app.http.get(&tampered).send().await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );

    let response = app.http.get(&back).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let merchant = response.headers()["location"].to_str().unwrap().to_string();
    assert!(
        merchant.starts_with("https://shop.example.in/payments/done?cart=42&"),
        "{merchant}"
    );
    assert!(
        merchant.contains(&format!("transaction_id={id}")) && merchant.contains("status=succeeded"),
        "{merchant}"
    );
    assert_eq!(app.transaction(&m, &id).await["status"], "succeeded");

    // Back on the checkout link, the customer sees the outcome.
    let html = app
        .http
        .get(&checkout)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("id=\"status\">succeeded<"), "{html}");
    // The sandbox's own webhook arrives too, and changes nothing more.
    app.drain().await;
    assert_eq!(events(&app, "transaction.succeeded").await.len(), 1);
}

#[tokio::test]
async fn declines_and_cancellations_fail_the_payment() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Declined Shop").await;
    // Amounts ending in 13 paise are declined by the sandbox.
    let (_, body) = app
        .pay(&m, &payment("order-declined", 10_013, true), None)
        .await;
    let declined = body["data"]["id"].as_str().unwrap().to_string();
    let (_, body) = app
        .pay(&m, &payment("order-cancelled", 10_000, false), None)
        .await;
    let cancelled = body["data"]["id"].as_str().unwrap().to_string();
    app.drain().await;
    let pay_page = sandbox_page(&app, &body).await;
    press_and_return(&app, &pay_page, "fail").await;
    app.drain().await;
    let txn = app.transaction(&m, &declined).await;
    assert_eq!(txn["status"], "failed");
    assert_eq!(txn["failure_reason"], "card_declined", "{txn}");
    let txn = app.transaction(&m, &cancelled).await;
    assert_eq!(txn["status"], "failed");
    assert_eq!(txn["failure_reason"], "customer_cancelled");
    assert_eq!(events(&app, "transaction.failed").await.len(), 2);

    // Declined on the pay page (Pay pressed, the sandbox declines 13 paise): the same reason as
    // an automatic decline, whether the browser's return or the webhook tells us first.
    let (_, body) = app
        .pay(&m, &payment("order-declined-page", 10_013, false), None)
        .await;
    let on_page = body["data"]["id"].as_str().unwrap().to_string();
    app.drain().await;
    let pay_page = sandbox_page(&app, &body).await;
    // The browser comes back before any webhook is processed.
    press_and_return(&app, &pay_page, "pay").await;
    let txn = app.transaction(&m, &on_page).await;
    assert_eq!(txn["status"], "failed", "{txn}");
    assert_eq!(txn["failure_reason"], "card_declined", "{txn}");
    app.drain().await;
    assert_eq!(
        app.transaction(&m, &on_page).await["failure_reason"],
        "card_declined"
    );
}

#[tokio::test]
async fn idempotency_keys_replay_and_refuse() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Retry Shop").await;
    let body = payment("order-idem", 10_000, false);

    let attempts =
        futures::future::join_all((0..20).map(|_| app.pay(&m, &body, Some("key-0001")))).await;
    let mut bodies = Vec::new();
    for (status, answer) in &attempts {
        match *status {
            StatusCode::CREATED => bodies.push(answer.clone()),
            StatusCode::CONFLICT => assert_eq!(
                answer["error"]["code"], "IDEMPOTENCY_IN_PROGRESS",
                "{answer}"
            ),
            other => panic!("unexpected {other}: {answer}"),
        }
    }
    // Retrying the ones that were told to wait gives the same answer.
    while bodies.len() < 20 {
        let (status, answer) = app.pay(&m, &body, Some("key-0001")).await;
        assert_eq!(status, StatusCode::CREATED);
        bodies.push(answer);
    }
    assert!(
        bodies.iter().all(|b| *b == bodies[0]),
        "every reply is the first response, byte for byte"
    );
    assert_eq!(app.db.count("transactions").await, 1);

    let mut other = body.clone();
    other["amount"] = json!(20_000);
    let (status, answer) = app.pay(&m, &other, Some("key-0001")).await;
    expect_error(
        status,
        &answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        "IDEMPOTENCY_KEY_REUSED",
    );
    // Key order and spacing are not a different request.
    let reordered: Value =
        serde_json::from_str(&serde_json::to_string_pretty(&body).unwrap()).unwrap();
    assert_eq!(
        app.pay(&m, &reordered, Some("key-0001")).await.0,
        StatusCode::CREATED
    );

    // One order_id, twenty keys: one payment.
    let (app_ref, m_ref) = (&app, &m);
    let racers = futures::future::join_all((0..20).map(|i| async move {
        let body = payment("order-race", 10_000, false);
        app_ref.pay(m_ref, &body, Some(&format!("race-{i}"))).await
    }))
    .await;
    let created = racers
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    assert_eq!(created, 1, "{racers:?}");
    for (status, answer) in racers.iter().filter(|(s, _)| *s != StatusCode::CREATED) {
        expect_error(*status, answer, StatusCode::CONFLICT, "DUPLICATE_ORDER_ID");
    }
    assert_eq!(app.db.count("transactions").await, 2);

    // A failed validation stores nothing: fixing the body with the same key works.
    let mut broken = payment("order-fixed", 10_000, false);
    broken["amount"] = json!(-5);
    assert_eq!(
        app.pay(&m, &broken, Some("key-fix")).await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.pay(&m, &payment("order-fixed", 10_000, false), Some("key-fix"))
            .await
            .0,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn bad_payments_are_refused_with_field_details_and_write_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Strict Shop").await;
    let with = |path: &str, value: Value| {
        let mut body = payment("order-bad", 10_000, false);
        let mut target = &mut body;
        let parts: Vec<&str> = path.split('.').collect();
        for part in &parts[..parts.len() - 1] {
            target = &mut target[*part];
        }
        if value.is_null() {
            target
                .as_object_mut()
                .unwrap()
                .remove(parts[parts.len() - 1]);
        } else {
            target[parts[parts.len() - 1]] = value;
        }
        body
    };
    let notes: serde_json::Map<String, Value> =
        (0..16).map(|i| (format!("k{i}"), json!("v"))).collect();
    let cases = [
        ("float amount", with("amount", json!(100.5)), "amount"),
        ("whole float amount", with("amount", json!(100.0)), "amount"),
        ("negative amount", with("amount", json!(-100)), "amount"),
        ("zero amount", with("amount", json!(0)), "amount"),
        ("above max", with("amount", json!(50_000_001)), "amount"),
        ("string amount", with("amount", json!("100")), "amount"),
        (
            "unknown currency",
            with("currency", json!("XYZ")),
            "currency",
        ),
        (
            "bad email",
            with("customer.email", json!("asha-at-example")),
            "customer.email",
        ),
        (
            "bad phone",
            with("customer.phone", json!("12ab")),
            "customer.phone",
        ),
        (
            "missing order id",
            with("order_id", Value::Null),
            "order_id",
        ),
        (
            "missing customer",
            with("customer", Value::Null),
            "customer",
        ),
        (
            "missing return url",
            with("return_url", Value::Null),
            "return_url",
        ),
        (
            "bad return url",
            with("return_url", json!("javascript:alert(1)")),
            "return_url",
        ),
        (
            "too many notes",
            with("notes", Value::Object(notes)),
            "notes",
        ),
        (
            "long note",
            with("notes", json!({"k": "v".repeat(300)})),
            "notes.k",
        ),
        ("unknown field", with("tip", json!(5)), "tip"),
        ("short expiry", with("expires_in", json!(5)), "expires_in"),
    ];
    for (label, body, field) in cases {
        let (status, answer) = app.pay(&m, &body, None).await;
        let details = expect_error(status, &answer, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        assert!(
            details[field].is_string(),
            "{label}: expected details.{field}: {answer}"
        );
    }
    assert_eq!(app.db.count("transactions").await, 0);
    assert_eq!(app.db.count("outbox").await, 0);

    // A suspended merchant cannot take payments.
    app.post_json(
        &format!("/api/v1/admin/merchants/{}/suspend", m.id),
        Some(&admin),
        json!({"reason": "kyc"}),
    )
    .await;
    let (status, answer) = app
        .pay(&m, &payment("order-suspended", 10_000, false), None)
        .await;
    expect_error(status, &answer, StatusCode::FORBIDDEN, "MERCHANT_SUSPENDED");
    assert_eq!(app.db.count("transactions").await, 0);
}

#[tokio::test]
async fn transactions_are_listed_filtered_and_isolated() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let a = app.create_merchant(&admin, "List A").await;
    let b = app.create_merchant(&admin, "List B").await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let (_, body) = app
            .pay(&a, &payment(&format!("a-{i}"), 10_000 + i, i == 0), None)
            .await;
        ids.push(body["data"]["id"].as_str().unwrap().to_string());
    }
    let (_, body) = app.pay(&b, &payment("b-0", 10_000, false), None).await;
    let b_txn = body["data"]["id"].as_str().unwrap().to_string();
    app.drain().await;

    let list = |query: &str| {
        let path = format!("/api/v1/transactions{query}");
        let (app, a) = (&app, &a);
        async move {
            app.get_with_key(&path, &a.client_key, &a.client_secret)
                .await
        }
    };
    let (status, page) = list("").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let got: Vec<&str> = page["data"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        got,
        vec![ids[2].as_str(), ids[1].as_str(), ids[0].as_str()],
        "A sees only its own, newest first"
    );
    // An operator's list tells the merchants apart: every item names its merchant.
    let (status, all) = app.get("/api/v1/transactions", Some(&admin)).await;
    assert_eq!(status, StatusCode::OK, "{all}");
    let owners: std::collections::BTreeMap<&str, &str> = all["data"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["id"].as_str().unwrap(),
                t["merchant_id"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(owners[b_txn.as_str()], b.id.as_str(), "{all}");
    assert_eq!(owners[ids[0].as_str()], a.id.as_str(), "{all}");
    let (_, page) = list("?status=succeeded").await;
    assert_eq!(page["data"]["items"].as_array().unwrap().len(), 1);
    let (_, page) = list("?order_id=a-1").await;
    assert_eq!(page["data"]["items"][0]["id"], ids[1].as_str());
    let (_, page) = list(&format!("?limit=1&starting_after={}", ids[2])).await;
    assert_eq!(page["data"]["items"][0]["id"], ids[1].as_str());
    assert_eq!(page["data"]["has_more"], true);
    let (_, page) =
        list("?created_from=2000-01-01T00:00:00Z&created_to=2000-01-02T00:00:00Z").await;
    assert_eq!(page["data"]["items"].as_array().unwrap().len(), 0);
    for (query, field) in [
        ("?status=lost", "status"),
        ("?created_from=yesterday", "created_from"),
        ("?merchant_id=x", "merchant_id"),
    ] {
        let (status, answer) = list(query).await;
        let details = expect_error(status, &answer, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        assert!(details[field].is_string(), "{query}: {answer}");
    }
    let (status, answer) = app
        .get_with_key(
            &format!("/api/v1/transactions/{b_txn}"),
            &a.client_key,
            &a.client_secret,
        )
        .await;
    expect_error(status, &answer, StatusCode::NOT_FOUND, "NOT_FOUND");
    // Row Level Security also keeps the modes apart: A's live scope sees none of its test payments.
    let a_id: shared::ids::MerchantId = a.id.parse().unwrap();
    for (mode, expected) in [
        (shared::mode::Mode::Test, 3usize),
        (shared::mode::Mode::Live, 0),
    ] {
        let mut client = app.app.db.client().await.unwrap();
        let tx = shared::db::begin(&mut client, shared::db::Scope::Merchant { id: a_id, mode })
            .await
            .unwrap();
        for table in ["transactions", "transaction_attempts"] {
            let rows = tx
                .query(&format!("SELECT merchant_id FROM {table}"), &[])
                .await
                .unwrap();
            assert_eq!(rows.len(), expected, "{table} in {mode} mode");
        }
    }
    // Operators see all and may filter by merchant.
    let (_, page) = app
        .get(
            &format!("/api/v1/transactions?merchant_id={}", b.id),
            Some(&admin),
        )
        .await;
    let got: Vec<&str> = page["data"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, vec![b_txn.as_str()]);
}

/// A payment past its expiry reads as expired at once, before the monitor records it, in reads
/// and in list filters. Paid late all the same (after the monitor recorded the expiry), it
/// succeeds, and says it was confirmed after its expiry in the API and in its
/// `transaction.succeeded` event.
#[tokio::test]
async fn expiry_reads_at_once_and_a_late_capture_says_so() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Late Payer Shop").await;
    let (_, body) = app
        .pay(&m, &payment("order-late-payer", 10_000, false), None)
        .await;
    let id = body["data"]["id"].as_str().unwrap().to_string();
    app.drain().await;
    assert_eq!(app.transaction(&m, &id).await["status"], "pending");
    let pay_page = sandbox_page(&app, &body).await;
    let uuid: shared::ids::TransactionId = id.parse().unwrap();
    app.db
        .owner()
        .await
        .execute(
            "UPDATE transactions SET created_at = now() - interval '1 hour',
                    expires_at = now() - interval '1 second'
              WHERE id = $1",
            &[&uuid.as_uuid()],
        )
        .await
        .unwrap();

    let txn = app.transaction(&m, &id).await;
    assert_eq!(txn["status"], "expired", "{txn}");
    assert_eq!(txn["confirmed_after_expiry"], false);
    let listed = |query: &'static str| {
        let (app, m) = (&app, &m);
        async move {
            let (_, page) = app
                .get_with_key(
                    &format!("/api/v1/transactions?{query}"),
                    &m.client_key,
                    &m.client_secret,
                )
                .await;
            page["data"]["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["id"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(listed("status=expired").await, vec![id.clone()]);
    assert!(listed("status=pending").await.is_empty());
    // The monitor records the expiry and tells the merchant, once.
    functions::worker::run_schedule(&app.app, "transaction-monitor")
        .await
        .unwrap();
    app.drain().await;
    assert_eq!(events(&app, "transaction.expired").await.len(), 1);
    assert!(events(&app, "transaction.late_capture").await.is_empty());

    // The customer pays on the gateway's page anyway: the money is taken, so the payment
    // succeeds, flagged as captured after its expiry.
    press_and_return(&app, &pay_page, "pay").await;
    app.drain().await;
    let txn = app.transaction(&m, &id).await;
    assert_eq!(txn["status"], "succeeded", "{txn}");
    assert_eq!(txn["confirmed_after_expiry"], true, "{txn}");
    let succeeded = events(&app, "transaction.succeeded").await;
    assert_eq!(succeeded.len(), 1);
    assert_eq!(succeeded[0]["detail"]["transaction"]["status"], "succeeded");
    assert_eq!(
        succeeded[0]["detail"]["transaction"]["confirmed_after_expiry"], true,
        "{}",
        succeeded[0]
    );
    // And apart, as `transaction.late_capture`, to endpoints that subscribe to it alone.
    let late = events(&app, "transaction.late_capture").await;
    assert_eq!(late.len(), 1, "{late:?}");
    assert_eq!(late[0]["detail"]["transaction"]["id"], id.as_str());
    assert_eq!(late[0]["detail"]["transaction"]["status"], "succeeded");
    assert_eq!(
        late[0]["detail"]["transaction"]["confirmed_after_expiry"],
        true
    );
    let (_, listed) = app
        .get_with_key(
            "/api/v1/merchant/events?type=transaction.late_capture",
            &m.client_key,
            &m.client_secret,
        )
        .await;
    let items = listed["data"]["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{listed}");
    assert_eq!(items[0]["data"]["transaction"]["id"], id.as_str());
}
