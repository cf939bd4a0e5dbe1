//! Authentication and authorisation: key pairs, JWTs, roles, refresh rotation.

use crate::support::*;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn reason(body: &Value) -> &str {
    body["error"]["details"]["reason"].as_str().unwrap_or("")
}

fn forge(claims: Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()).unwrap(),
    )
    .unwrap()
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[tokio::test]
async fn api_keys_are_checked() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Key Shop").await;
    let path = format!("/api/v1/merchant/{}", m.id);

    let (status, body) = app
        .get_with_key(&path, &m.client_key, &m.client_secret)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["id"], m.id.as_str());
    assert!(
        !body.to_string().contains(&m.client_secret),
        "the secret must never be shown again"
    );

    let (body_part, last) = m.client_secret.split_at(m.client_secret.len() - 1);
    let wrong_secret = format!("{body_part}{}", if last == "x" { "y" } else { "x" });
    let (status, body) = app.get_with_key(&path, &m.client_key, &wrong_secret).await;
    expect_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    assert_eq!(reason(&body), "invalid_credentials");

    let (status, body) = app
        .get_with_key(&path, "lsp_test_AAAAAAAAAAAAAAAAAAAAAAAA", &m.client_secret)
        .await;
    expect_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    assert_eq!(reason(&body), "invalid_credentials");

    // The same key body presented as a live key is a different, unknown key.
    let as_live = m.client_key.replacen("lsp_test_", "lsp_live_", 1);
    let (status, body) = app.get_with_key(&path, &as_live, &m.client_secret).await;
    expect_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");

    let (status, body) = app.get(&path, None).await;
    expect_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    assert_eq!(reason(&body), "missing_credentials");
}

