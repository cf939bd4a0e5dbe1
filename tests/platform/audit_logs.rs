//! Reading the audit log: operators' filters each narrow to exactly the matching entries, pages
//! walk every entry once (entries written meanwhile do not shift them), a merchant sees only the
//! entries about itself with operators unnamed and operator-side details withheld, and bad input
//! or the wrong principal is refused.

use crate::support::*;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::HashSet;
use uuid::Uuid;

const ADMIN: &str = "/api/v1/admin/audit-logs";
const MERCHANT: &str = "/api/v1/merchant/audit-logs";

/// Who calls.
#[derive(Clone, Copy)]
enum Who<'a> {
    Token(&'a str),
    Key(&'a Merchant),
}

async fn list(
    app: &TestApp,
    who: Who<'_>,
    path: &str,
    query: &[(&str, &str)],
) -> (StatusCode, Value) {
    let request = app.http.get(app.url(path)).query(query);
    let request = match who {
        Who::Token(token) => request.bearer_auth(token),
        Who::Key(m) => request
            .header("X-Client-Key", &m.client_key)
            .header("X-Client-Secret", &m.client_secret),
    };
    send(request).await
}

/// Every entry the query matches, page by page (`limit` each), checking the pages on the way.
async fn walk(
    app: &TestApp,
    who: Who<'_>,
    path: &str,
    query: &[(&str, &str)],
    limit: usize,
) -> Vec<Value> {
    let limit_text = limit.to_string();
    let mut items: Vec<Value> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut q: Vec<(&str, &str)> = query.to_vec();
        q.push(("limit", &limit_text));
        if let Some(c) = &cursor {
            q.push(("starting_after", c));
        }
        let (status, body) = list(app, who, path, &q).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let page = body["data"]["items"].as_array().unwrap().clone();
        let has_more = body["data"]["has_more"].as_bool().unwrap();
        assert!(page.len() <= limit);
        assert!(
            !has_more || page.len() == limit,
            "a short page says there is no more"
        );
        items.extend(page);
        if !has_more {
            break;
        }
        cursor = Some(items.last().unwrap()["id"].as_i64().unwrap().to_string());
    }
    let ids: Vec<i64> = items.iter().map(|i| i["id"].as_i64().unwrap()).collect();
    assert!(
        ids.windows(2).all(|w| w[0] > w[1]),
        "newest first, no repeats: {ids:?}"
    );
    items
}

fn ids(items: &[Value]) -> Vec<i64> {
    items.iter().map(|i| i["id"].as_i64().unwrap()).collect()
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn uuid_of(merchant: &Merchant) -> Uuid {
    merchant
        .id
        .parse::<shared::ids::MerchantId>()
        .unwrap()
        .as_uuid()
}

/// One entry written straight into the log, as some past action would have.
struct Fixture<'a> {
    actor_type: &'a str,
    actor_id: Option<&'a str>,
    merchant: Option<Uuid>,
    action: &'a str,
    target: Option<(&'a str, &'a str)>,
    after: Option<Value>,
    occurred_at: DateTime<Utc>,
}

impl Fixture<'_> {
    fn new(action: &str) -> Fixture<'_> {
        Fixture {
            actor_type: "system",
            actor_id: None,
            merchant: None,
            action,
            target: None,
            after: None,
            occurred_at: Utc::now(),
        }
    }
}

async fn insert(app: &TestApp, f: Fixture<'_>) -> i64 {
    let (target_type, target_id) = f.target.unzip();
    app.db
        .owner()
        .await
        .query_one(
            "INSERT INTO audit_log (occurred_at, actor_type, actor_id, merchant_id, action, outcome,
                                    target_type, target_id, after, request_id, source_ip)
             VALUES ($1, $2, $3, $4, $5, 'success', $6, $7, $8, 'req-fixture', '198.51.100.7')
             RETURNING id",
            &[
                &f.occurred_at,
                &f.actor_type,
                &f.actor_id,
                &f.merchant,
                &f.action,
                &target_type,
                &target_id,
                &f.after,
            ],
        )
        .await
        .unwrap()
        .get("id")
}

