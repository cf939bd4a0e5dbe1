//! Sealing of stored secrets with AES-256-GCM.
//!
//! Each sealed value records the id of the key that sealed it, so keys can be rotated: add a new
//! key, make it active, re-seal, and only then drop the old one. The associated data binds a
//! ciphertext to the row and field it belongs to, so it cannot be moved to another row.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::BTreeMap;
use std::fmt;

/// A value sealed by the key ring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// Which key sealed it.
    pub key_id: String,
    /// The 96-bit nonce, unique per sealing.
    pub nonce: [u8; 12],
    /// Ciphertext followed by the 16-byte tag.
    pub ciphertext: Vec<u8>,
}

/// Why a value could not be sealed or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CipherError {
    /// The key that sealed the value is not configured any more.
    #[error("encryption key '{0}' is not configured")]
    UnknownKey(String),
    /// Wrong key, tampered ciphertext or wrong associated data.
    #[error("sealed value failed authentication")]
    Authentication,
}

/// The configured encryption keys and which one seals new values.
#[derive(Clone)]
pub struct KeyRing {
    keys: BTreeMap<String, Aes256Gcm>,
    /// Per key, a subkey for fingerprints (HMAC of a fixed label under the key): never the
    /// sealing key itself, so a fingerprint says nothing about the key that seals.
    fingerprint_keys: BTreeMap<String, [u8; 32]>,
    active: String,
}

/// The label the fingerprint subkeys are derived with.
const FINGERPRINT_LABEL: &[u8] = b"lightspeedpay/credential-fingerprint/v1";

fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    match <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(message);
            mac.finalize().into_bytes().into()
        }
        // HMAC takes keys of any length; this arm cannot be reached.
        Err(_) => [0; 32],
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("key_ids", &self.keys.keys().collect::<Vec<_>>())
            .field("active", &self.active)
            .finish()
    }
}

