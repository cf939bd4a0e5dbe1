//! Money held in suspense, resolved by operators through the HTTP API: real amount mismatches
//! reported by the sandbox on its platform-owned account, listed, resolved once each (refunded
//! back to clearing, or credited to the merchant's payable with no fee), the amount-mismatch
//! alert resolved with them, the books still balanced; and every refusal.

use crate::ledger_reports::call;
use crate::support::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use shared::gateways::sandbox::sign_webhook;

/// A ₹100 payment the sandbox reports captured as `amount` `currency` (an amount mismatch, held
/// in suspense); `n` makes the event and the gateway's payment id unique. Answers the payment's
/// and the attempt's ids.
async fn mismatched(
    app: &TestApp,
    m: &Merchant,
    n: u32,
    amount: i64,
    currency: &str,
) -> (String, String) {
    let (id, order, attempt) =
        crate::inbound::open_payment(app, m, &format!("order-suspense-{n}")).await;
    let now = chrono::Utc::now().timestamp();
    let body = json!({
        "id": format!("sbx_evt_suspense{n:012}"), "type": "payment.captured", "created": now,
        "data": { "order_id": order, "receipt": attempt, "status": "paid",
                  "payment_id": format!("sbx_pay_suspense{n:012}"), "amount": amount, "currency": currency },
    })
    .to_string();
    let secret = app.sandbox_secret().await;
    let signature = sign_webhook(&secret, now, body.as_bytes());
    let (status, answer) = crate::inbound::deliver(app, &body, Some(signature)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    app.drain().await;
    crate::gateways::assert_amount_mismatch(app, m, &id).await;
    (id, attempt)
}

fn resolve_path(attempt: &str) -> String {
    format!("/api/v1/admin/ledger/suspense/{attempt}/resolve")
}

async fn resolve(app: &TestApp, admin: &str, attempt: &str, body: Value) -> (StatusCode, Value) {
    call(app, Method::POST, &resolve_path(attempt), admin, Some(body)).await
}

/// The open suspense items of the test books, newest first.
async fn open_items(app: &TestApp, admin: &str) -> Vec<Value> {
    let (status, body) = app
        .get("/api/v1/admin/ledger/suspense?mode=test", Some(admin))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["has_more"], false, "{body}");
    body["data"]["items"].as_array().unwrap().clone()
}

fn attempts(items: &[Value]) -> Vec<&str> {
    items
        .iter()
        .map(|i| i["attempt_id"].as_str().unwrap())
        .collect()
}

/// The balance of the test-mode account(s) of `code` in `currency` (0 when none was opened),
/// narrowed by an extra query such as `&merchant_id=…`.
async fn balance(app: &TestApp, admin: &str, code: &str, currency: &str, extra: &str) -> i64 {
    let (status, body) = app
        .get(
            &format!(
                "/api/v1/admin/ledger/accounts?mode=test&code={code}&currency={currency}{extra}"
            ),
            Some(admin),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["balance"].as_i64().unwrap())
        .sum()
}

/// (code, side, amount) of each line of an entry.
fn lines(entry: &Value) -> Vec<(String, String, i64)> {
    entry["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["code"].as_str().unwrap().to_string(),
                l["side"].as_str().unwrap().to_string(),
                l["amount"].as_i64().unwrap(),
            )
        })
        .collect()
}

fn line(code: &str, side: &str, amount: i64) -> (String, String, i64) {
    (code.into(), side.into(), amount)
}

/// (status, resolution, whether an operator is named) of the alert of `key`.
async fn alert(app: &TestApp, key: &str) -> (String, Option<String>, bool) {
    let row = app
        .db
        .owner()
        .await
        .query_one(
            "SELECT status, resolution, resolved_by IS NOT NULL AS by FROM alerts WHERE key = $1",
            &[&key],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1), row.get(2))
}

