//! The operations CLI: `migrate` and `create-admin` against a real database, `openapi` without one.

use crate::support::*;
use reqwest::StatusCode;
use std::process::Command;

fn lightspeedpay(args: &[&str], vars: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lightspeedpay"));
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    cmd.envs(vars.iter().copied());
    cmd.output().expect("run lightspeedpay")
}

#[tokio::test]
async fn create_admin_makes_an_operator_who_can_log_in() {
    let app = TestApp::spawn().await;
    let password = "a-long-operator-password";
    let vars = [
        ("DATABASE_URL", app.db.app_url.as_str()),
        ("JWT_SECRET", JWT_SECRET),
        ("ENCRYPTION_KEYS", ENCRYPTION_KEYS),
        ("LSP_ADMIN_PASSWORD", password),
    ];
    let out = lightspeedpay(
        &[
            "create-admin",
            "--email",
            "First.Operator@LightSpeedPay.test",
        ],
        &vars,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains(password),
        "a given password is not echoed"
    );

    let (status, body) = app
        .login("first.operator@lightspeedpay.test", password)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let audited: i64 = app
        .db
        .owner()
        .await
        .query_one("SELECT count(*) FROM audit_log WHERE action = 'user.admin_created' AND actor_type = 'system'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(audited, 1);

    // The same email again is refused, and a short password is refused with the reason.
    let again = lightspeedpay(
        &[
            "create-admin",
            "--email",
            "first.operator@lightspeedpay.test",
        ],
        &vars,
    );
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let short = lightspeedpay(
        &["create-admin", "--email", "second@lightspeedpay.test"],
        &[
            ("DATABASE_URL", app.db.app_url.as_str()),
            ("JWT_SECRET", JWT_SECRET),
            ("ENCRYPTION_KEYS", ENCRYPTION_KEYS),
            ("LSP_ADMIN_PASSWORD", "short"),
        ],
    );
    assert!(!short.status.success());
    assert!(
        String::from_utf8_lossy(&short.stderr).contains("password"),
        "{}",
        String::from_utf8_lossy(&short.stderr)
    );
}

#[tokio::test]
async fn configuration_errors_name_every_problem_and_no_value() {
    let out = lightspeedpay(
        &["serve"],
        &[
            ("JWT_SECRET", "too-short-secret-value"),
            ("DATABASE_POOL_SIZE", "zero"),
        ],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    for name in [
        "DATABASE_URL",
        "JWT_SECRET",
        "ENCRYPTION_KEYS",
        "DATABASE_POOL_SIZE",
    ] {
        assert!(stderr.contains(name), "{name} missing from: {stderr}");
    }
    assert!(!stderr.contains("too-short-secret-value"), "{stderr}");
}

#[tokio::test]
async fn migrate_is_idempotent() {
    let db = TestDb::create().await;
    let out = lightspeedpay(
        &["migrate"],
        &[("DATABASE_MIGRATION_URL", db.owner_url.as_str())],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("applied 0 migration(s)"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// A database the command cannot use is named with the variable it came from, its server and
/// the cause, with what to do; never the password.
#[tokio::test]
async fn database_errors_name_the_variable_the_server_and_the_cause() {
    let port = free_port();
    let down = format!("postgres://lsp_app:hunter2-secret@127.0.0.1:{port}/shop");
    for (command, vars) in [
        (&["migrate"][..], vec![("DATABASE_URL", down.as_str())]),
        (
            &["migrate"][..],
            vec![("DATABASE_MIGRATION_URL", down.as_str())],
        ),
        (
            &["create-admin", "--email", "ops@example.in"][..],
            vec![
                ("DATABASE_URL", down.as_str()),
                ("JWT_SECRET", JWT_SECRET),
                ("ENCRYPTION_KEYS", ENCRYPTION_KEYS),
            ],
        ),
        (
            &["reseal"][..],
            vec![
                ("DATABASE_URL", down.as_str()),
                ("JWT_SECRET", JWT_SECRET),
                ("ENCRYPTION_KEYS", ENCRYPTION_KEYS),
            ],
        ),
        (
            &["run-job", "maintenance"][..],
            vec![
                ("DATABASE_URL", down.as_str()),
                ("JWT_SECRET", JWT_SECRET),
                ("ENCRYPTION_KEYS", ENCRYPTION_KEYS),
            ],
        ),
    ] {
        let out = lightspeedpay(command, &vars);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{command:?}");
        let variable = vars[0].0;
        for part in [
            format!("database of {variable} at 127.0.0.1:{port} as lsp_app (database shop)"),
            "refused".to_string(),
            "is PostgreSQL running there".to_string(),
        ] {
            assert!(stderr.contains(&part), "{command:?}: {part} in {stderr}");
        }
        assert!(!stderr.contains("hunter2"), "{stderr}");
    }

    // The documented fallback of `migrate` to DATABASE_URL, with the application's role on a
    // database it does not own: the role is named as the reason, with the variable to set.
    let db = TestDb::create_empty().await;
    let out = lightspeedpay(&["migrate"], &[("DATABASE_URL", db.app_url.as_str())]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("database of DATABASE_URL")
            && stderr.contains("set DATABASE_MIGRATION_URL to the owner's connection"),
        "{stderr}"
    );
}

#[test]
fn openapi_prints_the_checked_in_document_without_configuration() {
    let out = lightspeedpay(&["openapi"], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let checked_in =
        std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/openapi.json"))
            .unwrap();
    assert!(
        out.stdout == checked_in,
        "`lightspeedpay openapi` differs from docs/openapi.json: regenerate it with \
         `cargo run -q -- openapi > docs/openapi.json`"
    );
}

#[tokio::test]
async fn run_job_runs_a_slot_once_and_names_the_schedules_it_knows() {
    let app = TestApp::spawn().await;
    let vars = [
        ("DATABASE_URL", app.db.app_url.as_str()),
        ("JWT_SECRET", JWT_SECRET),
        ("ENCRYPTION_KEYS", ENCRYPTION_KEYS),
    ];
    let at = "2026-12-04T20:30:00Z";
    let first = lightspeedpay(&["run-job", "outbox-sweeper", "--at", at], &vars);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let outcome: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    assert_eq!(outcome["outcome"], "ran", "{outcome}");
    assert_eq!(outcome["scheduled_at"], at, "{outcome}");
    assert_eq!(outcome["summary"]["published"], 0, "{outcome}");
    // The same slot again: done already, nothing run, still a success.
    let again = lightspeedpay(&["run-job", "outbox-sweeper", "--at", at], &vars);
    assert!(again.status.success());
    let outcome: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(outcome["outcome"], "already_ran", "{outcome}");
    assert_eq!(outcome["status"], "succeeded", "{outcome}");
    let runs: i64 = app
        .db
        .owner()
        .await
        .query_one(
            "SELECT count(*) FROM schedule_runs WHERE job = 'outbox-sweeper'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(runs, 1);
    // Without --at: a run for now.
    let now = lightspeedpay(&["run-job", "alert-monitor"], &vars);
    assert!(
        now.status.success(),
        "{}",
        String::from_utf8_lossy(&now.stderr)
    );
    let outcome: serde_json::Value = serde_json::from_slice(&now.stdout).unwrap();
    assert_eq!(outcome["outcome"], "ran", "{outcome}");

    // An unknown job (or one that is not a schedule) is refused with the schedules' names,
    // before any configuration is needed.
    for name in ["nightly-archive-typo", "pay"] {
        let unknown = lightspeedpay(&["run-job", name], &[]);
        assert!(!unknown.status.success());
        let stderr = String::from_utf8_lossy(&unknown.stderr);
        for known in ["outbox-sweeper", "gateway-health", "low-balance-notifier"] {
            assert!(stderr.contains(known), "{stderr}");
        }
    }
    let bad = lightspeedpay(&["run-job", "outbox-sweeper", "--at", "yesterday"], &vars);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("RFC 3339"));
    let usage = lightspeedpay(&["run-job"], &vars);
    assert!(!usage.status.success());
    assert!(String::from_utf8_lossy(&usage.stderr).contains("Usage: lightspeedpay run-job"));

    // A database that cannot be reached is named before any run is claimed: no outcome is printed.
    let port = free_port().to_string();
    let down = format!("postgres://lsp_app:x@127.0.0.1:{port}/none");
    let failed = lightspeedpay(
        &["run-job", "outbox-sweeper", "--at", at],
        &[
            ("DATABASE_URL", down.as_str()),
            ("JWT_SECRET", JWT_SECRET),
            ("ENCRYPTION_KEYS", ENCRYPTION_KEYS),
        ],
    );
    assert!(!failed.status.success());
    assert!(failed.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(
        stderr.contains(&format!("database of DATABASE_URL at 127.0.0.1:{port}")),
        "{stderr}"
    );
}

fn files_in(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// `--help` and `--version`, on the command and on every subcommand, print and exit 0 without
/// running anything: no database is asked (the one named cannot answer) and `dev` writes no file.
#[test]
fn help_and_version_never_run_a_command() {
    let dir = temp_dir("cli");
    let vars = [
        ("LSP_STATE_DIR", dir.to_str().unwrap()),
        ("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none"),
    ];
    let version = format!("lightspeedpay {}", env!("CARGO_PKG_VERSION"));
    let subcommands = [
        "dev",
        "serve",
        "migrate",
        "create-admin",
        "reseal",
        "run-job",
        "routes",
        "openapi",
        "errors",
        "simulate-routing",
    ];
    let top = lightspeedpay(&["--help"], &vars);
    assert!(top.status.success());
    let help = String::from_utf8_lossy(&top.stdout).into_owned();
    for sub in subcommands {
        assert!(help.contains(sub), "the help lists {sub}: {help}");
    }
    let out = lightspeedpay(&["--version"], &vars);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), version);
    for sub in subcommands {
        for flag in ["--help", "-h"] {
            let out = lightspeedpay(&[sub, flag], &vars);
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "{sub} {flag}: {stdout}");
            assert!(
                stdout.contains(&format!("Usage: lightspeedpay {sub}")),
                "{sub} {flag}: {stdout}"
            );
        }
        let out = lightspeedpay(&[sub, "--version"], &vars);
        assert!(out.status.success(), "{sub} --version");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            format!("lightspeedpay-{sub} {}", env!("CARGO_PKG_VERSION"))
        );
    }
    assert!(files_in(&dir).is_empty(), "{:?}", files_in(&dir));
    // No command, an unknown one, or a missing argument: usage on stderr and a failure.
    for args in [&[][..], &["launch"], &["create-admin"], &["run-job"]] {
        let out = lightspeedpay(args, &vars);
        assert!(!out.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("Usage: lightspeedpay"),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A bad `HOST` or `PORT` is refused by name, by `dev` and `serve` alike, before anything runs.
#[test]
fn bad_host_and_port_are_refused_by_name() {
    let dir = temp_dir("cli");
    for command in ["dev", "serve"] {
        for (var, value, expected) in [
            (
                "PORT",
                "abc",
                "PORT must be a whole number from 0 (any free port) to 65535, not 'abc'",
            ),
            ("PORT", "99999", "not '99999'"),
            ("HOST", "pay.local", "HOST must be an IP address"),
        ] {
            let out = lightspeedpay(
                &[command],
                &[("LSP_STATE_DIR", dir.to_str().unwrap()), (var, value)],
            );
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{command} {var}={value}");
            assert!(
                stderr.contains(expected),
                "{command} {var}={value}: {stderr}"
            );
        }
    }
    assert!(files_in(&dir).is_empty(), "{:?}", files_in(&dir));
    std::fs::remove_dir_all(&dir).unwrap();
}
