//! A merchant's fee schedule as operators set it and merchants read it: a default rate, rates per
//! payment method, and whether our fee goes back on a refund. Absent a default of its own, the
//! platform's default applies (`FEE_DEFAULT_RATE_BPS`, `FEE_DEFAULT_FIXED`); a method without a
//! rate of its own takes the merchant's default. [`super::book::capture`] reads the same rows
//! when a capture is booked.
//!
//! A replacement is the whole schedule, written in one transaction under the merchant's row lock
//! (two operators replacing at once end with one schedule or the other, never a mix) and audited
//! with the schedule before and after.

use super::fees::FeeRate;
use super::rules::RefundFeePolicy;
use crate::audit::{self, AuditContext, AuditEvent};
use crate::db::Transaction;
use crate::db::record::Record;
use crate::error::AppError;
use crate::ids::MerchantId;
use crate::validation::FieldErrors;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tokio_postgres::types::Type;
use uuid::Uuid;

/// The most methods with a rate of their own: more is a mistake, and every capture reads them.
pub const MAX_METHODS: usize = 20;
/// The largest rate, in basis points (100 %).
pub const MAX_RATE_BPS: i64 = 10_000;
/// The largest fixed fee, in minor units (₹10,00,000).
pub const MAX_FIXED_FEE: i64 = 100_000_000;

/// A merchant's fee schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FeeSchedule {
    /// The merchant.
    pub merchant_id: MerchantId,
    /// The merchant's own default rate; `null` when the platform's default applies.
    pub default: Option<FeeRate>,
    /// The platform's default rate, which applies when `default` is `null`.
    pub platform_default: FeeRate,
    /// Rates of particular payment methods (`upi`, `card`, …), which take precedence over the
    /// default for payments made with that method.
    pub methods: BTreeMap<String, FeeRate>,
    /// Whether a refund gives back its share of our fee and GST (`return`) or not (`retain`).
    pub refund_fee_policy: RefundFeePolicy,
}

/// `PUT /api/v1/admin/merchants/{id}/fees`: the whole schedule, replacing the one before.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "default": { "rate_bps": 199, "fixed_fee": 300 },
    "methods": { "upi": { "rate_bps": 0, "fixed_fee": 0 }, "card": { "rate_bps": 250 } },
    "refund_fee_policy": "retain"
}))]
pub struct ReplaceFees {
    /// The merchant's default rate; `null` or absent for the platform's default.
    #[serde(default)]
    pub default: Option<FeeRateRequest>,
    /// Rates per payment method (names `^[a-z][a-z_]{0,31}$`, at most 20); methods not listed
    /// take the default.
    #[serde(default)]
    #[schema(schema_with = methods_schema)]
    pub methods: BTreeMap<String, FeeRateRequest>,
    /// `retain` (our fee is kept on a refund) or `return` (its share goes back).
    #[schema(value_type = RefundFeePolicy)]
    pub refund_fee_policy: String,
}

/// The API document's schema of `methods`: a map whose keys are method names, so that clients
/// (and generated tests) know the names allowed.
fn methods_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::Ref;
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(
            "Rates per payment method (at most 20); methods not listed take the default.",
        ))
        .property_names(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(
                    crate::gateways::PaymentMethod::ALL
                        .iter()
                        .map(|m| m.as_str())
                        .collect::<Vec<_>>(),
                )),
        ))
        .additional_properties(Some(Ref::from_schema_name("FeeRateRequest")))
        .max_properties(Some(MAX_METHODS))
        .build()
}

/// A rate as sent: basis points of the amount plus a fixed fee.
#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeeRateRequest {
    /// Basis points of the payment's amount, 0 to 10000 (199 = 1.99 %).
    #[schema(minimum = 0, maximum = 10000)]
    pub rate_bps: i64,
    /// Minor units added per payment, 0 to 100000000 (default 0).
    #[serde(default)]
    #[schema(minimum = 0, maximum = 100000000)]
    pub fixed_fee: i64,
}

/// Whether `name` is a payment method the gateways' reports name (a rate for any other name
/// would never apply).
pub fn is_method_name(name: &str) -> bool {
    crate::gateways::PaymentMethod::ALL
        .iter()
        .any(|m| m.as_str() == name)
}

