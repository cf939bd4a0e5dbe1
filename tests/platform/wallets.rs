//! Prepaid wallets: a wallet below its suspension threshold closes the merchant's own gateway
//! accounts to new payments (`WALLET_BALANCE_LOW`) until a top-up lifts it; the low-balance
//! alert tells operators and the merchant once per cool-down; operators' top-ups are idempotent,
//! validated, audited and booked; a checkout top-up credits the wallet with the whole amount; a
//! merchant reads only its own wallet, a page of movements at a time.

use crate::support::*;
use chrono::Utc;
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::clock::ManualClock;
use shared::ids::{GatewayAccountId, MerchantId};
use std::sync::Arc;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The operators' Slack webhook path and the merchant's.
const OPS_HOOK: &str = "/services/T00000000/B00000000/operatorswallets";
const SHOP_HOOK: &str = "/services/T00000000/B00000000/merchantwallets";

/// A merchant-owned sandbox account, first in the merchant's pool.
async fn own_account(app: &TestApp, merchant: &Merchant) -> GatewayAccountId {
    let key = format!("sbx_key_{}", uuid::Uuid::new_v4().simple());
    let secret = format!("sbx_whsec_{}", uuid::Uuid::new_v4().simple());
    app.add_gateway_account(
        merchant,
        "sandbox",
        &[
            ("api_key", key.as_str()),
            ("webhook_secret", secret.as_str()),
        ],
    )
    .await
}

fn wallet_path(m: &Merchant) -> String {
    format!("/api/v1/admin/merchants/{}/wallet", m.id)
}

/// `PUT` the wallet's thresholds as an operator.
async fn set_thresholds(
    app: &TestApp,
    admin: &str,
    m: &Merchant,
    body: Value,
) -> (StatusCode, Value) {
    send(
        app.http
            .put(app.url(&wallet_path(m)))
            .bearer_auth(admin)
            .json(&body),
    )
    .await
}

/// An operator's top-up: status, body and whether it was a replay.
async fn operator_top_up(
    app: &TestApp,
    admin: &str,
    merchant_id: &str,
    body: Value,
    key: Option<&str>,
) -> (StatusCode, Value, bool) {
    let mut request = app
        .http
        .post(app.url(&format!(
            "/api/v1/admin/merchants/{merchant_id}/wallet/top-ups"
        )))
        .bearer_auth(admin)
        .json(&body);
    // The route requires a key: `None` sends a fresh one.
    let fresh = uuid::Uuid::now_v7().to_string();
    request = request.header("Idempotency-Key", key.unwrap_or(&fresh));
    let response = request.send().await.unwrap();
    let status = response.status();
    let replayed = response
        .headers()
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true");
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    (status, body, replayed)
}

/// The merchant's own view of its wallet (key pair, test mode).
async fn own_wallet(app: &TestApp, m: &Merchant, query: &str) -> Value {
    let (status, body) = app
        .get_with_key(
            &format!("/api/v1/wallets{query}"),
            &m.client_key,
            &m.client_secret,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"].clone()
}

async fn count(app: &TestApp, sql: &str, merchant: &Merchant) -> i64 {
    let id: MerchantId = merchant.id.parse().unwrap();
    app.db
        .owner()
        .await
        .query_one(sql, &[&id.as_uuid()])
        .await
        .unwrap()
        .get(0)
}

/// Slack messages a webhook received so far.
async fn received(slack: &MockServer, hook: &str) -> usize {
    slack
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path() == hook)
        .count()
}

/// Runs the sweep schedule once.
async fn sweep(app: &TestApp) -> Value {
    functions::worker::run_schedule(&app.app, "low-balance-notifier")
        .await
        .unwrap()
}

