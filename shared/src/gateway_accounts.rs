//! Gateway accounts: a configured account at a payment gateway. Its credentials are sealed with
//! AES-256-GCM before they reach the database, bound to the account's id; secrets are only ever
//! shown as a keyed fingerprint, public identifiers as their last four characters.

use crate::audit::{self, AuditContext, AuditEvent};
use crate::crypto::cipher::{KeyRing, Sealed};
use crate::crypto::constant_time_eq;
use crate::db::Transaction;
use crate::db::record::{DecodeError, Record};
use crate::error::AppError;
use crate::gateways::{Account, Credentials, Gateways};
use crate::http::pagination::{Page, PageRequest};
use crate::ids::{GatewayAccountId, MerchantId};
use crate::mode::Mode;
use crate::reseal::Resealed;
use crate::secret::Secret;
use crate::validation::FieldErrors;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use tokio_postgres::Row;
use tokio_postgres::types::Type;

/// Who receives the money an account collects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ownership {
    /// We collect, then settle to merchants.
    Platform,
    /// The gateway settles to this merchant; we charge fees from its wallet.
    Merchant(MerchantId),
}

/// A new account to store.
#[derive(Debug, Clone)]
pub struct NewGatewayAccount {
    /// `sandbox`, `razorpay`, `payu`, …
    pub provider: String,
    /// A name for operators.
    pub label: String,
    /// Test or live environment of the gateway.
    pub environment: Mode,
    /// Who owns it.
    pub ownership: Ownership,
    /// The credentials, in plaintext until sealed here.
    pub credentials: Credentials,
}

fn aad(id: GatewayAccountId) -> Vec<u8> {
    format!("gateway_account:{id}:credentials").into_bytes()
}

/// Credential fields that are public identifiers (sent in clear to customers' browsers or in
/// request headers anyway), so their last four characters may be shown. Every other field is a
/// secret: a tail of a short secret (a PayU salt, say) is half of it. Keep in step with V8's
/// migration, which kept only these tails.
fn is_public(provider: &str, field: &str) -> bool {
    matches!(
        (provider, field),
        ("razorpay", "key_id")
            | ("payu", "key")
            | ("easebuzz", "key")
            | ("cashfree", "client_id")
            | ("phonepe", "merchant_id")
            | ("phonepe", "salt_index")
            | ("stripe", "publishable_key")
    )
}

/// How operators recognise each credential: `…` and the last four characters of a public
/// identifier, `hmac:` and a keyed fingerprint ([`KeyRing::fingerprint`]) of a secret.
fn hints(keys: &KeyRing, provider: &str, credentials: &Credentials) -> Value {
    let map: Map<String, Value> = credentials
        .iter()
        .map(|(name, value)| {
            let hint = if is_public(provider, name) {
                let chars: Vec<char> = value.expose().chars().collect();
                let tail: String = chars[chars.len().saturating_sub(4)..].iter().collect();
                format!("…{tail}")
            } else {
                format!("hmac:{}", keys.fingerprint(value.expose().as_bytes()))
            };
            (name.clone(), Value::String(hint))
        })
        .collect();
    Value::Object(map)
}

/// Stores an account with its credentials sealed (platform scope).
pub async fn create(
    tx: &Transaction<'_>,
    keys: &KeyRing,
    account: &NewGatewayAccount,
) -> Result<GatewayAccountId, AppError> {
    let id = GatewayAccountId::generate();
    let plain: BTreeMap<&str, &str> = account
        .credentials
        .iter()
        .map(|(k, v)| (k.as_str(), v.expose().as_str()))
        .collect();
    let json = serde_json::to_vec(&plain).map_err(|e| AppError::Internal(e.to_string()))?;
    let sealed = keys.seal(&json, &aad(id));
    let (ownership, owner) = match account.ownership {
        Ownership::Platform => ("platform", None),
        Ownership::Merchant(m) => ("merchant", Some(m.as_uuid())),
    };
    tx.execute_typed(
        "INSERT INTO gateway_accounts (id, provider, label, environment, ownership, owner_merchant_id,
             credentials_key_id, credentials_nonce, credentials_ciphertext, credentials_hint)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        &[
            (&id.as_uuid(), Type::UUID),
            (&account.provider, Type::TEXT),
            (&account.label, Type::TEXT),
            (&account.environment.as_str(), Type::TEXT),
            (&ownership, Type::TEXT),
            (&owner, Type::UUID),
            (&sealed.key_id, Type::TEXT),
            (&sealed.nonce.to_vec(), Type::BYTEA),
            (&sealed.ciphertext, Type::BYTEA),
            (
                &hints(keys, &account.provider, &account.credentials),
                Type::JSONB,
            ),
        ],
    )
    .await?;
    crate::gateway_lookup::record(tx, id, &account.provider, &account.credentials).await?;
    Ok(id)
}

