//! The one error type of the platform. Each variant has a stable [`ErrorCode`], and each code one
//! HTTP status; `http::response` writes the body.

use crate::rate_limit::RateLimitStatus;
use crate::validation::FieldErrors;
use http::StatusCode;

/// Why a request was not authenticated; sent as `error.details.reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// Neither an API key pair nor a bearer token was sent.
    MissingCredentials,
    /// The key is unknown or revoked, or the secret does not match.
    InvalidCredentials,
    /// The key's mode is not enabled for the merchant (live before activation).
    ModeNotEnabled,
    /// The bearer token is malformed, badly signed, or for another issuer or audience.
    InvalidToken,
    /// The bearer token has expired.
    TokenExpired,
    /// The user behind the token no longer exists, is disabled, or changed role.
    InactiveUser,
    /// The email or password is wrong (deliberately not saying which).
    InvalidLogin,
    /// The refresh token is unknown, expired or revoked.
    InvalidRefreshToken,
    /// A spent refresh token was presented again; its whole family has been revoked.
    RefreshTokenReused,
    /// A gateway callback's signature is missing, stale or wrong.
    InvalidSignature,
    /// The token's session was ended (logout, refresh-token reuse, deactivation).
    SessionEnded,
    /// The account has a second factor: send `otp` with the password.
    OtpRequired,
    /// The one-time code is wrong, expired or was already used.
    InvalidOtp,
    /// Operators must enrol a second factor before they get a full session.
    MfaRequired,
}

impl AuthFailure {
    /// Every reason.
    pub const ALL: [AuthFailure; 14] = [
        AuthFailure::MissingCredentials,
        AuthFailure::InvalidCredentials,
        AuthFailure::ModeNotEnabled,
        AuthFailure::InvalidToken,
        AuthFailure::TokenExpired,
        AuthFailure::InactiveUser,
        AuthFailure::InvalidLogin,
        AuthFailure::InvalidRefreshToken,
        AuthFailure::RefreshTokenReused,
        AuthFailure::InvalidSignature,
        AuthFailure::SessionEnded,
        AuthFailure::OtpRequired,
        AuthFailure::InvalidOtp,
        AuthFailure::MfaRequired,
    ];

    /// The machine-readable reason.
    pub fn reason(self) -> &'static str {
        match self {
            AuthFailure::MissingCredentials => "missing_credentials",
            AuthFailure::InvalidCredentials => "invalid_credentials",
            AuthFailure::ModeNotEnabled => "mode_not_enabled",
            AuthFailure::InvalidToken => "invalid_token",
            AuthFailure::TokenExpired => "token_expired",
            AuthFailure::InactiveUser => "inactive_user",
            AuthFailure::InvalidLogin => "invalid_login",
            AuthFailure::InvalidRefreshToken => "invalid_refresh_token",
            AuthFailure::RefreshTokenReused => "refresh_token_reused",
            AuthFailure::InvalidSignature => "invalid_signature",
            AuthFailure::SessionEnded => "session_ended",
            AuthFailure::OtpRequired => "otp_required",
            AuthFailure::InvalidOtp => "invalid_otp",
            AuthFailure::MfaRequired => "mfa_required",
        }
    }

    /// A sentence for people.
    pub fn message(self) -> &'static str {
        match self {
            AuthFailure::MissingCredentials => {
                "Send X-Client-Key and X-Client-Secret, or an Authorization: Bearer token"
            }
            AuthFailure::InvalidCredentials => "The client key or secret is not valid",
            AuthFailure::ModeNotEnabled => "This key's mode is not enabled for the merchant",
            AuthFailure::InvalidToken => "The access token is not valid",
            AuthFailure::TokenExpired => "The access token has expired; refresh it",
            AuthFailure::InactiveUser => "The account behind this token is no longer active",
            AuthFailure::InvalidLogin => "Email or password is incorrect",
            AuthFailure::InvalidRefreshToken => "The refresh token is not valid",
            AuthFailure::RefreshTokenReused => {
                "The refresh token was already used; every session from that login has been revoked"
            }
            AuthFailure::InvalidSignature => "The signature is missing, stale or does not match",
            AuthFailure::SessionEnded => {
                "The session this token belongs to has ended; log in again"
            }
            AuthFailure::OtpRequired => {
                "This account has a second factor: send otp with the password"
            }
            AuthFailure::InvalidOtp => "The one-time code is not valid",
            AuthFailure::MfaRequired => {
                "Operators must enrol a second factor: log in and use the enrolment token"
            }
        }
    }
}

