//! Who is calling: merchants' servers by API key pair, dashboard users by JWT; and what they may
//! do (roles `admin` and `merchant`).

pub mod api_keys;
pub mod jwt;
pub mod mfa;
pub mod sessions;
pub mod totp;

use crate::app::App;
use crate::audit::{Actor, AuditContext};
use crate::db::{self, Scope};
use crate::error::{AppError, AuthFailure};
use crate::http::ApiRequest;
use crate::ids::{CredentialId, MerchantId, UserId};
use crate::mode::Mode;
use crate::rate_limit::{self, RateLimitStatus};

/// The authenticated caller of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Principal {
    /// A merchant, through its server's key pair or one of its dashboard users.
    Merchant {
        /// The merchant.
        merchant_id: MerchantId,
        /// The mode the caller acts in.
        mode: Mode,
        /// Key pair or user.
        via: MerchantActor,
        /// The merchant is suspended: routes decide what it may still do (reads, not money).
        suspended: bool,
    },
    /// A platform operator.
    Admin {
        /// The operator.
        user_id: UserId,
        /// The session may only enrol a second factor (`ADMIN_MFA_REQUIRED`).
        enrolment_only: bool,
    },
}

/// How a merchant principal authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MerchantActor {
    /// `X-Client-Key` + `X-Client-Secret`.
    ApiKey(CredentialId),
    /// A dashboard user's bearer token.
    User(UserId),
}

impl Principal {
    /// The database scope this principal's transactions run in.
    pub fn scope(&self) -> Scope {
        match self {
            Principal::Merchant {
                merchant_id, mode, ..
            } => Scope::Merchant {
                id: *merchant_id,
                mode: *mode,
            },
            Principal::Admin { .. } => Scope::Admin,
        }
    }

    /// The audit actor.
    pub fn actor(&self) -> Actor {
        match self {
            Principal::Merchant {
                via: MerchantActor::ApiKey(id),
                ..
            } => Actor::ApiKey(*id),
            Principal::Merchant {
                via: MerchantActor::User(id),
                ..
            } => Actor::User(*id),
            Principal::Admin { user_id, .. } => Actor::User(*user_id),
        }
    }

    /// The merchant, for merchant principals.
    pub fn merchant_id(&self) -> Option<MerchantId> {
        match self {
            Principal::Merchant { merchant_id, .. } => Some(*merchant_id),
            Principal::Admin { .. } => None,
        }
    }

    /// Whether this is a suspended merchant.
    pub fn is_suspended(&self) -> bool {
        matches!(
            self,
            Principal::Merchant {
                suspended: true,
                ..
            }
        )
    }

    /// Whether the session may only enrol a second factor.
    pub fn is_enrolment_only(&self) -> bool {
        matches!(
            self,
            Principal::Admin {
                enrolment_only: true,
                ..
            }
        )
    }

    /// The dashboard user behind the principal (none for a key pair).
    pub fn user_id(&self) -> Option<UserId> {
        match self {
            Principal::Merchant {
                via: MerchantActor::User(user),
                ..
            }
            | Principal::Admin { user_id: user, .. } => Some(*user),
            Principal::Merchant { .. } => None,
        }
    }

    /// Whether this is an operator.
    pub fn is_admin(&self) -> bool {
        matches!(self, Principal::Admin { .. })
    }

    /// The rate-limit bucket: a merchant's servers share one; each user has their own.
    fn rate_limit_key(&self) -> String {
        match self {
            Principal::Merchant {
                merchant_id,
                via: MerchantActor::ApiKey(_),
                ..
            } => format!("merchant:{merchant_id}"),
            Principal::Merchant {
                via: MerchantActor::User(user),
                ..
            }
            | Principal::Admin { user_id: user, .. } => {
                format!("user:{user}")
            }
        }
    }

    /// A short label for logs (ids only).
    pub fn label(&self) -> String {
        match self {
            Principal::Merchant {
                merchant_id,
                mode,
                via: MerchantActor::ApiKey(key),
                ..
            } => format!("{merchant_id}/{mode}/{key}"),
            Principal::Merchant {
                merchant_id,
                mode,
                via: MerchantActor::User(user),
                ..
            } => format!("{merchant_id}/{mode}/{user}"),
            Principal::Admin { user_id, .. } => format!("admin/{user_id}"),
        }
    }
}

