//! The Lambda adapter: builds the shared state once per instance (during init, so the database
//! handshake is not paid by the first request) and runs a function's handler under lambda_http.

use crate::registry::{self, Route};
use crate::server;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use lambda_http::request::RequestContext as LambdaContext;
use lambda_http::{Body, Request, RequestExt, Response, service_fn};
use lambda_runtime::LambdaEvent;
use shared::config::Config;
use shared::http::ApiRequest;
use shared::jobs::Message;
use shared::schedules::Tick;
use shared::schedules::runs;
use shared::{App, telemetry};
use std::convert::Infallible;
use std::sync::Arc;

/// Error type of a function binary's `main`.
pub type Error = lambda_http::Error;

/// Builds the shared state during init, with only the adapters the function's entry names, and
/// opens the first database connection.
async fn init(function: &'static registry::Function) -> Result<Arc<App>, Error> {
    telemetry::init();
    let config = Config::from_env().map_err(|e| e.to_string())?;
    let app = Arc::new(App::connect_with(config, function.adapters()).await?);
    if let Err(e) = app.db.warm().await {
        // Requests will retry the connection; failing init would only make Lambda retry it.
        tracing::warn!(error = %e, "could not open a database connection during init");
    }
    Ok(app)
}

/// Runs a worker: SQS batches in, partial batch failures out (the event source mapping must
/// enable `ReportBatchItemFailures`).
pub async fn run_worker(function: &'static registry::Function) -> Result<(), Error> {
    let registry::Trigger::Worker { handler, .. } = function.trigger else {
        return Err(format!("{} is not a worker", function.name).into());
    };
    let app = init(function).await?;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: LambdaEvent<SqsEvent>| {
            let app = app.clone();
            async move { Ok::<_, Infallible>(handle_sqs_batch(handler, app, event.payload).await) }
        },
    ))
    .await
}

/// One SQS batch through a worker: the failed messages are reported by id, so SQS redelivers
/// only those (partial batch failure).
pub async fn handle_sqs_batch(
    handler: registry::WorkerHandler,
    app: Arc<App>,
    event: SqsEvent,
) -> SqsBatchResponse {
    let messages = event.records.into_iter().map(message).collect();
    let mut response = SqsBatchResponse::default();
    for id in handler(app, messages).await {
        response.add_failure(id);
    }
    response
}

fn message(record: aws_lambda_events::sqs::SqsMessage) -> Message {
    Message {
        id: record.message_id.unwrap_or_default(),
        receipt: record.receipt_handle.unwrap_or_default(),
        body: record.body.unwrap_or_default(),
        receive_count: record
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|c| c.parse().ok())
            .unwrap_or(1),
    }
}

/// Runs a scheduled job for each scheduler invocation, for the time the scheduler passes in
/// (`template.yaml` sets the input `{"job": …, "scheduled_time": "<aws.scheduler.scheduled-time>"}`),
/// under the run's key: a duplicate invocation does nothing.
pub async fn run_schedule(function: &'static registry::Function) -> Result<(), Error> {
    let registry::Trigger::Schedule { handler, .. } = function.trigger else {
        return Err(format!("{} is not a scheduled job", function.name).into());
    };
    let app = init(function).await?;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: LambdaEvent<serde_json::Value>| {
            let app = app.clone();
            async move {
                let tick = scheduled_tick(&event.payload, app.clock.now())?;
                let outcome =
                    runs::run_once(&app, function.name, tick, |tick| handler(app.clone(), tick))
                        .await
                        .map_err(|e| Error::from(e.to_string()))?;
                serde_json::to_value(outcome).map_err(Error::from)
            }
        },
    ))
    .await
}

/// The run an invocation is for: the scheduler's `scheduled_time`; an invocation without one (a
/// manual test invoke) is a run for `now`. A time that does not parse is refused rather than
/// guessed, so a misconfigured schedule fails loudly.
pub fn scheduled_tick(payload: &serde_json::Value, now: DateTime<Utc>) -> Result<Tick, Error> {
    match payload.get("scheduled_time").and_then(|t| t.as_str()) {
        None => Ok(Tick::at(now)),
        Some(text) => DateTime::parse_from_rfc3339(text)
            .map(|t| Tick::at(t.with_timezone(&Utc)))
            .map_err(|e| {
                Error::from(format!(
                    "scheduled_time {text:?} is not an RFC 3339 time: {e}"
                ))
            }),
    }
}

/// Runs an HTTP function until the Lambda runtime stops it.
pub async fn run_http(function: &'static registry::Function) -> Result<(), Error> {
    let app = init(function).await?;
    let routes: Vec<&'static Route> = function.routes().iter().collect();
    let routes = Arc::new(routes);
    lambda_http::run(service_fn(move |request: Request| {
        let app = app.clone();
        let routes = routes.clone();
        async move {
            let response = server::handle(&app, &routes, from_lambda(request)).await;
            Ok::<_, Infallible>(to_lambda(response))
        }
    }))
    .await
}

/// Converts API Gateway's request (REST or HTTP API, function URL, `cargo lambda watch`).
pub fn from_lambda(request: Request) -> ApiRequest {
    let source_ip = match request.request_context_ref() {
        Some(LambdaContext::ApiGatewayV2(ctx)) => ctx.http.source_ip.clone(),
        Some(LambdaContext::ApiGatewayV1(ctx)) => ctx.identity.source_ip.clone(),
        _ => None,
    };
    let (parts, body) = request.into_parts();
    let body = match body {
        Body::Empty => Bytes::new(),
        Body::Text(text) => Bytes::from(text),
        Body::Binary(bytes) => Bytes::from(bytes),
        _ => Bytes::new(),
    };
    ApiRequest {
        method: parts.method,
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or("").to_string(),
        headers: parts.headers,
        body,
        source_ip,
    }
}

/// Text stays text; anything else (the docs page's icons) goes as binary, which API Gateway
/// sends base64-encoded and decodes for the client, never mangled into replacement characters.
fn to_lambda(response: shared::http::ApiResponse) -> Response<Body> {
    let body = match String::from_utf8(response.body.to_vec()) {
        Ok(text) => Body::Text(text),
        Err(bytes) => Body::Binary(bytes.into_bytes()),
    };
    let mut out = Response::new(body);
    *out.status_mut() = response.status;
    *out.headers_mut() = response.headers;
    out
}
