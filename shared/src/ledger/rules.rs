//! The posting rules: one function per kind of movement, each building a balanced entry from
//! what happened. They compute nothing about the database; [`super::book`] gathers their inputs
//! in the transaction of the change and posts what they return.
//!
//! 1. Capture on a platform-owned gateway account (we collect, then settle to the merchant):
//!    debit the gateway account's clearing (amount); credit the merchant's payable (amount − fee −
//!    GST; a debit if the charge exceeds the amount), fee revenue (fee), GST payable (GST).
//! 2. Capture on a merchant-owned account (the gateway settles to the merchant): debit the
//!    merchant's wallet (fee + GST); credit fee revenue and GST payable.
//! 3. Either capture, for a merchant an affiliate brought: debit commission expense and credit the
//!    affiliate's payable with the affiliate's share of the fee, in the same entry.
//! 4. Wallet top-up by checkout (a payment whose purpose is `wallet_top_up`, always on a
//!    platform-owned account, no fee): debit clearing, credit the merchant's wallet.
//! 5. Wallet top-up by an operator (money received outside the gateways): debit the platform's
//!    bank, credit the merchant's wallet.
//! 6. Refund on a platform-owned account: debit the merchant's payable, credit clearing (the
//!    refunded amount). Our fee is returned only if the merchant's setting says so: then debit fee
//!    revenue and GST payable and credit the payable (or, on a merchant-owned account, the wallet)
//!    with the refund's share of them, and the affiliate gives back the same share of its
//!    commission. What was returned (zero included) is stored on the refund and in the memo.
//! 7. A refund the gateway undid after it succeeded: the refund's entry, every line reversed.
//! 8. A capture that no payment could take (amount mismatch, or a second capture of a paid
//!    payment) on a platform-owned account: debit clearing, credit suspense, with what the gateway
//!    really captured, in its currency.
//! 9. An operator's resolution of such money, once per attempt: refunded to the customer at the
//!    gateway (debit suspense, credit that gateway account's clearing), or credited to the
//!    merchant (debit suspense, credit the merchant's payable, no fee), with what suspense holds.

use super::accounts::{AccountCode, AccountRef};
use super::fees::{Charge, FeeRate};
use super::posting::{EntryKind, Line, Posting, Side};
use crate::ids::{
    AffiliateId, AttemptId, GatewayAccountId, LedgerEntryId, MerchantId, RefundId, TransactionId,
    UserId, WalletTopUpId,
};
use crate::mode::Mode;
use crate::money::share_of;
use serde_json::json;

/// An affiliate's share of our fee on a merchant's payments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Commission {
    /// Who earns it.
    pub affiliate: AffiliateId,
    /// Basis points of our fee (not of GST).
    pub bps: u32,
}

/// A payment captured on `gateway_account` by `attempt`.
#[derive(Debug, Clone, PartialEq)]
pub struct Captured {
    /// The attempt whose capture this is (the business key).
    pub attempt: AttemptId,
    /// The payment.
    pub transaction: TransactionId,
    /// Whose payment.
    pub merchant: MerchantId,
    /// Test or live books.
    pub mode: Mode,
    /// Minor units captured.
    pub amount: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// Where it was captured.
    pub gateway_account: GatewayAccountId,
    /// The rate in force.
    pub rate: FeeRate,
    /// Our charge on it, from the rate.
    pub charge: Charge,
    /// The affiliate's share, if an affiliate brought the merchant.
    pub commission: Option<Commission>,
}

/// The business key of the capture by `attempt` (one per attempt: a replayed report posts nothing).
pub fn capture_key(attempt: AttemptId) -> String {
    format!("capture:{attempt}")
}

/// The business key of a refund's entry (what its reversal reverses).
pub fn refund_key(refund: RefundId) -> String {
    format!("refund:{refund}")
}

fn about_payment(posting: &mut Posting, captured: &Captured) {
    posting.merchant = Some(captured.merchant);
    posting.transaction = Some(captured.transaction);
}

/// The commission on `fee` for `commission`, as lines on `posting` (nothing for no affiliate or
/// a zero share); returns the amount.
fn commission_lines(
    posting: &mut Posting,
    commission: Option<Commission>,
    fee: i64,
    currency: &str,
) -> i64 {
    let Some(commission) = commission else {
        return 0;
    };
    let amount = share_of(fee, commission.bps);
    posting
        .line(
            AccountRef::platform(AccountCode::CommissionExpense),
            Side::Debit,
            amount,
            currency,
        )
        .line(
            AccountRef::affiliate(commission.affiliate),
            Side::Credit,
            amount,
            currency,
        );
    amount
}

