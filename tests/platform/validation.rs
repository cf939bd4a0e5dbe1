//! Bad input is refused with field-level details, and nothing is written.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn bad_input_is_a_400_with_field_details_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let merchants_before = app.db.count("merchants").await;
    let audit_before = app.db.count("audit_log").await;
    let users_before = app.db.count("users").await;

    let raw = |body: String, content_type: &str| {
        app.http
            .post(app.url("/api/v1/admin/merchants"))
            .bearer_auth(&admin)
            .header("content-type", content_type.to_string())
            .body(body)
    };
    let huge = json!({ "name": "x".repeat(70 * 1024), "email": "big@shop.test" }).to_string();
    let cases = vec![
        ("malformed JSON", raw(r#"{"name": "Shop", "email": "#.into(), "application/json"), "body"),
        ("wrong type", raw(json!({"name": 42, "email": "a@shop.test"}).to_string(), "application/json"), "name"),
        ("unknown field", raw(json!({"name": "Shop", "email": "a@shop.test", "is_admin": true}).to_string(), "application/json"), "is_admin"),
        ("missing field", raw(json!({"name": "Shop"}).to_string(), "application/json"), "email"),
        ("invalid email", raw(json!({"name": "Shop", "email": "not-an-email"}).to_string(), "application/json"), "email"),
        ("empty name", raw(json!({"name": "  ", "email": "a@shop.test"}).to_string(), "application/json"), "name"),
        ("nested field", raw(json!({"name": "Shop", "email": "a@shop.test", "user": {"email": "u@shop.test", "password": "short"}}).to_string(), "application/json"), "user.password"),
        ("negative limit", raw(json!({"name": "Shop", "email": "a@shop.test", "rate_limit_per_minute": -5}).to_string(), "application/json"), "rate_limit_per_minute"),
        ("oversized body", raw(huge, "application/json"), "body"),
        ("empty body", raw(String::new(), "application/json"), "body"),
        ("unsupported type", raw("name=Shop".into(), "text/plain"), "body"),
    ];
    for (label, request, field) in cases {
        let (status, body) = send(request).await;
        let details = expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        assert!(
            details[field].is_string(),
            "{label}: expected details.{field}, got {body}"
        );
    }

    for (label, path) in [
        ("number as id", "/api/v1/admin/merchants/123"),
        (
            "another kind of id",
            "/api/v1/admin/merchants/usr_0123456789abcdef0123456789abcdef",
        ),
        (
            "upper-case id",
            "/api/v1/admin/merchants/mer_0123456789ABCDEF0123456789ABCDEF",
        ),
    ] {
        let (status, body) = app.get(path, Some(&admin)).await;
        let details = expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        assert!(details["id"].is_string(), "{label}: {body}");
    }
    let (status, body) = send(
        app.http
            .post(app.url("/api/v1/admin/merchants/42/suspend"))
            .bearer_auth(&admin)
            .json(&json!({"reason": "x"})),
    )
    .await;
    expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=abc", "limit"),
        ("starting_after=bogus", "starting_after"),
        ("status=gone", "status"),
        ("colour=red", "colour"),
    ] {
        let (status, body) = app
            .get(&format!("/api/v1/admin/merchants?{query}"), Some(&admin))
            .await;
        let details = expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        assert!(details[field].is_string(), "{query}: {body}");
    }
    let (status, body) = app
        .post_json(
            "/api/v1/auth/login",
            None,
            json!({"email": "nope", "password": "whatever"}),
        )
        .await;
    let details = expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert!(details["email"].is_string());

    assert_eq!(
        app.db.count("merchants").await,
        merchants_before,
        "nothing written"
    );
    assert_eq!(app.db.count("users").await, users_before, "nothing written");
    assert_eq!(
        app.db.count("audit_log").await,
        audit_before,
        "nothing written"
    );
}

