//! Request bodies and query strings into typed values, with every failure reported per field.
//!
//! JSON and `application/x-www-form-urlencoded` bodies are accepted. Request types are expected to
//! use `#[serde(deny_unknown_fields)]`, so a misspelt field is an error rather than silently ignored.

use super::ApiRequest;
use crate::error::AppError;
use crate::validation::FieldErrors;
use serde::de::DeserializeOwned;

/// Parses the request body as `T`.
pub fn parse<T: DeserializeOwned>(request: &ApiRequest) -> Result<T, AppError> {
    if request.body.iter().all(u8::is_ascii_whitespace) {
        return Err(AppError::field("body", "is required"));
    }
    let media_type = request
        .media_type()
        .unwrap_or_else(|| "application/json".into());
    match media_type.as_str() {
        "application/json" | "" => {
            let value: serde_json::Value = serde_json::from_slice(&request.body).map_err(|e| {
                AppError::field(
                    "body",
                    format!(
                        "is not valid JSON (line {}, column {})",
                        e.line(),
                        e.column()
                    ),
                )
            })?;
            from_value(value)
        }
        "application/x-www-form-urlencoded" => parse_form(&request.body, "body"),
        other => Err(AppError::field(
            "body",
            format!(
                "content type '{other}' is not supported; send application/json or application/x-www-form-urlencoded"
            ),
        )),
    }
}

/// Turns an already-parsed JSON body into `T`, with the same field-level errors as [`parse`]
/// (for handlers that also need the raw document, such as idempotency fingerprints).
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, AppError> {
    // Derived structs also accept arrays (fields by position); requests are objects only.
    if !value.is_object() {
        return Err(AppError::field("body", "must be a JSON object"));
    }
    refuse_control_characters(&value)?;
    serde_path_to_error::deserialize(value)
        .map_err(|e| field_error(e.path().to_string(), &e.inner().to_string()))
}

/// Refuses C0 and C1 control characters (and DEL) in every string of a request, naming each field:
/// free text ends up in pages, logs and gateways' pipe-joined hash strings, where they have no
/// business.
fn refuse_control_characters(value: &serde_json::Value) -> Result<(), AppError> {
    fn walk(value: &serde_json::Value, path: &str, errors: &mut FieldErrors) {
        let join = |name: &str| {
            if path.is_empty() {
                name.to_string()
            } else {
                format!("{path}.{name}")
            }
        };
        match value {
            serde_json::Value::String(text) if text.contains(char::is_control) => errors.add(
                if path.is_empty() { "body" } else { path },
                "must not contain control characters",
            ),
            serde_json::Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    walk(item, &format!("{path}[{i}]"), errors);
                }
            }
            serde_json::Value::Object(fields) => {
                for (name, item) in fields {
                    if name.contains(char::is_control) {
                        errors.add(
                            join(&name.escape_debug().to_string()),
                            "field names must not contain control characters",
                        );
                    } else {
                        walk(item, &join(name), errors);
                    }
                }
            }
            _ => {}
        }
    }
    let mut errors = FieldErrors::new();
    walk(value, "", &mut errors);
    errors.into_result().map_err(AppError::from)
}

/// Parses the query string as `T` (unknown parameters are errors when `T` denies them).
pub fn parse_query<T: DeserializeOwned>(request: &ApiRequest) -> Result<T, AppError> {
    parse_form(request.query.as_bytes(), "query")
}

fn parse_form<T: DeserializeOwned>(bytes: &[u8], root: &str) -> Result<T, AppError> {
    let mut errors = FieldErrors::new();
    for (name, value) in form_urlencoded::parse(bytes) {
        if name.contains(char::is_control) || value.contains(char::is_control) {
            errors.add(
                name.escape_debug().to_string(),
                "must not contain control characters",
            );
        }
    }
    errors.into_result().map_err(AppError::from)?;
    let deserializer = serde_urlencoded::Deserializer::new(form_urlencoded::parse(bytes));
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { root.to_string() } else { path };
        field_error(path, &e.inner().to_string())
    })
}

/// Turns serde's message into a field and a sentence: `missing field `x`` names the field itself.
fn field_error(path: String, message: &str) -> AppError {
    let join = |name: &str| {
        if path == "." || path == "body" || path == "query" {
            name.to_string()
        } else {
            format!("{path}.{name}")
        }
    };
    let named = |prefix: &str| {
        message
            .strip_prefix(prefix)
            .and_then(|rest| rest.split('`').next())
            .map(str::to_string)
    };
    let mut errors = FieldErrors::new();
    if let Some(field) = named("missing field `") {
        errors.add(join(&field), "is required");
    } else if let Some(field) = named("unknown field `") {
        // serde_path_to_error already ends the path with the unknown field's name.
        let at = if path.rsplit('.').next() == Some(field.as_str()) {
            path.clone()
        } else {
            join(&field)
        };
        errors.add(at, "is not a recognised field");
    } else {
        let field = if path == "." {
            "body".to_string()
        } else {
            path
        };
        errors.add(field, message.to_string());
    }
    AppError::Validation(errors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Login {
        email: String,
        attempts: u32,
        inner: Option<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        name: String,
    }

    fn request(body: &str, content_type: Option<&str>) -> ApiRequest {
        let mut r = ApiRequest::new(Method::POST, "/x");
        r.body = bytes::Bytes::from(body.to_string());
        if let Some(ct) = content_type {
            r.headers.insert("content-type", ct.parse().unwrap());
        }
        r
    }

    fn fields(result: Result<Login, AppError>) -> Vec<(String, String)> {
        match result {
            Err(AppError::Validation(f)) => f
                .fields()
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn names_the_field_for_each_kind_of_mistake() {
        let cases = [
            (r#"{"email": "a@b.co""#, "body"),
            (r#"{"email": 5, "attempts": 1}"#, "email"),
            (r#"{"attempts": 1}"#, "email"),
            (
                r#"{"email": "a@b.co", "attempts": 1, "admin": true}"#,
                "admin",
            ),
            (
                r#"{"email": "a@b.co", "attempts": 1, "inner": {"nam": "x"}}"#,
                "inner.nam",
            ),
            (r#"[1, 2]"#, "body"),
            ("", "body"),
        ];
        for (body, field) in cases {
            let got = fields(parse::<Login>(&request(body, Some("application/json"))));
            assert_eq!(got[0].0, field, "{body}: {got:?}");
        }
    }

    #[test]
    fn accepts_json_and_form_bodies() {
        let json: Login = parse(&request(r#"{"email":"a@b.co","attempts":2}"#, None)).unwrap();
        assert_eq!(json.attempts, 2);
        let form: Login = parse(&request(
            "email=a%40b.co&attempts=3",
            Some("application/x-www-form-urlencoded"),
        ))
        .unwrap();
        assert_eq!((form.email.as_str(), form.attempts), ("a@b.co", 3));
        let got = fields(parse::<Login>(&request("email=x", Some("text/plain"))));
        assert_eq!(got[0].0, "body");
    }
}
