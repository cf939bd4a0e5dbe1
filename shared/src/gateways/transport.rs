//! The connectors' transport kit: how every connector sends a request, reads the answer and
//! classifies a failure, written once so that the same failure means the same thing at every
//! provider. A connector describes its requests (URL, authentication, body, timeout) and maps
//! the answers (wire types, status tables, its own classification of refusals); the I/O and the
//! rules below are the kit's:
//!
//! - a connection never made is [`GatewayError::Retryable`], whatever the call;
//! - any other failure once the request may have been sent (a timeout, a dropped connection, a
//!   body that cannot be read, a 2xx body that is not what the provider documents) is
//!   [`unsettled`]: retryable for a [`Call::Read`], ambiguous for a [`Call::Write`];
//! - a non-2xx answer goes to the connector's classification table with the provider's error
//!   body, or that body's default when it is not one (a proxy's page, an empty body).

use super::GatewayError;
use http::StatusCode;
use serde::de::DeserializeOwned;

/// Whether a failed call could have changed something at the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// Changes nothing at the gateway (a lookup, a status query): any failure may be retried.
    Read,
    /// May change something (creates an order or a refund): after a failure it may have happened.
    Write,
}

/// A failure after which the gateway may or may not have acted: a read is simply retried, a
/// write must be looked up before it is ever made again.
pub fn unsettled(call: Call, message: String) -> GatewayError {
    match call {
        Call::Read => GatewayError::Retryable(message),
        Call::Write => GatewayError::Ambiguous(message),
    }
}

/// Sends `request` to `provider`. Only a connection never made is safe to repeat blindly; any
/// other transport failure came after the request may have been sent.
pub async fn send(
    request: reqwest::RequestBuilder,
    call: Call,
    provider: &str,
) -> Result<reqwest::Response, GatewayError> {
    request.send().await.map_err(|e| {
        if e.is_connect() {
            GatewayError::Retryable(format!("{provider}: connecting: {e}"))
        } else {
            unsettled(
                call,
                format!("{provider}: no answer, the request may have reached it: {e}"),
            )
        }
    })
}

/// A non-2xx answer: its HTTP status and its body as sent.
#[derive(Debug)]
pub struct Refusal {
    /// The HTTP status.
    pub status: StatusCode,
    /// The body, as text.
    pub body: String,
}

impl Refusal {
    /// The body read as the provider's error type `E`; a body that is not one reads as the
    /// default, so the HTTP status alone decides.
    pub fn error<E: DeserializeOwned + Default>(&self) -> E {
        serde_json::from_str(&self.body).unwrap_or_default()
    }
}

/// The status and body of `response`; a body that cannot be read leaves the outcome open.
pub async fn text(
    response: reqwest::Response,
    call: Call,
    provider: &str,
) -> Result<(StatusCode, String), GatewayError> {
    let status = response.status();
    let text = response.text().await.map_err(|e| {
        unsettled(
            call,
            format!("{provider}: reading the answer to {status} failed: {e}"),
        )
    })?;
    Ok((status, text))
}

/// Reads `response`: a 2xx body as the provider's wire type `T`, or the [`Refusal`]. A body that
/// cannot be read, or a 2xx body that is not a `T`, leaves the outcome open.
pub async fn answer<T: DeserializeOwned>(
    response: reqwest::Response,
    call: Call,
    provider: &str,
) -> Result<Result<T, Refusal>, GatewayError> {
    let (status, body) = text(response, call, provider).await?;
    if status.is_success() {
        return serde_json::from_str(&body)
            .map(Ok)
            .map_err(|e| unsettled(call, format!("{provider}: unreadable answer: {e}")));
    }
    Ok(Err(Refusal { status, body }))
}

/// A provider's classification table: the HTTP status of a refusal, its error body and the call
/// decide what the failure means.
pub type Classify<E> = fn(u16, &E, Call) -> GatewayError;

/// One provider's transport: its name (which starts every message) and the table that
/// classifies its refusals, whose error body is `E`.
pub struct Transport<E> {
    provider: &'static str,
    classify: Classify<E>,
}

impl<E: DeserializeOwned + Default> Transport<E> {
    /// The transport of `provider`, classifying refusals with `classify`.
    pub const fn new(provider: &'static str, classify: Classify<E>) -> Transport<E> {
        Transport { provider, classify }
    }

    /// What `refusal` means for `call`, by the provider's table.
    pub fn refused(&self, refusal: &Refusal, call: Call) -> GatewayError {
        (self.classify)(refusal.status.as_u16(), &refusal.error(), call)
    }

    /// Sends `request` and reads the answer: the entity, or the refusal, kept for a connector
    /// that acts on a specific one (a 409 "already exists").
    pub async fn answer<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
        call: Call,
    ) -> Result<Result<T, Refusal>, GatewayError> {
        answer(
            send(request, call, self.provider).await?,
            call,
            self.provider,
        )
        .await
    }

    /// Sends `request` and reads the answer as `T`; a refusal is classified.
    pub async fn read<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
        call: Call,
    ) -> Result<T, GatewayError> {
        self.answer(request, call)
            .await?
            .map_err(|refusal| self.refused(&refusal, call))
    }

    /// A lookup where the provider's 404 means "no such object" rather than a refused request.
    pub async fn lookup<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<Option<T>, GatewayError> {
        match self.answer(request, Call::Read).await? {
            Ok(found) => Ok(Some(found)),
            Err(refusal) if refusal.status == StatusCode::NOT_FOUND => Ok(None),
            Err(refusal) => Err(self.refused(&refusal, Call::Read)),
        }
    }
}

