//! Booking: gathers what a posting rule needs in the transaction of the change that causes it,
//! posts the rule's entry there, and stores what was charged on the payment or refund.

use super::accounts::{AccountCode, AccountRef, Owner};
use super::fees::{Charge, FeeRate};
use super::posting::{EntryKind, Line, Posted, Side, post};
use super::rules::{self, Captured, Commission, RefundFeePolicy, Refunded, Unmatched};
use crate::app::App;
use crate::db::Transaction;
use crate::db::record::Record;
use crate::error::AppError;
use crate::ids::{
    AffiliateId, AttemptId, GatewayAccountId, LedgerEntryId, MerchantId, RefundId, TransactionId,
    WalletTopUpId,
};
use crate::mode::Mode;
use crate::money::{ReportedAmount, prorate};
use tokio_postgres::types::Type;

/// A capture worked out and its charge stored on the payment, its entry not yet posted: posting
/// locks the platform's busiest accounts (fee revenue, GST), so the caller posts last, just
/// before it commits, to hold those locks as briefly as it can.
#[must_use = "a capture is booked only once its entry is posted"]
#[derive(Debug, Clone, PartialEq)]
pub struct CaptureBooking {
    /// The attempt was flagged by an earlier report of another amount: what that put in
    /// suspense is released, since the capture now books the money and it must not be held twice.
    release: Option<AttemptId>,
    posting: Option<super::posting::Posting>,
    /// The merchant's wallet is debited (its balance may cross a threshold).
    pub wallet_debited: Option<(MerchantId, Mode)>,
    /// The merchant's wallet was credited by a checkout top-up (its low-balance alert may clear).
    pub wallet_credited: Option<(MerchantId, Mode)>,
}

impl CaptureBooking {
    /// Posts the entry in `tx` (after releasing any suspense of the same attempt).
    pub async fn post(self, tx: &Transaction<'_>) -> Result<Option<Posted>, AppError> {
        if let Some(attempt) = self.release {
            release_suspense(tx, attempt).await?;
        }
        match &self.posting {
            Some(posting) => Ok(Some(post(tx, posting).await?)),
            None => Ok(None),
        }
    }
}

/// A capture's payment, account, affiliate and fee rate, in one round trip: the merchant's rate
/// for the payment method (`$2`, the gateway's report, else the one stored), else its default
/// rate; none when the merchant has no rate (the platform's default applies).
const CAPTURE: &str = "
SELECT t.id AS transaction_id, t.merchant_id, t.mode, t.amount, t.currency, t.purpose,
       coalesce($2, t.payment_method) AS method,
       a.gateway_account_id, g.ownership, am.affiliate_id, am.commission_bps, fr.rate_bps, fr.fixed_fee
  FROM transaction_attempts a
  JOIN transactions t ON t.id = a.transaction_id
  JOIN gateway_accounts g ON g.id = a.gateway_account_id
  LEFT JOIN affiliate_merchants am ON am.merchant_id = t.merchant_id
  LEFT JOIN LATERAL (SELECT r.rate_bps, r.fixed_fee FROM merchant_fee_rates r
                      WHERE r.merchant_id = t.merchant_id
                        AND (r.method = coalesce($2, t.payment_method) OR r.method IS NULL)
                      ORDER BY r.method NULLS LAST LIMIT 1) fr ON true
 WHERE a.id = $1";

