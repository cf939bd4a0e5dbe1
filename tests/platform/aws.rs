//! The same payment path through SQS and EventBridge, on moto's server (`LSP_TEST_MOTO`, started
//! by scripts/test): the adapters, the queues' redrive policies and the bus rules for real.

use crate::support::*;
use aws_sdk_sqs::config::{Credentials, Region};
use reqwest::StatusCode;
use serde_json::Value;
use shared::jobs::bus::EventBus;
use shared::jobs::eventbridge::EventBridgeBus;
use shared::jobs::sqs::SqsQueue;
use shared::jobs::{JobQueue, queues};
use std::sync::Arc;
use std::time::Duration;

fn moto() -> String {
    std::env::var("LSP_TEST_MOTO")
        .expect("LSP_TEST_MOTO must point at a moto server: run scripts/test, which starts one")
}

async fn aws() -> aws_config::SdkConfig {
    shared::jobs::aws::loader()
        .endpoint_url(moto())
        .region(Region::new("ap-south-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
        .load()
        .await
}

struct AwsPlatform {
    app: TestApp,
    sqs: aws_sdk_sqs::Client,
    queue: Arc<SqsQueue>,
    observed: String,
    events: aws_sdk_eventbridge::Client,
    bus_name: String,
    prefix: String,
}

/// Queues with redrive policies, a bus whose rule sends `transaction.succeeded` to an observer
/// queue, and the platform using them.
async fn platform(extra: &[(&str, &str)]) -> AwsPlatform {
    platform_with(extra, true).await
}

/// As `platform`, optionally without the worker queues yet (an SQS outage).
async fn platform_with(extra: &[(&str, &str)], create_queues: bool) -> AwsPlatform {
    let config = aws().await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let events = aws_sdk_eventbridge::Client::new(&config);
    let run = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
    let prefix = format!("lsp-{run}-");
    let queue = Arc::new(SqsQueue::new(sqs.clone(), &prefix));
    if create_queues {
        queue
            .ensure_queues(
                &[queues::TRANSACTION_PROCESSOR, queues::WEBHOOK_PROCESSOR],
                3,
            )
            .await
            .unwrap();
    }
    let bus_name = format!("lsp-{run}");
    events
        .create_event_bus()
        .name(&bus_name)
        .send()
        .await
        .unwrap();
    let observed = sqs
        .create_queue()
        .queue_name(format!("{prefix}observed"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&observed)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    events
        .put_rule()
        .name("succeeded-payments")
        .event_bus_name(&bus_name)
        .event_pattern(
            r#"{"source":["lightspeedpay.payments"],"detail-type":["transaction.succeeded"]}"#,
        )
        .send()
        .await
        .unwrap();
    events
        .put_targets()
        .rule("succeeded-payments")
        .event_bus_name(&bus_name)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("observer")
                .arn(arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let bus: Arc<dyn EventBus> = Arc::new(EventBridgeBus::new(events.clone(), &bus_name));
    let app =
        TestApp::spawn_with_ports(extra, Some((queue.clone() as Arc<dyn JobQueue>, bus))).await;
    AwsPlatform {
        app,
        sqs,
        queue,
        observed,
        events,
        bus_name,
        prefix,
    }
}

/// The ARN of the queue at `url`.
async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> String {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone()
}

impl AwsPlatform {
    async fn observed_events(&self) -> Vec<Value> {
        let mut found = Vec::new();
        for _ in 0..3 {
            let received = self
                .sqs
                .receive_message()
                .queue_url(&self.observed)
                .max_number_of_messages(10)
                .send()
                .await
                .unwrap();
            found.extend(
                received
                    .messages
                    .unwrap_or_default()
                    .into_iter()
                    .map(|m| serde_json::from_str::<Value>(&m.body.unwrap()).unwrap()),
            );
            if !found.is_empty() {
                break;
            }
        }
        found
    }
}

#[tokio::test]
async fn a_test_payment_succeeds_end_to_end_through_sqs_and_eventbridge() {
    let aws = platform(&[]).await;
    let app = &aws.app;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Cloud Shop").await;
    let (status, body) = app
        .pay(&m, &payment("order-cloud", 31_400, true), None)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["data"]["id"].as_str().unwrap().to_string();
    // The job went to SQS, not to the PostgreSQL queue.
    assert_eq!(app.db.count("job_queue").await, 0);
    app.drain().await;
    let txn = app.transaction(&m, &id).await;
    assert_eq!(txn["status"], "succeeded", "{txn}");
    let events = aws.observed_events().await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["detail-type"], "transaction.succeeded");
    assert_eq!(events[0]["source"], "lightspeedpay.payments");
    assert_eq!(
        events[0]["detail"]["data"]["transaction"]["id"],
        id.as_str()
    );
}

#[tokio::test]
async fn the_same_sqs_message_delivered_three_times_is_applied_once() {
    let aws = platform(&[]).await;
    let app = &aws.app;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Echo Shop").await;
    let (_, body) = app
        .pay(&m, &payment("order-echo", 10_000, false), None)
        .await;
    let id = body["data"]["id"].as_str().unwrap().to_string();
    app.drain().await;
    // The customer pays; the sandbox's webhook is stored and its job sent to SQS once.
    let pay_page = app
        .http
        .get(body["data"]["checkout_url"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .headers()["location"]
        .to_str()
        .unwrap()
        .to_string();
    app.http
        .post(&pay_page)
        .form(&[("action", "pay")])
        .send()
        .await
        .unwrap();
    let job = aws
        .queue
        .receive(queues::WEBHOOK_PROCESSOR, 10, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(job.len(), 1);
    // At-least-once: the same message comes back twice more (as after lost deletes).
    aws.queue
        .send(
            queues::WEBHOOK_PROCESSOR,
            &[
                job[0].body.clone(),
                job[0].body.clone(),
                job[0].body.clone(),
            ],
            Duration::ZERO,
        )
        .await
        .unwrap();
    aws.queue
        .delete(queues::WEBHOOK_PROCESSOR, &[job[0].receipt.clone()])
        .await
        .unwrap();
    app.drain().await;
    let txn = app.transaction(&m, &id).await;
    assert_eq!(txn["status"], "succeeded");
    assert_eq!(
        app.db.outbox_count("transaction.succeeded").await,
        1,
        "one transition"
    );
    assert_eq!(aws.observed_events().await.len(), 1, "one event on the bus");
}

#[tokio::test]
async fn a_failing_handler_sends_the_message_to_the_dead_letter_queue() {
    let aws = platform(&[("SANDBOX_BASE_URL", "http://127.0.0.1:9")]).await;
    let app = &aws.app;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Redrive Shop").await;
    // The sandbox is unreachable: the order job fails on every receive and is redriven to the DLQ.
    let (_, body) = app
        .pay(&m, &payment("order-redrive", 10_000, true), None)
        .await;
    let id = body["data"]["id"].as_str().unwrap().to_string();
    for _ in 0..4 {
        let batch = aws
            .queue
            .receive(queues::TRANSACTION_PROCESSOR, 10, Duration::from_secs(1))
            .await
            .unwrap();
        if !batch.is_empty() {
            let failed =
                functions::handlers::jobs::transaction_processor(app.app.clone(), batch).await;
            assert_eq!(failed.len(), 1);
        }
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    assert!(
        aws.queue
            .receive(queues::TRANSACTION_PROCESSOR, 10, Duration::from_secs(1))
            .await
            .unwrap()
            .is_empty()
    );
    let dead = aws
        .queue
        .dead_letters(queues::TRANSACTION_PROCESSOR)
        .await
        .unwrap();
    assert_eq!(dead.len(), 1, "the message is in the dead-letter queue");
    assert!(dead[0].body.contains("attempt_id"));
    let txn = app.transaction(&m, &id).await;
    assert_eq!(txn["status"], "created", "nothing half-written");
}

#[tokio::test]
async fn the_sweeper_publishes_what_a_failed_relay_left_behind() {
    // SQS is out: the worker queues do not exist yet, so the relay after commit fails.
    let aws = platform_with(&[("OUTBOX_GRACE_SECONDS", "0")], false).await;
    let app = &aws.app;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Outage Shop").await;
    let (status, body) = app
        .pay(&m, &payment("order-outage", 10_000, true), None)
        .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "the payment is accepted: it is durable in the outbox"
    );
    let id = body["data"]["id"].as_str().unwrap().to_string();
    let owner = app.db.owner().await;
    let stuck: i64 = owner
        .query_one(
            "SELECT count(*) FROM outbox WHERE published_at IS NULL AND last_error IS NOT NULL",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        stuck, 2,
        "the job and the event wait, with the relay's error recorded"
    );

    // SQS is back; the scheduled sweeper publishes what the relay left behind.
    aws.queue
        .ensure_queues(
            &[queues::TRANSACTION_PROCESSOR, queues::WEBHOOK_PROCESSOR],
            3,
        )
        .await
        .unwrap();
    let summary = functions::worker::run_schedule(&app.app, "outbox-sweeper")
        .await
        .unwrap();
    assert_eq!(summary["published"], 2, "{summary}");
    let left: i64 = owner
        .query_one(
            "SELECT count(*) FROM outbox WHERE published_at IS NULL",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
    app.drain().await;
    let txn = app.transaction(&m, &id).await;
    assert_eq!(txn["status"], "succeeded", "{txn}");
}

/// The detail-types `template.yaml`'s `MerchantEventsRule` sends to its target, with the name
/// of the queue the target is (`lightspeedpay-${Stage}-<queue>`, read back to `<queue>`).
fn template_merchant_events_rule() -> (String, Vec<String>, String) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("template.yaml");
    let template: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let resources = &template["Resources"];
    let rule = &resources["MerchantEventsRule"]["Properties"];
    let pattern = &rule["EventPattern"];
    let sources: Vec<&str> = pattern["source"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let detail_types = pattern["detail-type"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let targets = rule["Targets"].as_sequence().unwrap();
    assert_eq!(targets.len(), 1, "{targets:?}");
    // `!GetAtt WebhookDeliveryQueue.Arn`: follow it to the queue's name.
    let reference = serde_yaml::to_string(&targets[0]["Arn"]).unwrap();
    let logical = reference
        .split_whitespace()
        .last()
        .unwrap()
        .trim_end_matches(".Arn")
        .to_string();
    let name =
        serde_yaml::to_string(&resources[logical.as_str()]["Properties"]["QueueName"]).unwrap();
    let queue = name
        .trim()
        .trim_end_matches('"')
        .rsplit("}-")
        .next()
        .unwrap()
        .to_string();
    assert_eq!(sources, [shared::jobs::bus::SOURCE]);
    (sources[0].to_string(), detail_types, queue)
}

#[test]
fn the_templates_merchant_events_rule_is_the_bus_rule_for_the_delivery_queue() {
    let (_, detail_types, queue) = template_merchant_events_rule();
    assert_eq!(queue, queues::WEBHOOK_DELIVERY);
    let rules: Vec<_> = shared::jobs::bus::RULES
        .iter()
        .filter(|r| r.queue == queue)
        .collect();
    assert_eq!(rules.len(), 1, "one bus rule feeds {queue}");
    assert_eq!(detail_types, rules[0].detail_types);
    assert!(detail_types.iter().any(|t| t == "transaction.succeeded"));
}

#[tokio::test]
async fn a_payment_reaches_the_merchants_endpoint_through_the_bus_rule_on_eventbridge() {
    use shared::merchant_webhooks::signature::{SignedHeaders, SigningSecret, verify};
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let aws = platform(&[("WEBHOOKS_ALLOW_LOOPBACK", "true")]).await;
    let app = &aws.app;
    // The delivery queue under its own prefix, so the test's drain leaves it alone and the
    // handler runs on exactly what EventBridge put there.
    let delivery = SqsQueue::new(aws.sqs.clone(), &format!("{}bus-", aws.prefix));
    delivery
        .ensure_queues(&[queues::WEBHOOK_DELIVERY], 3)
        .await
        .unwrap();
    let delivery_url = aws
        .sqs
        .get_queue_url()
        .queue_name(format!("{}bus-{}", aws.prefix, queues::WEBHOOK_DELIVERY))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let delivery_arn = queue_arn(&aws.sqs, &delivery_url).await;
    // The bus rules as the deployed rule is built: `RULES`, one pattern per queue.
    for (n, rule) in shared::jobs::bus::RULES.iter().enumerate() {
        assert_eq!(
            rule.queue,
            queues::WEBHOOK_DELIVERY,
            "a rule this test has no queue for"
        );
        let pattern = serde_json::json!({
            "source": [shared::jobs::bus::SOURCE],
            "detail-type": rule.detail_types,
        });
        let name = format!("bus-rule-{n}");
        aws.events
            .put_rule()
            .name(&name)
            .event_bus_name(&aws.bus_name)
            .event_pattern(pattern.to_string())
            .send()
            .await
            .unwrap();
        aws.events
            .put_targets()
            .rule(&name)
            .event_bus_name(&aws.bus_name)
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id(rule.queue)
                    .arn(&delivery_arn)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
    }
    // …and they are what the template deploys.
    let (_, template_types, _) = template_merchant_events_rule();
    assert_eq!(template_types, shared::jobs::bus::RULES[0].detail_types);

    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hooks/lsp"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Hooked Shop").await;
    let (status, body) = send(
        app.http
            .post(app.url("/api/v1/merchant/webhooks"))
            .header("X-Client-Key", &m.client_key)
            .header("X-Client-Secret", &m.client_secret)
            .json(&serde_json::json!({
                "url": format!("{}/hooks/lsp", receiver.uri()),
                "event_types": ["transaction.succeeded"],
            })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let secret = SigningSecret::parse(body["data"]["secret"].as_str().unwrap()).unwrap();

    let (status, body) = app
        .pay(&m, &payment("order-hooked", 27_500, true), None)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["data"]["id"].as_str().unwrap().to_string();
    app.drain().await;
    assert_eq!(app.transaction(&m, &id).await["status"], "succeeded");

    // EventBridge delivered its envelopes (created, then succeeded) to the delivery queue.
    let mut messages = Vec::new();
    for _ in 0..10 {
        messages.extend(
            delivery
                .receive(queues::WEBHOOK_DELIVERY, 10, Duration::from_secs(30))
                .await
                .unwrap(),
        );
        if messages.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let envelopes: Vec<Value> = messages
        .iter()
        .map(|m| serde_json::from_str(&m.body).unwrap())
        .collect();
    let mut types: Vec<&str> = envelopes
        .iter()
        .map(|e| e["detail-type"].as_str().unwrap())
        .collect();
    types.sort();
    assert_eq!(
        types,
        ["transaction.created", "transaction.succeeded"],
        "{envelopes:?}"
    );
    assert!(
        envelopes
            .iter()
            .all(|e| e["source"] == shared::jobs::bus::SOURCE)
    );
    let succeeded = envelopes
        .iter()
        .find(|e| e["detail-type"] == "transaction.succeeded")
        .unwrap();
    let event_id = succeeded["detail"]["id"].as_str().unwrap().to_string();

    let bodies: Vec<String> = messages.iter().map(|m| m.body.clone()).collect();
    let failed = functions::handlers::jobs::webhook_delivery(app.app.clone(), messages).await;
    assert!(failed.is_empty(), "{failed:?}");

    // One POST: the succeeded event (the endpoint does not take `transaction.created`).
    let requests = receiver.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let request = &requests[0];
    let header = |name: &str| request.headers[name].to_str().unwrap().to_string();
    assert_eq!(header("webhook-id"), event_id);
    let headers = SignedHeaders {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp").parse().unwrap(),
        signature: header("webhook-signature"),
    };
    verify(
        &secret,
        &headers,
        &request.body,
        chrono::Utc::now().timestamp(),
    )
    .unwrap();
    let other = SigningSecret::generate();
    assert!(
        verify(
            &other,
            &headers,
            &request.body,
            chrono::Utc::now().timestamp()
        )
        .is_err(),
        "another endpoint's secret does not verify it"
    );
    let sent: Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(sent["id"], event_id.as_str());
    assert_eq!(sent["type"], "transaction.succeeded");
    assert_eq!(sent["data"]["transaction"]["id"], id.as_str());
    assert_eq!(sent["data"]["transaction"]["status"], "succeeded");
    assert_eq!(sent["data"]["transaction"]["amount"], 27_500);

    // At least once: the same envelopes delivered again send nothing new.
    let redelivered = bodies
        .iter()
        .enumerate()
        .map(|(n, body)| shared::jobs::Message {
            id: format!("again-{n}"),
            receipt: format!("again-{n}"),
            body: body.clone(),
            receive_count: 2,
        })
        .collect();
    let failed = functions::handlers::jobs::webhook_delivery(app.app.clone(), redelivered).await;
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(receiver.received_requests().await.unwrap().len(), 1);
}