/// Request metadata that goes into audit rows.
pub fn audit_context(
    principal: Option<&Principal>,
    request: &ApiRequest,
    request_id: &str,
) -> AuditContext {
    AuditContext {
        actor: principal.map(Principal::actor).unwrap_or(Actor::Anonymous),
        request_id: Some(request_id.to_string()),
        source_ip: request.source_ip.clone(),
    }
}

/// A principal found by a lookup, with the merchant's own rate limit if it has one.
pub(crate) struct Identified {
    pub(crate) principal: Principal,
    pub(crate) rate_limit_override: Option<u32>,
}

/// Authenticates the request's credentials and counts it against the principal's rate limit, in
/// one short transaction. A request over the limit fails with [`AppError::RateLimited`].
///
/// A failed authentication is counted against the source address and the presented client key
/// instead (F5): past the limit the answer is 429 rather than 401. Only failures are counted, so
/// the payment path pays nothing for this; and a caller with the right secret is never refused
/// because of someone else's failures (a client key is public: counting successes against it
/// would let anyone lock a merchant out).
pub async fn authenticate(
    app: &App,
    request: &ApiRequest,
) -> Result<(Principal, RateLimitStatus), AppError> {
    let mut client = app.db.client().await?;
    let tx = db::begin_relaxed(&mut client, Scope::System).await?;
    let identified = match identify(app, &tx, request).await {
        Ok(identified) => identified,
        Err(AppError::Unauthorized(failure)) => {
            return Err(count_failure(app, tx, request, failure).await);
        }
        Err(other) => return Err(other),
    };
    let limit = identified
        .rate_limit_override
        .unwrap_or(app.config.rate_limit_per_minute);
    let bucket = identified.principal.rate_limit_key();
    let status = rate_limit::hit_and_commit(tx, &bucket, limit).await?;
    if status.allowed() {
        Ok((identified.principal, status))
    } else {
        Err(AppError::RateLimited(status))
    }
}

async fn identify(
    app: &App,
    tx: &db::Transaction<'_>,
    request: &ApiRequest,
) -> Result<Identified, AppError> {
    if let Some(key) = request.header("x-client-key") {
        let secret = request.header("x-client-secret").unwrap_or("");
        api_keys::identify(tx, key, secret).await
    } else if let Some(token) = bearer_token(request) {
        let claims = jwt::decode(&app.jwt, token)?;
        let mode = match request.header("x-mode") {
            None => Mode::Test,
            Some(raw) => raw
                .parse::<Mode>()
                .map_err(|e| AppError::field("X-Mode", e))?,
        };
        sessions::identify(tx, &claims, mode, app.config.auth.admin_mfa_required).await
    } else {
        Err(AppError::Unauthorized(AuthFailure::MissingCredentials))
    }
}

/// Counts a failed authentication per source address and per (well-formed) client key; the
/// error to answer: the authentication failure, or 429 once either counter is over its limit.
async fn count_failure(
    app: &App,
    tx: db::Transaction<'_>,
    request: &ApiRequest,
    failure: AuthFailure,
) -> AppError {
    let mut buckets = vec![format!(
        "authfail:ip:{}",
        request.source_ip.as_deref().unwrap_or("unknown")
    )];
    if let Some(key) = request
        .header("x-client-key")
        .filter(|k| api_keys::is_well_formed(k))
    {
        buckets.push(format!("authfail:key:{key}"));
    }
    match rate_limit::hit_all_and_commit(tx, &buckets, app.config.auth.failures_per_minute).await {
        Ok(status) if !status.allowed() => AppError::RateLimited(status),
        Ok(_) => AppError::Unauthorized(failure),
        Err(e) => e.into(),
    }
}

/// Counts an unauthenticated request (login, refresh) against its client address's limit.
pub async fn meter_anonymous(app: &App, request: &ApiRequest) -> Result<RateLimitStatus, AppError> {
    let key = format!("ip:{}", request.source_ip.as_deref().unwrap_or("unknown"));
    let mut client = app.db.client().await?;
    let tx = db::begin_relaxed(&mut client, Scope::System).await?;
    let limit = app.config.rate_limit_per_minute;
    let status = rate_limit::hit_and_commit(tx, &key, limit).await?;
    if status.allowed() {
        Ok(status)
    } else {
        Err(AppError::RateLimited(status))
    }
}

/// The token of an `Authorization: Bearer` header.
pub fn bearer_token(request: &ApiRequest) -> Option<&str> {
    let value = request.header("authorization")?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}
