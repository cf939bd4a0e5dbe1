//! The real gateways' connectors against local mock servers that answer as the providers' APIs
//! do (wiremock), alone and through the platform.

mod admin;
mod cashfree;
mod easebuzz;
mod payu;
mod razorpay;
mod stripe;

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
