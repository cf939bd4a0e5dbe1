-- Alerts: one row per occurrence of a condition operators must hear about (a breaker open, a
-- queue backed up, dead letters, an amount mismatch, a merchant endpoint disabled). A condition
-- has a stable key; while its alert is open (or acknowledged) a repeat only counts, and when the
-- condition clears the alert is resolved, so the next occurrence opens a new one.
CREATE TABLE alerts (
    id               uuid        PRIMARY KEY,
    key              text        NOT NULL CHECK (length(key) BETWEEN 1 AND 200),
    kind             text        NOT NULL CHECK (kind IN ('gateway_breaker_open', 'queue_backlog', 'queue_age',
                                                          'dead_letters', 'amount_mismatch',
                                                          'webhook_endpoint_disabled')),
    severity         text        NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    status           text        NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'acknowledged', 'resolved')),
    merchant_id      uuid        REFERENCES merchants (id),
    title            text        NOT NULL CHECK (length(title) BETWEEN 1 AND 300),
    details          jsonb       NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(details) = 'object'),
    count            integer     NOT NULL DEFAULT 1 CHECK (count >= 1),
    first_seen_at    timestamptz NOT NULL,
    last_seen_at     timestamptz NOT NULL,
    acknowledged_at  timestamptz,
    acknowledged_by  uuid        REFERENCES users (id),
    resolved_at      timestamptz,
    -- NULL with resolution 'automatic': the condition cleared, nobody acted.
    resolved_by      uuid        REFERENCES users (id),
    resolution       text        CHECK (resolution IN ('automatic', 'operator')),
    last_notified_at timestamptz,
    notifications    integer     NOT NULL DEFAULT 0 CHECK (notifications >= 0),
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    CONSTRAINT alerts_seen_in_order CHECK (last_seen_at >= first_seen_at),
    CONSTRAINT alerts_acknowledged_when
        CHECK ((status <> 'acknowledged' OR acknowledged_at IS NOT NULL)
               AND (acknowledged_by IS NULL OR acknowledged_at IS NOT NULL)),
    CONSTRAINT alerts_resolved_when
        CHECK ((status = 'resolved') = (resolved_at IS NOT NULL)
               AND (status = 'resolved') = (resolution IS NOT NULL)),
    CONSTRAINT alerts_resolved_by_whom
        CHECK (CASE resolution WHEN 'operator' THEN resolved_by IS NOT NULL ELSE resolved_by IS NULL END),
    CONSTRAINT alerts_notified_when CHECK ((notifications = 0) = (last_notified_at IS NULL))
);
-- One open alert per condition: concurrent raises of one key meet here (INSERT … ON CONFLICT).
CREATE UNIQUE INDEX alerts_open_key ON alerts (key) WHERE status IN ('open', 'acknowledged');
CREATE INDEX alerts_status_idx ON alerts (status, id);
CREATE INDEX alerts_merchant_idx ON alerts (merchant_id, id) WHERE merchant_id IS NOT NULL;

-- Row security. Operators and the platform's jobs see and change every alert. Two conditions are
-- detected on paths that act for someone else, in the transaction of the change itself:
--   merchant scope  a merchant's own webhook endpoint disabled or enabled again (raise, clear),
--                   and an amount mismatch found while applying a report for that merchant;
--   public scope    an amount mismatch found on a browser return or a gateway webhook
--                   (`transactions::apply_report`, see V9).
-- They may raise and resolve only those kinds (ON CONFLICT … DO UPDATE reads the open row, so
-- SELECT is needed too); no DELETE for anyone: alerts are history.
ALTER TABLE alerts ENABLE ROW LEVEL SECURITY;
ALTER TABLE alerts FORCE ROW LEVEL SECURITY;
CREATE POLICY alerts_platform ON alerts FOR ALL
    USING (app_is_platform()) WITH CHECK (app_is_platform());
CREATE POLICY alerts_merchant ON alerts FOR ALL
    USING (app_is_merchant(merchant_id) AND kind IN ('amount_mismatch', 'webhook_endpoint_disabled'))
    WITH CHECK (app_is_merchant(merchant_id) AND kind IN ('amount_mismatch', 'webhook_endpoint_disabled'));
CREATE POLICY alerts_public ON alerts FOR ALL
    USING (app_scope() = 'public' AND kind = 'amount_mismatch')
    WITH CHECK (app_scope() = 'public' AND kind = 'amount_mismatch');
GRANT SELECT, INSERT, UPDATE ON alerts TO lsp_app;
