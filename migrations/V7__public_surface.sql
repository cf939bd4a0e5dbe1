-- The unauthenticated surface (checkout pages, browser returns, gateway webhooks, the sandbox).
--
-- Finding accounts without opening them. An inbound webhook used to open and try every active
-- account of its provider. New notify URLs name the account; on the older provider-wide path
-- the request's public account identifier (PayU/Easebuzz `key`, PhonePe `merchant_id`) narrows
-- the candidates. The sandbox finds its caller's account by a fingerprint of the `api_key`
-- instead of opening every sandbox account. Rows stored before this migration have neither value:
-- they stay candidates (webhooks) or are fingerprinted at their first use (sandbox).

ALTER TABLE gateway_accounts
    ADD COLUMN public_identifier text CHECK (length(public_identifier) BETWEEN 1 AND 200),
    ADD COLUMN key_fingerprint   bytea CHECK (length(key_fingerprint) = 32);
CREATE INDEX gateway_accounts_public_identifier
    ON gateway_accounts (provider, public_identifier) WHERE public_identifier IS NOT NULL;
CREATE UNIQUE INDEX gateway_accounts_key_fingerprint
    ON gateway_accounts (key_fingerprint) WHERE key_fingerprint IS NOT NULL;

-- A browser return asks the gateway at most once per attempt in a short window: a looped return
-- URL must not spend the rate limit of a gateway account other merchants share. The return claims
-- the window with one conditional UPDATE once the return is verified (claiming before would let
-- an unverified request suppress a real customer's confirmation).
ALTER TABLE transaction_attempts ADD COLUMN status_queried_at timestamptz;

-- F6: the redirect to the merchant's return_url is signed (HMAC-SHA256) under a secret per
-- merchant and mode. We compute with it, so it is sealed (AES-256-GCM, bound to merchant and
-- mode) like gateway credentials, never hashed. A merchant reads it only in the answer of the
-- rotate route; its own principal sees only its own mode's row.
CREATE TABLE merchant_return_secrets (
    merchant_id       uuid        NOT NULL REFERENCES merchants (id),
    mode              text        NOT NULL CHECK (mode IN ('test', 'live')),
    secret_key_id     text        NOT NULL CHECK (length(secret_key_id) BETWEEN 1 AND 64),
    secret_nonce      bytea       NOT NULL CHECK (length(secret_nonce) = 12),
    secret_ciphertext bytea       NOT NULL CHECK (length(secret_ciphertext) > 16),
    created_at        timestamptz NOT NULL DEFAULT now(),
    rotated_at        timestamptz,
    PRIMARY KEY (merchant_id, mode)
);
ALTER TABLE merchant_return_secrets ENABLE ROW LEVEL SECURITY;
ALTER TABLE merchant_return_secrets FORCE ROW LEVEL SECURITY;
CREATE POLICY merchant_return_secrets_access ON merchant_return_secrets FOR ALL
    USING (app_is_platform() OR (app_is_merchant(merchant_id) AND mode = app_mode()))
    WITH CHECK (app_is_platform() OR (app_is_merchant(merchant_id) AND mode = app_mode()));
GRANT SELECT, INSERT, UPDATE ON merchant_return_secrets TO lsp_app;

-- F9: the sandbox pays whatever anyone presses Pay on, so it never holds live money.
ALTER TABLE gateway_accounts ADD CONSTRAINT gateway_accounts_sandbox_is_test
    CHECK (provider <> 'sandbox' OR environment = 'test');
