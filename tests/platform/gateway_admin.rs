//! Issue 11: operators change (`PUT`) and archive (`DELETE`) gateway accounts, the `gateway-health`
//! collector measures each account's last window and opens the breaker of a failing one, and
//! `GET /api/v1/admin/gateways/health` shows both.

use crate::support::*;
use chrono::{DateTime, Duration, TimeZone, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::routing::breaker::BreakerSettings;
use uuid::Uuid;

const KEY_SECRET: &str = "example-secret-ending-in-WXYZ";
const NEW_SECRET: &str = "replacement-secret-ending-in-QRST";

fn razorpay_account(label: &str) -> Value {
    json!({
        "provider": "razorpay",
        "label": label,
        "environment": "test",
        "credentials": {
            "key_id": format!("rzp_test_{}", &Uuid::new_v4().simple().to_string()[..14]),
            "key_secret": KEY_SECRET,
            "webhook_secret": format!("webhook-{}", Uuid::new_v4().simple()),
        },
    })
}

/// Adds a platform-owned razorpay test account through the API; answers its id.
async fn add_account(app: &TestApp, admin: &str, label: &str) -> String {
    let (status, body) = app
        .post_json(
            "/api/v1/admin/gateways",
            Some(admin),
            razorpay_account(label),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["data"]["id"].as_str().unwrap().to_string()
}

async fn put(app: &TestApp, token: &str, id: &str, body: Value) -> (StatusCode, Value) {
    send(
        app.http
            .put(app.url(&format!("/api/v1/admin/gateways/{id}")))
            .bearer_auth(token)
            .json(&body),
    )
    .await
}

async fn delete(app: &TestApp, token: &str, id: &str) -> (StatusCode, Value) {
    send(
        app.http
            .delete(app.url(&format!("/api/v1/admin/gateways/{id}")))
            .bearer_auth(token),
    )
    .await
}

fn uuid_of(prefixed: &str) -> Uuid {
    if let Ok(id) = prefixed.parse::<shared::ids::GatewayAccountId>() {
        return id.as_uuid();
    }
    let id: shared::ids::MerchantId = prefixed.parse().unwrap();
    id.as_uuid()
}

/// The audit rows of `action` on account `id`: (before, after).
async fn audited(app: &TestApp, action: &str, id: &str) -> Vec<(Value, Value)> {
    app.db
        .owner()
        .await
        .query(
            "SELECT before, after FROM audit_log WHERE action = $1 AND target_id = $2 ORDER BY id",
            &[&action, &id],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

#[tokio::test]
async fn an_operator_changes_an_account_and_every_problem_is_reported_at_once() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let id = add_account(&app, &admin, "Razorpay (test)").await;

    let (status, body) = put(
        &app,
        &admin,
        &id,
        json!({ "label": "  Razorpay (primary)  ", "fee_bps": 250, "fee_fixed": 300,
                "min_amount": 100, "max_amount": 50_000, "status": "disabled" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let view = &body["data"];
    assert_eq!(view["label"], "Razorpay (primary)");
    assert_eq!(view["fee_bps"], 250);
    assert_eq!(view["fee_fixed"], 300);
    assert_eq!(view["min_amount"], 100);
    assert_eq!(view["max_amount"], 50_000);
    assert_eq!(view["status"], "disabled");
    assert_eq!(view["archived_at"], Value::Null);
    let (status, read) = app
        .get(&format!("/api/v1/admin/gateways/{id}"), Some(&admin))
        .await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert_eq!(read["data"], *view);

    // Absent fields stay; `null` clears a limit.
    let (status, body) = put(
        &app,
        &admin,
        &id,
        json!({ "max_amount": null, "status": "active" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["max_amount"], Value::Null);
    assert_eq!(body["data"]["min_amount"], 100);
    assert_eq!(body["data"]["fee_bps"], 250);
    assert_eq!(body["data"]["label"], "Razorpay (primary)");
    assert_eq!(body["data"]["status"], "active");

    let before = read_row(&app, &id).await;
    // Every problem at once.
    let (status, body) = put(
        &app,
        &admin,
        &id,
        json!({ "label": " ", "fee_bps": 10_001, "fee_fixed": -1, "min_amount": 600,
                "max_amount": 500, "status": "archived" }),
    )
    .await;
    let details = expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    for field in ["label", "fee_bps", "fee_fixed", "max_amount", "status"] {
        assert!(details[field].is_string(), "{field}: {body}");
    }
    // A minimum above the stored maximum is refused too.
    put(&app, &admin, &id, json!({ "max_amount": 1_000 })).await;
    let (status, body) = put(&app, &admin, &id, json!({ "min_amount": 1_001 })).await;
    let details = expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert!(details["min_amount"].is_string(), "{body}");
    let (status, body) = put(&app, &admin, &id, json!({ "min_amount": 0 })).await;
    let details = expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert!(details["min_amount"].is_string(), "{body}");
    let (status, body) = put(&app, &admin, &id, json!({ "status": "paused" })).await;
    let details = expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert!(details["status"].is_string(), "{body}");
    let (status, body) = put(&app, &admin, &id, json!({ "fees": 1 })).await;
    expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    let (status, body) = put(&app, &admin, &id, json!({})).await;
    let details = expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert!(details["body"].is_string(), "{body}");
    // Credentials are a complete set, validated as when the account was added.
    let (status, body) = put(
        &app,
        &admin,
        &id,
        json!({ "credentials": { "key_id": "rzp_live_FAKE1", "key_secret": "s", "salt": "x" } }),
    )
    .await;
    let details = expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert!(details["credentials.webhook_secret"].is_string(), "{body}");
    assert!(details["credentials.salt"].is_string(), "{body}");
    assert!(
        details["credentials.key_id"]
            .as_str()
            .unwrap()
            .contains("live key"),
        "{body}"
    );
    let before_after = read_row(&app, &id).await;
    assert_eq!(
        before["fee_bps"], before_after["fee_bps"],
        "nothing written by refused requests"
    );
    assert_eq!(before_after["max_amount"], 1_000);

    // New credentials: sealed again, fingerprinted again.
    let old_hints = before["credentials"].clone();
    let (status, body) = put(
        &app,
        &admin,
        &id,
        json!({ "credentials": { "key_id": "rzp_test_NEWKEYNEW1", "key_secret": NEW_SECRET,
                                 "webhook_secret": "replacement-webhook-secret" } }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let hints = &body["data"]["credentials"];
    assert_eq!(hints["key_id"], "…NEW1");
    assert_ne!(hints["key_secret"], old_hints["key_secret"]);
    assert!(hints["key_secret"].as_str().unwrap().starts_with("hmac:"));
    assert!(!body.to_string().contains(NEW_SECRET));
    let opened = {
        let mut client = app.app.db.client().await.unwrap();
        let tx = shared::db::begin(&mut client, shared::db::Scope::System)
            .await
            .unwrap();
        let account_id: shared::ids::GatewayAccountId = id.parse().unwrap();
        let credentials =
            shared::gateway_accounts::credentials(&tx, &app.app.config.encryption, account_id)
                .await
                .unwrap();
        tx.commit().await.unwrap();
        credentials
    };
    assert_eq!(opened["key_secret"].expose(), NEW_SECRET);
    assert_eq!(opened["key_id"].expose(), "rzp_test_NEWKEYNEW1");

    // Audited, never with anything derived from a credential.
    let rows = audited(&app, "gateway_account.updated", &id).await;
    assert_eq!(rows.len(), 4, "one row per accepted change: {rows:?}");
    let (last_before, last_after) = rows.last().unwrap();
    assert_eq!(last_after["credentials_replaced"], true);
    assert_eq!(
        last_after["credentials"],
        json!(["key_id", "key_secret", "webhook_secret"])
    );
    assert_eq!(last_before["max_amount"], 1_000);
    let text = format!("{rows:?}");
    for secret in [NEW_SECRET, KEY_SECRET, "hmac:", "NEW1", "QRST"] {
        assert!(!text.contains(secret), "audit holds {secret}: {text}");
    }

    // Operators only; unknown accounts are not found.
    let merchant = app.create_merchant(&admin, "Chai Point").await;
    let token = merchant.token(&app).await;
    let (status, body) = put(&app, &token, &id, json!({ "fee_bps": 1 })).await;
    expect_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
    let (status, body) = delete(&app, &token, &id).await;
    expect_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
    let unknown = shared::ids::GatewayAccountId::generate().to_string();
    let (status, body) = put(&app, &admin, &unknown, json!({ "fee_bps": 1 })).await;
    expect_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
}

/// The stored account as operators see it.
async fn read_row(app: &TestApp, id: &str) -> Value {
    let admin = app.admin_token().await;
    let (status, body) = app
        .get(&format!("/api/v1/admin/gateways/{id}"), Some(&admin))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"].clone()
}

/// A payment of `amount` on `account` with one attempt in `status`, created at `at`; answers the
/// attempt's and the payment's ids.
#[allow(clippy::too_many_arguments)]
async fn attempt(
    owner: &tokio_postgres::Client,
    merchant: Uuid,
    account: Uuid,
    amount: i64,
    status: &str,
    failure_kind: Option<&str>,
    latency_ms: Option<i32>,
    at: DateTime<Utc>,
) -> (Uuid, Uuid) {
    let transaction = Uuid::new_v4();
    let attempt = Uuid::new_v4();
    let (payment_status, succeeded_at) = match status {
        "succeeded" => ("succeeded", Some(at)),
        "created" | "pending" => (status, None),
        _ => ("failed", None),
    };
    owner
        .execute(
            "INSERT INTO transactions (id, merchant_id, mode, order_id, amount, currency, status,
                 customer_name, customer_email, customer_phone, return_url, expires_at, succeeded_at,
                 created_at, updated_at)
             VALUES ($1, $2, 'test', $3, $4, 'INR', $5, 'Asha Verma', 'asha@example.in',
                 '+919812345678', 'https://shop.example.in/done', $6, $7, $8, $8)",
            &[
                &transaction,
                &merchant,
                &format!("order-{}", transaction.simple()),
                &amount,
                &payment_status,
                &(at + Duration::hours(1)),
                &succeeded_at,
                &at,
            ],
        )
        .await
        .unwrap();
    owner
        .execute(
            "INSERT INTO transaction_attempts (id, transaction_id, merchant_id, mode, gateway_account_id,
                 provider, status, failure_kind, order_latency_ms, created_at, updated_at)
             VALUES ($1, $2, $3, 'test', $4, 'razorpay', $5, $6, $7, $8, $8)",
            &[
                &attempt,
                &transaction,
                &merchant,
                &account,
                &status,
                &failure_kind,
                &latency_ms,
                &at,
            ],
        )
        .await
        .unwrap();
    (attempt, transaction)
}

#[tokio::test]
async fn an_account_is_archived_only_when_no_money_is_moving_through_it() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let merchant = app.create_merchant(&admin, "Chai Point").await;
    let merchant_id = uuid_of(&merchant.id);
    let id = add_account(&app, &admin, "Razorpay (retiring)").await;
    let account = uuid_of(&id);
    let owner = app.db.owner().await;

    // An open attempt holds it.
    let (open, _) = attempt(
        &owner,
        merchant_id,
        account,
        10_000,
        "pending",
        None,
        None,
        Utc::now(),
    )
    .await;
    let (status, body) = delete(&app, &admin, &id).await;
    expect_error(status, &body, StatusCode::CONFLICT, "CONFLICT");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("1 open payment attempt"),
        "{body}"
    );

    // So does a pending refund of a captured payment.
    owner
        .execute(
            "UPDATE transaction_attempts SET status = 'succeeded' WHERE id = $1",
            &[&open],
        )
        .await
        .unwrap();
    let (captured, payment) = attempt(
        &owner,
        merchant_id,
        account,
        20_000,
        "succeeded",
        None,
        Some(120),
        Utc::now(),
    )
    .await;
    let refund = Uuid::new_v4();
    owner
        .execute(
            "INSERT INTO refunds (id, merchant_id, mode, transaction_id, attempt_id, amount, currency)
             VALUES ($1, $2, 'test', $3, $4, 5000, 'INR')",
            &[&refund, &merchant_id, &payment, &captured],
        )
        .await
        .unwrap();
    let (status, body) = delete(&app, &admin, &id).await;
    expect_error(status, &body, StatusCode::CONFLICT, "CONFLICT");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("1 pending refund"),
        "{body}"
    );
    assert!(
        audited(&app, "gateway_account.archived", &id)
            .await
            .is_empty()
    );
    assert_eq!(read_row(&app, &id).await["status"], "active");

    // Once the refund is done, the account is archived: kept, never erased.
    owner
        .execute(
            "UPDATE refunds SET status = 'succeeded' WHERE id = $1",
            &[&refund],
        )
        .await
        .unwrap();
    let (status, body) = delete(&app, &admin, &id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let archived = body["data"].clone();
    assert_eq!(archived["status"], "archived");
    assert!(archived["archived_at"].is_string(), "{body}");
    let stored: i64 = owner
        .query_one(
            "SELECT count(*) FROM gateway_accounts WHERE id = $1 AND status = 'archived' AND archived_at IS NOT NULL",
            &[&account],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, 1);

    // Idempotent: a second DELETE answers the archived account and audits nothing more.
    let (status, body) = delete(&app, &admin, &id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], archived);
    let rows = audited(&app, "gateway_account.archived", &id).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].0["status"], "active");
    assert_eq!(rows[0].1["status"], "archived");
    assert!(!format!("{rows:?}").contains("hmac:"), "{rows:?}");

    // An archived account cannot be changed, not even back to active.
    let (status, body) = put(&app, &admin, &id, json!({ "status": "active" })).await;
    expect_error(status, &body, StatusCode::CONFLICT, "CONFLICT");
    assert_eq!(read_row(&app, &id).await["status"], "archived");

    let unknown = shared::ids::GatewayAccountId::generate().to_string();
    let (status, body) = delete(&app, &admin, &unknown).await;
    expect_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
}

/// The metric rows of `account`: (band, window_end, window_seconds, attempts, successes,
/// declines, technical_errors, p50, p95).
type MetricRow = (
    i16,
    DateTime<Utc>,
    i32,
    i32,
    i32,
    i32,
    i32,
    Option<i32>,
    Option<i32>,
);

async fn metrics(owner: &tokio_postgres::Client, account: Uuid) -> Vec<MetricRow> {
    owner
        .query(
            "SELECT amount_band, window_end, window_seconds, attempts, successes, declines,
                    technical_errors, latency_p50_ms, latency_p95_ms
               FROM gateway_health_metrics WHERE gateway_account_id = $1
              ORDER BY window_end, amount_band",
            &[&account],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| {
            (
                r.get(0),
                r.get(1),
                r.get(2),
                r.get(3),
                r.get(4),
                r.get(5),
                r.get(6),
                r.get(7),
                r.get(8),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_collector_measures_each_window_once_and_opens_a_failing_breaker() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let merchant = app.create_merchant(&admin, "Chai Point").await;
    let merchant_id = uuid_of(&merchant.id);
    let healthy_id = add_account(&app, &admin, "Healthy").await;
    let failing_id = add_account(&app, &admin, "Failing").await;
    let retired_id = add_account(&app, &admin, "Retired").await;
    let (healthy, failing, retired) = (
        uuid_of(&healthy_id),
        uuid_of(&failing_id),
        uuid_of(&retired_id),
    );
    let owner = app.db.owner().await;
    // Far from the real clock, which the scheduled run at the end uses.
    let end = Utc.with_ymd_and_hms(2026, 6, 1, 10, 0, 0).unwrap();
    let inside = end - Duration::minutes(10);

    // The healthy account: bands 1, 2 and 4; a pending attempt and attempts outside the window
    // (the lower bound is exclusive, the upper inclusive) do not count.
    for (amount, status, kind, latency, at) in [
        (10_000, "succeeded", None, Some(100), inside),
        (10_000, "succeeded", None, Some(200), inside),
        (10_000, "failed", Some("declined"), Some(300), inside),
        (10_000, "succeeded", None, Some(500), end),
        (100_000, "succeeded", None, Some(400), inside),
        (100_000, "expired", None, None, inside),
        (2_000_000, "amount_mismatch", None, Some(600), inside),
        (10_000, "pending", None, Some(1), inside),
        (
            10_000,
            "succeeded",
            None,
            Some(1),
            end - Duration::minutes(15),
        ),
        (
            10_000,
            "succeeded",
            None,
            Some(1),
            end + Duration::seconds(1),
        ),
    ] {
        attempt(
            &owner,
            merchant_id,
            healthy,
            amount,
            status,
            kind,
            latency,
            at,
        )
        .await;
    }
    // The failing account: 12 technical failures in 20 attempts (60% over the 50% threshold).
    for i in 0..20 {
        let (status, kind, latency) = if i < 12 {
            ("failed", Some("technical"), None)
        } else {
            ("succeeded", None, Some(50))
        };
        attempt(
            &owner,
            merchant_id,
            failing,
            300_000,
            status,
            kind,
            latency,
            inside,
        )
        .await;
    }
    // An archived account is not measured.
    attempt(
        &owner,
        merchant_id,
        retired,
        10_000,
        "succeeded",
        None,
        Some(10),
        inside,
    )
    .await;
    let (status, body) = delete(&app, &admin, &retired_id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Windows older than the retention are pruned, younger ones kept.
    for age in [8, 6] {
        owner
            .execute(
                "INSERT INTO gateway_health_metrics (gateway_account_id, amount_band, window_end,
                     window_seconds, attempts, successes, declines, technical_errors)
                 VALUES ($1, 0, $2, 900, 0, 0, 0, 0)",
                &[&healthy, &(end - Duration::days(age))],
            )
            .await
            .unwrap();
    }

    let settings = BreakerSettings::default();
    let ran_at = end + Duration::seconds(30);
    let run = shared::routing::health::collect(&app.app, ran_at, &settings)
        .await
        .unwrap();
    // The healthy (4 bands), the failing (2) and the seeded sandbox account (band 0 only).
    assert_eq!(run.rows_written, 7, "{run:?}");
    assert_eq!(run.breakers_opened, 1, "{run:?}");
    assert_eq!(run.pruned, 1, "{run:?}");
    assert_eq!(run.window_end, Some(end));

    let kept = end - Duration::days(6);
    assert_eq!(
        metrics(&owner, healthy).await,
        vec![
            (0, kept, 900, 0, 0, 0, 0, None, None),
            (0, end, 900, 7, 4, 3, 0, Some(300), Some(600)),
            (1, end, 900, 4, 3, 1, 0, Some(200), Some(500)),
            (2, end, 900, 2, 1, 1, 0, Some(400), Some(400)),
            (4, end, 900, 1, 0, 1, 0, Some(600), Some(600)),
        ]
    );
    assert_eq!(
        metrics(&owner, failing).await,
        vec![
            (0, end, 900, 20, 8, 0, 12, Some(50), Some(50)),
            (3, end, 900, 20, 8, 0, 12, Some(50), Some(50)),
        ]
    );
    assert!(metrics(&owner, retired).await.is_empty());

    let breaker = |account: Uuid| {
        let owner = &owner;
        async move {
            owner
                .query_opt(
                    "SELECT state, opened_at FROM gateway_breakers WHERE gateway_account_id = $1",
                    &[&account],
                )
                .await
                .unwrap()
                .map(|r| (r.get::<_, String>(0), r.get::<_, Option<DateTime<Utc>>>(1)))
        }
    };
    assert_eq!(
        breaker(failing).await,
        Some(("open".to_string(), Some(ran_at)))
    );
    assert_eq!(
        breaker(healthy).await,
        None,
        "a healthy breaker stays closed"
    );

    // The health list: every account that is not archived, with its breaker and latest window.
    let (status, body) = app.get("/api/v1/admin/gateways/health", Some(&admin)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let list = body["data"].as_array().unwrap();
    let find = |id: &str| list.iter().find(|a| a["id"] == id).cloned();
    assert!(find(&retired_id).is_none(), "{body}");
    assert_eq!(list.len(), 3, "healthy, failing and the sandbox: {body}");
    let failing_health = find(&failing_id).unwrap();
    assert_eq!(
        failing_health["breaker"],
        json!({ "state": "open", "consecutive_failures": 0, "opened_at": ran_at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true) }),
        "{body}"
    );
    assert_eq!(
        failing_health["metrics"],
        json!({
            "window_end": end.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            "window_seconds": 900, "attempts": 20, "successes": 8, "declines": 0,
            "technical_errors": 12, "success_rate_bps": 4000, "technical_error_rate_bps": 6000,
            "latency_p50_ms": 50, "latency_p95_ms": 50,
        }),
        "{body}"
    );
    let healthy_health = find(&healthy_id).unwrap();
    assert_eq!(healthy_health["breaker"]["state"], "closed");
    assert_eq!(healthy_health["breaker"]["opened_at"], Value::Null);
    assert_eq!(healthy_health["metrics"]["attempts"], 7);
    assert_eq!(healthy_health["metrics"]["success_rate_bps"], 5714);
    assert_eq!(healthy_health["metrics"]["technical_error_rate_bps"], 0);
    // `health` is not read as an account id, and an id still reads an account.
    let (status, body) = app
        .get(
            &format!("/api/v1/admin/gateways/{healthy_id}"),
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["label"], "Healthy");
    let token = merchant.token(&app).await;
    let (status, body) = app.get("/api/v1/admin/gateways/health", Some(&token)).await;
    expect_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");

    // A second run for the same window writes nothing and judges nothing: a breaker a probe
    // closed meanwhile stays closed.
    owner
        .execute(
            "UPDATE gateway_breakers SET state = 'closed', opened_at = NULL WHERE gateway_account_id = $1",
            &[&failing],
        )
        .await
        .unwrap();
    let count = app.db.count("gateway_health_metrics").await;
    let again = shared::routing::health::collect(&app.app, end + Duration::seconds(59), &settings)
        .await
        .unwrap();
    assert_eq!(
        (again.rows_written, again.breakers_opened),
        (0, 0),
        "{again:?}"
    );
    assert_eq!(app.db.count("gateway_health_metrics").await, count);
    assert_eq!(breaker(failing).await, Some(("closed".to_string(), None)));

    // The next minute's window still holds the outage's failures; a breaker that closed within it
    // (its probe succeeded) is not opened again by them.
    owner
        .execute(
            "UPDATE gateway_breakers SET closed_at = $2 WHERE gateway_account_id = $1",
            &[&failing, &(end + Duration::seconds(30))],
        )
        .await
        .unwrap();
    let next = shared::routing::health::collect(&app.app, end + Duration::seconds(61), &settings)
        .await
        .unwrap();
    assert!(next.rows_written > 0, "{next:?}");
    assert_eq!(next.breakers_opened, 0, "{next:?}");
    assert_eq!(breaker(failing).await, Some(("closed".to_string(), None)));

    // A new account has no window yet.
    let fresh_id = add_account(&app, &admin, "Fresh").await;
    let (_, body) = app.get("/api/v1/admin/gateways/health", Some(&admin)).await;
    let fresh = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == fresh_id.as_str())
        .cloned()
        .unwrap();
    assert_eq!(fresh["metrics"], Value::Null, "{body}");
    assert_eq!(fresh["breaker"]["state"], "closed");

    // The scheduled job runs the collector on the app's clock.
    let summary = functions::worker::run_schedule(&app.app, "gateway-health")
        .await
        .unwrap();
    assert_eq!(summary["accounts"], 4, "{summary}");
    assert_eq!(
        summary["rows_written"], 4,
        "band 0 of each account: {summary}"
    );
}

#[tokio::test]
async fn two_active_accounts_never_share_a_webhook_signer() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let first = razorpay_account("First");
    let (status, body) = app
        .post_json("/api/v1/admin/gateways", Some(&admin), first.clone())
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let first_id = body["data"]["id"].as_str().unwrap().to_string();
    let (status, body) = put(&app, &admin, &first_id, json!({ "status": "disabled" })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // With the first disabled, a second account may take the same webhook secret …
    let mut second = razorpay_account("Second");
    second["credentials"]["webhook_secret"] = first["credentials"]["webhook_secret"].clone();
    let (status, body) = app
        .post_json("/api/v1/admin/gateways", Some(&admin), second)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let second_id = body["data"]["id"].as_str().unwrap().to_string();
    // … but then the first cannot become active again,
    let (status, body) = put(&app, &admin, &first_id, json!({ "status": "active" })).await;
    let details = expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert!(details["credentials.webhook_secret"].is_string(), "{body}");
    assert_eq!(read_row(&app, &first_id).await["status"], "disabled");
    // until it gets its own secret, in the same request.
    let mut own = first["credentials"].clone();
    own["webhook_secret"] = json!("a-webhook-secret-of-its-own");
    let (status, body) = put(
        &app,
        &admin,
        &first_id,
        json!({ "status": "active", "credentials": own }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["status"], "active");
    // Replacing an account's credentials with its own signer is not a clash with itself.
    let (status, body) = put(
        &app,
        &admin,
        &first_id,
        json!({ "credentials": own, "label": "First again" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(read_row(&app, &second_id).await["status"], "active");
}

#[tokio::test]
async fn a_late_gateway_health_run_measures_the_window_it_was_scheduled_for() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let merchant = app.create_merchant(&admin, "Chai Point").await;
    let merchant_id = uuid_of(&merchant.id);
    let account_id = add_account(&app, &admin, "Late").await;
    let account = uuid_of(&account_id);
    let owner = app.db.owner().await;
    // The run was scheduled for 10:00 on 1 June and runs now, months later.
    let scheduled = Utc.with_ymd_and_hms(2026, 6, 1, 10, 0, 0).unwrap();
    for (latency, at) in [
        (100, scheduled - Duration::minutes(5)),
        (200, scheduled),
        // Before the window, and after the time the run was meant for: not counted.
        (300, scheduled - Duration::minutes(20)),
        (400, scheduled + Duration::minutes(1)),
    ] {
        attempt(
            &owner,
            merchant_id,
            account,
            10_000,
            "succeeded",
            None,
            Some(latency),
            at,
        )
        .await;
    }
    let outcome = functions::worker::run_schedule_at(
        &app.app,
        "gateway-health",
        scheduled + Duration::seconds(20),
    )
    .await
    .unwrap();
    let shared::schedules::runs::RunOutcome::Ran { summary, .. } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(
        summary["window_end"],
        json!(scheduled.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
        "{summary}"
    );
    assert_eq!(
        metrics(&owner, account).await,
        vec![
            (0, scheduled, 900, 2, 2, 0, 0, Some(100), Some(200)),
            (1, scheduled, 900, 2, 2, 0, 0, Some(100), Some(200)),
        ]
    );
}
