//! Merchants' webhook endpoints, per mode: the URL (untrusted: checked by [`egress`] when it is
//! set and again before every delivery), the event types it takes, and its signing secret, sealed
//! like gateway credentials. A rotation keeps the previous secret signing alongside the new one
//! for [`ROTATION_GRACE_HOURS`], so a receiver can switch without missing a delivery.

use super::egress::{self, Policy, SystemResolver};
use super::events::EVENT_TYPES;
use super::signature::SigningSecret;
use crate::alerts;
use crate::app::App;
use crate::audit::{self, AuditContext, AuditEvent};
use crate::config::Config;
use crate::crypto::cipher::{KeyRing, Sealed};
use crate::db::Transaction;
use crate::db::record::Record;
use crate::error::AppError;
use crate::ids::{MerchantId, WebhookEndpointId};
use crate::mode::Mode;
use crate::reseal::{self, Plan, Resealed};
use crate::validation::FieldErrors;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio_postgres::Row;
use tokio_postgres::types::Type;

/// How long the previous secret keeps signing after a rotation.
pub const ROTATION_GRACE_HOURS: i64 = 24;
/// Endpoints one merchant may have in one mode.
pub const MAX_ENDPOINTS: i64 = 10;

/// Why an endpoint stopped receiving.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = WebhookDisabledReason)]
pub enum DisabledReason {
    /// The receiver answered 410 Gone.
    Gone,
    /// Every attempt failed for five days.
    Failing,
    /// The merchant turned it off.
    Merchant,
    /// An operator turned it off.
    Operator,
}

impl DisabledReason {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            DisabledReason::Gone => "gone",
            DisabledReason::Failing => "failing",
            DisabledReason::Merchant => "merchant",
            DisabledReason::Operator => "operator",
        }
    }

    fn parse(stored: &str) -> Result<DisabledReason, AppError> {
        match stored {
            "gone" => Ok(DisabledReason::Gone),
            "failing" => Ok(DisabledReason::Failing),
            "merchant" => Ok(DisabledReason::Merchant),
            "operator" => Ok(DisabledReason::Operator),
            other => Err(AppError::Internal(format!(
                "unknown disabled_reason {other:?}"
            ))),
        }
    }
}