/// `id` when it may go into a URL path: not empty, and every byte `allowed` by the provider's
/// alphabet. Anything else is refused, never escaped: no object of the provider has such an id.
/// `what` names the id in the refusal ("a stripe object id").
pub fn path_id<'a>(
    id: &'a str,
    allowed: impl Fn(u8) -> bool,
    what: &str,
) -> Result<&'a str, GatewayError> {
    if !id.is_empty() && id.bytes().all(allowed) {
        Ok(id)
    } else {
        Err(GatewayError::Declined(format!("'{id}' is not {what}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    #[derive(Debug, Default, Deserialize, PartialEq)]
    struct ErrorBody {
        code: Option<String>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Entity {
        id: String,
    }

    fn classify(status: u16, body: &ErrorBody, call: Call) -> GatewayError {
        let message = format!("{status} {}", body.code.as_deref().unwrap_or("none"));
        match status {
            500..=599 => unsettled(call, message),
            _ => GatewayError::Declined(message),
        }
    }

    const TEST: Transport<ErrorBody> = Transport::new("test", classify);

    /// A server that answers one request with `status` and `body`, or with a body cut short.
    async fn server(status: u16, body: &'static str, cut: bool) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request).await;
            let length = if cut { body.len() + 10 } else { body.len() };
            let head = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {length}\r\nconnection: close\r\n\r\n"
            );
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(body.as_bytes()).await;
        });
        format!("http://{address}/")
    }

    fn get(url: &str) -> reqwest::RequestBuilder {
        reqwest::Client::new().get(url)
    }

    fn kind(error: &GatewayError) -> &'static str {
        match error {
            GatewayError::Retryable(_) => "retryable",
            GatewayError::Declined(_) => "declined",
            GatewayError::Configuration(_) => "configuration",
            GatewayError::Ambiguous(_) => "ambiguous",
        }
    }

    #[test]
    fn unsettled_depends_on_the_call() {
        assert_eq!(kind(&unsettled(Call::Read, "m".into())), "retryable");
        assert_eq!(kind(&unsettled(Call::Write, "m".into())), "ambiguous");
    }

    #[test]
    fn path_ids_are_refused_not_escaped() {
        let alphabet = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
        assert_eq!(path_id("pi_1", alphabet, "an id").unwrap(), "pi_1");
        assert!(path_id("", alphabet, "an id").is_err());
        let refused = path_id("pi_1/../x", alphabet, "a test id").unwrap_err();
        assert_eq!(
            refused,
            GatewayError::Declined("'pi_1/../x' is not a test id".into())
        );
    }

    #[test]
    fn an_error_body_that_is_not_one_reads_as_the_default() {
        let refusal = |body: &str| Refusal {
            status: StatusCode::BAD_GATEWAY,
            body: body.into(),
        };
        assert_eq!(
            refusal(r#"{"code":"x"}"#).error::<ErrorBody>(),
            ErrorBody {
                code: Some("x".into())
            }
        );
        assert_eq!(
            refusal("<html>bad gateway</html>").error::<ErrorBody>(),
            ErrorBody::default()
        );
        assert_eq!(kind(&TEST.refused(&refusal(""), Call::Write)), "ambiguous");
    }

    #[tokio::test]
    async fn a_2xx_body_is_the_entity_and_a_404_lookup_is_none() {
        let found: Entity = TEST
            .read(
                get(&server(200, r#"{"id":"e_1"}"#, false).await),
                Call::Read,
            )
            .await
            .unwrap();
        assert_eq!(found.id, "e_1");
        let missing: Option<Entity> = TEST
            .lookup(get(&server(404, r#"{"code":"gone"}"#, false).await))
            .await
            .unwrap();
        assert_eq!(missing, None);
        let refused = TEST
            .lookup::<Entity>(get(&server(400, r#"{"code":"bad"}"#, false).await))
            .await
            .unwrap_err();
        assert_eq!(refused, GatewayError::Declined("400 bad".into()));
    }

    #[tokio::test]
    async fn an_unreadable_answer_is_unsettled_for_reads_and_writes_alike() {
        for (call, expected) in [(Call::Read, "retryable"), (Call::Write, "ambiguous")] {
            let not_the_entity = TEST
                .read::<Entity>(get(&server(200, "not json", false).await), call)
                .await
                .unwrap_err();
            assert_eq!(kind(&not_the_entity), expected, "{not_the_entity:?}");
            let cut_short = TEST
                .read::<Entity>(get(&server(200, r#"{"id":"e"#, true).await), call)
                .await
                .unwrap_err();
            assert_eq!(kind(&cut_short), expected, "{cut_short:?}");
            let server_error = TEST
                .read::<Entity>(get(&server(503, "", false).await), call)
                .await
                .unwrap_err();
            assert_eq!(kind(&server_error), expected, "{server_error:?}");
        }
    }

    #[tokio::test]
    async fn a_connection_never_made_is_retryable_even_for_a_write() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        drop(listener);
        let refused = TEST
            .read::<Entity>(get(&format!("http://{address}/")), Call::Write)
            .await
            .unwrap_err();
        assert_eq!(kind(&refused), "retryable", "{refused:?}");
    }
}
