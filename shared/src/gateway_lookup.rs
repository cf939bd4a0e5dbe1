//! What finds a gateway account without opening its sealed credentials: the provider's public
//! account identifier (PayU and Easebuzz `key`, PhonePe `merchant_id`), which inbound webhooks
//! name, and a fingerprint of the sandbox's `api_key`, which the sandbox's callers present. Both
//! are recorded when an account is stored; accounts stored earlier have neither and are found the
//! slow way (the sandbox records the fingerprint the first time such an account authenticates).

use crate::crypto::sha256;
use crate::db::Transaction;
use crate::error::AppError;
use crate::gateways::Credentials;
use crate::ids::GatewayAccountId;
use tokio_postgres::types::Type;

/// The credential that is a provider's public account identifier, when it has one.
fn identifier_credential(provider: &str) -> Option<&'static str> {
    match provider {
        "payu" | "easebuzz" => Some("key"),
        "phonepe" => Some("merchant_id"),
        _ => None,
    }
}

/// The public identifier of a `provider` account with `credentials`.
pub fn identifier_of(provider: &str, credentials: &Credentials) -> Option<String> {
    let name = identifier_credential(provider)?;
    credentials
        .get(name)
        .map(|value| value.expose().clone())
        .filter(|value| !value.is_empty() && value.len() <= 200)
}

/// The fingerprint a sandbox `api_key` is looked up by. Sandbox keys are random (24 base-62
/// characters from the seed), so a domain-separated SHA-256 cannot be reversed by guessing, as
/// with the merchants' `secret_hash`.
pub fn key_fingerprint(api_key: &str) -> Vec<u8> {
    sha256(format!("lsp-sandbox-api-key:{api_key}").as_bytes()).to_vec()
}

/// Records the lookup values of a newly stored account.
pub async fn record(
    tx: &Transaction<'_>,
    id: GatewayAccountId,
    provider: &str,
    credentials: &Credentials,
) -> Result<(), AppError> {
    let identifier = identifier_of(provider, credentials);
    let fingerprint = match provider {
        "sandbox" => credentials
            .get("api_key")
            .map(|key| key_fingerprint(key.expose())),
        _ => None,
    };
    if identifier.is_none() && fingerprint.is_none() {
        return Ok(());
    }
    tx.execute_typed(
        "UPDATE gateway_accounts SET public_identifier = $2, key_fingerprint = $3 WHERE id = $1",
        &[
            (&id.as_uuid(), Type::UUID),
            (&identifier, Type::TEXT),
            (&fingerprint, Type::BYTEA),
        ],
    )
    .await?;
    Ok(())
}
