//! `Idempotency-Key` for requests that create something. The key row is written in the same
//! transaction as the change, so a concurrent duplicate waits for the first to commit and then
//! replays its stored response; a duplicate that waits too long gets 409; the same key with a
//! different request is refused; a request that fails validation never stores anything.

use crate::crypto::sha256;
use crate::db::Transaction;
use crate::db::record::{DecodeError, Record};
use crate::error::AppError;
use crate::ids::MerchantId;
use crate::mode::Mode;
use http::StatusCode;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Type;

/// The stored response of an earlier request with the same key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replay {
    /// Its status.
    pub status: StatusCode,
    /// Its body, byte for byte.
    pub body: String,
}

/// A claimed key, to complete with the response before commit.
#[derive(Debug, Clone)]
pub struct Claim {
    merchant: MerchantId,
    mode: Mode,
    key: String,
}

/// Checks a key's shape: 1–255 printable ASCII characters.
pub fn check_key(key: &str) -> Result<(), AppError> {
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(invalid_key());
    }
    Ok(())
}

/// The refusal of an `Idempotency-Key` the server cannot use.
pub fn invalid_key() -> AppError {
    AppError::field(
        "Idempotency-Key",
        "must be 1-255 printable ASCII characters",
    )
}

/// The fingerprint of a request: its path and its canonical JSON body (key order and spacing
/// do not matter).
pub fn fingerprint(path: &str, body: &serde_json::Value) -> [u8; 32] {
    sha256(format!("{path}\n{body}").as_bytes())
}

/// Claims `key` for this transaction, or finds the earlier request's response.
pub async fn claim(
    tx: &Transaction<'_>,
    merchant: MerchantId,
    mode: Mode,
    key: &str,
    fingerprint: [u8; 32],
) -> Result<Result<Claim, Replay>, AppError> {
    let fingerprint = fingerprint.to_vec();
    // Wait a little for a concurrent request with the same key, not forever.
    tx.batch_execute("SET LOCAL lock_timeout = '5s'").await?;
    let inserted = tx
        .query_typed_opt(
            "INSERT INTO idempotency_keys (merchant_id, mode, key, fingerprint) VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING RETURNING 1",
            &[(&merchant.as_uuid(), Type::UUID), (&mode.as_str(), Type::TEXT), (&key, Type::TEXT), (&fingerprint, Type::BYTEA)],
        )
        .await;
    let inserted = match inserted {
        Err(e) if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) => {
            return Err(AppError::IdempotencyInProgress);
        }
        other => other?,
    };
    tx.batch_execute("SET LOCAL lock_timeout = 0").await?;
    if inserted.is_some() {
        return Ok(Ok(Claim {
            merchant,
            mode,
            key: key.to_string(),
        }));
    }
    let row = tx
        .query_typed_one(
            "SELECT fingerprint, response_status, response_body FROM idempotency_keys WHERE merchant_id = $1 AND mode = $2 AND key = $3",
            &[(&merchant.as_uuid(), Type::UUID), (&mode.as_str(), Type::TEXT), (&key, Type::TEXT)],
        )
        .await?;
    let row = Record::new(&row, "idempotency_keys");
    if row.get::<&[u8]>("fingerprint")? != fingerprint.as_slice() {
        return Err(AppError::IdempotencyKeyReused);
    }
    match (
        row.get::<Option<i32>>("response_status")?,
        row.get::<Option<String>>("response_body")?,
    ) {
        (Some(status), Some(body)) => Ok(Err(Replay {
            // A stored status that is not one is corruption: replaying it as some other status
            // would tell the client something the first request never answered.
            status: u16::try_from(status)
                .ok()
                .and_then(|s| StatusCode::from_u16(s).ok())
                .ok_or_else(|| DecodeError {
                    table: "idempotency_keys",
                    column: "response_status".into(),
                    reason: format!("{status} is not an HTTP status"),
                })?,
            body,
        })),
        _ => Err(AppError::IdempotencyInProgress),
    }
}

/// Stores the response for the claimed key (before the transaction commits).
pub async fn complete(
    tx: &Transaction<'_>,
    claim: &Claim,
    status: StatusCode,
    body: &str,
) -> Result<(), AppError> {
    tx.execute_typed(
        "UPDATE idempotency_keys SET response_status = $4, response_body = $5 WHERE merchant_id = $1 AND mode = $2 AND key = $3",
        &[
            (&claim.merchant.as_uuid(), Type::UUID),
            (&claim.mode.as_str(), Type::TEXT),
            (&claim.key, Type::TEXT),
            (&i32::from(status.as_u16()), Type::INT4),
            (&body, Type::TEXT),
        ],
    )
    .await?;
    Ok(())
}
