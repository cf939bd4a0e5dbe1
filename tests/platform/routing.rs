//! Routing through the platform: volume caps under concurrency and at IST midnight, exact round
//! robin and weighted shares, failover at order creation, and the circuit breaker; against the
//! real database, with sandbox accounts and Razorpay's API on a mock server.

use crate::support::{Merchant, TestApp, payment};
use chrono::{Datelike, Duration, TimeZone, Utc};
use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::clock::ManualClock;
use shared::ids::GatewayAccountId;
use std::collections::BTreeMap;
use std::sync::Arc;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const AMOUNT: i64 = 10_000;

/// For tests that send many payments at once: more connections, and a wait for one long enough
/// for a loaded machine (the default answers 503 after 3 s, as a Lambda should).
const CONCURRENT: [(&str, &str); 3] = [
    ("DATABASE_POOL_SIZE", "8"),
    ("DATABASE_POOL_TIMEOUT_SECONDS", "30"),
    ("RATE_LIMIT_PER_MINUTE", "100000"),
];

/// A merchant-owned sandbox account at the end of the merchant's pool.
async fn sandbox_member(app: &TestApp, merchant: &Merchant) -> GatewayAccountId {
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

/// Sets the pool's mode and one member's priority, weight and daily cap (operators do this
/// through the API; fixtures write it directly).
async fn configure(
    app: &TestApp,
    merchant: &Merchant,
    mode: &str,
    members: &[(GatewayAccountId, i32, i32, Option<i64>)],
) {
    let db = app.db.owner().await;
    let merchant_id = uuid(&merchant.id);
    db.execute(
        "UPDATE routing_pools SET strategy = $2 WHERE merchant_id = $1",
        &[&merchant_id, &mode],
    )
    .await
    .unwrap();
    for (account, priority, weight, cap) in members {
        db.execute(
            "UPDATE routing_pool_members SET priority = $3, weight = $4, daily_cap = $5
              WHERE merchant_id = $1 AND gateway_account_id = $2",
            &[&merchant_id, &account.as_uuid(), priority, weight, cap],
        )
        .await
        .unwrap();
    }
}

fn uuid(public: &str) -> uuid::Uuid {
    public.parse::<shared::ids::MerchantId>().unwrap().as_uuid()
}

/// Pays `n` payments at once; every one must be accepted.
async fn pay_concurrently(
    app: &TestApp,
    merchant: &Merchant,
    label: &str,
    n: usize,
) -> Vec<String> {
    let answers = join_all((0..n).map(|i| {
        let body = payment(&format!("{label}-{i}"), AMOUNT, false);
        async move { app.pay(merchant, &body, None).await }
    }))
    .await;
    answers
        .into_iter()
        .map(|(status, body)| {
            assert_eq!(status, StatusCode::CREATED, "{body}");
            body["data"]["id"].as_str().unwrap().to_string()
        })
        .collect()
}

/// How many first attempts each account got.
async fn first_attempts_by_account(
    app: &TestApp,
    merchant: &Merchant,
) -> BTreeMap<uuid::Uuid, i64> {
    let db = app.db.owner().await;
    db.query(
        "SELECT gateway_account_id, count(*) FROM transaction_attempts WHERE merchant_id = $1 AND number = 1
          GROUP BY gateway_account_id",
        &[&uuid(&merchant.id)],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

/// The next IST midnight after now, as UTC.
fn next_ist_midnight() -> chrono::DateTime<Utc> {
    let ist = chrono::FixedOffset::east_opt(19_800).unwrap();
    let tomorrow = Utc::now().with_timezone(&ist).date_naive() + Duration::days(1);
    ist.from_local_datetime(&tomorrow.and_hms_opt(0, 0, 0).unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

#[tokio::test]
async fn fifty_concurrent_payments_put_exactly_the_cap_on_a_capped_member_and_it_resets_at_ist_midnight()
 {
    let midnight = next_ist_midnight();
    let clock = Arc::new(ManualClock::new(midnight - Duration::minutes(2)));
    let app = TestApp::spawn_with_clock(&CONCURRENT, clock.clone()).await;
    let admin = app.admin_token().await;
    let merchant = app.create_merchant(&admin, "Capped Chai").await;
    let capped = sandbox_member(&app, &merchant).await;
    let other = sandbox_member(&app, &merchant).await;
    configure(
        &app,
        &merchant,
        "priority",
        &[(capped, 1, 100, Some(10 * AMOUNT)), (other, 2, 100, None)],
    )
    .await;

    pay_concurrently(&app, &merchant, "cap", 50).await;
    let counts = first_attempts_by_account(&app, &merchant).await;
    assert_eq!(counts.get(&capped.as_uuid()), Some(&10), "{counts:?}");
    assert_eq!(counts.get(&other.as_uuid()), Some(&40), "{counts:?}");
    let db = app.db.owner().await;
    let reserved: i64 = db
        .query_one(
            "SELECT reserved FROM routing_cap_usage WHERE gateway_account_id = $1 AND period = 'day'",
            &[&capped.as_uuid()],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(reserved, 10 * AMOUNT);

    // The decision says why the capped member was passed over.
    let (status, body) = app
        .get(
            &format!(
                "/api/v1/transactions/{}",
                last_transaction_on(&app, other).await
            ),
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let routing = &body["data"]["attempts"][0]["routing"];
    assert_eq!(routing["mode"], "priority");
    let passed_over = routing["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["account"] == json!(capped.to_string()))
        .unwrap();
    assert_eq!(passed_over["excluded"], "cap_reached", "{routing}");
    // Merchants do not see the routing decision.
    let merchant_view = app
        .transaction(&merchant, &last_transaction_on(&app, other).await)
        .await;
    assert!(merchant_view["attempts"][0].get("routing").is_none());

    // A payment that fails gives its reservation back.
    let on_capped: uuid::Uuid = db
        .query_one(
            "SELECT id FROM transaction_attempts WHERE gateway_account_id = $1 LIMIT 1",
            &[&capped.as_uuid()],
        )
        .await
        .unwrap()
        .get(0);
    {
        let mut client = app.app.db.client().await.unwrap();
        let tx = shared::db::begin(&mut client, shared::db::Scope::System)
            .await
            .unwrap();
        shared::payments::transactions::apply_expiry(
            &tx,
            &app.app,
            shared::ids::AttemptId::from_uuid(on_capped),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
    pay_concurrently(&app, &merchant, "refill", 2).await;
    let counts = first_attempts_by_account(&app, &merchant).await;
    assert_eq!(counts.get(&capped.as_uuid()), Some(&11), "{counts:?}");

    // At IST midnight the day's cap starts again.
    clock.set(midnight + Duration::seconds(1));
    pay_concurrently(&app, &merchant, "next-day", 12).await;
    let counts = first_attempts_by_account(&app, &merchant).await;
    assert_eq!(counts.get(&capped.as_uuid()), Some(&21), "{counts:?}");
    assert_eq!(counts.get(&other.as_uuid()), Some(&43), "{counts:?}");
}

/// The newest transaction whose first attempt went to `account`.
async fn last_transaction_on(app: &TestApp, account: GatewayAccountId) -> String {
    let db = app.db.owner().await;
    let id: uuid::Uuid = db
        .query_one(
            "SELECT transaction_id FROM transaction_attempts WHERE gateway_account_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1",
            &[&account.as_uuid()],
        )
        .await
        .unwrap()
        .get(0);
    shared::ids::TransactionId::from_uuid(id).to_string()
}

#[tokio::test]
async fn round_robin_gives_each_of_three_accounts_a_third_of_99_concurrent_payments() {
    let app = TestApp::spawn_with(&CONCURRENT).await;
    let admin = app.admin_token().await;
    let merchant = app.create_merchant(&admin, "Turns").await;
    let mut accounts = Vec::new();
    for _ in 0..3 {
        accounts.push(sandbox_member(&app, &merchant).await);
    }
    let members: Vec<_> = accounts.iter().map(|a| (*a, 1, 100, None)).collect();
    configure(&app, &merchant, "round_robin", &members).await;
    pay_concurrently(&app, &merchant, "rr", 99).await;
    let counts = first_attempts_by_account(&app, &merchant).await;
    for account in &accounts {
        assert_eq!(counts.get(&account.as_uuid()), Some(&33), "{counts:?}");
    }
}

#[tokio::test]
async fn weighted_routing_keeps_each_share_within_two_points_over_a_thousand_payments() {
    let app = TestApp::spawn_with(&CONCURRENT).await;
    let admin = app.admin_token().await;
    let merchant = app.create_merchant(&admin, "Shares").await;
    let mut accounts = Vec::new();
    for _ in 0..3 {
        accounts.push(sandbox_member(&app, &merchant).await);
    }
    let weights = [60, 30, 10];
    let members: Vec<_> = accounts
        .iter()
        .zip(weights)
        .map(|(a, w)| (*a, 1, w, None))
        .collect();
    configure(&app, &merchant, "weighted", &members).await;
    for round in 0..20 {
        pay_concurrently(&app, &merchant, &format!("w{round}"), 50).await;
    }
    let counts = first_attempts_by_account(&app, &merchant).await;
    for (account, weight) in accounts.iter().zip(weights) {
        let share = counts[&account.as_uuid()] as f64 / 1_000.0 * 100.0;
        assert!(
            (share - f64::from(weight)).abs() <= 2.0,
            "weight {weight}: {share} % ({counts:?})"
        );
    }
}

// Failover and breakers: account A is Razorpay on a mock server, B is a sandbox account.

const KEY_ID: &str = "rzp_test_ROUTINGKEYID01";

fn razorpay_order(id: &str, receipt: &str) -> Value {
    json!({
        "id": id, "entity": "order", "amount": AMOUNT, "amount_paid": 0, "amount_due": AMOUNT,
        "currency": "INR", "receipt": receipt, "offer_id": null, "status": "created", "attempts": 0,
        "notes": { "attempt": receipt }, "created_at": 1_764_374_400
    })
}

fn no_orders() -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_json(json!({ "entity": "collection", "count": 0, "items": [] }))
}

/// A platform whose merchant routes to Razorpay (A, first) and then a sandbox account (B).
async fn two_accounts(
    server: &MockServer,
    extra: &[(&str, &str)],
    clock: Option<Arc<ManualClock>>,
) -> (TestApp, Merchant, GatewayAccountId, GatewayAccountId) {
    let mut vars = vec![
        ("GATEWAY_RAZORPAY_TEST_URL", server.uri()),
        ("GATEWAY_TIMEOUT_SECONDS", "1".to_string()),
    ];
    vars.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = match clock {
        Some(clock) => TestApp::spawn_with_clock(&vars, clock).await,
        None => TestApp::spawn_with(&vars).await,
    };
    let admin = app.admin_token().await;
    let merchant = app.create_merchant(&admin, "Failover Foods").await;
    let a = app
        .add_gateway_account(
            &merchant,
            "razorpay",
            &[
                ("key_id", KEY_ID),
                ("key_secret", "example-key-secret"),
                ("webhook_secret", "example-webhook-secret"),
            ],
        )
        .await;
    let b = sandbox_member(&app, &merchant).await;
    configure(
        &app,
        &merchant,
        "priority",
        &[(a, 1, 100, None), (b, 2, 100, None)],
    )
    .await;
    (app, merchant, a, b)
}

/// The payment's attempts in order: (account, status, gateway reference).
async fn attempts(app: &TestApp, id: &str) -> Vec<(uuid::Uuid, String, Option<String>)> {
    let db = app.db.owner().await;
    let transaction = id.parse::<shared::ids::TransactionId>().unwrap().as_uuid();
    db.query(
        "SELECT gateway_account_id, status, gateway_reference FROM transaction_attempts WHERE transaction_id = $1 ORDER BY number",
        &[&transaction],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2)))
    .collect()
}

async fn pay_one(app: &TestApp, merchant: &Merchant, order: &str, autopay: bool) -> String {
    let (status, body) = app
        .pay(merchant, &payment(order, AMOUNT, autopay), None)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["data"]["id"].as_str().unwrap().to_string()
}

/// Pays an amount the sandbox declines as soon as the order exists (ending in 13 paise, autopay),
/// and lets the workers run: the payment has failed at its first account.
async fn declined_payment(app: &TestApp, merchant: &Merchant, order: &str) -> String {
    let (status, body) = app.pay(merchant, &payment(order, 10_013, true), None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    app.drain().await;
    body["data"]["id"].as_str().unwrap().to_string()
}

/// The customer presses "Try again" on the checkout page.
async fn try_again(app: &TestApp, id: &str) -> reqwest::Response {
    app.http
        .post(app.url(&format!("/api/v1/checkout/{id}/retry")))
        .send()
        .await
        .unwrap()
}

/// A merchant whose pool is two sandbox accounts in priority order, the second with `cap_b`.
async fn two_sandboxes(
    name: &str,
    cap_b: Option<i64>,
) -> (TestApp, Merchant, GatewayAccountId, GatewayAccountId) {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let merchant = app.create_merchant(&admin, name).await;
    let a = sandbox_member(&app, &merchant).await;
    let b = sandbox_member(&app, &merchant).await;
    configure(
        &app,
        &merchant,
        "priority",
        &[(a, 1, 100, None), (b, 2, 100, cap_b)],
    )
    .await;
    (app, merchant, a, b)
}

#[tokio::test]
async fn a_503_at_the_first_account_moves_the_payment_to_the_next_where_it_succeeds() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/orders"))
        .respond_with(ResponseTemplate::new(503).set_body_string("upstream unavailable"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/orders"))
        .respond_with(no_orders())
        .mount(&server)
        .await;
    let (app, merchant, a, b) = two_accounts(&server, &[], None).await;
    let id = pay_one(&app, &merchant, "failover-503", true).await;
    app.drain().await;

    let tried = attempts(&app, &id).await;
    assert_eq!(tried.len(), 2, "{tried:?}");
    assert_eq!((tried[0].0, tried[0].1.as_str()), (a.as_uuid(), "failed"));
    assert_eq!(
        (tried[1].0, tried[1].1.as_str()),
        (b.as_uuid(), "succeeded")
    );
    assert_eq!(app.transaction(&merchant, &id).await["status"], "succeeded");
    // A was looked up (the 503 may have followed a create) before B was asked.
    let requests = server.received_requests().await.unwrap();
    assert!(
        requests
            .iter()
            .any(|r| r.method == http::Method::GET && r.url.path() == "/v1/orders")
    );
    let db = app.db.owner().await;
    let kind: Option<String> = db
        .query_one(
            "SELECT failure_kind FROM transaction_attempts WHERE gateway_account_id = $1",
            &[&a.as_uuid()],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(kind.as_deref(), Some("technical"));
}

#[tokio::test]
async fn a_timeout_after_sending_is_looked_up_at_the_first_account_and_the_next_is_never_asked() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/orders"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(razorpay_order("order_late", "att"))
                .set_delay(std::time::Duration::from_secs(3)),
        )
        .mount(&server)
        .await;
    let (app, merchant, a, _b) = two_accounts(&server, &[], None).await;
    let id = pay_one(&app, &merchant, "failover-timeout", true).await;
    // The order exists at A: the lookup by our receipt finds it.
    let receipt = shared::ids::AttemptId::from_uuid({
        let db = app.db.owner().await;
        db.query_one(
            "SELECT id FROM transaction_attempts WHERE transaction_id = $1",
            &[&id.parse::<shared::ids::TransactionId>().unwrap().as_uuid()],
        )
        .await
        .unwrap()
        .get(0)
    })
    .to_string();
    Mock::given(method("GET"))
        .and(path("/v1/orders"))
        .and(query_param("receipt", receipt.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "entity": "collection", "count": 1, "items": [razorpay_order("order_late", &receipt)]
        })))
        .mount(&server)
        .await;
    app.drain().await;

    let tried = attempts(&app, &id).await;
    assert_eq!(tried.len(), 1, "B is never asked: {tried:?}");
    assert_eq!(tried[0].0, a.as_uuid());
    assert_eq!(tried[0].1, "pending");
    assert_eq!(tried[0].2.as_deref(), Some("order_late"));
    assert_eq!(app.db.count("sandbox_orders").await, 0);
}

#[tokio::test]
async fn a_declined_card_is_not_failed_over() {
    let server = MockServer::start().await;
    let (app, merchant, a, b) = two_accounts(&server, &[], None).await;
    // Only B in play for this one: the sandbox declines amounts ending in 13 paise.
    configure(
        &app,
        &merchant,
        "priority",
        &[(a, 2, 100, None), (b, 1, 100, None)],
    )
    .await;
    let id = declined_payment(&app, &merchant, "declined").await;
    let tried = attempts(&app, &id).await;
    assert_eq!(tried.len(), 1, "{tried:?}");
    assert_eq!((tried[0].0, tried[0].1.as_str()), (b.as_uuid(), "failed"));
    assert_eq!(app.transaction(&merchant, &id).await["status"], "failed");
    assert!(
        server.received_requests().await.unwrap().is_empty(),
        "A is never asked"
    );
}

async fn breaker(app: &TestApp, account: GatewayAccountId) -> (String, i32) {
    let db = app.db.owner().await;
    let row = db
        .query_one(
            "SELECT state, consecutive_failures FROM gateway_breakers WHERE gateway_account_id = $1",
            &[&account.as_uuid()],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

#[tokio::test]
async fn the_breaker_opens_after_the_failures_half_opens_after_the_cool_down_and_closes_on_success()
{
    let server = MockServer::start().await;
    let failing = Mock::given(method("POST"))
        .and(path("/v1/orders"))
        .respond_with(ResponseTemplate::new(503))
        .mount_as_scoped(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/orders"))
        .respond_with(no_orders())
        .mount(&server)
        .await;
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let (app, merchant, a, b) = two_accounts(
        &server,
        &[
            ("ROUTING_BREAKER_FAILURES", "2"),
            ("ROUTING_BREAKER_COOL_DOWN_SECONDS", "30"),
        ],
        Some(clock.clone()),
    )
    .await;

    let first = pay_one(&app, &merchant, "breaker-1", false).await;
    app.drain().await;
    assert_eq!(breaker(&app, a).await, ("closed".to_string(), 1));
    let second = pay_one(&app, &merchant, "breaker-2", false).await;
    app.drain().await;
    assert_eq!(breaker(&app, a).await.0, "open");
    for id in [&first, &second] {
        let tried = attempts(&app, id).await;
        assert_eq!(
            tried.iter().map(|t| t.0).collect::<Vec<_>>(),
            vec![a.as_uuid(), b.as_uuid()]
        );
    }

    // Open: A is left out at routing.
    let creates = |requests: Vec<wiremock::Request>| {
        requests
            .iter()
            .filter(|r| r.method == http::Method::POST)
            .count()
    };
    let asked = creates(server.received_requests().await.unwrap());
    let third = pay_one(&app, &merchant, "breaker-3", false).await;
    app.drain().await;
    assert_eq!(attempts(&app, &third).await[0].0, b.as_uuid());
    assert_eq!(
        creates(server.received_requests().await.unwrap()),
        asked,
        "A is not asked while open"
    );

    // After the cool-down one probe goes to A; it succeeds and the breaker closes.
    drop(failing);
    Mock::given(method("POST"))
        .and(path("/v1/orders"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(razorpay_order("order_probe", "att")),
        )
        .mount(&server)
        .await;
    clock.advance(Duration::seconds(31));
    let probe = pay_one(&app, &merchant, "breaker-probe", false).await;
    assert_eq!(breaker(&app, a).await.0, "half_open");
    app.drain().await;
    let tried = attempts(&app, &probe).await;
    assert_eq!(tried.len(), 1);
    assert_eq!(
        (tried[0].0, tried[0].2.as_deref()),
        (a.as_uuid(), Some("order_probe"))
    );
    assert_eq!(breaker(&app, a).await, ("closed".to_string(), 0));
}

#[tokio::test]
async fn a_customer_retries_a_declined_payment_at_another_account_from_the_checkout_page() {
    let (app, merchant, a, b) = two_sandboxes("Second Chances", None).await;
    let id = declined_payment(&app, &merchant, "retry-me").await;
    assert_eq!(app.transaction(&merchant, &id).await["status"], "failed");

    let page = app
        .http
        .get(app.url(&format!("/api/v1/checkout/{id}")))
        .send()
        .await
        .unwrap();
    let html = page.text().await.unwrap();
    assert!(
        html.contains(&format!("action=\"/api/v1/checkout/{id}/retry\"")),
        "{html}"
    );

    let retry = try_again(&app, &id).await;
    assert_eq!(retry.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        retry.headers()["location"],
        format!("/api/v1/checkout/{id}").as_str()
    );
    let tried = attempts(&app, &id).await;
    assert_eq!(
        tried.iter().map(|t| t.0).collect::<Vec<_>>(),
        vec![a.as_uuid(), b.as_uuid()]
    );
    assert_eq!(app.transaction(&merchant, &id).await["status"], "created");
    assert_eq!(app.db.outbox_count("transaction.retried").await, 1);

    // Declined again at B; a late duplicate of A's failure changed nothing in between.
    app.drain().await;
    assert_eq!(app.transaction(&merchant, &id).await["status"], "failed");
    // Every account tried: the next retry may go back to the first.
    let retry = try_again(&app, &id).await;
    assert_eq!(retry.status(), StatusCode::SEE_OTHER);
    assert_eq!(attempts(&app, &id).await.len(), 3);

    // A payment that did not fail is not retried.
    let (_, body) = app
        .pay(&merchant, &payment("open", AMOUNT, false), None)
        .await;
    let open = body["data"]["id"].as_str().unwrap().to_string();
    let retry = try_again(&app, &open).await;
    assert_eq!(retry.status(), StatusCode::SEE_OTHER);
    assert_eq!(attempts(&app, &open).await.len(), 1);
    // A malformed id is a clear 404 page.
    let bad = app
        .http
        .post(app.url("/api/v1/checkout/txn_nope/retry"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_monthly_cap_holds_across_days_and_resets_on_the_first_of_the_ist_month() {
    // Midnight IST two days before a month turns, ahead of the real clock (tokens are checked
    // against it).
    let ist = chrono::FixedOffset::east_opt(19_800).unwrap();
    let today = Utc::now().with_timezone(&ist).date_naive() + Duration::days(2);
    let first_of_next = chrono::NaiveDate::from_ymd_opt(
        if today.month() == 12 {
            today.year() + 1
        } else {
            today.year()
        },
        if today.month() == 12 {
            1
        } else {
            today.month() + 1
        },
        1,
    )
    .unwrap();
    let month_turns = ist
        .from_local_datetime(&first_of_next.and_hms_opt(0, 0, 0).unwrap())
        .unwrap()
        .with_timezone(&Utc);
    let clock = Arc::new(ManualClock::new(month_turns - Duration::days(2)));
    let app = TestApp::spawn_with_clock(&CONCURRENT, clock.clone()).await;
    let admin = app.admin_token().await;
    let merchant = app.create_merchant(&admin, "Monthly Masala").await;
    let capped = sandbox_member(&app, &merchant).await;
    let other = sandbox_member(&app, &merchant).await;
    configure(
        &app,
        &merchant,
        "priority",
        &[(capped, 1, 100, None), (other, 2, 100, None)],
    )
    .await;
    let db = app.db.owner().await;
    db.execute(
        "UPDATE routing_pool_members SET daily_cap = $2, monthly_cap = $3 WHERE gateway_account_id = $1",
        &[&capped.as_uuid(), &(2 * AMOUNT), &(3 * AMOUNT)],
    )
    .await
    .unwrap();

    // Day one: the daily cap (2) binds; the next day only the month's last one fits.
    pay_concurrently(&app, &merchant, "m1", 4).await;
    assert_eq!(
        first_attempts_by_account(&app, &merchant).await[&capped.as_uuid()],
        2
    );
    clock.advance(Duration::days(1));
    pay_concurrently(&app, &merchant, "m2", 4).await;
    assert_eq!(
        first_attempts_by_account(&app, &merchant).await[&capped.as_uuid()],
        3
    );
    // A new IST month (and day): room again.
    clock.set(month_turns + Duration::seconds(1));
    pay_concurrently(&app, &merchant, "m3", 4).await;
    let counts = first_attempts_by_account(&app, &merchant).await;
    assert_eq!(counts[&capped.as_uuid()], 5, "{counts:?}");
    assert_eq!(counts[&other.as_uuid()], 7, "{counts:?}");
}

/// Applies a gateway's capture report of the whole amount to `attempt`, as a webhook would.
async fn capture(app: &TestApp, attempt: uuid::Uuid, amount: i64, payment_id: &str) {
    use shared::gateways::{PaymentOutcome, StatusReport};
    let report = StatusReport {
        payment_id: Some(payment_id.to_string()),
        captured: Some(shared::money::ReportedAmount {
            minor: amount,
            currency: "INR".into(),
        }),
        ..StatusReport::of(PaymentOutcome::Succeeded)
    };
    let mut client = app.app.db.client().await.unwrap();
    let tx = shared::db::begin(&mut client, shared::db::Scope::System)
        .await
        .unwrap();
    shared::payments::transactions::apply_report(
        &tx,
        &app.app,
        shared::ids::AttemptId::from_uuid(attempt),
        &report,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn a_late_capture_closes_the_retry_and_frees_its_cap_and_a_second_capture_is_flagged() {
    let (app, merchant, a, b) = two_sandboxes("Double Dosa", Some(100 * AMOUNT)).await;
    let id = declined_payment(&app, &merchant, "twice").await;
    let retry = try_again(&app, &id).await;
    assert_eq!(retry.status(), StatusCode::SEE_OTHER);
    let db = app.db.owner().await;
    let attempt_on = |account: GatewayAccountId| {
        let db = &db;
        async move {
            let row = db
                .query_one(
                    "SELECT id, status, error_code, cap_released FROM transaction_attempts WHERE gateway_account_id = $1",
                    &[&account.as_uuid()],
                )
                .await
                .unwrap();
            (
                row.get::<_, uuid::Uuid>("id"),
                row.get::<_, String>("status"),
                row.get::<_, Option<String>>("error_code"),
                row.get::<_, bool>("cap_released"),
            )
        }
    };
    let (on_a, _, _, _) = attempt_on(a).await;
    let (on_b, status_b, _, _) = attempt_on(b).await;
    assert_eq!(status_b, "created");

    // The customer had paid A's order after all: the payment succeeds there, and the retry at B
    // is closed and gives its cap back.
    capture(&app, on_a, 10_013, "pay_late_a").await;
    assert_eq!(app.transaction(&merchant, &id).await["status"], "succeeded");
    let (_, status_b, code_b, released_b) = attempt_on(b).await;
    assert_eq!(
        (status_b.as_str(), code_b.as_deref(), released_b),
        ("expired", Some("superseded"), true)
    );
    let reserved: i64 = db
        .query_one(
            "SELECT reserved FROM routing_cap_usage WHERE gateway_account_id = $1",
            &[&b.as_uuid()],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(reserved, 0);

    // And then B's order too: a second capture, recorded and told to operators.
    capture(&app, on_b, 10_013, "pay_second_b").await;
    let (_, status_b, code_b, _) = attempt_on(b).await;
    assert_eq!(
        (status_b.as_str(), code_b.as_deref()),
        ("succeeded", Some("second_capture"))
    );
    assert_eq!(app.db.outbox_count("transaction.second_capture").await, 1);
    assert_eq!(app.transaction(&merchant, &id).await["status"], "succeeded");
}
