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

mod egress {
    use shared::merchant_webhooks::egress::{
        Checked, EgressError, Policy, Resolver, SystemResolver, Timeouts, check, client_for,
    };
    use std::net::SocketAddr;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    const LIVE: Policy = Policy {
        https_only: true,
        allow_loopback: false,
    };
    const TEST: Policy = Policy {
        https_only: false,
        allow_loopback: false,
    };

    /// A resolver answering from a table, as a hostile DNS server could.
    struct Table(Vec<(&'static str, Vec<&'static str>)>);

    #[async_trait::async_trait]
    impl Resolver for Table {
        async fn lookup(&self, host: &str, port: u16) -> Vec<SocketAddr> {
            self.0
                .iter()
                .filter(|(name, _)| *name == host)
                .flat_map(|(_, ips)| {
                    ips.iter()
                        .map(move |ip| SocketAddr::new(ip.parse().unwrap(), port))
                })
                .collect()
        }
    }

    /// A loopback listener that counts the connections it accepts.
    async fn counting_listener() -> (u16, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                drop(socket);
            }
        });
        (port, accepted)
    }

    #[tokio::test]
    async fn private_loopback_and_metadata_receivers_are_refused_before_any_request() {
        let (port, accepted) = counting_listener().await;
        let table = Table(vec![
            ("rebind.example", vec!["93.184.215.14", "10.0.0.7"]),
            ("inside.example", vec!["192.168.0.10"]),
            ("public.example", vec!["93.184.215.14"]),
        ]);
        for url in [
            format!("http://127.0.0.1:{port}/hook"),
            "http://10.0.0.1/hook".to_string(),
            "http://169.254.169.254/latest/meta-data/".to_string(),
            format!("http://[::1]:{port}/hook"),
            format!("http://localhost:{port}/hook"),
            "http://rebind.example/hook".to_string(),
            "http://inside.example/hook".to_string(),
        ] {
            let refused = if url.contains("localhost") {
                check(&url, TEST, &SystemResolver).await
            } else {
                check(&url, TEST, &table).await
            };
            assert!(
                matches!(refused, Err(EgressError::Forbidden { .. })),
                "{url}: {refused:?}"
            );
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 0, "no connection was made");

        // Live mode takes https only; malformed or unresolvable URLs are refused with the reason.
        assert_eq!(
            check("http://public.example/hook", LIVE, &table).await,
            Err(EgressError::NotHttps)
        );
        assert_eq!(
            check("ftp://public.example/", TEST, &table).await,
            Err(EgressError::Url)
        );
        assert_eq!(
            check("not a url", TEST, &table).await,
            Err(EgressError::Url)
        );
        assert_eq!(
            check("https://nowhere.example/", LIVE, &table).await,
            Err(EgressError::Unresolved("nowhere.example".into()))
        );
        let ok = check("https://public.example/hook", LIVE, &table)
            .await
            .unwrap();
        assert_eq!(
            ok.addresses,
            vec!["93.184.215.14:443".parse::<SocketAddr>().unwrap()]
        );
    }

    #[tokio::test]
    async fn the_connection_goes_to_the_checked_address_and_no_redirect_is_followed() {
        // Local development may allow loopback receivers; the client then connects to the
        // checked address whatever the name would resolve to now, and a redirect is an answer,
        // not a hop.
        let server = wiremock::MockServer::start().await;
        wiremock::Mock::given(wiremock::matchers::path("/hook"))
            .respond_with(
                wiremock::ResponseTemplate::new(302).insert_header("location", "http://10.0.0.1/"),
            )
            .mount(&server)
            .await;
        let port = server.address().port();
        let dev = Policy {
            https_only: false,
            allow_loopback: true,
        };
        let table = Table(vec![("receiver.example", vec!["127.0.0.1"])]);
        let checked: Checked = check(&format!("http://receiver.example:{port}/hook"), dev, &table)
            .await
            .unwrap();
        let client = client_for(
            &checked,
            Timeouts {
                connect: Duration::from_secs(2),
                total: Duration::from_secs(5),
            },
        )
        .unwrap();
        let answer = client.post(checked.url.clone()).send().await.unwrap();
        assert_eq!(answer.status().as_u16(), 302);
        assert_eq!(server.received_requests().await.unwrap().len(), 1);
        // Without the setting, the same receiver is refused.
        assert!(matches!(
            check(
                &format!("http://receiver.example:{port}/hook"),
                TEST,
                &table
            )
            .await,
            Err(EgressError::Forbidden { .. })
        ));
    }
}
