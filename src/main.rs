//! `lightspeedpay`: run the platform locally and operate it.

use lightspeedpay::{dev, runner, simulation};
use shared::audit::{self, AuditContext, AuditEvent};
use shared::config::Config;
use shared::crypto::random;
use shared::db::{self, Scope, migrate};
use shared::users::{self, Role};
use shared::{App, seed, telemetry};
use std::process::ExitCode;
use std::sync::Arc;

const USAGE: &str = "lightspeedpay — LightSpeedPay platform runner and operations CLI

USAGE:
  lightspeedpay dev                      run the whole platform locally (database, migrations, demo data, every route)
  lightspeedpay serve                    serve every route with the configuration in the environment
  lightspeedpay migrate                  apply pending database migrations (DATABASE_MIGRATION_URL or DATABASE_URL)
  lightspeedpay create-admin --email E   create an operator; password from LSP_ADMIN_PASSWORD, else generated and printed
  lightspeedpay reseal                   seal every stored secret again under the active encryption key (ENCRYPTION_ACTIVE_KEY_ID);
                                         fails, naming the rows, while one needs a key that is not configured
  lightspeedpay run-job NAME [--at TIME]  run one scheduled job now, or for the slot at TIME (RFC 3339), under its run key
                                         (a slot that already ran is not run again); prints the outcome as JSON
  lightspeedpay routes                   list every function and route of the registry
  lightspeedpay openapi                  print the OpenAPI 3.1 document of the HTTP API (docs/openapi.json is its checked-in copy)
  lightspeedpay simulate-routing [--scenario FILE]... [--payments N] [--seed S] [--svg PATH]
                                         run synthetic gateways through the routing engine in every mode and against
                                         an oracle; print a Markdown table (default: every scenarios/routing/*.toml;
                                         --payments and --seed override the scenarios'; --svg writes the chart)

Configuration comes from the environment and from .env (see README.md).";

#[tokio::main]
async fn main() -> ExitCode {
    let _ = dotenvy::dotenv();
    telemetry::init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("dev") => run_dev().await,
        Some("serve") => run_serve().await,
        Some("migrate") => run_migrate().await,
        Some("create-admin") => create_admin(&args[1..]).await,
        Some("reseal") => run_reseal().await,
        Some("run-job") => run_job(&args[1..]).await,
        Some("routes") => {
            print_routes();
            Ok(())
        }
        Some("openapi") => {
            print!("{}", functions::openapi::json());
            Ok(())
        }
        Some("simulate-routing") => simulate_routing(&args[1..]),
        Some("help" | "--help" | "-h") | None => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown command '{other}'\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run_dev() -> Result<(), String> {
    let dir = dev::state_dir();
    let setup = dev::setup(&dir).await?;
    let applied = migrate::run(&setup.owner_url, &setup.config.database.tls)
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!(applied = ?applied, "migrations up to date");
    let app = Arc::new(
        App::connect(setup.config)
            .await
            .map_err(|e| e.to_string())?,
    );
    if workers_enabled() {
        functions::worker::spawn_all(app.clone());
    }
    let creds = seed::demo(&app, dev::previous_credentials(&dir))
        .await
        .map_err(|e| e.to_string())?;
    let file = dir.join("dev-credentials.json");
    dev::write_private(
        &file,
        &serde_json::to_string_pretty(&creds).map_err(|e| e.to_string())?,
    )?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", setup.port))
        .await
        .map_err(|e| format!("binding port {}: {e}", setup.port))?;
    let base = format!(
        "http://{}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    println!("{}", dev::banner(&creds, &base, &file));
    let served = runner::serve(listener, app, runner::shutdown_signal())
        .await
        .map_err(|e| e.to_string());
    if let Some(database) = &setup.database {
        database.stop();
    }
    served
}

async fn run_serve() -> Result<(), String> {
    let config = Config::from_env().map_err(|e| e.to_string())?;
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000);
    let host = std::env::var("HOST").unwrap_or_else(|_| "127.0.0.1".into());
    let app = Arc::new(App::connect(config).await.map_err(|e| e.to_string())?);
    app.db.warm().await.map_err(|e| e.to_string())?;
    if workers_enabled() {
        functions::worker::spawn_all(app.clone());
    }
    let listener = tokio::net::TcpListener::bind((host.as_str(), port))
        .await
        .map_err(|e| format!("binding {host}:{port}: {e}"))?;
    tracing::info!(address = %listener.local_addr().map_err(|e| e.to_string())?, "serving every route");
    runner::serve(listener, app, runner::shutdown_signal())
        .await
        .map_err(|e| e.to_string())
}

async fn run_migrate() -> Result<(), String> {
    let (url, tls) = shared::config::migration_settings(|name| std::env::var(name).ok())
        .map_err(|e| e.to_string())?;
    let applied = migrate::run(url.expose(), &tls)
        .await
        .map_err(|e| e.to_string())?;
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

async fn create_admin(args: &[String]) -> Result<(), String> {
    let email = match args {
        [flag, email] if flag == "--email" => email.clone(),
        _ => return Err("usage: lightspeedpay create-admin --email E".into()),
    };
    let (password, generated) = match std::env::var("LSP_ADMIN_PASSWORD") {
        Ok(p) if !p.is_empty() => (p, false),
        _ => (random::base62(24), true),
    };
    let config = Config::from_env().map_err(|e| e.to_string())?;
    let app = App::new(config).map_err(|e| e.to_string())?;
    let mut client = app.db.client().await.map_err(|e| e.to_string())?;
    let tx = db::begin(&mut client, Scope::System)
        .await
        .map_err(|e| e.to_string())?;
    let id = users::create(&tx, &email, &password, Role::Admin, None)
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
    let config = Config::from_env().map_err(|e| e.to_string())?;
    let app = App::new(config).map_err(|e| e.to_string())?;
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

/// `run-job`: one run of a scheduled job through its run key, for now or for `--at`; prints the
/// outcome (`ran` with the job's summary, `already_ran`, or `failed` with the error).
async fn run_job(args: &[String]) -> Result<(), String> {
    let usage = "usage: lightspeedpay run-job NAME [--at <RFC 3339 time>]";
    let (name, at) = match args {
        [name] => (name.as_str(), None),
        [name, flag, at] if flag == "--at" => (name.as_str(), Some(at.as_str())),
        _ => return Err(usage.into()),
    };
    let schedules: Vec<&functions::registry::Function> = functions::registry::FUNCTIONS
        .iter()
        .copied()
        .filter(|f| functions::worker::schedule_of(f).is_some())
        .collect();
    let Some(function) = schedules.iter().find(|f| f.name == name) else {
        let names: Vec<&str> = schedules.iter().map(|f| f.name).collect();
        return Err(format!(
            "no scheduled job '{name}' (one of: {})\n{usage}",
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
    let config = Config::from_env().map_err(|e| e.to_string())?;
    let app = Arc::new(App::connect(config).await.map_err(|e| e.to_string())?);
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
fn simulate_routing(args: &[String]) -> Result<(), String> {
    let usage = "usage: lightspeedpay simulate-routing [--scenario FILE]... [--payments N] [--seed S] [--svg PATH]";
    let mut files = Vec::new();
    let (mut payments, mut seed, mut svg) = (None, None, None);
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let mut value = || {
            rest.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value\n{usage}"))
        };
        match flag.as_str() {
            "--scenario" => files.push(std::path::PathBuf::from(value()?)),
            "--payments" => {
                let v = value()?;
                payments = Some(v.parse::<u64>().ok().filter(|&n| n > 0).ok_or_else(|| {
                    format!("--payments must be a whole number above 0, not '{v}'")
                })?);
            }
            "--seed" => {
                let v = value()?;
                seed = Some(
                    v.parse::<u64>()
                        .map_err(|_| format!("--seed must be a whole number, not '{v}'"))?,
                );
            }
            "--svg" => svg = Some(value()?),
            other => return Err(format!("unknown option '{other}'\n{usage}")),
        }
    }
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
