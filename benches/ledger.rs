//! Ledger benchmark, in-process against a fresh database (no HTTP: what is measured is the
//! ledger's write path and the capture path that books it):
//!
//! 1. Entries per second: C concurrent connections each posting a four-line entry (a capture on
//!    the platform's account: clearing, the merchant's payable, fee revenue, GST) through
//!    `shared::ledger::post`, one database transaction per entry, against pgbench running
//!    `benches/sql/ledger_post.sql` (the same `ledger_post` call in the same round trips).
//! 2. Captures applied per second: C connections each applying a gateway's capture report to a
//!    prepared pending payment through `transactions::apply_report` (the transition, the attempt,
//!    our fee and GST, the capture's entry, the closing of other attempts, the event and its
//!    webhook job), against pgbench running `benches/sql/ledger_capture.sql` (the same statements
//!    in the same order and round trips).
//!
//! Each pair runs twice in one run, the second time in the other order (application then pgbench,
//! pgbench then application), so that neither side always meets the bigger tables.
//! Every entry in both runs hits the same accounts (the sandbox's clearing, one merchant's
//! payable, the platform's fee revenue and GST): the worst case for the account row locks.
//! `LSP_BENCH_CLIENTS` (default 8) and `LSP_BENCH_SECONDS` (default 10) choose the load;
//! `LSP_BENCH_CAPTURE_SQL` names another script for the capture path's SQL. Results go
//! to stdout as a Markdown table for BENCHMARKS.md.

#![allow(clippy::unwrap_used)]

// Compiled into each benchmark, which uses the parts it needs.
#[allow(dead_code)]
mod support;

use serde_json::json;
use shared::App;
use shared::db::{self, Scope};
use shared::gateways::{PaymentOutcome, StatusReport};
use shared::ids::{AttemptId, GatewayAccountId, MerchantId};
use shared::ledger::{AccountCode, AccountRef, EntryKind, Posting, Side};
use shared::mode::Mode;
use shared::money::ReportedAmount;
use shared::payments::transactions::{self, Applied};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio_postgres::NoTls;

const SERVER: &str = "postgres://postgres@127.0.0.1:5432";
const HOST: &str = "127.0.0.1:5432";
/// Every payment of the capture run: ₹100 at the platform's default 2 %: fee 200, GST 36.
const AMOUNT: i64 = 10_000;

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Operations per second and latency percentiles (ms).
#[derive(Debug, Clone, Copy)]
struct Rate {
    per_second: f64,
    p50: f64,
    p99: f64,
}

