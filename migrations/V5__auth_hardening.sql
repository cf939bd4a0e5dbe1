-- Authentication hardening (issue 8: F1, F7, F14).

-- ---------------------------------------------------------------------------------------------
-- F1: a merchant-scope transaction sees and changes only its own mode's key pairs, so a test-mode
-- caller cannot mint or revoke a live pair even if the application forgot to check.

DROP POLICY merchant_credentials_access ON merchant_credentials;
CREATE POLICY merchant_credentials_access ON merchant_credentials FOR ALL
    USING (app_is_platform() OR (app_is_merchant(merchant_id) AND mode = app_mode()))
    WITH CHECK (app_is_platform() OR (app_is_merchant(merchant_id) AND mode = app_mode()));

-- A rotation may keep the old pair working for a grace period (at most 24 hours) so that a
-- merchant can roll keys without downtime: the old pair gets an expiry instead of a revocation.
-- "One active pair per mode" now means one pair without an expiry.
ALTER TABLE merchant_credentials ADD COLUMN expires_at timestamptz;
DROP INDEX merchant_credentials_one_active_per_mode;
CREATE UNIQUE INDEX merchant_credentials_one_active_per_mode
    ON merchant_credentials (merchant_id, mode) WHERE revoked_at IS NULL AND expires_at IS NULL;

-- ---------------------------------------------------------------------------------------------
-- F7: per-account lockout and a TOTP second factor.
--
-- failed_logins counts consecutive failures since the last success; locked_until is when the
-- account may try again. The TOTP secret is sealed like gateway credentials (AES-256-GCM, key id
-- kept for rotation); mfa_enabled_at is set once the user confirmed a code, and mfa_last_step
-- is the last 30-second step accepted, so a code cannot be replayed.

ALTER TABLE users
    ADD COLUMN failed_logins   integer     NOT NULL DEFAULT 0 CHECK (failed_logins >= 0),
    ADD COLUMN locked_until    timestamptz,
    ADD COLUMN mfa_key_id      text        CHECK (length(mfa_key_id) BETWEEN 1 AND 64),
    ADD COLUMN mfa_nonce       bytea       CHECK (length(mfa_nonce) = 12),
    ADD COLUMN mfa_ciphertext  bytea       CHECK (length(mfa_ciphertext) > 16),
    ADD COLUMN mfa_enabled_at  timestamptz,
    ADD COLUMN mfa_last_step   bigint,
    ADD CONSTRAINT users_mfa_sealed_together
        CHECK ((mfa_key_id IS NULL) = (mfa_nonce IS NULL) AND (mfa_nonce IS NULL) = (mfa_ciphertext IS NULL)),
    ADD CONSTRAINT users_mfa_enabled_has_secret
        CHECK (mfa_enabled_at IS NULL OR mfa_ciphertext IS NOT NULL);

-- Failed logins, kept out of the append-only audit log (which cannot be pruned) so that a
-- password-guessing flood cannot grow storage for ever. Retention: 30 days, pruned by created_at
-- by the scheduled pruning job; lockout itself reads users.failed_logins, not this table.
CREATE TABLE login_failures (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    uuid        REFERENCES users (id),
    email      text        NOT NULL CHECK (length(email) <= 254),
    reason     text        NOT NULL CHECK (reason IN ('invalid_login', 'locked', 'invalid_otp')),
    source_ip  text,
    request_id text,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_created_idx ON login_failures (created_at);
CREATE INDEX login_failures_user_idx ON login_failures (user_id, created_at) WHERE user_id IS NOT NULL;

ALTER TABLE login_failures ENABLE ROW LEVEL SECURITY;
ALTER TABLE login_failures FORCE ROW LEVEL SECURITY;
CREATE POLICY login_failures_platform ON login_failures FOR ALL
    USING (app_is_platform()) WITH CHECK (app_is_platform());
GRANT SELECT, INSERT, DELETE ON login_failures TO lsp_app;

-- F14 needs no schema change: access tokens name their refresh family, and the per-request user
-- lookup checks it through refresh_tokens_family_idx.