fn check_rate(errors: &mut FieldErrors, at: &str, rate: FeeRateRequest) -> FeeRate {
    let rate_bps = match u32::try_from(rate.rate_bps) {
        Ok(bps) if rate.rate_bps <= MAX_RATE_BPS => bps,
        _ => {
            errors.add(
                format!("{at}.rate_bps"),
                format!("must be a whole number of basis points from 0 to {MAX_RATE_BPS}"),
            );
            0
        }
    };
    if !(0..=MAX_FIXED_FEE).contains(&rate.fixed_fee) {
        errors.add(
            format!("{at}.fixed_fee"),
            format!("must be from 0 to {MAX_FIXED_FEE} paise"),
        );
    }
    FeeRate {
        rate_bps,
        fixed_fee: rate.fixed_fee,
    }
}

/// What a valid replacement stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSchedule {
    /// The merchant's default, if it has one.
    pub default: Option<FeeRate>,
    /// Rates per method.
    pub methods: BTreeMap<String, FeeRate>,
    /// The refund policy.
    pub refund_fee_policy: RefundFeePolicy,
}

/// Checks a replacement; every problem at once, by field path (`methods.upi.rate_bps`).
pub fn validate(request: &ReplaceFees) -> Result<NewSchedule, FieldErrors> {
    let mut errors = FieldErrors::new();
    let default = request
        .default
        .map(|rate| check_rate(&mut errors, "default", rate));
    if request.methods.len() > MAX_METHODS {
        errors.add(
            "methods",
            format!("at most {MAX_METHODS} methods may have a rate of their own"),
        );
    }
    let mut methods = BTreeMap::new();
    for (name, rate) in &request.methods {
        if !is_method_name(name) {
            errors.add(
                format!("methods.{name}"),
                "is not a payment method: one of upi, card, netbanking, wallet, emi, paylater, other",
            );
            continue;
        }
        methods.insert(
            name.clone(),
            check_rate(&mut errors, &format!("methods.{name}"), *rate),
        );
    }
    let policy = RefundFeePolicy::parse(&request.refund_fee_policy).unwrap_or_else(|| {
        errors.add("refund_fee_policy", "must be 'retain' or 'return'");
        RefundFeePolicy::Retain
    });
    errors.into_result()?;
    Ok(NewSchedule {
        default,
        methods,
        refund_fee_policy: policy,
    })
}

/// The schedule of `merchant` as the transaction's scope sees it; `None` for no such merchant.
pub async fn get(
    tx: &Transaction<'_>,
    merchant: MerchantId,
    platform_default: FeeRate,
) -> Result<Option<FeeSchedule>, AppError> {
    read(tx, merchant, platform_default, false).await
}

async fn read(
    tx: &Transaction<'_>,
    merchant: MerchantId,
    platform_default: FeeRate,
    lock: bool,
) -> Result<Option<FeeSchedule>, AppError> {
    let sql = if lock {
        "SELECT refund_fee_policy FROM merchants WHERE id = $1 FOR UPDATE"
    } else {
        "SELECT refund_fee_policy FROM merchants WHERE id = $1"
    };
    let Some(row) = tx
        .query_typed_opt(sql, &[(&merchant.as_uuid(), Type::UUID)])
        .await?
    else {
        return Ok(None);
    };
    let policy = Record::new(&row, "merchants").get::<&str>("refund_fee_policy")?;
    let refund_fee_policy = RefundFeePolicy::parse(policy)
        .ok_or_else(|| AppError::Internal(format!("unknown refund fee policy '{policy}'")))?;
    let rows = tx
        .query_typed(
            "SELECT method, rate_bps, fixed_fee FROM merchant_fee_rates WHERE merchant_id = $1
              ORDER BY method NULLS FIRST",
            &[(&merchant.as_uuid(), Type::UUID)],
        )
        .await?;
    let mut default = None;
    let mut methods = BTreeMap::new();
    for row in &rows {
        let row = Record::new(row, "merchant_fee_rates");
        let rate = FeeRate {
            rate_bps: u32::try_from(row.get::<i32>("rate_bps")?)
                .map_err(|_| AppError::Internal("a stored fee rate is out of range".to_string()))?,
            fixed_fee: row.get("fixed_fee")?,
        };
        match row.get::<Option<String>>("method")? {
            None => default = Some(rate),
            Some(method) => {
                methods.insert(method, rate);
            }
        }
    }
    Ok(Some(FeeSchedule {
        merchant_id: merchant,
        default,
        platform_default,
        methods,
        refund_fee_policy,
    }))
}

