-- The archive: payments in a final state that nothing has touched for a configured age move,
-- with their attempts, refunds and gateway events, to `archived_*` tables that mirror the live
-- ones column for column (plus `archived_at`). The daily `archive` job moves them in short
-- batches through `archive_batch`, which runs as the owner: the application role can read the
-- archive but never write it, nor delete a payment.
--
-- What references a payment, and what happens to it:
--   transaction_attempts, refunds, gateway_events   move with it (same batch, same transaction)
--   ledger_entries (transaction_id, refund_id)      stay: the ledger is append-only. Their
--   wallet_top_ups (transaction_id)                 foreign keys now name `transaction_ids` and
--                                                   `refund_ids`, registries of every id ever
--                                                   created, live or archived (below)
--   merchant_events, webhook_deliveries             stay (facts, read by the merchant's event
--                                                   feed); a pending delivery of an event about
--                                                   the payment holds it back
--   open suspense items (ledger)                    hold the payment back until resolved
--   sandbox_orders, sandbox_refunds                 stay: the sandbox gateway's own books
--   idempotency_keys, outbox, alerts                stay; no reference by key, pruned on their own

-- ---------------------------------------------------------------------------------------------
-- Every id a ledger entry or a top-up may name. Filled by trigger on insert, never changed or
-- emptied; a payment row leaves `transactions` only into the archive (the guard below), so an
-- id here always names a payment, live or archived. Foreign keys bypass row security and lock
-- the key they check, as the ones they replace did.

CREATE TABLE transaction_ids (
    id uuid PRIMARY KEY
);
CREATE TABLE refund_ids (
    id uuid PRIMARY KEY
);
INSERT INTO transaction_ids (id) SELECT id FROM transactions;
INSERT INTO refund_ids (id) SELECT id FROM refunds;

ALTER TABLE transaction_ids ENABLE ROW LEVEL SECURITY;
ALTER TABLE transaction_ids FORCE ROW LEVEL SECURITY;
CREATE POLICY transaction_ids_read ON transaction_ids FOR SELECT USING (app_is_platform());
CREATE POLICY transaction_ids_record ON transaction_ids FOR INSERT WITH CHECK (true);
ALTER TABLE refund_ids ENABLE ROW LEVEL SECURITY;
ALTER TABLE refund_ids FORCE ROW LEVEL SECURITY;
CREATE POLICY refund_ids_read ON refund_ids FOR SELECT USING (app_is_platform());
CREATE POLICY refund_ids_record ON refund_ids FOR INSERT WITH CHECK (true);
-- No grant to lsp_app: only the owner's triggers write them.

CREATE FUNCTION archive_record_id() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
BEGIN
    IF TG_TABLE_NAME = 'transactions' THEN
        INSERT INTO transaction_ids (id) VALUES (NEW.id);
    ELSE
        INSERT INTO refund_ids (id) VALUES (NEW.id);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER transactions_record_id AFTER INSERT ON transactions
    FOR EACH ROW EXECUTE FUNCTION archive_record_id();
CREATE TRIGGER refunds_record_id AFTER INSERT ON refunds
    FOR EACH ROW EXECUTE FUNCTION archive_record_id();

CREATE FUNCTION archive_append_only() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    RAISE EXCEPTION '% on % refused: archived rows and id registries are never changed', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER transaction_ids_append_only BEFORE UPDATE OR DELETE ON transaction_ids
    FOR EACH ROW EXECUTE FUNCTION archive_append_only();
CREATE TRIGGER transaction_ids_no_truncate BEFORE TRUNCATE ON transaction_ids
    FOR EACH STATEMENT EXECUTE FUNCTION archive_append_only();
CREATE TRIGGER refund_ids_append_only BEFORE UPDATE OR DELETE ON refund_ids
    FOR EACH ROW EXECUTE FUNCTION archive_append_only();
CREATE TRIGGER refund_ids_no_truncate BEFORE TRUNCATE ON refund_ids
    FOR EACH STATEMENT EXECUTE FUNCTION archive_append_only();

-- The ledger's and the top-ups' references, moved to the registries (same names: errors read
-- the same). Dropping and adding a constraint changes no entry: the ledger stays append-only.
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_transaction_id_fkey;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_transaction_id_fkey
    FOREIGN KEY (transaction_id) REFERENCES transaction_ids (id);
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_refund_id_fkey;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_refund_id_fkey
    FOREIGN KEY (refund_id) REFERENCES refund_ids (id);