#[tokio::test]
async fn envelopes_request_ids_and_unknown_routes() {
    let app = TestApp::spawn().await;
    let response = app
        .http
        .get(app.url("/api/health"))
        .header("X-Request-Id", "trace-abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-abc-123");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["success"], true);
    assert_eq!(body["data"]["status"], "ok");
    assert!(body["message"].is_string() && body["timestamp"].is_string());

    let response = app.http.get(app.url("/api/nowhere")).send().await.unwrap();
    let id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(id.starts_with("req_"), "{id}");
    let (status, body): (_, serde_json::Value) =
        (response.status(), response.json().await.unwrap());
    expect_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    // The error body names the request too, as given or as made.
    assert_eq!(body["error"]["request_id"], id.as_str(), "{body}");
    let response = app
        .http
        .get(app.url("/api/nowhere"))
        .header("X-Request-Id", "trace-def-456")
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["request_id"], "trace-def-456", "{body}");
    let response = app
        .http
        .delete(app.url("/api/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()["allow"], "GET");
}

#[tokio::test]
async fn merchants_page_with_a_cursor() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(app.create_merchant(&admin, &format!("Paged {i}")).await.id);
    }
    ids.reverse(); // newest first
    let (status, first) = app
        .get("/api/v1/admin/merchants?limit=2", Some(&admin))
        .await;
    assert_eq!(status, StatusCode::OK);
    let page: Vec<&str> = first["data"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(page, vec![ids[0].as_str(), ids[1].as_str()]);
    assert_eq!(first["data"]["has_more"], true);
    let (_, rest) = app
        .get(
            &format!(
                "/api/v1/admin/merchants?limit=100&starting_after={}",
                ids[1]
            ),
            Some(&admin),
        )
        .await;
    let rest: Vec<&str> = rest["data"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        rest,
        vec![ids[2].as_str(), ids[3].as_str(), ids[4].as_str()]
    );
    let (_, suspended) = app
        .get("/api/v1/admin/merchants?status=suspended", Some(&admin))
        .await;
    assert_eq!(suspended["data"]["items"].as_array().unwrap().len(), 0);
}

/// Every route the API document declares with a JSON body refuses a form, by name, whoever
/// calls it; the routes that declare a form (browsers' and gateways' posts) are not refused.
#[tokio::test]
async fn forms_are_taken_only_where_the_api_document_declares_them() {
    use functions::api::Body;
    use functions::registry::{Access, FUNCTIONS};
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let merchant = app.create_merchant(&admin, "Form Shop").await;
    let merchants_before = app.db.count("merchants").await;
    let (mut refused, mut taken) = (0, 0);
    for route in FUNCTIONS.iter().flat_map(|f| f.routes()) {
        // Routes that read no body (logout among them) are not called.
        if route.method == http::Method::GET || matches!(route.api.body, Body::Empty) {
            continue;
        }
        // Any value matches a path parameter: the refusal comes before the handler reads it.
        let path = route
            .path
            .split('/')
            .map(|s| if s.starts_with('{') { "x_1" } else { s })
            .collect::<Vec<_>>()
            .join("/");
        let method = reqwest::Method::from_bytes(route.method.as_str().as_bytes()).unwrap();
        let mut request = app
            .http
            .request(method, app.url(&path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("amount=100&order_id=form-1");
        request = match route.access {
            Access::Merchant => request
                .header("x-client-key", &merchant.client_key)
                .header("x-client-secret", &merchant.client_secret),
            Access::Admin | Access::MerchantOrAdmin => request.bearer_auth(&admin),
            _ => request,
        };
        let (status, body) = send(request).await;
        let said = body["error"]["details"]["body"]
            .as_str()
            .unwrap_or_default();
        match route.api.body {
            Body::Json(_) | Body::OptionalJson(_) => {
                let details =
                    expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
                assert!(
                    details["body"].as_str().unwrap().contains("must be JSON"),
                    "{} {}: {body}",
                    route.method,
                    route.path
                );
                refused += 1;
            }
            Body::Form(_) | Body::Callback => {
                assert!(
                    !said.contains("must be JSON"),
                    "{} {} declares a form: {body}",
                    route.method,
                    route.path
                );
                taken += 1;
            }
            Body::Empty => {}
        }
    }
    assert!(
        refused > 30 && taken >= 3,
        "{refused} refused, {taken} taken"
    );
    assert_eq!(app.db.count("merchants").await, merchants_before);
}
