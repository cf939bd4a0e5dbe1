//! The transactional outbox. `write` runs inside the producer's transaction; `relay` publishes
//! the rows it names right after commit; `sweep` publishes anything still unpublished after a
//! grace period (a crash between commit and relay, or a queue outage).

use super::bus::{DomainEvent, EventBus};
use super::{JobQueue, QueueError};
use crate::db::Transaction;
use crate::db::record::Record;
use crate::db::{self, Db, Scope};
use crate::error::AppError;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio_postgres::types::Type;
use uuid::Uuid;

/// Something to publish once the transaction commits.
#[derive(Debug, Clone)]
pub enum Outgoing {
    /// A job for a worker's queue.
    Job {
        /// The queue.
        queue: &'static str,
        /// The message body.
        body: Value,
    },
    /// A domain event for the bus.
    Event(DomainEvent),
}

/// How outgoing items leave the producer's transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Outbox rows, published after commit by the relay (SQS and EventBridge).
    Relay,
    /// The PostgreSQL queue and the in-process bus live in the same database, so the outbox row
    /// is the job: jobs go straight into `job_queue` and events are recorded as published, all in
    /// the producer's transaction. Nothing is left for a relay, and nothing can be lost.
    Direct,
}

/// Writes outgoing jobs and events in the caller's transaction; returns the outbox ids the relay
/// must publish after commit (none with [`Delivery::Direct`]). An event that cannot be serialized
/// is an error: storing it as `null` would publish an event nobody can read.
pub async fn write(
    tx: &Transaction<'_>,
    delivery: Delivery,
    items: &[Outgoing],
) -> Result<Vec<Uuid>, AppError> {
    if delivery == Delivery::Direct {
        write_direct(tx, items).await?;
        return Ok(Vec::new());
    }
    let mut ids = Vec::with_capacity(items.len());
    for item in items {
        let (kind, topic, payload) = match item {
            Outgoing::Job { queue, body } => ("job", queue.to_string(), body.clone()),
            Outgoing::Event(event) => ("event", event.detail_type.clone(), payload_of(event)?),
        };
        let id = Uuid::now_v7();
        tx.execute_typed(
            "INSERT INTO outbox (id, kind, topic, payload) VALUES ($1, $2, $3, $4)",
            &[
                (&id, Type::UUID),
                (&kind, Type::TEXT),
                (&topic, Type::TEXT),
                (&payload, Type::JSONB),
            ],
        )
        .await?;
        ids.push(id);
    }
    Ok(ids)
}

/// The stored form of `event`.
fn payload_of(event: &DomainEvent) -> Result<Value, AppError> {
    serde_json::to_value(event)
        .map_err(|e| AppError::Internal(format!("serializing event {}: {e}", event.detail_type)))
}

async fn write_direct(tx: &Transaction<'_>, items: &[Outgoing]) -> Result<(), AppError> {
    let (mut queues, mut bodies) = (Vec::new(), Vec::new());
    let (mut ids, mut topics, mut payloads) = (Vec::new(), Vec::new(), Vec::new());
    for item in items {
        match item {
            Outgoing::Job { queue, body } => {
                queues.push(queue.to_string());
                bodies.push(body.to_string());
            }
            Outgoing::Event(event) => {
                let payload = payload_of(event)?;
                for queue in super::bus::subscribers(&event.detail_type) {
                    queues.push(queue.to_string());
                    bodies.push(payload.to_string());
                }
                ids.push(Uuid::now_v7());
                topics.push(event.detail_type.clone());
                payloads.push(payload);
                tracing::info!(event_id = %event.id, detail_type = %event.detail_type, "event published");
            }
        }
    }
    // Every job and event in one statement, whatever their number.
    tx.execute_typed(
        "WITH jobs AS (INSERT INTO job_queue (queue, body) SELECT * FROM unnest($1::text[], $2::text[]))
         INSERT INTO outbox (id, kind, topic, payload, published_at)
         SELECT id, 'event', topic, payload, now() FROM unnest($3::uuid[], $4::text[], $5::jsonb[]) AS e(id, topic, payload)",
        &[
            (&queues, Type::TEXT_ARRAY),
            (&bodies, Type::TEXT_ARRAY),
            (&ids, Type::UUID_ARRAY),
            (&topics, Type::TEXT_ARRAY),
            (&payloads, Type::JSONB_ARRAY),
        ],
    )
    .await?;
    Ok(())
}

/// The ports the relay publishes to.
pub struct Relay<'a> {
    /// The database holding the outbox.
    pub db: &'a Db,
    /// Where jobs go.
    pub queue: &'a dyn JobQueue,
    /// Where events go.
    pub bus: &'a dyn EventBus,
}

