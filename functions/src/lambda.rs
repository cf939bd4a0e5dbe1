//! The Lambda adapter: builds the shared state once per instance (during init, so the database
//! handshake is not paid by the first request) and runs a function's handler under lambda_http.

use crate::registry::{self, Route};
use crate::server;
use bytes::Bytes;
use lambda_http::request::RequestContext as LambdaContext;
use lambda_http::{Body, Request, RequestExt, Response, service_fn};
use shared::config::Config;
use shared::http::ApiRequest;
use shared::{App, telemetry};
use std::convert::Infallible;
use std::sync::Arc;

/// Error type of a function binary's `main`.
pub type Error = lambda_http::Error;

/// Runs the HTTP function `name` from the registry until the Lambda runtime stops it.
pub async fn run_http(name: &'static str) -> Result<(), Error> {
    telemetry::init();
    let function =
        registry::find(name).ok_or_else(|| format!("function '{name}' is not in the registry"))?;
    let routes: Vec<&'static Route> = function.routes().iter().collect();
    let config = Config::from_env().map_err(|e| e.to_string())?;
    let app = Arc::new(App::new(config)?);
    if let Err(e) = app.db.warm().await {
        // Requests will retry the connection; failing init would only make Lambda retry it.
        tracing::warn!(error = %e, "could not open a database connection during init");
    }
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

fn to_lambda(response: shared::http::ApiResponse) -> Response<Body> {
    let mut out = Response::new(Body::Text(
        String::from_utf8_lossy(&response.body).into_owned(),
    ));
    *out.status_mut() = response.status;
    *out.headers_mut() = response.headers;
    out
}