ALTER TABLE wallet_top_ups DROP CONSTRAINT wallet_top_ups_transaction_id_fkey;
ALTER TABLE wallet_top_ups ADD CONSTRAINT wallet_top_ups_transaction_id_fkey
    FOREIGN KEY (transaction_id) REFERENCES transaction_ids (id);

-- ---------------------------------------------------------------------------------------------
-- The archived tables: the live table's columns in its order and types (LIKE), then
-- `archived_at`. A test holds each to its live table, so a column added to one must be added to
-- the other. No CHECKs or foreign keys: rows arrive only from the live table, which checked them.

CREATE TABLE archived_transactions (LIKE transactions INCLUDING DEFAULTS);
ALTER TABLE archived_transactions ADD COLUMN archived_at timestamptz NOT NULL;
ALTER TABLE archived_transactions ADD PRIMARY KEY (id);
CREATE INDEX archived_transactions_merchant_idx ON archived_transactions (merchant_id, mode, id DESC);
CREATE UNIQUE INDEX archived_transactions_order_id_key ON archived_transactions (merchant_id, mode, order_id);

CREATE TABLE archived_transaction_attempts (LIKE transaction_attempts INCLUDING DEFAULTS);
ALTER TABLE archived_transaction_attempts ADD COLUMN archived_at timestamptz NOT NULL;
ALTER TABLE archived_transaction_attempts ADD PRIMARY KEY (id);
CREATE INDEX archived_transaction_attempts_transaction_idx ON archived_transaction_attempts (transaction_id);

CREATE TABLE archived_refunds (LIKE refunds INCLUDING DEFAULTS);
ALTER TABLE archived_refunds ADD COLUMN archived_at timestamptz NOT NULL;
ALTER TABLE archived_refunds ADD PRIMARY KEY (id);
CREATE INDEX archived_refunds_transaction_idx ON archived_refunds (transaction_id, id DESC);

CREATE TABLE archived_gateway_events (LIKE gateway_events INCLUDING DEFAULTS);
ALTER TABLE archived_gateway_events ADD COLUMN archived_at timestamptz NOT NULL;
ALTER TABLE archived_gateway_events ADD PRIMARY KEY (id);
CREATE INDEX archived_gateway_events_transaction_idx ON archived_gateway_events (transaction_id);

-- Reads mirror the live tables' (a merchant its own, in the mode it acts in; operators and the
-- platform's jobs all); only the archive job writes (as the owner, in system scope).
ALTER TABLE archived_transactions ENABLE ROW LEVEL SECURITY;
ALTER TABLE archived_transactions FORCE ROW LEVEL SECURITY;
CREATE POLICY archived_transactions_read ON archived_transactions FOR SELECT
    USING (app_is_platform() OR app_is_merchant_mode(merchant_id, mode));
CREATE POLICY archived_transactions_archive ON archived_transactions FOR INSERT
    WITH CHECK (app_scope() = 'system');
GRANT SELECT ON archived_transactions TO lsp_app;

ALTER TABLE archived_transaction_attempts ENABLE ROW LEVEL SECURITY;
ALTER TABLE archived_transaction_attempts FORCE ROW LEVEL SECURITY;
CREATE POLICY archived_transaction_attempts_read ON archived_transaction_attempts FOR SELECT
    USING (app_is_platform() OR app_is_merchant_mode(merchant_id, mode));
CREATE POLICY archived_transaction_attempts_archive ON archived_transaction_attempts FOR INSERT
    WITH CHECK (app_scope() = 'system');
GRANT SELECT ON archived_transaction_attempts TO lsp_app;

ALTER TABLE archived_refunds ENABLE ROW LEVEL SECURITY;
ALTER TABLE archived_refunds FORCE ROW LEVEL SECURITY;
CREATE POLICY archived_refunds_read ON archived_refunds FOR SELECT
    USING (app_is_platform() OR app_is_merchant_mode(merchant_id, mode));
CREATE POLICY archived_refunds_archive ON archived_refunds FOR INSERT
    WITH CHECK (app_scope() = 'system');
GRANT SELECT ON archived_refunds TO lsp_app;

ALTER TABLE archived_gateway_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE archived_gateway_events FORCE ROW LEVEL SECURITY;
CREATE POLICY archived_gateway_events_read ON archived_gateway_events FOR SELECT
    USING (app_is_platform());
