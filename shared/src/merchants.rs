//! Merchants: onboarding, reading, changing and suspending them. Every change by an operator is
//! audited with the state before and after, in the same transaction.

use crate::audit::{self, AuditContext, AuditEvent};
use crate::auth::api_keys::{self, IssuedCredential};
use crate::db::Transaction;
use crate::db::record::{DecodeError, Record};
use crate::error::AppError;
use crate::http::pagination::{Page, PageRequest};
use crate::ids::{MerchantId, UserId};
use crate::mode::Mode;
use crate::secret::Secret;
use crate::users::{self, Role};
use crate::validation::{FieldErrors, check_length, normalize_email};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use tokio_postgres::Row;
use tokio_postgres::types::Type;

/// A merchant as the API shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Merchant {
    /// Its id.
    pub id: MerchantId,
    /// Business name.
    pub name: String,
    /// Contact email.
    pub email: String,
    /// `active` or `suspended`.
    #[schema(pattern = "^(active|suspended)$")]
    pub status: String,
    /// Why it is suspended.
    pub suspended_reason: Option<String>,
    /// Whether live mode is activated.
    pub live_enabled: bool,
    /// Its own requests-per-minute limit, if it has one.
    pub rate_limit_per_minute: Option<i32>,
    /// When it was onboarded.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, name, email, status, suspended_reason, live_enabled, rate_limit_per_minute, created_at, updated_at";

impl Merchant {
    fn from_row(row: &Row) -> Result<Merchant, DecodeError> {
        let row = Record::new(row, "merchants");
        Ok(Merchant {
            id: MerchantId::from_uuid(row.get("id")?),
            name: row.get("name")?,
            email: row.get("email")?,
            status: row.get("status")?,
            suspended_reason: row.get("suspended_reason")?,
            live_enabled: row.get("live_enabled")?,
            rate_limit_per_minute: row.get("rate_limit_per_minute")?,
            created_at: row.get("created_at")?,
            updated_at: row.get("updated_at")?,
        })
    }

    fn snapshot(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    /// Whether it may take new payments.
    pub fn is_suspended(&self) -> bool {
        self.status == "suspended"
    }
}

/// `POST /api/v1/admin/merchants`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "Chai Point", "email": "accounts@chaipoint.example", "live_enabled": false,
    "user": { "email": "owner@chaipoint.example", "password": "a long passphrase" }
}))]
pub struct CreateMerchant {
    /// Business name.
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// Contact email (unique).
    #[schema(format = Email)]
    pub email: String,
    /// Activate live mode now.
    #[serde(default)]
    pub live_enabled: bool,
    /// Its own requests-per-minute limit.
    #[schema(minimum = 1, maximum = 1000000)]
    pub rate_limit_per_minute: Option<u32>,
    /// A first dashboard user for the merchant.
    pub user: Option<NewUser>,
}

/// A dashboard user created with a merchant.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// Login email.
    #[schema(format = Email)]
    pub email: String,
    /// Initial password.
    #[schema(value_type = String, format = Password)]
    pub password: Secret<String>,
}

/// `PATCH /api/v1/admin/merchants/{id}`: only the fields sent change; `null` clears the limit.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMerchant {
    /// New business name.
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    /// Activate or deactivate live mode.
    pub live_enabled: Option<bool>,
    /// New limit, or `null` for the platform default.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 1000000)]
    pub rate_limit_per_minute: Option<Option<u32>>,
}

/// `POST /api/v1/admin/merchants/{id}/suspend`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SuspendMerchant {
    /// Why, for the merchant and the audit log.
    #[schema(min_length = 1, max_length = 500)]
    pub reason: String,
}

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

fn check_rate_limit(errors: &mut FieldErrors, limit: Option<u32>) {
    if limit.is_some_and(|l| !(1..=1_000_000).contains(&l)) {
        errors.add("rate_limit_per_minute", "must be from 1 to 1000000");
    }
}

