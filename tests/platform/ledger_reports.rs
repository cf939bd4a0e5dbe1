//! Fee schedules and the ledger reports through the HTTP API, as an operator uses them: a fee
//! schedule set and read back, a payment captured through the sandbox booked at it (fee, GST
//! and an affiliate's commission, worked out by hand), the entries and accounts it wrote, and
//! the trial balance from the accounts and from the lines.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// `method` on `path` with an operator's (or merchant user's) bearer token and an optional body.
pub async fn call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = app.http.request(method, app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    send(request).await
}

fn fees(m: &Merchant) -> String {
    format!("/api/v1/admin/merchants/{}/fees", m.id)
}

/// Replaces `m`'s fee schedule, expecting success; answers the schedule.
pub async fn set_fees(app: &TestApp, admin: &str, m: &Merchant, body: Value) -> Value {
    let (status, answer) = call(app, reqwest::Method::PUT, &fees(m), admin, Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer["data"].clone()
}

#[tokio::test]
async fn a_fee_schedule_round_trips_and_bad_schedules_are_refused_whole() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Chai Point").await;

    // A new merchant has no rates of its own: the platform's default applies, and is shown.
    let (status, body) = app.get(&fees(&m), Some(&admin)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["data"],
        json!({
            "merchant_id": m.id,
            "default": null,
            "platform_default": { "rate_bps": 200, "fixed_fee": 0 },
            "methods": {},
            "refund_fee_policy": "retain",
        })
    );

    let schedule = json!({
        "default": { "rate_bps": 199, "fixed_fee": 300 },
        "methods": { "upi": { "rate_bps": 0, "fixed_fee": 0 }, "card": { "rate_bps": 250 } },
        "refund_fee_policy": "return",
    });
    let replaced = set_fees(&app, &admin, &m, schedule).await;
    let expected = json!({
        "merchant_id": m.id,
        "default": { "rate_bps": 199, "fixed_fee": 300 },
        "platform_default": { "rate_bps": 200, "fixed_fee": 0 },
        "methods": {
            "card": { "rate_bps": 250, "fixed_fee": 0 },
            "upi": { "rate_bps": 0, "fixed_fee": 0 },
        },
        "refund_fee_policy": "return",
    });
    assert_eq!(replaced, expected);
    let (status, body) = app.get(&fees(&m), Some(&admin)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], expected);
    // The merchant reads the same schedule, with its keys or its dashboard session.
    let (status, body) = app
        .get_with_key("/api/v1/merchant/fees", &m.client_key, &m.client_secret)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], expected);
    let token = m.token(&app).await;
    let (status, body) = app.get("/api/v1/merchant/fees", Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], expected);

    // Every problem of a bad schedule is named, and nothing of it is written.
    // Only the methods gateways report may have a rate: another name would never apply.
    let mut many = serde_json::Map::new();
    many.insert("credit_card".into(), json!({ "rate_bps": 1 }));
    many.insert("UPI".into(), json!({ "rate_bps": 1 }));
    many.insert(
        "card".into(),
        json!({ "rate_bps": 10_001, "fixed_fee": -1 }),
    );
    let (status, body) = call(
        &app,
        reqwest::Method::PUT,
        &fees(&m),
        &admin,
        Some(json!({
            "default": { "rate_bps": -1, "fixed_fee": 100_000_001 },
            "methods": many,
            "refund_fee_policy": "keep",
        })),
    )
    .await;
    let details = expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    let mut fields: Vec<&str> = details
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        vec![
            "default.fixed_fee",
            "default.rate_bps",
            "methods.UPI",
            "methods.card.fixed_fee",
            "methods.card.rate_bps",
            "methods.credit_card",
            "refund_fee_policy",
        ],
        "{details}"
    );
    for (bad, field) in [
        (
            json!({ "default": null, "methods": {} }),
            "refund_fee_policy",
        ),
        (
            json!({ "default": { "rate_bps": 1, "fee": 2 }, "refund_fee_policy": "retain" }),
            "default.fee",
        ),
        (
            json!({ "default": { "rate_bps": 1.5 }, "refund_fee_policy": "retain" }),
            "default.rate_bps",
        ),
        (
            json!({ "methods": { "upi": 3 }, "refund_fee_policy": "retain" }),
            "methods.upi",
        ),
    ] {
        let (status, body) = call(
            &app,
            reqwest::Method::PUT,
            &fees(&m),
            &admin,
            Some(bad.clone()),
        )
        .await;
        let details = expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        assert!(
            details.get(field).is_some(),
            "{bad} should name {field}: {details}"
        );
    }
    let (_, body) = app.get(&fees(&m), Some(&admin)).await;
    assert_eq!(body["data"], expected, "a refused schedule changes nothing");

    // A replacement is the whole schedule: what it leaves out is gone.
    let bare = set_fees(
        &app,
        &admin,
        &m,
        json!({ "default": null, "methods": { "upi": { "rate_bps": 5 } }, "refund_fee_policy": "retain" }),
    )
    .await;
    assert_eq!(bare["default"], Value::Null);
    assert_eq!(
        bare["methods"],
        json!({ "upi": { "rate_bps": 5, "fixed_fee": 0 } })
    );
    assert_eq!(bare["refund_fee_policy"], "retain");

    // Unknown and malformed merchants.
    let nobody = shared::ids::MerchantId::generate();
    let (status, body) = app
        .get(
            &format!("/api/v1/admin/merchants/{nobody}/fees"),
            Some(&admin),
        )
        .await;
    expect_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    let (status, body) = call(
        &app,
        reqwest::Method::PUT,
        &format!("/api/v1/admin/merchants/{nobody}/fees"),
        &admin,
        Some(json!({ "refund_fee_policy": "retain" })),
    )
    .await;
    expect_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    let (status, body) = app
        .get("/api/v1/admin/merchants/mer_nope/fees", Some(&admin))
        .await;
    let details = expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert!(details.get("id").is_some(), "{details}");

    // Merchants never reach the operators' routes, and operators read fees there, not here.
    let (status, body) = app.get(&fees(&m), Some(&token)).await;
    expect_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
    let (status, body) = send(
        app.http
            .put(app.url(&fees(&m)))
            .header("X-Client-Key", &m.client_key)
            .header("X-Client-Secret", &m.client_secret)
            .json(&json!({ "refund_fee_policy": "return" })),
    )
    .await;
    expect_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
    let (status, body) = app.get("/api/v1/merchant/fees", Some(&admin)).await;
    expect_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");

    // Each replacement is audited with the schedule before and after.
    let merchant: shared::ids::MerchantId = m.id.parse().unwrap();
    let rows = app
        .db
        .owner()
        .await
        .query(
            "SELECT actor_type, target_id, before, after FROM audit_log
              WHERE merchant_id = $1 AND action = 'merchant.fees_replaced' ORDER BY id",
            &[&merchant.as_uuid()],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    let (actor, target, before, after): (String, String, Value, Value) = (
        rows[0].get(0),
        rows[0].get(1),
        rows[0].get(2),
        rows[0].get(3),
    );
    assert_eq!((actor.as_str(), target.as_str()), ("user", m.id.as_str()));
    assert_eq!(before["default"], Value::Null);
    assert_eq!(after, expected);
    let second_before: Value = rows[1].get(2);
    assert_eq!(second_before, expected);
}

