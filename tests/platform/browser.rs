//! A person paying in headless Chromium: from `lightspeedpay dev`, the checkout URL opens the
//! sandbox's pay page, Pay is clicked, and the browser lands on the merchant's return URL with
//! the final status. Chromium is driven over the W3C WebDriver protocol (chromedriver).

use crate::dev_runner::start_dev;
use crate::support::*;
use serde_json::{Value, json};
use std::time::Duration;

/// A chromedriver process and one headless Chromium session.
pub struct Browser {
    driver: std::process::Child,
    base: String,
    session: String,
    http: reqwest::Client,
}

impl Browser {
    pub async fn start(profile: &std::path::Path) -> Browser {
        Browser::launch(profile, &[]).await
    }

    /// A Chromium that can reach only this machine: every other host name fails to resolve, so
    /// a page that needs the internet (a CDN, say) shows it.
    pub async fn start_offline(profile: &std::path::Path) -> Browser {
        Browser::launch(
            profile,
            &["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1"],
        )
        .await
    }

    async fn launch(profile: &std::path::Path, extra: &[&str]) -> Browser {
        let binary =
            std::env::var("LSP_TEST_CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
        let port = free_port();
        let driver = std::process::Command::new(&binary)
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("chromedriver must be installed: scripts/test installs Debian's chromium and chromium-driver");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        for _ in 0..100 {
            if http.get(format!("{base}/status")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut args: Vec<String> = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
        ]
        .iter()
        .chain(extra)
        .map(|a| a.to_string())
        .collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": std::env::var("LSP_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
                "args": args,
            },
        }}});
        let created: Value = http
            .post(format!("{base}/session"))
            .json(&capabilities)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {created}"))
            .to_string();
        Browser {
            driver,
            base,
            session,
            http,
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut request = self.http.request(method, url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request.send().await.unwrap().json().await.unwrap();
        answer["value"].clone()
    }

    pub async fn open(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    pub async fn url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub async fn text(&self, css: &str) -> String {
        let element = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await;
        let id = element
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no {css}: {element}"));
        self.call(reqwest::Method::GET, &format!("/element/{id}/text"), None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub async fn click(&self, css: &str) {
        let element = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await;
        let id = element
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no {css}: {element}"))
            .to_string();
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            Some(json!({})),
        )
        .await;
    }
}

impl Browser {
    /// The current page's markup.
    pub async fn source(&self) -> String {
        self.call(reqwest::Method::GET, "/source", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Runs `script` in the page; its return value.
    pub async fn execute(&self, script: &str) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({ "script": script, "args": [] })),
        )
        .await
    }

    /// Waits until the page's markup contains `needle`; whether it did.
    pub async fn wait_for_text(&self, needle: &str) -> bool {
        for _ in 0..150 {
            if self.source().await.contains(needle) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    /// Waits until the current URL starts with `prefix`; gives the URL.
    pub async fn wait_for_url(&self, prefix: &str) -> String {
        let mut url = String::new();
        for _ in 0..100 {
            url = self.url().await;
            if url.starts_with(prefix) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        url
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// The merchant's site: answers every request with a page naming the query it got.
async fn merchant_site() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let n = socket.read(&mut buf).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&buf[..n]).to_string();
                let target = request.split_whitespace().nth(1).unwrap_or("/").to_string();
                let body = format!(
                    "<html><body><h1 id=\"thanks\">Thank you</h1><p id=\"target\">{target}</p></body></html>"
                );
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    base
}

#[tokio::test]
async fn a_customer_pays_in_chromium_and_lands_on_the_merchants_return_url() {
    let (mut dev, _db, creds, dir) = start_dev(&[]).await;
    let shop = merchant_site().await;
    let http = reqwest::Client::new();
    let mut body = payment("order-chromium", 19_900, false);
    body["return_url"] = json!(format!("{shop}/orders/chromium/done"));
    let created: Value = http
        .post(format!("{}/api/v1/pay", dev.base))
        .header("X-Client-Key", creds["client_key"].as_str().unwrap())
        .header("X-Client-Secret", creds["client_secret"].as_str().unwrap())
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let checkout = created["data"]["checkout_url"]
        .as_str()
        .unwrap_or_else(|| panic!("{created}"))
        .to_string();
    let id = created["data"]["id"].as_str().unwrap().to_string();

    let browser = Browser::start(&dir.join("chromium-profile")).await;
    browser.open(&checkout).await;
    assert!(
        browser.url().await.contains("/sandbox/pay/sbx_order_"),
        "{}",
        browser.url().await
    );
    assert_eq!(browser.text("#amount").await, "₹199.00");
    browser.click("#pay").await;
    let mut landed = String::new();
    for _ in 0..50 {
        landed = browser.url().await;
        if landed.starts_with(&shop) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        landed.starts_with(&format!("{shop}/orders/chromium/done?")),
        "{landed}"
    );
    assert!(
        landed.contains("status=succeeded") && landed.contains(&format!("transaction_id={id}")),
        "{landed}"
    );
    assert_eq!(browser.text("#thanks").await, "Thank you");

    // The platform agrees, and the checkout link now shows the outcome.
    let txn: Value = http
        .get(format!("{}/api/v1/transactions/{id}", dev.base))
        .header("X-Client-Key", creds["client_key"].as_str().unwrap())
        .header("X-Client-Secret", creds["client_secret"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(txn["data"]["status"], "succeeded");
    browser.open(&checkout).await;
    assert_eq!(browser.text("#status").await, "succeeded");
    dev.terminate();
}
