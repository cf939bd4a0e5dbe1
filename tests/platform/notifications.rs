//! WhatsApp and Slack notifications: recipients and their preferences, the senders against local
//! mock servers that answer as the WhatsApp Cloud API and Slack do, retries with the clock
//! injected, per-recipient spacing, and WhatsApp's signed status webhooks.

use crate::support::{TestApp, expect_error, send};
use chrono::Utc;
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::clock::ManualClock;
use shared::db::{self, Scope};
use shared::gateways::signature::hmac_sha256_hex;
use shared::ids::MerchantId;
use shared::notifications::{self, Audience, Notice, Severity};
use std::sync::Arc;
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const PHONE_NUMBER_ID: &str = "100000000000001";
const ACCESS_TOKEN: &str = "wa-test-token-not-real";
const APP_SECRET: &str = "app-secret-for-tests";
const VERIFY_TOKEN: &str = "verify-token-for-tests";
const BOT_TOKEN: &str = "xoxb-test-not-a-token";

/// A `whatsapp_queue` row: to, status, wamid, attempts, last error.
type QueueRow = (String, String, Option<String>, i32, Option<String>);

struct Fixture {
    app: TestApp,
    clock: Arc<ManualClock>,
    whatsapp: MockServer,
    slack: MockServer,
    admin: String,
}

async fn fixture() -> Fixture {
    let whatsapp = MockServer::start().await;
    let slack = MockServer::start().await;
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let app = TestApp::spawn_with_clock(
        &[
            ("WHATSAPP_API_BASE", &whatsapp.uri()),
            ("WHATSAPP_API_VERSION", "v21.0"),
            ("WHATSAPP_PHONE_NUMBER_ID", PHONE_NUMBER_ID),
            ("WHATSAPP_ACCESS_TOKEN", ACCESS_TOKEN),
            ("WHATSAPP_APP_SECRET", APP_SECRET),
            ("WHATSAPP_VERIFY_TOKEN", VERIFY_TOKEN),
            ("WHATSAPP_RECIPIENT_INTERVAL_SECONDS", "6"),
            ("SLACK_API_BASE", &slack.uri()),
            ("SLACK_BOT_TOKEN", BOT_TOKEN),
            ("SLACK_RECIPIENT_INTERVAL_SECONDS", "1"),
            // The mock Slack webhook listens on loopback over plain http.
            ("SLACK_ALLOW_LOCAL_WEBHOOKS", "on"),
            ("NOTIFY_RETRY_BASE_SECONDS", "30"),
            ("NOTIFY_MAX_ATTEMPTS", "3"),
            ("PUBLIC_RATE_LIMIT_PER_MINUTE", "100000"),
        ],
        clock.clone(),
    )
    .await;
    let admin = app.admin_token().await;
    Fixture {
        app,
        clock,
        whatsapp,
        slack,
        admin,
    }
}

/// WhatsApp's answer to an accepted message.
fn accepted(wamid: &str, to: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "messaging_product": "whatsapp",
        "contacts": [{ "input": to, "wa_id": to.trim_start_matches('+') }],
        "messages": [{ "id": wamid, "message_status": "accepted" }],
    }))
}

/// WhatsApp's error shape.
fn graph_error(status: u16, code: i64, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "error": { "message": message, "type": "OAuthException", "code": code,
                   "error_data": { "messaging_product": "whatsapp", "details": message },
                   "fbtrace_id": "AbCdEfGhIjK" }
    }))
}

/// Answers every send to `to` as accepted, with a wamid naming the request's order.
async fn accept_all(server: &MockServer, priority: u8) {
    Mock::given(method("POST"))
        .and(path(format!("/v21.0/{PHONE_NUMBER_ID}/messages")))
        .respond_with(|request: &Request| {
            let body: Value = serde_json::from_slice(&request.body).unwrap();
            let to = body["to"].as_str().unwrap_or_default().to_string();
            accepted(&format!("wamid.{}", uuid::Uuid::new_v4().simple()), &to)
        })
        .with_priority(priority)
        .mount(server)
        .await;
}

impl Fixture {
    async fn notify(&self, audience: Audience, kind: &str, severity: Severity) -> usize {
        let notice = Notice {
            kind: kind.into(),
            severity,
            title: "Gateway razorpay is failing".into(),
            body: "5 of the last 10 orders failed.\nPayments move to the next account.".into(),
        };
        let app = &self.app.app;
        let mut client = app.db.client().await.unwrap();
        let tx = db::begin(&mut client, Scope::System).await.unwrap();
        let before = self.queued(&tx).await;
        let ids = notifications::notify(&tx, app, audience, &notice)
            .await
            .unwrap();
        let after = self.queued(&tx).await;
        tx.commit().await.unwrap();
        app.publish(&ids).await;
        (after - before) as usize
    }

