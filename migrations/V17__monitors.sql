-- The queue metrics recorder's table: one row per worker queue and minute, what the queue held
-- at the end of the minute and what its worker did during it. The depth columns are empty when
-- the depth was not sampled (a late run cannot measure the past; a queue that could not be read).

CREATE TABLE queue_metrics (
    queue              text        NOT NULL CHECK (queue ~ '^[a-z][a-z0-9-]{0,62}$'),
    -- The minute described: [minute, minute + 1 min).
    minute             timestamptz NOT NULL CHECK (minute = date_trunc('minute', minute)),
    -- The worker that consumes the queue (its worker_activity rows).
    worker             text        NOT NULL CHECK (worker ~ '^[a-z][a-z0-9-]{0,62}$'),
    processed          integer     NOT NULL CHECK (processed >= 0),
    failed             integer     NOT NULL CHECK (failed >= 0),
    -- When the depth below was read; NULL: not sampled.
    sampled_at         timestamptz,
    visible            bigint      CHECK (visible >= 0),
    in_flight          bigint      CHECK (in_flight >= 0),
    delayed            bigint      CHECK (delayed >= 0),
    dead_letters       bigint      CHECK (dead_letters >= 0),
    -- The oldest visible message's wait, when the backend can tell (SQS cannot).
    oldest_age_seconds bigint      CHECK (oldest_age_seconds >= 0),
    recorded_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (queue, minute),
    CONSTRAINT queue_metrics_sampled CHECK (
        (sampled_at IS NULL) = (visible IS NULL)
        AND (sampled_at IS NULL) = (in_flight IS NULL)
        AND (sampled_at IS NULL) = (delayed IS NULL)
        AND (sampled_at IS NULL) = (dead_letters IS NULL)
        AND (sampled_at IS NOT NULL OR oldest_age_seconds IS NULL))
);
-- Pruning (shared::maintenance::RETENTION) and "the last hour of every queue".
CREATE INDEX queue_metrics_minute_idx ON queue_metrics (minute);

ALTER TABLE queue_metrics ENABLE ROW LEVEL SECURITY;
ALTER TABLE queue_metrics FORCE ROW LEVEL SECURITY;
CREATE POLICY queue_metrics_platform ON queue_metrics FOR ALL
    USING (app_is_platform()) WITH CHECK (app_is_platform());
GRANT SELECT, INSERT, UPDATE, DELETE ON queue_metrics TO lsp_app;