/// An account with its credentials opened, for a gateway call.
pub async fn open(
    tx: &Transaction<'_>,
    keys: &KeyRing,
    id: GatewayAccountId,
) -> Result<Account, AppError> {
    let row = tx
        .query_typed_opt(
            "SELECT environment, credentials_key_id, credentials_nonce, credentials_ciphertext FROM gateway_accounts WHERE id = $1",
            &[(&id.as_uuid(), Type::UUID)],
        )
        .await?
        .ok_or(AppError::NotFound("gateway account"))?;
    let row = Record::new(&row, "gateway_accounts");
    let nonce: &[u8] = row.get("credentials_nonce")?;
    let sealed = Sealed {
        key_id: row.get("credentials_key_id")?,
        nonce: nonce
            .try_into()
            .map_err(|_| AppError::Internal("stored nonce has the wrong length".into()))?,
        ciphertext: row.get("credentials_ciphertext")?,
    };
    let plain = keys
        .open(&sealed, &aad(id))
        .map_err(|e| AppError::Internal(format!("gateway account {id}: {e}")))?;
    let map: BTreeMap<String, String> = serde_json::from_slice(&plain)
        .map_err(|e| AppError::Internal(format!("gateway account {id}: {e}")))?;
    let environment: Mode = row.parse("environment")?;
    Ok(Account {
        id,
        environment,
        credentials: map.into_iter().map(|(k, v)| (k, Secret::new(v))).collect(),
    })
}

/// Opens an account's credentials.
pub async fn credentials(
    tx: &Transaction<'_>,
    keys: &KeyRing,
    id: GatewayAccountId,
) -> Result<Credentials, AppError> {
    Ok(open(tx, keys, id).await?.credentials)
}

/// A gateway account as operators see it: its credentials only as their last four characters.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GatewayAccountView {
    /// The account.
    pub id: GatewayAccountId,
    /// `razorpay`, `payu`, …
    #[schema(value_type = crate::gateways::Provider)]
    pub provider: String,
    /// A name for operators.
    pub label: String,
    /// Test or live environment of the gateway.
    pub environment: Mode,
    /// `platform` or `merchant`.
    #[schema(pattern = "^(platform|merchant)$")]
    pub ownership: String,
    /// The owning merchant, for merchant-owned accounts.
    pub merchant_id: Option<MerchantId>,
    /// `active`, `disabled` (kept, routes no payments) or `archived` (retired by `DELETE`; kept
    /// for its history, never erased, no longer editable).
    #[schema(pattern = "^(active|disabled|archived)$")]
    pub status: String,
    /// The percentage fee in basis points (1/100 of a percent): 0 to 10000.
    #[schema(minimum = 0, maximum = 10000)]
    pub fee_bps: i32,
    /// The fixed fee per payment, in paise.
    #[schema(minimum = 0, maximum = 100000000)]
    pub fee_fixed: i64,
    /// The smallest amount it takes, in paise (`null`: no lower limit).
    #[schema(minimum = 1)]
    pub min_amount: Option<i64>,
    /// The largest amount it takes, in paise (`null`: no upper limit).
    #[schema(minimum = 1)]
    pub max_amount: Option<i64>,
    /// When it was archived (`null` unless `status` is `archived`).
    pub archived_at: Option<DateTime<Utc>>,
    /// Per credential field: `…` and the last four characters of a public identifier, `hmac:`
    /// and a keyed fingerprint of a secret (`null` until `lightspeedpay reseal` computes it for
    /// an account stored before fingerprints existed).
    #[schema(value_type = BTreeMap<String, Option<String>>)]
    pub credentials: Value,
    /// When it was added.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

const VIEW_COLUMNS: &str = "id, provider, label, environment, ownership, owner_merchant_id, status, \
     fee_bps, fee_fixed, min_amount, max_amount, archived_at, credentials_hint, created_at, updated_at";

impl GatewayAccountView {
    fn from_row(row: &Row) -> Result<GatewayAccountView, DecodeError> {
        let row = Record::new(row, "gateway_accounts");
        Ok(GatewayAccountView {
            id: GatewayAccountId::from_uuid(row.get("id")?),
            provider: row.get("provider")?,
            label: row.get("label")?,
            environment: row.parse("environment")?,
            ownership: row.get("ownership")?,
            merchant_id: row
                .get::<Option<uuid::Uuid>>("owner_merchant_id")?
                .map(MerchantId::from_uuid),
            status: row.get("status")?,
            fee_bps: row.get("fee_bps")?,
            fee_fixed: row.get("fee_fixed")?,
            min_amount: row.get("min_amount")?,
            max_amount: row.get("max_amount")?,
            archived_at: row.get("archived_at")?,
            credentials: row.get("credentials_hint")?,
            created_at: row.get("created_at")?,
            updated_at: row.get("updated_at")?,
        })
    }
}

