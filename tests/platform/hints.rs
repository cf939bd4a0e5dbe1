//! F4: no tail of a secret is stored or shown. Gateway secrets are shown as a keyed fingerprint,
//! only public identifiers as their last four characters; audit rows name credential fields
//! only; merchant API secrets are shown as a fingerprint of their hash.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::json;

/// A PayU salt whose last four characters are easy to search for (upper case: no hex digest,
/// id or fingerprint can contain them).
const SALT: &str = "example-payu-salt-QZXW";
const SALT_TAIL: &str = "QZXW";

#[tokio::test]
async fn f4_no_tail_of_a_secret_is_stored_or_shown() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let merchant = app.create_merchant(&admin, "Chai Point").await;
    let (status, created) = app
        .post_json(
            "/api/v1/admin/gateways",
            Some(&admin),
            json!({
                "provider": "payu",
                "label": "PayU (test)",
                "environment": "test",
                "merchant_id": merchant.id,
                "credentials": { "key": "exampleKEYP", "salt": SALT },
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["data"]["id"].as_str().unwrap().to_string();
    let shown = &created["data"]["credentials"];
    assert_eq!(shown["key"], "…KEYP", "a public identifier keeps its tail");
    let fingerprint = shown["salt"].as_str().unwrap().to_string();
    assert!(
        fingerprint.starts_with("hmac:") && fingerprint.len() == 13,
        "{fingerprint}"
    );

    let (status, one) = app
        .get(&format!("/api/v1/admin/gateways/{id}"), Some(&admin))
        .await;
    assert_eq!(status, StatusCode::OK, "{one}");
    let (status, list) = app.get("/api/v1/admin/gateways", Some(&admin)).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    for answer in [&created, &one, &list] {
        assert!(!answer.to_string().contains(SALT_TAIL), "{answer}");
    }
    // Not in any table: the hint, the ciphertext, the audit row.
    let dump = app.db.dump().await;
    assert!(dump.contains("audit_log") && dump.contains("gateway_account.created"));
    assert!(!dump.contains(SALT_TAIL), "a tail of the salt is stored");
    let audited: serde_json::Value = app
        .db
        .owner()
        .await
        .query_one(
            "SELECT after -> 'credentials' FROM audit_log WHERE action = 'gateway_account.created'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        audited,
        json!(["key", "salt"]),
        "the audit row names fields only"
    );

    // A merchant's API secret: shown as the first 8 hex characters of its SHA-256, never a tail.
    let (status, body) = app
        .get_with_key(
            &format!("/api/v1/merchant/{}", merchant.id),
            &merchant.client_key,
            &merchant.client_secret,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let summary = &body["data"]["credentials"][0];
    use sha2::Digest;
    let digest = hex::encode(sha2::Sha256::digest(merchant.client_secret.as_bytes()));
    assert_eq!(summary["secret_fingerprint"], &digest[..8], "{summary}");
    assert!(summary.get("secret_last4").is_none(), "{summary}");
    let tail = &merchant.client_secret[merchant.client_secret.len() - 4..];
    let credentials: Vec<String> = app
        .db
        .owner()
        .await
        .query("SELECT t::text FROM merchant_credentials t", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(
        credentials.iter().all(|row| !row.contains(tail)),
        "{credentials:?}"
    );

    // A hint left without a fingerprint (migration V8 nulls the old tails) is filled in by reseal,
    // under the same key: the same fingerprint.
    app.db
        .owner()
        .await
        .execute(
            "UPDATE gateway_accounts SET credentials_hint = jsonb_set(credentials_hint, '{salt}', 'null') WHERE provider = 'payu'",
            &[],
        )
        .await
        .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lightspeedpay"))
        .arg("reseal")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &app.db.app_url)
        .env("JWT_SECRET", JWT_SECRET)
        .env("ENCRYPTION_KEYS", ENCRYPTION_KEYS)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_, one) = app
        .get(&format!("/api/v1/admin/gateways/{id}"), Some(&admin))
        .await;
    assert_eq!(one["data"]["credentials"]["salt"], fingerprint.as_str());
}
