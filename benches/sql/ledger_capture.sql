-- The statements `transactions::apply_report` executes for a gateway's capture report on a
-- pending payment (shared/src/payments/transactions.rs `apply`, shared/src/ledger/book.rs
-- `capture`, the outbox written directly as on the local runner, the entry posted last), in the same order and the same
-- round trips, for pgbench -M prepared as the application role. Each transaction takes the next
-- prepared pending attempt from `bench_capture_queue` (an index lookup the application does not
-- make: it is handed the attempt).
-- Variables from -D: account (the platform's sandbox account), memo, lines (the capture's entry).
\startpipeline
BEGIN;
SELECT set_config('app.scope', 'system', true), set_config('app.merchant_id', '', true), set_config('app.mode', '', true), set_config('synchronous_commit', 'on', true);
\endpipeline
SELECT t.id AS txn, t.status, t.merchant_id, t.amount, t.currency, a.id AS attempt, a.status AS attempt_status,
       EXISTS (SELECT 1 FROM transaction_attempts n WHERE n.transaction_id = t.id AND n.number > a.number) AS superseded,
       EXISTS (SELECT 1 FROM transaction_attempts s WHERE s.transaction_id = t.id AND s.id <> a.id
                   AND s.status = 'succeeded') AS other_captured
  FROM transaction_attempts a JOIN transactions t ON t.id = a.transaction_id
 WHERE a.id = (SELECT q.attempt FROM bench_capture_queue q WHERE q.n = (SELECT nextval('bench_capture_seq')))
   FOR UPDATE OF t, a;
\gset
UPDATE transaction_attempts SET status = CASE WHEN status = 'amount_mismatch' AND 'succeeded' <> 'succeeded' THEN status ELSE 'succeeded' END,
     gateway_payment_id = coalesce('pay_' || :attempt::text, gateway_payment_id),
     error_message = CASE WHEN status = 'amount_mismatch' AND 'succeeded' <> 'succeeded' THEN error_message ELSE NULL END,
     failure_kind = CASE WHEN 'succeeded' = 'failed' THEN coalesce(failure_kind, 'declined') ELSE failure_kind END,
     updated_at = now() WHERE id = :attempt::uuid;
SELECT t.id AS transaction_id, t.merchant_id, t.mode, t.amount, t.currency, t.purpose,
       coalesce(NULL::text, t.payment_method) AS method,
       a.gateway_account_id, g.ownership, am.affiliate_id, am.commission_bps, fr.rate_bps, fr.fixed_fee
  FROM transaction_attempts a
  JOIN transactions t ON t.id = a.transaction_id
  JOIN gateway_accounts g ON g.id = a.gateway_account_id
  LEFT JOIN affiliate_merchants am ON am.merchant_id = t.merchant_id
  LEFT JOIN LATERAL (SELECT r.rate_bps, r.fixed_fee FROM merchant_fee_rates r
                      WHERE r.merchant_id = t.merchant_id
                        AND (r.method = coalesce(NULL::text, t.payment_method) OR r.method IS NULL)
                      ORDER BY r.method NULLS LAST LIMIT 1) fr ON true
 WHERE a.id = :attempt::uuid;
UPDATE transactions SET fee = 200, gst = 36, payment_method = NULL WHERE id = :txn::uuid;
UPDATE transactions SET status = 'succeeded', failure_reason = NULL, updated_at = now(),
       succeeded_at = CASE WHEN 'succeeded' = 'succeeded' THEN now() ELSE succeeded_at END
 WHERE id = :txn::uuid
 RETURNING id, order_id, status, amount, currency, mode, customer_name, customer_email, customer_phone, description,
           return_url, notes, failure_reason, created_at, expires_at, updated_at, merchant_id, purpose, payment_method, fee, gst;
SELECT routing_release(id) FROM transaction_attempts
 WHERE transaction_id = :txn::uuid AND id <> :attempt::uuid AND status IN ('created', 'pending');
UPDATE transaction_attempts SET status = 'expired', error_code = 'superseded',
       error_message = 'another attempt of this payment was captured', order_lease_until = NULL, updated_at = now()
 WHERE transaction_id = :txn::uuid AND id <> :attempt::uuid AND status IN ('created', 'pending');
SELECT routing_reclaim(:attempt::uuid);
WITH jobs AS (INSERT INTO job_queue (queue, body) SELECT * FROM unnest(ARRAY['webhook-delivery'],
    ARRAY['{"id":"evt_0194a1b2c3d47e8f9a0b1c2d3e4f5a6b","detail_type":"transaction.succeeded","time":"2026-12-04T05:00:00Z","detail":{"merchant_id":"mer_0194a1b2c3d47e8f9a0b1c2d3e4f5a6b","transaction":{"id":"txn_' || :txn::text || '","order_id":"bench","status":"succeeded","amount": 10000,"currency":"INR","mode":"test","failure_reason": null}}}']))
INSERT INTO outbox (id, kind, topic, payload, published_at)
SELECT id, 'event', topic, payload, now() FROM unnest(ARRAY[gen_random_uuid()], ARRAY['transaction.succeeded'],
    ARRAY[('{"id":"evt_0194a1b2c3d47e8f9a0b1c2d3e4f5a6b","detail_type":"transaction.succeeded","time":"2026-12-04T05:00:00Z","detail":{"merchant_id":"mer_0194a1b2c3d47e8f9a0b1c2d3e4f5a6b","transaction":{"id":"txn_' || :txn::text || '","order_id":"bench","status":"succeeded","amount": 10000,"currency":"INR","mode":"test","failure_reason": null}}}')::jsonb]) AS e(id, topic, payload);
-- The entry last, just before COMMIT: the hot fee and GST accounts are held only that long.
SELECT ledger_post(gen_random_uuid(), 'capture:' || :attempt::text, 'capture', 'test', :merchant_id::uuid,
                   :txn::uuid, NULL::uuid, NULL::uuid, :memo::jsonb, :lines::jsonb) AS written;
COMMIT;