/// What an operator sends to add an account.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "provider": "razorpay", "label": "Razorpay test", "environment": "test",
    "credentials": { "key_id": "rzp_test_EXAMPLEKEY", "key_secret": "example-secret", "webhook_secret": "example-webhook-secret" }
}))]
pub struct AddGatewayAccount {
    /// `razorpay`, `payu`, `cashfree`, `phonepe`, `easebuzz`, `stripe` or `sandbox`.
    #[schema(value_type = crate::gateways::Provider)]
    pub provider: String,
    /// A name for operators.
    #[schema(min_length = 1, max_length = 200)]
    pub label: String,
    /// `test` or `live`.
    #[schema(value_type = Mode)]
    pub environment: String,
    /// The merchant that owns it (the gateway settles to the merchant); the platform's otherwise.
    #[schema(value_type = Option<crate::ids::MerchantId>)]
    pub merchant_id: Option<String>,
    /// The provider's credential fields (which ones depends on the provider).
    #[schema(value_type = BTreeMap<String, String>)]
    pub credentials: BTreeMap<String, Secret<String>>,
}

/// Credential fields whose prefix shows the provider's mode: (provider, field, test prefixes,
/// live prefixes). Only where the provider's own documentation or SDK says so (Stripe's secret,
/// restricted and publishable keys; Razorpay's key id); the others' keys do not show it.
const KEY_MODES: &[(&str, &str, &[&str], &[&str])] = &[
    (
        "stripe",
        "secret_key",
        &["sk_test_", "rk_test_"],
        &["sk_live_", "rk_live_"],
    ),
    ("stripe", "publishable_key", &["pk_test_"], &["pk_live_"]),
    ("razorpay", "key_id", &["rzp_test_"], &["rzp_live_"]),
];

/// Why `value` cannot be `provider`'s `field` on an account of `environment` (F10): a live key on
/// a test account would charge real cards from test traffic, and the reverse fails every call.
fn key_mode_problem(provider: &str, field: &str, value: &str, environment: Mode) -> Option<String> {
    let (_, _, test, live) = KEY_MODES
        .iter()
        .find(|(p, f, _, _)| *p == provider && *f == field)?;
    let (wanted, other) = match environment {
        Mode::Test => (test, live),
        Mode::Live => (live, test),
    };
    let value = value.trim();
    if wanted.iter().any(|p| value.starts_with(p)) {
        return None;
    }
    Some(if other.iter().any(|p| value.starts_with(p)) {
        let shown = match environment {
            Mode::Test => Mode::Live,
            Mode::Live => Mode::Test,
        };
        format!("is a {shown} key; this account's environment is {environment}")
    } else {
        format!(
            "must start with {} for a {environment} account",
            wanted.join(" or ")
        )
    })
}

/// Checks an operator's request against what the provider needs; every problem at once.
pub fn validate(
    gateways: &Gateways,
    request: AddGatewayAccount,
) -> Result<NewGatewayAccount, AppError> {
    let mut errors = FieldErrors::new();
    let label = request.label.trim().to_string();
    if label.is_empty() || label.chars().count() > 200 {
        errors.add("label", "must be 1 to 200 characters");
    }
    let environment = match request.environment.parse::<Mode>() {
        Ok(mode) => Some(mode),
        Err(_) => {
            errors.add("environment", "must be 'test' or 'live'");
            None
        }
    };
    let ownership = match request.merchant_id.as_deref().map(str::parse::<MerchantId>) {
        None => Some(Ownership::Platform),
        Some(Ok(id)) => Some(Ownership::Merchant(id)),
        Some(Err(_)) => {
            errors.add("merchant_id", "is not a merchant id");
            None
        }
    };
    match gateways.get(&request.provider) {
        None => errors.add(
            "provider",
            format!("must be one of: {}", gateways.names().join(", ")),
        ),
        Some(_) => check_credentials(
            gateways,
            &request.provider,
            environment,
            &request.credentials,
            &mut errors,
        ),
    }
    // The sandbox pays anything anyone presses Pay on: it must never hold live money (F9).
    if request.provider == "sandbox" && environment == Some(Mode::Live) {
        errors.add(
            "environment",
            "the sandbox is a test gateway: its accounts must be 'test'",
        );
    }
    errors.into_result()?;
    match (environment, ownership) {
        (Some(environment), Some(ownership)) => Ok(NewGatewayAccount {
            provider: request.provider,
            label,
            environment,
            ownership,
            credentials: trimmed(request.credentials),
        }),
        _ => Err(AppError::Internal("validated fields missing".into())),
    }
}

