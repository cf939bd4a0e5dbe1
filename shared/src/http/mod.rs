//! HTTP conventions, in one place: the request and response types every handler sees, the seed's
//! envelope, error mapping, body and query parsing, path templates, request ids and pagination.
//! They are plain data over the `http` crate's types, so Lambda, the local runner and tests all
//! drive the same handlers.

pub mod body;
pub mod csp;
pub mod pagination;
pub mod path;
pub mod request;
pub mod response;

pub use request::ApiRequest;
pub use response::ApiResponse;
