//! The books, proven against PostgreSQL through the real paths: captures applied as gateway
//! reports, refunds created by merchants and settled by gateway reports, operator top-ups posted
//! with their rule, fee rates and refund policies changed by operators, and every event replayed.
//!
//! * A property test runs random sequences of those on four merchants at once (two on the
//!   platform's sandbox account, two on their own), then checks the whole ledger (every entry
//!   balances, every account is the sum of its lines, the trial balance is zero, no limited
//!   account is negative, one entry per business key) and every merchant's payable, wallet, fees
//!   and returns against a model computed independently from the operations.
//! * The database refuses changes to entries and lines for the owner and the application role,
//!   unbalanced and one-line entries, a limited account going negative, and a second posting of a
//!   business key.
//! * One example per posting rule, computed by hand.

use crate::support::*;
use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestRunner};
use shared::App;
use shared::db::{self, Scope};
use shared::gateways::{PaymentOutcome, RefundReport, RefundStatus, StatusReport};
use shared::ids::{
    AttemptId, GatewayAccountId, MerchantId, RefundId, TransactionId, UserId, WalletTopUpId,
};
use shared::ledger::fees::{Charge, FeeRate};
use shared::ledger::rules::{self, OperatorTopUp};
use shared::ledger::{self, Posted};
use shared::mode::Mode;
use shared::money::ReportedAmount;
use shared::payments::refunds::{self, RefundBody};
use shared::payments::status::TransactionStatus;
use shared::payments::transactions::{self, Applied, PayRequest};
use shared::routing::PgRouter;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use tokio_postgres::types::Type;

// ------------------------------------------------------------------------------------------------
// The real paths, one database transaction each (as the handlers and workers run them).

/// A merchant with the gateway account its payments are routed to.
#[derive(Debug, Clone, Copy)]
struct Shop {
    id: MerchantId,
    account: GatewayAccountId,
    platform_owned: bool,
}

