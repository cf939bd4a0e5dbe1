-- The books: a double-entry ledger, the fees it books, prepaid wallets and affiliates.
--
-- Invariants the database holds, for every role including the owner:
--   * every entry has two or more lines, and in each currency its debits equal its credits;
--   * entries and lines are never updated or deleted (a correction is a reversing entry);
--   * a business key posts once (a replayed event posts nothing);
--   * an account's balance changes only through its lines, in the same statement, and accounts
--     that must not go negative (clearing, revenue, tax, commission) cannot.
-- The application role reads the ledger through row security and writes it only through
-- `ledger_post`, which runs as the owner.

-- ---------------------------------------------------------------------------------------------
-- Fees: a rate and a fixed fee per merchant, optionally per payment method; whether our fee is
-- returned on a refund.

ALTER TABLE merchants
    ADD COLUMN refund_fee_policy text NOT NULL DEFAULT 'retain'
        CHECK (refund_fee_policy IN ('retain', 'return'));

CREATE TABLE merchant_fee_rates (
    id          uuid PRIMARY KEY,
    merchant_id uuid        NOT NULL REFERENCES merchants (id),
    -- NULL: the merchant's rate for every method without its own.
    method      text        CHECK (method ~ '^[a-z][a-z_]{0,31}$'),
    rate_bps    integer     NOT NULL CHECK (rate_bps BETWEEN 0 AND 10000),
    fixed_fee   bigint      NOT NULL DEFAULT 0 CHECK (fixed_fee BETWEEN 0 AND 100000000),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX merchant_fee_rates_key ON merchant_fee_rates (merchant_id, coalesce(method, ''));

ALTER TABLE merchant_fee_rates ENABLE ROW LEVEL SECURITY;
ALTER TABLE merchant_fee_rates FORCE ROW LEVEL SECURITY;
CREATE POLICY merchant_fee_rates_platform ON merchant_fee_rates FOR ALL
    USING (app_is_platform()) WITH CHECK (app_is_platform());
-- A capture is applied in whatever scope reported it (a browser return is public): every scope
-- that applies reports reads the rate; only operators change it.
CREATE POLICY merchant_fee_rates_read ON merchant_fee_rates FOR SELECT
    USING (app_is_merchant(merchant_id) OR app_scope() = 'public');
GRANT SELECT, INSERT, UPDATE, DELETE ON merchant_fee_rates TO lsp_app;

-- What a payment is for, what we charged on it, and what a refund gave back of it.
ALTER TABLE transactions
    ADD COLUMN purpose text NOT NULL DEFAULT 'payment' CHECK (purpose IN ('payment', 'wallet_top_up')),
    ADD COLUMN payment_method text CHECK (payment_method ~ '^[a-z][a-z_]{0,31}$'),
    ADD COLUMN fee bigint CHECK (fee >= 0),
    ADD COLUMN gst bigint CHECK (gst >= 0),
    ADD CONSTRAINT transactions_fee_with_gst CHECK ((fee IS NULL) = (gst IS NULL));

ALTER TABLE refunds
    ADD COLUMN fee_returned bigint CHECK (fee_returned >= 0),
    ADD COLUMN gst_returned bigint CHECK (gst_returned >= 0),
    ADD CONSTRAINT refunds_fee_return_with_gst CHECK ((fee_returned IS NULL) = (gst_returned IS NULL));

-- ---------------------------------------------------------------------------------------------
-- Affiliates: who brought a merchant, and their share (bps) of our fee on its payments.

CREATE TABLE affiliates (
    id         uuid PRIMARY KEY,
    name       text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    email      text        NOT NULL CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX affiliates_email_key ON affiliates (email);

CREATE TABLE affiliate_merchants (
    merchant_id    uuid PRIMARY KEY REFERENCES merchants (id),
    affiliate_id   uuid        NOT NULL REFERENCES affiliates (id),
    commission_bps integer     NOT NULL CHECK (commission_bps BETWEEN 0 AND 10000),
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX affiliate_merchants_affiliate_idx ON affiliate_merchants (affiliate_id);

ALTER TABLE affiliates ENABLE ROW LEVEL SECURITY;
ALTER TABLE affiliates FORCE ROW LEVEL SECURITY;
CREATE POLICY affiliates_platform ON affiliates FOR ALL
    USING (app_is_platform()) WITH CHECK (app_is_platform());
GRANT SELECT, INSERT, UPDATE ON affiliates TO lsp_app;

ALTER TABLE affiliate_merchants ENABLE ROW LEVEL SECURITY;
ALTER TABLE affiliate_merchants FORCE ROW LEVEL SECURITY;
CREATE POLICY affiliate_merchants_platform ON affiliate_merchants FOR ALL
    USING (app_is_platform()) WITH CHECK (app_is_platform());
-- Commission is accrued when a capture is applied, in the scope that applied it.
CREATE POLICY affiliate_merchants_read ON affiliate_merchants FOR SELECT
    USING (app_is_merchant(merchant_id) OR app_scope() = 'public');
GRANT SELECT, INSERT, UPDATE, DELETE ON affiliate_merchants TO lsp_app;

-- ---------------------------------------------------------------------------------------------
-- Ledger accounts. The code fixes the type and the limit; the balance is the running sums of the
-- account's debit and credit lines, kept by the line trigger below.

CREATE FUNCTION ledger_account_type(code text) RETURNS text
    LANGUAGE sql IMMUTABLE
    AS $$ SELECT CASE code
        WHEN 'gateway_clearing'   THEN 'asset'
        WHEN 'platform_bank'      THEN 'asset'
        WHEN 'merchant_payable'   THEN 'liability'
        WHEN 'merchant_wallet'    THEN 'liability'
        WHEN 'gst_payable'        THEN 'liability'
        WHEN 'affiliate_payable'  THEN 'liability'
        WHEN 'suspense'           THEN 'liability'
        WHEN 'fee_revenue'        THEN 'revenue'
        WHEN 'commission_expense' THEN 'expense'
    END $$;

-- What may not go below zero. A merchant's payable and wallet may: a refund after our fee was
-- kept, or a fee on a payment that was under way when the wallet ran out, is a debt the merchant
-- owes us, and refusing to book a capture that happened would only hide it.
CREATE FUNCTION ledger_account_limit(code text) RETURNS text
    LANGUAGE sql IMMUTABLE
    AS $$ SELECT CASE code
        WHEN 'gateway_clearing'   THEN 'credits_within_debits'
        WHEN 'commission_expense' THEN 'credits_within_debits'
        WHEN 'fee_revenue'        THEN 'debits_within_credits'
        WHEN 'gst_payable'        THEN 'debits_within_credits'
        WHEN 'affiliate_payable'  THEN 'debits_within_credits'
        ELSE 'none'
    END $$;

CREATE TABLE ledger_accounts (
    id          uuid PRIMARY KEY,
    code        text        NOT NULL CHECK (ledger_account_type(code) IS NOT NULL),
    type        text        NOT NULL,
    owner_kind  text        NOT NULL CHECK (owner_kind IN ('platform', 'merchant', 'affiliate', 'gateway_account')),
    -- The nil uuid for the platform's own accounts, so that the natural key is a plain one.
    owner_id    uuid        NOT NULL,
    -- The merchant whose account this is (row security); NULL for everyone else's.
    merchant_id uuid        REFERENCES merchants (id),
    mode        text        NOT NULL CHECK (mode IN ('test', 'live')),
    currency    text        NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    limit_rule  text        NOT NULL,
    debits      bigint      NOT NULL DEFAULT 0 CHECK (debits >= 0),
    credits     bigint      NOT NULL DEFAULT 0 CHECK (credits >= 0),
    lines       bigint      NOT NULL DEFAULT 0 CHECK (lines >= 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ledger_accounts_type_of_code CHECK (type = ledger_account_type(code)),
    CONSTRAINT ledger_accounts_limit_of_code CHECK (limit_rule = ledger_account_limit(code)),
    CONSTRAINT ledger_accounts_owner CHECK (
        (owner_kind = 'platform') = (owner_id = '00000000-0000-0000-0000-000000000000')
        AND (owner_kind = 'merchant') = (merchant_id IS NOT NULL)
        AND (merchant_id IS NULL OR merchant_id = owner_id)),
    CONSTRAINT ledger_accounts_owner_of_code CHECK (CASE code
        WHEN 'gateway_clearing'  THEN owner_kind = 'gateway_account'
        WHEN 'merchant_payable'  THEN owner_kind = 'merchant'
        WHEN 'merchant_wallet'   THEN owner_kind = 'merchant'
        WHEN 'affiliate_payable' THEN owner_kind = 'affiliate'
        ELSE owner_kind = 'platform' END),
    CONSTRAINT ledger_accounts_within_limit CHECK (CASE limit_rule
        WHEN 'credits_within_debits' THEN credits <= debits
        WHEN 'debits_within_credits' THEN debits <= credits
        ELSE true END)
);
CREATE UNIQUE INDEX ledger_accounts_key ON ledger_accounts (code, owner_kind, owner_id, mode, currency);
CREATE INDEX ledger_accounts_merchant_idx ON ledger_accounts (merchant_id, mode) WHERE merchant_id IS NOT NULL;

-- ---------------------------------------------------------------------------------------------
-- Entries and lines.

CREATE TABLE ledger_entries (
    id             uuid PRIMARY KEY,
    business_key   text        NOT NULL CHECK (length(business_key) BETWEEN 1 AND 200),
    kind           text        NOT NULL CHECK (kind IN ('capture', 'wallet_top_up', 'refund', 'refund_reversal',
                                                        'suspense_capture', 'suspense_resolution', 'reversal')),
    mode           text        NOT NULL CHECK (mode IN ('test', 'live')),
    merchant_id    uuid        REFERENCES merchants (id),
    transaction_id uuid        REFERENCES transactions (id),
    refund_id      uuid        REFERENCES refunds (id),
    -- A correction names the entry it reverses; an entry is reversed at most once.
    reverses       uuid        REFERENCES ledger_entries (id),
    memo           jsonb       NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(memo) = 'object'),
    created_at     timestamptz NOT NULL DEFAULT now()
);
-- A replayed event carries the same business key, and posts nothing.
CREATE UNIQUE INDEX ledger_entries_business_key ON ledger_entries (business_key);
CREATE UNIQUE INDEX ledger_entries_reverses_key ON ledger_entries (reverses) WHERE reverses IS NOT NULL;
CREATE INDEX ledger_entries_merchant_idx ON ledger_entries (merchant_id, mode, id DESC) WHERE merchant_id IS NOT NULL;
CREATE INDEX ledger_entries_transaction_idx ON ledger_entries (transaction_id) WHERE transaction_id IS NOT NULL;
-- Operators list what is held in suspense, newest first, without reading every entry.
CREATE INDEX ledger_entries_suspense_idx ON ledger_entries (id DESC) WHERE kind = 'suspense_capture';
CREATE INDEX ledger_entries_mode_idx ON ledger_entries (mode, id DESC);

CREATE TABLE ledger_lines (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    entry_id      uuid        NOT NULL REFERENCES ledger_entries (id),
    account_id    uuid        NOT NULL REFERENCES ledger_accounts (id),
    side          text        NOT NULL CHECK (side IN ('debit', 'credit')),
    amount        bigint      NOT NULL CHECK (amount > 0),
    currency      text        NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    -- Filled by the trigger from the account: row security, and the account's debits minus
    -- credits after this line (balances at any point in time).
    merchant_id   uuid,
    mode          text,
    balance_after bigint,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ledger_lines_entry_idx ON ledger_lines (entry_id);
CREATE INDEX ledger_lines_account_idx ON ledger_lines (account_id, id DESC);

-- A line moves its account's balance, under the account's row lock, and takes the account's
-- currency or is refused. Runs as the owner: the application role cannot update accounts.
CREATE FUNCTION ledger_line_apply() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
DECLARE
    account ledger_accounts%ROWTYPE;
BEGIN
    UPDATE ledger_accounts
       SET debits  = debits  + CASE WHEN NEW.side = 'debit'  THEN NEW.amount ELSE 0 END,
           credits = credits + CASE WHEN NEW.side = 'credit' THEN NEW.amount ELSE 0 END,
           lines = lines + 1,
           updated_at = now()
     WHERE id = NEW.account_id
     RETURNING * INTO account;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ledger line names no account %', NEW.account_id USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF account.currency <> NEW.currency THEN
        RAISE EXCEPTION 'a % line cannot post to the % account %', NEW.currency, account.currency, account.id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_lines_currency_of_account';
    END IF;
    NEW.merchant_id := account.merchant_id;
    NEW.mode := account.mode;
    NEW.balance_after := account.debits - account.credits;
    RETURN NEW;
END
$$;
CREATE TRIGGER ledger_lines_apply BEFORE INSERT ON ledger_lines
    FOR EACH ROW EXECUTE FUNCTION ledger_line_apply();

-- The lines one statement writes balance, per entry and currency, when the statement ends (an
-- entry's lines go in together). Lines are never changed or removed, so every entry, the sum of
-- the balanced sets its statements wrote, balances. Reads only the statement's own lines: the
-- check costs the same however large the ledger grows.
CREATE FUNCTION ledger_lines_balanced() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
DECLARE
    unbalanced record;
BEGIN
    SELECT l.entry_id, l.currency,
           sum(CASE WHEN l.side = 'debit' THEN l.amount ELSE 0 END) AS debits,
           sum(CASE WHEN l.side = 'credit' THEN l.amount ELSE 0 END) AS credits
      INTO unbalanced
      FROM new_lines l
     GROUP BY l.entry_id, l.currency
    HAVING sum(CASE WHEN l.side = 'debit' THEN l.amount ELSE -l.amount END) <> 0
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'ledger entry % does not balance in %: debits % and credits %',
            unbalanced.entry_id, unbalanced.currency, unbalanced.debits, unbalanced.credits
            USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_entries_balanced';
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER ledger_lines_balanced AFTER INSERT ON ledger_lines
    REFERENCING NEW TABLE AS new_lines
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_lines_balanced();

-- An entry without lines (or with one) is refused when its transaction commits.
CREATE FUNCTION ledger_entry_has_lines() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
BEGIN
    IF (SELECT count(*) FROM ledger_lines WHERE entry_id = NEW.id) < 2 THEN
        RAISE EXCEPTION 'ledger entry % has fewer than two lines', NEW.id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_entries_two_lines';
    END IF;
    RETURN NULL;
END
$$;
-- Planned for each call: a plan kept from when the ledger was small would scan it whole.
ALTER FUNCTION ledger_entry_has_lines() SET plan_cache_mode = force_custom_plan;
CREATE CONSTRAINT TRIGGER ledger_entries_two_lines AFTER INSERT ON ledger_entries
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_entry_has_lines();

-- Append-only, for everyone (triggers bind the owner too): corrections are reversing entries.
CREATE FUNCTION ledger_append_only() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    RAISE EXCEPTION '% on % refused: the ledger is append-only; post a reversing entry', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE ON ledger_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER ledger_lines_append_only BEFORE UPDATE OR DELETE ON ledger_lines
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER ledger_lines_no_truncate BEFORE TRUNCATE ON ledger_lines
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();

-- An account's identity never changes, nor is it deleted; its sums change only from the line
-- trigger (nested one level), never by a statement of its own.
CREATE FUNCTION ledger_account_guard() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF TG_OP = 'DELETE' OR TG_OP = 'TRUNCATE' THEN
        RAISE EXCEPTION 'ledger accounts are never deleted' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF pg_trigger_depth() < 2
       OR (NEW.id, NEW.code, NEW.type, NEW.owner_kind, NEW.owner_id, NEW.merchant_id, NEW.mode, NEW.currency, NEW.limit_rule)
          IS DISTINCT FROM
          (OLD.id, OLD.code, OLD.type, OLD.owner_kind, OLD.owner_id, OLD.merchant_id, OLD.mode, OLD.currency, OLD.limit_rule)
       OR NEW.debits < OLD.debits OR NEW.credits < OLD.credits THEN
        RAISE EXCEPTION 'a ledger account changes only by posting lines to it' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER ledger_accounts_guard BEFORE UPDATE OR DELETE ON ledger_accounts
    FOR EACH ROW EXECUTE FUNCTION ledger_account_guard();
CREATE TRIGGER ledger_accounts_no_truncate BEFORE TRUNCATE ON ledger_accounts
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_account_guard();

-- Posts one entry: `lines` is a JSON array of {code, owner_kind, owner_id, merchant_id, currency,
-- side, amount}. Creates the accounts it names, locks them in id order (two postings never wait
-- on each other in a cycle), writes the lines in one statement. Returns false, writing nothing,
-- when the business key has posted before.
CREATE FUNCTION ledger_post(p_id uuid, p_key text, p_kind text, p_mode text, p_merchant uuid,
                            p_transaction uuid, p_refund uuid, p_reverses uuid, p_memo jsonb, p_lines jsonb)
    RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
BEGIN
    -- Operators and the platform's jobs book anything. The scopes that apply a gateway's report
    -- for someone else (public: webhooks, returns, the checkout; merchant: that merchant's own
    -- requests) book only what a capture of one of the payments they may touch causes, never
    -- money received outside a gateway: a bug on a public path cannot write arbitrary books.
    IF app_scope() NOT IN ('admin', 'system') THEN
        IF app_scope() NOT IN ('public', 'merchant')
           OR NOT (p_kind IN ('capture', 'wallet_top_up', 'suspense_capture') AND p_reverses IS NULL
                   -- a capture releasing what an earlier report of its attempt held in suspense
                   OR p_kind = 'reversal' AND EXISTS (
                       SELECT 1 FROM ledger_entries r
                        WHERE r.id = p_reverses AND r.kind = 'suspense_capture' AND r.transaction_id = p_transaction))
           OR p_transaction IS NULL
           OR (app_scope() = 'merchant'
               AND (p_merchant IS DISTINCT FROM app_merchant_id() OR p_mode IS DISTINCT FROM app_mode()))
           OR NOT EXISTS (SELECT 1 FROM transactions t
                           WHERE t.id = p_transaction AND t.merchant_id = p_merchant AND t.mode = p_mode)
           OR jsonb_path_exists(p_lines, '$[*] ? (@.code == "platform_bank")') THEN
            RAISE EXCEPTION 'scope % may not post a % entry like this', app_scope(), p_kind
                USING ERRCODE = 'insufficient_privilege';
        END IF;
    END IF;
    -- A conflict on the business key (or on the entry reversed) is a replay: nothing is written.
    INSERT INTO ledger_entries (id, business_key, kind, mode, merchant_id, transaction_id, refund_id, reverses, memo)
    VALUES (p_id, p_key, p_kind, p_mode, p_merchant, p_transaction, p_refund, p_reverses, p_memo)
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    RETURN ledger_post_lines(p_id, p_mode, p_lines);
END
$$;

CREATE FUNCTION ledger_post_lines(p_entry uuid, p_mode text, p_lines jsonb) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
BEGIN
    INSERT INTO ledger_accounts (id, code, type, owner_kind, owner_id, merchant_id, mode, currency, limit_rule)
    SELECT DISTINCT ON (l.code, l.owner_kind, l.owner_id, l.currency)
           gen_random_uuid(), l.code, ledger_account_type(l.code), l.owner_kind, l.owner_id, l.merchant_id,
           p_mode, l.currency, ledger_account_limit(l.code)
      FROM jsonb_to_recordset(p_lines) AS l(code text, owner_kind text, owner_id uuid, merchant_id uuid, currency text)
     WHERE NOT EXISTS (SELECT 1 FROM ledger_accounts a
                        WHERE a.code = l.code AND a.owner_kind = l.owner_kind AND a.owner_id = l.owner_id
                          AND a.mode = p_mode AND a.currency = l.currency)
    ON CONFLICT (code, owner_kind, owner_id, mode, currency) DO NOTHING;
    PERFORM 1
       FROM ledger_accounts a
       JOIN jsonb_to_recordset(p_lines) AS l(code text, owner_kind text, owner_id uuid, currency text)
         ON a.code = l.code AND a.owner_kind = l.owner_kind AND a.owner_id = l.owner_id
        AND a.mode = p_mode AND a.currency = l.currency
     ORDER BY a.id
       FOR UPDATE OF a;
    INSERT INTO ledger_lines (entry_id, account_id, side, amount, currency)
    SELECT p_entry, a.id, l.side, l.amount, l.currency
      FROM ROWS FROM (jsonb_to_recordset(p_lines)
               AS (code text, owner_kind text, owner_id uuid, currency text, side text, amount bigint))
           WITH ORDINALITY AS l(code, owner_kind, owner_id, currency, side, amount, n)
      JOIN ledger_accounts a
        ON a.code = l.code AND a.owner_kind = l.owner_kind AND a.owner_id = l.owner_id
       AND a.mode = p_mode AND a.currency = l.currency
     ORDER BY l.n;
    RETURN true;
END
$$;

-- Posts the reversal of the entry with business key `original` under `business_key`: every line
-- on the other side. Returns false when there is no such entry or it was reversed before. Used
-- where the caller's scope cannot read the ledger (a capture applied from a public webhook
-- releasing what an earlier report of its attempt held in suspense); `ledger_post` decides
-- whether that scope may post it.
CREATE FUNCTION ledger_reverse(p_id uuid, p_key text, p_original text) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
DECLARE
    original ledger_entries%ROWTYPE;
    reversed jsonb;
BEGIN
    SELECT * INTO original FROM ledger_entries WHERE business_key = p_original;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    SELECT jsonb_agg(jsonb_build_object(
               'code', a.code, 'owner_kind', a.owner_kind, 'owner_id', a.owner_id, 'merchant_id', a.merchant_id,
               'currency', l.currency, 'side', CASE l.side WHEN 'debit' THEN 'credit' ELSE 'debit' END,
               'amount', l.amount) ORDER BY l.id)
      INTO reversed
      FROM ledger_lines l JOIN ledger_accounts a ON a.id = l.account_id
     WHERE l.entry_id = original.id;
    RETURN ledger_post(p_id, p_key, 'reversal', original.mode, original.merchant_id, original.transaction_id,
                       original.refund_id, original.id, jsonb_build_object('reverses', p_original), reversed);
END
$$;

REVOKE ALL ON FUNCTION ledger_post(uuid, text, text, text, uuid, uuid, uuid, uuid, jsonb, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION ledger_post_lines(uuid, text, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION ledger_reverse(uuid, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger_reverse(uuid, text, text) TO lsp_app;
GRANT EXECUTE ON FUNCTION ledger_post(uuid, text, text, text, uuid, uuid, uuid, uuid, jsonb, jsonb) TO lsp_app;

-- Row security: operators and the platform's jobs read the whole ledger; a merchant reads its own
-- accounts, their lines and the entries about it, in the mode it acts in. Nobody writes the
-- tables directly (no INSERT, UPDATE or DELETE grant): `ledger_post` is the way in. Not FORCE:
-- the posting functions run as the owner.
ALTER TABLE ledger_accounts ENABLE ROW LEVEL SECURITY;
CREATE POLICY ledger_accounts_read ON ledger_accounts FOR SELECT
    USING (app_is_platform() OR app_is_merchant_mode(merchant_id, mode));
GRANT SELECT ON ledger_accounts TO lsp_app;

ALTER TABLE ledger_entries ENABLE ROW LEVEL SECURITY;
CREATE POLICY ledger_entries_read ON ledger_entries FOR SELECT
    USING (app_is_platform() OR app_is_merchant_mode(merchant_id, mode));
GRANT SELECT ON ledger_entries TO lsp_app;

ALTER TABLE ledger_lines ENABLE ROW LEVEL SECURITY;
CREATE POLICY ledger_lines_read ON ledger_lines FOR SELECT
    USING (app_is_platform() OR app_is_merchant_mode(merchant_id, mode));
GRANT SELECT ON ledger_lines TO lsp_app;

-- ---------------------------------------------------------------------------------------------
-- Wallets: a merchant's prepaid balance per mode is its `merchant_wallet` account; this row holds
-- its thresholds. Below `alert_threshold` operators and the merchant are told; below
-- `suspension_threshold` new payments on the merchant's own gateway accounts are refused.

CREATE TABLE wallets (
    merchant_id          uuid        NOT NULL REFERENCES merchants (id),
    mode                 text        NOT NULL CHECK (mode IN ('test', 'live')),
    alert_threshold      bigint      NOT NULL DEFAULT 100000 CHECK (alert_threshold BETWEEN -100000000000 AND 100000000000),
    suspension_threshold bigint      NOT NULL DEFAULT 0 CHECK (suspension_threshold BETWEEN -100000000000 AND 100000000000),
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (merchant_id, mode),
    CONSTRAINT wallets_alert_above_suspension CHECK (alert_threshold >= suspension_threshold)
);
ALTER TABLE wallets ENABLE ROW LEVEL SECURITY;
ALTER TABLE wallets FORCE ROW LEVEL SECURITY;
CREATE POLICY wallets_platform ON wallets FOR ALL
    USING (app_is_platform()) WITH CHECK (app_is_platform());
CREATE POLICY wallets_read ON wallets FOR SELECT
    USING (app_is_merchant_mode(merchant_id, mode) OR app_scope() = 'public');
GRANT SELECT, INSERT, UPDATE ON wallets TO lsp_app;

-- Top-ups: by an operator (money received outside the platform) or by the merchant paying
-- through the platform's checkout (a payment whose purpose is `wallet_top_up`).
CREATE TABLE wallet_top_ups (
    id             uuid PRIMARY KEY,
    merchant_id    uuid        NOT NULL REFERENCES merchants (id),
    mode           text        NOT NULL CHECK (mode IN ('test', 'live')),
    amount         bigint      NOT NULL CHECK (amount > 0),
    currency       text        NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    source         text        NOT NULL CHECK (source IN ('operator', 'checkout')),
    transaction_id uuid        UNIQUE REFERENCES transactions (id),
    reference      text        CHECK (length(reference) BETWEEN 1 AND 100),
    created_by     uuid        REFERENCES users (id),
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT wallet_top_ups_source CHECK (
        (source = 'checkout') = (transaction_id IS NOT NULL)
        AND (source = 'operator') = (created_by IS NOT NULL))
);
CREATE INDEX wallet_top_ups_merchant_idx ON wallet_top_ups (merchant_id, mode, id DESC);
-- A bank reference (UTR) names one receipt of money: recording it twice is a mistake.
CREATE UNIQUE INDEX wallet_top_ups_reference_key ON wallet_top_ups (merchant_id, mode, reference)
    WHERE source = 'operator' AND reference IS NOT NULL;
ALTER TABLE wallet_top_ups ENABLE ROW LEVEL SECURITY;
ALTER TABLE wallet_top_ups FORCE ROW LEVEL SECURITY;
CREATE POLICY wallet_top_ups_platform ON wallet_top_ups FOR ALL
    USING (app_is_platform()) WITH CHECK (app_is_platform());
-- A checkout top-up is recorded where its capture is applied, in whatever scope that is.
CREATE POLICY wallet_top_ups_merchant ON wallet_top_ups FOR ALL
    USING (app_is_merchant_mode(merchant_id, mode))
    WITH CHECK (app_is_merchant_mode(merchant_id, mode) AND source = 'checkout');
CREATE POLICY wallet_top_ups_public ON wallet_top_ups FOR INSERT
    WITH CHECK (app_scope() = 'public' AND source = 'checkout');
GRANT SELECT, INSERT ON wallet_top_ups TO lsp_app;

-- The low-balance alert.
ALTER TABLE alerts DROP CONSTRAINT alerts_kind_check;
ALTER TABLE alerts ADD CONSTRAINT alerts_kind_check
    CHECK (kind IN ('gateway_breaker_open', 'queue_backlog', 'queue_age', 'dead_letters', 'amount_mismatch',
                    'webhook_endpoint_disabled', 'wallet_balance_low'));

-- The severity people were last told about: an alert that turns critical within its cool-down
-- (a low wallet now refusing payments) is told again at once.
ALTER TABLE alerts ADD COLUMN notified_severity text CHECK (notified_severity IN ('info', 'warning', 'critical'));
