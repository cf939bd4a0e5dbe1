//! Recipients and their preferences: a WhatsApp number, a Slack incoming webhook or a Slack
//! channel (reached with the platform's bot token), per merchant or for the platform's operators,
//! each choosing the kinds of notice it wants (none listed: all) and the least severity.
//!
//! A Slack webhook URL is a secret (anyone holding it can post to the channel): it is sealed like
//! gateway credentials and only ever shown masked. A merchant's URL is also untrusted input: it
//! must be https, and the sender checks where it resolves before every message.

use super::Severity;
use crate::audit::{self, AuditContext, AuditEvent};
use crate::crypto::cipher::{KeyRing, Sealed};
use crate::db::Transaction;
use crate::db::record::Record;
use crate::error::AppError;
use crate::ids::{MerchantId, RecipientId};
use crate::merchant_webhooks::egress;
use crate::reseal::{self, Plan, Resealed};
use crate::secret::Secret;
use crate::validation::FieldErrors;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio_postgres::Row;
use tokio_postgres::types::Type;

/// Kinds a recipient may list at most.
pub const MAX_KINDS: usize = 50;

/// Where messages go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = NotificationChannel)]
pub enum Channel {
    /// WhatsApp template messages.
    Whatsapp,
    /// Slack messages.
    Slack,
}

impl Channel {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Whatsapp => "whatsapp",
            Channel::Slack => "slack",
        }
    }
}

/// What a recipient's address is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = NotificationDestination)]
pub enum Destination {
    /// An E.164 phone number on WhatsApp.
    Phone,
    /// A Slack incoming-webhook URL (sealed).
    SlackWebhook,
    /// A Slack channel id, posted to with the bot token.
    SlackChannel,
}

impl Destination {
    fn as_str(self) -> &'static str {
        match self {
            Destination::Phone => "phone",
            Destination::SlackWebhook => "slack_webhook",
            Destination::SlackChannel => "slack_channel",
        }
    }
}

impl std::str::FromStr for Destination {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "phone" => Ok(Destination::Phone),
            "slack_webhook" => Ok(Destination::SlackWebhook),
            "slack_channel" => Ok(Destination::SlackChannel),
            other => Err(format!("unknown destination {other:?}")),
        }
    }
}

