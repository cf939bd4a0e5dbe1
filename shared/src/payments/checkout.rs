//! The customer's side of a payment: making sure the gateway order exists (exactly once, whether
//! the worker or the checkout page gets there first), handing the customer to the gateway, and
//! the verified browser return.

use super::status::TransactionStatus;
use super::transactions::{self, Applied};
use crate::app::App;
use crate::db::record::Record;
use crate::db::{self, Scope};
use crate::error::AppError;
use crate::gateway_accounts;
use crate::gateways::{
    Account, CreatedOrder, Gateway, GatewayError, Handoff, OrderRequest, PaymentOutcome,
    StatusReport,
};
use crate::html::{escape, page, rupees};
use crate::ids::{AttemptId, GatewayAccountId, MerchantId, TransactionId};
use crate::jobs::outbox::{self, Outgoing};
use crate::mode::Mode;
use crate::money::Currency;
use crate::return_signing::{self, ReturnParams};
use crate::routing::failover::{self, CallOutcome};
use crate::secret::Secret;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio_postgres::types::Type;
use uuid::Uuid;

fn gateway(app: &App, provider: &str) -> Result<Arc<dyn Gateway>, AppError> {
    Ok(app.gateways.connector(provider)?)
}

/// The gateway side of an attempt, once its order exists.
pub struct Ordered {
    /// The attempt whose order it is (after any failover, not the one first asked about).
    pub attempt: AttemptId,
    /// What was (or would be) asked of the gateway.
    pub request: OrderRequest,
    /// The order.
    pub order: CreatedOrder,
    /// The account it was created on.
    pub account: Account,
    /// The connector.
    pub gateway: Arc<dyn Gateway>,
}

/// How long one caller may spend creating an attempt's order before another may try.
const ORDER_LEASE_SECONDS: f64 = 30.0;

/// What `ensure_order` found or did.
pub enum OrderState {
    /// The order exists.
    Ready(Box<Ordered>),
    /// Someone else is creating it right now.
    Busy,
    /// The payment is no longer open, or the gateway refused the order for good.
    Closed,
    /// The order could not be made at this attempt's account; the payment moved to a new
    /// attempt at another account.
    Moved(AttemptId),
}