/// The ids of the entries `predicate` (SQL over `audit_log`) holds for, newest first.
async fn truth(app: &TestApp, predicate: &str) -> Vec<i64> {
    app.db
        .owner()
        .await
        .query(
            &format!("SELECT id FROM audit_log WHERE {predicate} ORDER BY id DESC"),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get("id"))
        .collect()
}

/// The operator's public user id, from their login's entry.
async fn operator_id(app: &TestApp) -> String {
    app.db
        .owner()
        .await
        .query_one(
            "SELECT actor_id FROM audit_log WHERE action = 'auth.login' AND merchant_id IS NULL
              ORDER BY id LIMIT 1",
            &[],
        )
        .await
        .unwrap()
        .get("actor_id")
}

#[tokio::test]
async fn each_operator_filter_narrows_to_exactly_its_entries() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let a = app.create_merchant(&admin, "Chai Point").await;
    let b = app.create_merchant(&admin, "Dosa Hut").await;
    let (status, body) = send(
        app.http
            .patch(app.url(&format!("/api/v1/admin/merchants/{}", a.id)))
            .bearer_auth(&admin)
            .json(&json!({ "name": "Chai Point Two" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    a.token(&app).await;
    let now = Utc::now();
    let (ua, ub) = (uuid_of(&a), uuid_of(&b));
    insert(
        &app,
        Fixture {
            merchant: Some(ua),
            occurred_at: now - Duration::days(10),
            ..Fixture::new("merchant.suspended")
        },
    )
    .await;
    insert(
        &app,
        Fixture {
            merchant: Some(ub),
            occurred_at: now - Duration::days(5),
            ..Fixture::new("merchant.reactivated")
        },
    )
    .await;
    insert(
        &app,
        Fixture {
            merchant: Some(ua),
            target: Some(("merchant_return_secret", &a.id)),
            ..Fixture::new("merchant_return_secret.resealed")
        },
    )
    .await;

    let operator = operator_id(&app).await;
    let a_text = ua.to_string();
    let from = rfc3339(now - Duration::days(7));
    let to = rfc3339(now - Duration::days(3));
    let cases: Vec<(Vec<(&str, &str)>, String)> = vec![
        (
            vec![("actor_type", "system")],
            "actor_type = 'system'".into(),
        ),
        (
            vec![("actor_id", &operator)],
            format!("actor_id = '{operator}'"),
        ),
        (
            vec![("actor_type", "user"), ("actor_id", &operator)],
            format!("actor_type = 'user' AND actor_id = '{operator}'"),
        ),
        (
            vec![("action", "merchant.updated")],
            "action = 'merchant.updated'".into(),
        ),
        // The prefix stops at the dot: merchant_return_secret.resealed is not under merchant.
        (
            vec![("action", "merchant.*")],
            "action LIKE 'merchant.%'".into(),
        ),
        (
            vec![("target_type", "merchant"), ("target_id", &a.id)],
            format!("target_type = 'merchant' AND target_id = '{}'", a.id),
        ),
        (
            vec![("target_type", "merchant_return_secret")],
            "target_type = 'merchant_return_secret'".into(),
        ),
        (
            vec![("merchant_id", &a.id)],
            format!("merchant_id = '{a_text}'"),
        ),
        (
            vec![("from", &from), ("to", &to)],
            "occurred_at >= now() - interval '7 days' AND occurred_at < now() - interval '3 days'"
                .into(),
        ),
        (
            vec![
                ("merchant_id", &a.id),
                ("action", "merchant.*"),
                ("actor_type", "system"),
            ],
            format!(
                "merchant_id = '{a_text}' AND action LIKE 'merchant.%' AND actor_type = 'system'"
            ),
        ),
    ];
    let everything = truth(&app, "true").await;
    assert_eq!(
        ids(&walk(&app, Who::Token(&admin), ADMIN, &[], 100).await),
        everything
    );
    for (query, predicate) in cases {
        let want = truth(&app, &predicate).await;
        assert!(
            !want.is_empty() && want.len() < everything.len(),
            "{query:?} narrows: {want:?}"
        );
        let got = walk(&app, Who::Token(&admin), ADMIN, &query, 3).await;
        assert_eq!(ids(&got), want, "{query:?}");
    }
    // Operators see entries whole: the fixture's address and request id, the states.
    let (_, body) = list(
        &app,
        Who::Token(&admin),
        ADMIN,
        &[("action", "merchant_return_secret.resealed")],
    )
    .await;
    let entry = &body["data"]["items"][0];
    assert_eq!(entry["source_ip"], "198.51.100.7", "{entry}");
    assert_eq!(entry["merchant_id"], a.id.as_str());
    assert_eq!(entry["details_withheld"], false);
    let (_, body) = list(
        &app,
        Who::Token(&admin),
        ADMIN,
        &[("action", "merchant.updated")],
    )
    .await;
    let entry = &body["data"]["items"][0];
    assert_eq!(entry["actor_type"], "user");
    assert_eq!(entry["actor_id"], operator.as_str());
    assert_eq!(entry["after"]["name"], "Chai Point Two", "{entry}");
    assert_eq!(entry["before"]["name"], "Chai Point", "{entry}");
}

#[tokio::test]
async fn pages_walk_every_entry_once_while_entries_are_written() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    for _ in 0..23 {
        insert(&app, Fixture::new("merchant.updated")).await;
    }
    let before: Vec<i64> = truth(&app, "true").await;
    assert!(before.len() >= 24);
    // Page by page, writing two entries between pages.
    let mut seen: Vec<i64> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut query = vec![("limit", "5".to_string())];
        if let Some(c) = &cursor {
            query.push(("starting_after", c.clone()));
        }
        let query: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, body) = list(&app, Who::Token(&admin), ADMIN, &query).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let page = ids(body["data"]["items"].as_array().unwrap());
        seen.extend(&page);
        insert(&app, Fixture::new("merchant.updated")).await;
        insert(&app, Fixture::new("merchant.updated")).await;
        if !body["data"]["has_more"].as_bool().unwrap() {
            break;
        }
        cursor = Some(page.last().unwrap().to_string());
    }
    let unique: HashSet<i64> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "no entry twice: {seen:?}");
    assert_eq!(
        seen, before,
        "every entry there when the walk began, once, newest first"
    );
    // The entries written meanwhile are newer than the walk's first page.
    let (_, body) = list(&app, Who::Token(&admin), ADMIN, &[("limit", "1")]).await;
    assert!(body["data"]["items"][0]["id"].as_i64().unwrap() > before[0]);
}

