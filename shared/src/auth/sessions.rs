//! Dashboard sessions: password login, rotating refresh tokens with reuse detection, and the
//! per-request check that a token's user still exists with the role and merchant it claims.

use super::jwt::{self, Claims};
use super::{Identified, MerchantActor, Principal};
use crate::app::App;
use crate::audit::{self, Actor, AuditContext, AuditEvent};
use crate::crypto::{password, random, sha256};
use crate::db::Transaction;
use crate::db::record::Record;
use crate::db::{self, Scope};
use crate::error::{AppError, AuthFailure};
use crate::ids::{MerchantId, UserId};
use crate::mode::Mode;
use crate::secret::Secret;
use crate::users::Role;
use chrono::{DateTime, Utc};
use serde_json::json;
use tokio_postgres::types::Type;
use uuid::Uuid;

/// What login and refresh return.
#[derive(Debug, Clone)]
pub struct TokenPair {
    /// The JWT for `Authorization: Bearer`.
    pub access_token: Secret<String>,
    /// The single-use refresh token (none for an enrolment-only session, which cannot be
    /// refreshed into a full one).
    pub refresh_token: Option<Secret<String>>,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// The token may only enrol a second factor (`ADMIN_MFA_REQUIRED`).
    pub enrolment_only: bool,
}

struct UserRow {
    id: UserId,
    role: Role,
    merchant: Option<MerchantId>,
}

/// Consecutive failures after which an account is locked.
const LOCK_AFTER_FAILURES: i32 = 5;

/// What login needs of a user row.
struct Candidate {
    user: UserRow,
    password_hash: String,
    active: bool,
    locked: bool,
    mfa_enabled: bool,
    mfa_last_step: Option<i64>,
    sealed_mfa: Option<crate::crypto::cipher::Sealed>,
}

/// Checks an email and password (and a TOTP code when the user has a second factor) and opens a
/// session.
///
/// F7: consecutive failures lock the account, the lock doubling from one minute after the fifth
/// failure up to a day; an operator can lift it. A locked account answers exactly like a wrong
/// password (401 `invalid_login`), not 429 or "locked": a distinct answer would tell a guesser
/// that the email exists and that the lock is on, and when to come back. Failures go to
/// `login_failures` (pruned); the audit log, which is never pruned, gets failures of existing,
/// unlocked accounts and the lockouts themselves, which the lock bounds to a few a day.
pub async fn login(
    app: &App,
    email: &str,
    password_attempt: &str,
    otp: Option<&str>,
    ctx: &AuditContext,
) -> Result<TokenPair, AppError> {
    let email = email.trim().to_ascii_lowercase();
    let found = {
        let mut client = app.db.client().await?;
        let tx = db::begin(&mut client, Scope::System).await?;
        let row = tx
            .query_typed_opt(
                "SELECT id, password_hash, role, merchant_id, status,
                        coalesce(locked_until > now(), false) AS locked,
                        mfa_enabled_at IS NOT NULL AS mfa_enabled, mfa_last_step,
                        mfa_key_id, mfa_nonce, mfa_ciphertext
                 FROM users WHERE email = $1",
                &[(&email, Type::TEXT)],
            )
            .await?;
        tx.commit().await?;
        match row {
            None => None,
            Some(row) => {
                let r = Record::new(&row, "users");
                Some(Candidate {
                    user: UserRow {
                        id: UserId::from_uuid(r.get("id")?),
                        role: r.parse("role")?,
                        merchant: r
                            .get::<Option<Uuid>>("merchant_id")?
                            .map(MerchantId::from_uuid),
                    },
                    password_hash: r.get("password_hash")?,
                    active: r.get::<&str>("status")? == "active",
                    locked: r.get("locked")?,
                    mfa_enabled: r.get("mfa_enabled")?,
                    mfa_last_step: r.get("mfa_last_step")?,
                    sealed_mfa: super::mfa::sealed_secret(&row)?,
                })
            }
        }
    };
    // Verify outside any transaction: Argon2 is deliberately slow and must not hold a connection.
    // A locked account is not checked at all (the dummy keeps the timing the same).
    let verified = match &found {
        Some(c) if !c.locked => password::verify(password_attempt, &c.password_hash) && c.active,
        _ => {
            password::verify_against_dummy(password_attempt);
            false
        }
    };
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::System).await?;
    let candidate = match found {
        Some(candidate) if verified => candidate,
        other => {
            let failure = match &other {
                Some(c) if c.locked => Failure::Locked,
                _ => Failure::Password,
            };
            fail(&tx, ctx, &email, other.as_ref().map(|c| &c.user), failure).await?;
            tx.commit().await?;
            return Err(AppError::Unauthorized(AuthFailure::InvalidLogin));
        }
    };
    let user = candidate.user;
    let mut step = None;
    if candidate.mfa_enabled {
        let Some(code) = otp else {
            return Err(AppError::Unauthorized(AuthFailure::OtpRequired));
        };
        let sealed = candidate
            .sealed_mfa
            .as_ref()
            .ok_or_else(|| AppError::Internal(format!("user {} has MFA but no secret", user.id)))?;
        step = super::mfa::check_code(
            &app.config.encryption,
            user.id,
            sealed,
            code,
            app.clock.now(),
            candidate.mfa_last_step,
        )?;
        if step.is_none() {
            fail(&tx, ctx, &email, Some(&user), Failure::Otp).await?;
            tx.commit().await?;
            return Err(AppError::Unauthorized(AuthFailure::InvalidOtp));
        }
    }
    // The step is recorded only if it is later than the last one used: of two logins racing with
    // one code, one wins.
    let updated = tx
        .execute_typed(
            "UPDATE users SET last_login_at = now(), failed_logins = 0, locked_until = NULL,
                 mfa_last_step = coalesce($2, mfa_last_step)
             WHERE id = $1 AND ($2::int8 IS NULL OR mfa_last_step IS NULL OR mfa_last_step < $2)",
            &[(&user.id.as_uuid(), Type::UUID), (&step, Type::INT8)],
        )
        .await?;
    if updated == 0 {
        fail(&tx, ctx, &email, Some(&user), Failure::Otp).await?;
        tx.commit().await?;
        return Err(AppError::Unauthorized(AuthFailure::InvalidOtp));
    }
    // An operator without a second factor, while one is required, gets a token that can only
    // enrol one (and log out); after confirming, they log in again with a code.
    let enrolment_only =
        user.role == Role::Admin && app.config.auth.admin_mfa_required && !candidate.mfa_enabled;
    let pair = open_session(app, &tx, &user, Uuid::now_v7(), enrolment_only).await?;
    let event = AuditEvent::success("auth.login")
        .target("user", user.id)
        .merchant(user.merchant);
    audit::record(&tx, &ctx.as_actor(Actor::User(user.id)), event).await?;
    tx.commit().await?;
    Ok(pair)
}

