//! The OpenAPI 3.1 document of the platform's HTTP API, built from the registry: each route's
//! path, method, summary and access level, and the Rust types its entry names (their schemas
//! come from the types' derives). `lightspeedpay openapi` prints it; `docs/openapi.json` is the
//! checked-in copy the docs function serves, held to this by a test.

use crate::api::{Answer, Api, Body, Schemas};
use crate::registry::{Access, FUNCTIONS, Function, Route};
use serde_json::{Map, Value, json};
use shared::error::ErrorCode;
use shared::http::pagination::{DEFAULT_LIMIT, MAX_LIMIT};
use std::collections::BTreeMap;
use utoipa::openapi::{RefOr, Schema};

/// The checked-in copy of the document: what the docs function serves.
pub const CHECKED_IN: &str = include_str!("../../docs/openapi.json");

/// Where `$ref`s to named schemas point.
const SCHEMAS: &str = "#/components/schemas/";
/// The error envelope every error answer refers to.
const ERROR: &str = "#/components/schemas/Error";

/// The schema name a `$ref` to a named schema points at.
fn schema_name(reference: &str) -> Option<&str> {
    reference.strip_prefix(SCHEMAS)
}

/// The document as pretty-printed JSON with a final newline (the form checked in).
pub fn json() -> String {
    let mut text = serde_json::to_string_pretty(&document()).unwrap_or_default();
    text.push('\n');
    text
}

/// The whole document.
pub fn document() -> Value {
    let mut schemas = Schemas::new();
    let mut request_schemas = Vec::new();
    let mut paths: BTreeMap<&str, Map<String, Value>> = BTreeMap::new();
    let mut tags = Vec::new();
    for function in FUNCTIONS.iter().copied() {
        if function.routes().is_empty() {
            continue;
        }
        tags.push(tag(function));
        for route in function.routes() {
            let operation = operation(function, route, &mut schemas);
            request_schemas.extend(refs(&operation["requestBody"]));
            paths
                .entry(route.path)
                .or_default()
                .insert(route.method.as_str().to_lowercase(), operation);
        }
    }
    let mut components = components(schemas);
    forbid_control_characters(&mut components, request_schemas);
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "LightSpeedPay API",
            "version": env!("CARGO_PKG_VERSION"),
            "summary": "One API for Indian merchants over many payment gateways.",
            "description": DESCRIPTION,
        },
        "servers": [{ "url": "/", "description": "This deployment" }],
        "tags": tags,
        "paths": paths,
        "webhooks": webhooks(),
        "components": {
            "schemas": components,
            "headers": headers(),
            "securitySchemes": {
                "clientKey": {
                    "type": "apiKey", "in": "header", "name": "X-Client-Key",
                    "description": "A merchant's client key (`lsp_test_…` or `lsp_live_…`); sent with `X-Client-Secret`.",
                },
                "clientSecret": {
                    "type": "apiKey", "in": "header", "name": "X-Client-Secret",
                    "description": "The secret of the key pair, shown once when the pair is issued.",
                },
                "bearer": {
                    "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                    "description": "An access token from `POST /api/v1/auth/login` (dashboard users and operators).",
                },
                "sandboxKey": {
                    "type": "http", "scheme": "basic",
                    "description": "The sandbox gateway's own API: a sandbox account's `api_key` as the user name.",
                },
            },
        },
    })
}

const DESCRIPTION: &str = "Merchants create payments with a key pair, send the customer to the \
payment's `checkout_url`, and read payments and refunds; operators manage merchants and gateway \
accounts with a bearer token. Every JSON answer is an envelope: `{success: true, data, message, \
timestamp}` or `{success: false, error: {code, message, details}, timestamp}`, where `error.code` \
is one of a fixed set of codes. Amounts are whole paise. Lists are newest first, a page at a \
time: pass the last id of a page as `starting_after` while `has_more` is true. Every answer \
carries `X-Request-Id` (yours, if you sent a sane one); metered answers carry \
`X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset`. Routes tagged `checkout`, \
`webhooks` and `sandbox-gateway` are for browsers, gateways and the built-in test gateway, not \
for merchants' servers.";

