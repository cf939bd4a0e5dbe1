//! `template.yaml` and `events/` are held to the registry; cfn-lint checks the template.

use functions::registry::{FUNCTIONS, Trigger, find};
use serde_yaml::Value;
use std::collections::BTreeSet;
use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn template() -> Value {
    serde_yaml::from_str(&std::fs::read_to_string(root().join("template.yaml")).unwrap()).unwrap()
}

fn text(v: &Value) -> String {
    v.as_str().map(str::to_string).unwrap_or_default()
}

#[test]
fn template_declares_exactly_the_registry() {
    let template = template();
    let resources = template["Resources"].as_mapping().unwrap();
    let mut declared = BTreeSet::new();
    for (logical, resource) in resources {
        if text(&resource["Type"]) != "AWS::Serverless::Function" {
            continue;
        }
        let binary = text(&resource["Metadata"]["BuildProperties"]["Binary"]);
        assert_eq!(
            text(&resource["Metadata"]["BuildMethod"]),
            "rust-cargolambda",
            "{logical:?}"
        );
        let function = find(&binary).unwrap_or_else(|| {
            panic!("{logical:?} builds '{binary}', which is not in the registry")
        });
        let mut events = BTreeSet::new();
        if let Some(map) = resource["Properties"]["Events"].as_mapping() {
            for event in map.values() {
                let props = &event["Properties"];
                events.insert(match text(&event["Type"]).as_str() {
                    "HttpApi" => format!("{} {}", text(&props["Method"]), text(&props["Path"])),
                    "SQS" => {
                        // `!GetAtt Queue.Arn`: follow it to the queue's name.
                        let reference = serde_yaml::to_string(&props["Queue"]).unwrap();
                        let logical = reference
                            .split_whitespace()
                            .last()
                            .unwrap()
                            .trim_end_matches(".Arn")
                            .to_string();
                        let queue = &resources[&Value::String(logical.clone())];
                        let name =
                            serde_yaml::to_string(&queue["Properties"]["QueueName"]).unwrap();
                        assert!(
                            serde_yaml::to_string(&props["FunctionResponseTypes"])
                                .unwrap()
                                .contains("ReportBatchItemFailures"),
                            "{binary}"
                        );
                        assert!(
                            queue["Properties"]["RedrivePolicy"]["maxReceiveCount"]
                                .as_u64()
                                .is_some(),
                            "{logical} has no DLQ"
                        );
                        format!(
                            "queue {}",
                            name.trim()
                                .trim_end_matches('"')
                                .rsplit("}-")
                                .next()
                                .unwrap()
                        )
                    }
                    "ScheduleV2" => format!(
                        "schedule {} {}",
                        text(&props["ScheduleExpression"]),
                        text(&props["ScheduleExpressionTimezone"])
                    ),
                    other => panic!("{binary}: unexpected event type {other}"),
                });
            }
        }
        let expected: BTreeSet<String> = match &function.trigger {
            Trigger::Http(routes) => routes
                .iter()
                .map(|r| format!("{} {}", r.method, r.path))
                .collect(),
            Trigger::Worker { queue, .. } => [format!("queue {queue}")].into(),
            Trigger::Schedule {
                expression,
                timezone,
                ..
            } => [format!("schedule {expression} {timezone}")].into(),
        };
        assert_eq!(
            events, expected,
            "{binary}: template events differ from the registry"
        );
        declared.insert(binary);
    }
    let registry: BTreeSet<String> = FUNCTIONS.iter().map(|f| f.name.to_string()).collect();
    assert_eq!(
        declared, registry,
        "functions in the template and the registry differ"
    );
    assert_eq!(
        text(&template["Globals"]["Function"]["Runtime"]),
        "provided.al2023"
    );
    // Secrets come from references, never from literals.
    let env = &template["Globals"]["Function"]["Environment"]["Variables"];
    for name in ["DATABASE_URL", "JWT_SECRET", "ENCRYPTION_KEYS"] {
        let value = serde_yaml::to_string(&env[name]).unwrap();
        assert!(
            value.contains("{{resolve:secretsmanager:"),
            "{name} is not a secret reference: {value}"
        );
    }
}

fn cfn_lint() -> std::path::PathBuf {
    if let Ok(path) = std::env::var("LSP_CFN_LINT") {
        return path.into();
    }
    let venv = root().join("target/venv/bin/cfn-lint");
    if venv.exists() {
        return venv;
    }
    "cfn-lint".into()
}

#[test]
fn cfn_lint_accepts_the_template() {
    let output = std::process::Command::new(cfn_lint())
        .arg(root().join("template.yaml"))
        .output()
        .expect("cfn-lint must be installed: run scripts/test, which installs it into target/venv");
    assert!(
        output.status.success(),
        "cfn-lint found problems:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn every_event_parses_as_its_functions_request_and_reaches_a_route() {
    let mut covered = BTreeSet::new();
    for entry in std::fs::read_dir(root().join("events")).unwrap() {
        let path = entry.unwrap().path();
        let stem = path.file_stem().unwrap().to_str().unwrap().to_string();
        // `events/<function>.json`, or `events/<function>--<variant>.json` for more samples.
        let name = stem.split("--").next().unwrap();
        let function = find(name).unwrap_or_else(|| panic!("{} names no function", path.display()));
        let json = std::fs::read_to_string(&path).unwrap();
        match &function.trigger {
            Trigger::Http(routes) => {
                let request = lambda_http::request::from_str(&json)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                let request = functions::lambda::from_lambda(request);
                let routes: Vec<_> = routes.iter().collect();
                functions::server::resolve(&routes, &request)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            }
            Trigger::Worker { .. } => {
                let event: aws_lambda_events::sqs::SqsEvent = serde_json::from_str(&json)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                assert!(!event.records.is_empty(), "{}", path.display());
                for record in event.records {
                    let body: serde_json::Value =
                        serde_json::from_str(record.body.as_deref().unwrap_or("")).unwrap();
                    assert!(
                        body.is_object(),
                        "{}: message bodies are the worker's JSON jobs",
                        path.display()
                    );
                }
            }
            Trigger::Schedule { .. } => {
                let input: serde_json::Value = serde_json::from_str(&json)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                assert_eq!(input["job"], name, "{}", path.display());
            }
        }
        covered.insert(name.to_string());
    }
    let all: BTreeSet<String> = FUNCTIONS.iter().map(|f| f.name.to_string()).collect();
    assert_eq!(covered, all, "every function needs a sample event");
}
