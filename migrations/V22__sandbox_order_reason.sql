-- The sandbox gateway keeps why an order failed, so every way of reading the order (its webhook,
-- the status query, the browser return) gives a failed payment the same `failure_reason`.
ALTER TABLE sandbox_orders ADD COLUMN error_reason text
    CHECK (status = 'failed' OR error_reason IS NULL);
