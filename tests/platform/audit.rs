//! The audit log records security-relevant and admin actions, and cannot be altered.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::json;

async fn actions(
    app: &TestApp,
) -> Vec<(
    String,
    String,
    Option<serde_json::Value>,
    Option<serde_json::Value>,
)> {
    app.db
        .owner()
        .await
        .query(
            "SELECT action, outcome, before, after FROM audit_log ORDER BY id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect()
}

#[tokio::test]
async fn logins_credentials_and_admin_changes_are_audited() {
    let app = TestApp::spawn().await;
    app.create_admin("auditor@lightspeedpay.test").await;
    let (_, body) = app
        .login("auditor@lightspeedpay.test", ADMIN_PASSWORD)
        .await;
    let admin = body["data"]["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        app.login("auditor@lightspeedpay.test", "not-the-password")
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );

    let m = app.create_merchant(&admin, "Audited Shop").await;
    let path = format!("/api/v1/admin/merchants/{}", m.id);
    let (status, _) = send(
        app.http
            .patch(app.url(&path))
            .bearer_auth(&admin)
            .json(&json!({"name": "Renamed Shop", "rate_limit_per_minute": 500})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app
        .post_json(
            &format!("{path}/suspend"),
            Some(&admin),
            json!({"reason": "chargeback review"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["status"], "suspended");
    let (status, _) = app
        .post_json(&format!("{path}/reactivate"), Some(&admin), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = send(
        app.http
            .post(app.url("/api/v1/merchant/credentials/regenerate"))
            .header("X-Client-Key", &m.client_key)
            .header("X-Client-Secret", &m.client_secret),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // The old pair stops working at once; the new one works.
    let own = format!("/api/v1/merchant/{}", m.id);
    assert_eq!(
        app.get_with_key(&own, &m.client_key, &m.client_secret)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    let (key, secret) = (
        body["data"]["client_key"].as_str().unwrap(),
        body["data"]["client_secret"].as_str().unwrap(),
    );
    assert_eq!(app.get_with_key(&own, key, secret).await.0, StatusCode::OK);

    let log = actions(&app).await;
    let find = |action: &str, outcome: &str| {
        log.iter()
            .find(|(a, o, _, _)| a == action && o == outcome)
            .cloned()
    };
    assert!(find("auth.login", "success").is_some(), "{log:?}");
    let failed = find("auth.login", "failure").expect("failed login audited");
    assert_eq!(failed.3.unwrap()["email"], "auditor@lightspeedpay.test");
    assert!(find("merchant.created", "success").is_some());
    let updated = find("merchant.updated", "success").expect("update audited");
    assert_eq!(updated.2.unwrap()["name"], "Audited Shop");
    assert_eq!(updated.3.unwrap()["name"], "Renamed Shop");
    let suspended = find("merchant.suspended", "success").expect("suspension audited");
    assert_eq!(
        suspended.3.unwrap()["suspended_reason"],
        "chargeback review"
    );
    assert!(find("merchant.reactivated", "success").is_some());
    assert!(find("merchant.credentials_regenerated", "success").is_some());
    let actor: String = app
        .db
        .owner()
        .await
        .query_one(
            "SELECT actor_type FROM audit_log WHERE action = 'merchant.credentials_regenerated'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(actor, "api_key");
}

#[tokio::test]
async fn the_audit_log_is_append_only() {
    let app = TestApp::spawn().await;
    app.create_admin("append@lightspeedpay.test").await;
    app.login("append@lightspeedpay.test", ADMIN_PASSWORD).await;
    assert!(app.db.count("audit_log").await > 0);

    // Neither the application role nor the owner may change or remove rows.
    for client in [app.db.app_role().await, app.db.owner().await] {
        client
            .batch_execute("BEGIN; SELECT set_config('app.scope', 'admin', true)")
            .await
            .unwrap();
        let update = client
            .batch_execute("UPDATE audit_log SET action = 'auth.nothing'")
            .await;
        assert!(update.is_err(), "UPDATE succeeded");
        client.batch_execute("ROLLBACK").await.unwrap();
        client
            .batch_execute("BEGIN; SELECT set_config('app.scope', 'admin', true)")
            .await
            .unwrap();
        assert!(
            client.batch_execute("DELETE FROM audit_log").await.is_err(),
            "DELETE succeeded"
        );
        client.batch_execute("ROLLBACK").await.unwrap();
        assert!(
            client.batch_execute("TRUNCATE audit_log").await.is_err(),
            "TRUNCATE succeeded"
        );
    }
    assert!(app.db.count("audit_log").await > 0);
}