#[tokio::test]
async fn a_merchant_sees_only_its_own_entries_with_operators_unnamed() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let a = app.create_merchant(&admin, "Chai Point").await;
    let b = app.create_merchant(&admin, "Dosa Hut").await;
    let (status, body) = send(
        app.http
            .patch(app.url(&format!("/api/v1/admin/merchants/{}", a.id)))
            .bearer_auth(&admin)
            .json(&json!({ "name": "Chai Point Two" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let a_token = a.token(&app).await;
    b.token(&app).await;
    let operator = operator_id(&app).await;
    let (ua, ub) = (uuid_of(&a), uuid_of(&b));
    // An operator's routing change (labels of platform accounts in its states), operator-side
    // actions never shown, a live-mode action, and an entry of B.
    let pool = insert(
        &app,
        Fixture {
            actor_type: "user",
            actor_id: Some(&operator),
            merchant: Some(ua),
            target: Some(("routing_pool", &a.id)),
            after: Some(json!({ "members": [{ "label": "platform razorpay", "daily_cap": 100 }] })),
            ..Fixture::new("routing_pool.replaced")
        },
    )
    .await;
    let hidden = [
        insert(
            &app,
            Fixture {
                actor_type: "user",
                actor_id: Some(&operator),
                merchant: Some(ua),
                ..Fixture::new("alert.acknowledged")
            },
        )
        .await,
        insert(
            &app,
            Fixture {
                actor_type: "user",
                actor_id: Some(&operator),
                merchant: Some(ua),
                after: Some(json!({ "commission_bps": 2500 })),
                ..Fixture::new("merchant.affiliate_linked")
            },
        )
        .await,
        insert(
            &app,
            Fixture {
                merchant: Some(ua),
                ..Fixture::new("gateway_account.resealed")
            },
        )
        .await,
        insert(
            &app,
            Fixture {
                merchant: Some(ua),
                after: Some(json!({ "mode": "live", "client_key": "lsp_live_x" })),
                ..Fixture::new("merchant.credentials_regenerated")
            },
        )
        .await,
        insert(
            &app,
            Fixture {
                merchant: Some(ub),
                ..Fixture::new("merchant.updated")
            },
        )
        .await,
    ];
    let test_mode = insert(
        &app,
        Fixture {
            merchant: Some(ua),
            after: Some(json!({ "mode": "test" })),
            ..Fixture::new("merchant.return_signing_secret_rotated")
        },
    )
    .await;

    let by_key = walk(&app, Who::Key(&a), MERCHANT, &[], 4).await;
    let by_user = walk(&app, Who::Token(&a_token), MERCHANT, &[], 100).await;
    assert_eq!(
        ids(&by_key),
        ids(&by_user),
        "key pair and user see the same log"
    );
    let a_entries: HashSet<i64> = truth(&app, &format!("merchant_id = '{ua}'"))
        .await
        .into_iter()
        .collect();
    let seen: HashSet<i64> = ids(&by_key).into_iter().collect();
    let hidden: HashSet<i64> = hidden.into_iter().collect();
    assert_eq!(
        seen,
        &a_entries - &hidden,
        "all of A's entries but the hidden ones"
    );
    assert!(seen.contains(&pool) && seen.contains(&test_mode));
    for entry in &by_key {
        assert_eq!(entry["merchant_id"], a.id.as_str(), "{entry}");
        assert_ne!(entry["actor_id"], operator.as_str(), "{entry}");
    }
    // The operator's change: who is withheld, what is shown (the merchant's own settings).
    let renamed = by_key
        .iter()
        .find(|e| e["action"] == "merchant.updated")
        .unwrap();
    assert_eq!(renamed["actor_type"], "operator", "{renamed}");
    assert_eq!(renamed["actor_id"], Value::Null);
    assert_eq!(renamed["source_ip"], Value::Null);
    assert_eq!(renamed["request_id"], Value::Null);
    assert_eq!(renamed["after"]["name"], "Chai Point Two");
    // The routing change: its states are operators' and withheld.
    let routing = by_key.iter().find(|e| e["id"] == pool).unwrap();
    assert_eq!(routing["details_withheld"], true, "{routing}");
    assert_eq!(
        (&routing["before"], &routing["after"]),
        (&Value::Null, &Value::Null)
    );
    // The merchant's own user's login keeps its id and address.
    let login = by_key.iter().find(|e| e["action"] == "auth.login").unwrap();
    assert_eq!(login["actor_type"], "user");
    assert!(
        login["actor_id"].as_str().unwrap().starts_with("usr_"),
        "{login}"
    );
    assert!(login["request_id"].is_string(), "{login}");

    // Filters apply within the merchant's own entries.
    let by_operators = walk(
        &app,
        Who::Key(&a),
        MERCHANT,
        &[("actor_type", "operator")],
        100,
    )
    .await;
    assert!(!by_operators.is_empty());
    assert!(
        by_operators
            .iter()
            .all(|e| e["actor_type"] == "operator" && e["actor_id"].is_null())
    );
    let by_users = walk(&app, Who::Key(&a), MERCHANT, &[("actor_type", "user")], 100).await;
    assert!(!by_users.is_empty());
    assert!(
        by_users.iter().all(|e| e["action"] == "auth.login"),
        "{by_users:?}"
    );
    let own_user = login["actor_id"].as_str().unwrap();
    let mine = walk(&app, Who::Key(&a), MERCHANT, &[("actor_id", own_user)], 100).await;
    assert_eq!(ids(&mine), ids(&by_users));
    // An operator's id names nothing to a merchant.
    let (status, body) = list(&app, Who::Key(&a), MERCHANT, &[("actor_id", &operator)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["items"], json!([]));
    let (_, body) = list(
        &app,
        Who::Key(&a),
        MERCHANT,
        &[("action", "merchant.affiliate_linked")],
    )
    .await;
    assert_eq!(
        body["data"]["items"],
        json!([]),
        "hidden actions stay hidden when asked for"
    );
    let by_target = walk(
        &app,
        Who::Key(&a),
        MERCHANT,
        &[("target_type", "routing_pool"), ("target_id", &a.id)],
        100,
    )
    .await;
    assert_eq!(ids(&by_target), [pool]);

    // B sees none of A's, nor platform entries.
    let b_seen = walk(&app, Who::Key(&b), MERCHANT, &[], 100).await;
    assert!(!b_seen.is_empty());
    assert!(
        b_seen.iter().all(|e| e["merchant_id"] == b.id.as_str()),
        "{b_seen:?}"
    );
    assert!(
        b_seen
            .iter()
            .all(|e| !seen.contains(&e["id"].as_i64().unwrap()))
    );
}

#[tokio::test]
async fn bad_input_and_the_wrong_principal_are_refused() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Chai Point").await;
    let bad: &[(&[(&str, &str)], &str)] = &[
        (&[("starting_after", "abc")], "starting_after"),
        (&[("starting_after", "0")], "starting_after"),
        (&[("limit", "0")], "limit"),
        (&[("limit", "101")], "limit"),
        (&[("from", "yesterday")], "from"),
        (&[("to", "2026-13-01T00:00:00Z")], "to"),
        (
            &[
                ("from", "2026-12-02T00:00:00Z"),
                ("to", "2026-12-01T00:00:00Z"),
            ],
            "from",
        ),
        (&[("actor_type", "robot")], "actor_type"),
        (&[("actor_id", "mer_0123")], "actor_id"),
        (
            &[
                ("actor_type", "system"),
                ("actor_id", "usr_0190f5a4c3e87d6b9a1b2c3d4e5f6a7b"),
            ],
            "actor_id",
        ),
        (&[("action", "merchant")], "action"),
        (&[("action", "merchant.%")], "action"),
        (&[("target_type", "Merchant")], "target_type"),
        (
            &[("target_id", "mer_0190f5a4c3e87d6b9a1b2c3d4e5f6a7b")],
            "target_id",
        ),
    ];
    for (who, path) in [(Who::Token(&admin), ADMIN), (Who::Key(&m), MERCHANT)] {
        for (query, field) in bad {
            let (status, body) = list(&app, who, path, query).await;
            let details = expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
            assert!(details[*field].is_string(), "{path} {query:?}: {body}");
        }
        let (status, body) = list(&app, who, path, &[("colour", "blue")]).await;
        expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    let (status, body) = list(
        &app,
        Who::Token(&admin),
        ADMIN,
        &[("merchant_id", "mer_nope")],
    )
    .await;
    expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    // Operators filter by merchant; a merchant has no such filter, nor `operator` for operators.
    let (status, body) = list(&app, Who::Key(&m), MERCHANT, &[("merchant_id", &m.id)]).await;
    expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    let (status, body) = list(
        &app,
        Who::Token(&admin),
        ADMIN,
        &[("actor_type", "operator")],
    )
    .await;
    expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");

    let m_token = m.token(&app).await;
    for who in [Who::Key(&m), Who::Token(&m_token)] {
        let (status, body) = list(&app, who, ADMIN, &[]).await;
        expect_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
    }
    let (status, body) = list(&app, Who::Token(&admin), MERCHANT, &[]).await;
    expect_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
    let (status, body) = send(app.http.get(app.url(ADMIN))).await;
    expect_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
}
