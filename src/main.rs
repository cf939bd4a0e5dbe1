//! `lightspeedpay`: run the platform locally and operate it.

use clap::{Parser, Subcommand};
use lightspeedpay::{dev, errors_doc, listen, runner, simulation};
use shared::audit::{self, AuditContext, AuditEvent};
use shared::config::Config;
use shared::crypto::random;
use shared::db::{self, Scope, migrate};
use shared::users::{self, Role};
use shared::{App, seed, telemetry};
use std::process::ExitCode;
use std::sync::Arc;

/// The platform runner and operations CLI. Configuration comes from the environment and from
/// `.env` (see the README's Configuration section).
#[derive(Parser)]
#[command(
    name = "lightspeedpay",
    version,
    propagate_version = true,
    arg_required_else_help = true,
    after_help = "Configuration comes from the environment and from .env (see README.md, Configuration)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole platform locally: database, migrations, demo data, workers, every route
    /// (HOST, PORT; default 127.0.0.1:3000)
    Dev,
    /// Serve every route with the configuration in the environment (HOST, PORT;
    /// PUBLIC_BASE_URL derived from them unless set)
    Serve,
    /// Apply pending database migrations (DATABASE_MIGRATION_URL, else DATABASE_URL)
    Migrate,
    /// Create an operator; password from LSP_ADMIN_PASSWORD, else generated and printed once
    CreateAdmin {
        /// The operator's email address
        #[arg(long)]
        email: String,
    },
    /// Seal every stored secret again under the active encryption key (ENCRYPTION_ACTIVE_KEY_ID);
    /// fails, naming the rows, while one needs a key that is not configured
    Reseal,
    /// Run one scheduled job now, or for the slot at --at, under its run key (a slot that already
    /// ran is not run again); prints the outcome as JSON
    RunJob {
        /// The scheduled job (a schedule of the registry, e.g. maintenance)
        name: String,
        /// The scheduled time of the slot (RFC 3339, e.g. 2026-12-04T20:30:00Z)
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
    },
    /// List every function and route of the registry
    Routes,
    /// Print the OpenAPI 3.1 document of the HTTP API (docs/openapi.json is its checked-in copy)
    Openapi,
    /// Print the error reference (every code and authentication reason) as Markdown
    Errors,
    /// Run synthetic gateways through the routing engine in every mode and against an oracle;
    /// print a Markdown table
    SimulateRouting {
        /// A scenario file (repeatable; default: every scenarios/routing/*.toml)
        #[arg(long = "scenario", value_name = "FILE")]
        scenarios: Vec<std::path::PathBuf>,
        /// Payments per scenario, overriding the scenarios'
        #[arg(long, value_parser = above_zero)]
        payments: Option<u64>,
        /// Random seed, overriding the scenarios'
        #[arg(long)]
        seed: Option<u64>,
        /// Also write the chart as SVG to this path
        #[arg(long, value_name = "PATH")]
        svg: Option<String>,
    },
}

/// A count of at least one.
fn above_zero(text: &str) -> Result<u64, String> {
    text.parse::<u64>()
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| "must be a whole number above 0".into())
}

