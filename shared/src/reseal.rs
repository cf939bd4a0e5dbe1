//! `lightspeedpay reseal`: every sealed value sealed again under the active encryption key, so
//! an old key can be removed from `ENCRYPTION_KEYS`. Row by row, each in its own transaction, so
//! an interrupted run loses nothing and the next one goes on where it stopped; rows already under
//! the active key are skipped, so a second run has nothing to do.
//!
//! Sealed values today (one [`SealedRow`] variant each): gateway credentials
//! (`gateway_accounts.credentials_*`), merchants' return signing secrets
//! (`merchant_return_secrets.secret_*`), dashboard users' TOTP secrets (`users.mfa_*`),
//! notification recipients' Slack webhook URLs (`notification_recipients.webhook_*`) and merchant
//! webhook endpoints' signing secrets (`webhook_endpoints.secret_*`, `previous_secret_*`). Each
//! kind keeps its `needing_reseal`/`reseal` pair next to the code that seals it; a new sealed
//! column gets its own pair and a variant here.

use crate::app::App;
use crate::audit::AuditContext;
use crate::auth::mfa;
use crate::crypto::cipher::{KeyRing, Sealed};
use crate::db::{self, Scope, Transaction};
use crate::error::AppError;
use crate::gateway_accounts;
use crate::ids::{GatewayAccountId, MerchantId, RecipientId, UserId, WebhookEndpointId};
use crate::merchant_webhooks::endpoints;
use crate::mode::Mode;
use crate::notifications::recipients;
use crate::return_signing;
use crate::secret::Secret;
use std::fmt;

/// What re-sealing one row did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resealed {
    /// Sealed again under the active key (it was under `from`).
    Done {
        /// The key it was sealed under.
        from: String,
    },
    /// Already under the active key (or gone since it was listed): nothing to do.
    Current,
    /// Sealed under `key_id`, which is not configured: it cannot be opened until it is.
    MissingKey {
        /// The key it needs.
        key_id: String,
    },
}

/// What to do with one sealed value: leave it (with why), or store it sealed anew.
pub(crate) enum Plan {
    /// Nothing to store: already current, or its key is missing.
    Leave(Resealed),
    /// The same plaintext sealed under the active key.
    Store(Sealed),
}

/// Opens `sealed` (bound to `aad`) and seals it again under the active key, unless it is already
/// there or its key is not configured; `row` names it in an error.
pub(crate) fn plan(
    keys: &KeyRing,
    sealed: &Sealed,
    aad: &[u8],
    row: &str,
) -> Result<Plan, AppError> {
    if sealed.key_id == keys.active_key_id() {
        return Ok(Plan::Leave(Resealed::Current));
    }
    if !keys.has_key(&sealed.key_id) {
        return Ok(Plan::Leave(Resealed::MissingKey {
            key_id: sealed.key_id.clone(),
        }));
    }
    let plain = Secret::new(
        keys.open(sealed, aad)
            .map_err(|e| AppError::Internal(format!("{row}: {e}")))?,
    );
    Ok(Plan::Store(keys.seal(plain.expose(), aad)))
}

/// One row holding a sealed value, by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealedRow {
    /// A gateway account's credentials.
    GatewayAccount(GatewayAccountId),
    /// A merchant's return signing secret for one mode.
    ReturnSecret(MerchantId, Mode),
    /// A dashboard user's TOTP secret.
    Totp(UserId),
    /// A notification recipient's Slack webhook URL.
    SlackWebhook(RecipientId),
    /// A merchant webhook endpoint's signing secrets (current and, during a rotation, previous).
    WebhookSecret(WebhookEndpointId),
}

impl fmt::Display for SealedRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SealedRow::GatewayAccount(id) => write!(f, "gateway_accounts {id}"),
            SealedRow::ReturnSecret(merchant, mode) => {
                write!(f, "merchant_return_secrets {merchant}/{mode}")
            }
            SealedRow::Totp(user) => write!(f, "users {user} (TOTP secret)"),
            SealedRow::SlackWebhook(id) => {
                write!(f, "notification_recipients {id} (Slack webhook URL)")
            }
            SealedRow::WebhookSecret(id) => write!(f, "webhook_endpoints {id} (signing secret)"),
        }
    }
}

