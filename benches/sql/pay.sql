-- The statements one `POST /api/v1/pay` executes on the local runner (authentication and rate
-- limit, then the payment's transaction with its job and event written directly, since with the
-- PostgreSQL queue the outbox row is the job), for pgbench -M prepared as the application role
-- (the runner reuses prepared statements too: DATABASE_STATEMENT_CACHE).
-- Variables from -D: key, principal, merchant, account. Where the endpoint sends statements together
-- (BEGIN with the scope settings in one message; independent statements pipelined), this script
-- pipelines them too, so both pay the same round trips.
\startpipeline
BEGIN;
SELECT set_config('app.scope', 'system', true), set_config('app.merchant_id', '', true), set_config('app.mode', '', true), set_config('synchronous_commit', 'off', true);
\endpipeline
SELECT c.id, c.merchant_id, c.mode, c.secret_hash, m.live_enabled, m.rate_limit_per_minute
  FROM merchant_credentials c JOIN merchants m ON m.id = c.merchant_id
 WHERE c.client_key = :key AND c.revoked_at IS NULL;
\startpipeline
INSERT INTO rate_limit_counters AS c (principal, window_start, hits) VALUES (:principal, now(), 1)
ON CONFLICT (principal) DO UPDATE SET
    hits = CASE WHEN c.window_start > now() - interval '1 minute' THEN least(c.hits, 2147483646) + 1 ELSE 1 END,
    window_start = CASE WHEN c.window_start > now() - interval '1 minute' THEN c.window_start ELSE now() END
RETURNING hits, window_start + interval '1 minute', now();
COMMIT;
\endpipeline
-- The endpoint makes its ids in the application; pgbench cannot \gset inside a pipeline, so the
-- ids are made from a random number here, and the gateway account the router query returns (the
-- sandbox) comes in as -D account.
\set n random(1, 281474976710655)
\startpipeline
BEGIN;
SELECT set_config('app.scope', 'merchant', true), set_config('app.merchant_id', :merchant, true), set_config('app.mode', 'test', true), set_config('synchronous_commit', 'on', true);
\endpipeline
\startpipeline
SELECT status FROM merchants WHERE id = :merchant::uuid;
-- The router's pool statement (shared/src/routing/postgres.rs, POOL), with the pool in smart mode.
SELECT p.strategy, a.id, a.provider, m.priority, m.weight, (m.enabled AND a.status = 'active') AS enabled,
       a.fee_bps, a.fee_fixed, a.min_amount, a.max_amount, m.daily_cap, m.monthly_cap,
       b.state AS breaker_state, b.consecutive_failures, b.opened_at, b.probes, b.updated_at AS breaker_changed_at,
       d.reserved AS day_reserved, mo.reserved AS month_reserved,
       hb.attempts AS band_attempts, hb.successes AS band_successes, hb.technical_errors AS band_technical,
       ho.attempts AS all_attempts, ho.successes AS all_successes, ho.technical_errors AS all_technical
  FROM routing_pools p
  JOIN routing_pool_members m ON m.merchant_id = p.merchant_id
  JOIN gateway_accounts a ON a.id = m.gateway_account_id AND a.environment = 'test'
  LEFT JOIN gateway_breakers b ON b.gateway_account_id = a.id
  LEFT JOIN routing_cap_usage d ON d.merchant_id = p.merchant_id AND d.gateway_account_id = a.id
        AND d.period = 'day' AND d.period_start = (now() AT TIME ZONE 'Asia/Kolkata')::date
  LEFT JOIN routing_cap_usage mo ON mo.merchant_id = p.merchant_id AND mo.gateway_account_id = a.id
        AND mo.period = 'month' AND mo.period_start = date_trunc('month', now() AT TIME ZONE 'Asia/Kolkata')::date
  LEFT JOIN LATERAL (SELECT attempts, successes, technical_errors FROM gateway_health_metrics h
                      WHERE p.strategy = 'smart' AND h.gateway_account_id = a.id AND h.amount_band = 1::int2
                      ORDER BY window_end DESC LIMIT 1) hb ON true
  LEFT JOIN LATERAL (SELECT attempts, successes, technical_errors FROM gateway_health_metrics h
                      WHERE p.strategy = 'smart' AND h.gateway_account_id = a.id AND h.amount_band = 0
                      ORDER BY window_end DESC LIMIT 1) ho ON true
 WHERE p.merchant_id = :merchant::uuid
 ORDER BY m.priority, a.id;
\endpipeline
\startpipeline
WITH t AS (
    INSERT INTO transactions (id, merchant_id, mode, order_id, amount, currency, customer_name, customer_email,
        customer_phone, description, return_url, notes, expires_at)
    VALUES (('00000000-0000-4000-8000-' || lpad(to_hex(:n::bigint), 12, '0'))::uuid, :merchant::uuid, 'test', 'bench-' || :n,
        49900, 'INR', 'Asha Verma', 'asha@example.in', '+919812345678', 'Masala chai x 2', 'https://shop.example.in/done',
        '{"cart":"42"}', now() + make_interval(secs => 1800))
    RETURNING id, order_id, status, amount, currency, mode, customer_name, customer_email, customer_phone, description,
        return_url, notes, failure_reason, created_at, expires_at, updated_at, merchant_id),
a AS (
    INSERT INTO transaction_attempts (id, transaction_id, merchant_id, mode, gateway_account_id, provider,
        routing, cap_amount, cap_day, cap_month)
    SELECT ('00000000-0000-4000-9000-' || lpad(to_hex(:n::bigint), 12, '0'))::uuid, t.id, t.merchant_id, t.mode, :account::uuid, 'sandbox',
        '{"mode":"smart","chosen":"gwa_0194a1b2c3d47e8f9a0b1c2d3e4f5a6b","reason":"highest sampled expected net value (1000 recent attempts)","candidates":[{"account":"gwa_0194a1b2c3d47e8f9a0b1c2d3e4f5a6b","score":44012.37,"excluded": null}],"skipped":[],"decided_at":"2026-12-03T21:00:00.000000Z"}'::jsonb,
        NULL::bigint, NULL::date, NULL::date FROM t)
SELECT * FROM t;
WITH jobs AS (INSERT INTO job_queue (queue, body) SELECT * FROM unnest(ARRAY['bench-sink'],
    ARRAY['{"attempt_id":"00000000-0000-4000-9000-' || lpad(to_hex(:n::bigint), 12, '0') || '"}']))
INSERT INTO outbox (id, kind, topic, payload, published_at)
SELECT id, 'event', topic, payload, now() FROM unnest(ARRAY[('00000000-0000-4000-a000-' || lpad(to_hex(:n::bigint), 12, '0'))::uuid],
    ARRAY['transaction.created'],
    ARRAY['{"id":"evt","detail_type":"transaction.created","time":"2026-11-29T00:00:00Z","detail":{}}'::jsonb]) AS e(id, topic, payload);
\endpipeline
COMMIT;
