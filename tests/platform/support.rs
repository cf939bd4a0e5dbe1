//! Test harness: databases cloned from a migrated template, the platform served in-process on a
//! free port, subprocesses of the `lightspeedpay` binary, and helpers to create principals.

#![allow(dead_code)]

use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::App;
use shared::config::{Config, lookup_from};
use shared::db::{self, Scope, migrate};
use shared::users::{self, Role};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio_postgres::NoTls;

/// A fixed signing key, so tests can forge tokens the way an attacker would try to.
pub const JWT_SECRET: &str = "test-only-jwt-secret-0123456789abcdefghij";
/// A fixed encryption key (32 zero-to-31 bytes), for tests only.
pub const ENCRYPTION_KEYS: &str = "t1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
/// Password of the operators tests create.
pub const ADMIN_PASSWORD: &str = "operator-password-for-tests";

/// The PostgreSQL server tests use (`LSP_TEST_PG`, default the local one).
pub fn server() -> String {
    std::env::var("LSP_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

fn with_db(server: &str, db: &str) -> String {
    format!("{server}/{db}")
}

fn app_role_url(db: &str) -> String {
    let server = server();
    let host = server
        .rsplit_once('@')
        .map(|(_, h)| h.to_string())
        .unwrap_or(server);
    format!("postgres://lsp_app@{host}/{db}")
}

pub async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .expect("connect to PostgreSQL");
    tokio::spawn(connection);
    client
}

/// A database of its own for one test, dropped when the test ends (even when it fails).
pub struct TestDb {
    pub name: String,
    pub owner_url: String,
    pub app_url: String,
}

impl TestDb {
    pub async fn create() -> TestDb {
        let admin = connect(&with_db(&server(), "postgres")).await;
        let template = format!("lsp_tpl_{:016x}", migrate::fingerprint());
        let name = format!("lsp_t_{}", uuid::Uuid::new_v4().simple());
        // One lock for every test process: the template is built once, and clones do not race it.
        admin
            .batch_execute("SELECT pg_advisory_lock(724301)")
            .await
            .unwrap();
        let exists = !admin
            .query("SELECT 1 FROM pg_database WHERE datname = $1", &[&template])
            .await
            .unwrap()
            .is_empty();
        if !exists {
            let building = format!("{template}_build");
            admin
                .batch_execute(&format!("DROP DATABASE IF EXISTS {building}"))
                .await
                .unwrap();
            admin
                .batch_execute(&format!("CREATE DATABASE {building}"))
                .await
                .unwrap();
            migrate::run(
                &with_db(&server(), &building),
                &shared::config::DatabaseTls::Disable,
            )
            .await
            .expect("migrate template");
            admin
                .batch_execute(&format!("ALTER DATABASE {building} RENAME TO {template}"))
                .await
                .unwrap();
        }
        let created = admin
            .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {template}"))
            .await;
        admin
            .batch_execute("SELECT pg_advisory_unlock(724301)")
            .await
            .unwrap();
        created.expect("clone the template database");
        TestDb {
            owner_url: with_db(&server(), &name),
            app_url: app_role_url(&name),
            name,
        }
    }

    /// An empty database, never migrated, on the shared server.
    pub async fn create_empty() -> TestDb {
        let name = format!("lsp_t_{}", uuid::Uuid::new_v4().simple());
        connect(&with_db(&server(), "postgres"))
            .await
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        TestDb {
            owner_url: with_db(&server(), &name),
            app_url: app_role_url(&name),
            name,
        }
    }

    /// A database migrated from scratch on `cluster` (a private server a test may stop). It goes
    /// with the cluster; dropping the guard looks for it on the shared server and finds nothing.
    pub async fn create_on(cluster: &PrivateCluster) -> TestDb {
        let server = cluster.server_url();
        let name = format!("lsp_t_{}", uuid::Uuid::new_v4().simple());
        connect(&with_db(&server, "postgres"))
            .await
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        let owner_url = with_db(&server, &name);
        // The first migration creates the application role, as on the shared server.
        migrate::run(&owner_url, &shared::config::DatabaseTls::Disable)
            .await
            .expect("migrate the private cluster's database");
        TestDb {
            owner_url,
            app_url: format!("postgres://lsp_app@127.0.0.1:{}/{name}", cluster.port),
            name,
        }
    }

    /// A connection as the schema owner (superuser locally): bypasses RLS, for assertions only.
    pub async fn owner(&self) -> tokio_postgres::Client {
        connect(&self.owner_url).await
    }

    /// A connection as the application role.
    pub async fn app_role(&self) -> tokio_postgres::Client {
        connect(&self.app_url).await
    }

    /// The number of rows in `table`, seen by the owner.
    pub async fn count(&self, table: &str) -> i64 {
        self.owner()
            .await
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .await
            .unwrap()
            .get(0)
    }

    /// The number of `outbox` rows published under `topic`.
    pub async fn outbox_count(&self, topic: &str) -> i64 {
        self.owner()
            .await
            .query_one("SELECT count(*) FROM outbox WHERE topic = $1", &[&topic])
            .await
            .unwrap()
            .get(0)
    }

    /// Every row of every table in the schema, as text: for searching for leaked secrets.
    pub async fn dump(&self) -> String {
        dump_tables(&self.owner_url).await
    }
}

/// Every row of every table in the database at `owner_url`, as text.
pub async fn dump_tables(owner_url: &str) -> String {
    let owner = connect(owner_url).await;
    let tables = owner
        .query(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename",
            &[],
        )
        .await
        .unwrap();
    let mut out = String::new();
    for table in tables {
        let name: String = table.get(0);
        for row in owner
            .query(&format!("SELECT t::text FROM {name} t"), &[])
            .await
            .unwrap()
        {
            out.push_str(&name);
            out.push(' ');
            out.push_str(row.get::<_, &str>(0));
            out.push('\n');
        }
    }
    out
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        let url = with_db(&server(), "postgres");
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                if let Ok((client, connection)) = tokio_postgres::connect(&url, NoTls).await {
                    tokio::spawn(connection);
                    let _ = client
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                }
            });
        })
        .join();
    }
}

