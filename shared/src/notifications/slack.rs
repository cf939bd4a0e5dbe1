//! Slack: an incoming webhook (200 is success; Slack says only its 500 is worth retrying) or
//! `chat.postMessage` with the platform's bot token (failures are 200 with `"ok": false`; 429
//! carries `Retry-After`). A merchant's webhook URL is untrusted: checked where it resolves before
//! every message, and called at the checked address only.

use super::Notice;
use super::queue::{self, Outcome, Queue};
use super::recipients::{self, SlackTarget};
use super::whatsapp::{excerpt, retry_after};
use crate::App;
use crate::db::record::Record;
use crate::db::{self, Scope};
use crate::error::AppError;
use crate::ids::RecipientId;
use crate::merchant_webhooks::egress::{self, Policy, SystemResolver, Timeouts};
use serde_json::{Value, json};
use std::time::Duration;
use uuid::Uuid;

/// `chat.postMessage` errors that pass.
const RETRYABLE_ERRORS: [&str; 5] = [
    "ratelimited",
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
];

/// Slack's mrkdwn treats `&`, `<` and `>` as control characters; they are escaped in our text.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The message text of `notice`.
pub fn text(notice: &Notice) -> String {
    let mut text = format!(
        "*[{}] {}*",
        notice.severity.as_str().to_uppercase(),
        escape(&notice.title)
    );
    if !notice.body.trim().is_empty() {
        text.push('\n');
        text.push_str(&escape(&notice.body));
    }
    text.chars().take(39_000).collect()
}

/// What an incoming webhook's answer means.
pub fn classify_webhook(status: u16, body: &str, after: Option<Duration>) -> Outcome {
    match status {
        200..=299 => Outcome::Sent(None),
        429 | 500..=599 => Outcome::Retry {
            error: format!("HTTP {status}: {}", excerpt(body)),
            after,
        },
        _ => Outcome::Fail(format!("HTTP {status}: {}", excerpt(body))),
    }
}

/// What a `chat.postMessage` answer means.
pub fn classify_api(status: u16, body: &str, after: Option<Duration>) -> Outcome {
    if status == 429 || (500..600).contains(&status) {
        return Outcome::Retry {
            error: format!("HTTP {status}: {}", excerpt(body)),
            after,
        };
    }
    let parsed: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    if status == 200 && parsed["ok"] == json!(true) {
        return Outcome::Sent(parsed["ts"].as_str().map(str::to_string));
    }
    let error = parsed["error"].as_str().unwrap_or("unreadable answer");
    let described = format!("HTTP {status}, Slack error {error}");
    if RETRYABLE_ERRORS.contains(&error) {
        Outcome::Retry {
            error: described,
            after,
        }
    } else {
        Outcome::Fail(described)
    }
}

async fn answer(
    result: Result<reqwest::Response, reqwest::Error>,
) -> Result<(u16, String, Option<Duration>), String> {
    match result {
        Err(e) => Err(format!("request failed: {e}")),
        Ok(response) => {
            let status = response.status().as_u16();
            let after = retry_after(response.headers());
            // A merchant's server could answer without end: read at most 4 KB.
            let mut body = Vec::new();
            let mut response = response;
            while let Ok(Some(chunk)) = response.chunk().await {
                body.extend_from_slice(&chunk);
                if body.len() >= 4096 {
                    break;
                }
            }
            Ok((status, String::from_utf8_lossy(&body).into_owned(), after))
        }
    }
}

