//! F17: `lightspeedpay reseal` moves every sealed value to the active key, after which the old
//! key can be removed and payments and webhooks still work; it refuses to report success while a
//! row needs a key that is not configured.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::json;
use std::process::{Command, Output};

/// A second test-only key (bytes 32..63), id `t2`; `ENCRYPTION_KEYS` is key `t1`.
const KEY_B: &str = "t2:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

fn reseal(db: &TestDb, keys: &str, active: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lightspeedpay"));
    cmd.arg("reseal")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &db.app_url)
        .env("JWT_SECRET", JWT_SECRET)
        .env("ENCRYPTION_KEYS", keys);
    if let Some(active) = active {
        cmd.env("ENCRYPTION_ACTIVE_KEY_ID", active);
    }
    cmd.output().expect("run lightspeedpay reseal")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `(id, key id, hint)` of every gateway account.
async fn sealed_rows(db: &TestDb) -> Vec<(uuid::Uuid, String, serde_json::Value)> {
    db.owner()
        .await
        .query(
            "SELECT id, credentials_key_id, credentials_hint FROM gateway_accounts ORDER BY id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

/// `(row, key id, ciphertext)` of every sealed value of every kind.
async fn sealed_values(db: &TestDb) -> Vec<(String, String, Vec<u8>)> {
    db.owner()
        .await
        .query(
            "SELECT 'gateway_accounts ' || id, credentials_key_id, credentials_ciphertext
               FROM gateway_accounts
             UNION ALL
             SELECT 'merchant_return_secrets ' || merchant_id || '/' || mode, secret_key_id,
                    secret_ciphertext
               FROM merchant_return_secrets
             UNION ALL
             SELECT 'users ' || id, mfa_key_id, mfa_ciphertext FROM users WHERE mfa_key_id IS NOT NULL
             ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

/// The merchant's test-mode return signing secret, rotated through the API (the merchant's copy).
async fn rotate_return_secret(app: &TestApp, merchant: &Merchant) -> String {
    let (status, body) = send(
        app.http
            .post(app.url("/api/v1/merchant/return-signing-secret"))
            .header("x-client-key", &merchant.client_key)
            .header("x-client-secret", &merchant.client_secret),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["data"]["secret"].as_str().unwrap().to_string()
}

/// Starts TOTP enrolment for the user behind `token`; the secret (base32) the user's app holds.
async fn start_totp(app: &TestApp, token: &str) -> String {
    let (status, body) = app
        .post_json("/api/v1/auth/mfa/totp", Some(token), json!({}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["data"]["secret"].as_str().unwrap().to_string()
}

/// A payment the customer pays on the sandbox page; the redirect back to the merchant.
async fn paid_return_redirect(app: &TestApp, merchant: &Merchant, order: &str) -> String {
    let (status, created) = app
        .pay(merchant, &payment(order, 20_000, false), None)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["data"]["id"].as_str().unwrap().to_string();
    app.drain().await;
    let checkout = app
        .http
        .get(app.url(&format!("/api/v1/checkout/{id}")))
        .send()
        .await
        .unwrap();
    let pay_page = checkout.headers()["location"].to_str().unwrap().to_string();
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
    answer.headers()["location"].to_str().unwrap().to_string()
}

async fn audited(app: &TestApp, action: &str) -> i64 {
    app.db
        .owner()
        .await
        .query_one(
            "SELECT count(*) FROM audit_log WHERE action = $1",
            &[&action],
        )
        .await
        .unwrap()
        .get(0)
}

/// A sandbox payment end to end: the worker opens the account to create the order, the sandbox
/// pays and sends its signed webhook, which is verified with the account's secret and applied.
async fn sandbox_payment_succeeds(app: &TestApp, merchant: &Merchant, order: &str) {
    let (status, body) = app.pay(merchant, &payment(order, 30_000, true), None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["data"]["id"].as_str().unwrap().to_string();
    app.drain().await;
    let txn = app.transaction(merchant, &id).await;
    assert_eq!(txn["status"], "succeeded", "{txn}");
}

fn razorpay_account() -> serde_json::Value {
    json!({
        "provider": "razorpay",
        "label": "Razorpay (test)",
        "environment": "test",
        "credentials": {
            "key_id": "rzp_test_EXAMPLEKEYID17",
            "key_secret": "example-reseal-key-secret",
            "webhook_secret": "example-reseal-webhook-secret",
        },
    })
}

#[tokio::test]
async fn f17_reseal_moves_every_row_to_the_new_key_and_the_old_key_can_be_removed() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let merchant = app.create_merchant(&admin, "Chai Point").await;
    let (status, body) = app
        .post_json("/api/v1/admin/gateways", Some(&admin), razorpay_account())
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let razorpay: shared::ids::GatewayAccountId =
        body["data"]["id"].as_str().unwrap().parse().unwrap();
    sandbox_payment_succeeds(&app, &merchant, "before-rotation").await;
    let before = sealed_rows(&app.db).await;
    assert_eq!(before.len(), 2, "the sandbox account and the Razorpay one");
    assert!(before.iter().all(|(_, key, _)| key == "t1"), "{before:?}");
    // A merchant's return signing secret, and an operator with TOTP enrolled.
    let return_secret = rotate_return_secret(&app, &merchant).await;
    let operator = "reseal-ops@lightspeedpay.test";
    app.create_admin(operator).await;
    let (status, body) = app.login(operator, ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["data"]["access_token"].as_str().unwrap().to_string();
    let totp = start_totp(&app, &token).await;
    let (status, body) = app
        .post_json(
            "/api/v1/auth/mfa/totp/confirm",
            Some(&token),
            json!({ "otp": crate::auth_hardening::code(&totp, 0) }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let values = sealed_values(&app.db).await;
    assert_eq!(values.len(), 4, "{values:?}");
    assert!(values.iter().all(|(_, key, _)| key == "t1"), "{values:?}");

    // Key B active, key A still present: every row moves to B.
    let ring = format!("{KEY_B},{ENCRYPTION_KEYS}");
    let out = reseal(&app.db, &ring, Some("t2"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("resealed 4 row(s)"),
        "{}",
        text(&out.stdout)
    );
    let after = sealed_rows(&app.db).await;
    assert!(after.iter().all(|(_, key, _)| key == "t2"), "{after:?}");
    let moved = sealed_values(&app.db).await;
    assert!(moved.iter().all(|(_, key, _)| key == "t2"), "{moved:?}");
    for (action, rows) in [
        ("gateway_account.resealed", 2),
        ("merchant_return_secret.resealed", 1),
        ("user.mfa_resealed", 1),
    ] {
        assert_eq!(audited(&app, action).await, rows, "{action} is audited");
    }

    // Again: nothing to do, nothing changed.
    let out = reseal(&app.db, &ring, Some("t2"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("nothing to do"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(sealed_rows(&app.db).await, after);
    assert_eq!(sealed_values(&app.db).await, moved);

    // Key A removed from the ring: the platform over the same database still opens every account.
    let TestApp { db, .. } = app;
    let app = TestApp::spawn_over(db, &[("ENCRYPTION_KEYS", KEY_B)], None).await;
    sandbox_payment_succeeds(&app, &merchant, "after-rotation").await;
    // The return redirect is signed with the secret the merchant holds, opened under key B.
    let location = paid_return_redirect(&app, &merchant, "return-after-rotation").await;
    assert!(
        crate::public_surface::verify_return(&location, &return_secret),
        "{location}"
    );
    // The operator still logs in with a code from the same authenticator app.
    let (status, body) = app.login(operator, ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, body) = app
        .post_json(
            "/api/v1/auth/login",
            None,
            json!({
                "email": operator,
                "password": ADMIN_PASSWORD,
                "otp": crate::auth_hardening::code(&totp, 1),
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut client = app.app.db.client().await.unwrap();
    let tx = shared::db::begin(&mut client, shared::db::Scope::System)
        .await
        .unwrap();
    let credentials =
        shared::gateway_accounts::credentials(&tx, &app.app.config.encryption, razorpay)
            .await
            .unwrap();
    assert_eq!(
        credentials["key_secret"].expose(),
        "example-reseal-key-secret"
    );
    drop(tx);
    // The Razorpay account's webhooks verify with its secret, opened under key B.
    let event = serde_json::to_vec(&json!({
        "entity": "event", "account_id": "acc_example", "event": "payment.captured",
        "contains": ["payment"], "created_at": 1_764_374_500,
        "payload": { "payment": { "entity": {
            "id": "pay_after_rotation", "entity": "payment", "amount": 30000, "currency": "INR",
            "status": "captured", "order_id": "order_unknown", "captured": true, "method": "upi",
        } } },
    }))
    .unwrap();
    let deliver = |signature: String| {
        app.http
            .post(app.url("/api/v1/webhooks/razorpay"))
            .header("content-type", "application/json")
            .header("x-razorpay-event-id", "evt_after_rotation")
            .header("x-razorpay-signature", signature)
            .body(event.clone())
            .send()
    };
    let forged = deliver(shared::gateways::signature::hmac_sha256_hex(
        b"not-the-secret",
        &event,
    ))
    .await
    .unwrap();
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    let signed = deliver(shared::gateways::signature::hmac_sha256_hex(
        b"example-reseal-webhook-secret",
        &event,
    ))
    .await
    .unwrap();
    assert_eq!(
        signed.status(),
        StatusCode::OK,
        "{}",
        signed.text().await.unwrap()
    );
}

#[tokio::test]
async fn f17_reseal_fails_naming_a_row_whose_key_is_not_configured() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let merchant = app.create_merchant(&admin, "Stuck Shop").await;
    rotate_return_secret(&app, &merchant).await;
    let owner = merchant.token(&app).await;
    start_totp(&app, &owner).await;
    let user: uuid::Uuid = app
        .db
        .owner()
        .await
        .query_one("SELECT id FROM users WHERE mfa_key_id IS NOT NULL", &[])
        .await
        .unwrap()
        .get(0);
    let user = shared::ids::UserId::from_uuid(user);
    let before = sealed_rows(&app.db).await;
    let (sandbox, _, _) = &before[0];
    let sandbox = shared::ids::GatewayAccountId::from_uuid(*sandbox);
    let values = sealed_values(&app.db).await;
    assert_eq!(values.len(), 3, "{values:?}");

    // Key A is gone from the ring before the rows were moved off it: every kind is named.
    let out = reseal(&app.db, KEY_B, None);
    assert!(!out.status.success(), "reseal reported success");
    let stderr = text(&out.stderr);
    for row in [
        format!("gateway_accounts {sandbox}"),
        format!("merchant_return_secrets {}/test", merchant.id),
        format!("users {user} (TOTP secret)"),
    ] {
        assert!(
            stderr.contains(&format!("{row}: sealed under key 't1'")),
            "{row} not named in: {stderr}"
        );
    }
    assert!(stderr.contains("3 row(s)"), "{stderr}");
    assert_eq!(sealed_rows(&app.db).await, before, "nothing changed");
    assert_eq!(sealed_values(&app.db).await, values, "nothing changed");
}