/// What onboarding produced: the merchant, its test key pair and its first user.
#[derive(Debug)]
pub struct Onboarded {
    /// The merchant.
    pub merchant: Merchant,
    /// The test-mode key pair (secret shown once).
    pub test_credentials: IssuedCredential,
    /// The dashboard user, if one was asked for.
    pub user_id: Option<UserId>,
}

/// Onboards a merchant with a routing pool and a test key pair (platform scope).
pub async fn create(
    tx: &Transaction<'_>,
    ctx: &AuditContext,
    request: CreateMerchant,
) -> Result<Onboarded, AppError> {
    let mut errors = FieldErrors::new();
    check_length(&mut errors, "name", &request.name, 1, 200);
    let email = normalize_email(&request.email)
        .map_err(|m| errors.add("email", m))
        .ok();
    check_rate_limit(&mut errors, request.rate_limit_per_minute);
    if let Some(user) = &request.user {
        if let Err(m) = normalize_email(&user.email) {
            errors.add("user.email", m);
        }
        users::check_password(&mut errors, "user.password", user.password.expose());
    }
    errors.into_result()?;
    let email = email.unwrap_or_default();

    let id = MerchantId::generate();
    let limit = request.rate_limit_per_minute.map(|l| l as i32);
    let row = tx
        .query_typed_opt(
            &format!(
                "INSERT INTO merchants (id, name, email, live_enabled, rate_limit_per_minute) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (email) DO NOTHING RETURNING {COLUMNS}"
            ),
            &[
                (&id.as_uuid(), Type::UUID),
                (&request.name.trim(), Type::TEXT),
                (&email, Type::TEXT),
                (&request.live_enabled, Type::BOOL),
                (&limit, Type::INT4),
            ],
        )
        .await?;
    let Some(row) = row else {
        return Err(AppError::Conflict(format!(
            "a merchant with email {email} already exists"
        )));
    };
    let merchant = Merchant::from_row(&row)?;
    tx.execute_typed(
        "INSERT INTO routing_pools (merchant_id) VALUES ($1)",
        &[(&id.as_uuid(), Type::UUID)],
    )
    .await?;
    let test_credentials = api_keys::rotate(tx, id, Mode::Test).await?;
    let user_id = match &request.user {
        Some(user) => Some(
            users::create(
                tx,
                &user.email,
                user.password.expose(),
                Role::Merchant,
                Some(id),
            )
            .await?,
        ),
        None => None,
    };
    audit::record(
        tx,
        ctx,
        AuditEvent::success("merchant.created")
            .merchant(id)
            .target("merchant", id)
            .change(None, Some(merchant.snapshot())),
    )
    .await?;
    Ok(Onboarded {
        merchant,
        test_credentials,
        user_id,
    })
}

/// One merchant, if visible in the transaction's scope.
pub async fn get(tx: &Transaction<'_>, id: MerchantId) -> Result<Option<Merchant>, AppError> {
    let row = tx
        .query_typed_opt(
            &format!("SELECT {COLUMNS} FROM merchants WHERE id = $1"),
            &[(&id.as_uuid(), Type::UUID)],
        )
        .await?;
    Ok(row.as_ref().map(Merchant::from_row).transpose()?)
}

/// Merchants, newest first.
pub async fn list(
    tx: &Transaction<'_>,
    page: &PageRequest<MerchantId>,
    status: Option<&str>,
) -> Result<Page<Merchant>, AppError> {
    let after = page.starting_after.map(|id| id.as_uuid());
    let rows = tx
        .query_typed(
            &format!(
                "SELECT {COLUMNS} FROM merchants
                 WHERE ($1::uuid IS NULL OR id < $1) AND ($2::text IS NULL OR status = $2)
                 ORDER BY id DESC LIMIT $3"
            ),
            &[
                (&after, Type::UUID),
                (&status, Type::TEXT),
                (&page.fetch_limit(), Type::INT8),
            ],
        )
        .await?;
    Ok(Page::from_rows(
        rows.iter()
            .map(Merchant::from_row)
            .collect::<Result<_, _>>()?,
        page.limit,
    ))
}

