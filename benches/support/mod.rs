//! What the benchmarks share: the local runner (`lightspeedpay dev`) started on a free port over a
//! database of its own, its demo merchant's key pair, and its removal afterwards.

use serde_json::Value;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The `p` percentile of sorted durations, in milliseconds.
pub fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

/// Child processes killed (and waited for) when dropped.
pub struct Guard(pub Vec<Child>);

impl Drop for Guard {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `lightspeedpay dev`.
pub struct Dev {
    /// The runner; dropped first by [`Dev::stop`].
    pub guard: Guard,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// Its state directory (`dev-credentials.json`, `lambda.env`).
    pub state: PathBuf,
    /// Its database's name.
    pub db: String,
    /// `dev-credentials.json`.
    pub creds: Value,
    /// The demo merchant's test client key.
    pub key: String,
    /// Its secret.
    pub secret: String,
}

/// Starts `lightspeedpay dev` (bench build) with `env` on top of generous rate limits, over a
/// database named after `label`, and waits until it answers.
pub async fn start_dev(label: &str, env: &[(&str, &str)]) -> Dev {
    let id = format!("{label}_{}", std::process::id());
    let state = std::env::temp_dir().join(format!("lsp-{}", id.replace('_', "-")));
    std::fs::create_dir_all(&state).unwrap();
    let db = format!("lsp_{id}");
    let port = free_port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_lightspeedpay"));
    command
        .arg("dev")
        .env("PORT", port.to_string())
        .env("LSP_STATE_DIR", &state)
        .env("LSP_DEV_DB_NAME", &db)
        .env("RATE_LIMIT_PER_MINUTE", "1000000")
        .env("PUBLIC_RATE_LIMIT_PER_MINUTE", "1000000")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (name, value) in env {
        command.env(name, value);
    }
    let guard = Guard(vec![command.spawn().unwrap()]);
    let creds_path = state.join("dev-credentials.json");
    for _ in 0..600 {
        if creds_path.exists()
            && reqwest::get(format!("http://127.0.0.1:{port}/api/health"))
                .await
                .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let creds: Value =
        serde_json::from_str(&std::fs::read_to_string(&creds_path).unwrap()).unwrap();
    let key = creds["client_key"].as_str().unwrap().to_string();
    let secret = creds["client_secret"].as_str().unwrap().to_string();
    Dev {
        guard,
        base: format!("http://127.0.0.1:{port}"),
        state,
        db,
        creds,
        key,
        secret,
    }
}

impl Dev {
    /// Stops the runner (kill and wait) before its database and state directory go.
    pub fn stop(self) {
        drop(self.guard);
        let _ = Command::new("psql")
            .args([
                "-q",
                "-d",
                "postgres://postgres@127.0.0.1:5432/postgres",
                "-c",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.db),
            ])
            .status();
        let _ = std::fs::remove_dir_all(&self.state);
    }
}