/// Every failure a request can end in.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The request is malformed; details per field.
    #[error("validation failed")]
    Validation(FieldErrors),
    /// Authentication failed.
    #[error("unauthorized: {}", .0.reason())]
    Unauthorized(AuthFailure),
    /// Authenticated, but not allowed to do this.
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    /// No such resource (or not visible to the caller).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// No route for this path.
    #[error("no route")]
    RouteNotFound,
    /// The path exists but not for this method.
    #[error("method not allowed")]
    MethodNotAllowed(Vec<&'static str>),
    /// Too many requests in the current window.
    #[error("rate limited")]
    RateLimited(RateLimitStatus),
    /// The merchant is suspended.
    #[error("merchant suspended")]
    MerchantSuspended,
    /// The `order_id` was already used by another payment of this merchant and mode.
    #[error("duplicate order id")]
    DuplicateOrderId,
    /// The payment cannot be refunded (not captured, or already fully refunded).
    #[error("refund not allowed: {0}")]
    RefundNotAllowed(String),
    /// The refund would take more than the payment has left to refund.
    #[error("refund exceeds the refundable amount ({refundable})")]
    RefundExceedsCaptured {
        /// Paise still refundable.
        refundable: i64,
    },
    /// The idempotency key was used before with a different request.
    #[error("idempotency key reused")]
    IdempotencyKeyReused,
    /// A request with this idempotency key is still being processed.
    #[error("idempotency key in progress")]
    IdempotencyInProgress,
    /// The merchant's prepaid wallet is below its suspension threshold and no platform-owned
    /// gateway account can take the payment (fees on its own accounts come from the wallet).
    #[error("wallet balance low ({balance} below {suspension_threshold})")]
    WalletBalanceLow {
        /// Paise in the wallet now.
        balance: i64,
        /// Below this, payments on the merchant's own accounts are refused.
        suspension_threshold: i64,
    },
    /// No gateway can take the payment.
    #[error("gateway unavailable: {0}")]
    GatewayUnavailable(String),
    /// The request conflicts with existing state (a duplicate email, say).
    #[error("conflict: {0}")]
    Conflict(String),
    /// Money in one currency cannot go where only another is kept (suspense credited to a
    /// merchant's payable, say).
    #[error("currency mismatch: {held} where {required} is kept")]
    CurrencyMismatch {
        /// The money's ISO 4217 code.
        held: String,
        /// The code the destination is kept in.
        required: String,
        /// What could not be done, for the message.
        what: &'static str,
    },
    /// A database failure; never shown to clients.
    #[error("database error: {0}")]
    Database(#[from] crate::db::DbError),
    /// Anything else that is our fault; never shown to clients.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The stable codes of `error.code`, each answered with one HTTP status. Clients branch on
/// these; the API document lists them. Never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorCode {
    /// 400: the request is malformed; `details` names the fields.
    Validation,
    /// 401: no or bad credentials.
    Unauthorized,
    /// 403: authenticated, but not allowed.
    Forbidden,
    /// 404: no such resource, or not the caller's.
    NotFound,
    /// 405: the path does not take this method.
    MethodNotAllowed,
    /// 429: too many requests; see `Retry-After`.
    RateLimited,
    /// 403: the merchant is suspended.
    MerchantSuspended,
    /// 409: another payment already uses the `order_id`.
    DuplicateOrderId,
    /// 409: the payment cannot be refunded.
    RefundNotAllowed,
    /// 422: the refund exceeds what is left to refund.
    RefundExceedsCaptured,
    /// 422: the `Idempotency-Key` was used with a different request.
    IdempotencyKeyReused,
    /// 409: a request with this `Idempotency-Key` is still in progress.
    IdempotencyInProgress,
    /// 503: no gateway can take the payment now.
    GatewayUnavailable,
    /// 402: the merchant's prepaid wallet is below its suspension threshold; top it up.
    WalletBalanceLow,
    /// 409: the request conflicts with existing state.
    Conflict,
    /// 422: the money is in a currency the destination is not kept in.
    CurrencyMismatch,
    /// 503: a dependency is unreachable; retry after `Retry-After`.
    ServiceUnavailable,
    /// 500: our fault; quote the request id to support.
    Internal,
}

impl ErrorCode {
    /// Every code.
    pub const ALL: [ErrorCode; 18] = [
        ErrorCode::Validation,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::RateLimited,
        ErrorCode::MerchantSuspended,
        ErrorCode::DuplicateOrderId,
        ErrorCode::RefundNotAllowed,
        ErrorCode::RefundExceedsCaptured,
        ErrorCode::IdempotencyKeyReused,
        ErrorCode::IdempotencyInProgress,
        ErrorCode::GatewayUnavailable,
        ErrorCode::WalletBalanceLow,
        ErrorCode::Conflict,
        ErrorCode::CurrencyMismatch,
        ErrorCode::ServiceUnavailable,
        ErrorCode::Internal,
    ];

    /// When it is answered, for the error reference.
    pub const fn when(self) -> &'static str {
        match self {
            ErrorCode::Validation => {
                "a field is missing, malformed or out of range; `details` maps each field to its problem"
            }
            ErrorCode::Unauthorized => {
                "no credentials, or credentials that are not valid; `details.reason` says which (below)"
            }
            ErrorCode::Forbidden => {
                "the caller is authenticated but the route is not theirs (an operator route, a merchant route, an unenrolled second factor)"
            }
            ErrorCode::NotFound => "no such resource, or one that belongs to someone else",
            ErrorCode::MethodNotAllowed => {
                "the path exists but not with this method; `Allow` lists those it takes"
            }
            ErrorCode::RateLimited => {
                "over the budget of the key, the user or the address; `X-RateLimit-*` and `Retry-After` say which and until when"
            }
            ErrorCode::MerchantSuspended => {
                "the merchant is suspended: no new payments or refunds; reads still work"
            }
            ErrorCode::DuplicateOrderId => {
                "another payment of the merchant (in this mode) already uses the `order_id`, archived ones included"
            }
            ErrorCode::RefundNotAllowed => {
                "the payment cannot be refunded: not captured, already fully refunded, archived, or a wallet top-up"
            }
            ErrorCode::RefundExceedsCaptured => {
                "the refund is more than what is left to refund of the payment"
            }
            ErrorCode::IdempotencyKeyReused => {
                "the `Idempotency-Key` was used before with a different request"
            }
            ErrorCode::IdempotencyInProgress => {
                "a request with this `Idempotency-Key` is still being handled"
            }
            ErrorCode::GatewayUnavailable => {
                "no gateway account of the merchant's pool can take the payment now (every breaker open, limits reached)"
            }
            ErrorCode::WalletBalanceLow => {
                "the merchant's prepaid wallet is below its suspension threshold; `details` has `balance` and `suspension_threshold`"
            }
            ErrorCode::Conflict => {
                "the request conflicts with the current state (an operator change, a purge whose count changed)"
            }
            ErrorCode::CurrencyMismatch => {
                "money in one currency sent where only another is kept; `details` has `currency` and `required_currency`"
            }
            ErrorCode::ServiceUnavailable => {
                "the database (or another dependency) cannot be reached, e.g. during a restart"
            }
            ErrorCode::Internal => "a fault on our side",
        }
    }

    /// What the caller should do about it, for the error reference.
    pub const fn action(self) -> &'static str {
        match self {
            ErrorCode::Validation => "fix the named fields and send again",
            ErrorCode::Unauthorized => {
                "send valid credentials; on `token_expired` refresh the access token"
            }
            ErrorCode::Forbidden => "use the route meant for your role",
            ErrorCode::NotFound => "check the id and the mode (`X-Mode`, or the key's mode)",
            ErrorCode::MethodNotAllowed => "use a method from `Allow`",
            ErrorCode::RateLimited => "wait `Retry-After` seconds, then retry",
            ErrorCode::MerchantSuspended => "contact the platform's operators",
            ErrorCode::DuplicateOrderId => {
                "use a new `order_id`, or read the existing payment (`GET /api/v1/transactions?order_id=`)"
            }
            ErrorCode::RefundNotAllowed => "read the payment's status before refunding",
            ErrorCode::RefundExceedsCaptured => {
                "refund at most the captured amount minus earlier refunds"
            }
            ErrorCode::IdempotencyKeyReused => "use a new key for a new request",
            ErrorCode::IdempotencyInProgress => {
                "retry after a moment with the same key and body: you get the first answer"
            }
            ErrorCode::GatewayUnavailable => "retry later; operators are alerted",
            ErrorCode::WalletBalanceLow => "top the wallet up (`POST /api/v1/wallets/top-ups`)",
            ErrorCode::Conflict => "read the current state and decide again",
            ErrorCode::CurrencyMismatch => "send money in the currency the destination keeps",
            ErrorCode::ServiceUnavailable => {
                "retry after `Retry-After` seconds; with an `Idempotency-Key`, a retry is safe"
            }
            ErrorCode::Internal => "quote `error.request_id` (or `X-Request-Id`) to support",
        }
    }

    /// The code as sent.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Validation => "VALIDATION_ERROR",
            ErrorCode::Unauthorized => "UNAUTHORIZED",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::MerchantSuspended => "MERCHANT_SUSPENDED",
            ErrorCode::DuplicateOrderId => "DUPLICATE_ORDER_ID",
            ErrorCode::RefundNotAllowed => "REFUND_NOT_ALLOWED",
            ErrorCode::RefundExceedsCaptured => "REFUND_EXCEEDS_CAPTURED",
            ErrorCode::IdempotencyKeyReused => "IDEMPOTENCY_KEY_REUSED",
            ErrorCode::IdempotencyInProgress => "IDEMPOTENCY_IN_PROGRESS",
            ErrorCode::GatewayUnavailable => "GATEWAY_UNAVAILABLE",
            ErrorCode::WalletBalanceLow => "WALLET_BALANCE_LOW",
            ErrorCode::Conflict => "CONFLICT",
            ErrorCode::CurrencyMismatch => "CURRENCY_MISMATCH",
            ErrorCode::ServiceUnavailable => "SERVICE_UNAVAILABLE",
            ErrorCode::Internal => "INTERNAL",
        }
    }

    /// The HTTP status it is answered with: the one place that says so.
    pub const fn status(self) -> StatusCode {
        match self {
            ErrorCode::Validation => StatusCode::BAD_REQUEST,
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden | ErrorCode::MerchantSuspended => StatusCode::FORBIDDEN,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            // The merchant must pay (top up its wallet) before the request can succeed: neither
            // a malformed request nor a conflict with the payment, and not the gateways' fault.
            ErrorCode::WalletBalanceLow => StatusCode::PAYMENT_REQUIRED,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::DuplicateOrderId
            | ErrorCode::RefundNotAllowed
            | ErrorCode::IdempotencyInProgress
            | ErrorCode::Conflict => StatusCode::CONFLICT,
            ErrorCode::RefundExceedsCaptured
            | ErrorCode::IdempotencyKeyReused
            | ErrorCode::CurrencyMismatch => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::GatewayUnavailable | ErrorCode::ServiceUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl AppError {
    /// The stable code sent as `error.code`.
    pub fn code(&self) -> ErrorCode {
        match self {
            AppError::Validation(_) => ErrorCode::Validation,
            AppError::Unauthorized(_) => ErrorCode::Unauthorized,
            AppError::Forbidden(_) => ErrorCode::Forbidden,
            AppError::NotFound(_) | AppError::RouteNotFound => ErrorCode::NotFound,
            AppError::MethodNotAllowed(_) => ErrorCode::MethodNotAllowed,
            AppError::RateLimited(_) => ErrorCode::RateLimited,
            AppError::MerchantSuspended => ErrorCode::MerchantSuspended,
            AppError::DuplicateOrderId => ErrorCode::DuplicateOrderId,
            AppError::RefundNotAllowed(_) => ErrorCode::RefundNotAllowed,
            AppError::RefundExceedsCaptured { .. } => ErrorCode::RefundExceedsCaptured,
            AppError::IdempotencyKeyReused => ErrorCode::IdempotencyKeyReused,
            AppError::IdempotencyInProgress => ErrorCode::IdempotencyInProgress,
            AppError::GatewayUnavailable(_) => ErrorCode::GatewayUnavailable,
            AppError::WalletBalanceLow { .. } => ErrorCode::WalletBalanceLow,
            AppError::Conflict(_) => ErrorCode::Conflict,
            AppError::CurrencyMismatch { .. } => ErrorCode::CurrencyMismatch,
            AppError::Database(e) if e.is_unavailable() => ErrorCode::ServiceUnavailable,
            AppError::Database(_) | AppError::Internal(_) => ErrorCode::Internal,
        }
    }

    /// Whether the database could not be reached: a 503 the caller may retry as it was.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, AppError::Database(e) if e.is_unavailable())
    }

    /// Shorthand for a single-field validation error.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::Validation(FieldErrors::single(field, message))
    }
}

