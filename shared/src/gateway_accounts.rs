//! Gateway accounts: a configured account at a payment gateway. Its credentials are sealed with
//! AES-256-GCM before they reach the database, bound to the account's id, and only their last
//! four characters are ever shown.

use crate::crypto::cipher::{KeyRing, Sealed};
use crate::db::Transaction;
use crate::error::AppError;
use crate::gateways::Account;
use crate::ids::{GatewayAccountId, MerchantId};
use crate::mode::Mode;
use crate::secret::Secret;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use tokio_postgres::types::Type;

/// Gateway credentials by field name (`key_id`, `key_secret`, `webhook_secret`, …).
pub type Credentials = BTreeMap<String, Secret<String>>;

/// Who receives the money an account collects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ownership {
    /// We collect, then settle to merchants.
    Platform,
    /// The gateway settles to this merchant; we charge fees from its wallet.
    Merchant(MerchantId),
}

/// A new account to store.
#[derive(Debug, Clone)]
pub struct NewGatewayAccount {
    /// `sandbox`, `razorpay`, `payu`, …
    pub provider: String,
    /// A name for operators.
    pub label: String,
    /// Test or live environment of the gateway.
    pub environment: Mode,
    /// Who owns it.
    pub ownership: Ownership,
    /// The credentials, in plaintext until sealed here.
    pub credentials: Credentials,
}

fn aad(id: GatewayAccountId) -> Vec<u8> {
    format!("gateway_account:{id}:credentials").into_bytes()
}

/// The last four characters of each credential, for operators to recognise them.
fn hints(credentials: &Credentials) -> Value {
    let map: Map<String, Value> = credentials
        .iter()
        .map(|(name, value)| {
            let chars: Vec<char> = value.expose().chars().collect();
            let tail: String = chars[chars.len().saturating_sub(4)..].iter().collect();
            (name.clone(), Value::String(format!("…{tail}")))
        })
        .collect();
    Value::Object(map)
}

/// Stores an account with its credentials sealed (platform scope).
pub async fn create(
    tx: &Transaction<'_>,
    keys: &KeyRing,
    account: &NewGatewayAccount,
) -> Result<GatewayAccountId, AppError> {
    let id = GatewayAccountId::generate();
    let plain: BTreeMap<&str, &str> = account
        .credentials
        .iter()
        .map(|(k, v)| (k.as_str(), v.expose().as_str()))
        .collect();
    let json = serde_json::to_vec(&plain).map_err(|e| AppError::Internal(e.to_string()))?;
    let sealed = keys.seal(&json, &aad(id));
    let (ownership, owner) = match account.ownership {
        Ownership::Platform => ("platform", None),
        Ownership::Merchant(m) => ("merchant", Some(m.as_uuid())),
    };
    tx.execute_typed(
        "INSERT INTO gateway_accounts (id, provider, label, environment, ownership, owner_merchant_id,
             credentials_key_id, credentials_nonce, credentials_ciphertext, credentials_hint)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        &[
            (&id.as_uuid(), Type::UUID),
            (&account.provider, Type::TEXT),
            (&account.label, Type::TEXT),
            (&account.environment.as_str(), Type::TEXT),
            (&ownership, Type::TEXT),
            (&owner, Type::UUID),
            (&sealed.key_id, Type::TEXT),
            (&sealed.nonce.to_vec(), Type::BYTEA),
            (&sealed.ciphertext, Type::BYTEA),
            (&hints(&account.credentials), Type::JSONB),
        ],
    )
    .await?;
    Ok(id)
}

/// An account with its credentials opened, for a gateway call.
pub async fn open(
    tx: &Transaction<'_>,
    keys: &KeyRing,
    id: GatewayAccountId,
) -> Result<Account, AppError> {
    let row = tx
        .query_typed_opt(
            "SELECT environment, credentials_key_id, credentials_nonce, credentials_ciphertext FROM gateway_accounts WHERE id = $1",
            &[(&id.as_uuid(), Type::UUID)],
        )
        .await?
        .ok_or(AppError::NotFound("gateway account"))?;
    let nonce: &[u8] = row.get(2);
    let sealed = Sealed {
        key_id: row.get(1),
        nonce: nonce
            .try_into()
            .map_err(|_| AppError::Internal("stored nonce has the wrong length".into()))?,
        ciphertext: row.get(3),
    };
    let plain = keys
        .open(&sealed, &aad(id))
        .map_err(|e| AppError::Internal(format!("gateway account {id}: {e}")))?;
    let map: BTreeMap<String, String> = serde_json::from_slice(&plain)
        .map_err(|e| AppError::Internal(format!("gateway account {id}: {e}")))?;
    let environment = if row.get::<_, &str>(0) == "live" {
        Mode::Live
    } else {
        Mode::Test
    };
    Ok(Account {
        id,
        environment,
        credentials: map.into_iter().map(|(k, v)| (k, Secret::new(v))).collect(),
    })
}

/// Opens an account's credentials.
pub async fn credentials(
    tx: &Transaction<'_>,
    keys: &KeyRing,
    id: GatewayAccountId,
) -> Result<Credentials, AppError> {
    Ok(open(tx, keys, id).await?.credentials)
}

/// Adds an account to a merchant's routing pool at `priority` (lower is tried first).
pub async fn add_to_pool(
    tx: &Transaction<'_>,
    merchant: MerchantId,
    account: GatewayAccountId,
    priority: i32,
) -> Result<(), AppError> {
    tx.execute_typed(
        "INSERT INTO routing_pool_members (merchant_id, gateway_account_id, priority) VALUES ($1, $2, $3)
         ON CONFLICT (merchant_id, gateway_account_id) DO UPDATE SET priority = EXCLUDED.priority, updated_at = now()",
        &[(&merchant.as_uuid(), Type::UUID), (&account.as_uuid(), Type::UUID), (&priority, Type::INT4)],
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_show_only_the_last_four_characters() {
        let creds: Credentials = [(
            "key_secret".to_string(),
            Secret::new("abcdefgh1234".to_string()),
        )]
        .into();
        assert_eq!(hints(&creds)["key_secret"], "…1234");
        let short: Credentials = [("pin".to_string(), Secret::new("12".to_string()))].into();
        assert_eq!(hints(&short)["pin"], "…12");
    }
}