impl SealedRow {
    /// Every row of every kind not under the active key yet.
    async fn needing(tx: &Transaction<'_>, keys: &KeyRing) -> Result<Vec<SealedRow>, AppError> {
        let mut rows: Vec<SealedRow> = gateway_accounts::needing_reseal(tx, keys)
            .await?
            .into_iter()
            .map(SealedRow::GatewayAccount)
            .collect();
        rows.extend(
            return_signing::needing_reseal(tx, keys)
                .await?
                .into_iter()
                .map(|(merchant, mode)| SealedRow::ReturnSecret(merchant, mode)),
        );
        rows.extend(
            mfa::needing_reseal(tx, keys)
                .await?
                .into_iter()
                .map(SealedRow::Totp),
        );
        rows.extend(
            recipients::needing_reseal(tx, keys)
                .await?
                .into_iter()
                .map(SealedRow::SlackWebhook),
        );
        rows.extend(
            endpoints::needing_reseal(tx, keys)
                .await?
                .into_iter()
                .map(SealedRow::WebhookSecret),
        );
        Ok(rows)
    }

    /// Re-seals this row inside `tx`, with the row locked; audited.
    async fn reseal(
        self,
        tx: &Transaction<'_>,
        keys: &KeyRing,
        ctx: &AuditContext,
    ) -> Result<Resealed, AppError> {
        match self {
            SealedRow::GatewayAccount(id) => gateway_accounts::reseal(tx, keys, ctx, id).await,
            SealedRow::ReturnSecret(merchant, mode) => {
                return_signing::reseal(tx, keys, ctx, merchant, mode).await
            }
            SealedRow::Totp(user) => mfa::reseal(tx, keys, ctx, user).await,
            SealedRow::SlackWebhook(id) => recipients::reseal(tx, keys, ctx, id).await,
            SealedRow::WebhookSecret(id) => endpoints::reseal(tx, keys, ctx, id).await,
        }
    }
}

/// A row that could not be re-sealed, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stuck {
    /// `table id`, e.g. `gateway_accounts gwa_…`.
    pub row: String,
    /// Why (the key it needs is not configured, or opening it failed).
    pub reason: String,
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResealReport {
    /// The key everything is now sealed under.
    pub active_key: String,
    /// Rows sealed again now (`table id`, from which key).
    pub resealed: Vec<(String, String)>,
    /// Rows still sealed under another key: the run has not succeeded while this is not empty.
    pub stuck: Vec<Stuck>,
}

/// Re-seals every row of every kind that is not under the active key yet.
pub async fn run(app: &App) -> Result<ResealReport, AppError> {
    let keys = &app.config.encryption;
    let mut report = ResealReport {
        active_key: keys.active_key_id().to_string(),
        ..ResealReport::default()
    };
    let candidates = {
        let mut client = app.db.client().await?;
        let tx = db::begin(&mut client, Scope::System).await?;
        let rows = SealedRow::needing(&tx, keys).await?;
        tx.commit().await?;
        rows
    };
    let ctx = AuditContext::system();
    for candidate in candidates {
        let row = candidate.to_string();
        let mut client = app.db.client().await?;
        let tx = db::begin(&mut client, Scope::System).await?;
        match candidate.reseal(&tx, keys, &ctx).await {
            Ok(Resealed::Done { from }) => {
                tx.commit().await?;
                report.resealed.push((row, from));
            }
            Ok(Resealed::Current) => {}
            Ok(Resealed::MissingKey { key_id }) => report.stuck.push(Stuck {
                row,
                reason: format!("sealed under key '{key_id}', which is not in ENCRYPTION_KEYS"),
            }),
            // An outage stops the run (the next one resumes); a row that cannot be opened does not
            // stop the others.
            Err(e) if e.is_unavailable() => return Err(e),
            Err(e) => report.stuck.push(Stuck {
                row,
                reason: e.to_string(),
            }),
        }
    }
    Ok(report)
}