/// Our side of a capture, the same on either account model: fee revenue and GST payable
/// credited, and the affiliate's commission (rule 3); returns the commission.
fn our_charge(posting: &mut Posting, c: &Captured) -> i64 {
    posting
        .line(
            AccountRef::platform(AccountCode::FeeRevenue),
            Side::Credit,
            c.charge.fee,
            &c.currency,
        )
        .line(
            AccountRef::platform(AccountCode::GstPayable),
            Side::Credit,
            c.charge.gst,
            &c.currency,
        );
    commission_lines(posting, c.commission, c.charge.fee, &c.currency)
}

fn charge_memo(captured: &Captured, commission: i64, model: &str) -> serde_json::Value {
    json!({
        "account_model": model,
        "amount": captured.amount,
        "rate_bps": captured.rate.rate_bps,
        "fixed_fee": captured.rate.fixed_fee,
        "fee": captured.charge.fee,
        "gst": captured.charge.gst,
        "affiliate_id": captured.commission.map(|c| c.affiliate),
        "commission_bps": captured.commission.map(|c| c.bps),
        "commission": commission,
    })
}

/// Rule 1 (and 3): a capture on a platform-owned account.
pub fn capture_on_platform_account(captured: &Captured) -> Posting {
    let c = captured;
    let mut posting = Posting::new(capture_key(c.attempt), EntryKind::Capture, c.mode);
    about_payment(&mut posting, c);
    let net = c.amount.saturating_sub(c.charge.total());
    posting
        .line(
            AccountRef::clearing(c.gateway_account),
            Side::Debit,
            c.amount,
            &c.currency,
        )
        .line(
            AccountRef::payable(c.merchant),
            Side::Credit,
            net,
            &c.currency,
        );
    let commission = our_charge(&mut posting, c);
    posting.memo = charge_memo(c, commission, "platform_owned");
    posting
}

/// Rule 2 (and 3): a capture on a merchant-owned account; `None` when nothing moves (no fee).
pub fn capture_on_merchant_account(captured: &Captured) -> Option<Posting> {
    let c = captured;
    let mut posting = Posting::new(capture_key(c.attempt), EntryKind::Capture, c.mode);
    about_payment(&mut posting, c);
    posting.line(
        AccountRef::wallet(c.merchant),
        Side::Debit,
        c.charge.total(),
        &c.currency,
    );
    let commission = our_charge(&mut posting, c);
    posting.memo = charge_memo(c, commission, "merchant_owned");
    (!posting.lines.is_empty()).then_some(posting)
}

/// Rule 4: a wallet top-up paid through the platform's checkout (no fee is charged on it).
pub fn checkout_top_up(captured: &Captured, top_up: WalletTopUpId) -> Posting {
    let c = captured;
    let mut posting = Posting::new(capture_key(c.attempt), EntryKind::WalletTopUp, c.mode);
    about_payment(&mut posting, c);
    posting
        .line(
            AccountRef::clearing(c.gateway_account),
            Side::Debit,
            c.amount,
            &c.currency,
        )
        .line(
            AccountRef::wallet(c.merchant),
            Side::Credit,
            c.amount,
            &c.currency,
        );
    posting.memo = json!({ "source": "checkout", "top_up_id": top_up, "amount": c.amount });
    posting
}

/// Money an operator added to a merchant's wallet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorTopUp {
    /// The top-up (the business key).
    pub id: WalletTopUpId,
    /// Whose wallet.
    pub merchant: MerchantId,
    /// Test or live books.
    pub mode: Mode,
    /// Minor units.
    pub amount: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// The operator.
    pub by: UserId,
    /// The operator's reference for the money received (a bank reference).
    pub reference: Option<String>,
}