/// What merchants' endpoints receive: one entry per event type, each a signed POST of the event.
fn webhooks() -> Map<String, Value> {
    use shared::merchant_webhooks::events::{EVENT_TYPES, TEST_EVENT};
    let header = |name: &str, description: &str| {
        json!({ "name": name, "in": "header", "required": true, "description": description,
                "schema": { "type": "string" } })
    };
    EVENT_TYPES
        .iter()
        .chain(std::iter::once(&TEST_EVENT))
        .map(|event_type| {
            let operation = json!({ "post": {
                "summary": format!("`{event_type}` delivered to a merchant's endpoint"),
                "description": "A Standard Webhooks v1 delivery: verify the signature with the endpoint's `whsec_` secret before trusting the body, dedupe on `webhook-id`, answer 2xx quickly. Anything else is retried for at least three days; 410 disables the endpoint.",
                "parameters": [
                    header("webhook-id", "The event's id (`evt_…`): the same on every retry and replay."),
                    header("webhook-timestamp", "Unix seconds of this attempt."),
                    header("webhook-signature", "`v1,` and the base64 HMAC-SHA256 of `{webhook-id}.{webhook-timestamp}.{body}`; two, space-separated, during a secret rotation."),
                ],
                "requestBody": { "required": true, "content": { "application/json": {
                    "schema": { "$ref": format!("{SCHEMAS}EventView") } } } },
                "responses": {
                    "2XX": { "description": "Received; never sent again." },
                    "410": { "description": "Gone: the endpoint is disabled at once." },
                    "default": { "description": "Not received: tried again later." },
                },
            }});
            (event_type.to_string(), operation)
        })
        .collect()
}

fn tag(function: &Function) -> Value {
    json!({ "name": function.name, "description": function.description })
}

/// Gathered schemas by name (a type referred to twice is gathered twice, identically), with the
/// error envelope every error answer refers to.
fn components(schemas: Schemas) -> BTreeMap<String, Value> {
    let mut named: BTreeMap<String, Value> = BTreeMap::new();
    for (name, schema) in schemas {
        let schema = schema_json(&schema);
        // Two types with one schema name would silently describe one of them wrongly: the
        // document is built by `lightspeedpay openapi` and checked by tests, which stop here.
        if let Some(earlier) = named.insert(name.clone(), schema.clone()) {
            assert!(
                earlier == schema,
                "two types share the schema name {name}; rename one with #[schema(as = …)]"
            );
        }
    }
    named.insert("Error".into(), error_schema());
    named
}

/// The component names `value` refers to (`$ref`s), anywhere inside it.
fn refs(value: &Value) -> Vec<String> {
    match value {
        Value::Object(map) => map
            .iter()
            .flat_map(|(key, inner)| match (key.as_str(), inner.as_str()) {
                ("$ref", Some(target)) => schema_name(target)
                    .map(str::to_string)
                    .into_iter()
                    .collect(),
                _ => refs(inner),
            })
            .collect(),
        Value::Array(items) => items.iter().flat_map(refs).collect(),
        _ => Vec::new(),
    }
}

/// Every string a request body carries, names of map entries included, is refused when it
/// holds a control character (`shared::http::body`): the request schemas say so, so that
/// clients and generators know it. Applied to the request body components and those they refer
/// to; strings with a pattern of their own already exclude them.
fn forbid_control_characters(components: &mut BTreeMap<String, Value>, roots: Vec<String>) {
    const PRINTABLE: &str = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$";
    fn mark(schema: &mut Value, found: &mut Vec<String>) {
        let Value::Object(map) = schema else { return };
        if let Some(target) = map.get("$ref").and_then(Value::as_str) {
            found.extend(schema_name(target).map(str::to_string));
        }
        let is_string = match map.get("type") {
            Some(Value::String(t)) => t == "string",
            Some(Value::Array(ts)) => ts.iter().any(|t| t == "string"),
            _ => false,
        };
        if is_string && !map.contains_key("pattern") && !map.contains_key("enum") {
            map.insert("pattern".into(), json!(PRINTABLE));
        }
        for inner in map.values_mut() {
            match inner {
                Value::Object(_) => mark(inner, found),
                Value::Array(items) => items.iter_mut().for_each(|item| mark(item, found)),
                _ => {}
            }
        }
    }
    let mut pending = roots;
    let mut done = std::collections::BTreeSet::new();
    while let Some(name) = pending.pop() {
        if !done.insert(name.clone()) {
            continue;
        }
        if let Some(schema) = components.get_mut(&name) {
            mark(schema, &mut pending);
        }
    }
}

fn schema_json(schema: &RefOr<Schema>) -> Value {
    serde_json::to_value(schema).unwrap_or_default()
}

