//! `template.yaml` and `events/` are held to the registry; cfn-lint checks the template.

use functions::registry::{FUNCTIONS, Grants, Trigger, find};
use serde_yaml::Value;
use serde_yaml::value::TaggedValue;
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
                    "ScheduleV2" => {
                        // The run key needs the scheduler's time in every invocation.
                        let input: serde_json::Value =
                            serde_json::from_str(&text(&props["Input"])).unwrap_or_default();
                        assert_eq!(
                            input,
                            serde_json::json!({
                                "job": binary,
                                "scheduled_time": "<aws.scheduler.scheduled-time>",
                            }),
                            "{binary}: the schedule's Input"
                        );
                        format!(
                            "schedule {} {}",
                            text(&props["ScheduleExpression"]),
                            text(&props["ScheduleExpressionTimezone"])
                        )
                    }
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
    for name in [
        "DATABASE_URL",
        "JWT_SECRET",
        "ENCRYPTION_KEYS",
        "DATABASE_CA_CERT",
    ] {
        let value = serde_yaml::to_string(&env[name]).unwrap();
        assert!(
            value.contains("{{resolve:secretsmanager:"),
            "{name} is not a secret reference: {value}"
        );
    }
}

/// Every schedule is one the runner and EventBridge read alike: its expression parses, a cron
/// means Indian wall-clock time (Asia/Kolkata) and a rate is in UTC, and it fires again. The
/// template carries the same expression and zone (`template_declares_exactly_the_registry`).
#[test]
fn every_schedule_parses_in_the_zone_its_kind_needs() {
    let now = chrono::Utc::now();
    let mut schedules = 0;
    for function in FUNCTIONS {
        let Some(schedule) = functions::worker::schedule_of(function) else {
            continue;
        };
        let Trigger::Schedule {
            expression,
            timezone,
            ..
        } = function.trigger
        else {
            unreachable!()
        };
        let schedule = schedule.unwrap_or_else(|e| panic!("{}: {e}", function.name));
        let wanted = match schedule.expression {
            shared::schedules::expression::Expression::Cron(_) => "Asia/Kolkata",
            shared::schedules::expression::Expression::Rate { .. } => "UTC",
        };
        assert_eq!(timezone, wanted, "{}: {expression}", function.name);
        assert!(
            schedule.next_after(now).is_some(),
            "{}: {expression} never fires again",
            function.name
        );
        schedules += 1;
    }
    assert!(schedules >= 8, "{schedules}");
}

/// The target of `!GetAtt Logical.Attribute` or `!Ref Logical`, as (tag, text).
fn intrinsic(v: &Value) -> Option<(String, String)> {
    match v {
        Value::Tagged(tagged) => {
            let TaggedValue { tag, value } = tagged.as_ref();
            Some((tag.to_string(), text(value)))
        }
        _ => None,
    }
}

/// The registry's name of the queue `!GetAtt <Logical>.<attribute>` points at.
fn queue_of(resources: &Value, reference: &Value, attribute: &str) -> Result<String, String> {
    let (tag, target) =
        intrinsic(reference).ok_or_else(|| format!("not a !GetAtt: {reference:?}"))?;
    let logical = target
        .strip_suffix(&format!(".{attribute}"))
        .filter(|_| tag == "!GetAtt")
        .ok_or_else(|| format!("not a !GetAtt of a queue's {attribute}: {tag} {target}"))?;
    let queue = &resources[logical];
    if text(&queue["Type"]) != "AWS::SQS::Queue" {
        return Err(format!("{logical} is not a queue"));
    }
    let (_, name) = intrinsic(&queue["Properties"]["QueueName"])
        .ok_or_else(|| format!("{logical} has no !Sub QueueName"))?;
    name.rsplit("}-")
        .next()
        .map(str::to_string)
        .ok_or_else(|| format!("{logical}: unexpected name {name}"))
}

