-- Routing and failover: versioned pools, per-account fees and amount limits, atomic volume caps,
-- circuit breakers, per-attempt routing decisions and the health metrics smart routing learns from.

-- Gateway accounts: what an account costs and which amounts it takes; archived instead of erased.
ALTER TABLE gateway_accounts
    ADD COLUMN fee_bps     integer     NOT NULL DEFAULT 0 CHECK (fee_bps BETWEEN 0 AND 10000),
    ADD COLUMN fee_fixed   bigint      NOT NULL DEFAULT 0 CHECK (fee_fixed BETWEEN 0 AND 100000000),
    ADD COLUMN min_amount  bigint      CHECK (min_amount > 0),
    ADD COLUMN max_amount  bigint      CHECK (max_amount > 0),
    ADD COLUMN archived_at timestamptz,
    ADD CONSTRAINT gateway_accounts_amount_limits
        CHECK (min_amount IS NULL OR max_amount IS NULL OR min_amount <= max_amount);
ALTER TABLE gateway_accounts DROP CONSTRAINT gateway_accounts_status_check;
ALTER TABLE gateway_accounts ADD CONSTRAINT gateway_accounts_status_check
    CHECK (status IN ('active', 'disabled', 'archived'));
ALTER TABLE gateway_accounts ADD CONSTRAINT gateway_accounts_archived_when
    CHECK ((status = 'archived') = (archived_at IS NOT NULL));

-- Pools: a version for optimistic concurrency (a stale edit is refused, never lost).
ALTER TABLE routing_pools ADD COLUMN version bigint NOT NULL DEFAULT 1 CHECK (version > 0);

-- Round robin and weighted routing: one counter per merchant and mode, advanced atomically by
-- the payment that uses it (the row lock serialises concurrent payments of one merchant).
CREATE TABLE routing_positions (
    merchant_id uuid   NOT NULL REFERENCES merchants (id),
    mode        text   NOT NULL CHECK (mode IN ('test', 'live')),
    position    bigint NOT NULL DEFAULT 0 CHECK (position >= 0),
    PRIMARY KEY (merchant_id, mode)
);

-- Volume caps: what is reserved on each member per Asia/Kolkata day and month. A period is a
-- row; a new day is a new row, so caps reset at IST midnight without a job.
CREATE TABLE routing_cap_usage (
    merchant_id        uuid   NOT NULL REFERENCES merchants (id),
    gateway_account_id uuid   NOT NULL REFERENCES gateway_accounts (id),
    period             text   NOT NULL CHECK (period IN ('day', 'month')),
    period_start       date   NOT NULL,
    reserved           bigint NOT NULL CHECK (reserved >= 0),
    PRIMARY KEY (merchant_id, gateway_account_id, period, period_start)
);

-- The routing decision and the reservation an attempt holds (a period without a cap is NULL).
ALTER TABLE transaction_attempts
    ADD COLUMN number           smallint NOT NULL DEFAULT 1 CHECK (number BETWEEN 1 AND 20),
    ADD COLUMN routing          jsonb,
    ADD COLUMN cap_amount       bigint   CHECK (cap_amount > 0),
    ADD COLUMN cap_day          date,
    ADD COLUMN cap_month        date,
    ADD COLUMN cap_released     boolean  NOT NULL DEFAULT false,
    ADD COLUMN failure_kind     text     CHECK (failure_kind IN ('technical', 'declined')),
    ADD COLUMN order_latency_ms integer  CHECK (order_latency_ms >= 0);
-- One attempt per number: two callers failing over the same attempt cannot both add the next.
CREATE UNIQUE INDEX transaction_attempts_number_key ON transaction_attempts (transaction_id, number);
CREATE INDEX transaction_attempts_account_recent_idx ON transaction_attempts (gateway_account_id, created_at);

-- Reserves `amount` on a member's day and month (whichever has a cap) if both have room. The
-- upsert's row lock makes concurrent reservations wait for each other, so a cap is never
-- exceeded; a day reserved before the month turned out full is given back.
CREATE FUNCTION routing_reserve(m uuid, account uuid, amount bigint, day date, month date,
                                daily_cap bigint, monthly_cap bigint) RETURNS boolean
    LANGUAGE plpgsql AS $$