/// Works out the capture of `attempt`'s payment (rules 1–4) and stores our fee and GST on it,
/// with the payment `method` when the gateway reported it (else the one known before); `flagged`
/// when an earlier report of the attempt was of another amount (its suspense is released). The
/// caller posts the returned booking last, before it commits.
pub async fn capture(
    tx: &Transaction<'_>,
    app: &App,
    attempt: AttemptId,
    method: Option<&str>,
    flagged: bool,
) -> Result<CaptureBooking, AppError> {
    let row = tx
        .query_typed_one(
            CAPTURE,
            &[(&attempt.as_uuid(), Type::UUID), (&method, Type::TEXT)],
        )
        .await?;
    let row = Record::new(&row, "transactions");
    let merchant = MerchantId::from_uuid(row.get("merchant_id")?);
    let mode: Mode = row.parse("mode")?;
    let method: Option<&str> = row.get("method")?;
    let platform_owned = row.get::<&str>("ownership")? == "platform";
    let top_up = row.get::<&str>("purpose")? == "wallet_top_up";
    let rate = match (top_up, row.get::<Option<i32>>("rate_bps")?) {
        (true, _) => FeeRate {
            rate_bps: 0,
            fixed_fee: 0,
        },
        (false, Some(bps)) => FeeRate {
            rate_bps: u32::try_from(bps).unwrap_or(0),
            fixed_fee: row.get::<Option<i64>>("fixed_fee")?.unwrap_or(0),
        },
        (false, None) => app.config.payments.default_fee,
    };
    let amount: i64 = row.get("amount")?;
    let commission = match row.get::<Option<uuid::Uuid>>("affiliate_id")? {
        Some(affiliate) if !top_up => Some(Commission {
            affiliate: AffiliateId::from_uuid(affiliate),
            bps: u32::try_from(row.get::<i32>("commission_bps")?).unwrap_or(0),
        }),
        _ => None,
    };
    let captured = Captured {
        attempt,
        transaction: TransactionId::from_uuid(row.get("transaction_id")?),
        merchant,
        mode,
        amount,
        currency: row.get::<String>("currency")?,
        gateway_account: GatewayAccountId::from_uuid(row.get("gateway_account_id")?),
        rate,
        charge: rate.charge(amount),
        commission,
    };
    let posting = match (top_up, platform_owned) {
        (true, true) => {
            let id = WalletTopUpId::generate();
            tx.execute_typed(
                "INSERT INTO wallet_top_ups (id, merchant_id, mode, amount, currency, source, transaction_id)
                 VALUES ($1, $2, $3, $4, $5, 'checkout', $6) ON CONFLICT (transaction_id) DO NOTHING",
                &[
                    (&id.as_uuid(), Type::UUID),
                    (&merchant.as_uuid(), Type::UUID),
                    (&mode.as_str(), Type::TEXT),
                    (&amount, Type::INT8),
                    (&captured.currency, Type::TEXT),
                    (&captured.transaction.as_uuid(), Type::UUID),
                ],
            )
            .await?;
            Some(rules::checkout_top_up(&captured, id))
        }
        (true, false) => {
            // Routing never sends a top-up to the merchant's own account: none of that money
            // reached us, so the wallet is not credited.
            tracing::error!(attempt = %attempt, "a wallet top-up was captured on a merchant-owned account; not credited");
            None
        }
        (false, true) => Some(rules::capture_on_platform_account(&captured)),
        (false, false) => rules::capture_on_merchant_account(&captured),
    };
    tx.execute_typed(
        "UPDATE transactions SET fee = $2, gst = $3, payment_method = $4 WHERE id = $1",
        &[
            (&captured.transaction.as_uuid(), Type::UUID),
            (&captured.charge.fee, Type::INT8),
            (&captured.charge.gst, Type::INT8),
            (&method, Type::TEXT),
        ],
    )
    .await?;
    let wallet_debited =
        (!platform_owned && !top_up && captured.charge.total() > 0).then_some((merchant, mode));
    let wallet_credited = (platform_owned && top_up).then_some((merchant, mode));
    let release = flagged.then_some(attempt);
    Ok(CaptureBooking {
        release,
        posting,
        wallet_debited,
        wallet_credited,
    })
}

/// Releases what `attempt` put in suspense when a report of another amount came first (the
/// gateway's later report of the right amount is the capture), through the database's
/// `ledger_reverse`: the scope applying the capture (a public webhook) cannot read the ledger.
async fn release_suspense(tx: &Transaction<'_>, attempt: AttemptId) -> Result<(), AppError> {
    tx.execute_typed(
        "SELECT ledger_reverse($1, $2, $3)",
        &[
            (&LedgerEntryId::generate().as_uuid(), Type::UUID),
            (&format!("suspense_release:{attempt}"), Type::TEXT),
            (&rules::suspense_key(attempt), Type::TEXT),
        ],
    )
    .await?;
    Ok(())
}

/// Books money captured on `attempt` that its payment could not take (rule 8): only on a
/// platform-owned account (on a merchant's own, the money is the merchant's) and only for an
/// amount the gateway did report.
pub async fn suspense(
    tx: &Transaction<'_>,
    attempt: AttemptId,
    captured: Option<&ReportedAmount>,
    reason: &'static str,
) -> Result<Option<Posted>, AppError> {
    let Some(captured) = captured.filter(|c| c.minor > 0 && is_currency_code(&c.currency)) else {
        return Ok(None);
    };
    let row = tx
        .query_typed_one(
            CAPTURE,
            &[
                (&attempt.as_uuid(), Type::UUID),
                (&None::<&str>, Type::TEXT),
            ],
        )
        .await?;
    let row = Record::new(&row, "transactions");
    if row.get::<&str>("ownership")? != "platform" {
        return Ok(None);
    }
    let unmatched = Unmatched {
        attempt,
        transaction: TransactionId::from_uuid(row.get("transaction_id")?),
        merchant: MerchantId::from_uuid(row.get("merchant_id")?),
        mode: row.parse("mode")?,
        gateway_account: GatewayAccountId::from_uuid(row.get("gateway_account_id")?),
        amount: captured.minor,
        currency: captured.currency.clone(),
        reason,
    };
    Ok(Some(post(tx, &rules::suspense_capture(&unmatched)).await?))
}