#[tokio::test]
async fn an_empty_wallet_below_its_suspension_threshold_refuses_payments_until_topped_up_and_is_told_once()
 {
    let slack = MockServer::start().await;
    for hook in [OPS_HOOK, SHOP_HOOK] {
        Mock::given(method("POST"))
            .and(path(hook))
            .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
            .mount(&slack)
            .await;
    }
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let app = TestApp::spawn_with_clock(
        &[
            ("SLACK_API_BASE", &slack.uri()),
            ("SLACK_BOT_TOKEN", "xoxb-wallet-tests"),
            ("SLACK_ALLOW_LOCAL_WEBHOOKS", "on"),
            ("SLACK_RECIPIENT_INTERVAL_SECONDS", "1"),
            ("ALERTS_NOTIFY_COOL_DOWN_SECONDS", "1800"),
        ],
        clock.clone(),
    )
    .await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Wallet Shop").await;
    let token = m.token(&app).await;
    own_account(&app, &m).await;
    for (prefix, bearer, hook) in [("admin", &admin, OPS_HOOK), ("merchant", &token, SHOP_HOOK)] {
        let (status, body) = app
            .post_json(
                &format!("/api/v1/{prefix}/notification-recipients"),
                Some(bearer),
                json!({ "channel": "slack", "address": format!("{}{hook}", slack.uri()) }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    // The operator asks for ₹500 at least: the empty wallet is suspended at once, and told.
    let (status, body) = set_thresholds(
        &app,
        &admin,
        &m,
        json!({ "mode": "test", "alert_threshold": 100_000, "suspension_threshold": 50_000 }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (
            body["data"]["balance"].as_i64(),
            body["data"]["state"].as_str()
        ),
        (Some(0), Some("suspended"))
    );
    let audited = count(
        &app,
        "SELECT count(*) FROM audit_log WHERE merchant_id = $1 AND action = 'wallet.thresholds_updated'",
        &m,
    )
    .await;
    assert_eq!(audited, 1);

    let (status, body) = app
        .pay(&m, &payment("order-refused", 25_000, true), None)
        .await;
    let details = expect_error(
        status,
        &body,
        StatusCode::PAYMENT_REQUIRED,
        "WALLET_BALANCE_LOW",
    );
    assert_eq!(details["balance"], 0);
    assert_eq!(details["suspension_threshold"], 50_000);
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM transactions WHERE merchant_id = $1",
            &m
        )
        .await,
        0,
        "nothing stored"
    );

    // Two runs of the monitor within the cool-down: the open alert counts, nobody is told again.
    app.drain().await;
    clock.advance(chrono::Duration::seconds(5));
    sweep(&app).await;
    let job = shared::wallets::monitor::CheckJob {
        merchant_id: m.id.parse().unwrap(),
        mode: shared::mode::Mode::Test,
    };
    shared::wallets::monitor::check_one(&app.app, job)
        .await
        .unwrap();
    clock.advance(chrono::Duration::seconds(5));
    app.drain().await;
    assert_eq!(received(&slack, OPS_HOOK).await, 1, "operators told once");
    assert_eq!(
        received(&slack, SHOP_HOOK).await,
        1,
        "the merchant told once"
    );
    let (severity, status, seen, told): (String, String, i32, i32) = {
        let row = app
            .db
            .owner()
            .await
            .query_one(
                "SELECT severity, status, count, notifications FROM alerts WHERE kind = 'wallet_balance_low'",
                &[],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1), row.get(2), row.get(3))
    };
    assert_eq!((severity.as_str(), status.as_str()), ("critical", "open"));
    assert_eq!((seen, told), (3, 1));

    // The operator records ₹1,003 received: the wallet is above both thresholds, the alert
    // resolves, and the next payment goes through on the merchant's own account.
    let (status, body, _) = operator_top_up(
        &app,
        &admin,
        &m.id,
        json!({ "mode": "test", "amount": 100_300, "reference": "UTR0001" }),
        Some("top-up-1"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["data"]["balance"], 100_300);
    assert_eq!(body["data"]["state"], "ok");
    assert_eq!(body["data"]["top_up"]["source"], "operator");
    let resolved: i64 = app
        .db
        .owner()
        .await
        .query_one(
            "SELECT count(*) FROM alerts WHERE kind = 'wallet_balance_low' AND status = 'resolved' AND resolution = 'automatic'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(resolved, 1);

    let (status, body) = app
        .pay(&m, &payment("order-paid", 25_000, true), None)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["data"]["id"].as_str().unwrap().to_string();
    app.drain().await;
    let txn = app.transaction(&m, &id).await;
    assert_eq!(txn["status"], "succeeded", "{txn}");
    assert_eq!(
        (txn["fee"].as_i64(), txn["gst"].as_i64()),
        (Some(500), Some(90))
    );

    // Its fee came out of the wallet, which is now below the alert threshold: the capture's
    // job checked it at once, and a new (warning) alert told people.
    let wallet = own_wallet(&app, &m, "").await;
    assert_eq!(wallet["balance"], 100_300 - 590);
    assert_eq!(wallet["state"], "low");
    clock.advance(chrono::Duration::seconds(5));
    app.drain().await;
    assert_eq!(received(&slack, OPS_HOOK).await, 2);
    assert_eq!(received(&slack, SHOP_HOOK).await, 2);
    // Later sweeps within the cool-down tell nobody again.
    sweep(&app).await;
    sweep(&app).await;
    clock.advance(chrono::Duration::seconds(5));
    app.drain().await;
    assert_eq!(received(&slack, OPS_HOOK).await, 2);
    assert_eq!(received(&slack, SHOP_HOOK).await, 2);
}

#[tokio::test]
async fn operator_top_ups_are_idempotent_validated_and_for_operators_only() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Ledger Shop").await;
    let other = app.create_merchant(&admin, "Other Shop").await;
    let good = json!({ "mode": "test", "amount": 250_000, "reference": "UTR42" });

    let (s1, first, replayed1) =
        operator_top_up(&app, &admin, &m.id, good.clone(), Some("k-1")).await;
    let (s2, second, replayed2) =
        operator_top_up(&app, &admin, &m.id, good.clone(), Some("k-1")).await;
    assert_eq!(
        (s1, s2),
        (StatusCode::CREATED, StatusCode::CREATED),
        "{first} {second}"
    );
    assert_eq!((replayed1, replayed2), (false, true));
    assert_eq!(first, second, "the stored answer, byte for byte");
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM wallet_top_ups WHERE merchant_id = $1",
            &m
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM ledger_entries WHERE merchant_id = $1 AND kind = 'wallet_top_up'",
            &m
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM audit_log WHERE merchant_id = $1 AND action = 'wallet.topped_up'",
            &m
        )
        .await,
        1
    );
    // The same key with another body is refused.
    let (status, reused, _) = operator_top_up(
        &app,
        &admin,
        &m.id,
        json!({ "mode": "test", "amount": 1 }),
        Some("k-1"),
    )
    .await;
    expect_error(
        status,
        &reused,
        StatusCode::UNPROCESSABLE_ENTITY,
        "IDEMPOTENCY_KEY_REUSED",
    );

    // Bad input: a clear 4xx naming the field, nothing stored.
    for (bad, field) in [
        (json!({ "mode": "test", "amount": 0 }), "amount"),
        (json!({ "mode": "test", "amount": -500 }), "amount"),
        (
            json!({ "mode": "test", "amount": 1_000_000_000_000_i64 }),
            "amount",
        ),
        (json!({ "mode": "prod", "amount": 500 }), "mode"),
        (
            json!({ "mode": "test", "amount": 500, "reference": "x".repeat(101) }),
            "reference",
        ),
    ] {
        let (status, body, _) = operator_top_up(&app, &admin, &m.id, bad.clone(), None).await;
        let details = expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        assert!(details.get(field).is_some(), "{bad}: {body}");
    }
    // Without a key a double submit would credit the money twice: refused, nothing written.
    let response = app
        .http
        .post(app.url(&format!("/api/v1/admin/merchants/{}/wallet/top-ups", m.id)))
        .bearer_auth(&admin)
        .json(&good)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    let details = expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert!(details.get("Idempotency-Key").is_some(), "{body}");
    let (status, body, _) = operator_top_up(&app, &admin, "mer_nope", good.clone(), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let unknown = MerchantId::generate().to_string();
    let (status, body, _) =
        operator_top_up(&app, &admin, &unknown, good.clone(), Some("k-2")).await;
    expect_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    let (status, body) = set_thresholds(
        &app,
        &admin,
        &m,
        json!({ "mode": "test", "alert_threshold": 10_000, "suspension_threshold": 20_000 }),
    )
    .await;
    let details = expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert!(details.get("alert_threshold").is_some(), "{body}");
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM wallet_top_ups WHERE merchant_id = $1",
            &m
        )
        .await,
        1
    );

    // Merchants cannot call the operators' routes, with a session or with keys.
    let token = m.token(&app).await;
    let (status, _, _) = operator_top_up(&app, &token, &m.id, good.clone(), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .get(&format!("{}?mode=test", wallet_path(&m)), Some(&token))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .get_with_key(
            &format!("{}?mode=test", wallet_path(&m)),
            &m.client_key,
            &m.client_secret,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = set_thresholds(
        &app,
        &token,
        &m,
        json!({ "mode": "test", "alert_threshold": 0, "suspension_threshold": 0 }),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Each merchant sees its own wallet only; operators see either, by mode.
    let mine = own_wallet(&app, &m, "").await;
    assert_eq!(mine["merchant_id"], m.id.as_str());
    assert_eq!(mine["balance"], 250_000);
    assert_eq!(mine["currency"], "INR");
    assert_eq!(mine["movements"]["items"].as_array().unwrap().len(), 1);
    let theirs = own_wallet(&app, &other, "").await;
    assert_eq!(theirs["merchant_id"], other.id.as_str());
    assert_eq!(theirs["balance"], 0);
    assert_eq!(theirs["state"], "low", "below the default alert threshold");
    assert!(theirs["movements"]["items"].as_array().unwrap().is_empty());
    let (status, body) = app
        .get(&format!("{}?mode=test", wallet_path(&m)), Some(&admin))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["balance"], 250_000);
    let (status, body) = app
        .get(&format!("{}?mode=live", wallet_path(&m)), Some(&admin))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["balance"], 0, "live is another wallet");
    let (status, body) = app.get(&wallet_path(&m), Some(&admin)).await;
    expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
}

