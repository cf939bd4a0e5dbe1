//! Worker and scheduled-job handlers. Workers take a batch and answer which messages failed (SQS
//! partial batch failure); each message is processed on its own, idempotently.

use serde::Deserialize;
use serde_json::json;
use shared::ids::{AttemptId, RefundId};
use shared::jobs::bus::DomainEvent;
use shared::jobs::{Message, activity, queues};
use shared::maintenance;
use shared::merchant_webhooks::delivery;
use shared::notifications;
use shared::payments::{checkout, inbound, monitor, refunds};
use shared::routing::health;
use shared::schedules::Tick;
use shared::{App, AppError};
use std::sync::Arc;
use uuid::Uuid;

/// How soon a batch handed back during a database outage is delivered again.
pub const OUTAGE_REDELIVERY: std::time::Duration = std::time::Duration::from_secs(10);

async fn each<F, Fut>(app: &App, queue: &str, messages: Vec<Message>, work: F) -> Vec<String>
where
    F: Fn(Message) -> Fut,
    Fut: std::future::Future<Output = Result<(), AppError>>,
{
    // One look at the pool first: with the database out of reach every message would fail after
    // waiting for a connection of its own, holding the batch (and the function) for the pool's
    // timeout over and over. A warm pool answers this without a round trip.
    if let Err(e) = app.db.client().await {
        let e = AppError::from(e);
        if e.is_unavailable() {
            return hand_back(app, queue, messages, &e).await;
        }
    }
    let results = futures::future::join_all(messages.into_iter().map(|m| {
        let (id, receive_count) = (m.id.clone(), m.receive_count);
        let fut = work(m);
        async move { (id, receive_count, fut.await) }
    }))
    .await;
    let outcomes: Vec<activity::Outcome> = results
        .into_iter()
        .map(|(id, receive_count, result)| {
            let error = result.err().map(|e| {
                tracing::warn!(message = %id, error = %e, "message failed; it will be retried");
                e.to_string()
            });
            activity::Outcome {
                id,
                receive_count,
                error,
            }
        })
        .collect();
    // The one place per-message results exist: queue statistics and the dead-letter peek read
    // what is recorded here (never failing the batch).
    let worker = queues::consumer(queue).unwrap_or(queue);
    activity::record(&app.db, app.clock.now(), worker, queue, &outcomes).await;
    outcomes
        .into_iter()
        .filter(|o| o.error.is_some())
        .map(|o| o.id)
        .collect()
}

/// Gives a batch back during a database outage. Reported as failed, each message would stay
/// hidden for the whole visibility timeout and, receive after receive, end in the dead-letter
/// queue through no fault of its own; so the batch is sent again with a short delay (a fresh
/// message, its receive count at zero) and the originals are reported done. Consumers are
/// idempotent, so a copy that is also redelivered does no harm. When the queue cannot take them
/// either (the PostgreSQL queue lives in the unreachable database), all are reported failed.
async fn hand_back(
    app: &App,
    queue: &str,
    messages: Vec<Message>,
    error: &AppError,
) -> Vec<String> {
    let bodies: Vec<String> = messages.iter().map(|m| m.body.clone()).collect();
    match app.queue.send(queue, &bodies, OUTAGE_REDELIVERY).await {
        Ok(()) => {
            tracing::warn!(queue, error = %error, messages = bodies.len(), "database unreachable; the batch is sent again for later");
            Vec::new()
        }
        Err(send_error) => {
            tracing::warn!(queue, error = %error, send_error = %send_error, messages = bodies.len(), "database unreachable; the whole batch is reported failed");
            messages.into_iter().map(|m| m.id).collect()
        }
    }
}

fn parse<T: for<'de> Deserialize<'de>>(message: &Message) -> Result<T, AppError> {
    serde_json::from_str(&message.body)
        .map_err(|e| AppError::Internal(format!("unreadable message {}: {e}", message.id)))
}

#[derive(Deserialize)]
struct OrderJob {
    attempt_id: AttemptId,
}