/// What one function's `Policies` grant, in the registry's terms: `send <queue>`,
/// `queue url <queue>`, `put events`; anything else is reported as it is, so it counts as extra.
fn granted(resources: &Value, policies: &Value) -> BTreeSet<String> {
    let mut granted = BTreeSet::new();
    for policy in policies.as_sequence().into_iter().flatten() {
        let mut found = Vec::new();
        if let Some(send) = policy.get("SQSSendMessagePolicy") {
            found.push(
                queue_of(resources, &send["QueueName"], "QueueName").map(|q| format!("send {q}")),
            );
        } else if let Some(put) = policy.get("EventBridgePutEventsPolicy") {
            found.push(match intrinsic(&put["EventBusName"]) {
                Some((tag, bus))
                    if tag == "!Ref"
                        && text(&resources[bus.as_str()]["Type"]) == "AWS::Events::EventBus" =>
                {
                    Ok("put events".to_string())
                }
                other => Err(format!(
                    "PutEvents on something else than the bus: {other:?}"
                )),
            });
        } else if let Some(statements) = policy.get("Statement").and_then(Value::as_sequence) {
            for statement in statements {
                let action = text(&statement["Action"]);
                if let Some(consumers) = consumer_grant(resources, statement) {
                    found.extend(consumers);
                    continue;
                }
                let prefix = match action.as_str() {
                    "sqs:GetQueueUrl" => "queue url",
                    "sqs:GetQueueAttributes" => "inspect",
                    "sqs:ReceiveMessage" => "receive",
                    "sqs:DeleteMessage" => "delete",
                    "sqs:ChangeMessageVisibility" => "release",
                    "sqs:StartMessageMoveTask" => "move",
                    _ => "",
                };
                if text(&statement["Effect"]) != "Allow" || prefix.is_empty() {
                    found.push(Err(format!("statement {statement:?}")));
                    continue;
                }
                let resource = &statement["Resource"];
                let arns = match resource.as_sequence() {
                    Some(list) => list.iter().collect(),
                    None => vec![resource],
                };
                for arn in arns {
                    found.push(queue_of(resources, arn, "Arn").map(|q| format!("{prefix} {q}")));
                }
            }
        } else {
            found.push(Err(format!("policy {policy:?}")));
        }
        granted.extend(
            found
                .into_iter()
                .map(|g| g.unwrap_or_else(|e| format!("unrecognised {e}"))),
        );
    }
    granted
}

/// What a Lambda statement grants on event source mappings: `list consumers` (listing takes no
/// resource), `switch <worker>` for each function an update is limited to; `None`: not Lambda.
fn consumer_grant(resources: &Value, statement: &Value) -> Option<Vec<Result<String, String>>> {
    let action = text(&statement["Action"]);
    if text(&statement["Effect"]) != "Allow" {
        return None;
    }
    match action.as_str() {
        "lambda:ListEventSourceMappings" => Some(vec![if text(&statement["Resource"]) == "*" {
            Ok("list consumers".to_string())
        } else {
            Err(format!("statement {statement:?}"))
        }]),
        "lambda:UpdateEventSourceMapping" => {
            let mappings = serde_yaml::to_string(&statement["Resource"]).unwrap();
            if !mappings.contains(":event-source-mapping:") {
                return Some(vec![Err(format!("statement {statement:?}"))]);
            }
            let functions = &statement["Condition"]["ArnLike"]["lambda:FunctionArn"];
            let arns: Vec<&Value> = functions
                .as_sequence()
                .map(|l| l.iter().collect())
                .unwrap_or_default();
            if arns.is_empty() {
                return Some(vec![Err(format!("unlimited {statement:?}"))]);
            }
            Some(
                arns.into_iter()
                    .map(|arn| match intrinsic(arn) {
                        Some((tag, target)) if tag == "!GetAtt" => {
                            let logical = target.trim_end_matches(".Arn");
                            let binary =
                                text(&resources[logical]["Metadata"]["BuildProperties"]["Binary"]);
                            Ok(format!("switch {binary}"))
                        }
                        other => Err(format!("not a function's !GetAtt: {other:?}")),
                    })
                    .collect(),
            )
        }
        _ => None,
    }
}

/// What a registry entry's grants ask of the template.
fn declared(grants: &Grants) -> BTreeSet<String> {
    let mut declared = BTreeSet::new();
    for queue in grants.sends_to {
        declared.insert(format!("send {queue}"));
        declared.insert(format!("queue url {queue}"));
    }
    if grants.publishes_events {
        declared.insert("put events".to_string());
    }
    if grants.administers_queues {
        declared.insert("list consumers".to_string());
        for queue in shared::jobs::queues::ALL {
            declared.insert(format!("send {queue}"));
            for action in ["receive", "delete", "release", "move"] {
                declared.insert(format!("{action} {queue}-dlq"));
            }
            let worker = shared::jobs::queues::consumer(queue).unwrap();
            declared.insert(format!("switch {worker}"));
        }
    }
    if grants.inspects_queues || grants.administers_queues {
        for queue in shared::jobs::queues::ALL {
            for name in [queue.to_string(), format!("{queue}-dlq")] {
                declared.insert(format!("queue url {name}"));
                declared.insert(format!("inspect {name}"));
            }
        }
    }
    declared
}

