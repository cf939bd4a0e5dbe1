//! The registry: one table naming every function, what triggers it and, for HTTP functions, the
//! routes it serves. The Lambda binaries, the local runner, the docs and the test that holds
//! `template.yaml` to account all read it; nothing about routing is written anywhere else.

use crate::context::RequestContext;
use crate::handlers::{admin_merchants, auth, health, merchant, system};
use http::Method;
use shared::http::ApiResponse;
use shared::{App, AppError};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// What a handler returns.
pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<ApiResponse, AppError>> + Send>>;
/// An HTTP handler.
pub type Handler = fn(Arc<App>, RequestContext) -> HandlerFuture;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, unmetered (health checks).
    Public,
    /// Anyone, rate-limited by client address (login, refresh).
    Anonymous,
    /// A merchant principal (key pair or merchant user); operators are refused.
    Merchant,
    /// A merchant principal or an operator.
    MerchantOrAdmin,
    /// Operators only.
    Admin,
}

/// One HTTP route.
pub struct Route {
    /// The method.
    pub method: Method,
    /// The path template, e.g. `/api/v1/merchant/{id}`.
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
    /// One line for the docs.
    pub summary: &'static str,
    /// The handler.
    pub handler: Handler,
}

/// What invokes a function.
pub enum Trigger {
    /// API Gateway requests on these routes.
    Http(&'static [Route]),
}

/// One Lambda function.
pub struct Function {
    /// Binary name (`functions/src/bin/<name>.rs`) and SAM `BuildProperties.Binary`.
    pub name: &'static str,
    /// One line for the docs.
    pub description: &'static str,
    /// What invokes it.
    pub trigger: Trigger,
}

impl Function {
    /// Its HTTP routes (empty for workers and schedules).
    pub fn routes(&self) -> &'static [Route] {
        match self.trigger {
            Trigger::Http(routes) => routes,
        }
    }
}

macro_rules! route {
    ($method:ident $path:literal, $access:ident, $summary:literal, $handler:path) => {
        Route {
            method: Method::$method,
            path: $path,
            access: Access::$access,
            summary: $summary,
            handler: |app, ctx| Box::pin($handler(app, ctx)),
        }
    };
}

/// Every function of the platform.
pub static FUNCTIONS: &[Function] = &[
    Function {
        name: "health",
        description: "Liveness check",
        trigger: Trigger::Http(&[
            route!(GET "/api/health", Public, "Liveness: the function answers", health::get),
        ]),
    },
    Function {
        name: "auth-login",
        description: "Dashboard login with email and password",
        trigger: Trigger::Http(&[
            route!(POST "/api/v1/auth/login", Anonymous, "Exchange email and password for tokens", auth::login),
        ]),
    },
    Function {
        name: "auth-refresh",
        description: "Rotate a refresh token",
        trigger: Trigger::Http(&[
            route!(POST "/api/v1/auth/refresh", Anonymous, "Exchange a refresh token for new tokens", auth::refresh),
        ]),
    },
    Function {
        name: "merchant-get",
        description: "A merchant's profile and active keys",
        trigger: Trigger::Http(&[
            route!(GET "/api/v1/merchant/{id}", MerchantOrAdmin, "Read a merchant", merchant::get),
        ]),
    },
    Function {
        name: "merchant-credentials-regenerate",
        description: "Issue a new API key pair",
        trigger: Trigger::Http(&[route!(
            POST "/api/v1/merchant/credentials/regenerate",
            Merchant,
            "Replace the key pair of a mode; the secret is shown once",
            merchant::regenerate_credentials
        )]),
    },
    Function {
        name: "admin-merchants",
        description: "Operators manage merchants",
        trigger: Trigger::Http(&[
            route!(POST "/api/v1/admin/merchants", Admin, "Onboard a merchant", admin_merchants::create),
            route!(GET "/api/v1/admin/merchants", Admin, "List merchants", admin_merchants::list),
            route!(GET "/api/v1/admin/merchants/{id}", Admin, "Read a merchant", admin_merchants::get),
            route!(PATCH "/api/v1/admin/merchants/{id}", Admin, "Change name, live mode or rate limit", admin_merchants::update),
            route!(POST "/api/v1/admin/merchants/{id}/suspend", Admin, "Suspend a merchant", admin_merchants::suspend),
            route!(POST "/api/v1/admin/merchants/{id}/reactivate", Admin, "Lift a suspension", admin_merchants::reactivate),
        ]),
    },
    Function {
        name: "system-status",
        description: "Database reachability, latency and migration version",
        trigger: Trigger::Http(&[
            route!(GET "/api/v1/system/status", Admin, "Platform status", system::status),
        ]),
    },
];

/// The function called `name`.
pub fn find(name: &str) -> Option<&'static Function> {
    FUNCTIONS.iter().find(|f| f.name == name)
}

/// Every HTTP route of every function.
pub fn all_routes() -> Vec<&'static Route> {
    FUNCTIONS.iter().flat_map(|f| f.routes().iter()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_routes_are_unique() {
        let mut names: Vec<_> = FUNCTIONS.iter().map(|f| f.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), FUNCTIONS.len());
        let mut routes: Vec<_> = all_routes()
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect();
        let count = routes.len();
        routes.sort();
        routes.dedup();
        assert_eq!(routes.len(), count);
    }

    #[test]
    fn every_function_has_a_binary() {
        let manifest = include_str!("../Cargo.toml");
        for f in FUNCTIONS {
            assert!(
                manifest.contains(&format!("name = \"{}\"", f.name)),
                "{} has no [[bin]]",
                f.name
            );
            let path = format!("{}/src/bin/{}.rs", env!("CARGO_MANIFEST_DIR"), f.name);
            let source =
                std::fs::read_to_string(&path).unwrap_or_else(|_| panic!("{path} missing"));
            assert!(
                source.contains(&format!("\"{}\"", f.name)),
                "{path} does not run {}",
                f.name
            );
        }
    }
}
