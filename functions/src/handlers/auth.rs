//! `POST /api/v1/auth/login` and `POST /api/v1/auth/refresh`.

use crate::context::RequestContext;
use serde::Deserialize;
use shared::auth::sessions;
use shared::http::ApiResponse;
use shared::validation::{FieldErrors, normalize_email};
use shared::{App, AppError};
use std::sync::Arc;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginRequest {
    email: String,
    password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefreshRequest {
    refresh_token: String,
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
        &ctx.audit(),
    )
    .await?;
    Ok(ApiResponse::ok(&tokens, "Logged in"))
}

/// A refresh token in, a new pair out; the old refresh token is spent.
pub async fn refresh(app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let body: RefreshRequest = ctx.body()?;
    if body.refresh_token.is_empty() || body.refresh_token.len() > 256 {
        return Err(AppError::field("refresh_token", "must be a refresh token"));
    }
    let tokens = sessions::refresh(&app, &body.refresh_token, &ctx.audit()).await?;
    Ok(ApiResponse::ok(&tokens, "Tokens refreshed"))
}
