//! Merchant webhooks as a receiver meets them: the Standard Webhooks specification's own Python
//! library (`standardwebhooks`, installed by scripts/test) verifies what we sign.

use shared::merchant_webhooks::signature::{SigningSecret, sign};
use std::io::Write;
use std::process::{Command, Stdio};

/// Verifies a delivery with the Python library, as a merchant's server would; the error it
/// raised when it refuses.
fn python_verifies(
    secret: &SigningSecret,
    id: &str,
    timestamp: i64,
    signature: &str,
    body: &str,
) -> Result<(), String> {
    let script = "import sys\n\
from standardwebhooks.webhooks import Webhook\n\
secret, msg_id, ts, sig = sys.argv[1:5]\n\
body = sys.stdin.buffer.read()\n\
Webhook(secret).verify(body, {'webhook-id': msg_id, 'webhook-timestamp': ts, 'webhook-signature': sig})\n";
    let mut child = Command::new("python3")
        .args([
            "-c",
            script,
            secret.to_text().expose(),
            id,
            &timestamp.to_string(),
            signature,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 (scripts/test puts target/venv first on PATH)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("ModuleNotFoundError"),
        "the standardwebhooks package is missing: {stderr}"
    );
    if out.status.success() {
        Ok(())
    } else {
        Err(stderr.into_owned())
    }
}

#[test]
fn the_specifications_library_verifies_our_signatures_with_either_secret_during_a_rotation() {
    let old = SigningSecret::generate();
    let new = SigningSecret::generate();
    let now = chrono::Utc::now().timestamp();
    let id = format!("evt_{}", uuid::Uuid::now_v7().simple());
    let body =
        r#"{"id":"evt_1","type":"transaction.succeeded","data":{"amount":49900,"note":"chai ☕"}}"#;
    let headers = sign(&id, now, body.as_bytes(), &[&new, &old]);

    python_verifies(
        &new,
        &headers.id,
        headers.timestamp,
        &headers.signature,
        body,
    )
    .unwrap();
    python_verifies(
        &old,
        &headers.id,
        headers.timestamp,
        &headers.signature,
        body,
    )
    .unwrap();
    // After the grace only the new secret signs; the old one no longer verifies.
    let after = sign(&id, now, body.as_bytes(), &[&new]);
    python_verifies(&new, &after.id, after.timestamp, &after.signature, body).unwrap();
    let refused = python_verifies(&old, &after.id, after.timestamp, &after.signature, body);
    assert!(refused.unwrap_err().contains("WebhookVerificationError"));
    // An edited body, another id or a stale timestamp are refused.
    assert!(
        python_verifies(
            &new,
            &id,
            now,
            &headers.signature,
            &body.replace("49900", "99")
        )
        .is_err()
    );
    assert!(python_verifies(&new, "evt_other", now, &headers.signature, body).is_err());
    let stale = sign(&id, now - 3_600, body.as_bytes(), &[&new]);
    assert!(python_verifies(&new, &id, stale.timestamp, &stale.signature, body).is_err());
}
