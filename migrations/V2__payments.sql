-- Payments core: transactions and their gateway attempts, idempotency keys, the transactional
-- outbox, the PostgreSQL job queue, inbound gateway events (processed at most once each), and the
-- sandbox gateway's own orders.

-- Merchant-and-mode tables: a merchant principal sees only its rows of the mode it acts in.
CREATE FUNCTION app_is_merchant_mode(target uuid, target_mode text) RETURNS boolean
    LANGUAGE sql STABLE
    AS $$ SELECT app_is_merchant(target) AND target_mode = app_mode() $$;

CREATE TABLE transactions (
    id              uuid PRIMARY KEY,
    merchant_id     uuid        NOT NULL REFERENCES merchants (id),
    mode            text        NOT NULL CHECK (mode IN ('test', 'live')),
    order_id        text        NOT NULL CHECK (order_id ~ '^[A-Za-z0-9._:/-]{1,64}$'),
    amount          bigint      NOT NULL CHECK (amount > 0),
    currency        text        NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    status          text        NOT NULL DEFAULT 'created'
        CHECK (status IN ('created', 'pending', 'succeeded', 'failed', 'expired', 'partially_refunded', 'refunded')),
    customer_name   text        NOT NULL CHECK (length(customer_name) BETWEEN 1 AND 100),
    customer_email  text        NOT NULL CHECK (length(customer_email) BETWEEN 3 AND 254),
    customer_phone  text        NOT NULL CHECK (customer_phone ~ '^\+?[0-9]{10,15}$'),
    description     text        CHECK (length(description) <= 255),
    return_url      text        NOT NULL CHECK (return_url ~ '^https?://' AND length(return_url) <= 2048),
    notes           jsonb       NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(notes) = 'object'),
    failure_reason  text,
    expires_at      timestamptz NOT NULL,
    succeeded_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT transactions_expiry_after_creation CHECK (expires_at > created_at),
    CONSTRAINT transactions_success_has_time
        CHECK ((status IN ('succeeded', 'partially_refunded', 'refunded')) = (succeeded_at IS NOT NULL))
);
CREATE UNIQUE INDEX transactions_order_id_key ON transactions (merchant_id, mode, order_id);
CREATE INDEX transactions_merchant_idx ON transactions (merchant_id, mode, id DESC);
CREATE INDEX transactions_open_idx ON transactions (expires_at) WHERE status IN ('created', 'pending');

ALTER TABLE transactions ENABLE ROW LEVEL SECURITY;
ALTER TABLE transactions FORCE ROW LEVEL SECURITY;
CREATE POLICY transactions_access ON transactions FOR ALL
    USING (app_is_platform() OR app_is_merchant_mode(merchant_id, mode))
    WITH CHECK (app_is_platform() OR app_is_merchant_mode(merchant_id, mode));
GRANT SELECT, INSERT, UPDATE ON transactions TO lsp_app;

