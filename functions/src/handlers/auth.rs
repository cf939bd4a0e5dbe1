//! `POST /api/v1/auth/login`, `POST /api/v1/auth/refresh` and `POST /api/v1/auth/logout`.

use crate::context::RequestContext;
use serde::{Deserialize, Serialize};
use shared::auth::sessions::{self, TokenPair};
use shared::auth::{self as authn, jwt, mfa};
use shared::http::ApiResponse;
use shared::validation::{FieldErrors, normalize_email};
use shared::{App, AppError};
use std::sync::Arc;
use utoipa::ToSchema;

/// The body of `POST /api/v1/auth/login`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({ "email": "ops@lightspeedpay.example", "password": "a long passphrase" }))]
pub struct LoginRequest {
    /// The user's email.
    #[schema(format = Email)]
    email: String,
    /// The password.
    #[schema(format = Password, min_length = 1, max_length = 1024)]
    password: String,
    /// The current TOTP code, for accounts with a second factor.
    otp: Option<String>,
}

/// The body of `POST /api/v1/auth/refresh`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token of the last login or refresh; each is used once.
    #[schema(min_length = 1, max_length = 256)]
    refresh_token: String,
}

/// The tokens as the client receives them: the only place they leave [`shared::secret::Secret`].
#[derive(Serialize, ToSchema)]
#[schema(as = Tokens)]
pub struct TokensView<'a> {
    /// A bearer JWT for `Authorization: Bearer …`.
    access_token: &'a str,
    /// Exchanges for new tokens at `/api/v1/auth/refresh`; absent on an enrolment-only session.
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<&'a str>,
    /// Always `Bearer`.
    token_type: &'static str,
    /// Seconds until the access token expires.
    expires_in: i64,
    /// Present (true) when the token may only enrol the second factor the user's role requires.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    enrolment_only: bool,
}

/// `POST /api/v1/auth/logout` ended the session.
#[derive(Serialize, ToSchema)]
pub struct LoggedOut {
    /// Always true.
    logged_out: bool,
}

/// `POST /api/v1/auth/mfa/totp/confirm` enabled the second factor.
#[derive(Serialize, ToSchema)]
pub struct MfaEnabled {
    /// Always true.
    mfa_enabled: bool,
}

fn view(tokens: &TokenPair) -> TokensView<'_> {
    TokensView {
        access_token: tokens.access_token.expose(),
        refresh_token: tokens.refresh_token.as_ref().map(|t| t.expose().as_str()),
        token_type: tokens.token_type,
        expires_in: tokens.expires_in,
        enrolment_only: tokens.enrolment_only,
    }
}

/// Email and password in, access and refresh tokens out.
pub async fn login(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let body: LoginRequest = ctx.body()?;
    let mut errors = FieldErrors::new();
    let email = normalize_email(&body.email)
        .map_err(|m| errors.add("email", m))
        .ok();
    if body.password.is_empty() {
        errors.add("password", "is required");
    } else if body.password.len() > 1024 {
        errors.add("password", "must be at most 1024 bytes");
    }
    errors.into_result()?;
    let tokens = sessions::login(
        &app,
        &email.unwrap_or_default(),
        &body.password,
        body.otp.as_deref(),
        &ctx.audit(),
    )
    .await?;
    Ok(ApiResponse::ok(&view(&tokens), "Logged in"))
}

/// A refresh token in, a new pair out; the old refresh token is spent.
pub async fn refresh(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let body: RefreshRequest = ctx.body()?;
    if body.refresh_token.is_empty() || body.refresh_token.len() > 256 {
        return Err(AppError::field("refresh_token", "must be a refresh token"));
    }
    let tokens = sessions::refresh(&app, &body.refresh_token, &ctx.audit()).await?;
    Ok(ApiResponse::ok(&view(&tokens), "Tokens refreshed"))
}

/// Ends the caller's session: its refresh tokens and every access token issued from it.
pub async fn logout(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let principal = ctx.principal()?;
    let token = match (principal.user_id(), authn::bearer_token(&ctx.request)) {
        (Some(_), Some(token)) => token,
        _ => return Err(AppError::Forbidden("Only dashboard sessions log out")),
    };
    // Already verified by the pipeline; decoded again only to read its session id.
    let claims = jwt::decode(&app.jwt, token)?;
    sessions::logout(&app, &claims, &ctx.audit()).await?;
    Ok(ApiResponse::ok(
        &LoggedOut { logged_out: true },
        "Logged out",
    ))
}

/// The enrolment answer: shown once; the secret is stored only sealed.
#[derive(Serialize, ToSchema)]
#[schema(as = TotpEnrolment)]
pub struct EnrolmentView<'a> {
    /// The base32 secret for the authenticator app.
    secret: &'a str,
    /// The same as an `otpauth://` URI (for a QR code).
    otpauth_uri: &'a str,
    /// Always `SHA1`.
    algorithm: &'static str,
    /// Digits per code.
    digits: u32,
    /// Seconds per code.
    period: i64,
}

/// The body of `POST /api/v1/auth/mfa/totp/confirm`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmRequest {
    /// A current code from the authenticator app.
    #[schema(max_length = 16)]
    otp: String,
}

fn session_user(ctx: &RequestContext) -> Result<shared::ids::UserId, AppError> {
    ctx.principal()?.user_id().ok_or(AppError::Forbidden(
        "Second factors belong to dashboard users",
    ))
}

/// Starts TOTP enrolment for the logged-in user: a new secret, shown once.
pub async fn start_totp(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let user = session_user(&ctx)?;
    let enrolment = mfa::start(&app, user, &ctx.audit()).await?;
    Ok(ApiResponse::created(
        &EnrolmentView {
            secret: enrolment.secret.expose(),
            otpauth_uri: enrolment.otpauth_uri.expose(),
            algorithm: "SHA1",
            digits: authn::totp::DIGITS,
            period: authn::totp::STEP_SECONDS,
        },
        "Add the secret to an authenticator app, then confirm with a code: it is shown only once",
    ))
}

/// Confirms TOTP enrolment with a current code; later logins need a code.
pub async fn confirm_totp(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let user = session_user(&ctx)?;
    let body: ConfirmRequest = ctx.body()?;
    if body.otp.len() > 16 {
        return Err(AppError::field("otp", "is not a valid code"));
    }
    mfa::confirm(&app, user, &body.otp, &ctx.audit()).await?;
    Ok(ApiResponse::ok(
        &MfaEnabled { mfa_enabled: true },
        "Second factor enabled: log in again with a code",
    ))
}
