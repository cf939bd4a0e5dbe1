//! Which gateway accounts an inbound webhook may come from, decided before any credential is
//! opened: the account its URL names (`/api/v1/webhooks/{provider}/{account_id}`, the notify URL
//! new orders carry), or, on the older provider-wide path, the provider's active accounts narrowed
//! by a public identifier the gateway puts in the request (PayU and Easebuzz `key`, PhonePe
//! `merchantId`). Razorpay's `account_id` and Stripe's `account` name the gateway's own account
//! objects, which no credential we store identifies, so those providers are not narrowed on the
//! old path. Accounts stored before identifiers were recorded have none and always stay
//! candidates: narrowing only ever drops an account that names another identifier.

use crate::db::Transaction;
use crate::error::AppError;
use crate::ids::GatewayAccountId;
use base64::Engine;
use tokio_postgres::types::Type;

/// The account identifier a webhook request carries, if its provider sends one. Nothing here is
/// trusted: it only chooses which accounts' secrets are tried.
pub fn identifier_in_request(provider: &str, body: &[u8]) -> Option<String> {
    match provider {
        "payu" | "easebuzz" => form_urlencoded::parse(body)
            .find(|(name, _)| name == "key")
            .map(|(_, value)| value.into_owned()),
        "phonepe" => {
            let callback: serde_json::Value = serde_json::from_slice(body).ok()?;
            let encoded = callback.get("response")?.as_str()?;
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .ok()?;
            let envelope: serde_json::Value = serde_json::from_slice(&decoded).ok()?;
            envelope
                .pointer("/data/merchantId")?
                .as_str()
                .map(str::to_string)
        }
        _ => None,
    }
    .filter(|value| !value.is_empty() && value.len() <= 200)
}

/// The active accounts of `provider` whose secrets may verify this webhook, in a stable order.
pub async fn candidates(
    tx: &Transaction<'_>,
    provider: &str,
    named: Option<GatewayAccountId>,
    body: &[u8],
) -> Result<Vec<GatewayAccountId>, AppError> {
    let identifier = match named {
        Some(_) => None,
        None => identifier_in_request(provider, body),
    };
    let rows = tx
        .query_typed(
            "SELECT id FROM gateway_accounts
             WHERE provider = $1 AND status = 'active' AND ($2::uuid IS NULL OR id = $2)
               AND ($3::text IS NULL OR public_identifier IS NULL OR public_identifier = $3)
             ORDER BY id",
            &[
                (&provider, Type::TEXT),
                (&named.map(|id| id.as_uuid()), Type::UUID),
                (&identifier, Type::TEXT),
            ],
        )
        .await?;
    rows.iter()
        .map(|row| {
            crate::db::record::Record::new(row, "gateway_accounts")
                .get("id")
                .map(GatewayAccountId::from_uuid)
                .map_err(AppError::from)
        })
        .collect()
}
