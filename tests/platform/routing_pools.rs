//! Routing pools through the API: operators read and replace a merchant's pool and change
//! priorities at the version they read (a stale version is `409` and changes nothing, also when two
//! edits race); every problem of a bad pool is named at its path; merchants read their own pool
//! without credentials and without the platform's labels and caps; every change is audited.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::db::{self, Scope};
use shared::gateway_accounts::{self, NewGatewayAccount, Ownership};
use shared::mode::Mode;

/// A secret every test account holds, to look for in answers and audit rows.
const SECRET: &str = "pool-test-key-secret-QRST";

/// Stores a Razorpay account (platform-owned when `owner` is `None`) and answers its id.
async fn account(
    app: &TestApp,
    owner: Option<&Merchant>,
    environment: Mode,
    label: &str,
) -> String {
    let slug = uuid::Uuid::new_v4().simple().to_string();
    let ownership = match owner {
        None => Ownership::Platform,
        Some(m) => Ownership::Merchant(m.id.parse().unwrap()),
    };
    let credentials = [
        ("key_id", format!("rzp_{environment}_{}", &slug[..14])),
        ("key_secret", format!("{SECRET}-{slug}")),
        ("webhook_secret", format!("webhook-{slug}")),
    ];
    let mut client = app.app.db.client().await.unwrap();
    let tx = db::begin(&mut client, Scope::System).await.unwrap();
    let id = gateway_accounts::create(
        &tx,
        &app.app.config.encryption,
        &NewGatewayAccount {
            provider: "razorpay".into(),
            label: label.into(),
            environment,
            ownership,
            credentials: credentials
                .into_iter()
                .map(|(k, v)| (k.to_string(), shared::secret::Secret::new(v)))
                .collect(),
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    id.to_string()
}

/// Sets an account's status directly (gateway administration is not under test here).
async fn set_status(app: &TestApp, account: &str, status: &str) {
    let id: shared::ids::GatewayAccountId = account.parse().unwrap();
    app.db
        .owner()
        .await
        .execute(
            "UPDATE gateway_accounts SET status = $2,
                    archived_at = CASE WHEN $2 = 'archived' THEN now() END
              WHERE id = $1",
            &[&id.as_uuid(), &status],
        )
        .await
        .unwrap();
}

fn routing(m: &Merchant) -> String {
    format!("/api/v1/admin/merchants/{}/routing", m.id)
}

async fn put(app: &TestApp, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
    send(app.http.put(app.url(path)).bearer_auth(token).json(&body)).await
}

async fn patch(app: &TestApp, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
    send(app.http.patch(app.url(path)).bearer_auth(token).json(&body)).await
}

/// The pool as an operator reads it.
async fn pool(app: &TestApp, admin: &str, m: &Merchant) -> Value {
    let (status, body) = app.get(&routing(m), Some(admin)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"].clone()
}

/// The stored members of a merchant's pool, as (account id, priority, weight, enabled, daily
/// cap, monthly cap), ordered by priority.
async fn stored(
    app: &TestApp,
    m: &Merchant,
) -> Vec<(String, i32, i32, bool, Option<i64>, Option<i64>)> {
    let merchant: shared::ids::MerchantId = m.id.parse().unwrap();
    app.db
        .owner()
        .await
        .query(
            "SELECT gateway_account_id, priority, weight, enabled, daily_cap, monthly_cap
               FROM routing_pool_members WHERE merchant_id = $1 ORDER BY priority, gateway_account_id",
            &[&merchant.as_uuid()],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| {
            (
                shared::ids::GatewayAccountId::from_uuid(r.get(0)).to_string(),
                r.get(1),
                r.get(2),
                r.get(3),
                r.get(4),
                r.get(5),
            )
        })
        .collect()
}

/// The audit rows of routing-pool changes for `m`: (action, actor type, target id, before, after).
async fn audit_rows(app: &TestApp, m: &Merchant) -> Vec<(String, String, String, Value, Value)> {
    let merchant: shared::ids::MerchantId = m.id.parse().unwrap();
    app.db
        .owner()
        .await
        .query(
            "SELECT action, actor_type, target_id, before, after FROM audit_log
              WHERE merchant_id = $1 AND action LIKE 'routing_pool.%' ORDER BY id",
            &[&merchant.as_uuid()],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect()
}

#[tokio::test]
async fn an_operator_reads_and_replaces_a_pool_and_each_change_is_audited() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Chai Point").await;
    let platform = account(&app, None, Mode::Test, "Platform Razorpay").await;
    let own = account(&app, Some(&m), Mode::Test, "Chai Point's Razorpay").await;

    let empty = pool(&app, &admin, &m).await;
    assert_eq!(empty["merchant_id"], m.id);
    assert_eq!(empty["mode"], "priority");
    assert_eq!(empty["version"], 1);
    assert_eq!(empty["members"], json!([]));

    let (status, body) = put(
        &app,
        &admin,
        &routing(&m),
        json!({
            "version": 1,
            "mode": "weighted",
            "members": [
                { "account_id": platform, "priority": 5, "weight": 70, "daily_cap": 1_000_000, "monthly_cap": 20_000_000 },
                { "account_id": own },
            ],
        }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let replaced = &body["data"];
    assert_eq!(replaced["version"], 2);
    assert_eq!(replaced["mode"], "weighted");
    // Defaults: priority is the position in the list, weight 100, no caps, enabled.
    assert_eq!(
        replaced["members"],
        json!([
            {
                "account_id": own, "provider": "razorpay", "label": "Chai Point's Razorpay",
                "environment": "test", "ownership": "merchant", "priority": 1, "weight": 100,
                "daily_cap": null, "monthly_cap": null, "enabled": true, "account_status": "active",
            },
            {
                "account_id": platform, "provider": "razorpay", "label": "Platform Razorpay",
                "environment": "test", "ownership": "platform", "priority": 5, "weight": 70,
                "daily_cap": 1_000_000, "monthly_cap": 20_000_000, "enabled": true,
                "account_status": "active",
            },
        ])
    );
    assert!(!body.to_string().contains(SECRET), "{body}");
    assert_eq!(
        pool(&app, &admin, &m).await,
        *replaced,
        "GET answers what PUT stored"
    );
    assert_eq!(
        stored(&app, &m).await,
        vec![
            (own.clone(), 1, 100, true, None, None),
            (
                platform.clone(),
                5,
                70,
                true,
                Some(1_000_000),
                Some(20_000_000)
            ),
        ]
    );

    // The whole list is replaced: an account not listed leaves the pool.
    let (status, body) = put(
        &app,
        &admin,
        &routing(&m),
        json!({ "version": 2, "mode": "round_robin", "members": [{ "account_id": platform, "enabled": false }] }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["version"], 3);
    assert_eq!(body["data"]["mode"], "round_robin");
    assert_eq!(
        stored(&app, &m).await,
        vec![(platform.clone(), 0, 100, false, None, None)]
    );

    let rows = audit_rows(&app, &m).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    let (action, actor, target, before, after) = &rows[0];
    assert_eq!(action, "routing_pool.replaced");
    assert_eq!(actor, "user");
    assert_eq!(target, &m.id);
    assert_eq!(before["version"], 1);
    assert_eq!(before["members"], json!([]));
    assert_eq!(after, replaced);
    let (_, _, _, before, after) = &rows[1];
    assert_eq!(before, replaced);
    assert_eq!(after["version"], 3);
    assert!(
        !format!("{rows:?}").contains(SECRET),
        "an audit row holds a credential"
    );

    // Not a merchant: 404; not an id: 400 naming it.
    let (status, body) = app
        .get(
            "/api/v1/admin/merchants/mer_0190f0c2a4b87c3e9d1f2a3b4c5d6e7f/routing",
            Some(&admin),
        )
        .await;
    expect_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    let (status, body) = put(
        &app,
        &admin,
        "/api/v1/admin/merchants/mer_0190f0c2a4b87c3e9d1f2a3b4c5d6e7f/routing",
        json!({ "version": 1, "mode": "priority", "members": [] }),
    )
    .await;
    expect_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    let (status, body) = app
        .get("/api/v1/admin/merchants/chai/routing", Some(&admin))
        .await;
    let details = expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert!(details["id"].is_string(), "{body}");
}

#[tokio::test]
async fn every_problem_of_a_pool_is_named_at_its_path_and_nothing_changes() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Chai Point").await;
    let other = app.create_merchant(&admin, "Dosa Plaza").await;
    let fine = account(&app, None, Mode::Test, "Fine").await;
    let others = account(&app, Some(&other), Mode::Test, "Dosa Plaza's").await;
    let archived = account(&app, None, Mode::Test, "Archived").await;
    set_status(&app, &archived, "archived").await;
    let disabled = account(&app, None, Mode::Test, "Disabled").await;
    set_status(&app, &disabled, "disabled").await;
    let live = account(&app, None, Mode::Live, "Live").await;

    let bad = json!({
        "version": 0,
        "mode": "fastest",
        "members": [
            { "account_id": fine, "weight": 0 },                                  // 0
            { "account_id": others },                                             // 1
            { "account_id": archived },                                           // 2
            { "account_id": disabled },                                           // 3
            { "account_id": live },                                               // 4
            { "account_id": fine },                                               // 5: again
            { "account_id": "gwa_nope" },                                         // 6
            { "account_id": "gwa_0190f0c2a4b87c3e9d1f2a3b4c5d6e7f" },             // 7: no such
            { "account_id": disabled, "priority": 1001 },                         // 8: again
            { "account_id": others, "daily_cap": 0, "monthly_cap": -5 },          // 9
        ],
    });
    let (status, body) = put(&app, &admin, &routing(&m), bad).await;
    let details = expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    let expected = [
        ("version", "must be the pool's version"),
        (
            "mode",
            "must be one of: priority, round_robin, weighted, smart",
        ),
        ("members[0].weight", "must be from 1 to 10000"),
        ("members[1].account_id", "belongs to another merchant"),
        ("members[2].account_id", "is archived"),
        ("members[3].enabled", "must be false"),
        ("members[4].account_id", "live mode is not enabled"),
        ("members[5].account_id", "is listed more than once"),
        ("members[6].account_id", "must be a gateway account id"),
        ("members[7].account_id", "no such gateway account"),
        ("members[8].account_id", "is listed more than once"),
        ("members[8].priority", "must be from 0 to 1000"),
        ("members[8].enabled", "must be false"),
        ("members[9].account_id", "is listed more than once"),
        ("members[9].daily_cap", "must be a positive amount"),
        ("members[9].monthly_cap", "must be a positive amount"),
    ];
    for (field, message) in expected {
        let got = details[field].as_str().unwrap_or_default();
        assert!(got.contains(message), "{field}: {got:?} in {body}");
    }
    assert_eq!(details.as_object().unwrap().len(), expected.len(), "{body}");

    // Caps: the day may not exceed the month; more than 50 members is refused.
    let (status, body) = put(
        &app,
        &admin,
        &routing(&m),
        json!({ "version": 1, "mode": "priority", "members": [{ "account_id": fine, "daily_cap": 600, "monthly_cap": 500 }] }),
    )
    .await;
    let details = expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert_eq!(
        details,
        json!({ "members[0].daily_cap": "must not exceed monthly_cap" })
    );
    let many: Vec<Value> = (0..51)
        .map(|i| json!({ "account_id": format!("gwa_{i:032x}") }))
        .collect();
    let (status, body) = put(
        &app,
        &admin,
        &routing(&m),
        json!({ "version": 1, "mode": "priority", "members": many }),
    )
    .await;
    let details = expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert!(
        details["members"].as_str().unwrap().contains("at most 50"),
        "{body}"
    );
    // Unknown fields and missing ones are named too.
    let (status, body) = put(
        &app,
        &admin,
        &routing(&m),
        json!({ "version": 1, "mode": "priority", "members": [{ "account_id": fine, "share": 3 }] }),
    )
    .await;
    let details = expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert!(
        details["members[0]"].is_string() || details["members[0].share"].is_string(),
        "{body}"
    );
    let (status, body) = put(
        &app,
        &admin,
        &routing(&m),
        json!({ "mode": "priority", "members": [] }),
    )
    .await;
    expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");

    let untouched = pool(&app, &admin, &m).await;
    assert_eq!(untouched["version"], 1);
    assert_eq!(untouched["members"], json!([]));
    assert!(audit_rows(&app, &m).await.is_empty());

    // A disabled account may stay as a disabled member; a live one once live mode is enabled.
    let (status, body) = send(
        app.http
            .patch(app.url(&format!("/api/v1/admin/merchants/{}", m.id)))
            .bearer_auth(&admin)
            .json(&json!({ "live_enabled": true })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = put(
        &app,
        &admin,
        &routing(&m),
        json!({
            "version": 1,
            "mode": "smart",
            "members": [
                { "account_id": fine },
                { "account_id": disabled, "enabled": false },
                { "account_id": live },
            ],
        }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let members = body["data"]["members"].as_array().unwrap();
    assert_eq!(members.len(), 3);
    assert_eq!(members[1]["account_status"], "disabled");
    assert_eq!(members[1]["enabled"], false);
    assert_eq!(members[2]["environment"], "live");
}

#[tokio::test]
async fn a_stale_version_is_refused_and_of_two_racing_edits_exactly_one_wins() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Chai Point").await;
    let a = account(&app, None, Mode::Test, "A").await;
    let b = account(&app, None, Mode::Test, "B").await;

    let first = json!({ "version": 1, "mode": "priority", "members": [{ "account_id": a }] });
    let (status, body) = put(&app, &admin, &routing(&m), first.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let current = body["data"].clone();

    // The same edit again, based on version 1: refused, nothing changes.
    let stale = json!({ "version": 1, "mode": "weighted", "members": [{ "account_id": b }] });
    let (status, body) = put(&app, &admin, &routing(&m), stale).await;
    expect_error(status, &body, StatusCode::CONFLICT, "CONFLICT");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("version 2"),
        "{body}"
    );
    assert_eq!(pool(&app, &admin, &m).await, current);
    assert_eq!(
        stored(&app, &m).await,
        vec![(a.clone(), 0, 100, true, None, None)]
    );

    // Adding an account elsewhere (`add_to_pool`) moves the version too.
    {
        let mut client = app.app.db.client().await.unwrap();
        let tx = db::begin(&mut client, Scope::System).await.unwrap();
        gateway_accounts::add_to_pool(&tx, m.id.parse().unwrap(), b.parse().unwrap(), 7)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    let (status, body) = put(
        &app,
        &admin,
        &routing(&m),
        json!({ "version": 2, "mode": "priority", "members": [] }),
    )
    .await;
    expect_error(status, &body, StatusCode::CONFLICT, "CONFLICT");
    assert_eq!(
        stored(&app, &m).await.len(),
        2,
        "the stale edit removed nothing"
    );

    // Two operators edit version N at once, many times: exactly one wins each round, and the
    // pool is the winner's.
    let other_admin = app.admin_token().await;
    for round in 0..6 {
        let version = pool(&app, &admin, &m).await["version"].as_i64().unwrap();
        let left = json!({ "version": version, "mode": "priority", "members": [{ "account_id": a, "priority": round }] });
        let right = json!({ "version": version, "mode": "weighted", "members": [{ "account_id": b, "weight": 10 + round }] });
        let path = routing(&m);
        let ((s1, b1), (s2, b2)) = tokio::join!(
            put(&app, &admin, &path, left),
            put(&app, &other_admin, &path, right),
        );
        let statuses = [s1, s2];
        assert!(
            statuses.contains(&StatusCode::OK) && statuses.contains(&StatusCode::CONFLICT),
            "round {round}: {s1} {b1} / {s2} {b2}"
        );
        let winner = if s1 == StatusCode::OK { &b1 } else { &b2 };
        let loser = if s1 == StatusCode::OK { &b2 } else { &b1 };
        assert_eq!(loser["error"]["code"], "CONFLICT", "{loser}");
        assert_eq!(winner["data"]["version"], version + 1);
        assert_eq!(
            pool(&app, &admin, &m).await,
            winner["data"],
            "round {round}"
        );
    }
    let replaced = audit_rows(&app, &m)
        .await
        .iter()
        .filter(|r| r.0 == "routing_pool.replaced")
        .count();
    assert_eq!(replaced, 1 + 6, "one audit row per edit that took effect");
}

#[tokio::test]
async fn priorities_change_in_one_call_for_members_only() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Chai Point").await;
    let a = account(&app, None, Mode::Test, "A").await;
    let b = account(&app, None, Mode::Test, "B").await;
    let c = account(&app, None, Mode::Test, "C").await;
    let outsider = account(&app, None, Mode::Test, "Not in the pool").await;
    let (status, body) = put(
        &app,
        &admin,
        &routing(&m),
        json!({
            "version": 1,
            "mode": "priority",
            "members": [
                { "account_id": a, "priority": 0, "weight": 10, "daily_cap": 5000 },
                { "account_id": b, "priority": 1, "enabled": false },
                { "account_id": c, "priority": 2 },
            ],
        }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let priorities = format!("{}/priorities", routing(&m));

    let (status, body) = patch(
        &app,
        &admin,
        &priorities,
        json!({ "version": 2, "priorities": [
            { "account_id": a, "priority": 20 },
            { "account_id": outsider, "priority": 1 },
            { "account_id": b, "priority": 2000 },
            { "account_id": a, "priority": 3 },
        ] }),
    )
    .await;
    let details = expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert_eq!(
        details,
        json!({
            "priorities[1].account_id": "is not a member of this pool",
            "priorities[2].priority": "must be from 0 to 1000",
            "priorities[3].account_id": "is listed more than once",
        })
    );
    let (status, body) = patch(
        &app,
        &admin,
        &priorities,
        json!({ "version": 2, "priorities": [] }),
    )
    .await;
    let details = expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert!(details["priorities"].is_string(), "{body}");

    let (status, body) = patch(
        &app,
        &admin,
        &priorities,
        json!({ "version": 2, "priorities": [
            { "account_id": a, "priority": 20 },
            { "account_id": c, "priority": 0 },
        ] }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["version"], 3);
    assert_eq!(body["data"]["mode"], "priority");
    assert_eq!(
        stored(&app, &m).await,
        vec![
            (c.clone(), 0, 100, true, None, None),
            (b.clone(), 1, 100, false, None, None),
            (a.clone(), 20, 10, true, Some(5000), None),
        ],
        "only priorities changed"
    );

    // The same change based on version 2 again: refused, nothing changes.
    let (status, body) = patch(
        &app,
        &admin,
        &priorities,
        json!({ "version": 2, "priorities": [{ "account_id": a, "priority": 0 }] }),
    )
    .await;
    expect_error(status, &body, StatusCode::CONFLICT, "CONFLICT");
    assert_eq!(stored(&app, &m).await[2].1, 20);

    let rows = audit_rows(&app, &m).await;
    let (action, _, _, before, after) = rows.last().unwrap();
    assert_eq!(action, "routing_pool.priorities_changed");
    assert_eq!(before["version"], 2);
    assert_eq!(after["version"], 3);
    assert_eq!(after, &pool(&app, &admin, &m).await);
}

#[tokio::test]
async fn a_merchant_reads_its_own_pool_without_platform_caps_or_credentials_and_cannot_edit_it() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Chai Point").await;
    let other = app.create_merchant(&admin, "Dosa Plaza").await;
    let platform = account(&app, None, Mode::Test, "Platform Razorpay (secret label)").await;
    let own = account(&app, Some(&m), Mode::Test, "Chai Point's Razorpay").await;
    let live = account(&app, None, Mode::Live, "Platform live").await;
    let (status, body) = send(
        app.http
            .patch(app.url(&format!("/api/v1/admin/merchants/{}", m.id)))
            .bearer_auth(&admin)
            .json(&json!({ "live_enabled": true })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = put(
        &app,
        &admin,
        &routing(&m),
        json!({
            "version": 1,
            "mode": "weighted",
            "members": [
                { "account_id": platform, "weight": 60, "daily_cap": 777_000, "monthly_cap": 9_999_000 },
                { "account_id": own, "weight": 40, "monthly_cap": 123_000 },
                { "account_id": live, "priority": 9 },
            ],
        }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // With the test key pair: the test members only.
    let (status, body) = app
        .get_with_key("/api/v1/merchant/routing", &m.client_key, &m.client_secret)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let data = &body["data"];
    assert_eq!(data["mode"], "weighted");
    assert_eq!(data["version"], 2);
    assert_eq!(data["environment"], "test");
    assert_eq!(
        data["members"],
        json!([
            {
                "account_id": platform, "provider": "razorpay", "ownership": "platform",
                "priority": 0, "weight": 60, "enabled": true, "account_status": "active",
            },
            {
                "account_id": own, "provider": "razorpay", "ownership": "merchant",
                "label": "Chai Point's Razorpay", "priority": 1, "weight": 40,
                "daily_cap": null, "monthly_cap": 123_000, "enabled": true,
                "account_status": "active",
            },
        ])
    );
    let text = body.to_string();
    for hidden in [
        "secret label",
        "777000",
        "9999000",
        SECRET,
        "hmac:",
        "credentials",
    ] {
        assert!(!text.contains(hidden), "{hidden} shown: {text}");
    }

    // A dashboard session in live mode sees the live member.
    let token = m.token(&app).await;
    let (status, body) = send(
        app.http
            .get(app.url("/api/v1/merchant/routing"))
            .bearer_auth(&token)
            .header("X-Mode", "live"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["environment"], "live");
    let members = body["data"]["members"].as_array().unwrap();
    assert_eq!(members.len(), 1, "{body}");
    assert_eq!(members[0]["account_id"], live.as_str());

    // Another merchant sees its own (empty) pool, nothing of this one.
    let (status, body) = app
        .get_with_key(
            "/api/v1/merchant/routing",
            &other.client_key,
            &other.client_secret,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["members"], json!([]));

    // The merchant may not edit or read through the admin routes; operators use those.
    let (status, body) = put(
        &app,
        &token,
        &routing(&m),
        json!({ "version": 2, "mode": "priority", "members": [] }),
    )
    .await;
    expect_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
    let (status, body) = send(
        app.http
            .put(app.url(&routing(&m)))
            .header("X-Client-Key", &m.client_key)
            .header("X-Client-Secret", &m.client_secret)
            .json(&json!({ "version": 2, "mode": "priority", "members": [] })),
    )
    .await;
    expect_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
    let (status, body) = patch(
        &app,
        &token,
        &format!("{}/priorities", routing(&m)),
        json!({ "version": 2, "priorities": [{ "account_id": own, "priority": 0 }] }),
    )
    .await;
    expect_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
    let (status, body) = app.get(&routing(&m), Some(&token)).await;
    expect_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
    let (status, body) = app.get("/api/v1/merchant/routing", Some(&admin)).await;
    expect_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
    assert_eq!(
        pool(&app, &admin, &m).await["version"],
        2,
        "nothing changed"
    );
}
