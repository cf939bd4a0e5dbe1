-- Reading the audit log (issue 14): the filters of GET /api/v1/admin/audit-logs and
-- /api/v1/merchant/audit-logs, and the pruning of volume-cap periods long over.

-- Pages are newest first by id; these let a selective filter walk only its own entries in that
-- order instead of the whole log (merchant and action already have theirs, from V1).
CREATE INDEX audit_log_actor_idx ON audit_log (actor_type, actor_id, id);
CREATE INDEX audit_log_target_idx ON audit_log (target_type, target_id, id) WHERE target_type IS NOT NULL;
-- A time range (from/to) far from the newest entries.
CREATE INDEX audit_log_occurred_at_idx ON audit_log (occurred_at);

-- Volume caps count per IST day and month, one row per period: a new period is a new row, so
-- nothing resets them. The maintenance job deletes periods that ended long ago (see
-- shared::maintenance::RETENTION). The table's policy lets merchant and public scopes reserve
-- and release; deleting is for the platform only, so a restrictive policy narrows DELETE to it.
CREATE INDEX routing_cap_usage_period_start_idx ON routing_cap_usage (period_start);
CREATE POLICY routing_cap_usage_delete ON routing_cap_usage AS RESTRICTIVE FOR DELETE
    USING (app_is_platform());
GRANT DELETE ON routing_cap_usage TO lsp_app;
