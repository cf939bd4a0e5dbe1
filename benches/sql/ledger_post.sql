-- One four-line entry (a capture on the platform's account) posted through `ledger_post`, as
-- `shared::ledger::post` does in its own transaction: BEGIN with the scope settings in one
-- message, the posting, COMMIT. For pgbench -M prepared as the application role.
-- Variables from -D: merchant, memo, lines (the entry's JSON, as the application sends it).
\startpipeline
BEGIN;
SELECT set_config('app.scope', 'system', true), set_config('app.merchant_id', '', true), set_config('app.mode', '', true), set_config('synchronous_commit', 'on', true);
\endpipeline
SELECT ledger_post(gen_random_uuid(), 'bench:' || gen_random_uuid()::text, 'capture', 'test', :merchant::uuid,
                   NULL::uuid, NULL::uuid, NULL::uuid, :memo::jsonb, :lines::jsonb) AS written;
COMMIT;
