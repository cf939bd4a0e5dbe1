-- F18: the unauthenticated surface runs in its own database scope, `public`, narrower than
-- `system`.
--
-- Checkout pages, browser returns, gateway webhooks (`inbound::receive`), the sandbox gateway and
-- the per-address metering of those routes used to open their transactions as `system`, which
-- every policy lets see and change everything. A logic bug there (a query missing its filter, an
-- id taken from the request) would then reach every merchant's secrets and users. They now run as
-- `app.scope = 'public'` (`db::Scope::Public`), which no existing policy admits (`app_is_platform()`
-- is admin/system only, `app_is_merchant()` needs scope `merchant`). The permissive policies below
-- add exactly what those code paths run, read off every query they make, including what they call
-- (`transactions::apply_report`, `outbox::write` in both delivery modes, `return_signing::
-- current_or_create`, `gateway_accounts::open`/`credentials`, `webhook_accounts::candidates`):
--
--   transactions              SELECT, UPDATE   load the payment; order creation and gateway
--                                              reports move its status (apply_report)
--   transaction_attempts      SELECT, UPDATE   the attempt's order, lease, status query window,
--                                              reported status (SELECT ... FOR UPDATE needs both)
--   merchant_return_secrets   SELECT, INSERT   signing the redirect to the merchant; the first
--                                              redirect creates the secret (never UPDATE: rotation
--                                              is the merchant's own route)
--   gateway_accounts          SELECT           opening the account to verify a signature, create an
--                                              order or ask a status; choosing webhook candidates
--                             UPDATE sandbox   the sandbox records its caller's key fingerprint at
--                                              first use; only sandbox (test-only) rows
--   gateway_events            SELECT, INSERT   storing an inbound event once (ON CONFLICT ...
--                                              RETURNING, then the duplicate's id); never UPDATE:
--                                              the worker (system) applies events
--   outbox                    INSERT           events and jobs written with a state change
--   job_queue                 INSERT           the same, with direct delivery
--   sandbox_orders            SELECT, INSERT, UPDATE   the sandbox gateway's own orders
--   sandbox_refunds           SELECT, INSERT           and refunds
--
-- `rate_limit_counters` has no row security (V1); the public metering keeps its grant.
--
-- Nothing else: `public` sees no merchant_credentials, users, refresh_tokens, login_failures,
-- idempotency_keys, merchants, refunds, routing pools or audit_log rows (the public paths write
-- no audit rows), and cannot read the outbox or job queue it writes to. Workers and schedules
-- keep `system`. Grants to lsp_app are unchanged: every operation above was already granted.

CREATE POLICY transactions_public_read ON transactions FOR SELECT
    USING (app_scope() = 'public');
CREATE POLICY transactions_public_update ON transactions FOR UPDATE
    USING (app_scope() = 'public') WITH CHECK (app_scope() = 'public');

CREATE POLICY transaction_attempts_public_read ON transaction_attempts FOR SELECT
    USING (app_scope() = 'public');
CREATE POLICY transaction_attempts_public_update ON transaction_attempts FOR UPDATE
    USING (app_scope() = 'public') WITH CHECK (app_scope() = 'public');

CREATE POLICY merchant_return_secrets_public_read ON merchant_return_secrets FOR SELECT
    USING (app_scope() = 'public');
CREATE POLICY merchant_return_secrets_public_insert ON merchant_return_secrets FOR INSERT
    WITH CHECK (app_scope() = 'public');

CREATE POLICY gateway_accounts_public_read ON gateway_accounts FOR SELECT
    USING (app_scope() = 'public');
CREATE POLICY gateway_accounts_public_sandbox_update ON gateway_accounts FOR UPDATE
    USING (app_scope() = 'public' AND provider = 'sandbox')
    WITH CHECK (app_scope() = 'public' AND provider = 'sandbox');

CREATE POLICY gateway_events_public_read ON gateway_events FOR SELECT
    USING (app_scope() = 'public');
CREATE POLICY gateway_events_public_insert ON gateway_events FOR INSERT
    WITH CHECK (app_scope() = 'public');

CREATE POLICY outbox_public_write ON outbox FOR INSERT
    WITH CHECK (app_scope() = 'public');

CREATE POLICY job_queue_public_enqueue ON job_queue FOR INSERT
    WITH CHECK (app_scope() = 'public');

CREATE POLICY sandbox_orders_public ON sandbox_orders FOR ALL
    USING (app_scope() = 'public') WITH CHECK (app_scope() = 'public');

CREATE POLICY sandbox_refunds_public ON sandbox_refunds FOR ALL
    USING (app_scope() = 'public') WITH CHECK (app_scope() = 'public');
