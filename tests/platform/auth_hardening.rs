//! Issue 8, authentication and sessions: key pairs per mode (F1), suspension (F3), metered
//! failed authentications (F5), login lockout and TOTP (F7), secrets out of `Debug` (F13),
//! sessions that end (F14).

use crate::support::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::db::{self, Scope};
use shared::mode::Mode;

const REGENERATE: &str = "/api/v1/merchant/credentials/regenerate";

async fn enable_live(app: &TestApp, admin: &str, m: &Merchant) {
    let (status, body) = send(
        app.http
            .patch(app.url(&format!("/api/v1/admin/merchants/{}", m.id)))
            .bearer_auth(admin)
            .json(&json!({"live_enabled": true})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// `POST` with a key pair.
async fn post_with_key(
    app: &TestApp,
    path: &str,
    key: &str,
    secret: &str,
    body: Value,
) -> (StatusCode, Value) {
    send(
        app.http
            .post(app.url(path))
            .header("X-Client-Key", key)
            .header("X-Client-Secret", secret)
            .json(&body),
    )
    .await
}

/// The merchant's live pair, minted by its dashboard user.
async fn live_pair(app: &TestApp, owner: &str) -> (String, String) {
    let (status, body) = app
        .post_json(REGENERATE, Some(owner), json!({"mode": "live"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    (
        body["data"]["client_key"].as_str().unwrap().to_string(),
        body["data"]["client_secret"].as_str().unwrap().to_string(),
    )
}

/// Every credential row as text (owner's view), to show that nothing changed.
async fn credential_rows(app: &TestApp) -> Vec<String> {
    app.db
        .owner()
        .await
        .query(
            "SELECT t::text FROM merchant_credentials t ORDER BY id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[tokio::test]
async fn f1_a_test_key_cannot_mint_a_live_key() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "F1 Shop").await;
    enable_live(&app, &admin, &m).await;
    let owner = m.token(&app).await;
    let (live_key, live_secret) = live_pair(&app, &owner).await;
    let before = credential_rows(&app).await;

    // The review's attack: only the test key, asking for a live pair.
    let (status, body) = post_with_key(
        &app,
        REGENERATE,
        &m.client_key,
        &m.client_secret,
        json!({"mode": "live"}),
    )
    .await;
    expect_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
    assert!(!body.to_string().contains("lsp_live_"), "{body}");
    // Nor may the live key rotate itself: live pairs come from a dashboard user.
    let (status, body) = post_with_key(&app, REGENERATE, &live_key, &live_secret, json!({})).await;
    expect_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
    // And the live key cannot reach for the test pair either.
    let (status, body) = post_with_key(
        &app,
        REGENERATE,
        &live_key,
        &live_secret,
        json!({"mode": "test"}),
    )
    .await;
    expect_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");

    assert_eq!(credential_rows(&app).await, before, "nothing changed");
    let path = format!("/api/v1/merchant/{}", m.id);
    assert_eq!(
        app.get_with_key(&path, &live_key, &live_secret).await.0,
        StatusCode::OK
    );
    assert_eq!(
        app.get_with_key(&path, &m.client_key, &m.client_secret)
            .await
            .0,
        StatusCode::OK
    );

    // A test key still rotates its own pair.
    let (status, body) =
        post_with_key(&app, REGENERATE, &m.client_key, &m.client_secret, json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["data"]["mode"], "test");
    assert_eq!(
        app.get_with_key(&path, &live_key, &live_secret).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn f1_the_credentials_policy_keeps_a_merchant_scope_to_its_mode() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "F1 RLS Shop").await;
    enable_live(&app, &admin, &m).await;
    let owner = m.token(&app).await;
    let (live_key, live_secret) = live_pair(&app, &owner).await;
    let before = credential_rows(&app).await;

    let merchant_id: shared::ids::MerchantId = m.id.parse().unwrap();
    let mut client = app.app.db.client().await.unwrap();
    let tx = db::begin(
        &mut client,
        Scope::Merchant {
            id: merchant_id,
            mode: Mode::Test,
        },
    )
    .await
    .unwrap();
    let seen: Vec<String> = tx
        .query("SELECT mode FROM merchant_credentials", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get("mode"))
        .collect();
    assert_eq!(
        seen,
        vec!["test".to_string()],
        "a test-mode scope sees no live rows"
    );
    let revoked = tx
        .execute(
            "UPDATE merchant_credentials SET revoked_at = now() WHERE mode = 'live'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(revoked, 0, "nor can it revoke them");
    let inserted = tx
        .execute(
            "INSERT INTO merchant_credentials (id, merchant_id, mode, client_key, secret_hash)
             VALUES (gen_random_uuid(), $1, 'live', 'lsp_live_' || repeat('A', 24), decode(repeat('00', 32), 'hex'))",
            &[&merchant_id.as_uuid()],
        )
        .await;
    let refused = inserted.expect_err("nor insert one");
    assert_eq!(
        refused.code(),
        Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE),
        "refused by the row policy: {refused}"
    );
    drop(tx);
    assert_eq!(credential_rows(&app).await, before, "nothing changed");
    let path = format!("/api/v1/merchant/{}", m.id);
    assert_eq!(
        app.get_with_key(&path, &live_key, &live_secret).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn f1_key_listings_show_only_the_callers_mode() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "F1 List Shop").await;
    enable_live(&app, &admin, &m).await;
    let owner = m.token(&app).await;
    let (live_key, live_secret) = live_pair(&app, &owner).await;
    let path = format!("/api/v1/merchant/{}", m.id);
    let modes = |body: &Value| -> Vec<String> {
        body["data"]["credentials"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["mode"].as_str().unwrap().to_string())
            .collect()
    };

    let (status, body) = app
        .get_with_key(&path, &m.client_key, &m.client_secret)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(modes(&body), vec!["test"]);
    assert!(!body.to_string().contains(&live_key), "{body}");

    let (status, body) = app.get_with_key(&path, &live_key, &live_secret).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(modes(&body), vec!["live"]);

    let (status, body) = send(
        app.http
            .get(app.url(&path))
            .bearer_auth(&owner)
            .header("X-Mode", "live"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(modes(&body), vec!["live"]);

    let (status, body) = app.get(&path, Some(&admin)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        modes(&body),
        vec!["live", "test"],
        "operators see every mode"
    );
}

#[tokio::test]
async fn f1_a_rotation_may_keep_the_old_pair_for_a_grace_period() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "F1 Grace Shop").await;
    let path = format!("/api/v1/merchant/{}", m.id);

    for bad in [json!(86_401), json!(-1), json!("soon")] {
        let (status, body) = post_with_key(
            &app,
            REGENERATE,
            &m.client_key,
            &m.client_secret,
            json!({ "grace_period_seconds": bad }),
        )
        .await;
        expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    assert_eq!(
        app.get_with_key(&path, &m.client_key, &m.client_secret)
            .await
            .0,
        StatusCode::OK,
        "a refused rotation changes nothing"
    );

    let (status, body) = post_with_key(
        &app,
        REGENERATE,
        &m.client_key,
        &m.client_secret,
        json!({ "grace_period_seconds": 2 }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(body["data"]["previous_expires_at"].is_string(), "{body}");
    let new_key = body["data"]["client_key"].as_str().unwrap().to_string();
    let new_secret = body["data"]["client_secret"].as_str().unwrap().to_string();

    // Inside the grace period both pairs work.
    assert_eq!(
        app.get_with_key(&path, &m.client_key, &m.client_secret)
            .await
            .0,
        StatusCode::OK
    );
    let (status, body) = app.get_with_key(&path, &new_key, &new_secret).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["data"]["credentials"].as_array().unwrap().len(),
        2,
        "{body}"
    );

    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
    let (status, body) = app
        .get_with_key(&path, &m.client_key, &m.client_secret)
        .await;
    expect_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    let (status, body) = app.get_with_key(&path, &new_key, &new_secret).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["data"]["credentials"].as_array().unwrap().len(),
        1,
        "{body}"
    );

    // Without a grace period the old pair dies at once.
    let (status, body) = post_with_key(&app, REGENERATE, &new_key, &new_secret, json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        app.get_with_key(&path, &new_key, &new_secret).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn f3_a_suspended_merchant_cannot_refund_or_rotate_keys() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "F3 Shop").await;
    let (status, body) = app.pay(&m, &payment("f3-1", 50_000, true), None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let txn = body["data"]["id"].as_str().unwrap().to_string();
    app.drain().await;
    assert_eq!(app.transaction(&m, &txn).await["status"], "succeeded");
    let owner = m.token(&app).await;

    let (status, body) = app
        .post_json(
            &format!("/api/v1/admin/merchants/{}/suspend", m.id),
            Some(&admin),
            json!({"reason": "fraud review"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let credentials = credential_rows(&app).await;
    let refunds = app.db.count("refunds").await;
    let payments = app.db.count("transactions").await;

    let refund_path = format!("/api/v1/transactions/{txn}/refunds");
    let (status, body) = post_with_key(
        &app,
        &refund_path,
        &m.client_key,
        &m.client_secret,
        json!({}),
    )
    .await;
    expect_error(status, &body, StatusCode::FORBIDDEN, "MERCHANT_SUSPENDED");
    let (status, body) = app.post_json(&refund_path, Some(&owner), json!({})).await;
    expect_error(status, &body, StatusCode::FORBIDDEN, "MERCHANT_SUSPENDED");
    let (status, body) =
        post_with_key(&app, REGENERATE, &m.client_key, &m.client_secret, json!({})).await;
    expect_error(status, &body, StatusCode::FORBIDDEN, "MERCHANT_SUSPENDED");
    let (status, body) = app.post_json(REGENERATE, Some(&owner), json!({})).await;
    expect_error(status, &body, StatusCode::FORBIDDEN, "MERCHANT_SUSPENDED");
    let (status, body) = app.pay(&m, &payment("f3-2", 50_000, false), None).await;
    expect_error(status, &body, StatusCode::FORBIDDEN, "MERCHANT_SUSPENDED");

    // Reads still work.
    assert_eq!(app.transaction(&m, &txn).await["status"], "succeeded");
    let (status, _) = app.get(&refund_path, Some(&owner)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .get_with_key(
            &format!("/api/v1/merchant/{}", m.id),
            &m.client_key,
            &m.client_secret,
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    assert_eq!(credential_rows(&app).await, credentials, "keys unchanged");
    assert_eq!(app.db.count("refunds").await, refunds, "no refund row");
    assert_eq!(
        app.db.count("transactions").await,
        payments,
        "no payment row"
    );
    assert_eq!(app.transaction(&m, &txn).await["status"], "succeeded");
}

/// One request through the pipeline with a chosen source address (the runner always sees
/// 127.0.0.1).
async fn from_address(
    app: &TestApp,
    ip: &str,
    key: &str,
    secret: &str,
) -> shared::http::ApiResponse {
    let mut request = shared::http::ApiRequest::new(http::Method::GET, "/api/v1/transactions");
    request.source_ip = Some(ip.to_string());
    request.headers.insert("x-client-key", key.parse().unwrap());
    request
        .headers
        .insert("x-client-secret", secret.parse().unwrap());
    functions::server::handle(&app.app, &functions::registry::all_routes(), request).await
}

#[tokio::test]
async fn f5_failed_authentications_are_metered() {
    let app = TestApp::spawn_with(&[("AUTH_FAILURES_PER_MINUTE", "5")]).await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "F5 Shop").await;
    let random_key = || {
        format!(
            "lsp_test_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..24]
        )
    };

    // Per source address: five different junk keys from one address, then 429.
    for _ in 0..5 {
        let response = from_address(&app, "198.51.100.7", &random_key(), "nope").await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    }
    let response = from_address(&app, "198.51.100.7", &random_key(), "nope").await;
    assert_eq!(response.status, StatusCode::TOO_MANY_REQUESTS);
    for header in [
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
        "retry-after",
    ] {
        assert!(response.headers.contains_key(header), "{header} missing");
    }
    let body: Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(body["error"]["code"], "RATE_LIMITED", "{body}");

    // Per client key: the merchant's public key with wrong secrets, each from a new address.
    for i in 0..5 {
        let response = from_address(&app, &format!("203.0.113.{i}"), &m.client_key, "wrong").await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    }
    let response = from_address(&app, "203.0.113.99", &m.client_key, "wrong").await;
    assert_eq!(response.status, StatusCode::TOO_MANY_REQUESTS);

    // The right secret is never refused for someone else's failures, from any address.
    for ip in ["203.0.113.99", "198.51.100.7"] {
        let response = from_address(&app, ip, &m.client_key, &m.client_secret).await;
        assert_eq!(response.status, StatusCode::OK, "{ip}");
    }
    // Over HTTP too (the runner's address has its own counter).
    let (status, body) = app
        .get_with_key("/api/v1/transactions", &m.client_key, "wrong")
        .await;
    expect_error(status, &body, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED");
    // Successes are not counted as failures.
    let failures: i64 = app
        .db
        .owner()
        .await
        .query_one(
            "SELECT count(*) FROM rate_limit_counters WHERE principal LIKE 'authfail:%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    // 198.51.100.7 and its six junk keys; six 203.0.113.x addresses and the merchant's key; 127.0.0.1.
    assert_eq!(
        failures,
        1 + 6 + 6 + 1 + 1,
        "one counter per address and per key presented"
    );
}

fn reason(body: &Value) -> &str {
    body["error"]["details"]["reason"].as_str().unwrap_or("")
}

#[tokio::test]
async fn f14_an_access_token_dies_with_its_session() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "F14 Shop").await;
    let path = format!("/api/v1/merchant/{}", m.id);
    let (status, body) = app.login(&m.user_email, &m.user_password).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let access = body["data"]["access_token"].as_str().unwrap().to_string();
    let refresh = body["data"]["refresh_token"].as_str().unwrap().to_string();
    let other = m.token(&app).await;
    assert_eq!(app.get(&path, Some(&access)).await.0, StatusCode::OK);

    let (status, body) = app
        .post_json("/api/v1/auth/logout", Some(&access), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (status, body) = app.get(&path, Some(&access)).await;
    expect_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    assert_eq!(reason(&body), "session_ended");
    let (status, body) = app
        .post_json(
            "/api/v1/auth/refresh",
            None,
            json!({ "refresh_token": refresh }),
        )
        .await;
    expect_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    // Another session of the same user is untouched.
    assert_eq!(app.get(&path, Some(&other)).await.0, StatusCode::OK);
    // A key pair has no session to end.
    let (status, body) = post_with_key(
        &app,
        "/api/v1/auth/logout",
        &m.client_key,
        &m.client_secret,
        json!({}),
    )
    .await;
    expect_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
    let logouts: i64 = app
        .db
        .owner()
        .await
        .query_one(
            "SELECT count(*) FROM audit_log WHERE action = 'auth.logout' AND outcome = 'success'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(logouts, 1, "the logout is audited");
}

#[tokio::test]
async fn f14_refresh_token_reuse_ends_the_sessions_access_tokens() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "F14 Reuse Shop").await;
    let path = format!("/api/v1/merchant/{}", m.id);
    let (_, first) = app.login(&m.user_email, &m.user_password).await;
    let first_access = first["data"]["access_token"].as_str().unwrap().to_string();
    let first_refresh = first["data"]["refresh_token"].as_str().unwrap().to_string();
    let (status, second) = app
        .post_json(
            "/api/v1/auth/refresh",
            None,
            json!({ "refresh_token": first_refresh }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let second_access = second["data"]["access_token"].as_str().unwrap().to_string();
    assert_eq!(app.get(&path, Some(&first_access)).await.0, StatusCode::OK);
    assert_eq!(app.get(&path, Some(&second_access)).await.0, StatusCode::OK);

    // Someone replays the spent refresh token: the whole session ends, access tokens included.
    let (status, body) = app
        .post_json(
            "/api/v1/auth/refresh",
            None,
            json!({ "refresh_token": first_refresh }),
        )
        .await;
    expect_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    for token in [&first_access, &second_access] {
        let (status, body) = app.get(&path, Some(token)).await;
        expect_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
        assert_eq!(reason(&body), "session_ended");
    }
}

#[tokio::test]
async fn f14_tokens_name_their_session_and_live_at_most_an_hour() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    // A validly signed token without a session id could never be revoked: refused.
    let payload = admin.split('.').nth(1).unwrap();
    let mut claims: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
            .unwrap(),
    )
    .unwrap();
    assert!(claims["sid"].is_string(), "{claims}");
    claims.as_object_mut().unwrap().remove("sid");
    let forged = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()).unwrap(),
    )
    .unwrap();
    let (status, body) = app.get("/api/v1/admin/merchants", Some(&forged)).await;
    expect_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    assert_eq!(reason(&body), "invalid_token");

    let mut vars = env_for(&app.db);
    vars.insert("ACCESS_TOKEN_TTL_SECONDS".into(), "86400".into());
    let error = shared::config::Config::from_lookup(shared::config::lookup_from(vars)).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("ACCESS_TOKEN_TTL_SECONDS must be a whole number from 60 to 3600"),
        "{error}"
    );
}

#[tokio::test]
async fn f13_debug_output_never_holds_a_secret() {
    use shared::auth::api_keys::IssuedCredential;
    use shared::auth::sessions::TokenPair;
    use shared::gateway_accounts::{AddGatewayAccount, NewGatewayAccount, Ownership};
    use shared::gateways::{Account, CreatedOrder};
    use shared::merchants::CreateMerchant;
    use shared::secret::Secret;
    const SECRET: &str = "Sup3r-Secret-Value-9f8e7d";

    fn hides(what: &str, debug: String) {
        assert!(!debug.contains(SECRET), "{what} shows the secret: {debug}");
        assert!(
            !debug.contains("9f8e7d"),
            "{what} shows part of the secret: {debug}"
        );
    }

    let add: AddGatewayAccount = serde_json::from_value(json!({
        "provider": "razorpay", "label": "x", "environment": "test",
        "credentials": { "key_id": SECRET, "key_secret": SECRET, "webhook_secret": SECRET },
    }))
    .unwrap();
    hides("AddGatewayAccount", format!("{add:?}"));
    let credentials: shared::gateways::Credentials =
        [("key_secret".to_string(), Secret::new(SECRET.to_string()))].into();
    hides(
        "NewGatewayAccount",
        format!(
            "{:?}",
            NewGatewayAccount {
                provider: "razorpay".into(),
                label: "x".into(),
                environment: Mode::Test,
                ownership: Ownership::Platform,
                credentials: credentials.clone(),
            }
        ),
    );
    hides(
        "Account",
        format!(
            "{:?}",
            Account {
                id: shared::ids::GatewayAccountId::generate(),
                environment: Mode::Test,
                credentials,
            }
        ),
    );
    let merchant: CreateMerchant = serde_json::from_value(json!({
        "name": "Shop", "email": "shop@example.in",
        "user": { "email": "owner@example.in", "password": SECRET },
    }))
    .unwrap();
    hides("CreateMerchant/NewUser", format!("{merchant:?}"));
    hides(
        "TokenPair",
        format!(
            "{:?}",
            TokenPair {
                access_token: Secret::new(SECRET.to_string()),
                refresh_token: Some(Secret::new(SECRET.to_string())),
                token_type: "Bearer",
                expires_in: 900,
                enrolment_only: false,
            }
        ),
    );
    hides(
        "CreatedOrder",
        format!(
            "{:?}",
            CreatedOrder {
                reference: "pi_1".into(),
                pay_url: None,
                checkout_token: Some(SECRET.into()),
            }
        ),
    );
    hides(
        "IssuedCredential",
        format!(
            "{:?}",
            IssuedCredential {
                id: shared::ids::CredentialId::generate(),
                mode: Mode::Test,
                client_key: "lsp_test_AAAAAAAAAAAAAAAAAAAAAAAA".into(),
                client_secret: Secret::new(SECRET.to_string()),
                created_at: chrono::Utc::now(),
            }
        ),
    );
    hides(
        "DemoCredentials",
        format!(
            "{:?}",
            shared::seed::DemoCredentials {
                admin_email: "a@example.in".into(),
                admin_password: SECRET.into(),
                merchant_id: "mer_1".into(),
                merchant_user_email: "m@example.in".into(),
                merchant_user_password: SECRET.into(),
                client_key: "lsp_test_AAAAAAAAAAAAAAAAAAAAAAAA".into(),
                client_secret: SECRET.into(),
            }
        ),
    );
    hides(
        "Enrolment",
        format!(
            "{:?}",
            shared::auth::mfa::Enrolment {
                secret: Secret::new(SECRET.to_string()),
                otpauth_uri: Secret::new(format!("otpauth://totp/x?secret={SECRET}")),
            }
        ),
    );
    let jwt_secret = format!("{SECRET}-{SECRET}");
    let config = shared::config::Config::from_lookup(shared::config::lookup_from(
        [
            (
                "DATABASE_URL",
                format!("postgres://lsp_app:{SECRET}@127.0.0.1/x"),
            ),
            ("JWT_SECRET", jwt_secret),
            ("ENCRYPTION_KEYS", ENCRYPTION_KEYS.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect(),
    ))
    .unwrap();
    let debug = format!("{config:?}");
    hides("Config", debug.clone());
    assert!(
        !debug.contains("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="),
        "{debug}"
    );
}

async fn user_id(app: &TestApp, email: &str) -> String {
    let id: uuid::Uuid = app
        .db
        .owner()
        .await
        .query_one("SELECT id FROM users WHERE email = $1", &[&email])
        .await
        .unwrap()
        .get(0);
    shared::ids::UserId::from_uuid(id).to_string()
}

async fn scalar(app: &TestApp, sql: &str) -> i64 {
    app.db
        .owner()
        .await
        .query_one(sql, &[])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn f7_an_account_locks_after_failed_logins_and_an_operator_unlock_is_audited() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "F7 Lock Shop").await;
    for _ in 0..5 {
        let (status, body) = app.login(&m.user_email, "not-the-password-1").await;
        expect_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
        assert_eq!(reason(&body), "invalid_login");
    }
    // Locked: even the right password answers exactly like a wrong one.
    let (status, body) = app.login(&m.user_email, &m.user_password).await;
    expect_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    assert_eq!(reason(&body), "invalid_login");
    assert_eq!(
        scalar(
            &app,
            "SELECT count(*) FROM login_failures WHERE user_id IS NOT NULL"
        )
        .await,
        6
    );
    assert_eq!(
        scalar(
            &app,
            "SELECT count(*) FROM login_failures WHERE reason = 'locked'"
        )
        .await,
        1
    );
    assert_eq!(
        scalar(
            &app,
            "SELECT count(*) FROM audit_log WHERE action = 'user.locked'"
        )
        .await,
        1
    );
    // Unknown emails go to the pruned table only, never to the append-only audit log.
    let audit_before = app.db.count("audit_log").await;
    let (status, _) = app
        .login("nobody@merchant.test", "not-the-password-1")
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.db.count("audit_log").await, audit_before);
    assert_eq!(
        scalar(
            &app,
            "SELECT count(*) FROM login_failures WHERE user_id IS NULL"
        )
        .await,
        1
    );

    let id = user_id(&app, &m.user_email).await;
    let unlock = format!("/api/v1/admin/users/{id}/unlock");
    // Only operators unlock.
    let (status, body) =
        post_with_key(&app, &unlock, &m.client_key, &m.client_secret, json!({})).await;
    expect_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
    let (status, body) = app.login(&m.user_email, &m.user_password).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "still locked: {body}");

    let (status, body) = app.post_json(&unlock, Some(&admin), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let row = app
        .db
        .owner()
        .await
        .query_one(
            "SELECT actor_type, before->>'failed_logins' FROM audit_log WHERE action = 'user.unlocked'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, &str>(0), "user");
    assert_eq!(row.get::<_, Option<&str>>(1), Some("5"));
    let (status, body) = app.login(&m.user_email, &m.user_password).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        scalar(
            &app,
            "SELECT count(*) FROM users WHERE failed_logins > 0 OR locked_until IS NOT NULL"
        )
        .await,
        0
    );
}

fn base32_decode(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut buffer, mut bits) = (0u32, 0);
    for c in text.bytes() {
        let v = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
            .iter()
            .position(|x| *x == c)
            .unwrap() as u32;
        buffer = (buffer << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}

/// The code of `secret` (base32) `offset` steps from now.
pub(crate) fn code(secret: &str, offset: i64) -> String {
    use shared::auth::totp;
    let step = totp::step_at(chrono::Utc::now().timestamp()) + offset;
    format!("{:06}", totp::hotp(&base32_decode(secret), step as u64, 6))
}

async fn login_otp(app: &TestApp, email: &str, password: &str, otp: &str) -> (StatusCode, Value) {
    app.post_json(
        "/api/v1/auth/login",
        None,
        json!({ "email": email, "password": password, "otp": otp }),
    )
    .await
}

#[tokio::test]
async fn f7_operator_mfa_is_required_when_configured() {
    let app = TestApp::spawn_with(&[("ADMIN_MFA_REQUIRED", "true")]).await;
    let email = "mfa-ops@lightspeedpay.test";
    app.create_admin(email).await;
    let (status, body) = app.login(email, ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["enrolment_only"], true, "{body}");
    assert!(
        body["data"]["refresh_token"].is_null(),
        "no refresh into a full session"
    );
    let restricted = body["data"]["access_token"].as_str().unwrap().to_string();
    let (status, body) = app.get("/api/v1/admin/merchants", Some(&restricted)).await;
    expect_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
    let (status, body) = app
        .post_json(
            "/api/v1/admin/merchants",
            Some(&restricted),
            json!({"name": "x", "email": "x@x.in"}),
        )
        .await;
    expect_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
    assert_eq!(app.db.count("merchants").await, 0);

    let (status, body) = app
        .post_json("/api/v1/auth/mfa/totp", Some(&restricted), json!({}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let secret = body["data"]["secret"].as_str().unwrap().to_string();
    let uri = body["data"]["otpauth_uri"].as_str().unwrap();
    assert!(
        uri.starts_with("otpauth://totp/") && uri.contains(&secret),
        "{uri}"
    );
    assert!(
        !app.db.dump().await.contains(&secret),
        "the secret is stored sealed"
    );

    let (status, body) = app
        .post_json(
            "/api/v1/auth/mfa/totp/confirm",
            Some(&restricted),
            json!({ "otp": "000000" }),
        )
        .await;
    if code(&secret, 0) != "000000" {
        expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    let confirm_code = code(&secret, 0);
    let (status, body) = app
        .post_json(
            "/api/v1/auth/mfa/totp/confirm",
            Some(&restricted),
            json!({ "otp": confirm_code }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (status, body) = app.login(email, ADMIN_PASSWORD).await;
    expect_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    assert_eq!(reason(&body), "otp_required");
    // The code used to confirm cannot be used again.
    let (status, body) = login_otp(&app, email, ADMIN_PASSWORD, &confirm_code).await;
    expect_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    assert_eq!(reason(&body), "invalid_otp");
    let (status, body) = login_otp(&app, email, ADMIN_PASSWORD, &code(&secret, 1)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["data"].get("enrolment_only").is_none(), "{body}");
    assert!(body["data"]["refresh_token"].is_string(), "{body}");
    let full = body["data"]["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        app.get("/api/v1/admin/merchants", Some(&full)).await.0,
        StatusCode::OK
    );
    let enabled = scalar(
        &app,
        "SELECT count(*) FROM audit_log WHERE action = 'auth.mfa_enabled'",
    )
    .await;
    assert_eq!(enabled, 1);
}

#[tokio::test]
async fn f7_wrong_and_replayed_codes_are_refused() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "F7 MFA Shop").await;
    let owner = m.token(&app).await;
    let (status, body) = app
        .post_json("/api/v1/auth/mfa/totp", Some(&owner), json!({}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let secret = body["data"]["secret"].as_str().unwrap().to_string();
    // Not in force before it is confirmed.
    assert_eq!(
        app.login(&m.user_email, &m.user_password).await.0,
        StatusCode::OK
    );
    let (status, body) = app
        .post_json(
            "/api/v1/auth/mfa/totp/confirm",
            Some(&owner),
            json!({ "otp": code(&secret, -1) }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let now = code(&secret, 0);
    let wrong = format!("{:06}", (now.parse::<u32>().unwrap() + 1) % 1_000_000);
    let stale = code(&secret, -3);
    for bad in [wrong.as_str(), stale.as_str(), "12345", "abcdef"] {
        if bad == now {
            continue;
        }
        let (status, body) = login_otp(&app, &m.user_email, &m.user_password, bad).await;
        expect_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
        assert_eq!(reason(&body), "invalid_otp", "{bad}");
    }
    let (status, body) = login_otp(&app, &m.user_email, &m.user_password, &now).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = login_otp(&app, &m.user_email, &m.user_password, &now).await;
    expect_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    assert_eq!(reason(&body), "invalid_otp", "a code works once");
    assert_eq!(
        scalar(
            &app,
            "SELECT count(*) FROM login_failures WHERE reason = 'invalid_otp'"
        )
        .await,
        5
    );
    // Enrolment cannot be restarted over an enabled factor.
    let (status, body) = app
        .post_json("/api/v1/auth/mfa/totp", Some(&owner), json!({}))
        .await;
    expect_error(status, &body, StatusCode::CONFLICT, "CONFLICT");
}
