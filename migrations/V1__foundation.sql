-- Foundation: merchants, dashboard users, sessions, API credentials, gateway accounts, routing pool,
-- audit log and rate-limit counters, with Row Level Security on every merchant-scoped table.
--
-- The application connects as `lsp_app`, which owns nothing and cannot bypass RLS. Migrations run
-- as the owner. Every application transaction declares who it acts for with SET LOCAL:
--   app.scope       'merchant' | 'admin' | 'system'
--   app.merchant_id the merchant's uuid when scope = 'merchant'
--   app.mode        'test' | 'live' when scope = 'merchant'
-- A transaction that declares nothing sees nothing.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'lsp_app') THEN
        CREATE ROLE lsp_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOINHERIT;
    END IF;
END
$$;

GRANT USAGE ON SCHEMA public TO lsp_app;
GRANT SELECT ON refinery_schema_history TO lsp_app;

CREATE FUNCTION app_scope() RETURNS text
    LANGUAGE sql STABLE
    AS $$ SELECT coalesce(current_setting('app.scope', true), '') $$;

CREATE FUNCTION app_merchant_id() RETURNS uuid
    LANGUAGE sql STABLE
    AS $$ SELECT nullif(current_setting('app.merchant_id', true), '')::uuid $$;

CREATE FUNCTION app_mode() RETURNS text
    LANGUAGE sql STABLE
    AS $$ SELECT nullif(current_setting('app.mode', true), '') $$;

-- Platform scopes (operators and internal jobs) see across merchants; nothing else does.
CREATE FUNCTION app_is_platform() RETURNS boolean
    LANGUAGE sql STABLE
    AS $$ SELECT app_scope() IN ('admin', 'system') $$;

CREATE FUNCTION app_is_merchant(target uuid) RETURNS boolean
    LANGUAGE sql STABLE
    AS $$ SELECT app_scope() = 'merchant' AND target IS NOT NULL AND target = app_merchant_id() $$;

-- ---------------------------------------------------------------------------------------------
-- Merchants

CREATE TABLE merchants (
    id                    uuid PRIMARY KEY,
    name                  text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    email                 text        NOT NULL CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
    status                text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    suspended_reason      text,
    live_enabled          boolean     NOT NULL DEFAULT false,
    rate_limit_per_minute integer     CHECK (rate_limit_per_minute BETWEEN 1 AND 1000000),
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT merchants_suspension_has_reason
        CHECK ((status = 'suspended') = (suspended_reason IS NOT NULL))
);
CREATE UNIQUE INDEX merchants_email_key ON merchants (email);

ALTER TABLE merchants ENABLE ROW LEVEL SECURITY;
ALTER TABLE merchants FORCE ROW LEVEL SECURITY;
CREATE POLICY merchants_read ON merchants FOR SELECT
    USING (app_is_platform() OR app_is_merchant(id));
CREATE POLICY merchants_insert ON merchants FOR INSERT
    WITH CHECK (app_is_platform());
CREATE POLICY merchants_update ON merchants FOR UPDATE
    USING (app_is_platform()) WITH CHECK (app_is_platform());
GRANT SELECT, INSERT, UPDATE ON merchants TO lsp_app;

-- ---------------------------------------------------------------------------------------------
-- Dashboard users and their sessions

CREATE TABLE users (
    id            uuid PRIMARY KEY,
    email         text        NOT NULL CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
    password_hash text        NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    role          text        NOT NULL CHECK (role IN ('admin', 'merchant')),
    merchant_id   uuid        REFERENCES merchants (id),
    status        text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    last_login_at timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_role_matches_merchant CHECK ((role = 'merchant') = (merchant_id IS NOT NULL))
);
CREATE UNIQUE INDEX users_email_key ON users (email);
CREATE INDEX users_merchant_idx ON users (merchant_id) WHERE merchant_id IS NOT NULL;

ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE users FORCE ROW LEVEL SECURITY;
CREATE POLICY users_read ON users FOR SELECT
    USING (app_is_platform() OR app_is_merchant(merchant_id));
CREATE POLICY users_write ON users FOR INSERT
    WITH CHECK (app_is_platform());
CREATE POLICY users_update ON users FOR UPDATE
    USING (app_is_platform()) WITH CHECK (app_is_platform());
GRANT SELECT, INSERT, UPDATE ON users TO lsp_app;

