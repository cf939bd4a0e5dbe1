//! One HTTP server for every route of the registry: the local platform, and the in-process
//! server integration tests use.

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::response::Response;
use bytes::BytesMut;
use functions::registry::{self, Route};
use functions::server;
use http_body_util::BodyExt;
use shared::App;
use shared::http::ApiRequest;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Serves every registry route on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let routes: Arc<Vec<&'static Route>> = Arc::new(registry::all_routes());
    let router = Router::new().fallback(
        move |ConnectInfo(peer): ConnectInfo<SocketAddr>, request: Request| {
            let app = app.clone();
            let routes = routes.clone();
            async move {
                let request = into_api_request(request, peer, app.config.http.max_body_bytes).await;
                into_response(server::handle(&app, &routes, request).await)
            }
        },
    );
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// Reads at most one byte more than the limit, so the pipeline can refuse an oversized body
/// without the runner buffering all of it.
async fn into_api_request(request: Request, peer: SocketAddr, max_body_bytes: usize) -> ApiRequest {
    let (parts, mut body) = request.into_parts();
    let mut buffer = BytesMut::new();
    while buffer.len() <= max_body_bytes {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    buffer.extend_from_slice(&data);
                }
            }
            Some(Err(_)) | None => break,
        }
    }
    ApiRequest {
        method: parts.method,
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or("").to_string(),
        headers: parts.headers,
        body: buffer.freeze(),
        source_ip: Some(peer.ip().to_string()),
    }
}

fn into_response(response: shared::http::ApiResponse) -> Response {
    let mut out = Response::new(axum::body::Body::from(response.body));
    *out.status_mut() = response.status;
    *out.headers_mut() = response.headers;
    out
}

/// Resolves when the process is asked to stop (Ctrl-C or SIGTERM).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