/// A merchant on the platform's sandbox account (an empty pool falls back to it in test mode),
/// or on a sandbox account of its own.
async fn shop(t: &TestApp, admin: &str, name: &str, platform_owned: bool) -> Shop {
    let m = t.create_merchant(admin, name).await;
    let id: MerchantId = m.id.parse().unwrap();
    let account = if platform_owned {
        let mut client = t.app.db.client().await.unwrap();
        let tx = db::begin(&mut client, Scope::System).await.unwrap();
        let id = shared::seed::sandbox_account(&t.app, &tx).await.unwrap();
        tx.commit().await.unwrap();
        id
    } else {
        // These books let the merchant's wallet run into debt: its operator set the suspension
        // threshold far below zero (the refusal itself is the wallets tests' subject).
        let mut client = t.app.db.client().await.unwrap();
        let tx = db::begin(&mut client, Scope::Admin).await.unwrap();
        tx.execute_typed(
            "INSERT INTO wallets (merchant_id, mode, alert_threshold, suspension_threshold)
             VALUES ($1, 'test', -100000000000, -100000000000)",
            &[(&id.as_uuid(), Type::UUID)],
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        let key = format!("sbx_key_{}", uuid::Uuid::new_v4().simple());
        let secret = format!("sbx_whsec_{}", uuid::Uuid::new_v4().simple());
        t.add_gateway_account(
            &m,
            "sandbox",
            &[
                ("api_key", key.as_str()),
                ("webhook_secret", secret.as_str()),
            ],
        )
        .await
    };
    Shop {
        id,
        account,
        platform_owned,
    }
}

/// Creates a payment as `POST /api/v1/pay` does (merchant scope, routed by the pool); its method
/// is set as a gateway would report it. Answers the payment and its attempt.
async fn pay(
    app: &App,
    shop: Shop,
    amount: i64,
    method: Option<&str>,
) -> (TransactionId, AttemptId) {
    let order = format!("ord-{}", uuid::Uuid::new_v4().simple());
    let request: PayRequest = serde_json::from_value(payment(&order, amount, false)).unwrap();
    let new = request.validate(&app.config.payments, Mode::Test).unwrap();
    let mut client = app.db.client().await.unwrap();
    let tx = db::begin(
        &mut client,
        Scope::Merchant {
            id: shop.id,
            mode: Mode::Test,
        },
    )
    .await
    .unwrap();
    let router = PgRouter {
        settings: app.config.routing,
    };
    let (view, _) = transactions::create(&tx, app, &router, shop.id, Mode::Test, new)
        .await
        .unwrap();
    let row = tx
        .query_typed_one(
            "SELECT id, gateway_account_id FROM transaction_attempts WHERE transaction_id = $1",
            &[(&view.id.as_uuid(), Type::UUID)],
        )
        .await
        .unwrap();
    let routed: uuid::Uuid = row.get("gateway_account_id");
    assert_eq!(routed, shop.account.as_uuid(), "routed elsewhere");
    let attempt = AttemptId::from_uuid(row.get("id"));
    tx.commit().await.unwrap();
    if let Some(method) = method {
        let mut client = app.db.client().await.unwrap();
        let tx = db::begin(&mut client, Scope::System).await.unwrap();
        tx.execute_typed(
            "UPDATE transactions SET payment_method = $2 WHERE id = $1",
            &[(&view.id.as_uuid(), Type::UUID), (&method, Type::TEXT)],
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
    (view.id, attempt)
}

/// A gateway's success report capturing `amount` INR.
fn captured(attempt: AttemptId, amount: i64) -> StatusReport {
    StatusReport {
        payment_id: Some(format!("pay_{}", attempt.as_uuid().simple())),
        captured: Some(ReportedAmount::new(amount, "INR")),
        ..StatusReport::of(PaymentOutcome::Succeeded)
    }
}

/// Applies `report` to `attempt` in `scope` (a webhook's worker: system; a browser return: public).
async fn apply(app: &App, attempt: AttemptId, report: &StatusReport, scope: Scope) -> Applied {
    let mut client = app.db.client().await.unwrap();
    let tx = db::begin(&mut client, scope).await.unwrap();
    let (applied, _) = transactions::apply_report(&tx, app, attempt, report)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    applied
}

/// Creates a refund as `POST /api/v1/transactions/{id}/refunds` does (`None`: the rest).
async fn refund(app: &App, shop: Shop, payment: TransactionId, amount: Option<i64>) -> RefundId {
    let body = RefundBody {
        amount,
        reason: Some("returned".into()),
        notes: None,
    }
    .validate()
    .unwrap();
    let mut client = app.db.client().await.unwrap();
    let tx = db::begin(
        &mut client,
        Scope::Merchant {
            id: shop.id,
            mode: Mode::Test,
        },
    )
    .await
    .unwrap();
    let (view, _) = refunds::create(&tx, app, shop.id, payment, body)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    view.id
}

/// Applies the gateway's word on a refund, as the refund processor and refund webhooks do.
async fn settle(app: &App, id: RefundId, status: RefundStatus) {
    let report = RefundReport {
        refund_id: Some(id.to_string()),
        gateway_refund_id: Some(format!("rf_{}", id.as_uuid().simple())),
        status,
        failure_reason: (status == RefundStatus::Failed).then(|| "returned by the bank".into()),
    };
    let mut client = app.db.client().await.unwrap();
    let tx = db::begin(&mut client, Scope::System).await.unwrap();
    refunds::apply_report(&tx, app, id, &report).await.unwrap();
    tx.commit().await.unwrap();
}

/// An operator's top-up: its row and its entry (rule 5), in one transaction (operator scope).
async fn top_up(app: &App, shop: Shop, id: WalletTopUpId, amount: i64, by: UserId) -> Posted {
    let mut client = app.db.client().await.unwrap();
    let tx = db::begin(&mut client, Scope::Admin).await.unwrap();
    tx.execute_typed(
        "INSERT INTO wallet_top_ups (id, merchant_id, mode, amount, currency, source, reference, created_by)
         VALUES ($1, $2, 'test', $3, 'INR', 'operator', $5, $4) ON CONFLICT (id) DO NOTHING",
        &[
            (&id.as_uuid(), Type::UUID),
            (&shop.id.as_uuid(), Type::UUID),
            (&amount, Type::INT8),
            (&by.as_uuid(), Type::UUID),
            (&format!("NEFT-{id}"), Type::TEXT),
        ],
    )
    .await
    .unwrap();
    let posting = rules::operator_top_up(&OperatorTopUp {
        id,
        merchant: shop.id,
        mode: Mode::Test,
        amount,
        currency: "INR".into(),
        by,
        reference: Some("NEFT-42".into()),
    });
    let posted = ledger::post(&tx, &posting).await.unwrap();
    tx.commit().await.unwrap();
    posted
}

/// Sets the merchant's rate (for `method`, or its default), as an operator.
async fn set_rate(app: &App, shop: Shop, method: Option<&str>, rate: FeeRate) {
    let mut client = app.db.client().await.unwrap();
    let tx = db::begin(&mut client, Scope::Admin).await.unwrap();
    tx.execute_typed(
        "INSERT INTO merchant_fee_rates (id, merchant_id, method, rate_bps, fixed_fee)
         VALUES (gen_random_uuid(), $1, $2, $3, $4)
         ON CONFLICT (merchant_id, (coalesce(method, '')))
         DO UPDATE SET rate_bps = EXCLUDED.rate_bps, fixed_fee = EXCLUDED.fixed_fee, updated_at = now()",
        &[
            (&shop.id.as_uuid(), Type::UUID),
            (&method, Type::TEXT),
            (&(rate.rate_bps as i32), Type::INT4),
            (&rate.fixed_fee, Type::INT8),
        ],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

/// Sets whether our fee goes back on refunds, as an operator.
async fn set_policy(app: &App, shop: Shop, returned: bool) {
    let policy = if returned { "return" } else { "retain" };
    let mut client = app.db.client().await.unwrap();
    let tx = db::begin(&mut client, Scope::Admin).await.unwrap();
    tx.execute_typed(
        "UPDATE merchants SET refund_fee_policy = $2 WHERE id = $1",
        &[(&shop.id.as_uuid(), Type::UUID), (&policy, Type::TEXT)],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

/// An operator's user id (top-ups name who made them).
async fn operator(t: &TestApp) -> UserId {
    let email = format!("ops-{}@lightspeedpay.test", uuid::Uuid::new_v4().simple());
    t.create_admin(&email).await;
    let row =
        t.db.owner()
            .await
            .query_one("SELECT id FROM users WHERE email = $1", &[&email])
            .await
            .unwrap();
    UserId::from_uuid(row.get(0))
}

// ------------------------------------------------------------------------------------------------
// Reading the books as the owner.

/// An account's balance on its normal side (credits − debits for liabilities and revenue).
async fn balance(owner: &tokio_postgres::Client, code: &str, owner_id: uuid::Uuid) -> i64 {
    let row = owner
        .query_opt(
            "SELECT debits, credits, type FROM ledger_accounts
              WHERE code = $1 AND owner_id = $2 AND mode = 'test' AND currency = 'INR'",
            &[&code, &owner_id],
        )
        .await
        .unwrap();
    row.map_or(0, |r| {
        let (debits, credits): (i64, i64) = (r.get(0), r.get(1));
        match r.get::<_, &str>(2) {
            "asset" | "expense" => debits - credits,
            _ => credits - debits,
        }
    })
}

/// The entry with `key`, as (code, side, amount) lines in posting order.
async fn lines(owner: &tokio_postgres::Client, key: &str) -> Vec<(String, String, i64)> {
    owner
        .query(
            "SELECT a.code, l.side, l.amount FROM ledger_entries e
               JOIN ledger_lines l ON l.entry_id = e.id JOIN ledger_accounts a ON a.id = l.account_id
              WHERE e.business_key = $1 ORDER BY l.id",
            &[&key],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

fn line(code: &str, side: &str, amount: i64) -> (String, String, i64) {
    (code.to_string(), side.to_string(), amount)
}

async fn entries_of(owner: &tokio_postgres::Client, merchant: MerchantId) -> i64 {
    owner
        .query_one(
            "SELECT count(*) FROM ledger_entries WHERE merchant_id = $1",
            &[&merchant.as_uuid()],
        )
        .await
        .unwrap()
        .get(0)
}

/// The invariants of the whole ledger; panics naming the first that does not hold.
async fn check_books(owner: &tokio_postgres::Client) {
    let zero = |sql: &'static str| async move {
        let n: i64 = owner.query_one(sql, &[]).await.unwrap().get(0);
        assert_eq!(n, 0, "{sql}");
    };
    // Every entry balances in each currency and has two lines or more.
    zero(
        "SELECT count(*) FROM (SELECT entry_id, currency FROM ledger_lines GROUP BY 1, 2
           HAVING sum(CASE WHEN side = 'debit' THEN amount ELSE -amount END) <> 0) x",
    )
    .await;
    zero(
        "SELECT count(*) FROM ledger_entries e
           WHERE (SELECT count(*) FROM ledger_lines l WHERE l.entry_id = e.id) < 2",
    )
    .await;
    // A line's mode is its entry's; its currency its account's.
    zero(
        "SELECT count(*) FROM ledger_lines l JOIN ledger_entries e ON e.id = l.entry_id
           JOIN ledger_accounts a ON a.id = l.account_id
           WHERE l.mode <> e.mode OR a.mode <> e.mode OR l.currency <> a.currency",
    )
    .await;
    // Every account's sums are the sums of its lines, and each line's balance_after is the
    // running balance in line order.
    zero(
        "SELECT count(*) FROM ledger_accounts a CROSS JOIN LATERAL (
             SELECT coalesce(sum(amount) FILTER (WHERE side = 'debit'), 0) AS d,
                    coalesce(sum(amount) FILTER (WHERE side = 'credit'), 0) AS c, count(*) AS n
               FROM ledger_lines WHERE account_id = a.id) s
           WHERE a.debits <> s.d OR a.credits <> s.c OR a.lines <> s.n",
    )
    .await;
    zero("SELECT count(*) FROM (SELECT balance_after, sum(CASE WHEN side = 'debit' THEN amount ELSE -amount END)
             OVER (PARTITION BY account_id ORDER BY id) AS running FROM ledger_lines) x
           WHERE balance_after IS DISTINCT FROM running")
    .await;
    // The trial balance: debits equal credits over all accounts, per mode and currency.
    zero(
        "SELECT count(*) FROM (SELECT mode, currency FROM ledger_accounts GROUP BY 1, 2
           HAVING sum(debits - credits) <> 0) x",
    )
    .await;
    // No limited account is below zero.
    zero(
        "SELECT count(*) FROM ledger_accounts
           WHERE (limit_rule = 'credits_within_debits' AND credits > debits)
              OR (limit_rule = 'debits_within_credits' AND debits > credits)",
    )
    .await;
    // One entry per business key, and a reversal names an entry at most once.
    zero("SELECT count(*) - count(DISTINCT business_key) FROM ledger_entries").await;
    zero("SELECT count(reverses) - count(DISTINCT reverses) FROM ledger_entries").await;
}

// ------------------------------------------------------------------------------------------------
// The property test.

/// What one operation on a merchant does.
#[derive(Debug, Clone)]
enum Op {
    /// A payment of `amount` captured by the gateway (by a browser return in public scope when
    /// `public`), paid by UPI when `upi`.
    Pay {
        amount: i64,
        upi: bool,
        public: bool,
    },
    /// A refund of one captured payment: its rest, or `part` basis points of what is refundable;
    /// the gateway refuses it when `fails`.
    Refund {
        pick: usize,
        part: Option<u32>,
        fails: bool,
    },
    /// The gateway undoes a succeeded refund.
    Reverse { pick: usize },
    /// An operator tops up the wallet.
    TopUp { amount: i64 },
    /// An operator sets the merchant's default or UPI rate.
    Rate {
        upi: bool,
        rate_bps: u32,
        fixed_fee: i64,
    },
    /// An operator flips the refund fee policy.
    Flip,
    /// The gateway captures a payment with `delta` paise more or less than asked.
    Mismatch { amount: i64, delta: i64 },
    /// An earlier event again, twice at once.
    Replay { pick: usize },
}

fn amounts() -> impl Strategy<Value = i64> {
    prop_oneof![
        Just(100i64),
        Just(101),
        Just(9_999_999),
        100i64..=200_000,
        100i64..=10_000_000,
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (amounts(), any::<bool>(), prop::bool::weighted(0.25))
            .prop_map(|(amount, upi, public)| Op::Pay { amount, upi, public }),
        4 => (any::<usize>(), prop::option::weighted(0.7, 1u32..=10_000), prop::bool::weighted(0.15))
            .prop_map(|(pick, part, fails)| Op::Refund { pick, part, fails }),
        2 => any::<usize>().prop_map(|pick| Op::Reverse { pick }),
        1 => amounts().prop_map(|amount| Op::TopUp { amount }),
        1 => (any::<bool>(), 0u32..=500, prop_oneof![Just(0i64), Just(300), 0i64..=1_000])
            .prop_map(|(upi, rate_bps, fixed_fee)| Op::Rate { upi, rate_bps, fixed_fee }),
        1 => Just(Op::Flip),
        1 => (amounts(), prop_oneof![Just(1i64), Just(-1), 2i64..=5_000])
            .prop_map(|(amount, delta)| Op::Mismatch { amount, delta }),
        3 => any::<usize>().prop_map(|pick| Op::Replay { pick }),
    ]
}

/// Four merchants' operations, each a sequence.
fn case() -> impl Strategy<Value = Vec<(usize, Op)>> {
    prop::collection::vec((0usize..4, op()), 20..=40)
}

/// A payment the model knows captured.
#[derive(Debug, Clone)]
struct ModelPayment {
    id: TransactionId,
    amount: i64,
    charge: Charge,
    /// Its capture has an entry (a merchant-owned capture with no fee has none).
    booked: bool,
    /// Succeeded refunds not undone.
    refunded: i64,
    /// What they returned of the charge.
    returned: Charge,
}

#[derive(Debug, Clone)]
struct ModelRefund {
    id: RefundId,
    payment: usize,
    amount: i64,
    returned: Charge,
    /// Booked at all (fee_returned stored).
    booked: bool,
    /// It has an entry.
    entry: bool,
    reversed: bool,
}

/// An event to replay and what it was.
#[derive(Debug, Clone)]
enum Event {
    Capture(AttemptId, StatusReport),
    Mismatch(AttemptId, StatusReport),
    Refund(RefundId, RefundStatus),
    TopUp(WalletTopUpId, i64),
}

/// One merchant's books as the operations say they must be, computed without the database.
#[derive(Debug, Default)]
struct Model {
    payable: i64,
    wallet: i64,
    keys: BTreeSet<String>,
    default_rate: Option<FeeRate>,
    upi_rate: Option<FeeRate>,
    returns_fee: bool,
    payments: Vec<ModelPayment>,
    refunds: Vec<ModelRefund>,
    events: Vec<Event>,
    /// The platform's side, summed over the merchant's operations.
    clearing: i64,
    fee_revenue: i64,
    gst: i64,
    bank: i64,
    suspense: i64,
}

const PLATFORM_DEFAULT: FeeRate = FeeRate {
    rate_bps: 200,
    fixed_fee: 0,
};

/// Runs `ops` on `shop` in order, keeping `model` in step.
async fn run_ops(app: Arc<App>, shop: Shop, ops: Vec<Op>, by: UserId, owner_url: String) -> Model {
    let owner = connect(&owner_url).await;
    let mut model = Model::default();
    for op in ops {
        match op {
            Op::Pay {
                amount,
                upi,
                public,
            } => {
                let (id, attempt) = pay(&app, shop, amount, upi.then_some("upi")).await;
                let report = captured(attempt, amount);
                let scope = if public { Scope::Public } else { Scope::System };
                let applied = apply(&app, attempt, &report, scope).await;
                assert_eq!(applied, Applied::Changed(TransactionStatus::Succeeded));
                let rate = upi
                    .then_some(model.upi_rate)
                    .flatten()
                    .or(model.default_rate)
                    .unwrap_or(PLATFORM_DEFAULT);
                let charge = rate.charge(amount);
                let booked = shop.platform_owned || charge.total() > 0;
                if shop.platform_owned {
                    model.payable += amount - charge.total();
                    model.clearing += amount;
                } else {
                    model.wallet -= charge.total();
                }
                model.fee_revenue += charge.fee;
                model.gst += charge.gst;
                if booked {
                    model.keys.insert(format!("capture:{attempt}"));
                }
                model.payments.push(ModelPayment {
                    id,
                    amount,
                    charge,
                    booked,
                    refunded: 0,
                    returned: Charge::default(),
                });
                model.events.push(Event::Capture(attempt, report));
            }
            Op::Refund { pick, part, fails } => {
                let open: Vec<usize> = (0..model.payments.len())
                    .filter(|&i| model.payments[i].refunded < model.payments[i].amount)
                    .collect();
                if open.is_empty() {
                    continue;
                }
                let index = open[pick % open.len()];
                let p = model.payments[index].clone();
                let refundable = p.amount - p.refunded;
                let amount =
                    part.map(|bps| shared::money::share_of(refundable, bps).clamp(1, refundable));
                let id = refund(&app, shop, p.id, amount).await;
                let amount = amount.unwrap_or(refundable);
                if fails {
                    settle(&app, id, RefundStatus::Failed).await;
                    model.events.push(Event::Refund(id, RefundStatus::Failed));
                    continue;
                }
                settle(&app, id, RefundStatus::Succeeded).await;
                model
                    .events
                    .push(Event::Refund(id, RefundStatus::Succeeded));
                let returned = if model.returns_fee {
                    p.charge
                        .returned_by(p.refunded, p.refunded + amount, p.amount, p.returned)
                } else {
                    Charge::default()
                };
                let entry = p.booked && (shop.platform_owned || returned.total() > 0);
                if p.booked {
                    if shop.platform_owned {
                        model.payable -= amount - returned.total();
                        model.clearing -= amount;
                    } else {
                        model.wallet += returned.total();
                    }
                    model.fee_revenue -= returned.fee;
                    model.gst -= returned.gst;
                }
                if entry {
                    model.keys.insert(format!("refund:{id}"));
                }
                let p = &mut model.payments[index];
                p.refunded += amount;
                if p.booked {
                    p.returned = Charge {
                        fee: p.returned.fee + returned.fee,
                        gst: p.returned.gst + returned.gst,
                    };
                }
                model.refunds.push(ModelRefund {
                    id,
                    payment: index,
                    amount,
                    returned,
                    booked: p.booked,
                    entry,
                    reversed: false,
                });
            }
            Op::Reverse { pick } => {
                let live: Vec<usize> = (0..model.refunds.len())
                    .filter(|&i| !model.refunds[i].reversed)
                    .collect();
                if live.is_empty() {
                    continue;
                }
                let r = model.refunds[live[pick % live.len()]].clone();
                settle(&app, r.id, RefundStatus::Failed).await;
                model.events.push(Event::Refund(r.id, RefundStatus::Failed));
                if r.entry {
                    if shop.platform_owned {
                        model.payable += r.amount - r.returned.total();
                        model.clearing += r.amount;
                    } else {
                        model.wallet -= r.returned.total();
                    }
                    model.fee_revenue += r.returned.fee;
                    model.gst += r.returned.gst;
                    model.keys.insert(format!("refund_reversal:{}", r.id));
                }
                let p = &mut model.payments[r.payment];
                p.refunded -= r.amount;
                if r.booked {
                    p.returned = Charge {
                        fee: p.returned.fee - r.returned.fee,
                        gst: p.returned.gst - r.returned.gst,
                    };
                }
                if let Some(m) = model.refunds.iter_mut().find(|m| m.id == r.id) {
                    m.reversed = true;
                }
            }
            Op::TopUp { amount } => {
                let id = WalletTopUpId::generate();
                assert!(matches!(
                    top_up(&app, shop, id, amount, by).await,
                    Posted::Written(_)
                ));
                model.wallet += amount;
                model.bank += amount;
                model.keys.insert(format!("wallet_top_up:{id}"));
                model.events.push(Event::TopUp(id, amount));
            }
            Op::Rate {
                upi,
                rate_bps,
                fixed_fee,
            } => {
                let rate = FeeRate {
                    rate_bps,
                    fixed_fee,
                };
                set_rate(&app, shop, upi.then_some("upi"), rate).await;
                if upi {
                    model.upi_rate = Some(rate);
                } else {
                    model.default_rate = Some(rate);
                }
            }
            Op::Flip => {
                model.returns_fee = !model.returns_fee;
                set_policy(&app, shop, model.returns_fee).await;
            }
            Op::Mismatch { amount, delta } => {
                let (_, attempt) = pay(&app, shop, amount, None).await;
                let report = captured(attempt, (amount + delta).max(1));
                let applied = apply(&app, attempt, &report, Scope::System).await;
                assert_eq!(applied, Applied::AmountMismatch);
                if shop.platform_owned {
                    model.keys.insert(format!("suspense:{attempt}"));
                    model.suspense += (amount + delta).max(1);
                    model.clearing += (amount + delta).max(1);
                }
                model.events.push(Event::Mismatch(attempt, report));
            }
            Op::Replay { pick } => {
                if model.events.is_empty() {
                    continue;
                }
                let event = model.events[pick % model.events.len()].clone();
                let before = entries_of(&owner, shop.id).await;
                let again = || {
                    let (app, event) = (app.clone(), event.clone());
                    async move {
                        match event {
                            Event::Capture(attempt, report) => {
                                let applied = apply(&app, attempt, &report, Scope::System).await;
                                assert!(
                                    matches!(applied, Applied::Unchanged | Applied::Refused),
                                    "{applied:?}"
                                );
                            }
                            Event::Mismatch(attempt, report) => {
                                let applied = apply(&app, attempt, &report, Scope::System).await;
                                assert_eq!(applied, Applied::AmountMismatch);
                            }
                            Event::Refund(id, status) => settle(&app, id, status).await,
                            Event::TopUp(id, amount) => {
                                assert_eq!(
                                    top_up(&app, shop, id, amount, by).await,
                                    Posted::Replayed
                                );
                            }
                        }
                    }
                };
                futures::join!(again(), again());
                assert_eq!(
                    entries_of(&owner, shop.id).await,
                    before,
                    "a replay of {event:?} posted"
                );
            }
        }
    }
    model
}

/// Compares one merchant's books with its model.
async fn check_model(owner: &tokio_postgres::Client, shop: Shop, model: &Model) {
    let m = shop.id.as_uuid();
    assert_eq!(
        balance(owner, "merchant_payable", m).await,
        model.payable,
        "payable of {}",
        shop.id
    );
    assert_eq!(
        balance(owner, "merchant_wallet", m).await,
        model.wallet,
        "wallet of {}",
        shop.id
    );
    let keys: BTreeSet<String> = owner
        .query(
            "SELECT business_key FROM ledger_entries WHERE merchant_id = $1",
            &[&m],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(keys, model.keys, "entries of {}", shop.id);
    let fees: BTreeMap<uuid::Uuid, (i64, i64)> = owner
        .query(
            "SELECT id, fee, gst FROM transactions WHERE merchant_id = $1 AND fee IS NOT NULL",
            &[&m],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2))))
        .collect();
    let want: BTreeMap<uuid::Uuid, (i64, i64)> = model
        .payments
        .iter()
        .map(|p| (p.id.as_uuid(), (p.charge.fee, p.charge.gst)))
        .collect();
    assert_eq!(fees, want, "fees of {}", shop.id);
    let returned: BTreeMap<uuid::Uuid, (i64, i64)> = owner
        .query(
            "SELECT id, fee_returned, gst_returned FROM refunds WHERE merchant_id = $1 AND fee_returned IS NOT NULL",
            &[&m],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2))))
        .collect();
    let want: BTreeMap<uuid::Uuid, (i64, i64)> = model
        .refunds
        .iter()
        .filter(|r| r.booked)
        .map(|r| (r.id.as_uuid(), (r.returned.fee, r.returned.gst)))
        .collect();
    assert_eq!(returned, want, "returns of {}", shop.id);
}

