//! The `alert-monitor` schedule: looks at the state conditions (circuit breakers, queue backlog
//! and age, dead letters) every minute, raises each that holds and clears each that no longer
//! does, so their alerts resolve themselves.

use super::raise::open_keys;
use super::{AlertKind, Condition, clear, raise};
use crate::db::record::Record;
use crate::db::{self, Scope, Transaction};
use crate::ids::{GatewayAccountId, MerchantId};
use crate::jobs::QueueDepth;
use crate::notifications::Severity;
use crate::{App, AppError};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeSet;

/// What one run saw and did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MonitorRun {
    /// Conditions found holding (each raised: a new alert or one more sighting).
    pub raised: usize,
    /// Open alerts resolved because their condition cleared.
    pub cleared: usize,
    /// Queues whose depth was read.
    pub queues_checked: usize,
    /// Queues whose depth could not be read: their alerts are left as they were (unknown is not
    /// cleared).
    pub queue_errors: Vec<String>,
}

/// The key of the alert about `account`'s open breaker.
pub fn breaker_key(account: GatewayAccountId) -> String {
    format!("gateway_breaker:{account}")
}

/// The key of the alert about `queue`'s backlog.
pub fn backlog_key(queue: &str) -> String {
    format!("queue_backlog:{queue}")
}

/// The key of the alert about the age of `queue`'s oldest message.
pub fn age_key(queue: &str) -> String {
    format!("queue_age:{queue}")
}

/// The key of the alert about `queue`'s dead letters.
pub fn dead_letters_key(queue: &str) -> String {
    format!("dead_letters:{queue}")
}

/// Evaluates every condition once, over `queues` (every worker queue of the registry), raising
/// and clearing in one transaction; publishes the notifications after commit.
pub async fn run(app: &App, queues: &[&str]) -> Result<MonitorRun, AppError> {
    let mut run = MonitorRun::default();
    // The queues are asked first, with no database connection held (SQS answers over HTTPS).
    let mut depths = Vec::new();
    for queue in queues {
        match app.queue.depth(queue).await {
            Ok(depth) => depths.push((*queue, depth)),
            Err(e) => {
                tracing::warn!(queue, error = %e, "queue depth unavailable; its alerts are left as they are");
                run.queue_errors.push(e.to_string());
            }
        }
    }
    run.queues_checked = depths.len();
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::System).await?;
    let mut ids = Vec::new();

    // Breakers: every open or probing breaker holds; every other breaker alert is cleared.
    let breakers = open_breakers(&tx).await?;
    let holding: BTreeSet<String> = breakers.iter().map(|c| c.key.clone()).collect();
    for condition in &breakers {
        ids.extend(raise(&tx, app, condition).await?);
        run.raised += 1;
    }
    for key in open_keys(&tx, AlertKind::GatewayBreakerOpen).await? {
        if !holding.contains(&key) && clear(&tx, app, &key).await? {
            run.cleared += 1;
        }
    }

    // Queues: each read depth decides its three conditions one way or the other.
    let thresholds = app.config.alerts;
    for (queue, depth) in &depths {
        for (key, condition) in queue_conditions(queue, depth, &thresholds) {
            match condition {
                Some(condition) => {
                    ids.extend(raise(&tx, app, &condition).await?);
                    run.raised += 1;
                }
                None => {
                    if clear(&tx, app, &key).await? {
                        run.cleared += 1;
                    }
                }
            }
        }
    }
    ids.extend(super::raise::notify_unnotified(&tx, app).await?);
    tx.commit().await?;
    app.publish(&ids).await;
    Ok(run)
}

