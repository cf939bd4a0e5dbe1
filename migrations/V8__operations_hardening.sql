-- Operations hardening (issue 8): no tail of a secret is kept (F4).

-- Gateway credential hints: keep the tails of public identifiers only (the same list as
-- `gateway_accounts::is_public`); a secret's hint becomes null until `lightspeedpay reseal`
-- replaces it with a keyed fingerprint (SQL cannot compute one: it needs the encryption key).
UPDATE gateway_accounts g
   SET credentials_hint = (
        SELECT coalesce(jsonb_object_agg(
                   h.key,
                   CASE WHEN (g.provider, h.key) IN (VALUES
                            ('razorpay', 'key_id'), ('payu', 'key'), ('easebuzz', 'key'),
                            ('cashfree', 'client_id'), ('phonepe', 'merchant_id'),
                            ('phonepe', 'salt_index'), ('stripe', 'publishable_key'))
                        THEN h.value ELSE 'null'::jsonb END), '{}'::jsonb)
          FROM jsonb_each(g.credentials_hint) h);

-- Audit rows of created gateway accounts held those hints, tails of secrets included. The log is
-- append-only, so this one remediation lifts the guard for one statement, keeps only the
-- credential field names (what new rows hold), and restores the guard in the same transaction.
ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update_or_delete;
ALTER TABLE audit_log NO FORCE ROW LEVEL SECURITY;
UPDATE audit_log
   SET after = jsonb_set(after, '{credentials}',
        (SELECT coalesce(jsonb_agg(k ORDER BY k), '[]'::jsonb)
           FROM jsonb_object_keys(after -> 'credentials') k))
 WHERE action = 'gateway_account.created'
   AND jsonb_typeof(after -> 'credentials') = 'object';
ALTER TABLE audit_log FORCE ROW LEVEL SECURITY;
ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update_or_delete;

-- Merchant API secrets: the last four characters are gone; the fingerprint shown instead is read
-- from the stored SHA-256 (see `auth::api_keys`).
ALTER TABLE merchant_credentials DROP COLUMN secret_last4;