/// A new recipient.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewNotificationRecipient)]
pub struct NewRecipient {
    /// `whatsapp` or `slack`.
    pub channel: Channel,
    /// WhatsApp: an E.164 number (`+919812345678`). Slack: an incoming-webhook URL (https), or a
    /// channel id (`C0123456789`) the platform's bot posts to.
    pub address: String,
    /// A name for people.
    #[serde(default)]
    pub label: Option<String>,
    /// Notice kinds to receive (`alert.gateway_breaker_open`, …); empty or absent: all.
    #[serde(default)]
    pub kinds: Option<Vec<String>>,
    /// The least severity to receive; `info` when absent.
    #[serde(default)]
    pub min_severity: Option<Severity>,
    /// Whether it receives anything; true when absent.
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// A change to a recipient's preferences (the address is changed by adding a new recipient).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = UpdateNotificationRecipient)]
pub struct UpdateRecipient {
    /// A name for people.
    #[serde(default)]
    pub label: Option<String>,
    /// Notice kinds to receive; empty: all.
    #[serde(default)]
    pub kinds: Option<Vec<String>>,
    /// The least severity to receive.
    #[serde(default)]
    pub min_severity: Option<Severity>,
    /// Whether it receives anything.
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// A recipient as the API shows it (a webhook URL only masked).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = NotificationRecipient)]
pub struct RecipientView {
    /// The recipient.
    pub id: RecipientId,
    /// Its merchant; absent for the platform's operators.
    pub merchant_id: Option<MerchantId>,
    /// `whatsapp` or `slack`.
    pub channel: Channel,
    /// What the address is.
    pub destination: Destination,
    /// The phone number or channel id; a webhook URL masked (host and last characters).
    pub address: String,
    /// A name for people.
    pub label: String,
    /// Notice kinds received; empty: all.
    pub kinds: Vec<String>,
    /// The least severity received.
    pub min_severity: Severity,
    /// Whether it receives anything.
    pub enabled: bool,
    /// When it was added.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// Where a Slack message goes, with the secret opened (the sender only).
pub enum SlackTarget {
    /// An incoming webhook.
    Webhook(Secret<String>),
    /// A channel, with the bot token.
    Channel(String),
}

/// Whether `phone` is an E.164 number: `+`, no leading zero, 7 to 15 digits.
pub fn is_e164(phone: &str) -> bool {
    let Some(digits) = phone.strip_prefix('+') else {
        return false;
    };
    (7..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

fn is_slack_channel_id(id: &str) -> bool {
    (7..=21).contains(&id.len())
        && matches!(id.as_bytes()[0], b'C' | b'G' | b'D')
        && id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// A notice kind: lower-case letters, digits, `_` and `.`, starting with a letter.
pub fn is_kind(kind: &str) -> bool {
    (1..=100).contains(&kind.len())
        && kind.as_bytes()[0].is_ascii_lowercase()
        && kind
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.')
}

/// Checks a webhook URL as it is stored: https (or, with `allow_local`, http), a host, no
/// credentials in it, and never an IP literal we refuse to call. Where a name resolves is checked
/// again before every message (it can change).
fn check_webhook_url(raw: &str, allow_local: bool) -> Result<url::Url, String> {
    if raw.len() > 500 {
        return Err("must be at most 500 characters".into());
    }
    let url = url::Url::parse(raw).map_err(|_| "must be an absolute https URL".to_string())?;
    match url.scheme() {
        "https" => {}
        "http" if allow_local => {}
        _ => return Err("must use https".into()),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry a user name or password".into());
    }
    let ip = match url.host() {
        None => return Err("must have a host".into()),
        Some(url::Host::Ipv4(ip)) => Some(std::net::IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(std::net::IpAddr::V6(ip)),
        Some(url::Host::Domain(_)) => None,
    };
    if let Some(ip) = ip
        && egress::is_forbidden(ip)
        && !(allow_local && ip.is_loopback())
    {
        return Err(format!("{ip} is not a public address"));
    }
    Ok(url)
}

/// The masked form of a webhook URL: scheme, host and the last four characters.
pub fn mask(url: &url::Url) -> String {
    let raw = url.as_str();
    let tail: String = raw
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!(
        "{}://{}/…{tail}",
        url.scheme(),
        url.host_str().unwrap_or_default()
    )
}

fn check_preferences(
    errors: &mut FieldErrors,
    label: Option<&str>,
    kinds: Option<&[String]>,
) -> Vec<String> {
    if let Some(label) = label
        && label.chars().count() > 100
    {
        errors.add("label", "must be at most 100 characters");
    }
    let mut out: Vec<String> = Vec::new();
    if let Some(kinds) = kinds {
        if kinds.len() > MAX_KINDS {
            errors.add("kinds", format!("must list at most {MAX_KINDS} kinds"));
        }
        for (i, kind) in kinds.iter().enumerate() {
            if !is_kind(kind) {
                errors.add(
                    format!("kinds[{i}]"),
                    "must be lower-case letters, digits, '_' and '.', starting with a letter (at most 100)",
                );
            } else if !out.contains(kind) {
                out.push(kind.clone());
            }
        }
    }
    out
}

fn aad(id: RecipientId) -> Vec<u8> {
    format!("notification_recipient:{id}").into_bytes()
}

const COLUMNS: &str = "id, merchant_id, channel, destination, address, webhook_hint, label, kinds, min_severity, enabled, created_at, updated_at";

fn view(row: &Row) -> Result<RecipientView, AppError> {
    let r = Record::new(row, "notification_recipients");
    let channel = match r.get::<&str>("channel")? {
        "whatsapp" => Channel::Whatsapp,
        _ => Channel::Slack,
    };
    let destination: Destination = r.parse("destination")?;
    let address = match destination {
        Destination::SlackWebhook => r.required::<String>("webhook_hint")?,
        Destination::Phone | Destination::SlackChannel => r.required::<String>("address")?,
    };
    Ok(RecipientView {
        id: RecipientId::from_uuid(r.get("id")?),
        merchant_id: r
            .get::<Option<uuid::Uuid>>("merchant_id")?
            .map(MerchantId::from_uuid),
        channel,
        destination,
        address,
        label: r.get("label")?,
        kinds: r.get("kinds")?,
        min_severity: r.parse("min_severity")?,
        enabled: r.get("enabled")?,
        created_at: r.get("created_at")?,
        updated_at: r.get("updated_at")?,
    })
}

/// A unique-address violation as a conflict; anything else as it is.
fn conflict(e: tokio_postgres::Error) -> AppError {
    let e = crate::db::DbError::from(e);
    if e.constraint() == Some("notification_recipients_address_key") {
        return AppError::Conflict("this address is already a recipient".into());
    }
    AppError::Database(e)
}

/// Validates and stores a recipient of `owner` (`None`: the platform's operators); audited.
pub async fn create(
    tx: &Transaction<'_>,
    keys: &KeyRing,
    ctx: &AuditContext,
    owner: Option<MerchantId>,
    input: NewRecipient,
    allow_local_webhooks: bool,
) -> Result<RecipientView, AppError> {
    let mut errors = FieldErrors::new();
    let kinds = check_preferences(&mut errors, input.label.as_deref(), input.kinds.as_deref());
    let address = input.address.trim().to_string();
    let id = RecipientId::generate();
    let (destination, plain_address, sealed, hint) = match input.channel {
        Channel::Whatsapp => {
            if !is_e164(&address) {
                errors.add(
                    "address",
                    "must be an E.164 phone number: '+', the country code and the number, 7 to 15 digits",
                );
            }
            (Destination::Phone, Some(address), None, None)
        }
        Channel::Slack if address.contains("://") => {
            match check_webhook_url(&address, allow_local_webhooks) {
                Ok(url) => {
                    let sealed = keys.seal(address.as_bytes(), &aad(id));
                    (
                        Destination::SlackWebhook,
                        None,
                        Some(sealed),
                        Some(mask(&url)),
                    )
                }
                Err(reason) => {
                    errors.add("address", format!("Slack webhook URL {reason}"));
                    (Destination::SlackWebhook, None, None, None)
                }
            }
        }
        Channel::Slack => {
            if !is_slack_channel_id(&address) {
                errors.add(
                    "address",
                    "must be a Slack incoming-webhook URL (https://…) or a channel id like C0123456789",
                );
            }
            (Destination::SlackChannel, Some(address), None, None)
        }
    };
    errors.into_result()?;
    let severity = input.min_severity.unwrap_or(Severity::Info);
    let row = tx
        .query_typed_one(
            &format!(
                "INSERT INTO notification_recipients (id, merchant_id, channel, destination, label, address,
                     webhook_key_id, webhook_nonce, webhook_ciphertext, webhook_hint, kinds, min_severity, enabled)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
                 RETURNING {COLUMNS}"
            ),
            &[
                (&id.as_uuid(), Type::UUID),
                (&owner.map(|m| m.as_uuid()), Type::UUID),
                (&input.channel.as_str(), Type::TEXT),
                (&destination.as_str(), Type::TEXT),
                (&input.label.unwrap_or_default(), Type::TEXT),
                (&plain_address, Type::TEXT),
                (&sealed.as_ref().map(|s| s.key_id.clone()), Type::TEXT),
                (&sealed.as_ref().map(|s| s.nonce.to_vec()), Type::BYTEA),
                (&sealed.as_ref().map(|s| s.ciphertext.clone()), Type::BYTEA),
                (&hint, Type::TEXT),
                (&kinds, Type::TEXT_ARRAY),
                (&severity.as_str(), Type::TEXT),
                (&input.enabled.unwrap_or(true), Type::BOOL),
            ],
        )
        .await
        .map_err(conflict)?;
    let view = view(&row)?;
    audit::record(
        tx,
        ctx,
        AuditEvent::success("notification_recipient.created")
            .merchant(owner)
            .target("notification_recipient", id)
            .change(None, Some(audited(&view))),
    )
    .await?;
    Ok(view)
}

/// What the audit log keeps of a recipient (the masked address only).
fn audited(view: &RecipientView) -> serde_json::Value {
    json!({
        "channel": view.channel,
        "destination": view.destination,
        "address": view.address,
        "label": view.label,
        "kinds": view.kinds,
        "min_severity": view.min_severity,
        "enabled": view.enabled,
    })
}

/// The recipients of `owner` (`None`: the platform's), oldest first.
pub async fn list(
    tx: &Transaction<'_>,
    owner: Option<MerchantId>,
) -> Result<Vec<RecipientView>, AppError> {
    let rows = tx
        .query_typed(
            &format!(
                "SELECT {COLUMNS} FROM notification_recipients
                 WHERE merchant_id IS NOT DISTINCT FROM $1 ORDER BY id"
            ),
            &[(&owner.map(|m| m.as_uuid()), Type::UUID)],
        )
        .await?;
    rows.iter().map(view).collect()
}

/// One recipient of `owner`.
pub async fn get(
    tx: &Transaction<'_>,
    owner: Option<MerchantId>,
    id: RecipientId,
) -> Result<RecipientView, AppError> {
    let row = tx
        .query_typed_opt(
            &format!(
                "SELECT {COLUMNS} FROM notification_recipients
                 WHERE id = $1 AND merchant_id IS NOT DISTINCT FROM $2"
            ),
            &[
                (&id.as_uuid(), Type::UUID),
                (&owner.map(|m| m.as_uuid()), Type::UUID),
            ],
        )
        .await?
        .ok_or(AppError::NotFound("notification recipient"))?;
    view(&row)
}

/// Changes a recipient's label or preferences; audited.
pub async fn update(
    tx: &Transaction<'_>,
    ctx: &AuditContext,
    owner: Option<MerchantId>,
    id: RecipientId,
    patch: UpdateRecipient,
) -> Result<RecipientView, AppError> {
    let mut errors = FieldErrors::new();
    let kinds = check_preferences(&mut errors, patch.label.as_deref(), patch.kinds.as_deref());
    if patch.label.is_none()
        && patch.kinds.is_none()
        && patch.min_severity.is_none()
        && patch.enabled.is_none()
    {
        errors.add(
            "body",
            "name at least one of label, kinds, min_severity, enabled",
        );
    }
    errors.into_result()?;
    let before = get(tx, owner, id).await?;
    let row = tx
        .query_typed_one(
            &format!(
                "UPDATE notification_recipients SET
                     label = coalesce($3, label),
                     kinds = CASE WHEN $4 THEN $5 ELSE kinds END,
                     min_severity = coalesce($6, min_severity),
                     enabled = coalesce($7, enabled),
                     updated_at = now()
                 WHERE id = $1 AND merchant_id IS NOT DISTINCT FROM $2
                 RETURNING {COLUMNS}"
            ),
            &[
                (&id.as_uuid(), Type::UUID),
                (&owner.map(|m| m.as_uuid()), Type::UUID),
                (&patch.label, Type::TEXT),
                (&patch.kinds.is_some(), Type::BOOL),
                (&kinds, Type::TEXT_ARRAY),
                (&patch.min_severity.map(Severity::as_str), Type::TEXT),
                (&patch.enabled, Type::BOOL),
            ],
        )
        .await?;
    let after = view(&row)?;
    audit::record(
        tx,
        ctx,
        AuditEvent::success("notification_recipient.updated")
            .merchant(owner)
            .target("notification_recipient", id)
            .change(Some(audited(&before)), Some(audited(&after))),
    )
    .await?;
    Ok(after)
}

/// Removes a recipient (its queued messages are failed by the sender); audited.
pub async fn delete(
    tx: &Transaction<'_>,
    ctx: &AuditContext,
    owner: Option<MerchantId>,
    id: RecipientId,
) -> Result<RecipientView, AppError> {
    let before = get(tx, owner, id).await?;
    tx.execute_typed(
        "DELETE FROM notification_recipients WHERE id = $1 AND merchant_id IS NOT DISTINCT FROM $2",
        &[
            (&id.as_uuid(), Type::UUID),
            (&owner.map(|m| m.as_uuid()), Type::UUID),
        ],
    )
    .await?;
    audit::record(
        tx,
        ctx,
        AuditEvent::success("notification_recipient.deleted")
            .merchant(owner)
            .target("notification_recipient", id)
            .change(Some(audited(&before)), None),
    )
    .await?;
    Ok(before)
}

fn sealed_from(row: &Row) -> Result<Option<Sealed>, AppError> {
    Ok(Record::new(row, "notification_recipients").sealed("webhook_")?)
}

/// Where a Slack recipient's messages go, the webhook URL opened, with its owner; `None` when it
/// is gone, disabled or not a Slack recipient (platform scope).
pub async fn slack_target(
    tx: &Transaction<'_>,
    keys: &KeyRing,
    id: RecipientId,
) -> Result<Option<(Option<MerchantId>, SlackTarget)>, AppError> {
    let Some(row) = tx
        .query_typed_opt(
            "SELECT merchant_id, destination, address, webhook_key_id, webhook_nonce, webhook_ciphertext
             FROM notification_recipients WHERE id = $1 AND enabled AND channel = 'slack'",
            &[(&id.as_uuid(), Type::UUID)],
        )
        .await?
    else {
        return Ok(None);
    };
    let record = Record::new(&row, "notification_recipients");
    let owner = record
        .get::<Option<uuid::Uuid>>("merchant_id")?
        .map(MerchantId::from_uuid);
    let target = match record.parse::<Destination>("destination")? {
        Destination::SlackChannel => SlackTarget::Channel(record.required("address")?),
        Destination::SlackWebhook => {
            let sealed = sealed_from(&row)?
                .ok_or_else(|| AppError::Internal(format!("webhook of {id} is not sealed")))?;
            let plain = keys
                .open(&sealed, &aad(id))
                .map_err(|e| AppError::Internal(format!("webhook of {id}: {e}")))?;
            SlackTarget::Webhook(Secret::new(
                String::from_utf8(plain)
                    .map_err(|e| AppError::Internal(format!("webhook of {id}: {e}")))?,
            ))
        }
        Destination::Phone => return Ok(None),
    };
    Ok(Some((owner, target)))
}

/// Webhook URLs to re-seal: sealed under another key than the active one (platform scope).
pub async fn needing_reseal(
    tx: &Transaction<'_>,
    keys: &KeyRing,
) -> Result<Vec<RecipientId>, AppError> {
    let rows = tx
        .query_typed(
            "SELECT id FROM notification_recipients WHERE webhook_key_id <> $1 ORDER BY id",
            &[(&keys.active_key_id(), Type::TEXT)],
        )
        .await?;
    rows.iter()
        .map(|row| {
            Ok(RecipientId::from_uuid(
                Record::new(row, "notification_recipients").get("id")?,
            ))
        })
        .collect()
}

/// Seals one webhook URL again under the active key, with the row locked (platform scope);
/// audited.
pub async fn reseal(
    tx: &Transaction<'_>,
    keys: &KeyRing,
    ctx: &AuditContext,
    id: RecipientId,
) -> Result<Resealed, AppError> {
    let row = tx
        .query_typed_opt(
            "SELECT merchant_id, webhook_key_id, webhook_nonce, webhook_ciphertext
             FROM notification_recipients WHERE id = $1 FOR UPDATE",
            &[(&id.as_uuid(), Type::UUID)],
        )
        .await?;
    let Some(row) = row else {
        return Ok(Resealed::Current);
    };
    let owner = Record::new(&row, "notification_recipients")
        .get::<Option<uuid::Uuid>>("merchant_id")?
        .map(MerchantId::from_uuid);
    let Some(sealed) = sealed_from(&row)? else {
        return Ok(Resealed::Current);
    };
    let resealed = match reseal::plan(keys, &sealed, &aad(id), &format!("Slack webhook of {id}"))? {
        Plan::Leave(outcome) => return Ok(outcome),
        Plan::Store(resealed) => resealed,
    };
    tx.execute_typed(
        "UPDATE notification_recipients SET webhook_key_id = $2, webhook_nonce = $3, webhook_ciphertext = $4
         WHERE id = $1",
        &[
            (&id.as_uuid(), Type::UUID),
            (&resealed.key_id, Type::TEXT),
            (&resealed.nonce.to_vec(), Type::BYTEA),
            (&resealed.ciphertext, Type::BYTEA),
        ],
    )
    .await?;
    audit::record(
        tx,
        ctx,
        AuditEvent::success("notification_recipient.resealed")
            .merchant(owner)
            .target("notification_recipient", id)
            .change(
                Some(json!({ "key_id": sealed.key_id })),
                Some(json!({ "key_id": resealed.key_id })),
            ),
    )
    .await?;
    Ok(Resealed::Done {
        from: sealed.key_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_must_be_e164() {
        for good in ["+919812345678", "+16505551234", "+4915123"] {
            assert!(is_e164(good), "{good}");
        }
        for bad in [
            "919812345678",
            "+0919812345678",
            "+91 98123",
            "+12345",
            "+1234567890123456",
        ] {
            assert!(!is_e164(bad), "{bad}");
        }
    }

    #[test]
    fn webhook_urls_are_https_public_and_masked() {
        let url = check_webhook_url(
            "https://hooks.example.test/services/AAA/BBB/secretvalue",
            false,
        )
        .unwrap();
        assert_eq!(mask(&url), "https://hooks.example.test/…alue");
        assert!(check_webhook_url("http://hooks.example.test/x", false).is_err());
        assert!(check_webhook_url("https://127.0.0.1/x", false).is_err());
        assert!(check_webhook_url("https://[::1]/x", false).is_err());
        assert!(check_webhook_url("https://user:pw@hooks.example.test/x", false).is_err());
        assert!(check_webhook_url("http://127.0.0.1:9/x", true).is_ok());
    }
}
