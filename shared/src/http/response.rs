//! Responses in the seed's envelope, and the one mapping from [`AppError`] to HTTP.

use crate::error::AppError;
use bytes::Bytes;
use chrono::{SecondsFormat, Utc};
use http::{HeaderMap, HeaderValue, StatusCode};
use serde::Serialize;
use serde_json::{Value, json};

/// A finished response.
#[derive(Debug, Clone)]
pub struct ApiResponse {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

/// `Retry-After` while the database is unreachable: a restart takes about a second, and a
/// retry storm against a recovering server helps nobody.
pub const UNAVAILABLE_RETRY_AFTER_SECONDS: u64 = 2;

fn timestamp() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl ApiResponse {
    /// `{success: true, data, message, timestamp}` with `status`.
    pub fn success<T: Serialize>(status: StatusCode, data: &T, message: &str) -> ApiResponse {
        let body =
            json!({ "success": true, "data": data, "message": message, "timestamp": timestamp() });
        ApiResponse::json(status, &body)
    }

    /// 200 with data.
    pub fn ok<T: Serialize>(data: &T, message: &str) -> ApiResponse {
        ApiResponse::success(StatusCode::OK, data, message)
    }

    /// 201 with the created resource.
    pub fn created<T: Serialize>(data: &T, message: &str) -> ApiResponse {
        ApiResponse::success(StatusCode::CREATED, data, message)
    }

    /// Any JSON document with `status`.
    pub fn json(status: StatusCode, body: &Value) -> ApiResponse {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(
            http::header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        );
        ApiResponse {
            status,
            headers,
            body: Bytes::from(body.to_string()),
        }
    }

    /// An HTML page (the hosted checkout and the sandbox's pay page).
    pub fn html(status: StatusCode, page: String) -> ApiResponse {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        headers.insert(
            http::header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        );
        headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
        headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
        ApiResponse {
            status,
            headers,
            body: Bytes::from(page),
        }
    }

    /// A `303 See Other` to `location` (after a form post, and to hand browsers over).
    pub fn redirect(location: &str) -> ApiResponse {
        let mut response = ApiResponse {
            status: StatusCode::SEE_OTHER,
            headers: HeaderMap::new(),
            body: Bytes::new(),
        };
        response.set_header("location", location);
        response.headers.insert(
            http::header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        );
        response
    }

    /// `{success: false, error: {code, message, details}, timestamp}` for `error`.
    pub fn error(error: &AppError) -> ApiResponse {
        let (status, message, details) = describe(error);
        let body = json!({
            "success": false,
            "error": { "code": error.code(), "message": message, "details": details },
            "timestamp": timestamp(),
        });
        let mut response = ApiResponse::json(status, &body);
        match error {
            AppError::RateLimited(limit) => {
                let retry_after = limit.retry_after_seconds().to_string();
                response.set_header("retry-after", &retry_after);
            }
            AppError::MethodNotAllowed(allowed) => {
                response.set_header("allow", &allowed.join(", "))
            }
            AppError::Unauthorized(_) => response.set_header("www-authenticate", "Bearer"),
            error if error.is_unavailable() => {
                response.set_header("retry-after", &UNAVAILABLE_RETRY_AFTER_SECONDS.to_string())
            }
            _ => {}
        }
        response
    }

    /// Sets a header, ignoring values that are not valid header text.
    pub fn set_header(&mut self, name: &'static str, value: &str) {
        if let Ok(value) = HeaderValue::from_str(value) {
            self.headers.insert(name, value);
        }
    }
}

fn describe(error: &AppError) -> (StatusCode, String, Value) {
    match error {
        AppError::Validation(fields) => (
            StatusCode::BAD_REQUEST,
            "The request is not valid".into(),
            json!(fields.fields()),
        ),
        AppError::Unauthorized(why) => (
            StatusCode::UNAUTHORIZED,
            why.message().into(),
            json!({ "reason": why.reason() }),
        ),
        AppError::Forbidden(why) => (StatusCode::FORBIDDEN, (*why).into(), Value::Null),
        AppError::NotFound(what) => (
            StatusCode::NOT_FOUND,
            format!("{} not found", capitalize(what)),
            Value::Null,
        ),
        AppError::RouteNotFound => (
            StatusCode::NOT_FOUND,
            "No route matches this path".into(),
            Value::Null,
        ),
        AppError::MethodNotAllowed(allowed) => (
            StatusCode::METHOD_NOT_ALLOWED,
            "This path does not accept that method".into(),
            json!({ "allowed": allowed }),
        ),
        AppError::RateLimited(limit) => (
            StatusCode::TOO_MANY_REQUESTS,
            format!("Rate limit of {} requests per minute exceeded", limit.limit),
            json!({ "limit": limit.limit, "retry_after_seconds": limit.retry_after_seconds() }),
        ),
        AppError::MerchantSuspended => (
            StatusCode::FORBIDDEN,
            "The merchant is suspended; contact support".into(),
            Value::Null,
        ),
        AppError::Conflict(why) => (StatusCode::CONFLICT, why.clone(), Value::Null),
        AppError::DuplicateOrderId => (
            StatusCode::CONFLICT,
            "Another payment already uses this order_id".into(),
            json!({ "order_id": "is already used by another payment" }),
        ),
        AppError::RefundNotAllowed(why) => (StatusCode::CONFLICT, why.clone(), Value::Null),
        AppError::RefundExceedsCaptured { refundable } => (
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("The refund exceeds what is left to refund ({refundable} paise)"),
            json!({ "amount": format!("must be at most {refundable}"), "refundable": refundable }),
        ),
        AppError::IdempotencyKeyReused => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "This Idempotency-Key was used with a different request".into(),
            Value::Null,
        ),
        AppError::IdempotencyInProgress => (
            StatusCode::CONFLICT,
            "A request with this Idempotency-Key is still in progress; retry shortly".into(),
            Value::Null,
        ),
        AppError::GatewayUnavailable(why) => {
            (StatusCode::SERVICE_UNAVAILABLE, why.clone(), Value::Null)
        }
        AppError::Database(e) if e.is_unavailable() => (
            StatusCode::SERVICE_UNAVAILABLE,
            "The database is unreachable; retry shortly (the same Idempotency-Key is safe)".into(),
            json!({ "dependency": "database", "retry_after_seconds": UNAVAILABLE_RETRY_AFTER_SECONDS }),
        ),
        AppError::Database(_) | AppError::Internal(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "An internal error occurred; quote the request id to support".into(),
            Value::Null,
        ),
    }
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
