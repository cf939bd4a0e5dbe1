//! Merchant webhook delivery benchmark: `lightspeedpay dev` with its workers running as the local
//! runner runs them (the PostgreSQL job queue, polled in-process), one endpoint subscribed to
//! `transaction.created` at a local receiver, and N payments created through the API by C
//! concurrent clients. Measures deliveries per second at the receiver (first arrival to last) and,
//! per payment, the time from its 201 (the payment and its event committed) to the arrival of its
//! `transaction.created` webhook: p50, p99 and max.
//!
//! `LSP_BENCH_WEBHOOKS` (payments, default 500) and `LSP_BENCH_CLIENTS` (default 16) choose the
//! load. Results go to stdout as a Markdown table for BENCHMARKS.md.

#![allow(clippy::unwrap_used)]

// Compiled into each benchmark, which uses the parts it needs.
#[allow(dead_code)]
mod support;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use futures::StreamExt;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long the receiver waits for the last delivery before the run is declared short.
const DELIVERY_DEADLINE: Duration = Duration::from_secs(120);

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One webhook as the receiver saw it.
struct Arrival {
    at: Instant,
    webhook_id: String,
    event_type: String,
}

/// What the receiver recorded: arrivals by transaction id, and every POST counted.
#[derive(Default)]
struct Received {
    by_transaction: HashMap<String, Vec<Arrival>>,
    posts: usize,
}

/// Records the arrival time of each webhook (keyed by its transaction) and answers 200.
async fn receive(
    State(received): State<Arc<Mutex<Received>>>,
    headers: HeaderMap,
    body: bytes::Bytes,
) -> StatusCode {
    let at = Instant::now();
    let event: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let transaction = event["data"]["transaction"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let webhook_id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let mut received = received.lock().unwrap();
    received.posts += 1;
    received
        .by_transaction
        .entry(transaction)
        .or_default()
        .push(Arrival {
            at,
            webhook_id,
            event_type: event["type"].as_str().unwrap_or_default().to_string(),
        });
    StatusCode::OK
}

#[tokio::main]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` and test discovery
    }
    let payments = env_number("LSP_BENCH_WEBHOOKS", 500);
    let clients = env_number("LSP_BENCH_CLIENTS", 16);

    // The receiver: a plain HTTP server on loopback.
    let received = Arc::new(Mutex::new(Received::default()));
    let receiver = axum::Router::new()
        .route("/hooks", axum::routing::post(receive))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let receiver_url = format!("http://{}/hooks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, receiver).await.unwrap() });

    // The platform as `lightspeedpay dev` runs it, workers and schedules in-process.
    let dev = support::start_dev("bench_webhooks", &[("WEBHOOKS_ALLOW_LOOPBACK", "true")]).await;
    let (base, key, secret) = (dev.base.clone(), dev.key.clone(), dev.secret.clone());
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()
        .unwrap();

    let endpoint = client
        .post(format!("{base}/api/v1/merchant/webhooks"))
        .header("X-Client-Key", &key)
        .header("X-Client-Secret", &secret)
        .json(&json!({
            "url": receiver_url,
            "event_types": ["transaction.created"],
            "description": "delivery benchmark",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        endpoint.status().as_u16(),
        201,
        "{}",
        endpoint.text().await.unwrap_or_default()
    );

    // N payments, C at a time; each one's 201 instant, by transaction id.
    println!("{payments} payments, {clients} concurrent clients…");
    let run = std::process::id();
    let started = Instant::now();
    let committed: Vec<Option<(String, Instant)>> = futures::stream::iter(0..payments)
        .map(|n| {
            let (client, base, key, secret) =
                (client.clone(), base.clone(), key.clone(), secret.clone());
            async move {
                let body = json!({
                    "amount": 49_900, "order_id": format!("hooks-{run}-{n}"),
                    "customer": {"name": "Asha Verma", "email": "asha@example.in", "phone": "+919812345678"},
                    "description": "Masala chai x 2", "return_url": "https://shop.example.in/done", "notes": {"cart": "42"},
                });
                let response = client
                    .post(format!("{base}/api/v1/pay"))
                    .header("X-Client-Key", &key)
                    .header("X-Client-Secret", &secret)
                    .json(&body)
                    .send()
                    .await
                    .ok()?;
                if response.status().as_u16() != 201 {
                    return None;
                }
                let at = Instant::now();
                let body: Value = response.json().await.ok()?;
                Some((body["data"]["id"].as_str()?.to_string(), at))
            }
        })
        .buffer_unordered(clients)
        .collect()
        .await;
    let creation = started.elapsed();
    let errors = committed.iter().filter(|c| c.is_none()).count();
    let committed: HashMap<String, Instant> = committed.into_iter().flatten().collect();

    // Waits until every created payment's webhook arrived (or the deadline).
    let waiting = Instant::now();
    loop {
        let arrived = {
            let received = received.lock().unwrap();
            committed
                .keys()
                .filter(|id| received.by_transaction.contains_key(*id))
                .count()
        };
        if arrived == committed.len() || waiting.elapsed() > DELIVERY_DEADLINE {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A moment more, to count late duplicates.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let received = received.lock().unwrap();
    let mut latencies = Vec::new();
    let mut arrivals = Vec::new();
    let mut missing = 0;
    let mut duplicates = 0;
    for (id, at) in &committed {
        match received.by_transaction.get(id) {
            Some(seen) => {
                assert!(
                    seen.iter().all(|a| a.event_type == "transaction.created"),
                    "only the subscribed type is sent"
                );
                duplicates += seen.len() - 1;
                let first = seen.iter().map(|a| a.at).min().unwrap();
                assert!(seen.iter().all(|a| a.webhook_id == seen[0].webhook_id));
                arrivals.push(first);
                latencies.push(first.saturating_duration_since(*at));
            }
            None => missing += 1,
        }
    }
    latencies.sort();
    arrivals.sort();
    let span = arrivals
        .last()
        .zip(arrivals.first())
        .map(|(last, first)| last.duration_since(*first))
        .unwrap_or_default();
    let per_second = if span.is_zero() {
        0.0
    } else {
        (arrivals.len().saturating_sub(1)) as f64 / span.as_secs_f64()
    };

    println!(
        "\n| payments | clients | API payments/s | errors | delivered | missing | duplicates | deliveries/s (first to last arrival) | commit→arrival p50 ms | p99 ms | max ms |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {payments} | {clients} | {:.0} | {errors} | {} | {missing} | {duplicates} | {per_second:.0} | {:.1} | {:.1} | {:.1} |",
        committed.len() as f64 / creation.as_secs_f64(),
        arrivals.len(),
        support::percentile(&latencies, 0.50),
        support::percentile(&latencies, 0.99),
        latencies.last().unwrap().as_secs_f64() * 1000.0,
    );
    println!("\n{} POSTs received in all", received.posts);
    assert_eq!(
        missing, 0,
        "every payment's transaction.created must arrive"
    );
    assert_eq!(errors, 0, "every payment must be created");
    drop(received);

    dev.stop();
}