/// Runs `op` on `clients` tasks for `seconds` after a warm-up of `warm` seconds; counts the
/// operations that finished in the measured window.
async fn measure<F, Fut>(clients: usize, warm: u64, seconds: u64, op: F) -> Rate
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let op = Arc::new(op);
    let start = Instant::now();
    let from = start + Duration::from_secs(warm);
    let until = from + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..clients)
        .map(|client| {
            let op = op.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let began = Instant::now();
                    if began >= until || !op(client).await {
                        break;
                    }
                    let ended = Instant::now();
                    if began >= from && ended <= until {
                        latencies.push(ended - began);
                    }
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    latencies.sort();
    Rate {
        per_second: latencies.len() as f64 / seconds as f64,
        p50: support::percentile(&latencies, 0.50),
        p99: support::percentile(&latencies, 0.99),
    }
}

/// pgbench on `script` with `vars`: transactions per second, p50 and p99 (ms).
fn pgbench(
    db_url: &str,
    clients: usize,
    seconds: u64,
    script: &Path,
    vars: &[(&str, String)],
    logs: &Path,
    label: &str,
) -> Rate {
    let prefix = logs.join(format!("pgbench_{label}"));
    let mut command = Command::new("pgbench");
    command
        .args([
            "-n",
            "-M",
            "prepared",
            "-c",
            &clients.to_string(),
            "-j",
            "2",
        ])
        .args(["-T", &seconds.to_string(), "-l"])
        .arg(format!("--log-prefix={}", prefix.display()))
        .arg("-f")
        .arg(script);
    for (name, value) in vars {
        command.arg("-D").arg(format!("{name}={value}"));
    }
    let out = command.arg(db_url).output().expect(
        "pgbench must be installed (PostgreSQL's client tools: apt-get install postgresql-client)",
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "pgbench failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let per_second = text
        .lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| l.trim_start_matches("tps = ").split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0.0);
    // Each log line: client id, transaction number, latency in microseconds, …
    let mut latencies = Vec::new();
    for entry in std::fs::read_dir(logs).unwrap().flatten() {
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with(&format!("pgbench_{label}."))
        {
            for line in std::fs::read_to_string(entry.path()).unwrap().lines() {
                if let Some(us) = line
                    .split_whitespace()
                    .nth(2)
                    .and_then(|v| v.parse::<u64>().ok())
                {
                    latencies.push(Duration::from_micros(us));
                }
            }
        }
    }
    latencies.sort();
    Rate {
        per_second,
        p50: support::percentile(&latencies, 0.50),
        p99: support::percentile(&latencies, 0.99),
    }
}

/// The bench's database, dropped when the bench ends, also when it fails.
struct Database(String);

impl Drop for Database {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args(["-q", "-d", &format!("{SERVER}/postgres"), "-c"])
            .arg(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.0))
            .status();
    }
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

/// The lines of a capture of `AMOUNT` on the platform's account, as the capture rule builds them.
fn capture_lines(posting: &mut Posting, merchant: MerchantId, account: GatewayAccountId) {
    posting
        .line(AccountRef::clearing(account), Side::Debit, AMOUNT, "INR")
        .line(AccountRef::payable(merchant), Side::Credit, 9_764, "INR")
        .line(
            AccountRef::platform(AccountCode::FeeRevenue),
            Side::Credit,
            200,
            "INR",
        )
        .line(
            AccountRef::platform(AccountCode::GstPayable),
            Side::Credit,
            36,
            "INR",
        );
}

/// The same entry's lines and memo as `ledger_post` receives them (what `ledger::post` sends).
fn capture_json(merchant: MerchantId, account: GatewayAccountId) -> (String, String) {
    let nil = uuid::Uuid::nil();
    let m = merchant.as_uuid();
    let lines = json!([
        { "code": "gateway_clearing", "owner_kind": "gateway_account", "owner_id": account.as_uuid(),
          "merchant_id": null, "currency": "INR", "side": "debit", "amount": AMOUNT },
        { "code": "merchant_payable", "owner_kind": "merchant", "owner_id": m, "merchant_id": m,
          "currency": "INR", "side": "credit", "amount": 9_764 },
        { "code": "fee_revenue", "owner_kind": "platform", "owner_id": nil, "merchant_id": null,
          "currency": "INR", "side": "credit", "amount": 200 },
        { "code": "gst_payable", "owner_kind": "platform", "owner_id": nil, "merchant_id": null,
          "currency": "INR", "side": "credit", "amount": 36 },
    ]);
    let memo = json!({
        "account_model": "platform_owned", "amount": AMOUNT, "rate_bps": 200, "fixed_fee": 0,
        "fee": 200, "gst": 36, "affiliate_id": null, "commission_bps": null, "commission": 0,
    });
    (lines.to_string(), memo.to_string())
}