#[tokio::test]
async fn suspense_is_listed_resolved_once_either_way_and_the_books_still_balance() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Filter Coffee Co").await;
    // ₹123.45 and ₹50 captured for ₹100 payments; and $100.00 for a rupee payment.
    let (p1, a1) = mismatched(&app, &m, 1, 12_345, "INR").await;
    let (_, a2) = mismatched(&app, &m, 2, 5_000, "INR").await;
    let (_, a3) = mismatched(&app, &m, 3, 10_000, "USD").await;

    // Listed newest first, with what each holds and why.
    let items = open_items(&app, &admin).await;
    assert_eq!(
        attempts(&items),
        vec![a3.as_str(), a2.as_str(), a1.as_str()]
    );
    let first = &items[2];
    assert_eq!(first["transaction_id"], p1.as_str());
    assert_eq!(first["merchant_id"], m.id.as_str());
    assert_eq!(first["mode"], "test");
    assert_eq!(
        (first["amount"].as_i64(), first["currency"].as_str()),
        (Some(12_345), Some("INR"))
    );
    assert_eq!(first["reason"], "amount_mismatch");
    assert_eq!(first["payment_currency"], "INR");
    assert!(first["id"].as_str().unwrap().starts_with("le_"), "{first}");
    assert!(
        first["gateway_account_id"]
            .as_str()
            .unwrap()
            .starts_with("gwa_")
    );
    assert!(first["created_at"].is_string());
    assert_eq!(items[0]["currency"], "USD");
    // A page at a time, by the entry's id; and by merchant.
    let (status, body) = app
        .get(
            "/api/v1/admin/ledger/suspense?mode=test&limit=2",
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["has_more"], true);
    let last = body["data"]["items"][1]["id"].as_str().unwrap().to_string();
    let (status, body) = app
        .get(
            &format!("/api/v1/admin/ledger/suspense?limit=2&starting_after={last}"),
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["has_more"], false);
    assert_eq!(body["data"]["items"][0]["attempt_id"], a1.as_str());
    let (_, body) = app
        .get(
            &format!(
                "/api/v1/admin/ledger/suspense?merchant_id={}",
                shared::ids::MerchantId::generate()
            ),
            Some(&admin),
        )
        .await;
    assert_eq!(body["data"]["items"], json!([]), "{body}");
    // Nothing was a payment: clearing holds what suspense does, in each currency.
    assert_eq!(balance(&app, &admin, "suspense", "INR", "").await, 17_345);
    assert_eq!(
        balance(&app, &admin, "gateway_clearing", "INR", "").await,
        17_345
    );
    assert_eq!(balance(&app, &admin, "suspense", "USD", "").await, 10_000);

    // The first was refunded to the customer at the gateway: back out of clearing.
    let (status, body) = resolve(
        &app,
        &admin,
        &a1,
        json!({ "outcome": "refunded", "note": "  Refunded ₹123.45 at the gateway, ref RF-1  " }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let entry = &body["data"];
    assert_eq!(entry["kind"], "suspense_resolution");
    assert_eq!(entry["business_key"], format!("suspense_resolved:{a1}"));
    assert_eq!(entry["transaction_id"], p1.as_str());
    assert_eq!(entry["merchant_id"], m.id.as_str());
    assert_eq!(
        lines(entry),
        vec![
            line("suspense", "debit", 12_345),
            line("gateway_clearing", "credit", 12_345),
        ]
    );
    assert_eq!(entry["lines"][1]["owner_id"], first["gateway_account_id"]);
    assert_eq!(entry["memo"]["outcome"], "refunded");
    assert_eq!(
        entry["memo"]["note"],
        "Refunded ₹123.45 at the gateway, ref RF-1"
    );
    assert_eq!(entry["memo"]["suspense_entry_id"], first["id"]);
    assert_eq!(balance(&app, &admin, "suspense", "INR", "").await, 5_000);
    assert_eq!(
        balance(&app, &admin, "gateway_clearing", "INR", "").await,
        5_000
    );
    // Its payment's entries cancel out on both accounts.
    let (_, body) = app
        .get(
            &format!("/api/v1/admin/ledger/entries?transaction_id={p1}"),
            Some(&admin),
        )
        .await;
    let entries = body["data"]["items"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{body}");
    assert_eq!(entries[1]["kind"], "suspense_capture");
    let mut net = std::collections::BTreeMap::<String, i64>::new();
    for (code, side, amount) in entries.iter().flat_map(lines) {
        *net.entry(code).or_default() += if side == "debit" { amount } else { -amount };
    }
    assert!(net.values().all(|n| *n == 0), "{net:?}");
    // Its alert is resolved by the operator; the others' stay open.
    assert_eq!(
        alert(&app, &format!("amount_mismatch:{a1}")).await,
        ("resolved".into(), Some("operator".into()), true)
    );
    assert_eq!(
        alert(&app, &format!("amount_mismatch:{a2}")).await.0,
        "open"
    );
    // Audited with the open item before and the entry after.
    let row = app
        .db
        .owner()
        .await
        .query_one(
            "SELECT actor_type, target_type, merchant_id::text, before, after FROM audit_log
              WHERE action = 'ledger.suspense_resolved' AND target_id = $1",
            &[&a1],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "user");
    assert_eq!(row.get::<_, String>(1), "attempt");
    let merchant: shared::ids::MerchantId = m.id.parse().unwrap();
    assert_eq!(row.get::<_, String>(2), merchant.as_uuid().to_string());
    assert_eq!(row.get::<_, Value>(3), *first);
    assert_eq!(row.get::<_, Value>(4)["id"], entry["id"]);
    // No longer open; and it resolves once, whatever the second call asks.
    assert_eq!(
        attempts(&open_items(&app, &admin).await),
        vec![a3.as_str(), a2.as_str()]
    );
    for outcome in ["refunded", "credited_to_merchant"] {
        let (status, body) = resolve(
            &app,
            &admin,
            &a1,
            json!({ "outcome": outcome, "note": "again" }),
        )
        .await;
        expect_error(status, &body, StatusCode::CONFLICT, "CONFLICT");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("already resolved (refunded"), "{message}");
    }
    assert_eq!(balance(&app, &admin, "suspense", "INR", "").await, 5_000);

    // The second is the merchant's: credited to its payable, no fee taken.
    let (status, body) = resolve(
        &app,
        &admin,
        &a2,
        json!({ "outcome": "credited_to_merchant", "note": "Customer confirmed a ₹50 order" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let entry = &body["data"];
    assert_eq!(
        lines(entry),
        vec![
            line("suspense", "debit", 5_000),
            line("merchant_payable", "credit", 5_000),
        ]
    );
    assert_eq!(entry["lines"][1]["owner_id"], m.id.as_str());
    assert_eq!(entry["memo"]["fee"], 0);
    assert!(
        entry["memo"]["fee_note"]
            .as_str()
            .unwrap()
            .contains("no fee")
    );
    let of_merchant = format!("&merchant_id={}", m.id);
    assert_eq!(
        balance(&app, &admin, "merchant_payable", "INR", &of_merchant).await,
        5_000
    );
    assert_eq!(balance(&app, &admin, "suspense", "INR", "").await, 0);
    // The money stays at the gateway, now owed to the merchant.
    assert_eq!(
        balance(&app, &admin, "gateway_clearing", "INR", "").await,
        5_000
    );
    assert_eq!(
        alert(&app, &format!("amount_mismatch:{a2}")).await.0,
        "resolved"
    );

    // Dollars cannot go to a rupee payable: refused, nothing written; refunded instead.
    let (status, body) = resolve(
        &app,
        &admin,
        &a3,
        json!({ "outcome": "credited_to_merchant", "note": "wrong currency" }),
    )
    .await;
    let details = expect_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "CURRENCY_MISMATCH",
    );
    assert_eq!(
        details,
        json!({ "currency": "USD", "required_currency": "INR" })
    );
    assert_eq!(
        body["error"]["message"],
        "The money is in USD, but the merchant's payable is kept in INR"
    );
    assert_eq!(balance(&app, &admin, "suspense", "USD", "").await, 10_000);
    assert_eq!(
        alert(&app, &format!("amount_mismatch:{a3}")).await.0,
        "open"
    );
    let (status, body) = resolve(
        &app,
        &admin,
        &a3,
        json!({ "outcome": "refunded", "note": "Refunded $100 at the gateway" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["lines"][0]["currency"], "USD");
    assert_eq!(balance(&app, &admin, "suspense", "USD", "").await, 0);
    assert_eq!(
        balance(&app, &admin, "gateway_clearing", "USD", "").await,
        0
    );
    assert!(open_items(&app, &admin).await.is_empty());

    // The books still balance, from the accounts and from the lines.
    let (status, body) = app
        .get("/api/v1/admin/ledger/trial-balance?mode=test", Some(&admin))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["balanced"], true, "{body}");
    assert_eq!(body["data"]["agrees"], true, "{body}");
    let currencies: Vec<&str> = body["data"]["currencies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["currency"].as_str().unwrap())
        .collect();
    assert_eq!(currencies, vec!["INR", "USD"], "{body}");
}

#[tokio::test]
async fn bad_resolutions_merchants_and_unknown_attempts_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Idli House").await;
    let (_, attempt) = mismatched(&app, &m, 7, 9_999, "INR").await;

    for (body, field) in [
        (json!({ "outcome": "kept", "note": "n" }), "outcome"),
        (json!({ "outcome": "refunded", "note": "" }), "note"),
        (json!({ "outcome": "refunded", "note": "   " }), "note"),
        (
            json!({ "outcome": "refunded", "note": "x".repeat(501) }),
            "note",
        ),
        (json!({ "outcome": "refunded" }), "note"),
        (json!({ "note": "n" }), "outcome"),
        (
            json!({ "outcome": "refunded", "note": "n", "amount": 1 }),
            "amount",
        ),
        (json!({ "outcome": 1, "note": "n" }), "outcome"),
    ] {
        let (status, answer) = resolve(&app, &admin, &attempt, body.clone()).await;
        let details = expect_error(status, &answer, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        assert!(
            details.get(field).is_some(),
            "{body} should name {field}: {answer}"
        );
    }
    let (status, answer) = resolve(
        &app,
        &admin,
        &attempt,
        json!({ "outcome": "refunded", "note": "x".repeat(500) }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "500 characters are fine: {answer}");
    let (_, second) = mismatched(&app, &m, 8, 1, "INR").await;

    // Merchants never reach these routes, with their keys or their dashboard session.
    let token = m.token(&app).await;
    let (status, answer) = app.get("/api/v1/admin/ledger/suspense", Some(&token)).await;
    expect_error(status, &answer, StatusCode::FORBIDDEN, "FORBIDDEN");
    let (status, answer) = app
        .get_with_key(
            "/api/v1/admin/ledger/suspense",
            &m.client_key,
            &m.client_secret,
        )
        .await;
    expect_error(status, &answer, StatusCode::FORBIDDEN, "FORBIDDEN");
    let good = json!({ "outcome": "credited_to_merchant", "note": "mine" });
    let (status, answer) = resolve(&app, &token, &second, good.clone()).await;
    expect_error(status, &answer, StatusCode::FORBIDDEN, "FORBIDDEN");
    let (status, answer) = send(
        app.http
            .post(app.url(&resolve_path(&second)))
            .header("X-Client-Key", &m.client_key)
            .header("X-Client-Secret", &m.client_secret)
            .json(&good),
    )
    .await;
    expect_error(status, &answer, StatusCode::FORBIDDEN, "FORBIDDEN");
    let (status, _) = app.get("/api/v1/admin/ledger/suspense", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // An attempt nothing is held for (unknown, or captured as it should be), or no attempt id.
    let unknown = shared::ids::AttemptId::generate().to_string();
    let (status, answer) = resolve(&app, &admin, &unknown, good.clone()).await;
    let _ = expect_error(status, &answer, StatusCode::NOT_FOUND, "NOT_FOUND");
    assert_eq!(answer["error"]["message"], "Suspense item not found");
    let txn = crate::ledger_reports::paid(&app, &m, "order-suspense-paid", 10_000).await;
    let captured = txn["attempts"][0]["id"].as_str().unwrap();
    let (status, answer) = resolve(&app, &admin, captured, good.clone()).await;
    expect_error(status, &answer, StatusCode::NOT_FOUND, "NOT_FOUND");
    let (status, answer) = resolve(&app, &admin, "att_nope", good.clone()).await;
    let details = expect_error(status, &answer, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert!(details.get("attempt_id").is_some(), "{answer}");
    // Bad list queries.
    for query in [
        "mode=staging",
        "merchant_id=mer_nope",
        "limit=0",
        "colour=red",
    ] {
        let (status, answer) = app
            .get(
                &format!("/api/v1/admin/ledger/suspense?{query}"),
                Some(&admin),
            )
            .await;
        expect_error(status, &answer, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }

    // Nothing of that was written: the second is still open, with nothing resolved for it.
    assert_eq!(
        attempts(&open_items(&app, &admin).await),
        vec![second.as_str()]
    );

    // Two operators at once: one resolves it, the other is told it already was.
    let (a, b) = tokio::join!(
        resolve(
            &app,
            &admin,
            &second,
            json!({ "outcome": "refunded", "note": "first" })
        ),
        resolve(
            &app,
            &admin,
            &second,
            json!({ "outcome": "credited_to_merchant", "note": "second" })
        ),
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::CONFLICT],
        "{} {}",
        a.1,
        b.1
    );
    assert!(open_items(&app, &admin).await.is_empty());
    let resolutions: i64 = app
        .db
        .owner()
        .await
        .query_one(
            "SELECT count(*) FROM ledger_entries WHERE kind = 'suspense_resolution'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(resolutions, 2);
    let audited: i64 = app
        .db
        .owner()
        .await
        .query_one(
            "SELECT count(*) FROM audit_log WHERE action = 'ledger.suspense_resolved'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(audited, 2);
}