/// Makes sure the attempt's order exists at its gateway, creating it at most once: the caller
/// first takes a short lease on the attempt (worker and checkout page race for it), then calls
/// the gateway without holding a database connection, then records the order. `scope` is
/// [`Scope::Public`] from the checkout page and [`Scope::System`] from the worker.
pub async fn ensure_order(
    app: &App,
    attempt: AttemptId,
    scope: Scope,
) -> Result<OrderState, AppError> {
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, scope).await?;
    let row = tx
        .query_typed_opt(
            "SELECT a.provider, a.gateway_account_id, a.gateway_reference, a.pay_url, a.status AS attempt_status,
                    t.id AS transaction_id, t.status AS transaction_status, t.amount, t.currency, t.customer_name, t.customer_email, t.customer_phone, t.description,
                    (a.order_lease_until IS NULL OR a.order_lease_until < now()) AS lease_free, a.order_unconfirmed_at IS NOT NULL AS unconfirmed,
                    a.checkout_token
             FROM transaction_attempts a JOIN transactions t ON t.id = a.transaction_id
             WHERE a.id = $1 FOR UPDATE OF a",
            &[(&attempt.as_uuid(), Type::UUID)],
        )
        .await?
        .ok_or(AppError::NotFound("attempt"))?;
    let row = Record::new(&row, "transaction_attempts");
    let provider: String = row.get("provider")?;
    let gateway = gateway(app, &provider)?;
    let account = gateway_accounts::open(
        &tx,
        &app.config.encryption,
        GatewayAccountId::from_uuid(row.get("gateway_account_id")?),
    )
    .await?;
    let transaction = TransactionId::from_uuid(row.get("transaction_id")?);
    let base = &app.config.http.public_base_url;
    let request = OrderRequest {
        receipt: attempt.to_string(),
        amount: row.get("amount")?,
        currency: row.parse::<Currency>("currency")?,
        customer_name: row.get("customer_name")?,
        customer_email: row.get("customer_email")?,
        customer_phone: row.get("customer_phone")?,
        description: row.get("description")?,
        notify_url: format!("{base}/api/v1/webhooks/{provider}/{}", account.id),
        return_url: format!("{base}/api/v1/checkout/{transaction}/return"),
    };
    if let Some(reference) = row.get::<Option<String>>("gateway_reference")? {
        tx.commit().await?;
        return Ok(OrderState::Ready(Box::new(Ordered {
            attempt,
            request,
            order: CreatedOrder {
                reference,
                pay_url: row.get("pay_url")?,
                checkout_token: row
                    .get::<Option<String>>("checkout_token")?
                    .map(Secret::new),
            },
            account,
            gateway,
        })));
    }
    let status: TransactionStatus = row.parse("transaction_status")?;
    if !status.is_open() || row.get::<&str>("attempt_status")? != "created" {
        tx.commit().await?;
        return Ok(OrderState::Closed);
    }
    if !row.get::<bool>("lease_free")? {
        tx.commit().await?;
        return Ok(OrderState::Busy);
    }
    let unconfirmed = row.get::<bool>("unconfirmed")?;
    // An account whose breaker is open (or that an operator disabled since) is not asked at all
    // while another can take the payment (never after a create that may have reached it: that
    // one is looked up first).
    if !unconfirmed
        && failover::refuses(&tx, app, account.id).await?
        && let Some((next, ids)) = failover::failover(
            &tx,
            app,
            attempt,
            "the account's circuit breaker is open or the account is no longer active",
        )
        .await?
    {
        tx.commit().await?;
        drop(client);
        app.publish(&ids).await;
        return Ok(OrderState::Moved(next));
    }
    // Marked before the gateway is asked: whatever happens next (a lost answer, a crash, a lease
    // that runs out), the next try looks the order up before it ever creates one.
    let leased = tx
        .query_typed_one(
            "UPDATE transaction_attempts SET order_lease_until = now() + make_interval(secs => $2),
                    order_unconfirmed_at = coalesce(order_unconfirmed_at, now())
             WHERE id = $1 RETURNING order_lease_until",
            &[
                (&attempt.as_uuid(), Type::UUID),
                (&ORDER_LEASE_SECONDS, Type::FLOAT8),
            ],
        )
        .await?;
    let lease: Option<DateTime<Utc>> =
        Record::new(&leased, "transaction_attempts").get("order_lease_until")?;
    tx.commit().await?;
    drop(client);

    let started = std::time::Instant::now();
    let mut created = if unconfirmed {
        find_unconfirmed(&*gateway, &account, &request, attempt).await
    } else {
        Ok(None)
    };
    // Whether the gateway has been asked and said it has no order: only then (or after a call
    // that never reached it) may the payment go to another account without charging twice.
    let mut absent = unconfirmed && matches!(created, Ok(None));
    if matches!(created, Ok(None)) {
        created = gateway.create_order(&account, &request).await.map(Some);
        absent = matches!(created, Err(GatewayError::Retryable(_)));
        if let Err(GatewayError::Ambiguous(reason)) = &created {
            let reason = reason.clone();
            tracing::warn!(attempt = %attempt, provider = %provider, reason = %reason, "order creation ambiguous; asking the gateway");
            created = find_unconfirmed(&*gateway, &account, &request, attempt).await;
            if matches!(created, Ok(None)) {
                absent = true;
                created = Err(GatewayError::Ambiguous(reason));
            }
        }
    }
    let latency = i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX);
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, scope).await?;
    let outcome = match &created {
        Ok(_) | Err(GatewayError::Declined(_)) => CallOutcome::Answered,
        Err(_) => CallOutcome::TechnicalFailure,
    };
    failover::record_call(&tx, app, account.id, outcome).await?;
    match created {
        Ok(Some(order)) => {
            tx.execute_typed(
                "UPDATE transaction_attempts SET gateway_reference = coalesce(gateway_reference, $2), pay_url = coalesce(pay_url, $3),
                     checkout_token = coalesce(checkout_token, $4),
                     status = CASE WHEN status = 'created' THEN 'pending' ELSE status END, order_lease_until = NULL,
                     order_unconfirmed_at = NULL, order_latency_ms = $5, updated_at = now()
                 WHERE id = $1",
                &[
                    (&attempt.as_uuid(), Type::UUID),
                    (&order.reference, Type::TEXT),
                    (&order.pay_url, Type::TEXT),
                    (&order.checkout_token.as_ref().map(|t| t.expose()), Type::TEXT),
                    (&latency, Type::INT4),
                ],
            )
            .await?;
            tx.execute_typed(
                "UPDATE transactions SET status = 'pending', updated_at = now() WHERE id = $1 AND status = 'created'",
                &[(&transaction.as_uuid(), Type::UUID)],
            )
            .await?;
            tx.commit().await?;
            Ok(OrderState::Ready(Box::new(Ordered {
                attempt,
                request,
                order,
                account,
                gateway,
            })))
        }
        Err(GatewayError::Declined(reason) | GatewayError::Configuration(reason)) => {
            tracing::error!(attempt = %attempt, provider = %provider, reason = %reason, "gateway refused the order");
            // Bad credentials or configuration are the account's fault, not the payment's.
            if outcome == CallOutcome::TechnicalFailure {
                tx.execute_typed(
                    "UPDATE transaction_attempts SET failure_kind = 'technical' WHERE id = $1",
                    &[(&attempt.as_uuid(), Type::UUID)],
                )
                .await?;
            }
            let report = StatusReport {
                failure_reason: Some(reason),
                ..StatusReport::of(PaymentOutcome::Failed)
            };
            let (_, ids) = transactions::apply_report(&tx, app, attempt, &report).await?;
            tx.commit().await?;
            drop(client);
            app.publish(&ids).await;
            Ok(OrderState::Closed)
        }
        // Retryable, or still ambiguous: another account takes the payment if the gateway is known
        // not to have the order; otherwise the next try asks the gateway first.
        Ok(None) | Err(_) => {
            let reason = match &created {
                Err(e) => e.to_string(),
                Ok(_) => "the gateway has no order yet".into(),
            };
            // Only while the lease is still ours: a slow call may have outlived it, and whoever
            // took it since may be creating the order at this account right now.
            if absent
                && still_leased(&tx, attempt, lease).await?
                && let Some((next, ids)) = failover::failover(&tx, app, attempt, &reason).await?
            {
                tx.commit().await?;
                drop(client);
                app.publish(&ids).await;
                return Ok(OrderState::Moved(next));
            }
            tx.execute_typed(
                "UPDATE transaction_attempts SET order_lease_until = NULL WHERE id = $1",
                &[(&attempt.as_uuid(), Type::UUID)],
            )
            .await?;
            tx.commit().await?;
            Err(AppError::GatewayUnavailable(format!(
                "creating the order for {attempt}: {reason}"
            )))
        }
    }
}

