-- Refunds. The money rule lives here, not in the application: the refunds of a payment that are
-- pending or done can never add up to more than it captured, whatever runs concurrently.
-- `transactions.refund_reserved` is the sum of its pending and succeeded refunds and
-- `refunded_amount` the succeeded part; a trigger keeps both, and a CHECK bounds them. Two
-- concurrent refunds serialise on the transaction row, so the second sees the first's reservation.

ALTER TABLE transactions
    ADD COLUMN refund_reserved bigint NOT NULL DEFAULT 0,
    ADD COLUMN refunded_amount bigint NOT NULL DEFAULT 0,
    ADD CONSTRAINT transactions_refunds_within_capture
        CHECK (refunded_amount >= 0 AND refunded_amount <= refund_reserved AND refund_reserved <= amount);

CREATE TABLE refunds (
    id                uuid PRIMARY KEY,
    merchant_id       uuid        NOT NULL REFERENCES merchants (id),
    mode              text        NOT NULL CHECK (mode IN ('test', 'live')),
    transaction_id    uuid        NOT NULL REFERENCES transactions (id),
    attempt_id        uuid        NOT NULL REFERENCES transaction_attempts (id),
    amount            bigint      NOT NULL CHECK (amount > 0),
    currency          text        NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    status            text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed')),
    reason            text        CHECK (length(reason) <= 255),
    notes             jsonb       NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(notes) = 'object'),
    gateway_refund_id text,
    failure_reason    text,
    -- Whoever asks the gateway holds this short lease; an ask whose outcome is unknown sets
    -- unconfirmed_at, and the next try looks the refund up before it ever asks again.
    lease_until       timestamptz,
    unconfirmed_at    timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refunds_transaction_idx ON refunds (transaction_id, id DESC);
CREATE INDEX refunds_pending_idx ON refunds (updated_at) WHERE status = 'pending';
CREATE UNIQUE INDEX refunds_gateway_refund_key ON refunds (attempt_id, gateway_refund_id)
    WHERE gateway_refund_id IS NOT NULL;

ALTER TABLE refunds ENABLE ROW LEVEL SECURITY;
ALTER TABLE refunds FORCE ROW LEVEL SECURITY;
CREATE POLICY refunds_access ON refunds FOR ALL
    USING (app_is_platform() OR app_is_merchant_mode(merchant_id, mode))
    WITH CHECK (app_is_platform() OR app_is_merchant_mode(merchant_id, mode));
GRANT SELECT, INSERT, UPDATE ON refunds TO lsp_app;

-- A new refund reserves its amount on a captured payment; a refund that fails gives it back; one
-- that succeeds counts as refunded. Anything else about a payment refuses the refund.
CREATE FUNCTION refunds_reserve() RETURNS trigger
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
    ELSIF OLD.status <> NEW.status THEN
        RAISE EXCEPTION 'refund % cannot go from % to %', OLD.id, OLD.status, NEW.status
            USING ERRCODE = 'check_violation', CONSTRAINT = 'refunds_final_status';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER refunds_reserve_insert BEFORE INSERT ON refunds
    FOR EACH ROW EXECUTE FUNCTION refunds_reserve();
CREATE TRIGGER refunds_reserve_status AFTER UPDATE OF status ON refunds
    FOR EACH ROW EXECUTE FUNCTION refunds_reserve();

-- The sandbox gateway's own refunds: one per merchant refund id, never more than the order's
-- amount in all (the sandbox refuses like a gateway would).
CREATE TABLE sandbox_refunds (
    id         text        PRIMARY KEY,
    account_id uuid        NOT NULL REFERENCES gateway_accounts (id),
    order_id   text        NOT NULL REFERENCES sandbox_orders (id),
    refund_id  text        NOT NULL CHECK (length(refund_id) BETWEEN 1 AND 64),
    amount     bigint      NOT NULL CHECK (amount > 0),
    status     text        NOT NULL CHECK (status IN ('processed', 'failed')),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX sandbox_refunds_refund_key ON sandbox_refunds (account_id, refund_id);
ALTER TABLE sandbox_refunds ENABLE ROW LEVEL SECURITY;
ALTER TABLE sandbox_refunds FORCE ROW LEVEL SECURITY;
CREATE POLICY sandbox_refunds_system ON sandbox_refunds FOR ALL
    USING (app_scope() = 'system') WITH CHECK (app_scope() = 'system');
GRANT SELECT, INSERT ON sandbox_refunds TO lsp_app;
