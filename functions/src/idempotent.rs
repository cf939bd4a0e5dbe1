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

/// The request's key, checked before anything is validated or written.
pub fn key(ctx: &RequestContext) -> Result<Option<String>, AppError> {
    let key = ctx.request.header("idempotency-key").map(str::to_string);
    if let Some(key) = &key {
        idempotency::check_key(key)?;
    }
    Ok(key)
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