/// Pays `amount` with the sandbox (which pays at once) and processes everything; answers the
/// payment as the merchant reads it.
pub async fn paid(app: &TestApp, m: &Merchant, order: &str, amount: i64) -> Value {
    let (status, body) = app.pay(m, &payment(order, amount, true), None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["data"]["id"].as_str().unwrap().to_string();
    app.drain().await;
    let txn = app.transaction(m, &id).await;
    assert_eq!(txn["status"], "succeeded", "{txn}");
    txn
}

/// (code, owner kind, side, amount) of each line of an entry.
fn lines(entry: &Value) -> Vec<(String, String, String, i64)> {
    entry["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["code"].as_str().unwrap().to_string(),
                l["owner_kind"].as_str().unwrap().to_string(),
                l["side"].as_str().unwrap().to_string(),
                l["amount"].as_i64().unwrap(),
            )
        })
        .collect()
}

fn line(code: &str, owner: &str, side: &str, amount: i64) -> (String, String, String, i64) {
    (code.into(), owner.into(), side.into(), amount)
}

#[tokio::test]
async fn a_captured_payment_is_booked_with_fee_gst_and_commission_and_the_books_balance() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Chai Point").await;
    let other = app.create_merchant(&admin, "Dosa Corner").await;
    set_fees(
        &app,
        &admin,
        &m,
        json!({ "default": { "rate_bps": 199, "fixed_fee": 300 }, "refund_fee_policy": "retain" }),
    )
    .await;
    let (status, body) = app
        .post_json(
            "/api/v1/admin/affiliates",
            Some(&admin),
            json!({ "name": "Kirana Connect", "email": "partners@kiranaconnect.example" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let affiliate = body["data"]["id"].as_str().unwrap().to_string();
    let (status, body) = call(
        &app,
        reqwest::Method::PUT,
        &format!("/api/v1/admin/merchants/{}/affiliate", m.id),
        &admin,
        Some(json!({ "affiliate_id": affiliate, "commission_bps": 2500 })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // ₹999.99 at 1.99 % + ₹3, by hand: 99,999 × 199 / 10,000 = 1,989.98 → 1,990 paise;
    // + 300 = 2,290. GST 18 %: 412.2 → 412. The merchant is owed 99,999 − 2,290 − 412 = 97,297.
    // The affiliate's 25 % of our fee: 572.5 → 573 (half up).
    let txn = paid(&app, &m, "order-ledger-1", 99_999).await;
    assert_eq!(
        (txn["fee"].as_i64(), txn["gst"].as_i64()),
        (Some(2_290), Some(412)),
        "{txn}"
    );
    let txn_id = txn["id"].as_str().unwrap().to_string();
    // The other merchant pays at the platform's default, 2 %: 200 paise, GST 36; no affiliate.
    let other_txn = paid(&app, &other, "order-ledger-2", 10_000).await;
    assert_eq!(
        (other_txn["fee"].as_i64(), other_txn["gst"].as_i64()),
        (Some(200), Some(36))
    );
    // Operators see the same on the payment.
    let (status, body) = app
        .get(&format!("/api/v1/transactions/{txn_id}"), Some(&admin))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["data"]["fee"].as_i64(), body["data"]["gst"].as_i64()),
        (Some(2_290), Some(412))
    );

    // The commission accrued on the affiliate.
    let (status, body) = app
        .get(
            &format!("/api/v1/admin/affiliates/{affiliate}"),
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let detail = &body["data"];
    let accrued = detail["accrued_commission"].as_array().unwrap();
    assert_eq!(accrued.len(), 1, "{detail}");
    assert_eq!(
        (
            accrued[0]["mode"].as_str(),
            accrued[0]["currency"].as_str(),
            accrued[0]["amount"].as_i64()
        ),
        (Some("test"), Some("INR"), Some(573))
    );
    assert_eq!(detail["merchants"][0]["merchant_id"], m.id.as_str());
    assert_eq!(detail["merchants"][0]["commission_bps"], 2500);

    // The payment's entry, found by its payment.
    let (status, body) = app
        .get(
            &format!("/api/v1/admin/ledger/entries?transaction_id={txn_id}"),
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let items = body["data"]["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{body}");
    assert_eq!(body["data"]["has_more"], false);
    let entry = &items[0];
    assert_eq!(entry["kind"], "capture");
    assert_eq!(entry["mode"], "test");
    assert_eq!(entry["merchant_id"], m.id.as_str());
    assert_eq!(entry["transaction_id"], txn_id.as_str());
    assert!(
        entry["business_key"]
            .as_str()
            .unwrap()
            .starts_with("capture:att_")
    );
    assert_eq!(
        lines(entry),
        vec![
            line("gateway_clearing", "gateway_account", "debit", 99_999),
            line("merchant_payable", "merchant", "credit", 97_297),
            line("fee_revenue", "platform", "credit", 2_290),
            line("gst_payable", "platform", "credit", 412),
            line("commission_expense", "platform", "debit", 573),
            line("affiliate_payable", "affiliate", "credit", 573),
        ]
    );
    assert_eq!(entry["lines"][5]["owner_id"], affiliate.as_str());
    assert_eq!(entry["lines"][1]["owner_id"], m.id.as_str());
    assert_eq!(entry["lines"][2]["owner_id"], Value::Null);
    // By business key, by merchant, by kind, by time, a page at a time.
    let key = entry["business_key"].as_str().unwrap();
    let (_, body) = app
        .get(
            &format!("/api/v1/admin/ledger/entries?business_key={key}"),
            Some(&admin),
        )
        .await;
    assert_eq!(body["data"]["items"][0]["id"], entry["id"]);
    let (_, body) = app
        .get(
            &format!("/api/v1/admin/ledger/entries?merchant_id={}", other.id),
            Some(&admin),
        )
        .await;
    assert_eq!(body["data"]["items"].as_array().unwrap().len(), 1);
    assert_eq!(body["data"]["items"][0]["transaction_id"], other_txn["id"]);
    let (_, body) = app
        .get(
            "/api/v1/admin/ledger/entries?kind=capture&mode=test&limit=1",
            Some(&admin),
        )
        .await;
    let first = &body["data"]["items"][0];
    assert_eq!(body["data"]["has_more"], true);
    assert_eq!(first["transaction_id"], other_txn["id"], "newest first");
    let (_, body) = app
        .get(
            &format!(
                "/api/v1/admin/ledger/entries?kind=capture&limit=1&starting_after={}",
                first["id"].as_str().unwrap()
            ),
            Some(&admin),
        )
        .await;
    assert_eq!(body["data"]["items"][0]["id"], entry["id"]);
    assert_eq!(body["data"]["has_more"], false);
    for (query, count) in [
        ("kind=refund", 0),
        ("mode=live", 0),
        ("created_from=2000-01-01T00:00:00Z", 2),
        ("created_to=2000-01-01T00:00:00Z", 0),
    ] {
        let (status, body) = app
            .get(
                &format!("/api/v1/admin/ledger/entries?{query}"),
                Some(&admin),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            body["data"]["items"].as_array().unwrap().len(),
            count,
            "{query}"
        );
    }

    // The accounts it moved, with balances on their normal side.
    let (status, body) = app
        .get(
            &format!("/api/v1/admin/ledger/accounts?code=affiliate_payable&owner_id={affiliate}"),
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let accounts = body["data"]["items"].as_array().unwrap();
    assert_eq!(accounts.len(), 1, "{body}");
    let account = &accounts[0];
    assert_eq!(
        (
            account["debits"].as_i64(),
            account["credits"].as_i64(),
            account["balance"].as_i64(),
            account["lines"].as_i64(),
            account["normal_side"].as_str(),
            account["type"].as_str(),
        ),
        (
            Some(0),
            Some(573),
            Some(573),
            Some(1),
            Some("credit"),
            Some("liability")
        )
    );
    assert_eq!(account["id"], entry["lines"][5]["account_id"]);
    let (_, body) = app
        .get(
            &format!("/api/v1/admin/ledger/accounts?merchant_id={}", m.id),
            Some(&admin),
        )
        .await;
    let own = body["data"]["items"].as_array().unwrap();
    assert_eq!(own.len(), 1, "{body}");
    assert_eq!(
        (own[0]["code"].as_str(), own[0]["balance"].as_i64()),
        (Some("merchant_payable"), Some(97_297))
    );
    let (_, body) = app
        .get(
            "/api/v1/admin/ledger/accounts?code=gateway_clearing&mode=test&currency=INR",
            Some(&admin),
        )
        .await;
    let clearing = body["data"]["items"].as_array().unwrap();
    assert_eq!(clearing.len(), 1, "one sandbox account took both: {body}");
    assert_eq!(
        (
            clearing[0]["balance"].as_i64(),
            clearing[0]["normal_side"].as_str(),
            clearing[0]["lines"].as_i64()
        ),
        (Some(109_999), Some("debit"), Some(2))
    );
    let (_, body) = app
        .get(
            "/api/v1/admin/ledger/accounts?owner_id=platform&limit=2",
            Some(&admin),
        )
        .await;
    assert_eq!(body["data"]["items"].as_array().unwrap().len(), 2);
    assert_eq!(
        body["data"]["has_more"], true,
        "fee, GST and commission accounts: {body}"
    );
    let last = body["data"]["items"][1]["id"].as_str().unwrap().to_string();
    let (_, body) = app
        .get(
            &format!(
                "/api/v1/admin/ledger/accounts?owner_id=platform&limit=2&starting_after={last}"
            ),
            Some(&admin),
        )
        .await;
    assert_eq!(body["data"]["items"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(body["data"]["has_more"], false);

    // The trial balance: from the accounts and from the lines, and the two agree.
    let (status, body) = app
        .get("/api/v1/admin/ledger/trial-balance?mode=test", Some(&admin))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let tb = &body["data"];
    assert_eq!(
        (
            tb["mode"].as_str(),
            tb["balanced"].as_bool(),
            tb["agrees"].as_bool()
        ),
        (Some("test"), Some(true), Some(true)),
        "{tb}"
    );
    let inr = &tb["currencies"][0];
    assert_eq!(tb["currencies"].as_array().unwrap().len(), 1);
    assert_eq!(inr["currency"], "INR");
    // Debits: 109,999 into clearing + 573 of commission expense.
    assert_eq!(
        (inr["debits"].as_i64(), inr["credits"].as_i64()),
        (Some(110_572), Some(110_572))
    );
    assert_eq!(inr["balanced"], true);
    assert_eq!(
        inr["lines"],
        json!({ "debits": 110_572, "credits": 110_572, "count": 10, "balanced": true })
    );
    assert_eq!(
        (inr["agrees"].as_bool(), inr["disagreeing_count"].as_i64()),
        (Some(true), Some(0))
    );
    let by_code: Vec<(String, i64)> = inr["by_code"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["code"].as_str().unwrap().to_string(),
                c["balance"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        by_code,
        vec![
            ("gateway_clearing".to_string(), 109_999),
            ("merchant_payable".to_string(), 97_297 + 9_764),
            ("gst_payable".to_string(), 412 + 36),
            ("affiliate_payable".to_string(), 573),
            ("fee_revenue".to_string(), 2_290 + 200),
            ("commission_expense".to_string(), 573),
        ]
    );
    let (_, body) = app
        .get("/api/v1/admin/ledger/trial-balance?mode=live", Some(&admin))
        .await;
    assert_eq!(
        body["data"],
        json!({ "mode": "live", "balanced": true, "agrees": true, "currencies": [] })
    );

    // Bad filters are named.
    for (path, field) in [
        ("/api/v1/admin/ledger/trial-balance", "mode"),
        ("/api/v1/admin/ledger/trial-balance?mode=prod", "mode"),
        ("/api/v1/admin/ledger/accounts?code=cash", "code"),
        (
            "/api/v1/admin/ledger/accounts?owner_kind=bank",
            "owner_kind",
        ),
        (
            "/api/v1/admin/ledger/accounts?owner_id=usr_0190f0c2a4b87c3e9d1f2a3b4c5d6e7f",
            "owner_id",
        ),
        (
            "/api/v1/admin/ledger/accounts?owner_kind=merchant&owner_id=platform",
            "owner_kind",
        ),
        ("/api/v1/admin/ledger/accounts?currency=inr", "currency"),
        (
            "/api/v1/admin/ledger/accounts?merchant_id=m1",
            "merchant_id",
        ),
        (
            "/api/v1/admin/ledger/accounts?starting_after=le_1",
            "starting_after",
        ),
        ("/api/v1/admin/ledger/accounts?colour=red", "colour"),
        ("/api/v1/admin/ledger/entries?kind=payout", "kind"),
        (
            "/api/v1/admin/ledger/entries?transaction_id=42",
            "transaction_id",
        ),
        (
            "/api/v1/admin/ledger/entries?created_from=yesterday",
            "created_from",
        ),
        ("/api/v1/admin/ledger/entries?limit=1000", "limit"),
        ("/api/v1/admin/ledger/entries?mode=sandbox", "mode"),
    ] {
        let (status, body) = app.get(path, Some(&admin)).await;
        let details = expect_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        assert!(
            details.get(field).is_some(),
            "{path} should name {field}: {details}"
        );
    }

    // A merchant principal reaches none of it.
    let token = m.token(&app).await;
    for path in [
        "/api/v1/admin/ledger/trial-balance?mode=test",
        "/api/v1/admin/ledger/accounts",
        "/api/v1/admin/ledger/entries",
    ] {
        let (status, body) = app.get(path, Some(&token)).await;
        expect_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
        let (status, body) = app
            .get_with_key(path, &m.client_key, &m.client_secret)
            .await;
        expect_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
    }
}

#[tokio::test]
async fn a_refund_returning_our_fee_claws_back_its_share_of_commission_and_the_books_still_balance()
{
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Chai Point").await;
    set_fees(
        &app,
        &admin,
        &m,
        json!({ "default": { "rate_bps": 199, "fixed_fee": 300 }, "refund_fee_policy": "return" }),
    )
    .await;
    let (_, body) = app
        .post_json(
            "/api/v1/admin/affiliates",
            Some(&admin),
            json!({ "name": "Kirana Connect", "email": "partners@kiranaconnect.example" }),
        )
        .await;
    let affiliate = body["data"]["id"].as_str().unwrap().to_string();
    let (status, body) = call(
        &app,
        reqwest::Method::PUT,
        &format!("/api/v1/admin/merchants/{}/affiliate", m.id),
        &admin,
        Some(json!({ "affiliate_id": affiliate, "commission_bps": 2500 })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Captured as above: fee 2,290, GST 412, commission 573.
    let txn = paid(&app, &m, "order-ledger-refund", 99_999).await;
    let txn_id = txn["id"].as_str().unwrap().to_string();

    let (status, body) = send(
        app.http
            .post(app.url(&format!("/api/v1/transactions/{txn_id}/refunds")))
            .header("X-Client-Key", &m.client_key)
            .header("X-Client-Secret", &m.client_secret)
            .json(&json!({ "amount": 33_333 })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let refund_id = body["data"]["id"].as_str().unwrap().to_string();
    app.drain().await;
    let (_, body) = app
        .get(&format!("/api/v1/refunds/{refund_id}"), Some(&admin))
        .await;
    assert_eq!(body["data"]["status"], "succeeded", "{body}");

    // A third of the payment back, by hand: fee 2,290 × 33,333 / 99,999 = 763.33 → 763; GST
    // 412 × ⅓ = 137.33 → 137; the affiliate gives back 573 × 763 / 2,290 = 190.9 → 191.
    let (status, body) = app
        .get(
            &format!("/api/v1/admin/ledger/entries?transaction_id={txn_id}"),
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let items = body["data"]["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{body}");
    let back = &items[0];
    assert_eq!(
        (back["kind"].as_str(), back["refund_id"].as_str()),
        (Some("refund"), Some(refund_id.as_str())),
        "newest first"
    );
    assert_eq!(
        lines(back),
        vec![
            line("merchant_payable", "merchant", "debit", 33_333),
            line("gateway_clearing", "gateway_account", "credit", 33_333),
            line("fee_revenue", "platform", "debit", 763),
            line("gst_payable", "platform", "debit", 137),
            line("merchant_payable", "merchant", "credit", 900),
            line("affiliate_payable", "affiliate", "debit", 191),
            line("commission_expense", "platform", "credit", 191),
        ]
    );
    assert_eq!(back["memo"]["fee_policy"], "return");
    assert_eq!(items[1]["kind"], "capture");

    let (_, body) = app
        .get(
            &format!("/api/v1/admin/affiliates/{affiliate}"),
            Some(&admin),
        )
        .await;
    assert_eq!(body["data"]["accrued_commission"][0]["amount"], 573 - 191);
    let (_, body) = app
        .get(
            &format!("/api/v1/admin/ledger/accounts?code=affiliate_payable&owner_kind=affiliate&owner_id={affiliate}"),
            Some(&admin),
        )
        .await;
    let account = &body["data"]["items"][0];
    assert_eq!(
        (
            account["debits"].as_i64(),
            account["credits"].as_i64(),
            account["balance"].as_i64(),
            account["lines"].as_i64()
        ),
        (Some(191), Some(573), Some(382), Some(2))
    );

    let (_, body) = app
        .get("/api/v1/admin/ledger/trial-balance?mode=test", Some(&admin))
        .await;
    let tb = &body["data"];
    assert_eq!(
        (tb["balanced"].as_bool(), tb["agrees"].as_bool()),
        (Some(true), Some(true)),
        "{tb}"
    );
    let inr = &tb["currencies"][0];
    // Debits: 99,999 + 573 on the capture; 33,333 + 763 + 137 + 191 on the refund.
    assert_eq!(
        (inr["debits"].as_i64(), inr["credits"].as_i64()),
        (Some(134_996), Some(134_996)),
        "{inr}"
    );
    assert_eq!(inr["lines"]["count"], 13);
    let balance_of = |code: &str| {
        inr["by_code"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["code"] == code)
            .map(|c| c["balance"].as_i64().unwrap())
    };
    assert_eq!(balance_of("fee_revenue"), Some(2_290 - 763));
    assert_eq!(balance_of("gst_payable"), Some(412 - 137));
    assert_eq!(balance_of("commission_expense"), Some(573 - 191));
    assert_eq!(balance_of("gateway_clearing"), Some(99_999 - 33_333));
    assert_eq!(balance_of("merchant_payable"), Some(97_297 - 33_333 + 900));
}