CREATE TABLE transaction_attempts (
    id                 uuid PRIMARY KEY,
    transaction_id     uuid        NOT NULL REFERENCES transactions (id),
    merchant_id        uuid        NOT NULL REFERENCES merchants (id),
    mode               text        NOT NULL CHECK (mode IN ('test', 'live')),
    gateway_account_id uuid        NOT NULL REFERENCES gateway_accounts (id),
    provider           text        NOT NULL,
    status             text        NOT NULL DEFAULT 'created'
        CHECK (status IN ('created', 'pending', 'succeeded', 'failed', 'expired')),
    gateway_reference  text,
    gateway_payment_id text,
    pay_url            text,
    -- Whoever creates the gateway order (worker or checkout page) holds this short lease, so the
    -- order is created once without holding a database connection during the gateway call.
    order_lease_until  timestamptz,
    error_code         text,
    error_message      text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX transaction_attempts_transaction_idx ON transaction_attempts (transaction_id, created_at);
CREATE UNIQUE INDEX transaction_attempts_reference_key ON transaction_attempts (provider, gateway_reference)
    WHERE gateway_reference IS NOT NULL;
CREATE INDEX transaction_attempts_open_idx ON transaction_attempts (updated_at) WHERE status IN ('created', 'pending');

ALTER TABLE transaction_attempts ENABLE ROW LEVEL SECURITY;
ALTER TABLE transaction_attempts FORCE ROW LEVEL SECURITY;
CREATE POLICY transaction_attempts_access ON transaction_attempts FOR ALL
    USING (app_is_platform() OR app_is_merchant_mode(merchant_id, mode))
    WITH CHECK (app_is_platform() OR app_is_merchant_mode(merchant_id, mode));
GRANT SELECT, INSERT, UPDATE ON transaction_attempts TO lsp_app;

-- Idempotency keys: the first request's fingerprint and response, replayed for retries.
CREATE TABLE idempotency_keys (
    merchant_id     uuid        NOT NULL REFERENCES merchants (id),
    mode            text        NOT NULL CHECK (mode IN ('test', 'live')),
    key             text        NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    fingerprint     bytea       NOT NULL CHECK (length(fingerprint) = 32),
    response_status integer     CHECK (response_status BETWEEN 100 AND 599),
    response_body   text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (merchant_id, mode, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

ALTER TABLE idempotency_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE idempotency_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY idempotency_keys_access ON idempotency_keys FOR ALL
    USING (app_is_platform() OR app_is_merchant_mode(merchant_id, mode))
    WITH CHECK (app_is_platform() OR app_is_merchant_mode(merchant_id, mode));
GRANT SELECT, INSERT, UPDATE, DELETE ON idempotency_keys TO lsp_app;

-- Transactional outbox: jobs and events written with the state change that caused them.
-- Ids are UUIDv7 made by the writer: time-ordered, and no RETURNING (which RLS would check
-- against the read policy, and merchants may not read the outbox).
CREATE TABLE outbox (
    id           uuid PRIMARY KEY,
    kind         text        NOT NULL CHECK (kind IN ('job', 'event')),
    topic        text        NOT NULL CHECK (topic ~ '^[a-z][a-z0-9._-]*$'),
    payload      jsonb       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz,
    -- A relay claims rows with a short lease and publishes them without holding a connection.
    lease_until  timestamptz,
    attempts     integer     NOT NULL DEFAULT 0,
    last_error   text
);
CREATE INDEX outbox_unpublished_idx ON outbox (id) WHERE published_at IS NULL;

ALTER TABLE outbox ENABLE ROW LEVEL SECURITY;
ALTER TABLE outbox FORCE ROW LEVEL SECURITY;
CREATE POLICY outbox_write ON outbox FOR INSERT WITH CHECK (app_scope() IN ('merchant', 'admin', 'system'));
CREATE POLICY outbox_system ON outbox FOR SELECT USING (app_scope() = 'system');
CREATE POLICY outbox_publish ON outbox FOR UPDATE USING (app_scope() = 'system') WITH CHECK (app_scope() = 'system');
GRANT SELECT, INSERT, UPDATE ON outbox TO lsp_app;

-- The PostgreSQL job queue (local runner and tests): SQS semantics with SKIP LOCKED.
CREATE TABLE job_queue (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    queue           text        NOT NULL CHECK (queue ~ '^[a-z][a-z0-9-]*$'),
    body            text        NOT NULL,
    enqueued_at     timestamptz NOT NULL DEFAULT now(),
    visible_at      timestamptz NOT NULL DEFAULT now(),
    receive_count   integer     NOT NULL DEFAULT 0 CHECK (receive_count >= 0),
    receipt         uuid,
    dead_lettered_at timestamptz
);
CREATE INDEX job_queue_ready_idx ON job_queue (queue, visible_at, id) WHERE dead_lettered_at IS NULL;

ALTER TABLE job_queue ENABLE ROW LEVEL SECURITY;
ALTER TABLE job_queue FORCE ROW LEVEL SECURITY;
-- Producers enqueue in their own transaction (any declared scope); only workers read and change.
CREATE POLICY job_queue_enqueue ON job_queue FOR INSERT WITH CHECK (app_scope() IN ('merchant', 'admin', 'system'));
CREATE POLICY job_queue_read ON job_queue FOR SELECT USING (app_scope() = 'system');
CREATE POLICY job_queue_update ON job_queue FOR UPDATE USING (app_scope() = 'system') WITH CHECK (app_scope() = 'system');
CREATE POLICY job_queue_delete ON job_queue FOR DELETE USING (app_scope() = 'system');
GRANT SELECT, INSERT, UPDATE, DELETE ON job_queue TO lsp_app;

-- Inbound gateway events: stored once (by the provider's event id) before anything is applied.
CREATE TABLE gateway_events (
    id                 uuid PRIMARY KEY,
    provider           text        NOT NULL,
    event_id           text        NOT NULL CHECK (length(event_id) BETWEEN 1 AND 255),
    gateway_account_id uuid        NOT NULL REFERENCES gateway_accounts (id),
    event_type         text        NOT NULL,
    payload            text        NOT NULL,
    received_at        timestamptz NOT NULL DEFAULT now(),
    processed_at       timestamptz,
    transaction_id     uuid        REFERENCES transactions (id),
    outcome            text        CHECK (outcome IN ('applied', 'ignored', 'unknown_transaction', 'unsupported')),
    outcome_detail     text
);
CREATE UNIQUE INDEX gateway_events_provider_event_key ON gateway_events (provider, event_id);
CREATE INDEX gateway_events_flagged_idx ON gateway_events (received_at) WHERE outcome = 'unknown_transaction';

ALTER TABLE gateway_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE gateway_events FORCE ROW LEVEL SECURITY;
CREATE POLICY gateway_events_platform ON gateway_events FOR ALL
    USING (app_is_platform()) WITH CHECK (app_is_platform());
GRANT SELECT, INSERT, UPDATE ON gateway_events TO lsp_app;

-- The sandbox gateway's own books: it is a provider like any other, only hosted by us.
CREATE TABLE sandbox_orders (
    id          text PRIMARY KEY CHECK (id ~ '^sbx_order_[A-Za-z0-9]{20}$'),
    account_id  uuid        NOT NULL REFERENCES gateway_accounts (id),
    amount      bigint      NOT NULL CHECK (amount > 0),
    currency    text        NOT NULL,
    receipt     text        NOT NULL,
    customer_email text     NOT NULL,
    notify_url  text        NOT NULL,
    return_url  text        NOT NULL,
    status      text        NOT NULL DEFAULT 'created' CHECK (status IN ('created', 'paid', 'failed')),
    payment_id  text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX sandbox_orders_receipt_key ON sandbox_orders (account_id, receipt);

ALTER TABLE sandbox_orders ENABLE ROW LEVEL SECURITY;
ALTER TABLE sandbox_orders FORCE ROW LEVEL SECURITY;
CREATE POLICY sandbox_orders_system ON sandbox_orders FOR ALL
    USING (app_scope() = 'system') WITH CHECK (app_scope() = 'system');
GRANT SELECT, INSERT, UPDATE ON sandbox_orders TO lsp_app;

-- Payments in merchant scope choose among platform-owned accounts too: let every scope read
-- those rows (their credentials stay sealed; only the application holds the key).
CREATE POLICY gateway_accounts_platform_owned_read ON gateway_accounts FOR SELECT
    USING (ownership = 'platform' AND app_scope() IN ('merchant', 'admin', 'system'));
