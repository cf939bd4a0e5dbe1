//! The real gateways' connectors against local mock servers that answer as the providers' APIs
//! do (wiremock), alone and through the platform.

mod admin;
mod cashfree;
mod contract;
mod easebuzz;
mod payu;
mod phonepe;
mod razorpay;
mod sandbox;
mod stripe;

use crate::support::{Merchant, TestApp};
use shared::gateways::Account;
use shared::ids::GatewayAccountId;
use shared::mode::Mode;
use shared::secret::Secret;

/// A test-environment account with `credentials`, as a connector receives it.
pub fn account(credentials: &[(&str, &str)]) -> Account {
    Account {
        id: GatewayAccountId::generate(),
        environment: Mode::Test,
        credentials: credentials
            .iter()
            .map(|(k, v)| (k.to_string(), Secret::new(v.to_string())))
            .collect(),
    }
}

/// An address that accepts connections and closes them without answering: a dropped response.
pub async fn dropping_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            drop(socket);
        }
    });
    format!("http://{address}")
}

/// The platform with `provider`'s test hosts at `server` (one-second gateway timeout), and a
/// merchant whose routing pool starts with a `provider` account holding `credentials`.
pub async fn platform_with(
    server: &wiremock::MockServer,
    provider: &str,
    credentials: &[(&str, &str)],
) -> (TestApp, Merchant) {
    let variable = format!("GATEWAY_{}_TEST_URL", provider.to_uppercase());
    let app = TestApp::spawn_with(&[
        (variable.as_str(), server.uri().as_str()),
        ("GATEWAY_TIMEOUT_SECONDS", "1"),
    ])
    .await;
    let admin = app.admin_token().await;
    let merchant = app.create_merchant(&admin, "Chai Point").await;
    app.add_gateway_account(&merchant, provider, credentials)
        .await;
    (app, merchant)
}

/// The gateway's id for the payment's (first) attempt, once its order exists.
pub async fn attempt_reference(app: &TestApp, merchant: &Merchant, id: &str) -> Option<String> {
    let transaction = app.transaction(merchant, id).await;
    transaction["attempts"][0]["gateway_reference"]
        .as_str()
        .map(str::to_string)
}

/// A client that shows redirects instead of following them (browser returns answer 303).
pub fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// F2: the payment `id` did not succeed, its (only) attempt is flagged `amount_mismatch`, and
/// exactly one `transaction.amount_mismatch` event about it is in the outbox.
pub async fn assert_amount_mismatch(app: &TestApp, merchant: &Merchant, id: &str) {
    let transaction = app.transaction(merchant, id).await;
    assert_ne!(transaction["status"], "succeeded", "{transaction}");
    assert_eq!(
        transaction["attempts"][0]["status"], "amount_mismatch",
        "{transaction}"
    );
    let events: i64 = app
        .db
        .owner()
        .await
        .query_one(
            "SELECT count(*) FROM outbox WHERE topic = 'transaction.amount_mismatch'
               AND payload->'detail'->'transaction'->>'id' = $1",
            &[&id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(events, 1, "one event for operators");
    // And one open, critical alert for people about that attempt, however often it was reported.
    let attempt = transaction["attempts"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let alert = app
        .db
        .owner()
        .await
        .query_one(
            "SELECT kind, severity, status, merchant_id::text AS merchant, count(*) OVER () AS alerts
               FROM alerts WHERE key = $1",
            &[&format!("amount_mismatch:{attempt}")],
        )
        .await
        .expect("an amount mismatch alert");
    assert_eq!(alert.get::<_, i64>("alerts"), 1, "one alert per attempt");
    assert_eq!(alert.get::<_, String>("kind"), "amount_mismatch");
    assert_eq!(alert.get::<_, String>("severity"), "critical");
    assert_eq!(alert.get::<_, String>("status"), "open");
    let merchant: shared::ids::MerchantId = merchant.id.parse().unwrap();
    assert_eq!(
        alert.get::<_, String>("merchant"),
        merchant.as_uuid().to_string()
    );
    assert_eq!(
        app.db.outbox_count("transaction.succeeded").await,
        0,
        "no success was announced"
    );
}
