-- The worker health monitor judges a worker whose queue an operator paused as `paused`: its
-- silence is intended, so it is neither silent nor paged for.
ALTER TABLE worker_health DROP CONSTRAINT worker_health_status_check;
ALTER TABLE worker_health ADD CONSTRAINT worker_health_status_check
    CHECK (status IN ('healthy', 'idle', 'failing', 'silent', 'paused'));