/// An endpoint as the API shows it (never its secret).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = WebhookEndpoint)]
pub struct EndpointView {
    /// `ep_…`
    pub id: WebhookEndpointId,
    /// The merchant it belongs to.
    pub merchant_id: MerchantId,
    /// Test or live: it receives that mode's events.
    pub mode: Mode,
    /// Where events are sent.
    #[schema(format = "uri")]
    pub url: String,
    /// The merchant's words.
    pub description: String,
    /// The event types it receives; empty: all of them.
    pub event_types: Vec<String>,
    /// Whether deliveries are made.
    pub enabled: bool,
    /// Why it stopped, when it did.
    pub disabled_reason: Option<DisabledReason>,
    /// When it stopped.
    pub disabled_at: Option<DateTime<Utc>>,
    /// Since when every attempt has failed (five days of it disable the endpoint).
    pub failing_since: Option<DateTime<Utc>>,
    /// Until when the previous secret still signs, after a rotation.
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    /// When it was added.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// A new endpoint or a rotation: the endpoint and its signing secret, shown this once.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = WebhookEndpointWithSecret)]
pub struct WithSecret {
    /// The endpoint.
    pub endpoint: EndpointView,
    /// `whsec_…`: verify deliveries with it (any Standard Webhooks library takes it as is).
    #[schema(value_type = String, example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    pub secret: String,
}

/// `POST /api/v1/merchant/webhooks`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewWebhookEndpoint)]
pub struct NewEndpoint {
    /// Where to send events: https (plain http only in test mode), a public address.
    #[schema(format = "uri", example = "https://example.com/webhooks/lightspeedpay")]
    pub url: String,
    /// The event types to receive; omitted or empty: all of them.
    #[serde(default)]
    pub event_types: Vec<String>,
    /// A note for the merchant's own use.
    #[serde(default)]
    pub description: Option<String>,
    /// Start enabled (the default).
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// `PATCH /api/v1/merchant/webhooks/{id}`: what to change.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = WebhookEndpointChanges)]
pub struct EndpointChanges {
    /// A new URL.
    #[schema(format = "uri")]
    pub url: Option<String>,
    /// New event types (empty: all).
    pub event_types: Option<Vec<String>>,
    /// A new description.
    pub description: Option<String>,
    /// Turn deliveries on or off; turning on clears a disablement and its failure streak.
    pub enabled: Option<bool>,
}

fn aad(id: WebhookEndpointId) -> Vec<u8> {
    format!("webhook_endpoint:{id}").into_bytes()
}

const COLUMNS: &str = "id, merchant_id, mode, url, description, event_types, enabled, disabled_reason, \
    disabled_at, failing_since, previous_secret_expires_at, created_at, updated_at";

/// Columns a delivery needs besides the view: the sealed secrets.
pub(crate) const SECRET_COLUMNS: &str = "secret_key_id, secret_nonce, secret_ciphertext, \
    previous_secret_key_id, previous_secret_nonce, previous_secret_ciphertext, previous_secret_expires_at";

/// Reads an endpoint row selected with the module's columns.
pub(crate) fn from_row(row: &Row) -> Result<EndpointView, AppError> {
    let row = Record::new(row, "webhook_endpoints");
    Ok(EndpointView {
        id: WebhookEndpointId::from_uuid(row.get("id")?),
        merchant_id: MerchantId::from_uuid(row.get("merchant_id")?),
        mode: row.parse("mode")?,
        url: row.get("url")?,
        description: row.get("description")?,
        event_types: row.get("event_types")?,
        enabled: row.get("enabled")?,
        disabled_reason: row
            .get::<Option<String>>("disabled_reason")?
            .map(|r| DisabledReason::parse(&r))
            .transpose()?,
        disabled_at: row.get("disabled_at")?,
        failing_since: row.get("failing_since")?,
        previous_secret_expires_at: row.get("previous_secret_expires_at")?,
        created_at: row.get("created_at")?,
        updated_at: row.get("updated_at")?,
    })
}

fn sealed(row: &Row, prefix: &str) -> Result<Option<Sealed>, AppError> {
    Ok(Record::new(row, "webhook_endpoints").sealed(prefix)?)
}

fn open(keys: &KeyRing, id: WebhookEndpointId, sealed: &Sealed) -> Result<SigningSecret, AppError> {
    let plain = keys
        .open(sealed, &aad(id))
        .map_err(|e| AppError::Internal(format!("signing secret of {id}: {e}")))?;
    let text = String::from_utf8(plain)
        .map_err(|e| AppError::Internal(format!("signing secret of {id}: {e}")))?;
    SigningSecret::parse(&text)
        .map_err(|e| AppError::Internal(format!("signing secret of {id}: {e}")))
}

/// The secrets that sign a delivery now: the current one, and the previous one while its grace
/// lasts. `row` holds `id` and [`SECRET_COLUMNS`].
pub(crate) fn signing_secrets(
    row: &Row,
    keys: &KeyRing,
    now: DateTime<Utc>,
) -> Result<Vec<SigningSecret>, AppError> {
    let record = Record::new(row, "webhook_endpoints");
    let id = WebhookEndpointId::from_uuid(record.get("id")?);
    let current = sealed(row, "secret_")?
        .ok_or_else(|| AppError::Internal(format!("{id} has no signing secret")))?;
    let mut secrets = vec![open(keys, id, &current)?];
    let grace: Option<DateTime<Utc>> = record.get("previous_secret_expires_at")?;
    if let (Some(previous), Some(until)) = (sealed(row, "previous_secret_")?, grace)
        && now < until
    {
        secrets.push(open(keys, id, &previous)?);
    }
    Ok(secrets)
}

/// Checks a URL as deliveries will: https in live mode, and a host resolving only to public
/// addresses (loopback too where the configuration allows it).
pub async fn check_url(
    config: &Config,
    mode: Mode,
    url: &str,
) -> Result<egress::Checked, egress::EgressError> {
    egress::check(url, policy(config, mode), &SystemResolver).await
}

/// The egress policy for `mode`'s endpoints.
pub fn policy(config: &Config, mode: Mode) -> Policy {
    Policy {
        https_only: mode == Mode::Live,
        // Even where loopback receivers are allowed (local development), never for live events.
        allow_loopback: config.webhooks.allow_loopback && mode == Mode::Test,
    }
}

fn check_event_types(errors: &mut FieldErrors, types: &[String]) {
    for (i, t) in types.iter().enumerate() {
        if !EVENT_TYPES.contains(&t.as_str()) {
            errors.add(
                format!("event_types[{i}]"),
                format!("unknown event type; one of {}", EVENT_TYPES.join(", ")),
            );
        } else if types[..i].contains(t) {
            errors.add(format!("event_types[{i}]"), "listed twice");
        }
    }
}

fn check_description(errors: &mut FieldErrors, description: &str) {
    if description.chars().count() > 500 {
        errors.add("description", "at most 500 characters");
    }
    if description.chars().any(char::is_control) {
        errors.add("description", "must not contain control characters");
    }
}

async fn check_fields(
    config: &Config,
    mode: Mode,
    url: Option<&str>,
    event_types: Option<&[String]>,
    description: Option<&str>,
) -> Result<(), AppError> {
    let mut errors = FieldErrors::new();
    if let Some(types) = event_types {
        check_event_types(&mut errors, types);
    }
    if let Some(description) = description {
        check_description(&mut errors, description);
    }
    if let Some(url) = url {
        if url.len() > 2048 {
            errors.add("url", "at most 2048 characters");
        } else if let Err(e) = check_url(config, mode, url).await {
            errors.add("url", e.to_string());
        }
    }
    errors.into_result().map_err(AppError::Validation)
}

/// Adds an endpoint for the merchant's mode with a new secret (answered once); audited.
pub async fn create(
    tx: &Transaction<'_>,
    config: &Config,
    ctx: &AuditContext,
    merchant: MerchantId,
    mode: Mode,
    new: NewEndpoint,
) -> Result<WithSecret, AppError> {
    check_fields(
        config,
        mode,
        Some(&new.url),
        Some(&new.event_types),
        new.description.as_deref(),
    )
    .await?;
    let count: i64 = Record::new(
        &tx.query_typed_one(
            "SELECT count(*) AS n FROM webhook_endpoints WHERE merchant_id = $1 AND mode = $2 AND deleted_at IS NULL",
            &[(&merchant.as_uuid(), Type::UUID), (&mode.as_str(), Type::TEXT)],
        )
        .await?,
        "webhook_endpoints",
    )
    .get("n")?;
    if count >= MAX_ENDPOINTS {
        return Err(AppError::Conflict(format!(
            "A mode has at most {MAX_ENDPOINTS} webhook endpoints; delete one first"
        )));
    }
    let id = WebhookEndpointId::generate();
    let secret = SigningSecret::generate();
    let sealed = config
        .encryption
        .seal(secret.to_text().expose().as_bytes(), &aad(id));
    let enabled = new.enabled.unwrap_or(true);
    let row = tx
        .query_typed_one(
            &format!(
                "INSERT INTO webhook_endpoints (id, merchant_id, mode, url, description, event_types, enabled,
                     disabled_reason, disabled_at, secret_key_id, secret_nonce, secret_ciphertext)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, CASE WHEN $7 THEN NULL ELSE 'merchant' END,
                     CASE WHEN $7 THEN NULL ELSE now() END, $8, $9, $10)
                 RETURNING {COLUMNS}"
            ),
            &[
                (&id.as_uuid(), Type::UUID),
                (&merchant.as_uuid(), Type::UUID),
                (&mode.as_str(), Type::TEXT),
                (&new.url, Type::TEXT),
                (&new.description.unwrap_or_default(), Type::TEXT),
                (&new.event_types, Type::TEXT_ARRAY),
                (&enabled, Type::BOOL),
                (&sealed.key_id, Type::TEXT),
                (&sealed.nonce.to_vec(), Type::BYTEA),
                (&sealed.ciphertext, Type::BYTEA),
            ],
        )
        .await?;
    let endpoint = from_row(&row)?;
    audit::record(
        tx,
        ctx,
        AuditEvent::success("webhook_endpoint.created")
            .merchant(merchant)
            .target("webhook_endpoint", id)
            .change(None, Some(audited(&endpoint))),
    )
    .await?;
    Ok(WithSecret {
        endpoint,
        secret: secret.to_text().expose().clone(),
    })
}

