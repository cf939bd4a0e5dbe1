//! Money into a wallet: an operator's top-up (money received outside the gateways, booked at
//! once) or the merchant's own payment through the platform's checkout (a payment whose purpose
//! is `wallet_top_up`, booked when it is captured; see `ledger::book::capture`).

use super::CURRENCY;
use super::thresholds::parse_mode;
use crate::audit::{self, AuditContext, AuditEvent};
use crate::config::PaymentsConfig;
use crate::db::Transaction;
use crate::db::record::Record;
use crate::error::AppError;
use crate::ids::{MerchantId, TransactionId, UserId, WalletTopUpId};
use crate::ledger::posting::post;
use crate::ledger::rules::{OperatorTopUp, operator_top_up};
use crate::mode::Mode;
use crate::payments::transactions::{Customer, NewPayment, PayRequest, PaymentPurpose};
use crate::validation::FieldErrors;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio_postgres::types::Type;

/// The most one operator top-up may add (₹1 crore): a larger figure is a typing mistake
/// more often than money received.
pub const MAX_OPERATOR_TOP_UP: i64 = 1_000_000_000;

/// The body of `POST /api/v1/admin/merchants/{id}/wallet/top-ups`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOperatorTopUp {
    /// Which mode's wallet.
    #[schema(value_type = Mode)]
    pub mode: String,
    /// Paise received, from 1 to 1000000000 (₹1 crore).
    #[schema(minimum = 1, maximum = 1000000000)]
    pub amount: i64,
    /// The bank's reference for the money received (a UTR), 1–100 characters.
    #[schema(min_length = 1, max_length = 100)]
    pub reference: Option<String>,
}

/// A validated operator top-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorInput {
    /// Which wallet.
    pub mode: Mode,
    /// Paise.
    pub amount: i64,
    /// The bank's reference.
    pub reference: Option<String>,
}

impl NewOperatorTopUp {
    /// Checks every field, reporting all problems at once.
    pub fn validate(self) -> Result<OperatorInput, AppError> {
        let mut e = FieldErrors::new();
        let mode = parse_mode(&mut e, &self.mode);
        if !(1..=MAX_OPERATOR_TOP_UP).contains(&self.amount) {
            e.add(
                "amount",
                format!("must be a whole number of paise from 1 to {MAX_OPERATOR_TOP_UP}"),
            );
        }
        let reference = self
            .reference
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty());
        if reference
            .as_deref()
            .is_some_and(|r| r.chars().count() > 100 || r.contains(char::is_control))
        {
            e.add(
                "reference",
                "must be at most 100 characters, without control characters",
            );
        }
        e.into_result()?;
        Ok(OperatorInput {
            mode: mode.unwrap_or(Mode::Test),
            amount: self.amount,
            reference,
        })
    }
}

/// Where a top-up came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TopUpSource {
    /// An operator recorded money received outside the gateways.
    Operator,
    /// The merchant paid through the platform's checkout.
    Checkout,
}

impl std::str::FromStr for TopUpSource {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "operator" => Ok(TopUpSource::Operator),
            "checkout" => Ok(TopUpSource::Checkout),
            other => Err(format!("unknown top-up source '{other}'")),
        }
    }
}

/// A top-up as the API shows it.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct TopUpView {
    /// `wtu_…`
    pub id: WalletTopUpId,
    /// Whose wallet.
    pub merchant_id: MerchantId,
    /// Which mode's.
    pub mode: Mode,
    /// Paise.
    pub amount: i64,
    /// Always INR.
    pub currency: String,
    /// Operator or checkout.
    pub source: TopUpSource,
    /// The payment, for a checkout top-up.
    pub transaction_id: Option<TransactionId>,
    /// The bank's reference, for an operator's.
    pub reference: Option<String>,
    /// The operator, for an operator's.
    pub created_by: Option<UserId>,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
}

/// An operator's top-up with the wallet's balance after it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OperatorTopUpDone {
    /// The top-up.
    pub top_up: TopUpView,
    /// Paise in the wallet now.
    pub balance: i64,
    /// Where the balance stands now.
    pub state: super::WalletState,
}