#[tokio::test]
async fn a_checkout_top_up_credits_the_wallet_with_the_whole_amount() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Top-up Shop").await;
    let request = json!({
        "amount": 300_000,
        "return_url": "https://shop.example.in/wallet/done",
        "customer": { "name": "Asha Verma", "email": "asha+autopay@example.in", "phone": "+919812345678" },
    });
    let top_up = |key: &'static str| {
        let app = &app;
        let m = &m;
        let request = request.clone();
        async move {
            let response = app
                .http
                .post(app.url("/api/v1/wallets/top-ups"))
                .header("X-Client-Key", &m.client_key)
                .header("X-Client-Secret", &m.client_secret)
                .header("Idempotency-Key", key)
                .json(&request)
                .send()
                .await
                .unwrap();
            let replayed = response.headers().contains_key("idempotent-replayed");
            (
                response.status(),
                response.json::<Value>().await.unwrap(),
                replayed,
            )
        }
    };
    // The operator sets the thresholds: the empty wallet is low and its alert open; the sweep
    // finds it again (a wallet with a row or an account).
    let (status, body) = set_thresholds(
        &app,
        &admin,
        &m,
        json!({ "mode": "test", "alert_threshold": 100_000, "suspension_threshold": 0 }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["state"], "low");
    let swept = sweep(&app).await;
    assert_eq!(
        (swept["checked"].as_u64(), swept["low"].as_u64()),
        (Some(1), Some(1)),
        "{swept}"
    );
    let alert = |status: &'static str| {
        let app = &app;
        let m = &m;
        async move {
            count(
                app,
                &format!("SELECT count(*) FROM alerts WHERE merchant_id = $1 AND kind = 'wallet_balance_low' AND status = '{status}'"),
                m,
            )
            .await
        }
    };
    assert_eq!(alert("open").await, 1);

    let (status, body, replayed) = top_up("wallet-1").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(!replayed);
    let data = &body["data"];
    assert_eq!(data["purpose"], "wallet_top_up");
    let id = data["id"].as_str().unwrap().to_string();
    assert_eq!(
        data["checkout_url"],
        format!("{}/api/v1/checkout/{id}", app.base)
    );
    let (status, again, replayed) = top_up("wallet-1").await;
    assert_eq!((status, replayed), (StatusCode::CREATED, true));
    assert_eq!(again["data"]["id"], id.as_str(), "one payment for one key");

    app.drain().await;
    let txn = app.transaction(&m, &id).await;
    assert_eq!(txn["status"], "succeeded", "{txn}");
    assert_eq!(
        (txn["fee"].as_i64(), txn["gst"].as_i64()),
        (Some(0), Some(0))
    );
    let owner: String = app
        .db
        .owner()
        .await
        .query_one(
            "SELECT g.ownership FROM transaction_attempts a JOIN gateway_accounts g ON g.id = a.gateway_account_id
              WHERE a.transaction_id = (SELECT id FROM transactions WHERE order_id LIKE 'wallet_top_up_%')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(owner, "platform");
    let wallet = own_wallet(&app, &m, "").await;
    assert_eq!(wallet["balance"], 300_000, "the whole amount, no fee");
    assert_eq!(wallet["state"], "ok");
    assert_eq!(
        (alert("open").await, alert("resolved").await),
        (0, 1),
        "the capture had the wallet checked at once"
    );
    assert_eq!(wallet["payable_balance"], 0);
    let movements = wallet["movements"]["items"].as_array().unwrap();
    assert_eq!(movements.len(), 1);
    assert_eq!(movements[0]["kind"], "wallet_top_up");
    assert_eq!(movements[0]["side"], "credit");
    assert_eq!(movements[0]["transaction_id"], id.as_str());
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM wallet_top_ups WHERE merchant_id = $1 AND source = 'checkout'",
            &m
        )
        .await,
        1
    );

    // A merchant whose pool holds only its own accounts has nothing to top up through.
    let own = app.create_merchant(&admin, "Own Accounts Shop").await;
    own_account(&app, &own).await;
    let (status, body) = send(
        app.http
            .post(app.url("/api/v1/wallets/top-ups"))
            .header("X-Client-Key", &own.client_key)
            .header("X-Client-Secret", &own.client_secret)
            .json(&request),
    )
    .await;
    expect_error(
        status,
        &body,
        StatusCode::SERVICE_UNAVAILABLE,
        "GATEWAY_UNAVAILABLE",
    );
}

