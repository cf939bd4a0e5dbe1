//! The unauthenticated surface: checkout pages, browser returns, gateway webhooks and the
//! sandbox. Webhooks try only the account they name, public routes are metered, the redirect to
//! the merchant is signed, pages show no internal detail and carry a CSP, and malformed input
//! never causes a 5xx or a write a valid request would not make.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::crypto::cipher::KeyRing;
use shared::db::{self, Scope};
use shared::gateway_accounts::{self, NewGatewayAccount, Ownership};
use shared::gateways::sandbox::sign_webhook;
use shared::ids::GatewayAccountId;
use shared::secret::Secret;

/// Stores a platform sandbox account with `webhook_secret`, sealed under `keys` (the app's own
/// ring unless a test wants an account the app cannot open).
async fn sandbox_account(
    app: &TestApp,
    keys: Option<&KeyRing>,
    api_key: &str,
    webhook_secret: &str,
) -> GatewayAccountId {
    let mut client = app.app.db.client().await.unwrap();
    let tx = db::begin(&mut client, Scope::System).await.unwrap();
    let account = NewGatewayAccount {
        provider: "sandbox".into(),
        label: "another sandbox".into(),
        environment: shared::mode::Mode::Test,
        ownership: Ownership::Platform,
        credentials: [
            ("api_key".to_string(), Secret::new(api_key.to_string())),
            (
                "webhook_secret".to_string(),
                Secret::new(webhook_secret.to_string()),
            ),
        ]
        .into(),
    };
    let id = gateway_accounts::create(&tx, keys.unwrap_or(&app.app.config.encryption), &account)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    id
}

fn sandbox_event(event_id: &str) -> String {
    json!({
        "id": event_id, "type": "payment.captured", "created": chrono::Utc::now().timestamp(),
        "data": { "order_id": "sbx_order_nosuchorder000000001", "receipt": "att_0000000000000000000000000000000a",
                  "status": "paid", "payment_id": "sbx_pay_test0000000000000001", "error_reason": null,
                  "amount": 10_000, "currency": "INR" },
    })
    .to_string()
}

async fn post_webhook(app: &TestApp, path: &str, body: &str, secret: &str) -> (StatusCode, Value) {
    let signature = sign_webhook(secret, chrono::Utc::now().timestamp(), body.as_bytes());
    send(
        app.http
            .post(app.url(path))
            .header("content-type", "application/json")
            .header("X-Sandbox-Signature", signature)
            .body(body.to_string()),
    )
    .await
}

