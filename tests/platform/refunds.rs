//! Refunds through the API with the sandbox gateway: partial and full refunds, the database's
//! bound on their sum under concurrency, idempotency, refusals, and failed refunds.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::db::{self, Scope};
use shared::mode::Mode;

/// A test payment the sandbox has captured.
async fn captured(app: &TestApp, m: &Merchant, order_id: &str, amount: i64) -> String {
    let (status, body) = app.pay(m, &payment(order_id, amount, true), None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["data"]["id"].as_str().unwrap().to_string();
    app.drain().await;
    assert_eq!(app.transaction(m, &id).await["status"], "succeeded");
    id
}

async fn refund(
    app: &TestApp,
    m: &Merchant,
    transaction: &str,
    body: &Value,
    key: Option<&str>,
) -> (StatusCode, Value) {
    let mut request = app
        .http
        .post(app.url(&format!("/api/v1/transactions/{transaction}/refunds")))
        .header("X-Client-Key", &m.client_key)
        .header("X-Client-Secret", &m.client_secret)
        .json(body);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    send(request).await
}

#[tokio::test]
async fn partial_then_full_refunds_move_the_payment_and_publish_events() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Chai Point").await;
    let id = captured(&app, &m, "rf-1", 49_900).await;

    let (status, body) = refund(
        &app,
        &m,
        &id,
        &json!({ "amount": 10_000, "reason": "one cup returned", "notes": { "rma": "R-1" } }),
        Some("refund-rf-1-a"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let first = body["data"].clone();
    assert_eq!(first["status"], "pending");
    assert_eq!(first["amount"], 10_000);
    assert_eq!(first["transaction_id"], id.as_str());
    // The same key again: the same answer, no second refund.
    let (again, replay) = refund(
        &app,
        &m,
        &id,
        &json!({ "amount": 10_000, "reason": "one cup returned", "notes": { "rma": "R-1" } }),
        Some("refund-rf-1-a"),
    )
    .await;
    assert_eq!(again, StatusCode::CREATED);
    assert_eq!(replay["data"], first);
    assert_eq!(app.db.count("refunds").await, 1);

    app.drain().await;
    let refund_id = first["id"].as_str().unwrap();
    let (status, read) = app
        .get_with_key(
            &format!("/api/v1/refunds/{refund_id}"),
            &m.client_key,
            &m.client_secret,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert_eq!(read["data"]["status"], "succeeded");
    assert!(
        read["data"]["gateway_refund_id"]
            .as_str()
            .unwrap()
            .starts_with("sbx_rfnd_")
    );
    assert_eq!(
        app.transaction(&m, &id).await["status"],
        "partially_refunded"
    );

    // No amount: the rest.
    let (status, body) = refund(&app, &m, &id, &json!({}), None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["data"]["amount"], 39_900);
    app.drain().await;
    assert_eq!(app.transaction(&m, &id).await["status"], "refunded");
    let (status, list) = app
        .get_with_key(
            &format!("/api/v1/transactions/{id}/refunds"),
            &m.client_key,
            &m.client_secret,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["data"]["items"].as_array().unwrap().len(), 2);
    let transaction = app.transaction(&m, &id).await;
    assert_eq!(
        transaction["refunds"].as_array().unwrap().len(),
        2,
        "{transaction}"
    );
    assert_eq!(app.db.outbox_count("refund.created").await, 2);
    assert_eq!(app.db.outbox_count("refund.succeeded").await, 2);

    let (status, body) = refund(&app, &m, &id, &json!({ "amount": 100 }), None).await;
    expect_error(status, &body, StatusCode::CONFLICT, "REFUND_NOT_ALLOWED");
}

#[tokio::test]
async fn concurrent_partial_refunds_never_exceed_the_captured_amount() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Chai Point").await;
    let id = captured(&app, &m, "rf-concurrent", 49_900).await;

    // Ten refunds of ₹70 against ₹499: at most seven fit.
    let attempts = (0..10).map(|i| {
        let (app, m, id) = (&app, &m, &id);
        async move {
            refund(
                app,
                m,
                id,
                &json!({ "amount": 7_000 }),
                Some(&format!("concurrent-{i}")),
            )
            .await
        }
    });
    let answers = futures::future::join_all(attempts).await;
    let accepted: Vec<_> = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .collect();
    for (status, body) in &answers {
        if *status != StatusCode::CREATED {
            expect_error(
                *status,
                body,
                StatusCode::UNPROCESSABLE_ENTITY,
                "REFUND_EXCEEDS_CAPTURED",
            );
        }
    }
    assert_eq!(accepted.len(), 7, "{answers:?}");
    let owner = app.db.owner().await;
    let row = owner
        .query_one(
            "SELECT t.amount, t.refund_reserved, (SELECT sum(amount) FROM refunds r WHERE r.transaction_id = t.id)::bigint
             FROM transactions t WHERE t.id = (SELECT transaction_id FROM refunds LIMIT 1)",
            &[],
        )
        .await
        .unwrap();
    let (amount, reserved, sum): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
    assert_eq!((reserved, sum), (49_000, 49_000));
    assert!(sum <= amount);
    app.drain().await;
    assert_eq!(
        app.transaction(&m, &id).await["status"],
        "partially_refunded"
    );
}

#[tokio::test]
async fn the_database_itself_refuses_refunds_beyond_the_capture() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Chai Point").await;
    let id = captured(&app, &m, "rf-db", 10_000).await;
    let merchant: shared::ids::MerchantId = m.id.parse().unwrap();
    let txn: shared::ids::TransactionId = id.parse().unwrap();
    let mut client = app.app.db.client().await.unwrap();
    let tx = db::begin(
        &mut client,
        Scope::Merchant {
            id: merchant,
            mode: Mode::Test,
        },
    )
    .await
    .unwrap();
    // Straight SQL, past the application's checks.
    let insert = "INSERT INTO refunds (id, merchant_id, mode, transaction_id, attempt_id, amount, currency)
                  SELECT gen_random_uuid(), merchant_id, mode, id,
                         (SELECT a.id FROM transaction_attempts a WHERE a.transaction_id = t.id LIMIT 1), $2, currency
                  FROM transactions t WHERE id = $1";
    tx.execute(insert, &[&txn.as_uuid(), &6_000i64])
        .await
        .unwrap();
    let refused = tx
        .execute(insert, &[&txn.as_uuid(), &4_001i64])
        .await
        .unwrap_err();
    assert_eq!(
        refused.as_db_error().and_then(|d| d.constraint()),
        Some("transactions_refunds_within_capture")
    );
}

#[tokio::test]
async fn refusals_are_clear_and_write_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Chai Point").await;
    // Not captured: the customer has not paid.
    let (status, body) = app.pay(&m, &payment("rf-open", 20_000, false), None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let open = body["data"]["id"].as_str().unwrap().to_string();
    let (status, body) = refund(&app, &m, &open, &json!({ "amount": 100 }), None).await;
    expect_error(status, &body, StatusCode::CONFLICT, "REFUND_NOT_ALLOWED");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("only captured payments can be refunded"),
        "{body}"
    );

    let id = captured(&app, &m, "rf-bad", 20_000).await;
    for bad in [
        json!({ "amount": 0 }),
        json!({ "amount": -5 }),
        json!({ "amount": 1.5 }),
        json!({ "amount": "100" }),
        json!({ "reason": "x".repeat(256) }),
        json!({ "notes": { "k": "v".repeat(257) } }),
        json!({ "amount": 100, "speed": "instant" }),
    ] {
        let (status, body) = refund(&app, &m, &id, &bad, None).await;
        expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    let (status, body) = refund(&app, &m, &id, &json!({ "amount": 20_001 }), None).await;
    expect_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "REFUND_EXCEEDS_CAPTURED",
    );
    assert_eq!(body["error"]["details"]["refundable"], 20_000);
    let (status, body) = refund(
        &app,
        &m,
        "txn_0196f0c2a1b27c3d8e9f0a1b2c3d4e5f",
        &json!({}),
        None,
    )
    .await;
    expect_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    assert_eq!(app.db.count("refunds").await, 0);

    // Another merchant cannot refund this payment.
    let other = app.create_merchant(&admin, "Other Shop").await;
    let (status, body) = refund(&app, &other, &id, &json!({ "amount": 100 }), None).await;
    expect_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
}

#[tokio::test]
async fn a_failed_refund_gives_the_amount_back() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Chai Point").await;
    let id = captured(&app, &m, "rf-fail", 20_000).await;
    // The sandbox fails refunds of amounts ending in 13 paise.
    let (status, body) = refund(&app, &m, &id, &json!({ "amount": 5_013 }), None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    app.drain().await;
    let refund_id = body["data"]["id"].as_str().unwrap();
    let (_, read) = app
        .get_with_key(
            &format!("/api/v1/refunds/{refund_id}"),
            &m.client_key,
            &m.client_secret,
        )
        .await;
    assert_eq!(read["data"]["status"], "failed");
    assert!(read["data"]["failure_reason"].is_string());
    assert_eq!(app.db.outbox_count("refund.failed").await, 1);
    assert_eq!(app.transaction(&m, &id).await["status"], "succeeded");
    // The whole amount is refundable again.
    let (status, body) = refund(&app, &m, &id, &json!({}), None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["data"]["amount"], 20_000);
}
