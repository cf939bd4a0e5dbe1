//! Dashboard users: operators (`admin`) and merchant staff (`merchant`).

use crate::crypto::password;
use crate::db::Transaction;
use crate::error::AppError;
use crate::ids::{MerchantId, UserId};
use crate::validation::{FieldErrors, normalize_email};
use std::str::FromStr;
use tokio_postgres::types::Type;

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Platform operator.
    Admin,
    /// Staff of one merchant.
    Merchant,
}

impl Role {
    /// The name stored and put in tokens.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Merchant => "merchant",
        }
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(Role::Admin),
            "merchant" => Ok(Role::Merchant),
            other => Err(format!("unknown role '{other}'")),
        }
    }
}

/// Shortest password accepted.
pub const MIN_PASSWORD_LEN: usize = 12;
/// Longest password accepted (Argon2 input is bounded to keep hashing cost predictable).
pub const MAX_PASSWORD_LEN: usize = 128;

/// Checks a new password's length; `field` names it in errors.
pub fn check_password(errors: &mut FieldErrors, field: &str, password: &str) {
    let len = password.chars().count();
    if len < MIN_PASSWORD_LEN {
        errors.add(
            field,
            format!("must be at least {MIN_PASSWORD_LEN} characters"),
        );
    } else if len > MAX_PASSWORD_LEN {
        errors.add(
            field,
            format!("must be at most {MAX_PASSWORD_LEN} characters"),
        );
    }
}

/// Creates a user; a merchant user belongs to `merchant`. Fails with a conflict if the email is
/// taken.
pub async fn create(
    tx: &Transaction<'_>,
    email: &str,
    password_plain: &str,
    role: Role,
    merchant: Option<MerchantId>,
) -> Result<UserId, AppError> {
    let mut errors = FieldErrors::new();
    let email = normalize_email(email)
        .map_err(|m| errors.add("email", m))
        .ok();
    check_password(&mut errors, "password", password_plain);
    errors.into_result()?;
    let email = email.unwrap_or_default();
    let hash = password::hash(password_plain).map_err(AppError::Internal)?;
    let id = UserId::generate();
    let inserted = tx
        .execute_typed(
            "INSERT INTO users (id, email, password_hash, role, merchant_id) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (email) DO NOTHING",
            &[
                (&id.as_uuid(), Type::UUID),
                (&email, Type::TEXT),
                (&hash, Type::TEXT),
                (&role.as_str(), Type::TEXT),
                (&merchant.map(|m| m.as_uuid()), Type::UUID),
            ],
        )
        .await?;
    if inserted == 0 {
        return Err(AppError::Conflict(format!(
            "a user with email {email} already exists"
        )));
    }
    Ok(id)
}

/// Sets a user's password (the CLI's reset and the demo seed).
pub async fn set_password(
    tx: &Transaction<'_>,
    email: &str,
    password_plain: &str,
) -> Result<bool, AppError> {
    let mut errors = FieldErrors::new();
    check_password(&mut errors, "password", password_plain);
    errors.into_result()?;
    let hash = password::hash(password_plain).map_err(AppError::Internal)?;
    let email = email.trim().to_ascii_lowercase();
    let updated = tx
        .execute_typed(
            "UPDATE users SET password_hash = $2, updated_at = now() WHERE email = $1",
            &[(&email, Type::TEXT), (&hash, Type::TEXT)],
        )
        .await?;
    Ok(updated == 1)
}