/// Rule 5: a wallet top-up by an operator.
pub fn operator_top_up(top_up: &OperatorTopUp) -> Posting {
    let t = top_up;
    let mut posting = Posting::new(
        format!("wallet_top_up:{}", t.id),
        EntryKind::WalletTopUp,
        t.mode,
    );
    posting.merchant = Some(t.merchant);
    posting
        .line(
            AccountRef::platform(AccountCode::PlatformBank),
            Side::Debit,
            t.amount,
            &t.currency,
        )
        .line(
            AccountRef::wallet(t.merchant),
            Side::Credit,
            t.amount,
            &t.currency,
        );
    posting.memo = json!({
        "source": "operator", "top_up_id": t.id, "amount": t.amount, "by": t.by, "reference": t.reference,
    });
    posting
}

/// Whether our fee goes back to the merchant when a payment is refunded.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum RefundFeePolicy {
    /// We keep our fee (the default).
    Retain,
    /// The refund's share of our fee and its GST goes back.
    Return,
}

impl RefundFeePolicy {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            RefundFeePolicy::Retain => "retain",
            RefundFeePolicy::Return => "return",
        }
    }

    /// Parses a stored name.
    pub fn parse(text: &str) -> Option<RefundFeePolicy> {
        match text {
            "retain" => Some(RefundFeePolicy::Retain),
            "return" => Some(RefundFeePolicy::Return),
            _ => None,
        }
    }
}

/// A refund that succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refunded {
    /// The refund (the business key).
    pub refund: RefundId,
    /// The payment refunded.
    pub transaction: TransactionId,
    /// Whose payment.
    pub merchant: MerchantId,
    /// Test or live books.
    pub mode: Mode,
    /// Minor units refunded.
    pub amount: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// The gateway account of the captured attempt, when it is platform-owned (we hold the money);
    /// `None` when the merchant's own account refunds from the merchant's balance.
    pub platform_account: Option<GatewayAccountId>,
    /// The payment was a wallet top-up: the refund comes out of the wallet it credited.
    pub from_wallet: bool,
    /// The merchant's setting at the time.
    pub policy: RefundFeePolicy,
    /// What of our charge this refund returns (zero when the policy retains it).
    pub returned: Charge,
    /// What the affiliate gives back of its commission, with the same share.
    pub clawback: Option<(AffiliateId, i64)>,
}

/// Rule 6: a refund; `None` when nothing moves (a merchant-owned account's refund with our fee
/// kept: the money went back from the merchant's own balance at the gateway).
pub fn refund(refunded: &Refunded) -> Option<Posting> {
    let r = refunded;
    let mut posting = Posting::new(refund_key(r.refund), EntryKind::Refund, r.mode);
    posting.merchant = Some(r.merchant);
    posting.transaction = Some(r.transaction);
    posting.refund = Some(r.refund);
    let back_to = match r.platform_account {
        Some(account) => {
            let from = if r.from_wallet {
                AccountRef::wallet(r.merchant)
            } else {
                AccountRef::payable(r.merchant)
            };
            posting.line(from, Side::Debit, r.amount, &r.currency).line(
                AccountRef::clearing(account),
                Side::Credit,
                r.amount,
                &r.currency,
            );
            from
        }
        None => AccountRef::wallet(r.merchant),
    };
    posting
        .line(
            AccountRef::platform(AccountCode::FeeRevenue),
            Side::Debit,
            r.returned.fee,
            &r.currency,
        )
        .line(
            AccountRef::platform(AccountCode::GstPayable),
            Side::Debit,
            r.returned.gst,
            &r.currency,
        )
        .line(back_to, Side::Credit, r.returned.total(), &r.currency);
    let clawback = r.clawback.map_or(0, |(_, amount)| amount);
    if let Some((affiliate, amount)) = r.clawback {
        posting
            .line(
                AccountRef::affiliate(affiliate),
                Side::Debit,
                amount,
                &r.currency,
            )
            .line(
                AccountRef::platform(AccountCode::CommissionExpense),
                Side::Credit,
                amount,
                &r.currency,
            );
    }
    posting.memo = json!({
        "amount": r.amount,
        "account_model": if r.platform_account.is_some() { "platform_owned" } else { "merchant_owned" },
        "fee_policy": r.policy.as_str(),
        "fee_returned": r.returned.fee,
        "gst_returned": r.returned.gst,
        "commission_returned": clawback,
    });
    (!posting.lines.is_empty()).then_some(posting)
}

