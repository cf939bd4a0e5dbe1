//! `POST/GET /api/v1/admin/gateways`: required credential fields per provider, credentials sealed
//! at rest, secrets shown only as a keyed fingerprint and public identifiers as their last four
//! characters; the credential check.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::json;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEY_SECRET: &str = "example-secret-ending-in-WXYZ";

fn razorpay_account() -> serde_json::Value {
    json!({
        "provider": "razorpay",
        "label": "Razorpay (test)",
        "environment": "test",
        "credentials": {
            "key_id": "rzp_test_EXAMPLEKEYID01",
            "key_secret": KEY_SECRET,
            "webhook_secret": "example-webhook-secret-9876",
        },
    })
}

#[tokio::test]
async fn an_account_needs_its_providers_credential_fields() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let before = app.db.count("gateway_accounts").await;

    let mut missing = razorpay_account();
    missing["credentials"]
        .as_object_mut()
        .unwrap()
        .remove("key_secret");
    missing["credentials"]["webhook_secret"] = json!("   ");
    let (status, body) = app
        .post_json("/api/v1/admin/gateways", Some(&admin), missing.clone())
        .await;
    expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    let details = &body["error"]["details"];
    assert!(details["credentials.key_secret"].is_string(), "{body}");
    assert!(details["credentials.webhook_secret"].is_string(), "{body}");

    let mut unknown = razorpay_account();
    unknown["credentials"]["salt"] = json!("x");
    unknown["provider"] = json!("razorpay");
    let (status, body) = app
        .post_json("/api/v1/admin/gateways", Some(&admin), unknown.clone())
        .await;
    expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert!(
        body["error"]["details"]["credentials.salt"].is_string(),
        "{body}"
    );

    let mut payu = razorpay_account();
    payu["provider"] = json!("payu");
    let (status, body) = app
        .post_json("/api/v1/admin/gateways", Some(&admin), payu.clone())
        .await;
    expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert!(
        body["error"]["details"]["credentials.salt"].is_string(),
        "{body}"
    );
    assert!(
        body["error"]["details"]["credentials.key"].is_string(),
        "{body}"
    );

    let mut nowhere = razorpay_account();
    nowhere["provider"] = json!("paypal");
    nowhere["environment"] = json!("prod");
    let (status, body) = app
        .post_json("/api/v1/admin/gateways", Some(&admin), nowhere.clone())
        .await;
    expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert!(body["error"]["details"]["provider"].is_string(), "{body}");
    assert!(
        body["error"]["details"]["environment"].is_string(),
        "{body}"
    );

    assert_eq!(
        app.db.count("gateway_accounts").await,
        before,
        "nothing written"
    );
}

#[tokio::test]
async fn credentials_are_sealed_and_shown_only_as_their_last_four_characters() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let merchant = app.create_merchant(&admin, "Chai Point").await;
    let mut request = razorpay_account();
    request["merchant_id"] = json!(merchant.id);
    let (status, body) = app
        .post_json("/api/v1/admin/gateways", Some(&admin), request.clone())
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let created = &body["data"];
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["provider"], "razorpay");
    assert_eq!(created["ownership"], "merchant");
    assert_eq!(created["merchant_id"], merchant.id);
    assert_eq!(created["credentials"]["key_id"], "…ID01");
    for secret in ["key_secret", "webhook_secret"] {
        let hint = created["credentials"][secret].as_str().unwrap();
        assert!(
            hint.starts_with("hmac:") && hint.len() == 13,
            "{secret}: {hint}"
        );
    }
    assert!(!body.to_string().contains(KEY_SECRET));
    assert!(!body.to_string().contains("WXYZ") && !body.to_string().contains("9876"));

    let (status, read) = app
        .get(&format!("/api/v1/admin/gateways/{id}"), Some(&admin))
        .await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert_eq!(read["data"], *created);
    let (status, list) = app
        .get("/api/v1/admin/gateways?provider=razorpay", Some(&admin))
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert!(
        list["data"]["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["id"] == id.as_str())
    );
    assert!(!list.to_string().contains(KEY_SECRET));

    // At rest: ciphertext only.
    let dump = app.db.dump().await;
    assert!(
        !dump.contains(KEY_SECRET),
        "a credential is stored in the clear"
    );

    // Operators only.
    let token = merchant.token(&app).await;
    let (status, body) = app.get("/api/v1/admin/gateways", Some(&token)).await;
    expect_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
    let (status, body) = app
        .get("/api/v1/admin/gateways/gwa_nope", Some(&admin))
        .await;
    assert!(
        status == StatusCode::NOT_FOUND || status == StatusCode::BAD_REQUEST,
        "{body}"
    );
}

