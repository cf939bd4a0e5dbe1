-- Reading the audit log (issue 14): the filters of GET /api/v1/admin/audit-logs and
-- /api/v1/merchant/audit-logs.

-- Pages are newest first by id; these let a selective filter walk only its own entries in that
-- order instead of the whole log (merchant and action already have theirs, from V1).
CREATE INDEX audit_log_actor_idx ON audit_log (actor_type, actor_id, id);
CREATE INDEX audit_log_target_idx ON audit_log (target_type, target_id, id) WHERE target_type IS NOT NULL;
-- A time range (from/to) far from the newest entries.
CREATE INDEX audit_log_occurred_at_idx ON audit_log (occurred_at);

