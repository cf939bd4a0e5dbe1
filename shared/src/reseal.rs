//! `lightspeedpay reseal`: every sealed value sealed again under the active encryption key, so
//! an old key can be removed from `ENCRYPTION_KEYS`. Row by row, each in its own transaction, so
//! an interrupted run loses nothing and the next one goes on where it stopped; rows already under
//! the active key are skipped, so a second run has nothing to do.
//!
//! Sealed columns today: `gateway_accounts.credentials_*`. A new sealed column gets its own
//! `needing_reseal`/`reseal` pair and a loop here.

use crate::app::App;
use crate::audit::AuditContext;
use crate::db::{self, Scope};
use crate::error::AppError;
use crate::gateway_accounts::{self, Resealed};

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

/// Re-seals every row that is not under the active key yet.
pub async fn run(app: &App) -> Result<ResealReport, AppError> {
    let keys = &app.config.encryption;
    let mut report = ResealReport {
        active_key: keys.active_key_id().to_string(),
        ..ResealReport::default()
    };
    let candidates = {
        let mut client = app.db.client().await?;
        let tx = db::begin(&mut client, Scope::System).await?;
        let ids = gateway_accounts::needing_reseal(&tx, keys).await?;
        tx.commit().await?;
        ids
    };
    let ctx = AuditContext::system();
    for id in candidates {
        let row = format!("gateway_accounts {id}");
        let mut client = app.db.client().await?;
        let tx = db::begin(&mut client, Scope::System).await?;
        match gateway_accounts::reseal(&tx, keys, &ctx, id).await {
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
