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
use crate::users::Role;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use tokio_postgres::types::Type;
use uuid::Uuid;

/// What login and refresh return.
#[derive(Debug, Clone, Serialize)]
pub struct TokenPair {
    /// The JWT for `Authorization: Bearer`.
    pub access_token: String,
    /// The single-use refresh token.
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
}

struct UserRow {
    id: UserId,
    role: Role,
    merchant: Option<MerchantId>,
}

/// Checks an email and password and opens a session. Both outcomes are audited.
pub async fn login(
    app: &App,
    email: &str,
    password_attempt: &str,
    ctx: &AuditContext,
) -> Result<TokenPair, AppError> {
    let email = email.trim().to_ascii_lowercase();
    let found = {
        let mut client = app.db.client().await?;
        let tx = db::begin(&mut client, Scope::System).await?;
        let row = tx
            .query_typed_opt(
                "SELECT id, password_hash, role, merchant_id, status FROM users WHERE email = $1",
                &[(&email, Type::TEXT)],
            )
            .await?;
        tx.commit().await?;
        row
    };
    // Verify outside any transaction: Argon2 is deliberately slow and must not hold a connection.
    let verified = match &found {
        Some(row) => {
            password::verify(password_attempt, row.get(1)) && row.get::<_, &str>(4) == "active"
        }
        None => {
            password::verify_against_dummy(password_attempt);
            false
        }
    };

    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::System).await?;
    let user = match (found, verified) {
        (Some(row), true) => UserRow {
            id: UserId::from_uuid(row.get(0)),
            role: row.get::<_, &str>(2).parse().map_err(AppError::Internal)?,
            merchant: row.get::<_, Option<Uuid>>(3).map(MerchantId::from_uuid),
        },
        (row, _) => {
            let user = row.as_ref().map(|r| UserId::from_uuid(r.get(0)));
            let merchant = row
                .as_ref()
                .and_then(|r| r.get::<_, Option<Uuid>>(3))
                .map(MerchantId::from_uuid);
            let ctx = ctx.as_actor(user.map(Actor::User).unwrap_or(Actor::Anonymous));
            let mut event = AuditEvent::failure("auth.login")
                .merchant(merchant)
                .change(None, Some(json!({ "email": email })));
            if let Some(user) = user {
                event = event.target("user", user);
            }
            audit::record(&tx, &ctx, event).await?;
            tx.commit().await?;
            return Err(AppError::Unauthorized(AuthFailure::InvalidLogin));
        }
    };
    tx.execute_typed(
        "UPDATE users SET last_login_at = now() WHERE id = $1",
        &[(&user.id.as_uuid(), Type::UUID)],
    )
    .await?;
    let pair = open_session(app, &tx, &user, Uuid::now_v7()).await?;
    let event = AuditEvent::success("auth.login")
        .target("user", user.id)
        .merchant(user.merchant);
    audit::record(&tx, &ctx.as_actor(Actor::User(user.id)), event).await?;
    tx.commit().await?;
    Ok(pair)
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
    let family: Uuid = row.get(0);
    let user = UserRow {
        id: UserId::from_uuid(row.get(1)),
        role: row.get::<_, &str>(5).parse().map_err(AppError::Internal)?,
        merchant: row.get::<_, Option<Uuid>>(6).map(MerchantId::from_uuid),
    };
    let expires_at: DateTime<Utc> = row.get(2);
    let used_at: Option<DateTime<Utc>> = row.get(3);
    let revoked_at: Option<DateTime<Utc>> = row.get(4);
    let active_user = row.get::<_, &str>(7) == "active";

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
    let pair = open_session(app, &tx, &user, family).await?;
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
) -> Result<TokenPair, AppError> {
    let now = app.clock.now();
    let refresh_token = format!("lsprt_{}", random::base62(48));
    let ttl = chrono::Duration::from_std(app.config.auth.refresh_token_ttl)
        .map_err(|e| AppError::Internal(e.to_string()))?;
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
    let access_token = jwt::issue(&app.jwt, user.id, user.role, user.merchant, now.timestamp())?;
    Ok(TokenPair {
        access_token,
        refresh_token,
        token_type: "Bearer",
        expires_in: app.jwt.ttl_seconds(),
    })
}

/// Resolves a verified token to its principal, checking that the user is still active and still
/// has the role and merchant the token names.
pub(crate) async fn identify(
    tx: &Transaction<'_>,
    claims: &Claims,
    mode: Mode,
) -> Result<Identified, AppError> {
    let invalid = AppError::Unauthorized(AuthFailure::InvalidToken);
    let user: UserId = claims.sub.parse().map_err(|_| invalid)?;
    let claimed_role: Role = claims
        .role
        .parse()
        .map_err(|_| AppError::Unauthorized(AuthFailure::InvalidToken))?;
    let claimed_merchant = match &claims.merchant {
        Some(m) => Some(
            m.parse::<MerchantId>()
                .map_err(|_| AppError::Unauthorized(AuthFailure::InvalidToken))?,
        ),
        None => None,
    };
    let row = tx
        .query_typed_opt(
            "SELECT u.role, u.merchant_id, u.status, m.live_enabled, m.rate_limit_per_minute,
                    m.status = 'suspended' AS suspended
             FROM users u LEFT JOIN merchants m ON m.id = u.merchant_id WHERE u.id = $1",
            &[(&user.as_uuid(), Type::UUID)],
        )
        .await?;
    let inactive = AppError::Unauthorized(AuthFailure::InactiveUser);
    let Some(row) = row else { return Err(inactive) };
    let role: Role = row.get::<_, &str>(0).parse().map_err(AppError::Internal)?;
    let merchant = row.get::<_, Option<Uuid>>(1).map(MerchantId::from_uuid);
    if row.get::<_, &str>(2) != "active" || role != claimed_role || merchant != claimed_merchant {
        return Err(inactive);
    }
    match (role, merchant) {
        (Role::Admin, _) => Ok(Identified {
            principal: Principal::Admin { user_id: user },
            rate_limit_override: None,
        }),
        (Role::Merchant, Some(merchant_id)) => {
            if mode == Mode::Live && !row.get::<_, Option<bool>>(3).unwrap_or(false) {
                return Err(AppError::Unauthorized(AuthFailure::ModeNotEnabled));
            }
            Ok(Identified {
                principal: Principal::Merchant {
                    merchant_id,
                    mode,
                    via: MerchantActor::User(user),
                    suspended: Record::new(&row, "users").get::<Option<bool>>("suspended")?
                        == Some(true),
                },
                rate_limit_override: row
                    .get::<_, Option<i32>>(4)
                    .and_then(|l| u32::try_from(l).ok()),
            })
        }
        (Role::Merchant, None) => Err(inactive),
    }
}