fn error_schema() -> Value {
    let codes: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    json!({
        "type": "object",
        "description": "Every error answer: a stable code to branch on, a message for people.",
        "required": ["success", "error", "timestamp"],
        "properties": {
            "success": { "type": "boolean", "const": false },
            "error": {
                "type": "object",
                "required": ["code", "message", "details"],
                "properties": {
                    "code": { "type": "string", "enum": codes },
                    "message": { "type": "string" },
                    "details": {
                        "description": "Per field for VALIDATION_ERROR (`{field: message}`), a `reason` for UNAUTHORIZED, else more about the error or null.",
                    },
                    "request_id": {
                        "type": "string",
                        "description": "The request's id, as in its `X-Request-Id` header: quote it to support.",
                    },
                },
            },
            "timestamp": { "type": "string", "format": "date-time" },
        },
    })
}

fn operation(function: &Function, route: &Route, schemas: &mut Schemas) -> Value {
    let api = &route.api;
    let mut op = Map::new();
    op.insert("operationId".into(), json!(route.operation));
    op.insert("summary".into(), json!(route.summary));
    op.insert("tags".into(), json!([function.name]));
    op.insert("security".into(), security(route.access, api));
    let parameters = parameters(route, api);
    if !parameters.is_empty() {
        op.insert("parameters".into(), Value::Array(parameters));
    }
    if let Some(body) = request_body(api.body, schemas) {
        op.insert("requestBody".into(), body);
    }
    op.insert("responses".into(), responses(route, api, schemas));
    Value::Object(op)
}

/// Who may call it: a merchant's key pair (both headers), a bearer token, the sandbox's Basic
/// key, or anyone (`[]`).
fn security(access: Access, api: &Api) -> Value {
    let key_pair = json!({ "clientKey": [], "clientSecret": [] });
    let bearer = json!({ "bearer": [] });
    match access {
        Access::Merchant | Access::MerchantOrAdmin if api.session_only => json!([bearer]),
        Access::Merchant | Access::MerchantOrAdmin => json!([key_pair, bearer]),
        Access::Admin => json!([bearer]),
        Access::Unmetered | Access::Public | Access::Anonymous if api.sandbox_key => {
            json!([{ "sandboxKey": [] }])
        }
        Access::Unmetered | Access::Public | Access::Anonymous => json!([]),
    }
}

fn parameters(route: &Route, api: &Api) -> Vec<Value> {
    let mut out: Vec<Value> = path_parameters(route.path)
        .into_iter()
        .map(|(name, schema)| {
            json!({ "name": name, "in": "path", "required": true, "schema": schema })
        })
        .collect();
    if api.paginated {
        out.push(json!({
            "name": "limit", "in": "query", "required": false,
            "description": format!("Items per page (default {DEFAULT_LIMIT})."),
            "schema": { "type": "integer", "minimum": 1, "maximum": MAX_LIMIT },
        }));
        out.push(json!({
            "name": "starting_after", "in": "query", "required": false,
            "description": "The id of the last item of the previous page.",
            "schema": { "type": "string" },
        }));
    }
    if let Some(query) = api.query {
        out.extend(
            query()
                .iter()
                .map(|p| serde_json::to_value(p).unwrap_or_default()),
        );
    }
    if api.idempotent {
        out.push(json!({
            "name": "Idempotency-Key", "in": "header", "required": api.idempotency_required,
            "description": "Makes a retry safe: the first answer to a key is stored and replayed \
                            (with `Idempotent-Replayed: true`) for 24 hours; the same key with \
                            another body is refused.",
            "schema": { "type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$" },
        }));
    }
    out.push(json!({
        "name": "X-Request-Id", "in": "header", "required": false,
        "description": "Your id for the request, echoed back; one is made when absent or unusable.",
        "schema": { "type": "string", "maxLength": 128, "pattern": "^[A-Za-z0-9._:-]+$" },
    }));
    out
}

/// The `{name}` segments of a path template.
fn path_names(path: &str) -> impl Iterator<Item = &str> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
}

/// Each path parameter with its schema. An `{id}` is the id of the collection before it (typed
/// ids have their own schemas); the others are named for what they hold.
fn path_parameters(path: &str) -> Vec<(&str, Value)> {
    let segments: Vec<&str> = path.split('/').collect();
    let mut out = Vec::new();
    for (at, segment) in segments.iter().enumerate() {
        if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            let before = at.checked_sub(1).map_or("", |i| segments[i]);
            out.push((name, parameter_schema(name, before)));
        }
    }
    out
}

