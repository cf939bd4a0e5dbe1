-- The platform's own health over time: what each `system-status-checker` run saw (one row per
-- scheduled run, so a repeated invocation of one run stores nothing new), and the daily health
-- report of each IST day (one row per day: a second run for the same day stores and sends
-- nothing more). Operators and the platform's jobs only: no merchant data is named here.

CREATE TABLE system_status (
    -- The run's scheduled time (its tick), not the clock's: a late run files its check under
    -- the slot it was meant for.
    checked_for timestamptz PRIMARY KEY,
    status      text        NOT NULL CHECK (status IN ('ok', 'degraded', 'down')),
    report      jsonb       NOT NULL CHECK (jsonb_typeof(report) = 'object'),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX system_status_degraded_idx ON system_status (checked_for) WHERE status <> 'ok';

ALTER TABLE system_status ENABLE ROW LEVEL SECURITY;
ALTER TABLE system_status FORCE ROW LEVEL SECURITY;
CREATE POLICY system_status_platform ON system_status FOR ALL
    USING (app_is_platform()) WITH CHECK (app_is_platform());
GRANT SELECT, INSERT, DELETE ON system_status TO lsp_app;

CREATE TABLE system_health_reports (
    -- The IST calendar day reported on.
    report_date  date        PRIMARY KEY,
    -- The run that made it, and the UTC bounds of the day: [period_start, period_end).
    scheduled_at timestamptz NOT NULL,
    period_start timestamptz NOT NULL,
    period_end   timestamptz NOT NULL,
    report       jsonb       NOT NULL CHECK (jsonb_typeof(report) = 'object'),
    -- Messages queued for operators' Slack and WhatsApp recipients with the report.
    notifications integer    NOT NULL CHECK (notifications >= 0),
    created_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT system_health_reports_one_day
        CHECK (period_end - period_start = interval '1 day')
);

ALTER TABLE system_health_reports ENABLE ROW LEVEL SECURITY;
ALTER TABLE system_health_reports FORCE ROW LEVEL SECURITY;
CREATE POLICY system_health_reports_platform ON system_health_reports FOR ALL
    USING (app_is_platform()) WITH CHECK (app_is_platform());
-- UPDATE: the run claims the day with its row first, then fills in the report it sent.
GRANT SELECT, INSERT, UPDATE ON system_health_reports TO lsp_app;
