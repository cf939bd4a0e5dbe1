//! WhatsApp over the Cloud API: template messages (a notice outside a customer-service window can
//! only be a template), retried on the errors WhatsApp documents as passing, and the status
//! webhooks that say what became of each message (verified with `X-Hub-Signature-256`).

use super::Notice;
use super::queue::{self, Outcome, Queue};
use crate::App;
use crate::db::record::Record;
use crate::db::{self, Scope};
use crate::error::AppError;
use crate::gateways::signature::verify_hmac_sha256_hex;
use crate::secret::Secret;
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;
use tokio_postgres::types::Type;
use uuid::Uuid;

/// Longest template parameter we send (WhatsApp caps body parameters; the template adds its own
/// text around them).
const MAX_PARAMETER_CHARS: usize = 1000;

/// Graph error codes WhatsApp documents as passing: API rate limits (4, 80007, 130429), the pair
/// rate limit of one recipient (131056), and temporary failures (131000 something went wrong,
/// 131016 service unavailable).
const RETRYABLE_CODES: [i64; 6] = [4, 80007, 130429, 131056, 131000, 131016];

/// A template body parameter: WhatsApp refuses new lines, tabs and runs of more than four spaces
/// in one, so whitespace is folded to single spaces; long text is cut.
fn parameter(text: &str) -> String {
    let folded = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if folded.chars().count() <= MAX_PARAMETER_CHARS {
        return folded;
    }
    let mut cut: String = folded.chars().take(MAX_PARAMETER_CHARS - 1).collect();
    cut.push('…');
    cut
}

/// The template's body parameters for `notice`: `{{1}}` the title (with its severity), `{{2}}`
/// the details.
pub fn parameters(notice: &Notice) -> Value {
    json!([
        parameter(&format!(
            "[{}] {}",
            notice.severity.as_str().to_uppercase(),
            notice.title
        )),
        parameter(if notice.body.trim().is_empty() {
            "-"
        } else {
            &notice.body
        }),
    ])
}

/// The request body of a template message.
pub fn template_body(to: &str, name: &str, language: &str, parameters: &Value) -> Value {
    let parameters: Vec<Value> = parameters
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|p| json!({ "type": "text", "text": p.as_str().unwrap_or_default() }))
                .collect()
        })
        .unwrap_or_default();
    json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "template",
        "template": {
            "name": name,
            "language": { "code": language },
            "components": [{ "type": "body", "parameters": parameters }],
        },
    })
}

/// What an answer of the messages endpoint means.
pub fn classify(status: u16, body: &str, retry_after: Option<Duration>) -> Outcome {
    let parsed: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    if (200..300).contains(&status) {
        return match parsed["messages"][0]["id"].as_str() {
            Some(wamid) if !wamid.is_empty() => Outcome::Sent(Some(wamid.to_string())),
            // Accepted without an id: we could never follow it, and sending again could send it
            // twice.
            _ => Outcome::Fail(format!(
                "HTTP {status} without a message id: {}",
                excerpt(body)
            )),
        };
    }
    let error = &parsed["error"];
    let code = error["code"].as_i64();
    let described = match code {
        Some(code) => format!(
            "HTTP {status}, error {code}: {}",
            error["message"].as_str().unwrap_or_default()
        ),
        None => format!("HTTP {status}: {}", excerpt(body)),
    };
    let retryable = code.is_some_and(|c| RETRYABLE_CODES.contains(&c))
        || status == 429
        || (500..600).contains(&status);
    if retryable {
        Outcome::Retry {
            error: described,
            after: retry_after,
        }
    } else {
        Outcome::Fail(described)
    }
}

/// The first 300 characters of an answer, for the record.
pub(crate) fn excerpt(body: &str) -> String {
    body.chars().take(300).collect()
}

/// A `Retry-After` in seconds.
pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(|s| Duration::from_secs(s.min(3600)))
}

async fn send(app: &App, phone_number_id: &str, token: &Secret<String>, body: &Value) -> Outcome {
    let config = &app.config.notifications.whatsapp;
    let url = format!(
        "{}/{}/{}/messages",
        config.api_base, config.api_version, phone_number_id
    );
    let answer = app
        .http
        .post(&url)
        .bearer_auth(token.expose())
        .json(body)
        .send()
        .await;
    match answer {
        Err(e) => Outcome::Retry {
            // A timeout may have been accepted after all: WhatsApp then delivers it twice, which
            // for a notice is better than never.
            error: format!("request failed: {e}"),
            after: None,
        },
        Ok(response) => {
            let status = response.status().as_u16();
            let after = retry_after(response.headers());
            let text = response.text().await.unwrap_or_default();
            classify(status, &text, after)
        }
    }
}

/// Sends message `id` of `whatsapp_queue` if it is due and nobody else holds it, and records what
/// became of it (the `whatsapp-sender` worker).
pub async fn process(app: &App, id: Uuid) -> Result<(), AppError> {
    let Some(row) = queue::claim(app, Queue::WhatsApp, id).await? else {
        return Ok(());
    };
    let record = Record::new(&row, "whatsapp_queue");
    let attempts = u32::try_from(record.get::<i32>("attempts")?).unwrap_or(u32::MAX);
    // A recipient removed since the notice was queued hears nothing more (the row keeps its
    // number for the record, but the reference is gone).
    let removed = record.get::<Option<Uuid>>("recipient_id")?.is_none();
    let outcome = match app.config.notifications.whatsapp.sender() {
        _ if removed => Outcome::Fail("the recipient was deleted".into()),
        None => Outcome::Fail(
            "WhatsApp is not configured: set WHATSAPP_PHONE_NUMBER_ID and WHATSAPP_ACCESS_TOKEN"
                .into(),
        ),
        Some((phone_number_id, token)) => {
            let body = template_body(
                record.get("to")?,
                record.get("template_name")?,
                record.get("template_language")?,
                &record.get::<Value>("parameters")?,
            );
            send(app, phone_number_id, token, &body).await
        }
    };
    queue::finish(app, Queue::WhatsApp, id, attempts, outcome).await
}

