//! `Idempotency-Key` on the endpoints that move money (`/pay`, refunds): the first request with a
//! key stores its response in the same database transaction as what it created; a repeat gets
//! that response back, marked `Idempotent-Replayed: true`.

use crate::context::RequestContext;
use shared::AppError;
use shared::db::Transaction;
use shared::http::ApiResponse;
use shared::ids::MerchantId;
use shared::mode::Mode;
use shared::payments::idempotency::{self, Claim};

/// The request's key, checked before anything is validated or written. A key the server cannot
/// use (not text, not printable ASCII, empty, too long, or sent twice) is refused, never dropped:
/// dropping it would turn the merchant's retry into a second payment.
pub fn key(ctx: &RequestContext) -> Result<Option<String>, AppError> {
    let mut values = ctx.request.headers.get_all("idempotency-key").iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(AppError::field("Idempotency-Key", "must be sent once"));
    }
    // `to_str` fails on bytes outside visible ASCII (what used to drop the key silently).
    let key = match value.to_str() {
        Ok(text) => text.trim(),
        Err(_) => return Err(idempotency::invalid_key()),
    };
    idempotency::check_key(key)?;
    Ok(Some(key.to_string()))
}

/// Claims `key` in `tx` for a request whose body is `raw`; `Err` is the stored answer to replay
/// (commit `tx` and return it).
pub async fn claim(
    tx: &Transaction<'_>,
    ctx: &RequestContext,
    merchant: MerchantId,
    mode: Mode,
    key: Option<&str>,
    raw: &serde_json::Value,
) -> Result<Result<Option<Claim>, ApiResponse>, AppError> {
    let Some(key) = key else {
        return Ok(Ok(None));
    };
    let fingerprint = idempotency::fingerprint(&ctx.request.path, raw);
    match idempotency::claim(tx, merchant, mode, key, fingerprint).await? {
        Ok(claim) => Ok(Ok(Some(claim))),
        Err(replay) => {
            let mut response = ApiResponse::json(
                replay.status,
                &serde_json::from_str(&replay.body).unwrap_or_default(),
            );
            response.body = replay.body.into();
            response.set_header("idempotent-replayed", "true");
            Ok(Err(response))
        }
    }
}

/// Stores `response` for the claimed key, before `tx` commits.
pub async fn complete(
    tx: &Transaction<'_>,
    claim: Option<&Claim>,
    response: &ApiResponse,
) -> Result<(), AppError> {
    match claim {
        Some(claim) => {
            idempotency::complete(
                tx,
                claim,
                response.status,
                &String::from_utf8_lossy(&response.body),
            )
            .await
        }
        None => Ok(()),
    }
}
