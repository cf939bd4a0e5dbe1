//! Merchant webhooks as a receiver meets them: the Standard Webhooks specification's own Python
//! library (`standardwebhooks`, installed by scripts/test) verifies what we sign.

use shared::merchant_webhooks::signature::{SigningSecret, sign};
use std::io::Write;
use std::process::{Command, Stdio};

/// Verifies a delivery with the Python library, as a merchant's server would; the error it
/// raised when it refuses.
fn python_verifies(
    secret: &SigningSecret,
    id: &str,
    timestamp: i64,
    signature: &str,
    body: &str,
) -> Result<(), String> {
    let script = "import sys\n\
from standardwebhooks.webhooks import Webhook\n\
secret, msg_id, ts, sig = sys.argv[1:5]\n\
body = sys.stdin.buffer.read()\n\
Webhook(secret).verify(body, {'webhook-id': msg_id, 'webhook-timestamp': ts, 'webhook-signature': sig})\n";
    let mut child = Command::new("python3")
        .args([
            "-c",
            script,
            secret.to_text().expose(),
            id,
            &timestamp.to_string(),
            signature,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 (scripts/test puts target/venv first on PATH)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("ModuleNotFoundError"),
        "the standardwebhooks package is missing: {stderr}"
    );
    if out.status.success() {
        Ok(())
    } else {
        Err(stderr.into_owned())
    }
}

#[test]
fn the_specifications_library_verifies_our_signatures_with_either_secret_during_a_rotation() {
    let old = SigningSecret::generate();
    let new = SigningSecret::generate();
    let now = chrono::Utc::now().timestamp();
    let id = format!("evt_{}", uuid::Uuid::now_v7().simple());
    let body =
        r#"{"id":"evt_1","type":"transaction.succeeded","data":{"amount":49900,"note":"chai ☕"}}"#;
    let headers = sign(&id, now, body.as_bytes(), &[&new, &old]);

    python_verifies(
        &new,
        &headers.id,
        headers.timestamp,
        &headers.signature,
        body,
    )
    .unwrap();
    python_verifies(
        &old,
        &headers.id,
        headers.timestamp,
        &headers.signature,
        body,
    )
    .unwrap();
    // After the grace only the new secret signs; the old one no longer verifies.
    let after = sign(&id, now, body.as_bytes(), &[&new]);
    python_verifies(&new, &after.id, after.timestamp, &after.signature, body).unwrap();
    let refused = python_verifies(&old, &after.id, after.timestamp, &after.signature, body);
    assert!(refused.unwrap_err().contains("WebhookVerificationError"));
    // An edited body, another id or a stale timestamp are refused.
    assert!(
        python_verifies(
            &new,
            &id,
            now,
            &headers.signature,
            &body.replace("49900", "99")
        )
        .is_err()
    );
    assert!(python_verifies(&new, "evt_other", now, &headers.signature, body).is_err());
    let stale = sign(&id, now - 3_600, body.as_bytes(), &[&new]);
    assert!(python_verifies(&new, &id, stale.timestamp, &stale.signature, body).is_err());
}

mod egress {
    use shared::merchant_webhooks::egress::{
        Checked, EgressError, Policy, Resolver, SystemResolver, Timeouts, check, client_for,
    };
    use std::net::SocketAddr;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    const LIVE: Policy = Policy {
        https_only: true,
        allow_loopback: false,
    };
    const TEST: Policy = Policy {
        https_only: false,
        allow_loopback: false,
    };

    /// A resolver answering from a table, as a hostile DNS server could.
    struct Table(Vec<(&'static str, Vec<&'static str>)>);

    #[async_trait::async_trait]
    impl Resolver for Table {
        async fn lookup(&self, host: &str, port: u16) -> Vec<SocketAddr> {
            self.0
                .iter()
                .filter(|(name, _)| *name == host)
                .flat_map(|(_, ips)| {
                    ips.iter()
                        .map(move |ip| SocketAddr::new(ip.parse().unwrap(), port))
                })
                .collect()
        }
    }

    /// A loopback listener that counts the connections it accepts.
    async fn counting_listener() -> (u16, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                drop(socket);
            }
        });
        (port, accepted)
    }

    #[tokio::test]
    async fn private_loopback_and_metadata_receivers_are_refused_before_any_request() {
        let (port, accepted) = counting_listener().await;
        let table = Table(vec![
            ("rebind.example", vec!["93.184.215.14", "10.0.0.7"]),
            ("inside.example", vec!["192.168.0.10"]),
            ("public.example", vec!["93.184.215.14"]),
        ]);
        for url in [
            format!("http://127.0.0.1:{port}/hook"),
            "http://10.0.0.1/hook".to_string(),
            "http://169.254.169.254/latest/meta-data/".to_string(),
            format!("http://[::1]:{port}/hook"),
            format!("http://localhost:{port}/hook"),
            "http://rebind.example/hook".to_string(),
            "http://inside.example/hook".to_string(),
        ] {
            let refused = if url.contains("localhost") {
                check(&url, TEST, &SystemResolver).await
            } else {
                check(&url, TEST, &table).await
            };
            assert!(
                matches!(refused, Err(EgressError::Forbidden { .. })),
                "{url}: {refused:?}"
            );
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 0, "no connection was made");

        // Live mode takes https only; malformed or unresolvable URLs are refused with the reason.
        assert_eq!(
            check("http://public.example/hook", LIVE, &table).await,
            Err(EgressError::NotHttps)
        );
        assert_eq!(
            check("ftp://public.example/", TEST, &table).await,
            Err(EgressError::Url)
        );
        assert_eq!(
            check("not a url", TEST, &table).await,
            Err(EgressError::Url)
        );
        assert_eq!(
            check("https://nowhere.example/", LIVE, &table).await,
            Err(EgressError::Unresolved("nowhere.example".into()))
        );
        let ok = check("https://public.example/hook", LIVE, &table)
            .await
            .unwrap();
        assert_eq!(
            ok.addresses,
            vec!["93.184.215.14:443".parse::<SocketAddr>().unwrap()]
        );
    }

    #[tokio::test]
    async fn the_connection_goes_to_the_checked_address_and_no_redirect_is_followed() {
        // Local development may allow loopback receivers; the client then connects to the
        // checked address whatever the name would resolve to now, and a redirect is an answer,
        // not a hop.
        let server = wiremock::MockServer::start().await;
        wiremock::Mock::given(wiremock::matchers::path("/hook"))
            .respond_with(
                wiremock::ResponseTemplate::new(302).insert_header("location", "http://10.0.0.1/"),
            )
            .mount(&server)
            .await;
        let port = server.address().port();
        let dev = Policy {
            https_only: false,
            allow_loopback: true,
        };
        let table = Table(vec![("receiver.example", vec!["127.0.0.1"])]);
        let checked: Checked = check(&format!("http://receiver.example:{port}/hook"), dev, &table)
            .await
            .unwrap();
        let client = client_for(
            &checked,
            Timeouts {
                connect: Duration::from_secs(2),
                total: Duration::from_secs(5),
            },
        )
        .unwrap();
        let answer = client.post(checked.url.clone()).send().await.unwrap();
        assert_eq!(answer.status().as_u16(), 302);
        assert_eq!(server.received_requests().await.unwrap().len(), 1);
        // Without the setting, the same receiver is refused.
        assert!(matches!(
            check(
                &format!("http://receiver.example:{port}/hook"),
                TEST,
                &table
            )
            .await,
            Err(EgressError::Forbidden { .. })
        ));
    }
}

