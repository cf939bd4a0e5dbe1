//! Operations: refunds are audited (F18), the maintenance job prunes expired rows (F18), and a
//! payment's refunds follow the list contract.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

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
    body: Value,
) -> (StatusCode, Value) {
    send(
        app.http
            .post(app.url(&format!("/api/v1/transactions/{transaction}/refunds")))
            .header("X-Client-Key", &m.client_key)
            .header("X-Client-Secret", &m.client_secret)
            .json(&body),
    )
    .await
}

async fn audited_refunds(app: &TestApp) -> Vec<tokio_postgres::Row> {
    app.db
        .owner()
        .await
        .query(
            "SELECT actor_type, actor_id, merchant_id::text, target_id, after, request_id
             FROM audit_log WHERE action = 'refund.created' ORDER BY id",
            &[],
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn f18_refunds_are_audited() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Chai Point").await;
    let id = captured(&app, &m, "audit-1", 20_000).await;

    let (status, body) = refund(
        &app,
        &m,
        &id,
        json!({ "amount": 5_000, "reason": "cup cracked" }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let refund_id = body["data"]["id"].as_str().unwrap();
    let rows = audited_refunds(&app).await;
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row.get::<_, &str>(0), "api_key");
    assert!(row.get::<_, Option<&str>>(1).unwrap().starts_with("cred_"));
    let merchant_uuid =
        m.id.parse::<shared::ids::MerchantId>()
            .unwrap()
            .as_uuid()
            .to_string();
    assert_eq!(
        row.get::<_, Option<String>>(2).as_deref(),
        Some(merchant_uuid.as_str())
    );
    assert_eq!(row.get::<_, Option<&str>>(3), Some(refund_id));
    let after: Value = row.get(4);
    assert_eq!(after["amount"], 5_000, "{after}");
    assert_eq!(after["transaction_id"], id.as_str(), "{after}");
    assert_eq!(after["reason"], "cup cracked", "{after}");
    assert!(
        row.get::<_, Option<&str>>(5).is_some(),
        "the request id is kept"
    );

    // A refused refund writes no refund and no audit row of one.
    let (status, body) = refund(&app, &m, &id, json!({ "amount": 999_999 })).await;
    expect_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "REFUND_EXCEEDS_CAPTURED",
    );
    assert_eq!(audited_refunds(&app).await.len(), 1);
    assert_eq!(app.db.count("refunds").await, 1);
}

#[tokio::test]
async fn f18_maintenance_prunes_expired_rows() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Chai Point").await;
    // Fresh rows through the API: a counted request and an idempotency key.
    let (status, body) = app
        .pay(&m, &payment("keep-1", 10_000, false), Some("fresh-key"))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let owner = app.db.owner().await;
    let merchant = m.id.parse::<shared::ids::MerchantId>().unwrap().as_uuid();
    owner
        .batch_execute(
            "INSERT INTO rate_limit_counters (principal, window_start, hits) VALUES
                 ('ip:203.0.113.9', now() - interval '2 hours', 3),
                 ('ip:203.0.113.10', now() - interval '61 minutes', 1),
                 ('ip:203.0.113.11', now() - interval '5 minutes', 1)",
        )
        .await
        .unwrap();
    owner
        .execute(
            "INSERT INTO idempotency_keys (merchant_id, mode, key, fingerprint, response_status, response_body, created_at)
             VALUES ($1, 'test', 'old-key', decode(repeat('00', 32), 'hex'), 201, '{}', now() - interval '25 hours'),
                    ($1, 'test', 'day-old-key', decode(repeat('00', 32), 'hex'), 201, '{}', now() - interval '23 hours')",
            &[&merchant],
        )
        .await
        .unwrap();
    owner
        .batch_execute(
            "INSERT INTO login_failures (email, reason, created_at) VALUES
                 ('old@example.in', 'invalid_login', now() - interval '31 days'),
                 ('recent@example.in', 'invalid_login', now() - interval '29 days')",
        )
        .await
        .unwrap();
    // Queue metrics are kept two weeks.
    owner
        .batch_execute(
            "INSERT INTO queue_metrics (queue, minute, worker, processed, failed) VALUES
                 ('refund-processor', date_trunc('minute', now() - interval '15 days'), 'refund-processor', 1, 0),
                 ('refund-processor', date_trunc('minute', now() - interval '13 days'), 'refund-processor', 1, 0)",
        )
        .await
        .unwrap();
    // Status reports are kept a month.
    owner
        .batch_execute(
            "INSERT INTO system_status (checked_for, status, report) VALUES
                 (now() - interval '31 days', 'ok', '{}'),
                 (now() - interval '29 days', 'degraded', '{}')",
        )
        .await
        .unwrap();

    let summary = functions::worker::run_schedule(&app.app, "maintenance")
        .await
        .unwrap();
    let failures: Vec<String> = owner
        .query("SELECT email FROM login_failures ORDER BY email", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        failures,
        ["recent@example.in"],
        "30 days of failed logins are kept"
    );
    // The first five tables of the retention list (others follow, with nothing to prune here).
    assert_eq!(
        summary["pruned"].as_array().unwrap()[..5],
        [
            json!({ "table": "rate_limit_counters", "deleted": 2 }),
            json!({ "table": "idempotency_keys", "deleted": 1 }),
            json!({ "table": "login_failures", "deleted": 1 }),
            json!({ "table": "queue_metrics", "deleted": 1 }),
            json!({ "table": "system_status", "deleted": 1 }),
        ],
        "{summary}"
    );
    let counters: Vec<String> = owner
        .query(
            "SELECT principal FROM rate_limit_counters ORDER BY principal",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(
        counters.contains(&"ip:203.0.113.11".to_string()),
        "{counters:?}"
    );
    assert!(
        counters.iter().any(|c| c.starts_with("merchant:")),
        "the live window is kept: {counters:?}"
    );
    assert!(
        !counters
            .iter()
            .any(|c| c == "ip:203.0.113.9" || c == "ip:203.0.113.10")
    );
    let keys: Vec<String> = owner
        .query("SELECT key FROM idempotency_keys ORDER BY key", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(keys, ["day-old-key", "fresh-key"]);
    // The fresh key still replays.
    let (status, again) = app
        .pay(&m, &payment("keep-1", 10_000, false), Some("fresh-key"))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(again["data"]["id"], body["data"]["id"]);

    // Again: nothing left to prune.
    let summary = functions::worker::run_schedule(&app.app, "maintenance")
        .await
        .unwrap();
    assert_eq!(summary["pruned"][0]["deleted"], 0);
    assert_eq!(summary["pruned"][1]["deleted"], 0);
}

#[tokio::test]
async fn refunds_list_follows_the_list_contract() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Chai Point").await;
    let id = captured(&app, &m, "list-1", 30_000).await;
    let mut created = Vec::new();
    for amount in [1_000, 2_000, 3_000] {
        let (status, body) = refund(&app, &m, &id, json!({ "amount": amount })).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        created.push(body["data"]["id"].as_str().unwrap().to_string());
    }
    let list = |query: String| {
        let app = &app;
        let m = &m;
        let id = &id;
        async move {
            app.get_with_key(
                &format!("/api/v1/transactions/{id}/refunds{query}"),
                &m.client_key,
                &m.client_secret,
            )
            .await
        }
    };
    let ids = |page: &Value| -> Vec<String> {
        page["data"]["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect()
    };
    // Everything, newest first, with has_more.
    let (status, all) = list(String::new()).await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert_eq!(all["data"]["has_more"], false, "{all}");
    let newest_first: Vec<String> = created.iter().rev().cloned().collect();
    assert_eq!(ids(&all), newest_first);
    // Page by page with limit and starting_after.
    let (_, first) = list("?limit=2".into()).await;
    assert_eq!(ids(&first), newest_first[..2]);
    assert_eq!(first["data"]["has_more"], true);
    let (_, second) = list(format!("?limit=2&starting_after={}", newest_first[1])).await;
    assert_eq!(ids(&second), newest_first[2..]);
    assert_eq!(second["data"]["has_more"], false);
    // Bad parameters are a 400 naming them, like every list.
    let (status, body) = list("?limit=0".into()).await;
    let details = expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert!(details["limit"].is_string(), "{details}");
    let (status, body) = list("?starting_after=txn_nope".into()).await;
    let details = expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert!(details["starting_after"].is_string(), "{details}");
    let (status, body) = list("?colour=blue".into()).await;
    expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
}

#[tokio::test]
async fn a_non_ascii_idempotency_key_is_refused() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Chai Point").await;
    let pay = |key: reqwest::header::HeaderValue, body: Value| {
        app.http
            .post(app.url("/api/v1/pay"))
            .header("X-Client-Key", &m.client_key)
            .header("X-Client-Secret", &m.client_secret)
            .header("Idempotency-Key", key)
            .json(&body)
    };
    let non_ascii = reqwest::header::HeaderValue::from_bytes("clé-42".as_bytes()).unwrap();
    // Two different bodies under the same unusable key: neither is created.
    for order in ["na-1", "na-2"] {
        let (status, body) = send(pay(non_ascii.clone(), payment(order, 10_000, false))).await;
        let details = expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        assert!(details["Idempotency-Key"].is_string(), "{body}");
    }
    // Empty, over 255 characters, or control characters: refused the same way.
    for bad in [
        reqwest::header::HeaderValue::from_static(""),
        reqwest::header::HeaderValue::from_str(&"k".repeat(256)).unwrap(),
        reqwest::header::HeaderValue::from_bytes(b"tab\there").unwrap(),
    ] {
        let (status, body) = send(pay(bad, payment("na-3", 10_000, false))).await;
        let details = expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        assert!(details["Idempotency-Key"].is_string(), "{body}");
    }
    // Sent twice (two values): refused rather than picking one.
    let (status, body) = send(
        app.http
            .post(app.url("/api/v1/pay"))
            .header("X-Client-Key", &m.client_key)
            .header("X-Client-Secret", &m.client_secret)
            .header("Idempotency-Key", "first")
            .header("Idempotency-Key", "second")
            .json(&payment("na-4", 10_000, false)),
    )
    .await;
    expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert_eq!(app.db.count("transactions").await, 0, "nothing was created");
    assert_eq!(app.db.count("idempotency_keys").await, 0);

    // Refunds read the key the same way.
    let id = captured(&app, &m, "na-refund", 10_000).await;
    let (status, body) = send(
        app.http
            .post(app.url(&format!("/api/v1/transactions/{id}/refunds")))
            .header("X-Client-Key", &m.client_key)
            .header("X-Client-Secret", &m.client_secret)
            .header("Idempotency-Key", non_ascii)
            .json(&json!({ "amount": 1_000 })),
    )
    .await;
    expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert_eq!(app.db.count("refunds").await, 0);
    // A valid key still works.
    let (status, body) = send(pay(
        reqwest::header::HeaderValue::from_static("good-key-1"),
        payment("na-5", 10_000, false),
    ))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}