/// Why a login failed, as `login_failures.reason`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Failure {
    Password,
    Locked,
    Otp,
}

/// Records a failed login: a `login_failures` row always; for an existing account that was not
/// already locked, one more consecutive failure (locking it from the fifth) and an audit row.
async fn fail(
    tx: &Transaction<'_>,
    ctx: &AuditContext,
    email: &str,
    user: Option<&UserRow>,
    failure: Failure,
) -> Result<(), AppError> {
    let reason = match failure {
        Failure::Password => "invalid_login",
        Failure::Locked => "locked",
        Failure::Otp => "invalid_otp",
    };
    let user_uuid = user.map(|u| u.id.as_uuid());
    let stored_email: String = email.chars().take(254).collect();
    tx.execute_typed(
        "INSERT INTO login_failures (user_id, email, reason, source_ip, request_id) VALUES ($1, $2, $3, $4, $5)",
        &[
            (&user_uuid, Type::UUID),
            (&stored_email, Type::TEXT),
            (&reason, Type::TEXT),
            (&ctx.source_ip, Type::TEXT),
            (&ctx.request_id, Type::TEXT),
        ],
    )
    .await?;
    let Some(user) = user else { return Ok(()) };
    if failure == Failure::Locked {
        return Ok(());
    }
    let row = tx
        .query_typed_one(
            "UPDATE users SET failed_logins = failed_logins + 1,
                 locked_until = CASE WHEN failed_logins + 1 >= $2
                     THEN now() + least(interval '1 minute' * power(2, failed_logins + 1 - $2), interval '1 day')
                     ELSE locked_until END
             WHERE id = $1
             RETURNING failed_logins, locked_until",
            &[(&user.id.as_uuid(), Type::UUID), (&LOCK_AFTER_FAILURES, Type::INT4)],
        )
        .await?;
    let r = Record::new(&row, "users");
    let failed: i32 = r.get("failed_logins")?;
    let locked_until: Option<DateTime<Utc>> = r.get("locked_until")?;
    let ctx = ctx.as_actor(Actor::User(user.id));
    let event = AuditEvent::failure("auth.login")
        .target("user", user.id)
        .merchant(user.merchant)
        .change(None, Some(json!({ "email": email, "reason": reason })));
    audit::record(tx, &ctx, event).await?;
    if failed >= LOCK_AFTER_FAILURES {
        let event = AuditEvent::success("user.locked")
            .target("user", user.id)
            .merchant(user.merchant)
            .change(
                None,
                Some(json!({ "failed_logins": failed, "locked_until": locked_until })),
            );
        audit::record(tx, &ctx.as_actor(Actor::System), event).await?;
    }
    Ok(())
}

