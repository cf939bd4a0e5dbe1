//! The API's documentation: `GET /api/v1/openapi.json` (the OpenAPI document) and Swagger UI at
//! `/docs`, every file compiled into the binary so the page works with no network access.

use crate::context::RequestContext;
use crate::openapi;
use bytes::Bytes;
use shared::http::ApiResponse;
use shared::{App, AppError};
use std::borrow::Cow;
use std::sync::{Arc, LazyLock};
use utoipa_swagger_ui::Config;

/// Where the page finds the document.
const DOCUMENT: &str = "/api/v1/openapi.json";

/// Swagger UI's settings: the document above, and no online validator (it would call out).
static CONFIG: LazyLock<Arc<Config<'static>>> = LazyLock::new(|| {
    Arc::new(
        Config::from(DOCUMENT)
            .validator_url("none")
            .deep_linking(true)
            .display_operation_id(true),
    )
});

/// Only our own files: Swagger UI styles its elements inline and draws icons from `data:` URLs.
const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; \
form-action 'none'; frame-ancestors 'none'";

/// The OpenAPI document, as the API document describes its own route.
pub struct OpenApiDocument;

impl utoipa::PartialSchema for OpenApiDocument {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some("An OpenAPI 3.1 document: this one."))
            .required("openapi")
            .required("info")
            .required("paths")
            .into()
    }
}

impl utoipa::ToSchema for OpenApiDocument {}

/// The OpenAPI document (the checked-in copy, which a test holds to the code).
pub async fn document(_app: Arc<App>, _ctx: RequestContext) -> Result<ApiResponse, AppError> {
    Ok(ApiResponse::file("application/json", openapi::CHECKED_IN))
}

/// `/docs` itself: on to the page, whose relative links need the `/docs/` prefix.
pub async fn index(_app: Arc<App>, _ctx: RequestContext) -> Result<ApiResponse, AppError> {
    Ok(ApiResponse::redirect("/docs/index.html"))
}

/// One of Swagger UI's files.
pub async fn file(_app: Arc<App>, ctx: RequestContext) -> Result<ApiResponse, AppError> {
    let name = ctx.params.get("file").unwrap_or_default();
    let served = utoipa_swagger_ui::serve(name, CONFIG.clone())
        .map_err(|e| AppError::Internal(format!("docs file {name}: {e}")))?;
    let Some(found) = served else {
        return Err(AppError::NotFound("documentation file"));
    };
    // Swagger UI's files are static: served without copying them, except the initializer,
    // which carries the configuration.
    let body = match found.bytes {
        Cow::Borrowed(bytes) => Bytes::from_static(bytes),
        Cow::Owned(bytes) => Bytes::from(bytes),
    };
    let mut response = ApiResponse::file(&found.content_type, body);
    if found.content_type.starts_with("text/html") {
        response.set_header("content-security-policy", PAGE_POLICY);
        response.set_header("x-frame-options", "DENY");
        response.set_header("referrer-policy", "no-referrer");
    }
    Ok(response)
}
