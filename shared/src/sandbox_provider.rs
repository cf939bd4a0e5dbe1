//! The sandbox gateway itself: a payment provider we host, for test mode and local use. It keeps
//! its own books (`sandbox_orders`), serves its own pay page with Pay and Fail buttons, signs
//! its webhooks and browser returns, and answers status queries, as a real gateway does.
//!
//! Deterministic outcomes for automation:
//! - amounts ending in 13 paise (e.g. 10013) are declined when paid (`card_declined`);
//! - a customer email containing `+fail` is declined when paid;
//! - a customer email containing `+autopay` is paid (or declined by the rules above) as soon as
//!   the order is created, with no browser: the webhook is sent before the create call returns;
//! - refunds of amounts ending in 13 paise fail; others are processed at once. One refund per
//!   merchant refund id (asking again answers the same refund); never more than the order's amount.

use crate::app::App;
use crate::crypto::{constant_time_eq, random};
use crate::db::Transaction;
use crate::db::record::{DecodeError, Record};
use crate::db::{self, Scope};
use crate::error::{AppError, AuthFailure};
use crate::gateway_accounts;
use crate::gateway_lookup;
use crate::gateways::Credentials;
use crate::gateways::sandbox::{sign_return, sign_webhook};
use crate::html::{escape, page, rupees};
use crate::ids::GatewayAccountId;
use crate::validation::FieldErrors;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio_postgres::Row;
use tokio_postgres::types::Type;
use uuid::Uuid;

/// `POST /sandbox/v1/orders`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = SandboxCreateOrder)]
#[serde(deny_unknown_fields)]
pub struct CreateOrder {
    /// Paise.
    pub amount: i64,
    /// ISO code.
    pub currency: String,
    /// The merchant's (our) reference; one order per receipt.
    pub receipt: String,
    /// The paying customer.
    pub customer_email: String,
    /// Where webhooks go.
    pub notify_url: String,
    /// Where the browser returns.
    pub return_url: String,
}

/// An order as the sandbox API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = SandboxOrder)]
pub struct Order {
    /// `sbx_order_…`
    pub id: String,
    /// Paise.
    pub amount: i64,
    /// ISO code.
    pub currency: String,
    /// The merchant's reference.
    pub receipt: String,
    /// `created`, `paid` or `failed`.
    pub status: String,
    /// Set once paid.
    pub payment_id: Option<String>,
    /// Why it failed.
    pub error_reason: Option<String>,
    /// Where the customer pays.
    pub pay_url: String,
    #[serde(skip)]
    account: Uuid,
    #[serde(skip)]
    customer_email: String,
    #[serde(skip)]
    notify_url: String,
    #[serde(skip)]
    return_url: String,
}

const COLUMNS: &str = "id, amount, currency, receipt, status, payment_id, error_reason, account_id, customer_email, notify_url, return_url";

fn order_from(app: &App, row: &Row) -> Result<Order, DecodeError> {
    let row = Record::new(row, "sandbox_orders");
    let id: String = row.get("id")?;
    let status: String = row.get("status")?;
    Ok(Order {
        pay_url: format!("{}/sandbox/pay/{id}", app.config.sandbox_base_url),
        error_reason: row.get("error_reason")?,
        amount: row.get("amount")?,
        currency: row.get("currency")?,
        receipt: row.get("receipt")?,
        payment_id: row.get("payment_id")?,
        account: row.get("account_id")?,
        customer_email: row.get("customer_email")?,
        notify_url: row.get("notify_url")?,
        return_url: row.get("return_url")?,
        id,
        status,
    })
}

/// The button the customer pressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Pay.
    Pay,
    /// Refuse to pay.
    Fail,
}