/// Deliveries as a merchant's server meets them: a local receiver, the platform's own API, the
/// delivery worker and the retry schedule, the clock injected where time must pass.
mod delivery {
    use super::python_verifies;
    use crate::support::{Merchant, TestApp, expect_error, payment, send};
    use chrono::Utc;
    use reqwest::StatusCode;
    use serde_json::{Value, json};
    use shared::clock::ManualClock;
    use shared::merchant_webhooks::signature::{SignedHeaders, SigningSecret, verify};
    use std::collections::HashSet;
    use std::sync::{Arc, Mutex};
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

    /// What one request to the receiver carried.
    #[derive(Debug, Clone)]
    struct Received {
        id: String,
        timestamp: i64,
        signature: String,
        body: Vec<u8>,
    }

    /// How the receiver answers.
    #[derive(Default)]
    struct Behaviour {
        /// Answer 503 to this many requests first.
        fail_first: usize,
        /// Answer this status to everything (410, 500, …).
        always: Option<u16>,
        /// Process the event, then answer 500 to every n-th request (the answer is lost, the
        /// event is sent again).
        lose_every: usize,
    }

    #[derive(Default)]
    struct State {
        behaviour: Behaviour,
        requests: Vec<Received>,
        processed: HashSet<String>,
        duplicates: usize,
    }

    /// A merchant's server that dedupes on `webhook-id`.
    #[derive(Clone, Default)]
    struct Receiver(Arc<Mutex<State>>);

    impl Respond for Receiver {
        fn respond(&self, request: &Request) -> ResponseTemplate {
            let header = |name: &str| {
                request
                    .headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string()
            };
            let mut state = self.0.lock().unwrap();
            let received = Received {
                id: header("webhook-id"),
                timestamp: header("webhook-timestamp").parse().unwrap_or(0),
                signature: header("webhook-signature"),
                body: request.body.clone(),
            };
            let n = state.requests.len() + 1;
            state.requests.push(received.clone());
            if n <= state.behaviour.fail_first {
                return ResponseTemplate::new(503).set_body_string("down for maintenance");
            }
            if let Some(status) = state.behaviour.always {
                return ResponseTemplate::new(status).set_body_string("x".repeat(5000));
            }
            if !state.processed.insert(received.id) {
                state.duplicates += 1;
            }
            if state.behaviour.lose_every > 0 && n.is_multiple_of(state.behaviour.lose_every) {
                return ResponseTemplate::new(500).set_body_string("answer lost");
            }
            ResponseTemplate::new(200).set_body_string("ok")
        }
    }

