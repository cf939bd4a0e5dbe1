//! The `Router` port: which gateway account takes a payment. This is the priority router (the
//! first enabled, active account of the merchant's pool in the payment's environment); smart
//! routing and failover replace it behind the same trait.

use crate::db::Transaction;
use crate::db::record::Record;
use crate::error::AppError;
use crate::ids::{GatewayAccountId, MerchantId};
use crate::mode::Mode;
use async_trait::async_trait;
use tokio_postgres::types::Type;

/// The chosen account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The account.
    pub account: GatewayAccountId,
    /// Its provider.
    pub provider: String,
}

/// Chooses a gateway account for a payment.
#[async_trait]
pub trait Router: Send + Sync {
    /// An account for `merchant`'s payment of `amount` paise in `mode`.
    async fn choose(
        &self,
        tx: &Transaction<'_>,
        merchant: MerchantId,
        mode: Mode,
        amount: i64,
    ) -> Result<Route, AppError>;
}

/// Lowest priority number first; in test mode the platform's sandbox is the fallback.
pub struct PgRouter;

#[async_trait]
impl Router for PgRouter {
    async fn choose(
        &self,
        tx: &Transaction<'_>,
        merchant: MerchantId,
        mode: Mode,
        _amount: i64,
    ) -> Result<Route, AppError> {
        let row = tx
            .query_typed_opt(
                "SELECT a.id, a.provider, 0 AS rank, p.priority FROM routing_pool_members p
                   JOIN gateway_accounts a ON a.id = p.gateway_account_id
                  WHERE p.merchant_id = $1 AND p.enabled AND a.status = 'active' AND a.environment = $2
                 UNION ALL
                 SELECT a.id, a.provider, 1, 0 FROM gateway_accounts a
                  WHERE $2 = 'test' AND a.provider = 'sandbox' AND a.ownership = 'platform' AND a.status = 'active'
                 ORDER BY 3, 4, 1 LIMIT 1",
                &[(&merchant.as_uuid(), Type::UUID), (&mode.as_str(), Type::TEXT)],
            )
            .await?;
        let row = row.ok_or_else(|| {
            AppError::GatewayUnavailable(format!(
                "no active gateway account can take {mode} payments for this merchant"
            ))
        })?;
        let row = Record::new(&row, "gateway_accounts");
        Ok(Route {
            account: GatewayAccountId::from_uuid(row.get("id")?),
            provider: row.get("provider")?,
        })
    }
}