BEGIN
    IF daily_cap IS NOT NULL THEN
        IF amount > daily_cap THEN RETURN false; END IF;
        INSERT INTO routing_cap_usage AS u (merchant_id, gateway_account_id, period, period_start, reserved)
        VALUES (m, account, 'day', day, amount)
        ON CONFLICT (merchant_id, gateway_account_id, period, period_start)
        DO UPDATE SET reserved = u.reserved + amount WHERE u.reserved + amount <= daily_cap;
        IF NOT FOUND THEN RETURN false; END IF;
    END IF;
    IF monthly_cap IS NOT NULL THEN
        IF amount <= monthly_cap THEN
            INSERT INTO routing_cap_usage AS u (merchant_id, gateway_account_id, period, period_start, reserved)
            VALUES (m, account, 'month', month, amount)
            ON CONFLICT (merchant_id, gateway_account_id, period, period_start)
            DO UPDATE SET reserved = u.reserved + amount WHERE u.reserved + amount <= monthly_cap;
        END IF;
        IF amount > monthly_cap OR NOT FOUND THEN
            IF daily_cap IS NOT NULL THEN
                UPDATE routing_cap_usage SET reserved = reserved - amount
                 WHERE merchant_id = m AND gateway_account_id = account AND period = 'day' AND period_start = day;
            END IF;
            RETURN false;
        END IF;
    END IF;
    RETURN true;
END $$;

-- Gives back what an attempt reserved, once (the flag makes a second call a no-op).
CREATE FUNCTION routing_release(attempt uuid) RETURNS void
    LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    UPDATE transaction_attempts SET cap_released = true
     WHERE id = attempt AND cap_amount IS NOT NULL AND NOT cap_released
    RETURNING merchant_id, gateway_account_id, cap_amount, cap_day, cap_month INTO r;
    IF NOT FOUND THEN RETURN; END IF;
    UPDATE routing_cap_usage SET reserved = greatest(reserved - r.cap_amount, 0)
     WHERE merchant_id = r.merchant_id AND gateway_account_id = r.gateway_account_id
       AND ((period = 'day' AND period_start = r.cap_day) OR (period = 'month' AND period_start = r.cap_month));
END $$;

-- Takes back what a released attempt had reserved, when its payment is captured after all (a late
-- success after a failure or expiry): that volume moved, so it counts, even past the cap.
CREATE FUNCTION routing_reclaim(attempt uuid) RETURNS void
    LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    UPDATE transaction_attempts SET cap_released = false
     WHERE id = attempt AND cap_amount IS NOT NULL AND cap_released
    RETURNING merchant_id, gateway_account_id, cap_amount, cap_day, cap_month INTO r;
    IF NOT FOUND THEN RETURN; END IF;
    UPDATE routing_cap_usage SET reserved = reserved + r.cap_amount
     WHERE merchant_id = r.merchant_id AND gateway_account_id = r.gateway_account_id
       AND ((period = 'day' AND period_start = r.cap_day) OR (period = 'month' AND period_start = r.cap_month));
END $$;

-- Circuit breakers, one per account: no merchant data, read by every payment.
CREATE TABLE gateway_breakers (
    gateway_account_id   uuid        PRIMARY KEY REFERENCES gateway_accounts (id),
    state                text        NOT NULL DEFAULT 'closed' CHECK (state IN ('closed', 'open', 'half_open')),
    consecutive_failures integer     NOT NULL DEFAULT 0 CHECK (consecutive_failures >= 0),
    opened_at            timestamptz,
    probes               integer     NOT NULL DEFAULT 0 CHECK (probes >= 0),
    -- When it last closed after being open: the health window's older failures do not open it again.
    closed_at            timestamptz,
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT gateway_breakers_opened_when CHECK ((state = 'closed') = (opened_at IS NULL))
);

