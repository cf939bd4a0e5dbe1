//! Payment-creation benchmark: `POST /api/v1/pay` on the local runner (release build) at 8 and 32
//! concurrent clients, against pgbench running the same SQL in the same run; then the peak RSS of
//! the `pay` Lambda binary serving 1,000 requests through a local Lambda Runtime API.
//!
//! Run with `scripts/bench` (which builds the release binaries first). Results go to stdout as a
//! Markdown table for BENCHMARKS.md.

#![allow(clippy::unwrap_used)]

// Compiled into each benchmark, which uses the parts it needs.
#[allow(dead_code)]
mod support;

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SECONDS: u64 = 10;

struct Load {
    tps: f64,
    p50: f64,
    p99: f64,
    errors: usize,
}

async fn load(base: &str, key: &str, secret: &str, clients: usize, run: &str) -> Load {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(SECONDS);
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|worker| {
            let (client, base, key, secret, run) = (client.clone(), base.to_string(), key.to_string(), secret.to_string(), run.to_string());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut errors = 0;
                let mut n = 0u64;
                while Instant::now() < deadline {
                    n += 1;
                    let body = json!({
                        "amount": 49_900, "order_id": format!("{run}-{worker}-{n}"),
                        "customer": {"name": "Asha Verma", "email": "asha@example.in", "phone": "+919812345678"},
                        "description": "Masala chai x 2", "return_url": "https://shop.example.in/done", "notes": {"cart": "42"},
                    });
                    let t = Instant::now();
                    let response = client.post(format!("{base}/api/v1/pay")).header("X-Client-Key", &key).header("X-Client-Secret", &secret).json(&body).send().await;
                    match response {
                        Ok(r) if r.status().as_u16() == 201 => {
                            let _ = r.bytes().await;
                            latencies.push(t.elapsed());
                        }
                        _ => errors += 1,
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (latencies, e) = task.await.unwrap();
        all.extend(latencies);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    Load {
        tps: all.len() as f64 / elapsed,
        p50: support::percentile(&all, 0.50),
        p99: support::percentile(&all, 0.99),
        errors,
    }
}

/// pgbench's transactions per second, p50 and p99 (ms) for the same SQL, from its per-transaction log.
fn pgbench(
    db_url: &str,
    clients: usize,
    key: &str,
    merchant: &str,
    account: &str,
    script: &Path,
    logs: &Path,
) -> (f64, f64, f64) {
    let prefix = logs.join(format!("pgbench_{clients}"));
    let out = Command::new("pgbench")
        .args([
            "-n",
            "-M",
            "prepared",
            "-c",
            &clients.to_string(),
            "-j",
            "2",
            "-T",
            &SECONDS.to_string(),
            "-l",
        ])
        .arg(format!("--log-prefix={}", prefix.display()))
        .arg("-f")
        .arg(script)
        .args([
            "-D",
            &format!("key={key}"),
            "-D",
            &format!("merchant={merchant}"),
            "-D",
            &format!("account={account}"),
            "-D",
            &format!("principal=bench:pgbench:{clients}"),
        ])
        .arg(db_url)
        .output()
        .expect("pgbench must be installed (PostgreSQL's client tools)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "pgbench failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tps = text
        .lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| l.trim_start_matches("tps = ").split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0.0);
    // Each log line: client id, transaction number, latency in microseconds, …
    let mut latencies: Vec<Duration> = Vec::new();
    for entry in std::fs::read_dir(logs).unwrap().flatten() {
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with(&format!("pgbench_{clients}."))
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
    (
        tps,
        support::percentile(&latencies, 0.50),
        support::percentile(&latencies, 0.99),
    )
}

/// The `pay` Lambda binary behind a minimal Lambda Runtime API: 1,000 invocations, then its
/// peak resident set size (VmHWM) and the wall time.
async fn lambda_rss(
    binary: &Path,
    env: &[(String, String)],
    key: &str,
    secret: &str,
) -> (u64, f64) {
    use axum::extract::{Path as UrlPath, State};
    use axum::routing::{get, post};
    use std::sync::Arc;
    use tokio::sync::{Mutex, mpsc};
    struct Runtime {
        next: Mutex<mpsc::Receiver<(String, Value)>>,
        done: mpsc::Sender<u16>,
    }
    let (events_tx, events_rx) = mpsc::channel::<(String, Value)>(16);
    let (done_tx, mut done_rx) = mpsc::channel::<u16>(16);
    let state = Arc::new(Runtime {
        next: Mutex::new(events_rx),
        done: done_tx,
    });
    let app =
        axum::Router::new()
            .route(
                "/2018-06-01/runtime/invocation/next",
                get(|State(rt): State<Arc<Runtime>>| async move {
                    let (id, event) = rt.next.lock().await.recv().await.unwrap();
                    let deadline = (chrono::Utc::now().timestamp_millis() + 30_000).to_string();
                    axum::response::Response::builder()
                        .header("lambda-runtime-aws-request-id", id)
                        .header("lambda-runtime-deadline-ms", deadline)
                        .header(
                            "lambda-runtime-invoked-function-arn",
                            "arn:aws:lambda:ap-south-1:123456789012:function:pay",
                        )
                        .body(axum::body::Body::from(event.to_string()))
                        .unwrap()
                }),
            )
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(
                    |State(rt): State<Arc<Runtime>>,
                     UrlPath(_id): UrlPath<String>,
                     body: String| async move {
                        let status = serde_json::from_str::<Value>(&body)
                            .ok()
                            .and_then(|v| v["statusCode"].as_u64())
                            .unwrap_or(0) as u16;
                        rt.done.send(status).await.unwrap();
                        ""
                    },
                ),
            )
            .route(
                "/2018-06-01/runtime/invocation/{id}/error",
                post(|State(rt): State<Arc<Runtime>>| async move {
                    rt.done.send(0).await.unwrap();
                    ""
                }),
            )
            .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let mut child = Command::new(binary)
        .envs(env.iter().cloned())
        .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "pay")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let template: Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("events/pay.json"))
            .unwrap(),
    )
    .unwrap();
    let started = Instant::now();
    let mut ok = 0;
    for i in 0..1000 {
        let mut event = template.clone();
        event["headers"]["x-client-key"] = json!(key);
        event["headers"]["x-client-secret"] = json!(secret);
        event["headers"]
            .as_object_mut()
            .unwrap()
            .remove("idempotency-key");
        let mut body: Value = serde_json::from_str(event["body"].as_str().unwrap()).unwrap();
        body["order_id"] = json!(format!("lambda-{}-{i}", std::process::id()));
        event["body"] = json!(body.to_string());
        events_tx.send((format!("req-{i}"), event)).await.unwrap();
        if done_rx.recv().await == Some(201) {
            ok += 1;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
    let hwm = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(ok, 1000, "every invocation must create a payment");
    (hwm, elapsed)
}

/// Puts the demo merchant's pool in smart mode with a health window for its account (every amount
/// and the band of the benchmark's ₹499), so each payment reads and samples real statistics.
fn smart_routing(db: &str, merchant: &str, account: &str) {
    let sql = format!(
        "UPDATE routing_pools SET strategy = 'smart' WHERE merchant_id = '{merchant}';
         INSERT INTO gateway_health_metrics (gateway_account_id, amount_band, window_end, window_seconds, attempts,
             successes, declines, technical_errors, latency_p50_ms, latency_p95_ms)
         SELECT '{account}', band, now() - make_interval(mins => age), 900, 1000, 910, 80, 10, 120, 480
           FROM generate_series(0, 4) AS band, generate_series(0, 59) AS age;"
    );
    let out = Command::new("psql")
        .arg(format!("postgres://postgres@127.0.0.1:5432/{db}"))
        .args(["-v", "ON_ERROR_STOP=1", "-qc", &sql])
        .output()
        .expect("psql must be installed (PostgreSQL's client tools)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The number a counting query answers in the benchmark's database.
fn psql_count(db: &str, sql: &str) -> u64 {
    let out = Command::new("psql")
        .arg(format!("postgres://postgres@127.0.0.1:5432/{db}"))
        .args(["-Atc", sql])
        .output()
        .expect("psql must be installed (PostgreSQL's client tools)");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

fn sandbox_account(db: &str) -> String {
    let out = Command::new("psql")
        .arg(format!("postgres://postgres@127.0.0.1:5432/{db}"))
        .args([
            "-Atc",
            "SELECT id FROM gateway_accounts WHERE provider = 'sandbox' AND ownership = 'platform'",
        ])
        .output()
        .expect("psql must be installed (PostgreSQL's client tools)");
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(!id.is_empty(), "no sandbox account in {db}");
    id
}

#[tokio::main]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` and test discovery
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dev = support::start_dev("bench", &[("LSP_WORKERS", "off")]).await;
    let (state, db, creds) = (dev.state.clone(), dev.db.clone(), dev.creds.clone());
    let (key, secret) = (dev.key.clone(), dev.secret.clone());
    let merchant_uuid = uuid::Uuid::parse_str(
        creds["merchant_id"]
            .as_str()
            .unwrap()
            .trim_start_matches("mer_"),
    )
    .unwrap()
    .to_string();
    let base = dev.base.clone();
    // The account the router picks for the demo merchant in test mode: the platform's sandbox.
    let sandbox_account = sandbox_account(&db);
    smart_routing(&db, &merchant_uuid, &sandbox_account);
    let app_url = format!("postgres://lsp_app@127.0.0.1:5432/{db}");

    println!("warming up…");
    load(&base, &key, &secret, 8, "warm").await;
    let mut rows = Vec::new();
    for clients in [1usize, 8, 32] {
        let api = load(&base, &key, &secret, clients, &format!("c{clients}")).await;
        let script = root.join("benches/sql/pay.sql");
        let sql = pgbench(
            &app_url,
            clients,
            &key,
            &merchant_uuid,
            &sandbox_account,
            &script,
            &state,
        );
        rows.push((clients, api, sql));
    }

    let smart = psql_count(
        &db,
        "SELECT count(*) FROM transaction_attempts WHERE routing->>'mode' = 'smart'",
    );
    let env_file = std::fs::read_to_string(state.join("lambda.env")).unwrap();
    let env: Vec<(String, String)> = env_file
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
        .collect();
    let pay = root.join("target/release/pay");
    let lambda = if pay.exists() {
        Some(lambda_rss(&pay, &env, &key, &secret).await)
    } else {
        None
    };

    println!(
        "\n| clients | API payments/s | API p50 ms | API p99 ms | errors | pgbench tps (same SQL) | pgbench p50 ms | pgbench p99 ms | API / pgbench |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for (clients, api, (tps, p50, p99)) in &rows {
        println!(
            "| {clients} | {:.0} | {:.2} | {:.2} | {} | {:.0} | {:.2} | {:.2} | {:.0} % |",
            api.tps,
            api.p50,
            api.p99,
            api.errors,
            tps,
            p50,
            p99,
            100.0 * api.tps / tps
        );
    }
    println!(
        "\n{smart} payments of the API runs were routed by the smart mode (their stored decisions say so)"
    );
    assert!(smart > 0, "the payments must be routed in smart mode");
    match lambda {
        Some((kib, seconds)) => println!(
            "\n`pay` Lambda binary, 1,000 invocations through a local Runtime API: peak RSS {:.1} MiB, {:.2} s",
            kib as f64 / 1024.0,
            seconds
        ),
        None => println!(
            "\n(target/release/pay not built: run scripts/bench for the Lambda measurement)"
        ),
    }
    dev.stop();
}