fn is_currency_code(code: &str) -> bool {
    code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase())
}

const REFUND: &str = "
SELECT r.transaction_id, r.merchant_id, r.mode, r.amount, r.currency, r.attempt_id,
       a.gateway_account_id, g.ownership, t.amount AS payment_amount, t.fee, t.gst, t.purpose,
       m.refund_fee_policy, o.refunded_before, o.fee_before, o.gst_before
  FROM refunds r
  JOIN transactions t ON t.id = r.transaction_id
  JOIN transaction_attempts a ON a.id = r.attempt_id
  JOIN gateway_accounts g ON g.id = a.gateway_account_id
  JOIN merchants m ON m.id = r.merchant_id
  CROSS JOIN LATERAL (
      SELECT coalesce(sum(o.amount), 0)::bigint AS refunded_before,
             coalesce(sum(o.fee_returned), 0)::bigint AS fee_before,
             coalesce(sum(o.gst_returned), 0)::bigint AS gst_before
        FROM refunds o
       WHERE o.transaction_id = r.transaction_id AND o.id <> r.id
         AND o.status = 'succeeded' AND o.fee_returned IS NOT NULL) o
 WHERE r.id = $1";

/// Books a refund that has just succeeded (rule 6), and stores on it what of our fee it returned.
pub async fn refund(tx: &Transaction<'_>, id: RefundId) -> Result<Option<Posted>, AppError> {
    let row = tx
        .query_typed_one(REFUND, &[(&id.as_uuid(), Type::UUID)])
        .await?;
    let row = Record::new(&row, "refunds");
    let attempt = AttemptId::from_uuid(row.get("attempt_id")?);
    let Some(commission) = capture_entry(tx, attempt).await? else {
        // Captured before the ledger was kept: there is nothing of it on the books to reverse.
        tracing::warn!(refund = %id, attempt = %attempt, "refund of a capture that was never booked; not posted");
        return Ok(None);
    };
    let policy = RefundFeePolicy::parse(row.get("refund_fee_policy")?)
        .ok_or_else(|| AppError::Internal("unknown refund fee policy".into()))?;
    let amount: i64 = row.get("amount")?;
    let payment_amount: i64 = row.get("payment_amount")?;
    let charge = Charge {
        fee: row.get::<Option<i64>>("fee")?.unwrap_or(0),
        gst: row.get::<Option<i64>>("gst")?.unwrap_or(0),
    };
    let before = Charge {
        fee: row.get("fee_before")?,
        gst: row.get("gst_before")?,
    };
    let refunded_before: i64 = row.get("refunded_before")?;
    let refunded_after = refunded_before.saturating_add(amount);
    let returned = match policy {
        RefundFeePolicy::Retain => Charge::default(),
        RefundFeePolicy::Return => {
            charge.returned_by(refunded_before, refunded_after, payment_amount, before)
        }
    };
    let clawback = match (policy, commission) {
        (RefundFeePolicy::Return, Some((affiliate, commission))) => {
            // The same share of the commission as of the fee, cumulatively.
            let after = before.fee.saturating_add(returned.fee);
            let amount = prorate(commission, after, charge.fee)
                - prorate(commission, before.fee, charge.fee);
            (amount > 0).then_some((affiliate, amount))
        }
        _ => None,
    };
    let platform_owned = row.get::<&str>("ownership")? == "platform";
    let refunded = Refunded {
        refund: id,
        transaction: TransactionId::from_uuid(row.get("transaction_id")?),
        merchant: MerchantId::from_uuid(row.get("merchant_id")?),
        mode: row.parse("mode")?,
        amount,
        currency: row.get::<String>("currency")?,
        platform_account: platform_owned
            .then(|| {
                row.get::<uuid::Uuid>("gateway_account_id")
                    .map(GatewayAccountId::from_uuid)
            })
            .transpose()?,
        from_wallet: row.get::<&str>("purpose")? == "wallet_top_up",
        policy,
        returned,
        clawback,
    };
    tx.execute_typed(
        "UPDATE refunds SET fee_returned = $2, gst_returned = $3 WHERE id = $1",
        &[
            (&id.as_uuid(), Type::UUID),
            (&returned.fee, Type::INT8),
            (&returned.gst, Type::INT8),
        ],
    )
    .await?;
    match rules::refund(&refunded) {
        Some(posting) => Ok(Some(post(tx, &posting).await?)),
        None => Ok(None),
    }
}