async fn lock(tx: &Transaction<'_>, id: MerchantId) -> Result<Merchant, AppError> {
    let row = tx
        .query_typed_opt(
            &format!("SELECT {COLUMNS} FROM merchants WHERE id = $1 FOR UPDATE"),
            &[(&id.as_uuid(), Type::UUID)],
        )
        .await?;
    row.as_ref()
        .map(Merchant::from_row)
        .transpose()?
        .ok_or(AppError::NotFound("merchant"))
}

async fn store(tx: &Transaction<'_>, m: &Merchant) -> Result<Merchant, AppError> {
    let row = tx
        .query_typed_one(
            &format!(
                "UPDATE merchants SET name = $2, status = $3, suspended_reason = $4, live_enabled = $5,
                     rate_limit_per_minute = $6, updated_at = now()
                 WHERE id = $1 RETURNING {COLUMNS}"
            ),
            &[
                (&m.id.as_uuid(), Type::UUID),
                (&m.name, Type::TEXT),
                (&m.status, Type::TEXT),
                (&m.suspended_reason, Type::TEXT),
                (&m.live_enabled, Type::BOOL),
                (&m.rate_limit_per_minute, Type::INT4),
            ],
        )
        .await?;
    Ok(Merchant::from_row(&row)?)
}

async fn change(
    tx: &Transaction<'_>,
    ctx: &AuditContext,
    id: MerchantId,
    action: &'static str,
    apply: impl FnOnce(&mut Merchant),
) -> Result<Merchant, AppError> {
    let before = lock(tx, id).await?;
    let mut next = before.clone();
    apply(&mut next);
    let after = store(tx, &next).await?;
    audit::record(
        tx,
        ctx,
        AuditEvent::success(action)
            .merchant(id)
            .target("merchant", id)
            .change(Some(before.snapshot()), Some(after.snapshot())),
    )
    .await?;
    Ok(after)
}

/// Changes a merchant's name, live mode or rate limit.
pub async fn update(
    tx: &Transaction<'_>,
    ctx: &AuditContext,
    id: MerchantId,
    patch: UpdateMerchant,
) -> Result<Merchant, AppError> {
    let mut errors = FieldErrors::new();
    if let Some(name) = &patch.name {
        check_length(&mut errors, "name", name, 1, 200);
    }
    check_rate_limit(&mut errors, patch.rate_limit_per_minute.flatten());
    if patch.name.is_none() && patch.live_enabled.is_none() && patch.rate_limit_per_minute.is_none()
    {
        errors.add(
            "body",
            "must change at least one of name, live_enabled, rate_limit_per_minute",
        );
    }
    errors.into_result()?;
    change(tx, ctx, id, "merchant.updated", |m| {
        if let Some(name) = patch.name {
            m.name = name.trim().to_string();
        }
        if let Some(live) = patch.live_enabled {
            m.live_enabled = live;
        }
        if let Some(limit) = patch.rate_limit_per_minute {
            m.rate_limit_per_minute = limit.map(|l| l as i32);
        }
    })
    .await
}

/// Suspends a merchant: it can still read its data but takes no new payments.
pub async fn suspend(
    tx: &Transaction<'_>,
    ctx: &AuditContext,
    id: MerchantId,
    request: SuspendMerchant,
) -> Result<Merchant, AppError> {
    let mut errors = FieldErrors::new();
    check_length(&mut errors, "reason", &request.reason, 1, 500);
    errors.into_result()?;
    change(tx, ctx, id, "merchant.suspended", |m| {
        m.status = "suspended".into();
        m.suspended_reason = Some(request.reason.trim().to_string());
    })
    .await
}

/// Lifts a suspension.
pub async fn reactivate(
    tx: &Transaction<'_>,
    ctx: &AuditContext,
    id: MerchantId,
) -> Result<Merchant, AppError> {
    change(tx, ctx, id, "merchant.reactivated", |m| {
        m.status = "active".into();
        m.suspended_reason = None;
    })
    .await
}