/// Whether `header` (`sha256=<hex>`) is the HMAC-SHA256 of `body` under the app secret, compared
/// in constant time; no secret configured verifies nothing.
pub fn verify_signature(
    app_secret: Option<&Secret<String>>,
    body: &[u8],
    header: Option<&str>,
) -> bool {
    let (Some(secret), Some(header)) = (app_secret, header) else {
        return false;
    };
    let Some(hex) = header.trim().strip_prefix("sha256=") else {
        return false;
    };
    verify_hmac_sha256_hex(secret.expose().as_bytes(), body, hex)
}

#[derive(Deserialize)]
struct Notification {
    #[serde(default)]
    entry: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    changes: Vec<Change>,
}

#[derive(Deserialize)]
struct Change {
    #[serde(default)]
    value: ChangeValue,
}

#[derive(Deserialize, Default)]
struct ChangeValue {
    #[serde(default)]
    statuses: Vec<StatusUpdate>,
}

#[derive(Deserialize)]
struct StatusUpdate {
    id: String,
    status: String,
    #[serde(default)]
    errors: Vec<Value>,
}

/// Applies the statuses of a verified webhook to `whatsapp_queue` by wamid. A status never moves
/// a message backwards (read, then a late delivered, stays read), and a failure only follows
/// sent; statuses of messages we do not know, or WhatsApp's other notifications, are ignored.
/// Returns how many rows changed.
pub async fn apply_statuses(app: &App, body: &[u8]) -> Result<u64, AppError> {
    let notification: Notification = serde_json::from_slice(body)
        .map_err(|e| AppError::field("body", format!("is not a WhatsApp notification: {e}")))?;
    let now = app.clock.now();
    let mut changed = 0;
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::System).await?;
    for update in notification
        .entry
        .iter()
        .flat_map(|e| &e.changes)
        .flat_map(|c| &c.value.statuses)
    {
        let (column, allowed_from): (&str, &[&str]) = match update.status.as_str() {
            "sent" => ("sent_at", &["queued"]),
            "delivered" => ("delivered_at", &["queued", "sent"]),
            "read" => ("read_at", &["queued", "sent", "delivered"]),
            "failed" => ("failed_at", &["queued", "sent"]),
            _ => continue,
        };
        let error = update.errors.first().map(|e| {
            format!(
                "error {}: {}",
                e["code"].as_i64().unwrap_or_default(),
                e["title"]
                    .as_str()
                    .or(e["message"].as_str())
                    .unwrap_or_default()
            )
        });
        let allowed: Vec<String> = allowed_from.iter().map(|s| s.to_string()).collect();
        changed += tx
            .execute_typed(
                &format!(
                    "UPDATE whatsapp_queue SET status = $2, {column} = coalesce({column}, $3),
                         last_error = coalesce(left($5, 2000), last_error), lease_until = NULL, updated_at = now()
                     WHERE wamid = $1 AND status = ANY ($4)"
                ),
                &[
                    (&update.id, Type::TEXT),
                    (&update.status, Type::TEXT),
                    (&now, Type::TIMESTAMPTZ),
                    (&allowed, Type::TEXT_ARRAY),
                    (&error, Type::TEXT),
                ],
            )
            .await?;
    }
    tx.commit().await?;
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notifications::Severity;

    #[test]
    fn parameters_fold_whitespace_and_carry_the_severity() {
        let notice = Notice {
            kind: "alert.test".into(),
            severity: Severity::Critical,
            title: "Gateway down".into(),
            body: "line one\n\tline     two".into(),
        };
        assert_eq!(
            parameters(&notice),
            json!(["[CRITICAL] Gateway down", "line one line two"])
        );
    }

    #[test]
    fn documented_throttling_and_temporary_errors_are_retried_others_fail() {
        let error = |code: i64| {
            format!(r#"{{"error":{{"message":"m","type":"OAuthException","code":{code}}}}}"#)
        };
        for code in RETRYABLE_CODES {
            assert!(
                matches!(classify(400, &error(code), None), Outcome::Retry { .. }),
                "{code}"
            );
        }
        assert!(matches!(classify(503, "oops", None), Outcome::Retry { .. }));
        assert!(matches!(classify(429, "", None), Outcome::Retry { .. }));
        assert!(matches!(
            classify(400, &error(131026), None),
            Outcome::Fail(_)
        ));
        assert!(matches!(classify(401, &error(190), None), Outcome::Fail(_)));
        assert_eq!(
            classify(200, r#"{"messages":[{"id":"wamid.X"}]}"#, None),
            Outcome::Sent(Some("wamid.X".into()))
        );
    }

    #[test]
    fn signatures_are_checked_against_the_app_secret() {
        let secret = Secret::new("app-secret".to_string());
        let body = br#"{"entry":[]}"#;
        let good = format!(
            "sha256={}",
            crate::gateways::signature::hmac_sha256_hex(b"app-secret", body)
        );
        assert!(verify_signature(Some(&secret), body, Some(&good)));
        assert!(!verify_signature(Some(&secret), b"{}", Some(&good)));
        assert!(!verify_signature(Some(&secret), body, None));
        assert!(!verify_signature(None, body, Some(&good)));
        assert!(!verify_signature(Some(&secret), body, Some(&good[7..])));
    }
}