/// Finds the sandbox account whose `api_key` this is (HTTP Basic user name) by the key's
/// fingerprint, opening only that account. Accounts stored before fingerprints were recorded are
/// tried the slow way and get their fingerprint when they match; one that cannot be opened is
/// skipped and logged.
pub async fn authenticate(
    app: &App,
    api_key: &str,
) -> Result<(GatewayAccountId, Credentials), AppError> {
    let fingerprint = gateway_lookup::key_fingerprint(api_key);
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::Public).await?;
    let rows = tx
        .query_typed(
            "SELECT id, key_fingerprint IS NULL AS unfingerprinted FROM gateway_accounts
             WHERE provider = 'sandbox' AND status = 'active'
               AND (key_fingerprint = $1 OR key_fingerprint IS NULL)
             ORDER BY key_fingerprint IS NULL, id",
            &[(&fingerprint, Type::BYTEA)],
        )
        .await?;
    for row in rows {
        let record = Record::new(&row, "gateway_accounts");
        let id = GatewayAccountId::from_uuid(record.get("id")?);
        let unfingerprinted: bool = record.get("unfingerprinted")?;
        let credentials = match gateway_accounts::credentials(&tx, &app.config.encryption, id).await
        {
            Ok(credentials) => credentials,
            Err(error) => {
                tracing::error!(account = %id, error = %error, "sandbox account cannot be opened; skipped");
                continue;
            }
        };
        let matches = credentials
            .get("api_key")
            .is_some_and(|k| constant_time_eq(k.expose().as_bytes(), api_key.as_bytes()));
        if matches {
            if unfingerprinted {
                tx.execute_typed(
                    "UPDATE gateway_accounts SET key_fingerprint = $2 WHERE id = $1",
                    &[(&id.as_uuid(), Type::UUID), (&fingerprint, Type::BYTEA)],
                )
                .await?;
            }
            tx.commit().await?;
            return Ok((id, credentials));
        }
    }
    Err(AppError::Unauthorized(AuthFailure::InvalidCredentials))
}

/// Where the sandbox may send webhooks and customers: the platform itself, never elsewhere (a
/// notify URL anywhere else would make the sandbox a request forger for its key holders).
fn is_platform_url(url: &str, base: &str) -> bool {
    url.strip_prefix(base)
        .is_some_and(|rest| rest.starts_with('/'))
}

fn check(request: &CreateOrder, base: &str) -> Result<(), AppError> {
    let mut errors = FieldErrors::new();
    if request.amount <= 0 {
        errors.add("amount", "must be a positive number of paise");
    }
    if request.currency != "INR" {
        errors.add("currency", "the sandbox takes INR only");
    }
    if request.receipt.is_empty() || request.receipt.len() > 64 {
        errors.add("receipt", "must be 1-64 characters");
    }
    for (field, url) in [
        ("notify_url", &request.notify_url),
        ("return_url", &request.return_url),
    ] {
        if !is_platform_url(url, base) {
            errors.add(field, format!("must be a URL under {base}/"));
        }
    }
    errors.into_result().map_err(AppError::from)
}

/// Creates an order, or returns the one already made for this receipt.
pub async fn create_order(
    app: &App,
    account: GatewayAccountId,
    credentials: &Credentials,
    request: CreateOrder,
) -> Result<Order, AppError> {
    check(&request, &app.config.http.public_base_url)?;
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::Public).await?;
    let id = format!("sbx_order_{}", random::base62(20));
    let row = tx
        .query_typed_one(
            &format!(
                "INSERT INTO sandbox_orders (id, account_id, amount, currency, receipt, customer_email, notify_url, return_url)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (account_id, receipt) DO UPDATE SET updated_at = sandbox_orders.updated_at
                 RETURNING {COLUMNS}"
            ),
            &[
                (&id, Type::TEXT),
                (&account.as_uuid(), Type::UUID),
                (&request.amount, Type::INT8),
                (&request.currency, Type::TEXT),
                (&request.receipt, Type::TEXT),
                (&request.customer_email, Type::TEXT),
                (&request.notify_url, Type::TEXT),
                (&request.return_url, Type::TEXT),
            ],
        )
        .await?;
    let mut order = order_from(app, &row)?;
    let autopay = order.status == "created" && order.customer_email.contains("+autopay");
    if autopay {
        order = settle(app, &tx, &order.id, Action::Pay).await?;
    }
    tx.commit().await?;
    drop(client);
    if autopay {
        send_webhook(app, credentials, &order).await;
    }
    Ok(order)
}