/// Whether the attempt's order lease is still the one this caller took (locks the attempt).
async fn still_leased(
    tx: &db::Transaction<'_>,
    attempt: AttemptId,
    lease: Option<DateTime<Utc>>,
) -> Result<bool, AppError> {
    let row = tx
        .query_typed_one(
            "SELECT order_lease_until FROM transaction_attempts WHERE id = $1 FOR UPDATE",
            &[(&attempt.as_uuid(), Type::UUID)],
        )
        .await?;
    let now: Option<DateTime<Utc>> =
        Record::new(&row, "transaction_attempts").get("order_lease_until")?;
    Ok(lease.is_some() && now == lease)
}

/// Looks for the order an ambiguous create may have made.
async fn find_unconfirmed(
    gateway: &dyn Gateway,
    account: &Account,
    request: &OrderRequest,
    attempt: AttemptId,
) -> Result<Option<CreatedOrder>, GatewayError> {
    // A lookup that fails says nothing about the order: never let it close the attempt.
    let found = gateway
        .find_order(account, &request.receipt)
        .await
        .map_err(|e| GatewayError::Retryable(format!("order lookup: {e}")));
    match &found {
        Ok(Some(order)) => {
            tracing::info!(attempt = %attempt, reference = %order.reference, "found the order of an ambiguous create")
        }
        Ok(None) => tracing::info!(attempt = %attempt, "no order at the gateway yet"),
        Err(e) => tracing::warn!(attempt = %attempt, error = %e, "order lookup failed"),
    }
    found
}

/// Waits briefly for an order another caller is creating (the checkout page).
async fn wait_for_order(app: &App, mut attempt: AttemptId) -> Result<OrderState, AppError> {
    for _ in 0..40 {
        match ensure_order(app, attempt, Scope::Public).await? {
            OrderState::Busy => tokio::time::sleep(std::time::Duration::from_millis(250)).await,
            OrderState::Moved(next) => attempt = next,
            other => return Ok(other),
        }
    }
    Err(AppError::GatewayUnavailable(
        "the gateway is taking too long; try again in a moment".into(),
    ))
}

