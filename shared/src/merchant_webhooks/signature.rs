//! Standard Webhooks v1 signatures on what we send merchants: `webhook-id`, `webhook-timestamp`
//! and `webhook-signature` headers, the signature being `v1,` and the base64 HMAC-SHA256 of
//! `{id}.{timestamp}.{body}` under the endpoint's `whsec_` secret. Several secrets sign at once
//! during a rotation (space-separated signatures), so a receiver holding either verifies.

use crate::crypto::{constant_time_eq, random};
use crate::gateways::signature::hmac_sha256;
use crate::secret::Secret;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::Mac;

/// The prefix of a signing secret's text form.
pub const SECRET_PREFIX: &str = "whsec_";

/// Bytes of a new secret's key (the specification asks for 24 to 64).
const NEW_KEY_BYTES: usize = 32;

/// How far a delivery's timestamp may be from the receiver's clock (the specification's
/// suggestion, and what its libraries enforce).
pub const TOLERANCE_SECONDS: i64 = 300;

/// Why a text is not a signing secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// It lacks the `whsec_` prefix.
    #[error("a signing secret starts with whsec_")]
    Prefix,
    /// What follows is not base64 of 24 to 64 bytes.
    #[error("a signing secret is whsec_ and the base64 of 24 to 64 random bytes")]
    Key,
}

/// One endpoint's signing secret.
#[derive(Clone)]
pub struct SigningSecret {
    key: Secret<Vec<u8>>,
}

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSecret(…)")
    }
}

impl SigningSecret {
    /// A new random secret.
    pub fn generate() -> SigningSecret {
        SigningSecret {
            key: Secret::new(random::bytes::<NEW_KEY_BYTES>().to_vec()),
        }
    }

    /// Reads a `whsec_…` secret.
    pub fn parse(text: &str) -> Result<SigningSecret, SecretError> {
        let encoded = text
            .strip_prefix(SECRET_PREFIX)
            .ok_or(SecretError::Prefix)?;
        let key = STANDARD.decode(encoded).map_err(|_| SecretError::Key)?;
        if !(24..=64).contains(&key.len()) {
            return Err(SecretError::Key);
        }
        Ok(SigningSecret {
            key: Secret::new(key),
        })
    }

    /// The `whsec_…` form, to show the merchant once and to seal for storage.
    pub fn to_text(&self) -> Secret<String> {
        Secret::new(format!(
            "{SECRET_PREFIX}{}",
            STANDARD.encode(self.key.expose())
        ))
    }

    /// This secret's `v1,…` signature of a delivery.
    fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> [u8; 32] {
        let mut mac = hmac_sha256(self.key.expose());
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.finalize().into_bytes().into()
    }
}

/// The three headers of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    /// `webhook-id`: the event's id, the same on every attempt (receivers dedupe on it).
    pub id: String,
    /// `webhook-timestamp`: this attempt's time, unix seconds.
    pub timestamp: i64,
    /// `webhook-signature`: one `v1,…` per secret, space-separated.
    pub signature: String,
}

/// Signs a delivery of `body` as event `id` at `timestamp` with every secret in `secrets` (the
/// current one, and the previous one while a rotation's grace lasts).
pub fn sign(id: &str, timestamp: i64, body: &[u8], secrets: &[&SigningSecret]) -> SignedHeaders {
    let signature = secrets
        .iter()
        .map(|secret| format!("v1,{}", STANDARD.encode(secret.sign(id, timestamp, body))))
        .collect::<Vec<_>>()
        .join(" ");
    SignedHeaders {
        id: id.to_string(),
        timestamp,
        signature,
    }
}

/// Why a delivery did not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The timestamp is further than the tolerance from now.
    #[error("the webhook-timestamp is too far from now")]
    Timestamp,
    /// No `v1` signature matches.
    #[error("no signature matches")]
    Signature,
}

/// Verifies a delivery as a receiver would: the timestamp within [`TOLERANCE_SECONDS`] of `now`,
/// and any `v1` signature in the header made by `secret`, compared in constant time.
pub fn verify(
    secret: &SigningSecret,
    headers: &SignedHeaders,
    body: &[u8],
    now: i64,
) -> Result<(), VerifyError> {
    if (now - headers.timestamp).abs() > TOLERANCE_SECONDS {
        return Err(VerifyError::Timestamp);
    }
    let expected = secret.sign(&headers.id, headers.timestamp, body);
    let matches = headers
        .signature
        .split(' ')
        .filter_map(|s| s.strip_prefix("v1,"))
        .filter_map(|s| STANDARD.decode(s).ok())
        .any(|presented| constant_time_eq(&presented, &expected));
    if matches {
        Ok(())
    } else {
        Err(VerifyError::Signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The specification's example (also what its Python library computes).
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TIMESTAMP: i64 = 1_614_265_330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;

    #[test]
    fn signs_the_specifications_example() {
        let secret = SigningSecret::parse(SECRET).unwrap();
        let headers = sign(ID, TIMESTAMP, BODY, &[&secret]);
        assert_eq!(
            headers.signature,
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        assert_eq!(verify(&secret, &headers, BODY, TIMESTAMP + 10), Ok(()));
    }

    #[test]
    fn during_a_rotation_either_secret_verifies_and_nothing_else_does() {
        let old = SigningSecret::generate();
        let new = SigningSecret::generate();
        let headers = sign("evt_1", TIMESTAMP, BODY, &[&new, &old]);
        assert_eq!(headers.signature.split(' ').count(), 2);
        assert_eq!(verify(&old, &headers, BODY, TIMESTAMP), Ok(()));
        assert_eq!(verify(&new, &headers, BODY, TIMESTAMP), Ok(()));
        let stranger = SigningSecret::generate();
        assert_eq!(
            verify(&stranger, &headers, BODY, TIMESTAMP),
            Err(VerifyError::Signature)
        );
        assert_eq!(
            verify(&new, &headers, b"{\"test\": 1}", TIMESTAMP),
            Err(VerifyError::Signature)
        );
        assert_eq!(
            verify(&new, &headers, BODY, TIMESTAMP + TOLERANCE_SECONDS + 1),
            Err(VerifyError::Timestamp)
        );
    }

    #[test]
    fn secrets_round_trip_and_bad_ones_are_refused() {
        let secret = SigningSecret::generate();
        let text = secret.to_text();
        assert!(text.expose().starts_with(SECRET_PREFIX));
        let again = SigningSecret::parse(text.expose()).unwrap();
        let headers = sign("evt_2", TIMESTAMP, BODY, &[&secret]);
        assert_eq!(verify(&again, &headers, BODY, TIMESTAMP), Ok(()));
        assert_eq!(
            SigningSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap_err(),
            SecretError::Prefix
        );
        assert_eq!(
            SigningSecret::parse("whsec_not base64!").unwrap_err(),
            SecretError::Key
        );
        assert_eq!(
            SigningSecret::parse("whsec_c2hvcnQ=").unwrap_err(),
            SecretError::Key,
            "five bytes are too few"
        );
        assert_eq!(format!("{secret:?}"), "SigningSecret(…)");
    }
}
