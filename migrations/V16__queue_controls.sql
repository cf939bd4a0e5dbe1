-- Queue administration: whether each worker queue is paused. The row is the source of truth on
-- both backends: the local runner skips a paused queue, and in AWS pausing also disables the
-- worker's SQS event source mapping (resuming enables it). No row: the queue runs.

CREATE TABLE queue_controls (
    queue      text        PRIMARY KEY CHECK (queue ~ '^[a-z][a-z0-9-]{0,62}$'),
    paused     boolean     NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now(),
    -- The audit actor of the last change (`user:<id>`, `system`).
    changed_by text        NOT NULL CHECK (length(changed_by) BETWEEN 1 AND 200),
    reason     text        CHECK (length(reason) <= 500)
);

ALTER TABLE queue_controls ENABLE ROW LEVEL SECURITY;
ALTER TABLE queue_controls FORCE ROW LEVEL SECURITY;
CREATE POLICY queue_controls_platform ON queue_controls FOR ALL
    USING (app_is_platform()) WITH CHECK (app_is_platform());
GRANT SELECT, INSERT, UPDATE, DELETE ON queue_controls TO lsp_app;
