//! Inbound gateway events: signatures, deduplication, the state machine, unknown payments, and
//! the monitor that asks gateways when events do not come.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::gateways::sandbox::sign_webhook;

/// A payment whose sandbox order exists, with the order id and our attempt id.
pub(crate) async fn open_payment(
    app: &TestApp,
    m: &Merchant,
    order_id: &str,
) -> (String, String, String) {
    let (_, body) = app.pay(m, &payment(order_id, 10_000, false), None).await;
    let id = body["data"]["id"].as_str().unwrap().to_string();
    app.drain().await;
    let txn = app.transaction(m, &id).await;
    let attempt = &txn["attempts"][0];
    (
        id,
        attempt["gateway_reference"].as_str().unwrap().to_string(),
        attempt["id"].as_str().unwrap().to_string(),
    )
}

fn event(event_id: &str, order: &str, receipt: &str, status: &str) -> String {
    let kind = if status == "paid" {
        "payment.captured"
    } else {
        "payment.failed"
    };
    json!({
        "id": event_id, "type": kind, "created": chrono::Utc::now().timestamp(),
        "data": { "order_id": order, "receipt": receipt, "status": status,
                  "payment_id": if status == "paid" { Some("sbx_pay_test0000000000000001") } else { None },
                  "error_reason": if status == "paid" { None } else { Some("card_declined") },
                  "amount": 10_000, "currency": "INR" },
    })
    .to_string()
}

pub(crate) async fn deliver(
    app: &TestApp,
    body: &str,
    signature: Option<String>,
) -> (StatusCode, Value) {
    let mut request = app
        .http
        .post(app.url("/api/v1/webhooks/sandbox"))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(signature) = signature {
        request = request.header("X-Sandbox-Signature", signature);
    }
    send(request).await
}

