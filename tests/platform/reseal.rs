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

    // Key B active, key A still present: every row moves to B.
    let ring = format!("{KEY_B},{ENCRYPTION_KEYS}");
    let out = reseal(&app.db, &ring, Some("t2"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("resealed 2 row(s)"),
        "{}",
        text(&out.stdout)
    );
    let after = sealed_rows(&app.db).await;
    assert!(after.iter().all(|(_, key, _)| key == "t2"), "{after:?}");
    let resealed: i64 = app
        .db
        .owner()
        .await
        .query_one(
            "SELECT count(*) FROM audit_log WHERE action = 'gateway_account.resealed'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(resealed, 2, "each re-sealing is audited");

    // Again: nothing to do, nothing changed.
    let out = reseal(&app.db, &ring, Some("t2"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("nothing to do"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(sealed_rows(&app.db).await, after);

    // Key A removed from the ring: the platform over the same database still opens every account.
    let TestApp { db, .. } = app;
    let app = TestApp::spawn_over(db, &[("ENCRYPTION_KEYS", KEY_B)], None).await;
    sandbox_payment_succeeds(&app, &merchant, "after-rotation").await;
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
    let before = sealed_rows(&app.db).await;
    let (sandbox, _, _) = &before[0];
    let sandbox = shared::ids::GatewayAccountId::from_uuid(*sandbox);

    // Key A is gone from the ring before the rows were moved off it.
    let out = reseal(&app.db, KEY_B, None);
    assert!(!out.status.success(), "reseal reported success");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("gateway_accounts {sandbox}")) && stderr.contains("'t1'"),
        "{stderr}"
    );
    assert_eq!(sealed_rows(&app.db).await, before, "nothing changed");
}