/// What the audit log keeps of an endpoint.
fn audited(endpoint: &EndpointView) -> serde_json::Value {
    json!({
        "url": endpoint.url, "event_types": endpoint.event_types, "enabled": endpoint.enabled,
        "description": endpoint.description, "mode": endpoint.mode,
    })
}

/// One endpoint, if visible in the transaction's scope and not deleted.
pub async fn get(
    tx: &Transaction<'_>,
    id: WebhookEndpointId,
) -> Result<Option<EndpointView>, AppError> {
    tx.query_typed_opt(
        &format!("SELECT {COLUMNS} FROM webhook_endpoints WHERE id = $1 AND deleted_at IS NULL"),
        &[(&id.as_uuid(), Type::UUID)],
    )
    .await?
    .as_ref()
    .map(from_row)
    .transpose()
}

/// The scope's endpoints (a merchant's mode, or every merchant's for operators, optionally of
/// one merchant), newest first.
pub async fn list(
    tx: &Transaction<'_>,
    merchant: Option<MerchantId>,
) -> Result<Vec<EndpointView>, AppError> {
    let merchant = merchant.map(|m| m.as_uuid());
    tx.query_typed(
        &format!(
            "SELECT {COLUMNS} FROM webhook_endpoints
             WHERE deleted_at IS NULL AND ($1::uuid IS NULL OR merchant_id = $1)
             ORDER BY id DESC LIMIT 1000"
        ),
        &[(&merchant, Type::UUID)],
    )
    .await?
    .iter()
    .map(from_row)
    .collect()
}

