//! Demo data for the local platform: an operator, a merchant with a test key pair and a dashboard
//! user, and the sandbox gateway account in the merchant's routing pool. Idempotent: credentials
//! that still work are kept, anything missing or stale is (re)created.

use crate::app::App;
use crate::audit::AuditContext;
use crate::auth::api_keys;
use crate::crypto::{password, random};
use crate::db::Transaction;
use crate::db::record::Record;
use crate::db::{self, Scope};
use crate::error::AppError;
use crate::gateway_accounts::{self, NewGatewayAccount, Ownership};
use crate::ids::MerchantId;
use crate::merchants::{self, CreateMerchant, NewUser};
use crate::mode::Mode;
use crate::secret::Secret;
use crate::users::{self, Role};
use serde::{Deserialize, Serialize};
use tokio_postgres::types::Type;
use uuid::Uuid;

/// The demo operator's email.
pub const ADMIN_EMAIL: &str = "admin@lightspeedpay.local";
/// The demo merchant's contact email.
pub const MERCHANT_EMAIL: &str = "demo-store@lightspeedpay.local";
/// The demo merchant's dashboard user.
pub const MERCHANT_USER_EMAIL: &str = "owner@demo-store.local";

/// What the local runner prints and writes to `target/dev-credentials.json`. It is written out
/// on purpose, so it stays plain text for serde; `Debug` hides the secrets (F13).
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DemoCredentials {
    /// Operator login.
    pub admin_email: String,
    /// Operator password.
    pub admin_password: String,
    /// The demo merchant.
    pub merchant_id: String,
    /// Merchant dashboard login.
    pub merchant_user_email: String,
    /// Merchant dashboard password.
    pub merchant_user_password: String,
    /// Test-mode client key.
    pub client_key: String,
    /// Test-mode client secret.
    pub client_secret: String,
}

impl std::fmt::Debug for DemoCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoCredentials")
            .field("admin_email", &self.admin_email)
            .field("admin_password", &"[redacted]")
            .field("merchant_id", &self.merchant_id)
            .field("merchant_user_email", &self.merchant_user_email)
            .field("merchant_user_password", &"[redacted]")
            .field("client_key", &self.client_key)
            .field("client_secret", &"[redacted]")
            .finish()
    }
}

/// Ensures the demo data exists; keeps `previous` if every credential in it still works.
pub async fn demo(
    app: &App,
    previous: Option<DemoCredentials>,
) -> Result<DemoCredentials, AppError> {
    let mut client = app.db.client().await?;
    let tx = db::begin(&mut client, Scope::System).await?;
    let ctx = AuditContext::system();

    if let Some(previous) = previous
        && still_valid(&tx, &previous).await?
    {
        ensure_sandbox_account(
            app,
            &tx,
            previous
                .merchant_id
                .parse()
                .map_err(|_| AppError::Internal("bad demo id".into()))?,
        )
        .await?;
        tx.commit().await?;
        return Ok(previous);
    }

    let admin_password = random::base62(20);
    if !users::set_password(&tx, ADMIN_EMAIL, &admin_password).await? {
        users::create(&tx, ADMIN_EMAIL, &admin_password, Role::Admin, None).await?;
    }

    let user_password = random::base62(20);
    let existing = tx
        .query_typed_opt(
            "SELECT id FROM merchants WHERE email = $1",
            &[(&MERCHANT_EMAIL, Type::TEXT)],
        )
        .await?
        .map(|r| Record::new(&r, "merchants").get::<Uuid>("id"))
        .transpose()?
        .map(MerchantId::from_uuid);
    let (merchant_id, credentials) = match existing {
        Some(id) => {
            users::set_password(&tx, MERCHANT_USER_EMAIL, &user_password).await?;
            (id, api_keys::rotate(&tx, id, Mode::Test).await?)
        }
        None => {
            let onboarded = merchants::create(
                &tx,
                &ctx,
                CreateMerchant {
                    name: "Demo Store".into(),
                    email: MERCHANT_EMAIL.into(),
                    live_enabled: false,
                    rate_limit_per_minute: None,
                    user: Some(NewUser {
                        email: MERCHANT_USER_EMAIL.into(),
                        password: Secret::new(user_password.clone()),
                    }),
                },
            )
            .await?;
            (onboarded.merchant.id, onboarded.test_credentials)
        }
    };
    ensure_sandbox_account(app, &tx, merchant_id).await?;
    tx.commit().await?;
    Ok(DemoCredentials {
        admin_email: ADMIN_EMAIL.into(),
        admin_password,
        merchant_id: merchant_id.to_string(),
        merchant_user_email: MERCHANT_USER_EMAIL.into(),
        merchant_user_password: user_password,
        client_key: credentials.client_key,
        client_secret: credentials.client_secret.expose().clone(),
    })
}

async fn still_valid(tx: &Transaction<'_>, previous: &DemoCredentials) -> Result<bool, AppError> {
    if api_keys::identify(tx, &previous.client_key, &previous.client_secret)
        .await
        .is_err()
    {
        return Ok(false);
    }
    for (email, pass) in [
        (&previous.admin_email, &previous.admin_password),
        (
            &previous.merchant_user_email,
            &previous.merchant_user_password,
        ),
    ] {
        let row = tx
            .query_typed_opt(
                "SELECT password_hash FROM users WHERE email = $1",
                &[(email, Type::TEXT)],
            )
            .await?;
        let hash = row
            .as_ref()
            .map(|row| Record::new(row, "users").get::<&str>("password_hash"))
            .transpose()?;
        if !hash.is_some_and(|hash| password::verify(pass, hash)) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The platform's sandbox account, in the demo merchant's pool.
async fn ensure_sandbox_account(
    app: &App,
    tx: &Transaction<'_>,
    merchant: MerchantId,
) -> Result<(), AppError> {
    let account = sandbox_account(app, tx).await?;
    gateway_accounts::add_to_pool(tx, merchant, account, 0).await
}

/// The platform's sandbox gateway account (the gateway of test mode), created with fresh
/// credentials the first time (system scope).
pub async fn sandbox_account(
    app: &App,
    tx: &Transaction<'_>,
) -> Result<crate::ids::GatewayAccountId, AppError> {
    let existing = tx
        .query_typed_opt(
            "SELECT id FROM gateway_accounts WHERE provider = 'sandbox' AND ownership = 'platform' ORDER BY id LIMIT 1",
            &[],
        )
        .await?;
    let account = match existing {
        Some(row) => crate::ids::GatewayAccountId::from_uuid(
            Record::new(&row, "gateway_accounts").get("id")?,
        ),
        None => {
            let credentials = [
                (
                    "api_key".to_string(),
                    Secret::new(format!("sbx_key_{}", random::base62(24))),
                ),
                (
                    "webhook_secret".to_string(),
                    Secret::new(format!("sbx_whsec_{}", random::base62(32))),
                ),
            ]
            .into();
            gateway_accounts::create(
                tx,
                &app.config.encryption,
                &NewGatewayAccount {
                    provider: "sandbox".into(),
                    label: "Sandbox (test mode)".into(),
                    environment: Mode::Test,
                    ownership: Ownership::Platform,
                    credentials,
                },
            )
            .await?
        }
    };
    Ok(account)
}