/// One order of `account`.
pub async fn get_order(app: &App, account: GatewayAccountId, id: &str) -> Result<Order, AppError> {
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::Public).await?;
    let row = tx
        .query_typed_opt(
            &format!("SELECT {COLUMNS} FROM sandbox_orders WHERE id = $1 AND account_id = $2"),
            &[(&id, Type::TEXT), (&account.as_uuid(), Type::UUID)],
        )
        .await?;
    tx.commit().await?;
    row.map(|r| order_from(app, &r))
        .transpose()?
        .ok_or(AppError::NotFound("order"))
}

/// The orders of `account` made for `receipt` (at most one: receipts are unique per account).
pub async fn find_orders(
    app: &App,
    account: GatewayAccountId,
    receipt: &str,
) -> Result<Vec<Order>, AppError> {
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::Public).await?;
    let rows = tx
        .query_typed(
            &format!("SELECT {COLUMNS} FROM sandbox_orders WHERE account_id = $1 AND receipt = $2"),
            &[(&account.as_uuid(), Type::UUID), (&receipt, Type::TEXT)],
        )
        .await?;
    tx.commit().await?;
    Ok(rows
        .iter()
        .map(|r| order_from(app, r))
        .collect::<Result<_, _>>()?)
}

async fn load(app: &App, tx: &Transaction<'_>, id: &str) -> Result<Order, AppError> {
    let row = tx
        .query_typed_opt(
            &format!("SELECT {COLUMNS} FROM sandbox_orders WHERE id = $1 FOR UPDATE"),
            &[(&id, Type::TEXT)],
        )
        .await?;
    row.map(|r| order_from(app, &r))
        .transpose()?
        .ok_or(AppError::NotFound("order"))
}

/// Completes an open order as the customer chose; the caller sends the webhook after commit, so
/// no database connection is held while the merchant is called.
async fn settle(
    app: &App,
    tx: &Transaction<'_>,
    id: &str,
    action: Action,
) -> Result<Order, AppError> {
    let order = load(app, tx, id).await?;
    if order.status != "created" {
        return Ok(order);
    }
    let declined = order.amount % 100 == 13 || order.customer_email.contains("+fail");
    let (status, payment_id, reason) = match action {
        Action::Pay if !declined => (
            "paid",
            Some(format!("sbx_pay_{}", random::base62(20))),
            None,
        ),
        Action::Pay => ("failed", None, Some("card_declined")),
        Action::Fail => ("failed", None, Some("customer_cancelled")),
    };
    tx.execute_typed(
        "UPDATE sandbox_orders SET status = $2, payment_id = $3, error_reason = $4, updated_at = now()
          WHERE id = $1",
        &[
            (&id, Type::TEXT),
            (&status, Type::TEXT),
            (&payment_id, Type::TEXT),
            (&reason, Type::TEXT),
        ],
    )
    .await?;
    Ok(Order {
        status: status.into(),
        payment_id,
        error_reason: reason.map(str::to_string),
        ..order
    })
}

/// Posts the signed event to the merchant's notify URL. Delivery is best effort, as with real
/// gateways: the merchant's status queries are the safety net.
async fn send_webhook(app: &App, credentials: &Credentials, order: &Order) {
    let Some(secret) = credentials.get("webhook_secret") else {
        return;
    };
    let event = json!({
        "id": format!("sbx_evt_{}", random::base62(20)),
        "type": if order.status == "paid" { "payment.captured" } else { "payment.failed" },
        "created": chrono::Utc::now().timestamp(),
        "data": {
            "order_id": order.id, "receipt": order.receipt, "status": order.status,
            "payment_id": order.payment_id, "error_reason": order.error_reason,
            "amount": order.amount, "currency": order.currency,
        },
    });
    let body = event.to_string();
    let signature = sign_webhook(
        secret.expose(),
        chrono::Utc::now().timestamp(),
        body.as_bytes(),
    );
    let sent = app
        .http
        .post(&order.notify_url)
        .header("content-type", "application/json")
        .header("x-sandbox-signature", signature)
        .body(body)
        .timeout(std::time::Duration::from_secs(10))
        .send()
        .await;
    match sent {
        Ok(r) if r.status().is_success() => {}
        Ok(r) => {
            tracing::warn!(order = %order.id, status = r.status().as_u16(), "sandbox webhook refused")
        }
        Err(e) => tracing::warn!(order = %order.id, error = %e, "sandbox webhook not delivered"),
    }
}

