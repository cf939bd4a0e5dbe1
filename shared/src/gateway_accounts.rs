//! Gateway accounts: a configured account at a payment gateway. Its credentials are sealed with
//! AES-256-GCM before they reach the database, bound to the account's id, and only their last
//! four characters are ever shown.

use crate::audit::{self, AuditContext, AuditEvent};
use crate::crypto::cipher::{KeyRing, Sealed};
use crate::db::Transaction;
use crate::error::AppError;
use crate::gateways::{Account, Gateways};
use crate::http::pagination::{Page, PageRequest};
use crate::ids::{GatewayAccountId, MerchantId};
use crate::mode::Mode;
use crate::secret::Secret;
use crate::validation::FieldErrors;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use tokio_postgres::Row;
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
    crate::gateway_lookup::record(tx, id, &account.provider, &account.credentials).await?;
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

/// A gateway account as operators see it: its credentials only as their last four characters.
#[derive(Debug, Clone, Serialize)]
pub struct GatewayAccountView {
    /// The account.
    pub id: GatewayAccountId,
    /// `razorpay`, `payu`, …
    pub provider: String,
    /// A name for operators.
    pub label: String,
    /// Test or live environment of the gateway.
    pub environment: Mode,
    /// `platform` or `merchant`.
    pub ownership: String,
    /// The owning merchant, for merchant-owned accounts.
    pub merchant_id: Option<MerchantId>,
    /// `active` or `disabled`.
    pub status: String,
    /// `…` and the last four characters of each credential.
    pub credentials: Value,
    /// When it was added.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

const VIEW_COLUMNS: &str = "id, provider, label, environment, ownership, owner_merchant_id, status, \
     credentials_hint, created_at, updated_at";

impl GatewayAccountView {
    fn from_row(row: &Row) -> GatewayAccountView {
        GatewayAccountView {
            id: GatewayAccountId::from_uuid(row.get(0)),
            provider: row.get(1),
            label: row.get(2),
            environment: if row.get::<_, &str>(3) == "live" {
                Mode::Live
            } else {
                Mode::Test
            },
            ownership: row.get(4),
            merchant_id: row
                .get::<_, Option<uuid::Uuid>>(5)
                .map(MerchantId::from_uuid),
            status: row.get(6),
            credentials: row.get(7),
            created_at: row.get(8),
            updated_at: row.get(9),
        }
    }
}

/// What an operator sends to add an account.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddGatewayAccount {
    /// `razorpay`, `payu`, `cashfree`, `phonepe`, `easebuzz`, `stripe` or `sandbox`.
    pub provider: String,
    /// A name for operators.
    pub label: String,
    /// `test` or `live`.
    pub environment: String,
    /// The merchant that owns it (the gateway settles to the merchant); the platform's otherwise.
    pub merchant_id: Option<String>,
    /// The provider's credential fields.
    pub credentials: BTreeMap<String, String>,
}