/// Applies `changes` to an endpoint of the scope; audited. Enabling clears a disablement and the
/// failure streak.
pub async fn update(
    tx: &Transaction<'_>,
    app: &App,
    ctx: &AuditContext,
    id: WebhookEndpointId,
    changes: EndpointChanges,
) -> Result<EndpointView, AppError> {
    // The URL's host is resolved before the row is locked: a slow name server must not hold up
    // the deliveries recording their attempts on it.
    let mode = get(tx, id)
        .await?
        .ok_or(AppError::NotFound("webhook endpoint"))?
        .mode;
    check_fields(
        &app.config,
        mode,
        changes.url.as_deref(),
        changes.event_types.as_deref(),
        changes.description.as_deref(),
    )
    .await?;
    let before = locked(tx, id).await?;
    let row = tx
        .query_typed_one(
            &format!(
                "UPDATE webhook_endpoints SET
                     url = coalesce($2, url),
                     event_types = coalesce($3, event_types),
                     description = coalesce($4, description),
                     enabled = coalesce($5, enabled),
                     disabled_reason = CASE WHEN $5 IS NULL THEN disabled_reason
                                            WHEN $5 THEN NULL
                                            WHEN enabled THEN 'merchant' ELSE disabled_reason END,
                     disabled_at = CASE WHEN $5 IS NULL THEN disabled_at
                                        WHEN $5 THEN NULL
                                        WHEN enabled THEN now() ELSE disabled_at END,
                     failing_since = CASE WHEN $5 THEN NULL ELSE failing_since END,
                     updated_at = now()
                 WHERE id = $1 RETURNING {COLUMNS}"
            ),
            &[
                (&id.as_uuid(), Type::UUID),
                (&changes.url, Type::TEXT),
                (&changes.event_types, Type::TEXT_ARRAY),
                (&changes.description, Type::TEXT),
                (&changes.enabled, Type::BOOL),
            ],
        )
        .await?;
    let after = from_row(&row)?;
    audit::record(
        tx,
        ctx,
        AuditEvent::success("webhook_endpoint.updated")
            .merchant(after.merchant_id)
            .target("webhook_endpoint", id)
            .change(Some(audited(&before)), Some(audited(&after))),
    )
    .await?;
    // Taking events again ends the "endpoint disabled" alert; turned off by hand, it raises none
    // and its pending deliveries are given up (a replay sends them later).
    if after.enabled && !before.enabled {
        alerts::clear(tx, app, &super::delivery::alert_key(id)).await?;
    }
    if before.enabled && !after.enabled {
        give_up_pending(tx, id, "the endpoint was turned off").await?;
    }
    Ok(after)
}

