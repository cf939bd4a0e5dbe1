//! A dashboard user's second factor (TOTP): enrolment by the logged-in user, the check at login,
//! and an operator's unlock of an account locked by failed logins. The TOTP secret is sealed
//! with the key ring that seals gateway credentials, bound to the user's id.

use super::totp;
use crate::app::App;
use crate::audit::{self, AuditContext, AuditEvent};
use crate::crypto::cipher::{KeyRing, Sealed};
use crate::db::record::{DecodeError, Record};
use crate::db::{self, Scope, Transaction};
use crate::error::AppError;
use crate::ids::{MerchantId, UserId};
use crate::reseal::{self, Plan, Resealed};
use crate::secret::Secret;
use chrono::{DateTime, Utc};
use serde_json::json;
use tokio_postgres::Row;
use tokio_postgres::types::Type;

/// The issuer authenticator apps show next to the code.
const ISSUER: &str = "LightSpeedPay";

/// What enrolment hands the user, once: the secret to type in or the URI to scan.
#[derive(Debug)]
pub struct Enrolment {
    /// The secret in base32.
    pub secret: Secret<String>,
    /// The `otpauth://` URI (it holds the secret too).
    pub otpauth_uri: Secret<String>,
}

fn aad(user: UserId) -> Vec<u8> {
    format!("users.mfa:{user}").into_bytes()
}

/// The sealed secret of a users row (`mfa_key_id`, `mfa_nonce`, `mfa_ciphertext`), if any.
pub(crate) fn sealed_secret(row: &Row) -> Result<Option<Sealed>, AppError> {
    let r = Record::new(row, "users");
    let Some(key_id) = r.get::<Option<String>>("mfa_key_id")? else {
        return Ok(None);
    };
    let nonce: &[u8] = r.required("mfa_nonce")?;
    let nonce: [u8; 12] = nonce.try_into().map_err(|_| DecodeError {
        table: "users",
        column: "mfa_nonce".into(),
        reason: "is not 12 bytes".into(),
    })?;
    Ok(Some(Sealed {
        key_id,
        nonce,
        ciphertext: r.required("mfa_ciphertext")?,
    }))
}

/// The step `code` proves for `user`'s sealed secret, if it is valid now and not used before.
pub(crate) fn check_code(
    keys: &KeyRing,
    user: UserId,
    sealed: &Sealed,
    code: &str,
    now: DateTime<Utc>,
    last_step: Option<i64>,
) -> Result<Option<i64>, AppError> {
    let secret = Secret::new(
        keys.open(sealed, &aad(user))
            .map_err(|e| AppError::Internal(format!("second factor of {user}: {e}")))?,
    );
    Ok(totp::verify(
        secret.expose(),
        code,
        now.timestamp(),
        last_step,
    ))
}

/// Starts (or restarts) enrolment: a new secret, sealed, not yet in force.
pub async fn start(app: &App, user: UserId, ctx: &AuditContext) -> Result<Enrolment, AppError> {
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::System).await?;
    let row = tx
        .query_typed_opt(
            "SELECT email, mfa_enabled_at IS NOT NULL AS mfa_enabled FROM users WHERE id = $1 FOR UPDATE",
            &[(&user.as_uuid(), Type::UUID)],
        )
        .await?
        .ok_or(AppError::NotFound("user"))?;
    let r = Record::new(&row, "users");
    if r.get::<bool>("mfa_enabled")? {
        return Err(AppError::Conflict(
            "a second factor is already enabled for this account".into(),
        ));
    }
    let email: String = r.get("email")?;
    let secret = totp::generate_secret();
    let sealed = app.config.encryption.seal(secret.expose(), &aad(user));
    tx.execute_typed(
        "UPDATE users SET mfa_key_id = $2, mfa_nonce = $3, mfa_ciphertext = $4, mfa_last_step = NULL,
             updated_at = now()
         WHERE id = $1",
        &[
            (&user.as_uuid(), Type::UUID),
            (&sealed.key_id, Type::TEXT),
            (&sealed.nonce.to_vec(), Type::BYTEA),
            (&sealed.ciphertext, Type::BYTEA),
        ],
    )
    .await?;
    audit::record(
        &tx,
        ctx,
        AuditEvent::success("auth.mfa_enrolment_started").target("user", user),
    )
    .await?;
    tx.commit().await?;
    let encoded = totp::base32(secret.expose());
    Ok(Enrolment {
        otpauth_uri: Secret::new(totp::otpauth_uri(ISSUER, &email, &encoded)),
        secret: Secret::new(encoded),
    })
}

