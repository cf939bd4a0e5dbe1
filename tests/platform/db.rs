//! The database transaction wrapper: scope settings, rollback when dropped, and a commit sent
//! together with the last statement.

use crate::support::*;
use shared::config::{Config, lookup_from};
use shared::db::{self, Db, DbError, Scope};
use shared::ids::MerchantId;
use shared::mode::Mode;
use tokio_postgres::types::Type;

/// A pool of one connection, so that the next transaction surely reuses the previous one's.
async fn single_connection_pool(test_db: &TestDb) -> Db {
    pool_with_statement_cache(test_db, "on").await
}

async fn pool_with_statement_cache(test_db: &TestDb, statement_cache: &str) -> Db {
    let mut vars = env_for(test_db);
    vars.insert("DATABASE_POOL_SIZE".into(), "1".into());
    vars.insert("DATABASE_STATEMENT_CACHE".into(), statement_cache.into());
    let config = Config::from_lookup(lookup_from(vars)).unwrap();
    Db::connect(&config.database).unwrap()
}

async fn counter(pool: &Db, principal: &str) -> Option<i32> {
    let mut client = pool.client().await.unwrap();
    let tx = db::begin(&mut client, Scope::System).await.unwrap();
    let row = tx
        .query_opt(
            "SELECT hits FROM rate_limit_counters WHERE principal = $1",
            &[&principal],
        )
        .await
        .unwrap();
    tx.commit().await.unwrap();
    row.map(|r| r.get(0))
}

async fn insert_counter(tx: &db::Transaction<'_>, principal: &str) -> Result<u64, DbError> {
    Ok(tx
        .execute(
            "INSERT INTO rate_limit_counters (principal, window_start, hits) VALUES ($1, now(), 1)",
            &[&principal],
        )
        .await?)
}

#[tokio::test]
async fn a_transaction_carries_its_scope_and_only_inside() {
    let test_db = TestDb::create().await;
    let pool = single_connection_pool(&test_db).await;
    let merchant = MerchantId::generate();
    let mut client = pool.client().await.unwrap();
    let tx = db::begin(
        &mut client,
        Scope::Merchant {
            id: merchant,
            mode: Mode::Live,
        },
    )
    .await
    .unwrap();
    let row = tx
        .query_one(
            "SELECT current_setting('app.scope'), current_setting('app.merchant_id'),
                    current_setting('app.mode'), current_setting('synchronous_commit')",
            &[],
        )
        .await
        .unwrap();
    let settings: (String, String, String, String) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    assert_eq!(
        settings,
        (
            "merchant".into(),
            merchant.as_uuid().to_string(),
            "live".into(),
            "on".into()
        )
    );
    tx.commit().await.unwrap();

    let tx = db::begin_relaxed(&mut client, Scope::System).await.unwrap();
    let row = tx
        .query_one(
            "SELECT current_setting('app.scope'), current_setting('app.merchant_id'), current_setting('synchronous_commit')",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "system");
    assert_eq!(
        row.get::<_, String>(1),
        "",
        "no merchant left from the previous transaction"
    );
    assert_eq!(row.get::<_, String>(2), "off");
    tx.commit().await.unwrap();

    // After the transaction the connection has no scope at all.
    let row = client
        .query_one(
            "SELECT coalesce(current_setting('app.scope', true), '')",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "");
}

#[tokio::test]
async fn a_dropped_transaction_is_rolled_back_before_the_connection_is_reused() {
    let test_db = TestDb::create().await;
    let pool = single_connection_pool(&test_db).await;
    {
        let mut client = pool.client().await.unwrap();
        let tx = db::begin(&mut client, Scope::System).await.unwrap();
        assert_eq!(insert_counter(&tx, "test:dropped").await.unwrap(), 1);
        // Dropped here, as when a handler returns an error half-way.
    }
    // The pool's only connection is the one just used: it must be out of that transaction.
    let client = pool.client().await.unwrap();
    // A transaction that wrote has an id; a fresh one that has not written has none.
    let leftover: Option<i64> = client
        .query_one("SELECT txid_current_if_assigned()::text::bigint", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(leftover, None, "the dropped transaction is still open");
    drop(client);
    assert_eq!(counter(&pool, "test:dropped").await, None);
    assert_eq!(test_db.count("rate_limit_counters").await, 0);
}

const INSERT_RETURNING: &str = "INSERT INTO rate_limit_counters (principal, window_start, hits)
     VALUES ($1, now(), 1) RETURNING hits";

#[tokio::test]
async fn a_commit_sent_with_the_last_statement_commits_with_it_or_not_at_all() {
    // With prepared statements (the default) and with unnamed ones (behind a transaction pooler).
    for statement_cache in ["on", "off"] {
        commit_with_last_statement(statement_cache).await;
    }
}

async fn commit_with_last_statement(statement_cache: &str) {
    let test_db = TestDb::create().await;
    let pool = pool_with_statement_cache(&test_db, statement_cache).await;

    let mut client = pool.client().await.unwrap();
    let tx = db::begin(&mut client, Scope::System).await.unwrap();
    insert_counter(&tx, "test:first").await.unwrap();
    let row = tx
        .commit_after_query_one(INSERT_RETURNING, &[(&"test:last", Type::TEXT)])
        .await
        .unwrap();
    assert_eq!(row.get::<_, i32>(0), 1);
    drop(client);
    assert_eq!(counter(&pool, "test:first").await, Some(1));
    assert_eq!(counter(&pool, "test:last").await, Some(1));

    // The last statement fails (the row exists): its error comes back and the earlier write of
    // the same transaction is not committed.
    let mut client = pool.client().await.unwrap();
    let tx = db::begin(&mut client, Scope::System).await.unwrap();
    insert_counter(&tx, "test:second").await.unwrap();
    let failed = tx
        .commit_after_query_one(INSERT_RETURNING, &[(&"test:last", Type::TEXT)])
        .await;
    assert_eq!(
        failed.unwrap_err().constraint(),
        Some("rate_limit_counters_pkey")
    );
    // The connection is usable and outside any transaction.
    let leftover: Option<i64> = client
        .query_one("SELECT txid_current_if_assigned()::text::bigint", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(leftover, None);
    drop(client);
    assert_eq!(counter(&pool, "test:second").await, None);
    assert_eq!(test_db.count("rate_limit_counters").await, 2);
}