/// The endpoint, locked for a change; not found when deleted or out of scope.
async fn locked(tx: &Transaction<'_>, id: WebhookEndpointId) -> Result<EndpointView, AppError> {
    let row = tx
        .query_typed_opt(
            &format!(
                "SELECT {COLUMNS} FROM webhook_endpoints WHERE id = $1 AND deleted_at IS NULL FOR UPDATE"
            ),
            &[(&id.as_uuid(), Type::UUID)],
        )
        .await?
        .ok_or(AppError::NotFound("webhook endpoint"))?;
    from_row(&row)
}

/// Deletes an endpoint: it stops receiving at once; its deliveries and attempts stay on record.
/// Audited.
pub async fn delete(
    tx: &Transaction<'_>,
    app: &App,
    ctx: &AuditContext,
    id: WebhookEndpointId,
) -> Result<EndpointView, AppError> {
    let before = locked(tx, id).await?;
    let row = tx
        .query_typed_one(
            &format!(
                "UPDATE webhook_endpoints SET deleted_at = now(), enabled = false,
                     disabled_reason = coalesce(disabled_reason, 'merchant'),
                     disabled_at = coalesce(disabled_at, now()), updated_at = now()
                 WHERE id = $1 RETURNING {COLUMNS}"
            ),
            &[(&id.as_uuid(), Type::UUID)],
        )
        .await?;
    give_up_pending(tx, id, "the endpoint was deleted").await?;
    alerts::clear(tx, app, &super::delivery::alert_key(id)).await?;
    audit::record(
        tx,
        ctx,
        AuditEvent::success("webhook_endpoint.deleted")
            .merchant(before.merchant_id)
            .target("webhook_endpoint", id)
            .change(Some(audited(&before)), None),
    )
    .await?;
    from_row(&row)
}

/// Marks the endpoint's pending deliveries failed (they can be replayed once it takes events
/// again).
pub(crate) async fn give_up_pending(
    tx: &Transaction<'_>,
    id: WebhookEndpointId,
    why: &str,
) -> Result<(), AppError> {
    tx.execute_typed(
        "UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL, lease_until = NULL,
             last_error = $2, updated_at = now()
         WHERE endpoint_id = $1 AND status = 'pending'",
        &[(&id.as_uuid(), Type::UUID), (&why, Type::TEXT)],
    )
    .await?;
    Ok(())
}