#[tokio::test]
async fn f5_a_webhook_opens_only_the_account_it_names() {
    let app = TestApp::spawn().await;
    let seeded = app.sandbox_secret().await;
    let other_secret = "sbx_whsec_other00000000000000000000001";
    let other = sandbox_account(&app, None, "sbx_key_other0000000000000001", other_secret).await;
    let seed_id = {
        let mut client = app.app.db.client().await.unwrap();
        let tx = db::begin(&mut client, Scope::System).await.unwrap();
        let id = shared::seed::sandbox_account(&app.app, &tx).await.unwrap();
        tx.commit().await.unwrap();
        id
    };

    // Signed by the other account but sent to the seeded account's URL: only the named account's
    // secret is tried, so a secret that is valid for the provider is not enough.
    let body = sandbox_event("sbx_evt_named000000000000000001");
    let (status, answer) = post_webhook(
        &app,
        &format!("/api/v1/webhooks/sandbox/{seed_id}"),
        &body,
        other_secret,
    )
    .await;
    expect_error(status, &answer, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    assert_eq!(app.db.count("gateway_events").await, 0);
    // An id that names no account (or no sandbox account) verifies nothing either.
    let (status, _) = post_webhook(
        &app,
        &format!("/api/v1/webhooks/sandbox/{}", GatewayAccountId::generate()),
        &body,
        &seeded,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) =
        post_webhook(&app, "/api/v1/webhooks/sandbox/not-an-id", &body, &seeded).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.db.count("gateway_events").await, 0);

    // Sent to its own account's URL, it is stored against that account.
    let (status, answer) = post_webhook(
        &app,
        &format!("/api/v1/webhooks/sandbox/{other}"),
        &body,
        other_secret,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let account: uuid::Uuid = app
        .db
        .owner()
        .await
        .query_one("SELECT gateway_account_id FROM gateway_events", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(account, other.as_uuid());

    // The older provider-wide path still takes events, trying the provider's accounts.
    let body = sandbox_event("sbx_evt_oldpath0000000000000001");
    let (status, answer) = post_webhook(&app, "/api/v1/webhooks/sandbox", &body, &seeded).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(app.db.count("gateway_events").await, 2);

    // New orders tell the gateway the account-specific URL.
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Named Shop").await;
    let (_, created) = app
        .pay(&m, &payment("order-named", 10_000, false), None)
        .await;
    app.drain().await;
    let notify: String = app
        .db
        .owner()
        .await
        .query_one("SELECT notify_url FROM sandbox_orders", &[])
        .await
        .unwrap()
        .get(0);
    assert!(
        notify.ends_with(&format!("/api/v1/webhooks/sandbox/{seed_id}")),
        "{notify} for {created}"
    );
}

#[tokio::test]
async fn f17_an_account_that_cannot_be_opened_does_not_fail_the_others() {
    let app = TestApp::spawn().await;
    // Sealed under a key the platform's ring does not hold (a key removed before a reseal).
    let removed = KeyRing::parse(&KeyRing::generate_spec("removed"), None).unwrap();
    let broken = sandbox_account(
        &app,
        Some(&removed),
        "sbx_key_broken000000000000001",
        "sbx_whsec_broken00000000000000000001",
    )
    .await;
    // Created after the broken one, so the provider-wide path meets the broken account first.
    let good_secret = "sbx_whsec_good0000000000000000000001";
    let good = sandbox_account(&app, None, "sbx_key_good00000000000000001", good_secret).await;
    assert!(broken.as_uuid() < good.as_uuid());

    let body = sandbox_event("sbx_evt_survives0000000000000001");
    let (status, answer) = post_webhook(&app, "/api/v1/webhooks/sandbox", &body, good_secret).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (status, answer) = post_webhook(
        &app,
        &format!("/api/v1/webhooks/sandbox/{good}"),
        &sandbox_event("sbx_evt_survives0000000000000002"),
        good_secret,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(app.db.count("gateway_events").await, 2);
    // The broken account's own URL is refused, not an internal error, and stores nothing.
    let (status, answer) = post_webhook(
        &app,
        &format!("/api/v1/webhooks/sandbox/{broken}"),
        &sandbox_event("sbx_evt_broken00000000000000001"),
        "sbx_whsec_broken00000000000000000001",
    )
    .await;
    expect_error(status, &answer, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    assert_eq!(app.db.count("gateway_events").await, 2);
}

#[tokio::test]
async fn f5_public_routes_are_metered_per_address() {
    let app = TestApp::spawn_with(&[("PUBLIC_RATE_LIMIT_PER_MINUTE", "4")]).await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Metered Shop").await;
    let (_, created) = app
        .pay(&m, &payment("order-metered", 10_000, false), None)
        .await;
    let id = created["data"]["id"].as_str().unwrap().to_string();
    app.drain().await;
    let before = app.db.count("rate_limit_counters").await;

    // Checkout, return, webhook and sandbox requests from one address share one budget.
    let paths = [
        ("GET", format!("/api/v1/checkout/{id}")),
        ("GET", format!("/api/v1/checkout/{id}/return")),
        ("POST", "/api/v1/webhooks/sandbox".to_string()),
        (
            "GET",
            "/sandbox/pay/sbx_order_nosuchorder000000001".to_string(),
        ),
    ];
    // (The worker's own call to the sandbox API came from this address too.)
    let mut previous = None;
    for (verb, path) in paths.iter().cycle() {
        let request = match *verb {
            "GET" => app.http.get(app.url(path)),
            _ => app.http.post(app.url(path)).body("{}"),
        };
        let answer = request.send().await.unwrap();
        assert!(
            answer.headers().contains_key("x-ratelimit-limit"),
            "{path}: {:?}",
            answer.headers()
        );
        if answer.status() == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(previous, Some(0), "{path}");
            break;
        }
        let remaining: u32 = answer.headers()["x-ratelimit-remaining"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        if let Some(previous) = previous {
            assert_eq!(remaining + 1, previous, "{path}");
        }
        previous = Some(remaining);
    }
    for (verb, path) in &paths {
        let request = match *verb {
            "GET" => app.http.get(app.url(path)),
            _ => app.http.post(app.url(path)).body("{}"),
        };
        let answer = request.send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::TOO_MANY_REQUESTS, "{path}");
        assert!(answer.headers().contains_key("retry-after"), "{path}");
        assert_eq!(answer.headers()["x-ratelimit-remaining"], "0");
        let body: Value = answer.json().await.unwrap();
        assert_eq!(body["error"]["code"], "RATE_LIMITED");
    }
    // A refused request changes nothing but its counter.
    let txn = app.transaction(&m, &id).await;
    assert_eq!(txn["status"], "pending");
    assert_eq!(app.db.count("gateway_events").await, 0);

    // Another address has its own budget.
    let elsewhere = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let answer = elsewhere
        .get(app.url(&format!("/api/v1/checkout/{id}")))
        .send()
        .await
        .unwrap();
    assert_ne!(answer.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(answer.headers()["x-ratelimit-remaining"], "3");
    // One more counter: the second address (the first was counted from the worker's call on).
    assert_eq!(app.db.count("rate_limit_counters").await, before + 1);

    // Health stays unmetered, and the merchant's own API is untouched by the public budget.
    for _ in 0..3 {
        let health = app.http.get(app.url("/api/health")).send().await.unwrap();
        assert_eq!(health.status(), StatusCode::OK);
        assert!(!health.headers().contains_key("x-ratelimit-limit"));
    }
    let (status, body) = app
        .pay(&m, &payment("order-metered-2", 10_000, false), None)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// Checks a redirect to the merchant as a merchant would: recompute the HMAC over the canonical
/// string from the parameters received, with nothing from the platform's code.
pub(crate) fn verify_return(location: &str, secret: &str) -> bool {
    use hmac::{Hmac, KeyInit, Mac};
    let query = location.split_once('?').unwrap().1;
    let params: std::collections::BTreeMap<String, String> =
        serde_urlencoded::from_str(query).unwrap();
    let canonical = [
        "transaction_id",
        "order_id",
        "status",
        "mode",
        "amount",
        "currency",
        "ts",
    ]
    .iter()
    .map(|name| params[*name].as_str())
    .collect::<Vec<_>>()
    .join("|");
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(canonical.as_bytes());
    let signature = hex::decode(&params["signature"]).unwrap_or_default();
    mac.verify_slice(&signature).is_ok()
}

#[tokio::test]
async fn f6_the_return_redirect_is_signed() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Signed Shop").await;
    let rotate = |m: &Merchant| {
        app.http
            .post(app.url("/api/v1/merchant/return-signing-secret"))
            .header("x-client-key", &m.client_key)
            .header("x-client-secret", &m.client_secret)
    };
    // A first payment's redirect creates a secret nobody has seen; rotating shows a new one once.
    let (status, body) = send(rotate(&m)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["data"]["mode"], "test");
    let secret = body["data"]["secret"].as_str().unwrap().to_string();
    assert!(secret.len() >= 40, "{secret}");
    let stored = app.db.dump().await;
    assert!(!stored.contains(&secret), "the secret is stored sealed");

    let (_, created) = app
        .pay(&m, &payment("order-signed", 10_000, false), None)
        .await;
    let id = created["data"]["id"].as_str().unwrap().to_string();
    app.drain().await;
    let pay_page = app
        .http
        .get(app.url(&format!("/api/v1/checkout/{id}")))
        .send()
        .await
        .unwrap()
        .headers()["location"]
        .to_str()
        .unwrap()
        .to_string();
    let paid = app
        .http
        .post(&pay_page)
        .form(&[("action", "pay")])
        .send()
        .await
        .unwrap();
    let back = paid.headers()["location"].to_str().unwrap().to_string();
    let answer = app.http.get(&back).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let location = answer.headers()["location"].to_str().unwrap().to_string();
    assert!(
        location.starts_with("https://shop.example.in/payments/done?cart=42&"),
        "{location}"
    );
    let params: std::collections::BTreeMap<String, String> =
        serde_urlencoded::from_str(location.split_once('?').unwrap().1).unwrap();
    assert_eq!(params["transaction_id"], id);
    assert_eq!(params["order_id"], "order-signed");
    assert_eq!(params["status"], "succeeded");
    assert_eq!(params["mode"], "test");
    assert_eq!(params["amount"], "10000");
    assert_eq!(params["currency"], "INR");
    let ts: i64 = params["ts"].parse().unwrap();
    assert!((chrono::Utc::now().timestamp() - ts).abs() < 60);
    assert!(verify_return(&location, &secret), "{location}");

    // An edited status (or amount) no longer verifies; nor does another secret.
    let tampered = location.replace("status=succeeded", "status=failed");
    assert_ne!(tampered, location);
    assert!(!verify_return(&tampered, &secret));
    assert!(!verify_return(
        &location.replace("amount=10000", "amount=1"),
        &secret
    ));
    assert!(!verify_return(&location, "lsp_rss_test_not_the_secret"));

    // After a rotation the finished payment's page links back under the new secret only.
    let (_, rotated) = send(rotate(&m)).await;
    let newer = rotated["data"]["secret"].as_str().unwrap().to_string();
    assert_ne!(newer, secret);
    let html = app
        .http
        .get(app.url(&format!("/api/v1/checkout/{id}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let link = html
        .split("href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .replace("&amp;", "&");
    assert!(verify_return(&link, &newer), "{link}");
    assert!(!verify_return(&link, &secret));
}

async fn create_sandbox_order(
    app: &TestApp,
    api_key: &str,
    notify_url: &str,
    return_url: &str,
) -> (StatusCode, Value) {
    send(
        app.http
            .post(app.url("/sandbox/v1/orders"))
            .basic_auth(api_key, Some(""))
            .json(&json!({
                "amount": 10_000, "currency": "INR", "receipt": "att_f9",
                "customer_email": "asha@example.in",
                "notify_url": notify_url, "return_url": return_url,
            })),
    )
    .await
}

#[tokio::test]
async fn f9_the_sandbox_is_test_only_and_sends_only_to_the_platform() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let accounts = app.db.count("gateway_accounts").await;
    let (status, body) = app
        .post_json(
            "/api/v1/admin/gateways",
            Some(&admin),
            json!({ "provider": "sandbox", "label": "live sandbox", "environment": "live",
                    "credentials": { "api_key": "sbx_key_live000000000000001",
                                     "webhook_secret": "sbx_whsec_live00000000000000000001" } }),
        )
        .await;
    expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert!(
        body["error"]["details"]["environment"]
            .as_str()
            .unwrap()
            .contains("test"),
        "{body}"
    );
    assert_eq!(app.db.count("gateway_accounts").await, accounts);
    // The database refuses one too, whatever the application does.
    let refused = app
        .db
        .owner()
        .await
        .execute(
            "UPDATE gateway_accounts SET environment = 'live' WHERE provider = 'sandbox'",
            &[],
        )
        .await
        .unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("gateway_accounts_sandbox_is_test")
            || format!("{refused:?}").contains("gateway_accounts_sandbox_is_test"),
        "{refused:?}"
    );

    // The sandbox API sends webhooks and customers only to the platform.
    let key = "sbx_key_pinned000000000000001";
    sandbox_account(&app, None, key, "sbx_whsec_pinned0000000000000000001").await;
    let orders = app.db.count("sandbox_orders").await;
    let ours = |path: &str| app.url(path);
    for (notify, back) in [
        (
            "http://169.254.169.254/latest/meta-data".to_string(),
            ours("/api/v1/checkout/x/return"),
        ),
        (
            ours("/api/v1/webhooks/sandbox"),
            "https://evil.example/phish".to_string(),
        ),
        (
            format!("{}.evil.example/hook", app.base),
            ours("/api/v1/checkout/x/return"),
        ),
    ] {
        let (status, body) = create_sandbox_order(&app, key, &notify, &back).await;
        expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    assert_eq!(app.db.count("sandbox_orders").await, orders);
    let (status, body) = create_sandbox_order(
        &app,
        key,
        &ours("/api/v1/webhooks/sandbox"),
        &ours("/api/v1/checkout/x/return"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(app.db.count("sandbox_orders").await, orders + 1);
}

#[tokio::test]
async fn f9_the_sandbox_finds_its_caller_by_key_fingerprint() {
    let app = TestApp::spawn().await;
    // An account the platform cannot open is never opened for another account's caller.
    let removed = KeyRing::parse(&KeyRing::generate_spec("removed"), None).unwrap();
    sandbox_account(
        &app,
        Some(&removed),
        "sbx_key_unopenable00000000001",
        "sbx_whsec_unopenable000000000000001",
    )
    .await;
    let key = "sbx_key_fingerprinted00000001";
    let account = sandbox_account(&app, None, key, "sbx_whsec_fp000000000000000000000001").await;
    let fingerprint = |id: GatewayAccountId| {
        let db = &app.db;
        async move {
            db.owner()
                .await
                .query_one(
                    "SELECT key_fingerprint FROM gateway_accounts WHERE id = $1",
                    &[&id.as_uuid()],
                )
                .await
                .unwrap()
                .get::<_, Option<Vec<u8>>>(0)
        }
    };
    assert!(fingerprint(account).await.is_some());
    let platform = |path: &str| app.url(path);
    let (status, body) = create_sandbox_order(
        &app,
        key,
        &platform("/api/v1/webhooks/sandbox"),
        &platform("/api/v1/checkout/x/return"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = create_sandbox_order(
        &app,
        "sbx_key_wrong0000000000000001",
        &platform("/api/v1/webhooks/sandbox"),
        &platform("/api/v1/checkout/x/return"),
    )
    .await;
    expect_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");

    // An account stored before fingerprints existed is found once the slow way, then by its
    // fingerprint.
    app.db
        .owner()
        .await
        .execute(
            "UPDATE gateway_accounts SET key_fingerprint = NULL WHERE id = $1",
            &[&account.as_uuid()],
        )
        .await
        .unwrap();
    let (status, body) = create_sandbox_order(
        &app,
        key,
        &platform("/api/v1/webhooks/sandbox"),
        &platform("/api/v1/checkout/x/return"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(fingerprint(account).await.is_some());
}

#[tokio::test]
async fn f12_pages_carry_a_content_security_policy_and_every_response_nosniff() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Headed Shop").await;
    let (_, created) = app
        .pay(&m, &payment("order-csp", 10_000, false), None)
        .await;
    let id = created["data"]["id"].as_str().unwrap().to_string();
    app.drain().await;
    let handoff = app
        .http
        .get(app.url(&format!("/api/v1/checkout/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(handoff.status(), StatusCode::SEE_OTHER);
    assert_eq!(handoff.headers()["x-content-type-options"], "nosniff");
    let pay_page = handoff.headers()["location"].to_str().unwrap().to_string();
    let page = app.http.get(&pay_page).send().await.unwrap();
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    for directive in [
        "default-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "script-src 'none'",
        "style-src 'sha256-",
        "form-action 'self'",
    ] {
        assert!(csp.contains(directive), "{directive} missing from {csp}");
    }
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    // JSON answers and errors carry nosniff too.
    let health = app.http.get(app.url("/api/health")).send().await.unwrap();
    assert_eq!(health.headers()["x-content-type-options"], "nosniff");
    let missing = app
        .http
        .get(app.url("/api/v1/transactions"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(missing.headers()["x-content-type-options"], "nosniff");
    // A finished payment's page: CSP on the HTML that links back to the merchant.
    let paid = app
        .http
        .post(&pay_page)
        .form(&[("action", "pay")])
        .send()
        .await
        .unwrap();
    let back = paid.headers()["location"].to_str().unwrap().to_string();
    app.http.get(&back).send().await.unwrap();
    let done = app
        .http
        .get(app.url(&format!("/api/v1/checkout/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), StatusCode::OK);
    assert!(
        done.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );
}

/// The tables a malformed request must never write to.
const WATCHED: &[&str] = &[
    "transactions",
    "transaction_attempts",
    "gateway_events",
    "refunds",
    "outbox",
    "job_queue",
    "sandbox_orders",
    "sandbox_refunds",
    "gateway_accounts",
    "merchant_return_secrets",
    "audit_log",
];

async fn counts(app: &TestApp) -> Vec<(&'static str, i64)> {
    let mut out = Vec::new();
    for table in WATCHED {
        out.push((*table, app.db.count(table).await));
    }
    out
}

#[tokio::test]
async fn malformed_input_never_causes_a_5xx_on_unauthenticated_routes() {
    use functions::registry::{Access, all_routes};
    let app = TestApp::spawn_with(&[("PUBLIC_RATE_LIMIT_PER_MINUTE", "1000000")]).await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Swept Shop").await;
    let (_, created) = app
        .pay(&m, &payment("order-swept", 10_000, false), None)
        .await;
    let id = created["data"]["id"].as_str().unwrap().to_string();
    app.drain().await;
    let order: String = app
        .db
        .owner()
        .await
        .query_one("SELECT id FROM sandbox_orders", &[])
        .await
        .unwrap()
        .get(0);
    let account: uuid::Uuid = app
        .db
        .owner()
        .await
        .query_one(
            "SELECT id FROM gateway_accounts WHERE provider = 'sandbox' ORDER BY id LIMIT 1",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let account = GatewayAccountId::from_uuid(account).to_string();
    let providers = app.app.gateways.names();

    // Every unauthenticated route of the registry, with real ids and every provider, so that a
    // route added later is swept too.
    let mut targets = Vec::new();
    for route in all_routes() {
        if !matches!(route.access, Access::Public | Access::Unmetered) {
            continue;
        }
        let names: Vec<&str> = if route.path.contains("{provider}") {
            providers.clone()
        } else {
            vec![""]
        };
        for provider in names {
            let path = route
                .path
                .replace("{provider}", provider)
                .replace("{account_id}", &account)
                .replace("{order_id}", &order)
                .replace("{id}", &id)
                .replace("{file}", "index.html");
            assert!(
                !path.contains('{'),
                "{} has an unknown parameter",
                route.path
            );
            targets.push((route.method.clone(), path));
        }
    }
    assert!(targets.len() >= 11 + 2 * providers.len(), "{targets:?}");

    // A valid visit first: it writes what a visit writes (the merchant's first return signing
    // secret), so that what follows must write nothing at all.
    let visit = app
        .http
        .get(app.url(&format!("/api/v1/checkout/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(visit.status(), StatusCode::SEE_OTHER);
    let before = counts(&app).await;
    let status_before = app.transaction(&m, &id).await["status"].clone();
    let megabyte = vec![b'a'; 1024 * 1024];
    let binary: Vec<u8> = (0..4096u32).map(|i| (i * 7 + 13) as u8).collect();
    let long = "x".repeat(8 * 1024);
    let signature_headers = [
        "x-sandbox-signature",
        "x-razorpay-signature",
        "x-razorpay-event-id",
        "stripe-signature",
        "x-webhook-signature",
        "x-webhook-timestamp",
        "x-webhook-version",
        "x-verify",
        "x-request-id",
        "authorization",
    ];
    let mut checked = 0;
    for (method, path) in &targets {
        let url = app.url(path);
        let base = || app.http.request(method.clone(), &url);
        let cases: Vec<(&str, reqwest::RequestBuilder)> = vec![
            (
                "empty body",
                base().header("content-type", "application/json"),
            ),
            ("missing headers", base()),
            ("1 MB body", base().body(megabyte.clone())),
            (
                "binary body",
                base()
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(binary.clone()),
            ),
            (
                "wrong content type",
                base()
                    .header("content-type", "application/xml")
                    .body("<order><action>pay</action></order>"),
            ),
            (
                "JSON where a form is expected",
                base()
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body("{\"action\":\"pay\",\"status\":\"paid\"}"),
            ),
            ("oversized headers", {
                let mut request = base().header("content-type", "application/json").body("{}");
                for name in signature_headers {
                    request = request.header(name, long.as_str());
                }
                request
            }),
            ("over-255-byte ids and signatures", {
                let mut request = base().header("content-type", "application/json").body("{}");
                for name in signature_headers {
                    request = request.header(name, "7".repeat(300));
                }
                request
            }),
            ("non-ASCII header values", {
                let mut request = base().header("content-type", "application/json").body("{}");
                for name in signature_headers {
                    request = request.header(
                        name,
                        reqwest::header::HeaderValue::from_bytes(b"\xe2\x82\xb9\xff\xfe").unwrap(),
                    );
                }
                request
            }),
        ];
        for (label, request) in cases {
            let answer = request.send().await;
            // A connection the server refuses outright (headers too large) is not a 5xx.
            let Ok(answer) = answer else { continue };
            let status = answer.status();
            let body = answer.text().await.unwrap_or_default();
            assert!(
                !status.is_server_error(),
                "{method} {path} with {label}: {status} {body}"
            );
            checked += 1;
        }
    }
    assert!(checked >= targets.len() * 7, "{checked}");
    app.drain().await;
    assert_eq!(counts(&app).await, before, "malformed requests wrote rows");
    assert_eq!(app.transaction(&m, &id).await["status"], status_before);
}

#[tokio::test]
async fn f15_control_characters_are_refused_in_every_free_text_field() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Controlled Shop").await;
    let mut body = payment("order-f15", 10_000, false);
    body["customer"]["name"] = json!("Asha\u{7}Verma");
    body["description"] = json!("chai\u{85}|amount=1");
    body["notes"] = json!({ "cart": "42\n43" });
    let (status, answer) = app.pay(&m, &body, None).await;
    expect_error(status, &answer, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    let details = &answer["error"]["details"];
    for field in ["customer.name", "description", "notes.cart"] {
        assert!(details[field].is_string(), "{field} not named: {answer}");
    }
    let mut body = payment("order\u{0}f15", 10_000, false);
    body["customer"]["email"] = json!("asha\u{1b}@example.in");
    let (status, answer) = app.pay(&m, &body, None).await;
    expect_error(status, &answer, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert!(
        answer["error"]["details"]["order_id"].is_string(),
        "{answer}"
    );
    assert!(
        answer["error"]["details"]["customer.email"].is_string(),
        "{answer}"
    );

    // The return URL is parsed as the URL standard does: what it refuses is refused here.
    for url in [
        "https://shop.example.in/\u{1}done",
        "https://sh%zzop.example.in/done",
        "https://[::1/done",
        "https://shop.example.in:99999/done",
    ] {
        let mut body = payment("order-f15-url", 10_000, false);
        body["return_url"] = json!(url);
        let (status, answer) = app.pay(&m, &body, None).await;
        expect_error(status, &answer, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        assert!(
            answer["error"]["details"]["return_url"].is_string(),
            "{url}: {answer}"
        );
    }
    // Operators' free text too, and login.
    let (status, answer) = app
        .post_json(
            &format!("/api/v1/admin/merchants/{}/suspend", m.id),
            Some(&admin),
            json!({ "reason": "fraud\u{9b}31m" }),
        )
        .await;
    expect_error(status, &answer, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert!(answer["error"]["details"]["reason"].is_string(), "{answer}");
    let (status, answer) = send(
        app.http
            .post(app.url("/api/v1/auth/login"))
            .json(&json!({ "email": "a\u{7}@example.in", "password": "whatever-password" })),
    )
    .await;
    expect_error(status, &answer, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert!(answer["error"]["details"]["email"].is_string(), "{answer}");

    assert_eq!(app.db.count("transactions").await, 0);
    let merchant = app
        .get(&format!("/api/v1/admin/merchants/{}", m.id), Some(&admin))
        .await
        .1;
    assert_eq!(merchant["data"]["status"], "active", "{merchant}");
}
