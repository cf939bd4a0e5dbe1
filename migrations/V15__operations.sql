-- Operations: the record of scheduled runs (their run keys), what each worker did minute by
-- minute, the last error of each failing message, each worker's judged health, and the alert
-- kinds the monitors raise.

-- ---------------------------------------------------------------------------------------------
-- One row per run of a scheduled job: (job, scheduled_at) is the run key. The scheduler's time,
-- not the clock's, so a duplicate invocation of the same run finds its row and does nothing,
-- and a late run acts for the time it was meant for.

CREATE TABLE schedule_runs (
    job          text        NOT NULL CHECK (job ~ '^[a-z][a-z0-9-]{0,62}$'),
    scheduled_at timestamptz NOT NULL,
    status       text        NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    -- How many invocations claimed this run: a failed or abandoned run is taken up again.
    attempts     integer     NOT NULL DEFAULT 1 CHECK (attempts >= 1),
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    summary      jsonb,
    error        text        CHECK (length(error) <= 2000),
    PRIMARY KEY (job, scheduled_at),
    CONSTRAINT schedule_runs_finished CHECK ((status = 'running') = (finished_at IS NULL)),
    CONSTRAINT schedule_runs_error CHECK ((status = 'failed') = (error IS NOT NULL))
);
CREATE INDEX schedule_runs_latest_idx ON schedule_runs (job, scheduled_at DESC);
CREATE INDEX schedule_runs_started_idx ON schedule_runs (started_at);

ALTER TABLE schedule_runs ENABLE ROW LEVEL SECURITY;
ALTER TABLE schedule_runs FORCE ROW LEVEL SECURITY;
CREATE POLICY schedule_runs_platform ON schedule_runs FOR ALL
    USING (app_is_platform()) WITH CHECK (app_is_platform());
GRANT SELECT, INSERT, UPDATE, DELETE ON schedule_runs TO lsp_app;

-- ---------------------------------------------------------------------------------------------
-- What each worker did, one row per worker and minute: messages done and failed, and when it
-- last succeeded or failed. Queue statistics (processed and failed per minute) and the worker
-- health monitor read it on both backends alike.

CREATE TABLE worker_activity (
    worker          text        NOT NULL CHECK (worker ~ '^[a-z][a-z0-9-]{0,62}$'),
    minute          timestamptz NOT NULL CHECK (minute = date_trunc('minute', minute)),
    processed       integer     NOT NULL DEFAULT 0 CHECK (processed >= 0),
    failed          integer     NOT NULL DEFAULT 0 CHECK (failed >= 0),
    last_success_at timestamptz,
    last_failure_at timestamptz,
    last_error      text        CHECK (length(last_error) <= 2000),
    PRIMARY KEY (worker, minute),
    CONSTRAINT worker_activity_success_seen CHECK ((processed = 0) = (last_success_at IS NULL)),
    CONSTRAINT worker_activity_failure_seen CHECK ((failed = 0) = (last_failure_at IS NULL))
);
CREATE INDEX worker_activity_minute_idx ON worker_activity (minute);

ALTER TABLE worker_activity ENABLE ROW LEVEL SECURITY;
ALTER TABLE worker_activity FORCE ROW LEVEL SECURITY;
CREATE POLICY worker_activity_platform ON worker_activity FOR ALL
    USING (app_is_platform()) WITH CHECK (app_is_platform());
GRANT SELECT, INSERT, UPDATE, DELETE ON worker_activity TO lsp_app;

-- The last error of each message that failed, by the queue's own message id (stable across
-- receives and kept when the message is dead-lettered): the dead-letter peek shows it.

CREATE TABLE job_failures (
    queue         text        NOT NULL CHECK (queue ~ '^[a-z][a-z0-9-]{0,62}$'),
    message_id    text        NOT NULL CHECK (length(message_id) BETWEEN 1 AND 200),
    receive_count integer     NOT NULL CHECK (receive_count >= 0),
    error         text        NOT NULL CHECK (length(error) BETWEEN 1 AND 2000),
    failed_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (queue, message_id)
);
CREATE INDEX job_failures_failed_at_idx ON job_failures (failed_at);

ALTER TABLE job_failures ENABLE ROW LEVEL SECURITY;
ALTER TABLE job_failures FORCE ROW LEVEL SECURITY;
CREATE POLICY job_failures_platform ON job_failures FOR ALL
    USING (app_is_platform()) WITH CHECK (app_is_platform());
GRANT SELECT, INSERT, UPDATE, DELETE ON job_failures TO lsp_app;

-- Each worker's health as the worker health monitor last judged it.

CREATE TABLE worker_health (
    worker          text        PRIMARY KEY CHECK (worker ~ '^[a-z][a-z0-9-]{0,62}$'),
    queue           text        NOT NULL,
    -- healthy: succeeding; idle: nothing to do; failing: error rate over its limit;
    -- silent: work waits on its queue and nothing was done for too long.
    status          text        NOT NULL CHECK (status IN ('healthy', 'idle', 'failing', 'silent')),
    checked_at      timestamptz NOT NULL,
    last_success_at timestamptz,
    last_failure_at timestamptz,
    last_error      text        CHECK (length(last_error) <= 2000),
    -- Over the monitor's window.
    processed       integer     NOT NULL CHECK (processed >= 0),
    failed          integer     NOT NULL CHECK (failed >= 0),
    error_rate      numeric(5, 4) NOT NULL CHECK (error_rate BETWEEN 0 AND 1),
    backlog         bigint      CHECK (backlog >= 0)
);

ALTER TABLE worker_health ENABLE ROW LEVEL SECURITY;
ALTER TABLE worker_health FORCE ROW LEVEL SECURITY;
CREATE POLICY worker_health_platform ON worker_health FOR ALL
    USING (app_is_platform()) WITH CHECK (app_is_platform());
GRANT SELECT, INSERT, UPDATE, DELETE ON worker_health TO lsp_app;

-- ---------------------------------------------------------------------------------------------
-- The monitors' alerts: a payment pending past its SLA, a merchant webhook delivery overdue, a
-- worker gone silent or failing, a scheduled run that failed.

ALTER TABLE alerts DROP CONSTRAINT alerts_kind_check;
ALTER TABLE alerts ADD CONSTRAINT alerts_kind_check
    CHECK (kind IN ('gateway_breaker_open', 'queue_backlog', 'queue_age', 'dead_letters', 'amount_mismatch',
                    'webhook_endpoint_disabled', 'wallet_balance_low', 'payment_sla_breached',
                    'webhook_delivery_overdue', 'worker_silent', 'worker_failing', 'schedule_failed'));
