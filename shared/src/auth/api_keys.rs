//! Merchant API key pairs: `lsp_test_…` / `lsp_live_…` client keys with a secret that is shown
//! once and stored only as its SHA-256. Secrets carry 238 bits of entropy, so a fast hash is the
//! right tool (a slow password hash would only slow every API call).

use super::{Identified, MerchantActor, Principal};
use crate::crypto::{constant_time_eq, random, sha256};
use crate::db::DbError;
use crate::db::Transaction;
use crate::db::record::Record;
use crate::error::{AppError, AuthFailure};
use crate::ids::{CredentialId, MerchantId};
use crate::mode::Mode;
use crate::secret::Secret;
use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_postgres::types::Type;

const KEY_BODY_LEN: usize = 24;
const SECRET_BODY_LEN: usize = 40;

/// A freshly issued key pair; the only moment the secret exists in plaintext.
#[derive(Debug, Clone)]
pub struct IssuedCredential {
    /// The credential row.
    pub id: CredentialId,
    /// The mode the pair acts in.
    pub mode: Mode,
    /// The public client key.
    pub client_key: String,
    /// The secret, to hand to the merchant once.
    pub client_secret: Secret<String>,
    /// When it was issued.
    pub created_at: DateTime<Utc>,
}

/// A stored key pair as merchants and operators may see it: never the secret.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CredentialSummary {
    /// The credential row.
    pub id: CredentialId,
    /// The mode.
    pub mode: Mode,
    /// The public client key.
    pub client_key: String,
    /// The first 8 hex characters of the secret's SHA-256, to tell secrets apart: a merchant can
    /// compute the same from the secret it holds. No part of the secret itself is kept or shown;
    /// unlike a short gateway salt, a 238-bit random secret cannot be recovered from its hash.
    pub secret_fingerprint: String,
    /// When it was issued.
    pub created_at: DateTime<Utc>,
    /// When a rotated-out pair stops working (`None`: the current pair).
    pub expires_at: Option<DateTime<Utc>>,
}

fn well_formed_key(key: &str) -> Option<Mode> {
    let (mode, body) = if let Some(body) = key.strip_prefix("lsp_test_") {
        (Mode::Test, body)
    } else {
        (Mode::Live, key.strip_prefix("lsp_live_")?)
    };
    (body.len() == KEY_BODY_LEN && body.bytes().all(|b| b.is_ascii_alphanumeric())).then_some(mode)
}

/// The longest a rotated-out pair may keep working: long enough to roll a fleet, short enough
/// that a leaked pair does not outlive its replacement by more than a day.
pub const MAX_GRACE_SECONDS: u32 = 86_400;

/// Issues a new key pair for `merchant` in `mode`, revoking the active one for that mode.
pub async fn rotate(
    tx: &Transaction<'_>,
    merchant: MerchantId,
    mode: Mode,
) -> Result<IssuedCredential, DbError> {
    rotate_with_grace(tx, merchant, mode, 0).await
}

/// Issues a new key pair for `merchant` in `mode`. The active pair keeps working for
/// `grace_seconds` (0: revoked at once; callers check [`MAX_GRACE_SECONDS`]); a pair still in an
/// earlier grace period is revoked now, so at most two pairs per mode ever work.
pub async fn rotate_with_grace(
    tx: &Transaction<'_>,
    merchant: MerchantId,
    mode: Mode,
    grace_seconds: u32,
) -> Result<IssuedCredential, DbError> {
    let merchant_uuid = merchant.as_uuid();
    let mode_name = mode.as_str();
    let grace = f64::from(grace_seconds);
    tx.execute_typed(
        "UPDATE merchant_credentials SET revoked_at = now()
         WHERE merchant_id = $1 AND mode = $2 AND revoked_at IS NULL
           AND (expires_at IS NOT NULL OR $3 = 0)",
        &[
            (&merchant_uuid, Type::UUID),
            (&mode_name, Type::TEXT),
            (&grace, Type::FLOAT8),
        ],
    )
    .await?;
    tx.execute_typed(
        "UPDATE merchant_credentials SET expires_at = now() + make_interval(secs => $3)
         WHERE merchant_id = $1 AND mode = $2 AND revoked_at IS NULL AND expires_at IS NULL",
        &[
            (&merchant_uuid, Type::UUID),
            (&mode_name, Type::TEXT),
            (&grace, Type::FLOAT8),
        ],
    )
    .await?;
    let id = CredentialId::generate();
    let client_key = format!("lsp_{mode}_{}", random::base62(KEY_BODY_LEN));
    let client_secret = format!("lsp_{mode}_sk_{}", random::base62(SECRET_BODY_LEN));
    let hash = sha256(client_secret.as_bytes()).to_vec();
    let row = tx
        .query_typed_one(
            "INSERT INTO merchant_credentials (id, merchant_id, mode, client_key, secret_hash)
             VALUES ($1, $2, $3, $4, $5) RETURNING created_at",
            &[
                (&id.as_uuid(), Type::UUID),
                (&merchant_uuid, Type::UUID),
                (&mode_name, Type::TEXT),
                (&client_key, Type::TEXT),
                (&hash, Type::BYTEA),
            ],
        )
        .await?;
    Ok(IssuedCredential {
        id,
        mode,
        client_key,
        client_secret: Secret::new(client_secret),
        created_at: Record::new(&row, "merchant_credentials").get("created_at")?,
    })
}

