//! The embedded default database of the local runner: an existing PostgreSQL on 127.0.0.1:5432,
//! else a private cluster started from the PostgreSQL binaries under the state directory, else a
//! clear message saying what to install.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Port of the private cluster (chosen away from 5432 so it never fights a system server).
const PRIVATE_PORT: u16 = 54329;

/// Where the local database lives.
#[derive(Debug)]
pub struct LocalDatabase {
    /// Owner connection (migrations).
    pub owner_url: String,
    /// Application-role connection (requests).
    pub app_url: String,
    /// The private cluster's data directory, when we started one (stopped on exit).
    pub private_cluster: Option<PathBuf>,
}

impl LocalDatabase {
    /// Stops the private cluster, if this process started one.
    pub fn stop(&self) {
        if let Some(data) = &self.private_cluster
            && let Some(pg_ctl) = find_binary("pg_ctl")
        {
            let _ = Command::new(pg_ctl)
                .arg("-D")
                .arg(data)
                .args(["-m", "fast", "stop"])
                .output();
        }
    }
}

async fn try_connect(url: &str) -> bool {
    match tokio::time::timeout(
        Duration::from_secs(3),
        tokio_postgres::connect(url, tokio_postgres::NoTls),
    )
    .await
    {
        Ok(Ok((client, connection))) => {
            tokio::spawn(connection);
            client.simple_query("SELECT 1").await.is_ok()
        }
        _ => false,
    }
}

/// Creates `name` on the server at `server_url` if it does not exist.
async fn create_database(server_url: &str, name: &str) -> Result<(), String> {
    let (client, connection) = tokio_postgres::connect(server_url, tokio_postgres::NoTls)
        .await
        .map_err(|e| format!("connecting to PostgreSQL: {e}"))?;
    tokio::spawn(connection);
    let exists = client
        .query_typed_opt(
            "SELECT 1 FROM pg_database WHERE datname = $1",
            &[(&name, tokio_postgres::types::Type::TEXT)],
        )
        .await
        .map_err(|e| e.to_string())?
        .is_some();
    if !exists {
        // The name is checked by `valid_name`, so quoting it is enough.
        client
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .await
            .map_err(|e| format!("creating database {name}: {e}"))?;
    }
    Ok(())
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Finds a PostgreSQL server binary on PATH or in Debian's and Homebrew's usual places.
fn find_binary(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<PathBuf> = entries.flatten().map(|e| e.path().join("bin")).collect();
        versions.sort();
        dirs.extend(versions.into_iter().rev());
    }
    dirs.push(PathBuf::from("/opt/homebrew/bin"));
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}

fn urls(port: u16, db: &str) -> (String, String) {
    (
        format!("postgres://postgres@127.0.0.1:{port}/{db}"),
        format!("postgres://lsp_app@127.0.0.1:{port}/{db}"),
    )
}

/// Finds or starts a local PostgreSQL and makes sure database `db` exists on it.
pub async fn ensure(state_dir: &Path, db: &str) -> Result<LocalDatabase, String> {
    if !valid_name(db) {
        return Err(format!(
            "database name '{db}' must be lowercase letters, digits and '_'"
        ));
    }
    let server = "postgres://postgres@127.0.0.1:5432/postgres";
    if try_connect(server).await {
        create_database(server, db).await?;
        let (owner_url, app_url) = urls(5432, db);
        return Ok(LocalDatabase {
            owner_url,
            app_url,
            private_cluster: None,
        });
    }
    let (Some(initdb), Some(pg_ctl)) = (find_binary("initdb"), find_binary("pg_ctl")) else {
        return Err("no PostgreSQL found: nothing answers on 127.0.0.1:5432 and no initdb/pg_ctl binaries are installed.\n\
             Install PostgreSQL 15 or newer (Debian: apt-get install postgresql; macOS: brew install postgresql@16),\n\
             or point DATABASE_URL and DATABASE_MIGRATION_URL at a server."
            .into());
    };
    let data = state_dir.join("pgdata");
    let private = format!("postgres://postgres@127.0.0.1:{PRIVATE_PORT}/postgres");
    if !try_connect(&private).await {
        start_private_cluster(&initdb, &pg_ctl, &data)?;
        if !try_connect(&private).await {
            return Err(format!(
                "the private PostgreSQL cluster in {} did not start; see {}/postgres.log",
                data.display(),
                state_dir.display()
            ));
        }
    }
    create_database(&private, db).await?;
    let (owner_url, app_url) = urls(PRIVATE_PORT, db);
    Ok(LocalDatabase {
        owner_url,
        app_url,
        private_cluster: Some(data),
    })
}

fn start_private_cluster(initdb: &Path, pg_ctl: &Path, data: &Path) -> Result<(), String> {
    if is_root() {
        return Err("PostgreSQL refuses to run as root, so no private cluster can be started for this user.\n\
             Start the system PostgreSQL (it should listen on 127.0.0.1:5432 with trust or a password),\n\
             or run as an ordinary user, or set DATABASE_URL and DATABASE_MIGRATION_URL."
            .into());
    }
    if !data.join("PG_VERSION").exists() {
        std::fs::create_dir_all(data).map_err(|e| format!("creating {}: {e}", data.display()))?;
        let out = Command::new(initdb)
            .arg("-D")
            .arg(data)
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-instructions",
            ])
            .output()
            .map_err(|e| format!("running initdb: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    let log = data.parent().unwrap_or(data).join("postgres.log");
    let options = format!(
        "-p {PRIVATE_PORT} -c listen_addresses=127.0.0.1 -k {}",
        data.display()
    );
    let out = Command::new(pg_ctl)
        .arg("-D")
        .arg(data)
        .arg("-l")
        .arg(&log)
        .args(["-o", &options, "-w", "start"])
        .output()
        .map_err(|e| format!("running pg_ctl: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "pg_ctl start failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}