/// Pending payments of `AMOUNT` on `account`, `n` of them, with order ids starting `prefix`;
/// their attempts in order.
async fn prepare(
    owner: &tokio_postgres::Client,
    merchant: MerchantId,
    account: GatewayAccountId,
    prefix: &str,
    n: i64,
) -> Vec<uuid::Uuid> {
    owner
        .execute(
            "INSERT INTO transactions (id, merchant_id, mode, order_id, amount, currency, customer_name, customer_email,
                 customer_phone, description, return_url, notes, expires_at)
             SELECT gen_random_uuid(), $1, 'test', $2 || g, $3, 'INR', 'Asha Verma', 'asha@example.in',
                 '+919812345678', 'Masala chai x 2', 'https://shop.example.in/done', '{\"cart\":\"42\"}', now() + interval '1 day'
               FROM generate_series(1, $4::bigint) g",
            &[&merchant.as_uuid(), &prefix, &AMOUNT, &n],
        )
        .await
        .unwrap();
    owner
        .execute(
            "INSERT INTO transaction_attempts (id, transaction_id, merchant_id, mode, gateway_account_id, provider, routing)
             SELECT gen_random_uuid(), t.id, t.merchant_id, 'test', $3, 'sandbox', '{}'::jsonb
               FROM transactions t WHERE t.merchant_id = $1 AND t.order_id LIKE $2 || '%'",
            &[&merchant.as_uuid(), &prefix, &account.as_uuid()],
        )
        .await
        .unwrap();
    owner
        .query(
            "SELECT a.id FROM transaction_attempts a JOIN transactions t ON t.id = a.transaction_id
              WHERE t.merchant_id = $1 AND t.order_id LIKE $2 || '%' ORDER BY t.order_id",
            &[&merchant.as_uuid(), &prefix],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// Four-line entries posted through `ledger::post`, one transaction each, for `seconds`.
async fn app_entries(
    app: &Arc<App>,
    merchant: MerchantId,
    account: GatewayAccountId,
    posted: &Arc<AtomicUsize>,
    clients: usize,
    seconds: u64,
) -> Rate {
    let (app, posted) = (app.clone(), posted.clone());
    measure(clients, 2, seconds, move |_| {
        let (app, posted) = (app.clone(), posted.clone());
        async move {
            let n = posted.fetch_add(1, Ordering::Relaxed);
            let mut posting =
                Posting::new(format!("bench:app:{n}"), EntryKind::Capture, Mode::Test);
            posting.merchant = Some(merchant);
            capture_lines(&mut posting, merchant, account);
            let mut client = app.db.client().await.unwrap();
            let tx = db::begin(&mut client, Scope::System).await.unwrap();
            shared::ledger::post(&tx, &posting).await.unwrap();
            tx.commit().await.unwrap();
            true
        }
    })
    .await
}

/// Capture reports applied to the next prepared pending payments, one transaction each.
async fn app_captures(
    app: &Arc<App>,
    next: &Arc<AtomicUsize>,
    mine: &Arc<Vec<uuid::Uuid>>,
    clients: usize,
    seconds: u64,
) -> Rate {
    let (app, next, mine) = (app.clone(), next.clone(), mine.clone());
    measure(clients, 2, seconds, move |_| {
        let (app, next, mine) = (app.clone(), next.clone(), mine.clone());
        async move {
            let Some(attempt) = mine.get(next.fetch_add(1, Ordering::Relaxed)) else {
                return false;
            };
            let attempt = AttemptId::from_uuid(*attempt);
            let report = StatusReport {
                payment_id: Some(format!("pay_{}", attempt.as_uuid().simple())),
                captured: Some(ReportedAmount::new(AMOUNT, "INR")),
                ..StatusReport::of(PaymentOutcome::Succeeded)
            };
            let mut client = app.db.client().await.unwrap();
            let tx = db::begin(&mut client, Scope::System).await.unwrap();
            let (applied, _) = transactions::apply_report(&tx, &app, attempt, &report)
                .await
                .unwrap();
            tx.commit().await.unwrap();
            assert!(matches!(applied, Applied::Changed(_)), "{applied:?}");
            true
        }
    })
    .await
}

fn row(what: &str, clients: usize, app: Rate, sql: Rate) -> String {
    format!(
        "| {what} | {clients} | {:.0} | {:.2} | {:.2} | {:.0} | {:.2} | {:.2} | {:.0} % |",
        app.per_second,
        app.p50,
        app.p99,
        sql.per_second,
        sql.p50,
        sql.p99,
        100.0 * app.per_second / sql.per_second
    )
}

#[tokio::main]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` and test discovery
    }
    let clients = env_number("LSP_BENCH_CLIENTS", 8);
    let seconds = env_number("LSP_BENCH_SECONDS", 10) as u64;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));

    // A fresh database, migrated as the local runner and the tests migrate theirs.
    let name = format!("lsp_bench_ledger_{}", std::process::id());
    let admin = connect(&format!("{SERVER}/postgres")).await;
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
        .await
        .unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let _database = Database(name.clone());
    let owner_url = format!("{SERVER}/{name}");
    let app_url = format!("postgres://lsp_app@{HOST}/{name}");
    shared::db::migrate::run(&owner_url, &shared::config::DatabaseTls::Disable)
        .await
        .expect("migrate");
    let vars: BTreeMap<String, String> = [
        ("DATABASE_URL", app_url.as_str()),
        ("DATABASE_POOL_SIZE", &clients.to_string()),
        ("JWT_SECRET", "bench-only-jwt-secret-0123456789abcdefghij"),
        (
            "ENCRYPTION_KEYS",
            "b1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let config = shared::config::Config::from_lookup(shared::config::lookup_from(vars))
        .expect("bench configuration");
    // Each application run gets a pool of its own, as each pgbench run connects afresh: sessions
    // that outlive a run keep the plans they made on a smaller ledger (BENCHMARKS.md, "Ledger").
    let fresh = move || Arc::new(App::new(config.clone()).expect("app"));
    let app = fresh();
    let demo = shared::seed::demo(&app, None).await.expect("demo data");
    let merchant: MerchantId = demo.merchant_id.parse().unwrap();
    let account = {
        let mut client = app.db.client().await.unwrap();
        let tx = db::begin(&mut client, Scope::System).await.unwrap();
        let id = shared::seed::sandbox_account(&app, &tx).await.unwrap();
        tx.commit().await.unwrap();
        id
    };
    let owner = connect(&owner_url).await;
    let logs = std::env::temp_dir().join(format!("lsp-bench-ledger-{}", std::process::id()));
    std::fs::create_dir_all(&logs).unwrap();
    let (lines, memo) = capture_json(merchant, account);
    println!("ledger bench: {clients} clients, {seconds} s per run, database {name}");

    // Prepared pending payments for the capture runs, more than any run can take; pgbench takes
    // its own from a queue table (it cannot be handed them).
    let prepared = env_number("LSP_BENCH_CAPTURES", 40_000) as i64;
    let mine = Arc::new(prepare(&owner, merchant, account, "app-", prepared).await);
    let theirs = prepare(&owner, merchant, account, "sql-", prepared).await;
    owner
        .batch_execute(
            "CREATE TABLE bench_capture_queue (n bigint PRIMARY KEY, attempt uuid NOT NULL);
             CREATE SEQUENCE bench_capture_seq;
             GRANT SELECT ON bench_capture_queue TO lsp_app;
             GRANT USAGE ON SEQUENCE bench_capture_seq TO lsp_app;",
        )
        .await
        .unwrap();
    owner
        .execute(
            "INSERT INTO bench_capture_queue (n, attempt) SELECT n, a FROM unnest($1::uuid[]) WITH ORDINALITY AS q(a, n)",
            &[&theirs],
        )
        .await
        .unwrap();
    // Statistics for the prepared payments only. Not for the ledger's tables: analyzed while
    // empty, they make the sessions that plan the ledger's trigger queries then keep a plan that
    // scans `ledger_lines` (this server runs without autovacuum, so no later ANALYZE replaces it),
    // and every entry gets slower as the ledger grows (BENCHMARKS.md, "Ledger").
    owner
        .batch_execute(
            "ANALYZE transactions; ANALYZE transaction_attempts; ANALYZE bench_capture_queue",
        )
        .await
        .unwrap();

    // Two rounds, the second in the other order (application, pgbench; pgbench, application), so
    // that neither side always runs on the bigger tables.
    let posted = Arc::new(AtomicUsize::new(0));
    let next = Arc::new(AtomicUsize::new(0));
    let post_sql = root.join("benches/sql/ledger_post.sql");
    // Another script for the capture path's SQL (to measure a change to it before making it).
    let capture_sql = std::env::var_os("LSP_BENCH_CAPTURE_SQL")
        .map_or_else(|| root.join("benches/sql/ledger_capture.sql"), Into::into);
    let post_vars = [
        ("merchant", merchant.as_uuid().to_string()),
        ("lines", lines.clone()),
        ("memo", memo.clone()),
    ];
    let capture_vars = [("lines", lines), ("memo", memo)];
    let mut rows = Vec::new();
    for round in 1..=2 {
        let (entries, entries_sql) = if round == 1 {
            let app_side =
                app_entries(&fresh(), merchant, account, &posted, clients, seconds).await;
            let sql_side = pgbench(
                &app_url, clients, seconds, &post_sql, &post_vars, &logs, "post1",
            );
            (app_side, sql_side)
        } else {
            let sql_side = pgbench(
                &app_url, clients, seconds, &post_sql, &post_vars, &logs, "post2",
            );
            let app_side =
                app_entries(&fresh(), merchant, account, &posted, clients, seconds).await;
            (app_side, sql_side)
        };
        rows.push(row(
            &format!("4-line entry (`ledger::post`), round {round}"),
            clients,
            entries,
            entries_sql,
        ));
        let (captures, captures_sql) = if round == 1 {
            let app_side = app_captures(&fresh(), &next, &mine, clients, seconds).await;
            let sql_side = pgbench(
                &app_url,
                clients,
                seconds,
                &capture_sql,
                &capture_vars,
                &logs,
                "capture1",
            );
            (app_side, sql_side)
        } else {
            let sql_side = pgbench(
                &app_url,
                clients,
                seconds,
                &capture_sql,
                &capture_vars,
                &logs,
                "capture2",
            );
            let app_side = app_captures(&fresh(), &next, &mine, clients, seconds).await;
            (app_side, sql_side)
        };
        rows.push(row(
            &format!("capture applied (`apply_report`), round {round}"),
            clients,
            captures,
            captures_sql,
        ));
    }
    assert!(
        next.load(Ordering::Relaxed) < mine.len(),
        "ran out of prepared payments: raise LSP_BENCH_CAPTURES"
    );

    // The books after all runs: balanced, one capture entry per captured payment.
    let check = owner
        .query_one(
            "SELECT (SELECT count(*) FROM (SELECT mode, currency FROM ledger_accounts GROUP BY 1, 2
                       HAVING sum(debits - credits) <> 0) x),
                    (SELECT count(*) FROM transactions WHERE status = 'succeeded'),
                    (SELECT count(*) FROM ledger_entries WHERE business_key LIKE 'capture:%'),
                    (SELECT count(*) FROM ledger_entries)",
            &[],
        )
        .await
        .unwrap();
    let (unbalanced, succeeded, capture_entries, all): (i64, i64, i64, i64) =
        (check.get(0), check.get(1), check.get(2), check.get(3));
    assert_eq!(unbalanced, 0, "the trial balance is not zero");
    assert_eq!(
        succeeded, capture_entries,
        "a captured payment without its entry"
    );
    println!("{all} entries written; {succeeded} payments captured, each with its entry");

    println!();
    println!(
        "| measure | clients | application /s | p50 ms | p99 ms | pgbench tps (same SQL) | pgbench p50 ms | pgbench p99 ms | application / pgbench |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for row in rows {
        println!("{row}");
    }
    let _ = std::fs::remove_dir_all(&logs);
}
