//! The transaction monitor (every five minutes): asks gateways about attempts that went quiet and
//! expires payments past their expiry. It never guesses: a payment whose gateway cannot be asked
//! stays as it is until the next run.

use super::refunds;
use super::status::TransactionStatus;
use super::transactions::{self, Applied};
use crate::app::App;
use crate::db::record::Record;
use crate::db::{self, Scope};
use crate::error::AppError;
use crate::gateway_accounts;
use crate::gateways::{PaymentOutcome, StatusReport};
use crate::ids::{AttemptId, GatewayAccountId};
use serde::Serialize;
use tokio_postgres::types::Type;
use uuid::Uuid;

/// What one run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MonitorRun {
    /// Attempts whose gateway was asked.
    pub checked: usize,
    /// Payments whose status changed (expiries included).
    pub changed: usize,
    /// Payments expired.
    pub expired: usize,
    /// Gateways that could not be asked.
    pub unreachable: usize,
    /// Pending refunds asked about.
    pub refunds_checked: usize,
}

const BATCH: i64 = 100;

/// One pass over stale attempts and expired payments.
pub async fn run(app: &App) -> Result<MonitorRun, AppError> {
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::System).await?;
    let stale = app.config.payments.stale_after.as_secs_f64();
    let rows = tx
        .query_typed(
            "SELECT a.id, a.provider, a.gateway_account_id, a.gateway_reference, t.expires_at <= now() AS past_expiry,
                    a.status = 'amount_mismatch' AS flagged
             FROM transactions t
             JOIN LATERAL (SELECT * FROM transaction_attempts a WHERE a.transaction_id = t.id ORDER BY a.created_at DESC, a.id DESC LIMIT 1) a ON true
             WHERE t.status IN ('created', 'pending')
               AND (t.expires_at <= now() OR (a.gateway_reference IS NOT NULL AND a.status <> 'amount_mismatch'
                    AND a.updated_at < now() - make_interval(secs => $1)))
             ORDER BY t.expires_at LIMIT $2",
            &[(&stale, Type::FLOAT8), (&BATCH, Type::INT8)],
        )
        .await?;
    tx.commit().await?;
    let mut run = MonitorRun::default();
    for row in rows {
        let record = Record::new(&row, "transaction_attempts");
        let attempt = AttemptId::from_uuid(record.get("id")?);
        let provider: String = record.get("provider")?;
        let account = GatewayAccountId::from_uuid(record.get::<Uuid>("gateway_account_id")?);
        let reference: Option<String> = record.get("gateway_reference")?;
        let past_expiry: bool = record.get("past_expiry")?;
        let flagged: bool = record.get("flagged")?;
        let report = match &reference {
            // A success that did not match the payment was flagged for operators; asking again
            // would only repeat it, and the payment expires as if unpaid.
            Some(_) if flagged => Some(StatusReport::of(PaymentOutcome::Pending)),
            Some(reference) => {
                run.checked += 1;
                match ask(app, &provider, account, reference).await {
                    Ok(report) => Some(report),
                    Err(e) => {
                        run.unreachable += 1;
                        tracing::warn!(attempt = %attempt, provider = %provider, error = %e, "status query failed; will ask again");
                        None
                    }
                }
            }
            // No order was ever created at a gateway: nothing to ask, nothing can have been paid.
            None => Some(StatusReport::of(PaymentOutcome::Pending)),
        };
        let Some(report) = report else { continue };
        let mut client = app.db.client().await?;
        let tx = db::begin(&mut client, Scope::System).await?;
        let (applied, ids) = if report.status == PaymentOutcome::Pending && past_expiry {
            transactions::apply_expiry(&tx, app, attempt).await?
        } else {
            transactions::apply_report(&tx, app, attempt, &report).await?
        };
        if applied == Applied::Unchanged {
            // Still pending: wait another stale period before asking again.
            tx.execute_typed(
                "UPDATE transaction_attempts SET updated_at = now() WHERE id = $1",
                &[(&attempt.as_uuid(), Type::UUID)],
            )
            .await?;
        }
        tx.commit().await?;
        drop(client);
        app.publish(&ids).await;
        if let Applied::Changed(status) = applied {
            run.changed += 1;
            if status == TransactionStatus::Expired {
                run.expired += 1;
            }
        }
    }
    for refund in refunds::stale(app, app.config.payments.stale_after, BATCH).await? {
        run.refunds_checked += 1;
        if let Err(e) = refunds::poll(app, refund).await {
            run.unreachable += 1;
            tracing::warn!(refund = %refund, error = %e, "refund status unknown; will ask again");
        }
    }
    Ok(run)
}

async fn ask(
    app: &App,
    provider: &str,
    account: GatewayAccountId,
    reference: &str,
) -> Result<StatusReport, AppError> {
    let gateway = app.gateways.connector(provider)?;
    let account = {
        let mut client = app.db.client().await?;
        let tx = db::begin(&mut client, Scope::System).await?;
        let account = gateway_accounts::open(&tx, &app.config.encryption, account).await?;
        tx.commit().await?;
        account
    };
    gateway
        .fetch_status(&account, reference)
        .await
        .map_err(|e| AppError::GatewayUnavailable(e.to_string()))
}