/// Exchanges a refresh token for a new pair. A token that was already used revokes its family.
pub async fn refresh(app: &App, token: &str, ctx: &AuditContext) -> Result<TokenPair, AppError> {
    let hash = sha256(token.as_bytes()).to_vec();
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::System).await?;
    let row = tx
        .query_typed_opt(
            "SELECT t.family_id, t.user_id, t.expires_at, t.used_at, t.revoked_at, u.role, u.merchant_id, u.status
             FROM refresh_tokens t JOIN users u ON u.id = t.user_id
             WHERE t.token_hash = $1 FOR UPDATE OF t",
            &[(&hash, Type::BYTEA)],
        )
        .await?;
    let Some(row) = row else {
        return Err(AppError::Unauthorized(AuthFailure::InvalidRefreshToken));
    };
    let row = Record::new(&row, "refresh_tokens");
    let family: Uuid = row.get("family_id")?;
    let user = UserRow {
        id: UserId::from_uuid(row.get("user_id")?),
        role: row.parse("role")?,
        merchant: row
            .get::<Option<Uuid>>("merchant_id")?
            .map(MerchantId::from_uuid),
    };
    let expires_at: DateTime<Utc> = row.get("expires_at")?;
    let used_at: Option<DateTime<Utc>> = row.get("used_at")?;
    let revoked_at: Option<DateTime<Utc>> = row.get("revoked_at")?;
    let active_user = row.get::<&str>("status")? == "active";

    let failure = if used_at.is_some() {
        // Someone holds a copy of a spent token: end every session descended from that login.
        revoke_family(&tx, family, "reuse_detected").await?;
        let event = AuditEvent::failure("auth.refresh_token_reused")
            .target("user", user.id)
            .merchant(user.merchant);
        audit::record(&tx, &ctx.as_actor(Actor::User(user.id)), event).await?;
        Some(AuthFailure::RefreshTokenReused)
    } else if revoked_at.is_some() || expires_at <= app.clock.now() {
        Some(AuthFailure::InvalidRefreshToken)
    } else if !active_user {
        revoke_family(&tx, family, "user_inactive").await?;
        Some(AuthFailure::InactiveUser)
    } else {
        None
    };
    if let Some(failure) = failure {
        tx.commit().await?;
        return Err(AppError::Unauthorized(failure));
    }
    tx.execute_typed(
        "UPDATE refresh_tokens SET used_at = now() WHERE token_hash = $1",
        &[(&hash, Type::BYTEA)],
    )
    .await?;
    let pair = open_session(app, &tx, &user, family, false).await?;
    tx.commit().await?;
    Ok(pair)
}

async fn revoke_family(
    tx: &Transaction<'_>,
    family: Uuid,
    reason: &str,
) -> Result<(), tokio_postgres::Error> {
    tx.execute_typed(
        "UPDATE refresh_tokens SET revoked_at = now(), revoked_reason = $2 WHERE family_id = $1 AND revoked_at IS NULL",
        &[(&family, Type::UUID), (&reason, Type::TEXT)],
    )
    .await?;
    Ok(())
}

async fn open_session(
    app: &App,
    tx: &Transaction<'_>,
    user: &UserRow,
    family: Uuid,
    enrolment_only: bool,
) -> Result<TokenPair, AppError> {
    let now = app.clock.now();
    let refresh_token = format!("lsprt_{}", random::base62(48));
    // An enrolment-only session still has a row (its access token is checked against it and
    // dies with it), but its refresh token is never handed out and lives no longer than the
    // access token.
    let ttl = if enrolment_only {
        app.config.auth.access_token_ttl
    } else {
        app.config.auth.refresh_token_ttl
    };
    let ttl = chrono::Duration::from_std(ttl).map_err(|e| AppError::Internal(e.to_string()))?;
    let expires_at = now + ttl;
    tx.execute_typed(
        "INSERT INTO refresh_tokens (id, family_id, user_id, token_hash, issued_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            (&Uuid::now_v7(), Type::UUID),
            (&family, Type::UUID),
            (&user.id.as_uuid(), Type::UUID),
            (&sha256(refresh_token.as_bytes()).to_vec(), Type::BYTEA),
            (&now, Type::TIMESTAMPTZ),
            (&expires_at, Type::TIMESTAMPTZ),
        ],
    )
    .await?;
    let subject = jwt::Subject {
        user: user.id,
        role: user.role,
        merchant: user.merchant,
        session: family,
        enrolment_only,
    };
    let access_token = jwt::issue(&app.jwt, &subject, now.timestamp())?;
    Ok(TokenPair {
        access_token: Secret::new(access_token),
        refresh_token: (!enrolment_only).then(|| Secret::new(refresh_token)),
        token_type: "Bearer",
        expires_in: app.jwt.ttl_seconds(),
        enrolment_only,
    })
}

