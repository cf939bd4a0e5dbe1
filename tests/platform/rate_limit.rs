//! Rate limits: 100 requests a minute per principal by default, shared across processes.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::json;
use shared::db::{self, Scope};
use shared::merchants::{self, CreateMerchant};

#[tokio::test]
async fn the_101st_request_is_refused_even_across_two_processes() {
    let db = TestDb::create().await;
    // The merchant is created in the database directly: no request may count against its limit.
    let (merchant_id, key, secret) = {
        let config =
            shared::config::Config::from_lookup(shared::config::lookup_from(env_for(&db))).unwrap();
        let app = shared::App::new(config).unwrap();
        let mut client = app.db.client().await.unwrap();
        let tx = db::begin(&mut client, Scope::System).await.unwrap();
        let onboarded = merchants::create(
            &tx,
            &shared::audit::AuditContext::system(),
            CreateMerchant {
                name: "Busy Shop".into(),
                email: "busy@shop.test".into(),
                live_enabled: false,
                rate_limit_per_minute: None,
                user: None,
            },
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        let c = onboarded.test_credentials;
        (
            onboarded.merchant.id,
            c.client_key,
            c.client_secret.expose().clone(),
        )
    };
    let dir = temp_dir("rate-limit");
    let mut first = Process::start("serve", &env_for(&db), &dir, free_port());
    let mut second = Process::start("serve", &env_for(&db), &dir, free_port());
    first.wait_healthy().await;
    second.wait_healthy().await;

    let client = reqwest::Client::new();
    let path = format!("/api/v1/merchant/{merchant_id}");
    for i in 0..100 {
        let base = if i % 2 == 0 {
            &first.base
        } else {
            &second.base
        };
        let response = client
            .get(format!("{base}{path}"))
            .header("X-Client-Key", &key)
            .header("X-Client-Secret", &secret)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "request {}", i + 1);
        assert_eq!(
            response.headers()["x-ratelimit-remaining"],
            (99 - i).to_string().as_str()
        );
    }
    let response = client
        .get(format!("{}{path}", second.base))
        .header("X-Client-Key", &key)
        .header("X-Client-Secret", &secret)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let headers = response.headers().clone();
    let retry_after: i64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(headers["x-ratelimit-limit"], "100");
    assert_eq!(headers["x-ratelimit-remaining"], "0");
    let reset: i64 = headers["x-ratelimit-reset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let now = chrono::Utc::now().timestamp();
    assert!(
        reset > now - 2 && reset <= now + 61,
        "reset {reset} vs now {now}"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    expect_error(
        StatusCode::TOO_MANY_REQUESTS,
        &body,
        StatusCode::TOO_MANY_REQUESTS,
        "RATE_LIMITED",
    );
    // The other process agrees.
    let response = client
        .get(format!("{}{path}", first.base))
        .header("X-Client-Key", &key)
        .header("X-Client-Secret", &secret)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    first.terminate();
    second.terminate();
}

#[tokio::test]
async fn a_merchant_override_replaces_the_default() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Small Shop").await;
    let (status, _) = send(
        app.http
            .patch(app.url(&format!("/api/v1/admin/merchants/{}", m.id)))
            .bearer_auth(&admin)
            .json(&json!({"rate_limit_per_minute": 3})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let path = format!("/api/v1/merchant/{}", m.id);
    for _ in 0..3 {
        assert_eq!(
            app.get_with_key(&path, &m.client_key, &m.client_secret)
                .await
                .0,
            StatusCode::OK
        );
    }
    let (status, body) = app
        .get_with_key(&path, &m.client_key, &m.client_secret)
        .await;
    expect_error(status, &body, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED");
    assert_eq!(body["error"]["details"]["limit"], 3);
    // Operators have their own buckets.
    assert_eq!(app.get(&path, Some(&admin)).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_login_over_the_address_limit_says_when_to_come_back() {
    let app = TestApp::spawn_with(&[("RATE_LIMIT_PER_MINUTE", "2")]).await;
    let login = || async {
        app.http
            .post(app.url("/api/v1/auth/login"))
            .json(&json!({"email": "nobody@example.in", "password": "wrong-password-1"}))
            .send()
            .await
            .unwrap()
    };
    for _ in 0..2 {
        assert_eq!(login().await.status(), StatusCode::UNAUTHORIZED);
    }
    let refused = login().await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let headers = refused.headers();
    assert_eq!(headers["x-ratelimit-limit"], "2");
    assert_eq!(headers["x-ratelimit-remaining"], "0");
    assert!(headers.contains_key("x-ratelimit-reset"), "{headers:?}");
    assert!(headers.contains_key("retry-after"), "{headers:?}");
}
