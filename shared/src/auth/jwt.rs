//! Short-lived HS256 access tokens for dashboard users. Only HS256 is accepted (so `alg: none`
//! and algorithm confusion are refused), and issuer, audience, expiry and subject are required.

use crate::config::AuthConfig;
use crate::error::{AppError, AuthFailure};
use crate::ids::{MerchantId, UserId};
use crate::users::Role;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// The claims we sign.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// The user's id.
    pub sub: String,
    /// `admin` or `merchant`.
    pub role: String,
    /// The user's merchant (merchant users only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant: Option<String>,
    /// Issued at (seconds since the epoch).
    pub iat: i64,
    /// Expires at (seconds since the epoch).
    pub exp: i64,
    /// Token id.
    pub jti: String,
    /// The session (refresh-token family) the token belongs to: it stops working when that
    /// session is revoked (logout, refresh-token reuse, deactivation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// `mfa_enrolment` for a token that may only enrol a second factor (an operator without one
    /// while `ADMIN_MFA_REQUIRED` is on); absent for a full session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// The `scope` claim of a token that may only enrol a second factor.
pub const ENROLMENT_SCOPE: &str = "mfa_enrolment";

/// Signing and verification keys with the expected issuer and audience.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl_seconds: i64,
}

impl JwtKeys {
    /// Keys from configuration (the secret's length was checked when it was read).
    pub fn new(config: &AuthConfig) -> Result<JwtKeys, jsonwebtoken::errors::Error> {
        let secret = config.jwt_secret.expose();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 5;
        Ok(JwtKeys {
            encoding: EncodingKey::from_secret(secret)?,
            decoding: DecodingKey::from_secret(secret)?,
            validation,
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            ttl_seconds: i64::try_from(config.access_token_ttl.as_secs()).unwrap_or(900),
        })
    }

    /// Seconds an access token lives.
    pub fn ttl_seconds(&self) -> i64 {
        self.ttl_seconds
    }
}

/// What an access token is issued for.
pub struct Subject {
    /// The user.
    pub user: UserId,
    /// The user's role.
    pub role: Role,
    /// The user's merchant (merchant users).
    pub merchant: Option<MerchantId>,
    /// The session (refresh-token family).
    pub session: uuid::Uuid,
    /// Only enrolment of a second factor.
    pub enrolment_only: bool,
}

/// Signs an access token for a user's session.
pub fn issue(keys: &JwtKeys, subject: &Subject, now: i64) -> Result<String, AppError> {
    let claims = Claims {
        iss: keys.issuer.clone(),
        aud: keys.audience.clone(),
        sub: subject.user.to_string(),
        role: subject.role.as_str().to_string(),
        merchant: subject.merchant.map(|m| m.to_string()),
        iat: now,
        exp: now + keys.ttl_seconds,
        jti: uuid::Uuid::now_v7().simple().to_string(),
        sid: Some(subject.session.to_string()),
        scope: subject.enrolment_only.then(|| ENROLMENT_SCOPE.to_string()),
    };
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &keys.encoding)
        .map_err(|e| AppError::Internal(format!("signing access token: {e}")))
}

/// Verifies a token's signature, algorithm, issuer, audience and expiry.
pub fn decode(keys: &JwtKeys, token: &str) -> Result<Claims, AppError> {
    jsonwebtoken::decode::<Claims>(token, &keys.decoding, &keys.validation)
        .map(|data| data.claims)
        .map_err(|e| {
            AppError::Unauthorized(match e.kind() {
                ErrorKind::ExpiredSignature => AuthFailure::TokenExpired,
                _ => AuthFailure::InvalidToken,
            })
        })
}