impl From<FieldErrors> for AppError {
    fn from(errors: FieldErrors) -> Self {
        AppError::Validation(errors)
    }
}

impl From<crate::db::record::DecodeError> for AppError {
    fn from(error: crate::db::record::DecodeError) -> Self {
        AppError::Database(error.into())
    }
}

impl From<crate::gateways::NoConnector> for AppError {
    fn from(error: crate::gateways::NoConnector) -> Self {
        // Stored rows name only providers the database check allows, and each has a connector.
        AppError::Internal(error.to_string())
    }
}

impl From<tokio_postgres::Error> for AppError {
    fn from(error: tokio_postgres::Error) -> Self {
        AppError::Database(error.into())
    }
}

#[cfg(test)]
mod lists {
    use super::*;

    /// Each code's place in [`ErrorCode::ALL`]. The match has no wildcard: a new code does not
    /// compile until it is placed here, and the test then holds `ALL` to it.
    fn place(code: ErrorCode) -> usize {
        match code {
            ErrorCode::Validation => 0,
            ErrorCode::Unauthorized => 1,
            ErrorCode::Forbidden => 2,
            ErrorCode::NotFound => 3,
            ErrorCode::MethodNotAllowed => 4,
            ErrorCode::RateLimited => 5,
            ErrorCode::MerchantSuspended => 6,
            ErrorCode::DuplicateOrderId => 7,
            ErrorCode::RefundNotAllowed => 8,
            ErrorCode::RefundExceedsCaptured => 9,
            ErrorCode::IdempotencyKeyReused => 10,
            ErrorCode::IdempotencyInProgress => 11,
            ErrorCode::GatewayUnavailable => 12,
            ErrorCode::WalletBalanceLow => 13,
            ErrorCode::Conflict => 14,
            ErrorCode::CurrencyMismatch => 15,
            ErrorCode::ServiceUnavailable => 16,
            ErrorCode::Internal => 17,
        }
    }

    /// Each reason's place in [`AuthFailure::ALL`], likewise.
    fn reason_place(failure: AuthFailure) -> usize {
        match failure {
            AuthFailure::MissingCredentials => 0,
            AuthFailure::InvalidCredentials => 1,
            AuthFailure::ModeNotEnabled => 2,
            AuthFailure::InvalidToken => 3,
            AuthFailure::TokenExpired => 4,
            AuthFailure::InactiveUser => 5,
            AuthFailure::InvalidLogin => 6,
            AuthFailure::InvalidRefreshToken => 7,
            AuthFailure::RefreshTokenReused => 8,
            AuthFailure::InvalidSignature => 9,
            AuthFailure::SessionEnded => 10,
            AuthFailure::OtpRequired => 11,
            AuthFailure::InvalidOtp => 12,
            AuthFailure::MfaRequired => 13,
        }
    }

    #[test]
    fn the_lists_hold_every_code_and_reason_once() {
        for (i, code) in ErrorCode::ALL.iter().enumerate() {
            assert_eq!(place(*code), i, "{code:?}");
        }
        for (i, failure) in AuthFailure::ALL.iter().enumerate() {
            assert_eq!(reason_place(*failure), i, "{failure:?}");
        }
    }
}
