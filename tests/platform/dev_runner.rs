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

/// A second `dev` on the port a running one holds fails before it migrates, seeds or starts
/// anything: the running instance's credentials stay valid and their file unchanged. Started
/// again once the first has stopped, `dev` keeps the same demo credentials.
#[tokio::test]
async fn a_second_dev_on_a_busy_port_changes_nothing_and_a_restart_keeps_the_credentials() {
    let (mut first, db, creds, dir) = start_dev(&[]).await;
    let port = first.base.rsplit(':').next().unwrap().to_string();
    let file = dir.join("dev-credentials.json");
    let written = std::fs::read_to_string(&file).unwrap();
    // Every file the first one wrote, with when it was last written: the second touches none.
    let stamps = || {
        ["dev-credentials.json", "dev-secrets.json", "lambda.env"].map(|name| {
            std::fs::metadata(dir.join(name))
                .unwrap()
                .modified()
                .unwrap()
        })
    };
    let before = stamps();
    let vars: BTreeMap<String, String> = [
        ("LSP_STATE_DIR", dir.to_str().unwrap()),
        ("LSP_DEV_DB_NAME", db.name.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.into(), v.into()))
    .collect();
    let second = std::process::Command::new(env!("CARGO_BIN_EXE_lightspeedpay"))
        .arg("dev")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(&vars)
        .env("PORT", &port)
        .current_dir(&dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot listen on 127.0.0.1:{port}"))
            && stderr.contains("nothing was started or changed"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), written);
    assert_eq!(stamps(), before, "the second dev wrote nothing");
    let client = reqwest::Client::new();
    let login = |base: String| {
        let client = client.clone();
        let body =
            serde_json::json!({"email": creds["admin_email"], "password": creds["admin_password"]});
        async move {
            client
                .post(format!("{base}/api/v1/auth/login"))
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(login(first.base.clone()).await, StatusCode::OK);
    assert!(first.terminate().success());

    let mut again = Process::start("dev", &vars, &dir, free_port());
    again.wait_healthy().await;
    let kept: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(kept, creds, "a restart keeps the demo credentials");
    assert_eq!(login(again.base.clone()).await, StatusCode::OK);
    assert!(again.terminate().success());
}