/// Checks a complete set of credentials for `provider` on an account of `environment` (unknown
/// when the request's own environment is invalid): every required field present and non-blank,
/// no other field, none too long, key prefixes matching the environment. Adding and replacing
/// credentials share this, so a replacement is held to exactly what an addition is.
fn check_credentials(
    gateways: &Gateways,
    provider: &str,
    environment: Option<Mode>,
    credentials: &BTreeMap<String, Secret<String>>,
    errors: &mut FieldErrors,
) {
    let Some(gateway) = gateways.get(provider) else {
        return;
    };
    let required = gateway.required_credentials();
    for name in required {
        let present = credentials
            .get(*name)
            .is_some_and(|v| !v.expose().trim().is_empty());
        if !present {
            errors.add(format!("credentials.{name}"), "is required");
        }
    }
    for name in credentials.keys() {
        if !required.contains(&name.as_str()) {
            errors.add(
                format!("credentials.{name}"),
                format!(
                    "is not a {provider} credential (expected: {})",
                    required.join(", ")
                ),
            );
        }
    }
    for (name, value) in credentials {
        if value.expose().len() > 4096 {
            errors.add(format!("credentials.{name}"), "is longer than 4096 bytes");
        } else if let Some(mode) = environment
            && let Some(problem) = key_mode_problem(provider, name, value.expose(), mode)
        {
            errors.add(format!("credentials.{name}"), problem);
        }
    }
}

/// Credentials as stored: each value without surrounding whitespace.
fn trimmed(credentials: BTreeMap<String, Secret<String>>) -> Credentials {
    credentials
        .into_iter()
        .map(|(k, v)| (k, Secret::new(v.expose().trim().to_string())))
        .collect()
}

/// Stores a validated account and audits it (operator scope).
pub async fn add(
    tx: &Transaction<'_>,
    keys: &KeyRing,
    ctx: &AuditContext,
    account: &NewGatewayAccount,
) -> Result<GatewayAccountView, AppError> {
    if let Ownership::Merchant(merchant) = account.ownership {
        let exists = tx
            .query_typed_opt(
                "SELECT 1 FROM merchants WHERE id = $1",
                &[(&merchant.as_uuid(), Type::UUID)],
            )
            .await?
            .is_some();
        if !exists {
            return Err(AppError::field("merchant_id", "no such merchant"));
        }
    }
    refuse_shared_webhook_signer(tx, keys, &account.provider, &account.credentials, None).await?;
    let id = create(tx, keys, account).await?;
    let view = get(tx, id)
        .await?
        .ok_or(AppError::NotFound("gateway account"))?;
    // The audit row names the credential fields and nothing about their values: it can never be
    // altered, so it must never hold anything derived from a secret.
    let mut after = serde_json::to_value(&view).ok();
    if let Some(Value::Object(fields)) = after.as_mut() {
        let names: Vec<&String> = account.credentials.keys().collect();
        fields.insert("credentials".into(), serde_json::json!(names));
    }
    audit::record(
        tx,
        ctx,
        AuditEvent::success("gateway_account.created")
            .merchant(view.merchant_id)
            .target("gateway_account", id)
            .change(None, after),
    )
    .await?;
    Ok(view)
}

