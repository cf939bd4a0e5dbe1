//! Rows are read by column name, fallibly: a row the code cannot read is a clear error for one
//! request, never a guess and never a crashed process.

use crate::support::*;
use reqwest::StatusCode;
use std::io::Write;
use std::sync::{Arc, Mutex};

/// Log output captured in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// A status the code does not know (written past a dropped CHECK, as a bad migration or manual
/// repair could) used to be shown as `created`; it is now a 500 whose log names the table and
/// column, and the next request is served as usual.
#[tokio::test]
async fn a_row_that_cannot_be_decoded_is_a_500_not_a_crash() {
    // The test runs on a current-thread runtime, so the server's tasks log through this
    // thread's subscriber.
    let logs = Captured::default();
    let writer = logs.clone();
    let _subscriber = tracing::subscriber::set_default(
        tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish(),
    );
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let m = app.create_merchant(&admin, "Decoding").await;
    let (status, bad) = app
        .pay(&m, &payment("ord-bad-row", 4200, false), None)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{bad}");
    let (status, good) = app
        .pay(&m, &payment("ord-good-row", 4200, false), None)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{good}");

    let owner = app.db.owner().await;
    owner
        .batch_execute(
            "ALTER TABLE transactions DROP CONSTRAINT transactions_status_check;
             UPDATE transactions SET status = 'teleported' WHERE order_id = 'ord-bad-row';",
        )
        .await
        .unwrap();

    let bad_id = bad["data"]["id"].as_str().unwrap();
    let response = app
        .http
        .get(app.url(&format!("/api/v1/transactions/{bad_id}")))
        .header("X-Client-Key", &m.client_key)
        .header("X-Client-Secret", &m.client_secret)
        .header("X-Request-Id", "decode-check-1")
        .send()
        .await
        .expect("the server answers instead of dropping the connection");
    assert_eq!(response.headers()["x-request-id"], "decode-check-1");
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap();
    expect_error(status, &body, StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL");
    assert!(
        !body.to_string().contains("teleported"),
        "the stored value stays out of the answer: {body}"
    );
    let log = logs
        .text()
        .lines()
        .find(|l| l.contains("decode-check-1"))
        .map(str::to_string)
        .unwrap_or_default();
    assert!(
        log.contains("reading transactions.status") && log.contains("teleported"),
        "the log names the table, the column and the value: {log:?}"
    );

    // The process keeps serving: the same merchant's other payment, and a new one.
    let good_id = good["data"]["id"].as_str().unwrap();
    assert_eq!(app.transaction(&m, good_id).await["status"], "created");
    let (status, body) = app.pay(&m, &payment("ord-after", 4200, false), None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}