/// The customer pressed a button on the pay page; returns where to send the browser.
pub async fn submit(app: &App, id: &str, action: Action) -> Result<String, AppError> {
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::Public).await?;
    let order = load(app, &tx, id).await?;
    let credentials = gateway_accounts::credentials(
        &tx,
        &app.config.encryption,
        GatewayAccountId::from_uuid(order.account),
    )
    .await?;
    let open = order.status == "created";
    let order = settle(app, &tx, id, action).await?;
    tx.commit().await?;
    drop(client);
    if open {
        send_webhook(app, &credentials, &order).await;
    }
    return_location(&credentials, &order)
}

fn return_location(credentials: &Credentials, order: &Order) -> Result<String, AppError> {
    let secret = credentials.get("webhook_secret").ok_or(AppError::Internal(
        "sandbox account without webhook_secret".into(),
    ))?;
    let payment_id = order.payment_id.clone().unwrap_or_default();
    let signature = sign_return(secret.expose(), &order.id, &order.status, &payment_id);
    let query = serde_urlencoded::to_string([
        ("order_id", order.id.as_str()),
        ("status", order.status.as_str()),
        ("payment_id", payment_id.as_str()),
        ("signature", signature.as_str()),
    ])
    .map_err(|e| AppError::Internal(e.to_string()))?;
    let separator = if order.return_url.contains('?') {
        '&'
    } else {
        '?'
    };
    Ok(format!("{}{separator}{query}", order.return_url))
}

/// The sandbox's pay page for an order.
pub async fn pay_page(app: &App, id: &str) -> Result<String, AppError> {
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::Public).await?;
    let row = tx
        .query_typed_opt(
            &format!("SELECT {COLUMNS} FROM sandbox_orders WHERE id = $1"),
            &[(&id, Type::TEXT)],
        )
        .await?;
    tx.commit().await?;
    let order = row
        .map(|r| order_from(app, &r))
        .transpose()?
        .ok_or(AppError::NotFound("order"))?;
    let action = format!("/sandbox/pay/{}", escape(&order.id));
    let body = if order.status == "created" {
        format!(
            "<p class=\"muted\">LightSpeedPay Sandbox · test mode, no real money</p>\
             <p class=\"amount\" id=\"amount\">{amount}</p><p class=\"muted\">Order {order_id}</p>\
             <form method=\"post\" action=\"{action}\"><input type=\"hidden\" name=\"action\" value=\"pay\">\
             <button class=\"pay\" id=\"pay\" type=\"submit\">Pay {amount}</button></form>\
             <form method=\"post\" action=\"{action}\"><input type=\"hidden\" name=\"action\" value=\"fail\">\
             <button id=\"fail\" type=\"submit\">Fail payment</button></form>",
            amount = rupees(order.amount),
            order_id = escape(&order.id),
        )
    } else {
        format!(
            "<p>This order is already <strong id=\"status\">{}</strong>.</p>",
            escape(&order.status)
        )
    };
    Ok(page("Sandbox payment", &body))
}

/// `POST /sandbox/v1/orders/{id}/refunds`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = SandboxCreateRefund)]
#[serde(deny_unknown_fields)]
pub struct CreateRefund {
    /// The merchant's (our) refund id; one refund per id.
    pub refund_id: String,
    /// Paise.
    pub amount: i64,
}

/// `GET /sandbox/v1/orders?receipt=…`: the orders made for a receipt.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = SandboxOrders)]
pub struct Orders {
    /// At most one: one order per receipt.
    pub items: Vec<Order>,
}

