//! The request pipeline every HTTP function runs: request id, routing by path template, body
//! limit, authentication and rate limit, role check, the handler, the envelope and one log line.

use crate::api::Body;
use crate::context::RequestContext;
use crate::registry::{Access, Route, WhileSuspended};
use shared::auth::{self, Principal};
use shared::http::path::{PathParams, match_template};
use shared::http::request::request_id;
use shared::http::{ApiRequest, ApiResponse};
use shared::rate_limit::RateLimitStatus;
use shared::{App, AppError};
use std::sync::Arc;
use std::time::Instant;

/// Finds the route for a request among `routes`. A literal segment wins over a parameter, as in
/// API Gateway: `GET /api/v1/merchant/routing` is that route, not `/api/v1/merchant/{id}` with the
/// id `routing`, whatever the order of the registry.
pub fn resolve(
    routes: &[&'static Route],
    request: &ApiRequest,
) -> Result<(&'static Route, PathParams), AppError> {
    let mut allowed = Vec::new();
    let mut best: Option<(&'static Route, PathParams)> = None;
    for route in routes {
        if let Some(params) = match_template(route.path, &request.path) {
            if route.method != request.method {
                allowed.push(route.method.as_str());
            } else if best
                .as_ref()
                .is_none_or(|(chosen, _)| more_specific(route.path, chosen.path))
            {
                best = Some((route, params));
            }
        }
    }
    if let Some(found) = best {
        return Ok(found);
    }
    if allowed.is_empty() {
        Err(AppError::RouteNotFound)
    } else {
        Err(AppError::MethodNotAllowed(allowed))
    }
}

/// Whether template `a` is more specific than `b` (both matching one path): at the first segment
/// where they differ, `a` has a literal and `b` a parameter.
pub(crate) fn more_specific(a: &str, b: &str) -> bool {
    let is_param = |segment: &str| segment.starts_with('{');
    a.split('/')
        .zip(b.split('/'))
        .find(|(x, y)| is_param(x) != is_param(y))
        .is_some_and(|(x, _)| !is_param(x))
}

/// Refuses a form on a route whose API document declares JSON: the body parser reads both, but
/// only the routes browsers and gateways post to declare forms, so only they take one.
fn refuse_undeclared_form(route: &Route, request: &ApiRequest) -> Result<(), AppError> {
    let form = request.media_type().as_deref() == Some("application/x-www-form-urlencoded");
    match route.api.body {
        Body::Json(_) | Body::OptionalJson(_) if form => Err(AppError::field(
            "body",
            "must be JSON (Content-Type: application/json); this route takes no form",
        )),
        _ => Ok(()),
    }
}

/// Handles one request with the routes this process serves.
pub async fn handle(app: &Arc<App>, routes: &[&'static Route], request: ApiRequest) -> ApiResponse {
    let started = Instant::now();
    let id = request_id(&request.headers);
    let method = request.method.clone();
    let path = request.path.clone();
    let mut principal = None;
    let mut limit = None;
    let mut template = "-";
    let outcome = async {
        let (route, params) = resolve(routes, &request)?;
        template = route.path;
        if request.body.len() > app.config.http.max_body_bytes {
            return Err(AppError::field(
                "body",
                format!("must be at most {} bytes", app.config.http.max_body_bytes),
            ));
        }
        match route.access {
            Access::Unmetered => {}
            Access::Public => {
                let status = meter_public(app, &request).await?;
                limit = Some(status);
                if !status.allowed() {
                    return Err(AppError::RateLimited(status));
                }
            }
            Access::Anonymous => {
                let status = auth::meter_anonymous(app, &request)
                    .await
                    .inspect_err(|e| {
                        if let AppError::RateLimited(status) = e {
                            limit = Some(*status);
                        }
                    })?;
                limit = Some(status);
            }
            Access::Merchant | Access::MerchantOrAdmin | Access::Admin => {
                let (who, status) = auth::authenticate(app, &request).await.inspect_err(|e| {
                    if let AppError::RateLimited(status) = e {
                        limit = Some(*status);
                    }
                })?;
                principal = Some(who);
                limit = Some(status);
                authorize(route.access, &who)?;
                // An enrolment-only session (an operator without a second factor while
                // ADMIN_MFA_REQUIRED is on) reaches only the session routes: enrol, log out.
                if who.is_enrolment_only() && !route.path.starts_with("/api/v1/auth/") {
                    return Err(AppError::Forbidden(
                        "Enrol a second factor first: POST /api/v1/auth/mfa/totp",
                    ));
                }
                if who.is_suspended() && route.while_suspended == WhileSuspended::Refused {
                    return Err(AppError::MerchantSuspended);
                }
            }
        }
        refuse_undeclared_form(route, &request)?;
        let ctx = RequestContext {
            request,
            params,
            principal,
            request_id: id.clone(),
        };
        (route.handler)(app.clone(), ctx).await
    }
    .await;

    let mut response = match &outcome {
        Ok(response) => response.clone(),
        Err(error) => ApiResponse::error_for(error, &id),
    };
    response.set_header("x-request-id", &id);
    if let Some(limit) = &limit {
        response.set_rate_limit(limit);
    }
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let who = principal.as_ref().map(Principal::label).unwrap_or_default();
    match &outcome {
        Err(error @ (AppError::Database(_) | AppError::Internal(_))) => tracing::error!(
            request_id = %id, method = %method, path = %path, route = template, status = response.status.as_u16(),
            principal = %who, latency_ms, error = %error, "request failed"
        ),
        _ => tracing::info!(
            request_id = %id, method = %method, path = %path, route = template, status = response.status.as_u16(),
            principal = %who, latency_ms, code = outcome.as_ref().err().map(|e| e.code().as_str()).unwrap_or(""), "request"
        ),
    }
    response
}

fn authorize(access: Access, principal: &Principal) -> Result<(), AppError> {
    match (access, principal.is_admin()) {
        (Access::Admin, false) => Err(AppError::Forbidden("This route is for platform operators")),
        (Access::Merchant, true) => Err(AppError::Forbidden(
            "This route is for merchants; operators use the admin API",
        )),
        _ => Ok(()),
    }
}

/// Counts an unauthenticated request against its source address's public budget, apart from the
/// login budget so that a flood of checkout or webhook requests cannot lock logins out. IPv6
/// clients are counted per /64, which one subscriber usually holds whole. The caller refuses a
/// request over the limit, after noting the status for the response headers.
async fn meter_public(app: &App, request: &ApiRequest) -> Result<RateLimitStatus, AppError> {
    let source = request.source_ip.as_deref().unwrap_or("unknown");
    let address = match source.parse::<std::net::Ipv6Addr>() {
        Ok(v6) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        _ => source.chars().take(64).collect(),
    };
    let mut client = app.db.client().await?;
    let tx = shared::db::begin_relaxed(&mut client, shared::db::Scope::Public).await?;
    let status = shared::rate_limit::hit_and_commit(
        tx,
        &format!("public:{address}"),
        app.config.http.public_rate_limit_per_minute,
    )
    .await?;
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;

    #[test]
    fn a_literal_segment_wins_over_a_parameter_whatever_the_order() {
        let mut routes = crate::registry::all_routes();
        for _ in 0..2 {
            let request = ApiRequest::new(Method::GET, "/api/v1/merchant/routing");
            let (route, _) = resolve(&routes, &request).unwrap();
            assert_eq!(route.operation, "merchant_routing.get");
            let request = ApiRequest::new(Method::GET, "/api/v1/merchant/mer_x");
            let (route, params) = resolve(&routes, &request).unwrap();
            assert_eq!(route.operation, "merchant.get");
            assert_eq!(params.get("id"), Some("mer_x"));
            routes.reverse();
        }
    }
}