/// Rule 7: the reversal of `entry` (its `lines`), under `business_key`.
pub fn reversal(
    business_key: String,
    kind: EntryKind,
    mode: Mode,
    entry: LedgerEntryId,
    lines: &[Line],
) -> Posting {
    let mut posting = Posting::new(business_key, kind, mode);
    posting.reverses = Some(entry);
    for line in lines {
        posting.line(
            line.account,
            line.side.opposite(),
            line.amount,
            &line.currency,
        );
    }
    posting.memo = json!({ "reverses": entry });
    posting
}

/// Money a gateway captured on an attempt that no payment could take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmatched {
    /// The attempt (the business key).
    pub attempt: AttemptId,
    /// Its payment.
    pub transaction: TransactionId,
    /// Whose payment.
    pub merchant: MerchantId,
    /// Test or live books.
    pub mode: Mode,
    /// The platform-owned gateway account that holds the money.
    pub gateway_account: GatewayAccountId,
    /// Minor units the gateway reported.
    pub amount: i64,
    /// The gateway's ISO 4217 code.
    pub currency: String,
    /// Why no payment took it (`amount_mismatch`, `second_capture`).
    pub reason: &'static str,
}

/// The business key of what `attempt` captured into suspense.
pub fn suspense_key(attempt: AttemptId) -> String {
    format!("suspense:{attempt}")
}

/// Rule 8: into suspense, for operators to resolve.
pub fn suspense_capture(unmatched: &Unmatched) -> Posting {
    let u = unmatched;
    let mut posting = Posting::new(suspense_key(u.attempt), EntryKind::SuspenseCapture, u.mode);
    posting.merchant = Some(u.merchant);
    posting.transaction = Some(u.transaction);
    posting
        .line(
            AccountRef::clearing(u.gateway_account),
            Side::Debit,
            u.amount,
            &u.currency,
        )
        .line(
            AccountRef::platform(AccountCode::Suspense),
            Side::Credit,
            u.amount,
            &u.currency,
        );
    posting.memo = json!({ "reason": u.reason, "attempt_id": u.attempt, "amount": u.amount, "currency": u.currency });
    posting
}

/// What an operator decided about money held in suspense.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SuspenseOutcome {
    /// The operator returned the money to the customer at the gateway.
    Refunded,
    /// The money is the merchant's (the customer meant to pay it): it goes to its payable.
    CreditedToMerchant,
}

impl SuspenseOutcome {
    /// Every outcome.
    pub const ALL: [SuspenseOutcome; 2] = [
        SuspenseOutcome::Refunded,
        SuspenseOutcome::CreditedToMerchant,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            SuspenseOutcome::Refunded => "refunded",
            SuspenseOutcome::CreditedToMerchant => "credited_to_merchant",
        }
    }

    /// Parses a stored name.
    pub fn parse(text: &str) -> Option<SuspenseOutcome> {
        SuspenseOutcome::ALL
            .into_iter()
            .find(|o| o.as_str() == text)
    }
}

/// An operator's resolution of the suspense entry of `unmatched.attempt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// What suspense holds for the attempt, as it was booked (rule 8).
    pub unmatched: Unmatched,
    /// The suspense entry resolved.
    pub entry: LedgerEntryId,
    /// What the operator decided.
    pub outcome: SuspenseOutcome,
    /// The operator.
    pub by: UserId,
    /// Why, in the operator's words.
    pub note: String,
}

/// The business key of the resolution of `attempt`'s suspense (one per attempt: it resolves once).
pub fn suspense_resolved_key(attempt: AttemptId) -> String {
    format!("suspense_resolved:{attempt}")
}

/// Rule 9: money held in suspense, resolved by an operator. The caller checks that money
/// credited to a merchant is in the currency of its payment (its payable's).
pub fn suspense_resolution(resolution: &Resolution) -> Posting {
    let r = resolution;
    let u = &r.unmatched;
    let mut posting = Posting::new(
        suspense_resolved_key(u.attempt),
        EntryKind::SuspenseResolution,
        u.mode,
    );
    posting.merchant = Some(u.merchant);
    posting.transaction = Some(u.transaction);
    let to = match r.outcome {
        SuspenseOutcome::Refunded => AccountRef::clearing(u.gateway_account),
        SuspenseOutcome::CreditedToMerchant => AccountRef::payable(u.merchant),
    };
    posting
        .line(
            AccountRef::platform(AccountCode::Suspense),
            Side::Debit,
            u.amount,
            &u.currency,
        )
        .line(to, Side::Credit, u.amount, &u.currency);
    // It nets out the held entry, as a release by a later capture would: the database lets an
    // entry be netted out once, so a resolution and a release never both happen.
    posting.reverses = Some(r.entry);
    posting.memo = json!({
        "outcome": r.outcome.as_str(),
        "reason": u.reason,
        "attempt_id": u.attempt,
        "suspense_entry_id": r.entry,
        "amount": u.amount,
        "currency": u.currency,
        "by": r.by,
        "note": r.note,
    });
    if r.outcome == SuspenseOutcome::CreditedToMerchant {
        // Nothing of our charge is taken from it: it was never a payment we priced.
        posting.memo["fee"] = json!(0);
        posting.memo["gst"] = json!(0);
        posting.memo["fee_note"] =
            json!("no fee or GST is charged on money credited from suspense");
    }
    posting
}

