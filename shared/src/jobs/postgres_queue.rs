//! The PostgreSQL job queue: `FOR UPDATE SKIP LOCKED` receives, a visibility timeout, a receive
//! count and dead-lettering after `max_receives`, the same semantics as SQS with a redrive policy.

use super::{
    DeadLetter, JobQueue, Message, Purge, Purged, QueueDepth, QueueError, Redriven, Selection,
};
use crate::db::record::{DecodeError, Record};
use crate::db::{self, Db, Scope};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::time::Duration;
use tokio_postgres::types::Type;
use uuid::Uuid;

/// The queue adapter over the platform's database.
#[derive(Clone)]
pub struct PostgresQueue {
    db: Db,
    max_receives: u32,
}

impl PostgresQueue {
    /// A queue that dead-letters a message on its `max_receives + 1`-th receive.
    pub fn new(db: Db, max_receives: u32) -> PostgresQueue {
        PostgresQueue { db, max_receives }
    }

    /// Messages of `queue` that were dead-lettered, oldest first.
    pub async fn dead_letters(&self, queue: &str) -> Result<Vec<Message>, QueueError> {
        let err = |e: &dyn std::fmt::Display| QueueError::new(queue, e);
        let mut client = self.db.client().await.map_err(|e| err(&e))?;
        let tx = db::begin_relaxed(&mut client, Scope::System)
            .await
            .map_err(|e| err(&e))?;
        let rows = tx
            .query_typed(
                "SELECT id, coalesce(receipt::text, '') AS receipt, body, receive_count FROM job_queue
                 WHERE queue = $1 AND dead_lettered_at IS NOT NULL ORDER BY id",
                &[(&queue, Type::TEXT)],
            )
            .await
            .map_err(|e| err(&e))?;
        tx.commit().await.map_err(|e| err(&e))?;
        rows.iter()
            .map(to_message)
            .collect::<Result<_, _>>()
            .map_err(|e| err(&e))
    }
}

fn to_message(row: &tokio_postgres::Row) -> Result<Message, DecodeError> {
    let row = Record::new(row, "job_queue");
    Ok(Message {
        id: row.get::<i64>("id")?.to_string(),
        receipt: row.get("receipt")?,
        body: row.get("body")?,
        receive_count: u32::try_from(row.get::<i32>("receive_count")?).unwrap_or(0),
    })
}

/// The `id` column of `rows`, as message ids.
fn message_ids(rows: &[tokio_postgres::Row]) -> Result<Vec<String>, DecodeError> {
    rows.iter()
        .map(|row| {
            Record::new(row, "job_queue")
                .get::<i64>("id")
                .map(|id| id.to_string())
        })
        .collect()
}

/// The message ids among `ids` (the PostgreSQL queue's are numbers); any other is not found.
fn numeric_ids(ids: &[String]) -> Vec<i64> {
    ids.iter().filter_map(|id| id.parse().ok()).collect()
}

fn seconds(d: Duration) -> f64 {
    d.as_secs_f64()
}

#[async_trait]
impl JobQueue for PostgresQueue {
    async fn send(
        &self,
        queue: &str,
        bodies: &[String],
        delay: Duration,
    ) -> Result<(), QueueError> {
        if bodies.is_empty() {
            return Ok(());
        }
        let err = |e: &dyn std::fmt::Display| QueueError::new(queue, e);
        let mut client = self.db.client().await.map_err(|e| err(&e))?;
        let tx = db::begin_relaxed(&mut client, Scope::System)
            .await
            .map_err(|e| err(&e))?;
        tx.execute_typed(
            "INSERT INTO job_queue (queue, body, visible_at)
             SELECT $1, body, now() + make_interval(secs => $3) FROM unnest($2::text[]) AS body",
            &[
                (&queue, Type::TEXT),
                (&bodies, Type::TEXT_ARRAY),
                (&seconds(delay), Type::FLOAT8),
            ],
        )
        .await
        .map_err(|e| err(&e))?;
        tx.commit().await.map_err(|e| err(&e))
    }