/// `PUT /api/v1/admin/gateways/{id}`: only the fields sent change; `null` clears an amount limit.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({ "label": "Razorpay (primary)", "fee_bps": 200, "fee_fixed": 300, "min_amount": 100, "max_amount": null, "status": "active" }))]
pub struct UpdateGatewayAccount {
    /// A new name for operators.
    #[schema(min_length = 1, max_length = 200)]
    pub label: Option<String>,
    /// The percentage fee in basis points: 0 to 10000.
    #[schema(minimum = 0, maximum = 10000)]
    pub fee_bps: Option<i64>,
    /// The fixed fee per payment, in paise.
    #[schema(minimum = 0, maximum = 100000000)]
    pub fee_fixed: Option<i64>,
    /// The smallest amount it takes, in paise, or `null` for no lower limit.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>, minimum = 1)]
    pub min_amount: Option<Option<i64>>,
    /// The largest amount it takes, in paise, or `null` for no upper limit (at least
    /// `min_amount`).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>, minimum = 1)]
    pub max_amount: Option<Option<i64>>,
    /// `active` or `disabled` (an account is archived with `DELETE`).
    #[schema(pattern = "^(active|disabled)$")]
    pub status: Option<String>,
    /// A complete new set of the provider's credential fields, replacing the old ones.
    #[schema(value_type = Option<BTreeMap<String, String>>)]
    pub credentials: Option<BTreeMap<String, Secret<String>>>,
}

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`).
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// The largest fixed fee an account may charge, in paise (₹10,00,000; the schema's bound).
const MAX_FEE_FIXED: i64 = 100_000_000;

/// One account, locked for a change.
async fn lock(tx: &Transaction<'_>, id: GatewayAccountId) -> Result<GatewayAccountView, AppError> {
    let row = tx
        .query_typed_opt(
            &format!("SELECT {VIEW_COLUMNS} FROM gateway_accounts WHERE id = $1 FOR UPDATE"),
            &[(&id.as_uuid(), Type::UUID)],
        )
        .await?
        .ok_or(AppError::NotFound("gateway account"))?;
    Ok(GatewayAccountView::from_row(&row)?)
}

/// An account view as the audit log may hold it: credential field names only, nothing derived
/// from a secret (the log can never be altered).
fn audit_snapshot(view: &GatewayAccountView) -> Option<Value> {
    let mut snapshot = serde_json::to_value(view).ok();
    if let Some(Value::Object(fields)) = snapshot.as_mut() {
        let names: Vec<String> = match &view.credentials {
            Value::Object(hints) => hints.keys().cloned().collect(),
            _ => Vec::new(),
        };
        fields.insert("credentials".into(), serde_json::json!(names));
    }
    snapshot
}

/// Changes an account's label, fees, amount limits, status or credentials (operator scope); every
/// problem at once. An archived account cannot be changed. New credentials are validated as
/// [`validate`] does for the account's provider and environment, sealed under the active key and
/// fingerprinted again. Audited without credentials.
pub async fn update(
    tx: &Transaction<'_>,
    gateways: &Gateways,
    keys: &KeyRing,
    ctx: &AuditContext,
    id: GatewayAccountId,
    patch: UpdateGatewayAccount,
) -> Result<GatewayAccountView, AppError> {
    let before = lock(tx, id).await?;
    if before.status == "archived" {
        return Err(AppError::Conflict(
            "this gateway account is archived and can no longer be changed".into(),
        ));
    }
    let mut errors = FieldErrors::new();
    let nothing = patch.label.is_none()
        && patch.fee_bps.is_none()
        && patch.fee_fixed.is_none()
        && patch.min_amount.is_none()
        && patch.max_amount.is_none()
        && patch.status.is_none()
        && patch.credentials.is_none();
    if nothing {
        errors.add(
            "body",
            "must change at least one of label, fee_bps, fee_fixed, min_amount, max_amount, status, credentials",
        );
    }
    let label = match patch.label.as_deref().map(str::trim) {
        Some(label) if label.is_empty() || label.chars().count() > 200 => {
            errors.add("label", "must be 1 to 200 characters");
            None
        }
        other => other.map(str::to_string),
    };
    if patch
        .fee_bps
        .is_some_and(|fee| !(0..=10_000).contains(&fee))
    {
        errors.add("fee_bps", "must be from 0 to 10000 basis points");
    }
    if patch
        .fee_fixed
        .is_some_and(|fee| !(0..=MAX_FEE_FIXED).contains(&fee))
    {
        errors.add(
            "fee_fixed",
            format!("must be from 0 to {MAX_FEE_FIXED} paise"),
        );
    }
    for (field, value) in [
        ("min_amount", patch.min_amount),
        ("max_amount", patch.max_amount),
    ] {
        if value.flatten().is_some_and(|amount| amount < 1) {
            errors.add(field, "must be at least 1 paisa, or null for no limit");
        }
    }
    let min_amount = patch.min_amount.unwrap_or(before.min_amount);
    let max_amount = patch.max_amount.unwrap_or(before.max_amount);
    if let (Some(min), Some(max)) = (min_amount, max_amount)
        && min > max
    {
        let field = if patch.max_amount.is_some() {
            "max_amount"
        } else {
            "min_amount"
        };
        errors.add(
            field,
            format!("min_amount ({min}) must not be larger than max_amount ({max})"),
        );
    }
    let status = match patch.status.as_deref() {
        None => before.status.clone(),
        Some(s @ ("active" | "disabled")) => s.to_string(),
        Some("archived") => {
            errors.add(
                "status",
                "an account is archived with DELETE /api/v1/admin/gateways/{id}",
            );
            before.status.clone()
        }
        Some(_) => {
            errors.add("status", "must be 'active' or 'disabled'");
            before.status.clone()
        }
    };
    if let Some(credentials) = &patch.credentials {
        check_credentials(
            gateways,
            &before.provider,
            Some(before.environment),
            credentials,
            &mut errors,
        );
    }
    errors.into_result()?;

    let credentials = patch.credentials.map(trimmed);
    // An active account may not share its webhook signer with another active one: checked when
    // the credentials change or a disabled account becomes active again.
    if status == "active" && (credentials.is_some() || before.status != "active") {
        let current = match &credentials {
            Some(new) => new.clone(),
            // Stored credentials that cannot be opened (their key is gone) could not take
            // payments either: the operator must replace them rather than activate.
            None => match open(tx, keys, id).await {
                Ok(account) => account.credentials,
                Err(e) => {
                    tracing::error!(account = %id, error = %e, "gateway account cannot be opened; not activated");
                    return Err(AppError::Conflict(
                        "the stored credentials cannot be opened with the configured keys; \
                         send new credentials to activate this account"
                            .into(),
                    ));
                }
            },
        };
        refuse_shared_webhook_signer(tx, keys, &before.provider, &current, Some(id)).await?;
    }
    let fee_bps = match patch.fee_bps {
        Some(fee) => i32::try_from(fee).map_err(|_| AppError::field("fee_bps", "out of range"))?,
        None => before.fee_bps,
    };
    tx.execute_typed(
        "UPDATE gateway_accounts SET label = $2, fee_bps = $3, fee_fixed = $4, min_amount = $5,
             max_amount = $6, status = $7, updated_at = now()
         WHERE id = $1",
        &[
            (&id.as_uuid(), Type::UUID),
            (&label.unwrap_or_else(|| before.label.clone()), Type::TEXT),
            (&fee_bps, Type::INT4),
            (&patch.fee_fixed.unwrap_or(before.fee_fixed), Type::INT8),
            (&min_amount, Type::INT8),
            (&max_amount, Type::INT8),
            (&status, Type::TEXT),
        ],
    )
    .await?;
    if let Some(credentials) = &credentials {
        let plain: BTreeMap<&str, &str> = credentials
            .iter()
            .map(|(k, v)| (k.as_str(), v.expose().as_str()))
            .collect();
        let json = serde_json::to_vec(&plain).map_err(|e| AppError::Internal(e.to_string()))?;
        let sealed = keys.seal(&json, &aad(id));
        tx.execute_typed(
            "UPDATE gateway_accounts SET credentials_key_id = $2, credentials_nonce = $3,
                 credentials_ciphertext = $4, credentials_hint = $5
             WHERE id = $1",
            &[
                (&id.as_uuid(), Type::UUID),
                (&sealed.key_id, Type::TEXT),
                (&sealed.nonce.to_vec(), Type::BYTEA),
                (&sealed.ciphertext, Type::BYTEA),
                (&hints(keys, &before.provider, credentials), Type::JSONB),
            ],
        )
        .await?;
        crate::gateway_lookup::record(tx, id, &before.provider, credentials).await?;
    }
    let after = get(tx, id)
        .await?
        .ok_or(AppError::NotFound("gateway account"))?;
    let mut after_snapshot = audit_snapshot(&after);
    if let Some(Value::Object(fields)) = after_snapshot.as_mut() {
        fields.insert(
            "credentials_replaced".into(),
            Value::Bool(credentials.is_some()),
        );
    }
    audit::record(
        tx,
        ctx,
        AuditEvent::success("gateway_account.updated")
            .merchant(after.merchant_id)
            .target("gateway_account", id)
            .change(audit_snapshot(&before), after_snapshot),
    )
    .await?;
    Ok(after)
}

/// Archives an account (operator scope): it stays, with its history, but takes no payments and
/// can no longer be changed. Refused while money is still moving through it: an attempt that is
/// created or pending, or a refund still pending on one of its attempts. Archiving an archived
/// account answers it as it is. Audited.
pub async fn archive(
    tx: &Transaction<'_>,
    ctx: &AuditContext,
    id: GatewayAccountId,
) -> Result<GatewayAccountView, AppError> {
    // The row lock also makes a payment adding an attempt on this account (its foreign key
    // check locks the row) wait for this decision.
    let before = lock(tx, id).await?;
    if before.status == "archived" {
        return Ok(before);
    }
    let row = tx
        .query_typed_one(
            "SELECT (SELECT count(*) FROM transaction_attempts
                      WHERE gateway_account_id = $1 AND status IN ('created', 'pending')) AS open_attempts,
                    (SELECT count(*) FROM refunds r JOIN transaction_attempts a ON a.id = r.attempt_id
                      WHERE a.gateway_account_id = $1 AND r.status = 'pending') AS pending_refunds",
            &[(&id.as_uuid(), Type::UUID)],
        )
        .await?;
    let row = Record::new(&row, "gateway_accounts");
    let open_attempts: i64 = row.get("open_attempts")?;
    let pending_refunds: i64 = row.get("pending_refunds")?;
    if open_attempts > 0 || pending_refunds > 0 {
        return Err(AppError::Conflict(format!(
            "this gateway account still has {open_attempts} open payment attempt(s) and \
             {pending_refunds} pending refund(s); archive it once they have ended \
             (disable it meanwhile so it takes no new payments)"
        )));
    }
    tx.execute_typed(
        "UPDATE gateway_accounts SET status = 'archived', archived_at = now(), updated_at = now()
         WHERE id = $1",
        &[(&id.as_uuid(), Type::UUID)],
    )
    .await?;
    let after = get(tx, id)
        .await?
        .ok_or(AppError::NotFound("gateway account"))?;
    audit::record(
        tx,
        ctx,
        AuditEvent::success("gateway_account.archived")
            .merchant(after.merchant_id)
            .target("gateway_account", id)
            .change(audit_snapshot(&before), audit_snapshot(&after)),
    )
    .await?;
    Ok(after)
}

/// The credentials that decide which account an inbound webhook verifies against, per provider:
/// two active accounts holding the same ones could not be told apart (F8).
const WEBHOOK_SIGNERS: &[(&str, &[&str])] = &[
    ("sandbox", &["webhook_secret"]),
    ("razorpay", &["webhook_secret"]),
    ("stripe", &["webhook_secret"]),
    ("cashfree", &["client_secret"]),
    ("payu", &["key", "salt"]),
    ("easebuzz", &["key", "salt"]),
    ("phonepe", &["merchant_id", "salt_key"]),
];

/// Refuses credentials whose webhook-signing part is that of an active account of the same
/// provider (other than `except`, the account being edited): its events would be attributed to
/// whichever account is tried first, and the other's never applied. The existing accounts are
/// opened to compare (adding is rare); one that cannot be opened is skipped and logged, it
/// cannot verify webhooks either.
async fn refuse_shared_webhook_signer(
    tx: &Transaction<'_>,
    keys: &KeyRing,
    provider: &str,
    credentials: &Credentials,
    except: Option<GatewayAccountId>,
) -> Result<(), AppError> {
    let Some((_, fields)) = WEBHOOK_SIGNERS.iter().find(|(p, _)| *p == provider) else {
        return Ok(());
    };
    let signer = |credentials: &BTreeMap<String, Secret<String>>| -> Option<Vec<u8>> {
        let mut joined = Vec::new();
        for field in *fields {
            let value = credentials.get(*field)?.expose().as_bytes();
            joined.extend_from_slice(&(value.len() as u64).to_be_bytes());
            joined.extend_from_slice(value);
        }
        Some(joined)
    };
    let Some(new) = signer(credentials) else {
        return Ok(());
    };
    let except = except.map(|id| id.as_uuid());
    let rows = tx
        .query_typed(
            "SELECT id FROM gateway_accounts
             WHERE provider = $1 AND status = 'active' AND ($2::uuid IS NULL OR id <> $2)",
            &[(&provider, Type::TEXT), (&except, Type::UUID)],
        )
        .await?;
    for row in rows {
        let id = GatewayAccountId::from_uuid(Record::new(&row, "gateway_accounts").get("id")?);
        let existing = match open(tx, keys, id).await {
            Ok(existing) => existing,
            Err(e) => {
                tracing::error!(account = %id, error = %e, "gateway account cannot be opened; skipped in the duplicate-secret check");
                continue;
            }
        };
        if signer(&existing.credentials).is_some_and(|old| constant_time_eq(&old, &new)) {
            let field = fields.last().copied().unwrap_or("webhook_secret");
            return Err(AppError::field(
                format!("credentials.{field}"),
                "is already used by another active account of this provider",
            ));
        }
    }
    Ok(())
}

/// One account, as operators see it.
pub async fn get(
    tx: &Transaction<'_>,
    id: GatewayAccountId,
) -> Result<Option<GatewayAccountView>, AppError> {
    let row = tx
        .query_typed_opt(
            &format!("SELECT {VIEW_COLUMNS} FROM gateway_accounts WHERE id = $1"),
            &[(&id.as_uuid(), Type::UUID)],
        )
        .await?;
    Ok(row.as_ref().map(GatewayAccountView::from_row).transpose()?)
}

/// Accounts, newest first, optionally of one provider.
pub async fn list(
    tx: &Transaction<'_>,
    page: &PageRequest<GatewayAccountId>,
    provider: Option<&str>,
) -> Result<Page<GatewayAccountView>, AppError> {
    let after = page.starting_after.map(|id| id.as_uuid());
    let rows = tx
        .query_typed(
            &format!(
                "SELECT {VIEW_COLUMNS} FROM gateway_accounts
                 WHERE ($1::uuid IS NULL OR id < $1) AND ($2::text IS NULL OR provider = $2)
                 ORDER BY id DESC LIMIT $3"
            ),
            &[
                (&after, Type::UUID),
                (&provider, Type::TEXT),
                (&page.fetch_limit(), Type::INT8),
            ],
        )
        .await?;
    Ok(Page::from_rows(
        rows.iter()
            .map(GatewayAccountView::from_row)
            .collect::<Result<_, _>>()?,
        page.limit,
    ))
}

/// Accounts to re-seal: sealed under another key than the active one, or with a credential whose
/// fingerprint is still missing (`null` in `credentials_hint`, left by migration V8).
pub async fn needing_reseal(
    tx: &Transaction<'_>,
    keys: &KeyRing,
) -> Result<Vec<GatewayAccountId>, AppError> {
    let rows = tx
        .query_typed(
            "SELECT id FROM gateway_accounts
             WHERE credentials_key_id <> $1
                OR EXISTS (SELECT 1 FROM jsonb_each(credentials_hint) h WHERE h.value = 'null'::jsonb)
             ORDER BY id",
            &[(&keys.active_key_id(), Type::TEXT)],
        )
        .await?;
    rows.iter()
        .map(|row| {
            Ok(GatewayAccountId::from_uuid(
                Record::new(row, "gateway_accounts").get("id")?,
            ))
        })
        .collect()
}

/// Opens one account's credentials and seals them again under the active key, recomputing their
/// fingerprints, inside `tx` with the row locked (platform scope). Audited.
pub async fn reseal(
    tx: &Transaction<'_>,
    keys: &KeyRing,
    ctx: &AuditContext,
    id: GatewayAccountId,
) -> Result<Resealed, AppError> {
    let row = tx
        .query_typed_opt(
            "SELECT provider, owner_merchant_id, credentials_key_id, credentials_nonce, credentials_ciphertext,
                    EXISTS (SELECT 1 FROM jsonb_each(credentials_hint) h WHERE h.value = 'null'::jsonb) AS hints_missing
             FROM gateway_accounts WHERE id = $1 FOR UPDATE",
            &[(&id.as_uuid(), Type::UUID)],
        )
        .await?
        .ok_or(AppError::NotFound("gateway account"))?;
    let record = Record::new(&row, "gateway_accounts");
    let key_id: String = record.get("credentials_key_id")?;
    let hints_missing: bool = record.get("hints_missing")?;
    if key_id == keys.active_key_id() && !hints_missing {
        return Ok(Resealed::Current);
    }
    if !keys.has_key(&key_id) {
        return Ok(Resealed::MissingKey { key_id });
    }
    let nonce: &[u8] = record.get("credentials_nonce")?;
    let sealed = Sealed {
        key_id: key_id.clone(),
        nonce: nonce.try_into().map_err(|_| {
            AppError::Internal(format!(
                "gateway account {id}: stored nonce has the wrong length"
            ))
        })?,
        ciphertext: record.get("credentials_ciphertext")?,
    };
    let plain = keys
        .open(&sealed, &aad(id))
        .map_err(|e| AppError::Internal(format!("gateway account {id}: {e}")))?;
    let map: BTreeMap<String, String> = serde_json::from_slice(&plain)
        .map_err(|e| AppError::Internal(format!("gateway account {id}: {e}")))?;
    let credentials: Credentials = map.into_iter().map(|(k, v)| (k, Secret::new(v))).collect();
    let provider: String = record.get("provider")?;
    let owner: Option<uuid::Uuid> = record.get("owner_merchant_id")?;
    let resealed = keys.seal(&plain, &aad(id));
    tx.execute_typed(
        "UPDATE gateway_accounts SET credentials_key_id = $2, credentials_nonce = $3,
             credentials_ciphertext = $4, credentials_hint = $5, updated_at = now()
         WHERE id = $1",
        &[
            (&id.as_uuid(), Type::UUID),
            (&resealed.key_id, Type::TEXT),
            (&resealed.nonce.to_vec(), Type::BYTEA),
            (&resealed.ciphertext, Type::BYTEA),
            (&hints(keys, &provider, &credentials), Type::JSONB),
        ],
    )
    .await?;
    audit::record(
        tx,
        ctx,
        AuditEvent::success("gateway_account.resealed")
            .merchant(owner.map(MerchantId::from_uuid))
            .target("gateway_account", id)
            .change(
                Some(serde_json::json!({ "key_id": key_id })),
                Some(serde_json::json!({ "key_id": resealed.key_id })),
            ),
    )
    .await?;
    Ok(Resealed::Done { from: key_id })
}

/// Adds an account to a merchant's routing pool at `priority` (lower is tried first), moving the
/// pool's version so that an operator's edit based on the pool before is refused, not undone.
pub async fn add_to_pool(
    tx: &Transaction<'_>,
    merchant: MerchantId,
    account: GatewayAccountId,
    priority: i32,
) -> Result<(), AppError> {
    crate::routing::pools::touch(tx, merchant).await?;
    tx.execute_typed(
        "INSERT INTO routing_pool_members (merchant_id, gateway_account_id, priority) VALUES ($1, $2, $3)
         ON CONFLICT (merchant_id, gateway_account_id) DO UPDATE SET priority = EXCLUDED.priority, updated_at = now()",
        &[(&merchant.as_uuid(), Type::UUID), (&account.as_uuid(), Type::UUID), (&priority, Type::INT4)],
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_show_tails_of_public_identifiers_and_fingerprints_of_secrets() {
        let keys = KeyRing::parse(&KeyRing::generate_spec("k1"), None).unwrap();
        let creds: Credentials = [
            ("key".to_string(), Secret::new("gtKFFx".to_string())),
            ("salt".to_string(), Secret::new("eCwWELxi".to_string())),
        ]
        .into();
        let shown = hints(&keys, "payu", &creds);
        assert_eq!(shown["key"], "…KFFx");
        assert_eq!(
            shown["salt"],
            format!("hmac:{}", keys.fingerprint(b"eCwWELxi"))
        );
        assert!(!shown.to_string().contains("ELxi"));
        let short: Credentials = [("key_id".to_string(), Secret::new("12".to_string()))].into();
        assert_eq!(hints(&keys, "razorpay", &short)["key_id"], "…12");
        // A field public for one provider is a secret for another.
        assert!(
            hints(&keys, "sandbox", &short)["key_id"]
                .as_str()
                .unwrap()
                .starts_with("hmac:")
        );
    }
}