#[cfg(test)]
mod tests {
    use super::*;

    fn captured(amount: i64, rate: FeeRate, commission: Option<Commission>) -> Captured {
        Captured {
            attempt: AttemptId::generate(),
            transaction: TransactionId::generate(),
            merchant: MerchantId::generate(),
            mode: Mode::Live,
            amount,
            currency: "INR".into(),
            gateway_account: GatewayAccountId::generate(),
            rate,
            charge: rate.charge(amount),
            commission,
        }
    }

    fn amounts(posting: &Posting) -> Vec<(AccountCode, Side, i64)> {
        posting
            .lines
            .iter()
            .map(|l| (l.account.code, l.side, l.amount))
            .collect()
    }

    #[test]
    fn a_platform_capture_of_99999_99_at_199_bps_plus_3_with_a_quarter_to_an_affiliate() {
        let affiliate = Commission {
            affiliate: AffiliateId::generate(),
            bps: 2_500,
        };
        let c = captured(
            9_999_999,
            FeeRate {
                rate_bps: 199,
                fixed_fee: 300,
            },
            Some(affiliate),
        );
        let posting = capture_on_platform_account(&c);
        assert!(posting.balances());
        // fee 198,999.98 → 199,000 + 300 = 199,300; GST 18 % = 35,874; net 9,764,825;
        // commission 25 % of the fee = 49,825.
        assert_eq!(
            amounts(&posting),
            vec![
                (AccountCode::GatewayClearing, Side::Debit, 9_999_999),
                (AccountCode::MerchantPayable, Side::Credit, 9_764_825),
                (AccountCode::FeeRevenue, Side::Credit, 199_300),
                (AccountCode::GstPayable, Side::Credit, 35_874),
                (AccountCode::CommissionExpense, Side::Debit, 49_825),
                (AccountCode::AffiliatePayable, Side::Credit, 49_825),
            ]
        );
        assert_eq!(posting.business_key, format!("capture:{}", c.attempt));
    }

    #[test]
    fn a_one_paisa_capture_rounds_the_fee_away_or_owes_the_fixed_fee() {
        let free = captured(
            1,
            FeeRate {
                rate_bps: 199,
                fixed_fee: 0,
            },
            None,
        );
        let posting = capture_on_platform_account(&free);
        assert_eq!(
            amounts(&posting),
            vec![
                (AccountCode::GatewayClearing, Side::Debit, 1),
                (AccountCode::MerchantPayable, Side::Credit, 1),
            ]
        );
        // A ₹2 fixed fee (GST 36 paise) on 1 paisa: the merchant owes us 235 paise.
        let fixed = captured(
            1,
            FeeRate {
                rate_bps: 199,
                fixed_fee: 200,
            },
            None,
        );
        let posting = capture_on_platform_account(&fixed);
        assert!(posting.balances());
        assert_eq!(
            amounts(&posting),
            vec![
                (AccountCode::GatewayClearing, Side::Debit, 1),
                (AccountCode::MerchantPayable, Side::Debit, 235),
                (AccountCode::FeeRevenue, Side::Credit, 200),
                (AccountCode::GstPayable, Side::Credit, 36),
            ]
        );
    }

