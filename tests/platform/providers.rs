//! The one provider list is held to the database: every provider can be stored, and the
//! database accepts no provider the code does not know.

use crate::support::*;
use shared::gateways::Provider;
use std::collections::BTreeSet;

#[tokio::test]
async fn the_database_provider_check_lists_exactly_the_providers() {
    let db = TestDb::create().await;
    let client = connect(&db.owner_url).await;
    let definitions: Vec<String> = client
        .query(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint
              WHERE conrelid = 'gateway_accounts'::regclass AND contype = 'c'
                AND pg_get_constraintdef(oid) LIKE '%provider = ANY%'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(definitions.len(), 1, "{definitions:?}");
    // `CHECK ((provider = ANY (ARRAY['sandbox'::text, …])))`: the quoted names are the list.
    let in_database: BTreeSet<&str> = definitions[0].split('\'').skip(1).step_by(2).collect();
    let in_code: BTreeSet<&str> = Provider::ALL.iter().map(|p| p.as_str()).collect();
    assert_eq!(in_database, in_code);
}