    async fn queued(&self, tx: &db::Transaction<'_>) -> i64 {
        tx.query_one(
            "SELECT (SELECT count(*) FROM whatsapp_queue) + (SELECT count(*) FROM slack_queue)",
            &[],
        )
        .await
        .unwrap()
        .get(0)
    }

    async fn add(&self, prefix: &str, token: &str, body: Value) -> Value {
        let (status, answer) = self
            .app
            .post_json(
                &format!("/api/v1/{prefix}/notification-recipients"),
                Some(token),
                body,
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        answer["data"].clone()
    }

    /// Advances the clock, runs the retry schedule and the workers.
    async fn later(&self, seconds: i64) {
        self.clock.advance(chrono::Duration::seconds(seconds));
        functions::worker::run_schedule(&self.app.app, "notification-retry")
            .await
            .unwrap();
        self.app.drain().await;
    }

    async fn whatsapp_rows(&self) -> Vec<QueueRow> {
        self.app
            .db
            .owner()
            .await
            .query(
                "SELECT \"to\", status, wamid, attempts, last_error FROM whatsapp_queue ORDER BY created_at, id",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
            .collect()
    }

    async fn sends_to(&self, to: &str) -> Vec<Value> {
        self.whatsapp
            .received_requests()
            .await
            .unwrap()
            .iter()
            .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap())
            .filter(|b| b["to"] == to)
            .collect()
    }

    async fn status_webhook(&self, body: &str, signature: Option<String>) -> (StatusCode, Value) {
        let mut request = self
            .app
            .http
            .post(self.app.url("/api/v1/whatsapp/webhook"))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(signature) = signature {
            request = request.header("x-hub-signature-256", signature);
        }
        send(request).await
    }
}

fn merchant_id(m: &crate::support::Merchant) -> MerchantId {
    m.id.parse().unwrap()
}

#[tokio::test]
async fn notify_reaches_only_matching_recipients_with_the_template_and_bearer_token() {
    let f = fixture().await;
    accept_all(&f.whatsapp, 5).await;
    let shop = f.app.create_merchant(&f.admin, "Chai Point").await;
    let other = f.app.create_merchant(&f.admin, "Other Shop").await;
    let token = shop.token(&f.app).await;
    let other_token = other.token(&f.app).await;
    // Hears everything.
    f.add(
        "merchant",
        &token,
        json!({ "channel": "whatsapp", "address": "+919800000001" }),
    )
    .await;
    // Wants another kind only.
    f.add("merchant", &token, json!({ "channel": "whatsapp", "address": "+919800000002", "kinds": ["webhook_endpoint.disabled"] })).await;
    // Wants this kind, but only when critical.
    f.add("merchant", &token, json!({ "channel": "whatsapp", "address": "+919800000003", "kinds": ["alert.gateway_breaker_open"], "min_severity": "critical" })).await;
    // Switched off.
    f.add(
        "merchant",
        &token,
        json!({ "channel": "whatsapp", "address": "+919800000004", "enabled": false }),
    )
    .await;
    // Listed kind and enough severity.
    f.add("merchant", &token, json!({ "channel": "whatsapp", "address": "+919800000005", "kinds": ["alert.gateway_breaker_open"], "min_severity": "warning" })).await;
    // Another merchant, and the operators.
    f.add(
        "merchant",
        &other_token,
        json!({ "channel": "whatsapp", "address": "+919800000006" }),
    )
    .await;
    f.add(
        "admin",
        &f.admin,
        json!({ "channel": "whatsapp", "address": "+919800000007", "label": "On call" }),
    )
    .await;

    let queued = f
        .notify(
            Audience::Merchant(merchant_id(&shop)),
            "alert.gateway_breaker_open",
            Severity::Warning,
        )
        .await;
    assert_eq!(queued, 2);
    f.app.drain().await;
    let requests = f.whatsapp.received_requests().await.unwrap();
    let mut to: Vec<String> = requests
        .iter()
        .map(|r| {
            serde_json::from_slice::<Value>(&r.body).unwrap()["to"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    to.sort();
    assert_eq!(to, ["+919800000001", "+919800000005"]);

    // The request is a template message, as the Cloud API takes it.
    let request = &requests[0];
    assert_eq!(
        request.url.path(),
        format!("/v21.0/{PHONE_NUMBER_ID}/messages")
    );
    assert_eq!(
        request
            .headers
            .get("authorization")
            .unwrap()
            .to_str()
            .unwrap(),
        format!("Bearer {ACCESS_TOKEN}")
    );
    let body: Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(
        body,
        json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": body["to"],
            "type": "template",
            "template": {
                "name": "lightspeedpay_notice",
                "language": { "code": "en" },
                "components": [{ "type": "body", "parameters": [
                    { "type": "text", "text": "[WARNING] Gateway razorpay is failing" },
                    { "type": "text", "text": "5 of the last 10 orders failed. Payments move to the next account." },
                ]}],
            },
        })
    );
    let rows = f.whatsapp_rows().await;
    assert_eq!(rows.len(), 2);
    for (_, status, wamid, attempts, _) in &rows {
        assert_eq!(status, "sent");
        assert!(wamid.as_deref().unwrap().starts_with("wamid."));
        assert_eq!(*attempts, 1);
    }

    // A critical notice reaches the critical-only recipient too; the operators hear only theirs.
    let queued = f
        .notify(
            Audience::Merchant(merchant_id(&shop)),
            "alert.gateway_breaker_open",
            Severity::Critical,
        )
        .await;
    assert_eq!(queued, 3);
    let queued = f
        .notify(Audience::Operators, "alert.queue_backlog", Severity::Info)
        .await;
    assert_eq!(queued, 1);
    f.later(10).await;
    assert_eq!(f.sends_to("+919800000003").await.len(), 1);
    assert_eq!(f.sends_to("+919800000007").await.len(), 1);
    assert!(f.sends_to("+919800000002").await.is_empty());
    assert!(f.sends_to("+919800000004").await.is_empty());
    assert!(f.sends_to("+919800000006").await.is_empty());
}

#[tokio::test]
async fn retryable_errors_are_retried_later_and_permanent_ones_fail_at_once() {
    let f = fixture().await;
    let flaky = "+919811111111";
    let invalid = "+919822222222";
    let down = "+919833333333";
    // The flaky number: the pair rate limit first, then a server error, then accepted.
    Mock::given(body_partial_json(json!({ "to": flaky })))
        .respond_with(graph_error(
            400,
            131056,
            "(#131056) (Business Account, Consumer Account) pair rate limit hit",
        ))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&f.whatsapp)
        .await;
    Mock::given(body_partial_json(json!({ "to": flaky })))
        .respond_with(ResponseTemplate::new(503).set_body_string("Service Unavailable"))
        .up_to_n_times(1)
        .with_priority(2)
        .mount(&f.whatsapp)
        .await;
    // Not a WhatsApp user: permanent.
    Mock::given(body_partial_json(json!({ "to": invalid })))
        .respond_with(graph_error(400, 131026, "Message undeliverable"))
        .with_priority(1)
        .mount(&f.whatsapp)
        .await;
    // Always throttled: given up after NOTIFY_MAX_ATTEMPTS.
    Mock::given(body_partial_json(json!({ "to": down })))
        .respond_with(graph_error(429, 80007, "Rate limit hit").insert_header("retry-after", "45"))
        .with_priority(1)
        .mount(&f.whatsapp)
        .await;
    accept_all(&f.whatsapp, 10).await;
    for address in [flaky, invalid, down] {
        f.add(
            "admin",
            &f.admin,
            json!({ "channel": "whatsapp", "address": address }),
        )
        .await;
    }
    assert_eq!(
        f.notify(
            Audience::Operators,
            "alert.dead_letters",
            Severity::Critical
        )
        .await,
        3
    );
    f.app.drain().await;

    let row = |rows: &[QueueRow], to: &str| rows.iter().find(|r| r.0 == to).cloned().unwrap();
    let rows = f.whatsapp_rows().await;
    let (_, status, _, attempts, error) = row(&rows, flaky);
    assert_eq!((status.as_str(), attempts), ("queued", 1));
    assert!(error.unwrap().contains("131056"));
    let (_, status, _, attempts, error) = row(&rows, invalid);
    assert_eq!((status.as_str(), attempts), ("failed", 1));
    assert!(error.unwrap().contains("131026"));

    // Not due yet: the schedule hands nothing over.
    f.later(10).await;
    assert_eq!(f.sends_to(flaky).await.len(), 1);
    // 30 s after the first attempt: the 503.
    f.later(21).await;
    assert_eq!(f.sends_to(flaky).await.len(), 2);
    let (_, status, _, attempts, _) = row(&f.whatsapp_rows().await, flaky);
    assert_eq!((status.as_str(), attempts), ("queued", 2));
    // The second wait doubles to 60 s.
    f.later(59).await;
    assert_eq!(f.sends_to(flaky).await.len(), 2);
    f.later(2).await;
    let (_, status, wamid, attempts, error) = row(&f.whatsapp_rows().await, flaky);
    assert_eq!((status.as_str(), attempts), ("sent", 3));
    assert!(wamid.is_some() && error.is_none());
    assert_eq!(f.sends_to(flaky).await.len(), 3);

    // The permanent failure was never tried again; the throttled number gave up after 3.
    f.later(3600).await;
    f.later(3600).await;
    assert_eq!(f.sends_to(invalid).await.len(), 1);
    let (_, status, _, attempts, error) = row(&f.whatsapp_rows().await, down);
    assert_eq!((status.as_str(), attempts), ("failed", 3), "{error:?}");
    assert!(error.unwrap().contains("gave up after 3 attempts"));
    assert_eq!(f.sends_to(down).await.len(), 3);
}

#[tokio::test]
async fn messages_to_one_recipient_are_spaced_and_none_is_dropped() {
    let f = fixture().await;
    accept_all(&f.whatsapp, 5).await;
    let to = "+919844444444";
    f.add(
        "admin",
        &f.admin,
        json!({ "channel": "whatsapp", "address": to }),
    )
    .await;
    f.add(
        "admin",
        &f.admin,
        json!({ "channel": "whatsapp", "address": "+919855555555" }),
    )
    .await;
    for _ in 0..3 {
        f.notify(Audience::Operators, "alert.queue_age", Severity::Warning)
            .await;
    }
    f.app.drain().await;
    // One message per number went at once; the rest wait for the 6 s interval.
    assert_eq!(f.sends_to(to).await.len(), 1);
    assert_eq!(f.sends_to("+919855555555").await.len(), 1);
    f.later(3).await;
    assert_eq!(f.sends_to(to).await.len(), 1);
    f.later(3).await;
    assert_eq!(f.sends_to(to).await.len(), 2);
    assert_eq!(f.sends_to("+919855555555").await.len(), 2);
    f.later(6).await;
    assert_eq!(f.sends_to(to).await.len(), 3);
    let rows = f.whatsapp_rows().await;
    assert!(rows.iter().all(|r| r.1 == "sent"), "{rows:?}");
    let times: Vec<chrono::DateTime<Utc>> = f
        .app
        .db
        .owner()
        .await
        .query(
            "SELECT last_attempt_at FROM whatsapp_queue WHERE \"to\" = $1 ORDER BY last_attempt_at",
            &[&to],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    for pair in times.windows(2) {
        assert!(
            pair[1] - pair[0] >= chrono::Duration::seconds(6),
            "{times:?}"
        );
    }
}

fn statuses(wamid: &str, status: &str) -> String {
    json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "100000000000000", "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "15550000000", "phone_number_id": PHONE_NUMBER_ID },
            "statuses": [{ "id": wamid, "status": status, "timestamp": "1795946400", "recipient_id": "919866666666" }],
        }}]}],
    })
    .to_string()
}