-- Refresh tokens rotate on every use; a family is every token descended from one login, so reuse
-- of a spent token can revoke all of them. Only the SHA-256 of a token is stored.
CREATE TABLE refresh_tokens (
    id             uuid PRIMARY KEY,
    family_id      uuid        NOT NULL,
    user_id        uuid        NOT NULL REFERENCES users (id),
    token_hash     bytea       NOT NULL CHECK (length(token_hash) = 32),
    issued_at      timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    used_at        timestamptz,
    revoked_at     timestamptz,
    revoked_reason text,
    CONSTRAINT refresh_tokens_expiry_after_issue CHECK (expires_at > issued_at),
    CONSTRAINT refresh_tokens_revocation_has_reason CHECK ((revoked_at IS NULL) = (revoked_reason IS NULL))
);
CREATE UNIQUE INDEX refresh_tokens_hash_key ON refresh_tokens (token_hash);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);

ALTER TABLE refresh_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE refresh_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY refresh_tokens_system ON refresh_tokens FOR ALL
    USING (app_scope() = 'system') WITH CHECK (app_scope() = 'system');
GRANT SELECT, INSERT, UPDATE ON refresh_tokens TO lsp_app;

-- ---------------------------------------------------------------------------------------------
-- Merchant API credentials: one active key pair per mode; the secret is stored as SHA-256 only.

CREATE TABLE merchant_credentials (
    id           uuid PRIMARY KEY,
    merchant_id  uuid        NOT NULL REFERENCES merchants (id),
    mode         text        NOT NULL CHECK (mode IN ('test', 'live')),
    client_key   text        NOT NULL CHECK (client_key ~ '^lsp_(test|live)_[A-Za-z0-9]{24}$'),
    secret_hash  bytea       NOT NULL CHECK (length(secret_hash) = 32),
    secret_last4 text        NOT NULL CHECK (length(secret_last4) = 4),
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz,
    CONSTRAINT merchant_credentials_key_matches_mode CHECK (starts_with(client_key, 'lsp_' || mode || '_'))
);
CREATE UNIQUE INDEX merchant_credentials_client_key_key ON merchant_credentials (client_key);
CREATE UNIQUE INDEX merchant_credentials_one_active_per_mode
    ON merchant_credentials (merchant_id, mode) WHERE revoked_at IS NULL;

ALTER TABLE merchant_credentials ENABLE ROW LEVEL SECURITY;
ALTER TABLE merchant_credentials FORCE ROW LEVEL SECURITY;
CREATE POLICY merchant_credentials_access ON merchant_credentials FOR ALL
    USING (app_is_platform() OR app_is_merchant(merchant_id))
    WITH CHECK (app_is_platform() OR app_is_merchant(merchant_id));
GRANT SELECT, INSERT, UPDATE ON merchant_credentials TO lsp_app;

-- ---------------------------------------------------------------------------------------------
-- Gateway accounts: credentials sealed with AES-256-GCM by the application; the key id is kept
-- so that keys can be rotated, and the hint holds only the last four characters of each field.

CREATE TABLE gateway_accounts (
    id                     uuid PRIMARY KEY,
    provider               text        NOT NULL
        CHECK (provider IN ('sandbox', 'razorpay', 'payu', 'cashfree', 'phonepe', 'easebuzz', 'stripe')),
    label                  text        NOT NULL CHECK (length(label) BETWEEN 1 AND 200),
    environment            text        NOT NULL CHECK (environment IN ('test', 'live')),
    ownership              text        NOT NULL CHECK (ownership IN ('platform', 'merchant')),
    owner_merchant_id      uuid        REFERENCES merchants (id),
    status                 text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    credentials_key_id     text        NOT NULL CHECK (length(credentials_key_id) BETWEEN 1 AND 64),
    credentials_nonce      bytea       NOT NULL CHECK (length(credentials_nonce) = 12),
    credentials_ciphertext bytea       NOT NULL CHECK (length(credentials_ciphertext) > 16),
    credentials_hint       jsonb       NOT NULL DEFAULT '{}'::jsonb,
    daily_cap              bigint      CHECK (daily_cap > 0),
    monthly_cap            bigint      CHECK (monthly_cap > 0),
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT gateway_accounts_owner_matches_ownership
        CHECK ((ownership = 'merchant') = (owner_merchant_id IS NOT NULL))
);

ALTER TABLE gateway_accounts ENABLE ROW LEVEL SECURITY;
ALTER TABLE gateway_accounts FORCE ROW LEVEL SECURITY;
CREATE POLICY gateway_accounts_read ON gateway_accounts FOR SELECT
    USING (app_is_platform() OR app_is_merchant(owner_merchant_id));
CREATE POLICY gateway_accounts_insert ON gateway_accounts FOR INSERT
    WITH CHECK (app_is_platform());
CREATE POLICY gateway_accounts_update ON gateway_accounts FOR UPDATE
    USING (app_is_platform()) WITH CHECK (app_is_platform());