#[tokio::main]
async fn main() -> ExitCode {
    // Parsed before anything else: --help, --version and bad arguments never run a command.
    let cli = Cli::parse();
    let _ = dotenvy::dotenv();
    telemetry::init();
    let result = match cli.command {
        Command::Dev => run_dev().await,
        Command::Serve => run_serve().await,
        Command::Migrate => run_migrate().await,
        Command::CreateAdmin { email } => create_admin(&email).await,
        Command::Reseal => run_reseal().await,
        Command::RunJob { name, at } => run_job(&name, at.as_deref()).await,
        Command::Routes => {
            print_routes();
            Ok(())
        }
        Command::Openapi => {
            print!("{}", functions::openapi::json());
            Ok(())
        }
        Command::Errors => {
            print!("{}", errors_doc::markdown());
            Ok(())
        }
        Command::SimulateRouting {
            scenarios,
            payments,
            seed,
            svg,
        } => simulate_routing(scenarios, payments, seed, svg),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// `dev`: the port is bound first, so a bad address or a busy port stops it before it migrates,
/// seeds or starts anything (a running instance keeps its data and credentials).
async fn run_dev() -> Result<(), String> {
    let listener = listen::bind(listen::from_env()?).await?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    // Every interface: the loopback address reaches it from this machine.
    let base =
        listen::base_url(bound).unwrap_or_else(|_| format!("http://127.0.0.1:{}", bound.port()));
    let dir = dev::state_dir();
    let setup = dev::setup(&dir, &base).await?;
    let applied = migrate::run(&setup.owner_url, &setup.config.database.tls)
        .await
        .map_err(|e| database_failure("DATABASE_MIGRATION_URL", &setup.owner_url, &e))?;
    tracing::info!(applied = ?applied, "migrations up to date");
    let url = setup.config.database.url.expose().to_string();
    let app = Arc::new(
        App::connect(setup.config)
            .await
            .map_err(|e| database_failure("DATABASE_URL", &url, &e))?,
    );
    let creds = seed::demo(&app, dev::previous_credentials(&dir))
        .await
        .map_err(|e| e.to_string())?;
    let file = dir.join("dev-credentials.json");
    dev::write_private(
        &file,
        &serde_json::to_string_pretty(&creds).map_err(|e| e.to_string())?,
    )?;
    if workers_enabled() {
        functions::worker::spawn_all(app.clone());
    }
    println!("{}", dev::banner(&creds, &base, &file));
    let served = runner::serve(listener, app, runner::shutdown_signal())
        .await
        .map_err(|e| e.to_string());
    if let Some(database) = &setup.database {
        database.stop();
    }
    served
}

/// `serve`: binds first; `PUBLIC_BASE_URL`, when not set, is the address it listens on.
async fn run_serve() -> Result<(), String> {
    let listener = listen::bind(listen::from_env()?).await?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    let mut vars: std::collections::BTreeMap<String, String> = std::env::vars().collect();
    // Unset or empty alike: an empty value would fall back to the default port's address.
    if vars
        .get("PUBLIC_BASE_URL")
        .is_none_or(|v| v.trim().is_empty())
    {
        vars.insert("PUBLIC_BASE_URL".into(), listen::base_url(bound)?);
    }
    let config =
        Config::from_lookup(shared::config::lookup_from(vars)).map_err(|e| e.to_string())?;
    let app = Arc::new(connect_checked(config).await?);
    if workers_enabled() {
        functions::worker::spawn_all(app.clone());
    }
    tracing::info!(address = %bound, "serving every route");
    runner::serve(listener, app, runner::shutdown_signal())
        .await
        .map_err(|e| e.to_string())
}

async fn run_migrate() -> Result<(), String> {
    let (url, tls) = shared::config::migration_settings(|name| std::env::var(name).ok())
        .map_err(|e| e.to_string())?;
    let variable = if std::env::var("DATABASE_MIGRATION_URL").is_ok_and(|v| !v.trim().is_empty()) {
        "DATABASE_MIGRATION_URL"
    } else {
        "DATABASE_URL"
    };
    let applied = migrate::run(url.expose(), &tls)
        .await
        .map_err(|e| database_failure(variable, url.expose(), &e))?;
    println!(
        "applied {} migration(s){}",
        applied.len(),
        if applied.is_empty() {
            String::new()
        } else {
            format!(": {applied:?}")
        }
    );
    println!("schema is at version {}", migrate::latest_version());
    Ok(())
}

async fn create_admin(email: &str) -> Result<(), String> {
    let (password, generated) = match std::env::var("LSP_ADMIN_PASSWORD") {
        Ok(p) if !p.is_empty() => (p, false),
        _ => (random::base62(24), true),
    };
    let config = Config::from_env().map_err(|e| {
        format!(
            "{e}\nAgainst the database of `lightspeedpay dev`, load the settings it wrote first: \
             set -a; . {}; set +a",
            dev::state_dir().join("lambda.env").display()
        )
    })?;
    let url = config.database.url.expose().to_string();
    let app = App::new(config).map_err(|e| e.to_string())?;
    let mut client = app
        .db
        .client()
        .await
        .map_err(|e| database_failure("DATABASE_URL", &url, &e))?;
    let tx = db::begin(&mut client, Scope::System)
        .await
        .map_err(|e| e.to_string())?;
    let id = users::create(&tx, email, &password, Role::Admin, None)
        .await
        .map_err(|e| describe(&e))?;
    audit::record(
        &tx,
        &AuditContext::system(),
        AuditEvent::success("user.admin_created")
            .target("user", id)
            .change(None, Some(serde_json::json!({ "email": email }))),
    )
    .await
    .map_err(|e| e.to_string())?;
    tx.commit().await.map_err(|e| e.to_string())?;
    println!("created operator {email} ({id})");
    if generated {
        println!("password (shown once): {password}");
    }
    Ok(())
}

async fn run_reseal() -> Result<(), String> {
    let app = connect_checked(Config::from_env().map_err(|e| e.to_string())?).await?;
    let report = shared::reseal::run(&app).await.map_err(|e| {
        format!("{e}; nothing is lost: run `lightspeedpay reseal` again to go on where it stopped")
    })?;
    for (row, from) in &report.resealed {
        println!("resealed {row} (was under key '{from}')");
    }
    if !report.stuck.is_empty() {
        let rows: Vec<String> = report
            .stuck
            .iter()
            .map(|s| format!("  {}: {}", s.row, s.reason))
            .collect();
        return Err(format!(
            "{} row(s) are not under the active key '{}' and could not be re-sealed:\n{}\n\
             Add the key(s) they need to ENCRYPTION_KEYS and run `lightspeedpay reseal` again; \
             do not remove any key before it succeeds.",
            report.stuck.len(),
            report.active_key,
            rows.join("\n")
        ));
    }
    if report.resealed.is_empty() {
        println!(
            "nothing to do: every sealed value is under the active key '{}'",
            report.active_key
        );
    } else {
        println!(
            "resealed {} row(s); every sealed value is now under the active key '{}'",
            report.resealed.len(),
            report.active_key
        );
    }
    Ok(())
}

/// The platform for `config`, with one database round trip first, so a database that cannot be
/// reached is named (variable, server, cause) before any work starts.
async fn connect_checked(config: Config) -> Result<App, String> {
    let url = config.database.url.expose().to_string();
    let app = App::connect(config)
        .await
        .map_err(|e| database_failure("DATABASE_URL", &url, &e))?;
    app.db
        .warm()
        .await
        .map_err(|e| database_failure("DATABASE_URL", &url, &e))?;
    Ok(app)
}

/// `run-job`: one run of a scheduled job through its run key, for now or for `--at`; prints the
/// outcome (`ran` with the job's summary, `already_ran`, or `failed` with the error).
async fn run_job(name: &str, at: Option<&str>) -> Result<(), String> {
    let schedules: Vec<&functions::registry::Function> = functions::registry::FUNCTIONS
        .iter()
        .copied()
        .filter(|f| functions::worker::schedule_of(f).is_some())
        .collect();
    let Some(function) = schedules.iter().find(|f| f.name == name) else {
        let names: Vec<&str> = schedules.iter().map(|f| f.name).collect();
        return Err(format!(
            "no scheduled job '{name}' (one of: {})",
            names.join(", ")
        ));
    };
    let at = at
        .map(|text| {
            chrono::DateTime::parse_from_rfc3339(text)
                .map(|t| t.to_utc())
                .map_err(|e| {
                    format!(
                        "--at {text:?} is not an RFC 3339 time ({e}), e.g. 2026-12-04T20:30:00Z"
                    )
                })
        })
        .transpose()?;
    if let (Some(at), Some(Ok(schedule))) = (at, functions::worker::schedule_of(function))
        && !schedule.is_slot(at)
    {
        eprintln!(
            "note: {at} is not a slot of {name}'s schedule; its run key is ({name}, {at}) all the same"
        );
    }
    let app = Arc::new(connect_checked(Config::from_env().map_err(|e| e.to_string())?).await?);
    let at = at.unwrap_or_else(|| app.clock.now());
    let (printed, result) = match functions::worker::run_schedule_at(&app, name, at).await {
        Ok(outcome) => (
            serde_json::to_value(&outcome).map_err(|e| e.to_string())?,
            Ok(()),
        ),
        Err(e) => (
            serde_json::json!({ "outcome": "failed", "scheduled_at": at, "error": e.to_string() }),
            Err(format!("{name} failed for {at}: {e}")),
        ),
    };
    println!(
        "{}",
        serde_json::to_string_pretty(&printed).map_err(|e| e.to_string())?
    );
    result
}

/// `simulate-routing`: reads the scenarios, runs them, prints the table, writes the chart.
fn simulate_routing(
    mut files: Vec<std::path::PathBuf>,
    payments: Option<u64>,
    seed: Option<u64>,
    svg: Option<String>,
) -> Result<(), String> {
    if files.is_empty() {
        files = default_scenarios()?;
    }
    let mut results = Vec::new();
    for file in &files {
        let mut scenario = simulation::Scenario::load(file).map_err(|e| e.to_string())?;
        scenario.payments = payments.unwrap_or(scenario.payments);
        scenario.seed = seed.unwrap_or(scenario.seed);
        results.push(simulation::run(&scenario));
    }
    print!("{}", simulation::report::markdown(&results));
    if let Some(path) = svg {
        std::fs::write(&path, simulation::svg::chart(&results))
            .map_err(|e| format!("cannot write {path}: {e}"))?;
        eprintln!("chart written to {path}");
    }
    Ok(())
}

/// Every `*.toml` in `scenarios/routing/`, by name.
fn default_scenarios() -> Result<Vec<std::path::PathBuf>, String> {
    let dir = std::path::Path::new("scenarios/routing");
    let entries = std::fs::read_dir(dir).map_err(|e| {
        format!("no --scenario given and {} cannot be read ({e}); run from the repository root or name the files", dir.display())
    })?;
    let mut files: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!(
            "no --scenario given and no .toml file in {}",
            dir.display()
        ));
    }
    Ok(files)
}

