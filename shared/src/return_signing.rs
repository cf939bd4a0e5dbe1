//! The signature on the redirect that sends a customer back to the merchant's `return_url`.
//!
//! The redirect carries `transaction_id`, `order_id`, `status`, `mode`, `amount` (minor units),
//! `currency`, `ts` (Unix seconds when we built it) and `signature`: the lower-case hex
//! HMAC-SHA256, under the merchant's return signing secret of that mode, of the canonical string
//! `transaction_id|order_id|status|mode|amount|currency|ts` (the values, in that order, joined
//! with `|`; no value can contain `|`: order ids are limited to letters, digits and `. _ : / -`).
//!
//! The secret is per merchant and mode, sealed like gateway credentials (we must compute with
//! it, so a hash would not do). A merchant without one gets one at its first payment's redirect;
//! it is shown only by the rotate route, which replaces it and answers the new one once.

use crate::audit::{self, AuditContext, AuditEvent};
use crate::crypto::cipher::{KeyRing, Sealed};
use crate::crypto::random;
use crate::db::Transaction;
use crate::db::record::Record;
use crate::error::AppError;
use crate::gateways::signature::hmac_sha256_hex;
use crate::ids::{MerchantId, TransactionId};
use crate::mode::Mode;
use crate::reseal::{self, Plan, Resealed};
use crate::secret::Secret;
use chrono::{DateTime, Utc};
use serde_json::json;
use tokio_postgres::Row;
use tokio_postgres::types::Type;

fn aad(merchant: MerchantId, mode: Mode) -> Vec<u8> {
    format!("merchant_return_secret:{merchant}:{}", mode.as_str()).into_bytes()
}

fn generate(mode: Mode) -> Secret<String> {
    Secret::new(format!("lsp_rss_{}_{}", mode.as_str(), random::base62(40)))
}

/// What the redirect to the merchant says about a payment.
#[derive(Debug, Clone)]
pub struct ReturnParams {
    /// The payment.
    pub transaction_id: TransactionId,
    /// The merchant's order id.
    pub order_id: String,
    /// How it stands (`succeeded`, `failed`, `pending`, …).
    pub status: String,
    /// Test or live.
    pub mode: Mode,
    /// Minor units.
    pub amount: i64,
    /// ISO code.
    pub currency: String,
    /// Unix seconds when the redirect was built.
    pub ts: i64,
}

impl ReturnParams {
    /// The string the signature covers.
    pub fn canonical(&self) -> String {
        format!(
            "{}|{}|{}|{}|{}|{}|{}",
            self.transaction_id,
            self.order_id,
            self.status,
            self.mode.as_str(),
            self.amount,
            self.currency,
            self.ts
        )
    }

    /// The query parameters, `signature` last.
    pub fn signed_query(&self, secret: &Secret<String>) -> Vec<(&'static str, String)> {
        let signature = hmac_sha256_hex(secret.expose().as_bytes(), self.canonical().as_bytes());
        vec![
            ("transaction_id", self.transaction_id.to_string()),
            ("order_id", self.order_id.clone()),
            ("status", self.status.clone()),
            ("mode", self.mode.as_str().to_string()),
            ("amount", self.amount.to_string()),
            ("currency", self.currency.clone()),
            ("ts", self.ts.to_string()),
            ("signature", signature),
        ]
    }
}

/// The sealed secret of a row holding `return_secret_key_id`, `return_secret_nonce` and
/// `return_secret_ciphertext` (NULL when the merchant has none yet).
fn sealed_from(row: &Row, table: &'static str) -> Result<Option<Sealed>, AppError> {
    Ok(Record::new(row, table).sealed("return_secret_")?)
}

/// Opens a secret from a row holding `return_secret_key_id`, `return_secret_nonce` and
/// `return_secret_ciphertext` (NULL when the merchant has none yet).
pub fn open_from(
    row: &Row,
    table: &'static str,
    keys: &KeyRing,
    merchant: MerchantId,
    mode: Mode,
) -> Result<Option<Secret<String>>, AppError> {
    let Some(sealed) = sealed_from(row, table)? else {
        return Ok(None);
    };
    let plain = keys
        .open(&sealed, &aad(merchant, mode))
        .map_err(|e| AppError::Internal(format!("return signing secret of {merchant}: {e}")))?;
    String::from_utf8(plain)
        .map(|s| Some(Secret::new(s)))
        .map_err(|e| AppError::Internal(format!("return signing secret of {merchant}: {e}")))
}