impl KeyRing {
    /// Parses `id:base64key[,id:base64key…]`; the active key is `active` or else the first one.
    pub fn parse(spec: &str, active: Option<&str>) -> Result<KeyRing, String> {
        let mut keys = BTreeMap::new();
        let mut fingerprint_keys = BTreeMap::new();
        let mut first = None;
        for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (id, encoded) = entry
                .split_once(':')
                .ok_or("each key must look like id:base64")?;
            if id.is_empty()
                || id.len() > 64
                || !id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err("key ids must be 1-64 letters, digits, '-' or '_'".into());
            }
            let raw = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map_err(|_| format!("key '{id}' is not valid base64"))?;
            let cipher = Aes256Gcm::new_from_slice(&raw)
                .map_err(|_| format!("key '{id}' must decode to exactly 32 bytes"))?;
            if keys.insert(id.to_string(), cipher).is_some() {
                return Err(format!("key '{id}' is listed twice"));
            }
            fingerprint_keys.insert(id.to_string(), hmac_sha256(&raw, FINGERPRINT_LABEL));
            first.get_or_insert_with(|| id.to_string());
        }
        let active = match active {
            Some(id) if keys.contains_key(id) => id.to_string(),
            Some(id) => return Err(format!("active key '{id}' is not among the keys")),
            None => first.ok_or("at least one key is required")?,
        };
        Ok(KeyRing {
            keys,
            fingerprint_keys,
            active,
        })
    }

    /// A new random key in the `id:base64` form `parse` reads.
    pub fn generate_spec(id: &str) -> String {
        let key = super::random::bytes::<32>();
        format!(
            "{id}:{}",
            base64::engine::general_purpose::STANDARD.encode(key)
        )
    }

    /// The id of the key that seals new values.
    pub fn active_key_id(&self) -> &str {
        &self.active
    }

    /// Whether `key_id` is configured (a value it sealed can be opened).
    pub fn has_key(&self, key_id: &str) -> bool {
        self.keys.contains_key(key_id)
    }

    /// A short keyed fingerprint of a secret, to recognise it without revealing any of it: the
    /// first 8 hex characters of HMAC-SHA256 under a subkey of the active key. Unlike a tail of
    /// the value, it cannot be brute-forced offline by whoever sees it (a short gateway salt
    /// could be): that needs the key.
    pub fn fingerprint(&self, secret: &[u8]) -> String {
        let key = self
            .fingerprint_keys
            .get(&self.active)
            .copied()
            .unwrap_or_default();
        hex::encode(&hmac_sha256(&key, secret)[..4])
    }

    /// Seals `plaintext` with the active key, bound to `aad`.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Sealed {
        let nonce = super::random::bytes::<12>();
        let cipher = &self.keys[&self.active];
        let ciphertext = cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            // AES-GCM encryption only fails for messages beyond 64 GiB.
            .unwrap_or_default();
        Sealed {
            key_id: self.active.clone(),
            nonce,
            ciphertext,
        }
    }

    /// Opens a sealed value with the key that sealed it.
    pub fn open(&self, sealed: &Sealed, aad: &[u8]) -> Result<Vec<u8>, CipherError> {
        let cipher = self
            .keys
            .get(&sealed.key_id)
            .ok_or_else(|| CipherError::UnknownKey(sealed.key_id.clone()))?;
        cipher
            .decrypt(
                &Nonce::from(sealed.nonce),
                Payload {
                    msg: &sealed.ciphertext,
                    aad,
                },
            )
            .map_err(|_| CipherError::Authentication)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_with_the_same_associated_data_only() {
        let ring = KeyRing::parse(&KeyRing::generate_spec("k1"), None).unwrap();
        let sealed = ring.seal(b"rzp_test_secret_value", b"gateway:1");
        assert_eq!(sealed.key_id, "k1");
        assert!(!sealed.ciphertext.windows(5).any(|w| w == b"value"));
        assert_eq!(
            ring.open(&sealed, b"gateway:1").unwrap(),
            b"rzp_test_secret_value"
        );
        assert_eq!(
            ring.open(&sealed, b"gateway:2"),
            Err(CipherError::Authentication)
        );
        let mut tampered = sealed.clone();
        tampered.ciphertext[0] ^= 1;
        assert_eq!(
            ring.open(&tampered, b"gateway:1"),
            Err(CipherError::Authentication)
        );
    }

    #[test]
    fn rotation_keeps_old_values_readable() {
        let old_spec = KeyRing::generate_spec("k1");
        let old = KeyRing::parse(&old_spec, None).unwrap();
        let sealed = old.seal(b"secret", b"aad");
        let rotated = KeyRing::parse(
            &format!("{old_spec},{}", KeyRing::generate_spec("k2")),
            Some("k2"),
        )
        .unwrap();
        assert_eq!(rotated.open(&sealed, b"aad").unwrap(), b"secret");
        assert_eq!(rotated.seal(b"secret", b"aad").key_id, "k2");
        let without_old = KeyRing::parse(&KeyRing::generate_spec("k2"), None).unwrap();
        assert_eq!(
            without_old.open(&sealed, b"aad"),
            Err(CipherError::UnknownKey("k1".into()))
        );
    }

    #[test]
    fn fingerprints_are_keyed_short_and_stable() {
        let ring = KeyRing::parse(&KeyRing::generate_spec("k1"), None).unwrap();
        let other = KeyRing::parse(&KeyRing::generate_spec("k1"), None).unwrap();
        let fingerprint = ring.fingerprint(b"salt1234");
        assert_eq!(fingerprint.len(), 8);
        assert_eq!(fingerprint, ring.fingerprint(b"salt1234"));
        assert_ne!(fingerprint, ring.fingerprint(b"salt1235"));
        assert_ne!(
            fingerprint,
            other.fingerprint(b"salt1234"),
            "another key, another fingerprint"
        );
    }

    #[test]
    fn refuses_bad_specs() {
        assert!(KeyRing::parse("", None).is_err());
        assert!(KeyRing::parse("k1:AAAA", None).is_err());
        assert!(KeyRing::parse(&KeyRing::generate_spec("k1"), Some("k9")).is_err());
    }
}