CREATE POLICY archived_gateway_events_archive ON archived_gateway_events FOR INSERT
    WITH CHECK (app_scope() = 'system');
GRANT SELECT ON archived_gateway_events TO lsp_app;

CREATE TRIGGER archived_transactions_append_only BEFORE UPDATE OR DELETE ON archived_transactions
    FOR EACH ROW EXECUTE FUNCTION archive_append_only();
CREATE TRIGGER archived_transactions_no_truncate BEFORE TRUNCATE ON archived_transactions
    FOR EACH STATEMENT EXECUTE FUNCTION archive_append_only();
CREATE TRIGGER archived_transaction_attempts_append_only BEFORE UPDATE OR DELETE ON archived_transaction_attempts
    FOR EACH ROW EXECUTE FUNCTION archive_append_only();
CREATE TRIGGER archived_transaction_attempts_no_truncate BEFORE TRUNCATE ON archived_transaction_attempts
    FOR EACH STATEMENT EXECUTE FUNCTION archive_append_only();
CREATE TRIGGER archived_refunds_append_only BEFORE UPDATE OR DELETE ON archived_refunds
    FOR EACH ROW EXECUTE FUNCTION archive_append_only();
CREATE TRIGGER archived_refunds_no_truncate BEFORE TRUNCATE ON archived_refunds
    FOR EACH STATEMENT EXECUTE FUNCTION archive_append_only();
CREATE TRIGGER archived_gateway_events_append_only BEFORE UPDATE OR DELETE ON archived_gateway_events
    FOR EACH ROW EXECUTE FUNCTION archive_append_only();
CREATE TRIGGER archived_gateway_events_no_truncate BEFORE TRUNCATE ON archived_gateway_events
    FOR EACH STATEMENT EXECUTE FUNCTION archive_append_only();

-- A live row leaves only into the archive: checked when the deleting transaction commits, so
-- the move may delete first and insert what it deleted in the same statement.
CREATE FUNCTION archive_holds_deleted() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
DECLARE
    archived boolean;
BEGIN
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I WHERE id = $1)', 'archived_' || TG_TABLE_NAME)
       INTO archived USING OLD.id;
    IF NOT archived THEN
        RAISE EXCEPTION '% % deleted without being archived', TG_TABLE_NAME, OLD.id
            USING ERRCODE = 'insufficient_privilege', CONSTRAINT = 'archive_holds_deleted';
    END IF;
    RETURN NULL;
END
$$;
ALTER FUNCTION archive_holds_deleted() SET plan_cache_mode = force_custom_plan;
CREATE CONSTRAINT TRIGGER transactions_leave_into_archive AFTER DELETE ON transactions
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION archive_holds_deleted();
CREATE CONSTRAINT TRIGGER transaction_attempts_leave_into_archive AFTER DELETE ON transaction_attempts
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION archive_holds_deleted();
CREATE CONSTRAINT TRIGGER refunds_leave_into_archive AFTER DELETE ON refunds
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION archive_holds_deleted();
CREATE CONSTRAINT TRIGGER gateway_events_leave_into_archive AFTER DELETE ON gateway_events
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION archive_holds_deleted();

-- An order id stays taken once its payment is archived, as it was while live (the live unique
-- index's error, so the API answers DUPLICATE_ORDER_ID as before). Runs in the inserting scope:
-- the merchant sees its own archived payments of that mode, which are the ones that matter.
CREATE FUNCTION transactions_order_id_archived() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM archived_transactions a
                WHERE a.merchant_id = NEW.merchant_id AND a.mode = NEW.mode AND a.order_id = NEW.order_id) THEN
        RAISE EXCEPTION 'order id % was used by an archived payment', NEW.order_id
            USING ERRCODE = 'unique_violation', CONSTRAINT = 'transactions_order_id_key';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER transactions_order_id_archived BEFORE INSERT ON transactions
    FOR EACH ROW EXECUTE FUNCTION transactions_order_id_archived();

-- ---------------------------------------------------------------------------------------------
-- The move.

-- The deletes of a move check these foreign keys row by row; without them each check would read
-- the whole referencing table.
CREATE INDEX gateway_events_transaction_idx ON gateway_events (transaction_id) WHERE transaction_id IS NOT NULL;
CREATE INDEX refunds_attempt_idx ON refunds (attempt_id);
-- The oldest untouched final payments first, without reading the open ones.
CREATE INDEX transactions_archivable_idx ON transactions (updated_at)
    WHERE status IN ('succeeded', 'failed', 'expired', 'partially_refunded', 'refunded');