/// The merchant's secret for `mode`, created now if it has none (never shown here).
pub async fn current_or_create(
    tx: &Transaction<'_>,
    keys: &KeyRing,
    merchant: MerchantId,
    mode: Mode,
) -> Result<Secret<String>, AppError> {
    let secret = generate(mode);
    let sealed = keys.seal(secret.expose().as_bytes(), &aad(merchant, mode));
    // Two first redirects may race: the first insert wins and both sign with what is stored.
    let row = tx
        .query_typed_one(
            "WITH inserted AS (
                 INSERT INTO merchant_return_secrets (merchant_id, mode, secret_key_id, secret_nonce, secret_ciphertext)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (merchant_id, mode) DO NOTHING
                 RETURNING secret_key_id, secret_nonce, secret_ciphertext)
             SELECT secret_key_id AS return_secret_key_id, secret_nonce AS return_secret_nonce,
                    secret_ciphertext AS return_secret_ciphertext FROM inserted
             UNION ALL
             SELECT secret_key_id, secret_nonce, secret_ciphertext FROM merchant_return_secrets
             WHERE merchant_id = $1 AND mode = $2 AND NOT EXISTS (SELECT 1 FROM inserted)",
            &[
                (&merchant.as_uuid(), Type::UUID),
                (&mode.as_str(), Type::TEXT),
                (&sealed.key_id, Type::TEXT),
                (&sealed.nonce.to_vec(), Type::BYTEA),
                (&sealed.ciphertext, Type::BYTEA),
            ],
        )
        .await?;
    open_from(&row, "merchant_return_secrets", keys, merchant, mode)?
        .ok_or_else(|| AppError::Internal("return signing secret vanished".into()))
}

/// A new secret, replacing the merchant's current one for `mode`; the only time it is shown.
pub async fn rotate(
    tx: &Transaction<'_>,
    keys: &KeyRing,
    merchant: MerchantId,
    mode: Mode,
) -> Result<(Secret<String>, DateTime<Utc>), AppError> {
    let secret = generate(mode);
    let sealed = keys.seal(secret.expose().as_bytes(), &aad(merchant, mode));
    let row = tx
        .query_typed_one(
            "INSERT INTO merchant_return_secrets (merchant_id, mode, secret_key_id, secret_nonce, secret_ciphertext)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (merchant_id, mode) DO UPDATE SET secret_key_id = excluded.secret_key_id,
                 secret_nonce = excluded.secret_nonce, secret_ciphertext = excluded.secret_ciphertext,
                 rotated_at = now()
             RETURNING coalesce(rotated_at, created_at) AS issued_at",
            &[
                (&merchant.as_uuid(), Type::UUID),
                (&mode.as_str(), Type::TEXT),
                (&sealed.key_id, Type::TEXT),
                (&sealed.nonce.to_vec(), Type::BYTEA),
                (&sealed.ciphertext, Type::BYTEA),
            ],
        )
        .await?;
    let issued_at = Record::new(&row, "merchant_return_secrets").get("issued_at")?;
    Ok((secret, issued_at))
}

/// Secrets to re-seal: sealed under another key than the active one (platform scope).
pub async fn needing_reseal(
    tx: &Transaction<'_>,
    keys: &KeyRing,
) -> Result<Vec<(MerchantId, Mode)>, AppError> {
    let rows = tx
        .query_typed(
            "SELECT merchant_id, mode FROM merchant_return_secrets WHERE secret_key_id <> $1
             ORDER BY merchant_id, mode",
            &[(&keys.active_key_id(), Type::TEXT)],
        )
        .await?;
    rows.iter()
        .map(|row| {
            let record = Record::new(row, "merchant_return_secrets");
            Ok((
                MerchantId::from_uuid(record.get("merchant_id")?),
                record.parse::<Mode>("mode")?,
            ))
        })
        .collect()
}

/// Seals one secret again under the active key, inside `tx` with the row locked (platform
/// scope). The secret itself does not change, so the merchant's copy still verifies. Audited.
pub async fn reseal(
    tx: &Transaction<'_>,
    keys: &KeyRing,
    ctx: &AuditContext,
    merchant: MerchantId,
    mode: Mode,
) -> Result<Resealed, AppError> {
    let row = tx
        .query_typed_opt(
            "SELECT secret_key_id AS return_secret_key_id, secret_nonce AS return_secret_nonce,
                    secret_ciphertext AS return_secret_ciphertext
             FROM merchant_return_secrets WHERE merchant_id = $1 AND mode = $2 FOR UPDATE",
            &[
                (&merchant.as_uuid(), Type::UUID),
                (&mode.as_str(), Type::TEXT),
            ],
        )
        .await?;
    let Some(sealed) = row
        .map(|row| sealed_from(&row, "merchant_return_secrets"))
        .transpose()?
        .flatten()
    else {
        return Ok(Resealed::Current);
    };
    let row_name = format!("return signing secret of {merchant} ({mode})");
    let resealed = match reseal::plan(keys, &sealed, &aad(merchant, mode), &row_name)? {
        Plan::Leave(outcome) => return Ok(outcome),
        Plan::Store(resealed) => resealed,
    };
    tx.execute_typed(
        "UPDATE merchant_return_secrets SET secret_key_id = $3, secret_nonce = $4, secret_ciphertext = $5
         WHERE merchant_id = $1 AND mode = $2",
        &[
            (&merchant.as_uuid(), Type::UUID),
            (&mode.as_str(), Type::TEXT),
            (&resealed.key_id, Type::TEXT),
            (&resealed.nonce.to_vec(), Type::BYTEA),
            (&resealed.ciphertext, Type::BYTEA),
        ],
    )
    .await?;
    audit::record(
        tx,
        ctx,
        AuditEvent::success("merchant_return_secret.resealed")
            .merchant(merchant)
            .target("merchant_return_secret", format!("{merchant}/{mode}"))
            .change(
                Some(json!({ "key_id": sealed.key_id })),
                Some(json!({ "key_id": resealed.key_id })),
            ),
    )
    .await?;
    Ok(Resealed::Done {
        from: sealed.key_id,
    })
}