fn signed(body: &str) -> Option<String> {
    Some(format!(
        "sha256={}",
        hmac_sha256_hex(APP_SECRET.as_bytes(), body.as_bytes())
    ))
}

#[tokio::test]
async fn status_webhooks_move_messages_forward_only_with_a_good_signature() {
    let f = fixture().await;
    accept_all(&f.whatsapp, 5).await;
    f.add(
        "admin",
        &f.admin,
        json!({ "channel": "whatsapp", "address": "+919866666666" }),
    )
    .await;
    f.notify(
        Audience::Operators,
        "alert.amount_mismatch",
        Severity::Critical,
    )
    .await;
    f.app.drain().await;
    let (_, status, wamid, _, _) = f.whatsapp_rows().await.remove(0);
    assert_eq!(status, "sent");
    let wamid = wamid.unwrap();
    let current = || async { f.whatsapp_rows().await.remove(0).1 };

    // Missing, wrong and not-quite-right signatures: 401 and nothing changes.
    let body = statuses(&wamid, "delivered");
    let (code, answer) = f.status_webhook(&body, None).await;
    expect_error(code, &answer, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    let wrong = Some(format!(
        "sha256={}",
        hmac_sha256_hex(b"another-secret", body.as_bytes())
    ));
    let (code, _) = f.status_webhook(&body, wrong).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    let (code, _) = f
        .status_webhook(
            &body,
            Some(hmac_sha256_hex(APP_SECRET.as_bytes(), body.as_bytes())),
        )
        .await;
    assert_eq!(code, StatusCode::UNAUTHORIZED, "without the sha256= prefix");
    let (code, _) = f
        .status_webhook(&statuses(&wamid, "read"), signed(&body))
        .await;
    assert_eq!(
        code,
        StatusCode::UNAUTHORIZED,
        "a signature of another body"
    );
    assert_eq!(current().await, "sent");

    // Signed: sent → delivered → read.
    let (code, answer) = f.status_webhook(&body, signed(&body)).await;
    assert_eq!(code, StatusCode::OK, "{answer}");
    assert_eq!(answer["data"]["updated"], 1);
    assert_eq!(current().await, "delivered");
    let read = statuses(&wamid, "read");
    let (code, _) = f.status_webhook(&read, signed(&read)).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(current().await, "read");
    // A late delivered (and a failure) never moves it back.
    let (code, answer) = f.status_webhook(&body, signed(&body)).await;
    assert_eq!(
        (code, answer["data"]["updated"].clone()),
        (StatusCode::OK, json!(0))
    );
    let failed = statuses(&wamid, "failed");
    f.status_webhook(&failed, signed(&failed)).await;
    assert_eq!(current().await, "read");
    // Unknown messages are ignored; a signed body that is not a notification is refused.
    let unknown = statuses("wamid.UNKNOWN", "delivered");
    let (code, answer) = f.status_webhook(&unknown, signed(&unknown)).await;
    assert_eq!(
        (code, answer["data"]["updated"].clone()),
        (StatusCode::OK, json!(0))
    );
    let garbage = "[1, 2, 3]";
    let (code, answer) = f.status_webhook(garbage, signed(garbage)).await;
    expect_error(code, &answer, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
}

#[tokio::test]
async fn the_subscription_handshake_echoes_the_challenge_only_for_our_token() {
    let f = fixture().await;
    let get = |query: String| {
        let request = f
            .app
            .http
            .get(f.app.url(&format!("/api/v1/whatsapp/webhook?{query}")));
        async move {
            let response = request.send().await.unwrap();
            let status = response.status();
            let content_type = response
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_string());
            (status, content_type, response.text().await.unwrap())
        }
    };
    let (status, content_type, body) = get(format!(
        "hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=1158201444"
    ))
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.unwrap().starts_with("text/plain"));
    assert_eq!(body, "1158201444");
    for query in [
        "hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1".to_string(),
        format!("hub.mode=unsubscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=1"),
        format!("hub.verify_token={VERIFY_TOKEN}&hub.challenge=1"),
        "hub.mode=subscribe&hub.challenge=1".to_string(),
        String::new(),
    ] {
        let (status, _, body) = get(query.clone()).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{query}: {body}");
        assert!(!body.contains(VERIFY_TOKEN));
    }
    let (status, _, _) = get(format!(
        "hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge="
    ))
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn slack_webhooks_and_chat_post_message_deliver_and_ok_false_fails() {
    let f = fixture().await;
    let hook_path = "/services/T00000000/B00000000/notarealsecretvalue";
    Mock::given(method("POST"))
        .and(path(hook_path))
        .respond_with(ResponseTemplate::new(500).set_body_string("rollup_error"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&f.slack)
        .await;
    Mock::given(method("POST"))
        .and(path(hook_path))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .with_priority(2)
        .mount(&f.slack)
        .await;
    Mock::given(method("POST"))
        .and(path("/services/T00000000/B00000000/archivedchannel"))
        .respond_with(ResponseTemplate::new(410).set_body_string("channel_is_archived"))
        .mount(&f.slack)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/chat.postMessage"))
        .and(body_partial_json(json!({ "channel": "C0NOTFOUND1" })))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "ok": false, "error": "channel_not_found" })),
        )
        .with_priority(1)
        .mount(&f.slack)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/chat.postMessage"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "ok": true, "channel": "C0123456789", "ts": "1795946400.000100",
            "message": { "text": "x", "type": "message" }
        })))
        .with_priority(2)
        .mount(&f.slack)
        .await;

    let hook = format!("{}{hook_path}", f.slack.uri());
    let shop = f.app.create_merchant(&f.admin, "Slack Shop").await;
    let token = shop.token(&f.app).await;
    let created = f
        .add(
            "merchant",
            &token,
            json!({ "channel": "slack", "address": hook, "label": "#payments" }),
        )
        .await;
    // The URL is a secret: shown masked, never in full, in answers and the audit log.
    assert_eq!(created["destination"], "slack_webhook");
    assert_eq!(created["address"], "http://127.0.0.1/…alue");
    f.add("merchant", &token, json!({ "channel": "slack", "address": format!("{}/services/T00000000/B00000000/archivedchannel", f.slack.uri()) })).await;
    f.add(
        "merchant",
        &token,
        json!({ "channel": "slack", "address": "C0123456789" }),
    )
    .await;
    f.add(
        "merchant",
        &token,
        json!({ "channel": "slack", "address": "C0NOTFOUND1" }),
    )
    .await;
    let (status, list) = f
        .app
        .get("/api/v1/merchant/notification-recipients", Some(&token))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["data"].as_array().unwrap().len(), 4);
    assert!(!list.to_string().contains("notarealsecretvalue"));
    let audit: i64 = f
        .app
        .db
        .owner()
        .await
        .query_one(
            "SELECT count(*) FROM audit_log WHERE action = 'notification_recipient.created' AND after::text LIKE '%notarealsecretvalue%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(audit, 0);

    assert_eq!(
        f.notify(
            Audience::Merchant(merchant_id(&shop)),
            "webhook_endpoint.disabled",
            Severity::Warning
        )
        .await,
        4
    );
    f.app.drain().await;
    let rows = || async {
        f.app
            .db
            .owner()
            .await
            .query(
                "SELECT r.address, r.webhook_hint, q.status, q.attempts, q.message_ts, q.last_error
                 FROM slack_queue q JOIN notification_recipients r ON r.id = q.recipient_id ORDER BY r.id",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| {
                let address: Option<String> = r.get(0);
                let hint: Option<String> = r.get(1);
                (
                    address.or(hint).unwrap(),
                    r.get::<_, String>(2),
                    r.get::<_, i32>(3),
                    r.get::<_, Option<String>>(4),
                    r.get::<_, Option<String>>(5),
                )
            })
            .collect::<Vec<_>>()
    };
    let now = rows().await;
    // The webhook's 500 is retried; 410 and ok:false fail at once; the channel post went out.
    assert_eq!((now[0].1.as_str(), now[0].2), ("queued", 1), "{now:?}");
    assert!(now[0].4.as_deref().unwrap().contains("500"));
    assert_eq!(now[1].1, "failed");
    assert!(now[1].4.as_deref().unwrap().contains("410"));
    assert_eq!(
        (now[2].1.as_str(), now[2].3.as_deref()),
        ("sent", Some("1795946400.000100"))
    );
    assert_eq!(now[3].1, "failed");
    assert!(now[3].4.as_deref().unwrap().contains("channel_not_found"));
    f.later(31).await;
    let later = rows().await;
    assert_eq!((later[0].1.as_str(), later[0].2), ("sent", 2), "{later:?}");

    let requests = f.slack.received_requests().await.unwrap();
    let to_hook: Vec<&Request> = requests
        .iter()
        .filter(|r| r.url.path() == hook_path)
        .collect();
    assert_eq!(to_hook.len(), 2);
    let body: Value = serde_json::from_slice(&to_hook[1].body).unwrap();
    assert_eq!(
        body,
        json!({ "text": "*[WARNING] Gateway razorpay is failing*\n5 of the last 10 orders failed.\nPayments move to the next account." })
    );
    assert!(to_hook[1].headers.get("authorization").is_none());
    let posted: Vec<&Request> = requests
        .iter()
        .filter(|r| r.url.path() == "/api/chat.postMessage")
        .collect();
    assert_eq!(posted.len(), 2);
    for request in posted {
        assert_eq!(
            request
                .headers
                .get("authorization")
                .unwrap()
                .to_str()
                .unwrap(),
            format!("Bearer {BOT_TOKEN}")
        );
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        assert!(body["channel"].as_str().unwrap().starts_with("C0"));
        assert!(body["text"].as_str().unwrap().starts_with("*[WARNING]"));
    }
}