/// Records an operator's top-up and books it (rule 5) in `tx`, audited; `NotFound` for an
/// unknown merchant.
pub async fn by_operator(
    tx: &Transaction<'_>,
    audit_ctx: &AuditContext,
    merchant: MerchantId,
    by: UserId,
    input: &OperatorInput,
) -> Result<TopUpView, AppError> {
    let id = WalletTopUpId::generate();
    let row = tx
        .query_typed_opt(
            "INSERT INTO wallet_top_ups (id, merchant_id, mode, amount, currency, source, reference, created_by)
             SELECT $1, m.id, $3, $4, $5, 'operator', $6, $7 FROM merchants m WHERE m.id = $2
             RETURNING id, merchant_id, mode, amount, currency, source, transaction_id, reference, created_by, created_at",
            &[
                (&id.as_uuid(), Type::UUID),
                (&merchant.as_uuid(), Type::UUID),
                (&input.mode.as_str(), Type::TEXT),
                (&input.amount, Type::INT8),
                (&CURRENCY, Type::TEXT),
                (&input.reference, Type::TEXT),
                (&by.as_uuid(), Type::UUID),
            ],
        )
        .await;
    let row = match row {
        Err(e)
            if e.as_db_error().and_then(|d| d.constraint())
                == Some("wallet_top_ups_reference_key") =>
        {
            return Err(AppError::Conflict(
                "A top-up with this reference was already recorded for this wallet".into(),
            ));
        }
        other => other?.ok_or(AppError::NotFound("merchant"))?,
    };
    let top_up = view(&row)?;
    post(
        tx,
        &operator_top_up(&OperatorTopUp {
            id,
            merchant,
            mode: input.mode,
            amount: input.amount,
            currency: CURRENCY.to_string(),
            by,
            reference: input.reference.clone(),
        }),
    )
    .await?;
    audit::record(
        tx,
        audit_ctx,
        AuditEvent::success("wallet.topped_up")
            .merchant(merchant)
            .target("wallet_top_up", id)
            .change(None, serde_json::to_value(&top_up).ok()),
    )
    .await?;
    Ok(top_up)
}

fn view(row: &tokio_postgres::Row) -> Result<TopUpView, AppError> {
    let r = Record::new(row, "wallet_top_ups");
    Ok(TopUpView {
        id: WalletTopUpId::from_uuid(r.get("id")?),
        merchant_id: MerchantId::from_uuid(r.get("merchant_id")?),
        mode: r.parse("mode")?,
        amount: r.get("amount")?,
        currency: r.get("currency")?,
        source: r.parse("source")?,
        transaction_id: r
            .get::<Option<uuid::Uuid>>("transaction_id")?
            .map(TransactionId::from_uuid),
        reference: r.get("reference")?,
        created_by: r
            .get::<Option<uuid::Uuid>>("created_by")?
            .map(UserId::from_uuid),
        created_at: r.get("created_at")?,
    })
}

/// The body of `POST /api/v1/wallets/top-ups`: the merchant tops up its wallet by paying
/// through the platform's checkout.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "amount": 500000,
    "return_url": "https://shop.example/wallet/topped-up",
    "customer": { "name": "Asha Verma", "email": "accounts@shop.example", "phone": "+919812345678" }
}))]
pub struct NewCheckoutTopUp {
    /// Paise, within the platform's payment limits.
    #[schema(minimum = 100, maximum = 50000000)]
    pub amount: i64,
    /// Where the payer returns after paying (https; http too in test mode).
    #[schema(format = "uri", max_length = 2048)]
    pub return_url: String,
    /// Who pays (the merchant's own contact).
    pub customer: Customer,
    /// Shown on the checkout page; "Wallet top-up" when absent.
    #[schema(max_length = 255)]
    pub description: Option<String>,
    /// Seconds until the payment expires (default 1800).
    #[schema(minimum = 60, maximum = 604800)]
    pub expires_in: Option<i64>,
}

impl NewCheckoutTopUp {
    /// Checks it as a payment (the same rules as `/pay`) whose purpose is `wallet_top_up`,
    /// with an order id of its own.
    pub fn validate(self, limits: &PaymentsConfig, mode: Mode) -> Result<NewPayment, AppError> {
        let request = PayRequest {
            amount: self.amount,
            currency: None,
            order_id: format!("wallet_top_up_{}", uuid::Uuid::new_v4().simple()),
            customer: self.customer,
            description: Some(
                self.description
                    .unwrap_or_else(|| "Wallet top-up".to_string()),
            ),
            return_url: self.return_url,
            notes: None,
            expires_in: self.expires_in,
        };
        Ok(request
            .validate(limits, mode)?
            .with_purpose(PaymentPurpose::WalletTopUp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(mode: &str, amount: i64, reference: Option<&str>) -> NewOperatorTopUp {
        NewOperatorTopUp {
            mode: mode.into(),
            amount,
            reference: reference.map(str::to_string),
        }
    }

    #[test]
    fn operator_top_ups_are_positive_bounded_and_in_a_known_mode() {
        assert!(body("live", 1, Some("UTR1")).validate().is_ok());
        assert!(body("live", MAX_OPERATOR_TOP_UP, None).validate().is_ok());
        for bad in [0, -1, MAX_OPERATOR_TOP_UP + 1, i64::MAX] {
            assert!(body("live", bad, None).validate().is_err(), "{bad}");
        }
        assert!(body("staging", 100, None).validate().is_err());
        assert!(
            body("test", 100, Some(&"x".repeat(101)))
                .validate()
                .is_err()
        );
        assert_eq!(
            body("test", 100, Some("  ")).validate().unwrap().reference,
            None
        );
    }
}