GRANT SELECT, INSERT, UPDATE ON gateway_accounts TO lsp_app;

-- ---------------------------------------------------------------------------------------------
-- Routing pool: which gateway accounts a merchant may use, and how to choose among them.

CREATE TABLE routing_pools (
    merchant_id uuid PRIMARY KEY REFERENCES merchants (id),
    strategy    text        NOT NULL DEFAULT 'priority'
        CHECK (strategy IN ('priority', 'round_robin', 'weighted', 'smart')),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE routing_pool_members (
    merchant_id        uuid        NOT NULL REFERENCES routing_pools (merchant_id),
    gateway_account_id uuid        NOT NULL REFERENCES gateway_accounts (id),
    priority           integer     NOT NULL CHECK (priority BETWEEN 0 AND 1000),
    weight             integer     NOT NULL DEFAULT 100 CHECK (weight BETWEEN 0 AND 10000),
    enabled            boolean     NOT NULL DEFAULT true,
    daily_cap          bigint      CHECK (daily_cap > 0),
    monthly_cap        bigint      CHECK (monthly_cap > 0),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (merchant_id, gateway_account_id)
);

ALTER TABLE routing_pools ENABLE ROW LEVEL SECURITY;
ALTER TABLE routing_pools FORCE ROW LEVEL SECURITY;
CREATE POLICY routing_pools_read ON routing_pools FOR SELECT
    USING (app_is_platform() OR app_is_merchant(merchant_id));
CREATE POLICY routing_pools_insert ON routing_pools FOR INSERT
    WITH CHECK (app_is_platform());
CREATE POLICY routing_pools_update ON routing_pools FOR UPDATE
    USING (app_is_platform()) WITH CHECK (app_is_platform());

ALTER TABLE routing_pool_members ENABLE ROW LEVEL SECURITY;
ALTER TABLE routing_pool_members FORCE ROW LEVEL SECURITY;
CREATE POLICY routing_pool_members_read ON routing_pool_members FOR SELECT
    USING (app_is_platform() OR app_is_merchant(merchant_id));
CREATE POLICY routing_pool_members_insert ON routing_pool_members FOR INSERT
    WITH CHECK (app_is_platform());
CREATE POLICY routing_pool_members_update ON routing_pool_members FOR UPDATE
    USING (app_is_platform()) WITH CHECK (app_is_platform());
CREATE POLICY routing_pool_members_delete ON routing_pool_members FOR DELETE
    USING (app_is_platform());
GRANT SELECT, INSERT, UPDATE ON routing_pools TO lsp_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON routing_pool_members TO lsp_app;

-- ---------------------------------------------------------------------------------------------
-- Audit log: append-only, enforced here and not only by grants (the owner is refused too).

CREATE TABLE audit_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    actor_type  text        NOT NULL CHECK (actor_type IN ('user', 'api_key', 'system', 'anonymous')),
    actor_id    text,
    merchant_id uuid        REFERENCES merchants (id),
    action      text        NOT NULL CHECK (action ~ '^[a-z_]+(\.[a-z_]+)+$'),
    outcome     text        NOT NULL CHECK (outcome IN ('success', 'failure')),
    target_type text,
    target_id   text,
    before      jsonb,
    after       jsonb,
    request_id  text,
    source_ip   text
);
CREATE INDEX audit_log_merchant_idx ON audit_log (merchant_id, id) WHERE merchant_id IS NOT NULL;
CREATE INDEX audit_log_action_idx ON audit_log (action, id);

CREATE FUNCTION audit_log_is_append_only() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER audit_log_no_update_or_delete
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only();
CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_is_append_only();

ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_log FORCE ROW LEVEL SECURITY;
CREATE POLICY audit_log_read ON audit_log FOR SELECT
    USING (app_is_platform() OR app_is_merchant(merchant_id));
CREATE POLICY audit_log_append ON audit_log FOR INSERT
    WITH CHECK (app_is_platform() OR app_is_merchant(merchant_id));
REVOKE ALL ON audit_log FROM PUBLIC;
GRANT SELECT, INSERT ON audit_log TO lsp_app;

-- ---------------------------------------------------------------------------------------------
-- Rate limits: one fixed one-minute window per principal, shared by every Lambda instance.

CREATE TABLE rate_limit_counters (
    principal    text        PRIMARY KEY CHECK (length(principal) BETWEEN 1 AND 200),
    window_start timestamptz NOT NULL,
    hits         integer     NOT NULL CHECK (hits > 0)
);
GRANT SELECT, INSERT, UPDATE, DELETE ON rate_limit_counters TO lsp_app;