struct CheckoutRow {
    transaction: TransactionId,
    mode: Mode,
    status: TransactionStatus,
    amount: i64,
    currency: String,
    order_id: String,
    return_url: String,
    expires_at: DateTime<Utc>,
    attempt: Option<AttemptId>,
    attempts: i64,
    return_secret: Secret<String>,
}

async fn load(app: &App, id: TransactionId) -> Result<CheckoutRow, AppError> {
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::Public).await?;
    // The merchant's return signing secret comes with the payment: no extra round trip.
    let row = tx
        .query_typed_opt(
            "SELECT t.merchant_id, t.mode, t.status, t.amount, t.currency, t.order_id, t.return_url, t.expires_at,
                    (SELECT a.id FROM transaction_attempts a WHERE a.transaction_id = t.id ORDER BY a.number DESC LIMIT 1) AS attempt_id,
                    (SELECT count(*) FROM transaction_attempts a WHERE a.transaction_id = t.id) AS attempts,
                    s.secret_key_id AS return_secret_key_id, s.secret_nonce AS return_secret_nonce,
                    s.secret_ciphertext AS return_secret_ciphertext
             FROM transactions t
             LEFT JOIN merchant_return_secrets s ON s.merchant_id = t.merchant_id AND s.mode = t.mode
             WHERE t.id = $1",
            &[(&id.as_uuid(), Type::UUID)],
        )
        .await?
        .ok_or(AppError::NotFound("transaction"))?;
    let record = Record::new(&row, "transactions");
    let merchant = MerchantId::from_uuid(record.get("merchant_id")?);
    let mode: Mode = record.parse("mode")?;
    let keys = &app.config.encryption;
    let return_secret =
        match return_signing::open_from(&row, "merchant_return_secrets", keys, merchant, mode)? {
            Some(secret) => secret,
            None => return_signing::current_or_create(&tx, keys, merchant, mode).await?,
        };
    tx.commit().await?;
    Ok(CheckoutRow {
        transaction: id,
        mode,
        status: record.parse("status")?,
        amount: record.get("amount")?,
        currency: record.get("currency")?,
        order_id: record.get("order_id")?,
        return_url: record.get("return_url")?,
        expires_at: record.get("expires_at")?,
        attempt: record
            .get::<Option<Uuid>>("attempt_id")?
            .map(AttemptId::from_uuid),
        attempts: record.get("attempts")?,
        return_secret,
    })
}

/// Where the customer goes back to the merchant, with the outcome, signed (see
/// [`return_signing`]) so that an edited query string is detectable.
fn merchant_return(app: &App, row: &CheckoutRow, status: TransactionStatus) -> String {
    let params = ReturnParams {
        transaction_id: row.transaction,
        order_id: row.order_id.clone(),
        status: status.to_string(),
        mode: row.mode,
        amount: row.amount,
        currency: row.currency.clone(),
        ts: app.clock.now().timestamp(),
    };
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params.signed_query(&row.return_secret))
        .finish();
    let separator = if row.return_url.contains('?') {
        '&'
    } else {
        '?'
    };
    format!("{}{separator}{query}", row.return_url)
}

fn final_page(app: &App, row: &CheckoutRow, status: TransactionStatus) -> Handoff {
    // A failed payment that has not expired can be tried again, perhaps at another gateway.
    let retry = if status == TransactionStatus::Failed
        && row.expires_at > app.clock.now()
        && row.attempts < MAX_ATTEMPTS
    {
        format!(
            "<form method=\"post\" action=\"/api/v1/checkout/{id}/retry\"><button id=\"retry\" type=\"submit\">Try again</button></form>",
            id = row.transaction
        )
    } else {
        String::new()
    };
    let body = format!(
        "<p class=\"amount\">{amount}</p><p>Payment for order {order} is <strong id=\"status\">{status}</strong>.</p>\
         {retry}<p><a id=\"return\" href=\"{back}\">Return to the merchant</a></p>",
        amount = rupees(row.amount),
        order = escape(&row.order_id),
        status = escape(status.as_str()),
        back = escape(&merchant_return(app, row, status)),
    );
    Handoff::Html(page("Payment", &body))
}

/// Attempts one payment may have in all: failovers and the customer's retries.
const MAX_ATTEMPTS: i64 = 6;

