//! Gateway signatures: HMAC-SHA256 and the pipe-joined SHA-512 hashes of PayU and Easebuzz,
//! computed here and compared in constant time; [`hmac_sha256`] is the one HMAC every connector
//! builds on.

use crate::crypto::constant_time_eq;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256, Sha512};

/// Lower-case hex SHA-512 of `fields` joined with `|` (empty fields keep their place).
pub fn sha512_pipe_hex(fields: &[&str]) -> String {
    hex::encode(Sha512::digest(fields.join("|").as_bytes()))
}

/// Whether `presented_hex` is the hash of `fields`, compared in constant time; case-insensitive
/// hex, fails closed.
pub fn verify_sha512_pipe_hex(fields: &[&str], presented_hex: &str) -> bool {
    let expected = sha512_pipe_hex(fields);
    constant_time_eq(
        expected.as_bytes(),
        presented_hex.trim().to_ascii_lowercase().as_bytes(),
    )
}

/// An HMAC-SHA256 keyed with `key`, ready for `update`: the one way every signature here is
/// made.
pub fn hmac_sha256(key: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts a key of any length (RFC 2104 hashes a longer one first), so the only error
    // `new_from_slice` has, an invalid length, cannot happen.
    <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC-SHA256 accepts a key of any length")
}

/// Lower-case hex HMAC-SHA256 of `message` under `secret`.
pub fn hmac_sha256_hex(secret: &[u8], message: &[u8]) -> String {
    let mut mac = hmac_sha256(secret);
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}

/// Whether `presented_hex` is the HMAC of `message`, compared in constant time; fails closed.
pub fn verify_hmac_sha256_hex(secret: &[u8], message: &[u8], presented_hex: &str) -> bool {
    let Ok(presented) = hex::decode(presented_hex.trim()) else {
        return false;
    };
    let mut mac = hmac_sha256(secret);
    mac.update(message);
    mac.verify_slice(&presented).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4231_case_2() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            hmac_sha256_hex(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(verify_hmac_sha256_hex(
            b"Jefe",
            b"what do ya want for nothing?",
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        ));
        assert!(!verify_hmac_sha256_hex(
            b"Jefe",
            b"what do ya want for nothing!",
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        ));
        assert!(!verify_hmac_sha256_hex(b"Jefe", b"x", "not hex"));
    }

    #[test]
    fn rfc4231_case_6_a_key_longer_than_the_block() {
        // RFC 4231 test case 6: a 131-byte key, hashed first; `hmac_sha256` takes it as any other.
        assert_eq!(
            hmac_sha256_hex(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            ),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
        assert_eq!(
            hex::encode(hmac_sha256(b"").finalize().into_bytes()),
            "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad"
        );
    }
}