    async fn receive(
        &self,
        queue: &str,
        max: u32,
        visibility: Duration,
    ) -> Result<Vec<Message>, QueueError> {
        let err = |e: &dyn std::fmt::Display| QueueError::new(queue, e);
        let mut client = self.db.client().await.map_err(|e| err(&e))?;
        let tx = db::begin_relaxed(&mut client, Scope::System)
            .await
            .map_err(|e| err(&e))?;
        let limit = i64::from(max);
        let max_receives = i32::try_from(self.max_receives).unwrap_or(i32::MAX);
        // A visible message that was already received `max_receives` times goes to the
        // dead-letter set instead of being delivered again.
        tx.execute_typed(
            "UPDATE job_queue SET dead_lettered_at = now()
             WHERE id IN (SELECT id FROM job_queue
                          WHERE queue = $1 AND dead_lettered_at IS NULL AND visible_at <= now() AND receive_count >= $2
                          FOR UPDATE SKIP LOCKED)",
            &[(&queue, Type::TEXT), (&max_receives, Type::INT4)],
        )
        .await
        .map_err(|e| err(&e))?;
        let rows = tx
            .query_typed(
                "UPDATE job_queue q
                 SET receive_count = q.receive_count + 1,
                     visible_at = now() + make_interval(secs => $3),
                     receipt = gen_random_uuid()
                 FROM (SELECT id FROM job_queue
                       WHERE queue = $1 AND dead_lettered_at IS NULL AND visible_at <= now()
                       ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED) picked
                 WHERE q.id = picked.id
                 RETURNING q.id, q.receipt::text AS receipt, q.body, q.receive_count",
                &[
                    (&queue, Type::TEXT),
                    (&limit, Type::INT8),
                    (&seconds(visibility), Type::FLOAT8),
                ],
            )
            .await
            .map_err(|e| err(&e))?;
        tx.commit().await.map_err(|e| err(&e))?;
        let mut messages: Vec<Message> = rows
            .iter()
            .map(to_message)
            .collect::<Result<_, _>>()
            .map_err(|e| err(&e))?;
        messages.sort_by_key(|m| m.id.parse::<i64>().unwrap_or(0));
        Ok(messages)
    }

    async fn delete(&self, queue: &str, receipts: &[String]) -> Result<(), QueueError> {
        let err = |e: &dyn std::fmt::Display| QueueError::new(queue, e);
        let receipts: Vec<Uuid> = receipts.iter().filter_map(|r| r.parse().ok()).collect();
        if receipts.is_empty() {
            return Ok(());
        }
        let mut client = self.db.client().await.map_err(|e| err(&e))?;
        let tx = db::begin_relaxed(&mut client, Scope::System)
            .await
            .map_err(|e| err(&e))?;
        tx.execute_typed(
            "DELETE FROM job_queue WHERE queue = $1 AND receipt = ANY($2)",
            &[(&queue, Type::TEXT), (&receipts, Type::UUID_ARRAY)],
        )
        .await
        .map_err(|e| err(&e))?;
        tx.commit().await.map_err(|e| err(&e))
    }

    async fn depth(&self, queue: &str) -> Result<QueueDepth, QueueError> {
        let err = |e: &dyn std::fmt::Display| QueueError::new(queue, e);
        let mut client = self.db.client().await.map_err(|e| err(&e))?;
        let tx = db::begin_relaxed(&mut client, Scope::System)
            .await
            .map_err(|e| err(&e))?;
        // The receive path's own definitions: visible is due and not dead-lettered; a hidden
        // message that was received is in flight, one never received is delayed.
        let row = tx
            .query_typed_one(
                "SELECT count(*) FILTER (WHERE dead_lettered_at IS NULL AND visible_at <= now()) AS visible,
                        count(*) FILTER (WHERE dead_lettered_at IS NULL AND visible_at > now() AND receive_count > 0) AS in_flight,
                        count(*) FILTER (WHERE dead_lettered_at IS NULL AND visible_at > now() AND receive_count = 0) AS delayed,
                        count(*) FILTER (WHERE dead_lettered_at IS NOT NULL) AS dead_letters,
                        extract(epoch FROM now() - min(enqueued_at) FILTER (WHERE dead_lettered_at IS NULL AND visible_at <= now()))::float8 AS oldest_age
                 FROM job_queue WHERE queue = $1",
                &[(&queue, Type::TEXT)],
            )
            .await
            .map_err(|e| err(&e))?;
        tx.commit().await.map_err(|e| err(&e))?;
        let row = Record::new(&row, "job_queue");
        let count = |column: &str| -> Result<u64, QueueError> {
            let n: i64 = row.get(column).map_err(|e| err(&e))?;
            Ok(u64::try_from(n).unwrap_or(0))
        };
        let oldest: Option<f64> = row.get("oldest_age").map_err(|e| err(&e))?;
        Ok(QueueDepth {
            visible: count("visible")?,
            in_flight: count("in_flight")?,
            delayed: count("delayed")?,
            dead_letters: count("dead_letters")?,
            oldest_visible_age: oldest.map(|s| Duration::from_secs_f64(s.max(0.0))),
        })
    }