/// The environment a platform process needs for `db`.
pub fn env_for(db: &TestDb) -> BTreeMap<String, String> {
    [
        ("DATABASE_URL", db.app_url.as_str()),
        ("JWT_SECRET", JWT_SECRET),
        ("ENCRYPTION_KEYS", ENCRYPTION_KEYS),
        ("DATABASE_POOL_SIZE", "8"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// The platform served in-process on a free port, over its own database.
pub struct TestApp {
    pub base: String,
    pub app: Arc<App>,
    pub db: TestDb,
    pub http: reqwest::Client,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        TestApp::spawn_with(&[]).await
    }

    pub async fn spawn_with(extra: &[(&str, &str)]) -> TestApp {
        TestApp::spawn_with_ports(extra, None).await
    }

    /// The platform over the given job queue and event bus (SQS and EventBridge on moto).
    pub async fn spawn_with_ports(
        extra: &[(&str, &str)],
        ports: Option<(
            Arc<dyn shared::jobs::JobQueue>,
            Arc<dyn shared::jobs::bus::EventBus>,
        )>,
    ) -> TestApp {
        if std::env::var_os("TEST_LOG").is_some() {
            shared::telemetry::init();
        }
        TestApp::spawn_over(TestDb::create().await, extra, ports).await
    }

    /// The platform with its time read from `clock`.
    pub async fn spawn_with_clock(
        extra: &[(&str, &str)],
        clock: Arc<dyn shared::clock::Clock>,
    ) -> TestApp {
        TestApp::spawn_full(TestDb::create().await, extra, None, Some(clock)).await
    }

    /// The platform over `db` (a database on the shared server or on a private cluster).
    pub async fn spawn_over(
        db: TestDb,
        extra: &[(&str, &str)],
        ports: Option<(
            Arc<dyn shared::jobs::JobQueue>,
            Arc<dyn shared::jobs::bus::EventBus>,
        )>,
    ) -> TestApp {
        TestApp::spawn_full(db, extra, ports, None).await
    }

    async fn spawn_full(
        db: TestDb,
        extra: &[(&str, &str)],
        ports: Option<(
            Arc<dyn shared::jobs::JobQueue>,
            Arc<dyn shared::jobs::bus::EventBus>,
        )>,
        clock: Option<Arc<dyn shared::clock::Clock>>,
    ) -> TestApp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let mut vars = env_for(&db);
        vars.insert("PUBLIC_BASE_URL".into(), base.clone());
        for (k, v) in extra {
            vars.insert(k.to_string(), v.to_string());
        }
        let config = Config::from_lookup(lookup_from(vars)).expect("test configuration");
        let mut app = match ports {
            None => App::new(config).expect("app"),
            Some((queue, bus)) => {
                let db = shared::db::Db::connect(&config.database).unwrap();
                App::with_ports(config, db, queue, bus).expect("app")
            }
        };
        if let Some(clock) = clock {
            app.clock = clock;
        }
        let app = Arc::new(app);
        {
            let mut client = app.db.client().await.unwrap();
            let tx = db::begin(&mut client, Scope::System).await.unwrap();
            shared::seed::sandbox_account(&app, &tx).await.unwrap();
            tx.commit().await.unwrap();
        }
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = app.clone();
        tokio::spawn(async move {
            let _ = lightspeedpay::runner::serve(listener, served, async {
                let _ = stopped.await;
            })
            .await;
        });
        TestApp {
            base,
            app,
            db,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            _stop: stop,
        }
    }

    /// Processes every queued job until the queues are empty.
    pub async fn drain(&self) {
        functions::worker::drain(&self.app, 50).await;
    }

    /// Stores a merchant-owned `provider` account in test mode with `credentials` and puts it
    /// first in the merchant's routing pool.
    pub async fn add_gateway_account(
        &self,
        merchant: &Merchant,
        provider: &str,
        credentials: &[(&str, &str)],
    ) -> shared::ids::GatewayAccountId {
        use shared::gateway_accounts::{self, NewGatewayAccount, Ownership};
        let merchant_id: shared::ids::MerchantId = merchant.id.parse().unwrap();
        let mut client = self.app.db.client().await.unwrap();
        let tx = db::begin(&mut client, Scope::System).await.unwrap();
        let account = NewGatewayAccount {
            provider: provider.into(),
            label: format!("{provider} test"),
            environment: shared::mode::Mode::Test,
            ownership: Ownership::Merchant(merchant_id),
            credentials: credentials
                .iter()
                .map(|(k, v)| (k.to_string(), shared::secret::Secret::new(v.to_string())))
                .collect(),
        };
        let id = gateway_accounts::create(&tx, &self.app.config.encryption, &account)
            .await
            .unwrap();
        gateway_accounts::add_to_pool(&tx, merchant_id, id, 1)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        id
    }

    /// The sandbox account's credentials, to sign events as the sandbox would.
    pub async fn sandbox_secret(&self) -> String {
        let mut client = self.app.db.client().await.unwrap();
        let tx = db::begin(&mut client, Scope::System).await.unwrap();
        let id = shared::seed::sandbox_account(&self.app, &tx).await.unwrap();
        let credentials =
            shared::gateway_accounts::credentials(&tx, &self.app.config.encryption, id)
                .await
                .unwrap();
        tx.commit().await.unwrap();
        credentials["webhook_secret"].expose().clone()
    }

    /// `GET /api/v1/transactions/{id}` with the merchant's keys: the transaction with its attempts.
    pub async fn transaction(&self, m: &Merchant, id: &str) -> Value {
        let (status, body) = self
            .get_with_key(
                &format!("/api/v1/transactions/{id}"),
                &m.client_key,
                &m.client_secret,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["data"].clone()
    }

    /// `POST /api/v1/pay` with a merchant's keys and an optional idempotency key.
    pub async fn pay(&self, m: &Merchant, body: &Value, key: Option<&str>) -> (StatusCode, Value) {
        let mut request = self
            .http
            .post(self.url("/api/v1/pay"))
            .header("X-Client-Key", &m.client_key)
            .header("X-Client-Secret", &m.client_secret)
            .json(body);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        send(request).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Creates an operator directly in the database (as `create-admin` does).
    pub async fn create_admin(&self, email: &str) {
        let mut client = self.app.db.client().await.unwrap();
        let tx = db::begin(&mut client, Scope::System).await.unwrap();
        users::create(&tx, email, ADMIN_PASSWORD, Role::Admin, None)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }

    pub async fn login(&self, email: &str, password: &str) -> (StatusCode, Value) {
        self.post_json(
            "/api/v1/auth/login",
            None,
            json!({ "email": email, "password": password }),
        )
        .await
    }

    /// An operator's access token.
    pub async fn admin_token(&self) -> String {
        let email = format!("ops-{}@lightspeedpay.test", uuid::Uuid::new_v4().simple());
        self.create_admin(&email).await;
        let (status, body) = self.login(&email, ADMIN_PASSWORD).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["data"]["access_token"].as_str().unwrap().to_string()
    }

    /// Onboards a merchant through the admin API.
    pub async fn create_merchant(&self, admin: &str, name: &str) -> Merchant {
        let slug = uuid::Uuid::new_v4().simple().to_string();
        let user_email = format!("owner-{slug}@merchant.test");
        let user_password = format!("merchant-pass-{slug}");
        let (status, body) = self
            .post_json(
                "/api/v1/admin/merchants",
                Some(admin),
                json!({
                    "name": name,
                    "email": format!("{slug}@merchant.test"),
                    "user": { "email": user_email, "password": user_password },
                }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let data = &body["data"];
        Merchant {
            id: data["id"].as_str().unwrap().to_string(),
            client_key: data["test_credentials"]["client_key"]
                .as_str()
                .unwrap()
                .to_string(),
            client_secret: data["test_credentials"]["client_secret"]
                .as_str()
                .unwrap()
                .to_string(),
            user_email,
            user_password,
        }
    }

    pub async fn post_json(
        &self,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> (StatusCode, Value) {
        let mut request = self.http.post(self.url(path)).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        send(request).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        let mut request = self.http.get(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        send(request).await
    }

    pub async fn get_with_key(&self, path: &str, key: &str, secret: &str) -> (StatusCode, Value) {
        send(
            self.http
                .get(self.url(path))
                .header("X-Client-Key", key)
                .header("X-Client-Secret", secret),
        )
        .await
    }
}

pub async fn send(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.expect("request");
    let status = response.status();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    (status, body)
}

/// A valid payment body for `order_id`, paid automatically by the sandbox when `autopay`.
pub fn payment(order_id: &str, amount: i64, autopay: bool) -> Value {
    json!({
        "amount": amount,
        "order_id": order_id,
        "customer": {
            "name": "Asha Verma",
            "email": if autopay { "asha+autopay@example.in" } else { "asha@example.in" },
            "phone": "+919812345678",
        },
        "description": "Masala chai x 2",
        "return_url": "https://shop.example.in/payments/done?cart=42",
        "notes": { "cart": "42" },
    })
}

/// A merchant created through the admin API.
#[derive(Debug, Clone)]
pub struct Merchant {
    pub id: String,
    pub client_key: String,
    pub client_secret: String,
    pub user_email: String,
    pub user_password: String,
}

impl Merchant {
    pub async fn token(&self, app: &TestApp) -> String {
        let (status, body) = app.login(&self.user_email, &self.user_password).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["data"]["access_token"].as_str().unwrap().to_string()
    }
}

/// Asserts an error envelope with `code` and returns its details.
pub fn expect_error(
    status: StatusCode,
    body: &Value,
    want_status: StatusCode,
    code: &str,
) -> Value {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["success"], false, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["timestamp"].is_string(), "{body}");
    body["error"]["details"].clone()
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `lightspeedpay` subprocess, killed when dropped.
pub struct Process {
    pub child: std::process::Child,
    pub base: String,
    pub stdout: std::path::PathBuf,
    pub stderr: std::path::PathBuf,
}

impl Process {
    /// Starts `lightspeedpay <command>` with exactly `vars` (plus PATH and HOME), logs to files.
    pub fn start(
        command: &str,
        vars: &BTreeMap<String, String>,
        dir: &std::path::Path,
        port: u16,
    ) -> Process {
        let stdout = dir.join(format!("{command}-{port}.out"));
        let stderr = dir.join(format!("{command}-{port}.err"));
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_lightspeedpay"));
        cmd.arg(command).env_clear().current_dir(dir);
        for keep in ["PATH", "HOME"] {
            if let Ok(v) = std::env::var(keep) {
                cmd.env(keep, v);
            }
        }
        cmd.envs(vars).env("PORT", port.to_string());
        cmd.stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap());
        let child = cmd.spawn().expect("start lightspeedpay");
        Process {
            child,
            base: format!("http://127.0.0.1:{port}"),
            stdout,
            stderr,
        }
    }

    /// Waits until `/api/health` answers.
    pub async fn wait_healthy(&mut self) {
        let client = reqwest::Client::new();
        for _ in 0..300 {
            if let Ok(r) = client.get(format!("{}/api/health", self.base)).send().await
                && r.status().is_success()
            {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "lightspeedpay exited with {status}: {}",
                    std::fs::read_to_string(&self.stderr).unwrap_or_default()
                );
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!(
            "lightspeedpay did not become healthy: {}",
            std::fs::read_to_string(&self.stderr).unwrap_or_default()
        );
    }

    /// Asks it to stop with SIGTERM and waits.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        for _ in 0..100 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = self.child.kill();
        self.child.wait().unwrap()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh temporary directory under the target directory.
pub fn temp_dir(label: &str) -> std::path::PathBuf {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("{label}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A PostgreSQL cluster of one test's own (initdb + pg_ctl into a temporary directory, trust
/// authentication, a free port), which the test may stop and start; removed when dropped.
pub struct PrivateCluster {
    root: std::path::PathBuf,
    bin: std::path::PathBuf,
    pub port: u16,
}

impl PrivateCluster {
    /// Initialises and starts a cluster; `None` when no PostgreSQL server binaries are installed.
    pub fn start() -> Option<PrivateCluster> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .flatten()
            .map(|e| e.path().join("bin"))
            .filter(|b| b.join("initdb").is_file() && b.join("pg_ctl").is_file())
            .max()?;
        let root = std::env::temp_dir().join(format!("lsp-pg-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&root).unwrap();
        let cluster = PrivateCluster {
            root,
            bin,
            port: free_port(),
        };
        if running_as_root() {
            // PostgreSQL refuses to run as root: the cluster belongs to the `postgres` user.
            cluster.expect_ok(
                std::process::Command::new("chown")
                    .arg("postgres")
                    .arg(&cluster.root),
            );
        }
        let data = cluster.data();
        cluster.expect_ok(cluster.command("initdb").arg("-D").arg(&data).args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-instructions",
        ]));
        cluster.start_server();
        Some(cluster)
    }

    fn data(&self) -> std::path::PathBuf {
        self.root.join("data")
    }

    /// `postgres://postgres@127.0.0.1:<port>`.
    pub fn server_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}", self.port)
    }

    /// Starts the server and waits until it accepts connections.
    pub fn start_server(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {}",
            self.port,
            self.data().display()
        );
        let data = self.data();
        let log = self.root.join("postgres.log");
        self.expect_ok(
            self.command("pg_ctl")
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(&log)
                .args(["-o", &options, "-w", "start"]),
        );
    }

    /// Stops the server (fast shutdown: open sessions are terminated) and waits until it is down.
    pub fn stop_server(&self) {
        let data = self.data();
        self.expect_ok(
            self.command("pg_ctl")
                .arg("-D")
                .arg(&data)
                .args(["-m", "fast", "-w", "stop"]),
        );
    }

    fn command(&self, program: &str) -> std::process::Command {
        let path = self.bin.join(program);
        if running_as_root() {
            let mut command = std::process::Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            std::process::Command::new(path)
        }
    }

    fn expect_ok(&self, command: &mut std::process::Command) {
        let out = command.output().expect("run a PostgreSQL tool");
        assert!(
            out.status.success(),
            "{command:?} failed: {}{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(self.root.join("postgres.log")).unwrap_or_default()
        );
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let data = self.data();
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(&data)
            .args(["-m", "immediate", "-w", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn running_as_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}