/// `GET /sandbox/v1/orders/{id}/refunds`: an order's refunds.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = SandboxRefunds)]
pub struct Refunds {
    /// Oldest first.
    pub items: Vec<SandboxRefund>,
}

/// A refund as the sandbox API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SandboxRefund {
    /// `sbx_rfnd_…`
    pub id: String,
    /// The order refunded.
    pub order_id: String,
    /// The merchant's refund id.
    pub refund_id: String,
    /// Paise.
    pub amount: i64,
    /// `processed` or `failed`.
    pub status: String,
}

fn refund_from(row: &Row) -> Result<SandboxRefund, DecodeError> {
    let row = Record::new(row, "sandbox_refunds");
    Ok(SandboxRefund {
        id: row.get("id")?,
        order_id: row.get("order_id")?,
        refund_id: row.get("refund_id")?,
        amount: row.get("amount")?,
        status: row.get("status")?,
    })
}

/// Refunds part or all of a paid order, once per refund id.
pub async fn create_refund(
    app: &App,
    account: GatewayAccountId,
    order_id: &str,
    request: CreateRefund,
) -> Result<SandboxRefund, AppError> {
    if request.amount <= 0 {
        return Err(AppError::field("amount", "must be positive"));
    }
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::Public).await?;
    let order = tx
        .query_typed_opt(
            "SELECT status, amount FROM sandbox_orders WHERE id = $1 AND account_id = $2 FOR UPDATE",
            &[(&order_id, Type::TEXT), (&account.as_uuid(), Type::UUID)],
        )
        .await?
        .ok_or(AppError::NotFound("order"))?;
    let order = Record::new(&order, "sandbox_orders");
    let existing = tx
        .query_typed_opt(
            "SELECT id, order_id, refund_id, amount, status FROM sandbox_refunds WHERE account_id = $1 AND refund_id = $2",
            &[(&account.as_uuid(), Type::UUID), (&request.refund_id, Type::TEXT)],
        )
        .await?;
    if let Some(row) = existing {
        tx.commit().await?;
        return Ok(refund_from(&row)?);
    }
    if order.get::<&str>("status")? != "paid" {
        return Err(AppError::Conflict(
            "only paid orders can be refunded".into(),
        ));
    }
    let refunded = tx
        .query_typed_one(
            "SELECT coalesce(sum(amount), 0)::bigint AS refunded FROM sandbox_refunds WHERE order_id = $1 AND status = 'processed'",
            &[(&order_id, Type::TEXT)],
        )
        .await?;
    let refunded: i64 = Record::new(&refunded, "sandbox_refunds").get("refunded")?;
    if refunded + request.amount > order.get::<i64>("amount")? {
        return Err(AppError::Conflict(
            "the refund exceeds the order's amount".into(),
        ));
    }
    let status = if request.amount % 100 == 13 {
        "failed"
    } else {
        "processed"
    };
    let row = tx
        .query_typed_one(
            "INSERT INTO sandbox_refunds (id, account_id, order_id, refund_id, amount, status)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id, order_id, refund_id, amount, status",
            &[
                (&format!("sbx_rfnd_{}", random::base62(20)), Type::TEXT),
                (&account.as_uuid(), Type::UUID),
                (&order_id, Type::TEXT),
                (&request.refund_id, Type::TEXT),
                (&request.amount, Type::INT8),
                (&status, Type::TEXT),
            ],
        )
        .await?;
    tx.commit().await?;
    Ok(refund_from(&row)?)
}

/// The refunds of one order of `account`.
pub async fn refunds(
    app: &App,
    account: GatewayAccountId,
    order_id: &str,
) -> Result<Vec<SandboxRefund>, AppError> {
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::Public).await?;
    let rows = tx
        .query_typed(
            "SELECT id, order_id, refund_id, amount, status FROM sandbox_refunds
             WHERE account_id = $1 AND order_id = $2 ORDER BY created_at",
            &[(&account.as_uuid(), Type::UUID), (&order_id, Type::TEXT)],
        )
        .await?;
    tx.commit().await?;
    Ok(rows.iter().map(refund_from).collect::<Result<_, _>>()?)
}
