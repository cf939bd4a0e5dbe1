-- What gateways report, checked before it is applied (issue 8: F2, F8, F18).

-- F2: a success whose captured amount or currency is not the payment's is not applied; the
-- attempt keeps the status `amount_mismatch` for operators (a status, not a flag column, so the
-- attempt leaves the open set the monitor polls, and nothing else reads it as paid).
ALTER TABLE transaction_attempts DROP CONSTRAINT transaction_attempts_status_check;
ALTER TABLE transaction_attempts ADD CONSTRAINT transaction_attempts_status_check
    CHECK (status IN ('created', 'pending', 'succeeded', 'failed', 'expired', 'amount_mismatch'));
ALTER TABLE gateway_events DROP CONSTRAINT gateway_events_outcome_check;
ALTER TABLE gateway_events ADD CONSTRAINT gateway_events_outcome_check
    CHECK (outcome IN ('applied', 'ignored', 'unknown_transaction', 'unsupported', 'amount_mismatch'));
CREATE INDEX gateway_events_mismatch_idx ON gateway_events (received_at) WHERE outcome = 'amount_mismatch';

-- F8: an event id is unique per signing account, so one account cannot pre-claim another's.
DROP INDEX gateway_events_provider_event_key;
CREATE UNIQUE INDEX gateway_events_account_event_key ON gateway_events (provider, gateway_account_id, event_id);