/// The merchant's working key pairs (including rotated-out pairs still in their grace period),
/// only those of `mode` when given: a caller acting in test mode is not shown live keys.
pub async fn list_active(
    tx: &Transaction<'_>,
    merchant: MerchantId,
    mode: Option<Mode>,
) -> Result<Vec<CredentialSummary>, AppError> {
    let mode_name = mode.map(Mode::as_str);
    let rows = tx
        .query_typed(
            "SELECT id, mode, client_key, encode(substr(secret_hash, 1, 4), 'hex') AS secret_fingerprint,
                    created_at, expires_at FROM merchant_credentials
             WHERE merchant_id = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
               AND ($2::text IS NULL OR mode = $2)
             ORDER BY mode, created_at DESC",
            &[(&merchant.as_uuid(), Type::UUID), (&mode_name, Type::TEXT)],
        )
        .await?;
    rows.iter()
        .map(|row| {
            let r = Record::new(row, "merchant_credentials");
            Ok(CredentialSummary {
                id: CredentialId::from_uuid(r.get("id")?),
                mode: r.parse("mode")?,
                client_key: r.get("client_key")?,
                secret_fingerprint: r.get("secret_fingerprint")?,
                created_at: r.get("created_at")?,
                expires_at: r.get("expires_at")?,
            })
        })
        .collect()
}

/// Finds the merchant behind a key pair (runs in system scope: the merchant is not known yet).
pub(crate) async fn identify(
    tx: &Transaction<'_>,
    client_key: &str,
    client_secret: &str,
) -> Result<Identified, AppError> {
    let invalid = AppError::Unauthorized(AuthFailure::InvalidCredentials);
    let Some(key_mode) = well_formed_key(client_key) else {
        return Err(invalid);
    };
    let presented = sha256(client_secret.as_bytes());
    // The merchant's status comes with the key, so suspension costs no extra round trip (F3).
    let row = tx
        .query_typed_opt(
            "SELECT c.id, c.merchant_id, c.mode, c.secret_hash, m.live_enabled, m.rate_limit_per_minute,
                    m.status = 'suspended' AS suspended
             FROM merchant_credentials c JOIN merchants m ON m.id = c.merchant_id
             WHERE c.client_key = $1 AND c.revoked_at IS NULL
               AND (c.expires_at IS NULL OR c.expires_at > now())",
            &[(&client_key, Type::TEXT)],
        )
        .await?;
    let Some(row) = row else { return Err(invalid) };
    let r = Record::new(&row, "merchant_credentials");
    let stored: &[u8] = r.get("secret_hash")?;
    if !constant_time_eq(stored, &presented) {
        return Err(invalid);
    }
    let stored_mode: Mode = r.parse("mode")?;
    if stored_mode != key_mode {
        return Err(invalid);
    }
    if key_mode == Mode::Live && !r.get::<bool>("live_enabled")? {
        return Err(AppError::Unauthorized(AuthFailure::ModeNotEnabled));
    }
    let limit: Option<i32> = r.get("rate_limit_per_minute")?;
    Ok(Identified {
        principal: Principal::Merchant {
            merchant_id: MerchantId::from_uuid(r.get("merchant_id")?),
            mode: key_mode,
            via: MerchantActor::ApiKey(CredentialId::from_uuid(r.get("id")?)),
            suspended: r.get("suspended")?,
        },
        rate_limit_override: limit.and_then(|l| u32::try_from(l).ok()),
    })
}

/// Whether `key` has the shape of a client key, so that it may name a failure counter (anything
/// else would let a caller choose arbitrary counter names).
pub(crate) fn is_well_formed(key: &str) -> bool {
    well_formed_key(key).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_shape_tells_the_mode() {
        assert_eq!(
            well_formed_key("lsp_test_abcdefghijklmnopqrstuvwx"),
            Some(Mode::Test)
        );
        assert_eq!(
            well_formed_key(&format!("lsp_live_{}", "x".repeat(24))),
            Some(Mode::Live)
        );
        assert_eq!(well_formed_key("lsp_live_abc"), None);
        assert_eq!(well_formed_key("lsp_prod_abcdefghijklmnopqrstuvwx"), None);
        assert_eq!(well_formed_key("lsp_test_abcdefghijklmnopqrstuv-x"), None);
    }
}