/// Checks an operator's request against what the provider needs; every problem at once.
pub fn validate(
    gateways: &Gateways,
    request: AddGatewayAccount,
) -> Result<NewGatewayAccount, AppError> {
    let mut errors = FieldErrors::new();
    let label = request.label.trim().to_string();
    if label.is_empty() || label.chars().count() > 200 {
        errors.add("label", "must be 1 to 200 characters");
    }
    let environment = match request.environment.parse::<Mode>() {
        Ok(mode) => Some(mode),
        Err(_) => {
            errors.add("environment", "must be 'test' or 'live'");
            None
        }
    };
    let ownership = match request.merchant_id.as_deref().map(str::parse::<MerchantId>) {
        None => Some(Ownership::Platform),
        Some(Ok(id)) => Some(Ownership::Merchant(id)),
        Some(Err(_)) => {
            errors.add("merchant_id", "is not a merchant id");
            None
        }
    };
    match gateways.get(&request.provider) {
        None => errors.add(
            "provider",
            format!("must be one of: {}", gateways.names().join(", ")),
        ),
        Some(gateway) => {
            let required = gateway.required_credentials();
            for name in required {
                let present = request
                    .credentials
                    .get(*name)
                    .is_some_and(|v| !v.trim().is_empty());
                if !present {
                    errors.add(format!("credentials.{name}"), "is required");
                }
            }
            for name in request.credentials.keys() {
                if !required.contains(&name.as_str()) {
                    errors.add(
                        format!("credentials.{name}"),
                        format!(
                            "is not a {} credential (expected: {})",
                            request.provider,
                            required.join(", ")
                        ),
                    );
                }
            }
            for (name, value) in &request.credentials {
                if value.len() > 4096 {
                    errors.add(format!("credentials.{name}"), "is longer than 4096 bytes");
                }
            }
        }
    }
    // The sandbox pays anything anyone presses Pay on: it must never hold live money (F9).
    if request.provider == "sandbox" && environment == Some(Mode::Live) {
        errors.add(
            "environment",
            "the sandbox is a test gateway: its accounts must be 'test'",
        );
    }
    errors.into_result()?;
    match (environment, ownership) {
        (Some(environment), Some(ownership)) => Ok(NewGatewayAccount {
            provider: request.provider,
            label,
            environment,
            ownership,
            credentials: request
                .credentials
                .into_iter()
                .map(|(k, v)| (k, Secret::new(v.trim().to_string())))
                .collect(),
        }),
        _ => Err(AppError::Internal("validated fields missing".into())),
    }
}

/// Stores a validated account and audits it (operator scope).
pub async fn add(
    tx: &Transaction<'_>,
    keys: &KeyRing,
    ctx: &AuditContext,
    account: &NewGatewayAccount,
) -> Result<GatewayAccountView, AppError> {
    if let Ownership::Merchant(merchant) = account.ownership {
        let exists = tx
            .query_typed_opt(
                "SELECT 1 FROM merchants WHERE id = $1",
                &[(&merchant.as_uuid(), Type::UUID)],
            )
            .await?
            .is_some();
        if !exists {
            return Err(AppError::field("merchant_id", "no such merchant"));
        }
    }
    let id = create(tx, keys, account).await?;
    let view = get(tx, id)
        .await?
        .ok_or(AppError::NotFound("gateway account"))?;
    audit::record(
        tx,
        ctx,
        AuditEvent::success("gateway_account.created")
            .merchant(view.merchant_id)
            .target("gateway_account", id)
            .change(None, serde_json::to_value(&view).ok()),
    )
    .await?;
    Ok(view)
}

/// One account, as operators see it.
pub async fn get(
    tx: &Transaction<'_>,
    id: GatewayAccountId,
) -> Result<Option<GatewayAccountView>, AppError> {
    let row = tx
        .query_typed_opt(
            &format!("SELECT {VIEW_COLUMNS} FROM gateway_accounts WHERE id = $1"),
            &[(&id.as_uuid(), Type::UUID)],
        )
        .await?;
    Ok(row.as_ref().map(GatewayAccountView::from_row))
}

/// Accounts, newest first, optionally of one provider.
pub async fn list(
    tx: &Transaction<'_>,
    page: &PageRequest<GatewayAccountId>,
    provider: Option<&str>,
) -> Result<Page<GatewayAccountView>, AppError> {
    let after = page.starting_after.map(|id| id.as_uuid());
    let rows = tx
        .query_typed(
            &format!(
                "SELECT {VIEW_COLUMNS} FROM gateway_accounts
                 WHERE ($1::uuid IS NULL OR id < $1) AND ($2::text IS NULL OR provider = $2)
                 ORDER BY id DESC LIMIT $3"
            ),
            &[
                (&after, Type::UUID),
                (&provider, Type::TEXT),
                (&page.fetch_limit(), Type::INT8),
            ],
        )
        .await?;
    Ok(Page::from_rows(
        rows.iter().map(GatewayAccountView::from_row).collect(),
        page.limit,
    ))
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