    #[test]
    fn a_merchant_owned_capture_takes_fee_and_gst_from_the_wallet() {
        let c = captured(
            10_000,
            FeeRate {
                rate_bps: 199,
                fixed_fee: 0,
            },
            None,
        );
        let posting = capture_on_merchant_account(&c).expect("a fee to take");
        // 199 paise fee, GST 35.82 → 36.
        assert_eq!(
            amounts(&posting),
            vec![
                (AccountCode::MerchantWallet, Side::Debit, 235),
                (AccountCode::FeeRevenue, Side::Credit, 199),
                (AccountCode::GstPayable, Side::Credit, 36),
            ]
        );
        let free = captured(
            1,
            FeeRate {
                rate_bps: 199,
                fixed_fee: 0,
            },
            None,
        );
        assert_eq!(capture_on_merchant_account(&free), None);
    }

    #[test]
    fn top_ups_credit_the_wallet() {
        let c = captured(
            50_000,
            FeeRate {
                rate_bps: 199,
                fixed_fee: 0,
            },
            None,
        );
        let posting = checkout_top_up(&c, WalletTopUpId::generate());
        assert_eq!(
            amounts(&posting),
            vec![
                (AccountCode::GatewayClearing, Side::Debit, 50_000),
                (AccountCode::MerchantWallet, Side::Credit, 50_000),
            ]
        );
        let by_operator = OperatorTopUp {
            id: WalletTopUpId::generate(),
            merchant: MerchantId::generate(),
            mode: Mode::Live,
            amount: 9_999_999,
            currency: "INR".into(),
            by: UserId::generate(),
            reference: Some("UTR123".into()),
        };
        let posting = operator_top_up(&by_operator);
        assert_eq!(
            amounts(&posting),
            vec![
                (AccountCode::PlatformBank, Side::Debit, 9_999_999),
                (AccountCode::MerchantWallet, Side::Credit, 9_999_999),
            ]
        );
    }

    fn refunded(
        amount: i64,
        platform: bool,
        policy: RefundFeePolicy,
        returned: Charge,
    ) -> Refunded {
        Refunded {
            refund: RefundId::generate(),
            transaction: TransactionId::generate(),
            merchant: MerchantId::generate(),
            mode: Mode::Test,
            amount,
            currency: "INR".into(),
            platform_account: platform.then(GatewayAccountId::generate),
            from_wallet: false,
            policy,
            returned,
            clawback: None,
        }
    }

    #[test]
    fn a_partial_refund_keeping_our_fee_moves_only_the_amount() {
        let r = refunded(3_333, true, RefundFeePolicy::Retain, Charge::default());
        let posting = refund(&r).expect("an amount to move");
        assert_eq!(
            amounts(&posting),
            vec![
                (AccountCode::MerchantPayable, Side::Debit, 3_333),
                (AccountCode::GatewayClearing, Side::Credit, 3_333),
            ]
        );
        assert_eq!(posting.memo["fee_policy"], "retain");
        assert_eq!(posting.memo["fee_returned"], 0);
        // On the merchant's own account nothing of ours moves.
        let own = refunded(3_333, false, RefundFeePolicy::Retain, Charge::default());
        assert_eq!(refund(&own), None);
    }

    #[test]
    fn a_refund_returning_our_fee_gives_back_its_share_of_fee_gst_and_commission() {
        // ₹100 at 1.99 %: fee 199, GST 36. A refund of ₹33.33 returns 66 and 12 (see fees).
        let charge = FeeRate {
            rate_bps: 199,
            fixed_fee: 0,
        }
        .charge(10_000);
        let returned = charge.returned_when(3_333, 10_000);
        let mut r = refunded(3_333, true, RefundFeePolicy::Return, returned);
        r.clawback = Some((AffiliateId::generate(), 17));
        let posting = refund(&r).expect("lines");
        assert!(posting.balances());
        assert_eq!(
            amounts(&posting),
            vec![
                (AccountCode::MerchantPayable, Side::Debit, 3_333),
                (AccountCode::GatewayClearing, Side::Credit, 3_333),
                (AccountCode::FeeRevenue, Side::Debit, 66),
                (AccountCode::GstPayable, Side::Debit, 12),
                (AccountCode::MerchantPayable, Side::Credit, 78),
                (AccountCode::AffiliatePayable, Side::Debit, 17),
                (AccountCode::CommissionExpense, Side::Credit, 17),
            ]
        );
        let own = refunded(3_333, false, RefundFeePolicy::Return, returned);
        assert_eq!(
            amounts(&refund(&own).expect("lines")),
            vec![
                (AccountCode::FeeRevenue, Side::Debit, 66),
                (AccountCode::GstPayable, Side::Debit, 12),
                (AccountCode::MerchantWallet, Side::Credit, 78),
            ]
        );
    }