/// The conditions of one queue's depth, each with its key: `Some` holds, `None` cleared.
fn queue_conditions(
    queue: &str,
    depth: &QueueDepth,
    thresholds: &crate::config::AlertsConfig,
) -> Vec<(String, Option<Condition>)> {
    let figures = json!({
        "queue": queue,
        "visible": depth.visible,
        "in_flight": depth.in_flight,
        "delayed": depth.delayed,
        "dead_letters": depth.dead_letters,
        "oldest_visible_age_seconds": depth.oldest_visible_age.map(|a| a.as_secs()),
    });
    let with = |extra: serde_json::Value| {
        let mut details = figures.clone();
        if let (Some(d), Some(e)) = (details.as_object_mut(), extra.as_object()) {
            d.extend(e.clone());
        }
        details
    };
    let waiting = depth.visible + depth.delayed;
    let backlog = (waiting > thresholds.queue_backlog).then(|| Condition {
        key: backlog_key(queue),
        kind: AlertKind::QueueBacklog,
        severity: Severity::Warning,
        merchant_id: None,
        title: format!(
            "Queue {queue} has {waiting} messages waiting (threshold {})",
            thresholds.queue_backlog
        ),
        details: with(json!({ "threshold": thresholds.queue_backlog })),
    });
    // No age (an empty queue, or SQS, which keeps it as a metric only) is not a stuck queue.
    let age = depth
        .oldest_visible_age
        .filter(|age| *age > thresholds.queue_age)
        .map(|age| Condition {
            key: age_key(queue),
            kind: AlertKind::QueueAge,
            severity: Severity::Warning,
            merchant_id: None,
            title: format!(
                "Queue {queue}'s oldest message has waited {} s (threshold {} s)",
                age.as_secs(),
                thresholds.queue_age.as_secs()
            ),
            details: with(json!({ "threshold_seconds": thresholds.queue_age.as_secs() })),
        });
    let dead = (depth.dead_letters > 0).then(|| Condition {
        key: dead_letters_key(queue),
        kind: AlertKind::DeadLetters,
        severity: Severity::Critical,
        merchant_id: None,
        title: format!(
            "Dead-letter queue of {queue} holds {} messages",
            depth.dead_letters
        ),
        details: figures.clone(),
    });
    vec![
        (backlog_key(queue), backlog),
        (age_key(queue), age),
        (dead_letters_key(queue), dead),
    ]
}

/// A condition for every breaker that is not closed.
async fn open_breakers(tx: &Transaction<'_>) -> Result<Vec<Condition>, AppError> {
    let rows = tx
        .query_typed(
            "SELECT b.gateway_account_id, b.state, b.opened_at, b.consecutive_failures,
                    a.provider, a.label, a.environment, a.owner_merchant_id
               FROM gateway_breakers b JOIN gateway_accounts a ON a.id = b.gateway_account_id
              WHERE b.state <> 'closed'
              ORDER BY b.gateway_account_id",
            &[],
        )
        .await?;
    rows.iter()
        .map(|row| {
            let row = Record::new(row, "gateway_breakers");
            let account = GatewayAccountId::from_uuid(row.get("gateway_account_id")?);
            let state: String = row.get("state")?;
            let provider: String = row.get("provider")?;
            let label: String = row.get("label")?;
            let opened_at: Option<DateTime<Utc>> = row.get("opened_at")?;
            Ok(Condition {
                key: breaker_key(account),
                kind: AlertKind::GatewayBreakerOpen,
                severity: Severity::Critical,
                merchant_id: row
                    .get::<Option<uuid::Uuid>>("owner_merchant_id")?
                    .map(MerchantId::from_uuid),
                title: format!("Circuit breaker {state} for {provider} account {label}"),
                details: json!({
                    "gateway_account_id": account,
                    "provider": provider,
                    "label": label,
                    "environment": row.get::<String>("environment")?,
                    "state": state,
                    "opened_at": opened_at,
                    "consecutive_failures": row.get::<i32>("consecutive_failures")?,
                }),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn thresholds() -> crate::config::AlertsConfig {
        crate::config::AlertsConfig {
            notify_cool_down: chrono::Duration::minutes(30),
            queue_backlog: 10,
            queue_age: Duration::from_secs(60),
        }
    }

    #[test]
    fn each_queue_figure_decides_its_own_condition() {
        let quiet = QueueDepth::default();
        let found = queue_conditions("refund-processor", &quiet, &thresholds());
        assert_eq!(found.len(), 3);
        assert!(found.iter().all(|(_, c)| c.is_none()));

        let busy = QueueDepth {
            visible: 8,
            delayed: 3,
            dead_letters: 1,
            oldest_visible_age: Some(Duration::from_secs(61)),
            ..QueueDepth::default()
        };
        let found = queue_conditions("refund-processor", &busy, &thresholds());
        let keys: Vec<&str> = found
            .iter()
            .filter_map(|(k, c)| c.as_ref().map(|_| k.as_str()))
            .collect();
        assert_eq!(
            keys,
            [
                "queue_backlog:refund-processor",
                "queue_age:refund-processor",
                "dead_letters:refund-processor"
            ]
        );
        let at_threshold = QueueDepth {
            visible: 10,
            oldest_visible_age: Some(Duration::from_secs(60)),
            ..QueueDepth::default()
        };
        assert!(
            queue_conditions("q", &at_threshold, &thresholds())
                .iter()
                .all(|(_, c)| c.is_none())
        );
    }
}