/// The capture entry of `attempt`, if it was booked, with the affiliate and commission it accrued.
async fn capture_entry(
    tx: &Transaction<'_>,
    attempt: AttemptId,
) -> Result<Option<Option<(AffiliateId, i64)>>, AppError> {
    let rows = tx
        .query_typed(
            "SELECT a.code, a.owner_id, l.amount, l.side FROM ledger_entries e
               JOIN ledger_lines l ON l.entry_id = e.id
               JOIN ledger_accounts a ON a.id = l.account_id
              WHERE e.business_key = $1",
            &[(&rules::capture_key(attempt), Type::TEXT)],
        )
        .await?;
    if rows.is_empty() {
        return Ok(None);
    }
    for row in &rows {
        let row = Record::new(row, "ledger_lines");
        if row.get::<&str>("code")? == AccountCode::AffiliatePayable.as_str()
            && row.get::<&str>("side")? == "credit"
        {
            let affiliate = AffiliateId::from_uuid(row.get("owner_id")?);
            return Ok(Some(Some((affiliate, row.get("amount")?))));
        }
    }
    Ok(Some(None))
}

/// Books the undoing of a refund the gateway failed after it had succeeded (rule 7): its entry,
/// reversed. Nothing when the refund was never booked.
pub async fn refund_reversal(
    tx: &Transaction<'_>,
    id: RefundId,
) -> Result<Option<Posted>, AppError> {
    let key = rules::refund_key(id);
    let Some((entry, mode, lines)) = entry_lines(tx, &key).await? else {
        return Ok(None);
    };
    let mut posting = rules::reversal(
        format!("refund_reversal:{id}"),
        EntryKind::RefundReversal,
        mode,
        entry,
        &lines,
    );
    let row = tx
        .query_typed_one(
            "SELECT merchant_id, transaction_id FROM refunds WHERE id = $1",
            &[(&id.as_uuid(), Type::UUID)],
        )
        .await?;
    let row = Record::new(&row, "refunds");
    posting.merchant = Some(MerchantId::from_uuid(row.get("merchant_id")?));
    posting.transaction = Some(TransactionId::from_uuid(row.get("transaction_id")?));
    posting.refund = Some(id);
    Ok(Some(post(tx, &posting).await?))
}

/// The entry with `business_key`, its mode and its lines as the rules know them.
async fn entry_lines(
    tx: &Transaction<'_>,
    business_key: &str,
) -> Result<Option<(LedgerEntryId, Mode, Vec<Line>)>, AppError> {
    let rows = tx
        .query_typed(
            "SELECT e.id, e.mode, a.code, a.owner_kind, a.owner_id, l.side, l.amount, l.currency
               FROM ledger_entries e
               JOIN ledger_lines l ON l.entry_id = e.id
               JOIN ledger_accounts a ON a.id = l.account_id
              WHERE e.business_key = $1 ORDER BY l.id",
            &[(&business_key, Type::TEXT)],
        )
        .await?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let first = Record::new(first, "ledger_entries");
    let entry = LedgerEntryId::from_uuid(first.get("id")?);
    let mode: Mode = first.parse("mode")?;
    let mut lines = Vec::with_capacity(rows.len());
    for row in &rows {
        let row = Record::new(row, "ledger_lines");
        let code = AccountCode::parse(row.get("code")?)
            .ok_or_else(|| AppError::Internal("unknown ledger account code".into()))?;
        let owner = owner(row.get("owner_kind")?, row.get("owner_id")?)?;
        let side = match row.get::<&str>("side")? {
            "debit" => Side::Debit,
            _ => Side::Credit,
        };
        lines.push(Line {
            account: AccountRef { code, owner },
            side,
            amount: row.get("amount")?,
            currency: row.get("currency")?,
        });
    }
    Ok(Some((entry, mode, lines)))
}

/// An account's owner from its stored kind and id.
pub fn owner(kind: &str, id: uuid::Uuid) -> Result<Owner, AppError> {
    Ok(match kind {
        "platform" => Owner::Platform,
        "merchant" => Owner::Merchant(MerchantId::from_uuid(id)),
        "affiliate" => Owner::Affiliate(AffiliateId::from_uuid(id)),
        "gateway_account" => Owner::GatewayAccount(GatewayAccountId::from_uuid(id)),
        other => {
            return Err(AppError::Internal(format!(
                "unknown ledger owner kind '{other}'"
            )));
        }
    })
}
