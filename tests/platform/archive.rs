//! The archive (`shared::archive`, `migrations/V18__archive.sql`): 100,000 generated old final
//! payments move with their attempts, refunds and gateway events without losing or changing a
//! row, the ledger untouched; a second run moves nothing; archived payments are still read by id
//! and listed on request; one scheduled run acts once; the archived tables mirror the live ones.

use crate::support::*;
use chrono::{Duration, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::archive::{self, Moved, TABLES};
use shared::config::ArchiveConfig;
use shared::schedules::runs::RunOutcome;
use std::collections::BTreeSet;
use std::time::Instant;

/// The live table's columns, in order, as `(name, type)`.
async fn columns(db: &tokio_postgres::Client, table: &str) -> Vec<(String, String)> {
    db.query(
        "SELECT attname::text, format_type(atttypid, atttypmod) FROM pg_attribute
          WHERE attrelid = $1::text::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
        &[&table],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

/// Rows and a checksum of their content (the live table's columns, by id) of a live table and
/// its archive taken together.
async fn fingerprint(db: &tokio_postgres::Client, live: &str, archived: &str) -> (i64, String) {
    let cols = columns(db, live)
        .await
        .into_iter()
        .map(|(name, _)| format!("\"{name}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let row = db
        .query_one(
            &format!(
                "SELECT count(*), coalesce(md5(string_agg(md5(r), '' ORDER BY id)), '') FROM (
                     SELECT id, ROW({cols})::text AS r FROM {live}
                     UNION ALL SELECT id, ROW({cols})::text FROM {archived}) AS both_tables"
            ),
            &[],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

/// Every archived pair's fingerprint, and the ledger's.
async fn fingerprints(db: &tokio_postgres::Client) -> Vec<(i64, String)> {
    let mut all = Vec::new();
    for (live, archived) in TABLES {
        all.push(fingerprint(db, live, archived).await);
    }
    for table in [
        "ledger_entries",
        "ledger_lines",
        "wallet_top_ups",
        "merchant_events",
    ] {
        let row = db
            .query_one(
                &format!(
                    "SELECT count(*), coalesce(md5(string_agg(md5(t::text), '' ORDER BY t.id)), '') FROM {table} t"
                ),
                &[],
            )
            .await
            .unwrap();
        all.push((row.get(0), row.get(1)));
    }
    all
}

async fn count(db: &tokio_postgres::Client, sql: &str) -> i64 {
    db.query_one(sql, &[]).await.unwrap().get(0)
}

/// `n` payments of the merchant created 400 days ago onwards, one a second: a third each
/// succeeded, failed and expired, an attempt and a gateway event each; every thirtieth (a
/// succeeded one) partly refunded, the thirtieth's refund still pending. The first five were
/// changed just now. Ids are derived from the series number and `tag`.
async fn generate(db: &tokio_postgres::Client, merchant: &str, tag: &str, n: i64) {
    let sql = format!(
        "
        WITH s AS (SELECT g, now() - interval '400 days' + g * interval '1 second' AS at,
                          (ARRAY['succeeded', 'failed', 'expired'])[g % 3 + 1] AS status
                     FROM generate_series(1, $2::bigint) AS g)
        INSERT INTO transactions (id, merchant_id, mode, order_id, amount, currency, status, customer_name,
                                  customer_email, customer_phone, description, return_url, notes, failure_reason,
                                  expires_at, succeeded_at, created_at, updated_at, payment_method)
        SELECT md5('{tag}t' || g)::uuid, $1::uuid, 'test', '{tag}-' || g, 1000 + g, 'INR', status, 'Customer ' || g,
               'c' || g || '@example.in', '+91981234' || lpad((g % 10000)::text, 4, '0'), 'order ' || g,
               'https://shop.example.in/done', jsonb_build_object('n', g::text),
               CASE status WHEN 'failed' THEN 'declined' END,
               at + interval '15 minutes', CASE status WHEN 'succeeded' THEN at + interval '1 minute' END,
               at, at + interval '2 minutes', CASE status WHEN 'succeeded' THEN 'upi' END
          FROM s;
        INSERT INTO transaction_attempts (id, transaction_id, merchant_id, mode, gateway_account_id, provider, status,
                                          gateway_reference, gateway_payment_id, created_at, updated_at)
        SELECT md5('{tag}a' || t.id)::uuid, t.id, t.merchant_id, t.mode, $3::uuid, 'sandbox', t.status,
               'ref-' || t.order_id, CASE t.status WHEN 'succeeded' THEN 'pay-' || t.order_id END,
               t.created_at, t.updated_at
          FROM transactions t WHERE t.order_id LIKE '{tag}-%';
        INSERT INTO gateway_events (id, provider, event_id, gateway_account_id, event_type, payload, received_at,
                                    processed_at, transaction_id, outcome)
        SELECT md5('{tag}e' || t.id)::uuid, 'sandbox', 'evt-' || t.order_id, $3::uuid, 'payment.' || t.status,
               '{{\"order\":\"' || t.order_id || '\"}}', t.updated_at, t.updated_at, t.id, 'applied'
          FROM transactions t WHERE t.order_id LIKE '{tag}-%';
        INSERT INTO refunds (id, merchant_id, mode, transaction_id, attempt_id, amount, currency, status, reason,
                             gateway_refund_id, created_at, updated_at)
        SELECT md5('{tag}r' || t.id)::uuid, t.merchant_id, t.mode, t.id, md5('{tag}a' || t.id)::uuid, 500, 'INR',
               CASE WHEN t.order_id = '{tag}-30' THEN 'pending' ELSE 'succeeded' END, 'returned',
               'rfnd-' || t.order_id, t.updated_at, t.updated_at
          FROM transactions t
         WHERE t.order_id LIKE '{tag}-%' AND substr(t.order_id, length('{tag}-') + 1)::bigint % 30 = 0;
        -- The refund trigger touched its payments: age them again, and mark the refunded ones.
        UPDATE transactions t SET updated_at = t.created_at + interval '3 minutes',
               status = CASE WHEN t.order_id = '{tag}-30' THEN 'succeeded' ELSE 'partially_refunded' END,
               refunded_amount = CASE WHEN t.order_id = '{tag}-30' THEN 0 ELSE 500 END
         WHERE t.order_id LIKE '{tag}-%' AND EXISTS (SELECT 1 FROM refunds r WHERE r.transaction_id = t.id);
        UPDATE transactions SET updated_at = now() WHERE order_id IN ('{tag}-1', '{tag}-2', '{tag}-3', '{tag}-4', '{tag}-5');
        "
    );
    let account: uuid::Uuid = db
        .query_one(
            "SELECT id FROM gateway_accounts WHERE provider = 'sandbox' ORDER BY created_at LIMIT 1",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let merchant: uuid::Uuid = merchant
        .parse::<shared::ids::MerchantId>()
        .unwrap()
        .as_uuid();
    // Parameters are per statement: inline them (all generated here, none from input).
    let sql = sql
        .replace("$1::uuid", &format!("'{merchant}'::uuid"))
        .replace("$2::bigint", &n.to_string())
        .replace("$3::uuid", &format!("'{account}'::uuid"));
    db.batch_execute(&sql).await.unwrap();
}

fn settings(batch_size: i32) -> ArchiveConfig {
    ArchiveConfig {
        after: Duration::days(180),
        batch_size,
        time_budget: std::time::Duration::from_secs(600),
    }
}

async fn refund(app: &TestApp, m: &Merchant, transaction: &str) -> (StatusCode, Value) {
    send(
        app.http
            .post(app.url(&format!("/api/v1/transactions/{transaction}/refunds")))
            .header("X-Client-Key", &m.client_key)
            .header("X-Client-Secret", &m.client_secret)
            .json(&json!({ "amount": 100 })),
    )
    .await
}

/// Every id of a listing, paging with `limit` until the end.
async fn list_all(app: &TestApp, m: &Merchant, query: &str, limit: usize) -> Vec<String> {
    let mut ids = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let cursor = after
            .as_ref()
            .map(|a| format!("&starting_after={a}"))
            .unwrap_or_default();
        let (status, body) = app
            .get_with_key(
                &format!("/api/v1/transactions?{query}&limit={limit}{cursor}"),
                &m.client_key,
                &m.client_secret,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let items = body["data"]["items"].as_array().unwrap().clone();
        for item in &items {
            ids.push(item["id"].as_str().unwrap().to_string());
        }
        if body["data"]["has_more"] != true {
            assert!(items.len() <= limit);
            return ids;
        }
        assert_eq!(items.len(), limit);
        after = ids.last().cloned();
    }
}

#[tokio::test]
async fn archiving_100k_payments_is_lossless_runs_once_and_stays_readable() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Archive Chai").await;
    let other = app.create_merchant(&admin, "Someone Else").await;
    let db = app.db.owner().await;

    // A real captured and partly refunded payment, with its ledger entries, made old.
    let (status, body) = app.pay(&m, &payment("real-1", 49_900, true), None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let real = body["data"]["id"].as_str().unwrap().to_string();
    app.drain().await;
    let (status, body) = refund(&app, &m, &real).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    app.drain().await;
    let real_uuid = real
        .parse::<shared::ids::TransactionId>()
        .unwrap()
        .as_uuid();
    assert!(
        count(
            &db,
            &format!("SELECT count(*) FROM ledger_entries WHERE transaction_id = '{real_uuid}'")
        )
        .await
            >= 2
    );
    db.batch_execute(&format!(
        "UPDATE transactions SET created_at = now() - interval '300 days', expires_at = now() - interval '299 days',
                succeeded_at = now() - interval '300 days', updated_at = now() - interval '300 days'
          WHERE id = '{real_uuid}'"
    ))
    .await
    .unwrap();
    // An open payment of today stays.
    let (status, body) = app.pay(&m, &payment("open-1", 10_000, false), None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let started = Instant::now();
    generate(&db, &m.id, "g", 100_000).await;
    let generated = started.elapsed();
    let before = fingerprints(&db).await;
    assert_eq!(before[3].0, 100_002, "payments before");

    let started = Instant::now();
    let cutoff = Utc::now() - Duration::days(180);
    let run = archive::archive(&app.app, cutoff, &settings(5_000))
        .await
        .unwrap();
    let took = started.elapsed();
    eprintln!("generated 100,000 payments in {generated:?}; archived them in {took:?}: {run:?}");
    // Held back: five changed just now, one with a pending refund, and the open one.
    assert!(run.finished);
    assert_eq!(run.moved.transactions, 100_000 - 6 + 1, "{run:?}");
    assert_eq!(run.moved.transaction_attempts, 100_000 - 6 + 1);
    assert_eq!(run.moved.refunds, 3_333 - 1 + 1);
    assert!(run.moved.gateway_events >= 100_000 - 6);
    assert_eq!(
        count(&db, "SELECT count(*) FROM transactions").await,
        7,
        "left live"
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM transactions WHERE order_id = 'g-30' AND status = 'succeeded'"
        )
        .await,
        1
    );

    // Lossless: every pair holds the same rows with the same content; the ledger, the top-ups
    // and the merchant events are untouched.
    let after = fingerprints(&db).await;
    assert_eq!(before, after);

    // A second run finds nothing.
    let again = archive::archive(&app.app, cutoff, &settings(5_000))
        .await
        .unwrap();
    assert_eq!(again.moved, Moved::default());
    assert!(again.finished);

    // The archived payment by id, for its merchant and for operators; not for another merchant.
    let read = app.transaction(&m, &real).await;
    assert_eq!(read["status"], "partially_refunded", "{read}");
    assert!(read["archived_at"].is_string(), "{read}");
    assert_eq!(read["attempts"].as_array().unwrap().len(), 1, "{read}");
    assert_eq!(read["refunds"].as_array().unwrap().len(), 1, "{read}");
    let (status, body) = app
        .get(&format!("/api/v1/transactions/{real}"), Some(&admin))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["id"], real.as_str());
    assert!(body["data"]["archived_at"].is_string());
    assert!(body["data"]["attempts"][0]["routing"].is_object(), "{body}");
    let (status, _) = app
        .get_with_key(
            &format!("/api/v1/transactions/{real}"),
            &other.client_key,
            &other.client_secret,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Its refunds where refunds are read by payment, and by id.
    let (status, body) = app
        .get_with_key(
            &format!("/api/v1/transactions/{real}/refunds"),
            &m.client_key,
            &m.client_secret,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let refund_id = body["data"]["items"][0]["id"].as_str().unwrap().to_string();
    let (status, body) = app
        .get(&format!("/api/v1/refunds/{refund_id}"), Some(&admin))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A refund of it is refused, clearly.
    let (status, body) = refund(&app, &m, &real).await;
    expect_error(status, &body, StatusCode::CONFLICT, "REFUND_NOT_ALLOWED");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("archived"),
        "{body}"
    );
    // Its order id stays taken.
    let (status, body) = app.pay(&m, &payment("real-1", 100, false), None).await;
    expect_error(status, &body, StatusCode::CONFLICT, "DUPLICATE_ORDER_ID");

    // Listing: live only by default; both on request, in one id order, paged without a gap or a
    // repeat across the two tables (a window of 20 payments, 5 of them still live).
    let (from, to) = db
        .query_one(
            "SELECT to_char(min(created_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),
                    to_char(max(created_at) AT TIME ZONE 'UTC' + interval '1 microsecond', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')
               FROM (SELECT created_at FROM transactions WHERE order_id LIKE 'g-%'
                     UNION ALL SELECT created_at FROM archived_transactions WHERE order_id LIKE 'g-%') c
              WHERE created_at <= (SELECT created_at FROM archived_transactions WHERE order_id = 'g-20')",
            &[],
        )
        .await
        .map(|r| (r.get::<_, String>(0), r.get::<_, String>(1)))
        .unwrap();
    let window = format!("created_from={from}&created_to={to}");
    let live = list_all(&app, &m, &window, 3).await;
    assert_eq!(live.len(), 5, "{live:?}");
    let both = list_all(&app, &m, &format!("{window}&include_archived=true"), 3).await;
    assert_eq!(both.len(), 20, "{both:?}");
    assert_eq!(both.iter().collect::<BTreeSet<_>>().len(), 20, "no repeats");
    let uuids: Vec<uuid::Uuid> = both
        .iter()
        .map(|id| id.parse::<shared::ids::TransactionId>().unwrap().as_uuid())
        .collect();
    assert!(uuids.windows(2).all(|w| w[0] > w[1]), "newest id first");
    assert!(live.iter().all(|id| both.contains(id)));
    let (status, body) = app
        .get(
            &format!(
                "/api/v1/transactions?merchant_id={}&include_archived=true&limit=5",
                m.id
            ),
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["items"].as_array().unwrap().len(), 5);
    let (status, body) = app
        .get_with_key(
            "/api/v1/transactions?include_archived=maybe",
            &m.client_key,
            &m.client_secret,
        )
        .await;
    expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");

    // The ledger still books against an archived payment and refund (an operator's reversal of
    // the refund's entry), and refuses a payment that never existed.
    let booked: String = db
        .query_one(
            &format!(
                "SELECT business_key FROM ledger_entries WHERE transaction_id = '{real_uuid}' AND kind = 'refund' AND refund_id IS NOT NULL"
            ),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    db.batch_execute(&format!(
        "BEGIN; SELECT set_config('app.scope', 'admin', true);
         SELECT ledger_reverse(gen_random_uuid(), 'archive-test-reversal', '{booked}'); COMMIT;"
    ))
    .await
    .unwrap();
    let refused = db
        .batch_execute(
            "BEGIN; SELECT set_config('app.scope', 'admin', true);
             SELECT ledger_post(gen_random_uuid(), 'archive-test-ghost', 'capture', 'test', NULL,
                                gen_random_uuid(), NULL, NULL, '{}', '[]'); COMMIT;",
        )
        .await;
    db.batch_execute("ROLLBACK").await.unwrap();
    let refused = refused.unwrap_err();
    assert_eq!(
        refused.as_db_error().and_then(|e| e.constraint()),
        Some("ledger_entries_transaction_id_fkey"),
        "{refused}"
    );
}

#[tokio::test]
async fn one_scheduled_run_acts_once_for_its_own_time() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Archive Once").await;
    let db = app.db.owner().await;
    generate(&db, &m.id, "a", 40).await;
    // Last changed 185 days ago: due for a run now, not for a run scheduled ten days ago.
    db.batch_execute(
        "UPDATE transactions SET updated_at = now() - interval '185 days',
                created_at = now() - interval '186 days', expires_at = now() - interval '185 days',
                succeeded_at = CASE WHEN succeeded_at IS NOT NULL THEN now() - interval '186 days' END
          WHERE order_id = 'a-40'",
    )
    .await
    .unwrap();
    let slot = Utc::now() - Duration::days(10);
    let first = functions::worker::run_schedule_at(&app.app, "archive", slot)
        .await
        .unwrap();
    let RunOutcome::Ran { summary, .. } = first else {
        panic!("the first invocation runs: {first:?}");
    };
    // 40 generated: five changed just now, one with a pending refund, one too young for the slot.
    assert_eq!(summary["moved"]["transactions"], 33, "{summary}");
    assert_eq!(summary["finished"], true);
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM transactions WHERE order_id = 'a-40'"
        )
        .await,
        1
    );
    // More old payments arrive; the same scheduled run invoked again does nothing.
    generate(&db, &m.id, "b", 10).await;
    let second = functions::worker::run_schedule_at(&app.app, "archive", slot)
        .await
        .unwrap();
    assert!(
        matches!(second, RunOutcome::AlreadyRan { .. }),
        "{second:?}"
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM archived_transactions").await,
        33
    );
    // The next day's run takes them (the young one is still too young for it).
    let next = functions::worker::run_schedule_at(&app.app, "archive", slot + Duration::days(1))
        .await
        .unwrap();
    let RunOutcome::Ran { summary, .. } = next else {
        panic!("the next run runs: {next:?}");
    };
    assert_eq!(summary["moved"]["transactions"], 5, "{summary}");
    // A run out of time starts no batch and says it did not finish.
    generate(&db, &m.id, "d", 10).await;
    let spent = ArchiveConfig {
        time_budget: std::time::Duration::ZERO,
        ..settings(100)
    };
    let run = archive::archive(&app.app, Utc::now() - Duration::days(180), &spent)
        .await
        .unwrap();
    assert!(!run.finished && run.batches == 0, "{run:?}");
    assert_eq!(run.moved, Moved::default());
}

#[tokio::test]
async fn archived_tables_mirror_their_live_tables_and_only_the_job_writes_them() {
    let app = TestApp::spawn().await;
    let db = app.db.owner().await;
    for (live, archived) in TABLES {
        let mut mirrored = columns(&db, archived).await;
        let at = mirrored
            .iter()
            .position(|(name, _)| name == "archived_at")
            .unwrap_or_else(|| panic!("{archived} has no archived_at"));
        assert_eq!(mirrored.remove(at).1, "timestamp with time zone");
        // Same columns, same order, same types: a column added to the live table must be added
        // to its archive (after archived_at is fine), or archiving would lose it.
        assert_eq!(
            columns(&db, live).await,
            mirrored,
            "{archived} must mirror {live}"
        );
        let forced: bool = db
            .query_one(
                "SELECT relrowsecurity AND relforcerowsecurity FROM pg_class WHERE oid = $1::text::regclass",
                &[&archived],
            )
            .await
            .unwrap()
            .get(0);
        assert!(forced, "{archived} has forced row security");
    }
    // The application role reads the archive and asks the job's function to move rows; it
    // cannot write or delete either side itself, nor archive outside the system scope.
    let role = app.db.app_role().await;
    for sql in [
        "INSERT INTO archived_transactions SELECT * FROM archived_transactions",
        "DELETE FROM transactions",
        "DELETE FROM archived_refunds",
    ] {
        let e = role
            .batch_execute(&format!(
                "BEGIN; SELECT set_config('app.scope', 'system', true); {sql}; COMMIT;"
            ))
            .await
            .unwrap_err();
        role.batch_execute("ROLLBACK").await.unwrap();
        assert!(
            format!("{e:?}").contains("permission denied"),
            "{sql}: {e:?}"
        );
    }
    let e = role
        .batch_execute(
            "BEGIN; SELECT set_config('app.scope', 'admin', true); SELECT archive_batch(now(), 10); COMMIT;",
        )
        .await
        .unwrap_err();
    role.batch_execute("ROLLBACK").await.unwrap();
    assert!(format!("{e:?}").contains("only the archive job"), "{e:?}");
    // Even the owner cannot drop a payment without archiving it, nor change the archive.
    let m = app
        .create_merchant(&app.admin_token().await, "Guarded")
        .await;
    generate(&db, &m.id, "c", 3).await;
    let e = db
        .batch_execute("DELETE FROM gateway_events; DELETE FROM transaction_attempts; DELETE FROM transactions")
        .await
        .unwrap_err();
    assert!(format!("{e:?}").contains("without being archived"), "{e:?}");
}

#[tokio::test]
async fn payments_still_in_use_wait_until_they_are_not() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Archive Later").await;
    let db = app.db.owner().await;
    generate(&db, &m.id, "h", 40).await;
    let merchant = m.id.parse::<shared::ids::MerchantId>().unwrap().as_uuid();
    // h-6 holds money in suspense; a webhook about h-7 and one about a refund of h-8 are still
    // being delivered; h-10's attempt is still pending.
    db.batch_execute(&format!(
        "
        INSERT INTO webhook_endpoints (id, merchant_id, mode, url, secret_key_id, secret_nonce, secret_ciphertext)
        VALUES ('00000000-0000-0000-0000-00000000e001', '{merchant}', 'test', 'https://hooks.example.in/x', 'k', '\\x00', '\\x00');
        INSERT INTO merchant_events (id, merchant_id, mode, type, created_at, data)
        SELECT md5('ev' || t.order_id)::uuid, t.merchant_id, 'test', e.type, now(), e.data
          FROM transactions t
          JOIN (VALUES ('h-7', 'transaction.failed',
                        jsonb_build_object('transaction', jsonb_build_object('id', 'txn_' || replace(md5('ht' || 7)::uuid::text, '-', '')))),
                       ('h-8', 'refund.created',
                        jsonb_build_object('refund', jsonb_build_object('transaction_id', 'txn_' || replace(md5('ht' || 8)::uuid::text, '-', '')))))
                AS e(order_id, type, data) ON e.order_id = t.order_id;
        INSERT INTO webhook_deliveries (id, endpoint_id, event_id, merchant_id, status, next_attempt_at)
        SELECT md5('dl' || e.id)::uuid, '00000000-0000-0000-0000-00000000e001', e.id, e.merchant_id, 'pending', now()
          FROM merchant_events e;
        UPDATE transaction_attempts SET status = 'pending'
         WHERE transaction_id = (SELECT id FROM transactions WHERE order_id = 'h-10');
        BEGIN;
        SELECT set_config('app.scope', 'admin', true);
        SELECT ledger_post(gen_random_uuid(), 'suspense:h-6', 'suspense_capture', 'test', t.merchant_id, t.id, NULL, NULL,
                           jsonb_build_object('reason', 'second_capture'),
                           jsonb_build_array(
                               jsonb_build_object('code', 'gateway_clearing', 'owner_kind', 'gateway_account',
                                                  'owner_id', a.gateway_account_id, 'merchant_id', NULL,
                                                  'currency', 'INR', 'side', 'debit', 'amount', 100),
                               jsonb_build_object('code', 'suspense', 'owner_kind', 'platform',
                                                  'owner_id', '00000000-0000-0000-0000-000000000000', 'merchant_id', NULL,
                                                  'currency', 'INR', 'side', 'credit', 'amount', 100)))
          FROM transactions t JOIN transaction_attempts a ON a.transaction_id = t.id WHERE t.order_id = 'h-6';
        COMMIT;
        "
    ))
    .await
    .unwrap();
    let cutoff = Utc::now() - Duration::days(180);
    let run = archive::archive(&app.app, cutoff, &settings(7))
        .await
        .unwrap();
    let held: Vec<String> = db
        .query(
            "SELECT order_id FROM transactions WHERE order_id IN ('h-6', 'h-7', 'h-8', 'h-10') ORDER BY order_id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(held, ["h-10", "h-6", "h-7", "h-8"]);
    // 40, less five changed just now, the pending refund of h-30, and the four above.
    assert_eq!(run.moved.transactions, 30, "{run:?}");
    assert!(run.batches >= 5, "in batches of 7: {run:?}");

    // Delivered, resolved and settled: the next run takes them.
    db.batch_execute(
        "
        UPDATE webhook_deliveries SET status = 'succeeded', next_attempt_at = NULL;
        UPDATE transaction_attempts SET status = 'failed'
         WHERE transaction_id = (SELECT id FROM transactions WHERE order_id = 'h-10');
        BEGIN;
        SELECT set_config('app.scope', 'admin', true);
        SELECT ledger_reverse(gen_random_uuid(), 'suspense-release:h-6', 'suspense:h-6');
        COMMIT;
        ",
    )
    .await
    .unwrap();
    let run = archive::archive(&app.app, cutoff, &settings(7))
        .await
        .unwrap();
    assert_eq!(run.moved.transactions, 4, "{run:?}");
    // The merchant's events and their deliveries stay where they were.
    assert_eq!(count(&db, "SELECT count(*) FROM merchant_events").await, 2);
    assert_eq!(
        count(&db, "SELECT count(*) FROM webhook_deliveries").await,
        2
    );
}

/// V23's backfill, run on data as V22 left it (payments without `gateway_payment_id`, their
/// captured attempts with one), in the live and the archived tables: each captured payment gets
/// the id of the attempt that captured it, never a second capture's, nothing else gets one, and
/// the archive is append-only again afterwards.
#[tokio::test]
async fn the_v23_backfill_gives_each_captured_payment_its_gateway_payment_id() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Backfilled").await;
    let db = app.db.owner().await;
    generate(&db, &m.id, "v", 60).await;
    let run = archive::archive(&app.app, Utc::now() - Duration::days(180), &settings(100))
        .await
        .unwrap();
    assert!(run.moved.transactions > 0, "{run:?}");
    // 'v-3' (succeeded, changed just now, so still live) was captured a second time.
    db.batch_execute(
        "INSERT INTO transaction_attempts (id, transaction_id, merchant_id, mode, gateway_account_id,
                 provider, status, gateway_reference, gateway_payment_id, error_code, number)
         SELECT gen_random_uuid(), a.transaction_id, a.merchant_id, a.mode, a.gateway_account_id,
                a.provider, 'succeeded', 'ref-second', 'pay-second', 'second_capture', 2
           FROM transaction_attempts a JOIN transactions t ON t.id = a.transaction_id
          WHERE t.order_id = 'v-3'",
    )
    .await
    .unwrap();
    let unset = "SELECT count(*) FROM (SELECT gateway_payment_id FROM transactions
                   UNION ALL SELECT gateway_payment_id FROM archived_transactions) p
                  WHERE gateway_payment_id IS NOT NULL";
    assert_eq!(count(&db, unset).await, 0, "generated as V22 left them");

    let backfill: String = include_str!("../../migrations/V23__transaction_gateway_payment_id.sql")
        .lines()
        .filter(|l| !l.contains("ADD COLUMN gateway_payment_id"))
        .collect::<Vec<_>>()
        .join("\n");
    db.batch_execute(&format!("BEGIN; {backfill}\nCOMMIT;"))
        .await
        .unwrap();

    for table in ["transactions", "archived_transactions"] {
        let wrong = format!(
            "SELECT count(*) FROM {table}
              WHERE gateway_payment_id IS DISTINCT FROM
                    CASE WHEN status IN ('succeeded', 'partially_refunded') THEN 'pay-' || order_id END"
        );
        assert_eq!(count(&db, &wrong).await, 0, "{table}");
        let set = format!("SELECT count(*) FROM {table} WHERE gateway_payment_id IS NOT NULL");
        assert!(count(&db, &set).await > 0, "{table} has captured payments");
    }
    let v3: String = db
        .query_one(
            "SELECT gateway_payment_id FROM transactions WHERE order_id = 'v-3'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(v3, "pay-v-3");
    // Row security and the archive's append-only trigger are back.
    let forced = count(
        &db,
        "SELECT count(*) FROM pg_class WHERE relname IN ('transactions', 'transaction_attempts',
                'archived_transactions', 'archived_transaction_attempts') AND relforcerowsecurity",
    )
    .await;
    assert_eq!(forced, 4);
    let refused = db
        .execute(
            "UPDATE archived_transactions SET gateway_payment_id = NULL",
            &[],
        )
        .await;
    assert!(refused.is_err(), "the archive is append-only again");
}