fn parameter_schema(name: &str, collection: &str) -> Value {
    let id = match (name, collection) {
        ("id", "transactions" | "checkout") => Some("TransactionId"),
        ("id", "refunds") => Some("RefundId"),
        ("id", "merchant" | "merchants") => Some("MerchantId"),
        ("id", "gateways") => Some("GatewayAccountId"),
        ("id", "users") => Some("UserId"),
        ("id", "notification-recipients") => Some("RecipientId"),
        ("id", "alerts") => Some("AlertId"),
        ("id", "webhooks") => Some("WebhookEndpointId"),
        ("id", "events") => Some("EventId"),
        ("id", "affiliates") => Some("AffiliateId"),
        ("account_id", _) => Some("GatewayAccountId"),
        ("attempt_id", _) => Some("AttemptId"),
        ("provider", _) => Some("Provider"),
        ("queue", _) => Some("QueueName"),
        _ => None,
    };
    match id {
        Some(schema) => json!({ "$ref": format!("{SCHEMAS}{schema}") }),
        // The sandbox's order ids and the docs page's file names are plain names.
        None => json!({ "type": "string", "pattern": "^[A-Za-z0-9._-]+$" }),
    }
}

fn request_body(body: Body, schemas: &mut Schemas) -> Option<Value> {
    let json_content = |schema: Value| json!({ "application/json": { "schema": schema } });
    Some(match body {
        Body::Empty => return None,
        Body::Json(schema) => json!({
            "required": true,
            "content": json_content(schema_json(&schema(schemas))),
        }),
        Body::OptionalJson(schema) => json!({
            "required": false,
            "content": json_content(schema_json(&schema(schemas))),
        }),
        Body::Form(schema) => json!({
            "required": true,
            "content": { "application/x-www-form-urlencoded": { "schema": schema_json(&schema(schemas)) } },
        }),
        Body::Callback => json!({
            "required": true,
            "description": "As the gateway sends it; verified by its signature.",
            "content": {
                "application/json": { "schema": {} },
                "application/x-www-form-urlencoded": { "schema": { "type": "object" } },
            },
        }),
    })
}

fn responses(route: &Route, api: &Api, schemas: &mut Schemas) -> Value {
    let metered = route.access != Access::Unmetered;
    let mut out = Map::new();
    let headers = |extra: &[&str]| {
        let mut names = vec!["X-Request-Id"];
        if metered {
            names.extend([
                "X-RateLimit-Limit",
                "X-RateLimit-Remaining",
                "X-RateLimit-Reset",
            ]);
        }
        names.extend(extra);
        let h: Map<String, Value> = names
            .into_iter()
            .map(|name| {
                (
                    name.to_string(),
                    json!({ "$ref": format!("#/components/headers/{name}") }),
                )
            })
            .collect();
        Value::Object(h)
    };
    let replayed: &[&str] = if api.idempotent {
        &["Idempotent-Replayed"]
    } else {
        &[]
    };
    match api.answer {
        Answer::Data { status, data } => {
            let envelope = envelope(schema_json(&data(schemas)));
            let mut answer = json!({
                "description": route.summary,
                "headers": headers(replayed),
                "content": { "application/json": { "schema": envelope.clone() } },
            });
            if let Some(links) = links(api) {
                answer["links"] = links;
            }
            out.insert(status.to_string(), answer);
            if api.down_503 {
                out.insert(
                    "503".into(),
                    json!({
                        "description": "Down: the same report, or an error when the database cannot be asked.",
                        "headers": headers(&[]),
                        "content": { "application/json": { "schema": { "oneOf": [envelope, { "$ref": ERROR }] } } },
                    }),
                );
            }
        }
        Answer::Raw { status, body } => {
            let mut answer = json!({
                "description": route.summary,
                "headers": headers(&[]),
                "content": { "application/json": { "schema": schema_json(&body(schemas)) } },
            });
            if let Some(links) = links(api) {
                answer["links"] = links;
            }
            out.insert(status.to_string(), answer);
        }
        Answer::Page => {
            out.insert(
                "200".into(),
                json!({
                    "description": "An HTML page for the customer's browser.",
                    "headers": headers(&[]),
                    "content": { "text/html": { "schema": { "type": "string" } } },
                }),
            );
            out.insert("303".into(), redirect(&headers));
        }
        Answer::Redirect => {
            out.insert("303".into(), redirect(&headers));
        }
        Answer::Text => {
            out.insert(
                "200".into(),
                json!({ "description": route.summary, "headers": headers(&[]),
                        "content": { "text/plain": { "schema": { "type": "string" } } } }),
            );
        }
        Answer::File => {
            let content: Map<String, Value> =
                ["text/html", "text/css", "text/javascript", "image/png"]
                    .into_iter()
                    .map(|media| (media.to_string(), json!({ "schema": { "type": "string" } })))
                    .collect();
            out.insert(
                "200".into(),
                json!({ "description": route.summary, "headers": headers(&[]), "content": content }),
            );
        }
    }
    let page_errors = matches!(api.answer, Answer::Page | Answer::Redirect);
    for (status, codes) in errors(route, api) {
        let key = status.to_string();
        if out.contains_key(&key) {
            continue;
        }
        let extra: &[&str] = if status == 429 || status == 503 {
            &["Retry-After"]
        } else {
            &[]
        };
        let listed: Vec<String> = codes.iter().map(|c| format!("`{}`", c.as_str())).collect();
        let mut content = Map::new();
        content.insert(
            "application/json".into(),
            json!({ "schema": { "$ref": ERROR } }),
        );
        if page_errors {
            // The customer's browser gets a page saying what went wrong; the pipeline's own
            // refusals (rate limit, an unreachable database) stay JSON.
            content.insert(
                "text/html".into(),
                json!({ "schema": { "type": "string" } }),
            );
        }
        out.insert(
            key,
            json!({
                "description": listed.join(", "),
                "headers": headers(extra),
                "content": content,
            }),
        );
    }
    Value::Object(out)
}