#[tokio::test]
async fn the_wallets_movements_come_a_page_at_a_time_newest_first() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Paged Shop").await;
    for amount in [1_000, 2_000, 3_000, 4_000, 5_000] {
        let (status, body, _) = operator_top_up(
            &app,
            &admin,
            &m.id,
            json!({ "mode": "test", "amount": amount }),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let mut seen = Vec::new();
    let mut query = "?limit=2".to_string();
    loop {
        let wallet = own_wallet(&app, &m, &query).await;
        assert_eq!(wallet["balance"], 15_000);
        let items = wallet["movements"]["items"].as_array().unwrap().clone();
        assert!(items.len() <= 2);
        for item in &items {
            seen.push((
                item["amount"].as_i64().unwrap(),
                item["balance_after"].as_i64().unwrap(),
            ));
        }
        if !wallet["movements"]["has_more"].as_bool().unwrap() {
            break;
        }
        query = format!("?limit=2&starting_after={}", items.last().unwrap()["id"]);
    }
    assert_eq!(
        seen,
        vec![
            (5_000, 15_000),
            (4_000, 10_000),
            (3_000, 6_000),
            (2_000, 3_000),
            (1_000, 1_000)
        ]
    );
    for bad in ["?limit=0", "?limit=101", "?starting_after=abc", "?cursor=1"] {
        let (status, body) = app
            .get_with_key(
                &format!("/api/v1/wallets{bad}"),
                &m.client_key,
                &m.client_secret,
            )
            .await;
        expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
}

#[tokio::test]
async fn a_suspended_wallet_sends_new_payments_to_the_platforms_accounts_of_the_pool() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Mixed Pool Shop").await;
    let own = own_account(&app, &m).await;
    let platform = {
        let mut client = app.app.db.client().await.unwrap();
        let tx = shared::db::begin(&mut client, shared::db::Scope::System)
            .await
            .unwrap();
        let id = shared::seed::sandbox_account(&app.app, &tx).await.unwrap();
        shared::gateway_accounts::add_to_pool(&tx, m.id.parse().unwrap(), id, 5)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        id
    };
    let (status, body) = set_thresholds(
        &app,
        &admin,
        &m,
        json!({ "mode": "test", "alert_threshold": 100_000, "suspension_threshold": 50_000 }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Routed where the platform collects (and takes its fee from what it settles), not refused.
    let routed = |order: &'static str| {
        let app = &app;
        let m = &m;
        async move {
            let (status, body) = app.pay(m, &payment(order, 25_000, true), None).await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
            app.drain().await;
            let id: shared::ids::TransactionId =
                body["data"]["id"].as_str().unwrap().parse().unwrap();
            let row = app
                .db
                .owner()
                .await
                .query_one(
                    "SELECT a.gateway_account_id, (a.routing ->> 'platform_only')::boolean, t.status
                       FROM transaction_attempts a JOIN transactions t ON t.id = a.transaction_id
                      WHERE t.id = $1",
                    &[&id.as_uuid()],
                )
                .await
                .unwrap();
            let status: String = row.get(2);
            assert_eq!(status, "succeeded");
            (
                GatewayAccountId::from_uuid(row.get(0)),
                row.get::<_, bool>(1),
            )
        }
    };
    assert_eq!(routed("order-platform").await, (platform, true));
    let wallet = own_wallet(&app, &m, "").await;
    assert_eq!(wallet["balance"], 0, "no fee from the wallet");
    assert_eq!(wallet["payable_balance"], 25_000 - 590);

    // Topped up above the suspension threshold: the merchant's own account (first in the pool)
    // takes payments again.
    let (status, body, _) = operator_top_up(
        &app,
        &admin,
        &m.id,
        json!({ "mode": "test", "amount": 60_000 }),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(routed("order-own").await, (own, false));
    assert_eq!(own_wallet(&app, &m, "").await["balance"], 60_000 - 590);
}