/// Confirms enrolment with a code from the app; from then on login asks for a code.
pub async fn confirm(
    app: &App,
    user: UserId,
    code: &str,
    ctx: &AuditContext,
) -> Result<(), AppError> {
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::System).await?;
    let row = tx
        .query_typed_opt(
            "SELECT mfa_key_id, mfa_nonce, mfa_ciphertext, mfa_enabled_at IS NOT NULL AS mfa_enabled,
                    mfa_last_step
             FROM users WHERE id = $1 FOR UPDATE",
            &[(&user.as_uuid(), Type::UUID)],
        )
        .await?
        .ok_or(AppError::NotFound("user"))?;
    let r = Record::new(&row, "users");
    if r.get::<bool>("mfa_enabled")? {
        return Err(AppError::Conflict(
            "a second factor is already enabled for this account".into(),
        ));
    }
    let Some(sealed) = sealed_secret(&row)? else {
        return Err(AppError::field(
            "otp",
            "start enrolment first (POST /api/v1/auth/mfa/totp)",
        ));
    };
    let last_step: Option<i64> = r.get("mfa_last_step")?;
    let Some(step) = check_code(
        &app.config.encryption,
        user,
        &sealed,
        code,
        app.clock.now(),
        last_step,
    )?
    else {
        return Err(AppError::field("otp", "is not a valid code"));
    };
    tx.execute_typed(
        "UPDATE users SET mfa_enabled_at = now(), mfa_last_step = $2, updated_at = now() WHERE id = $1",
        &[(&user.as_uuid(), Type::UUID), (&step, Type::INT8)],
    )
    .await?;
    audit::record(
        &tx,
        ctx,
        AuditEvent::success("auth.mfa_enabled").target("user", user),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Lifts a lockout (operator scope); audited with what it cleared.
pub async fn unlock(
    tx: &Transaction<'_>,
    ctx: &AuditContext,
    user: UserId,
) -> Result<(), AppError> {
    let row = tx
        .query_typed_opt(
            "SELECT failed_logins, locked_until FROM users WHERE id = $1 FOR UPDATE",
            &[(&user.as_uuid(), Type::UUID)],
        )
        .await?
        .ok_or(AppError::NotFound("user"))?;
    let r = Record::new(&row, "users");
    let failed: i32 = r.get("failed_logins")?;
    let locked_until: Option<DateTime<Utc>> = r.get("locked_until")?;
    tx.execute_typed(
        "UPDATE users SET failed_logins = 0, locked_until = NULL, updated_at = now() WHERE id = $1",
        &[(&user.as_uuid(), Type::UUID)],
    )
    .await?;
    audit::record(
        tx,
        ctx,
        AuditEvent::success("user.unlocked")
            .target("user", user)
            .change(
                Some(json!({ "failed_logins": failed, "locked_until": locked_until })),
                Some(json!({ "failed_logins": 0, "locked_until": null })),
            ),
    )
    .await?;
    Ok(())
}

/// Users whose TOTP secret is sealed under another key than the active one (platform scope).
pub async fn needing_reseal(tx: &Transaction<'_>, keys: &KeyRing) -> Result<Vec<UserId>, AppError> {
    let rows = tx
        .query_typed(
            "SELECT id FROM users WHERE mfa_key_id <> $1 ORDER BY id",
            &[(&keys.active_key_id(), Type::TEXT)],
        )
        .await?;
    rows.iter()
        .map(|row| Ok(UserId::from_uuid(Record::new(row, "users").get("id")?)))
        .collect()
}

/// Seals one user's TOTP secret (enabled or still being enrolled) again under the active key,
/// inside `tx` with the row locked (platform scope). The secret itself does not change, so the
/// user's authenticator app keeps working. Audited.
pub async fn reseal(
    tx: &Transaction<'_>,
    keys: &KeyRing,
    ctx: &AuditContext,
    user: UserId,
) -> Result<Resealed, AppError> {
    let Some(row) = tx
        .query_typed_opt(
            "SELECT merchant_id, mfa_key_id, mfa_nonce, mfa_ciphertext FROM users WHERE id = $1 FOR UPDATE",
            &[(&user.as_uuid(), Type::UUID)],
        )
        .await?
    else {
        return Ok(Resealed::Current);
    };
    let Some(sealed) = sealed_secret(&row)? else {
        return Ok(Resealed::Current);
    };
    let merchant: Option<uuid::Uuid> = Record::new(&row, "users").get("merchant_id")?;
    let row_name = format!("second factor of {user}");
    let resealed = match reseal::plan(keys, &sealed, &aad(user), &row_name)? {
        Plan::Leave(outcome) => return Ok(outcome),
        Plan::Store(resealed) => resealed,
    };
    tx.execute_typed(
        "UPDATE users SET mfa_key_id = $2, mfa_nonce = $3, mfa_ciphertext = $4, updated_at = now()
         WHERE id = $1",
        &[
            (&user.as_uuid(), Type::UUID),
            (&resealed.key_id, Type::TEXT),
            (&resealed.nonce.to_vec(), Type::BYTEA),
            (&resealed.ciphertext, Type::BYTEA),
        ],
    )
    .await?;
    audit::record(
        tx,
        ctx,
        AuditEvent::success("user.mfa_resealed")
            .merchant(merchant.map(MerchantId::from_uuid))
            .target("user", user)
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
