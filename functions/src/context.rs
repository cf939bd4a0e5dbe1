//! What a handler receives besides the shared state: the request, its path parameters and its
//! authenticated principal.

use shared::AppError;
use shared::audit::AuditContext;
use shared::auth::{self, Principal};
use shared::db::Scope;
use shared::http::path::PathParams;
use shared::http::{ApiRequest, body};
use shared::ids::{IdParseError, MerchantId};
use shared::mode::Mode;
use std::str::FromStr;

/// One request on its way through a handler.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The request.
    pub request: ApiRequest,
    /// Parameters from the route's path template.
    pub params: PathParams,
    /// The caller, on authenticated routes.
    pub principal: Option<Principal>,
    /// This request's id.
    pub request_id: String,
}

impl RequestContext {
    /// The caller; authenticated routes always have one.
    pub fn principal(&self) -> Result<Principal, AppError> {
        self.principal.ok_or(AppError::Internal(
            "authenticated route without a principal".into(),
        ))
    }

    /// The merchant, mode and database scope of a merchant principal; an operator is refused
    /// with `why` (on routes open to both, or should the pipeline ever let one through).
    pub fn merchant(&self, why: &'static str) -> Result<(MerchantId, Mode, Scope), AppError> {
        let principal = self.principal()?;
        match principal {
            Principal::Merchant {
                merchant_id, mode, ..
            } => Ok((merchant_id, mode, principal.scope())),
            Principal::Admin { .. } => Err(AppError::Forbidden(why)),
        }
    }

    /// Audit metadata for actions taken by this request.
    pub fn audit(&self) -> AuditContext {
        auth::audit_context(self.principal.as_ref(), &self.request, &self.request_id)
    }

    /// A typed id from the path; a malformed one is a 400 naming the parameter.
    pub fn path_id<T: FromStr<Err = IdParseError>>(&self, name: &str) -> Result<T, AppError> {
        let raw = self.params.get(name).unwrap_or_default();
        raw.parse::<T>()
            .map_err(|e| AppError::field(name.to_string(), e.to_string()))
    }

    /// The body as `T`.
    pub fn body<T: serde::de::DeserializeOwned>(&self) -> Result<T, AppError> {
        body::parse(&self.request)
    }

    /// The query string as `T`.
    pub fn query<T: serde::de::DeserializeOwned>(&self) -> Result<T, AppError> {
        body::parse_query(&self.request)
    }
}