-- Moves the rows of `live` whose `key` is one of `ids` to `archive`, in one statement: what is
-- archived is exactly what was deleted. Columns by name, read from the catalogue, so the move
-- follows the tables however they grow.
CREATE FUNCTION archive_move(live regclass, archive regclass, key_column text, ids uuid[], moved_at timestamptz)
    RETURNS bigint
    LANGUAGE plpgsql SET search_path = public, pg_temp
    AS $$
DECLARE
    columns text;
    moved bigint;
BEGIN
    SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO columns
      FROM pg_attribute WHERE attrelid = live AND attnum > 0 AND NOT attisdropped;
    EXECUTE format('WITH moved AS (DELETE FROM %s WHERE %I = ANY($1) RETURNING %s)
                    INSERT INTO %s (%s, archived_at) SELECT %s, $2 FROM moved',
                   live, key_column, columns, archive, columns, columns)
      USING ids, moved_at;
    GET DIAGNOSTICS moved = ROW_COUNT;
    RETURN moved;
END
$$;
REVOKE ALL ON FUNCTION archive_move(regclass, regclass, text, uuid[], timestamptz) FROM PUBLIC;

-- Archives up to `batch` final payments last changed before `cutoff`, with their attempts,
-- refunds and gateway events, in the caller's transaction; answers the rows moved per table.
-- Payments locked by live traffic are skipped (the next run takes them). Held back: a payment
-- with a pending refund, an attempt still open, money in suspense no one has resolved, or a
-- merchant webhook about it still being delivered.
CREATE FUNCTION archive_batch(cutoff timestamptz, batch_size integer) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
DECLARE
    ids uuid[];
    moved_at timestamptz := now();
    n_events bigint;
    n_refunds bigint;
    n_attempts bigint;
    n_payments bigint;
BEGIN
    IF app_scope() IS DISTINCT FROM 'system' THEN
        RAISE EXCEPTION 'only the archive job archives payments' USING ERRCODE = 'insufficient_privilege';
    END IF;
    WITH delivering AS (
        SELECT DISTINCT coalesce(e.data->'transaction'->>'id', e.data->'refund'->>'transaction_id') AS id
          FROM webhook_deliveries d JOIN merchant_events e ON e.id = d.event_id
         WHERE d.status = 'pending')
    SELECT array_agg(c.id) INTO ids FROM (
        SELECT t.id FROM transactions t
         WHERE t.status IN ('succeeded', 'failed', 'expired', 'partially_refunded', 'refunded')
           AND t.updated_at < cutoff
           AND NOT EXISTS (SELECT 1 FROM refunds r WHERE r.transaction_id = t.id AND r.status = 'pending')
           AND NOT EXISTS (SELECT 1 FROM transaction_attempts a
                            WHERE a.transaction_id = t.id AND a.status IN ('created', 'pending'))
           AND NOT EXISTS (SELECT 1 FROM ledger_entries s
                            WHERE s.transaction_id = t.id AND s.kind = 'suspense_capture'
                              AND NOT EXISTS (SELECT 1 FROM ledger_entries r WHERE r.reverses = s.id))
           AND NOT EXISTS (SELECT 1 FROM delivering w WHERE w.id = 'txn_' || replace(t.id::text, '-', ''))
         ORDER BY t.updated_at
         LIMIT batch_size
           FOR UPDATE OF t SKIP LOCKED) c;
    IF ids IS NULL THEN
        RETURN jsonb_build_object('transactions', 0, 'transaction_attempts', 0, 'refunds', 0, 'gateway_events', 0);
    END IF;
    -- Children first: their foreign keys name the payment (and a refund its attempt).
    n_events := archive_move('gateway_events', 'archived_gateway_events', 'transaction_id', ids, moved_at);
    n_refunds := archive_move('refunds', 'archived_refunds', 'transaction_id', ids, moved_at);
    n_attempts := archive_move('transaction_attempts', 'archived_transaction_attempts', 'transaction_id', ids, moved_at);
    n_payments := archive_move('transactions', 'archived_transactions', 'id', ids, moved_at);
    RETURN jsonb_build_object('transactions', n_payments, 'transaction_attempts', n_attempts,
                              'refunds', n_refunds, 'gateway_events', n_events);
END
$$;
REVOKE ALL ON FUNCTION archive_batch(timestamptz, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION archive_batch(timestamptz, integer) TO lsp_app;