    async fn peek_dead_letters(
        &self,
        queue: &str,
        max: usize,
    ) -> Result<Vec<DeadLetter>, QueueError> {
        let err = |e: &dyn std::fmt::Display| QueueError::new(queue, e);
        let limit = i64::try_from(max).unwrap_or(i64::MAX);
        let mut client = self.db.client().await.map_err(|e| err(&e))?;
        let tx = db::begin_relaxed(&mut client, Scope::System)
            .await
            .map_err(|e| err(&e))?;
        let rows = tx
            .query_typed(
                "SELECT id, body, receive_count, enqueued_at, dead_lettered_at FROM job_queue
                 WHERE queue = $1 AND dead_lettered_at IS NOT NULL ORDER BY id LIMIT $2",
                &[(&queue, Type::TEXT), (&limit, Type::INT8)],
            )
            .await
            .map_err(|e| err(&e))?;
        tx.commit().await.map_err(|e| err(&e))?;
        rows.iter()
            .map(|row| {
                let row = Record::new(row, "job_queue");
                Ok(DeadLetter {
                    id: row.get::<i64>("id")?.to_string(),
                    body: row.get("body")?,
                    receive_count: u32::try_from(row.get::<i32>("receive_count")?).unwrap_or(0),
                    sent_at: row.get("enqueued_at")?,
                    first_received_at: None,
                    dead_lettered_at: row.get("dead_lettered_at")?,
                })
            })
            .collect::<Result<_, DecodeError>>()
            .map_err(|e| err(&e))
    }

    async fn redrive(&self, queue: &str, which: Selection<'_>) -> Result<Redriven, QueueError> {
        let err = |e: &dyn std::fmt::Display| QueueError::new(queue, e);
        let ids: Option<Vec<i64>> = match which {
            Selection::All => None,
            Selection::Ids(ids) => Some(numeric_ids(ids)),
        };
        let mut client = self.db.client().await.map_err(|e| err(&e))?;
        let tx = db::begin_relaxed(&mut client, Scope::System)
            .await
            .map_err(|e| err(&e))?;
        // Received afresh: its receive count starts over, so it gets every retry again.
        let rows = tx
            .query_typed(
                "UPDATE job_queue SET dead_lettered_at = NULL, receive_count = 0, receipt = NULL, visible_at = now()
                 WHERE queue = $1 AND dead_lettered_at IS NOT NULL AND ($2::int8[] IS NULL OR id = ANY($2))
                 RETURNING id",
                &[(&queue, Type::TEXT), (&ids, Type::INT8_ARRAY)],
            )
            .await
            .map_err(|e| err(&e))?;
        tx.commit().await.map_err(|e| err(&e))?;
        let moved: Vec<String> = message_ids(&rows).map_err(|e| err(&e))?;
        let not_found = match which {
            Selection::All => Vec::new(),
            Selection::Ids(asked) => asked
                .iter()
                .filter(|id| !moved.contains(id))
                .cloned()
                .collect(),
        };
        Ok(Redriven {
            moved: moved.len() as u64,
            method: "database",
            task_handle: None,
            not_found,
            retired: Vec::new(),
        })
    }

    async fn purge_dead_letters(
        &self,
        queue: &str,
        before: DateTime<Utc>,
        purge: Purge<'_>,
    ) -> Result<Purged, QueueError> {
        let err = |e: &dyn std::fmt::Display| QueueError::new(queue, e);
        let mut client = self.db.client().await.map_err(|e| err(&e))?;
        let tx = db::begin_relaxed(&mut client, Scope::System)
            .await
            .map_err(|e| err(&e))?;
        // Locked, so no worker or retry changes the set between the check and the delete.
        let rows = tx
            .query_typed(
                "SELECT id FROM job_queue
                  WHERE queue = $1 AND dead_lettered_at IS NOT NULL AND enqueued_at < $2
                  FOR UPDATE",
                &[(&queue, Type::TEXT), (&before, Type::TIMESTAMPTZ)],
            )
            .await
            .map_err(|e| err(&e))?;
        let purged = Purged::decide(message_ids(&rows).map_err(|e| err(&e))?, true, purge);
        if purged.removed {
            tx.execute_typed(
                "DELETE FROM job_queue WHERE id = ANY($1)",
                &[(&numeric_ids(&purged.ids), Type::INT8_ARRAY)],
            )
            .await
            .map_err(|e| err(&e))?;
        }
        tx.commit().await.map_err(|e| err(&e))?;
        Ok(purged)
    }
}