/// The platform's accounts, summed over every case so far.
#[derive(Debug, Default, PartialEq, Eq)]
struct Platform {
    clearing: i64,
    fee_revenue: i64,
    gst: i64,
    bank: i64,
    suspense: i64,
}

async fn platform_now(owner: &tokio_postgres::Client, sandbox: GatewayAccountId) -> Platform {
    let nil = uuid::Uuid::nil();
    Platform {
        clearing: balance(owner, "gateway_clearing", sandbox.as_uuid()).await,
        fee_revenue: balance(owner, "fee_revenue", nil).await,
        gst: balance(owner, "gst_payable", nil).await,
        bank: balance(owner, "platform_bank", nil).await,
        suspense: balance(owner, "suspense", nil).await,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn random_payments_refunds_top_ups_fee_changes_and_replays_keep_the_books() {
    // Four merchants onboarded through the admin API per case: more than the default limit.
    let t = TestApp::spawn_with(&[("RATE_LIMIT_PER_MINUTE", "100000")]).await;
    let admin = t.admin_token().await;
    let by = operator(&t).await;
    let owner = t.db.owner().await;
    let cases: u32 = std::env::var("LEDGER_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(10);
    let mut runner = TestRunner::new(RunnerConfig {
        cases,
        max_shrink_iters: 32,
        failure_persistence: None,
        ..RunnerConfig::default()
    });
    let handle = tokio::runtime::Handle::current();
    let number = std::cell::Cell::new(0);
    let result = runner.run(&case(), |ops| {
        tokio::task::block_in_place(|| {
            handle.block_on(async {
                number.set(number.get() + 1);
                let mut shops = Vec::new();
                for i in 0..4 {
                    let name = format!("Ledger Case {} Shop {i}", number.get());
                    shops.push(shop(&t, &admin, &name, i < 2).await);
                }
                let before = platform_now(&owner, shops[0].account).await;
                // Each merchant's operations in order on a task of its own: the merchants run at
                // once and meet on the platform's accounts and the shared sandbox account.
                let tasks: Vec<_> = shops
                    .iter()
                    .enumerate()
                    .map(|(i, s)| {
                        let mine: Vec<Op> = ops
                            .iter()
                            .filter(|(m, _)| *m == i)
                            .map(|(_, o)| o.clone())
                            .collect();
                        tokio::spawn(run_ops(t.app.clone(), *s, mine, by, t.db.owner_url.clone()))
                    })
                    .collect();
                let mut models = Vec::new();
                for task in tasks {
                    models.push(task.await.unwrap());
                }
                check_books(&owner).await;
                let mut want = before;
                for (s, model) in shops.iter().zip(&models) {
                    check_model(&owner, *s, model).await;
                    want.clearing += model.clearing;
                    want.fee_revenue += model.fee_revenue;
                    want.gst += model.gst;
                    want.bank += model.bank;
                    want.suspense += model.suspense;
                }
                assert_eq!(platform_now(&owner, shops[0].account).await, want);
            })
        });
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    assert_eq!(number.get(), cases);
    // The operations reached every kind of entry.
    let kinds: BTreeMap<String, i64> = owner
        .query(
            "SELECT kind, count(*) FROM ledger_entries GROUP BY kind",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    eprintln!("entries by kind after {cases} cases: {kinds:?}");
    if cases >= 10 {
        for kind in [
            "capture",
            "refund",
            "refund_reversal",
            "wallet_top_up",
            "suspense_capture",
        ] {
            assert!(
                kinds.get(kind).is_some_and(|n| *n > 0),
                "no {kind}: {kinds:?}"
            );
        }
    }
}

// ------------------------------------------------------------------------------------------------
// What the database refuses.

/// The SQLSTATE of a refused statement.
fn refused(result: Result<(), tokio_postgres::Error>) -> (String, String, Option<String>) {
    let error = result.expect_err("the statement was refused");
    let db = error.as_db_error().expect("a database error");
    (
        db.code().code().to_string(),
        db.message().to_string(),
        db.constraint().map(str::to_string),
    )
}

#[tokio::test]
async fn entries_and_lines_cannot_be_changed_by_the_owner_or_the_application() {
    let t = TestApp::spawn().await;
    let admin = t.admin_token().await;
    let by = operator(&t).await;
    let platform = shop(&t, &admin, "Append Only", true).await;
    let (_, attempt) = pay(&t.app, platform, 10_000, None).await;
    apply(&t.app, attempt, &captured(attempt, 10_000), Scope::System).await;
    top_up(&t.app, platform, WalletTopUpId::generate(), 5_000, by).await;
    let owner = t.db.owner().await;
    let count = || async {
        let row = owner
            .query_one(
                "SELECT (SELECT count(*) FROM ledger_entries), (SELECT count(*) FROM ledger_lines),
                        (SELECT sum(debits + credits) FROM ledger_accounts)::bigint",
                &[],
            )
            .await
            .unwrap();
        (
            row.get::<_, i64>(0),
            row.get::<_, i64>(1),
            row.get::<_, i64>(2),
        )
    };
    let before = count().await;
    assert_eq!((before.0, before.1), (2, 6));

    let statements = [
        "UPDATE ledger_entries SET memo = '{\"edited\": true}'",
        "UPDATE ledger_entries SET business_key = business_key || ':again'",
        "DELETE FROM ledger_entries",
        "TRUNCATE ledger_entries, ledger_lines",
        "TRUNCATE ledger_entries CASCADE",
        "UPDATE ledger_lines SET amount = amount + 1",
        "DELETE FROM ledger_lines",
        "TRUNCATE ledger_lines",
    ];
    // The migration owner: the append-only triggers bind it too.
    for sql in statements {
        let (code, message, _) = refused(owner.batch_execute(sql).await);
        assert_eq!(code, "42501", "{sql}: {message}");
        assert!(message.contains("append-only"), "{sql}: {message}");
    }
    // Its account sums move only with lines.
    for sql in [
        "UPDATE ledger_accounts SET credits = 0",
        "UPDATE ledger_accounts SET debits = debits + 1, credits = credits + 1",
        "DELETE FROM ledger_accounts",
        "TRUNCATE ledger_accounts CASCADE",
    ] {
        let (code, message, _) = refused(owner.batch_execute(sql).await);
        assert_eq!(code, "42501", "{sql}: {message}");
    }
    // The application role, on the platform's own connections, in every scope that can write.
    for scope in [Scope::System, Scope::Admin, Scope::Public] {
        for sql in statements.iter().chain(&[
            "INSERT INTO ledger_entries (id, business_key, kind, mode) VALUES (gen_random_uuid(), 'forged', 'capture', 'test')",
            "UPDATE ledger_accounts SET credits = 0",
            "SELECT ledger_post_lines(gen_random_uuid(), 'test', '[]'::jsonb)",
        ]) {
            let mut client = t.app.db.client().await.unwrap();
            let tx = db::begin(&mut client, scope).await.unwrap();
            let (code, message, _) = refused(tx.batch_execute(sql).await);
            assert_eq!(code, "42501", "{scope:?} {sql}: {message}");
            drop(tx);
        }
    }
    assert_eq!(count().await, before);
}

#[tokio::test]
async fn unbalanced_and_one_line_entries_negative_limited_accounts_and_second_posts_are_refused() {
    let t = TestApp::spawn().await;
    let admin = t.admin_token().await;
    let by = operator(&t).await;
    let platform = shop(&t, &admin, "Balanced Books", true).await;
    let (_, attempt) = pay(&t.app, platform, 10_000, None).await;
    apply(&t.app, attempt, &captured(attempt, 10_000), Scope::System).await;
    let mut owner = t.db.owner().await;
    // ledger_post books only a capture's entries outside the platform's scopes: this session
    // forges as the platform's jobs would.
    owner
        .batch_execute("SET app.scope = 'system'")
        .await
        .unwrap();
    let account = |code: &'static str| {
        let owner = &owner;
        async move {
            let row = owner
                .query_one("SELECT id FROM ledger_accounts WHERE code = $1", &[&code])
                .await
                .unwrap();
            row.get::<_, uuid::Uuid>(0)
        }
    };
    let (clearing, payable) = (
        account("gateway_clearing").await,
        account("merchant_payable").await,
    );
    let entries_before: i64 = owner
        .query_one("SELECT count(*) FROM ledger_entries", &[])
        .await
        .unwrap()
        .get(0);

    // Lines written directly, as the owner: debits 100, credits 99.
    let tx = owner.transaction().await.unwrap();
    let entry = uuid::Uuid::new_v4();
    tx.execute(
        "INSERT INTO ledger_entries (id, business_key, kind, mode) VALUES ($1, 'forged:unbalanced', 'capture', 'test')",
        &[&entry],
    )
    .await
    .unwrap();
    let result = tx
        .execute(
            "INSERT INTO ledger_lines (entry_id, account_id, side, amount, currency)
             VALUES ($1, $2, 'debit', 100, 'INR'), ($1, $3, 'credit', 99, 'INR')",
            &[&entry, &clearing, &payable],
        )
        .await
        .map(|_| ());
    let (_, message, constraint) = refused(result);
    assert_eq!(
        constraint.as_deref(),
        Some("ledger_entries_balanced"),
        "{message}"
    );
    drop(tx);

    // One line (a balanced entry's lines written one statement at a time): refused at the end of
    // the statement that leaves the entry unbalanced.
    let tx = owner.transaction().await.unwrap();
    tx.execute(
        "INSERT INTO ledger_entries (id, business_key, kind, mode) VALUES ($1, 'forged:one-line', 'capture', 'test')",
        &[&entry],
    )
    .await
    .unwrap();
    let result = tx
        .execute(
            "INSERT INTO ledger_lines (entry_id, account_id, side, amount, currency) VALUES ($1, $2, 'debit', 100, 'INR')",
            &[&entry, &clearing],
        )
        .await
        .map(|_| ());
    let (_, _, constraint) = refused(result);
    assert_eq!(constraint.as_deref(), Some("ledger_entries_balanced"));
    drop(tx);

    // An entry with no lines (even through ledger_post): refused when the transaction commits.
    for sql in [
        "INSERT INTO ledger_entries (id, business_key, kind, mode) VALUES (gen_random_uuid(), 'forged:no-lines', 'capture', 'test')",
        "SELECT ledger_post(gen_random_uuid(), 'forged:post-no-lines', 'capture', 'test', NULL, NULL, NULL, NULL, '{}', '[]')",
    ] {
        let tx = owner.transaction().await.unwrap();
        tx.batch_execute(sql).await.unwrap();
        let error = tx
            .commit()
            .await
            .expect_err("committed an entry without lines");
        let db = error.as_db_error().unwrap();
        assert_eq!(db.constraint(), Some("ledger_entries_two_lines"), "{sql}");
    }
    // ledger_post with one line: the entry does not balance.
    let one = serde_json::json!([{ "code": "gateway_clearing", "owner_kind": "gateway_account",
        "owner_id": platform.account.as_uuid(), "currency": "INR", "side": "debit", "amount": 1 }]);
    let result = owner
        .execute(
            "SELECT ledger_post(gen_random_uuid(), 'forged:one', 'capture', 'test', NULL, NULL, NULL, NULL, '{}', $1)",
            &[&one],
        )
        .await
        .map(|_| ());
    assert_eq!(
        refused(result).2.as_deref(),
        Some("ledger_entries_balanced")
    );

    // A refund credit to clearing beyond what it holds (10,000 captured): the limit refuses it,
    // through ledger_post and through lines written directly.
    let beyond = |amount: i64| {
        serde_json::json!([
            { "code": "merchant_payable", "owner_kind": "merchant", "owner_id": platform.id.as_uuid(),
              "merchant_id": platform.id.as_uuid(), "currency": "INR", "side": "debit", "amount": amount },
            { "code": "gateway_clearing", "owner_kind": "gateway_account", "owner_id": platform.account.as_uuid(),
              "currency": "INR", "side": "credit", "amount": amount },
        ])
    };
    let result = owner
        .execute(
            "SELECT ledger_post(gen_random_uuid(), 'forged:overdrawn', 'refund', 'test', NULL, NULL, NULL, NULL, '{}', $1)",
            &[&beyond(10_001)],
        )
        .await
        .map(|_| ());
    let (_, message, constraint) = refused(result);
    assert_eq!(
        constraint.as_deref(),
        Some("ledger_accounts_within_limit"),
        "{message}"
    );
    let tx = owner.transaction().await.unwrap();
    tx.execute(
        "INSERT INTO ledger_entries (id, business_key, kind, mode) VALUES ($1, 'forged:overdrawn-lines', 'refund', 'test')",
        &[&entry],
    )
    .await
    .unwrap();
    let result = tx
        .execute(
            "INSERT INTO ledger_lines (entry_id, account_id, side, amount, currency)
             VALUES ($1, $2, 'debit', 10001, 'INR'), ($1, $3, 'credit', 10001, 'INR')",
            &[&entry, &payable, &clearing],
        )
        .await
        .map(|_| ());
    assert_eq!(
        refused(result).2.as_deref(),
        Some("ledger_accounts_within_limit")
    );
    drop(tx);
    // Exactly what it holds is fine (and then nothing more).
    owner
        .execute(
            "SELECT ledger_post(gen_random_uuid(), 'forged:to-zero', 'refund', 'test', NULL, NULL, NULL, NULL, '{}', $1)",
            &[&beyond(10_000)],
        )
        .await
        .unwrap();
    let result = owner
        .execute(
            "SELECT ledger_post(gen_random_uuid(), 'forged:one-more', 'refund', 'test', NULL, NULL, NULL, NULL, '{}', $1)",
            &[&beyond(1)],
        )
        .await
        .map(|_| ());
    assert_eq!(
        refused(result).2.as_deref(),
        Some("ledger_accounts_within_limit")
    );
    // Fee revenue cannot be given back beyond what was earned (200 on the capture).
    let fee_back = serde_json::json!([
        { "code": "fee_revenue", "owner_kind": "platform", "owner_id": uuid::Uuid::nil(), "currency": "INR",
          "side": "debit", "amount": 201 },
        { "code": "merchant_payable", "owner_kind": "merchant", "owner_id": platform.id.as_uuid(),
          "merchant_id": platform.id.as_uuid(), "currency": "INR", "side": "credit", "amount": 201 },
    ]);
    let result = owner
        .execute(
            "SELECT ledger_post(gen_random_uuid(), 'forged:fee-back', 'refund', 'test', NULL, NULL, NULL, NULL, '{}', $1)",
            &[&fee_back],
        )
        .await
        .map(|_| ());
    assert_eq!(
        refused(result).2.as_deref(),
        Some("ledger_accounts_within_limit")
    );
    let entries_after: i64 = owner
        .query_one("SELECT count(*) FROM ledger_entries", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        entries_after,
        entries_before + 1,
        "only the entry to zero was written"
    );

    // A business key posts once: the second post of the same top-up writes nothing, and says so.
    let id = WalletTopUpId::generate();
    let counts = || async {
        let row = owner
            .query_one(
                "SELECT (SELECT count(*) FROM ledger_entries), (SELECT count(*) FROM ledger_lines)",
                &[],
            )
            .await
            .unwrap();
        (row.get::<_, i64>(0), row.get::<_, i64>(1))
    };
    assert!(matches!(
        top_up(&t.app, platform, id, 7_700, by).await,
        Posted::Written(_)
    ));
    let once = counts().await;
    assert_eq!(
        top_up(&t.app, platform, id, 7_700, by).await,
        Posted::Replayed
    );
    // The same key with other amounts is still a replay: the key, not the content, is the event.
    assert_eq!(top_up(&t.app, platform, id, 1, by).await, Posted::Replayed);
    assert_eq!(counts().await, once);
    assert_eq!(
        balance(&owner, "merchant_wallet", platform.id.as_uuid()).await,
        7_700
    );
    check_books(&owner).await;
}

// ------------------------------------------------------------------------------------------------
// One example per rule, by hand, through the real paths.

/// The payment's fee and GST as the merchant's API shows them.
async fn fee_in_view(app: &App, shop: Shop, id: TransactionId) -> (Option<i64>, Option<i64>) {
    let mut client = app.db.client().await.unwrap();
    let tx = db::begin(
        &mut client,
        Scope::Merchant {
            id: shop.id,
            mode: Mode::Test,
        },
    )
    .await
    .unwrap();
    let (view, _) = transactions::get(&tx, &app.config.http.public_base_url, id, false)
        .await
        .unwrap()
        .unwrap();
    tx.commit().await.unwrap();
    (view.fee, view.gst)
}

#[tokio::test]
async fn captures_are_booked_at_the_merchants_rate_by_hand() {
    let t = TestApp::spawn_with(&[("PAYMENT_MIN_AMOUNT", "1")]).await;
    let admin = t.admin_token().await;
    let owner = t.db.owner().await;
    let platform = shop(&t, &admin, "Rule One", true).await;
    let own = shop(&t, &admin, "Rule Two", false).await;
    let rate = |rate_bps, fixed_fee| FeeRate {
        rate_bps,
        fixed_fee,
    };

    // ₹99,999.99 at 1.99 % + ₹3 on the platform's account: 198,999.98 → 199,000 + 300 = 199,300;
    // GST 18 % = 35,874; the merchant is owed 9,999,999 − 235,174 = 9,764,825.
    set_rate(&t.app, platform, None, rate(199, 300)).await;
    let (big, attempt) = pay(&t.app, platform, 9_999_999, None).await;
    apply(
        &t.app,
        attempt,
        &captured(attempt, 9_999_999),
        Scope::System,
    )
    .await;
    assert_eq!(
        lines(&owner, &format!("capture:{attempt}")).await,
        vec![
            line("gateway_clearing", "debit", 9_999_999),
            line("merchant_payable", "credit", 9_764_825),
            line("fee_revenue", "credit", 199_300),
            line("gst_payable", "credit", 35_874),
        ]
    );
    assert_eq!(
        fee_in_view(&t.app, platform, big).await,
        (Some(199_300), Some(35_874))
    );
    // The same report again (a webhook after the browser return): nothing more.
    assert_eq!(
        apply(
            &t.app,
            attempt,
            &captured(attempt, 9_999_999),
            Scope::Public
        )
        .await,
        Applied::Unchanged
    );
    assert_eq!(
        balance(&owner, "merchant_payable", platform.id.as_uuid()).await,
        9_764_825
    );

    // 1 paisa at 1.99 %: 0.0199 → no fee, no GST; the paisa is the merchant's.
    set_rate(&t.app, platform, None, rate(199, 0)).await;
    let (paisa, attempt) = pay(&t.app, platform, 1, None).await;
    apply(&t.app, attempt, &captured(attempt, 1), Scope::Public).await;
    assert_eq!(
        lines(&owner, &format!("capture:{attempt}")).await,
        vec![
            line("gateway_clearing", "debit", 1),
            line("merchant_payable", "credit", 1),
        ]
    );
    assert_eq!(
        fee_in_view(&t.app, platform, paisa).await,
        (Some(0), Some(0))
    );

    // ₹100 at 1.99 % on the merchant's own account: fee 199, GST 35.82 → 36, taken from its
    // wallet, which goes to −235 (a debt) rather than refuse a capture that happened.
    set_rate(&t.app, own, None, rate(199, 0)).await;
    // A UPI rate of its own applies only to UPI payments.
    set_rate(&t.app, own, Some("upi"), rate(100, 0)).await;
    let (hundred, attempt) = pay(&t.app, own, 10_000, None).await;
    apply(&t.app, attempt, &captured(attempt, 10_000), Scope::System).await;
    assert_eq!(
        lines(&owner, &format!("capture:{attempt}")).await,
        vec![
            line("merchant_wallet", "debit", 235),
            line("fee_revenue", "credit", 199),
            line("gst_payable", "credit", 36),
        ]
    );
    assert_eq!(
        balance(&owner, "merchant_wallet", own.id.as_uuid()).await,
        -235
    );
    assert_eq!(
        fee_in_view(&t.app, own, hundred).await,
        (Some(199), Some(36))
    );
    let (upi, attempt) = pay(&t.app, own, 10_000, Some("upi")).await;
    apply(&t.app, attempt, &captured(attempt, 10_000), Scope::System).await;
    assert_eq!(fee_in_view(&t.app, own, upi).await, (Some(100), Some(18)));
    assert_eq!(
        balance(&owner, "merchant_wallet", own.id.as_uuid()).await,
        -353
    );
    // Nothing of it touched a clearing account: the money is at the merchant's gateway.
    assert_eq!(
        balance(&owner, "gateway_clearing", own.account.as_uuid()).await,
        0
    );
    check_books(&owner).await;
}

#[tokio::test]
async fn refunds_keep_or_return_our_fee_and_reversals_undo_them_by_hand() {
    let t = TestApp::spawn().await;
    let admin = t.admin_token().await;
    let owner = t.db.owner().await;
    let platform = shop(&t, &admin, "Refund Rules", true).await;
    set_rate(
        &t.app,
        platform,
        None,
        FeeRate {
            rate_bps: 199,
            fixed_fee: 0,
        },
    )
    .await;
    // Two payments of ₹100: fee 199 + GST 36 each; payable 9,765 each.
    let (first, a1) = pay(&t.app, platform, 10_000, None).await;
    apply(&t.app, a1, &captured(a1, 10_000), Scope::System).await;
    let (second, a2) = pay(&t.app, platform, 10_000, None).await;
    apply(&t.app, a2, &captured(a2, 10_000), Scope::System).await;
    let payable = || balance(&owner, "merchant_payable", platform.id.as_uuid());
    assert_eq!(payable().await, 19_530);

    // ₹33.33 of the first with our fee kept (the default): only the amount moves.
    let kept = refund(&t.app, platform, first, Some(3_333)).await;
    settle(&t.app, kept, RefundStatus::Succeeded).await;
    assert_eq!(
        lines(&owner, &format!("refund:{kept}")).await,
        vec![
            line("merchant_payable", "debit", 3_333),
            line("gateway_clearing", "credit", 3_333),
        ]
    );
    assert_eq!(payable().await, 16_197);

    // Our fee returned from now on: ₹33.33 of the second gives back 66.33 → 66 and 11.99 → 12.
    set_policy(&t.app, platform, true).await;
    let returned = refund(&t.app, platform, second, Some(3_333)).await;
    settle(&t.app, returned, RefundStatus::Succeeded).await;
    assert_eq!(
        lines(&owner, &format!("refund:{returned}")).await,
        vec![
            line("merchant_payable", "debit", 3_333),
            line("gateway_clearing", "credit", 3_333),
            line("fee_revenue", "debit", 66),
            line("gst_payable", "debit", 12),
            line("merchant_payable", "credit", 78),
        ]
    );
    // The rest of the second: the rest of the charge (133 + 24), so the two add up to it.
    let rest = refund(&t.app, platform, second, None).await;
    settle(&t.app, rest, RefundStatus::Succeeded).await;
    assert_eq!(
        lines(&owner, &format!("refund:{rest}")).await[2..],
        [
            line("fee_revenue", "debit", 133),
            line("gst_payable", "debit", 24),
            line("merchant_payable", "credit", 157),
        ]
    );
    // The rest of the first (₹66.67): its own share (199 − 66 = 133, 36 − 12 = 24), not the share
    // of the ₹33.33 refunded while our fee was kept as well.
    let first_rest = refund(&t.app, platform, first, None).await;
    settle(&t.app, first_rest, RefundStatus::Succeeded).await;
    assert_eq!(
        lines(&owner, &format!("refund:{first_rest}")).await[2..],
        [
            line("fee_revenue", "debit", 133),
            line("gst_payable", "debit", 24),
            line("merchant_payable", "credit", 157),
        ]
    );
    let stored: (i64, i64) = {
        let row = owner
            .query_one(
                "SELECT fee_returned, gst_returned FROM refunds WHERE id = $1",
                &[&first_rest.as_uuid()],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1))
    };
    assert_eq!(stored, (133, 24));
    assert_eq!(payable().await, 16_197 - 3_255 - 6_510 - 6_510);

    // The gateway undoes the ₹33.33 that returned our fee: its entry, every line the other way.
    settle(&t.app, returned, RefundStatus::Failed).await;
    assert_eq!(
        lines(&owner, &format!("refund_reversal:{returned}")).await,
        vec![
            line("merchant_payable", "credit", 3_333),
            line("gateway_clearing", "debit", 3_333),
            line("fee_revenue", "credit", 66),
            line("gst_payable", "credit", 12),
            line("merchant_payable", "debit", 78),
        ]
    );
    assert_eq!(payable().await, 3_177);
    // Replayed, the failure posts nothing more.
    settle(&t.app, returned, RefundStatus::Failed).await;
    assert_eq!(payable().await, 3_177);
    // Fee revenue: 2 × 199 − 133 − 133 (the 66 came back with the reversal).
    assert_eq!(balance(&owner, "fee_revenue", uuid::Uuid::nil()).await, 132);
    assert_eq!(
        balance(&owner, "gst_payable", uuid::Uuid::nil()).await,
        72 - 24 - 24
    );
    assert_eq!(
        balance(&owner, "gateway_clearing", platform.account.as_uuid()).await,
        3_333
    );
    check_books(&owner).await;
}

#[tokio::test]
async fn a_capture_of_another_amount_goes_to_suspense_by_hand() {
    let t = TestApp::spawn().await;
    let admin = t.admin_token().await;
    let owner = t.db.owner().await;
    let platform = shop(&t, &admin, "Suspense", true).await;
    let (id, attempt) = pay(&t.app, platform, 10_000, None).await;
    let report = captured(attempt, 9_000);
    assert_eq!(
        apply(&t.app, attempt, &report, Scope::System).await,
        Applied::AmountMismatch
    );
    assert_eq!(
        lines(&owner, &format!("suspense:{attempt}")).await,
        vec![
            line("gateway_clearing", "debit", 9_000),
            line("suspense", "credit", 9_000),
        ]
    );
    // The payment took nothing: no fee, nothing owed to the merchant.
    assert_eq!(fee_in_view(&t.app, platform, id).await, (None, None));
    assert_eq!(
        balance(&owner, "merchant_payable", platform.id.as_uuid()).await,
        0
    );
    assert_eq!(balance(&owner, "suspense", uuid::Uuid::nil()).await, 9_000);
    // Reported again: still one entry.
    assert_eq!(
        apply(&t.app, attempt, &report, Scope::Public).await,
        Applied::AmountMismatch
    );
    assert_eq!(entries_of(&owner, platform.id).await, 1);
    check_books(&owner).await;

    // The gateway corrects itself: the right amount is the capture, and what suspense held for
    // this attempt is released in the same transaction (in the public scope of a webhook), so
    // the money is on the books once. At the platform default (2 %): fee 200, GST 36.
    assert_eq!(
        apply(&t.app, attempt, &captured(attempt, 10_000), Scope::Public).await,
        Applied::Changed(TransactionStatus::Succeeded)
    );
    assert_eq!(
        lines(&owner, &format!("suspense_release:{attempt}")).await,
        vec![
            line("gateway_clearing", "credit", 9_000),
            line("suspense", "debit", 9_000),
        ]
    );
    assert_eq!(balance(&owner, "suspense", uuid::Uuid::nil()).await, 0);
    assert_eq!(
        balance(&owner, "gateway_clearing", platform.account.as_uuid()).await,
        10_000
    );
    assert_eq!(
        balance(&owner, "merchant_payable", platform.id.as_uuid()).await,
        10_000 - 200 - 36
    );
    assert_eq!(entries_of(&owner, platform.id).await, 3);
    check_books(&owner).await;

    // Released, it is no longer open for operators, and cannot be resolved a second time.
    let (status, body) = t.get("/api/v1/admin/ledger/suspense", Some(&admin)).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    assert_eq!(body["data"]["items"], serde_json::json!([]), "{body}");
    let (status, body) = t
        .post_json(
            &format!("/api/v1/admin/ledger/suspense/{attempt}/resolve"),
            Some(&admin),
            serde_json::json!({ "outcome": "refunded", "note": "customer refunded" }),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::CONFLICT, "{body}");
    assert_eq!(entries_of(&owner, platform.id).await, 3);
}

/// Outside the platform's scopes, `ledger_post` books only what a capture of a payment the
/// scope may touch causes: a bug on a public path cannot credit a wallet or move revenue.
#[tokio::test]
async fn public_and_merchant_scopes_cannot_post_anything_but_a_captures_entries() {
    let t = TestApp::spawn().await;
    let admin = t.admin_token().await;
    let by = operator(&t).await;
    let own = shop(&t, &admin, "Scoped Books", false).await;
    let other = shop(&t, &admin, "Other Books", false).await;
    let (payment, _) = pay(&t.app, own, 10_000, None).await;
    let forged = |merchant: MerchantId| {
        let mut posting = rules::operator_top_up(&OperatorTopUp {
            id: WalletTopUpId::generate(),
            merchant,
            mode: Mode::Test,
            amount: 100_000_000,
            currency: "INR".into(),
            by,
            reference: None,
        });
        posting.kind = ledger::EntryKind::Capture;
        posting.transaction = Some(payment);
        posting
    };
    let scopes = [
        Scope::Public,
        Scope::Merchant {
            id: own.id,
            mode: Mode::Test,
        },
        Scope::Merchant {
            id: other.id,
            mode: Mode::Test,
        },
    ];
    for scope in scopes {
        let mut client = t.app.db.client().await.unwrap();
        let tx = db::begin(&mut client, scope).await.unwrap();
        let result = ledger::post(&tx, &forged(own.id)).await;
        assert!(result.is_err(), "{result:?}");
        drop(tx);
    }
    // A refund's or a correction's entry is the platform's jobs' business alone.
    let mut client = t.app.db.client().await.unwrap();
    let tx = db::begin(&mut client, Scope::Public).await.unwrap();
    let mut refund = forged(own.id);
    refund.kind = ledger::EntryKind::Refund;
    refund
        .lines
        .retain(|l| l.account.code != ledger::AccountCode::PlatformBank);
    assert!(ledger::post(&tx, &refund).await.is_err());
    drop(tx);
    let owner = t.db.owner().await;
    let written: i64 = owner
        .query_one(
            "SELECT count(*) FROM ledger_entries WHERE business_key LIKE 'wallet_top_up:%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(written, 0);
    // The platform's jobs may.
    let mut client = t.app.db.client().await.unwrap();
    let tx = db::begin(&mut client, Scope::System).await.unwrap();
    assert!(matches!(
        ledger::post(&tx, &forged(own.id)).await,
        Ok(Posted::Written(_))
    ));
}
