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

-- F18: a refund the gateway reports failed after it succeeded (Stripe: the bank returned the
-- money) gives its amount back: out of both `refund_reserved` and `refunded_amount`. Every other
-- change of a final refund is still refused.
CREATE OR REPLACE FUNCTION refunds_reserve() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE transactions SET refund_reserved = refund_reserved + NEW.amount, updated_at = now()
         WHERE id = NEW.transaction_id AND status IN ('succeeded', 'partially_refunded');
        IF NOT FOUND THEN
            RAISE EXCEPTION 'payment % has not captured money to refund', NEW.transaction_id
                USING ERRCODE = 'check_violation', CONSTRAINT = 'refunds_need_a_capture';
        END IF;
    ELSIF OLD.status = 'pending' AND NEW.status = 'failed' THEN
        UPDATE transactions SET refund_reserved = refund_reserved - OLD.amount, updated_at = now()
         WHERE id = NEW.transaction_id;
    ELSIF OLD.status = 'pending' AND NEW.status = 'succeeded' THEN
        UPDATE transactions SET refunded_amount = refunded_amount + OLD.amount, updated_at = now()
         WHERE id = NEW.transaction_id;
    ELSIF OLD.status = 'succeeded' AND NEW.status = 'failed' THEN
        UPDATE transactions SET refund_reserved = refund_reserved - OLD.amount,
                                refunded_amount = refunded_amount - OLD.amount, updated_at = now()
         WHERE id = NEW.transaction_id;
    ELSIF OLD.status <> NEW.status THEN
        RAISE EXCEPTION 'refund % cannot go from % to %', OLD.id, OLD.status, NEW.status
            USING ERRCODE = 'check_violation', CONSTRAINT = 'refunds_final_status';
    END IF;
    RETURN NEW;
END
$$;
