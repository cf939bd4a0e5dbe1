-- A payment carries the gateway's id of the payment that captured it, so lists show it without
-- reading attempts (and archived payments keep it). Set when a capture is applied.
ALTER TABLE transactions ADD COLUMN gateway_payment_id text;
ALTER TABLE archived_transactions ADD COLUMN gateway_payment_id text;

-- The backfill, as the owner: row security is lifted for these statements only (forced, it
-- would show the owner no rows without a scope) and restored in the same transaction. Archived
-- rows never change, but for this one value they already imply.
ALTER TABLE transactions NO FORCE ROW LEVEL SECURITY;
ALTER TABLE transaction_attempts NO FORCE ROW LEVEL SECURITY;
UPDATE transactions t
   SET gateway_payment_id = a.gateway_payment_id
  FROM transaction_attempts a
 WHERE a.transaction_id = t.id AND a.status = 'succeeded' AND a.gateway_payment_id IS NOT NULL
   AND a.error_code IS DISTINCT FROM 'second_capture';
ALTER TABLE transaction_attempts FORCE ROW LEVEL SECURITY;
ALTER TABLE transactions FORCE ROW LEVEL SECURITY;

ALTER TABLE archived_transactions DISABLE TRIGGER archived_transactions_append_only;
ALTER TABLE archived_transactions NO FORCE ROW LEVEL SECURITY;
ALTER TABLE archived_transaction_attempts NO FORCE ROW LEVEL SECURITY;
UPDATE archived_transactions t
   SET gateway_payment_id = a.gateway_payment_id
  FROM archived_transaction_attempts a
 WHERE a.transaction_id = t.id AND a.status = 'succeeded' AND a.gateway_payment_id IS NOT NULL
   AND a.error_code IS DISTINCT FROM 'second_capture';
ALTER TABLE archived_transaction_attempts FORCE ROW LEVEL SECURITY;
ALTER TABLE archived_transactions FORCE ROW LEVEL SECURITY;
ALTER TABLE archived_transactions ENABLE TRIGGER archived_transactions_append_only;