#[tokio::test]
async fn an_operator_checks_an_accounts_credentials_without_moving_money() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/orders"))
        .and(query_param("count", "1"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "entity": "collection", "count": 0, "items": [] })),
        )
        .mount(&server)
        .await;
    let app = TestApp::spawn_with(&[("GATEWAY_RAZORPAY_TEST_URL", server.uri().as_str())]).await;
    let admin = app.admin_token().await;
    let (status, body) = app
        .post_json("/api/v1/admin/gateways", Some(&admin), razorpay_account())
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["data"]["id"].as_str().unwrap().to_string();
    let (status, body) = app
        .post_json(
            &format!("/api/v1/admin/gateways/{id}/check"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["ok"], true, "{body}");

    server.reset().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({ "error": {
            "code": "BAD_REQUEST_ERROR", "description": "The api key provided is invalid",
            "source": "NA", "step": "NA", "reason": "NA", "metadata": {} } })))
        .mount(&server)
        .await;
    let (status, body) = app
        .post_json(
            &format!("/api/v1/admin/gateways/{id}/check"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["ok"], false);
    assert_eq!(body["data"]["problem"], "configuration");
    let requests = server.received_requests().await.unwrap();
    assert!(requests.iter().all(|r| r.method == http::Method::GET));
}

/// F10: a key whose prefix shows the other mode is refused on the account, naming the field, and
/// nothing is stored. Test traffic (autopay included) must never reach live keys.
#[tokio::test]
async fn f10_a_live_key_on_a_test_account_and_a_test_key_on_a_live_account_are_refused() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let before = app.db.count("gateway_accounts").await;
    let stripe = |environment: &str, secret_key: &str, publishable_key: &str| {
        json!({
            "provider": "stripe", "label": "Stripe", "environment": environment,
            "credentials": { "secret_key": secret_key, "publishable_key": publishable_key,
                             "webhook_secret": format!("whsec_{secret_key}") },
        })
    };
    let mut live_razorpay_on_test = razorpay_account();
    live_razorpay_on_test["credentials"]["key_id"] =
        json!(format!("rzp_live_{}", "EXAMPLEKEYID01"));
    let mut test_razorpay_on_live = razorpay_account();
    test_razorpay_on_live["environment"] = json!("live");
    let cases = [
        (live_razorpay_on_test, vec!["credentials.key_id"]),
        (test_razorpay_on_live, vec!["credentials.key_id"]),
        (
            stripe(
                "test",
                "sk_live_EXAMPLE_NOT_REAL",
                "pk_live_EXAMPLE_NOT_REAL",
            ),
            vec!["credentials.publishable_key", "credentials.secret_key"],
        ),
        (
            stripe(
                "test",
                "rk_live_EXAMPLE_NOT_REAL",
                "pk_test_EXAMPLE_NOT_REAL",
            ),
            vec!["credentials.secret_key"],
        ),
        (
            stripe(
                "live",
                "sk_test_EXAMPLE_NOT_REAL",
                "pk_live_EXAMPLE_NOT_REAL",
            ),
            vec!["credentials.secret_key"],
        ),
        (
            stripe("test", "EXAMPLE_NOT_A_KEY", "pk_test_EXAMPLE_NOT_REAL"),
            vec!["credentials.secret_key"],
        ),
    ];
    for (request, fields) in cases {
        let (status, body) = app
            .post_json("/api/v1/admin/gateways", Some(&admin), request.clone())
            .await;
        expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        let details = body["error"]["details"].as_object().unwrap();
        let named: Vec<&str> = details.keys().map(String::as_str).collect();
        assert_eq!(named, fields, "{request} → {body}");
        assert!(
            !body.to_string().contains("EXAMPLE"),
            "the error never echoes the key: {body}"
        );
    }
    assert_eq!(app.db.count("gateway_accounts").await, before);
    // The matching keys are taken.
    for request in [
        razorpay_account(),
        stripe(
            "test",
            "rk_test_EXAMPLE_NOT_REAL",
            "pk_test_EXAMPLE_NOT_REAL",
        ),
        stripe(
            "live",
            "sk_live_EXAMPLE_NOT_REAL",
            "pk_live_EXAMPLE_NOT_REAL",
        ),
    ] {
        let (status, body) = app
            .post_json("/api/v1/admin/gateways", Some(&admin), request)
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
}

/// F8: two active accounts of a provider with the same webhook secret cannot be told apart (the
/// first tried would take every event); adding the second is refused and nothing is stored.
#[tokio::test]
async fn f8_an_account_whose_webhook_secret_an_active_account_uses_is_refused() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (status, body) = app
        .post_json("/api/v1/admin/gateways", Some(&admin), razorpay_account())
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let before = app.db.count("gateway_accounts").await;
    let mut twin = razorpay_account();
    twin["label"] = json!("Razorpay (another key, same webhook secret)");
    twin["credentials"]["key_id"] = json!("rzp_test_EXAMPLEKEYID02");
    twin["credentials"]["key_secret"] = json!("another-example-secret");
    let (status, body) = app
        .post_json("/api/v1/admin/gateways", Some(&admin), twin.clone())
        .await;
    expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert!(
        body["error"]["details"]["credentials.webhook_secret"].is_string(),
        "{body}"
    );
    assert!(
        !body.to_string().contains("example-webhook-secret"),
        "{body}"
    );
    assert_eq!(app.db.count("gateway_accounts").await, before);
    twin["credentials"]["webhook_secret"] = json!("another-example-webhook-secret");
    let (status, body) = app
        .post_json("/api/v1/admin/gateways", Some(&admin), twin)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}
