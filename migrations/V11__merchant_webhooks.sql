-- Merchant webhooks (Standard Webhooks v1): the endpoints a merchant registers per mode, the
-- events the platform tells merchants about, one delivery per event and endpoint, and every
-- attempt at a delivery.

CREATE TABLE webhook_endpoints (
    id                        uuid        PRIMARY KEY,
    merchant_id               uuid        NOT NULL REFERENCES merchants (id),
    mode                      text        NOT NULL CHECK (mode IN ('test', 'live')),
    url                       text        NOT NULL CHECK (length(url) BETWEEN 8 AND 2048),
    description               text        NOT NULL DEFAULT '' CHECK (length(description) <= 500),
    -- Empty: every event type.
    event_types               text[]      NOT NULL DEFAULT '{}' CHECK (cardinality(event_types) <= 64),
    enabled                   boolean     NOT NULL DEFAULT true,
    -- Why it stopped: the receiver said 410 Gone, it failed for five days, or a person did it.
    disabled_reason           text        CHECK (disabled_reason IN ('gone', 'failing', 'merchant', 'operator')),
    disabled_at               timestamptz,
    -- The signing secret, sealed (we sign with it, so a hash would not do).
    secret_key_id             text        NOT NULL,
    secret_nonce              bytea       NOT NULL,
    secret_ciphertext         bytea       NOT NULL,
    -- The secret it replaced, still signing alongside it until `previous_secret_expires_at`.
    previous_secret_key_id    text,
    previous_secret_nonce     bytea,
    previous_secret_ciphertext bytea,
    previous_secret_expires_at timestamptz,
    -- The first failed attempt since the last success: five days of failure disables it.
    failing_since             timestamptz,
    created_at                timestamptz NOT NULL DEFAULT now(),
    updated_at                timestamptz NOT NULL DEFAULT now(),
    deleted_at                timestamptz,
    CHECK (enabled = (disabled_reason IS NULL)),
    CHECK ((disabled_reason IS NULL) = (disabled_at IS NULL)),
    CHECK ((previous_secret_key_id IS NULL) = (previous_secret_expires_at IS NULL)
       AND (previous_secret_key_id IS NULL) = (previous_secret_nonce IS NULL)
       AND (previous_secret_key_id IS NULL) = (previous_secret_ciphertext IS NULL)),
    CHECK (deleted_at IS NULL OR NOT enabled)
);
CREATE INDEX webhook_endpoints_by_merchant ON webhook_endpoints (merchant_id, mode, id) WHERE deleted_at IS NULL;

-- What happened, as merchants read it: the object as it was when it happened. Events are
-- facts: never changed, never deleted.
CREATE TABLE merchant_events (
    id          uuid        PRIMARY KEY,
    merchant_id uuid        NOT NULL REFERENCES merchants (id),
    mode        text        NOT NULL CHECK (mode IN ('test', 'live')),
    type        text        NOT NULL CHECK (type ~ '^[a-z_]+\.[a-z_]+$'),
    created_at  timestamptz NOT NULL,
    data        jsonb       NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX merchant_events_by_merchant ON merchant_events (merchant_id, mode, id);

CREATE FUNCTION merchant_events_are_facts() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'merchant events are never changed or deleted';
END $$;
CREATE TRIGGER merchant_events_append_only BEFORE UPDATE OR DELETE ON merchant_events
    FOR EACH ROW EXECUTE FUNCTION merchant_events_are_facts();

-- One event to one endpoint. `pending` until it succeeds or gives up (`failed`); a replay
-- makes a failed one pending again.
CREATE TABLE webhook_deliveries (
    id              uuid        PRIMARY KEY,
    endpoint_id     uuid        NOT NULL REFERENCES webhook_endpoints (id),
    event_id        uuid        NOT NULL REFERENCES merchant_events (id),
    merchant_id     uuid        NOT NULL REFERENCES merchants (id),
    status          text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed')),
    -- Attempts in the current round (a replay starts a new round); the schedule reads it.
    attempts        integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz,
    lease_until     timestamptz,
    last_status     integer,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (endpoint_id, event_id),
    CHECK ((status = 'pending') = (next_attempt_at IS NOT NULL))
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, status, created_at);

-- Every request made (or refused before it was made) for a delivery.
CREATE TABLE webhook_attempts (
    id            uuid        PRIMARY KEY,
    delivery_id   uuid        NOT NULL REFERENCES webhook_deliveries (id),
    endpoint_id   uuid        NOT NULL REFERENCES webhook_endpoints (id),
    event_id      uuid        NOT NULL REFERENCES merchant_events (id),
    merchant_id   uuid        NOT NULL REFERENCES merchants (id),
    attempted_at  timestamptz NOT NULL,
    succeeded     boolean     NOT NULL,
    status_code   integer     CHECK (status_code BETWEEN 100 AND 599),
    latency_ms    integer     NOT NULL CHECK (latency_ms >= 0),
    -- The first KB of the answer, as text (lossy where it was not UTF-8).
    response_body text        CHECK (octet_length(response_body) <= 4096),
    error         text,
    CHECK (succeeded = coalesce(status_code BETWEEN 200 AND 299, false))
);
CREATE INDEX webhook_attempts_by_endpoint ON webhook_attempts (endpoint_id, id);
CREATE INDEX webhook_attempts_by_delivery ON webhook_attempts (delivery_id, id);

-- Row security: a merchant sees its own mode's endpoints and events; the delivery worker and
-- the retry schedule (system) and operators (admin) see all.
ALTER TABLE webhook_endpoints ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_endpoints FORCE ROW LEVEL SECURITY;
CREATE POLICY webhook_endpoints_access ON webhook_endpoints FOR ALL
    USING (app_is_platform() OR app_is_merchant_mode(merchant_id, mode))
    WITH CHECK (app_is_platform() OR app_is_merchant_mode(merchant_id, mode));
GRANT SELECT, INSERT, UPDATE ON webhook_endpoints TO lsp_app;

ALTER TABLE merchant_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE merchant_events FORCE ROW LEVEL SECURITY;
CREATE POLICY merchant_events_access ON merchant_events FOR ALL
    USING (app_is_platform() OR app_is_merchant_mode(merchant_id, mode))
    WITH CHECK (app_is_platform() OR app_is_merchant_mode(merchant_id, mode));
GRANT SELECT, INSERT ON merchant_events TO lsp_app;

ALTER TABLE webhook_deliveries ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_deliveries FORCE ROW LEVEL SECURITY;
CREATE POLICY webhook_deliveries_access ON webhook_deliveries FOR ALL
    USING (app_is_platform() OR app_is_merchant(merchant_id))
    WITH CHECK (app_is_platform() OR app_is_merchant(merchant_id));
GRANT SELECT, INSERT, UPDATE ON webhook_deliveries TO lsp_app;

ALTER TABLE webhook_attempts ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_attempts FORCE ROW LEVEL SECURITY;
CREATE POLICY webhook_attempts_access ON webhook_attempts FOR ALL
    USING (app_is_platform() OR app_is_merchant(merchant_id))
    WITH CHECK (app_is_platform() OR app_is_merchant(merchant_id));
GRANT SELECT, INSERT ON webhook_attempts TO lsp_app;
