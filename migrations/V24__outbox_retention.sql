-- Published outbox rows are history once their job or event was handed on (merchants' events are
-- kept in their own table): the hourly maintenance job deletes them a week after publication.
-- A row not yet published has no published_at and is never pruned.
CREATE POLICY outbox_prune ON outbox FOR DELETE USING (app_scope() = 'system');
GRANT DELETE ON outbox TO lsp_app;
CREATE INDEX outbox_published_idx ON outbox (published_at) WHERE published_at IS NOT NULL;