/// The customer asks to try a failed payment again: a new attempt, routed away from the accounts
/// it already failed at where another can take it, and the payment open again (`failed →
/// created`, the one way back, and only by the customer's hand before the payment expires).
/// Anything else (not failed, expired, out of tries) changes nothing; the page then shows why.
pub async fn retry(app: &App, id: TransactionId) -> Result<(), AppError> {
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::Public).await?;
    let row = tx
        .query_typed_opt(
            &format!("SELECT t.status, t.expires_at, t.merchant_id, t.mode, t.amount,
                    {} AS platform_only,
                    (SELECT count(*) FROM transaction_attempts a WHERE a.transaction_id = t.id) AS attempts,
                    (SELECT max(a.number) FROM transaction_attempts a WHERE a.transaction_id = t.id) AS last_number,
                    ARRAY(SELECT DISTINCT a.gateway_account_id FROM transaction_attempts a WHERE a.transaction_id = t.id) AS tried
               FROM transactions t WHERE t.id = $1 FOR UPDATE", failover::PLATFORM_ONLY),
            &[(&id.as_uuid(), Type::UUID)],
        )
        .await?
        .ok_or(AppError::NotFound("transaction"))?;
    let row = Record::new(&row, "transactions");
    let status: TransactionStatus = row.parse("status")?;
    let expires_at: DateTime<Utc> = row.get("expires_at")?;
    if status != TransactionStatus::Failed
        || expires_at <= app.clock.now()
        || row.get::<i64>("attempts")? >= MAX_ATTEMPTS
    {
        tx.commit().await?;
        return Ok(());
    }
    let payment = failover::Payment {
        transaction: id.as_uuid(),
        merchant: MerchantId::from_uuid(row.get("merchant_id")?),
        mode: row.parse("mode")?,
        amount: row.get("amount")?,
        number: row.get::<Option<i16>>("last_number")?.unwrap_or(0) + 1,
        platform_only: row.get("platform_only")?,
    };
    let tried: Vec<GatewayAccountId> = row
        .get::<Vec<Uuid>>("tried")?
        .into_iter()
        .map(GatewayAccountId::from_uuid)
        .collect();
    let routed = match failover::reroute(&tx, app, &payment, &tried).await? {
        Some(routed) => Some(routed),
        // Every account was tried: the retry may go to one of them again.
        None => failover::reroute(&tx, app, &payment, &[]).await?,
    };
    let Some(mut route) = routed else {
        tx.commit().await?;
        return Err(AppError::GatewayUnavailable(
            "no gateway can take this payment right now".into(),
        ));
    };
    route.record["customer_retry"] = serde_json::Value::Bool(true);
    let (_, mut ids) = failover::add_attempt(&tx, app, &payment, &route).await?;
    let reopened = tx
        .query_typed_one(
            "UPDATE transactions SET status = 'created', failure_reason = NULL, updated_at = now()
              WHERE id = $1 RETURNING order_id, amount, currency, mode, merchant_id",
            &[(&id.as_uuid(), Type::UUID)],
        )
        .await?;
    let reopened = Record::new(&reopened, "transactions");
    let order_id: String = reopened.get("order_id")?;
    let currency: String = reopened.get("currency")?;
    let event = transactions::event(
        "transaction.retried",
        payment.merchant,
        transactions::EventSubject {
            id,
            order_id: &order_id,
            status: TransactionStatus::Created,
            amount: payment.amount,
            currency: &currency,
            mode: payment.mode,
            failure_reason: None,
            confirmed_after_expiry: false,
        },
    );
    ids.extend(outbox::write(&tx, app.delivery, &[Outgoing::Event(event)]).await?);
    tx.commit().await?;
    drop(client);
    app.publish(&ids).await;
    tracing::info!(transaction = %id, account = %route.account, "customer retried a failed payment");
    Ok(())
}

fn confirming_page(row: &CheckoutRow) -> Handoff {
    let body = format!(
        "<p class=\"amount\">{amount}</p><p id=\"status\">We are confirming this payment with the \
         gateway.</p><p class=\"muted\">If you have paid, you need not pay again: reload this \
         page in a minute to see how it ended.</p>",
        amount = rupees(row.amount),
    );
    Handoff::Html(page("Payment", &body))
}