/// Replaces the schedule of `merchant` (platform scope), audited with before and after.
pub async fn replace(
    tx: &Transaction<'_>,
    ctx: &AuditContext,
    merchant: MerchantId,
    platform_default: FeeRate,
    schedule: &NewSchedule,
) -> Result<FeeSchedule, AppError> {
    let before = read(tx, merchant, platform_default, true)
        .await?
        .ok_or(AppError::NotFound("merchant"))?;
    tx.execute_typed(
        "DELETE FROM merchant_fee_rates WHERE merchant_id = $1",
        &[(&merchant.as_uuid(), Type::UUID)],
    )
    .await?;
    let rates = schedule.default.map(|rate| (None, rate)).into_iter().chain(
        schedule
            .methods
            .iter()
            .map(|(name, rate)| (Some(name.as_str()), *rate)),
    );
    for (method, rate) in rates {
        let bps = i32::try_from(rate.rate_bps)
            .map_err(|_| AppError::Internal("a fee rate is out of range".to_string()))?;
        tx.execute_typed(
            "INSERT INTO merchant_fee_rates (id, merchant_id, method, rate_bps, fixed_fee)
             VALUES ($1, $2, $3, $4, $5)",
            &[
                (&Uuid::now_v7(), Type::UUID),
                (&merchant.as_uuid(), Type::UUID),
                (&method, Type::TEXT),
                (&bps, Type::INT4),
                (&rate.fixed_fee, Type::INT8),
            ],
        )
        .await?;
    }
    if before.refund_fee_policy != schedule.refund_fee_policy {
        tx.execute_typed(
            "UPDATE merchants SET refund_fee_policy = $2, updated_at = now() WHERE id = $1",
            &[
                (&merchant.as_uuid(), Type::UUID),
                (&schedule.refund_fee_policy.as_str(), Type::TEXT),
            ],
        )
        .await?;
    }
    let after = FeeSchedule {
        merchant_id: merchant,
        default: schedule.default,
        platform_default,
        methods: schedule.methods.clone(),
        refund_fee_policy: schedule.refund_fee_policy,
    };
    audit::record(
        tx,
        ctx,
        AuditEvent::success("merchant.fees_replaced")
            .merchant(merchant)
            .target("merchant", merchant)
            .change(
                serde_json::to_value(&before).ok(),
                serde_json::to_value(&after).ok(),
            ),
    )
    .await?;
    Ok(after)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(rate_bps: i64, fixed_fee: i64) -> FeeRateRequest {
        FeeRateRequest {
            rate_bps,
            fixed_fee,
        }
    }

    #[test]
    fn a_valid_schedule_is_taken_as_sent() {
        let request = ReplaceFees {
            default: Some(rate(199, 300)),
            methods: [
                ("upi".to_string(), rate(0, 0)),
                ("netbanking".to_string(), rate(10_000, 100_000_000)),
            ]
            .into_iter()
            .collect(),
            refund_fee_policy: "return".into(),
        };
        let schedule = validate(&request).expect("valid");
        assert_eq!(
            schedule.default,
            Some(FeeRate {
                rate_bps: 199,
                fixed_fee: 300
            })
        );
        assert_eq!(schedule.methods.len(), 2);
        assert_eq!(schedule.refund_fee_policy, RefundFeePolicy::Return);
    }

    #[test]
    fn every_problem_is_named_by_its_path() {
        let mut methods = BTreeMap::new();
        methods.insert("credit_card".into(), rate(1, 0));
        methods.insert("UPI".into(), rate(1, 0));
        methods.insert("card".into(), rate(10_001, -1));
        let request = ReplaceFees {
            default: Some(rate(-1, 100_000_001)),
            methods,
            refund_fee_policy: "keep".into(),
        };
        let errors = validate(&request).expect_err("invalid");
        let fields: Vec<&str> = errors.fields().keys().map(String::as_str).collect();
        assert_eq!(
            fields,
            vec![
                "default.fixed_fee",
                "default.rate_bps",
                "methods.UPI",
                "methods.card.fixed_fee",
                "methods.card.rate_bps",
                "methods.credit_card",
                "refund_fee_policy",
            ]
        );
    }

    #[test]
    fn method_names_are_the_methods_gateways_report() {
        for good in [
            "upi",
            "card",
            "netbanking",
            "wallet",
            "emi",
            "paylater",
            "other",
        ] {
            assert!(is_method_name(good), "{good}");
        }
        for bad in [
            "",
            "Upi",
            "1card",
            "_upi",
            "net-banking",
            "upi2",
            "net_banking",
            "credit_card",
        ] {
            assert!(!is_method_name(bad), "{bad}");
        }
    }
}
