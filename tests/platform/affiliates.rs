//! Affiliates through the operators' API: added, listed, read, merchants linked, relinked and
//! unlinked, every change audited, bad input refused, and merchants kept out.

use crate::ledger_reports::call;
use crate::support::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn add(app: &TestApp, admin: &str, name: &str, email: &str) -> (StatusCode, Value) {
    app.post_json(
        "/api/v1/admin/affiliates",
        Some(admin),
        json!({ "name": name, "email": email }),
    )
    .await
}

fn link_path(m: &Merchant) -> String {
    format!("/api/v1/admin/merchants/{}/affiliate", m.id)
}

#[tokio::test]
async fn affiliates_are_added_listed_linked_relinked_and_unlinked_with_an_audit_trail() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Chai Point").await;

    let (status, body) = add(
        &app,
        &admin,
        "  Kirana Connect ",
        "Partners@KiranaConnect.example",
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let a = body["data"].clone();
    assert_eq!(a["name"], "Kirana Connect");
    assert_eq!(a["email"], "partners@kiranaconnect.example");
    assert_eq!(a["merchant_count"], 0);
    let a_id = a["id"].as_str().unwrap().to_string();
    assert!(a_id.starts_with("aff_"));
    // One email, one affiliate (whatever its case).
    let (status, body) = add(
        &app,
        &admin,
        "Someone else",
        "PARTNERS@kiranaconnect.example",
    )
    .await;
    expect_error(status, &body, StatusCode::CONFLICT, "CONFLICT");
    for (name, email, field) in [
        ("", "x@example.in", "name"),
        ("Name", "not-an-email", "email"),
        (&"n".repeat(201) as &str, "y@example.in", "name"),
    ] {
        let (status, body) = add(&app, &admin, name, email).await;
        let details = expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        assert!(details.get(field).is_some(), "{details}");
    }
    let (status, body) = app
        .post_json(
            "/api/v1/admin/affiliates",
            Some(&admin),
            json!({ "name": "X", "email": "x@example.in", "bps": 1 }),
        )
        .await;
    let details = expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert!(details.get("bps").is_some(), "{details}");
    let (status, body) = add(&app, &admin, "Bazaar Partners", "hello@bazaar.example").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let b_id = body["data"]["id"].as_str().unwrap().to_string();
    let (status, _) = add(&app, &admin, "Third", "third@bazaar.example").await;
    assert_eq!(status, StatusCode::CREATED);

    // Newest first, a page at a time.
    let (status, body) = app
        .get("/api/v1/admin/affiliates?limit=2", Some(&admin))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let page = body["data"]["items"].as_array().unwrap();
    assert_eq!(page.len(), 2);
    assert_eq!(page[1]["id"], b_id.as_str());
    assert_eq!(body["data"]["has_more"], true);
    let (_, body) = app
        .get(
            &format!("/api/v1/admin/affiliates?limit=2&starting_after={b_id}"),
            Some(&admin),
        )
        .await;
    assert_eq!(body["data"]["items"][0]["id"], a_id.as_str());
    assert_eq!(body["data"]["has_more"], false);
    let (status, body) = app
        .get(
            "/api/v1/admin/affiliates?starting_after=mer_1",
            Some(&admin),
        )
        .await;
    expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");

    // Reading one: nothing accrued, no merchants yet; unknown and malformed ids.
    let (status, body) = app
        .get(&format!("/api/v1/admin/affiliates/{a_id}"), Some(&admin))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["accrued_commission"], json!([]));
    assert_eq!(body["data"]["merchants"], json!([]));
    let nobody = shared::ids::AffiliateId::generate();
    let (status, body) = app
        .get(&format!("/api/v1/admin/affiliates/{nobody}"), Some(&admin))
        .await;
    expect_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    let (status, body) = app
        .get("/api/v1/admin/affiliates/aff_nope", Some(&admin))
        .await;
    expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");

    // Linking: bad bodies are refused with the field named, and nothing is linked.
    for (body, field) in [
        (
            json!({ "affiliate_id": a_id, "commission_bps": 10_001 }),
            "commission_bps",
        ),
        (
            json!({ "affiliate_id": a_id, "commission_bps": -1 }),
            "commission_bps",
        ),
        (
            json!({ "affiliate_id": m.id, "commission_bps": 100 }),
            "affiliate_id",
        ),
        (
            json!({ "affiliate_id": nobody.to_string(), "commission_bps": 100 }),
            "affiliate_id",
        ),
        (json!({ "commission_bps": 100 }), "affiliate_id"),
        (json!({ "affiliate_id": a_id }), "commission_bps"),
    ] {
        let (status, answer) = call(
            &app,
            Method::PUT,
            &link_path(&m),
            &admin,
            Some(body.clone()),
        )
        .await;
        let details = expect_error(status, &answer, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        assert!(
            details.get(field).is_some(),
            "{body} should name {field}: {details}"
        );
    }
    let unknown = format!(
        "/api/v1/admin/merchants/{}/affiliate",
        shared::ids::MerchantId::generate()
    );
    let (status, body) = call(
        &app,
        Method::PUT,
        &unknown,
        &admin,
        Some(json!({ "affiliate_id": a_id, "commission_bps": 100 })),
    )
    .await;
    expect_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    let (status, body) = call(&app, Method::DELETE, &link_path(&m), &admin, None).await;
    expect_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");

    let (status, body) = call(
        &app,
        Method::PUT,
        &link_path(&m),
        &admin,
        Some(json!({ "affiliate_id": a_id, "commission_bps": 2500 })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (
            body["data"]["merchant_id"].as_str(),
            body["data"]["affiliate_id"].as_str(),
            body["data"]["commission_bps"].as_i64(),
            body["data"]["merchant_name"].as_str()
        ),
        (
            Some(m.id.as_str()),
            Some(a_id.as_str()),
            Some(2500),
            Some("Chai Point")
        )
    );
    let (_, body) = app
        .get(&format!("/api/v1/admin/affiliates/{a_id}"), Some(&admin))
        .await;
    assert_eq!(body["data"]["merchant_count"], 1);
    assert_eq!(body["data"]["merchants"][0]["merchant_id"], m.id.as_str());
    // Relinking moves the merchant: future commission goes to the new affiliate at its rate.
    let (status, body) = call(
        &app,
        Method::PUT,
        &link_path(&m),
        &admin,
        Some(json!({ "affiliate_id": b_id, "commission_bps": 1000 })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, body) = app
        .get(&format!("/api/v1/admin/affiliates/{a_id}"), Some(&admin))
        .await;
    assert_eq!(body["data"]["merchants"], json!([]));
    let (_, body) = app
        .get(&format!("/api/v1/admin/affiliates/{b_id}"), Some(&admin))
        .await;
    assert_eq!(body["data"]["merchants"][0]["commission_bps"], 1000);

    // A merchant principal reaches none of it.
    let token = m.token(&app).await;
    let (status, body) = add(&app, &token, "Mine", "mine@example.in").await;
    expect_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
    let (status, body) = app.get("/api/v1/admin/affiliates", Some(&token)).await;
    expect_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
    let (status, body) = call(&app, Method::DELETE, &link_path(&m), &token, None).await;
    expect_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
    let (status, body) = send(
        app.http
            .put(app.url(&link_path(&m)))
            .header("X-Client-Key", &m.client_key)
            .header("X-Client-Secret", &m.client_secret)
            .json(&json!({ "affiliate_id": a_id, "commission_bps": 10_000 })),
    )
    .await;
    expect_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");

    // Unlinking answers the link that ended; a second time there is none.
    let (status, body) = call(&app, Method::DELETE, &link_path(&m), &admin, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["affiliate_id"], b_id.as_str());
    let (status, body) = call(&app, Method::DELETE, &link_path(&m), &admin, None).await;
    expect_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");

    // Every change is on the audit log, with what it was before and after.
    let rows = app
        .db
        .owner()
        .await
        .query(
            "SELECT action, target_id, before, after FROM audit_log
              WHERE action LIKE 'affiliate.%' OR action LIKE 'merchant.affiliate_%' ORDER BY id",
            &[],
        )
        .await
        .unwrap();
    let trail: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let created = |id: &str| ("affiliate.created".to_string(), id.to_string());
    assert_eq!(trail.len(), 6, "{trail:?}");
    assert_eq!(trail[0], created(&a_id));
    assert_eq!(trail[1], created(&b_id));
    assert_eq!(
        trail[3],
        ("merchant.affiliate_linked".to_string(), m.id.clone())
    );
    assert_eq!(
        trail[4],
        ("merchant.affiliate_linked".to_string(), m.id.clone())
    );
    assert_eq!(
        trail[5],
        ("merchant.affiliate_unlinked".to_string(), m.id.clone())
    );
    let (before, after): (Option<Value>, Option<Value>) = (rows[3].get(2), rows[3].get(3));
    assert_eq!(before, None);
    assert_eq!(after.unwrap()["commission_bps"], 2500);
    let (before, after): (Option<Value>, Option<Value>) = (rows[4].get(2), rows[4].get(3));
    assert_eq!(before.unwrap()["affiliate_id"], a_id.as_str());
    assert_eq!(after.unwrap()["affiliate_id"], b_id.as_str());
    let (before, after): (Option<Value>, Option<Value>) = (rows[5].get(2), rows[5].get(3));
    assert_eq!(before.unwrap()["affiliate_id"], b_id.as_str());
    assert_eq!(after, None);
}