/// `transaction-processor`: creates the gateway order of each new attempt.
pub async fn transaction_processor(app: Arc<App>, messages: Vec<Message>) -> Vec<String> {
    each(&app, queues::TRANSACTION_PROCESSOR, messages, |m| {
        let app = app.clone();
        async move {
            let job: OrderJob = parse(&m)?;
            // A failover hands over a new attempt: go on with it here (its own job is a
            // fallback, and finds the order made).
            let mut attempt = job.attempt_id;
            while let checkout::OrderState::Moved(next) =
                checkout::ensure_order(&app, attempt, shared::db::Scope::System).await?
            {
                attempt = next;
            }
            Ok(())
        }
    })
    .await
}

#[derive(Deserialize)]
struct RefundJob {
    refund_id: RefundId,
}

/// `refund-processor`: asks the gateway for each new refund, once.
pub async fn refund_processor(app: Arc<App>, messages: Vec<Message>) -> Vec<String> {
    each(&app, queues::REFUND_PROCESSOR, messages, |m| {
        let app = app.clone();
        async move {
            let job: RefundJob = parse(&m)?;
            refunds::process(&app, job.refund_id).await
        }
    })
    .await
}

#[derive(Deserialize)]
struct EventJob {
    gateway_event_id: Uuid,
}

/// `webhook-processor`: applies each stored gateway event.
pub async fn webhook_processor(app: Arc<App>, messages: Vec<Message>) -> Vec<String> {
    each(&app, queues::WEBHOOK_PROCESSOR, messages, |m| {
        let app = app.clone();
        async move {
            let job: EventJob = parse(&m)?;
            inbound::process(&app, job.gateway_event_id).await
        }
    })
    .await
}

/// `whatsapp-sender`: sends each queued WhatsApp message that is due, once at a time.
pub async fn whatsapp_sender(app: Arc<App>, messages: Vec<Message>) -> Vec<String> {
    each(&app, queues::WHATSAPP_SENDER, messages, |m| {
        let app = app.clone();
        async move {
            let job: notifications::SendJob = parse(&m)?;
            notifications::whatsapp::process(&app, job.id).await
        }
    })
    .await
}

/// `slack-sender`: sends each queued Slack message that is due, once at a time.
pub async fn slack_sender(app: Arc<App>, messages: Vec<Message>) -> Vec<String> {
    each(&app, queues::SLACK_SENDER, messages, |m| {
        let app = app.clone();
        async move {
            let job: notifications::SendJob = parse(&m)?;
            notifications::slack::process(&app, job.id).await
        }
    })
    .await
}

/// `notification-retry`: hands messages whose next attempt came due back to their senders.
/// A sweep of current state: a late run sends what is due when it runs, so `tick` is unused.
pub async fn notification_retry(app: Arc<App>, _tick: Tick) -> Result<serde_json::Value, AppError> {
    notifications::retry_due(&app).await
}

/// `webhook-delivery`: records each merchant event the bus brings, makes its deliveries and
/// sends them at once; or sends the deliveries a replay named. A failed send is not a failed
/// message: the delivery is on record and the `webhook-retry` schedule takes it from there.
pub async fn webhook_delivery(app: Arc<App>, messages: Vec<Message>) -> Vec<String> {
    each(&app, queues::WEBHOOK_DELIVERY, messages, |m| {
        let app = app.clone();
        async move {
            let deliveries = match serde_json::from_str::<delivery::SendJob>(&m.body) {
                Ok(job) => job.deliveries,
                Err(_) => {
                    let event = DomainEvent::from_message(&m.body).map_err(|e| {
                        AppError::Internal(format!("unreadable message {}: {e}", m.id))
                    })?;
                    delivery::accept(&app, &event).await?
                }
            };
            if !deliveries.is_empty()
                && let Err(e) = delivery::send(&app, Some(&deliveries), deliveries.len() as i64, true).await
            {
                tracing::warn!(error = %e, "webhook deliveries not sent now; the retry schedule will");
            }
            Ok(())
        }
    })
    .await
}

/// How long one `webhook-retry` run keeps taking passes: a pass may take a delivery timeout
/// more, and the function's timeout is 60 s.
const RETRY_RUN: std::time::Duration = std::time::Duration::from_secs(30);

