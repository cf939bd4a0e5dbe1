//! `lightspeedpay dev`: the whole platform on one machine with nothing configured. Settings the
//! environment (or `.env`) does not give are filled with local defaults; generated secrets persist
//! in the state directory so tokens and sealed credentials survive restarts.

use crate::local_db::{self, LocalDatabase};
use serde::{Deserialize, Serialize};
use shared::config::{Config, lookup_from};
use shared::crypto::cipher::KeyRing;
use shared::crypto::random;
use shared::seed::DemoCredentials;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Secrets generated for this machine's local platform (never used anywhere else).
#[derive(Serialize, Deserialize)]
struct DevSecrets {
    jwt_secret: String,
    encryption_keys: String,
}

/// Where the runner keeps its files: `LSP_STATE_DIR`, else `target/`.
pub fn state_dir() -> PathBuf {
    std::env::var_os("LSP_STATE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"))
}

fn load_or_create_secrets(dir: &Path) -> Result<DevSecrets, String> {
    let path = dir.join("dev-secrets.json");
    if let Ok(text) = std::fs::read_to_string(&path)
        && let Ok(secrets) = serde_json::from_str(&text)
    {
        return Ok(secrets);
    }
    let secrets = DevSecrets {
        jwt_secret: random::base62(48),
        encryption_keys: KeyRing::generate_spec("dev1"),
    };
    write_private(
        &path,
        &serde_json::to_string_pretty(&secrets).map_err(|e| e.to_string())?,
    )?;
    Ok(secrets)
}

/// Writes a file readable only by its owner.
pub fn write_private(path: &Path, contents: &str) -> Result<(), String> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("creating {}: {e}", parent.display()))?;
    }
    std::fs::write(path, contents).map_err(|e| format!("writing {}: {e}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
    Ok(())
}

/// The local platform's configuration and database.
pub struct DevSetup {
    /// Validated configuration.
    pub config: Config,
    /// Owner connection for migrations.
    pub owner_url: String,
    /// The local database, when the runner chose it.
    pub database: Option<LocalDatabase>,
}

/// Reads the environment and fills the gaps with local defaults; `base_url` is where the runner
/// listens (the default `PUBLIC_BASE_URL`).
pub async fn setup(dir: &Path, base_url: &str) -> Result<DevSetup, String> {
    let mut vars: BTreeMap<String, String> = std::env::vars().collect();
    let database = if vars.contains_key("DATABASE_URL") {
        None
    } else {
        let name = vars
            .get("LSP_DEV_DB_NAME")
            .cloned()
            .unwrap_or_else(|| "lightspeedpay".into());
        Some(local_db::ensure(dir, &name).await?)
    };
    if let Some(db) = &database {
        vars.insert("DATABASE_URL".into(), db.app_url.clone());
        vars.insert("DATABASE_MIGRATION_URL".into(), db.owner_url.clone());
    }
    let secrets = load_or_create_secrets(dir)?;
    vars.entry("JWT_SECRET".into())
        .or_insert(secrets.jwt_secret);
    vars.entry("ENCRYPTION_KEYS".into())
        .or_insert(secrets.encryption_keys);
    vars.entry("DATABASE_POOL_SIZE".into())
        .or_insert_with(|| "16".into());
    vars.entry("PUBLIC_BASE_URL".into())
        .or_insert_with(|| base_url.to_string());
    // The local platform is for development: a merchant's webhook receiver on this machine
    // may be registered in test mode (never live; refused on Lambda whatever this says).
    vars.entry("WEBHOOKS_ALLOW_LOOPBACK".into())
        .or_insert_with(|| "true".into());
    let owner_url = vars
        .get("DATABASE_MIGRATION_URL")
        .or(vars.get("DATABASE_URL"))
        .cloned()
        .unwrap_or_default();
    write_lambda_env(dir, &vars)?;
    let config = Config::from_lookup(lookup_from(vars)).map_err(|e| e.to_string())?;
    Ok(DevSetup {
        config,
        owner_url,
        database,
    })
}

/// Writes `lambda.env` for `cargo lambda watch --env-file`, so single functions run against the
/// same database and keys as the local platform.
fn write_lambda_env(dir: &Path, vars: &BTreeMap<String, String>) -> Result<(), String> {
    let mut lines = String::from(
        "# Written by `lightspeedpay dev` for `cargo lambda watch --env-file`; local use only.\n",
    );
    for name in [
        "DATABASE_URL",
        "JWT_SECRET",
        "ENCRYPTION_KEYS",
        "PUBLIC_BASE_URL",
        "RATE_LIMIT_PER_MINUTE",
        "RUST_LOG",
    ] {
        if let Some(value) = vars.get(name) {
            lines.push_str(&format!("{name}=\"{value}\"\n"));
        }
    }
    lines.push_str("DATABASE_POOL_SIZE=1\n");
    write_private(&dir.join("lambda.env"), &lines)
}

/// Reads the demo credentials written by an earlier run.
pub fn previous_credentials(dir: &Path) -> Option<DemoCredentials> {
    std::fs::read_to_string(dir.join("dev-credentials.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
}

/// The banner: what to log in with and a request to paste.
pub fn banner(creds: &DemoCredentials, base: &str, file: &Path) -> String {
    format!(
        "\n  LightSpeedPay is running at {base}\n\n\
         \x20 Operator login      {admin} / {admin_pw}\n\
         \x20 Merchant            {merchant}\n\
         \x20 Merchant login      {user} / {user_pw}\n\
         \x20 Test client key     {key}\n\
         \x20 Test client secret  {secret}\n\
         \x20 (also in {file})\n\n\
         \x20 Try it:\n\
         \x20   curl -s {base}/api/v1/merchant/{merchant} \\\n\
         \x20     -H 'X-Client-Key: {key}' \\\n\
         \x20     -H 'X-Client-Secret: {secret}'\n\n\
         \x20   curl -s {base}/api/v1/auth/login -H 'Content-Type: application/json' \\\n\
         \x20     -d '{{\"email\":\"{admin}\",\"password\":\"{admin_pw}\"}}'\n",
        admin = creds.admin_email,
        admin_pw = creds.admin_password,
        merchant = creds.merchant_id,
        user = creds.merchant_user_email,
        user_pw = creds.merchant_user_password,
        key = creds.client_key,
        secret = creds.client_secret,
        file = file.display(),
    )
}