/// The hosted checkout: hands an open payment to its gateway (creating the order if the worker
/// has not yet), or shows how a finished payment ended.
pub async fn checkout(app: &App, id: TransactionId) -> Result<Handoff, AppError> {
    let row = load(app, id).await?;
    if !row.status.is_open() {
        return Ok(final_page(app, &row, row.status));
    }
    if row.expires_at <= app.clock.now() {
        return Ok(final_page(app, &row, TransactionStatus::Expired));
    }
    let attempt = row
        .attempt
        .ok_or_else(|| AppError::Internal(format!("transaction {id} has no attempt")))?;
    match wait_for_order(app, attempt).await? {
        OrderState::Ready(ordered) => {
            match ordered
                .gateway
                .handoff(&ordered.account, &ordered.request, &ordered.order)
            {
                Ok(handoff) => Ok(handoff),
                // The order exists but cannot be shown again (a gateway whose pay page came only
                // in a create answer that was lost): the payment may still complete there.
                Err(e) => {
                    tracing::error!(transaction = %id, error = %e, "cannot hand the customer to the gateway");
                    Ok(confirming_page(&row))
                }
            }
        }
        OrderState::Busy | OrderState::Closed | OrderState::Moved(_) => {
            let row = load(app, id).await?;
            Ok(final_page(app, &row, row.status))
        }
    }
}

/// How long a browser return's status query answers for its attempt.
const STATUS_QUERY_WINDOW_SECONDS: f64 = 10.0;

/// Takes the attempt's status query window, if no return has asked the gateway within it: one
/// conditional UPDATE that reads and writes the last query time at once.
async fn claim_status_query(app: &App, attempt: AttemptId) -> Result<bool, AppError> {
    let mut client = app.db.client().await?;
    // A lost mark costs at most one more status query: no need to wait for the WAL flush.
    let tx = db::begin_relaxed(&mut client, Scope::Public).await?;
    let row = tx
        .commit_after_query_one(
            "WITH claimed AS (
                 UPDATE transaction_attempts SET status_queried_at = now()
                 WHERE id = $1 AND (status_queried_at IS NULL
                       OR status_queried_at <= now() - make_interval(secs => $2))
                 RETURNING id)
             SELECT EXISTS (SELECT 1 FROM claimed) AS claimed",
            &[
                (&attempt.as_uuid(), Type::UUID),
                (&STATUS_QUERY_WINDOW_SECONDS, Type::FLOAT8),
            ],
        )
        .await?;
    Ok(Record::new(&row, "transaction_attempts").get("claimed")?)
}

/// The gateway returned the customer: verify the return, confirm by status query, apply, and
/// send the customer back to the merchant. An unverifiable return changes nothing.
pub async fn browser_return(
    app: &App,
    id: TransactionId,
    params: &BTreeMap<String, String>,
) -> Result<String, AppError> {
    let row = load(app, id).await?;
    let attempt = row.attempt.ok_or(AppError::NotFound("attempt"))?;
    let OrderState::Ready(ordered) = wait_for_order(app, attempt).await? else {
        let row = load(app, id).await?;
        return Ok(merchant_return(app, &row, row.status));
    };
    if ordered
        .gateway
        .verify_return(&ordered.account, params)
        .as_deref()
        != Some(ordered.order.reference.as_str())
    {
        tracing::warn!(transaction = %id, "browser return failed verification");
        return Err(AppError::Unauthorized(
            crate::error::AuthFailure::InvalidSignature,
        ));
    }
    let attempt = ordered.attempt;
    if !claim_status_query(app, attempt).await? {
        tracing::info!(transaction = %id, "browser return within the status query window; not asking the gateway again");
        let row = load(app, id).await?;
        return Ok(merchant_return(app, &row, row.status));
    }
    let report = ordered
        .gateway
        .fetch_status(&ordered.account, &ordered.order.reference)
        .await
        .map_err(|e| AppError::GatewayUnavailable(format!("could not confirm the payment: {e}")))?;
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::Public).await?;
    let (applied, ids) = transactions::apply_report(&tx, app, attempt, &report).await?;
    tx.commit().await?;
    drop(client);
    app.publish(&ids).await;
    let status = match applied {
        Applied::Changed(status) => status,
        Applied::Unchanged | Applied::Refused | Applied::AmountMismatch => {
            load(app, id).await?.status
        }
    };
    Ok(merchant_return(app, &row, status))
}