/// `webhook-retry`: sends every delivery whose next attempt came due, pass after pass, until none
/// is left or the run's time is up. A sweep of current state: a late run sends what is due when
/// it runs.
pub async fn webhook_retry(app: Arc<App>, _tick: Tick) -> Result<serde_json::Value, AppError> {
    let started = std::time::Instant::now();
    let mut total = delivery::Sent::default();
    loop {
        // One pass claims what it sends at once, so no lease outlives the pass.
        let batch = app.config.webhooks.concurrency as i64;
        let sent = delivery::send(&app, None, batch, true).await?;
        total.succeeded += sent.succeeded;
        total.failed += sent.failed;
        if sent.succeeded + sent.failed == 0 || started.elapsed() > RETRY_RUN {
            break;
        }
    }
    Ok(json!({ "succeeded": total.succeeded, "failed": total.failed }))
}

/// `outbox-sweeper`: publishes outbox rows the relay left behind. A sweep of current state: a
/// late run publishes what is left behind when it runs (older than the grace by the clock).
pub async fn outbox_sweeper(app: Arc<App>, _tick: Tick) -> Result<serde_json::Value, AppError> {
    let published = app
        .relay()
        .sweep(app.config.jobs.outbox_grace)
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(json!({ "published": published }))
}

/// `transaction-monitor`: asks gateways about quiet payments and expires abandoned ones. A
/// sweep of current state: its cut-offs (quiet since, past expiry) are the database's now when
/// it runs, since a payment expired late is still expired and a gateway is asked what holds now.
pub async fn transaction_monitor(
    app: Arc<App>,
    _tick: Tick,
) -> Result<serde_json::Value, AppError> {
    let run = monitor::run(&app).await?;
    Ok(serde_json::to_value(run).unwrap_or_default())
}

/// `maintenance`: deletes rows past their retention as of the run's scheduled time (see
/// `shared::maintenance::RETENTION`).
pub async fn maintenance(app: Arc<App>, tick: Tick) -> Result<serde_json::Value, AppError> {
    let pruned = maintenance::prune(&app, tick.scheduled_at).await?;
    Ok(json!({ "pruned": pruned }))
}

/// `archive`: moves final payments nothing has changed for `ARCHIVE_AFTER_DAYS` before the
/// run's scheduled time to the archive, in batches, within the run's time budget (see
/// `shared::archive`); answers the rows moved per table.
pub async fn archive(app: Arc<App>, tick: Tick) -> Result<serde_json::Value, AppError> {
    let run = shared::archive::run(&app, tick.scheduled_at).await?;
    Ok(serde_json::to_value(run).unwrap_or_default())
}

/// `gateway-health`: measures each gateway account's window and opens the circuit breaker of
/// one failing technically (see `shared::routing::health`). The window ends at the run's
/// scheduled time (to the minute), so a late or retried run measures the window it was meant
/// for, and a window already measured is not measured twice.
pub async fn gateway_health(app: Arc<App>, tick: Tick) -> Result<serde_json::Value, AppError> {
    let run = health::collect(&app, tick.scheduled_at, &app.config.routing.breaker).await?;
    Ok(serde_json::to_value(run).unwrap_or_default())
}

/// `alert-monitor`: raises the alerts of open breakers, backed-up or stuck queues and dead
/// letters, and resolves those whose condition cleared (see `shared::alerts::monitor`). A sweep
/// of current state: a late run judges the breakers and queues as they are when it runs.
pub async fn alert_monitor(app: Arc<App>, _tick: Tick) -> Result<serde_json::Value, AppError> {
    let run = shared::alerts::monitor::run(&app, queues::ALL).await?;
    Ok(serde_json::to_value(run).unwrap_or_default())
}

/// `wallet-balance-monitor`: checks each wallet a capture debited against its thresholds, at
/// once, raising or clearing its low-balance alert.
pub async fn wallet_balance_monitor(app: Arc<App>, messages: Vec<Message>) -> Vec<String> {
    each(&app, queues::WALLET_BALANCE, messages, |m| {
        let app = app.clone();
        async move {
            let job: shared::wallets::monitor::CheckJob = parse(&m)?;
            shared::wallets::monitor::check_one(&app, job).await?;
            Ok(())
        }
    })
    .await
}

/// `low-balance-notifier`: checks every wallet, raising and clearing low-balance alerts. A
/// sweep of current state: a late run judges the balances as they are when it runs.
pub async fn low_balance_notifier(
    app: Arc<App>,
    _tick: Tick,
) -> Result<serde_json::Value, AppError> {
    let swept = shared::wallets::monitor::sweep(&app).await?;
    Ok(serde_json::to_value(swept).unwrap_or_default())
}