/// Replaces the signing secret; the old one keeps signing for [`ROTATION_GRACE_HOURS`]. The new
/// one is answered this once. Audited.
pub async fn rotate_secret(
    tx: &Transaction<'_>,
    keys: &KeyRing,
    ctx: &AuditContext,
    id: WebhookEndpointId,
    now: DateTime<Utc>,
) -> Result<WithSecret, AppError> {
    let before = locked(tx, id).await?;
    let secret = SigningSecret::generate();
    let sealed = keys.seal(secret.to_text().expose().as_bytes(), &aad(id));
    let until = now + chrono::Duration::hours(ROTATION_GRACE_HOURS);
    let row = tx
        .query_typed_one(
            &format!(
                "UPDATE webhook_endpoints SET
                     previous_secret_key_id = secret_key_id, previous_secret_nonce = secret_nonce,
                     previous_secret_ciphertext = secret_ciphertext, previous_secret_expires_at = $5,
                     secret_key_id = $2, secret_nonce = $3, secret_ciphertext = $4, updated_at = now()
                 WHERE id = $1 RETURNING {COLUMNS}"
            ),
            &[
                (&id.as_uuid(), Type::UUID),
                (&sealed.key_id, Type::TEXT),
                (&sealed.nonce.to_vec(), Type::BYTEA),
                (&sealed.ciphertext, Type::BYTEA),
                (&until, Type::TIMESTAMPTZ),
            ],
        )
        .await?;
    audit::record(
        tx,
        ctx,
        AuditEvent::success("webhook_endpoint.secret_rotated")
            .merchant(before.merchant_id)
            .target("webhook_endpoint", id)
            .change(None, Some(json!({ "previous_secret_expires_at": until }))),
    )
    .await?;
    Ok(WithSecret {
        endpoint: from_row(&row)?,
        secret: secret.to_text().expose().clone(),
    })
}

/// Endpoints with a secret sealed under another key than the active one (platform scope).
pub async fn needing_reseal(
    tx: &Transaction<'_>,
    keys: &KeyRing,
) -> Result<Vec<WebhookEndpointId>, AppError> {
    let rows = tx
        .query_typed(
            "SELECT id FROM webhook_endpoints
             WHERE secret_key_id <> $1 OR coalesce(previous_secret_key_id <> $1, false)
             ORDER BY id",
            &[(&keys.active_key_id(), Type::TEXT)],
        )
        .await?;
    rows.iter()
        .map(|row| {
            Ok(WebhookEndpointId::from_uuid(
                Record::new(row, "webhook_endpoints").get("id")?,
            ))
        })
        .collect()
}

/// Seals an endpoint's secrets again under the active key (platform scope, row locked); the
/// secrets themselves do not change. Audited.
pub async fn reseal(
    tx: &Transaction<'_>,
    keys: &KeyRing,
    ctx: &AuditContext,
    id: WebhookEndpointId,
) -> Result<Resealed, AppError> {
    let Some(row) = tx
        .query_typed_opt(
            &format!("SELECT id, merchant_id, {SECRET_COLUMNS} FROM webhook_endpoints WHERE id = $1 FOR UPDATE"),
            &[(&id.as_uuid(), Type::UUID)],
        )
        .await?
    else {
        return Ok(Resealed::Current);
    };
    let merchant =
        MerchantId::from_uuid(Record::new(&row, "webhook_endpoints").get("merchant_id")?);
    let mut outcome = Resealed::Current;
    for prefix in ["secret_", "previous_secret_"] {
        let Some(sealed) = sealed(&row, prefix)? else {
            continue;
        };
        let name = format!("{prefix}of webhook endpoint {id}");
        match reseal::plan(keys, &sealed, &aad(id), &name)? {
            Plan::Leave(Resealed::Current) => {}
            Plan::Leave(missing) => return Ok(missing),
            Plan::Store(resealed) => {
                tx.execute_typed(
                    &format!(
                        "UPDATE webhook_endpoints SET {prefix}key_id = $2, {prefix}nonce = $3, {prefix}ciphertext = $4
                         WHERE id = $1"
                    ),
                    &[
                        (&id.as_uuid(), Type::UUID),
                        (&resealed.key_id, Type::TEXT),
                        (&resealed.nonce.to_vec(), Type::BYTEA),
                        (&resealed.ciphertext, Type::BYTEA),
                    ],
                )
                .await?;
                outcome = Resealed::Done {
                    from: sealed.key_id.clone(),
                };
            }
        }
    }
    if let Resealed::Done { from } = &outcome {
        audit::record(
            tx,
            ctx,
            AuditEvent::success("webhook_endpoint.resealed")
                .merchant(merchant)
                .target("webhook_endpoint", id)
                .change(
                    None,
                    Some(json!({ "from_key": from, "to_key": keys.active_key_id() })),
                ),
        )
        .await?;
    }
    Ok(outcome)
}