/// Resolves a verified token to its principal, checking that the user is still active and still
/// has the role and merchant the token names, and that the token's session has not been revoked
/// (F14: read with the user row, so it costs no extra round trip).
pub(crate) async fn identify(
    tx: &Transaction<'_>,
    claims: &Claims,
    mode: Mode,
    admin_mfa_required: bool,
) -> Result<Identified, AppError> {
    let invalid = || AppError::Unauthorized(AuthFailure::InvalidToken);
    let user: UserId = claims.sub.parse().map_err(|_| invalid())?;
    let claimed_role: Role = claims.role.parse().map_err(|_| invalid())?;
    let claimed_merchant = match &claims.merchant {
        Some(m) => Some(m.parse::<MerchantId>().map_err(|_| invalid())?),
        None => None,
    };
    // A token without a session could not be revoked: refuse it.
    let session: Uuid = claims
        .sid
        .as_deref()
        .and_then(|s| s.parse().ok())
        .ok_or_else(invalid)?;
    let enrolment_only = match claims.scope.as_deref() {
        None => false,
        Some(jwt::ENROLMENT_SCOPE) => true,
        Some(_) => return Err(invalid()),
    };
    let row = tx
        .query_typed_opt(
            "SELECT u.role, u.merchant_id, u.status, u.mfa_enabled_at IS NOT NULL AS mfa_enabled,
                    m.live_enabled, m.rate_limit_per_minute, m.status = 'suspended' AS suspended,
                    (SELECT bool_and(t.revoked_at IS NULL) FROM refresh_tokens t
                      WHERE t.family_id = $2 AND t.user_id = u.id) AS session_active
             FROM users u LEFT JOIN merchants m ON m.id = u.merchant_id WHERE u.id = $1",
            &[(&user.as_uuid(), Type::UUID), (&session, Type::UUID)],
        )
        .await?;
    let inactive = AppError::Unauthorized(AuthFailure::InactiveUser);
    let Some(row) = row else { return Err(inactive) };
    let r = Record::new(&row, "users");
    let role: Role = r.parse("role")?;
    let merchant = r
        .get::<Option<Uuid>>("merchant_id")?
        .map(MerchantId::from_uuid);
    if r.get::<&str>("status")? != "active" || role != claimed_role || merchant != claimed_merchant
    {
        return Err(inactive);
    }
    if r.get::<Option<bool>>("session_active")? != Some(true) {
        return Err(AppError::Unauthorized(AuthFailure::SessionEnded));
    }
    match (role, merchant) {
        (Role::Admin, _) => {
            // A full token issued before the requirement was switched on (or before enrolment
            // was confirmed) does not outlive it.
            if admin_mfa_required && !enrolment_only && !r.get::<bool>("mfa_enabled")? {
                return Err(AppError::Unauthorized(AuthFailure::MfaRequired));
            }
            Ok(Identified {
                principal: Principal::Admin {
                    user_id: user,
                    enrolment_only,
                },
                rate_limit_override: None,
            })
        }
        (Role::Merchant, Some(merchant_id)) => {
            if enrolment_only {
                return Err(invalid());
            }
            if mode == Mode::Live && r.get::<Option<bool>>("live_enabled")? != Some(true) {
                return Err(AppError::Unauthorized(AuthFailure::ModeNotEnabled));
            }
            Ok(Identified {
                principal: Principal::Merchant {
                    merchant_id,
                    mode,
                    via: MerchantActor::User(user),
                    suspended: r.get::<Option<bool>>("suspended")? == Some(true),
                },
                rate_limit_override: r
                    .get::<Option<i32>>("rate_limit_per_minute")?
                    .and_then(|l| u32::try_from(l).ok()),
            })
        }
        (Role::Merchant, None) => Err(inactive),
    }
}

/// Ends the session (refresh-token family) an access token belongs to: its refresh tokens and
/// every access token issued from it stop working.
pub async fn logout(app: &App, claims: &Claims, ctx: &AuditContext) -> Result<(), AppError> {
    let invalid = || AppError::Unauthorized(AuthFailure::InvalidToken);
    let user: UserId = claims.sub.parse().map_err(|_| invalid())?;
    let session: Uuid = claims
        .sid
        .as_deref()
        .and_then(|s| s.parse().ok())
        .ok_or_else(invalid)?;
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::System).await?;
    tx.execute_typed(
        "UPDATE refresh_tokens SET revoked_at = now(), revoked_reason = 'logout'
         WHERE family_id = $1 AND user_id = $2 AND revoked_at IS NULL",
        &[(&session, Type::UUID), (&user.as_uuid(), Type::UUID)],
    )
    .await?;
    let event = AuditEvent::success("auth.logout").target("user", user);
    audit::record(&tx, ctx, event).await?;
    tx.commit().await?;
    Ok(())
}