/// The follow-up calls a successful answer leads to, if any.
fn links(api: &Api) -> Option<Value> {
    if api.links.is_empty() {
        return None;
    }
    let links: Map<String, Value> = api
        .links
        .iter()
        .map(|link| {
            let parameters = json!({ link.parameter: format!("$response.body#{}", link.pointer) });
            (
                link.name.to_string(),
                json!({ "operationId": link.operation, "parameters": parameters }),
            )
        })
        .collect();
    Some(Value::Object(links))
}

fn redirect(headers: &dyn Fn(&[&str]) -> Value) -> Value {
    json!({
        "description": "The browser is sent on (to the gateway, or back to the merchant).",
        "headers": headers(&["Location"]),
    })
}

/// The response headers operations refer to.
fn headers() -> Value {
    let header =
        |description: &str, schema: Value| json!({ "description": description, "schema": schema });
    json!({
        "X-Request-Id": header("The request's id; quote it to support.", json!({ "type": "string" })),
        "X-RateLimit-Limit": header("Requests allowed per minute.", json!({ "type": "integer" })),
        "X-RateLimit-Remaining": header("Requests left in this minute.", json!({ "type": "integer" })),
        "X-RateLimit-Reset": header("When the minute ends (Unix seconds).", json!({ "type": "integer" })),
        "Retry-After": header("Seconds to wait before retrying.", json!({ "type": "integer" })),
        "Idempotent-Replayed": header(
            "`true` when this is the stored answer to an earlier request with the same key.",
            json!({ "type": "string", "enum": ["true"] }),
        ),
        "Location": header("Where the browser goes next.", json!({ "type": "string" })),
    })
}

/// `{success: true, data, message, timestamp}` around `data`.
fn envelope(data: Value) -> Value {
    json!({
        "type": "object",
        "required": ["success", "data", "message", "timestamp"],
        "properties": {
            "success": { "type": "boolean", "const": true },
            "data": data,
            "message": { "type": "string" },
            "timestamp": { "type": "string", "format": "date-time" },
        },
    })
}