async fn status_of(app: &TestApp, m: &Merchant, id: &str) -> String {
    let txn = app.transaction(m, id).await;
    txn["status"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn unsigned_tampered_stale_or_foreign_events_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Guarded Shop").await;
    let (id, order, attempt) = open_payment(&app, &m, "order-guarded").await;
    let secret = app.sandbox_secret().await;
    let body = event("sbx_evt_forged0000000000001", &order, &attempt, "paid");
    let now = chrono::Utc::now().timestamp();
    let tampered_body = body.replace("10000", "1");
    let cases = [
        ("missing", None, body.clone()),
        ("garbage", Some("nonsense".to_string()), body.clone()),
        (
            "wrong secret",
            Some(sign_webhook(
                "sbx_whsec_not_the_real_one",
                now,
                body.as_bytes(),
            )),
            body.clone(),
        ),
        (
            "tampered body",
            Some(sign_webhook(&secret, now, body.as_bytes())),
            tampered_body,
        ),
        (
            "stale",
            Some(sign_webhook(&secret, now - 3600, body.as_bytes())),
            body.clone(),
        ),
        (
            "from the future",
            Some(sign_webhook(&secret, now + 3600, body.as_bytes())),
            body.clone(),
        ),
    ];
    for (label, signature, payload) in cases {
        let (status, answer) = deliver(&app, &payload, signature).await;
        expect_error(status, &answer, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
        assert_eq!(
            answer["error"]["details"]["reason"], "invalid_signature",
            "{label}"
        );
    }
    app.drain().await;
    assert_eq!(app.db.count("gateway_events").await, 0);
    assert_eq!(status_of(&app, &m, &id).await, "pending");
    let (status, _) = send(
        app.http
            .post(app.url("/api/v1/webhooks/nosuchgateway"))
            .body("{}"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn duplicates_late_failures_and_unknown_payments_are_harmless() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Noisy Shop").await;
    let (id, order, attempt) = open_payment(&app, &m, "order-noisy").await;
    let secret = app.sandbox_secret().await;
    let sign = |body: &str| {
        Some(sign_webhook(
            &secret,
            chrono::Utc::now().timestamp(),
            body.as_bytes(),
        ))
    };

    // The same event five times: stored once, applied once.
    let paid = event("sbx_evt_paid00000000000000001", &order, &attempt, "paid");
    for i in 0..5 {
        let (status, answer) = deliver(&app, &paid, sign(&paid)).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["data"]["duplicate"], i > 0);
    }
    app.drain().await;
    assert_eq!(status_of(&app, &m, &id).await, "succeeded");
    assert_eq!(app.db.count("gateway_events").await, 1);
    assert_eq!(app.db.outbox_count("transaction.succeeded").await, 1);

    // A failure reported after the success is stored, and ignored.
    let failed = event("sbx_evt_late_failure0000000001", &order, &attempt, "failed");
    assert_eq!(
        deliver(&app, &failed, sign(&failed)).await.0,
        StatusCode::OK
    );
    app.drain().await;
    assert_eq!(status_of(&app, &m, &id).await, "succeeded");
    assert_eq!(app.db.outbox_count("transaction.failed").await, 0);
    let outcome: String = app
        .db
        .owner()
        .await
        .query_one(
            "SELECT outcome FROM gateway_events WHERE event_id = 'sbx_evt_late_failure0000000001'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(outcome, "ignored");

    // An event for a payment we do not know: stored, answered 200, flagged.
    let stranger = event(
        "sbx_evt_stranger000000000001",
        "sbx_order_UnknownOrder000000001",
        "att_0123456789abcdef0123456789abcdef",
        "paid",
    );
    let (status, _) = deliver(&app, &stranger, sign(&stranger)).await;
    assert_eq!(status, StatusCode::OK);
    app.drain().await;
    let row = app.db.owner().await.query_one("SELECT outcome, transaction_id IS NULL FROM gateway_events WHERE event_id = 'sbx_evt_stranger000000000001'", &[]).await.unwrap();
    assert_eq!(
        (row.get::<_, String>(0), row.get::<_, bool>(1)),
        ("unknown_transaction".to_string(), true)
    );
}

#[tokio::test]
async fn the_monitor_asks_the_gateway_and_expires_abandoned_payments() {
    let app = TestApp::spawn_with(&[("PAYMENT_STALE_AFTER_SECONDS", "10")]).await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Quiet Shop").await;
    // Paid at the sandbox, but the webhook never arrived.
    let (paid, order, _) = open_payment(&app, &m, "order-quiet").await;
    let owner = app.db.owner().await;
    owner.execute("UPDATE sandbox_orders SET status = 'paid', payment_id = 'sbx_pay_quiet000000000000001' WHERE id = $1", &[&order]).await.unwrap();
    // Abandoned: never paid, past its expiry.
    let (abandoned, _, _) = open_payment(&app, &m, "order-abandoned").await;
    // Still open and recent: left alone.
    let (fresh, _, _) = open_payment(&app, &m, "order-fresh").await;
    owner
        .batch_execute("UPDATE transaction_attempts SET updated_at = now() - interval '1 hour'")
        .await
        .unwrap();
    owner.execute("UPDATE transactions SET expires_at = now() - interval '1 minute', created_at = now() - interval '2 hours' WHERE order_id = 'order-abandoned'", &[]).await.unwrap();
    owner.execute("UPDATE transaction_attempts SET updated_at = now() WHERE transaction_id = (SELECT id FROM transactions WHERE order_id = 'order-fresh')", &[]).await.unwrap();

    let run = functions::worker::run_schedule(&app.app, "transaction-monitor")
        .await
        .unwrap();
    assert_eq!(run["expired"], 1, "{run}");
    assert_eq!(status_of(&app, &m, &paid).await, "succeeded");
    assert_eq!(status_of(&app, &m, &abandoned).await, "expired");
    assert_eq!(status_of(&app, &m, &fresh).await, "pending");

    // With the sandbox unreachable, nothing is guessed.
    let blind = TestApp::spawn_with(&[
        ("SANDBOX_BASE_URL", "http://127.0.0.1:9"),
        ("PAYMENT_STALE_AFTER_SECONDS", "10"),
    ])
    .await;
    let admin = blind.admin_token().await;
    let m = blind.create_merchant(&admin, "Blind Shop").await;
    let (_, body) = blind
        .pay(&m, &payment("order-blind", 10_000, false), None)
        .await;
    let id = body["data"]["id"].as_str().unwrap().to_string();
    let owner = blind.db.owner().await;
    owner.execute("UPDATE transaction_attempts SET gateway_reference = 'sbx_order_Blind0000000000000001', status = 'pending', updated_at = now() - interval '1 hour'", &[]).await.unwrap();
    owner.execute("UPDATE transactions SET status = 'pending', expires_at = now() - interval '1 minute', created_at = now() - interval '2 hours'", &[]).await.unwrap();
    let run = functions::worker::run_schedule(&blind.app, "transaction-monitor")
        .await
        .unwrap();
    assert_eq!(run["unreachable"], 1, "{run}");
    // Nothing is recorded (it reads as expired, being past its expiry, but a capture the gateway
    // reports later still succeeds it).
    let stored: String = owner
        .query_one("SELECT status FROM transactions", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, "pending", "an unanswered question is not an answer");
    assert_eq!(status_of(&blind, &m, &id).await, "expired");
}

/// A signed sandbox capture of `amount` `currency` for the payment's order.
fn capture_of(order: &str, receipt: &str, amount: i64, currency: &str) -> String {
    let mut body: Value = serde_json::from_str(&event(
        "sbx_evt_f2capture000000000001",
        order,
        receipt,
        "paid",
    ))
    .unwrap();
    body["data"]["amount"] = json!(amount);
    body["data"]["currency"] = json!(currency);
    body.to_string()
}

/// The security review's sandbox demo: whoever holds the sandbox's key reports a capture of one
/// cent for a ₹100 payment. Then the monitor, asking a sandbox whose order says the same.
#[tokio::test]
async fn f2_sandbox_a_capture_of_a_lower_amount_is_flagged_not_applied() {
    let app = TestApp::spawn_with(&[("PAYMENT_STALE_AFTER_SECONDS", "10")]).await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Underpaid Shop").await;
    let (id, order, attempt) = open_payment(&app, &m, "order-underpaid").await;
    let secret = app.sandbox_secret().await;
    let body = capture_of(&order, &attempt, 1, "INR");
    let signature = sign_webhook(&secret, chrono::Utc::now().timestamp(), body.as_bytes());
    assert_eq!(
        deliver(&app, &body, Some(signature)).await.0,
        StatusCode::OK
    );
    app.drain().await;
    crate::gateways::assert_amount_mismatch(&app, &m, &id).await;
    // A redelivery does not tell operators twice.
    let signature = sign_webhook(&secret, chrono::Utc::now().timestamp(), body.as_bytes());
    assert_eq!(
        deliver(&app, &body, Some(signature)).await.0,
        StatusCode::OK
    );
    app.drain().await;
    crate::gateways::assert_amount_mismatch(&app, &m, &id).await;

    // The monitor's status query goes through the same check.
    let (quiet, order, _) = open_payment(&app, &m, "order-underpaid-quiet").await;
    let owner = app.db.owner().await;
    owner
        .execute(
            "UPDATE sandbox_orders SET status = 'paid', amount = 9999, payment_id = 'sbx_pay_quiet000000000000002' WHERE id = $1",
            &[&order],
        )
        .await
        .unwrap();
    owner
        .batch_execute("UPDATE transaction_attempts SET updated_at = now() - interval '1 hour'")
        .await
        .unwrap();
    functions::worker::run_schedule(&app.app, "transaction-monitor")
        .await
        .unwrap();
    crate::gateways::assert_amount_mismatch(&app, &m, &quiet).await;
    assert_eq!(status_of(&app, &m, &quiet).await, "pending");
    // Past its expiry, a flagged payment expires as unpaid; the flag stays on the attempt.
    owner
        .batch_execute(
            "UPDATE transactions SET expires_at = now() - interval '1 minute', created_at = now() - interval '2 hours'
             WHERE order_id = 'order-underpaid-quiet'",
        )
        .await
        .unwrap();
    let run = functions::worker::run_schedule(&app.app, "transaction-monitor")
        .await
        .unwrap();
    assert_eq!(
        run["checked"], 0,
        "a flagged attempt is not asked again: {run}"
    );
    assert_eq!(status_of(&app, &m, &quiet).await, "expired");
    crate::gateways::assert_amount_mismatch(&app, &m, &quiet).await;
}

/// An event id the provider puts in its signed body can still be unusable (empty, over 255
/// bytes, not ASCII): it is replaced by the body's hash, never a 5xx, and a redelivery of the
/// same body is the same event.
#[tokio::test]
async fn f8_event_ids_that_cannot_be_stored_are_replaced_never_a_5xx() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Odd Ids Shop").await;
    let (_, order, attempt) = open_payment(&app, &m, "order-odd-ids").await;
    let secret = app.sandbox_secret().await;
    let long = "e".repeat(300);
    for id in ["", long.as_str(), "évt_ünïcode"] {
        let body = event(id, &order, &attempt, "failed");
        for _ in 0..2 {
            let signature = sign_webhook(&secret, chrono::Utc::now().timestamp(), body.as_bytes());
            let (status, answer) = deliver(&app, &body, Some(signature)).await;
            assert_eq!(status, StatusCode::OK, "{id:?}: {answer}");
        }
    }
    assert_eq!(app.db.count("gateway_events").await, 3);
}