    impl Receiver {
        async fn start(behaviour: Behaviour) -> (MockServer, Receiver) {
            let server = MockServer::start().await;
            let receiver = Receiver::default();
            receiver.0.lock().unwrap().behaviour = behaviour;
            Mock::given(method("POST"))
                .respond_with(receiver.clone())
                .mount(&server)
                .await;
            (server, receiver)
        }

        fn requests(&self) -> Vec<Received> {
            self.0.lock().unwrap().requests.clone()
        }
    }

    const LOOPBACK: (&str, &str) = ("WEBHOOKS_ALLOW_LOOPBACK", "true");

    async fn call(
        t: &TestApp,
        m: &Merchant,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = t
            .http
            .request(method, t.url(path))
            .header("X-Client-Key", &m.client_key)
            .header("X-Client-Secret", &m.client_secret);
        if let Some(body) = body {
            request = request.json(&body);
        }
        send(request).await
    }

    /// Adds an endpoint; answers its id and secret.
    async fn endpoint(t: &TestApp, m: &Merchant, url: &str, types: &[&str]) -> (String, String) {
        let (status, body) = call(
            t,
            m,
            reqwest::Method::POST,
            "/api/v1/merchant/webhooks",
            Some(json!({ "url": url, "event_types": types, "description": "orders" })),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let secret = body["data"]["secret"].as_str().unwrap().to_string();
        assert!(secret.starts_with("whsec_"), "{body}");
        (
            body["data"]["endpoint"]["id"].as_str().unwrap().to_string(),
            secret,
        )
    }

    async fn merchant(t: &TestApp) -> Merchant {
        let admin = t.admin_token().await;
        t.create_merchant(&admin, "Chai Point").await
    }

    async fn paid(t: &TestApp, m: &Merchant, order: &str) -> String {
        let (status, body) = t.pay(m, &payment(order, 49_900, true), None).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        t.drain().await;
        body["data"]["id"].as_str().unwrap().to_string()
    }

    async fn retry(t: &TestApp) -> Value {
        functions::worker::run_schedule(&t.app, "webhook-retry")
            .await
            .unwrap()
    }

    async fn scalar(t: &TestApp, sql: &str) -> i64 {
        t.db.owner()
            .await
            .query_one(sql, &[])
            .await
            .unwrap()
            .get::<_, i64>(0)
    }

    #[tokio::test]
    async fn every_delivery_verifies_with_the_specifications_library_also_during_a_rotation() {
        let t = TestApp::spawn_with(&[LOOPBACK]).await;
        let m = merchant(&t).await;
        let (server, receiver) = Receiver::start(Behaviour::default()).await;
        let (id, first) = endpoint(&t, &m, &format!("{}/hooks", server.uri()), &[]).await;
        let txn = paid(&t, &m, "order-sig-1").await;

        let before = receiver.requests();
        let types: Vec<String> = before
            .iter()
            .map(|r| {
                serde_json::from_slice::<Value>(&r.body).unwrap()["type"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert!(
            types.contains(&"transaction.created".to_string()),
            "{types:?}"
        );
        assert!(
            types.contains(&"transaction.succeeded".to_string()),
            "{types:?}"
        );
        let secret = SigningSecret::parse(&first).unwrap();
        for r in &before {
            let body = String::from_utf8(r.body.clone()).unwrap();
            python_verifies(&secret, &r.id, r.timestamp, &r.signature, &body).unwrap();
            let event: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(event["id"], r.id.as_str());
            assert_eq!(event["api_version"], "2026-12-01");
            assert_eq!(event["mode"], "test");
            assert_eq!(event["data"]["transaction"]["id"], txn.as_str());
            assert_eq!(event["data"]["transaction"]["amount"], 49_900);
            // The event API answers the very body that was delivered.
            let (status, listed) = t
                .get_with_key(
                    &format!("/api/v1/merchant/events/{}", r.id),
                    &m.client_key,
                    &m.client_secret,
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{listed}");
            assert_eq!(listed["data"], event);
        }

        let (status, rotated) = call(
            &t,
            &m,
            reqwest::Method::POST,
            &format!("/api/v1/merchant/webhooks/{id}/rotate-secret"),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{rotated}");
        let second = SigningSecret::parse(rotated["data"]["secret"].as_str().unwrap()).unwrap();
        assert!(rotated["data"]["endpoint"]["previous_secret_expires_at"].is_string());
        paid(&t, &m, "order-sig-2").await;
        let after = receiver.requests()[before.len()..].to_vec();
        assert!(after.len() >= 2, "{after:?}");
        for r in &after {
            let body = String::from_utf8(r.body.clone()).unwrap();
            // During the grace both secrets verify: a receiver may switch at its own pace.
            python_verifies(&secret, &r.id, r.timestamp, &r.signature, &body).unwrap();
            python_verifies(&second, &r.id, r.timestamp, &r.signature, &body).unwrap();
        }

        let (status, page) = t
            .get_with_key(
                "/api/v1/merchant/events?limit=2&type=transaction.created",
                &m.client_key,
                &m.client_secret,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(page["data"]["items"].as_array().unwrap().len(), 2);
        assert!(
            page["data"]["items"]
                .as_array()
                .unwrap()
                .iter()
                .all(|e| e["type"] == "transaction.created")
        );
    }

    #[tokio::test]
    async fn a_receiver_down_for_four_attempts_gets_the_event_on_the_fifth() {
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let t = TestApp::spawn_with_clock(&[LOOPBACK], clock.clone()).await;
        let m = merchant(&t).await;
        let (server, receiver) = Receiver::start(Behaviour {
            fail_first: 4,
            ..Behaviour::default()
        })
        .await;
        let (id, secret) = endpoint(
            &t,
            &m,
            &format!("{}/hooks", server.uri()),
            &["transaction.created"],
        )
        .await;
        paid(&t, &m, "order-retry-1").await;
        assert_eq!(
            receiver.requests().len(),
            1,
            "the first attempt is made at once"
        );
        // Nothing is due before its wait has passed.
        assert_eq!(retry(&t).await["failed"], 0);
        assert_eq!(receiver.requests().len(), 1);
        for made in 2..=5 {
            // Longer than the longest of the first four waits (2 h + 10 %).
            clock.advance(chrono::Duration::hours(3));
            let ran = retry(&t).await;
            assert_eq!(receiver.requests().len(), made, "{ran}");
        }
        let requests = receiver.requests();
        let ids: HashSet<&str> = requests.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids.len(), 1, "every attempt carries the event's id");
        let secret = SigningSecret::parse(&secret).unwrap();
        for r in &requests {
            let headers = SignedHeaders {
                id: r.id.clone(),
                timestamp: r.timestamp,
                signature: r.signature.clone(),
            };
            verify(&secret, &headers, &r.body, r.timestamp).unwrap();
        }
        clock.advance(chrono::Duration::days(2));
        assert_eq!(
            retry(&t).await["succeeded"],
            0,
            "a delivered event is not sent again"
        );

        let (status, attempts) = t
            .get_with_key(
                &format!("/api/v1/merchant/webhooks/{id}/attempts"),
                &m.client_key,
                &m.client_secret,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{attempts}");
        let items = attempts["data"]["items"].as_array().unwrap();
        let codes: Vec<i64> = items
            .iter()
            .map(|a| a["status_code"].as_i64().unwrap())
            .collect();
        assert_eq!(codes, vec![200, 503, 503, 503, 503], "newest first");
        assert_eq!(items[4]["response_body"], "down for maintenance");
        assert!(items.iter().all(|a| a["latency_ms"].as_i64().unwrap() >= 0));
        let times: Vec<&str> = items
            .iter()
            .map(|a| a["attempted_at"].as_str().unwrap())
            .collect();
        let mut sorted = times.clone();
        sorted.sort_unstable_by(|a, b| b.cmp(a));
        assert_eq!(times, sorted);
        assert_eq!(
            scalar(&t, "SELECT count(*) FROM webhook_deliveries WHERE status = 'succeeded' AND attempts = 5").await,
            1
        );
    }

    #[tokio::test]
    async fn a_thousand_events_reach_a_deduping_receiver_once_each_and_every_attempt_is_recorded() {
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let t = TestApp::spawn_with_clock(
            &[
                LOOPBACK,
                ("DATABASE_POOL_SIZE", "8"),
                ("DATABASE_POOL_TIMEOUT_SECONDS", "30"),
            ],
            clock.clone(),
        )
        .await;
        let m = merchant(&t).await;
        let (server, receiver) = Receiver::start(Behaviour {
            lose_every: 9,
            ..Behaviour::default()
        })
        .await;
        endpoint(&t, &m, &format!("{}/hooks", server.uri()), &[]).await;
        let merchant_id: shared::ids::MerchantId = m.id.parse().unwrap();
        let events: Vec<_> = (0..1000)
            .map(|i| {
                let order = format!("bulk-{i}");
                shared::jobs::outbox::Outgoing::Event(shared::payments::transactions::event(
                    "transaction.succeeded",
                    merchant_id,
                    shared::payments::transactions::EventSubject {
                        id: shared::ids::TransactionId::generate(),
                        order_id: &order,
                        status: shared::payments::status::TransactionStatus::Succeeded,
                        amount: 100 + i,
                        currency: "INR",
                        mode: shared::mode::Mode::Test,
                        failure_reason: None,
                        confirmed_after_expiry: false,
                    },
                ))
            })
            .collect();
        {
            let mut client = t.app.db.client().await.unwrap();
            let tx = shared::db::begin(&mut client, shared::db::Scope::System)
                .await
                .unwrap();
            shared::jobs::outbox::write(&tx, t.app.delivery, &events)
                .await
                .unwrap();
            tx.commit().await.unwrap();
        }
        functions::worker::drain(&t.app, 200).await;
        for _ in 0..10 {
            clock.advance(chrono::Duration::hours(3));
            let ran = retry(&t).await;
            if ran["failed"] == 0 && ran["succeeded"] == 0 {
                break;
            }
        }
        let (processed, duplicates, requests) = {
            let state = receiver.0.lock().unwrap();
            (
                state.processed.len(),
                state.duplicates,
                state.requests.len(),
            )
        };
        assert_eq!(processed, 1000, "every event arrived");
        assert!(duplicates > 0, "lost answers made the platform send again");
        assert_eq!(
            processed + duplicates,
            requests,
            "each request either processed an event or was a duplicate the receiver dropped"
        );
        let requests = requests as i64;
        assert_eq!(
            scalar(&t, "SELECT count(*) FROM webhook_attempts").await,
            requests
        );
        assert_eq!(
            scalar(
                &t,
                "SELECT count(*) FROM webhook_deliveries WHERE status = 'succeeded'"
            )
            .await,
            1000
        );
        assert_eq!(
            scalar(&t, "SELECT count(*) FROM merchant_events").await,
            1000
        );
    }

    /// A Slack incoming webhook for the merchant's contacts.
    async fn slack_contact(t: &TestApp, m: &Merchant) -> MockServer {
        let slack = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
            .mount(&slack)
            .await;
        let (status, body) = call(
            t,
            m,
            reqwest::Method::POST,
            "/api/v1/merchant/notification-recipients",
            Some(json!({ "channel": "slack", "address": format!("{}/services/T000/B000/fake", slack.uri()) })),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        slack
    }

    async fn slack_texts(t: &TestApp, slack: &MockServer) -> Vec<String> {
        t.drain().await;
        slack
            .received_requests()
            .await
            .unwrap()
            .iter()
            .map(|r| {
                serde_json::from_slice::<Value>(&r.body).unwrap()["text"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect()
    }

    #[tokio::test]
    async fn gone_disables_at_once_and_five_days_of_failure_disable_and_tell_the_merchant() {
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let t = TestApp::spawn_with_clock(
            &[LOOPBACK, ("SLACK_ALLOW_LOCAL_WEBHOOKS", "on")],
            clock.clone(),
        )
        .await;
        let m = merchant(&t).await;
        let slack = slack_contact(&t, &m).await;
        let (gone_server, gone) = Receiver::start(Behaviour {
            always: Some(410),
            ..Behaviour::default()
        })
        .await;
        let (failing_server, failing) = Receiver::start(Behaviour {
            always: Some(500),
            ..Behaviour::default()
        })
        .await;
        let (gone_id, _) = endpoint(
            &t,
            &m,
            &format!("{}/hooks", gone_server.uri()),
            &["transaction.created"],
        )
        .await;
        let (failing_id, _) = endpoint(
            &t,
            &m,
            &format!("{}/hooks", failing_server.uri()),
            &["transaction.created"],
        )
        .await;

        paid(&t, &m, "order-gone-1").await;
        let (_, view) = t
            .get_with_key(
                &format!("/api/v1/merchant/webhooks/{gone_id}"),
                &m.client_key,
                &m.client_secret,
            )
            .await;
        assert_eq!(view["data"]["enabled"], false, "{view}");
        assert_eq!(view["data"]["disabled_reason"], "gone");
        assert_eq!(gone.requests().len(), 1);
        let (_, still) = t
            .get_with_key(
                &format!("/api/v1/merchant/webhooks/{failing_id}"),
                &m.client_key,
                &m.client_secret,
            )
            .await;
        assert_eq!(
            still["data"]["enabled"], true,
            "one failure disables nothing"
        );
        // The answer's first KB is kept, no more.
        assert_eq!(
            scalar(
                &t,
                "SELECT max(octet_length(response_body))::bigint FROM webhook_attempts"
            )
            .await,
            1024
        );
        let texts = slack_texts(&t, &slack).await;
        assert_eq!(texts.len(), 1, "{texts:?}");
        assert!(
            texts[0].contains(&gone_id) && texts[0].contains("410"),
            "{texts:?}"
        );

        // Later events go nowhere near a disabled endpoint.
        paid(&t, &m, "order-gone-2").await;
        assert_eq!(gone.requests().len(), 1);

        // Days of failure: every attempt fails, and five days after the first the endpoint stops.
        for _ in 0..4 {
            clock.advance(chrono::Duration::days(1));
            retry(&t).await;
        }
        let (_, four_days) = t
            .get_with_key(
                &format!("/api/v1/merchant/webhooks/{failing_id}"),
                &m.client_key,
                &m.client_secret,
            )
            .await;
        assert_eq!(four_days["data"]["enabled"], true, "{four_days}");
        assert!(four_days["data"]["failing_since"].is_string());
        clock.advance(chrono::Duration::days(1) + chrono::Duration::minutes(1));
        paid(&t, &m, "order-failing-late").await;
        retry(&t).await;
        let (_, five_days) = t
            .get_with_key(
                &format!("/api/v1/merchant/webhooks/{failing_id}"),
                &m.client_key,
                &m.client_secret,
            )
            .await;
        assert_eq!(five_days["data"]["enabled"], false, "{five_days}");
        assert_eq!(five_days["data"]["disabled_reason"], "failing");
        let sent = failing.requests().len();
        assert!(sent >= 3, "{sent}");
        assert_eq!(
            scalar(
                &t,
                "SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'"
            )
            .await,
            0,
            "a disabled endpoint's deliveries are given up (and can be replayed)"
        );
        let texts = slack_texts(&t, &slack).await;
        assert_eq!(texts.len(), 2, "{texts:?}");
        assert!(texts[1].contains(&failing_id), "{texts:?}");
        assert_eq!(
            scalar(&t, "SELECT count(*) FROM alerts WHERE kind = 'webhook_endpoint_disabled' AND status = 'open'").await,
            2
        );

        // Enabled again, the alert resolves itself and a replay sends what failed.
        let (status, enabled) = call(
            &t,
            &m,
            reqwest::Method::PATCH,
            &format!("/api/v1/merchant/webhooks/{failing_id}"),
            Some(json!({ "enabled": true })),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{enabled}");
        assert_eq!(enabled["data"]["failing_since"], Value::Null);
        assert_eq!(
            scalar(&t, "SELECT count(*) FROM alerts WHERE kind = 'webhook_endpoint_disabled' AND status = 'open'").await,
            1
        );
        failing.0.lock().unwrap().behaviour.always = None;
        let since =
            (shared::clock::Clock::now(clock.as_ref()) - chrono::Duration::days(30)).to_rfc3339();
        let (status, replayed) = call(
            &t,
            &m,
            reqwest::Method::POST,
            &format!("/api/v1/merchant/webhooks/{failing_id}/replay"),
            Some(json!({ "since": since })),
        )
        .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{replayed}");
        assert_eq!(
            replayed["data"]["scheduled"], 3,
            "the three payments' created events"
        );
        let before = failing.0.lock().unwrap().processed.len();
        t.drain().await;
        assert_eq!(failing.0.lock().unwrap().processed.len(), before + 3);
    }

    #[tokio::test]
    async fn private_and_metadata_addresses_are_refused_without_a_request() {
        // Loopback not allowed here: a production configuration.
        let t = TestApp::spawn().await;
        let m = merchant(&t).await;
        let (server, receiver) = Receiver::start(Behaviour::default()).await;
        let port = server.address().port();
        for url in [
            format!("http://127.0.0.1:{port}/hooks"),
            "http://10.0.0.1/hooks".to_string(),
            "http://169.254.169.254/latest/meta-data/".to_string(),
            format!("http://[::1]:{port}/hooks"),
            format!("http://localhost:{port}/hooks"),
            "ftp://example.com/hooks".to_string(),
        ] {
            let (status, body) = call(
                &t,
                &m,
                reqwest::Method::POST,
                "/api/v1/merchant/webhooks",
                Some(json!({ "url": url })),
            )
            .await;
            let details = expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
            assert!(details["url"].is_string(), "{url}: {body}");
        }
        assert!(receiver.requests().is_empty());
        assert_eq!(
            scalar(&t, "SELECT count(*) FROM webhook_endpoints").await,
            0
        );
    }

    #[tokio::test]
    async fn the_test_route_answers_the_attempt_and_every_route_refuses_bad_input() {
        let t = TestApp::spawn_with(&[LOOPBACK]).await;
        let m = merchant(&t).await;
        let other = merchant(&t).await;
        let (server, receiver) = Receiver::start(Behaviour::default()).await;
        let (id, secret) = endpoint(&t, &m, &format!("{}/hooks", server.uri()), &[]).await;

        let (status, tested) = call(
            &t,
            &m,
            reqwest::Method::POST,
            "/api/v1/merchant/webhooks/test",
            Some(json!({ "endpoint_id": id })),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{tested}");
        assert_eq!(tested["data"]["attempt"]["succeeded"], true);
        assert_eq!(tested["data"]["attempt"]["status_code"], 200);
        assert_eq!(tested["data"]["attempt"]["response_body"], "ok");
        let r = &receiver.requests()[0];
        let body = String::from_utf8(r.body.clone()).unwrap();
        python_verifies(
            &SigningSecret::parse(&secret).unwrap(),
            &r.id,
            r.timestamp,
            &r.signature,
            &body,
        )
        .unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap()["type"],
            "webhook.test"
        );

        let post = reqwest::Method::POST;
        let bad: Vec<(reqwest::Method, String, Option<Value>, StatusCode, &str)> = vec![
            (
                post.clone(),
                "/api/v1/merchant/webhooks".into(),
                Some(json!({ "url": "https://example.com/x", "event_types": ["payment.done"] })),
                StatusCode::BAD_REQUEST,
                "event_types[0]",
            ),
            (
                post.clone(),
                "/api/v1/merchant/webhooks".into(),
                Some(json!({ "url": "https://example.com/x", "description": "x".repeat(501) })),
                StatusCode::BAD_REQUEST,
                "description",
            ),
            (
                post.clone(),
                "/api/v1/merchant/webhooks".into(),
                Some(json!({ "url": "https://example.com/x", "secret": "mine" })),
                StatusCode::BAD_REQUEST,
                "",
            ),
            (
                post.clone(),
                "/api/v1/merchant/webhooks".into(),
                Some(json!({})),
                StatusCode::BAD_REQUEST,
                "",
            ),
            (
                post.clone(),
                "/api/v1/merchant/webhooks/test".into(),
                Some(json!({ "endpoint_id": "nope" })),
                StatusCode::BAD_REQUEST,
                "",
            ),
            (
                reqwest::Method::GET,
                "/api/v1/merchant/webhooks/ep_1".into(),
                None,
                StatusCode::BAD_REQUEST,
                "id",
            ),
            (
                reqwest::Method::PATCH,
                format!("/api/v1/merchant/webhooks/{id}"),
                Some(json!({ "url": "http://10.1.2.3/" })),
                StatusCode::BAD_REQUEST,
                "url",
            ),
            (
                post.clone(),
                format!("/api/v1/merchant/webhooks/{id}/replay"),
                Some(json!({})),
                StatusCode::BAD_REQUEST,
                "event_id",
            ),
            (
                post.clone(),
                format!("/api/v1/merchant/webhooks/{id}/replay"),
                Some(
                    json!({ "event_id": "evt_0196f0c2a1b27c3d8e9f0a1b2c3d4e60", "since": "2026-01-01T00:00:00Z" }),
                ),
                StatusCode::BAD_REQUEST,
                "event_id",
            ),
            (
                post.clone(),
                format!("/api/v1/merchant/webhooks/{id}/replay"),
                Some(json!({ "since": "yesterday" })),
                StatusCode::BAD_REQUEST,
                "",
            ),
            (
                post.clone(),
                format!("/api/v1/merchant/webhooks/{id}/replay"),
                Some(json!({ "event_id": "evt_0196f0c2a1b27c3d8e9f0a1b2c3d4e60" })),
                StatusCode::NOT_FOUND,
                "",
            ),
            (
                reqwest::Method::GET,
                format!("/api/v1/merchant/webhooks/{id}/attempts?limit=0"),
                None,
                StatusCode::BAD_REQUEST,
                "limit",
            ),
            (
                reqwest::Method::GET,
                "/api/v1/merchant/events?type=payment.done".into(),
                None,
                StatusCode::BAD_REQUEST,
                "type",
            ),
            (
                reqwest::Method::GET,
                "/api/v1/merchant/events/txn_0196f0c2a1b27c3d8e9f0a1b2c3d4e60".into(),
                None,
                StatusCode::BAD_REQUEST,
                "id",
            ),
            (
                reqwest::Method::GET,
                "/api/v1/merchant/events/evt_0196f0c2a1b27c3d8e9f0a1b2c3d4e60".into(),
                None,
                StatusCode::NOT_FOUND,
                "",
            ),
        ];
        for (method, path, body, want, field) in bad {
            let (status, answer) = call(&t, &m, method.clone(), &path, body).await;
            assert_eq!(status, want, "{method} {path}: {answer}");
            assert_eq!(answer["success"], false, "{answer}");
            if !field.is_empty() {
                assert!(
                    answer["error"]["details"][field].is_string(),
                    "{method} {path}: {answer}"
                );
            }
        }
        // Another merchant sees nothing of this one's endpoint.
        for (method, path) in [
            (
                reqwest::Method::GET,
                format!("/api/v1/merchant/webhooks/{id}"),
            ),
            (
                reqwest::Method::DELETE,
                format!("/api/v1/merchant/webhooks/{id}"),
            ),
            (
                reqwest::Method::POST,
                format!("/api/v1/merchant/webhooks/{id}/rotate-secret"),
            ),
        ] {
            let (status, answer) = call(&t, &other, method, &path, None).await;
            expect_error(status, &answer, StatusCode::NOT_FOUND, "NOT_FOUND");
        }

        // Operators list and disable; merchants cannot use the operators' routes, nor operators
        // the merchants'.
        let admin = t.admin_token().await;
        let (status, all) = t
            .get(
                &format!("/api/v1/admin/webhooks?merchant_id={}", m.id),
                Some(&admin),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{all}");
        assert_eq!(all["data"].as_array().unwrap().len(), 1);
        let (status, answer) = t
            .get("/api/v1/admin/webhooks?merchant_id=bogus", Some(&admin))
            .await;
        expect_error(status, &answer, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        let (status, answer) = t.get("/api/v1/merchant/webhooks", Some(&admin)).await;
        expect_error(status, &answer, StatusCode::FORBIDDEN, "FORBIDDEN");
        let (status, answer) =
            call(&t, &m, reqwest::Method::GET, "/api/v1/admin/webhooks", None).await;
        assert!(
            status == StatusCode::FORBIDDEN || status == StatusCode::UNAUTHORIZED,
            "{answer}"
        );
        let (status, disabled) = t
            .post_json(
                &format!("/api/v1/admin/webhooks/{id}/disable"),
                Some(&admin),
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{disabled}");
        assert_eq!(disabled["data"]["disabled_reason"], "operator");
        let (status, again) = t
            .post_json(
                &format!("/api/v1/admin/webhooks/{id}/disable"),
                Some(&admin),
                json!({}),
            )
            .await;
        expect_error(status, &again, StatusCode::CONFLICT, "CONFLICT");
        let (status, answer) = call(
            &t,
            &m,
            reqwest::Method::POST,
            "/api/v1/merchant/webhooks/test",
            Some(json!({ "endpoint_id": id })),
        )
        .await;
        expect_error(status, &answer, StatusCode::CONFLICT, "CONFLICT");
        assert_eq!(
            scalar(
                &t,
                "SELECT count(*) FROM audit_log WHERE action = 'webhook_endpoint.disabled'"
            )
            .await,
            1
        );

        // Deleted, it is gone from the merchant's list but its attempts stay on record.
        let (status, _) = call(
            &t,
            &m,
            reqwest::Method::DELETE,
            &format!("/api/v1/merchant/webhooks/{id}"),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let (_, list) = call(
            &t,
            &m,
            reqwest::Method::GET,
            "/api/v1/merchant/webhooks",
            None,
        )
        .await;
        assert_eq!(list["data"].as_array().unwrap().len(), 0, "{list}");
        assert_eq!(scalar(&t, "SELECT count(*) FROM webhook_attempts").await, 1);
    }

    #[tokio::test]
    async fn binary_answers_and_impossible_status_codes_are_recorded_not_retried_for_ever() {
        let t = TestApp::spawn_with(&[LOOPBACK]).await;
        let m = merchant(&t).await;
        let binary = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_bytes(b"ok\0\xff\xfe".to_vec()))
            .mount(&binary)
            .await;
        let odd = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(799))
            .mount(&odd)
            .await;
        endpoint(
            &t,
            &m,
            &format!("{}/hooks", binary.uri()),
            &["transaction.created"],
        )
        .await;
        endpoint(
            &t,
            &m,
            &format!("{}/hooks", odd.uri()),
            &["transaction.created"],
        )
        .await;
        paid(&t, &m, "order-odd-1").await;
        assert_eq!(
            scalar(
                &t,
                "SELECT count(*) FROM webhook_deliveries WHERE status = 'succeeded'"
            )
            .await,
            1
        );
        assert_eq!(
            scalar(
                &t,
                "SELECT count(*) FROM webhook_attempts WHERE response_body = 'ok\u{FFFD}\u{FFFD}\u{FFFD}'"
            )
            .await,
            1,
            "the NUL and the bytes that are not UTF-8 are kept readable"
        );
        assert_eq!(
            scalar(
                &t,
                "SELECT count(*) FROM webhook_attempts WHERE status_code IS NULL AND error = 'answered the invalid status 799'"
            )
            .await,
            1
        );
        assert_eq!(
            scalar(
                &t,
                "SELECT count(*) FROM webhook_deliveries WHERE status = 'pending' AND attempts = 1"
            )
            .await,
            1,
            "the odd answer is a failure on the schedule like any other"
        );
    }
}
