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