#[tokio::test]
async fn without_whatsapp_configuration_messages_fail_with_the_reason() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (status, _) = app
        .post_json(
            "/api/v1/admin/notification-recipients",
            Some(&admin),
            json!({ "channel": "whatsapp", "address": "+919877777777" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let mut client = app.app.db.client().await.unwrap();
    let tx = db::begin(&mut client, Scope::System).await.unwrap();
    let notice = Notice {
        kind: "alert.queue_backlog".into(),
        severity: Severity::Critical,
        title: "Backlog".into(),
        body: String::new(),
    };
    let ids = notifications::notify(&tx, &app.app, Audience::Operators, &notice)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    app.app.publish(&ids).await;
    app.drain().await;
    let row = app
        .db
        .owner()
        .await
        .query_one("SELECT status, last_error FROM whatsapp_queue", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "failed");
    assert!(row.get::<_, String>(1).contains("WHATSAPP_PHONE_NUMBER_ID"));
}

#[tokio::test]
async fn every_recipient_route_refuses_bad_input_clearly() {
    let f = fixture().await;
    let shop = f.app.create_merchant(&f.admin, "Careful Shop").await;
    let token = shop.token(&f.app).await;
    let other = f.app.create_merchant(&f.admin, "Other Shop").await;
    let other_token = other.token(&f.app).await;
    let theirs = f
        .add(
            "merchant",
            &other_token,
            json!({ "channel": "whatsapp", "address": "+919888888888" }),
        )
        .await;
    let ops = f
        .add(
            "admin",
            &f.admin,
            json!({ "channel": "slack", "address": "C0123456789" }),
        )
        .await;

    for prefix in ["merchant", "admin"] {
        let who = if prefix == "merchant" {
            token.as_str()
        } else {
            f.admin.as_str()
        };
        let url = format!("/api/v1/{prefix}/notification-recipients");
        for (body, field) in [
            (
                json!({ "channel": "sms", "address": "+919812345678" }),
                "channel",
            ),
            (
                json!({ "channel": "whatsapp", "address": "9812345678" }),
                "address",
            ),
            (
                json!({ "channel": "whatsapp", "address": "+0123" }),
                "address",
            ),
            (
                json!({ "channel": "slack", "address": "https://10.0.0.1/hook" }),
                "address",
            ),
            (
                json!({ "channel": "slack", "address": "ftp://hooks.example.test/x" }),
                "address",
            ),
            (
                json!({ "channel": "slack", "address": "#general" }),
                "address",
            ),
            (
                json!({ "channel": "whatsapp", "address": "+919812345678", "kinds": ["Not A Kind"] }),
                "kinds[0]",
            ),
            (
                json!({ "channel": "whatsapp", "address": "+919812345678", "min_severity": "urgent" }),
                "min_severity",
            ),
            (
                json!({ "channel": "whatsapp", "address": "+919812345678", "colour": "red" }),
                "colour",
            ),
            (json!({ "channel": "whatsapp" }), "address"),
        ] {
            let (status, answer) = f.app.post_json(&url, Some(who), body.clone()).await;
            let details =
                expect_error(status, &answer, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
            assert!(
                details.to_string().contains(field),
                "{prefix} {body}: {answer}"
            );
        }
        let (status, answer) = send(
            f.app
                .http
                .post(f.app.url(&url))
                .bearer_auth(who)
                .header("content-type", "application/json"),
        )
        .await;
        expect_error(status, &answer, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        // The same number twice is a conflict.
        let number = json!({ "channel": "whatsapp", "address": "+919899999999" });
        f.add(prefix, who, number.clone()).await;
        let (status, answer) = f.app.post_json(&url, Some(who), number).await;
        expect_error(status, &answer, StatusCode::CONFLICT, "CONFLICT");

        for id in ["nope", "ntr_123"] {
            let (status, answer) = send(
                f.app
                    .http
                    .patch(f.app.url(&format!("{url}/{id}")))
                    .bearer_auth(who)
                    .json(&json!({ "enabled": false })),
            )
            .await;
            expect_error(status, &answer, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
            let (status, answer) = send(
                f.app
                    .http
                    .delete(f.app.url(&format!("{url}/{id}")))
                    .bearer_auth(who),
            )
            .await;
            expect_error(status, &answer, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        }
        // Someone else's recipient is not found (another merchant's, or merchant vs platform).
        let foreign = if prefix == "merchant" {
            &ops["id"]
        } else {
            &theirs["id"]
        };
        let foreign = foreign.as_str().unwrap();
        let (status, answer) = send(
            f.app
                .http
                .patch(f.app.url(&format!("{url}/{foreign}")))
                .bearer_auth(who)
                .json(&json!({ "enabled": false })),
        )
        .await;
        expect_error(status, &answer, StatusCode::NOT_FOUND, "NOT_FOUND");
        let (status, answer) = send(
            f.app
                .http
                .delete(f.app.url(&format!("{url}/{foreign}")))
                .bearer_auth(who),
        )
        .await;
        expect_error(status, &answer, StatusCode::NOT_FOUND, "NOT_FOUND");
        // A patch must change something, and only what may change.
        let mine = f
            .add(
                prefix,
                who,
                json!({ "channel": "whatsapp", "address": "+919812121212" }),
            )
            .await;
        let mine = format!("{url}/{}", mine["id"].as_str().unwrap());
        for (body, field) in [
            (json!({}), "body"),
            (json!({ "min_severity": "loud" }), "min_severity"),
            (json!({ "kinds": ["ok", "BAD"] }), "kinds[1]"),
            (json!({ "address": "+919812121213" }), "address"),
            (json!({ "label": "x".repeat(101) }), "label"),
        ] {
            let (status, answer) = send(
                f.app
                    .http
                    .patch(f.app.url(&mine))
                    .bearer_auth(who)
                    .json(&body),
            )
            .await;
            let details =
                expect_error(status, &answer, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
            assert!(details.to_string().contains(field), "{body}: {answer}");
        }
        let (status, answer) = send(f.app.http.patch(f.app.url(&mine)).bearer_auth(who).json(&json!({ "kinds": ["alert.dead_letters"], "min_severity": "critical", "enabled": false }))).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["data"]["kinds"], json!(["alert.dead_letters"]));
        assert_eq!(answer["data"]["enabled"], false);
        let (status, _) = send(f.app.http.delete(f.app.url(&mine)).bearer_auth(who)).await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = send(f.app.http.delete(f.app.url(&mine)).bearer_auth(who)).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        // Without credentials.
        let (status, _) = f.app.get(&url, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // Operators are not merchants, and merchants are not operators.
    let (status, _) = f
        .app
        .get("/api/v1/merchant/notification-recipients", Some(&f.admin))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = f
        .app
        .get("/api/v1/admin/notification-recipients", Some(&token))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Each list holds only its owner's recipients; operators' changes are audited.
    let (_, list) = f
        .app
        .get("/api/v1/admin/notification-recipients", Some(&f.admin))
        .await;
    assert!(
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["merchant_id"].is_null()),
        "{list}"
    );
    let (_, list) = f
        .app
        .get("/api/v1/merchant/notification-recipients", Some(&token))
        .await;
    assert!(
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["merchant_id"] == shop.id.as_str()),
        "{list}"
    );
    let audited: i64 = f
        .app
        .db
        .owner()
        .await
        .query_one(
            "SELECT count(*) FROM audit_log WHERE target_type = 'notification_recipient' AND merchant_id IS NULL
               AND action IN ('notification_recipient.created', 'notification_recipient.updated', 'notification_recipient.deleted')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(audited >= 5, "{audited}");
}

#[tokio::test]
async fn a_merchants_slack_webhook_is_checked_where_it_resolves_before_each_message() {
    // Local webhooks are not allowed here, as in production.
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let shop = app.create_merchant(&admin, "Untrusted Shop").await;
    let token = shop.token(&app).await;
    let url = "/api/v1/merchant/notification-recipients";
    let (status, answer) = app
        .post_json(
            url,
            Some(&token),
            json!({ "channel": "slack", "address": "http://hooks.example.test/services/x" }),
        )
        .await;
    let details = expect_error(status, &answer, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert!(
        details["address"].as_str().unwrap().contains("https"),
        "{answer}"
    );

    // A name may resolve anywhere later: this one resolves to loopback, so it is stored (the
    // name is not an address) but refused when sending, and nothing connects to it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let (status, answer) = app
        .post_json(
            url,
            Some(&token),
            json!({ "channel": "slack", "address": format!("https://localhost:{port}/services/x") }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let mut client = app.app.db.client().await.unwrap();
    let tx = db::begin(&mut client, Scope::System).await.unwrap();
    let notice = Notice {
        kind: "webhook_endpoint.disabled".into(),
        severity: Severity::Warning,
        title: "Endpoint disabled".into(),
        body: String::new(),
    };
    let ids = notifications::notify(
        &tx,
        &app.app,
        Audience::Merchant(merchant_id(&shop)),
        &notice,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    app.app.publish(&ids).await;
    app.drain().await;
    let row = app
        .db
        .owner()
        .await
        .query_one("SELECT status, last_error FROM slack_queue", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "failed");
    let error: String = row.get(1);
    assert!(
        error.contains("refused") && error.contains("not a public address"),
        "{error}"
    );
    assert_eq!(
        listener.accept().map_err(|e| e.kind()).err(),
        Some(std::io::ErrorKind::WouldBlock),
        "a connection was made"
    );
}

#[tokio::test]
async fn a_deleted_recipient_hears_nothing_more() {
    let f = fixture().await;
    accept_all(&f.whatsapp, 5).await;
    let added = f
        .add(
            "admin",
            &f.admin,
            json!({ "channel": "whatsapp", "address": "+919812340000" }),
        )
        .await;
    f.notify(
        Audience::Operators,
        "alert.queue_backlog",
        Severity::Critical,
    )
    .await;
    let (status, _) = send(
        f.app
            .http
            .delete(f.app.url(&format!(
                "/api/v1/admin/notification-recipients/{}",
                added["id"].as_str().unwrap()
            )))
            .bearer_auth(&f.admin),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    f.app.drain().await;
    let (_, status, _, _, error) = f.whatsapp_rows().await.remove(0);
    assert_eq!(
        (status.as_str(), error.as_deref()),
        ("failed", Some("the recipient was deleted"))
    );
    assert!(f.whatsapp.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn slack_webhook_urls_are_resealed_and_still_work_under_the_new_key() {
    let f = fixture().await;
    let hook_path = "/services/T00000000/B00000000/resealedsecretvalue";
    Mock::given(method("POST"))
        .and(path(hook_path))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&f.slack)
        .await;
    let hook = format!("{}{hook_path}", f.slack.uri());
    f.add(
        "admin",
        &f.admin,
        json!({ "channel": "slack", "address": hook }),
    )
    .await;
    // A second test-only key, `t2`, made active; then an app that knows only `t2`.
    let key_b = "t2:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";
    let build = |keys: String| {
        let mut vars = crate::support::env_for(&f.app.db);
        vars.insert("ENCRYPTION_KEYS".into(), keys);
        vars.insert("ENCRYPTION_ACTIVE_KEY_ID".into(), "t2".into());
        vars.insert("SLACK_ALLOW_LOCAL_WEBHOOKS".into(), "on".into());
        let config =
            shared::config::Config::from_lookup(shared::config::lookup_from(vars)).unwrap();
        Arc::new(shared::App::new(config).unwrap())
    };
    let both = build(format!("{},{key_b}", crate::support::ENCRYPTION_KEYS));
    let report = shared::reseal::run(&both).await.unwrap();
    assert!(report.stuck.is_empty(), "{report:?}");
    assert!(
        report
            .resealed
            .iter()
            .any(|(row, from)| row.contains("Slack webhook URL") && from == "t1"),
        "{report:?}"
    );
    let only_b = build(key_b.to_string());
    let mut client = only_b.db.client().await.unwrap();
    let tx = db::begin(&mut client, Scope::System).await.unwrap();
    let notice = Notice {
        kind: "alert.dead_letters".into(),
        severity: Severity::Critical,
        title: "Dead letters".into(),
        body: String::new(),
    };
    let ids = notifications::notify(&tx, &only_b, Audience::Operators, &notice)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    only_b.publish(&ids).await;
    functions::worker::drain(&only_b, 50).await;
    let requests = f.slack.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].url.path(), hook_path);
    let key: String = f
        .app
        .db
        .owner()
        .await
        .query_one("SELECT webhook_key_id FROM notification_recipients", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(key, "t2");
}