async fn to_webhook(app: &App, merchant_owned: bool, url: &str, text: &str) -> Outcome {
    let body = json!({ "text": text });
    let client = if merchant_owned {
        let allow_local = app.config.notifications.slack.allow_local_webhooks;
        let policy = Policy {
            https_only: !allow_local,
            allow_loopback: allow_local,
        };
        let checked = match egress::check(url, policy, &SystemResolver).await {
            Ok(checked) => checked,
            Err(e) => return Outcome::Fail(format!("webhook URL refused: {e}")),
        };
        let timeouts = Timeouts {
            connect: Duration::from_secs(5),
            total: Duration::from_secs(10),
        };
        match egress::client_for(&checked, timeouts) {
            Ok(client) => client,
            Err(e) => {
                return Outcome::Retry {
                    error: format!("HTTP client: {e}"),
                    after: None,
                };
            }
        }
    } else {
        // The platform's own webhooks are set by operators; the shared client will do.
        app.http.clone()
    };
    match answer(client.post(url).json(&body).send().await).await {
        Ok((status, text, after)) => classify_webhook(status, &text, after),
        Err(error) => Outcome::Retry { error, after: None },
    }
}

async fn to_channel(app: &App, channel: &str, text: &str) -> Outcome {
    let config = &app.config.notifications.slack;
    let Some(token) = &config.bot_token else {
        return Outcome::Fail("Slack bot token is not configured: set SLACK_BOT_TOKEN".into());
    };
    let request = app
        .http
        .post(format!("{}/api/chat.postMessage", config.api_base))
        .bearer_auth(token.expose())
        .json(&json!({ "channel": channel, "text": text }));
    match answer(request.send().await).await {
        Ok((status, text, after)) => classify_api(status, &text, after),
        Err(error) => Outcome::Retry { error, after: None },
    }
}

/// Sends message `id` of `slack_queue` if it is due and nobody else holds it, and records what
/// became of it (the `slack-sender` worker).
pub async fn process(app: &App, id: Uuid) -> Result<(), AppError> {
    let Some(row) = queue::claim(app, Queue::Slack, id).await? else {
        return Ok(());
    };
    let record = Record::new(&row, "slack_queue");
    let attempts = u32::try_from(record.get::<i32>("attempts")?).unwrap_or(u32::MAX);
    let text: String = record.get("text")?;
    let recipient = record
        .get::<Option<Uuid>>("recipient_id")?
        .map(RecipientId::from_uuid);
    let target = match recipient {
        None => None,
        Some(recipient) => {
            let mut client = app.db.client().await?;
            let tx = db::begin(&mut client, Scope::System).await?;
            let target = recipients::slack_target(&tx, &app.config.encryption, recipient).await?;
            tx.commit().await?;
            target
        }
    };
    // The connection is back in the pool before Slack is called.
    let outcome = match target {
        None => Outcome::Fail("the recipient was deleted or disabled".into()),
        Some((owner, SlackTarget::Webhook(url))) => {
            to_webhook(app, owner.is_some(), url.expose(), &text).await
        }
        Some((_, SlackTarget::Channel(channel))) => to_channel(app, &channel, &text).await,
    };
    queue::finish(app, Queue::Slack, id, attempts, outcome).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_answers_only_500_and_429_are_retried() {
        assert_eq!(classify_webhook(200, "ok", None), Outcome::Sent(None));
        assert!(matches!(
            classify_webhook(500, "rollup_error", None),
            Outcome::Retry { .. }
        ));
        for status in [400, 403, 404, 410] {
            assert!(matches!(
                classify_webhook(status, "x", None),
                Outcome::Fail(_)
            ));
        }
    }

    #[test]
    fn api_ok_false_is_a_failure() {
        assert_eq!(
            classify_api(200, r#"{"ok":true,"ts":"1.2"}"#, None),
            Outcome::Sent(Some("1.2".into()))
        );
        assert!(matches!(
            classify_api(200, r#"{"ok":false,"error":"channel_not_found"}"#, None),
            Outcome::Fail(_)
        ));
        assert!(matches!(classify_api(429, "", None), Outcome::Retry { .. }));
    }

    #[test]
    fn text_escapes_slack_control_characters() {
        let notice = Notice {
            kind: "k".into(),
            severity: super::super::Severity::Warning,
            title: "a <b> & c".into(),
            body: String::new(),
        };
        assert_eq!(text(&notice), "*[WARNING] a &lt;b&gt; &amp; c*");
    }
}
