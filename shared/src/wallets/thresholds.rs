//! Operators set a wallet's thresholds: `PUT /api/v1/admin/merchants/{id}/wallet`.

use super::view::figures;
use crate::audit::{self, AuditContext, AuditEvent};
use crate::db::Transaction;
use crate::error::AppError;
use crate::ids::MerchantId;
use crate::mode::Mode;
use crate::validation::FieldErrors;
use serde::Deserialize;
use serde_json::json;
use tokio_postgres::types::Type;

/// The largest threshold either way (₹100 crore), as the database allows.
pub const MAX_THRESHOLD: i64 = 100_000_000_000;

/// The body of `PUT /api/v1/admin/merchants/{id}/wallet`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetThresholds {
    /// Which mode's wallet.
    #[schema(value_type = Mode)]
    pub mode: String,
    /// Paise: below this the merchant and operators are told.
    #[schema(minimum = -100000000000_i64, maximum = 100000000000_i64)]
    pub alert_threshold: i64,
    /// Paise: below this new payments go only to platform-owned accounts; at most the alert
    /// threshold.
    #[schema(minimum = -100000000000_i64, maximum = 100000000000_i64)]
    pub suspension_threshold: i64,
}

/// Validated thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// Which wallet.
    pub mode: Mode,
    /// Paise.
    pub alert_threshold: i64,
    /// Paise.
    pub suspension_threshold: i64,
}

/// Parses a mode field, naming it when it is not one.
pub fn parse_mode(errors: &mut FieldErrors, raw: &str) -> Option<Mode> {
    raw.parse::<Mode>().map_err(|e| errors.add("mode", e)).ok()
}

impl SetThresholds {
    /// Checks every field, reporting all problems at once.
    pub fn validate(self) -> Result<Thresholds, AppError> {
        let mut e = FieldErrors::new();
        let mode = parse_mode(&mut e, &self.mode);
        for (field, value) in [
            ("alert_threshold", self.alert_threshold),
            ("suspension_threshold", self.suspension_threshold),
        ] {
            if !(-MAX_THRESHOLD..=MAX_THRESHOLD).contains(&value) {
                e.add(
                    field,
                    format!("must be paise from -{MAX_THRESHOLD} to {MAX_THRESHOLD}"),
                );
            }
        }
        if self.alert_threshold < self.suspension_threshold {
            e.add(
                "alert_threshold",
                "must be at least the suspension threshold",
            );
        }
        e.into_result()?;
        Ok(Thresholds {
            mode: mode.unwrap_or(Mode::Test),
            alert_threshold: self.alert_threshold,
            suspension_threshold: self.suspension_threshold,
        })
    }
}

/// Stores the thresholds (creating the wallet's row), audited; `NotFound` for an unknown
/// merchant.
pub async fn set(
    tx: &Transaction<'_>,
    audit_ctx: &AuditContext,
    merchant: MerchantId,
    t: Thresholds,
) -> Result<(), AppError> {
    let before = figures(tx, merchant, t.mode)
        .await?
        .ok_or(AppError::NotFound("merchant"))?;
    tx.execute_typed(
        "INSERT INTO wallets (merchant_id, mode, alert_threshold, suspension_threshold)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (merchant_id, mode) DO UPDATE
            SET alert_threshold = EXCLUDED.alert_threshold,
                suspension_threshold = EXCLUDED.suspension_threshold, updated_at = now()",
        &[
            (&merchant.as_uuid(), Type::UUID),
            (&t.mode.as_str(), Type::TEXT),
            (&t.alert_threshold, Type::INT8),
            (&t.suspension_threshold, Type::INT8),
        ],
    )
    .await?;
    audit::record(
        tx,
        audit_ctx,
        AuditEvent::success("wallet.thresholds_updated")
            .merchant(merchant)
            .target("wallet", format!("{merchant}:{}", t.mode))
            .change(
                Some(json!({
                    "mode": t.mode, "alert_threshold": before.alert_threshold,
                    "suspension_threshold": before.suspension_threshold,
                })),
                Some(json!({
                    "mode": t.mode, "alert_threshold": t.alert_threshold,
                    "suspension_threshold": t.suspension_threshold,
                })),
            ),
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(mode: &str, alert: i64, suspension: i64) -> SetThresholds {
        SetThresholds {
            mode: mode.into(),
            alert_threshold: alert,
            suspension_threshold: suspension,
        }
    }

    #[test]
    fn alert_at_least_suspension_and_a_known_mode() {
        assert!(body("live", 100_000, 50_000).validate().is_ok());
        assert!(body("live", 50_000, 50_000).validate().is_ok());
        assert!(body("live", 49_999, 50_000).validate().is_err());
        assert!(body("prod", 100_000, 0).validate().is_err());
        assert!(body("test", MAX_THRESHOLD + 1, 0).validate().is_err());
    }
}