/// Every difference between the template's `Policies` and the registry's grants, both ways.
fn grant_problems(template: &Value) -> Vec<String> {
    let resources = &template["Resources"];
    let mut problems = Vec::new();
    for (logical, resource) in resources.as_mapping().into_iter().flatten() {
        if text(&resource["Type"]) != "AWS::Serverless::Function" {
            continue;
        }
        let binary = text(&resource["Metadata"]["BuildProperties"]["Binary"]);
        let Some(function) = find(&binary) else {
            problems.push(format!(
                "{logical:?} builds '{binary}', which is not in the registry"
            ));
            continue;
        };
        let granted = granted(resources, &resource["Properties"]["Policies"]);
        let declared = declared(&function.grants);
        for missing in declared.difference(&granted) {
            problems.push(format!("{binary}: the template does not grant '{missing}'"));
        }
        for extra in granted.difference(&declared) {
            problems.push(format!(
                "{binary}: the template grants '{extra}', which the registry does not declare"
            ));
        }
    }
    problems
}

#[test]
fn template_grants_exactly_what_the_registry_declares() {
    let problems = grant_problems(&template());
    assert!(problems.is_empty(), "{problems:#?}");
}

/// The policies of one function resource of `template`, to mutate.
fn policies<'a>(template: &'a mut Value, logical: &str) -> &'a mut Vec<Value> {
    let properties = &mut template["Resources"][logical]["Properties"];
    if properties.get("Policies").is_none() {
        properties["Policies"] = Value::Sequence(Vec::new());
    }
    properties["Policies"].as_sequence_mut().unwrap()
}

#[test]
fn the_grant_check_fails_on_a_missing_or_an_undeclared_grant() {
    let yaml = |s: &str| -> Value { serde_yaml::from_str(s).unwrap() };
    let fails = |template: &Value, expected: &str| {
        let problems = grant_problems(template);
        assert!(
            problems.iter().any(|p| p.contains(expected)),
            "expected a problem containing {expected:?}, got {problems:#?}"
        );
    };

    // A grant removed: pay's send to the transaction-processor queue, then its GetQueueUrl.
    let mut t = template();
    policies(&mut t, "PayFunction").retain(|p| p.get("SQSSendMessagePolicy").is_none());
    fails(
        &t,
        "pay: the template does not grant 'send transaction-processor'",
    );
    let mut t = template();
    policies(&mut t, "PayFunction").retain(|p| p.get("Statement").is_none());
    fails(
        &t,
        "pay: the template does not grant 'queue url transaction-processor'",
    );
    // The bus removed from a worker.
    let mut t = template();
    policies(&mut t, "WebhookProcessorFunction")
        .retain(|p| p.get("EventBridgePutEventsPolicy").is_none());
    fails(
        &t,
        "webhook-processor: the template does not grant 'put events'",
    );

    // The queue administrator without its statements: no dead-letter moves, no mapping switch.
    let mut t = template();
    policies(&mut t, "AdminQueuesFunction").retain(|p| p.get("Statement").is_none());
    fails(
        &t,
        "admin-queues: the template does not grant 'move slack-sender-dlq'",
    );
    fails(
        &t,
        "admin-queues: the template does not grant 'switch wallet-balance-monitor'",
    );

    // A grant added without a declaration: the bus for health, another queue for pay, an
    // unrelated statement for maintenance.
    let mut t = template();
    policies(&mut t, "HealthFunction").push(yaml(
        "EventBridgePutEventsPolicy:\n  EventBusName: !Ref EventBus",
    ));
    fails(&t, "health: the template grants 'put events'");
    let mut t = template();
    policies(&mut t, "PayFunction").push(yaml(
        "SQSSendMessagePolicy:\n  QueueName: !GetAtt RefundProcessorQueue.QueueName",
    ));
    fails(&t, "pay: the template grants 'send refund-processor'");
    let mut t = template();
    policies(&mut t, "MaintenanceFunction").push(yaml(
        "Statement:\n  - Effect: Allow\n    Action: sqs:PurgeQueue\n    Resource: '*'",
    ));
    fails(
        &t,
        "maintenance: the template grants 'unrecognised statement",
    );
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
