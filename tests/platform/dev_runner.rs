//! `lightspeedpay dev` from nothing: it creates and migrates its database, seeds the demo data,
//! serves every route, and stops cleanly.

use crate::support::*;
use reqwest::StatusCode;
use std::collections::BTreeMap;

/// Starts `lightspeedpay dev` on a database that does not exist yet; returns the process, the
/// database guard and the credentials it wrote.
pub async fn start_dev(
    extra: &[(&str, &str)],
) -> (Process, TestDb, serde_json::Value, std::path::PathBuf) {
    let dir = temp_dir("dev");
    let name = format!("lsp_t_{}", uuid::Uuid::new_v4().simple());
    let guard = TestDb {
        owner_url: String::new(),
        app_url: String::new(),
        name: name.clone(),
    };
    let mut vars: BTreeMap<String, String> = [
        ("LSP_STATE_DIR", dir.to_str().unwrap()),
        ("LSP_DEV_DB_NAME", name.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.into(), v.into()))
    .collect();
    for (k, v) in extra {
        vars.insert(k.to_string(), v.to_string());
    }
    let mut process = Process::start("dev", &vars, &dir, free_port());
    process.wait_healthy().await;
    let creds: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("dev-credentials.json")).unwrap())
            .unwrap();
    (process, guard, creds, dir)
}

#[tokio::test]
async fn dev_starts_from_nothing_serves_and_stops() {
    let (mut dev, _db, creds, _dir) = start_dev(&[]).await;
    let client = reqwest::Client::new();

    let health: serde_json::Value = client
        .get(format!("{}/api/health", dev.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["data"]["status"], "ok");

    let key = creds["client_key"].as_str().unwrap();
    let secret = creds["client_secret"].as_str().unwrap();
    assert!(key.starts_with("lsp_test_"));
    let merchant = creds["merchant_id"].as_str().unwrap();
    let response = client
        .get(format!("{}/api/v1/merchant/{merchant}", dev.base))
        .header("X-Client-Key", key)
        .header("X-Client-Secret", secret)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["data"]["name"], "Demo Store");

    let login: serde_json::Value = client
        .post(format!("{}/api/v1/auth/login", dev.base))
        .json(&serde_json::json!({"email": creds["admin_email"], "password": creds["admin_password"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["data"]["access_token"]
        .as_str()
        .expect("demo admin can log in");
    let status: serde_json::Value = client
        .get(format!("{}/api/v1/system/status", dev.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["data"]["status"], "ok", "{status}");

    // The banner tells a person what to paste.
    let banner = std::fs::read_to_string(&dev.stdout).unwrap();
    assert!(banner.contains(key) && banner.contains("curl"), "{banner}");

    let exit = dev.terminate();
    assert!(exit.success(), "dev exited with {exit}");
}