-- What the health collector measured per account over a window; amount band 0 is every amount.
CREATE TABLE gateway_health_metrics (
    gateway_account_id uuid        NOT NULL REFERENCES gateway_accounts (id),
    amount_band        smallint    NOT NULL CHECK (amount_band BETWEEN 0 AND 8),
    window_end         timestamptz NOT NULL,
    window_seconds     integer     NOT NULL CHECK (window_seconds > 0),
    attempts           integer     NOT NULL CHECK (attempts >= 0),
    successes          integer     NOT NULL CHECK (successes BETWEEN 0 AND attempts),
    declines           integer     NOT NULL CHECK (declines BETWEEN 0 AND attempts),
    technical_errors   integer     NOT NULL CHECK (technical_errors BETWEEN 0 AND attempts),
    latency_p50_ms     integer     CHECK (latency_p50_ms >= 0),
    latency_p95_ms     integer     CHECK (latency_p95_ms >= 0),
    PRIMARY KEY (gateway_account_id, amount_band, window_end)
);

-- Row security. Positions and caps belong to a merchant: its own payments (merchant scope), the
-- platform, and the checkout page's failover (public) use them. Breakers and health hold no
-- merchant data; every scope that routes reads them, and the paths that call gateways (workers,
-- checkout pages, payments claiming a probe) write the breakers.
ALTER TABLE routing_positions ENABLE ROW LEVEL SECURITY;
ALTER TABLE routing_positions FORCE ROW LEVEL SECURITY;
CREATE POLICY routing_positions_access ON routing_positions FOR ALL
    USING (app_is_platform() OR app_is_merchant_mode(merchant_id, mode) OR app_scope() = 'public')
    WITH CHECK (app_is_platform() OR app_is_merchant_mode(merchant_id, mode) OR app_scope() = 'public');
GRANT SELECT, INSERT, UPDATE ON routing_positions TO lsp_app;

ALTER TABLE routing_cap_usage ENABLE ROW LEVEL SECURITY;
ALTER TABLE routing_cap_usage FORCE ROW LEVEL SECURITY;
CREATE POLICY routing_cap_usage_access ON routing_cap_usage FOR ALL
    USING (app_is_platform() OR app_is_merchant(merchant_id) OR app_scope() = 'public')
    WITH CHECK (app_is_platform() OR app_is_merchant(merchant_id) OR app_scope() = 'public');
GRANT SELECT, INSERT, UPDATE ON routing_cap_usage TO lsp_app;

ALTER TABLE gateway_breakers ENABLE ROW LEVEL SECURITY;
ALTER TABLE gateway_breakers FORCE ROW LEVEL SECURITY;
CREATE POLICY gateway_breakers_access ON gateway_breakers FOR ALL
    USING (app_scope() IN ('admin', 'system', 'merchant', 'public'))
    WITH CHECK (app_scope() IN ('admin', 'system', 'merchant', 'public'));
GRANT SELECT, INSERT, UPDATE ON gateway_breakers TO lsp_app;

ALTER TABLE gateway_health_metrics ENABLE ROW LEVEL SECURITY;
ALTER TABLE gateway_health_metrics FORCE ROW LEVEL SECURITY;
CREATE POLICY gateway_health_metrics_read ON gateway_health_metrics FOR SELECT
    USING (app_scope() IN ('admin', 'system', 'merchant', 'public'));
CREATE POLICY gateway_health_metrics_write ON gateway_health_metrics FOR ALL
    USING (app_is_platform()) WITH CHECK (app_is_platform());
GRANT SELECT, INSERT, DELETE ON gateway_health_metrics TO lsp_app;

-- The checkout page fails a payment over to the next account: it reads the pool and adds the
-- next attempt (V9 lists what the public scope may do; this is the same reasoning for routing).
CREATE POLICY routing_pools_public_read ON routing_pools FOR SELECT
    USING (app_scope() = 'public');
CREATE POLICY routing_pool_members_public_read ON routing_pool_members FOR SELECT
    USING (app_scope() = 'public');
CREATE POLICY transaction_attempts_public_insert ON transaction_attempts FOR INSERT
    WITH CHECK (app_scope() = 'public' AND EXISTS (
        SELECT 1 FROM transactions t
         WHERE t.id = transaction_attempts.transaction_id
           AND t.merchant_id = transaction_attempts.merchant_id AND t.mode = transaction_attempts.mode));