/// A database failure of a command, in words an operator can act on: the variable the URL came
/// from, the server, role and database it names (never its password), and every cause.
fn database_failure(variable: &str, url: &str, error: &dyn std::error::Error) -> String {
    let target = match url.parse::<tokio_postgres::Config>() {
        Ok(config) => {
            let host = match config.get_hosts().first() {
                Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
                #[cfg(unix)]
                Some(tokio_postgres::config::Host::Unix(path)) => path.display().to_string(),
                None => "localhost".into(),
            };
            let port = config.get_ports().first().copied().unwrap_or(5432);
            format!(
                "{host}:{port} as {} (database {})",
                config.get_user().unwrap_or("the current user"),
                config.get_dbname().unwrap_or("named after the user")
            )
        }
        Err(_) => "a URL that is not a PostgreSQL connection string".into(),
    };
    let mut cause = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        let text = inner.to_string();
        if !cause.contains(&text) {
            cause = format!("{cause}: {text}");
        }
        source = inner.source();
    }
    let migrating = cause.contains("migration failed");
    let hint = if migrating
        && (cause.contains("permission denied") || cause.contains("must be owner"))
    {
        "; this role cannot change the schema: set DATABASE_MIGRATION_URL to the owner's connection"
    } else if cause.contains("Connection refused") || cause.contains("error connecting") {
        "; is PostgreSQL running there, and is that its address?"
    } else if cause.contains("password authentication failed") {
        "; check the role's password in the URL"
    } else if cause.contains("database \"") && cause.contains("does not exist") {
        "; create the database, or name an existing one in the URL"
    } else {
        ""
    };
    format!("database of {variable} at {target}: {cause}{hint}")
}

fn describe(error: &shared::AppError) -> String {
    match error {
        shared::AppError::Validation(fields) => fields
            .fields()
            .iter()
            .map(|(f, m)| format!("{f} {m}"))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}

/// Workers and schedules run in-process unless `LSP_WORKERS=off` (benchmarks of one endpoint,
/// or a deployment whose workers run elsewhere).
fn workers_enabled() -> bool {
    std::env::var("LSP_WORKERS")
        .map(|v| v != "off")
        .unwrap_or(true)
}

fn print_routes() {
    for function in functions::registry::FUNCTIONS {
        println!("{} — {}", function.name, function.description);
        for route in function.routes() {
            println!(
                "    {:<6} {:<48} {:?}",
                route.method.as_str(),
                route.path,
                route.access
            );
        }
    }
}
