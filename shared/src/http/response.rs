//! Responses in the seed's envelope, and the one mapping from [`AppError`] to HTTP.

use crate::error::AppError;
use crate::rate_limit::RateLimitStatus;
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

/// Browsers must not guess a type other than the one declared (every response carries it).
const NOSNIFF: (&str, &str) = ("x-content-type-options", "nosniff");

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
        headers.insert(NOSNIFF.0, HeaderValue::from_static(NOSNIFF.1));
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
        headers.insert(NOSNIFF.0, HeaderValue::from_static(NOSNIFF.1));
        let mut response = ApiResponse {
            status,
            headers,
            body: Bytes::new(),
        };
        response.set_header("content-security-policy", &super::csp::for_page(&page));
        response.body = Bytes::from(page);
        response
    }

    /// A static file (the API document, the docs page and its scripts): typed, never sniffed,
    /// cacheable for five minutes, since it changes only with a deployment.
    pub fn file(content_type: &str, body: impl Into<Bytes>) -> ApiResponse {
        let mut response = ApiResponse {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            body: body.into(),
        };
        response.set_header("content-type", content_type);
        response.set_header("cache-control", "public, max-age=300");
        response
            .headers
            .insert(NOSNIFF.0, HeaderValue::from_static(NOSNIFF.1));
        response
    }

    /// A `303 See Other` to `location` (after a form post, and to hand browsers over). A target
    /// that cannot be a header value is never dropped silently (a 303 with nowhere to go): the
    /// customer gets a page saying so, and the target is logged.
    pub fn redirect(location: &str) -> ApiResponse {
        let Ok(target) = HeaderValue::from_str(location) else {
            tracing::error!(
                location = %location.escape_debug(),
                "redirect target is not a valid header value"
            );
            return ApiResponse::html(
                StatusCode::BAD_REQUEST,
                crate::html::page(
                    "Payment",
                    "<p id=\"error\">We could not send you on from here. If you paid, the \
                     merchant will be told; nothing more is needed from you.</p>",
                ),
            );
        };
        let mut headers = HeaderMap::new();
        headers.insert(http::header::LOCATION, target);
        headers.insert(
            http::header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        );
        headers.insert(NOSNIFF.0, HeaderValue::from_static(NOSNIFF.1));
        ApiResponse {
            status: StatusCode::SEE_OTHER,
            headers,
            body: Bytes::new(),
        }
    }

    /// `{success: false, error: {code, message, details, request_id}, timestamp}` for `error` in
    /// the request `request_id`, named in the body too, so a merchant can quote it from a logged
    /// body alone.
    pub fn error_for(error: &AppError, request_id: &str) -> ApiResponse {
        let status = error.code().status();
        let (message, details) = describe(error);
        let described = json!({
            "code": error.code().as_str(),
            "message": message,
            "details": details,
            "request_id": request_id,
        });
        let body = json!({ "success": false, "error": described, "timestamp": timestamp() });
        let mut response = ApiResponse::json(status, &body);
        match error {
            AppError::RateLimited(limit) => {
                response.set_rate_limit(limit);
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

    /// The `X-RateLimit-*` headers of the budget a request was counted against.
    pub fn set_rate_limit(&mut self, limit: &RateLimitStatus) {
        self.set_header("x-ratelimit-limit", &limit.limit.to_string());
        self.set_header("x-ratelimit-remaining", &limit.remaining().to_string());
        self.set_header("x-ratelimit-reset", &limit.reset_at.timestamp().to_string());
    }

    /// Sets a header, ignoring values that are not valid header text.
    pub fn set_header(&mut self, name: &'static str, value: &str) {
        if let Ok(value) = HeaderValue::from_str(value) {
            self.headers.insert(name, value);
        }
    }
}

fn describe(error: &AppError) -> (String, Value) {
    match error {
        AppError::Validation(fields) => ("The request is not valid".into(), json!(fields.fields())),
        AppError::Unauthorized(why) => (why.message().into(), json!({ "reason": why.reason() })),
        AppError::Forbidden(why) => ((*why).into(), Value::Null),
        AppError::NotFound(what) => (format!("{} not found", capitalize(what)), Value::Null),
        AppError::RouteNotFound => ("No route matches this path".into(), Value::Null),
        AppError::MethodNotAllowed(allowed) => (
            "This path does not accept that method".into(),
            json!({ "allowed": allowed }),
        ),
        AppError::RateLimited(limit) => (
            format!("Rate limit of {} requests per minute exceeded", limit.limit),
            json!({ "limit": limit.limit, "retry_after_seconds": limit.retry_after_seconds() }),
        ),
        AppError::MerchantSuspended => (
            "The merchant is suspended; contact support".into(),
            Value::Null,
        ),
        AppError::Conflict(why) => (why.clone(), Value::Null),
        AppError::CurrencyMismatch {
            held,
            required,
            what,
        } => (
            format!("The money is in {held}, but {what} is kept in {required}"),
            json!({ "currency": held, "required_currency": required }),
        ),
        AppError::DuplicateOrderId => (
            "Another payment already uses this order_id".into(),
            json!({ "order_id": "is already used by another payment" }),
        ),
        AppError::RefundNotAllowed(why) => (why.clone(), Value::Null),
        AppError::RefundExceedsCaptured { refundable } => (
            format!("The refund exceeds what is left to refund ({refundable} paise)"),
            json!({ "amount": format!("must be at most {refundable}"), "refundable": refundable }),
        ),
        AppError::IdempotencyKeyReused => (
            "This Idempotency-Key was used with a different request".into(),
            Value::Null,
        ),
        AppError::IdempotencyInProgress => (
            "A request with this Idempotency-Key is still in progress; retry shortly".into(),
            Value::Null,
        ),
        AppError::GatewayUnavailable(why) => (why.clone(), Value::Null),
        AppError::WalletBalanceLow {
            balance,
            suspension_threshold,
        } => (
            "The wallet's balance is below its suspension threshold and no platform account can take this payment; top up the wallet".into(),
            json!({ "balance": balance, "suspension_threshold": suspension_threshold }),
        ),
        AppError::Database(e) if e.is_unavailable() => (
            "The database is unreachable; retry shortly (the same Idempotency-Key is safe)".into(),
            json!({ "dependency": "database", "retry_after_seconds": UNAVAILABLE_RETRY_AFTER_SECONDS }),
        ),
        AppError::Database(_) | AppError::Internal(_) => (
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_429_carries_its_budget_and_every_error_body_its_request() {
        let now = Utc::now();
        let limit = RateLimitStatus {
            limit: 20,
            used: 21,
            reset_at: now + chrono::Duration::seconds(30),
            now,
        };
        let response = ApiResponse::error_for(&AppError::RateLimited(limit), "req_abc");
        assert_eq!(response.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers["x-ratelimit-limit"], "20");
        assert_eq!(response.headers["x-ratelimit-remaining"], "0");
        assert_eq!(
            response.headers["x-ratelimit-reset"],
            limit.reset_at.timestamp().to_string().as_str()
        );
        assert!(response.headers.contains_key("retry-after"));
        let body: Value = serde_json::from_slice(&response.body).unwrap();
        assert_eq!(body["error"]["request_id"], "req_abc");
    }

    #[test]
    fn f15_a_redirect_never_drops_its_location_silently() {
        let fine = ApiResponse::redirect("https://shop.example/done?status=succeeded");
        assert_eq!(fine.status, StatusCode::SEE_OTHER);
        assert_eq!(
            fine.headers["location"],
            "https://shop.example/done?status=succeeded"
        );
        let broken = ApiResponse::redirect("https://shop.example/\u{1}done\r\nset-cookie: x=1");
        assert_ne!(broken.status, StatusCode::SEE_OTHER);
        assert!(!broken.status.is_server_error());
        assert!(!broken.headers.contains_key("location"));
        assert!(!broken.headers.contains_key("set-cookie"));
        assert!(String::from_utf8_lossy(&broken.body).contains("id=\"error\""));
    }
}