impl Relay<'_> {
    /// Publishes the named rows (call right after the producing transaction commits). A failure
    /// is recorded on the rows and left for the sweeper.
    pub async fn publish(&self, ids: &[Uuid]) -> Result<usize, QueueError> {
        if ids.is_empty() {
            return Ok(0);
        }
        self.publish_where("id = ANY($1)", &ids.to_vec(), Type::UUID_ARRAY)
            .await
    }

    /// Publishes every row unpublished for longer than `grace` (the scheduled sweeper).
    pub async fn sweep(&self, grace: Duration) -> Result<usize, QueueError> {
        self.publish_where(
            "created_at < now() - make_interval(secs => $1)",
            &grace.as_secs_f64(),
            Type::FLOAT8,
        )
        .await
    }

    async fn publish_where<P: tokio_postgres::types::ToSql + Sync>(
        &self,
        filter: &str,
        param: &P,
        ty: Type,
    ) -> Result<usize, QueueError> {
        let err = |e: &dyn std::fmt::Display| QueueError::new("outbox", e);
        // Claim the rows with a lease and let the connection go before talking to the queue or
        // the bus (a Lambda has one connection, and the PostgreSQL queue needs it to send).
        let rows = {
            let mut client = self.db.client().await.map_err(|e| err(&e))?;
            let tx = db::begin_relaxed(&mut client, Scope::System)
                .await
                .map_err(|e| err(&e))?;
            let rows = tx
                .query_typed(
                    &format!(
                        "UPDATE outbox SET lease_until = now() + interval '30 seconds', attempts = attempts + 1
                         WHERE id IN (SELECT id FROM outbox
                                      WHERE published_at IS NULL AND (lease_until IS NULL OR lease_until < now()) AND {filter}
                                      ORDER BY id LIMIT 500 FOR UPDATE SKIP LOCKED)
                         RETURNING id, kind, topic, payload"
                    ),
                    &[(param, ty)],
                )
                .await
                .map_err(|e| err(&e))?;
            tx.commit().await.map_err(|e| err(&e))?;
            rows
        };
        if rows.is_empty() {
            return Ok(0);
        }
        let mut rows = rows
            .iter()
            .map(|row| Ok((Record::new(row, "outbox").get::<Uuid>("id")?, row)))
            .collect::<Result<Vec<_>, crate::db::record::DecodeError>>()
            .map_err(|e| err(&e))?;
        rows.sort_by_key(|(id, _)| *id);
        let ids: Vec<Uuid> = rows.iter().map(|(id, _)| *id).collect();
        let mut jobs: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut events = Vec::new();
        for (_, row) in &rows {
            let row = Record::new(row, "outbox");
            let payload: Value = row.get("payload").map_err(|e| err(&e))?;
            match row.get::<&str>("kind").map_err(|e| err(&e))? {
                "job" => jobs
                    .entry(row.get("topic").map_err(|e| err(&e))?)
                    .or_default()
                    .push(payload.to_string()),
                "event" => events
                    .push(serde_json::from_value::<DomainEvent>(payload).map_err(|e| err(&e))?),
                other => return Err(err(&format!("outbox row of unknown kind {other:?}"))),
            }
        }
        let mut outcome = Ok(());
        for (queue, bodies) in &jobs {
            if let Err(e) = self.queue.send(queue, bodies, Duration::ZERO).await {
                outcome = Err(e);
                break;
            }
        }
        if outcome.is_ok() && !events.is_empty() {
            outcome = self.bus.publish(&events).await;
        }
        let mut client = self.db.client().await.map_err(|e| err(&e))?;
        let tx = db::begin_relaxed(&mut client, Scope::System)
            .await
            .map_err(|e| err(&e))?;
        let recorded = match &outcome {
            Ok(()) => {
                tx.execute_typed(
                    "UPDATE outbox SET published_at = now(), lease_until = NULL, last_error = NULL WHERE id = ANY($1)",
                    &[(&ids, Type::UUID_ARRAY)],
                )
                .await
            }
            Err(e) => {
                let message = e.to_string();
                tx.execute_typed(
                    "UPDATE outbox SET lease_until = NULL, last_error = $2 WHERE id = ANY($1)",
                    &[(&ids, Type::UUID_ARRAY), (&message, Type::TEXT)],
                )
                .await
            }
        };
        recorded.map_err(|e| err(&e))?;
        tx.commit().await.map_err(|e| err(&e))?;
        outcome.map(|()| ids.len())
    }
}