#[tokio::test]
async fn a_live_key_is_refused_while_live_mode_is_off() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Live Shop").await;
    let merchant_token = m.token(&app).await;

    // Live keys cannot even be issued before activation.
    let (status, body) = app
        .post_json(
            "/api/v1/merchant/credentials/regenerate",
            Some(&merchant_token),
            json!({"mode": "live"}),
        )
        .await;
    let details = expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert!(details["mode"].is_string(), "{body}");

    let patch = |live: bool| {
        app.http
            .patch(app.url(&format!("/api/v1/admin/merchants/{}", m.id)))
            .bearer_auth(&admin)
            .json(&json!({"live_enabled": live}))
    };
    assert_eq!(send(patch(true)).await.0, StatusCode::OK);
    let (status, body) = app
        .post_json(
            "/api/v1/merchant/credentials/regenerate",
            Some(&merchant_token),
            json!({"mode": "live"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let live_key = body["data"]["client_key"].as_str().unwrap().to_string();
    let live_secret = body["data"]["client_secret"].as_str().unwrap().to_string();
    assert!(live_key.starts_with("lsp_live_") && live_secret.starts_with("lsp_live_"));
    let path = format!("/api/v1/merchant/{}", m.id);
    assert_eq!(
        app.get_with_key(&path, &live_key, &live_secret).await.0,
        StatusCode::OK
    );

    assert_eq!(send(patch(false)).await.0, StatusCode::OK);
    let (status, body) = app.get_with_key(&path, &live_key, &live_secret).await;
    expect_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    assert_eq!(reason(&body), "mode_not_enabled");
    // The test pair keeps working.
    assert_eq!(
        app.get_with_key(&path, &m.client_key, &m.client_secret)
            .await
            .0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn bad_tokens_are_refused() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let good = claims_of(&admin);
    let now = chrono::Utc::now().timestamp();
    let path = "/api/v1/admin/merchants";
    assert_eq!(app.get(path, Some(&admin)).await.0, StatusCode::OK);

    let mut expired = good.clone();
    expired["iat"] = json!(now - 3600);
    expired["exp"] = json!(now - 600);
    let mut wrong_audience = good.clone();
    wrong_audience["aud"] = json!("some-other-api");
    let mut wrong_issuer = good.clone();
    wrong_issuer["iss"] = json!("someone-else");
    let mut no_exp = good.clone();
    no_exp.as_object_mut().unwrap().remove("exp");

    let header_none = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let body = URL_SAFE_NO_PAD.encode(good.to_string());
    let alg_none = format!("{header_none}.{body}.");

    let mut parts: Vec<String> = admin.split('.').map(str::to_string).collect();
    let mut tampered_claims = good.clone();
    tampered_claims["sub"] = json!("usr_0123456789abcdef0123456789abcdef");
    parts[1] = URL_SAFE_NO_PAD.encode(tampered_claims.to_string());
    let tampered = parts.join(".");

    let cases = [
        (forge(expired, JWT_SECRET), "token_expired"),
        (forge(wrong_audience, JWT_SECRET), "invalid_token"),
        (forge(wrong_issuer, JWT_SECRET), "invalid_token"),
        (forge(no_exp, JWT_SECRET), "invalid_token"),
        (
            forge(good.clone(), "another-secret-that-is-long-enough-000000"),
            "invalid_token",
        ),
        (alg_none, "invalid_token"),
        (tampered, "invalid_token"),
        ("not.a.jwt".to_string(), "invalid_token"),
    ];
    for (token, want) in cases {
        let (status, body) = app.get(path, Some(&token)).await;
        expect_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
        assert_eq!(reason(&body), want, "{token}: {body}");
    }

    // A well-signed token for a user who does not exist is refused too.
    let mut ghost = good;
    ghost["sub"] = json!("usr_0123456789abcdef0123456789abcdef");
    let (status, body) = app.get(path, Some(&forge(ghost, JWT_SECRET))).await;
    expect_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    assert_eq!(reason(&body), "inactive_user");
}

#[tokio::test]
async fn roles_are_enforced() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Role Shop").await;
    let merchant_token = m.token(&app).await;

    let (status, body) = app
        .get("/api/v1/admin/merchants", Some(&merchant_token))
        .await;
    expect_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
    let (status, body) = send(
        app.http
            .get(app.url("/api/v1/admin/merchants"))
            .header("X-Client-Key", &m.client_key)
            .header("X-Client-Secret", &m.client_secret),
    )
    .await;
    expect_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
    let (status, body) = app
        .get("/api/v1/system/status", Some(&merchant_token))
        .await;
    expect_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");

    // Operators have no API keys of their own.
    let (status, body) = app
        .post_json(
            "/api/v1/merchant/credentials/regenerate",
            Some(&admin),
            json!({}),
        )
        .await;
    expect_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");

    let (status, body) = app
        .get(&format!("/api/v1/merchant/{}", m.id), Some(&merchant_token))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app.get("/api/v1/system/status", Some(&admin)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["database"]["reachable"], true);
    assert_eq!(
        body["data"]["database"]["migration_version"],
        shared::db::migrate::latest_version()
    );
}

#[tokio::test]
async fn refresh_tokens_rotate_and_reuse_revokes_the_family() {
    let app = TestApp::spawn().await;
    app.create_admin("rotation@lightspeedpay.test").await;
    let (status, login) = app
        .login("rotation@lightspeedpay.test", ADMIN_PASSWORD)
        .await;
    assert_eq!(status, StatusCode::OK, "{login}");
    assert_eq!(login["data"]["token_type"], "Bearer");
    assert_eq!(login["data"]["expires_in"], 900);
    let first = login["data"]["refresh_token"].as_str().unwrap().to_string();

    let refresh = |token: &str| {
        app.post_json(
            "/api/v1/auth/refresh",
            None,
            json!({ "refresh_token": token }),
        )
    };
    let (status, body) = refresh(&first).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let second = body["data"]["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(first, second);
    let access = body["data"]["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        app.get("/api/v1/admin/merchants", Some(&access)).await.0,
        StatusCode::OK
    );

    let (status, body) = refresh(&second).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let third = body["data"]["refresh_token"].as_str().unwrap().to_string();

    // The first token is spent: presenting it again revokes every token of the login.
    let (status, body) = refresh(&first).await;
    expect_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    assert_eq!(reason(&body), "refresh_token_reused");
    let (status, body) = refresh(&third).await;
    expect_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    assert_eq!(reason(&body), "invalid_refresh_token");

    // Another login is a new family and is unaffected.
    let (_, again) = app
        .login("rotation@lightspeedpay.test", ADMIN_PASSWORD)
        .await;
    let (status, _) = refresh(again["data"]["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK);

    let (status, body) = refresh("lsprt_unknown").await;
    expect_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    let stored: i64 = app
        .db
        .owner()
        .await
        .query_one(
            "SELECT count(*) FROM refresh_tokens WHERE revoked_reason = 'reuse_detected'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, 3, "every token of the family is revoked");
}

#[tokio::test]
async fn logins_take_json_not_forms_and_refuse_wrong_passwords() {
    let app = TestApp::spawn().await;
    app.create_admin("form@lightspeedpay.test").await;
    // The API document declares JSON for login; a form is refused before any password check.
    let (status, body) = send(
        app.http
            .post(app.url("/api/v1/auth/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "email=form%40lightspeedpay.test&password={ADMIN_PASSWORD}"
            )),
    )
    .await;
    let details = expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert!(
        details["body"].as_str().unwrap().contains("must be JSON"),
        "{body}"
    );
    let (status, body) = app.login("form@lightspeedpay.test", ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (status, body) = app
        .login("form@lightspeedpay.test", "wrong-password-entirely")
        .await;
    expect_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    assert_eq!(reason(&body), "invalid_login");
    let (status, body) = app
        .login("nobody@lightspeedpay.test", "wrong-password-entirely")
        .await;
    expect_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    assert_eq!(
        reason(&body),
        "invalid_login",
        "unknown emails look exactly like wrong passwords"
    );
}
