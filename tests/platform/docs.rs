//! The API document and its page, as an integrating developer meets them: the document served at
//! `/api/v1/openapi.json` is the one the code builds, and `/docs` renders it in headless
//! Chromium that cannot reach anything but this server.

use crate::browser::Browser;
use crate::support::*;
use reqwest::StatusCode;
use serde_json::Value;

#[tokio::test]
async fn the_served_document_is_the_one_the_code_builds() {
    let app = TestApp::spawn().await;
    let response = app
        .http
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    let served: Value = response.json().await.unwrap();
    assert_eq!(served["openapi"], "3.1.0");
    assert_eq!(served, functions::openapi::document());
}

#[tokio::test]
async fn the_docs_page_shows_the_pay_operation_and_its_request_schema_offline() {
    let app = TestApp::spawn().await;
    let entry = app.http.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(entry.status(), StatusCode::SEE_OTHER);
    assert_eq!(entry.headers()["location"], "/docs/index.html");
    let page = app
        .http
        .get(app.url("/docs/index.html"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let policy = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        policy.contains("script-src 'self'") && policy.contains("default-src 'none'"),
        "the page runs only this server's scripts: {policy}"
    );
    let missing = app
        .http
        .get(app.url("/docs/no-such-file.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);

    let profile = temp_dir("docs-chromium");
    let browser = Browser::start_offline(&profile.join("profile")).await;
    browser.open(&app.url("/docs")).await;
    assert!(
        browser.wait_for_text(r#"data-path="/api/v1/pay""#).await,
        "Swagger UI lists POST /api/v1/pay"
    );
    browser
        .click(r#".opblock-post .opblock-summary-control:has([data-path="/api/v1/pay"])"#)
        .await;
    let open = "return document.querySelector('.opblock-post.is-open')?.innerText ?? ''";
    let mut shown = String::new();
    for _ in 0..100 {
        shown = browser
            .execute(open)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string();
        if shown.contains("Request body") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    for expected in [
        "Request body",
        "application/json",
        "order_id",
        "return_url",
        "customer",
    ] {
        assert!(
            shown.contains(expected),
            "{expected} in the open operation: {shown}"
        );
    }
    // The request body's schema, by name, in the operation's own Schema tab.
    browser
        .click(".opblock-post.is-open .opblock-section-request-body [data-name=model]")
        .await;
    let mut schema_shown = false;
    for _ in 0..100 {
        let text = browser.execute(open).await;
        if text.as_str().is_some_and(|t| t.contains("PayRequest")) {
            schema_shown = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        schema_shown,
        "the PayRequest schema is shown under POST /api/v1/pay"
    );
    let fetched = browser
        .execute("return performance.getEntriesByType('resource').map(e => e.name)")
        .await;
    let fetched = fetched.as_array().expect("the resources the page loaded");
    assert!(
        fetched.iter().any(|url| url
            .as_str()
            .is_some_and(|u| u.ends_with("/api/v1/openapi.json"))),
        "the page read the document: {fetched:?}"
    );
    for url in fetched {
        assert!(
            url.as_str().is_some_and(|u| u.starts_with(&app.url("/"))),
            "everything comes from this server: {url}"
        );
    }
}

/// `openapi-spec-validator` (from the Python package index, installed by `scripts/test`) checks
/// the checked-in document against the OpenAPI 3.1 specification's own schema and rules.
#[test]
fn a_third_party_validator_accepts_the_document() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let venv = root.join("target/venv/bin/openapi-spec-validator");
    let validator = if venv.exists() {
        venv
    } else {
        "openapi-spec-validator".into()
    };
    let output = std::process::Command::new(validator)
        .arg(root.join("docs/openapi.json"))
        .output()
        .expect(
            "openapi-spec-validator must be installed: scripts/test installs it into target/venv",
        );
    assert!(
        output.status.success(),
        "the document is not valid OpenAPI 3.1:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
