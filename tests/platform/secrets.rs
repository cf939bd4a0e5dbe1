//! No secret is stored in plaintext or written to a log line.

use crate::dev_runner::start_dev;
use crate::support::*;
use reqwest::StatusCode;
use serde_json::json;
use shared::crypto::cipher::KeyRing;
use shared::db::{self, Scope};
use shared::gateway_accounts::{self, NewGatewayAccount, Ownership};
use shared::mode::Mode;
use shared::secret::Secret;

#[tokio::test]
async fn secrets_never_reach_tables_or_logs() {
    let (mut dev, guard, creds, _dir) = start_dev(&[
        ("ENCRYPTION_KEYS", ENCRYPTION_KEYS),
        ("RUST_LOG", "debug,hyper=info,h2=info"),
    ])
    .await;
    let owner_url = format!("{}/{}", server(), guard.name);
    let client = reqwest::Client::new();
    let url = |p: &str| format!("{}{p}", dev.base);
    let admin_password = creds["admin_password"].as_str().unwrap().to_string();
    let login = |email: String, password: String| {
        client
            .post(url("/api/v1/auth/login"))
            .json(&json!({"email": email, "password": password}))
    };

    let mut secrets: Vec<String> = vec![
        admin_password.clone(),
        creds["client_secret"].as_str().unwrap().into(),
        creds["merchant_user_password"].as_str().unwrap().into(),
    ];
    let (status, body) = send(login(
        "admin@lightspeedpay.local".into(),
        admin_password.clone(),
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["data"]["access_token"].as_str().unwrap().to_string();
    secrets.push(token.clone());
    secrets.push(body["data"]["refresh_token"].as_str().unwrap().into());
    let wrong = "wrong-password-that-must-not-be-logged".to_string();
    assert_eq!(
        send(login("admin@lightspeedpay.local".into(), wrong.clone()))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    secrets.push(wrong);

    let user_password = "merchant-user-password-0042".to_string();
    let (status, body) = send(
        client
            .post(url("/api/v1/admin/merchants"))
            .bearer_auth(&token)
            .json(&json!({
                "name": "Secretive Shop", "email": "secretive@shop.test",
                "user": {"email": "staff@secretive.test", "password": user_password},
            })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    secrets.push(user_password);
    let key = body["data"]["test_credentials"]["client_key"]
        .as_str()
        .unwrap()
        .to_string();
    let secret = body["data"]["test_credentials"]["client_secret"]
        .as_str()
        .unwrap()
        .to_string();
    secrets.push(secret.clone());
    let (status, body) = send(
        client
            .post(url("/api/v1/merchant/credentials/regenerate"))
            .header("X-Client-Key", &key)
            .header("X-Client-Secret", &secret),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    secrets.push(body["data"]["client_secret"].as_str().unwrap().into());

    // Gateway accounts: the seeded sandbox account and one more with known credentials.
    let keys = KeyRing::parse(ENCRYPTION_KEYS, None).unwrap();
    let owner = connect(&owner_url).await;
    let sandbox: uuid::Uuid = owner
        .query_one(
            "SELECT id FROM gateway_accounts WHERE provider = 'sandbox'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let app_config = shared::config::Config::from_lookup(shared::config::lookup_from(
        [
            ("DATABASE_URL", owner_url.as_str()),
            ("JWT_SECRET", JWT_SECRET),
            ("ENCRYPTION_KEYS", ENCRYPTION_KEYS),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
    ))
    .unwrap();
    let app = shared::App::new(app_config).unwrap();
    let mut conn = app.db.client().await.unwrap();
    let tx = db::begin(&mut conn, Scope::Admin).await.unwrap();
    let opened = gateway_accounts::credentials(
        &tx,
        &keys,
        shared::ids::GatewayAccountId::from_uuid(sandbox),
    )
    .await
    .unwrap();
    assert_eq!(opened.len(), 2);
    secrets.extend(opened.values().map(|v| v.expose().clone()));
    let razorpay_secret = "rzp_test_secret_value_7f3a9c1e5b".to_string();
    gateway_accounts::create(
        &tx,
        &keys,
        &NewGatewayAccount {
            provider: "razorpay".into(),
            label: "Razorpay test".into(),
            environment: Mode::Test,
            ownership: Ownership::Platform,
            credentials: [
                (
                    "key_id".to_string(),
                    Secret::new("rzp_test_key_id_0042".to_string()),
                ),
                (
                    "key_secret".to_string(),
                    Secret::new(razorpay_secret.clone()),
                ),
            ]
            .into(),
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    secrets.push(razorpay_secret);

    let tables = dump_tables(&owner_url).await;
    assert!(
        tables.contains("gateway_accounts") && tables.contains("merchant_credentials"),
        "the dump covers the tables"
    );
    assert!(tables.contains("…0042"), "credential hints are stored");
    dev.terminate();
    let logs = std::fs::read_to_string(&dev.stderr).unwrap();
    assert!(
        logs.contains("/api/v1/admin/merchants") && logs.contains("request_id"),
        "requests are logged"
    );
    for secret in &secrets {
        assert!(
            !tables.contains(secret.as_str()),
            "a secret is stored in plaintext"
        );
        assert!(!logs.contains(secret.as_str()), "a secret reached the logs");
    }
}