/// The errors a route may answer, by status: those of every route (a malformed request, an
/// unreachable database), of its access level, of its shape, and those its entry names.
fn errors(route: &Route, api: &Api) -> BTreeMap<u16, Vec<ErrorCode>> {
    let mut codes = vec![ErrorCode::Validation, ErrorCode::ServiceUnavailable];
    if route.access != Access::Unmetered {
        codes.push(ErrorCode::RateLimited);
    }
    if matches!(
        route.access,
        Access::Merchant | Access::MerchantOrAdmin | Access::Admin
    ) {
        codes.extend([ErrorCode::Unauthorized, ErrorCode::Forbidden]);
        if route.access != Access::Admin {
            codes.push(ErrorCode::MerchantSuspended);
        }
    }
    if path_names(route.path).next().is_some() {
        codes.push(ErrorCode::NotFound);
    }
    if api.idempotent {
        codes.extend([
            ErrorCode::IdempotencyKeyReused,
            ErrorCode::IdempotencyInProgress,
        ]);
    }
    codes.extend(api.errors.iter().copied());
    let mut by_status: BTreeMap<u16, Vec<ErrorCode>> = BTreeMap::new();
    for code in codes {
        let listed = by_status.entry(code.status().as_u16()).or_default();
        if !listed.contains(&code) {
            listed.push(code);
        }
    }
    by_status
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::all_routes;
    use std::collections::BTreeSet;

    #[test]
    fn the_checked_in_copy_is_what_the_code_builds() {
        let built = json();
        if built != CHECKED_IN {
            let first = built
                .lines()
                .zip(CHECKED_IN.lines())
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            panic!(
                "docs/openapi.json is out of date (first difference at line {}): regenerate it \
                 with `cargo run -q --bin lightspeedpay -- openapi > docs/openapi.json` and \
                 commit the diff",
                first + 1
            );
        }
    }

    #[test]
    fn every_route_is_one_operation_and_every_operation_a_route() {
        let document = document();
        let mut documented = BTreeSet::new();
        for (path, item) in document["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                documented.insert(format!("{} {path}", method.to_uppercase()));
            }
        }
        let routes: BTreeSet<String> = all_routes()
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect();
        assert_eq!(documented, routes);
        let ids: BTreeSet<&str> = all_routes().iter().map(|r| r.operation).collect();
        assert_eq!(ids.len(), all_routes().len(), "operation ids are unique");
    }

    #[test]
    fn security_follows_each_routes_access_level() {
        let document = document();
        for route in all_routes() {
            let op = &document["paths"][route.path][route.method.as_str().to_lowercase()];
            let schemes: BTreeSet<String> = op["security"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|requirement| requirement.as_object().unwrap().keys().cloned())
                .collect();
            let expected: &[&str] = match route.access {
                Access::Merchant | Access::MerchantOrAdmin if route.api.session_only => &["bearer"],
                Access::Merchant | Access::MerchantOrAdmin => {
                    &["bearer", "clientKey", "clientSecret"]
                }
                Access::Admin => &["bearer"],
                Access::Public if route.api.sandbox_key => &["sandboxKey"],
                Access::Unmetered | Access::Public | Access::Anonymous => &[],
            };
            let expected: BTreeSet<String> = expected.iter().map(|s| s.to_string()).collect();
            assert_eq!(schemes, expected, "{} {}", route.method, route.path);
            let responses = op["responses"].as_object().unwrap();
            if !expected.is_empty() {
                assert!(
                    responses.contains_key("401"),
                    "{} {}: needs credentials, so it may answer 401",
                    route.method,
                    route.path
                );
            }
            for (status, answer) in responses {
                if status.starts_with('4') || status == "500" {
                    assert_eq!(
                        answer["content"]["application/json"]["schema"]["$ref"], ERROR,
                        "{} {} {status}",
                        route.method, route.path
                    );
                }
            }
        }
    }

    #[test]
    fn every_link_and_path_parameter_names_something_real() {
        let document = document();
        let schemas = document["components"]["schemas"].as_object().unwrap();
        for route in all_routes() {
            for link in route.api.links {
                let target = all_routes()
                    .into_iter()
                    .find(|r| r.operation == link.operation)
                    .unwrap_or_else(|| {
                        panic!("{}: no operation {}", route.operation, link.operation)
                    });
                assert!(
                    path_names(target.path).any(|name| name == link.parameter),
                    "{} has no {{{}}}",
                    target.path,
                    link.parameter
                );
            }
            for (name, schema) in path_parameters(route.path) {
                if let Some(reference) = schema["$ref"].as_str() {
                    let named = schema_name(reference).unwrap_or(reference);
                    assert!(
                        schemas.contains_key(named),
                        "{}: {name} → {named}",
                        route.path
                    );
                } else {
                    assert!(
                        ["order_id", "file"].contains(&name),
                        "{}: {{{name}}} has no schema of its own",
                        route.path
                    );
                }
            }
        }
    }

    #[test]
    fn every_error_code_has_one_status_and_is_in_the_envelope() {
        let document = document();
        let listed = &document["components"]["schemas"]["Error"]["properties"]["error"]["properties"]
            ["code"]["enum"];
        assert_eq!(listed.as_array().unwrap().len(), ErrorCode::ALL.len());
        for code in ErrorCode::ALL {
            assert!(code.status().is_client_error() || code.status().is_server_error());
        }
    }
}
