//! The request every handler receives, whatever delivered it.

use bytes::Bytes;
use http::{HeaderMap, Method};

/// An HTTP request with its body fully read (and already checked against the size limit).
#[derive(Debug, Clone)]
pub struct ApiRequest {
    /// The method.
    pub method: Method,
    /// The path, without query string or API Gateway stage.
    pub path: String,
    /// The raw query string, without the `?`.
    pub query: String,
    /// The headers.
    pub headers: HeaderMap,
    /// The body bytes.
    pub body: Bytes,
    /// The client's address as the front door saw it.
    pub source_ip: Option<String>,
}

impl ApiRequest {
    /// A request with no headers, query or body (tests and internal calls).
    pub fn new(method: Method, path: &str) -> ApiRequest {
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        ApiRequest {
            method,
            path: path.to_string(),
            query: query.to_string(),
            headers: HeaderMap::new(),
            body: Bytes::new(),
            source_ip: None,
        }
    }

    /// A header's value as text, if present and valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    }

    /// The body's media type from `Content-Type`, lower-cased and without parameters
    /// (`application/json; charset=utf-8` is `application/json`); `None` without the header.
    pub fn media_type(&self) -> Option<String> {
        self.header("content-type").map(|t| {
            t.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
    }
}

/// The id of this request: the caller's `X-Request-Id` when it is sane, else a new one.
pub fn request_id(headers: &HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|id| {
            !id.is_empty()
                && id.len() <= 128
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        })
        .map(str::to_string)
        .unwrap_or_else(|| format!("req_{}", uuid::Uuid::now_v7().simple()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_a_sane_caller_request_id_and_replaces_others() {
        let mut headers = HeaderMap::new();
        headers.insert("x-request-id", "abc-123".parse().unwrap());
        assert_eq!(request_id(&headers), "abc-123");
        headers.insert("x-request-id", "has spaces and <tags>".parse().unwrap());
        assert!(request_id(&headers).starts_with("req_"));
        assert!(request_id(&HeaderMap::new()).starts_with("req_"));
    }
}