    #[test]
    fn a_reversal_swaps_every_line_and_a_mismatch_goes_to_suspense() {
        let c = captured(
            10_000,
            FeeRate {
                rate_bps: 199,
                fixed_fee: 0,
            },
            None,
        );
        let original = capture_on_platform_account(&c);
        let entry = LedgerEntryId::generate();
        let back = reversal(
            "reversal:x".into(),
            EntryKind::Reversal,
            Mode::Live,
            entry,
            &original.lines,
        );
        assert!(back.balances());
        for (a, b) in original.lines.iter().zip(&back.lines) {
            assert_eq!((a.account, a.amount), (b.account, b.amount));
            assert_eq!(a.side.opposite(), b.side);
        }
        assert_eq!(back.reverses, Some(entry));
        let unmatched = Unmatched {
            attempt: AttemptId::generate(),
            transaction: TransactionId::generate(),
            merchant: MerchantId::generate(),
            mode: Mode::Live,
            gateway_account: GatewayAccountId::generate(),
            amount: 1,
            currency: "USD".into(),
            reason: "amount_mismatch",
        };
        let posting = suspense_capture(&unmatched);
        assert_eq!(
            amounts(&posting),
            vec![
                (AccountCode::GatewayClearing, Side::Debit, 1),
                (AccountCode::Suspense, Side::Credit, 1),
            ]
        );
        assert_eq!(posting.lines[0].currency, "USD");
    }

    #[test]
    fn a_suspense_is_resolved_back_to_clearing_or_to_the_payable_without_a_fee() {
        // ₹123.45 captured for a ₹100 payment: 12,345 paise held in suspense.
        let unmatched = Unmatched {
            attempt: AttemptId::generate(),
            transaction: TransactionId::generate(),
            merchant: MerchantId::generate(),
            mode: Mode::Live,
            gateway_account: GatewayAccountId::generate(),
            amount: 12_345,
            currency: "INR".into(),
            reason: "amount_mismatch",
        };
        let mut resolution = Resolution {
            unmatched: unmatched.clone(),
            entry: LedgerEntryId::generate(),
            outcome: SuspenseOutcome::Refunded,
            by: UserId::generate(),
            note: "refunded at the gateway".into(),
        };
        let refunded = suspense_resolution(&resolution);
        assert!(refunded.balances());
        assert_eq!(refunded.kind, EntryKind::SuspenseResolution);
        assert_eq!(
            refunded.business_key,
            format!("suspense_resolved:{}", unmatched.attempt)
        );
        assert_eq!(
            amounts(&refunded),
            vec![
                (AccountCode::Suspense, Side::Debit, 12_345),
                (AccountCode::GatewayClearing, Side::Credit, 12_345),
            ]
        );
        // Exactly the suspense capture's lines, reversed: clearing and suspense are back to zero.
        let held = suspense_capture(&unmatched);
        for (a, b) in held.lines.iter().rev().zip(&refunded.lines) {
            assert_eq!((a.account, a.amount), (b.account, b.amount));
            assert_eq!(a.side.opposite(), b.side);
        }
        assert_eq!(refunded.memo["outcome"], "refunded");
        assert!(refunded.memo.get("fee").is_none());

        resolution.outcome = SuspenseOutcome::CreditedToMerchant;
        let credited = suspense_resolution(&resolution);
        assert!(credited.balances());
        assert_eq!(
            amounts(&credited),
            vec![
                (AccountCode::Suspense, Side::Debit, 12_345),
                (AccountCode::MerchantPayable, Side::Credit, 12_345),
            ]
        );
        assert_eq!(
            credited.lines[1].account,
            AccountRef::payable(unmatched.merchant)
        );
        assert_eq!(credited.memo["fee"], 0);
        assert_eq!(credited.memo["note"], "refunded at the gateway");
        assert_eq!(credited.merchant, Some(unmatched.merchant));
        assert_eq!(credited.transaction, Some(unmatched.transaction));
        for outcome in SuspenseOutcome::ALL {
            assert_eq!(SuspenseOutcome::parse(outcome.as_str()), Some(outcome));
        }
        assert_eq!(SuspenseOutcome::parse("kept"), None);
    }
}
