//! Tenant isolation: through the API, and in the database itself (Row Level Security).

use crate::support::*;
use reqwest::StatusCode;
use shared::db::{self, Scope};
use shared::gateway_accounts::{self, NewGatewayAccount, Ownership};
use shared::ids::MerchantId;
use shared::mode::Mode;
use shared::secret::Secret;
use uuid::Uuid;

#[tokio::test]
async fn a_merchant_cannot_see_another_merchants_resources() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let a = app.create_merchant(&admin, "Shop A").await;
    let b = app.create_merchant(&admin, "Shop B").await;

    let (status, body) = app
        .get_with_key(
            &format!("/api/v1/merchant/{}", b.id),
            &a.client_key,
            &a.client_secret,
        )
        .await;
    expect_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    let token_a = a.token(&app).await;
    let (status, body) = app
        .get(&format!("/api/v1/merchant/{}", b.id), Some(&token_a))
        .await;
    expect_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    // The same request for its own id works, so the 404 above is isolation, not a broken route.
    assert_eq!(
        app.get_with_key(
            &format!("/api/v1/merchant/{}", a.id),
            &a.client_key,
            &a.client_secret
        )
        .await
        .0,
        StatusCode::OK
    );
    // Operators see both.
    assert_eq!(
        app.get(&format!("/api/v1/merchant/{}", b.id), Some(&admin))
            .await
            .0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn queries_without_a_merchant_filter_see_only_the_scoped_merchant() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let a = app.create_merchant(&admin, "Shop A").await;
    let b = app.create_merchant(&admin, "Shop B").await;
    let a_id: MerchantId = a.id.parse().unwrap();
    let b_id: MerchantId = b.id.parse().unwrap();

    // Give each merchant one merchant-owned gateway account and a pool entry.
    {
        let mut client = app.app.db.client().await.unwrap();
        let tx = db::begin(&mut client, Scope::Admin).await.unwrap();
        for owner in [a_id, b_id] {
            let account = gateway_accounts::create(
                &tx,
                &app.app.config.encryption,
                &NewGatewayAccount {
                    provider: "razorpay".into(),
                    label: format!("own account of {owner}"),
                    environment: Mode::Test,
                    ownership: Ownership::Merchant(owner),
                    credentials: [(
                        "key_secret".to_string(),
                        Secret::new(format!("secret-of-{owner}")),
                    )]
                    .into(),
                },
            )
            .await
            .unwrap();
            gateway_accounts::add_to_pool(&tx, owner, account, 1)
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
    }

    let queries = [
        "SELECT id FROM merchants",
        "SELECT merchant_id FROM merchant_credentials",
        "SELECT merchant_id FROM users",
        "SELECT merchant_id FROM audit_log",
        "SELECT merchant_id FROM routing_pools",
        "SELECT merchant_id FROM routing_pool_members",
        // Platform-owned accounts (the sandbox) are readable by every scope; merchant-owned are not.
        "SELECT owner_merchant_id FROM gateway_accounts WHERE ownership = 'merchant'",
    ];
    let mut client = app.app.db.client().await.unwrap();
    let tx = db::begin(
        &mut client,
        Scope::Merchant {
            id: a_id,
            mode: Mode::Test,
        },
    )
    .await
    .unwrap();
    for sql in queries {
        let rows = tx.query(sql, &[]).await.unwrap();
        let seen: Vec<Option<Uuid>> = rows.iter().map(|r| r.get(0)).collect();
        assert!(!seen.is_empty(), "{sql}: A should see its own rows");
        assert!(
            seen.iter().all(|id| *id == Some(a_id.as_uuid())),
            "{sql} leaked other rows: {seen:?}"
        );
    }
    tx.commit().await.unwrap();

    // A transaction that declares no scope sees nothing at all.
    let app_role = app.db.app_role().await;
    for sql in queries {
        assert!(
            app_role.query(sql, &[]).await.unwrap().is_empty(),
            "{sql} visible without a scope"
        );
    }
    // And the role the application uses cannot switch the policies off.
    let row = app_role
        .query_one(
            "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        (row.get::<_, bool>(0), row.get::<_, bool>(1)),
        (false, false)
    );
    let forced: i64 = app_role
        .query_one(
            "SELECT count(*) FROM pg_class WHERE relname = ANY($1) AND relrowsecurity AND relforcerowsecurity",
            &[&vec!["merchants", "merchant_credentials", "users", "audit_log", "routing_pools", "routing_pool_members", "gateway_accounts", "refresh_tokens"]],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(forced, 8);
    // A merchant scope cannot write another merchant's rows either.
    let mut client = app.app.db.client().await.unwrap();
    let tx = db::begin(
        &mut client,
        Scope::Merchant {
            id: a_id,
            mode: Mode::Test,
        },
    )
    .await
    .unwrap();
    let changed = tx
        .execute(
            "UPDATE merchant_credentials SET revoked_at = now() WHERE merchant_id = $1",
            &[&b_id.as_uuid()],
        )
        .await
        .unwrap();
    assert_eq!(changed, 0);
}

/// F18: checkout, returns, webhooks and the sandbox run as `Scope::Public`, which sees none of the
/// secrets, identities or idempotency state that `system` sees, yet does what checkout needs.
#[tokio::test]
async fn f18_public_routes_run_in_a_narrower_scope() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Shop").await;
    let _ = m.token(&app).await;
    let (status, body) = app
        .pay(&m, &payment("order-f18", 10_000, false), Some("key-f18"))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id: shared::ids::TransactionId = body["data"]["id"].as_str().unwrap().parse().unwrap();

    let hidden = [
        "SELECT count(*) FROM merchant_credentials",
        "SELECT count(*) FROM users",
        "SELECT count(*) FROM idempotency_keys",
        "SELECT count(*) FROM refresh_tokens",
        "SELECT count(*) FROM merchants",
        "SELECT count(*) FROM audit_log",
    ];
    let count = |rows: Vec<tokio_postgres::Row>| rows[0].get::<_, i64>(0);
    let mut client = app.app.db.client().await.unwrap();
    // The same queries as `system` see rows: the zeros below are the scope, not an empty table.
    let tx = db::begin(&mut client, Scope::System).await.unwrap();
    for sql in hidden {
        assert!(
            count(tx.query(sql, &[]).await.unwrap()) > 0,
            "{sql} as system"
        );
    }
    tx.commit().await.unwrap();

    let tx = db::begin(&mut client, Scope::Public).await.unwrap();
    for sql in hidden
        .iter()
        .chain(&["SELECT count(*) FROM login_failures"])
    {
        assert_eq!(
            count(tx.query(*sql, &[]).await.unwrap()),
            0,
            "{sql} as public"
        );
    }
    // Writes to what it cannot see change nothing or are refused.
    let revoked = tx
        .execute("UPDATE merchant_credentials SET revoked_at = now()", &[])
        .await
        .unwrap();
    assert_eq!(revoked, 0);
    assert_eq!(
        tx.execute("UPDATE merchants SET status = status", &[])
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        tx.execute("DELETE FROM idempotency_keys", &[])
            .await
            .unwrap(),
        0
    );
    // What checkout needs: the payment, its attempt and the attempt's gateway account.
    let row = tx
        .query_one(
            "SELECT t.amount, a.status, g.provider FROM transactions t
             JOIN transaction_attempts a ON a.transaction_id = t.id
             JOIN gateway_accounts g ON g.id = a.gateway_account_id
             WHERE t.id = $1",
            &[&id.as_uuid()],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 10_000);
    assert_eq!(
        tx.execute(
            "UPDATE transaction_attempts SET status_queried_at = now() WHERE transaction_id = $1",
            &[&id.as_uuid()]
        )
        .await
        .unwrap(),
        1
    );
    tx.commit().await.unwrap();

    // An audit row is refused outright (no public path writes one).
    let tx = db::begin(&mut client, Scope::Public).await.unwrap();
    let refused = tx
        .execute(
            "INSERT INTO audit_log (actor_type, action, outcome) VALUES ('anonymous', 'checkout.viewed', 'success')",
            &[],
        )
        .await;
    assert!(refused.is_err(), "public wrote an audit row");
    drop(tx);
    drop(client);

    // Nothing above changed what `system` sees, and the checkout page still works in this scope.
    let owner = app.db.owner().await;
    let active: i64 = owner
        .query_one(
            "SELECT count(*) FROM merchant_credentials WHERE revoked_at IS NULL",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(active > 0);
    let page = app
        .http
        .get(app.url(&format!("/api/v1/checkout/{id}")))
        .send()
        .await
        .unwrap();
    // The sandbox hands the customer over with a redirect to its pay page.
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
    let location = page.headers()["location"].to_str().unwrap();
    assert!(location.contains("/sandbox/"), "{location}");
}
